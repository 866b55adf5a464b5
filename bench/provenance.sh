#!/usr/bin/env bash
# Provenance (issue: SBOMs, signed manifests, OCI images, `imgbuild diff`), side by side
# with the tools a user would otherwise reach for, on the web image of
# bench/provenance-web.rhai (bench/disk-web.rhai's root filesystem and qcow2 image).
#
#   bash bench/provenance.sh                     # from the repository root, as root
#   RUNS=5 EXTRA=tree BENCH_DIR=/var/tmp bash bench/provenance.sh
#
# The first builds (untimed) download the packages and build two versions of the image:
# version 1, and version 2 with one more package (--arg extra=EXTRA, default `tree`).
# Figures (median [min..max] of RUNS runs, wall clock):
#
# 1. sbom     `imgbuild build provenance-web.rhai#sbom --arg run=N`: the SPDX document of
#             the web image, every run a new document name so the SBOM derivation really
#             runs (the image and its root are found in the store). Includes evaluation.
#             No peer tool on this machine makes a Debian image's SBOM.
# 2. oci      `imgbuild build provenance-web.rhai#oci --arg run=N`: the OCI image layout
#             of the built root (a gzip layer of the store's tar of the tree), every run a
#             new image name; against `umoci repack` building the same layer from the
#             same root as a directory (untimed before each run: `umoci init`, `umoci new`,
#             `umoci unpack` of the empty image, the root tree copied into the bundle's
#             rootfs with `cp -a`).
# 3. diff     `imgbuild diff v1/image.qcow2 v2/image.qcow2` (packages, then files, through
#             the store's trees); against `diff -r --no-dereference` on the two root trees
#             as directories, and diffoscope on the same two directories (one run, if
#             installed, stopped after DIFFOSCOPE_TIMEOUT seconds).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-5}
EXTRA=${EXTRA:-tree}
DIFFOSCOPE_TIMEOUT=${DIFFOSCOPE_TIMEOUT:-600}
BENCH_DIR=${BENCH_DIR:-/var/tmp}
MEASURE=(python3 "$REPO/bench/measure.py")
if [ "$(id -u)" -ne 0 ]; then echo "bench/provenance.sh: run as root (umoci unpack and the root trees need it)" >&2; exit 2; fi
for tool in umoci diff; do
    command -v "$tool" >/dev/null || { echo "bench/provenance.sh: $tool is missing (apt-get install umoci)" >&2; exit 3; }
done
(cd "$REPO" && cargo build --release --locked -q)
IMGBUILD="$REPO/target/release/imgbuild"
work=$(mktemp -d "$BENCH_DIR/imgbuild-provenance.XXXXXX")
trap 'rm -rf "$work"' EXIT
store="$work/store"
cp "$REPO/bench/provenance-web.rhai" "$work/"
cp -r "$REPO/bench/rootfs-site" "$work/"
results="$work/results.jsonl"
log="$work/log"
cd "$work"

echo "building version 1 and version 2 (+$EXTRA), untimed..." >&2
"$IMGBUILD" --store "$store" build provenance-web.rhai -o v1 >"$log" 2>&1 || { tail -30 "$log"; exit 1; }
"$IMGBUILD" --store "$store" build provenance-web.rhai --arg extra="$EXTRA" -o v2 >>"$log" 2>&1 || { tail -30 "$log"; exit 1; }

echo "1. the web image's SBOM" >&2
"${MEASURE[@]}" run --label sbom --out "$results" --runs "$RUNS" --log "$log.sbom" -- \
    "$IMGBUILD" --store "$store" build "provenance-web.rhai#sbom" --arg "run=s{run}" -o "$work/sbom-out"
ls -l "$work/v1/sbom.spdx.json" >&2

echo "2. an OCI image of the built root" >&2
"${MEASURE[@]}" run --label oci-imgbuild --out "$results" --runs "$RUNS" --log "$log.oci" -- \
    "$IMGBUILD" --store "$store" build "provenance-web.rhai#oci" --arg "run=o{run}" -o "$work/oci-out"
root_dir=$(readlink -f "$work/v1/web-root")
prepare="rm -rf $work/umoci && mkdir $work/umoci && cd $work/umoci && umoci init --layout layout && umoci new --image layout:web && umoci unpack --image layout:web bundle >/dev/null && cp -a $root_dir/. bundle/rootfs/"
"${MEASURE[@]}" run --label oci-umoci --out "$results" --runs "$RUNS" --log "$log.umoci" --prepare "$prepare" -- \
    sh -c "cd $work/umoci && umoci repack --image layout:web bundle"
du -sh "$work/v1/oci" "$work/umoci/layout" >&2

echo "3. diff of two web images that differ by one package" >&2
"${MEASURE[@]}" run --label diff-imgbuild --out "$results" --runs "$RUNS" --log "$log.diff" -- \
    "$IMGBUILD" --store "$store" diff "$work/v1/image.qcow2" "$work/v2/image.qcow2"
"$IMGBUILD" --store "$store" diff "$work/v1/image.qcow2" "$work/v2/image.qcow2" | head -20 >&2
a=$(readlink -f "$work/v1/web-root"); b=$(readlink -f "$work/v2/web-root")
"${MEASURE[@]}" run --label diff-r --out "$results" --runs "$RUNS" --log "$log.diffr" -- \
    sh -c "diff -r --no-dereference '$a' '$b' >/dev/null; test \$? -le 1"
if command -v diffoscope >/dev/null; then
    "${MEASURE[@]}" run --label diffoscope --out "$results" --runs 1 --log "$log.diffoscope" -- \
        sh -c "timeout $DIFFOSCOPE_TIMEOUT diffoscope --text /dev/null '$a' '$b'; test \$? -le 1 -o \$? -eq 124"
fi

"${MEASURE[@]}" table --results "$results" --other "peer" --title "provenance (medians of $RUNS runs)" \
    "SBOM of the web image|sbom||time||" \
    "OCI image of the web root|oci-imgbuild|oci-umoci|time||umoci repack" \
    "diff of two web images (+$EXTRA)|diff-imgbuild|diff-r|time||diff -r on the trees" \
    "diff of two web images (+$EXTRA)|diff-imgbuild|diffoscope|time||diffoscope, 1 run"
