//! The reader against real packages: trees packed by `dpkg-deb --build` with every
//! compressor it offers, and packages from the Debian archive compared with what
//! `dpkg-deb --contents`, `-e` and `-x` say about them.

mod common_deb;

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::rc::Rc;

use common_deb::dpkg::{
    collapse_contents_line, contents_line, dpkg_deb_build, permissions, real_package, run,
    utc_minutes,
};
use common_deb::{read, sha256_hex, Seen};
use imgbuild_apt::deb::{
    read_control, read_deb, Compression, DataEntry, DebVisitor, EntryKind, Limits,
};

const CONTROL: &str = "Package: imgbuild-test\nVersion: 1.0-1\nArchitecture: all\n\
Maintainer: imgbuild <imgbuild@example.org>\nDescription: a package for the reader's tests\n";

fn write(path: &Path, bytes: &[u8], mode: u32) {
    fs::create_dir_all(path.parent().expect("parent")).expect("create directories");
    fs::write(path, bytes).expect("write");
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Deterministic incompressible bytes.
fn noise(length: usize, mut state: u64) -> Vec<u8> {
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// A package tree with the kinds of entries packages hold.
fn build_tree(root: &Path) {
    write(&root.join("DEBIAN/control"), CONTROL.as_bytes(), 0o644);
    write(
        &root.join("DEBIAN/postinst"),
        b"#!/bin/sh\nset -e\necho configured\n",
        0o755,
    );
    write(&root.join("DEBIAN/prerm"), b"#!/bin/sh\nexit 0\n", 0o755);
    write(
        &root.join("DEBIAN/conffiles"),
        b"/etc/imgbuild-test/app.conf\n",
        0o644,
    );
    fs::set_permissions(root.join("DEBIAN"), fs::Permissions::from_mode(0o755)).expect("chmod");
    write(
        &root.join("etc/imgbuild-test/app.conf"),
        b"listen = 80\n",
        0o644,
    );
    write(&root.join("etc/imgbuild-test/secret"), b"token\n", 0o640);
    write(&root.join("usr/bin/tool"), b"#!/bin/sh\necho tool\n", 0o755);
    fs::hard_link(root.join("usr/bin/tool"), root.join("usr/bin/tool-again")).expect("hard link");
    write(&root.join("usr/bin/suid-tool"), b"\x7fELF pretend", 0o4755);
    write(
        &root.join("usr/bin/sgid-tool"),
        b"\x7fELF pretend too",
        0o2755,
    );
    write(&root.join("usr/share/imgbuild-test/empty"), b"", 0o644);
    write(
        &root.join("usr/share/imgbuild-test/noise.bin"),
        &noise(300_000, 7),
        0o644,
    );
    let long_name = format!(
        "usr/share/doc/imgbuild-test/{}.txt",
        "long-name-".repeat(15)
    );
    write(
        &root.join(&long_name),
        b"a name longer than 100 bytes\n",
        0o644,
    );
    fs::create_dir_all(root.join("usr/lib/imgbuild-test")).expect("mkdir");
    std::os::unix::fs::symlink(
        "../../bin/tool",
        root.join("usr/lib/imgbuild-test/relative"),
    )
    .expect("symlink");
    std::os::unix::fs::symlink("/usr/bin/tool", root.join("usr/lib/imgbuild-test/absolute"))
        .expect("symlink");
    std::os::unix::fs::symlink(
        format!("../../../{long_name}"),
        root.join("usr/lib/imgbuild-test/long-target"),
    )
    .expect("symlink");
    fs::create_dir_all(root.join("var/spool/imgbuild-test")).expect("mkdir");
    fs::set_permissions(
        root.join("var/spool/imgbuild-test"),
        fs::Permissions::from_mode(0o1777),
    )
    .expect("chmod");
}

/// What the filesystem says about one path of the tree.
#[derive(Debug)]
struct OnDisk {
    kind: EntryKind,
    mode: u32,
    mtime: i64,
    sha256: String,
    inode: u64,
}

fn walk(root: &Path, directory: &Path, found: &mut BTreeMap<String, OnDisk>) {
    for entry in fs::read_dir(directory).expect("read_dir") {
        let path = entry.expect("entry").path();
        let relative = path
            .strip_prefix(root)
            .expect("inside")
            .to_str()
            .expect("UTF-8")
            .to_owned();
        if relative == "DEBIAN" {
            continue;
        }
        let metadata = fs::symlink_metadata(&path).expect("metadata");
        let (kind, sha256) = if metadata.is_dir() {
            walk(root, &path, found);
            (EntryKind::Directory, sha256_hex(b""))
        } else if metadata.file_type().is_symlink() {
            let target = fs::read_link(&path)
                .expect("read_link")
                .to_str()
                .expect("UTF-8")
                .to_owned();
            (EntryKind::Symlink { target }, sha256_hex(b""))
        } else {
            (
                EntryKind::File {
                    size: metadata.len(),
                },
                sha256_hex(&fs::read(&path).expect("read")),
            )
        };
        let mode = metadata.mode() & 0o7777;
        found.insert(
            relative,
            OnDisk {
                kind,
                mode,
                mtime: metadata.mtime(),
                sha256,
                inode: metadata.ino(),
            },
        );
    }
}

/// Compares every entry the reader reported with the tree it was built from.
fn check_against_tree(root: &Path, entries: &[Seen]) {
    let mut on_disk = BTreeMap::new();
    walk(root, root, &mut on_disk);
    let reported: Vec<&str> = entries.iter().map(|seen| seen.path.as_str()).collect();
    let mut sorted = reported.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        on_disk.keys().map(String::as_str).collect::<Vec<_>>(),
        "the same paths"
    );
    let mut position: HashMap<&str, usize> = HashMap::new();
    for (index, seen) in entries.iter().enumerate() {
        let disk = &on_disk[&seen.path];
        match &seen.kind {
            EntryKind::Hardlink { target } => {
                let original = &on_disk[target];
                assert_eq!(
                    original.inode, disk.inode,
                    "{} is a hard link of {target}",
                    seen.path
                );
                assert!(
                    position[target.as_str()] < index,
                    "{target} comes before {}",
                    seen.path
                );
                assert!(matches!(
                    entries[position[target.as_str()]].kind,
                    EntryKind::File { .. }
                ));
            }
            kind => {
                assert_eq!(kind, &disk.kind, "{}", seen.path);
                assert_eq!(seen.sha256, disk.sha256, "contents of {}", seen.path);
            }
        }
        assert_eq!(
            seen.mode, disk.mode,
            "mode of {}: {:o} vs {:o}",
            seen.path, seen.mode, disk.mode
        );
        assert_eq!(seen.mtime, disk.mtime, "mtime of {}", seen.path);
        assert_eq!(
            (seen.uid, seen.gid),
            (0, 0),
            "{} is owned by root",
            seen.path
        );
        assert_eq!(
            (seen.user.as_deref(), seen.group.as_deref()),
            (Some("root"), Some("root"))
        );
        position.insert(seen.path.as_str(), index);
    }
    let hardlinks = entries
        .iter()
        .filter(|seen| matches!(seen.kind, EntryKind::Hardlink { .. }))
        .count();
    assert_eq!(hardlinks, 1, "tool and tool-again: one file, one hard link");
}

fn check_round_trip(compression: &str, expected: Compression) {
    let directory = tempfile::tempdir().expect("temporary directory");
    let tree = directory.path().join("tree");
    build_tree(&tree);
    let deb = directory.path().join("test.deb");
    dpkg_deb_build(&tree, compression, &deb);
    let bytes = fs::read(&deb).expect("read the package");
    let (summary, collector) = read(&bytes, &Limits::default()).expect("reads");
    assert_eq!(summary.data_compression, expected);
    check_against_tree(&tree, &collector.entries);
    let control = collector.control.expect("control seen");
    assert_eq!(control, summary.control);
    let mut names: Vec<&str> = control.files.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["conffiles", "control", "postinst", "prerm"]);
    for (name, file) in &control.files {
        let path = tree.join("DEBIAN").join(name);
        assert_eq!(
            file.bytes,
            fs::read(&path).expect("read"),
            "control file {name}"
        );
        let mode = fs::metadata(&path).expect("metadata").mode() & 0o7777;
        assert_eq!(file.mode, mode, "mode of control file {name}");
    }
    assert_eq!(summary.files, 8);
    assert_eq!(
        read_control(bytes.as_slice(), "test.deb", &Limits::default()).expect("control"),
        control
    );
}

#[test]
fn dpkg_deb_round_trip_uncompressed() {
    check_round_trip("none", Compression::None);
}

#[test]
fn dpkg_deb_round_trip_gzip() {
    check_round_trip("gzip", Compression::Gzip);
}

#[test]
fn dpkg_deb_round_trip_xz() {
    check_round_trip("xz", Compression::Xz);
}

#[test]
fn dpkg_deb_round_trip_zstd() {
    check_round_trip("zstd", Compression::Zstd);
}

#[test]
fn listing_helpers() {
    assert_eq!(utc_minutes(0), "1970-01-01 00:00");
    assert_eq!(utc_minutes(1_700_000_000), "2023-11-14 22:13");
    assert_eq!(utc_minutes(951_782_400), "2000-02-29 00:00");
    assert_eq!(permissions(0o4755), "rwsr-xr-x");
    assert_eq!(permissions(0o1777), "rwxrwxrwt");
    assert_eq!(permissions(0o2640), "rw-r-S---");
}

#[test]
fn real_packages_match_dpkg_deb() {
    check_real_package("busybox");
    check_real_package("bash");
}

/// Compares the reader's view of a package from the Debian archive with `dpkg-deb`'s.
fn check_real_package(name: &str) {
    let package = imgbuild_test_support::require!(real_package(name));
    let bytes = fs::read(&package).expect("read the package");
    let (summary, collector) = read(&bytes, &Limits::default()).expect("a Debian package reads");

    // The listing, line by line, as `dpkg-deb --contents` prints it.
    let listing = run(Command::new("dpkg-deb")
        .env("TZ", "UTC")
        .arg("--contents")
        .arg(&package));
    let expected: Vec<String> = String::from_utf8(listing)
        .expect("UTF-8 listing")
        .lines()
        .map(collapse_contents_line)
        .filter(|line| !line.ends_with(" ./"))
        .collect();
    let ours: Vec<String> = collector.entries.iter().map(contents_line).collect();
    assert_eq!(ours, expected);
    assert!(summary.entries > 5 && summary.files > 1);
    eprintln!("{name}: {} entries match `dpkg-deb --contents`", ours.len());

    // The control files, as `dpkg-deb -e` extracts them.
    let directory = tempfile::tempdir().expect("temporary directory");
    let control_directory = directory.path().join("control");
    run(Command::new("dpkg-deb")
        .arg("-e")
        .arg(&package)
        .arg(&control_directory));
    let mut extracted: Vec<String> = fs::read_dir(&control_directory)
        .expect("read_dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .into_string()
                .expect("UTF-8")
        })
        .collect();
    extracted.sort_unstable();
    assert_eq!(
        extracted,
        summary.control.files.keys().cloned().collect::<Vec<_>>()
    );
    for (name, file) in &summary.control.files {
        assert_eq!(
            file.bytes,
            fs::read(control_directory.join(name)).expect("read"),
            "{name}"
        );
    }
    assert!(
        String::from_utf8_lossy(summary.control.control()).contains(&format!("Package: {name}\n"))
    );

    // The contents, as `dpkg-deb -x` extracts them.
    let data_directory = directory.path().join("data");
    run(Command::new("dpkg-deb")
        .arg("-x")
        .arg(&package)
        .arg(&data_directory));
    for seen in &collector.entries {
        let path = data_directory.join(&seen.path);
        match &seen.kind {
            EntryKind::File { .. } => {
                assert_eq!(
                    seen.sha256,
                    sha256_hex(&fs::read(&path).expect("read")),
                    "{}",
                    seen.path
                )
            }
            EntryKind::Symlink { target } => {
                assert_eq!(
                    fs::read_link(&path).expect("read_link").to_str(),
                    Some(target.as_str())
                )
            }
            _ => {}
        }
    }
}

/// Counts the bytes the reader has taken from its input.
struct CountingReader<R> {
    inner: R,
    consumed: Rc<Cell<u64>>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.consumed.set(self.consumed.get() + read as u64);
        Ok(read)
    }
}

/// For each file: input consumed when the visitor was called, and after it read the
/// contents.
struct Positions {
    consumed: Rc<Cell<u64>>,
    files: Vec<(String, u64, u64, u64)>,
}

impl DebVisitor for Positions {
    type Error = io::Error;

    fn entry(&mut self, entry: &DataEntry<'_>, contents: &mut dyn Read) -> io::Result<()> {
        if let EntryKind::File { size } = entry.kind {
            let before = self.consumed.get();
            io::copy(contents, &mut io::sink())?;
            self.files
                .push((entry.path.to_owned(), size, before, self.consumed.get()));
        }
        Ok(())
    }
}

/// Reads `package` and checks that the data archive streamed: when the visitor meets
/// the largest file, little of the input has been read, and reading that file's
/// contents is what reads the input.
fn check_streams(package: &Path) {
    let length = fs::metadata(package).expect("metadata").len();
    let consumed = Rc::new(Cell::new(0));
    let reader = CountingReader {
        inner: fs::File::open(package).expect("open"),
        consumed: consumed.clone(),
    };
    let mut positions = Positions {
        consumed: consumed.clone(),
        files: Vec::new(),
    };
    read_deb(reader, "streamed.deb", &Limits::default(), &mut positions).expect("reads");
    assert_eq!(consumed.get(), length, "all of the input read, once");
    let (path, size, before, after) = positions
        .files
        .iter()
        .max_by_key(|(_, size, _, _)| *size)
        .expect("some file")
        .clone();
    let first = positions.files.first().expect("some file").2;
    eprintln!("{}: first file after {first} of {length} input bytes; {path} ({size} bytes) read {before}..{after}", package.display());
    assert!(
        first < length / 2,
        "first file met after {first} of {length} bytes: data.tar was buffered"
    );
    assert!(
        after - before > size / 20 && after - before > 64 * 1024,
        "reading {path} ({size} bytes) read only {} input bytes: it was buffered beforehand",
        after - before
    );
}

#[test]
fn large_dpkg_deb_package_streams() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let tree = directory.path().join("tree");
    write(&tree.join("DEBIAN/control"), CONTROL.as_bytes(), 0o644);
    write(
        &tree.join("usr/share/imgbuild-test/small"),
        b"small\n",
        0o644,
    );
    write(
        &tree.join("usr/share/imgbuild-test/large.bin"),
        &noise(8 << 20, 11),
        0o644,
    );
    let deb = directory.path().join("large.deb");
    dpkg_deb_build(&tree, "gzip", &deb);
    check_streams(&deb);
}

#[test]
fn real_package_streams() {
    let package = imgbuild_test_support::require!(real_package("bash"));
    check_streams(&package);
}
