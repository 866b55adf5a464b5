#!/usr/bin/env bash
# Importing a large file into the store vs hashing it with b3sum.
#
#   bash bench/import.sh           # from the repository root; 5 runs per figure
#   RUNS=3 SIZE_MIB=512 BENCH_DIR=/var/tmp bash bench/import.sh
#
# The test file (SIZE_MIB, default 2048 MiB: a third each of source text, random
# bytes and zeros in 4 MiB segments, see bench/mixed_file.py) is created once as
# $BENCH_DIR/imgbuild-import-<size>.bin (BENCH_DIR defaults to /tmp) and reused. It is
# read once before measuring, so every figure is from the page cache.
#
# Figures (median, min and max of RUNS runs; MB = 10^6 bytes):
#   b3sum --num-threads 1      the reference: BLAKE3 on one core
#   b3sum                      all cores, for context
#   imgbuild eval              `file(path)` hashes the file at evaluation: hashing
#                              plus process start-up; target >= 80% of single-thread b3sum
#   imgbuild build             a fresh store each run: hash, chunk, compress, write
#                              the store, then write the result file under -o; the
#                              import step alone is read from its progress output
#   cp --sparse=always; sync   writing the file to this disk, for context
# then the store's size on disk for the file, and the store crate's own benchmark
# (store/benches/import.rs: hash_file, import_file into a fresh store and into one
# that holds the chunks already) on the same file; CARGO_BENCH=0 skips it.
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
SIZE_MIB=${SIZE_MIB:-2048}
BENCH_DIR=${BENCH_DIR:-/tmp}
CARGO_BENCH=${CARGO_BENCH:-1}
MEASURE=(python3 bench/measure.py)
IMGBUILD=$PWD/target/release/imgbuild
FILE=$BENCH_DIR/imgbuild-import-$SIZE_MIB.bin
SIZE=$((SIZE_MIB << 20))

WORK=$(mktemp -d "$BENCH_DIR/imgbuild-import-bench.XXXXXX")
cleanup() {
    chmod -R u+w "$WORK" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
RESULTS=$WORK/results.jsonl

step() { printf '== %s\n' "$*" >&2; }

step "cargo build --release"
if ! cargo build --release -q --bin imgbuild; then
    if [[ -x $IMGBUILD ]]; then
        echo "warning: cargo build failed; measuring the existing $IMGBUILD" >&2
    else
        echo "error: cargo build failed and there is no $IMGBUILD" >&2
        exit 1
    fi
fi

if ! command -v b3sum >/dev/null; then
    step "installing b3sum"
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        apt-get install -y -q b3sum >/dev/null 2>&1 ||
            { apt-get update -q >/dev/null && apt-get install -y -q b3sum >/dev/null; } ||
            cargo install -q b3sum
    else
        cargo install -q b3sum
    fi
fi

if [[ ! -f $FILE || $(stat -c %s "$FILE") -ne $SIZE ]]; then
    step "creating $FILE ($SIZE_MIB MiB of mixed content)"
    python3 bench/mixed_file.py "$FILE" "$SIZE"
fi
cat "$FILE" >/dev/null

step "hashing $FILE ($RUNS runs + 1 warm-up each)"
"${MEASURE[@]}" run --label b3sum-1 --out "$RESULTS" --runs "$RUNS" --warmup 1 -- \
    b3sum --num-threads 1 --no-names "$FILE"
"${MEASURE[@]}" run --label b3sum --out "$RESULTS" --runs "$RUNS" --warmup 1 -- \
    b3sum --no-names "$FILE"
"${MEASURE[@]}" run --label imgbuild-eval --out "$RESULTS" --runs "$RUNS" --warmup 1 \
    --log "$WORK/eval.log" -- \
    "$IMGBUILD" eval bench/import.rhai --arg "path=$FILE"

step "imgbuild build into a fresh store ($RUNS runs)"
# Every run gets its own store, all deleted at the end: on ext4, creating many files
# right after deleting many is several times slower (see bench/README.md). Only the
# previous run's result (one file) is deleted before each run, untimed.
"${MEASURE[@]}" run --label imgbuild-build --out "$RESULTS" --runs "$RUNS" \
    --prepare "rm -rf $WORK/result" --log "$WORK/build.log" -- \
    "$IMGBUILD" --store "$WORK/store-{run}" build bench/import.rhai \
    --arg "path=$FILE" -o "$WORK/result"
if ! cmp -s "$FILE" "$WORK/result/file"; then
    echo "warning: the built result $WORK/result/file differs from $FILE" >&2
fi
# Writing the result is bounded by the disk: the same write with cp, for context,
# flushed as imgbuild flushes its store (syncfs) before it returns.
"${MEASURE[@]}" run --label cp --out "$RESULTS" --runs "$RUNS" \
    --prepare "rm -f $WORK/copy" -- \
    sh -c 'cp --sparse=always "$1" "$2" && sync -f "$2"' sh "$FILE" "$WORK/copy"
rm -f "$WORK/copy"
STORE_BYTES=$(du -s -B1 "$WORK/store-0" | cut -f1)
RESULT_BYTES=$(du -s -B1 "$WORK/result/file" | cut -f1)

echo
python3 - "$RESULTS" "$SIZE" "$STORE_BYTES" "$RESULT_BYTES" "$FILE" "$RUNS" "$WORK/build.log" <<'EOF'
import json, re, statistics, sys
results_path, size, store_bytes, result_bytes, path, runs, build_log = sys.argv[1:]
size, store_bytes, result_bytes = int(size), int(store_bytes), int(result_bytes)
results = {}
for line in open(results_path):
    result = json.loads(line)
    results[result["label"]] = result
reference = size / statistics.median(results["b3sum-1"]["times"]) / 1e6
rows = [
    ("b3sum --num-threads 1 (hash only)", "b3sum-1", ""),
    ("b3sum, all cores (hash only)", "b3sum", ""),
    ("imgbuild eval (hash + start-up)", "imgbuild-eval", ">= 80%"),
    ("imgbuild build (import + result)", "imgbuild-build", ""),
    ("cp --sparse=always + sync -f", "cp", ""),
]
# The import step alone, from the builder's own timing in the progress lines
# ("built NAME (file) in 4.2s"); the rest of a build is mostly writing the result.
steps = []
for line in open(build_log, errors="replace"):
    match = re.match(r"built\s.*\(file\) in ([0-9.]+)(ms|s)\s*$", line.strip())
    if match:
        steps.append(float(match[1]) / (1000 if match[2] == "ms" else 1))
if len(steps) >= int(runs):
    results["import-step"] = {"times": steps}
    rows.insert(4, ("  of which the import step", "import-step", ""))
header = ("measurement", "MB/s median [min..max]", "seconds median", "of b3sum 1-thread", "target")
table = [header]
for label, key, target in rows:
    times = results[key]["times"]
    rate = size / statistics.median(times) / 1e6
    ratio = rate / reference
    verdict = ""
    if target:
        verdict = f"{target} {'met' if ratio >= 0.8 else 'MISSED'}"
    table.append((
        label,
        f"{rate:.0f} [{size / max(times) / 1e6:.0f}..{size / min(times) / 1e6:.0f}]",
        f"{statistics.median(times):.2f}",
        f"{ratio * 100:.0f}%",
        verdict,
    ))
widths = [max(len(row[column]) for row in table) for column in range(len(header))]
print(f"import of {path} ({size / 2**20:.0f} MiB, 1/3 text, 1/3 random, 1/3 zeros), median of {runs} runs")
for row in table:
    print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
print(f"store on disk after one import: {store_bytes / 2**20:.0f} MiB "
      f"({store_bytes / size * 100:.0f}% of the file); result file on disk: {result_bytes / 2**20:.0f} MiB")
EOF

if [[ $CARGO_BENCH == 1 ]]; then
    echo
    if [[ -f store/benches/import.rs ]]; then
        echo "store crate benchmark (cargo bench -p imgbuild-store --bench import):"
        IMGBUILD_BENCH_FILE=$FILE IMGBUILD_BENCH_RUNS=$RUNS IMGBUILD_BENCH_STORE_DIR=$WORK \
            cargo bench -q -p imgbuild-store --bench import 2>"$WORK/cargo-bench.log" ||
            { echo "cargo bench failed:"; tail -n 20 "$WORK/cargo-bench.log"; }
    else
        echo "store/benches/import.rs not found: no store crate benchmark"
    fi
fi
