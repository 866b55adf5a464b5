//! Output records are bound to their index entry and to the store by a MAC: a record
//! edited by hand, copied over another one or brought from another store is refused
//! (the output is rebuilt), and `store verify` reports and removes it.

mod common;

use std::path::PathBuf;

use common::store;
use imgbuild_store::{
    Digest, ObjectKind, OutputIndex, OutputLookup, OutputObject, OutputRecord, Store,
};

/// A file output holding `content`, stored.
fn file_record(store: &Store, content: &[u8]) -> OutputRecord {
    let blob = store.put_blob(content, false).expect("put blob");
    OutputRecord {
        object: OutputObject::File {
            blob: blob.digest,
            size: blob.size,
            executable: false,
        },
        secret: false,
    }
}

/// `outputs/<index>/x/<63 hex>`.
fn record_path(store: &Store, index: OutputIndex, key: &Digest) -> PathBuf {
    let hex = key.to_hex();
    let index = match index {
        OutputIndex::CacheKey => "cache-key",
        OutputIndex::Recipe => "recipe",
    };
    store
        .root()
        .join("outputs")
        .join(index)
        .join(&hex[..1])
        .join(&hex[1..])
}

/// Writes a record file by hand (creating its fan-out directory).
fn overwrite(path: &PathBuf, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, bytes).expect("write record");
}

/// The record under `(index, key)` is refused with a reason mentioning `reason`; after
/// `store verify`, which must name it, its file is gone.
fn check_refused(store: &Store, index: OutputIndex, key: &Digest, reason: &str) {
    assert_eq!(store.get_output(index, key).expect("get"), None);
    match store.lookup_output(index, key).expect("lookup") {
        OutputLookup::Rejected {
            path,
            reason: found,
        } => {
            assert_eq!(path, record_path(store, index, key));
            assert!(found.contains(reason), "{found}");
        }
        other => panic!("not refused: {other:?}"),
    }
    let report = store.verify().expect("verify");
    assert!(
        report
            .problems
            .iter()
            .any(|problem| problem.kind == ObjectKind::Output
                && problem.digest == *key
                && problem.description.contains("not authentic")),
        "verify does not report {key}: {:#?}",
        report.problems
    );
    assert!(!record_path(store, index, key).exists());
}

#[test]
fn a_record_edited_to_point_at_another_valid_blob_is_refused() {
    let (_directory, store) = store();
    let real = file_record(&store, b"the real output");
    let other = file_record(&store, b"another output!");
    let key = Digest::of(b"cache key");
    store
        .put_output(OutputIndex::CacheKey, &key, &real)
        .expect("put");
    assert_eq!(
        store.get_output(OutputIndex::CacheKey, &key).expect("get"),
        Some(real.clone())
    );
    let path = record_path(&store, OutputIndex::CacheKey, &key);
    let text = std::fs::read_to_string(&path).expect("read record");
    let (
        OutputObject::File {
            blob: real_blob, ..
        },
        OutputObject::File { blob, .. },
    ) = (&real.object, &other.object)
    else {
        panic!("file records");
    };
    let edited = text.replace(&real_blob.to_hex(), &blob.to_hex());
    assert_ne!(edited, text);
    overwrite(&path, edited.as_bytes());
    check_refused(&store, OutputIndex::CacheKey, &key, "MAC");
}

#[test]
fn a_record_copied_over_another_keys_record_is_refused() {
    let (_directory, store) = store();
    let first = file_record(&store, b"first");
    let second = file_record(&store, b"second");
    let (first_key, second_key) = (Digest::of(b"first"), Digest::of(b"second"));
    store
        .put_output(OutputIndex::Recipe, &first_key, &first)
        .expect("put");
    store
        .put_output(OutputIndex::Recipe, &second_key, &second)
        .expect("put");
    let bytes = std::fs::read(record_path(&store, OutputIndex::Recipe, &first_key)).expect("read");
    let path = record_path(&store, OutputIndex::Recipe, &second_key);
    std::fs::remove_file(&path).expect("remove");
    overwrite(&path, &bytes);
    // The copy names its own key: refused here, still good where it belongs.
    assert_eq!(
        store
            .get_output(OutputIndex::Recipe, &first_key)
            .expect("get"),
        Some(first)
    );
    check_refused(&store, OutputIndex::Recipe, &second_key, "copied");
    // And in the other index: a recipe record is not a cache-key record.
    let cache_path = record_path(&store, OutputIndex::CacheKey, &first_key);
    overwrite(&cache_path, &bytes);
    check_refused(&store, OutputIndex::CacheKey, &first_key, "copied");
}

#[test]
fn a_pair_record_answers_under_its_two_keys_only() {
    let (_directory, store) = store();
    let record = file_record(&store, b"pair");
    let (cache_key, recipe) = (Digest::of(b"cache"), Digest::of(b"recipe"));
    store
        .put_output_pair(&cache_key, &recipe, &record)
        .expect("publish");
    for (index, key) in [
        (OutputIndex::CacheKey, cache_key),
        (OutputIndex::Recipe, recipe),
    ] {
        assert_eq!(
            store.get_output(index, &key).expect("get"),
            Some(record.clone())
        );
    }
    let bytes = std::fs::read(record_path(&store, OutputIndex::Recipe, &recipe)).expect("read");
    let elsewhere = Digest::of(b"another recipe");
    overwrite(
        &record_path(&store, OutputIndex::Recipe, &elsewhere),
        &bytes,
    );
    check_refused(&store, OutputIndex::Recipe, &elsewhere, "copied");
    assert!(store.verify().expect("verify").problems.is_empty());
}

#[test]
fn a_record_from_another_store_is_refused() {
    let (_first_directory, first) = store();
    let (_second_directory, second) = store();
    let record = file_record(&first, b"same bytes in both stores");
    assert_eq!(file_record(&second, b"same bytes in both stores"), record);
    let key = Digest::of(b"key");
    first
        .put_output(OutputIndex::CacheKey, &key, &record)
        .expect("put");
    let bytes = std::fs::read(record_path(&first, OutputIndex::CacheKey, &key)).expect("read");
    overwrite(&record_path(&second, OutputIndex::CacheKey, &key), &bytes);
    check_refused(&second, OutputIndex::CacheKey, &key, "another secret key");
}

/// Records written before MACs (format version 1) read as absent — their outputs are
/// rebuilt once — and `store verify` removes them without calling them problems.
#[test]
fn version_1_records_read_as_absent_and_verify_removes_them_quietly() {
    let (_directory, store) = store();
    let record = file_record(&store, b"old");
    let key = Digest::of(b"old key");
    let path = record_path(&store, OutputIndex::Recipe, &key);
    let old = serde_json::json!({ "version": 1, "record": record });
    overwrite(&path, format!("{old}\n").as_bytes());
    assert_eq!(
        store
            .lookup_output(OutputIndex::Recipe, &key)
            .expect("lookup"),
        OutputLookup::Absent
    );
    let report = store.verify().expect("verify");
    assert!(report.problems.is_empty(), "{:#?}", report.problems);
    assert_eq!(report.outdated_records, 1);
    assert!(!path.exists());
}

/// The MAC key is derived once per `Store` value: a build of a thousand derivations
/// reads the key file once. (Here: once read, removing the file does not matter to
/// this value; a store opened afterwards has a new key and refuses the old records.)
#[test]
fn the_mac_key_is_read_once_per_store_value() {
    let (directory, store) = store();
    let record = file_record(&store, b"keyed");
    let key = Digest::of(b"key");
    store
        .put_output(OutputIndex::CacheKey, &key, &record)
        .expect("put");
    std::fs::remove_file(store.secret_key_path()).expect("remove key file");
    assert_eq!(
        store.get_output(OutputIndex::CacheKey, &key).expect("get"),
        Some(record.clone())
    );
    let reopened = Store::open(&directory.path().join("store")).expect("reopen");
    assert_eq!(
        reopened
            .get_output(OutputIndex::CacheKey, &key)
            .expect("get"),
        None
    );
}
