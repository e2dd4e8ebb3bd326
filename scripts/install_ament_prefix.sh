#!/usr/bin/env bash
# Register avemotion_ros in an ament prefix, laid out as `colcon build --symlink-install` lays it:
#
#   scripts/install_ament_prefix.sh VENV PREFIX
#
#   PREFIX/share/ament_index/resource_index/packages/avemotion_ros   (what ament_index looks up)
#   PREFIX/share/avemotion_ros/{package.xml,launch/*.py,config/*.{yaml,xml}} (what `ros2 launch` searches)
#   PREFIX/lib/avemotion_ros/emotion_node                              (what `ros2 run` executes)
#
# Why: `pip install -e .` (the demo/test install) registers no ament index entry and puts
# console scripts in VENV/bin, where `ros2 run` does not look. Files are symlinks to this checkout
# and to the venv's console script, so edits need no reinstall. Directories are real: `ros2 launch`
# walks the share directory without following directory symlinks. `.build/ros_env.sh` puts PREFIX
# on AMENT_PREFIX_PATH (scripts/build_ros_interfaces.sh).
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 VENV PREFIX" >&2
  exit 2
fi
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="$(cd "$1" && pwd)"
mkdir -p "$2"
PREFIX="$(cd "$2" && pwd)"
PKG=avemotion_ros
NODE="$VENV/bin/emotion_node"
[ -x "$NODE" ] || { echo "error: $NODE is missing (pip install -e . into $VENV first)" >&2; exit 1; }

# Start from an empty share/lib tree so launch or config files deleted from the checkout disappear.
rm -rf "$PREFIX/share/$PKG" "$PREFIX/lib/$PKG"
mkdir -p "$PREFIX/share/ament_index/resource_index/packages" "$PREFIX/share/$PKG/launch" \
  "$PREFIX/share/$PKG/config" "$PREFIX/lib/$PKG"
ln -sfn "$ROOT/resource/$PKG" "$PREFIX/share/ament_index/resource_index/packages/$PKG"
ln -sfn "$ROOT/package.xml" "$PREFIX/share/$PKG/package.xml"
# The same files setup.py's data_files install.
for f in "$ROOT"/launch/*.py; do ln -sfn "$f" "$PREFIX/share/$PKG/launch/$(basename "$f")"; done
for f in "$ROOT"/config/*.yaml "$ROOT"/config/*.xml; do ln -sfn "$f" "$PREFIX/share/$PKG/config/$(basename "$f")"; done
ln -sfn "$NODE" "$PREFIX/lib/$PKG/emotion_node"
echo "registered $PKG in ${PREFIX#"$ROOT"/}"
