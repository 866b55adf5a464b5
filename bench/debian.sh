#!/usr/bin/env bash
# imgbuild vs mmdebstrap: resolve, fetch and unpack a Debian package set.
#
#   bash bench/debian.sh                  # from the repository root
#   RUNS=3 bash bench/debian.sh
#
# The set is examples/debian-web.rhai: bookworm minbase + systemd-sysv,
# linux-image-cloud-amd64, nginx, openssh-server (about 150 packages, 82 MB of .debs),
# from the host's apt mirror. Figures (median [min..max] of RUNS runs):
#   parse / resolve  `cargo bench -p imgbuild-apt --bench resolve` (the host's apt
#                    lists: parse the main index, resolve the web set)
#   lock             `imgbuild lock` from scratch: fetch and verify InRelease and the
#                    Packages indices of three suites, parse, resolve, write the lock
#   cold             `imgbuild build` into an empty store with the lock present: fetch
#                    every .deb, unpack, write the dpkg database, write result/
#                    vs `mmdebstrap --variant=extract --include=<the locked name=version
#                    list>` to a tarball (apt update + download + extract; its own
#                    empty cache every run)
#   warm             the same packages under another set name, into the store that has
#                    every .deb (and, by content, most files): unpack + result/
#   no-op            `imgbuild build` again
# Every timed run starts after `sync`; runs get their own directories, deleted at the end.
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
MEASURE=(python3 bench/measure.py)
IMGBUILD=$PWD/target/release/imgbuild
WORK=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/imgbuild-apt-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
RESULTS=$WORK/results.jsonl
step() { printf '== %s\n' "$*" >&2; }

if ! command -v mmdebstrap >/dev/null; then
    if [[ $(id -u) -eq 0 ]]; then
        step "installing mmdebstrap from Debian"
        apt-get install -y -q --no-install-recommends mmdebstrap >/dev/null
    else
        echo "note: mmdebstrap is missing (apt-get install mmdebstrap); its column stays empty" >&2
    fi
fi

step "cargo build --release"
cargo build --release -q --bin imgbuild

step "parse and resolve (cargo bench)"
cargo bench -q -p imgbuild-apt --bench resolve 2>/dev/null | tail -4 || true

cp examples/debian-web.rhai "$WORK/web.rhai"
sed 's/name: "web"/name: "web-warm"/' examples/debian-web.rhai > "$WORK/warm.rhai"

step "imgbuild lock (three suites, from scratch)"
"${MEASURE[@]}" run --label lock --out "$RESULTS" --runs "$RUNS" \
    --prepare "rm -f $WORK/web.lock" -- "$IMGBUILD" lock "$WORK/web.rhai"
"$IMGBUILD" lock "$WORK/warm.rhai" 2>/dev/null

step "imgbuild build, empty store (fetch + unpack + result)"
"${MEASURE[@]}" run --label cold --out "$RESULTS" --runs "$RUNS" --prepare sync \
    -- "$IMGBUILD" build "$WORK/web.rhai" --store "$WORK/store-{run}" -o "$WORK/out-{run}"

step "imgbuild build, every .deb in the store"
"${MEASURE[@]}" run --label warm --out "$RESULTS" --runs "$RUNS" \
    --prepare "rm -rf $WORK/warm-store && cp -a $WORK/store-0 $WORK/warm-store && sync" \
    -- "$IMGBUILD" build "$WORK/warm.rhai" --store "$WORK/warm-store" -o "$WORK/warm-out-{run}"

step "imgbuild build, no-op"
"${MEASURE[@]}" run --label noop --out "$RESULTS" --runs "$RUNS" \
    -- "$IMGBUILD" build "$WORK/web.rhai" --store "$WORK/store-0" -o "$WORK/out-0"

if command -v mmdebstrap >/dev/null; then
    INCLUDE=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["debian"]["sets"][0]
print(",".join(p["name"]+"="+p["version"] for p in s["packages"]))' "$WORK/web.lock")
    step "mmdebstrap --variant=extract, same packages"
    "${MEASURE[@]}" run --label mmdebstrap --out "$RESULTS" --runs "$RUNS" --prepare sync \
        -- mmdebstrap --quiet --variant=extract --format=tar --include="$INCLUDE" bookworm "$WORK/mmdebstrap-{run}.tar"
fi

echo
"${MEASURE[@]}" table --other mmdebstrap --results "$RESULTS" \
    --title "Debian web set ($(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["debian"]["sets"][0]["packages"]))' "$WORK/web.lock") packages): imgbuild vs mmdebstrap $(dpkg-query -W -f='${Version}' mmdebstrap 2>/dev/null), $(nproc) cores, median of $RUNS runs" \
    "resolve + lock (3 suites)|lock||time||" \
    "cold: fetch + unpack|cold|mmdebstrap|time||" \
    "warm: .debs in the store|warm||time|5|" \
    "no-op rebuild|noop||time|0.05|"
