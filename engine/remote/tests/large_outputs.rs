//! Outputs whose parts outgrow one batch request, against a real REAPI engine
//! (BuildGrid, see `scripts/buildgrid.sh`; skipped with a message when none is
//! configured). BuildGrid refuses any gRPC message over 4 MiB, so:
//!
//! - a directory of 20 000 entries — one directory object of about 5 MiB — must cross
//!   by ByteStream, like a large file;
//! - (slow: `IMGBUILD_SLOW_TESTS=1`) a tree of 32 000 small distinct files, the size of
//!   a root filesystem — an output description of about 4.5 MiB, and 32 000 blobs
//!   whose digests weigh more on the wire than their bytes — must be split into
//!   requests that each fit.
//!
//! Every name and file names the run, so nothing the shared server already holds can
//! answer for it.

mod shared;

use imgbuild_remote::transfer::Transfer;
use imgbuild_store::{Entry, Metadata, OutputObject, OutputRecord, Store, Tree};
use imgbuild_test_support::{require, require_buildgrid, require_slow_tests};
use shared::{connect, path, unique};

/// Uploads `tree` (stored in `source`) and downloads it into a fresh store: the
/// record and the tree must arrive unchanged.
fn round_trip(endpoint: &str, directory: &tempfile::TempDir, source: &Store, tree: &Tree) {
    let client = connect(endpoint);
    let digest = source.put_tree(tree).expect("store the tree");
    let record = OutputRecord {
        object: OutputObject::Tree { tree: digest },
        secret: false,
    };
    let description = Transfer::new(&client, source)
        .upload(&record)
        .unwrap_or_else(|error| panic!("upload: {error}"));
    let target = Store::open(&directory.path().join("target")).expect("open the target store");
    let downloaded = Transfer::new(&client, &target)
        .download(description)
        .unwrap_or_else(|error| panic!("download: {error}"));
    assert_eq!(downloaded, record);
    let arrived = target.load_tree(&digest).expect("the tree arrived");
    assert!(arrived == *tree, "the tree changed on the way");
}

#[test]
fn a_directory_larger_than_a_batch_crosses_the_wire() {
    let endpoint = require!(require_buildgrid());
    let tag = unique();
    let directory = tempfile::tempdir().expect("a temporary directory");
    let source = Store::open(&directory.path().join("source")).expect("open the source store");
    let empty = source.put_blob(b"", false).expect("store an empty file");
    let mut tree = Tree::new(Metadata::default_directory());
    let padding = "x".repeat(200);
    for index in 0..20_000 {
        let name = format!("wide/{tag}-{index:05}-{padding}");
        let entry = Entry::file(empty.digest, 0, Metadata::default_file());
        tree.insert(&path(&name), entry)
            .unwrap_or_else(|error| panic!("insert {name}: {error}"));
    }
    let objects = source
        .tree_objects(&source.put_tree(&tree).expect("store the tree"))
        .expect("the tree's objects");
    let largest = objects.iter().map(|(_, bytes)| bytes.len()).max();
    assert!(
        largest > Some(4 << 20),
        "a directory object over 4 MiB: {largest:?}"
    );
    round_trip(&endpoint, &directory, &source, &tree);
}

#[test]
fn thirty_two_thousand_small_files_cross_the_wire() {
    require!(require_slow_tests());
    let endpoint = require!(require_buildgrid());
    let tag = unique();
    let directory = tempfile::tempdir().expect("a temporary directory");
    let source = Store::open(&directory.path().join("source")).expect("open the source store");
    let mut tree = Tree::new(Metadata::default_directory());
    for index in 0..32_000 {
        let info = source
            .put_blob(format!("{tag} {index}\n").as_bytes(), false)
            .expect("store a file");
        let name = format!("usr/share/{}/{index}", index / 1000);
        let entry = Entry::file(info.digest, info.size, Metadata::default_file());
        tree.insert(&path(&name), entry)
            .unwrap_or_else(|error| panic!("insert {name}: {error}"));
    }
    round_trip(&endpoint, &directory, &source, &tree);
}
