#!/usr/bin/env bash
# How many chunks two versions of an ext4 image share, for several chunkers.
#
#   sudo bash bench/chunk-sharing.sh      # from the repository root, as root
#   SOURCE=/usr/share BENCH_DIR=/var/tmp KEEP=1 bash bench/chunk-sharing.sh
#
# Version A is a copy of SOURCE (default /usr/share, without package-lists/).
# Version B is A after a "package upgrade", applied to the same directory so
# untouched files keep their inode times:
#   * 20 files > 20 KB modified: 7 with 64 bytes rewritten mid-file, 7 with 3,000
#     bytes inserted mid-file, 6 changelog .gz files recompressed with a new entry;
#   * 50 files added: 40 shared libraries from /usr/lib in a new directory
#     (a new package), 10 small NEWS files in existing doc directories;
#   * 20 files removed (every Nth regular file of the sorted list);
#   * the largest file of the tree (~10 MB) appended to (1 MiB of C headers).
# Each tree becomes a raw ext4 image of the same size (1.5 x the tree's disk
# usage) with `mke2fs -d`, made deterministic (null UUID, fixed hash seed, fixed
# clock via E2FSPROGS_FAKE_TIME, which e2fsprogs 1.47.0 honours; 1.47.1 and later
# also honour SOURCE_DATE_EPOCH). A second image of the unchanged tree A (A')
# shows the deterministic baseline: A vs A' should share 100%.
#
# Then `cargo bench -p imgbuild-store --bench sharing` (store/benches/sharing.rs)
# runs twice: on (A, B) and on (A, A'). Images and trees are deleted at the end
# unless KEEP=1. Needs about 4 x the tree size of free space in BENCH_DIR.
set -euo pipefail

cd "$(dirname "$0")/.."
SOURCE=${SOURCE:-/usr/share}
BENCH_DIR=${BENCH_DIR:-/tmp}
KEEP=${KEEP:-0}
export LC_ALL=C

step() { printf '== %s\n' "$*" >&2; }

if [[ $(id -u) -ne 0 ]]; then
    echo "error: run as root (mke2fs -d must read every file and keep ownership)" >&2
    exit 1
fi
command -v mke2fs >/dev/null || { echo "error: mke2fs not found (e2fsprogs)" >&2; exit 1; }

WORK=$(mktemp -d "$BENCH_DIR/imgbuild-chunk-sharing.XXXXXX")
cleanup() {
    if [[ $KEEP == 1 ]]; then
        echo "kept $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
ROOT=$WORK/root
mkdir -p "$ROOT/usr"

step "copying $SOURCE (without package-lists/) to $ROOT/usr/share"
tar -C "$(dirname "$SOURCE")" --exclude="$(basename "$SOURCE")/package-lists" \
    -cf - "$(basename "$SOURCE")" | tar -C "$ROOT/usr" -xf -
[[ $(basename "$SOURCE") == share ]] || mv "$ROOT/usr/$(basename "$SOURCE")" "$ROOT/usr/share"

# The root filesystem is mounted relatime: the first read of a file, directory or
# symlink whose atime is not newer than its mtime/ctime updates the atime, which
# mke2fs copies into the image. Read everything once (files with cat, symlinks with
# readlink via find's %l, directories by find itself) so that later reads (the
# mke2fs runs) leave atimes alone; only what changed for B gets a new atime.
settle_atimes() {
    sleep 0.1 # so that "now" is past the ctime of anything just written
    find "$ROOT" -type f -exec cat {} + >/dev/null
    find "$ROOT" -type l -printf '%l\n' >/dev/null
}
settle_atimes

TREE_KIB=$(du -sk "$ROOT" | cut -f1)
FILES=$(find "$ROOT" -type f | wc -l)
IMAGE_MIB=$(((TREE_KIB * 3 / 2 + 1023) / 1024))
echo "tree A: $FILES files, $((TREE_KIB / 1024)) MiB on disk; images: $IMAGE_MIB MiB" >&2

make_image() {
    E2FSPROGS_FAKE_TIME=86400 SOURCE_DATE_EPOCH=86400 \
        mke2fs -q -F -t ext4 -d "$ROOT" -U clear \
        -E root_owner=0:0,hash_seed=6f1c2a5e-0b7d-4c3e-9a8f-1d2e3c4b5a69,lazy_itable_init=0,nodiscard \
        "$1" "${IMAGE_MIB}M"
}

step "mke2fs: A and A' (same tree, built twice)"
make_image "$WORK/a.img"
make_image "$WORK/a-again.img"
if cmp -s "$WORK/a.img" "$WORK/a-again.img"; then
    echo "A and A' are byte-identical" >&2
else
    echo "warning: A and A' differ in $(cmp -l "$WORK/a.img" "$WORK/a-again.img" | wc -l) bytes" >&2
fi

step "changing the tree into version B"
# Candidate files, sorted for a deterministic choice. Skip paths with newlines.
find "$ROOT/usr/share" -type f -size +20k ! -name '*.gz' -print | sort >"$WORK/large.txt"
find "$ROOT/usr/share" -type f -name 'changelog*.gz' -size +4k -print | sort >"$WORK/changelogs.txt"
find "$ROOT/usr/share" -type f -print | sort >"$WORK/all.txt"
pick() { # pick COUNT FILE: COUNT lines spread evenly over FILE
    awk -v count="$1" -v total="$(wc -l <"$2")" \
        'BEGIN { step = total / count } NR == int(done * step) + 1 && done < count { print; done++ }' "$2"
}
LARGEST=$(find "$ROOT/usr/share" -type f -printf '%s %p\n' | sort -n | tail -n 1 | cut -d' ' -f2-)
pick 14 "$WORK/large.txt" | grep -vxF "$LARGEST" | head -n 14 >"$WORK/modified.txt"
MODIFIED_BYTES=0
index=0
while IFS= read -r file; do
    size=$(stat -c %s "$file")
    middle=$((size / 2))
    if ((index < 7)); then
        # A version string or a constant changed in place: same size.
        printf 'imgbuild-bench-change-%041d' "$index" |
            dd of="$file" bs=1 seek="$middle" conv=notrunc status=none
    else
        # A paragraph inserted in the middle: the file grows by 3,000 bytes.
        {
            head -c "$middle" "$file"
            head -c 3000 /usr/share/common-licenses/GPL-3
            tail -c +"$((middle + 1))" "$file"
        } >"$file.new"
        touch -r "$file" "$file.new"
        mv "$file.new" "$file"
    fi
    MODIFIED_BYTES=$((MODIFIED_BYTES + size))
    index=$((index + 1))
done <"$WORK/modified.txt"
pick 6 "$WORK/changelogs.txt" >"$WORK/changelogs-modified.txt"
while IFS= read -r file; do
    # A new changelog entry: the whole compressed file changes.
    size=$(stat -c %s "$file")
    {
        printf 'imgbuild-bench (1:2.0-1) unstable; urgency=medium\n\n  * New upstream release.\n\n'
        printf ' -- Bench <bench@example.org>  Thu, 01 Jan 1970 00:00:00 +0000\n\n'
        zcat "$file"
    } | gzip -9n >"$file.new"
    mv "$file.new" "$file"
    MODIFIED_BYTES=$((MODIFIED_BYTES + size))
done <"$WORK/changelogs-modified.txt"
cat "$WORK/modified.txt" "$WORK/changelogs-modified.txt" >"$WORK/touched.txt"

# Added: a new package (40 shared libraries) plus 10 NEWS files in existing docs.
NEW_PACKAGE=$ROOT/usr/share/imgbuild-bench-newpkg
mkdir -p "$NEW_PACKAGE"
find /usr/lib -type f -name '*.so*' -size +8k -size -2M -print 2>/dev/null | sort >"$WORK/libraries.txt"
pick 40 "$WORK/libraries.txt" | while IFS= read -r library; do
    cp --preserve=mode,timestamps "$library" "$NEW_PACKAGE/$(basename "$library")"
done
ADDED_BYTES=$(du -sb "$NEW_PACKAGE" | cut -f1)
find "$ROOT/usr/share/doc" -mindepth 1 -maxdepth 1 -type d -print | sort >"$WORK/docdirs.txt"
index=0
pick 10 "$WORK/docdirs.txt" | while IFS= read -r directory; do
    head -c $((2000 + index * 700)) /usr/share/common-licenses/GPL-2 >"$directory/NEWS.imgbuild-bench"
    index=$((index + 1))
done
ADDED=$(($(find "$NEW_PACKAGE" -type f | wc -l) + 10))

# Removed: 20 files spread over the tree, never one changed above.
grep -vxF -f "$WORK/touched.txt" "$WORK/all.txt" | grep -vxF "$LARGEST" >"$WORK/removable.txt"
pick 20 "$WORK/removable.txt" >"$WORK/removed.txt"
REMOVED_BYTES=0
while IFS= read -r file; do
    REMOVED_BYTES=$((REMOVED_BYTES + $(stat -c %s "$file")))
    rm -f "$file"
done <"$WORK/removed.txt"

# Appended: the largest file gets 1 MiB more.
LARGEST_SIZE=$(stat -c %s "$LARGEST")
find /usr/include -type f -name '*.h' -print | sort >"$WORK/headers.txt"
pick 400 "$WORK/headers.txt" | xargs cat >"$WORK/append.txt"
head -c 1048576 "$WORK/append.txt" >>"$LARGEST"

echo "B: $(wc -l <"$WORK/touched.txt") files modified ($((MODIFIED_BYTES / 1024)) KiB)," \
    "$ADDED added ($((ADDED_BYTES / 1024)) KiB in the new package)," \
    "$(wc -l <"$WORK/removed.txt") removed ($((REMOVED_BYTES / 1024)) KiB)," \
    "${LARGEST#"$ROOT"} ($((LARGEST_SIZE / 1024)) KiB) appended with 1 MiB of text" >&2
settle_atimes

step "mke2fs: B"
make_image "$WORK/b.img"

step "cargo bench -p imgbuild-store --bench sharing"
cargo bench -q -p imgbuild-store --bench sharing --no-run
IMGBUILD_SHARING_LABEL="A vs B (package upgrade)" \
    IMGBUILD_SHARING_A=$WORK/a.img IMGBUILD_SHARING_B=$WORK/b.img \
    cargo bench -q -p imgbuild-store --bench sharing
IMGBUILD_SHARING_LABEL="A vs A' (same tree, rebuilt: deterministic baseline)" \
    IMGBUILD_SHARING_A=$WORK/a.img IMGBUILD_SHARING_B=$WORK/a-again.img \
    cargo bench -q -p imgbuild-store --bench sharing
