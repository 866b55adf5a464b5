#!/usr/bin/env bash
# imgbuild vs cloud-localds (Debian's cloud-image-utils): NoCloud seeds for a fleet.
#
#   bash bench/fleet.sh                       # from the repository root
#   RUNS=3 N=1000 BIG_N=10000 LOCALDS_N=200 bash bench/fleet.sh
#
# Every timed run starts after `sync`, so no run pays for the previous one's writeback
# (this machine's disk is shared and noisy; medians are what to read).
# The inventory has N rows (name, ip, prefix, gateway, dns, ssh_key; every tenth VM on
# DHCP). Figures (median, min and max of RUNS runs):
#   cold N       `imgbuild build examples/fleet.rhai` into an empty store, N seeds
#                vs cloud-localds for each VM of the same inventory, run with
#                `xargs -P $(nproc)`, the VM's files written beforehand (untimed).
#                cloud-localds covers LOCALDS_N VMs (default N) and is scaled to N.
#   cold BIG_N   the same for BIG_N seeds (imgbuild only), time and peak RSS.
#   one row      change one row of the N-row inventory, rebuild (one seed rebuilt;
#                the script checks that with --json).
#   size         bytes per seed, both tools.
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
N=${N:-1000}
BIG_N=${BIG_N:-10000}
LOCALDS_N=${LOCALDS_N:-$N}
MEASURE=(python3 bench/measure.py)
IMGBUILD=$PWD/target/release/imgbuild
RECIPE=$PWD/examples/fleet.rhai

WORK=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/imgbuild-fleet-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
RESULTS=$WORK/results.jsonl
step() { printf '== %s\n' "$*" >&2; }

if ! command -v cloud-localds >/dev/null || ! command -v genisoimage >/dev/null; then
    if [[ $(id -u) -eq 0 ]]; then
        step "installing cloud-image-utils and genisoimage from Debian"
        apt-get install -y -q --no-install-recommends cloud-image-utils genisoimage >/dev/null
    else
        echo "error: cloud-localds is missing; install cloud-image-utils and genisoimage" >&2
        exit 1
    fi
fi

step "cargo build --release"
cargo build --release -q --bin imgbuild

inventory() { python3 bench/fleet_inventory.py "$@"; }

inventory "$N" "$WORK/fleet.csv"
inventory "$BIG_N" "$WORK/fleet-big.csv"

step "imgbuild: $N seeds, empty store"
"${MEASURE[@]}" run --label imgbuild-cold --out "$RESULTS" --runs "$RUNS" --prepare sync \
    -- "$IMGBUILD" build "$RECIPE" --arg "inventory=$WORK/fleet.csv" \
    --store "$WORK/store-{run}" -o "$WORK/out-{run}"

step "imgbuild: $BIG_N seeds, empty store"
"${MEASURE[@]}" run --label imgbuild-big --out "$RESULTS" --runs "$(( RUNS < 3 ? RUNS : 3 ))" --prepare sync \
    -- "$IMGBUILD" build "$RECIPE" --arg "inventory=$WORK/fleet-big.csv" \
    --store "$WORK/big-store-{run}" -o "$WORK/big-out-{run}"
rm -rf "$WORK"/big-store-* "$WORK"/big-out-*

step "imgbuild: change one row of $N, rebuild"
CHANGED=$(( N / 2 ))
"${MEASURE[@]}" run --label imgbuild-row --out "$RESULTS" --runs "$RUNS" \
    --prepare "python3 bench/fleet_inventory.py $N $WORK/fleet.csv $CHANGED 2{run} && sync" \
    -- "$IMGBUILD" build "$RECIPE" --arg "inventory=$WORK/fleet.csv" \
    --store "$WORK/store-0" -o "$WORK/out-0"
inventory "$N" "$WORK/fleet.csv" "$CHANGED" 249
BUILT=$("$IMGBUILD" build "$RECIPE" --arg "inventory=$WORK/fleet.csv" --store "$WORK/store-0" \
    -o "$WORK/out-0" --json | grep -c '"event":"started"' || true)
inventory "$N" "$WORK/fleet.csv"

step "cloud-localds: $LOCALDS_N seeds (files prepared beforehand, $(nproc) in parallel)"
python3 - "$WORK/fleet.csv" "$WORK/localds" "$LOCALDS_N" <<'EOF'
import csv, os, sys
source, root, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(source) as rows:
    for index, row in enumerate(csv.DictReader(rows)):
        if index >= limit:
            break
        directory = os.path.join(root, row["name"])
        os.makedirs(directory)
        with open(os.path.join(directory, "user-data"), "w") as out:
            out.write("#cloud-config\nssh_authorized_keys:\n  - \"%s\"\nwrite_files:\n  - path: /etc/imgbuild/role\n"
                      "    content: |\n      %s\n    permissions: \"0644\"\n" % (row["ssh_key"], row["role"]))
        with open(os.path.join(directory, "meta-data"), "w") as out:
            out.write("instance-id: iid-%s\nlocal-hostname: %s\n" % (row["name"], row["name"]))
        with open(os.path.join(directory, "network-config"), "w") as out:
            if row["ip"]:
                out.write("version: 2\nethernets:\n  eth0:\n    addresses:\n      - \"%s/%s\"\n    routes:\n"
                          "      - to: \"0.0.0.0/0\"\n        via: \"%s\"\n" % (row["ip"], row["prefix"], row["gateway"]))
EOF
cat > "$WORK/localds-one.sh" <<'EOF'
#!/bin/sh
# cloud-localds for one prepared VM directory ($1) into $2.
set -e
network=""
[ -s "$1/network-config" ] && network="-N $1/network-config"
cloud-localds $network "$2/$(basename "$1").iso" "$1/user-data" "$1/meta-data"
EOF
chmod +x "$WORK/localds-one.sh"
"${MEASURE[@]}" run --label localds-cold --out "$RESULTS" --runs "$(( RUNS < 3 ? RUNS : 3 ))" \
    --prepare "rm -rf $WORK/localds-out && mkdir $WORK/localds-out && sync" \
    -- sh -c "ls -d $WORK/localds/* | xargs -P $(nproc) -I{} $WORK/localds-one.sh {} $WORK/localds-out"

# Scale cloud-localds to N seeds when it ran on fewer.
python3 - "$RESULTS" "$N" "$LOCALDS_N" <<'EOF'
import json, sys
path, n, measured = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
lines = [json.loads(line) for line in open(path) if line.strip()]
for result in lines:
    if result["label"] == "localds-cold" and measured != n:
        factor = n / measured
        result["times"] = [t * factor for t in result["times"]]
        result["median_time"] *= factor
with open(path, "w") as out:
    for result in lines:
        out.write(json.dumps(result) + "\n")
EOF

size_of() { python3 -c 'import os,statistics,sys; s=[os.path.getsize(os.path.join(sys.argv[1],f)) for f in os.listdir(sys.argv[1]) if f.endswith(".iso")]; print(int(statistics.median(s)), len(s))' "$1"; }
read -r IMGBUILD_SIZE IMGBUILD_COUNT < <(size_of "$WORK/out-0")
read -r LOCALDS_SIZE LOCALDS_COUNT < <(size_of "$WORK/localds-out")

echo
"${MEASURE[@]}" table --other cloud-localds --results "$RESULTS" \
    --title "NoCloud seeds: imgbuild vs cloud-localds $(dpkg-query -W -f='${Version}' cloud-image-utils 2>/dev/null), $(nproc) cores, median of $RUNS runs" \
    "$N seeds, empty store|imgbuild-cold|localds-cold|time|0.8|~24 s" \
    "$BIG_N seeds, empty store|imgbuild-big||time|8|" \
    "$BIG_N seeds, peak RSS|imgbuild-big||rss||" \
    "$N seeds, peak RSS|imgbuild-cold||rss||" \
    "one row of $N changed|imgbuild-row||time|0.05|"
echo "cloud-localds ran on $LOCALDS_N VMs, scaled to $N"
echo "seed size (median): imgbuild $IMGBUILD_SIZE bytes ($IMGBUILD_COUNT seeds), cloud-localds $LOCALDS_SIZE bytes ($LOCALDS_COUNT seeds); target <= 102400"
echo "derivations rebuilt after changing one row: $BUILT (expected 1)"
