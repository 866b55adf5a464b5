//! The result manifest's format: version 2 records each result's state on disk, and
//! version 1 manifests (written before that) are still read.

use std::fs;

use imgbuild_store::result_dir::{Placement, Written};
use imgbuild_store::{Store, StoreError};

const BLOB: &str = "8e4c7c1b99dbfd50e7a95185fead5ee1448fa904a2fdd778eaf5f2dbfd629a99";

#[test]
fn manifests_are_written_as_version_2_and_version_1_is_read() {
    let directory = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&directory.path().join("store")).expect("open");
    let manifest = directory.path().join("result/.imgbuild-manifest");
    fs::create_dir_all(directory.path().join("result")).expect("mkdir");
    let record = format!(
        r#"{{"object":{{"type":"file","blob":"{BLOB}","size":6,"executable":false}},"secret":false}}"#
    );
    let version_1 = format!(
        r#"{{"format":"imgbuild-result-manifest","version":1,"entries":[{{"name":"greeting","record":{record}}}]}}"#
    );
    fs::write(&manifest, &version_1).expect("write");
    let entries = store
        .read_result_entries(&manifest)
        .expect("read version 1");
    assert_eq!(entries.len(), 1);
    assert_eq!(
        (entries[0].name.as_str(), &entries[0].written),
        ("greeting", &None)
    );

    let mut entry = entries[0].clone();
    entry.written = Some(Written {
        placement: Placement::File,
        mode: 0o644,
        uid: 1000,
        gid: 1000,
        size: 6,
        mtime: [1_700_000_000, 5],
        ctime: [1_700_000_001, 6],
        inode: 42,
    });
    store
        .write_result_entries(&manifest, std::slice::from_ref(&entry))
        .expect("write");
    let written = fs::read_to_string(&manifest).expect("read");
    let compact: String = written.split_whitespace().collect();
    assert_eq!(
        compact,
        format!(
            r#"{{"format":"imgbuild-result-manifest","version":2,"entries":[{{"name":"greeting","record":{record},"written":{{"placement":"file","mode":420,"uid":1000,"gid":1000,"size":6,"mtime":[1700000000,5],"ctime":[1700000001,6],"inode":42}}}}]}}"#
        )
    );
    assert_eq!(store.read_result_entries(&manifest).expect("read"), [entry]);

    // A version 1 manifest cannot carry what only version 2 knows.
    fs::write(
        &manifest,
        written.replace("\"version\": 2", "\"version\": 1"),
    )
    .expect("write");
    assert!(matches!(
        store.read_result_entries(&manifest),
        Err(StoreError::InvalidManifest { .. })
    ));
}
