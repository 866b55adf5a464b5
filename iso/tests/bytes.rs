//! Byte-level checks with an independent reader (tests/common/image.rs): the root "."
//! record rules blkid ≥ 2.42 and Linux rely on, the volume descriptors, path tables,
//! directory structure of both trees, determinism and size.

mod common;

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::ops::Range;

use common::image::{
    both_16, both_32, compare_primary, path_table, rock_ridge_name, system_use_entries, walk,
    Record, SECTOR,
};
use common::*;
use imgbuild_iso::{image_size, to_vec, write_image, Node, Volume};

const PVD: usize = 16 * SECTOR;
const SVD: usize = 17 * SECTOR;
const EPOCH: i64 = 1_700_000_000;

/// A tree exercising multi-sector directories, continuation areas, name collisions,
/// nesting and symlinks.
fn sample(epoch: i64) -> Volume {
    let mut entries: Vec<(String, Node)> = vec![
        ("meta-data".into(), file(b"instance-id: x\n", 0o644)),
        ("user-data".into(), file(b"#cloud-config\n", 0o600)),
        ("ReadMe.TXT".into(), file(b"a", 0o644)),
        ("readme.txt".into(), file(b"b", 0o644)),
        ("café".into(), file(b"c", 0o644)),
        ("€".repeat(64), file(b"d", 0o644)),
        ("empty".into(), file(b"", 0o644)),
        ("openstack/latest/meta_data.json".into(), file(b"{}", 0o644)),
        (
            "openstack/2018-08-27/meta_data.json".into(),
            file(b"{}", 0o644),
        ),
        ("a/b/c/d/e/f/g/h/i/j/k".into(), file(b"deep", 0o644)),
        ("link".into(), symlink(&format!("/{}/y", "x".repeat(400)))),
        ("dot-link".into(), symlink("../up")),
    ];
    for index in 0..300 {
        entries.push((
            format!("many/entry-{index:03}.txt"),
            file(index.to_string().as_bytes(), 0o644),
        ));
    }
    for index in 0..20 {
        entries.push((
            format!("many/sub-directory-{index:02}/x"),
            file(b"x", 0o644),
        ));
    }
    volume("SAMPLE", epoch, entries)
}

fn image_of(volume: &Volume) -> Vec<u8> {
    to_vec(volume).expect("write image")
}

#[test]
fn root_dot_record_carries_sp_and_er() {
    let image = image_of(&seed("cidata", EPOCH));
    let descriptor_root = PVD + 156;
    assert_eq!(&image[descriptor_root..descriptor_root + 1], &[34]);
    assert_eq!(&image[descriptor_root + 32..descriptor_root + 34], &[1, 0]);
    assert_eq!(image[descriptor_root + 25], 2);
    let root_lba = both_32(&image, descriptor_root + 2);
    let first = root_lba as usize * SECTOR;
    let length = usize::from(image[first]);
    assert!(length >= 34);
    assert_eq!(image[first + 32], 1, "identifier length");
    assert_eq!(image[first + 33], 0, "identifier");
    assert_eq!(both_32(&image, first + 2), root_lba, "extent == root LBA");
    assert_eq!(
        &image[first + 34..first + 41],
        &[0x53, 0x50, 0x07, 0x01, 0xBE, 0xEF, 0x00]
    );
    let entries = system_use_entries(&image, first + 34..first + length);
    let signatures: Vec<&[u8]> = entries.iter().map(|entry| &entry.signature[..]).collect();
    assert_eq!(signatures, [&b"SP"[..], b"PX", b"TF", b"CE", b"ER"]);
    let er = entries[4].data(&image);
    assert_eq!(entries[4].range.len(), 237);
    assert_eq!(&er[..4], &[10, 84, 135, 1]);
    let text = &er[4..];
    assert_eq!(&text[..10], b"RRIP_1991A");
    assert_eq!(
        &text[10..94],
        &b"THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS"[..]
    );
    assert_eq!(
        &text[94..],
        &b"PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION."[..]
    );
    let px = entries[1].data(&image);
    assert_eq!(both_32(px, 0), 0o040_755, "root mode");
    assert_eq!(both_32(px, 8), 2, "root links");
    assert_eq!(entries[2].data(&image)[0], 0x0E, "TF flags");
}

#[test]
fn volume_descriptors() {
    let image = image_of(&seed("config-2", EPOCH));
    assert!(image[..PVD].iter().all(|&b| b == 0), "system area");
    let spaces = |range: Range<usize>| image[range].iter().all(|&b| b == b' ');
    let padded = |text: &str, width: usize| {
        let mut field = text.as_bytes().to_vec();
        field.resize(width, b' ');
        field
    };
    let ucs2 = |text: &str, width: usize| {
        let mut field: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        while field.len() + 2 <= width {
            field.extend_from_slice(&[0, 0x20]);
        }
        field
    };
    let date = b"2023111422132000\0";
    let unset = b"0000000000000000\0";
    let sectors = (image.len() / SECTOR) as u32;

    let pvd = &image[PVD..PVD + SECTOR];
    assert_eq!(&pvd[..8], b"\x01CD001\x01\x00");
    assert!(spaces(PVD + 8..PVD + 40), "system identifier");
    assert_eq!(&pvd[40..72], padded("config-2", 32));
    assert_eq!(both_32(pvd, 80), sectors);
    assert!(pvd[88..120].iter().all(|&b| b == 0));
    assert_eq!(
        (both_16(pvd, 120), both_16(pvd, 124), both_16(pvd, 128)),
        (1, 1, 2048)
    );
    assert_eq!(both_32(pvd, 132), 10, "one directory: a 10-byte path table");
    assert_eq!(&pvd[144..148], &[0; 4]);
    assert_eq!(&pvd[152..156], &[0; 4]);
    assert!(spaces(PVD + 190..PVD + 574));
    assert_eq!(&pvd[574..702], padded("IMGBUILD", 128));
    assert!(spaces(PVD + 702..PVD + 813));
    assert_eq!(&pvd[813..830], date);
    assert_eq!(&pvd[830..847], date);
    assert_eq!(&pvd[847..864], unset);
    assert_eq!(&pvd[864..881], unset);
    assert_eq!(pvd[881], 1);
    assert!(pvd[882..].iter().all(|&b| b == 0));

    let svd = &image[SVD..SVD + SECTOR];
    assert_eq!(&svd[..8], b"\x02CD001\x01\x00");
    assert_eq!(&svd[8..40], ucs2("", 32));
    assert_eq!(&svd[40..72], ucs2("config-2", 32));
    assert_eq!(both_32(svd, 80), sectors);
    assert_eq!(&svd[88..91], b"%/E");
    assert!(svd[91..120].iter().all(|&b| b == 0));
    assert_eq!(both_32(svd, 132), 10);
    assert_eq!(&svd[190..318], ucs2("", 128));
    assert_eq!(&svd[574..702], ucs2("IMGBUILD", 128));
    assert_eq!(&svd[702..738], &ucs2("", 36)[..]);
    assert_eq!(&svd[813..830], date);
    assert_eq!(&svd[830..847], date);
    assert_eq!(&svd[847..864], unset);
    assert_eq!(svd[881], 1);
    assert_ne!(
        both_32(svd, 156 + 2),
        both_32(pvd, 156 + 2),
        "separate Joliet root"
    );

    assert_eq!(&image[18 * SECTOR..18 * SECTOR + 7], b"\xFFCD001\x01");
    assert!(image[18 * SECTOR + 7..19 * SECTOR].iter().all(|&b| b == 0));
    assert_eq!(
        u32::from_le_bytes(pvd[140..144].try_into().expect("4")),
        19,
        "L table after the terminator"
    );
}

/// Path → (extent, size, is directory) of one tree, named by Rock Ridge `NM` (primary)
/// or UCS-2 identifiers (Joliet).
fn files_by_name(
    image: &[u8],
    directories: &[(String, u32, Vec<Record>)],
    joliet: bool,
) -> BTreeMap<String, (u32, u32, bool)> {
    let mut names_of_directories: BTreeMap<u32, String> = BTreeMap::new();
    names_of_directories.insert(directories[0].1, String::new());
    let mut tree = BTreeMap::new();
    for (_, lba, records) in directories {
        let prefix = names_of_directories[lba].clone();
        for record in &records[2..] {
            let name = if joliet {
                let units: Vec<u16> = record
                    .identifier
                    .chunks(2)
                    .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
                    .collect();
                String::from_utf16(&units).expect("UCS-2 name")
            } else {
                let entries = system_use_entries(image, record.system_use.clone());
                String::from_utf8(rock_ridge_name(image, &entries).expect("NM"))
                    .expect("utf-8 name")
            };
            let path = format!("{prefix}/{name}");
            if record.is_directory() {
                names_of_directories.insert(record.extent, path.clone());
            }
            tree.insert(path, (record.extent, record.size, record.is_directory()));
        }
    }
    tree
}

#[test]
fn directory_trees() {
    let image = image_of(&sample(EPOCH));
    let primary = walk(&image, PVD + 156);
    let joliet = walk(&image, SVD + 156);
    assert_eq!(primary.len(), joliet.len());
    for tree in [&primary, &joliet] {
        let largest = tree.iter().map(|(_, _, records)| records[0].size).max();
        assert!(
            largest > Some(2 * SECTOR as u32),
            "a directory spans several sectors"
        );
    }
    for (path, _, records) in &primary {
        let children = &records[2..];
        for pair in children.windows(2) {
            assert_eq!(
                compare_primary(&pair[0].identifier, &pair[1].identifier),
                Ordering::Less,
                "primary order in {path:?}"
            );
        }
        let subdirectories = children
            .iter()
            .filter(|record| record.is_directory())
            .count() as u32;
        for (index, record) in records.iter().enumerate() {
            let entries = system_use_entries(&image, record.system_use.clone());
            let px = entries
                .iter()
                .find(|entry| &entry.signature == b"PX")
                .expect("PX on every record");
            assert!(
                entries.iter().any(|entry| &entry.signature == b"TF"),
                "TF on every record"
            );
            assert!(
                entries.iter().all(|entry| &entry.signature != b"RR"),
                "no RR entry"
            );
            assert_eq!(
                rock_ridge_name(&image, &entries).is_some(),
                index >= 2,
                "NM except . and .."
            );
            let data = px.data(&image);
            if index == 0 {
                assert_eq!(
                    both_32(data, 8),
                    2 + subdirectories,
                    "link count of {path:?}"
                );
            }
            let identifier = &record.identifier;
            if index >= 2 {
                let text = String::from_utf8(identifier.clone()).expect("ASCII identifier");
                let (stem, version) = text.split_once(';').unwrap_or((&text, ""));
                let (base, extension) = stem.split_once('.').unwrap_or((stem, ""));
                assert!(
                    base.len() <= 8 && extension.len() <= 3,
                    "level 1 identifier {text}"
                );
                assert!(
                    format!("{base}{extension}")
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'),
                    "d-characters in {text}"
                );
                if record.is_directory() {
                    assert!(
                        !stem.contains('.') && version.is_empty(),
                        "directory identifier {text}"
                    );
                    assert_eq!(both_32(data, 0) & 0o170_000, 0o040_000);
                } else {
                    assert_eq!(version, "1", "file identifier {text}");
                }
            }
        }
    }
    for (path, _, records) in &joliet {
        for pair in records[2..].windows(2) {
            assert!(
                pair[0].identifier < pair[1].identifier,
                "Joliet order in {path:?}"
            );
        }
        for record in records {
            assert!(record.system_use.is_empty(), "no SUSP in Joliet");
        }
    }
    let primary_files = files_by_name(&image, &primary, false);
    let joliet_files = files_by_name(&image, &joliet, true);
    assert_eq!(
        primary_files.keys().collect::<Vec<_>>(),
        joliet_files.keys().collect::<Vec<_>>()
    );
    assert!(primary_files.contains_key(&format!("/{}", "€".repeat(64))));
    for (path, (extent, size, is_directory)) in &primary_files {
        if !is_directory {
            assert_eq!(
                joliet_files[path],
                (*extent, *size, false),
                "same extent for {path}"
            );
        }
    }
}

#[test]
fn path_tables() {
    let image = image_of(&sample(EPOCH));
    for (descriptor, joliet) in [(PVD, false), (SVD, true)] {
        let size = both_32(&image, descriptor + 132);
        let little_lba = u32::from_le_bytes(
            image[descriptor + 140..descriptor + 144]
                .try_into()
                .expect("4"),
        );
        let big_lba = u32::from_be_bytes(
            image[descriptor + 148..descriptor + 152]
                .try_into()
                .expect("4"),
        );
        let little = path_table(&image, little_lba, size, false);
        let big = path_table(&image, big_lba, size, true);
        assert_eq!(little, big, "L and M tables agree");
        let directories = walk(&image, descriptor + 156);
        assert_eq!(little.len(), directories.len());
        assert_eq!(little[0], (vec![0], directories[0].1, 1), "root record");
        // Records are in breadth-first order: by parent number, then identifier.
        for pair in little[1..].windows(2) {
            let ordering = pair[0].2.cmp(&pair[1].2).then_with(|| {
                if joliet {
                    pair[0].0.cmp(&pair[1].0)
                } else {
                    compare_primary(&pair[0].0, &pair[1].0)
                }
            });
            assert_eq!(ordering, Ordering::Less, "path table order");
        }
        // Every record names a real directory whose parent holds it under that identifier.
        for (identifier, extent, parent) in &little[1..] {
            let parent_extent = little[usize::from(*parent) - 1].1;
            let (_, _, records) = directories
                .iter()
                .find(|(_, lba, _)| *lba == parent_extent)
                .expect("parent");
            assert!(records[2..]
                .iter()
                .any(|record| record.identifier == *identifier && record.extent == *extent));
        }
        let extents: BTreeSet<u32> = little.iter().map(|record| record.1).collect();
        let lbas: BTreeSet<u32> = directories.iter().map(|(_, lba, _)| *lba).collect();
        assert_eq!(extents, lbas);
    }
}

#[test]
fn writing_is_deterministic() {
    let first = image_of(&sample(EPOCH));
    assert_eq!(first, image_of(&sample(EPOCH)));
    assert_eq!(
        image_size(&sample(EPOCH)).expect("size"),
        first.len() as u64
    );
    let mut streamed = Vec::new();
    let written =
        write_image(&sample(EPOCH), &mut streamed, &mut |_, _| unreachable!()).expect("write");
    assert_eq!(written, first.len() as u64);
    assert_eq!(streamed, first);
}

#[test]
fn external_content_gives_the_same_image_as_bytes() {
    let contents: Vec<Vec<u8>> = vec![b"one".to_vec(), vec![7; 5000], b"".to_vec(), vec![1; 2048]];
    let inline = volume(
        "SAME",
        EPOCH,
        contents
            .iter()
            .enumerate()
            .map(|(index, content)| (format!("d/f{index}"), file(content, 0o644)))
            .collect(),
    );
    let streamed_volume = volume(
        "SAME",
        EPOCH,
        contents
            .iter()
            .enumerate()
            .map(|(index, content)| {
                (
                    format!("d/f{index}"),
                    external(index as u64, content.len() as u64, 0o644),
                )
            })
            .collect(),
    );
    let mut streamed = Vec::new();
    write_image(
        &streamed_volume,
        &mut streamed,
        &mut |key, out: &mut dyn Write| out.write_all(&contents[key as usize]),
    )
    .expect("write");
    assert_eq!(streamed, image_of(&inline));
}

/// Absolute byte ranges holding dates: descriptor dates, every record's date (both
/// trees, descriptor root records included) and every `TF` entry.
fn date_ranges(image: &[u8]) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    for descriptor in [PVD, SVD] {
        ranges.push(descriptor + 813..descriptor + 847);
        ranges.push(descriptor + 156 + 18..descriptor + 156 + 25);
        for (_, _, records) in walk(image, descriptor + 156) {
            for record in records {
                ranges.push(record.date());
                for entry in system_use_entries(image, record.system_use.clone()) {
                    if &entry.signature == b"TF" {
                        ranges.push(entry.range.start + 5..entry.range.end);
                    }
                }
            }
        }
    }
    ranges
}

#[test]
fn epochs_change_only_dates() {
    let early = image_of(&sample(0));
    let late = image_of(&sample(4_000_000_000));
    assert_eq!(early.len(), late.len());
    let ranges = date_ranges(&early);
    let differing: Vec<usize> = (0..early.len())
        .filter(|&at| early[at] != late[at])
        .collect();
    assert!(!differing.is_empty());
    for at in differing {
        assert!(
            ranges.iter().any(|range| range.contains(&at)),
            "byte {at} differs outside a date"
        );
    }
    assert_eq!(&late[PVD + 813..PVD + 830], b"2096100207064000\0");
}

#[test]
fn seeds_are_small() {
    let image = image_of(&seed("cidata", EPOCH));
    assert!(
        image.len() <= 30 * SECTOR,
        "seed is {} sectors",
        image.len() / SECTOR
    );
    let with_vendor_data = volume(
        "cidata",
        EPOCH,
        vec![
            ("meta-data".into(), file(b"instance-id: a\n", 0o644)),
            ("user-data".into(), file(b"#cloud-config\n", 0o644)),
            ("network-config".into(), file(b"version: 2\n", 0o644)),
            ("vendor-data".into(), file(b"", 0o644)),
        ],
    );
    let image = image_of(&with_vendor_data);
    assert!(
        image.len() <= 30 * SECTOR,
        "seed is {} sectors",
        image.len() / SECTOR
    );
    assert_eq!(image.len() % SECTOR, 0);
}
