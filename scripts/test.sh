#!/usr/bin/env bash
# The test command (README and CI): system packages, then every test in the workspace,
# then one summary line over all test binaries.
# Slow tests (VM boots, real-archive downloads) run when IMGBUILD_SLOW_TESTS=1.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --locked --no-fail-fast "$@" 2>&1 | tee "$log" || status=$?
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "tests: %d passed, %d failed\n", passed, failed }' \
    "$log" | sed 's/;//g'
exit "$status"
