#!/usr/bin/env bash
# Installs the system packages imgbuild's tests and examples need on a fresh Debian 12
# machine (which has only the Rust toolchain, gcc, python3, qemu-utils and git):
# genisoimage (isoinfo), xorriso and cloud-init are the real consumers the media tests
# check generated ISOs and cloud-init documents with; gpg/gpgv make and check the signed
# test repositories of the Debian tests; xz-utils and lz4 (de)compress indices; uidmap
# (newuidmap/newgidmap) maps a subordinate id range into a user namespace for rootless
# root-filesystem builds; mmdebstrap is the peer the root-filesystem comparison test and
# bench/rootfs.sh measure against.
#
# Bootable disk images need a few more: from bookworm, ovmf (UEFI firmware for booting
# images in QEMU), mtools and dosfstools (make and fill the FAT EFI system partition
# without mounting it) and fdisk (sfdisk, to check partition tables); from
# bookworm-backports, e2fsprogs >= 1.47.1 (`mke2fs -d -` builds an ext4 file system from
# a tar on stdin, keeping owners and modes without root) and qemu-system-x86 of the same
# version as the backports qemu-utils. As root it adds a bookworm-backports apt source,
# derived from the host's bookworm source, when one is needed and none is configured.
#
# As root it also makes sure the unprivileged test user `imgbuild-test` exists and that
# it and root have a subordinate uid/gid range of 65536 ids in /etc/subuid and
# /etc/subgid (mmdebstrap --mode=unshare run as root needs root's).
# Safe to run repeatedly; does nothing when everything is present.
set -euo pipefail

is_root=0
sudo=""
if [ "$(id -u)" -eq 0 ]; then is_root=1; else sudo="sudo"; fi

# apt-get update at most once per run, and only when something is installed.
apt_updated=0
apt_update() {
    if ((!apt_updated)); then
        $sudo apt-get update
        apt_updated=1
    fi
}
# Non-interactive install; keeps locally changed configuration files (e.g. /etc/mke2fs.conf).
apt_install() {
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
}
# The installed version of a package, empty when it is not installed.
installed_version() {
    dpkg-query -W -f='${Status} ${Version}' "$1" 2>/dev/null |
        awk '$1 == "install" && $3 == "installed" { print $4 }'
}
version_ge() { dpkg --compare-versions "$1" ge "$2"; }

# --- Packages from bookworm -------------------------------------------------------------
packages=(tar util-linux genisoimage xorriso cloud-init gpg gpgv xz-utils lz4 uidmap mmdebstrap libcap2-bin openssh-client
    # Disk images: UEFI firmware for QEMU boots (/usr/share/OVMF), FAT tools for the EFI
    # system partition (mkfs.vfat; mcopy/mmd write files into it without a mount), sfdisk.
    ovmf dosfstools mtools fdisk
    # mke2fs (e2fsprogs >= 1.47.1) dlopens libarchive.so.13 to read `-d -` tar input.
    libarchive13
    # Provenance: skopeo and umoci read and unpack the OCI images (gzip and zstd check
    # their layers); python3-venv holds the SPDX validator (scripts/spdx-tools.sh).
    skopeo umoci gzip zstd python3-venv)
missing=()
for package in "${packages[@]}"; do
    [ -n "$(installed_version "$package")" ] || missing+=("$package")
done

# --- What bookworm-backports must provide -----------------------------------------------
# e2fsprogs: `mke2fs -d` reads a tar archive (from stdin with `-d -`) since 1.47.1;
# bookworm has 1.47.0.
e2fsprogs_min=1.47.1
mke2fs_version() { mke2fs -V 2>&1 | awk 'NR == 1 { print $2 }'; }
need_e2fsprogs=0
version_ge "$(mke2fs_version)" "$e2fsprogs_min" || need_e2fsprogs=1
# qemu-system-x86 (VM boot tests) must be the same QEMU as qemu-utils (qemu-img), which
# comes from bookworm-backports here.
qemu_version=$(installed_version qemu-utils)
need_qemu=0
if [ -z "$qemu_version" ] || [ "$(installed_version qemu-system-x86)" != "$qemu_version" ]; then
    need_qemu=1
fi

# True when an enabled apt source lists the suite bookworm-backports.
has_backports_source() {
    grep -qsE '^[^#]*(^|[[:space:]])bookworm-backports([[:space:]]|$)' \
        /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources
}

# Prints a deb822 bookworm-backports stanza derived from the first enabled `deb` source of
# the suite bookworm (same URIs, Components and Signed-By), read from one-line (.list) and
# deb822 (.sources) files; prints nothing when there is none.
derive_backports_source() {
    local file
    for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$file" ] || continue
        awk '
            /^[[:space:]]*deb[[:space:]]/ {
                line = $0; options = ""
                if (match(line, /\[[^]]*\]/)) {
                    options = substr(line, RSTART + 1, RLENGTH - 2)
                    line = substr(line, 1, RSTART - 1) " " substr(line, RSTART + RLENGTH)
                }
                n = split(line, f, /[[:space:]]+/)
                # f[1] may be empty (leading blanks): find "deb", then URI, suite, components.
                for (i = 1; f[i] != "deb"; i++) {}
                if (f[i + 2] != "bookworm") next
                components = ""
                for (j = i + 3; j <= n; j++) if (f[j] != "") components = components " " f[j]
                signed = ""
                m = split(options, o, /[[:space:]]+/)
                for (j = 1; j <= m; j++) if (tolower(o[j]) ~ /^signed-by=/) signed = substr(o[j], 11)
                print "Types: deb"
                print "URIs: " f[i + 1]
                print "Suites: bookworm-backports"
                print "Components:" components
                if (signed != "") print "Signed-By: " signed
                exit
            }' "$file" | grep . && return 0
    done
    for file in /etc/apt/sources.list.d/*.sources; do
        [ -f "$file" ] || continue
        awk '
            function reset() { types = uris = suites = components = signed = last = ""; enabled = 1 }
            function flush(   n, s, i) {
                n = split(suites, s, /[[:space:]]+/)
                for (i = 1; i <= n; i++) {
                    if (s[i] == "bookworm" && enabled && (" " types " ") ~ /[[:space:]]deb[[:space:]]/ && uris != "") {
                        print "Types: deb"
                        print "URIs: " uris
                        print "Suites: bookworm-backports"
                        print "Components: " components
                        if (signed != "") print "Signed-By: " signed
                        found = 1
                        exit
                    }
                }
                reset()
            }
            BEGIN { reset() }
            /^#/ { next }
            /^[[:space:]]*$/ { flush(); next }
            # Continuation line (e.g. an inline Signed-By key block).
            /^[[:space:]]/ { if (last == "signed-by") signed = signed "\n" $0; next }
            {
                field = tolower(substr($0, 1, index($0, ":") - 1))
                value = substr($0, index($0, ":") + 1)
                sub(/^[[:space:]]+/, "", value); sub(/[[:space:]]+$/, "", value)
                last = field
                if (field == "types") types = value
                else if (field == "uris") uris = value
                else if (field == "suites") suites = value
                else if (field == "components") components = value
                else if (field == "signed-by") signed = value
                else if (field == "enabled") enabled = (tolower(value) != "no")
            }
            END { if (!found) flush() }' "$file" | grep . && return 0
    done
    return 0
}

backports_target=/etc/apt/sources.list.d/imgbuild-backports.sources
backports_ok=1
if ((need_e2fsprogs || need_qemu)) && ! has_backports_source; then
    if ((!is_root)); then
        echo "setup.sh: note: no apt source lists bookworm-backports (needed for e2fsprogs >= $e2fsprogs_min and qemu-system-x86 $qemu_version); run scripts/setup.sh as root to add one" >&2
        backports_ok=0
    else
        stanza=$(derive_backports_source)
        if [ -z "$stanza" ]; then
            echo "setup.sh: note: found no Debian bookworm apt source to derive a bookworm-backports source from; add one to /etc/apt/sources.list.d (needed for e2fsprogs >= $e2fsprogs_min and qemu-system-x86)" >&2
            backports_ok=0
        else
            printf '# Added by imgbuild scripts/setup.sh: e2fsprogs >= %s and qemu-system-x86 for disk images.\n%s\n' \
                "$e2fsprogs_min" "$stanza" >"$backports_target"
            echo "setup.sh: added $backports_target (bookworm-backports, derived from the host's bookworm source)"
            apt_updated=0
            apt_update
        fi
    fi
fi

if ((${#missing[@]})); then
    apt_update
    apt_install "${missing[@]}"
fi

if ((backports_ok && need_e2fsprogs)); then
    apt_update
    # e2fsprogs is Essential; upgrading it (and libext2fs2, libss2, ... with it) is fine.
    apt_install -t bookworm-backports e2fsprogs
    if ! version_ge "$(mke2fs_version)" "$e2fsprogs_min"; then
        echo "setup.sh: mke2fs is $(mke2fs_version) after installing e2fsprogs from bookworm-backports; imgbuild needs >= $e2fsprogs_min" >&2
        exit 1
    fi
fi

if ((backports_ok && need_qemu)); then
    apt_update
    # The same version as qemu-utils when bookworm-backports still has it; otherwise
    # qemu-utils moves to backports' current QEMU together with qemu-system-x86.
    if [ -n "$qemu_version" ] &&
        apt-cache madison qemu-system-x86 | awk -v v="$qemu_version" '$3 == v { found = 1 } END { exit !found }'; then
        apt_install -t bookworm-backports "qemu-system-x86=$qemu_version" \
            "qemu-system-common=$qemu_version" "qemu-system-data=$qemu_version"
    else
        apt_install -t bookworm-backports qemu-system-x86 qemu-system-common qemu-system-data qemu-utils
    fi
    if [ "$(installed_version qemu-system-x86)" != "$(installed_version qemu-utils)" ]; then
        echo "setup.sh: qemu-system-x86 $(installed_version qemu-system-x86) does not match qemu-utils $(installed_version qemu-utils)" >&2
        exit 1
    fi
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
