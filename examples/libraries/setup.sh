#!/bin/sh
# Makes the example's git repositories from the files under sources/:
#
#     repos/tools.git     the ops team's helpers: v0.1.0
#     repos/base-os.git   the platform team's base-OS library: v1.0.0, then v1.1.0
#                         (it requires tools through a URL relative to its own)
#
# Authors and dates are fixed, so the commits (and the committed imgbuild.lock files
# of web-team/ and data-team/) are the same on every machine. Run it again at any time:
# it starts over.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repos="$here/repos"

export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME="Platform Team" GIT_AUTHOR_EMAIL=platform@example.org
export GIT_COMMITTER_NAME="Platform Team" GIT_COMMITTER_EMAIL=platform@example.org
export GIT_AUTHOR_DATE=2026-01-01T00:00:00Z GIT_COMMITTER_DATE=2026-01-01T00:00:00Z

# make_repo NAME SOURCE-DIR TAG [SOURCE-DIR TAG]...: one commit and tag per release.
make_repo() {
    name=$1
    shift
    work=$(mktemp -d)
    git init -q -b main "$work"
    while [ $# -gt 0 ]; do
        find "$work" -mindepth 1 -maxdepth 1 ! -name .git -exec rm -rf {} +
        cp -R "$here/sources/$1/." "$work/"
        git -C "$work" add -A
        git -C "$work" commit -q -m "$name $2"
        git -C "$work" tag "$2"
        shift 2
    done
    git clone -q --bare "$work" "$repos/$name.git"
    rm -rf "$work"
    echo "made $repos/$name.git ($(git -C "$repos/$name.git" tag | tr '\n' ' '))"
}

rm -rf "$repos"
mkdir -p "$repos"
make_repo tools tools v0.1.0
make_repo base-os base-os-1.0 v1.0.0 base-os-1.1 v1.1.0
