//! Golden vectors for the tree encoding and the output digest, and property tests.
//!
//! A change to either encoding changes identities users rely on (cache keys,
//! result manifests); it must show up here as a failing test and come with a
//! version bump of the encoding prefix.

use std::collections::BTreeMap;

use imgbuild_store::tree_encoding::encode_tree;
use imgbuild_store::{
    tree_digest, Digest, Entry, EntryKind, Metadata, OutputObject, OutputRecord, Tree, TreePath,
};
use proptest::prelude::*;

fn path(text: &str) -> TreePath {
    TreePath::parse(text).expect("valid path")
}

fn meta(mode: u32, uid: u32, gid: u32, mtime: i64) -> Metadata {
    Metadata {
        mode,
        uid,
        gid,
        mtime,
        xattrs: BTreeMap::new(),
    }
}

/// Builds a tree from `(path, entry)` pairs under a 0755 root owned by 0:0.
fn tree(entries: Vec<(&str, Entry)>) -> Tree {
    let mut tree = Tree::new(Metadata::default_directory());
    for (name, entry) in entries {
        tree.insert(&path(name), entry).expect("insert");
    }
    tree
}

fn check(tree: &Tree, expected: &str) {
    assert_eq!(tree_digest(tree).expect("digest").to_string(), expected);
}

fn blob(text: &str) -> Digest {
    Digest::of(text.as_bytes())
}

#[test]
fn golden_empty_tree() {
    let empty = tree(vec![]);
    check(
        &empty,
        "a1851b548facee44426a43a8a68d2a30aaa9af04e209873f40803a4d30ee59fe",
    );
    // The whole encoding of the empty tree, byte by byte.
    let objects = encode_tree(&empty).expect("encode");
    assert_eq!(objects.len(), 1);
    assert_eq!(
        hex(&objects[0].1),
        concat!(
            "696d676275696c642d747265652d763100", // "imgbuild-tree-v1\0"
            "ed010000",                           // mode 0o755
            "00000000",                           // uid 0
            "00000000",                           // gid 0
            "0000000000000000",                   // mtime 0
            "00000000",                           // no xattrs
            "00000000",                           // no entries
        )
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[test]
fn golden_file_symlink_and_subdirectory() {
    check(
        &tree(vec![
            (
                "hello.txt",
                Entry::file(blob("hello\n"), 6, meta(0o644, 0, 0, 1_700_000_000)),
            ),
            (
                "link",
                Entry::symlink("hello.txt", meta(0o777, 0, 0, 1_700_000_000)),
            ),
            ("sub", Entry::directory(meta(0o750, 1000, 1000, 0))),
            (
                "sub/inner",
                Entry::file(blob(""), 0, meta(0o600, 1000, 1000, 0)),
            ),
        ]),
        "81284a35d04cbbf547f37d29a367b57e64af57b1d979dab7ebd2f5e30dd4bb10",
    );
}

#[test]
fn golden_setuid_file_owned_by_root() {
    check(
        &tree(vec![(
            "usr/bin/passwd",
            Entry::file(blob("passwd"), 6, meta(0o4755, 0, 0, 0)),
        )]),
        "0704b32ea5b335656d44814df9f807a28c50a1a483c9831c88422dc156aafbbb",
    );
}

#[test]
fn golden_fifo_and_char_device() {
    check(
        &tree(vec![
            (
                "dev/null",
                Entry {
                    kind: EntryKind::CharDevice { major: 1, minor: 3 },
                    meta: meta(0o666, 0, 0, 0),
                },
            ),
            ("run/pipe", Entry::fifo(meta(0o600, 0, 0, 0))),
            (
                "dev/sda",
                Entry {
                    kind: EntryKind::BlockDevice { major: 8, minor: 0 },
                    meta: meta(0o660, 0, 6, 0),
                },
            ),
        ]),
        "74fdd91e241202d9a1389d031f4c2ee13f0765d2dce7f53f48e4ec6168e3b740",
    );
}

#[test]
fn golden_xattrs() {
    let mut file_meta = meta(0o755, 0, 0, 0);
    file_meta.xattrs.insert(
        b"security.capability".to_vec(),
        vec![1, 0, 0, 2, 0, 32, 0, 0],
    );
    file_meta
        .xattrs
        .insert(b"user.note".to_vec(), b"hi".to_vec());
    check(
        &tree(vec![("bin/ping", Entry::file(blob("ping"), 4, file_meta))]),
        "e0fe49ca671fbf3f66d36c0d4e0121b00879d31cd5fc9cdce19c9ec40ef9a2ed",
    );
}

#[test]
fn golden_hardlink() {
    check(
        &tree(vec![
            ("a", Entry::file(blob("shared"), 6, meta(0o644, 0, 0, 0))),
            ("b/c", Entry::hardlink(path("a"), meta(0o644, 0, 0, 0))),
        ]),
        "23f8188f3afd823cfe5367322c89e53537656be71fd5666824ef791a26fbfc76",
    );
}

#[test]
fn golden_output_digests() {
    let file = OutputRecord {
        object: OutputObject::File {
            blob: blob("hello\n"),
            size: 6,
            executable: false,
        },
        secret: false,
    };
    assert_eq!(
        file.digest().to_string(),
        "244206b3e9a448600d538f00c1fb702e645a5f906a220756bcf72d8e54a1cd3c"
    );
    let executable = OutputRecord {
        object: OutputObject::File {
            blob: blob("hello\n"),
            size: 6,
            executable: true,
        },
        secret: false,
    };
    assert_eq!(
        executable.digest().to_string(),
        "bb2ee4eeb7fec8b0dfee8a96f78a10ddd5f4e3317d3161cb6bae637ba269883d"
    );
    let tree_record = OutputRecord {
        object: OutputObject::Tree {
            tree: tree_digest(&tree(vec![])).expect("digest"),
        },
        secret: false,
    };
    assert_eq!(
        tree_record.digest().to_string(),
        "3300bbd9482bd03b2f3585f652de3e0bdae1913ec346c6816d17885a39779db6"
    );
    // `secret` changes storage, not identity.
    let secret = OutputRecord {
        secret: true,
        ..file.clone()
    };
    assert_eq!(secret.digest(), file.digest());
}

fn name_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("a-b".to_owned()),
        Just("B".to_owned()),
        "[a-z]{1,6}",
    ]
}

fn leaf_strategy() -> impl Strategy<Value = Entry> {
    let metadata = (
        0u32..=0o7777,
        0u32..3,
        0u32..3,
        -5i64..5,
        proptest::collection::btree_map(
            "user\\.[a-z]{1,4}".prop_map(String::into_bytes),
            proptest::collection::vec(any::<u8>(), 0..4),
            0..2,
        ),
    )
        .prop_map(|(mode, uid, gid, mtime, xattrs)| Metadata {
            mode,
            uid,
            gid,
            mtime,
            xattrs,
        });
    (0u8..5, metadata, any::<[u8; 4]>(), 0u64..100).prop_map(|(kind, meta, seed, size)| {
        let kind = match kind {
            0 => EntryKind::File {
                blob: Digest::of(&seed),
                size,
            },
            1 => EntryKind::Symlink {
                target: format!("t{}", seed[0]).into_bytes(),
            },
            2 => EntryKind::CharDevice {
                major: u32::from(seed[0]),
                minor: u32::from(seed[1]),
            },
            3 => EntryKind::Fifo,
            _ => EntryKind::Directory(Default::default()),
        };
        Entry { kind, meta }
    })
}

fn entries_strategy() -> impl Strategy<Value = Vec<(String, Entry)>> {
    proptest::collection::vec(
        (
            proptest::collection::vec(name_strategy(), 1..4),
            leaf_strategy(),
        )
            .prop_map(|(names, entry)| (names.join("/"), entry)),
        0..12,
    )
}

/// Inserts what can be inserted (later conflicting paths are skipped).
fn build(entries: &[(String, Entry)]) -> Tree {
    let mut tree = Tree::new(Metadata::default_directory());
    for (name, entry) in entries {
        let _ = tree.insert(&path(name), entry.clone());
    }
    tree
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn encoding_round_trips_through_a_store(entries in entries_strategy()) {
        let directory = tempfile::tempdir().expect("tempdir");
        let store = imgbuild_store::Store::open(directory.path()).expect("open");
        let mut tree = build(&entries);
        // Blobs must exist: store one per file entry and point the file at it.
        let files: Vec<(TreePath, Entry)> = tree
            .walk()
            .filter(|(_, entry)| matches!(entry.kind, EntryKind::File { .. }))
            .map(|(path, entry)| (path, entry.clone()))
            .collect();
        for (file_path, entry) in files {
            let content = file_path.to_string().into_bytes();
            let info = store.put_blob(&content, false).expect("put blob");
            let replacement = Entry::file(info.digest, info.size, entry.meta);
            tree.insert_or_replace(&file_path, replacement).expect("replace");
        }
        let digest = store.put_tree(&tree).expect("put tree");
        prop_assert_eq!(digest, tree_digest(&tree).expect("digest"));
        let loaded = store.load_tree(&digest).expect("load");
        prop_assert_eq!(&loaded, &tree);
        prop_assert_eq!(tree_digest(&loaded).expect("digest"), digest);
    }

    #[test]
    fn insertion_order_does_not_change_the_digest(entries in entries_strategy()) {
        // Only non-conflicting entries, so every order builds the same tree.
        let forward = build(&entries);
        let kept: Vec<(String, Entry)> = forward
            .walk()
            .filter(|(_, entry)| !matches!(entry.kind, EntryKind::Directory(_)))
            .map(|(path, entry)| (path.to_string(), entry.clone()))
            .collect();
        let directories: Vec<(String, Entry)> = forward
            .walk()
            .filter_map(|(path, entry)| match entry.kind {
                EntryKind::Directory(_) => Some((path.to_string(), Entry {
                    kind: EntryKind::Directory(Default::default()),
                    meta: entry.meta.clone(),
                })),
                _ => None,
            })
            .collect();
        let mut reversed = Tree::new(Metadata::default_directory());
        for (name, entry) in kept.iter().rev() {
            reversed.insert(&path(name), entry.clone()).expect("insert");
        }
        // Parents created implicitly get default metadata; restore the originals.
        for (name, entry) in directories.iter().rev() {
            let existing = reversed.get(&path(name)).cloned();
            let children = match existing.map(|entry| entry.kind) {
                Some(EntryKind::Directory(children)) => children,
                _ => Default::default(),
            };
            reversed
                .insert_or_replace(&path(name), Entry { kind: EntryKind::Directory(children), meta: entry.meta.clone() })
                .expect("replace");
        }
        prop_assert_eq!(tree_digest(&reversed).expect("digest"), tree_digest(&forward).expect("digest"));
    }
}
