#!/usr/bin/env bash
# imgbuild against an earlier imgbuild: the figures a change must not make worse.
#
#   bash bench/before-after.sh OLD-BINARY [NEW-BINARY]     # from the repository root
#   RUNS=5 BENCH_DIR=/dev/shm bash bench/before-after.sh /work/before/target/release/imgbuild
#
# NEW-BINARY defaults to target/release/imgbuild (built first). Both binaries run the
# same recipes from this checkout (examples/bench/graph.rhai, examples/fleet.rhai) on
# the same inputs, one figure at a time, every run into a fresh store. Figures (median,
# min and max of RUNS runs; "ratio" = old median / new median):
#   eval n=EVAL_N (100000)   `imgbuild eval`: wall time and peak RSS
#   build n=BUILD_N (1000)   `imgbuild build` of the graph into an empty store
#   no-op n=BUILD_N          the same build again
#   fleet n=FLEET_N (1000)   NoCloud seeds for a FLEET_N-row inventory, empty store
# Use BENCH_DIR=/dev/shm for like-for-like figures: this machine's ext4 is noisy.
set -euo pipefail

cd "$(dirname "$0")/.."
OLD=${1:?usage: bench/before-after.sh OLD-BINARY [NEW-BINARY]}
NEW=${2:-$PWD/target/release/imgbuild}
RUNS=${RUNS:-5}
EVAL_N=${EVAL_N:-100000}
BUILD_N=${BUILD_N:-1000}
FLEET_N=${FLEET_N:-1000}
JOBS=$(nproc)
MEASURE=(python3 bench/measure.py)

if [[ -z ${2:-} ]]; then
    cargo build --release -q --bin imgbuild
fi
WORK=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/imgbuild-before-after.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
RESULTS=$WORK/results.jsonl
step() { printf '== %s\n' "$*" >&2; }
python3 bench/fleet_inventory.py "$FLEET_N" "$WORK/fleet.csv"

for side in old new; do
    binary=$OLD
    [[ $side == new ]] && binary=$NEW
    step "$side: eval n=$EVAL_N"
    "${MEASURE[@]}" run --label "$side-eval" --out "$RESULTS" --runs "$RUNS" --warmup 1 -- \
        "$binary" eval examples/bench/graph.rhai --arg "n=$EVAL_N"
    step "$side: build n=$BUILD_N, empty store"
    "${MEASURE[@]}" run --label "$side-build" --out "$RESULTS" --runs "$RUNS" -- \
        "$binary" --store "$WORK/$side-graph-{run}" build examples/bench/graph.rhai \
        --arg "n=$BUILD_N" -j "$JOBS" -o "$WORK/$side-graph-out-{run}"
    step "$side: no-op n=$BUILD_N"
    "${MEASURE[@]}" run --label "$side-noop" --out "$RESULTS" --runs "$RUNS" --warmup 1 -- \
        "$binary" --store "$WORK/$side-graph-0" build examples/bench/graph.rhai \
        --arg "n=$BUILD_N" -j "$JOBS" -o "$WORK/$side-graph-out-0"
    step "$side: fleet n=$FLEET_N, empty store"
    "${MEASURE[@]}" run --label "$side-fleet" --out "$RESULTS" --runs "$RUNS" -- \
        "$binary" build examples/fleet.rhai --arg "inventory=$WORK/fleet.csv" \
        --store "$WORK/$side-fleet-{run}" -o "$WORK/$side-fleet-out-{run}"
    rm -rf "$WORK/$side"-fleet-*
done

"${MEASURE[@]}" table --results "$RESULTS" --other old \
    --title "imgbuild new ($NEW) vs old ($OLD), $(nproc) cores, median of $RUNS runs" \
    "eval n=$EVAL_N time|new-eval|old-eval|time||" \
    "eval n=$EVAL_N peak RSS|new-eval|old-eval|rss||" \
    "build n=$BUILD_N, empty store|new-build|old-build|time||" \
    "no-op rebuild n=$BUILD_N|new-noop|old-noop|time||" \
    "fleet n=$FLEET_N seeds, empty store|new-fleet|old-fleet|time||"
