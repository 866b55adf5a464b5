#!/usr/bin/env bash
# The SPDX project's reference validator, pyspdxtools (spdx-tools 0.8.5), in a Python
# virtual environment of its own, for the SBOM tests (provenance/sbom/tests):
#
#   scripts/spdx-tools.sh     # prints the path of pyspdxtools
#
# The environment is made at ${IMGBUILD_TOOLS_DIR:-target/tools}/spdx-tools with
# `python3 -m venv` (Debian: python3-venv) and filled from the package index with
# exactly the versions and hashes of scripts/spdx-tools-requirements.txt
# (`pip --require-hashes --no-deps`); it is remade only when that file changes.
# Exit status 3 with a message on standard error when it cannot be made.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
tools=${IMGBUILD_TOOLS_DIR:-$repo/target/tools}
dir=$tools/spdx-tools
requirements=$repo/scripts/spdx-tools-requirements.txt

say() { echo "spdx-tools: $*" >&2; }
fail() { say "$*"; exit 3; }

# One installer at a time: test binaries run in parallel.
mkdir -p "$tools"
exec 9>"$tools/spdx-tools.lock"
flock 9
stamp=$dir/.requirements
if ! { [ -f "$stamp" ] && cmp -s "$stamp" "$requirements" && [ -x "$dir/bin/pyspdxtools" ]; }; then
    say "installing spdx-tools into $dir"
    mkdir -p "$tools"
    rm -rf "$dir"
    python3 -m venv "$dir" >&2 || fail "python3 -m venv failed (install python3-venv)"
    "$dir/bin/pip" install --quiet --disable-pip-version-check --no-deps --require-hashes \
        -r "$requirements" >&2 || fail "pip could not install $requirements"
    cp "$requirements" "$stamp"
fi
echo "$dir/bin/pyspdxtools"
