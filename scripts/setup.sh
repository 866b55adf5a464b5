#!/usr/bin/env bash
# Installs the system packages imgbuild's tests and examples need on a fresh Debian 12
# machine (which has only the Rust toolchain, gcc, python3, qemu-utils and git).
# Safe to run repeatedly; does nothing when everything is present.
set -euo pipefail

packages=(tar util-linux)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi
