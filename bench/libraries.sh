#!/usr/bin/env bash
# Recipe libraries: what a project with five libraries from local git costs.
#
#   bash bench/libraries.sh            # from the repository root; RUNS=20 by default
#
# Five libraries lib1..lib5 in bare git repositories on this machine, two releases
# each (v1.0.0, v1.1.0); the project's imgbuild.toml names lib1..lib4 (`^1`), and lib4
# requires lib5 through a relative git URL (the transitive dependency). The project's
# recipe imports one module from each of lib1..lib4 (lib4's imports lib5's) and makes
# one text output from what they return. The same files copied next to a recipe that
# imports them by relative path (no manifest) is the baseline for evaluation.
#
# Figures (median [min..max] of RUNS):
#   lock cold      `imgbuild lock` with no lock and an empty store: list tags, choose
#                  versions, clone and check out five repositories, hash, write the lock
#   lock warm      `imgbuild lock` with no lock, repositories already mirrored
#   eval libraries `imgbuild eval` of the project's recipe (reads the lock, checks
#                  each library's tree against its hash, evaluates)
#   eval relative  `imgbuild eval` of the same files imported by relative path
#   no-op build    `imgbuild build` of the project's recipe, everything in the store
# Targets (the libraries issue): lock <= 1 s; eval libraries - eval relative <= 5 ms;
# no-op build <= 10 ms.
set -euo pipefail

RUNS=${RUNS:-20}
IMGBUILD=${IMGBUILD:-target/release/imgbuild}
[ -x "$IMGBUILD" ] || cargo build --release
IMGBUILD=$(realpath "$IMGBUILD")
MEASURE=$(realpath bench/measure.py)
WORK=$(mktemp -d /tmp/imgbuild-libraries-bench.XXXXXX)
trap '[ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"' EXIT
cd "$WORK"
echo "scratch: $WORK"

export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.org
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.org

# library N [DEPENDENCY]: the files of libN (in copies/libN, as a relative-path copy
# would have them too).
library() {
    local n=$1 dependency=${2:-}
    mkdir -p "src/lib$n"
    {
        echo '[library]'
        echo "name = \"lib$n\""
        echo 'version = "1.1.0"'
        if [ -n "$dependency" ]; then
            echo '[libraries]'
            echo "lib$dependency = { git = \"../lib$dependency.git\", version = \"^1\" }"
        fi
    } > "src/lib$n/imgbuild.toml"
    {
        echo "//! Library $n of the benchmark."
        if [ -n "$dependency" ]; then
            echo "import \"lib$dependency/mod\" as below;"
        fi
        for f in $(seq 1 20); do
            echo "/// Function $f of library $n."
            echo "fn f$f(x) { x + \"-$n.$f\" }"
        done
        if [ -n "$dependency" ]; then
            echo "fn value() { f1(\"lib$n\") + below::value() }"
        else
            echo "fn value() { f1(\"lib$n\") }"
        fi
    } > "src/lib$n/mod.rhai"
}
# repository N: the bare repository of libN with two tagged releases.
repository() {
    local n=$1 work=$WORK/tmp-lib$1
    git init -q -b main "$work"
    cp -R "src/lib$n/." "$work/"
    echo "1.0" > "$work/VERSION"
    git -C "$work" add -A && git -C "$work" commit -q -m v1.0.0 && git -C "$work" tag v1.0.0
    echo "1.1" > "$work/VERSION"
    git -C "$work" commit -q -am v1.1.0 && git -C "$work" tag v1.1.0
    git clone -q --bare "$work" "repos/lib$n.git"
    rm -rf "$work"
}

mkdir -p repos project relative
for n in 1 2 3 5; do library $n; done
library 4 5
for n in 1 2 3 4 5; do repository $n; done
{
    echo '[libraries]'
    for n in 1 2 3 4; do echo "lib$n = { git = \"../repos/lib$n.git\", version = \"^1\" }"; done
} > project/imgbuild.toml
{
    for n in 1 2 3 4; do echo "import \"lib$n/mod\" as l$n;"; done
    echo '#{ out: text("out", l1::value() + l2::value() + l3::value() + l4::value()) }'
} > project/recipe.rhai
for n in 1 2 3 4 5; do mkdir -p "relative/lib$n" && cp "src/lib$n/mod.rhai" "relative/lib$n/"; done
sed -i 's|import "lib5/mod"|import "../lib5/mod"|' relative/lib4/mod.rhai
sed 's|import "lib\([0-9]\)/mod"|import "lib\1/mod"|' project/recipe.rhai > relative/recipe.rhai

RESULTS=$WORK/results.jsonl
m() { python3 "$MEASURE" run --out "$RESULTS" --runs "$RUNS" "$@"; }

echo "measuring (RUNS=$RUNS)"
m --label "lock cold" --prepare "rm -rf $WORK/s-{run} $WORK/project/imgbuild.lock" \
    -- "$IMGBUILD" --store "$WORK/s-{run}" lock project/recipe.rhai
rm -rf "$WORK"/s-*
"$IMGBUILD" --store "$WORK/store" lock project/recipe.rhai 2>/dev/null
m --label "lock warm" --prepare "rm -f $WORK/project/imgbuild.lock" \
    -- "$IMGBUILD" --store "$WORK/store" lock project/recipe.rhai
"$IMGBUILD" --store "$WORK/store" build project/recipe.rhai -o out >/dev/null 2>&1
"$IMGBUILD" --store "$WORK/store" build relative/recipe.rhai -o out-relative >/dev/null 2>&1
cmp out/out out-relative/out
m --label "eval libraries" --warmup 2 -- "$IMGBUILD" --store "$WORK/store" eval project/recipe.rhai
m --label "eval relative" --warmup 2 -- "$IMGBUILD" --store "$WORK/store" eval relative/recipe.rhai
m --label "no-op build" --warmup 2 -- "$IMGBUILD" --store "$WORK/store" build project/recipe.rhai -o out
m --label "no-op build relative" --warmup 2 -- "$IMGBUILD" --store "$WORK/store" build relative/recipe.rhai -o out-relative

python3 "$MEASURE" table --results "$RESULTS" --title "recipe libraries (5 from local git)" --other "relative path" \
    "imgbuild lock, cold|lock cold||time|1|" \
    "imgbuild lock, warm|lock warm||time|1|" \
    "eval: libraries vs relative path|eval libraries|eval relative|time||" \
    "no-op build: libraries vs relative path|no-op build|no-op build relative|time|0.010|"
