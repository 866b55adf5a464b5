#!/usr/bin/env python3
"""Compare two root filesystems, each a directory or a tarball.

Usage:

    python3 bench/compare-rootfs.py A B [--allow FILE] [--mtime] [--examples N] [--all]

A and B are root directories (read them as root, so that every file, its ownership and its
extended attributes are readable) or tar archives of any compression Python's tarfile reads
(e.g. `mmdebstrap --format=tar` output). Both are listed the same way -- for every path:

    type     file, dir, symlink, char, block, fifo, socket
    mode     permission bits incl. setuid/setgid/sticky (not for symlinks)
    uid gid  numeric owner
    size sha256   regular files (a tar hard link gets its target's)
    target   symlink target
    links    the set of paths sharing the inode (hard links), if more than one
    dev      major,minor of device nodes
    xattrs   extended attributes: name -> sha256 of the value (tar: the pax headers
             SCHILY.xattr.NAME and LIBARCHIVE.xattr.NAME; SCHILY.acl.* as acl.*;
             directory: os.listxattr/os.getxattr without following symlinks)
    mtime    integer seconds, recorded, compared only with --mtime

and the differences are printed grouped: paths only in A and only in B (by their first two
path components), and common paths whose attributes differ (by the set of attributes that
differ), each with a count and a few examples.

--allow FILE lists differences that are intended, one per line:

    PATTERN [WHAT]   # reason

PATTERN is a shell glob matched against the path (`*` also matches `/`; `/etc/ssh/ssh_host_*`),
WHAT an optional comma-separated list of what may differ there: `only-a`, `only-b` and
attribute names (`sha256,size`); without WHAT any difference at a matching path is allowed.
Allowed differences are reported separately as "intended", with their reason; allow lines
that matched nothing are listed as a note (a stale allow list).

Exit status: 0 if every difference is allowed, 1 otherwise, 2 on usage errors.
"""

import argparse
import base64
import fnmatch
import hashlib
import os
import stat
import sys
import tarfile
import urllib.parse
from collections import defaultdict

ATTRIBUTES = ("type", "mode", "uid", "gid", "size", "sha256", "target", "links", "dev", "xattrs")


def _sha256_stream(f):
    h = hashlib.sha256()
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
    return h.hexdigest()


def _xattr_digest(value):
    """Short values are shown as they are (most xattrs are short); long ones by hash."""
    if len(value) <= 32:
        return value.hex() if any(b < 0x20 or b > 0x7e for b in value) else value.decode()
    return "sha256:" + hashlib.sha256(value).hexdigest()[:16]


def _common(mode, uid, gid, mtime):
    return {"mode": oct(stat.S_IMODE(mode)), "uid": uid, "gid": gid, "mtime": int(mtime)}


def list_dir(root):
    """Walk a directory tree without following symlinks.  Returns {"/path": entry}."""
    out = {}
    inodes = defaultdict(list)

    def add(rel, full):
        st = os.lstat(full)
        e = _common(st.st_mode, st.st_uid, st.st_gid, st.st_mtime)
        m = st.st_mode
        if stat.S_ISREG(m):
            with open(full, "rb") as f:
                e.update(type="file", size=st.st_size, sha256=_sha256_stream(f))
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
        try:
            names = os.listxattr(full, follow_symlinks=False)
        except OSError:
            names = []
        xattrs = {}
        for name in names:
            if name.startswith("system.posix_acl_"):
                key = "acl." + name[len("system.posix_acl_"):]
            else:
                key = name
            xattrs[key] = _xattr_digest(os.getxattr(full, name, follow_symlinks=False))
        if xattrs:
            e["xattrs"] = xattrs
        out[rel] = e

    add("/", root)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            add("/" + os.path.relpath(full, root), full)
    for paths in inodes.values():
        if len(paths) > 1:
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


def _tar_xattrs(member):
    xattrs = {}
    for key, value in member.pax_headers.items():
        if key.startswith("SCHILY.xattr."):
            name = key[len("SCHILY.xattr."):]
            raw = value.encode("utf-8", "surrogateescape")
        elif key.startswith("LIBARCHIVE.xattr."):
            name = urllib.parse.unquote(key[len("LIBARCHIVE.xattr."):])
            raw = base64.b64decode(value + "=" * (-len(value) % 4))
        elif key.startswith("SCHILY.acl."):
            # text form (tar's --acls); a directory lists the binary system.posix_acl_*:
            # comparable only tar to tar.
            name = "acl." + key[len("SCHILY.acl."):] + "(text)"
            raw = value.encode("utf-8", "surrogateescape")
        else:
            continue
        if name.startswith("system.posix_acl_"):
            name = "acl." + name[len("system.posix_acl_"):]
        xattrs[name] = _xattr_digest(raw)
    return xattrs


def list_tar(path):
    out = {}
    groups = defaultdict(set)
    with tarfile.open(path) as t:
        for m in t:
            name = _tar_name(m.name)
            e = _common(m.mode, m.uid, m.gid, m.mtime)
            if m.isreg():
                e.update(type="file", size=m.size, sha256=_sha256_stream(t.extractfile(m)))
            elif m.islnk():
                target = _tar_name(m.linkname)
                te = out.get(target)
                if te is None or te["type"] != "file":
                    e.update(type="hardlink-to-missing", target=target)
                else:
                    e.update(type="file", size=te["size"], sha256=te["sha256"])
                    # tar records the metadata of the inode with the first name only
                    for k in ("mode", "uid", "gid", "mtime"):
                        e[k] = te[k]
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
            xattrs = _tar_xattrs(m)
            if xattrs:
                e["xattrs"] = xattrs
            out[name] = e
    for root, members in groups.items():
        for p in members:
            out[p]["links"] = tuple(sorted(members))
    for e in out.values():
        e.pop("_linkroot", None)
    return out


def list_any(path):
    if os.path.isdir(path):
        return list_dir(path)
    if os.path.isfile(path) and tarfile.is_tarfile(path):
        return list_tar(path)
    raise SystemExit(f"compare-rootfs.py: {path}: neither a directory nor a tar archive")


class Allow:
    """One allow-list line: PATTERN [WHAT]  # reason."""

    def __init__(self, line, number):
        text, _, reason = line.partition("#")
        parts = text.split()
        if not parts or len(parts) > 2:
            raise SystemExit(f"allow list line {number}: expected `PATTERN [WHAT]  # reason`: {line!r}")
        self.pattern = parts[0]
        self.what = set(parts[1].split(",")) if len(parts) == 2 else None
        known = set(ATTRIBUTES) | {"only-a", "only-b", "mtime"}
        if self.what and not self.what <= known:
            raise SystemExit(f"allow list line {number}: unknown {sorted(self.what - known)}; "
                             f"known: {', '.join(sorted(known))}")
        self.reason = reason.strip() or "(no reason given)"
        self.line = line.strip()
        self.used = 0

    def allows(self, path, kinds):
        if not fnmatch.fnmatchcase(path, self.pattern):
            return False
        return self.what is None or set(kinds) <= self.what


def read_allow(path):
    rules = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if line.strip() and not line.lstrip().startswith("#"):
                rules.append(Allow(line.rstrip("\n"), number))
    return rules


def show(e, fields=ATTRIBUTES):
    parts = []
    for k in fields:
        v = e.get(k)
        if v is None:
            continue
        if k == "sha256":
            v = v[:12]
        elif k == "links":
            v = "+".join(v)
        elif k == "xattrs":
            v = "{" + ",".join(f"{n}={x}" for n, x in sorted(v.items())) + "}"
        parts.append(f"{k}={v}")
    return " ".join(parts)


def prefix(path, depth=2):
    parts = path.strip("/").split("/")
    return "/" + "/".join(parts[:depth]) if len(parts) > depth else os.path.dirname(path) or "/"


def compare(a, b, compared):
    """Yields (path, kinds, detail): kinds is ("only-a",), ("only-b",) or differing attributes."""
    for p in sorted(set(a) | set(b)):
        if p not in b:
            yield p, ("only-a",), show(a[p])
        elif p not in a:
            yield p, ("only-b",), show(b[p])
        else:
            kinds = tuple(k for k in compared if a[p].get(k) != b[p].get(k))
            if kinds:
                yield p, kinds, f"A: {show(a[p], kinds)} | B: {show(b[p], kinds)}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a", metavar="DIR_OR_TAR_A")
    ap.add_argument("b", metavar="DIR_OR_TAR_B")
    ap.add_argument("--allow", metavar="FILE", help="intended differences: `PATTERN [WHAT]  # reason` per line")
    ap.add_argument("--mtime", action="store_true", help="compare modification times too")
    ap.add_argument("--examples", type=int, default=5, help="examples per group (default 5)")
    ap.add_argument("--all", action="store_true", help="print every path of every group")
    args = ap.parse_args()
    for p in (args.a, args.b):
        if not os.path.exists(p):
            ap.print_usage(sys.stderr)
            print(f"compare-rootfs.py: {p}: no such file or directory", file=sys.stderr)
            return 2
    rules = read_allow(args.allow) if args.allow else []
    compared = ATTRIBUTES + (("mtime",) if args.mtime else ())

    a, b = list_any(args.a), list_any(args.b)
    common = set(a) & set(b)
    groups = defaultdict(list)      # (section, key) -> [(path, detail)]
    intended = defaultdict(list)    # rule -> [(path, kinds, detail)]
    for p, kinds, detail in compare(a, b, compared):
        rule = next((r for r in rules if r.allows(p, kinds)), None)
        if rule:
            rule.used += 1
            intended[rule].append((p, kinds, detail))
        elif kinds == ("only-a",):
            groups[("only in A", prefix(p))].append((p, detail))
        elif kinds == ("only-b",):
            groups[("only in B", prefix(p))].append((p, detail))
        else:
            groups[("differs", ",".join(kinds))].append((p, detail))

    mtime_differs = sum(1 for p in common if a[p].get("mtime") != b[p].get("mtime"))
    differing = sum(len(v) for k, v in groups.items() if k[0] == "differs")
    print(f"A: {args.a}: {len(a)} paths")
    print(f"B: {args.b}: {len(b)} paths")
    print(f"common: {len(common)}, identical: "
          f"{len(common) - differing - sum(1 for v in intended.values() for p, k, _ in v if k[0] not in ('only-a', 'only-b'))}"
          f" ({', '.join(compared)})")
    if not args.mtime:
        print(f"mtime differs at {mtime_differs} common paths (not compared; --mtime compares it)")

    def examples(items):
        return items if args.all else items[: args.examples]

    for section in ("only in A", "only in B", "differs"):
        keys = sorted(k for k in groups if k[0] == section)
        if not keys:
            continue
        total = sum(len(groups[k]) for k in keys)
        print(f"\n== {section}: {total}")
        for k in sorted(keys, key=lambda k: (-len(groups[k]), k[1])):
            items = groups[k]
            label = f"under {k[1]}" if section != "differs" else f"in {k[1]}"
            print(f"  -- {label}: {len(items)}")
            for p, d in examples(items):
                print(f"     {p}  {d}")
            if len(items) > len(examples(items)):
                print(f"     ... {len(items) - len(examples(items))} more")

    if intended:
        print(f"\n== intended (allowed by {args.allow}): {sum(len(v) for v in intended.values())}")
        for rule in rules:
            items = intended.get(rule)
            if not items:
                continue
            print(f"  -- {rule.pattern}{' ' + ','.join(sorted(rule.what)) if rule.what else ''}: "
                  f"{len(items)} -- {rule.reason}")
            for p, kinds, d in examples(items):
                print(f"     {p}  [{','.join(kinds)}] {d}")
            if len(items) > len(examples(items)):
                print(f"     ... {len(items) - len(examples(items))} more")
    unused = [r for r in rules if not r.used]
    if unused:
        print("\nnote: allow lines that matched nothing:")
        for r in unused:
            print(f"  {r.line}")

    unexpected = sum(len(v) for v in groups.values())
    print(f"\nunexpected differences: {unexpected}; intended: {sum(len(v) for v in intended.values())}")
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
