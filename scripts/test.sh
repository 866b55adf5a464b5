#!/usr/bin/env bash
# The test command (README and CI): system packages, then every test in the workspace,
# then one summary line over all test binaries.
# Slow tests (VM boots, real-archive downloads, the remote tests against a real
# BuildGrid that the tests start with scripts/buildgrid.sh) run when IMGBUILD_SLOW_TESTS=1;
# a BuildGrid the tests started is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
log=$(mktemp)
buildgrid_before=stopped
if scripts/buildgrid.sh status >/dev/null 2>&1; then buildgrid_before=running; fi
finish() {
    rm -f "$log"
    if [ "$buildgrid_before" = stopped ] && scripts/buildgrid.sh status >/dev/null 2>&1; then
        scripts/buildgrid.sh stop >/dev/null 2>&1 || true
    fi
}
trap finish EXIT
status=0
cargo test --workspace --locked --no-fail-fast "$@" 2>&1 | tee "$log" || status=$?
# The evaluator once more on its own: in the workspace build, Rhai's `metadata` feature
# (a dev-dependency of the builtins' registry test) is on for every crate, and under it
# Rhai refuses a `///` that is not above a function; the product is built without it.
# The doc-comment tests that depend on this run here (they say so when skipped above).
cargo test -p imgbuild-evaluator --locked --no-fail-fast --test doc "$@" 2>&1 | tee -a "$log" || status=$?
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "tests: %d passed, %d failed\n", passed, failed }' \
    "$log" | sed 's/;//g'
exit "$status"
