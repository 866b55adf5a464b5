#!/usr/bin/env bash
# imgbuild vs Nix on the same derivation graph: examples/bench/graph.rhai against
# bench/graph.nix (n text derivations, node i embedding node (i-1)/2, plus `all`
# gathering them into one directory). Both build byte-identical trees; the script
# checks that.
#
#   bash bench/graph.sh            # from the repository root; 5 runs per figure
#   RUNS=3 EVAL_N=50000 bash bench/graph.sh
#
# Figures (median, min and max of RUNS runs; ratio = Nix median / imgbuild median):
#   eval   EVAL_N (100000) nodes: wall time and peak RSS of `imgbuild eval`
#          vs `nix-instantiate --readonly-mode` (both compute every identity, build
#          nothing, write nothing).
#   build  BUILD_N (1000) nodes into an empty store: `imgbuild --store NEW build`
#          vs `nix-build --store 'local?store=NEW/store&...'` (a brand-new Nix store
#          and database per run), both with as many parallel jobs as cores.
#   no-op  the same build again against the filled store.
# Nix runs with substituters disabled (imgbuild consults no binary cache either)
# and as root with Debian's defaults (build users from the nixbld group, no
# sandbox). Missing Nix is installed from Debian (nix-bin) when running as root.
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
EVAL_N=${EVAL_N:-100000}
BUILD_N=${BUILD_N:-1000}
JOBS=$(nproc)
MEASURE=(python3 bench/measure.py)
IMGBUILD=$PWD/target/release/imgbuild

WORK=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/imgbuild-graph-bench.XXXXXX")
chmod 755 "$WORK" # Nix build users must reach the stores inside
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

# --- Nix: install if missing, then prove it can build here -----------------------
NIX_MISSING=""
if ! command -v nix-instantiate >/dev/null; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        step "installing nix-bin from Debian"
        apt-get install -y -q nix-bin >/dev/null 2>&1 ||
            { apt-get update -q >/dev/null && apt-get install -y -q nix-bin >/dev/null; } ||
            NIX_MISSING="apt-get install nix-bin failed"
    else
        NIX_MISSING="nix-instantiate not found and not root: install Debian's nix-bin"
    fi
fi

# A Nix store of its own: a store directory outside /nix/store needs no sandbox
# or chroot (unlike --store DIR), so builds run exactly as in Debian's default setup.
nix_store() { echo "local?store=$1/store&state=$1/var&log=$1/log"; }
NIX_OPTIONS=(--option substituters "" --max-jobs "$JOBS" --quiet)
if [[ -z $NIX_MISSING ]]; then
    NIX_VERSION=$(nix-build --version | awk '{print $NF}')
    probe=$WORK/nix-probe
    if ! nix-build --store "$(nix_store "$probe")" "${NIX_OPTIONS[@]}" bench/graph.nix \
        --argstr n 3 -o "$probe/result" >"$WORK/nix-probe.log" 2>&1; then
        # Without a nixbld group, root builds need build users switched off.
        NIX_OPTIONS+=(--option build-users-group "")
        if ! nix-build --store "$(nix_store "$probe")" "${NIX_OPTIONS[@]}" bench/graph.nix \
            --argstr n 3 -o "$probe/result" >>"$WORK/nix-probe.log" 2>&1; then
            NIX_MISSING="nix-build cannot build here: $(tail -n 3 "$WORK/nix-probe.log" | tr '\n' ' ')"
        fi
    fi
fi
if [[ -n $NIX_MISSING ]]; then
    echo "warning: no Nix column: $NIX_MISSING" >&2
fi

# --- eval ------------------------------------------------------------------------
step "eval n=$EVAL_N ($RUNS runs + 1 warm-up each)"
"${MEASURE[@]}" run --label imgbuild-eval --out "$RESULTS" --runs "$RUNS" --warmup 1 \
    --log "$WORK/imgbuild-eval.log" -- \
    "$IMGBUILD" eval examples/bench/graph.rhai --arg "n=$EVAL_N"
if [[ -z $NIX_MISSING ]]; then
    "${MEASURE[@]}" run --label nix-eval --out "$RESULTS" --runs "$RUNS" --warmup 1 \
        --log "$WORK/nix-eval.log" -- \
        nix-instantiate --readonly-mode --store "$(nix_store "$WORK/nix-eval")" \
        bench/graph.nix --argstr n "$EVAL_N"
fi

# --- build into an empty store, then no-op ------------------------------------------
step "build n=$BUILD_N into an empty store ($RUNS runs, -j $JOBS / --max-jobs $JOBS)"
"${MEASURE[@]}" run --label imgbuild-build --out "$RESULTS" --runs "$RUNS" \
    --log "$WORK/imgbuild-build.log" -- \
    "$IMGBUILD" --store "$WORK/imgbuild-{run}/store" build examples/bench/graph.rhai \
    --arg "n=$BUILD_N" -j "$JOBS" -o "$WORK/imgbuild-{run}/result"
step "no-op rebuild n=$BUILD_N ($RUNS runs + 1 warm-up)"
"${MEASURE[@]}" run --label imgbuild-noop --out "$RESULTS" --runs "$RUNS" --warmup 1 \
    --log "$WORK/imgbuild-noop.log" -- \
    "$IMGBUILD" --store "$WORK/imgbuild-0/store" build examples/bench/graph.rhai \
    --arg "n=$BUILD_N" -j "$JOBS" -o "$WORK/imgbuild-0/result"

IDENTICAL="not compared (no Nix)"
if [[ -z $NIX_MISSING ]]; then
    step "nix-build n=$BUILD_N into an empty store"
    "${MEASURE[@]}" run --label nix-build --out "$RESULTS" --runs "$RUNS" \
        --prepare "mkdir -m 755 $WORK/nix-{run}" --log "$WORK/nix-build.log" -- \
        nix-build --store "$(nix_store "$WORK/nix-{run}")" "${NIX_OPTIONS[@]}" \
        bench/graph.nix --argstr n "$BUILD_N" -o "$WORK/nix-{run}/result"
    "${MEASURE[@]}" run --label nix-noop --out "$RESULTS" --runs "$RUNS" --warmup 1 \
        --log "$WORK/nix-noop.log" -- \
        nix-build --store "$(nix_store "$WORK/nix-0")" "${NIX_OPTIONS[@]}" \
        bench/graph.nix --argstr n "$BUILD_N" -o "$WORK/nix-0/result"
    if diff -r "$WORK/imgbuild-0/result/all" "$WORK/nix-0/result" >/dev/null; then
        IDENTICAL="yes"
    else
        IDENTICAL="NO: diff -r differs"
    fi
fi

# --- report ------------------------------------------------------------------------
echo
"${MEASURE[@]}" table --results "$RESULTS" \
    --title "graph.rhai vs graph.nix (Nix ${NIX_VERSION:-missing}), $(nproc) cores, median of $RUNS runs" \
    "eval n=$EVAL_N time|imgbuild-eval|nix-eval|time|0.7|~3.5 s" \
    "eval n=$EVAL_N peak RSS|imgbuild-eval|nix-eval|rss|1024|" \
    "build n=$BUILD_N, empty store|imgbuild-build|nix-build|time|0.5|~24 s" \
    "no-op rebuild n=$BUILD_N|imgbuild-noop|nix-noop|time|0.04|~0.85 s"
echo "built trees identical (imgbuild all/ vs nix all): $IDENTICAL"
if [[ -n $NIX_MISSING ]]; then
    echo "Nix column missing: $NIX_MISSING"
fi
