#!/usr/bin/env bash
# Installs what xfc needs to build and test from Debian's packages (MLIR/LLVM
# 19 and friends). The CUDA toolkit (NVRTC) comes with the machine image.
set -euo pipefail

packages=(cmake ninja-build g++ python3
          llvm-19-dev llvm-19-tools libmlir-19-dev mlir-19-tools libzstd-dev
          nlohmann-json3-dev libfmt-dev libgtest-dev)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ] && [ -z "${CI:-}" ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
echo "install-deps: installed ${#packages[@]} packages"
