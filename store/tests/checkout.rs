//! Checkouts and read-back (`Store::checkout`, `Store::import_directory`): a tree
//! written out and read back is the same tree; a file changed after the checkout is
//! read again even when its size and mtime are what they were (the ctime fence), and
//! an unchanged one keeps its blob without being read.

use std::os::unix::fs::MetadataExt;

use imgbuild_store::{
    DeviceNodes, Entry, EntryKind, ImportOptions, Metadata, Store, Tree, TreePath,
};

fn path(text: &str) -> TreePath {
    TreePath::parse(text).expect("path")
}

fn meta(mode: u32, mtime: i64) -> Metadata {
    Metadata {
        mtime,
        ..Metadata::with_mode(mode)
    }
}

/// A tree with a directory, two files (one hard-linked), a symlink and a fifo, all owned
/// by whoever runs the test (so no privileges are needed).
fn sample(store: &Store) -> Tree {
    let uid = rustix::process::geteuid().as_raw();
    let gid = rustix::process::getegid().as_raw();
    let owned = |mode, mtime| Metadata {
        uid,
        gid,
        ..meta(mode, mtime)
    };
    let mut tree = Tree::new(owned(0o755, 100));
    tree.insert(&path("etc"), Entry::directory(owned(0o750, 200)))
        .expect("etc");
    let hello = store.put_blob(b"hello\n", false).expect("blob");
    tree.insert(
        &path("etc/first"),
        Entry::file(hello.digest, hello.size, owned(0o640, 300)),
    )
    .expect("hello");
    tree.insert(
        &path("etc/second"),
        Entry::hardlink(path("etc/first"), owned(0o640, 300)),
    )
    .expect("again");
    let other = store.put_blob(b"other\n", false).expect("blob");
    tree.insert(
        &path("other"),
        Entry::file(other.digest, other.size, owned(0o644, 400)),
    )
    .expect("other");
    tree.insert(
        &path("link"),
        Entry::symlink("etc/first", owned(0o777, 500)),
    )
    .expect("link");
    tree.insert(&path("pipe"), Entry::fifo(owned(0o600, 600)))
        .expect("pipe");
    tree
}

#[test]
fn a_checkout_read_back_unchanged_is_the_same_tree_and_reads_no_file() {
    let directory = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&directory.path().join("store")).expect("store");
    let tree = sample(&store);
    let root = directory.path().join("root");
    std::fs::create_dir(&root).expect("root");
    let checkout = store
        .checkout(&tree, &root, DeviceNodes::SkipRefused)
        .expect("checkout");
    let first = std::fs::metadata(root.join("etc/first")).expect("first");
    let second = std::fs::metadata(root.join("etc/second")).expect("second");
    assert_eq!(first.ino(), second.ino(), "a hard link on disk");
    let imported = store
        .import_directory(
            &root,
            &ImportOptions {
                baseline: Some(&checkout),
                ..ImportOptions::default()
            },
        )
        .expect("import");
    assert_eq!(imported.files_read, 0);
    assert_eq!(imported.files, 3);
    assert_eq!(
        store.put_tree(&imported.tree).expect("put"),
        store.put_tree(&tree).expect("put")
    );
}

#[test]
fn a_change_right_after_the_fence_is_read_again() {
    let directory = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&directory.path().join("store")).expect("store");
    let tree = sample(&store);
    let root = directory.path().join("root");
    std::fs::create_dir(&root).expect("root");
    let checkout = store
        .checkout(&tree, &root, DeviceNodes::SkipRefused)
        .expect("checkout");
    checkout.fence(directory.path()).expect("fence");
    // Same size, and the mtime put back: only the ctime can tell.
    let other = root.join("other");
    std::fs::write(&other, b"OTHER\n").expect("write");
    let times = rustix::fs::Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: 400,
            tv_nsec: 0,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: 400,
            tv_nsec: 0,
        },
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        &other,
        &times,
        rustix::fs::AtFlags::empty(),
    )
    .expect("utimensat");
    let imported = store
        .import_directory(
            &root,
            &ImportOptions {
                baseline: Some(&checkout),
                ..ImportOptions::default()
            },
        )
        .expect("import");
    assert_eq!(imported.files_read, 1);
    let Some(Entry {
        kind: EntryKind::File { blob, .. },
        ..
    }) = imported.tree.get(&path("other"))
    else {
        panic!("other is not a file");
    };
    assert_eq!(store.read_blob(blob).expect("blob"), b"OTHER\n");
}

#[test]
fn mtimes_are_clamped_and_new_entries_come_back_with_their_metadata() {
    let directory = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&directory.path().join("store")).expect("store");
    let tree = sample(&store);
    let root = directory.path().join("root");
    std::fs::create_dir(&root).expect("root");
    let checkout = store
        .checkout(&tree, &root, DeviceNodes::SkipRefused)
        .expect("checkout");
    std::fs::write(root.join("etc/new"), b"new\n").expect("new");
    let imported = store
        .import_directory(
            &root,
            &ImportOptions {
                baseline: Some(&checkout),
                clamp_mtime: Some(250),
                secret: false,
            },
        )
        .expect("import");
    let entry = |text: &str| imported.tree.get(&path(text)).expect(text).clone();
    assert_eq!(entry("etc/new").meta.mtime, 250, "a new file: clamped");
    assert_eq!(entry("etc").meta.mtime, 250, "a changed directory: clamped");
    assert_eq!(entry("etc").meta.mode, 0o750);
    assert!(matches!(entry("pipe").kind, EntryKind::Fifo));
    assert_eq!(entry("pipe").meta.mtime, 250);
    assert!(
        matches!(&entry("etc/second").kind, EntryKind::Hardlink { target } if *target == path("etc/first")),
        "the hard link is read back as one, to the first path in walk order"
    );
}
