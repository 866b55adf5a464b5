#!/usr/bin/env python3
"""Compare an imgbuild `debian::packages` root tree with mmdebstrap's extract-only tarball.

Usage:

    python3 bench/compare-mmdebstrap.py IMGBUILD_TREE MMDEBSTRAP_TAR [--all] [--examples N]

IMGBUILD_TREE is an unpacked root directory built by imgbuild (read it as root, or as a user
that can read every file, so that ownership and contents are real).  MMDEBSTRAP_TAR is the
output of, for the same package names and versions (see
bench/mmdebstrap-extract-differences.md for how to build the list from a lock file):

    mmdebstrap --variant=extract --format=tar --include=NAME=VERSION,... bookworm OUT.tar

The script lists both sides the same way -- for every path: type, permission bits (incl.
setuid/setgid/sticky), uid, gid; size and sha256 for regular files; the target for symlinks;
major/minor for device nodes; the set of paths sharing an inode for hard links -- and prints
the paths that are identical and the differences, grouped by cause, with a count, a few
examples and the reason for each group.  Modification times are recorded but not compared
(mmdebstrap clamps them to SOURCE_DATE_EPOCH, imgbuild keeps the package's); only a count
is printed.

mmdebstrap's extract variant leaves the aliased top-level directories (/bin, /sbin, /lib,
/lib64) as real directories, because usrmerge's maintainer script never runs.  Where the
imgbuild tree has the merged-/usr symlink `/X -> usr/X`, paths under /X in the tarball are
compared at /usr/X instead, and counted separately in the summary.

Exit status: 0 if every difference falls into an explained group, 1 if some fall into the
"unexplained" groups, 2 on usage errors.
"""

import argparse
import hashlib
import os
import stat
import sys
import tarfile
from collections import defaultdict

COMPARED = ("type", "mode", "uid", "gid", "size", "sha256", "target", "dev", "links")

# Files mmdebstrap's run_setup() writes into the root before anything is extracted (the
# extract variant never removes them; run_cleanup() only removes 00mmdebstrap and the
# logs it lists).  /etc/hostname and /etc/resolv.conf are copies of the build host's.
MMDEBSTRAP_SETUP_FILES = {
    "/etc/apt/sources.list": "sources list for the mirror(s) given on the command line",
    "/etc/fstab": "'# UNCONFIGURED FSTAB FOR BASE SYSTEM' placeholder",
    "/etc/hostname": "copied from the build host",
    "/etc/resolv.conf": "copied from the build host",
}

REASONS = {
    "merged-usr-toplevel": (
        "imgbuild creates the merged-/usr symlinks itself (as debootstrap and the usrmerge "
        "package's postinst would); mmdebstrap's extract variant runs no maintainer "
        "scripts and no merged-usr hook, so dpkg-deb --fsys-tarfile | tar creates real "
        "directories. All paths below them are compared at their /usr location."
    ),
    "merged-usr-collision": (
        "the same path exists both under /X and /usr/X in the tarball with different "
        "metadata, so it cannot be compared after aliasing."
    ),
    "dpkg-db-only-imgbuild": (
        "imgbuild records the unpacked packages like `dpkg --unpack`: info/PKG.{list,"
        "md5sums,conffiles,triggers,shlibs,...} and maintainer scripts, status with "
        "'install ok unpacked', triggers/File and the trigger interest files, the "
        "available/diversions/statoverride/lock files dpkg creates. mmdebstrap's "
        "extract variant pipes `dpkg-deb --fsys-tarfile` into `tar --extract` and never "
        "touches the dpkg database."
    ),
    "dpkg-db-only-mmdebstrap": (
        "directories/files that mmdebstrap's run_setup() creates and imgbuild does not."
    ),
    "dpkg-db-differs": (
        "mmdebstrap's run_setup() creates an empty /var/lib/dpkg/status (apt-get update "
        "needs one) and never fills it in the extract variant; imgbuild writes one stanza "
        "per package."
    ),
    "conffile-staged": (
        "imgbuild stages every conffile as PATH.dpkg-new, exactly as `dpkg --unpack` does "
        "(dpkg renames it to PATH when the package is configured); mmdebstrap's tar "
        "extraction writes it straight to PATH. Compared PATH.dpkg-new (imgbuild) with "
        "PATH (mmdebstrap): identical."
    ),
    "conffile-staged-differs": (
        "as above, but the staged PATH.dpkg-new differs from mmdebstrap's PATH."
    ),
    "mmdebstrap-setup-file": (
        "written by mmdebstrap's run_setup(): "
        + "; ".join(f"{k}: {v}" for k, v in MMDEBSTRAP_SETUP_FILES.items())
        + ". Not part of any package."
    ),
    "mmdebstrap-dev": (
        "for tar/squashfs/ext2 output mmdebstrap always crafts the /dev entries itself from "
        "its built-in @devfiles table (console, full, null, ptmx, random, tty, urandom, zero "
        "as root-owned 0666 character devices; fd, stdin, stdout, stderr as /proc/self "
        "symlinks; pts/ and shm/) and archives the tree with --exclude=./dev. imgbuild "
        "ships only the empty /dev directory from base-files; device nodes belong to the "
        "running system (devtmpfs) or to a later image-building step."
    ),
    "apt-runtime-state": (
        "mmdebstrap runs the host's apt against the new root (apt-get update and "
        "apt-get install --download-only with Dir=ROOT); apt creates its lock files and "
        "chowns lists/partial and archives/partial to the _apt sandbox user (the host's "
        "uid, mode 0700). imgbuild fetches outside the root, so the directories keep the "
        "apt package's own 0755 root:root."
    ),
    "unexplained-only-imgbuild": "no rule explains it -- investigate.",
    "unexplained-only-mmdebstrap": "no rule explains it -- investigate.",
    "unexplained-differs": "no rule explains it -- investigate.",
}


def _entry_common(mode, uid, gid, mtime):
    return {"mode": oct(stat.S_IMODE(mode)), "uid": uid, "gid": gid, "mtime": int(mtime)}


def _sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def list_tree(root):
    """Walk a directory with os.lstat.  Returns {"/path": entry}."""
    out = {}
    inodes = defaultdict(list)

    def add(rel, full):
        st = os.lstat(full)
        e = _entry_common(st.st_mode, st.st_uid, st.st_gid, st.st_mtime)
        m = st.st_mode
        if stat.S_ISREG(m):
            e.update(type="file", size=st.st_size, sha256=_sha256_file(full))
            if st.st_nlink > 1:
                inodes[(st.st_dev, st.st_ino)].append(rel)
        elif stat.S_ISDIR(m):
            e["type"] = "dir"
        elif stat.S_ISLNK(m):
            e.update(type="symlink", target=os.readlink(full), mode=None)
        elif stat.S_ISCHR(m) or stat.S_ISBLK(m):
            e.update(type="char" if stat.S_ISCHR(m) else "block",
                     dev=f"{os.major(st.st_rdev)},{os.minor(st.st_rdev)}")
        elif stat.S_ISFIFO(m):
            e["type"] = "fifo"
        else:
            e["type"] = "socket"
        out[rel] = e

    add("/", root)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            add("/" + os.path.relpath(full, root), full)
    for paths in inodes.values():
        group = tuple(sorted(paths))
        for p in paths:
            out[p]["links"] = group
    return out


def _tar_name(name):
    """'./etc/', 'etc', '/etc' -> '/etc'; './' and '.' -> '/'."""
    if name == "." or name.startswith("./"):
        name = name[1:]
    name = name.strip("/")
    return "/" + name if name else "/"


def list_tar(path):
    """Read a tarball with tarfile.  Hard links get the content of their target."""
    out = {}
    groups = defaultdict(set)
    with tarfile.open(path) as t:
        for m in t:
            name = _tar_name(m.name)
            e = _entry_common(m.mode, m.uid, m.gid, m.mtime)
            if m.isreg():
                h = hashlib.sha256()
                f = t.extractfile(m)
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
                e.update(type="file", size=m.size, sha256=h.hexdigest())
            elif m.islnk():
                target = _tar_name(m.linkname)
                te = out[target]
                e.update(type="file", size=te["size"], sha256=te["sha256"])
                root = te.get("_linkroot", target)
                te["_linkroot"] = root
                e["_linkroot"] = root
                groups[root].update({root, name})
            elif m.isdir():
                e["type"] = "dir"
            elif m.issym():
                e.update(type="symlink", target=m.linkname, mode=None)
            elif m.ischr() or m.isblk():
                e.update(type="char" if m.ischr() else "block", dev=f"{m.devmajor},{m.devminor}")
            elif m.isfifo():
                e["type"] = "fifo"
            else:
                e["type"] = "other"
            out[name] = e
    for root, members in groups.items():
        for p in members:
            out[p]["links"] = tuple(sorted(members))
            out[p].pop("_linkroot", None)
    return out


def merged_usr_aliases(img, mmd):
    """Top-level names that imgbuild has as `X -> usr/X` and mmdebstrap as a directory."""
    aliases = set()
    for p, e in img.items():
        if p.count("/") == 1 and p != "/" and e["type"] == "symlink":
            name = p[1:]
            if e["target"] in (f"usr/{name}", f"/usr/{name}") and mmd.get(p, {}).get("type") == "dir":
                aliases.add(name)
    return aliases


def canonicalize(mmd, aliases):
    """Move mmdebstrap paths /X/... to /usr/X/... for X in aliases.

    Returns (canonical listing, set of canonical paths that came from an alias,
    list of (path, reason) collisions)."""
    def canon(p):
        parts = p.split("/", 2)
        if len(parts) == 3 and parts[1] in aliases:
            return f"/usr/{parts[1]}/{parts[2]}"
        return p

    out, from_alias, collisions = {}, set(), []
    for p, e in mmd.items():
        if "links" in e:
            e = dict(e, links=tuple(sorted(canon(x) for x in e["links"])))
        c = canon(p)
        if c != p:
            if c in mmd:
                same = {k: v for k, v in e.items() if k != "mtime"} == \
                       {k: v for k, v in mmd[c].items() if k != "mtime"}
                if not same:
                    collisions.append((p, c))
                continue  # directory present on both sides of the alias: keep /usr/X's
            from_alias.add(c)
        out[c] = e
    return out, from_alias, collisions


def diff_fields(a, b):
    return [k for k in COMPARED if a.get(k) != b.get(k)]


def show(e):
    if e is None:
        return "-"
    keys = [k for k in COMPARED if e.get(k) is not None]
    parts = []
    for k in keys:
        v = e[k]
        if k == "sha256":
            v = v[:12]
        elif k == "links":
            v = "+".join(v)
        parts.append(f"{k}={v}")
    return " ".join(parts)


def classify(img, mmd_raw):
    aliases = merged_usr_aliases(img, mmd_raw)
    mmd, from_alias, collisions = canonicalize(mmd_raw, aliases)
    groups = defaultdict(list)   # key -> [(path, detail)]
    identical = identical_aliased = mtime_differs = 0

    only_img = set(img) - set(mmd)
    only_mmd = set(mmd) - set(img)
    common = set(img) & set(mmd)

    for p, c in collisions:
        groups["merged-usr-collision"].append((p, f"{show(mmd_raw[p])} vs {c}: {show(mmd_raw[c])}"))

    # conffiles staged as .dpkg-new by imgbuild, in place in mmdebstrap
    for p in sorted(only_img):
        if p.endswith(".dpkg-new") and p[: -len(".dpkg-new")] in only_mmd:
            q = p[: -len(".dpkg-new")]
            f = diff_fields(img[p], mmd[q])
            key = "conffile-staged-differs" if f else "conffile-staged"
            groups[key].append((q, f"imgbuild {p}" + (f" differs in {','.join(f)}" if f else "")))
            only_img.discard(p)
            only_mmd.discard(q)

    for p in sorted(common):
        a, b = img[p], mmd[p]
        if a.get("mtime") != b.get("mtime"):
            mtime_differs += 1
        f = diff_fields(a, b)
        if not f:
            identical += 1
            if p in from_alias:
                identical_aliased += 1
            continue
        detail = f"imgbuild: {show(a)} | mmdebstrap: {show(b)}"
        if p.count("/") == 1 and p[1:] in aliases:
            groups["merged-usr-toplevel"].append((p, detail))
        elif p.startswith("/var/lib/dpkg/"):
            groups["dpkg-db-differs"].append((p, detail))
        elif p.startswith(("/var/lib/apt/", "/var/cache/apt/")):
            groups["apt-runtime-state"].append((p, detail))
        else:
            groups["unexplained-differs"].append((p, detail))

    for p in sorted(only_img):
        if p.startswith("/var/lib/dpkg/"):
            groups["dpkg-db-only-imgbuild"].append((p, show(img[p])))
        elif p.count("/") == 2 and p.startswith("/usr/") and p[5:] in aliases:
            # /usr/lib64: the target of imgbuild's /lib64 symlink; in the extract tree
            # libc6's loader stays in the real /lib64 directory and /usr/lib64 is absent.
            groups["merged-usr-toplevel"].append((p, show(img[p]) + " (only in imgbuild)"))
        else:
            groups["unexplained-only-imgbuild"].append((p, show(img[p])))

    for p in sorted(only_mmd):
        e = mmd[p]
        if p in MMDEBSTRAP_SETUP_FILES:
            groups["mmdebstrap-setup-file"].append((p, show(e)))
        elif p.startswith("/dev/"):
            groups["mmdebstrap-dev"].append((p, show(e)))
        elif p.startswith("/var/lib/dpkg/"):
            groups["dpkg-db-only-mmdebstrap"].append((p, show(e)))
        elif p.startswith(("/var/lib/apt/", "/var/cache/apt/")):
            groups["apt-runtime-state"].append((p, show(e) + " (only in mmdebstrap)"))
        else:
            groups["unexplained-only-mmdebstrap"].append((p, show(e)))

    stats = dict(
        imgbuild_paths=len(img), mmdebstrap_paths=len(mmd_raw), aliases=sorted(aliases),
        mmdebstrap_canonical_paths=len(mmd), common=len(common), identical=identical,
        identical_aliased=identical_aliased, mtime_differs=mtime_differs,
    )
    return stats, groups


def breakdown(items):
    """Count /var/lib/dpkg paths by kind: info/*.EXT by extension, the rest by path."""
    counts = defaultdict(int)
    for p, _ in items:
        rel = p[len("/var/lib/dpkg/"):]
        if rel.startswith("info/"):
            name = rel[len("info/"):]
            counts["info/*." + name.rsplit(".", 1)[1] if "." in name else rel] += 1
        elif rel.startswith("triggers/"):
            counts["triggers/*"] += 1
        else:
            counts[rel] += 1
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("imgbuild_tree")
    ap.add_argument("mmdebstrap_tar")
    ap.add_argument("--all", action="store_true", help="print every path of every group")
    ap.add_argument("--examples", type=int, default=3, help="examples per group (default 3)")
    args = ap.parse_args()
    if not os.path.isdir(args.imgbuild_tree) or not os.path.isfile(args.mmdebstrap_tar):
        ap.print_usage(sys.stderr)
        return 2

    img = list_tree(args.imgbuild_tree)
    mmd = list_tar(args.mmdebstrap_tar)
    s, groups = classify(img, mmd)

    print(f"imgbuild tree:      {s['imgbuild_paths']} paths")
    print(f"mmdebstrap tarball: {s['mmdebstrap_paths']} paths "
          f"({s['mmdebstrap_canonical_paths']} after merged-/usr aliasing of "
          f"{', '.join('/' + a for a in s['aliases']) or 'nothing'})")
    print(f"common paths:       {s['common']}")
    print(f"identical:          {s['identical']} (type, mode, uid, gid, size, sha256, "
          f"symlink target, device numbers, hard-link set); "
          f"{s['identical_aliased']} of them only after aliasing /X to /usr/X")
    print(f"mtime differs:      {s['mtime_differs']} of the common paths (not compared)")
    print()
    order = list(REASONS)
    total = 0
    for key in sorted(groups, key=order.index):
        items = groups[key]
        total += len(items)
        print(f"== {key}: {len(items)}")
        print(f"   reason: {REASONS[key]}")
        if key == "dpkg-db-only-imgbuild":
            print(f"   breakdown: {breakdown(items)}")
        for p, d in items if args.all else items[: args.examples]:
            print(f"   {p}  {d}")
        print()
    print(f"total differences: {total}")
    unexplained = sum(len(v) for k, v in groups.items() if k.startswith("unexplained"))
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
