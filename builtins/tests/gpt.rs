//! The GPT writer against the real `sfdisk`: a planned ESP + root layout written into a
//! sparse file must verify cleanly and read back exactly; two writes give the same bytes;
//! bad layouts fail with errors that name the partition and the numbers.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use imgbuild_builtins::disk::gpt::{
    derive_guid, guid_from_text, guid_to_text, plan, write_table, GptError, Layout, Partition,
    PartitionRequest, ESP, LINUX_FILESYSTEM, LINUX_ROOT_X86_64, LINUX_SWAP,
};
use imgbuild_test_support::{require, require_tool};

const MIB: u64 = 1024 * 1024;

fn request(name: &str, type_guid: [u8; 16], size: Option<u64>) -> PartitionRequest {
    PartitionRequest {
        name: name.to_owned(),
        type_guid,
        size,
        start: None,
    }
}

/// The 64 MiB ESP (32 MiB) + root (rest) layout every test here starts from.
fn esp_and_root(seed: &[u8]) -> Layout {
    let requests = [
        request("esp", ESP, Some(32 * MIB)),
        request("root", LINUX_ROOT_X86_64, None),
    ];
    let places = plan(64 * MIB, &requests, MIB).expect("the layout fits");
    let partitions = requests
        .iter()
        .zip(places)
        .map(|(request, (first_lba, last_lba))| Partition {
            name: request.name.clone(),
            type_guid: request.type_guid,
            unique_guid: derive_guid(seed, &format!("partition {}", request.name)),
            first_lba,
            last_lba,
            attributes: 0,
        })
        .collect();
    Layout {
        disk_guid: derive_guid(seed, "disk"),
        sector_size: 512,
        disk_size: 64 * MIB,
        partitions,
    }
}

/// A sparse file of `size` bytes in `directory`.
fn sparse_file(directory: &Path, name: &str, size: u64) -> (PathBuf, File) {
    let path = directory.join(name);
    let file = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .expect("create the image file");
    file.set_len(size).expect("size the image file");
    (path, file)
}

fn written(directory: &Path, name: &str, layout: &Layout) -> PathBuf {
    let (path, mut file) = sparse_file(directory, name, layout.disk_size);
    write_table(&mut file, layout).expect("write the table");
    path
}

fn sfdisk(sfdisk: &Path, arguments: &[&str], image: &Path) -> String {
    let output = Command::new(sfdisk)
        .args(arguments)
        .arg(image)
        .output()
        .expect("run sfdisk");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "sfdisk {arguments:?} failed: {stdout}{stderr}"
    );
    assert!(
        stderr.trim().is_empty(),
        "sfdisk {arguments:?} complained: {stderr}"
    );
    stdout
}

#[test]
fn planned_layout_places_esp_at_one_mebibyte_and_root_up_to_the_backup_table() {
    let layout = esp_and_root(b"identity");
    let places: Vec<_> = layout
        .partitions
        .iter()
        .map(|partition| (partition.first_lba, partition.last_lba))
        .collect();
    // 64 MiB = 131072 sectors; the backup entries and header take the last 33.
    assert_eq!(places, [(2048, 67583), (67584, 131038)]);
}

#[test]
fn sfdisk_verifies_and_reads_back_the_table() {
    let sfdisk_path = require!(require_tool("sfdisk"));
    let directory = tempfile::tempdir().expect("temporary directory");
    let layout = esp_and_root(b"identity");
    let image = written(directory.path(), "disk.img", &layout);

    let verify = sfdisk(&sfdisk_path, &["--verify"], &image);
    assert!(verify.contains("No errors detected"), "{verify}");

    let json: serde_json::Value =
        serde_json::from_str(&sfdisk(&sfdisk_path, &["--json"], &image)).expect("sfdisk JSON");
    let table = &json["partitiontable"];
    assert_eq!(table["label"], "gpt");
    assert_eq!(table["sectorsize"], 512);
    assert_eq!(
        table["id"].as_str().map(str::to_lowercase),
        Some(guid_to_text(&layout.disk_guid))
    );
    let partitions = table["partitions"].as_array().expect("partitions");
    assert_eq!(partitions.len(), layout.partitions.len());
    for (read, ours) in partitions.iter().zip(&layout.partitions) {
        assert_eq!(read["start"], ours.first_lba);
        assert_eq!(read["size"], ours.last_lba - ours.first_lba + 1);
        assert_eq!(
            read["type"].as_str().map(str::to_lowercase),
            Some(guid_to_text(&ours.type_guid))
        );
        assert_eq!(
            read["uuid"].as_str().map(str::to_lowercase),
            Some(guid_to_text(&ours.unique_guid))
        );
        assert_eq!(read["name"], ours.name.as_str());
    }
}

#[test]
fn two_writes_give_the_same_bytes_and_only_table_sectors_are_touched() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let layout = esp_and_root(b"identity");
    let first = written(directory.path(), "first.img", &layout);

    let (second, mut file) = sparse_file(directory.path(), "second.img", layout.disk_size);
    write_table(&mut file, &layout).expect("write over nothing");
    write_table(&mut file, &layout).expect("write again over itself");
    drop(file);
    let bytes = |path: &Path| std::fs::read(path).expect("read the image");
    assert_eq!(blake3::hash(&bytes(&first)), blake3::hash(&bytes(&second)));

    let image = bytes(&first);
    let table_end = 34 * 512;
    let backup_start = image.len() - 33 * 512;
    assert!(image[table_end..backup_start].iter().all(|byte| *byte == 0));
    assert_eq!(&image[510..512], &[0x55, 0xaa]);
    assert_eq!(&image[512..520], b"EFI PART");
    assert_eq!(&image[image.len() - 512..image.len() - 504], b"EFI PART");

    // Over a file full of other bytes: the table sectors come out the same, the partitions'
    // bytes stay as they were.
    let filled_path = directory.path().join("filled.img");
    let mut filled = vec![0xaa_u8; image.len()];
    std::fs::write(&filled_path, &filled).expect("write the filled image");
    let mut file = File::options()
        .read(true)
        .write(true)
        .open(&filled_path)
        .expect("open the filled image");
    write_table(&mut file, &layout).expect("write over other bytes");
    drop(file);
    filled[..table_end].copy_from_slice(&image[..table_end]);
    filled[backup_start..].copy_from_slice(&image[backup_start..]);
    assert!(
        bytes(&filled_path) == filled,
        "only the table sectors may change"
    );

    // A different identity gives different GUIDs, hence different bytes.
    let other = written(directory.path(), "other.img", &esp_and_root(b"other"));
    assert_ne!(blake3::hash(&image), blake3::hash(&bytes(&other)));
}

#[test]
fn guid_text_round_trips_in_mixed_endian_order() {
    let text = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";
    let bytes = guid_from_text(text).expect("a GUID");
    assert_eq!(hex::encode(bytes), "28732ac11ff8d211ba4b00a0c93ec93b");
    assert_eq!(bytes, ESP);
    assert_eq!(guid_to_text(&bytes), text);
    assert_eq!(
        guid_from_text(&text.to_uppercase()).expect("upper case"),
        ESP
    );
    let constants = [
        (LINUX_ROOT_X86_64, "4f68bce3-e8cd-4db1-96e7-fbcaf984b709"),
        (LINUX_FILESYSTEM, "0fc63daf-8483-4772-8e79-3d69d8477de4"),
        (LINUX_SWAP, "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f"),
    ];
    for (constant, text) in constants {
        assert_eq!(guid_to_text(&constant), text);
    }
    for bad in [
        "",
        "c12a7328f81f11d2ba4b00a0c93ec93b",
        "c12a7328-f81f-11d2-ba4b-00a0c93ec93g",
    ] {
        assert!(
            matches!(guid_from_text(bad), Err(GptError::GuidText { .. })),
            "{bad}"
        );
    }
}

#[test]
fn derived_guids_are_version_4_and_depend_on_seed_and_purpose() {
    let disk = guid_to_text(&derive_guid(b"identity", "disk"));
    assert_eq!(disk, guid_to_text(&derive_guid(b"identity", "disk")));
    assert_eq!(&disk[14..15], "4", "{disk}");
    assert!(matches!(&disk[19..20], "8" | "9" | "a" | "b"), "{disk}");
    assert_ne!(
        derive_guid(b"identity", "disk"),
        derive_guid(b"identity", "esp")
    );
    assert_ne!(
        derive_guid(b"identity", "disk"),
        derive_guid(b"identitydisk", "")
    );
}

/// Runs `plan` on a 64 MiB disk with 1 MiB alignment and checks the error's message
/// mentions each of `mentions`.
fn check_plan_error(requests: &[PartitionRequest], mentions: &[&str]) {
    let message = match plan(64 * MIB, requests, MIB) {
        Ok(places) => panic!("planned {places:?}, expected an error mentioning {mentions:?}"),
        Err(error) => error.to_string(),
    };
    for mention in mentions {
        assert!(
            message.contains(mention),
            "`{message}` does not mention `{mention}`"
        );
    }
}

#[test]
fn plan_errors_name_the_partition_and_the_numbers() {
    // 1 MiB in front, 100 MiB asked, 33 sectors behind: 37 MiB + 16896 bytes short.
    check_plan_error(
        &[request("esp", ESP, Some(100 * MIB))],
        &["`esp`", "38814208 bytes too small"],
    );
    check_plan_error(
        &[
            request("esp", ESP, Some(32 * MIB)),
            request("root", LINUX_ROOT_X86_64, Some(32 * MIB)),
        ],
        &["`root`", "1065472 bytes too small"],
    );
    check_plan_error(
        &[
            request("root", LINUX_ROOT_X86_64, None),
            request("swap", LINUX_SWAP, Some(MIB)),
        ],
        &["`root`", "`swap`", "rest"],
    );
    check_plan_error(
        &[request("esp", ESP, Some(1000))],
        &["`esp`", "1000", "512"],
    );
    check_plan_error(&[request(&"n".repeat(37), ESP, Some(MIB))], &["37", "36"]);
    let misaligned = plan(64 * MIB, &[request("esp", ESP, Some(MIB))], 1000);
    assert!(matches!(
        misaligned,
        Err(GptError::Alignment {
            alignment: 1000,
            ..
        })
    ));
}

/// Writes `layout` (after `change`) into a fresh file and checks the error mentions each
/// of `mentions`.
fn check_write_error(change: impl FnOnce(&mut Layout), mentions: &[&str]) {
    let directory = tempfile::tempdir().expect("temporary directory");
    let mut layout = esp_and_root(b"identity");
    let (_, mut file) = sparse_file(directory.path(), "disk.img", layout.disk_size);
    change(&mut layout);
    let message = match write_table(&mut file, &layout) {
        Ok(()) => panic!("wrote the table, expected an error mentioning {mentions:?}"),
        Err(error) => error.to_string(),
    };
    for mention in mentions {
        assert!(
            message.contains(mention),
            "`{message}` does not mention `{mention}`"
        );
    }
}

#[test]
fn write_errors_name_the_partition_and_the_numbers() {
    check_write_error(
        |layout| layout.partitions[1].first_lba = 60000,
        &[
            "`esp`",
            "`root`",
            "overlap",
            "2048..=67583",
            "60000..=131038",
        ],
    );
    check_write_error(
        |layout| layout.partitions[1].last_lba = 131039,
        &["`root`", "131039", "34..=131038"],
    );
    check_write_error(
        |layout| layout.partitions[0].first_lba = 10,
        &["`esp`", "10..=67583"],
    );
    check_write_error(
        |layout| layout.partitions[1].unique_guid = layout.partitions[0].unique_guid,
        &["`esp`", "`root`", "same unique GUID"],
    );
    check_write_error(|layout| layout.disk_size += MIB, &["67108864", "68157440"]);
    check_write_error(|layout| layout.sector_size = 1024, &["1024"]);
    check_write_error(
        |layout| layout.partitions[0].type_guid = [0; 16],
        &["`esp`", "zeros"],
    );
}
