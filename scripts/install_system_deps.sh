#!/usr/bin/env bash
# Debian packages the tests and the demo need: espeak-ng + sox synthesise the test speech,
# cmake + g++ build the ROS interface packages. Skips apt when everything is present.
set -euo pipefail
need=()
for cmd in espeak-ng sox cmake g++; do
  command -v "$cmd" >/dev/null 2>&1 || need+=("$cmd")
done
[ ${#need[@]} -eq 0 ] && exit 0
pkgs=()
for cmd in "${need[@]}"; do
  case "$cmd" in g++) pkgs+=(g++) ;; *) pkgs+=("$cmd") ;; esac
done
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "installing Debian packages: ${pkgs[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -q "${pkgs[@]}" >/dev/null 2>&1 || {
  $SUDO apt-get update -q >/dev/null
  $SUDO apt-get install -y -q "${pkgs[@]}" >/dev/null
}
