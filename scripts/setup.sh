#!/usr/bin/env bash
# Installs the system packages imgbuild's tests and examples need on a fresh Debian 12
# machine (which has only the Rust toolchain, gcc, python3, qemu-utils and git):
# genisoimage (isoinfo), xorriso and cloud-init are the real consumers the media tests
# check generated ISOs and cloud-init documents with; gpg/gpgv make and check the signed
# test repositories of the Debian tests; xz-utils and lz4 (de)compress indices; uidmap
# (newuidmap/newgidmap) maps a subordinate id range into a user namespace for rootless
# root-filesystem builds; mmdebstrap is the peer the root-filesystem comparison test and
# bench/rootfs.sh measure against; fdisk (sfdisk) checks the partition tables the disk
# tests write.
#
# As root it also makes sure the unprivileged test user `imgbuild-test` exists and that
# it and root have a subordinate uid/gid range of 65536 ids in /etc/subuid and
# /etc/subgid (mmdebstrap --mode=unshare run as root needs root's).
# Safe to run repeatedly; does nothing when everything is present.
set -euo pipefail

packages=(tar util-linux fdisk genisoimage xorriso cloud-init gpg gpgv xz-utils lz4 uidmap mmdebstrap libcap2-bin)
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

# Subordinate ids: USER START COUNT for /etc/subuid and /etc/subgid.
test_user=imgbuild-test
subid_ranges=("root 100000 65536" "$test_user 200000 65536")

# True when FILE already gives USER a range of at least COUNT ids.
has_subid_range() {
    local file=$1 user=$2 count=$3
    [ -f "$file" ] || return 1
    awk -F: -v user="$user" -v count="$count" \
        '$1 == user && $3 + 0 >= count + 0 { found = 1 } END { exit !found }' "$file"
}

if [ "$(id -u)" -eq 0 ]; then
    if ! id -u "$test_user" >/dev/null 2>&1; then
        useradd --system --create-home --shell /bin/bash "$test_user"
        echo "setup.sh: created the unprivileged test user $test_user"
    fi
    for range in "${subid_ranges[@]}"; do
        read -r user start count <<<"$range"
        for file in /etc/subuid /etc/subgid; do
            if ! has_subid_range "$file" "$user" "$count"; then
                echo "$user:$start:$count" >>"$file"
                echo "setup.sh: added $user:$start:$count to $file"
            fi
        done
    done
else
    for range in "${subid_ranges[@]}"; do
        read -r user start count <<<"$range"
        for file in /etc/subuid /etc/subgid; do
            if ! has_subid_range "$file" "$user" "$count"; then
                echo "setup.sh: note: $file has no range of $count ids for $user; run scripts/setup.sh as root to add $user:$start:$count" >&2
            fi
        done
    done
    if ! id -u "$test_user" >/dev/null 2>&1; then
        echo "setup.sh: note: the test user $test_user does not exist; run scripts/setup.sh as root to create it" >&2
    fi
fi
