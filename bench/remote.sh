#!/usr/bin/env bash
# Remote cache and remote execution on a real BuildGrid, all on loopback.
#
#   bash bench/remote.sh            # from the repository root
#   RUNS=7 ROOTFS_RUNS=3 FLEET_RUNS=3 N=1000 bash bench/remote.sh
#
# BuildGrid comes from scripts/buildgrid.sh (started if needed, left running). Every
# timed build uses a fresh store; every remote-executed run uses content no earlier run
# made (a nonce), so the ActionCache cannot answer for it. Figures (median [min..max]):
#   trivial local        one `text` derivation built here
#   trivial remote-exec  the same sent to one `imgbuild worker` (--remote-exec): the
#                        per-action overhead is the difference
#   trivial cache hit    the same fetched from the ActionCache into an empty store
#   rootfs cold local    bench/rootfs-web.rhai (the Debian web root filesystem) built into
#                        an empty store: packages from the mirror, unpack, configure
#   rootfs cache hit     the same root fetched from the remote cache into an empty store
#   fleet local          N NoCloud seeds (examples/fleet.rhai) built here
#   fleet 2 workers      the same N seeds executed by two workers (--remote-exec
#                        --remote-upload-secrets: the seeds hold the VMs' keys). On one
#                        2-core machine this measures overhead, not speed-up: the
#                        workers, BuildGrid and its PostgreSQL share the two cores.
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$PWD
RUNS=${RUNS:-7}
ROOTFS_RUNS=${ROOTFS_RUNS:-3}
FLEET_RUNS=${FLEET_RUNS:-3}
N=${N:-1000}
IMGBUILD=${IMGBUILD:-$REPO/target/release/imgbuild}
[ -x "$IMGBUILD" ] || cargo build --release
MEASURE=(python3 "$REPO/bench/measure.py")
ENDPOINT=$(scripts/buildgrid.sh start | sed 's|^http://|grpc://|')
WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/imgbuild-remote-bench.XXXXXX")
RESULTS=$WORK/results.jsonl
WORKERS=()
cleanup() {
    for pid in "${WORKERS[@]}"; do kill "$pid" 2>/dev/null || true; done
    [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT
echo "scratch: $WORK; engine: $ENDPOINT"
NONCE=$(date +%s%N)

worker() {
    "$IMGBUILD" worker --remote "$ENDPOINT" --id "bench-$1-$NONCE" --store "$WORK/worker-$1" \
        2>"$WORK/worker-$1.log" &
    WORKERS+=($!)
}

cat >"$WORK/trivial.rhai" <<'EOF'
#{ t: text("t", "trivial " + args.nonce + "\n") }
EOF

# --- per action -----------------------------------------------------------------------
worker one
sleep 2
"${MEASURE[@]}" run --label "trivial local" --out "$RESULTS" --runs "$RUNS" \
    --prepare "rm -rf $WORK/s-{run} $WORK/o-{run}" -- \
    "$IMGBUILD" build "$WORK/trivial.rhai" --arg "nonce=local-$NONCE-{run}" \
    --store "$WORK/s-{run}" -o "$WORK/o-{run}"
"${MEASURE[@]}" run --label "trivial remote-exec" --out "$RESULTS" --runs "$RUNS" \
    --prepare "rm -rf $WORK/s-{run} $WORK/o-{run}" -- \
    "$IMGBUILD" build "$WORK/trivial.rhai" --arg "nonce=exec-$NONCE-{run}" \
    --store "$WORK/s-{run}" -o "$WORK/o-{run}" --remote "$ENDPOINT" --remote-exec
"$IMGBUILD" build "$WORK/trivial.rhai" --arg "nonce=hit-$NONCE" --store "$WORK/seed" \
    -o "$WORK/seed-out" --remote "$ENDPOINT" >/dev/null 2>&1
"${MEASURE[@]}" run --label "trivial cache hit" --out "$RESULTS" --runs "$RUNS" \
    --prepare "rm -rf $WORK/s-{run} $WORK/o-{run}" -- \
    "$IMGBUILD" build "$WORK/trivial.rhai" --arg "nonce=hit-$NONCE" \
    --store "$WORK/s-{run}" -o "$WORK/o-{run}" --remote "$ENDPOINT"

# --- the Debian web root filesystem -----------------------------------------------------
cp bench/rootfs-web.rhai "$WORK/" && cp -R bench/rootfs-site "$WORK/"
"$IMGBUILD" lock "$WORK/rootfs-web.rhai" >/dev/null
"$IMGBUILD" build "$WORK/rootfs-web.rhai" --store "$WORK/rootfs-seed" -o "$WORK/rootfs-seed-out" \
    --remote "$ENDPOINT" >"$WORK/rootfs-seed.log" 2>&1
"${MEASURE[@]}" run --label "rootfs cold local" --out "$RESULTS" --runs "$ROOTFS_RUNS" \
    --prepare "sync; rm -rf $WORK/s-{run} $WORK/o-{run}" -- \
    "$IMGBUILD" build "$WORK/rootfs-web.rhai" --store "$WORK/s-{run}" -o "$WORK/o-{run}"
"${MEASURE[@]}" run --label "rootfs cache hit" --out "$RESULTS" --runs "$ROOTFS_RUNS" \
    --prepare "sync; rm -rf $WORK/s-{run} $WORK/o-{run}" -- \
    "$IMGBUILD" build "$WORK/rootfs-web.rhai" --store "$WORK/s-{run}" -o "$WORK/o-{run}" \
    --remote "$ENDPOINT"
rm -rf "$WORK"/s-* "$WORK"/o-* "$WORK/rootfs-seed" "$WORK/rootfs-seed-out"

# --- N seeds ------------------------------------------------------------------------------
cp examples/fleet.rhai "$WORK/"
inventory() { # inventory NAME: N rows whose names carry NAME (unique per run)
    python3 bench/fleet_inventory.py "$N" "$WORK/$1.csv"
    sed -i "s/^vm-/vm-$1-/" "$WORK/$1.csv"
}
for run in $(seq 0 $((FLEET_RUNS - 1))); do
    inventory "local-$NONCE-$run"
    inventory "exec-$NONCE-$run"
done
worker two
sleep 2
"${MEASURE[@]}" run --label "fleet local" --out "$RESULTS" --runs "$FLEET_RUNS" \
    --prepare "rm -rf $WORK/s-{run} $WORK/o-{run}" -- \
    "$IMGBUILD" build "$WORK/fleet.rhai" --arg "inventory=$WORK/local-$NONCE-{run}.csv" \
    --store "$WORK/s-{run}" -o "$WORK/o-{run}"
"${MEASURE[@]}" run --label "fleet 2 workers" --out "$RESULTS" --runs "$FLEET_RUNS" \
    --prepare "rm -rf $WORK/s-{run} $WORK/o-{run}" -- \
    "$IMGBUILD" build "$WORK/fleet.rhai" --arg "inventory=$WORK/exec-$NONCE-{run}.csv" \
    --store "$WORK/s-{run}" -o "$WORK/o-{run}" -j 32 \
    --remote "$ENDPOINT" --remote-exec --remote-upload-secrets
for name in one two; do
    echo "worker $name built $(grep -c '^built ' "$WORK/worker-$name.log" || true) actions"
done

"${MEASURE[@]}" table --results "$RESULTS" --other local --title "remote (BuildGrid 0.4.4 on loopback, $(nproc) cores)" \
    "trivial: local vs remote execution|trivial remote-exec|trivial local|time||" \
    "trivial: cache hit vs local|trivial cache hit|trivial local|time||" \
    "web rootfs: cache hit vs cold local|rootfs cache hit|rootfs cold local|time||" \
    "$N seeds: 2 workers vs local|fleet 2 workers|fleet local|time||"
