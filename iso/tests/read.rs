//! The reader (`imgbuild_iso::read`) against our own writer (Rock Ridge, and Joliet or
//! plain names when Rock Ridge is switched off by patching the image), against images
//! made by xorriso and genisoimage, and against truncated and corrupted images, which
//! must give errors and never panics.

mod common;

use std::io::Cursor;
use std::process::Command;

use common::*;
use imgbuild_iso::read::{volume_id, EntryKind, IsoReader, Limits, Naming, ReadError};
use imgbuild_iso::{to_vec, Node};
use imgbuild_test_support::require_tool;

const EPOCH: i64 = 1_700_000_000;

fn sample() -> Vec<u8> {
    let mut entries: Vec<(String, Node)> = vec![
        ("meta-data".into(), file(b"instance-id: x\n", 0o644)),
        ("user-data".into(), file(b"#cloud-config\n", 0o600)),
        ("context.sh".into(), file(b"A='b'\n", 0o400)),
        ("init.sh".into(), file(b"#!/bin/sh\n", 0o755)),
        ("empty".into(), file(b"", 0o644)),
        ("é".repeat(64), file(b"long name", 0o644)),
        ("café".into(), file(b"accent", 0o644)),
        (
            "openstack/latest/meta_data.json".into(),
            file(b"{\"uuid\": \"u\"}", 0o644),
        ),
        (
            "openstack/content/0000".into(),
            file(&vec![7u8; 70_000], 0o600),
        ),
        ("a/b/c/d/e/f/g/h/i/j/k".into(), file(b"deep", 0o644)),
        ("link".into(), symlink("/etc/passwd")),
    ];
    for index in 0..150 {
        entries.push((format!("many/entry-{index:03}"), file(b"m", 0o644)));
    }
    to_vec(&volume("cidata", EPOCH, entries)).expect("write")
}

fn open(image: &[u8]) -> IsoReader<Cursor<&[u8]>> {
    IsoReader::open(Cursor::new(image), Limits::default()).expect("open")
}

#[test]
fn reads_back_what_the_writer_wrote() {
    let image = sample();
    assert_eq!(
        volume_id(&mut Cursor::new(&image[..])).expect("read"),
        Some("cidata".to_owned())
    );
    let mut reader = open(&image);
    assert_eq!(reader.naming(), Naming::RockRidge);
    assert_eq!(reader.volume_id(), "cidata");
    assert_eq!(
        reader.read_file("meta-data").expect("meta"),
        b"instance-id: x\n"
    );
    assert_eq!(
        reader.read_file("/user-data").expect("user"),
        b"#cloud-config\n"
    );
    assert_eq!(reader.read_file("empty").expect("empty"), b"");
    assert_eq!(
        reader.read_file(&"é".repeat(64)).expect("long"),
        b"long name"
    );
    assert_eq!(reader.read_file("café").expect("accent"), b"accent");
    assert_eq!(
        reader
            .read_file("openstack/latest/meta_data.json")
            .expect("json"),
        b"{\"uuid\": \"u\"}"
    );
    assert_eq!(
        reader.read_file("openstack/content/0000").expect("big"),
        vec![7u8; 70_000]
    );
    let init = reader.entry("init.sh").expect("entry").expect("exists");
    assert_eq!(init.mode, Some(0o100_755));
    assert_eq!(
        reader.entry("link").expect("entry").expect("exists").kind,
        EntryKind::Symlink
    );
    assert!(reader.entry("nothing").expect("lookup").is_none());
    let many = reader.list("many").expect("list");
    assert_eq!(many.len(), 150);
    assert!(many.iter().any(|entry| entry.name == "entry-149"));
    let root: Vec<String> = reader
        .list("")
        .expect("root")
        .into_iter()
        .map(|entry| entry.name)
        .collect();
    for name in ["meta-data", "user-data", "openstack", "many", "context.sh"] {
        assert!(root.contains(&name.to_owned()), "{name} in {root:?}");
    }
    assert!(matches!(
        reader.read_file("openstack"),
        Err(ReadError::IsADirectory(_))
    ));
    assert!(matches!(
        reader.list("meta-data"),
        Err(ReadError::NotADirectory(_))
    ));
    assert!(matches!(
        reader.read_file("meta-data/x"),
        Err(ReadError::NotADirectory(_))
    ));
    assert!(matches!(
        reader.read_file("a/b/c/d/e/f/g/h/i/j/k"),
        Err(ReadError::TooDeep { limit: 8, .. })
    ));
    let mut deep = IsoReader::open(
        Cursor::new(&image[..]),
        Limits {
            max_depth: 16,
            ..Limits::default()
        },
    )
    .expect("open");
    assert_eq!(
        deep.read_file("a/b/c/d/e/f/g/h/i/j/k").expect("deep"),
        b"deep"
    );
}

#[test]
fn limits_are_enforced() {
    let image = sample();
    let mut small = IsoReader::open(
        Cursor::new(&image[..]),
        Limits {
            max_file_size: 1000,
            ..Limits::default()
        },
    )
    .expect("open");
    assert!(matches!(
        small.read_file("openstack/content/0000"),
        Err(ReadError::TooLarge {
            size: 70_000,
            limit: 1000,
            ..
        })
    ));
    let mut few = IsoReader::open(
        Cursor::new(&image[..]),
        Limits {
            max_entries: 100,
            ..Limits::default()
        },
    )
    .expect("open");
    assert!(matches!(
        few.list("many"),
        Err(ReadError::TooManyEntries(100))
    ));
}

/// Removes the `SP` entry of the root "." record, so Rock Ridge is not in use.
fn without_rock_ridge(image: &[u8]) -> Vec<u8> {
    let mut image = image.to_vec();
    let root_lba = u32::from_le_bytes(
        image[16 * 2048 + 158..16 * 2048 + 162]
            .try_into()
            .expect("4"),
    );
    let sp = root_lba as usize * 2048 + 34;
    assert_eq!(&image[sp..sp + 2], b"SP");
    image[sp..sp + 2].copy_from_slice(b"XX");
    image
}

#[test]
fn joliet_then_plain_names_without_rock_ridge() {
    let image = without_rock_ridge(&sample());
    let mut reader = open(&image);
    assert_eq!(reader.naming(), Naming::Joliet);
    assert_eq!(
        reader.read_file("meta-data").expect("meta"),
        b"instance-id: x\n"
    );
    assert_eq!(
        reader.read_file("META-DATA").expect("case"),
        b"instance-id: x\n"
    );
    assert_eq!(reader.read_file("café").expect("accent"), b"accent");
    assert_eq!(
        reader
            .read_file("openstack/latest/meta_data.json")
            .expect("json"),
        b"{\"uuid\": \"u\"}"
    );
    // Without the Joliet descriptor (type 2 → an unknown type 3), plain names.
    let mut plain = image.clone();
    plain[17 * 2048] = 3;
    let mut reader = open(&plain);
    assert_eq!(reader.naming(), Naming::Plain);
    let names: Vec<String> = reader
        .list("/")
        .expect("root")
        .into_iter()
        .map(|entry| entry.name)
        .collect();
    assert!(names.contains(&"meta_dat".to_owned()), "{names:?}");
    assert!(names.contains(&"openstac".to_owned()), "{names:?}");
}

/// A deterministic xorshift generator: the corruption test needs no crate.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Reads everything a reader shows, to depth 4, ignoring errors.
fn exercise(image: &[u8]) {
    let Ok(mut reader) = IsoReader::open(Cursor::new(image), Limits::default()) else {
        return;
    };
    let mut pending = vec![String::new()];
    while let Some(directory) = pending.pop() {
        let Ok(entries) = reader.list(&directory) else {
            continue;
        };
        for entry in entries {
            let path = format!("{directory}/{}", entry.name);
            if entry.kind == EntryKind::Directory && path.matches('/').count() < 4 {
                pending.push(path);
            } else {
                let _ = reader.read_file(&path);
            }
        }
    }
}

#[test]
fn corrupted_and_truncated_images_give_errors() {
    let image = sample();
    let metadata_end = 40 * 2048;
    let mut random = Random(0x9E37_79B9_7F4A_7C15);
    for _ in 0..600 {
        let mut corrupted = image.clone();
        for _ in 0..1 + random.next() % 12 {
            let at = (random.next() % metadata_end as u64) as usize;
            corrupted[at] = random.next() as u8;
        }
        exercise(&corrupted);
    }
    for length in (0..metadata_end).step_by(997) {
        exercise(&image[..length]);
    }
    assert!(matches!(
        IsoReader::open(Cursor::new(&image[..1000]), Limits::default()),
        Err(ReadError::NotIso9660)
    ));
    assert!(matches!(
        IsoReader::open(Cursor::new(&vec![0u8; 40_000][..]), Limits::default()),
        Err(ReadError::NotIso9660)
    ));
}

#[test]
fn cyclic_continuation_areas_end() {
    // A root "." record whose CE points at itself: the chain limit ends it.
    let mut image = sample();
    let root_lba = u32::from_le_bytes(
        image[16 * 2048 + 158..16 * 2048 + 162]
            .try_into()
            .expect("4"),
    );
    let dot = root_lba as usize * 2048;
    let length = usize::from(image[dot]);
    let system_use = &image[dot + 34..dot + length];
    let ce = system_use
        .windows(2)
        .position(|window| window == b"CE")
        .expect("root has CE")
        + dot
        + 34;
    // Point the CE at the root "." record's own system use area (SP ... CE ...).
    let offset = 34u32;
    image[ce + 4..ce + 8].copy_from_slice(&root_lba.to_le_bytes());
    image[ce + 8..ce + 12].copy_from_slice(&root_lba.to_be_bytes());
    image[ce + 12..ce + 16].copy_from_slice(&offset.to_le_bytes());
    image[ce + 16..ce + 20].copy_from_slice(&offset.to_be_bytes());
    let area = (length - 34) as u32;
    image[ce + 20..ce + 24].copy_from_slice(&area.to_le_bytes());
    image[ce + 24..ce + 28].copy_from_slice(&area.to_be_bytes());
    let error = IsoReader::open(Cursor::new(&image[..]), Limits::default()).expect_err("cycle");
    assert!(error.to_string().contains("continuation"), "{error}");
}

fn tool_image(tool: &str, arguments: &[&str]) -> Option<Vec<u8>> {
    let program = require_tool(tool)?;
    let directory = tempfile::tempdir().expect("tempdir");
    let source = directory.path().join("source");
    std::fs::create_dir_all(source.join("openstack/latest")).expect("mkdir");
    std::fs::write(source.join("meta-data"), "instance-id: i-1\n").expect("write");
    std::fs::write(source.join("user-data"), "#cloud-config\n").expect("write");
    std::fs::write(source.join("openstack/latest/meta_data.json"), "{}").expect("write");
    std::fs::write(source.join("a-rather-long-file-name-for-iso.json"), "x").expect("write");
    let output = directory.path().join("out.iso");
    let status = Command::new(program)
        .args(arguments)
        .arg("-o")
        .arg(&output)
        .arg(&source)
        .output()
        .expect("run");
    assert!(
        status.status.success(),
        "{tool}: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    Some(std::fs::read(&output).expect("read image"))
}

fn check_tool_image(image: &[u8], label: &str, naming: Naming) {
    let mut reader = open(image);
    assert_eq!(reader.volume_id(), label);
    assert_eq!(reader.naming(), naming);
    assert_eq!(
        reader.read_file("meta-data").expect("meta"),
        b"instance-id: i-1\n"
    );
    assert_eq!(
        reader.read_file("user-data").expect("user"),
        b"#cloud-config\n"
    );
    assert_eq!(
        reader
            .read_file("openstack/latest/meta_data.json")
            .expect("json"),
        b"{}"
    );
    assert_eq!(
        reader
            .read_file("a-rather-long-file-name-for-iso.json")
            .expect("long"),
        b"x"
    );
}

#[test]
fn reads_xorriso_images() {
    let Some(image) = tool_image(
        "xorriso",
        &["-as", "mkisofs", "-quiet", "-V", "CONTEXT", "-J", "-R"],
    ) else {
        return;
    };
    check_tool_image(&image, "CONTEXT", Naming::RockRidge);
}

#[test]
fn reads_genisoimage_images() {
    let Some(image) = tool_image("genisoimage", &["-quiet", "-V", "cidata", "-J", "-r"]) else {
        return;
    };
    check_tool_image(&image, "cidata", Naming::RockRidge);
    let Some(rock) = tool_image("genisoimage", &["-quiet", "-V", "cidata", "-R"]) else {
        return;
    };
    check_tool_image(&rock, "cidata", Naming::RockRidge);
    let Some(joliet) = tool_image("genisoimage", &["-quiet", "-V", "config-2", "-J"]) else {
        return;
    };
    check_tool_image(&joliet, "config-2", Naming::Joliet);
}
