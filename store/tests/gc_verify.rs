//! Garbage collection and verification.

mod common;

use std::fs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{object_files, object_path, pseudo_random, store};
use imgbuild_store::{
    Digest, Entry, GcOptions, Metadata, ObjectKind, OutputIndex, OutputObject, OutputRecord,
    StoreError, Tree, TreePath,
};

fn tree_record(store: &imgbuild_store::Store, seed: u64) -> (OutputRecord, Digest) {
    let large = pseudo_random(seed, 5 * 1024 * 1024);
    let big = store.put_blob(&large, false).expect("put");
    let small = store.put_blob(&seed.to_le_bytes(), false).expect("put");
    let mut tree = Tree::new(Metadata::default_directory());
    let meta = Metadata::default_file();
    tree.insert(
        &TreePath::parse("data/big").expect("path"),
        Entry::file(big.digest, big.size, meta.clone()),
    )
    .expect("insert");
    tree.insert(
        &TreePath::parse("data/small").expect("path"),
        Entry::file(small.digest, small.size, meta),
    )
    .expect("insert");
    let digest = store.put_tree(&tree).expect("put tree");
    (
        OutputRecord {
            object: OutputObject::Tree { tree: digest },
            secret: false,
        },
        big.digest,
    )
}

#[test]
fn gc_keeps_rooted_outputs_and_removes_the_rest() {
    let (directory, store) = store();
    let (kept, kept_blob) = tree_record(&store, 1);
    let (dropped, dropped_blob) = tree_record(&store, 2);
    let (manifested, manifested_blob) = tree_record(&store, 3);
    let kept_key = Digest::of(b"kept");
    let dropped_key = Digest::of(b"dropped");
    for (key, record) in [(kept_key, &kept), (dropped_key, &dropped)] {
        store
            .put_output(OutputIndex::Recipe, &key, record)
            .expect("put");
        store.write_log(&key, b"log").expect("log");
    }
    store
        .add_root("release", std::slice::from_ref(&kept))
        .expect("root");
    let manifest = directory.path().join("result/.imgbuild-manifest");
    store
        .write_result_manifest(&manifest, &[("web".to_owned(), manifested.clone())])
        .expect("manifest");
    assert_eq!(
        store.read_result_manifest(&manifest).expect("read"),
        vec![("web".to_owned(), manifested.clone())]
    );
    let stale = store.root().join("tmp/.publish-stale");
    fs::write(&stale, b"partial").expect("write");

    let report = store
        .gc_with(&GcOptions {
            tmp_max_age: Duration::ZERO,
        })
        .expect("gc");
    assert!(
        report.removed_blobs >= 2 && report.removed_chunks > 0 && report.removed_trees >= 2,
        "{report:?}"
    );
    assert!(report.freed_bytes > 1024 * 1024, "{report:?}");
    assert_eq!(
        (report.removed_outputs, report.removed_logs),
        (1, 1),
        "{report:?}"
    );
    assert!(store.has_blob(&kept_blob) && store.has_blob(&manifested_blob));
    assert!(!store.has_blob(&dropped_blob));
    assert!(store
        .get_output(OutputIndex::Recipe, &kept_key)
        .expect("get")
        .is_some());
    assert!(store
        .get_output(OutputIndex::Recipe, &dropped_key)
        .expect("get")
        .is_none());
    assert!(!store
        .find_logs(&kept_key.to_string())
        .expect("logs")
        .is_empty());
    assert!(store
        .find_logs(&dropped_key.to_string())
        .expect("logs")
        .is_empty());
    assert!(!stale.exists());
    assert!(store.read_blob(&kept_blob).is_ok());

    // Deleting `result/` kills the automatic root; removing the explicit root frees the rest.
    fs::remove_dir_all(directory.path().join("result")).expect("rm result");
    store.remove_root("release").expect("remove root");
    let report = store.gc().expect("gc");
    assert_eq!(report.removed_roots, 1, "{report:?}");
    assert!(object_files(&store, "blobs").is_empty());
    assert!(object_files(&store, "chunks").is_empty());
    assert!(object_files(&store, "trees").is_empty());
    let info = store.info().expect("info");
    assert_eq!(
        (info.blobs.count, info.auto_roots.count, info.logs.count),
        (0, 0, 0)
    );
}

#[test]
fn gc_waits_for_build_sessions() {
    let (_directory, store) = store();
    let session = store.build_session().expect("session");
    let finished = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            store.gc().expect("gc");
            finished.store(true, Ordering::SeqCst);
        });
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            !finished.load(Ordering::SeqCst),
            "gc ran during a build session"
        );
        drop(session);
    });
    assert!(finished.load(Ordering::SeqCst));
}

#[test]
fn verify_quarantines_flipped_blobs_chunks_and_trees() {
    let (_directory, store) = store();
    let (record, big_blob) = tree_record(&store, 4);
    let single = store.put_blob(b"a single blob", false).expect("put");
    let mut tree = Tree::new(Metadata::default_directory());
    tree.insert(
        &TreePath::parse("x").expect("path"),
        Entry::fifo(Metadata::default_file()),
    )
    .expect("insert");
    let lonely_tree = store.put_tree(&tree).expect("put tree");
    let key = Digest::of(b"key");
    store
        .put_output(OutputIndex::CacheKey, &key, &record)
        .expect("put");

    let clean = store.verify().expect("verify");
    assert!(clean.problems.is_empty(), "{:?}", clean.problems);
    assert!(clean.checked_objects > 10 && clean.checked_bytes > 0);

    common::flip_byte(&object_path(&store, "blobs", &single.digest), 2);
    let chunk = object_files(&store, "chunks")[0].clone();
    common::flip_byte(&chunk, 5);
    common::flip_byte(&object_path(&store, "trees", &lonely_tree), 0);

    let report = store.verify().expect("verify");
    let kinds: Vec<ObjectKind> = report.problems.iter().map(|problem| problem.kind).collect();
    for expected in [
        ObjectKind::Chunk,
        ObjectKind::Blob,
        ObjectKind::Tree,
        ObjectKind::Output,
    ] {
        assert!(
            kinds.contains(&expected),
            "{expected:?} missing from {:#?}",
            report.problems
        );
    }
    assert!(report.problems.iter().any(|problem| problem.path == chunk));
    // Nothing corrupt is ever handed out again.
    assert!(matches!(
        store.read_blob(&single.digest),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.read_blob(&big_blob),
        Err(StoreError::NotFound { .. })
    ));
    assert!(!store.has_tree(&lonely_tree));
    assert_eq!(
        store.get_output(OutputIndex::CacheKey, &key).expect("get"),
        None
    );
    assert!(store.info().expect("info").quarantined.count >= 4);
    // The damaged output can be rebuilt from scratch.
    let (rebuilt, _) = tree_record(&store, 4);
    assert_eq!(rebuilt, record);
    assert!(store.verify().expect("verify").problems.is_empty());
}

/// A writer killed while publishing leaves `.publish-*` next to the object it was
/// writing, inside a fan-out directory (`objects/blobs/x/`, `outputs/recipe/x/`, ...):
/// GC removes those once they are old, wherever they are, and keeps young ones.
#[test]
fn gc_removes_stale_temporaries_inside_fan_out_directories() {
    let (_directory, store) = store();
    let blob = store.put_blob(b"kept", false).expect("put");
    let fan_out = object_path(&store, "blobs", &blob.digest)
        .parent()
        .expect("fan-out directory")
        .to_path_buf();
    let stale = [
        fan_out.join(".publish-killed"),
        store.root().join("outputs/recipe/a/.publish-killed"),
        store.root().join("logs/b/.publish-killed"),
        store.root().join("tmp/.publish-killed"),
    ];
    for path in &stale {
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(path, b"partial").expect("write");
    }
    // Root names as short as a fan-out directory's are files, not directories to search.
    store.add_root("a", &[]).expect("root");
    store.add_root("ab", &[]).expect("root");
    let young = store
        .gc_with(&GcOptions {
            tmp_max_age: Duration::from_secs(3600),
        })
        .expect("gc");
    assert!(
        stale.iter().all(|path| path.exists()),
        "a young temporary may belong to a running writer: {young:?}"
    );
    let report = store
        .gc_with(&GcOptions {
            tmp_max_age: Duration::ZERO,
        })
        .expect("gc");
    let left: Vec<_> = stale.iter().filter(|path| path.exists()).collect();
    assert!(left.is_empty(), "left behind: {left:?} ({report:?})");
    assert!(report.removed_other >= 4, "{report:?}");
}
