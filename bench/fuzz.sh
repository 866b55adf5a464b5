#!/usr/bin/env bash
# Runs the libFuzzer targets in fuzz/ (cargo-fuzz) for a fixed time each and prints,
# per target, how many inputs were executed and whether anything crashed, hung or ran
# out of memory. CI does not run this; run it before a release or after touching a
# parser or writer:
#
#     bash bench/fuzz.sh                          # every target, 180 s each
#     FUZZ_SECONDS=30 bash bench/fuzz.sh deb_read iso_round_trip
#
# Knobs: FUZZ_SECONDS (180 per target), FUZZ_TIMEOUT (seconds one input may take, 30),
# FUZZ_RSS_MB (memory limit, 2048), FUZZ_SANITIZER (none; `address` for AddressSanitizer,
# slower), FUZZ_ARGS (more libFuzzer flags). Each target runs as one process (one core):
# the machine is shared. The corpus grows in fuzz/corpus/TARGET (seeded from
# fuzz/seeds/TARGET, with the dictionary fuzz/dictionaries/TARGET.dict when there is
# one); a crashing input is saved in fuzz/artifacts/TARGET/ and can be replayed with
# `cargo fuzz run TARGET fuzz/artifacts/TARGET/crash-...`.
#
# cargo fuzz needs nightly compiler flags; on a stable toolchain this sets
# RUSTC_BOOTSTRAP=1. Exit status: 0 when no target found anything, 1 otherwise.

set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

seconds=${FUZZ_SECONDS:-180}
timeout=${FUZZ_TIMEOUT:-30}
rss_mb=${FUZZ_RSS_MB:-2048}
sanitizer=${FUZZ_SANITIZER:-none}
read -r -a extra_args <<<"${FUZZ_ARGS:-}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is missing: installing it (cargo install cargo-fuzz --locked)" >&2
    cargo install cargo-fuzz --locked
fi
if ! rustc --version | grep -q nightly; then
    export RUSTC_BOOTSTRAP=1
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

echo "building ${#targets[@]} fuzz targets (sanitizer: $sanitizer)" >&2
cargo fuzz build --sanitizer "$sanitizer" >&2

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
results=()
found=0
for target in "${targets[@]}"; do
    corpus="fuzz/corpus/$target"
    mkdir -p "$corpus" "fuzz/artifacts/$target"
    inputs=("$corpus")
    if [ -d "fuzz/seeds/$target" ]; then
        inputs+=("fuzz/seeds/$target")
    fi
    dictionary=()
    if [ -f "fuzz/dictionaries/$target.dict" ]; then
        dictionary=(-dict="fuzz/dictionaries/$target.dict")
    fi
    log="$logs/$target.log"
    echo "fuzzing $target for ${seconds}s" >&2
    start=$(date +%s)
    status=0
    cargo fuzz run --sanitizer "$sanitizer" --jobs 1 "$target" "${inputs[@]}" -- \
        -max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb="$rss_mb" \
        -print_final_stats=1 "${dictionary[@]}" "${extra_args[@]}" >"$log" 2>&1 || status=$?
    elapsed=$(($(date +%s) - start))
    executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    if [ -z "$executions" ]; then
        executions=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
    fi
    if [ "$status" -eq 0 ]; then
        outcome="ok"
    else
        found=1
        kind=$(grep -o -m 1 -E 'ERROR: libFuzzer: [a-z-]+|panicked at [^:]+:[0-9]+' "$log" ||
            echo "exit status $status")
        artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
        outcome="FOUND: $kind${artifact:+ ($artifact)}"
        cp "$log" "fuzz/artifacts/$target/last-run.log"
        echo "  $target: $outcome; log in fuzz/artifacts/$target/last-run.log" >&2
    fi
    results+=("$(printf '%-18s %6ss %12s  %s' "$target" "$elapsed" "${executions:-?}" "$outcome")")
done

printf '\n%-18s %7s %12s  %s\n' "target" "time" "executions" "result"
printf '%s\n' "${results[@]}"
exit "$found"
