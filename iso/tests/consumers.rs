//! Images read back by the real consumers: isoinfo (Rock Ridge and Joliet listings,
//! descriptor summary), xorriso (listings through Rock Ridge, Joliet and the primary
//! tree; full extraction) and blkid (type and label). Each test describes a tree as
//! data and [`check`] verifies every consumer sees exactly that tree. Without the
//! consumers (scripts/setup.sh installs them), the writer's own checks still run and
//! the rest is skipped with a message — a failure under CI.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use common::*;
use imgbuild_iso::{write_image, Attributes, Directory, Label, Volume};

/// One entry of a test tree.
enum Kind {
    File(Vec<u8>),
    /// Content supplied through the external callback under a key.
    External(u64, Vec<u8>),
    Directory,
    Symlink(String),
}

struct Entry {
    path: String,
    kind: Kind,
    mode: u32,
}

fn f(path: &str, content: &[u8], mode: u32) -> Entry {
    Entry {
        path: path.to_owned(),
        kind: Kind::File(content.to_vec()),
        mode,
    }
}

fn d(path: &str, mode: u32) -> Entry {
    Entry {
        path: path.to_owned(),
        kind: Kind::Directory,
        mode,
    }
}

fn l(path: &str, target: &str) -> Entry {
    Entry {
        path: path.to_owned(),
        kind: Kind::Symlink(target.to_owned()),
        mode: 0o777,
    }
}

fn x(path: &str, key: u64, content: &[u8]) -> Entry {
    Entry {
        path: path.to_owned(),
        kind: Kind::External(key, content.to_vec()),
        mode: 0o644,
    }
}

/// `ls -l` style mode string.
fn mode_string(kind: char, mode: u32) -> String {
    let mut text = String::from(kind);
    for shift in [6, 3, 0] {
        let bits = mode >> shift & 7;
        text.push(if bits & 4 != 0 { 'r' } else { '-' });
        text.push(if bits & 2 != 0 { 'w' } else { '-' });
        text.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    text
}

/// Deterministic pseudo-random bytes.
fn noise(length: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// What every consumer should see: path (with leading `/`) → (type, mode, entry).
fn expected_tree(entries: &[Entry]) -> BTreeMap<String, (char, u32, Option<&Entry>)> {
    let mut tree = BTreeMap::new();
    for entry in entries {
        let mut prefix = String::new();
        let components: Vec<&str> = entry.path.split('/').collect();
        for component in &components[..components.len() - 1] {
            prefix.push('/');
            prefix.push_str(component);
            tree.entry(prefix.clone()).or_insert(('d', 0o755, None));
        }
        let kind = match entry.kind {
            Kind::File(_) | Kind::External(..) => '-',
            Kind::Directory => 'd',
            Kind::Symlink(_) => 'l',
        };
        tree.insert(format!("/{}", entry.path), (kind, entry.mode, Some(entry)));
    }
    tree
}

fn build(label: &str, entries: &[Entry]) -> Volume {
    let mut root = Directory::new(Attributes::directory(0o755));
    for entry in entries {
        let node = match &entry.kind {
            Kind::File(content) => file(content, entry.mode),
            Kind::External(key, content) => external(*key, content.len() as u64, entry.mode),
            Kind::Directory => directory(entry.mode),
            Kind::Symlink(target) => symlink(target),
        };
        root.insert(&entry.path, node).expect("insert");
    }
    Volume {
        label: Label::new(label).expect("label"),
        source_date_epoch: 1_700_000_000,
        root,
    }
}

/// Asserts two path lists are equal, showing only the differences.
fn assert_same_paths<'a>(
    shown: impl IntoIterator<Item = &'a String>,
    expected: impl IntoIterator<Item = &'a String>,
    what: &str,
) {
    let shown: BTreeSet<&String> = shown.into_iter().collect();
    let expected: BTreeSet<&String> = expected.into_iter().collect();
    let missing: Vec<_> = expected.difference(&shown).collect();
    let extra: Vec<_> = shown.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: missing {missing:?}, unexpected {extra:?}"
    );
}

/// Writes the tree and checks it through every consumer.
fn check(label: &str, entries: &[Entry]) {
    let volume = build(label, entries);
    let externals: BTreeMap<u64, &[u8]> = entries
        .iter()
        .filter_map(|entry| match &entry.kind {
            Kind::External(key, content) => Some((*key, content.as_slice())),
            _ => None,
        })
        .collect();
    let mut calls: BTreeMap<u64, usize> = BTreeMap::new();
    let mut image = Vec::new();
    let written = write_image(&volume, &mut image, &mut |key, out: &mut dyn Write| {
        *calls.entry(key).or_default() += 1;
        out.write_all(externals[&key])
    })
    .expect("write image");
    assert_eq!(written, image.len() as u64);
    assert_eq!(written % 2048, 0);
    assert_eq!(imgbuild_iso::image_size(&volume).expect("size"), written);
    let nonempty: BTreeSet<u64> = externals
        .iter()
        .filter(|(_, content)| !content.is_empty())
        .map(|(key, _)| *key)
        .collect();
    assert_eq!(calls.keys().copied().collect::<BTreeSet<_>>(), nonempty);
    assert!(
        calls.values().all(|&count| count == 1),
        "each external extent is written once: {calls:?}"
    );
    if !consumers_installed() {
        return;
    }
    let (_directory, path) = temp_image(&image);
    let expected = expected_tree(entries);

    let summary = run("isoinfo", &["-d", "-i", path.to_str().expect("utf-8")]);
    assert!(
        summary.contains(&format!("Volume id: {label}\n")),
        "{summary}"
    );
    assert!(
        summary.contains("Rock Ridge signatures version 1 found"),
        "{summary}"
    );
    assert!(
        summary.contains("Joliet with UCS level 3 found"),
        "{summary}"
    );
    assert!(
        summary.contains(&format!("Volume size is: {}\n", written / 2048)),
        "{summary}"
    );

    let rock_ridge = isoinfo_listing(&path, false);
    assert_same_paths(rock_ridge.keys(), expected.keys(), "isoinfo -R names");
    for (name, (kind, mode, entry)) in &expected {
        let (shown_mode, shown_name) = &rock_ridge[name];
        assert_eq!(
            shown_mode,
            &mode_string(*kind, *mode),
            "isoinfo -R mode of {name}"
        );
        if let Some(Entry {
            kind: Kind::Symlink(target),
            ..
        }) = entry
        {
            // isoinfo drops a trailing slash when it shows a target (`/` shows as empty).
            let shown_target = shown_name.split_once(" -> ").map(|(_, target)| target);
            assert_eq!(
                shown_target,
                Some(target.trim_end_matches('/')),
                "isoinfo -R target of {name}"
            );
        }
    }

    let joliet = isoinfo_listing(&path, true);
    let expected_joliet: Vec<String> = expected.keys().map(|name| as_latin_9(name)).collect();
    assert_same_paths(joliet.keys(), &expected_joliet, "isoinfo -J names");

    let listing = xorriso_listing(&path, "any");
    assert_same_paths(listing.keys(), expected.keys(), "xorriso Rock Ridge paths");
    for (name, (kind, mode, entry)) in &expected {
        let shown = &listing[name];
        assert_eq!(
            shown.mode,
            mode_string(*kind, *mode),
            "xorriso mode of {name}"
        );
        assert_eq!(
            (shown.uid.as_str(), shown.gid.as_str()),
            ("0", "0"),
            "owner of {name}"
        );
        match entry.map(|entry| &entry.kind) {
            Some(Kind::Symlink(target)) => {
                assert_eq!(shown.target.as_deref(), Some(target.as_str()))
            }
            Some(Kind::File(content) | Kind::External(_, content)) => {
                assert_eq!(shown.size, content.len() as u64, "size of {name}")
            }
            _ => {}
        }
    }

    let joliet_listing = xorriso_listing(&path, "norock");
    assert_same_paths(
        joliet_listing.keys(),
        expected.keys(),
        "xorriso Joliet paths",
    );
    for (name, (kind, _, _)) in &expected {
        let shown = &joliet_listing[name].mode[..1];
        let expected_kind = if *kind == 'd' { "d" } else { "-" };
        assert_eq!(
            shown, expected_kind,
            "Joliet type of {name} (symlinks are empty files)"
        );
    }
    assert_eq!(
        xorriso_listing(&path, "ecma119").len(),
        expected.len(),
        "primary tree entries"
    );

    let extracted = xorriso_extract(&path);
    let root = extracted.path().join("x");
    for entry in entries {
        let on_disk = root.join(&entry.path);
        match &entry.kind {
            Kind::File(content) | Kind::External(_, content) => {
                let bytes = std::fs::read(&on_disk).expect("extracted file");
                assert!(bytes == *content, "content of {}", entry.path);
            }
            Kind::Symlink(target) => {
                let link = std::fs::read_link(&on_disk).expect("extracted symlink");
                assert_eq!(link.to_str(), Some(target.as_str()));
            }
            Kind::Directory => assert!(on_disk.is_dir()),
        }
    }

    let probe = blkid(&path);
    assert_eq!(
        probe.get("TYPE").map(String::as_str),
        Some("iso9660"),
        "{probe:?}"
    );
    assert_eq!(
        probe.get("LABEL").map(String::as_str),
        Some(label),
        "{probe:?}"
    );
}

#[test]
fn nocloud_seed() {
    check(
        "cidata",
        &[
            f(
                "meta-data",
                b"instance-id: i-0001\nlocal-hostname: vm-0001\n",
                0o644,
            ),
            f("user-data", b"#cloud-config\nusers: []\n", 0o600),
            f("network-config", b"version: 2\nethernets: {}\n", 0o644),
            f("vendor-data", b"", 0o644),
        ],
    );
}

#[test]
fn config_drive() {
    check(
        "config-2",
        &[
            f(
                "openstack/latest/meta_data.json",
                br#"{"uuid": "7f1c2e4a"}"#,
                0o644,
            ),
            f("openstack/latest/user_data", b"#cloud-config\n", 0o600),
            f(
                "openstack/latest/network_data.json",
                br#"{"links": []}"#,
                0o644,
            ),
            f("openstack/latest/vendor_data.json", b"{}", 0o644),
            f(
                "openstack/2018-08-27/meta_data.json",
                br#"{"uuid": "7f1c2e4a"}"#,
                0o644,
            ),
            f("openstack/content/0000", b"payload", 0o644),
            f("ec2/latest/meta-data.json", b"{}", 0o644),
        ],
    );
}

#[test]
fn opennebula_context() {
    check(
        "CONTEXT",
        &[
            f(
                "context.sh",
                b"# Context variables generated by OpenNebula\nHOSTNAME='vm'\n",
                0o644,
            ),
            f("init.sh", b"#!/bin/sh\necho hello\n", 0o755),
            f("token.txt", b"secret", 0o400),
        ],
    );
}

#[test]
fn deep_wide_and_odd_names() {
    let deep = (1..=10)
        .map(|level| format!("level{level}"))
        .collect::<Vec<_>>()
        .join("/");
    let mut entries = vec![
        d("private", 0o700),
        d("a-directory-with-a-long-name", 0o755),
        d("a-directory-with-a-long-name-too", 0o750),
        f("private/key", b"k", 0o400),
        f("ReadMe.TXT", b"upper", 0o644),
        f("readme.txt", b"lower", 0o600),
        f("README.txt", b"mixed", 0o640),
        f("café", b"coffee", 0o644),
        f("naïve résumé.md", b"accents", 0o644),
        f("日本語のファイル名.txt", b"japanese", 0o644),
        f(
            &"€".repeat(64),
            b"sixty-four euro signs (192 bytes: NM goes to a continuation area)",
            0o644,
        ),
        f(&format!("{}.json", "n".repeat(59)), b"64 characters", 0o644),
        f(&"e".repeat(64), b"64 characters, no extension", 0o644),
        f(
            &format!("{}d/inside", "€".repeat(63)),
            b"a directory whose NM needs a continuation area",
            0o644,
        ),
        f("archive.tar.gz", b"not really", 0o644),
        f(".hidden", b"dot file", 0o644),
        f("trailing.", b"trailing dot", 0o644),
        f("with space", b"space", 0o644),
        f("empty", b"", 0o644),
        f("a-directory-with-a-long-name/empty-too", b"", 0o644),
        f(&format!("{deep}/bottom.txt"), b"ten levels down", 0o644),
        f("big.bin", &noise(5 * 1024 * 1024 + 7, 42), 0o644),
        l("link-relative", "../x/y"),
        l("link-absolute", "/etc/passwd"),
        l("link-dot", "./ReadMe.TXT"),
        l("link-root", "/"),
        l("link-trailing", "a-directory-with-a-long-name/"),
        l("link-complex", "/a/./b/../c"),
        l(&"l".repeat(64), "target"),
        l(
            "link-long",
            &format!("/{}/y/{}", "x".repeat(300), "z/".repeat(100)),
        ),
    ];
    for index in 0..300 {
        entries.push(f(
            &format!("many/entry-number-{index:03}.txt"),
            format!("{index}\n").as_bytes(),
            0o644,
        ));
    }
    check("KITCHEN_sink-1", &entries);
}

#[test]
fn shared_external_extents() {
    let large = noise(10_000, 7);
    check(
        "EXTERNAL",
        &[
            x("first", 1, &large),
            x("same-as-first", 1, &large),
            x("nested/also-first", 1, &large),
            x("second", 2, b"three"),
            x("zero", 3, b""),
            f("inline", b"bytes", 0o644),
        ],
    );
}

#[test]
fn labels_reach_blkid() {
    imgbuild_test_support::require!(imgbuild_test_support::require_tool("blkid"));
    for label in [
        "cidata",
        "CIDATA",
        "config-2",
        "CONFIG-2",
        "CONTEXT",
        "A",
        "ABCDEFGHIJKLMNOP",
    ] {
        let image = imgbuild_iso::to_vec(&seed(label, 0)).expect("write");
        let (_directory, path) = temp_image(&image);
        let probe = blkid(&path);
        assert_eq!(
            probe.get("LABEL").map(String::as_str),
            Some(label),
            "{probe:?}"
        );
        assert_eq!(
            probe.get("TYPE").map(String::as_str),
            Some("iso9660"),
            "{probe:?}"
        );
        assert_eq!(
            probe.get("UUID").map(String::as_str),
            Some("1970-01-01-00-00-00-00"),
            "{probe:?}"
        );
    }
}
