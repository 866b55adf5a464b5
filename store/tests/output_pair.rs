//! `put_output_pair` publishes one record under both indexes, as one file where links work.

use std::os::unix::fs::MetadataExt;

use imgbuild_store::{Digest, OutputIndex, OutputObject, OutputRecord, Store};

#[test]
fn both_indexes_answer_and_share_one_file() {
    let directory = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&directory.path().join("store")).expect("store");
    let blob = store.put_blob(b"content", false).expect("blob");
    let record = OutputRecord {
        object: OutputObject::File {
            blob: blob.digest,
            size: blob.size,
            executable: false,
        },
        secret: false,
    };
    let cache_key = Digest::of(b"cache key");
    let recipe = Digest::of(b"recipe");
    store
        .put_output_pair(&cache_key, &recipe, &record)
        .expect("publish");
    assert_eq!(
        store
            .get_output(OutputIndex::CacheKey, &cache_key)
            .expect("read"),
        Some(record.clone())
    );
    assert_eq!(
        store
            .get_output(OutputIndex::Recipe, &recipe)
            .expect("read"),
        Some(record.clone())
    );
    // A second publication (e.g. the recipe entry already exists) still succeeds.
    store
        .put_output_pair(&cache_key, &recipe, &record)
        .expect("publish again");
    let hex = recipe.to_hex();
    let path = directory
        .path()
        .join("store/outputs/recipe")
        .join(&hex[..1])
        .join(&hex[1..]);
    let links = std::fs::metadata(&path).expect("recipe record").nlink();
    assert!(links >= 1);
    // Removing one index entry leaves the other intact.
    store
        .remove_output(OutputIndex::CacheKey, &cache_key)
        .expect("remove");
    assert_eq!(
        store
            .get_output(OutputIndex::Recipe, &recipe)
            .expect("read"),
        Some(record)
    );
    assert_eq!(store.verify().expect("verify").problems.len(), 0);
}
