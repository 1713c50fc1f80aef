#!/usr/bin/env bash
# Installs the system packages ctp's build, tests and benchmark need, when
# they are missing (Debian/Ubuntu). Safe to run again: it installs nothing
# that is already there. Swift itself is expected on PATH (swift.org toolchain).
set -euo pipefail

need=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for pkg in gcc g++ make cmake pkg-config spin libnuma-dev libtbb-dev libomp-dev binutils python3; do
    have_pkg "$pkg" || need+=("$pkg")
done
command -v clang >/dev/null 2>&1 || need+=(clang)
command -v clang++ >/dev/null 2>&1 || need+=(clang)

if [ ${#need[@]} -gt 0 ]; then
    echo "setup: installing ${need[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
command -v swift >/dev/null 2>&1 || { echo "setup: swift not found on PATH (install a Swift 6 toolchain)"; exit 1; }
