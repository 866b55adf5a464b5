//! Materialization (files, directories, tar fallback) and tar rendering.

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};

use common::{allocated_bytes, store};
use imgbuild_store::{
    Entry, EntryKind, MaterializeOptions, Materialized, Metadata, OutputObject, OutputRecord,
    Store, StoreError, Tree, TreePath,
};

fn path(text: &str) -> TreePath {
    TreePath::parse(text).expect("path")
}

fn meta(mode: u32, uid: u32, gid: u32, mtime: i64) -> Metadata {
    Metadata {
        mode,
        uid,
        gid,
        mtime,
        xattrs: Default::default(),
    }
}

/// A small root filesystem: root-owned, setuid binary, shadow file, devices, links.
fn rootfs(store: &Store) -> Tree {
    let shell = store.put_blob(b"#!/bin/sh\necho hi\n", false).expect("put");
    let shadow = store
        .put_blob(b"root:*:19000:0:99999:7:::\n", false)
        .expect("put");
    let mut tree = Tree::new(meta(0o755, 0, 0, 1_700_000_000));
    let mut setuid = meta(0o4755, 0, 0, 1_600_000_000);
    setuid
        .xattrs
        .insert(b"user.note".to_vec(), b"setuid helper".to_vec());
    let entries = vec![
        ("bin", Entry::directory(meta(0o755, 0, 0, 1_500_000_000))),
        ("bin/su", Entry::file(shell.digest, shell.size, setuid)),
        (
            "bin/sh",
            Entry::symlink("su", meta(0o777, 0, 0, 1_400_000_000)),
        ),
        (
            "bin/su-again",
            Entry::hardlink(path("bin/su"), Metadata::default_file()),
        ),
        (
            "etc/shadow",
            Entry::file(
                shadow.digest,
                shadow.size,
                meta(0o640, 0, 42, 1_300_000_000),
            ),
        ),
        (
            "dev/null",
            Entry {
                kind: EntryKind::CharDevice { major: 1, minor: 3 },
                meta: meta(0o666, 0, 0, 0),
            },
        ),
        ("run/initctl", Entry::fifo(meta(0o600, 0, 0, 0))),
        ("home/user", Entry::directory(meta(0o700, 1000, 1000, 0))),
        ("tmp", Entry::directory(meta(0o1777, 0, 0, 0))),
    ];
    for (name, entry) in entries {
        tree.insert(&path(name), entry).expect("insert");
    }
    tree
}

fn tree_record(store: &Store, tree: &Tree) -> OutputRecord {
    let digest = store.put_tree(tree).expect("put tree");
    OutputRecord {
        object: OutputObject::Tree { tree: digest },
        secret: false,
    }
}

#[test]
fn file_outputs_get_their_mode_and_holes() {
    let (directory, store) = store();
    let mut content = vec![0u8; 32 * 1024 * 1024];
    content[..4096].fill(7);
    content[20_000_000..20_000_100].fill(9);
    let info = store.put_blob(&content, false).expect("put");
    let destination = directory.path().join("out/disk.raw");
    for (executable, secret, mode) in [
        (false, false, 0o644),
        (true, false, 0o755),
        (true, true, 0o600),
    ] {
        let record = OutputRecord {
            object: OutputObject::File {
                blob: info.digest,
                size: info.size,
                executable,
            },
            secret,
        };
        let result = store
            .materialize(&record, &destination, &MaterializeOptions::default())
            .expect("materialize");
        assert_eq!(result, Materialized::File(destination.clone()));
        assert_eq!(
            fs::metadata(&destination)
                .expect("stat")
                .permissions()
                .mode()
                & 0o7777,
            mode
        );
    }
    assert_eq!(fs::read(&destination).expect("read"), content);
    assert!(allocated_bytes(&destination) < 1024 * 1024, "not sparse");
    let leftovers: Vec<_> = fs::read_dir(directory.path().join("out"))
        .expect("list")
        .collect();
    assert_eq!(leftovers.len(), 1, "temporary files left behind");
}

#[test]
fn trees_are_materialized_with_full_metadata_when_root() {
    // As an ordinary user, the tar fallback below and `unprivileged.rs` cover what can
    // be checked; full ownership, devices and setuid bits need root.
    imgbuild_test_support::require!(imgbuild_test_support::require_root(
        "materializing ownership, devices and setuid bits"
    ));
    let (directory, store) = store();
    let record = tree_record(&store, &rootfs(&store));
    let destination = directory.path().join("rootfs");
    let result = store
        .materialize(&record, &destination, &MaterializeOptions::default())
        .expect("materialize");
    assert_eq!(result, Materialized::Directory(destination.clone()));
    let stat = |name: &str| fs::symlink_metadata(destination.join(name)).expect(name);
    let su = stat("bin/su");
    assert_eq!(
        (su.mode() & 0o7777, su.uid(), su.gid(), su.mtime()),
        (0o4755, 0, 0, 1_600_000_000)
    );
    assert_eq!(su.ino(), stat("bin/su-again").ino());
    assert_eq!(su.nlink(), 2);
    let shadow = stat("etc/shadow");
    assert_eq!((shadow.mode() & 0o7777, shadow.gid()), (0o640, 42));
    assert_eq!(
        fs::read_link(destination.join("bin/sh")).expect("link"),
        Path::new("su")
    );
    assert_eq!(stat("bin/sh").mtime(), 1_400_000_000);
    assert!(stat("dev/null").file_type().is_char_device());
    assert_eq!(stat("dev/null").rdev(), rustix::fs::makedev(1, 3));
    assert!(stat("run/initctl").file_type().is_fifo());
    assert_eq!(
        (stat("home/user").uid(), stat("home/user").mode() & 0o7777),
        (1000, 0o700)
    );
    assert_eq!(stat("tmp").mode() & 0o7777, 0o1777);
    assert_eq!(
        (stat("bin").mtime(), stat("").mtime()),
        (1_500_000_000, 1_700_000_000)
    );
    let note = rustix::fs::getxattr(
        destination.join("bin/su").as_path(),
        "user.note",
        &mut [0u8; 64][..],
    );
    assert_eq!(note.expect("xattr"), b"setuid helper".len());
}

#[test]
fn unprivileged_materialization_falls_back_to_tar() {
    let (directory, store) = store();
    let record = tree_record(&store, &rootfs(&store));
    let destination = directory.path().join("rootfs");
    let options = MaterializeOptions {
        assume_unprivileged: true,
        ..MaterializeOptions::default()
    };
    let result = store
        .materialize(&record, &destination, &options)
        .expect("materialize");
    let tar = directory.path().join("rootfs.tar");
    assert_eq!(result, Materialized::Tar(tar.clone()));
    assert!(!destination.exists());
    let listing = tar_listing(&fs::read(&tar).expect("read tar"));
    assert!(listing.contains("-rwsr-xr-x 0/0"), "{listing}");

    let strict = MaterializeOptions {
        allow_tar_fallback: false,
        ..options
    };
    let error = store
        .materialize(&record, &destination, &strict)
        .expect_err("needs root");
    assert!(matches!(error, StoreError::NeedsPrivileges { .. }));
    assert!(
        error.to_string().contains("owned by") || error.to_string().contains("device"),
        "{error}"
    );
}

#[test]
fn trees_we_own_are_materialized_unprivileged_and_replace_the_old_one() {
    let (directory, store) = store();
    let uid = rustix::process::geteuid().as_raw();
    let gid = rustix::process::getegid().as_raw();
    let content = store.put_blob(b"config", false).expect("put");
    let mut tree = Tree::new(meta(0o555, uid, gid, 10));
    let mut config_meta = meta(0o444, uid, gid, 20);
    config_meta
        .xattrs
        .insert(b"user.kind".to_vec(), b"config".to_vec());
    tree.insert(
        &path("etc/app.conf"),
        Entry::file(content.digest, content.size, config_meta),
    )
    .expect("insert");
    tree.insert_or_replace(
        &path("etc"),
        Entry {
            kind: tree.get(&path("etc")).expect("etc").kind.clone(),
            meta: meta(0o555, uid, gid, 30),
        },
    )
    .expect("replace");
    let record = tree_record(&store, &tree);
    let destination = directory.path().join("result/config");
    // Something is already there (a file); it is replaced, and then replaced again.
    fs::create_dir_all(directory.path().join("result")).expect("mkdir");
    fs::write(&destination, b"old").expect("write");
    let options = MaterializeOptions {
        assume_unprivileged: true,
        ..MaterializeOptions::default()
    };
    for _ in 0..2 {
        let result = store
            .materialize(&record, &destination, &options)
            .expect("materialize");
        assert_eq!(result, Materialized::Directory(destination.clone()));
    }
    let file = destination.join("etc/app.conf");
    assert_eq!(fs::read(&file).expect("read"), b"config");
    let stat = fs::metadata(&file).expect("stat");
    assert_eq!((stat.mode() & 0o7777, stat.mtime()), (0o444, 20));
    assert_eq!(
        fs::metadata(destination.join("etc")).expect("stat").mtime(),
        30
    );
    assert_eq!(
        fs::metadata(&destination).expect("stat").mode() & 0o7777,
        0o555
    );
    let siblings: Vec<_> = fs::read_dir(directory.path().join("result"))
        .expect("list")
        .collect();
    assert_eq!(siblings.len(), 1, "temporary or old copies left behind");
}

fn tar_listing(tar: &[u8]) -> String {
    let mut child = Command::new("tar")
        .args(["-tvf", "-", "--numeric-owner"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tar");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(tar)
        .expect("feed tar");
    let output = child.wait_with_output().expect("tar");
    assert!(
        output.status.success(),
        "tar failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

#[test]
fn tar_streams_are_deterministic_and_readable_by_tar() {
    let (_directory, store) = store();
    let mut tree = rootfs(&store);
    let long_name = format!("usr/share/{}/{}", "d".repeat(90), "f".repeat(60));
    let blob = store.put_blob(b"long", false).expect("put");
    tree.insert(
        &path(&long_name),
        Entry::file(blob.digest, 4, meta(0o644, 0, 0, -5)),
    )
    .expect("insert");
    let mut capability = meta(0o755, 3_000_000, 0, 0);
    capability
        .xattrs
        .insert(b"security.capability".to_vec(), vec![1, 0, 0, 2]);
    tree.insert(
        &path("usr/bin/ping"),
        Entry::file(blob.digest, 4, capability),
    )
    .expect("insert");
    // A hardlink that comes before its target in walk order carries the content.
    tree.insert(
        &path("aaa-link"),
        Entry::hardlink(path("bin/su"), Metadata::default_file()),
    )
    .expect("insert");
    let digest = store.put_tree(&tree).expect("put tree");

    let mut first = Vec::new();
    store.write_tar(&digest, &mut first).expect("tar");
    let mut second = Vec::new();
    store.write_tar(&digest, &mut second).expect("tar");
    assert_eq!(first, second);
    let mut from_memory = Vec::new();
    store
        .write_tar_of_tree(&tree, &mut from_memory)
        .expect("tar");
    assert_eq!(first, from_memory);
    assert_eq!(first.len() % 512, 0);

    let listing = tar_listing(&first);
    let lines: Vec<&str> = listing.lines().collect();
    let expect_line = |needle: &str, fragments: &[&str]| {
        let line = lines
            .iter()
            .find(|line| line.ends_with(needle))
            .unwrap_or_else(|| panic!("{needle} not in\n{listing}"));
        for fragment in fragments {
            assert!(line.contains(fragment), "{line:?} lacks {fragment:?}");
        }
    };
    expect_line(" ./", &["drwxr-xr-x 0/0"]);
    expect_line("./aaa-link", &["-rwsr-xr-x 0/0", "2020-09-13"]);
    expect_line("./bin/su link to ./aaa-link", &["hrwsr-xr-x 0/0"]);
    expect_line("./bin/su-again link to ./aaa-link", &["hrwsr-xr-x 0/0"]);
    expect_line("./bin/sh -> su", &["lrwxrwxrwx 0/0"]);
    expect_line("./etc/shadow", &["-rw-r----- 0/42"]);
    expect_line("./dev/null", &["crw-rw-rw- 0/0", "1,3"]);
    expect_line("./run/initctl", &["prw------- 0/0"]);
    expect_line("./tmp/", &["drwxrwxrwt 0/0"]);
    expect_line("./home/user/", &["drwx------ 1000/1000"]);
    expect_line(&format!("./{long_name}"), &["-rw-r--r-- 0/0", "1969-12-31"]);
    expect_line("./usr/bin/ping", &["3000000/0"]);
    // Directories come before their contents, in byte order.
    let position = |name: &str| {
        lines
            .iter()
            .position(|line| {
                line.ends_with(&format!(" {name}")) || line.contains(&format!(" {name} "))
            })
            .expect(name)
    };
    assert!(
        position("./bin/") < position("./bin/sh") && position("./bin/sh") < position("./bin/su")
    );

    // Extract as tar would and compare content and xattrs (numeric owners need root).
    if imgbuild_test_support::require_root("extracting the tar with its owners").is_some() {
        let target = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new("tar")
            .args([
                "--xattrs",
                "--xattrs-include=*",
                "--numeric-owner",
                "-xpf",
                "-",
                "-C",
            ])
            .arg(target.path())
            .stdin(Stdio::piped())
            .spawn()
            .expect("tar");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(&first)
            .expect("feed");
        assert!(child.wait().expect("tar").success());
        assert_eq!(
            fs::read(target.path().join("bin/su")).expect("read"),
            b"#!/bin/sh\necho hi\n"
        );
        assert_eq!(
            fs::metadata(target.path().join("usr/bin/ping"))
                .expect("stat")
                .uid(),
            3_000_000
        );
        let mut value = [0u8; 16];
        let length = rustix::fs::getxattr(
            target.path().join("bin/su").as_path(),
            "user.note",
            &mut value[..],
        )
        .expect("xattr");
        assert_eq!(&value[..length], b"setuid helper");
    }
}
