#!/usr/bin/env bash
# The test command (README and CI): system packages, then every test in the workspace.
# Slow tests (VM boots, real-archive downloads) run when IMGBUILD_SLOW_TESTS=1.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo test --workspace --locked "$@"
