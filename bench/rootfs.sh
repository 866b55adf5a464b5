#!/usr/bin/env bash
# The "web" root filesystem: mmdebstrap (and, when IMGBUILD is set, imgbuild) with every
# .deb already on this machine, so no download time counts.
#
#   bash bench/rootfs.sh                         # from the repository root, as root
#   RUNS=5 bash bench/rootfs.sh
#   IMGBUILD=target/release/imgbuild IMGBUILD_RECIPE=RECIPE bash bench/rootfs.sh
#
# The root filesystem: Debian 12 bookworm (with bookworm-updates and bookworm-security,
# component main, from the host's apt mirror), variant minbase plus systemd-sysv,
# linux-image-cloud-amd64, nginx, openssh-server, ifupdown and isc-dhcp-client, every
# package installed and configured (maintainer scripts, triggers, initramfs, SSH host keys).
#
#   mmdebstrap --mode=unshare --variant=minbase --include=PACKAGES --skip=update
#       --setup-hook='mkdir -p "$1"/var/cache/apt/archives "$1"/var/lib/apt/lists'
#       --setup-hook='sync-in CACHE/archives /var/cache/apt/archives'
#       --setup-hook='sync-in CACHE/lists /var/lib/apt/lists'
#       bookworm OUT 'deb MIRROR bookworm main' 'deb MIRROR bookworm-updates main'
#       'deb SECURITY-MIRROR bookworm-security main'
#
# The warm cache (the documented sync-in/sync-out way, `man mmdebstrap`, EXAMPLES): one
# untimed run first fills CACHE with the apt lists and every .deb it used (sync-out in a
# customize hook, --skip=essential/unlink so the essential .debs are still there). The
# timed runs copy both into the new root before apt runs (sync-in in setup hooks) and skip
# `apt-get update` (--skip=update), so they open no connection: "Need to get 0 B". The
# sync-in copies (~80 MB of .debs, ~50 MB of lists, on tmpfs) are part of the timed runs.
# mmdebstrap's cleanup removes the lists and .debs from the result as usual.
#
# Figures (median [min..max] of RUNS runs, wall clock, each run after `sync`):
#   mmdebstrap-tar  OUT = a tarball (the chroot is built in TMPDIR = BENCH_DIR, then packed)
#   mmdebstrap-dir  OUT = a directory on BENCH_DIR (built in place, not packed)
#   extract         unpack-only reference (EXTRACT=1): mmdebstrap --variant=extract with
#                   --include = every package of the tar run's dpkg status (name=version),
#                   same warm cache: download step + `dpkg-deb --fsys-tarfile | tar -x`
#                   per package + tar, no dpkg database, no maintainer scripts
#   imgbuild        `$IMGBUILD build $IMGBUILD_RECIPE` (see run_imgbuild below)
# With SPLIT=1 (default) one more, untimed-in-the-table, --verbose run timestamps every
# line mmdebstrap writes and prints how long each of its steps took and the slowest
# single steps (maintainer scripts, initramfs, SSH host keys...).
#
# Outputs kept for comparisons (KEEP_DIR, default /dev/shm): mmdebstrap-web.tar (run 0)
# and mmdebstrap-web.2.tar (run 1); the script compares them with bench/compare-rootfs.py
# (--allow bench/rootfs-mmdebstrap-runs.allow). Everything else goes at the end.
#
# Knobs: RUNS (3), BENCH_DIR (/dev/shm: the temporary chroots, outputs and the cache),
# CACHE (BENCH_DIR/imgbuild-rootfs-cache, kept between invocations; delete it to refill),
# KEEP_DIR (/dev/shm), DIR_VARIANT (1), EXTRACT (1), SPLIT (1), IMGBUILD, IMGBUILD_RECIPE,
# IMGBUILD_SEED_RECIPE. The mirror: IMGBUILD_DEBIAN_MIRROR / IMGBUILD_DEBIAN_SECURITY_MIRROR,
# else the host's apt sources (/etc/apt/sources.list, /etc/apt/sources.list.d/*.list and
# *.sources). SOURCE_DATE_EPOCH defaults to 1700000000 (it only changes mtimes).
set -euo pipefail
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}   # mmdebstrap: only mtimes change; bench/rootfs-web.rhai uses the same

cd "$(dirname "$0")/.."
REPO=$PWD
RUNS=${RUNS:-3}
BENCH_DIR=${BENCH_DIR:-/dev/shm}
CACHE=${CACHE:-$BENCH_DIR/imgbuild-rootfs-cache}
KEEP_DIR=${KEEP_DIR:-/dev/shm}
DIR_VARIANT=${DIR_VARIANT:-1}
EXTRACT=${EXTRACT:-1}
SPLIT=${SPLIT:-1}
SUITE=bookworm
PACKAGES=systemd-sysv,linux-image-cloud-amd64,nginx,openssh-server,ifupdown,isc-dhcp-client
MEASURE=(python3 "$REPO/bench/measure.py")
step() { printf '== %s\n' "$*" >&2; }

if [[ $(id -u) -ne 0 ]]; then
    echo "bench/rootfs.sh: run as root (mmdebstrap --mode=unshare as root needs root's /etc/subuid range; scripts/setup.sh adds it)" >&2
    exit 1
fi
bash scripts/setup.sh >/dev/null

WORK=$(mktemp -d "$BENCH_DIR/imgbuild-rootfs-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
RESULTS=$WORK/results.jsonl
export TMPDIR=$WORK   # mmdebstrap builds its temporary chroot here

# --- the mirror ---------------------------------------------------------------------
# Prints two lines: the Debian mirror and the security mirror.
read_mirrors() {
    python3 - "$SUITE" <<'PY'
import glob, os, re, sys
suite = sys.argv[1]
entries = []  # (uri, [suites])

def one_line(text):
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        line = re.sub(r"\[[^]]*\]", "", line).split()
        if len(line) >= 3 and line[0] == "deb":
            entries.append((line[1], [line[2]]))

def deb822(text):
    for paragraph in re.split(r"\n\s*\n", text):
        fields, key = {}, None
        for line in paragraph.splitlines():
            if line.startswith("#"):
                continue
            if line[:1].isspace() and key:
                fields[key] += " " + line.strip()
            elif ":" in line:
                key, value = line.split(":", 1)
                key = key.strip().lower()
                fields[key] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        for uri in fields.get("uris", "").split():
            entries.append((uri, fields.get("suites", "").split()))

files = ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*"))
for path in files:
    try:
        text = open(path).read()
    except OSError:
        continue
    if path.endswith(".sources"):
        deb822(text)
    elif path.endswith(".list"):
        one_line(text)

debian = os.environ.get("IMGBUILD_DEBIAN_MIRROR", "").strip()
security = os.environ.get("IMGBUILD_DEBIAN_SECURITY_MIRROR", "").strip()
if not debian:
    debian = next((u for u, s in entries if suite in s), "") or next((u for u, s in entries if not any(x.endswith("-security") for x in s)), "")
if not security:
    security = next((u for u, s in entries if f"{suite}-security" in s), "")
if not security and debian:
    security = debian.rstrip("/") + "-security"
if not debian:
    sys.exit("bench/rootfs.sh: no Debian mirror: no `deb` entry for %s in the host's apt sources and no IMGBUILD_DEBIAN_MIRROR" % suite)
print(debian.rstrip("/"))
print(security.rstrip("/"))
PY
}
{ read -r MIRROR; read -r SECURITY; } < <(read_mirrors)
SOURCES=("deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" "deb $SECURITY $SUITE-security main")

MMDEBSTRAP=(mmdebstrap --mode=unshare --variant=minbase --include="$PACKAGES")
WARM=(--skip=update
      --setup-hook='mkdir -p "$1"/var/cache/apt/archives "$1"/var/lib/apt/lists'
      --setup-hook="sync-in $CACHE/archives /var/cache/apt/archives"
      --setup-hook="sync-in $CACHE/lists /var/lib/apt/lists")

# --- the warm cache ------------------------------------------------------------------
if [[ ! -s $CACHE/complete ]]; then
    step "filling the package cache $CACHE (untimed: apt-get update + download)"
    rm -rf "$CACHE"
    mkdir -p "$CACHE/archives" "$CACHE/lists"
    "${MMDEBSTRAP[@]}" --quiet --skip=essential/unlink \
        --customize-hook="sync-out /var/cache/apt/archives $CACHE/archives" \
        --customize-hook="sync-out /var/lib/apt/lists $CACHE/lists" \
        "$SUITE" "$WORK/fill.tar" "${SOURCES[@]}"
    rm -f "$CACHE/archives/lock" "$CACHE/lists/lock"
    rm -rf "$CACHE/archives/partial" "$CACHE/lists/partial"
    rm -f "$WORK/fill.tar"
    date -u +%FT%TZ >"$CACHE/complete"
fi
echo "mirror: $MIRROR (security: $SECURITY); cache: $CACHE ($(find "$CACHE/archives" -name '*.deb' | wc -l) .debs, lists from $(cat "$CACHE/complete"))" >&2

# --- mmdebstrap ----------------------------------------------------------------------
step "mmdebstrap --mode=unshare, tarball, warm cache ($RUNS runs)"
"${MEASURE[@]}" run --label mmdebstrap-tar --out "$RESULTS" --runs "$RUNS" --prepare sync \
    --log "$WORK/mmdebstrap-tar.log" \
    -- "${MMDEBSTRAP[@]}" --quiet "${WARM[@]}" "$SUITE" "$WORK/mmdebstrap-web-{run}.tar" "${SOURCES[@]}"

if [[ $DIR_VARIANT == 1 ]]; then
    step "mmdebstrap --mode=unshare, directory, warm cache ($RUNS runs)"
    "${MEASURE[@]}" run --label mmdebstrap-dir --out "$RESULTS" --runs "$RUNS" --prepare sync \
        --log "$WORK/mmdebstrap-dir.log" \
        -- "${MMDEBSTRAP[@]}" --quiet "${WARM[@]}" "$SUITE" "$WORK/mmdebstrap-web-dir-{run}" "${SOURCES[@]}"
fi

if [[ $EXTRACT == 1 ]]; then
    # Every package of the installed system, name=version, from the tar run's dpkg status.
    INSTALLED=$(python3 - "$WORK/mmdebstrap-web-0.tar" <<'PY'
import sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    member = next(m for m in t if m.name.lstrip("./") == "var/lib/dpkg/status")
    text = t.extractfile(member).read().decode()
names = []
for stanza in text.split("\n\n"):
    f = dict(l.split(": ", 1) for l in stanza.splitlines() if ": " in l and not l.startswith(" "))
    if f.get("Status", "").endswith(" installed"):
        names.append(f"{f['Package']}={f['Version']}")
print(",".join(sorted(names)))
PY
)
    step "reference: mmdebstrap --variant=extract of the same $(tr ',' '\n' <<<"$INSTALLED" | wc -l) packages, tarball ($RUNS runs)"
    "${MEASURE[@]}" run --label extract --out "$RESULTS" --runs "$RUNS" --prepare sync \
        --log "$WORK/extract.log" \
        -- mmdebstrap --mode=unshare --variant=extract --include="$INSTALLED" --quiet "${WARM[@]}" \
        "$SUITE" "$WORK/extract-{run}.tar" "${SOURCES[@]}"
fi

# --- imgbuild ------------------------------------------------------------------------
# ==== run_imgbuild: the imgbuild side ====================================================
# The recipe is bench/rootfs-web.rhai (the same packages; source_date_epoch 1700000000),
# copied to a scratch directory with its overlay. Untimed first: `imgbuild lock` pins the
# packages, and a local file:// mirror is made from the lock, filled from mmdebstrap's
# cache by SHA-256 (anything missing is downloaded from the real mirror once) — imgbuild's
# counterpart of mmdebstrap's warm cache. Timed, RUNS times each:
#   imgbuild            the whole root filesystem into a fresh store: the .debs copied from
#                       the local mirror, unpacked, configured, options, written to result/
#   imgbuild-configure  the same with the package set already unpacked in the store (a copy
#                       of a seed store): the configure step and the result
#   imgbuild-overlay    after a full build, one overlay file changed: a new root filesystem
#                       without configuring again
# Then two cold builds print their tree identities, and the tree is compared with
# mmdebstrap's (bench/rootfs-vs-mmdebstrap.allow lists the intended differences).
# IMGBUILD defaults to target/release/imgbuild (built if missing); IMGBUILD=skip skips.
run_imgbuild() {
    local imgbuild=${IMGBUILD:-$REPO/target/release/imgbuild}
    if [[ $imgbuild == skip ]]; then
        echo "imgbuild: skipped (IMGBUILD=skip)" >&2
        return 0
    fi
    if [[ ! -x $imgbuild ]]; then
        step "cargo build --release"
        cargo build --release --locked >&2
    fi
    local recipe=$WORK/recipe local_mirror=$WORK/local-mirror
    mkdir -p "$recipe"
    cp bench/rootfs-web.rhai "$recipe/web.rhai"
    cp -r bench/rootfs-site "$recipe/"
    step "imgbuild lock (untimed)"
    "$imgbuild" lock "$recipe/web.rhai" >&2
    step "local mirror from the lock and $CACHE/archives (untimed)"
    python3 - "$recipe/web.lock" "$CACHE/archives" "$local_mirror" "$MIRROR" "$SECURITY" <<'PY'
import hashlib, json, os, shutil, sys, urllib.request
lock, cache, mirror, main_uri, security_uri = sys.argv[1:]
by_sha = {}
for name in os.listdir(cache):
    if name.endswith(".deb"):
        path = os.path.join(cache, name)
        by_sha[hashlib.sha256(open(path, "rb").read()).hexdigest()] = path
data = json.load(open(lock))
copied = fetched = 0
for package_set in data["debian"]["sets"]:
    repositories = package_set["repositories"]
    for package in package_set["packages"]:
        target = os.path.join(mirror, package["filename"])
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if package["sha256"] in by_sha:
            shutil.copyfile(by_sha[package["sha256"]], target)
            copied += 1
        else:
            suite = repositories[package["repository"]]["suite"]
            base = security_uri if suite.endswith("-security") else main_uri
            urllib.request.urlretrieve(base.rstrip("/") + "/" + package["filename"], target)
            fetched += 1
print(f"local mirror: {copied} .debs from the cache, {fetched} downloaded", file=sys.stderr)
PY
    local run_env=(env "IMGBUILD_DEBIAN_MIRROR=file://$local_mirror" "IMGBUILD_DEBIAN_SECURITY_MIRROR=file://$local_mirror")
    step "imgbuild: the whole root filesystem, .debs on the local mirror, fresh store ($RUNS runs)"
    "${MEASURE[@]}" run --label imgbuild --out "$RESULTS" --runs "$RUNS" \
        --prepare "rm -rf $WORK/store-run $WORK/out-run && sync" \
        --log "$WORK/imgbuild.log" \
        -- "${run_env[@]}" "$imgbuild" build "$recipe/web.rhai" --store "$WORK/store-run" -o "$WORK/out-run"
    step "imgbuild: seed store with the package set unpacked (untimed)"
    rm -rf "$WORK/seed" && "${run_env[@]}" "$imgbuild" build "$recipe/web.rhai#web-root" --store "$WORK/seed" -o "$WORK/seed-out" >/dev/null 2>&1
    # The seed holds the configured tree too: keep only what the package set needs by
    # building a second copy of the recipe whose rootfs differs (another epoch).
    sed 's/source_date_epoch: 1700000000/source_date_epoch: 1700000001/' "$recipe/web.rhai" >"$recipe/other.rhai"
    cp "$recipe/web.lock" "$recipe/other.lock"
    step "imgbuild-configure: configure + options + result, packages unpacked in the store ($RUNS runs)"
    "${MEASURE[@]}" run --label imgbuild-configure --out "$RESULTS" --runs "$RUNS" \
        --prepare "rm -rf $WORK/store-run $WORK/out-run && cp -a $WORK/seed $WORK/store-run && sync" \
        --log "$WORK/imgbuild-configure.log" \
        -- "${run_env[@]}" "$imgbuild" build "$recipe/other.rhai" --store "$WORK/store-run" -o "$WORK/out-run"
    step "imgbuild-overlay: one overlay file changed after a full build ($RUNS runs)"
    "${MEASURE[@]}" run --label imgbuild-overlay --out "$RESULTS" --runs "$RUNS" \
        --prepare "echo \"<p>edit {run} \$(date +%N)</p>\" >> $recipe/rootfs-site/index.html && sync" \
        --log "$WORK/imgbuild-overlay.log" \
        -- "${run_env[@]}" "$imgbuild" build "$recipe/web.rhai" --store "$WORK/seed" -o "$WORK/seed-out"
    cp bench/rootfs-site/index.html "$recipe/rootfs-site/index.html"
    step "two cold builds: tree identities"
    for n in 1 2; do
        rm -rf "$WORK/cold-$n"
        "${run_env[@]}" "$imgbuild" build "$recipe/web.rhai" --store "$WORK/cold-$n" -o "$WORK/cold-out-$n" --json |
            python3 -c 'import json,sys
for line in sys.stdin:
    event = json.loads(line)
    if event.get("event") == "output":
        print("cold build %s: %s tree identity %s" % (sys.argv[1], event["name"], event["output"]))' "$n"
    done
    local tree=$WORK/cold-out-1/web-root
    [[ -L $tree ]] && tree=$WORK/cold-out-1/$(readlink "$tree")
    local mm=$KEEP_DIR/mmdebstrap-web-sde.tar
    if [[ -f $WORK/mmdebstrap-web-0.tar ]]; then mm=$WORK/mmdebstrap-web-0.tar; fi
    if [[ -f $mm ]]; then
        step "imgbuild's tree against mmdebstrap's ($mm)"
        python3 bench/compare-rootfs.py "$tree" "$mm" --allow bench/rootfs-vs-mmdebstrap.allow || true
    fi
    rm -rf "$WORK"/cold-* "$WORK/seed" "$WORK/seed-out" "$WORK/store-run" "$WORK/out-run"
}
run_imgbuild
# ==== end of run_imgbuild =================================================================

# --- where mmdebstrap spends its time -------------------------------------------------------
if [[ $SPLIT == 1 ]]; then
    step "one more mmdebstrap --verbose run (tarball), every output line timestamped"
    sync
    "${MMDEBSTRAP[@]}" --verbose "${WARM[@]}" "$SUITE" "$WORK/split.tar" "${SOURCES[@]}" 2>&1 >/dev/null |
        python3 -u -c 'import sys, time
start = time.monotonic()
for line in sys.stdin:
    sys.stdout.write("%.3f %s" % (time.monotonic() - start, line))' >"$WORK/split.log"
    python3 - "$WORK/split.log" <<'PY'
import re, sys
lines = []
for raw in open(sys.argv[1], errors="replace"):
    t, _, text = raw.rstrip("\n").partition(" ")
    lines.append((float(t), text))
end = lines[-1][0]
print("mmdebstrap steps (--verbose run; from each `I: ...` step line to the next):")
# mmdebstrap's own step lines end in "..." or run hooks; other "I: " lines come from
# maintainer scripts (linux-base: "I: /vmlinuz is now a symlink ...").
steps = [(t, text[3:]) for t, text in lines
         if text.startswith("I: ") and (text.endswith("...") or text.startswith("I: running"))]
for (t, text), (t2, _) in zip(steps, steps[1:] + [(end, "")]):
    if t2 - t >= 0.05:
        print(f"  {t2 - t:6.2f} s  {text[:100]}")
print(f"  {end:6.2f} s  total (until the last line)")
print("slowest single lines (time until the next line; after: the line before it):")
gaps = sorted(((b[0] - a[0], i) for i, (a, b) in enumerate(zip(lines, lines[1:]))), reverse=True)[:10]
for gap, i in gaps:
    before = f"  (after: {lines[i - 1][1][:60]})" if i else ""
    print(f"  {gap:6.2f} s  {lines[i][1][:70]}{before}")
PY
fi

# --- results ---------------------------------------------------------------------------
echo
python3 - "$RESULTS" <<'PY'
import json, statistics, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    runs = ", ".join(f"{t:.2f}" for t in r["times"])
    print(f"{r['label']:15} runs: {runs} s; median {statistics.median(r['times']):.2f} s "
          f"(CPU user {statistics.median(r['user_times']):.1f} s, system {statistics.median(r['system_times']):.1f} s)")
PY
echo
"${MEASURE[@]}" table --other mmdebstrap --results "$RESULTS" \
    --title "web root filesystem, warm package cache: imgbuild vs mmdebstrap $(dpkg-query -W -f='${Version}' mmdebstrap) --mode=unshare, $(nproc) cores, median of $RUNS runs, BENCH_DIR=$BENCH_DIR" \
    "whole root filesystem vs tarball|imgbuild|mmdebstrap-tar|time||" \
    "whole root filesystem vs directory|imgbuild|mmdebstrap-dir|time||" \
    "configure step alone vs whole directory run|imgbuild-configure|mmdebstrap-dir|time||" \
    "overlay changed vs whole directory run|imgbuild-overlay|mmdebstrap-dir|time||"

# --- keep two tarballs and compare them --------------------------------------------------
mv "$WORK/mmdebstrap-web-0.tar" "$KEEP_DIR/mmdebstrap-web.tar"
echo "kept: $KEEP_DIR/mmdebstrap-web.tar"
if [[ -f $WORK/mmdebstrap-web-1.tar ]]; then
    mv "$WORK/mmdebstrap-web-1.tar" "$KEEP_DIR/mmdebstrap-web.2.tar"
    echo "kept: $KEEP_DIR/mmdebstrap-web.2.tar"
    step "comparing two mmdebstrap runs"
    python3 bench/compare-rootfs.py "$KEEP_DIR/mmdebstrap-web.tar" "$KEEP_DIR/mmdebstrap-web.2.tar" \
        --allow bench/rootfs-mmdebstrap-runs.allow || true
fi
