#!/usr/bin/env bash
# The web disk image (issue: disk images): `disk::image` next to the tool pipeline a user
# would write by hand, on the same root tree, plus the disk's bandwidth floor, the
# one-overlay-file rebuild and how much a one-package change adds to the store.
#
#   bash bench/disk.sh                           # from the repository root
#   RUNS=5 BENCH_DIR=/var/tmp bash bench/disk.sh
#
# The image: bench/disk-web.rhai — bench/rootfs-web.rhai's root filesystem (bookworm
# minbase + systemd-sysv, linux-image-cloud-amd64, nginx, openssh-server, ifupdown,
# isc-dhcp-client, the overlay rootfs-site/index.html) plus systemd-boot-efi, made into a
# GPT disk: an EFI system partition (systemd-boot, kernel, initramfs, one loader entry)
# and an ext4 root partition, `size: "auto"`, raw or qcow2. imgbuild takes its Debian
# mirror from the host's apt sources (or IMGBUILD_DEBIAN_MIRROR): the first build
# downloads the packages (untimed).
#
# Figures (median [min..max] of RUNS runs, wall clock, every run after `sync`):
#
# 1. Assembly, the root tree already in the store (a seed store with one full build):
#    imgbuild-qcow2 / imgbuild-raw
#                   `imgbuild build web.rhai#image --arg name=qN` (format qcow2 / raw) into
#                   the seed store: every run a new image name, so the disk derivations
#                   (disk_raw, and disk_qcow2 for qcow2) are new and really run; the root
#                   tree is found in the store. Includes evaluation, writing the image to
#                   -o DIR and the store's syncfs.
#    tools-qcow2 / tools-raw
#                   the same image by hand (`pipeline` below), from the same root tree as
#                   a tar (untimed: the tree written out by imgbuild and packed by GNU tar
#                   with numeric owners, xattrs and ACLs) and with imgbuild's layout
#                   (untimed: disk size, partition offsets and sizes read from imgbuild's
#                   raw image with sfdisk): mke2fs -d TAR into a partition file (the same
#                   options and feature set), mkfs.vfat --invariant + mmd + mcopy for the
#                   ESP, sfdisk for the GPT, dd conv=sparse,notrunc of both partitions
#                   into the disk file, `qemu-img convert -O qcow2` (qcow2 only), removal
#                   of the intermediate files and `sync -f` (imgbuild also ends with a
#                   syncfs, its temporaries already gone). Each step's time goes to the
#                   log as `phase NAME SECONDS` and the medians are printed.
#    Where imgbuild's time goes: the medians of its `built NAME (KIND) in T` lines.
# 2. The bandwidth floor: `dd bs=1M count=BW_MIB conv=fdatasync` into BENCH_DIR, from
#    /dev/zero and from a file of random bytes in /dev/shm (made once, untimed); the
#    image's used bytes (allocated bytes of the raw image, `du -B1`; the qcow2 file's);
#    floor = used bytes / the random-data bandwidth; the target is imgbuild ≤ 1.5 × floor
#    (printed as the target column of the table).
# 3. imgbuild-overlay: after a full build, one overlay file changed (a copy of
#    rootfs-site/index.html in the scratch recipe directory, one line appended per run):
#    `imgbuild build web.rhai#image` again (root tree + disk_raw + disk_qcow2, no
#    configure); target ≤ 5 s.
# 4. Store growth (untimed): a fresh store; version 1 built as raw, then as qcow2; then
#    version 2 (--arg extra=EXTRA, default `tree`: one more small package): its root tree,
#    its raw image, its qcow2 image. After each step `du -sB1 STORE` and `imgbuild store
#    info`; the growth for the second version as a share of the first image's used bytes
#    (target ≤ 10 %), split into the root tree (package set, configure, root tree) and the
#    image blobs, for raw and for qcow2.
#
# Knobs: RUNS (5), BENCH_DIR (/var/tmp: the stores, images and dd files; it is the disk
# whose bandwidth is measured — /dev/shm takes the disk out), BW_MIB (2048), EXTRA (tree),
# KEEP (0; 1 keeps the scratch directory), IMGBUILD (target/release/imgbuild, built if
# missing), GROWTH (1; 0 skips figure 4, which downloads the packages once more).
# Disk use: a few GB at the peak under BENCH_DIR (the dd file, images, two stores, the
# tree and its tar) and BW_MIB in /dev/shm (the random bytes), all removed at the end.
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$PWD
SELF=$REPO/bench/disk.sh
MEASURE=(python3 "$REPO/bench/measure.py")
EPOCH=1700000000
step() { printf '== %s\n' "$*" >&2; }

# ==== pipeline: the image by hand ===========================================================
# bench/disk.sh pipeline OUT FORMAT TAR TREE LAYOUT: writes OUT/disk.FORMAT from the root
# tree TAR (and the boot files of the same tree written out at TREE) with the layout in
# LAYOUT (a shell fragment written by the script: sizes, offsets, ids, kernel version).
pipeline() {
    local out=$1 format=$2 tar=$3 tree=$4 layout=$5
    # shellcheck disable=SC1090
    source "$layout"
    mkdir -p "$out"
    cd "$out"
    local last=$EPOCHREALTIME
    phase() {
        local now=$EPOCHREALTIME
        echo "phase $1 $(awk -v a="$last" -v b="$now" 'BEGIN { printf "%.3f", b - a }')" >&2
        last=$EPOCHREALTIME
    }
    # The root file system: the feature set imgbuild writes to MKE2FS_CONFIG (Debian 12's
    # ext4 defaults), its options, the tar from a file instead of stdin.
    cat >mke2fs.conf <<'EOF'
[defaults]
	base_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
	default_mntopts = acl,user_xattr
	enable_periodic_fsck = 0
	blocksize = 4096
	inode_size = 256
	inode_ratio = 16384

[fs_types]
	ext4 = {
		features = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
	}
EOF
    truncate -s "$ROOT_BYTES" root.ext4
    MKE2FS_CONFIG=$PWD/mke2fs.conf SOURCE_DATE_EPOCH=$EPOCH E2FSPROGS_FAKE_TIME=$EPOCH \
        mke2fs -q -F -t ext4 -b 4096 -I 256 -m 0 -L root -U "$FS_UUID" \
        -E "hash_seed=$FS_UUID,nodiscard,root_owner=0:0" -d "$tar" root.ext4 "$((ROOT_BYTES / 1024))k"
    phase mke2fs
    # The ESP: FAT32 in a file of its own, systemd-boot as the removable-media loader, the
    # kernel, the initramfs, loader.conf and one entry.
    truncate -s "$ESP_BYTES" esp.fat
    mkfs.vfat -F 32 --invariant -i "$VOLUME_ID" -n ESP esp.fat >/dev/null
    printf 'default imgbuild.conf\ntimeout 0\n' >loader.conf
    printf 'title Debian (imgbuild)\nlinux /vmlinuz\ninitrd /initrd.img\noptions root=PARTUUID=%s rw console=tty0 console=ttyS0,115200\n' \
        "$ROOT_PARTUUID" >imgbuild.conf
    export MTOOLS_SKIP_CHECK=1
    mmd -i esp.fat ::/EFI ::/EFI/BOOT ::/loader ::/loader/entries
    mcopy -i esp.fat "$tree/usr/lib/systemd/boot/efi/systemd-bootx64.efi" ::/EFI/BOOT/BOOTX64.EFI
    mcopy -i esp.fat "$tree/boot/vmlinuz-$KERNEL" ::/vmlinuz
    mcopy -i esp.fat "$tree/boot/initrd.img-$KERNEL" ::/initrd.img
    mcopy -i esp.fat loader.conf ::/loader/loader.conf
    mcopy -i esp.fat imgbuild.conf ::/loader/entries/imgbuild.conf
    phase esp
    # The partition table, then both partitions at their offsets.
    truncate -s "$DISK_BYTES" disk.raw
    sfdisk -q --no-reread --no-tell-kernel disk.raw >/dev/null <<EOF
label: gpt
unit: sectors
first-lba: 34
start=$ESP_START, size=$ESP_SECTORS, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=$ESP_PARTUUID, name="esp"
start=$ROOT_START, size=$ROOT_SECTORS, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, uuid=$ROOT_PARTUUID, name="root"
EOF
    phase sfdisk
    dd if=esp.fat of=disk.raw bs=1M seek="$((ESP_START * 512))" oflag=seek_bytes conv=sparse,notrunc status=none
    dd if=root.ext4 of=disk.raw bs=1M seek="$((ROOT_START * 512))" oflag=seek_bytes conv=sparse,notrunc status=none
    phase dd
    rm -f root.ext4 esp.fat
    local result=disk.raw
    if [[ $format == qcow2 ]]; then
        qemu-img convert -q -f raw -O qcow2 disk.raw disk.qcow2
        rm -f disk.raw
        result=disk.qcow2
        phase qemu-img
    fi
    sync -f "$result"
    phase sync
}
if [[ ${1:-} == pipeline ]]; then
    shift
    pipeline "$@"
    exit 0
fi

# ==== the benchmark ===========================================================================
RUNS=${RUNS:-5}
BENCH_DIR=${BENCH_DIR:-/var/tmp}
BW_MIB=${BW_MIB:-2048}
EXTRA=${EXTRA:-tree}
KEEP=${KEEP:-0}
GROWTH=${GROWTH:-1}
IMGBUILD=${IMGBUILD:-$REPO/target/release/imgbuild}

for tool in mke2fs sfdisk mkfs.vfat mmd mcopy qemu-img tar dd; do
    command -v "$tool" >/dev/null || { echo "bench/disk.sh: $tool is missing (scripts/setup.sh installs it)" >&2; exit 1; }
done
mke2fs_version=$(mke2fs -V 2>&1 | awk '/^mke2fs/ { print $2; exit }')
if ! printf '1.47.1\n%s\n' "$mke2fs_version" | sort -C -V; then
    echo "bench/disk.sh: mke2fs $mke2fs_version cannot read a tar (1.47.1 or later: scripts/setup.sh)" >&2
    exit 1
fi
if [[ ! -x $IMGBUILD ]]; then
    step "cargo build --release"
    cargo build --release --locked >&2
fi

WORK=$(mktemp -d "$BENCH_DIR/imgbuild-disk-bench.XXXXXX")
RANDOM_FILE=/dev/shm/imgbuild-disk-bench-random.$$
cleanup() {
    rm -f "$RANDOM_FILE"
    if [[ $KEEP == 1 ]]; then echo "kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
RESULTS=$WORK/results.jsonl
SUMMARY=$WORK/summary.txt
OUT=$WORK/out
mkdir -p "$OUT"
load() { echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min), CPU pressure: $(awk '/^some/ { print $2 }' /proc/pressure/cpu 2>/dev/null || echo n/a)" >&2; }
echo "bench dir: $WORK on $(df --output=source,fstype "$BENCH_DIR" | tail -1 | tr -s ' '); $(nproc) cores; imgbuild $("$IMGBUILD" --version | awk '{ print $2 }'); mke2fs $mke2fs_version; $(qemu-img --version | head -1)" >&2
load

# The recipe (and, for figure 4, the second version) in scratch directories of their own,
# each with its own lock and its own copy of the overlay file.
RECIPE=$WORK/recipe
RECIPE2=$WORK/recipe2
for directory in "$RECIPE" "$RECIPE2"; do
    mkdir -p "$directory"
    cp bench/disk-web.rhai "$directory/web.rhai"
    cp -r bench/rootfs-site "$directory/"
done
STORE=$WORK/store
build() {   # LOG ARGS...: `imgbuild build ARGS`, its log in LOG; prints the `built`/`done` lines, or the log's tail on failure
    local log=$1
    shift
    if "$IMGBUILD" build "$@" >"$log" 2>&1; then
        grep -E '^(built|done)' "$log" | sed 's/^/  /' >&2 || true
    else
        echo "bench/disk.sh: imgbuild build $* failed:" >&2
        tail -n 30 "$log" >&2
        exit 1
    fi
}

# --- the seed: one full build (untimed) ---------------------------------------------------
step "seed store: the whole web image, qcow2 (untimed: downloads the packages, configures)"
start=$EPOCHREALTIME
build "$WORK/seed.log" "$RECIPE/web.rhai#image" --store "$STORE" -o "$OUT/seed"
echo "  full build: $(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s" >&2
step "the root tree written out and packed as a tar; imgbuild's raw image for the layout (untimed)"
build "$WORK/tree.log" "$RECIPE/web.rhai#web-root" --store "$STORE" -o "$OUT/tree"
build "$WORK/layout.log" "$RECIPE/web.rhai#image" --arg format=raw --store "$STORE" -o "$OUT/layout"
TAR=$WORK/root.tar
if [[ -f $OUT/tree/web-root.tar ]]; then
    # Not root: imgbuild wrote the tree as a tar (owners it cannot create); unpack what
    # the ESP needs from it.
    cp "$OUT/tree/web-root.tar" "$TAR"
    mkdir -p "$WORK/boot-files"
    tar -C "$WORK/boot-files" -xf "$TAR" --wildcards './boot/vmlinuz-*' './boot/initrd.img-*' \
        './usr/lib/systemd/boot/efi/systemd-bootx64.efi' 2>/dev/null ||
        tar -C "$WORK/boot-files" -xf "$TAR" --wildcards 'boot/vmlinuz-*' 'boot/initrd.img-*' \
            'usr/lib/systemd/boot/efi/systemd-bootx64.efi'
    TREE=$WORK/boot-files
else
    TREE=$(readlink -f "$OUT/tree/web-root")
    tar -C "$TREE" --numeric-owner --xattrs --xattrs-include='*' --acls -cf "$TAR" .
fi
LAYOUT=$WORK/layout.sh
python3 - "$OUT/layout/image.raw" "$TREE" "$EPOCH" >"$LAYOUT" <<'PY'
import glob, json, os, subprocess, sys
raw, tree, epoch = sys.argv[1:]
table = json.loads(subprocess.run(["sfdisk", "--json", raw], check=True, capture_output=True, text=True).stdout)
esp, root = table["partitiontable"]["partitions"]
blkid = lambda *args: subprocess.run(["blkid", "-p", "-s", args[0], "-o", "value", "-O", str(args[1]), raw],
                                     check=True, capture_output=True, text=True).stdout.strip()
kernels = sorted(os.path.basename(p)[len("vmlinuz-"):] for p in glob.glob(os.path.join(tree, "boot", "vmlinuz-*")))
values = {
    "DISK_BYTES": os.path.getsize(raw),
    "ESP_START": esp["start"], "ESP_SECTORS": esp["size"], "ESP_BYTES": esp["size"] * 512,
    "ESP_PARTUUID": esp["uuid"],
    "ROOT_START": root["start"], "ROOT_SECTORS": root["size"],
    "ROOT_BYTES": root["size"] * 512 // 4096 * 4096, "ROOT_PARTUUID": root["uuid"],
    "FS_UUID": blkid("UUID", root["start"] * 512),
    "VOLUME_ID": blkid("UUID", esp["start"] * 512).replace("-", "").lower(),
    "KERNEL": kernels[-1], "EPOCH": epoch,
}
for key, value in values.items():
    print(f"{key}={value}")
PY
sed 's/^/  /' "$LAYOUT" >&2
RAW_USED=$(du -B1 "$OUT/layout/image.raw" | cut -f1)
QCOW2_USED=$(du -B1 "$OUT/seed/image.qcow2" | cut -f1)
echo "  image used bytes: raw $RAW_USED (of $(stat -c %s "$OUT/layout/image.raw")), qcow2 $QCOW2_USED" >&2

# --- 1. assembly from the root tree in the store, imgbuild and the tools --------------------
load
step "imgbuild-qcow2: the disk derivations (raw + qcow2) with the root tree in the store ($RUNS runs)"
"${MEASURE[@]}" run --label imgbuild-qcow2 --out "$RESULTS" --runs "$RUNS" \
    --prepare "rm -rf $OUT/q-* && sync" --log "$WORK/imgbuild-qcow2.log" \
    -- "$IMGBUILD" build "$RECIPE/web.rhai#image" --arg "name=q{run}" --store "$STORE" -o "$OUT/q-{run}"
step "tools-qcow2: mke2fs -d, mkfs.vfat + mcopy, sfdisk, dd, qemu-img convert ($RUNS runs)"
"${MEASURE[@]}" run --label tools-qcow2 --out "$RESULTS" --runs "$RUNS" \
    --prepare "rm -rf $OUT/tq-* && sync" --log "$WORK/tools-qcow2.log" \
    -- bash "$SELF" pipeline "$OUT/tq-{run}" qcow2 "$TAR" "$TREE" "$LAYOUT"
load
step "imgbuild-raw: the raw disk derivation with the root tree in the store ($RUNS runs)"
"${MEASURE[@]}" run --label imgbuild-raw --out "$RESULTS" --runs "$RUNS" \
    --prepare "rm -rf $OUT/r-* && sync" --log "$WORK/imgbuild-raw.log" \
    -- "$IMGBUILD" build "$RECIPE/web.rhai#image" --arg "name=r{run}" --arg format=raw --store "$STORE" -o "$OUT/r-{run}"
step "tools-raw: the same without qemu-img ($RUNS runs)"
"${MEASURE[@]}" run --label tools-raw --out "$RESULTS" --runs "$RUNS" \
    --prepare "rm -rf $OUT/tr-* && sync" --log "$WORK/tools-raw.log" \
    -- bash "$SELF" pipeline "$OUT/tr-{run}" raw "$TAR" "$TREE" "$LAYOUT"
echo "  the tools' raw image uses $(du -B1 "$OUT/tr-$((RUNS - 1))/disk.raw" | cut -f1) bytes, imgbuild's $RAW_USED" >&2
rm -rf "$OUT"/q-* "$OUT"/r-* "$OUT"/tq-* "$OUT"/tr-*

# --- 2. the disk's bandwidth ------------------------------------------------------------------
load
step "bandwidth: dd ${BW_MIB} MiB from /dev/zero, conv=fdatasync ($RUNS runs)"
"${MEASURE[@]}" run --label bw-zero --out "$RESULTS" --runs "$RUNS" \
    --prepare "rm -f $WORK/bw && sync" \
    -- dd if=/dev/zero of="$WORK/bw" bs=1M count="$BW_MIB" conv=fdatasync status=none
head -c "$((BW_MIB << 20))" /dev/urandom >"$RANDOM_FILE"
step "bandwidth: dd ${BW_MIB} MiB of random bytes from /dev/shm, conv=fdatasync ($RUNS runs)"
"${MEASURE[@]}" run --label bw-random --out "$RESULTS" --runs "$RUNS" \
    --prepare "rm -f $WORK/bw && sync" \
    -- dd if="$RANDOM_FILE" of="$WORK/bw" bs=1M conv=fdatasync status=none
rm -f "$WORK/bw" "$RANDOM_FILE"

# --- 3. one overlay file changed ------------------------------------------------------------
load
step "imgbuild-overlay: one overlay file changed after a full build, new qcow2 ($RUNS runs)"
"${MEASURE[@]}" run --label imgbuild-overlay --out "$RESULTS" --runs "$RUNS" \
    --prepare "echo \"<p>edit {run} \$(date +%N)</p>\" >> $RECIPE/rootfs-site/index.html && rm -rf $OUT/overlay && sync" \
    --log "$WORK/imgbuild-overlay.log" \
    -- "$IMGBUILD" build "$RECIPE/web.rhai#image" --store "$STORE" -o "$OUT/overlay"
cp bench/rootfs-site/index.html "$RECIPE/rootfs-site/index.html"

# --- 4. store growth for a second version ---------------------------------------------------
GROWTH_FILE=$WORK/growth.jsonl
if [[ $GROWTH == 1 ]]; then
    GSTORE=$WORK/store-growth
    measure_store() {   # LABEL: one JSON line: du and `imgbuild store info`'s sizes
        sync
        python3 - "$1" "$GSTORE" "$IMGBUILD" >>"$GROWTH_FILE" <<'PY'
import json, re, subprocess, sys
label, store, imgbuild = sys.argv[1:]
du = int(subprocess.run(["du", "-sB1", store], check=True, capture_output=True, text=True).stdout.split()[0])
info = subprocess.run([imgbuild, "store", "info", "--store", store], check=True, capture_output=True, text=True).stdout
units = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}
sizes = {}
for line in info.splitlines():
    m = re.match(r"^(\S.*?)\s{2,}(?:(\d+)\s+)?([\d.]+) (B|KiB|MiB|GiB|TiB)$", line.strip())
    if m:
        sizes[m.group(1)] = float(m.group(3)) * units[m.group(4)]
print(json.dumps({"label": label, "du": du, "info": sizes}))
PY
    }
    step "store growth: version 1 into a fresh store (untimed; downloads the packages again)"
    build "$WORK/v1-raw.log" "$RECIPE/web.rhai#image" --arg format=raw --store "$GSTORE" -o "$OUT/v1-raw"
    measure_store "v1 raw"
    build "$WORK/v1-qcow2.log" "$RECIPE/web.rhai#image" --store "$GSTORE" -o "$OUT/v1-qcow2"
    measure_store "v1 qcow2"
    step "store growth: version 2 (+ $EXTRA): root tree, raw, qcow2"
    build "$WORK/v2-root.log" "$RECIPE2/web.rhai#web-root" --arg "extra=$EXTRA" --store "$GSTORE" -o "$OUT/v2-root"
    measure_store "v2 root tree"
    build "$WORK/v2-raw.log" "$RECIPE2/web.rhai#image" --arg "extra=$EXTRA" --arg format=raw --store "$GSTORE" -o "$OUT/v2-raw"
    measure_store "v2 raw"
    build "$WORK/v2-qcow2.log" "$RECIPE2/web.rhai#image" --arg "extra=$EXTRA" --store "$GSTORE" -o "$OUT/v2-qcow2"
    measure_store "v2 qcow2"
    V1_RAW_USED=$(du -B1 "$OUT/v1-raw/image.raw" | cut -f1)
    V1_QCOW2_USED=$(du -B1 "$OUT/v1-qcow2/image.qcow2" | cut -f1)
    if cmp -s "$OUT/v1-qcow2/image.qcow2" "$OUT/seed/image.qcow2"; then
        echo "  version 1's qcow2 in the fresh store is byte-identical to the seed store's" >&2
    else
        echo "  NOTE: version 1's qcow2 in the fresh store differs from the seed store's" >&2
    fi
fi

# --- results -----------------------------------------------------------------------------------
echo
python3 - "$RESULTS" "$WORK" "$RAW_USED" "$QCOW2_USED" "$BW_MIB" "$GROWTH_FILE" "${V1_RAW_USED:-0}" "${V1_QCOW2_USED:-0}" "$EXTRA" <<'PY' | tee "$SUMMARY"
import json, os, re, statistics, sys
results_path, work, raw_used, qcow2_used, bw_mib, growth_path, v1_raw, v1_qcow2, extra = sys.argv[1:]
raw_used, qcow2_used, bw_mib, v1_raw, v1_qcow2 = map(int, (raw_used, qcow2_used, bw_mib, v1_raw, v1_qcow2))
results = {}
for line in open(results_path):
    r = json.loads(line)
    results[r["label"]] = r
    print(f"{r['label']:17} runs: {', '.join(f'{t:.2f}' for t in r['times'])} s; median {statistics.median(r['times']):.2f} s "
          f"(CPU user {statistics.median(r['user_times']):.1f} s, system {statistics.median(r['system_times']):.1f} s)")
med = lambda label: statistics.median(results[label]["times"])
span = lambda values: f"{statistics.median(values):.2f} s [{min(values):.2f}..{max(values):.2f}]"

def seconds(text):
    m = re.fullmatch(r"(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?", text)
    return int(m.group(1) or 0) * 60 + float(m.group(2) or 0) + int(m.group(3) or 0) / 1000

print("\nwhere the time goes (medians over the runs):")
for label in ("imgbuild-qcow2", "imgbuild-raw", "imgbuild-overlay"):
    path = os.path.join(work, label + ".log")
    if not os.path.exists(path):
        continue
    # measure.py appends every run to one log; a run ends with its `done:` line.
    runs, current = [], {}
    for line in open(path):
        m = re.match(r"built\s+(\S+) \((\w+)\) in (\S+)", line)
        if m:
            current[m.group(2)] = current.get(m.group(2), 0) + seconds(m.group(3))
        elif line.startswith("done:"):
            runs.append(current)
            current = {}
    kinds = sorted({k for r in runs for k in r}, key=lambda k: -statistics.median(r.get(k, 0) for r in runs))
    totals = results[label]["times"]
    parts = [f"{k} {statistics.median(r.get(k, 0) for r in runs):.2f} s" for k in kinds]
    rest = statistics.median(t - sum(r.values()) for t, r in zip(totals, runs))
    print(f"  {label}: " + ", ".join(parts) + f", the rest (evaluation, result, syncfs) {rest:.2f} s")
for label in ("tools-qcow2", "tools-raw"):
    path = os.path.join(work, label + ".log")
    if not os.path.exists(path):
        continue
    phases = {}
    for line in open(path):
        m = re.match(r"phase (\S+) ([\d.]+)", line)
        if m:
            phases.setdefault(m.group(1), []).append(float(m.group(2)))
    print(f"  {label}: " + ", ".join(f"{k} {statistics.median(v):.2f} s" for k, v in phases.items()))

if "bw-zero" in results:
    mib = lambda label: bw_mib / med(label)
    spread = lambda label: f"{mib(label):.0f} MiB/s [{bw_mib / max(results[label]['times']):.0f}..{bw_mib / min(results[label]['times']):.0f}]"
    bandwidth = mib("bw-random") * (1 << 20)
    print(f"\nbandwidth of the bench directory's disk, dd {bw_mib} MiB conv=fdatasync: zeros {spread('bw-zero')}, "
          f"random bytes {spread('bw-random')}")
    print(f"image used bytes: raw {raw_used / (1 << 20):.0f} MiB, qcow2 {qcow2_used / (1 << 20):.0f} MiB")
    print(f"\n{'image':6} {'floor = used / bw':>18} {'imgbuild':>26} {'x floor':>8} {'tools':>26} {'x floor':>8}   target: imgbuild <= 1.5 x floor")
    for fmt, used in (("qcow2", qcow2_used), ("raw", raw_used)):
        floor = used / bandwidth
        mine, tools = results.get(f"imgbuild-{fmt}"), results.get(f"tools-{fmt}")
        if not mine:
            continue
        verdict = "met" if med(f"imgbuild-{fmt}") <= 1.5 * floor else "MISSED"
        print(f"{fmt:6} {floor:>16.2f} s {span(mine['times']):>26} {med(f'imgbuild-{fmt}') / floor:>7.1f}x "
              f"{span(tools['times']) if tools else 'n/a':>26} {med(f'tools-{fmt}') / floor if tools else 0:>7.1f}x   {verdict}")

if os.path.exists(growth_path):
    steps = [json.loads(line) for line in open(growth_path)]
    by = {s["label"]: s for s in steps}
    keys = ["chunks", "blobs", "trees"]
    print(f"\nstore growth, version 2 = version 1 + `{extra}` (du -sB1 of the store; `imgbuild store info` per kind), MiB:")
    print(f"  {'after':14} {'du':>9} {'+du':>8} " + " ".join(f"{'+' + k:>8}" for k in keys))
    previous = None
    for s in steps:
        delta = lambda k: (s["info"].get(k, 0) - previous["info"].get(k, 0)) / (1 << 20) if previous else s["info"].get(k, 0) / (1 << 20)
        grow = (s["du"] - previous["du"]) / (1 << 20) if previous else s["du"] / (1 << 20)
        print(f"  {s['label']:14} {s['du'] / (1 << 20):>9.1f} {grow:>8.1f} " + " ".join(f"{delta(k):>8.1f}" for k in keys))
        previous = s
    if all(k in by for k in ("v1 raw", "v1 qcow2", "v2 root tree", "v2 raw", "v2 qcow2")):
        d = lambda a, b: by[b]["du"] - by[a]["du"]
        root = d("v1 qcow2", "v2 root tree")
        raw_blob = d("v2 root tree", "v2 raw")
        qcow2_blob = d("v2 raw", "v2 qcow2")
        pct = lambda n, used: f"{n / (1 << 20):.1f} MiB = {100 * n / used:.1f} %"
        print(f"  version 2 beyond version 1, as a share of the image's used bytes (target <= 10 %):")
        print(f"    raw:   {pct(root + raw_blob, v1_raw)} of {v1_raw / (1 << 20):.0f} MiB "
              f"(root tree {pct(root, v1_raw)}, raw image {pct(raw_blob, v1_raw)})")
        print(f"    qcow2: {pct(root + raw_blob + qcow2_blob, v1_qcow2)} of {v1_qcow2 / (1 << 20):.0f} MiB "
              f"(root tree {pct(root, v1_qcow2)}, raw image {pct(raw_blob, v1_qcow2)}, qcow2 image {pct(qcow2_blob, v1_qcow2)})")
PY

floor_target() {   # FORMAT: 1.5 x used bytes / the random-data bandwidth, seconds
    python3 - "$RESULTS" "$1" "$BW_MIB" <<'PY'
import json, statistics, sys
results = {json.loads(l)["label"]: json.loads(l) for l in open(sys.argv[1])}
used, bw_mib = int(sys.argv[2]), int(sys.argv[3])
print(f"{1.5 * used / (bw_mib / statistics.median(results['bw-random']['times']) * (1 << 20)):.2f}")
PY
}
echo
"${MEASURE[@]}" table --other tools --results "$RESULTS" \
    --title "web disk image, imgbuild vs the tool pipeline (mke2fs -d, mkfs.vfat + mcopy, sfdisk, dd, qemu-img), $(nproc) cores, median of $RUNS runs, BENCH_DIR=$BENCH_DIR; targets: 1.5 x the bandwidth floor, 5 s" \
    "qcow2 from the root tree in the store|imgbuild-qcow2|tools-qcow2|time|$(floor_target "$QCOW2_USED")|" \
    "raw from the root tree in the store|imgbuild-raw|tools-raw|time|$(floor_target "$RAW_USED")|" \
    "one overlay file changed: new qcow2|imgbuild-overlay||time|5|" | tee -a "$SUMMARY"
load
