//! Output indexes, trees in the store, locks and logs.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{object_path, store};
use imgbuild_store::{
    Digest, Entry, Metadata, OutputIndex, OutputObject, OutputRecord, StoreError, Tree, TreePath,
};

fn path(text: &str) -> TreePath {
    TreePath::parse(text).expect("path")
}

#[test]
fn trees_round_trip_and_reference_checks_name_the_path() {
    let (_directory, store) = store();
    let blob = store.put_blob(b"#!/bin/sh\n", false).expect("put");
    let mut tree = Tree::new(Metadata::default_directory());
    let mut meta = Metadata::with_mode(0o4755);
    meta.xattrs
        .insert(b"user.origin".to_vec(), b"test".to_vec());
    tree.insert(
        &path("usr/bin/tool"),
        Entry::file(blob.digest, blob.size, meta),
    )
    .expect("insert");
    tree.insert(
        &path("usr/bin/alias"),
        Entry::hardlink(path("usr/bin/tool"), Metadata::default_file()),
    )
    .expect("insert");
    let digest = store.put_tree(&tree).expect("put tree");
    assert!(store.has_tree(&digest));
    assert_eq!(store.load_tree(&digest).expect("load"), tree);

    let mut missing = tree.clone();
    missing
        .insert(
            &path("etc/absent"),
            Entry::file(Digest::of(b"nope"), 4, Metadata::default_file()),
        )
        .expect("insert");
    let error = store.put_tree(&missing).expect_err("missing blob");
    assert!(
        matches!(&error, StoreError::MissingBlob { path, .. } if path == "etc/absent"),
        "{error}"
    );

    let mut dangling = tree.clone();
    dangling
        .insert(
            &path("bad"),
            Entry::hardlink(path("usr/bin"), Metadata::default_file()),
        )
        .expect("insert");
    let error = store
        .put_tree(&dangling)
        .expect_err("hardlink to a directory");
    assert_eq!(
        error.to_string(),
        "hardlink `bad` points to `usr/bin`, which is not a regular file in the tree"
    );
}

#[test]
fn corrupt_tree_objects_are_detected() {
    let (_directory, store) = store();
    let mut tree = Tree::new(Metadata::default_directory());
    tree.insert(&path("a/b"), Entry::fifo(Metadata::default_file()))
        .expect("insert");
    let digest = store.put_tree(&tree).expect("put");
    common::flip_byte(&object_path(&store, "trees", &digest), 0);
    assert!(matches!(
        store.load_tree(&digest),
        Err(StoreError::ObjectCorrupt { .. })
    ));
}

fn file_record(store: &imgbuild_store::Store, content: &[u8]) -> OutputRecord {
    let info = store.put_blob(content, false).expect("put");
    OutputRecord {
        object: OutputObject::File {
            blob: info.digest,
            size: info.size,
            executable: false,
        },
        secret: false,
    }
}

#[test]
fn outputs_are_keyed_per_index_and_vanish_with_their_object() {
    let (_directory, store) = store();
    let record = file_record(&store, b"output");
    let key = Digest::of(b"cache key");
    assert_eq!(
        store.get_output(OutputIndex::CacheKey, &key).expect("get"),
        None
    );
    store
        .put_output(OutputIndex::CacheKey, &key, &record)
        .expect("put");
    assert_eq!(
        store.get_output(OutputIndex::CacheKey, &key).expect("get"),
        Some(record.clone())
    );
    assert_eq!(
        store.get_output(OutputIndex::Recipe, &key).expect("get"),
        None
    );

    store.invalidate_object(&record).expect("invalidate");
    assert_eq!(
        store.get_output(OutputIndex::CacheKey, &key).expect("get"),
        None
    );
    // Rebuilding republishes it.
    let rebuilt = file_record(&store, b"output");
    assert_eq!(rebuilt, record);
    assert_eq!(
        store.get_output(OutputIndex::CacheKey, &key).expect("get"),
        Some(record)
    );
    store
        .remove_output(OutputIndex::CacheKey, &key)
        .expect("remove");
    assert_eq!(
        store.get_output(OutputIndex::CacheKey, &key).expect("get"),
        None
    );
}

#[test]
fn invalidating_a_tree_output_removes_corrupt_blobs_below_it() {
    let (_directory, store) = store();
    let blob = store.put_blob(b"inner content", false).expect("put");
    let mut tree = Tree::new(Metadata::default_directory());
    tree.insert(
        &path("d/f"),
        Entry::file(blob.digest, blob.size, Metadata::default_file()),
    )
    .expect("insert");
    let digest = store.put_tree(&tree).expect("put tree");
    let record = OutputRecord {
        object: OutputObject::Tree { tree: digest },
        secret: false,
    };
    common::flip_byte(&object_path(&store, "blobs", &blob.digest), 1);
    store.invalidate_object(&record).expect("invalidate");
    assert!(!store.has_blob(&blob.digest), "corrupt blob survived");
    assert!(!store.has_tree(&digest));
    // The rebuild writes a fresh, good copy.
    store.put_blob(b"inner content", false).expect("put");
    assert_eq!(
        store.read_blob(&blob.digest).expect("read"),
        b"inner content"
    );
}

#[test]
fn build_locks_are_exclusive_and_released_on_drop() {
    let (_directory, store) = store();
    let key = Digest::of(b"derivation");
    let lock = store.lock_build(&key).expect("lock");
    assert!(store.try_lock_build(&key).expect("try").is_none());
    let acquired = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let _second = store.lock_build(&key).expect("lock");
            acquired.store(true, Ordering::SeqCst);
        });
        std::thread::sleep(Duration::from_millis(200));
        assert!(!acquired.load(Ordering::SeqCst), "second lock did not wait");
        drop(lock);
    });
    assert!(acquired.load(Ordering::SeqCst));
    assert!(store.try_lock_build(&key).expect("try").is_some());
}

#[test]
fn logs_are_found_by_prefix() {
    let (_directory, store) = store();
    let keys: Vec<Digest> = (0..5u8).map(|index| Digest::of(&[index])).collect();
    for key in &keys {
        store
            .write_log(key, format!("log of {key}").as_bytes())
            .expect("write");
    }
    let hex = keys[0].to_string();
    for prefix in [&hex[..1], &hex[..6], &hex[..], &hex[..8].to_uppercase()] {
        let found = store.find_logs(prefix).expect("find");
        assert!(found.iter().any(|(key, _)| *key == keys[0]), "{prefix}");
        assert!(found
            .iter()
            .all(|(key, _)| key.to_string().starts_with(&prefix.to_lowercase())));
    }
    let all = store.find_logs("").expect("all");
    assert_eq!(all.len(), 5);
    let (_, log_path) = &store.find_logs(&hex).expect("find")[0];
    assert_eq!(
        std::fs::read_to_string(log_path).expect("read"),
        format!("log of {hex}")
    );
    assert!(matches!(
        store.find_logs("xyz"),
        Err(StoreError::InvalidDigestPrefix { .. })
    ));
}

#[test]
fn open_refuses_unknown_layouts_and_foreign_directories() {
    let directory = tempfile::tempdir().expect("tempdir");
    let root = directory.path().join("store");
    imgbuild_store::Store::open(&root).expect("create");
    imgbuild_store::Store::open(&root).expect("reopen");
    std::fs::write(root.join("VERSION"), "imgbuild-store-v99\n").expect("write");
    let error = imgbuild_store::Store::open(&root).expect_err("unknown version");
    assert!(error.to_string().contains("imgbuild-store-v99"), "{error}");

    let foreign = directory.path().join("home");
    std::fs::create_dir(&foreign).expect("mkdir");
    std::fs::write(foreign.join("notes.txt"), "mine").expect("write");
    assert!(matches!(
        imgbuild_store::Store::open(&foreign),
        Err(StoreError::UnknownLayout { .. })
    ));
}

#[test]
fn many_openers_of_a_new_store_agree() {
    let directory = tempfile::tempdir().expect("tempdir");
    let root = directory.path().join("store");
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                let store = imgbuild_store::Store::open(&root).expect("open");
                store.put_blob(b"shared", false).expect("put");
            });
        }
    });
    let version = std::fs::read_to_string(root.join("VERSION")).expect("version");
    assert_eq!(version, format!("{}\n", imgbuild_store::LAYOUT_VERSION));
}
