//! `repair_output`: a missing or corrupt object below an output is reported (with the
//! path inside the output that needs it), and the objects that lead to it are cleared so
//! that the record reads as absent and a rebuild writes everything missing again.

mod common;

use std::path::PathBuf;

use common::{object_files, object_path, pseudo_random, store};
use imgbuild_store::{
    Digest, Entry, Metadata, ObjectKind, OutputIndex, OutputObject, OutputRecord, Store, Tree,
    TreePath, VerifyProblem,
};

/// Stores a tree `small.txt`, `sub/big.bin` (chunked) and returns its record and the
/// two blobs' digests. Deterministic: calling it again writes the same objects.
fn site(store: &Store) -> (OutputRecord, Digest, Digest) {
    let small = store.put_blob(b"small\n", false).expect("put");
    let big = store
        .put_blob(&pseudo_random(7, 5 << 20), false)
        .expect("put");
    let mut tree = Tree::new(Metadata::default_directory());
    for (path, blob) in [("small.txt", small), ("sub/big.bin", big)] {
        tree.insert(
            &TreePath::parse(path).expect("path"),
            Entry::file(blob.digest, blob.size, Metadata::default_file()),
        )
        .expect("insert");
    }
    let root = store.put_tree(&tree).expect("put tree");
    let record = OutputRecord {
        object: OutputObject::Tree { tree: root },
        secret: false,
    };
    (record, small.digest, big.digest)
}

/// Every object file in the store.
fn all_objects(store: &Store) -> Vec<PathBuf> {
    ["blobs", "chunks", "trees"]
        .into_iter()
        .flat_map(|kind| object_files(store, kind))
        .collect()
}

/// The digest an object file is named by: its fan-out directory's name, then its own.
fn digest_of(path: &std::path::Path) -> Digest {
    let name = |path: &std::path::Path| {
        path.file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let parent = path.parent().map(name).unwrap_or_default();
    format!("{parent}{}", name(path)).parse().expect("digest")
}

/// Damages a fresh store with `damage`, then: `repair_output` reports exactly one
/// problem of `kind` whose text mentions `mentions`; the output's record reads as
/// absent; storing the output again heals it completely.
fn check(damage: impl FnOnce(&Store, Digest, Digest) -> Digest, kind: ObjectKind, mentions: &str) {
    let (_directory, store) = store();
    let (record, small, big) = site(&store);
    let key = Digest::of(b"site");
    store
        .put_output(OutputIndex::Recipe, &key, &record)
        .expect("put");
    let damaged = damage(&store, small, big);

    let problems = store.repair_output(&record).expect("repair");
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let VerifyProblem {
        kind: found_kind,
        digest,
        ..
    } = &problems[0];
    assert_eq!((*found_kind, *digest), (kind, damaged), "{problems:#?}");
    let text = problems[0].to_string();
    assert!(text.contains(mentions), "{text}");
    assert!(text.starts_with(&format!("{kind} {damaged}: ")), "{text}");
    assert_eq!(
        store.get_output(OutputIndex::Recipe, &key).expect("get"),
        None,
        "the damaged output must read as absent"
    );

    let (rebuilt, _, _) = site(&store);
    assert_eq!(rebuilt, record);
    store
        .put_output(OutputIndex::Recipe, &key, &rebuilt)
        .expect("put");
    assert!(store.repair_output(&record).expect("repair").is_empty());
    assert!(store.verify().expect("verify").problems.is_empty());
    assert_eq!(
        store.read_blob(&big).expect("read").len(),
        5 << 20,
        "healed"
    );
}

#[test]
fn a_missing_blob_is_named_with_its_path_and_cleared_up_to_the_top() {
    check(
        |store, small, _| {
            std::fs::remove_file(object_path(store, "blobs", &small)).expect("rm");
            small
        },
        ObjectKind::Blob,
        "missing from the store (needed by `small.txt`)",
    );
}

#[test]
fn a_missing_chunk_clears_its_blob_so_that_the_rebuild_writes_it_again() {
    check(
        |store, _, _| {
            let chunk = object_files(store, "chunks")[3].clone();
            std::fs::remove_file(&chunk).expect("rm");
            digest_of(&chunk)
        },
        ObjectKind::Chunk,
        "needed by `sub/big.bin`",
    );
}

#[test]
fn a_missing_subdirectory_is_named() {
    check(
        |store, _, _| {
            let (record, _, _) = site(store);
            let OutputObject::Tree { tree: top } = record.object else {
                panic!("a tree")
            };
            let sub = object_files(store, "trees")
                .into_iter()
                .find(|path| *path != object_path(store, "trees", &top))
                .expect("the sub directory");
            std::fs::remove_file(&sub).expect("rm");
            digest_of(&sub)
        },
        ObjectKind::Tree,
        "needed by `sub`",
    );
}

#[test]
fn a_corrupt_blob_is_quarantined() {
    check(
        |store, small, _| {
            common::flip_byte(&object_path(store, "blobs", &small), 1);
            small
        },
        ObjectKind::Blob,
        "content does not match its digest",
    );
}

#[test]
fn a_complete_output_is_left_untouched() {
    let (_directory, store) = store();
    let (record, _, _) = site(&store);
    let before = all_objects(&store);
    assert!(store.repair_output(&record).expect("repair").is_empty());
    assert_eq!(all_objects(&store), before);
    // Invalidation removes the top object even when nothing below it is wrong.
    assert!(store
        .invalidate_object(&record)
        .expect("invalidate")
        .is_empty());
    assert!(!store.has_top_object(&record));
}
