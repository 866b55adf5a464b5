//! `Store::diff_trees`: the differences between two stored trees, in path order, and
//! equal subtrees skipped without being read.
//!
//! Each `check` stores two trees built here, compares them both ways (the reverse
//! comparison must be the mirror image) and compares the report, one line per change,
//! with the expected lines.

mod common;

use std::collections::BTreeMap;

use imgbuild_store::{
    tree_digest, Change, DiffStatistics, Digest, Entry, EntryKind, EntrySummary, Metadata, Name,
    Store, StoreError, Tree, TreeChange, TreePath,
};

/// The file contents the tests use; their blobs are put into every test store, and the
/// report shows them by text instead of digest.
const TEXTS: &[&str] = &["one", "two", "three", "hello\n", ""];

fn meta(mode: u32, uid: u32, gid: u32, mtime: i64) -> Metadata {
    Metadata {
        mode,
        uid,
        gid,
        mtime,
        xattrs: BTreeMap::new(),
    }
}

fn file(text: &str) -> Entry {
    file_with(text, Metadata::default_file())
}

fn file_with(text: &str, meta: Metadata) -> Entry {
    assert!(TEXTS.contains(&text), "add {text:?} to TEXTS");
    Entry::file(Digest::of(text.as_bytes()), text.len() as u64, meta)
}

fn directory() -> Entry {
    Entry::directory(Metadata::default_directory())
}

fn path(text: &str) -> TreePath {
    TreePath::parse(text).expect("valid path")
}

fn new_store() -> (tempfile::TempDir, Store) {
    let (directory, store) = common::store();
    for text in TEXTS {
        store.put_blob(text.as_bytes(), false).expect("put blob");
    }
    (directory, store)
}

fn build(entries: Vec<(&str, Entry)>) -> Tree {
    let mut tree = Tree::new(Metadata::default_directory());
    for (name, entry) in entries {
        tree.insert_or_replace(&path(name), entry).expect("insert");
    }
    tree
}

fn describe(summary: &EntrySummary) -> String {
    let mut text = format!(
        "{} {:o} {}:{}",
        summary.kind, summary.mode, summary.uid, summary.gid
    );
    if let Some(size) = summary.size {
        text.push_str(&format!(" size={size}"));
    }
    if let Some(content) = &summary.content {
        let known = TEXTS
            .iter()
            .find(|known| Digest::of(known.as_bytes()).to_hex() == *content);
        match known {
            Some(known) if summary.kind == "file" => text.push_str(&format!(" {known:?}")),
            _ => text.push_str(&format!(" -> {content}")),
        }
    }
    if summary.mtime != 0 {
        text.push_str(&format!(" mtime={}", summary.mtime));
    }
    if summary.xattrs != 0 {
        text.push_str(&format!(" xattrs={}", summary.xattrs));
    }
    text
}

fn render(change: &TreeChange) -> String {
    match &change.change {
        Change::Added(summary) => format!("+ {} {}", change.path, describe(summary)),
        Change::Removed(summary) => format!("- {} {}", change.path, describe(summary)),
        Change::Changed {
            before,
            after,
            fields,
        } => format!(
            "~ {} [{}] {} => {}",
            change.path,
            fields.join(","),
            describe(before),
            describe(after)
        ),
    }
}

fn mirror(change: &TreeChange) -> TreeChange {
    let change_back = match &change.change {
        Change::Added(summary) => Change::Removed(summary.clone()),
        Change::Removed(summary) => Change::Added(summary.clone()),
        Change::Changed {
            before,
            after,
            fields,
        } => Change::Changed {
            before: after.clone(),
            after: before.clone(),
            fields: fields.clone(),
        },
    };
    TreeChange {
        path: change.path.clone(),
        change: change_back,
    }
}

fn diff(store: &Store, before: &Digest, after: &Digest) -> (Vec<TreeChange>, DiffStatistics) {
    let mut changes = Vec::new();
    let statistics = store
        .diff_trees(before, after, &mut |change| changes.push(change))
        .expect("diff");
    (changes, statistics)
}

/// Stores both trees, compares them both ways and checks the report.
fn check(before: &Tree, after: &Tree, expected: &[&str]) -> DiffStatistics {
    let (_directory, store) = new_store();
    let before_digest = store.put_tree(before).expect("put before");
    let after_digest = store.put_tree(after).expect("put after");
    let (changes, statistics) = diff(&store, &before_digest, &after_digest);
    let lines: Vec<String> = changes.iter().map(render).collect();
    assert_eq!(lines, expected, "diff before → after");
    let (backwards, _) = diff(&store, &after_digest, &before_digest);
    let mirrored: Vec<TreeChange> = changes.iter().map(mirror).collect();
    assert_eq!(
        backwards, mirrored,
        "diff after → before is the mirror image"
    );
    let (same, same_statistics) = diff(&store, &before_digest, &before_digest);
    assert!(same.is_empty());
    assert_eq!(same_statistics.skipped_subtrees, 1);
    statistics
}

#[test]
fn files_added_removed_and_changed() {
    let before = build(vec![
        ("etc/hostname", file("one")),
        ("etc/gone", file("two")),
        ("etc/passwd", file("three")),
    ]);
    let after = build(vec![
        ("etc/hostname", file("two")),
        ("etc/new", file("hello\n")),
        ("etc/passwd", file("three")),
    ]);
    check(
        &before,
        &after,
        &[
            "- /etc/gone file 644 0:0 size=3 \"two\"",
            "~ /etc/hostname [content] file 644 0:0 size=3 \"one\" => file 644 0:0 size=3 \"two\"",
            "+ /etc/new file 644 0:0 size=6 \"hello\\n\"",
        ],
    );
}

#[test]
fn metadata_changes_name_their_fields() {
    let mut with_capability = meta(0o755, 0, 0, 0);
    with_capability
        .xattrs
        .insert(b"security.capability".to_vec(), vec![1, 2]);
    let mut other_capability = with_capability.clone();
    other_capability
        .xattrs
        .insert(b"security.capability".to_vec(), vec![1, 3]);
    let before = build(vec![
        ("bin/mode", file_with("one", meta(0o644, 0, 0, 0))),
        ("bin/owner", file_with("one", meta(0o644, 0, 0, 0))),
        ("bin/group", file_with("one", meta(0o644, 0, 0, 0))),
        ("bin/time", file_with("one", meta(0o644, 0, 0, 5))),
        ("bin/ping", file_with("one", with_capability.clone())),
        ("bin/sizes", file_with("one", meta(0o644, 0, 0, 0))),
    ]);
    let after = build(vec![
        ("bin/mode", file_with("one", meta(0o4755, 0, 0, 0))),
        ("bin/owner", file_with("one", meta(0o644, 1000, 0, 0))),
        ("bin/group", file_with("one", meta(0o644, 0, 42, 0))),
        ("bin/time", file_with("one", meta(0o644, 0, 0, 6))),
        ("bin/ping", file_with("one", other_capability)),
        ("bin/sizes", file_with("three", meta(0o600, 0, 0, 1))),
    ]);
    check(
        &before,
        &after,
        &[
            "~ /bin/group [owner] file 644 0:0 size=3 \"one\" => file 644 0:42 size=3 \"one\"",
            "~ /bin/mode [mode] file 644 0:0 size=3 \"one\" => file 4755 0:0 size=3 \"one\"",
            "~ /bin/owner [owner] file 644 0:0 size=3 \"one\" => file 644 1000:0 size=3 \"one\"",
            "~ /bin/ping [xattrs] file 755 0:0 size=3 \"one\" xattrs=1 => file 755 0:0 size=3 \"one\" xattrs=1",
            "~ /bin/sizes [mode,size,content,mtime] file 644 0:0 size=3 \"one\" => file 600 0:0 size=5 \"three\" mtime=1",
            "~ /bin/time [mtime] file 644 0:0 size=3 \"one\" mtime=5 => file 644 0:0 size=3 \"one\" mtime=6",
        ],
    );
}

#[test]
fn nested_directories_in_path_order() {
    // `a` sorts before `a-c` by bytes, so `/a/...` comes before `/a-c`; `B` before `a`.
    let before = build(vec![
        ("a/b/c/file", file("one")),
        ("a/b/same", file("two")),
        ("a-c", file("one")),
        ("B", file("one")),
    ]);
    let mut after = before.clone();
    after
        .insert_or_replace(&path("a/b/c/file"), file("two"))
        .expect("replace");
    after
        .insert_or_replace(&path("a-c"), file("two"))
        .expect("replace");
    after
        .insert_or_replace(&path("B"), file("two"))
        .expect("replace");
    after
        .insert_or_replace(&path("a/b"), Entry::directory(meta(0o700, 0, 0, 0)))
        .expect("replace directory");
    after
        .insert(&path("a/b/c/file"), file("two"))
        .expect("insert");
    after
        .insert(&path("a/b/same"), file("two"))
        .expect("insert");
    let statistics = check(
        &before,
        &after,
        &[
            "~ /B [content] file 644 0:0 size=3 \"one\" => file 644 0:0 size=3 \"two\"",
            "~ /a/b [mode] directory 755 0:0 => directory 700 0:0",
            "~ /a/b/c/file [content] file 644 0:0 size=3 \"one\" => file 644 0:0 size=3 \"two\"",
            "~ /a-c [content] file 644 0:0 size=3 \"one\" => file 644 0:0 size=3 \"two\"",
        ],
    );
    // root, a, a/b, a/b/c
    assert_eq!(statistics.compared_directories, 4);
    assert_eq!(statistics.skipped_subtrees, 0);
}

#[test]
fn whole_subtrees_added_and_removed() {
    let before = build(vec![
        ("old/x/y", file("one")),
        ("old/z", Entry::fifo(meta(0o600, 0, 0, 0))),
    ]);
    let after = build(vec![
        ("new/deep/er/file", file("two")),
        (
            "new/link",
            Entry::symlink("deep/er/file", meta(0o777, 0, 0, 0)),
        ),
    ]);
    let statistics = check(
        &before,
        &after,
        &[
            "+ /new directory 755 0:0",
            "+ /new/deep directory 755 0:0",
            "+ /new/deep/er directory 755 0:0",
            "+ /new/deep/er/file file 644 0:0 size=3 \"two\"",
            "+ /new/link symlink 777 0:0 -> deep/er/file",
            "- /old directory 755 0:0",
            "- /old/x directory 755 0:0",
            "- /old/x/y file 644 0:0 size=3 \"one\"",
            "- /old/z fifo 600 0:0",
        ],
    );
    assert_eq!(statistics.compared_directories, 1);
    assert_eq!(statistics.listed_directories, 5);
}

#[test]
fn a_file_replaced_by_a_directory_and_back() {
    let before = build(vec![
        ("usr/lib", file("one")),
        ("var/run", directory()),
        ("var/run/lock", file("two")),
    ]);
    let after = build(vec![
        ("usr/lib/libc.so", file("three")),
        ("var/run", Entry::symlink("/run", meta(0o777, 0, 0, 0))),
    ]);
    check(
        &before,
        &after,
        &[
            "~ /usr/lib [kind,mode,size,content] file 644 0:0 size=3 \"one\" => directory 755 0:0",
            "+ /usr/lib/libc.so file 644 0:0 size=5 \"three\"",
            "~ /var/run [kind,mode,content] directory 755 0:0 => symlink 777 0:0 -> /run",
            "- /var/run/lock file 644 0:0 size=3 \"two\"",
        ],
    );
}

#[test]
fn hardlinks_symlinks_and_devices() {
    let device = |kind: EntryKind| Entry {
        kind,
        meta: meta(0o660, 0, 6, 0),
    };
    let before = build(vec![
        ("bin/gzip", file("one")),
        (
            "bin/gunzip",
            Entry::hardlink(path("bin/gzip"), Metadata::default_file()),
        ),
        ("bin/sh", Entry::symlink("dash", meta(0o777, 0, 0, 0))),
        (
            "dev/sda",
            device(EntryKind::BlockDevice { major: 8, minor: 0 }),
        ),
        (
            "dev/null",
            device(EntryKind::CharDevice { major: 1, minor: 3 }),
        ),
    ]);
    let after = build(vec![
        ("bin/gzip", file("two")),
        ("bin/zcat", file("two")),
        (
            "bin/gunzip",
            Entry::hardlink(path("bin/zcat"), Metadata::default_file()),
        ),
        (
            "bin/uncompress",
            Entry::hardlink(path("bin/gzip"), Metadata::default_file()),
        ),
        ("bin/sh", Entry::symlink("bash", meta(0o777, 0, 0, 0))),
        (
            "dev/sda",
            device(EntryKind::BlockDevice { major: 8, minor: 1 }),
        ),
        (
            "dev/null",
            device(EntryKind::BlockDevice { major: 1, minor: 3 }),
        ),
    ]);
    check(
        &before,
        &after,
        &[
            "~ /bin/gunzip [content] hardlink 644 0:0 -> /bin/gzip => hardlink 644 0:0 -> /bin/zcat",
            "~ /bin/gzip [content] file 644 0:0 size=3 \"one\" => file 644 0:0 size=3 \"two\"",
            "~ /bin/sh [content] symlink 777 0:0 -> dash => symlink 777 0:0 -> bash",
            "+ /bin/uncompress hardlink 644 0:0 -> /bin/gzip",
            "+ /bin/zcat file 644 0:0 size=3 \"two\"",
            "~ /dev/null [kind] char-device 660 0:6 -> 1:3 => block-device 660 0:6 -> 1:3",
            "~ /dev/sda [content] block-device 660 0:6 -> 8:0 => block-device 660 0:6 -> 8:1",
        ],
    );
}

#[test]
fn the_root_and_names_that_are_not_utf8() {
    let mut before = build(vec![("plain", file("one"))]);
    let mut after = before.clone();
    after.set_root_meta(meta(0o700, 0, 0, 0));
    let odd = |bytes: &[u8]| TreePath::from_names(vec![Name::new(bytes.to_vec()).expect("name")]);
    after
        .insert(&odd(b"caf\xe9 \\ \n"), file("two"))
        .expect("insert");
    before
        .insert(
            &odd(b"link"),
            Entry::symlink(&b"\xff\xfe"[..], meta(0o777, 0, 0, 0)),
        )
        .expect("insert");
    check(
        &before,
        &after,
        &[
            "~ / [mode] directory 755 0:0 => directory 700 0:0",
            "+ /caf\\xe9 \\\\ \\x0a file 644 0:0 size=3 \"two\"",
            "- /link symlink 777 0:0 -> \\xff\\xfe",
        ],
    );
}

#[test]
fn the_summary_carries_digests_sizes_and_serializes() {
    let before = build(vec![]);
    let after = build(vec![("etc/hostname", file("hello\n"))]);
    let (_directory, store) = new_store();
    let before_digest = store.put_tree(&before).expect("put");
    let after_digest = store.put_tree(&after).expect("put");
    let (changes, _) = diff(&store, &before_digest, &after_digest);
    let json = serde_json::to_value(&changes[1]).expect("serialize");
    assert_eq!(
        json,
        serde_json::json!({
            "path": "/etc/hostname",
            "change": "added",
            "kind": "file",
            "mode": 0o644,
            "uid": 0,
            "gid": 0,
            "size": 6,
            "content": Digest::of(b"hello\n").to_hex(),
            "mtime": 0,
            "xattrs": 0,
            "xattrs_digest": null,
        })
    );
}

/// 100 directories of 100 files each (file names differ, so every directory object does).
fn ten_thousand_files(changed: Option<(usize, usize)>) -> Tree {
    let mut tree = Tree::new(Metadata::default_directory());
    for directory in 0..100 {
        for file_number in 0..100 {
            let text = if changed == Some((directory, file_number)) {
                "two"
            } else {
                "one"
            };
            tree.insert(
                &path(&format!("d{directory:02}/f{directory:02}-{file_number:02}")),
                file(text),
            )
            .expect("insert");
        }
    }
    tree
}

#[test]
fn equal_subtrees_are_skipped_unread() {
    let before = ten_thousand_files(None);
    let after = ten_thousand_files(Some((42, 7)));
    let (_directory, store) = new_store();
    let before_digest = store.put_tree(&before).expect("put");
    let after_digest = store.put_tree(&after).expect("put");
    let expected = DiffStatistics {
        compared_directories: 2,
        skipped_subtrees: 99,
        entries_compared: 200,
        listed_directories: 0,
    };
    let (changes, statistics) = diff(&store, &before_digest, &after_digest);
    assert_eq!(statistics, expected);
    let lines: Vec<String> = changes.iter().map(render).collect();
    assert_eq!(
        lines,
        ["~ /d42/f42-07 [content] file 644 0:0 size=3 \"one\" => file 644 0:0 size=3 \"two\""]
    );

    // Delete every directory object except the two roots and the two `d42`s: the
    // comparison must not need them.
    let subdirectory = |tree: &Tree| {
        let inner = tree.directory(&path("d42")).expect("d42").clone();
        tree_digest(&Tree::from_parts(Metadata::default_directory(), inner)).expect("digest")
    };
    let keep = [
        before_digest,
        after_digest,
        subdirectory(&before),
        subdirectory(&after),
    ];
    let mut removed = 0;
    for object in common::object_files(&store, "trees") {
        let hex = format!(
            "{}{}",
            object
                .parent()
                .and_then(|parent| parent.file_name())
                .and_then(|name| name.to_str())
                .expect("fan-out directory"),
            object
                .file_name()
                .and_then(|name| name.to_str())
                .expect("name")
        );
        if !keep.iter().any(|digest| digest.to_hex() == hex) {
            std::fs::remove_file(&object).expect("remove object");
            removed += 1;
        }
    }
    assert_eq!(removed, 99, "one shared directory object per other dNN");
    let (changes_again, statistics_again) = diff(&store, &before_digest, &after_digest);
    assert_eq!(changes_again, changes);
    assert_eq!(statistics_again, expected);

    // The deleted objects are really gone: a comparison that needs one fails.
    let mut smaller = before.clone();
    smaller.remove(&path("d00")).expect("remove d00");
    let smaller_digest = store.put_tree(&smaller).expect("put");
    let error = store
        .diff_trees(&before_digest, &smaller_digest, &mut |_| {})
        .expect_err("d00 must be listed as removed, and its object is gone");
    assert!(
        matches!(error, StoreError::NotFound { .. }),
        "unexpected error: {error}"
    );
}
