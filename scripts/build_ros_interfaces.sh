#!/usr/bin/env bash
# Build the ROS 2 interface packages the node speaks (vision_msgs, audio_common_msgs, the ROS4HRI
# subset of hri_msgs) with the pip ROS 2 wheels, cmake and gcc: none of them is on PyPI.
#
#   scripts/build_ros_interfaces.sh VENV BUILD_DIR
#
# Writes BUILD_DIR/ros_env.sh (modern audio_common_msgs flavour) and BUILD_DIR/ros_env_raw.sh
# (older raw uint8 flavour); both also put BUILD_DIR/install on AMENT_PREFIX_PATH, where
# scripts/install_ament_prefix.sh registers avemotion_ros itself. Each package is installed into
# its own prefix so the two audio_common_msgs flavours never shadow each other. A prefix is rebuilt only when the hash of
# its package files changes.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 VENV BUILD_DIR" >&2
  exit 2
fi
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="$(cd "$1" && pwd)"
mkdir -p "$2"
BUILD="$(cd "$2" && pwd)"
PY="$VENV/bin/python"
[ -x "$PY" ] || { echo "error: no python in $VENV" >&2; exit 1; }
for tool in cmake g++; do
  command -v "$tool" >/dev/null || { echo "error: $tool is missing (run scripts/install_system_deps.sh)" >&2; exit 1; }
done

PYVER="$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
SITE="$VENV/lib/python$PYVER/site-packages"

# The prebuilt wheels' cmake exports name the wheel builder's Python/numpy include dirs; point them
# at this interpreter's (idempotent: only files still naming a foreign path are rewritten).
"$PY" - "$VENV" <<'EOF'
import pathlib
import re
import sys
import sysconfig

import numpy

venv = pathlib.Path(sys.argv[1])
py_inc = sysconfig.get_paths()["include"]
np_inc = numpy.get_include()
foreign_np = re.compile(r"/opt/python/[^/;\"]+/lib/python3\.\d+/site-packages/numpy/_core/include")
foreign_py = re.compile(r"/opt/python/[^/;\"]+/include/python3\.\d+")
for path in (venv / "share").rglob("*.cmake"):
    text = path.read_text()
    if "/opt/python/" not in text:
        continue
    fixed = foreign_py.sub(py_inc, foreign_np.sub(np_inc, text))
    if fixed != text:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(fixed)
        tmp.replace(path)
        print(f"fixed wheel cmake paths in {path.relative_to(venv)}")
EOF

WHEEL_LIBS="$VENV/lib"
for d in "$SITE"/ros_*.libs; do
  [ -d "$d" ] && WHEEL_LIBS="$WHEEL_LIBS:$d"
done

pkg_hash() {
  (cd "$1" && find . -type f \( -name '*.msg' -o -name '*.txt' -o -name '*.xml' \) -print0 | sort -z |
    xargs -0 sha256sum; echo "python$PYVER") | sha256sum | cut -c1-16
}

# build_pkg SRC_DIR PREFIX [EXTRA_PREFIX]: configure, compile and install one package unless the
# prefix already holds a build of the same sources.
build_pkg() {
  local src="$1" prefix="$2" extra="${3:-}" hash stamp work dep_prefix
  hash="$(pkg_hash "$src")"
  stamp="$prefix/.avemotion_hash"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ]; then
    echo "up to date: $(basename "$src") -> ${prefix#"$ROOT"/}"
    return
  fi
  echo "building $(basename "$src") -> ${prefix#"$ROOT"/}"
  work="$BUILD/work/$(basename "$prefix")"
  rm -rf "$work" "$prefix"
  mkdir -p "$BUILD/work"
  dep_prefix="$VENV"
  [ -n "$extra" ] && dep_prefix="$extra:$VENV"
  # Runtime library lookup of the generated Python extensions goes through RUNPATH, so importing
  # the messages only needs sys.path (no LD_LIBRARY_PATH set before the interpreter starts).
  CMAKE_PREFIX_PATH="$dep_prefix" AMENT_PREFIX_PATH="$dep_prefix" \
    LD_LIBRARY_PATH="$WHEEL_LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    _ROS_WHEELS_BOOTSTRAP_COMPLETE=1 PATH="$VENV/bin:$PATH" \
    cmake -S "$src" -B "$work" -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_BUILD_TYPE=Release \
    -DPython3_EXECUTABLE="$PY" -DBUILD_TESTING=OFF \
    -DCMAKE_INSTALL_RPATH="$prefix/lib;${WHEEL_LIBS//:/;}" >"$work.log" 2>&1 \
    || { cat "$work.log" >&2; echo "error: cmake configure failed for $src" >&2; exit 1; }
  LD_LIBRARY_PATH="$WHEEL_LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" _ROS_WHEELS_BOOTSTRAP_COMPLETE=1 \
    PATH="$VENV/bin:$PATH" cmake --build "$work" -j"$(nproc)" >>"$work.log" 2>&1 \
    || { tail -50 "$work.log" >&2; echo "error: build failed for $src" >&2; exit 1; }
  cmake --install "$work" >>"$work.log" 2>&1 || { tail -20 "$work.log" >&2; exit 1; }
  echo "$hash" >"$stamp"
  rm -rf "$work"
}

PREFIX_VISION="$BUILD/ros/vision_msgs"
PREFIX_AUDIO="$BUILD/ros/audio_common_msgs"
PREFIX_AUDIO_RAW="$BUILD/ros/audio_common_msgs_raw"
PREFIX_HRI="$BUILD/ros/hri_msgs"
build_pkg "$ROOT/ros_interfaces/vision_msgs" "$PREFIX_VISION"
build_pkg "$ROOT/ros_interfaces/audio_common_msgs" "$PREFIX_AUDIO"
build_pkg "$ROOT/ros_interfaces/audio_common_msgs_raw" "$PREFIX_AUDIO_RAW"
build_pkg "$ROOT/ros_interfaces/hri_msgs" "$PREFIX_HRI"

# write_env FILE FLAVOUR AUDIO_PREFIX: an env file to `source` (also parsed by avemotion_ros.ros_env).
write_env() {
  local file="$1" flavour="$2" audio="$3" tmp
  local py_path="$PREFIX_VISION/lib/python$PYVER/site-packages:$audio/lib/python$PYVER/site-packages"
  py_path="$py_path:$PREFIX_HRI/lib/python$PYVER/site-packages"
  tmp="$(mktemp "$file.XXXXXX")"
  cat >"$tmp" <<EOF
# Generated by scripts/build_ros_interfaces.sh: vision_msgs + audio_common_msgs ($flavour flavour) + hri_msgs.
export AVEMOTION_AUDIO_FLAVOUR="$flavour"
export PYTHONPATH="$py_path\${PYTHONPATH:+:\$PYTHONPATH}"
export LD_LIBRARY_PATH="$PREFIX_VISION/lib:$audio/lib:$PREFIX_HRI/lib:$WHEEL_LIBS\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export AMENT_PREFIX_PATH="$BUILD/install:$PREFIX_VISION:$audio:$PREFIX_HRI:$VENV\${AMENT_PREFIX_PATH:+:\$AMENT_PREFIX_PATH}"
EOF
  mv "$tmp" "$file"
}
write_env "$BUILD/ros_env_raw.sh" raw "$PREFIX_AUDIO_RAW"
write_env "$BUILD/ros_env.sh" modern "$PREFIX_AUDIO"
echo "wrote ${BUILD#"$ROOT"/}/ros_env.sh and ros_env_raw.sh"
