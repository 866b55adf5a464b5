#!/usr/bin/env bash
# Installs the system packages imgbuild's tests and examples need on a fresh Debian 12
# machine (which has only the Rust toolchain, gcc, python3, qemu-utils and git):
# genisoimage (isoinfo), xorriso and cloud-init are the real consumers the media tests
# check generated ISOs and cloud-init documents with; gpg/gpgv make and check the signed
# test repositories of the Debian tests; xz-utils and lz4 (de)compress indices.
# Safe to run repeatedly; does nothing when everything is present.
set -euo pipefail

packages=(tar util-linux genisoimage xorriso cloud-init gpg gpgv xz-utils lz4)
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
