//! The streaming `.deb` reader on arbitrary bytes, with small limits so that every
//! limit can be reached: every input is a summary or an error. When the read succeeds,
//! the summary agrees with what the visitor saw, each file yielded exactly its declared
//! size, and `read_control` gives the same control archive.
//!
//! The first byte chooses what the rest is: `0` a whole `.deb`; `1` to `4` a control
//! tar and a data tar (a two-byte length, the control tar, then the data tar) that this
//! target wraps into a well-formed `ar` archive, uncompressed or compressed with gzip,
//! xz or zstd, so that mutations reach the tar readers behind each decompressor.

#![no_main]

use std::io::Write;

use imgbuild_apt::deb::{read_control, read_deb_with, EntryKind, Limits};
use libfuzzer_sys::fuzz_target;

const LIMITS: Limits = Limits {
    max_entry_size: 64 << 10,
    max_total_size: 1 << 20,
    max_entries: 512,
    max_control_size: 64 << 10,
};

fn member(out: &mut Vec<u8>, name: &str, data: &[u8]) {
    let header = format!(
        "{name:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
        0,
        0,
        0,
        100644,
        data.len()
    );
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    if data.len() % 2 == 1 {
        out.push(b'\n');
    }
}

fn compress(kind: u8, data: &[u8]) -> (&'static str, Vec<u8>) {
    match kind {
        2 => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            let _ = encoder.write_all(data);
            (".gz", encoder.finish().unwrap_or_default())
        }
        3 => {
            let mut encoder = liblzma::write::XzEncoder::new(Vec::new(), 0);
            let _ = encoder.write_all(data);
            (".xz", encoder.finish().unwrap_or_default())
        }
        4 => (".zst", zstd::encode_all(data, 1).unwrap_or_default()),
        _ => ("", data.to_vec()),
    }
}

/// The package bytes the input describes.
fn package(data: &[u8]) -> Option<Vec<u8>> {
    let (&mode, rest) = data.split_first()?;
    let mode = mode % 5;
    if mode == 0 {
        return Some(rest.to_vec());
    }
    let (length, rest) = rest.split_at_checked(2)?;
    let length = usize::from(u16::from_le_bytes([length[0], length[1]])).min(rest.len());
    let (control, data) = rest.split_at(length);
    let mut out = b"!<arch>\n".to_vec();
    member(&mut out, "debian-binary", b"2.0\n");
    let (extension, control) = compress(mode, control);
    member(&mut out, &format!("control.tar{extension}"), &control);
    let (extension, data) = compress(mode, data);
    member(&mut out, &format!("data.tar{extension}"), &data);
    Some(out)
}

fuzz_target!(|input: &[u8]| {
    let Some(data) = package(input) else {
        return;
    };
    let data = data.as_slice();
    let mut entries = 0u64;
    let mut files = 0u64;
    let mut file_bytes = 0u64;
    let mut control_seen = None;
    let result = read_deb_with(
        data,
        "fuzz.deb",
        &LIMITS,
        |control| {
            control_seen = Some(control.clone());
            Ok::<(), std::io::Error>(())
        },
        |entry, contents| {
            entries += 1;
            assert!(!entry.path.is_empty(), "empty entry path");
            assert!(
                !entry.path.starts_with('/') && !entry.path.ends_with('/'),
                "path not normalized: {:?}",
                entry.path
            );
            assert!(
                entry
                    .path
                    .split('/')
                    .all(|part| !part.is_empty() && part != "." && part != ".."),
                "path not normalized: {:?}",
                entry.path
            );
            let mut bytes = Vec::new();
            // A visitor error here is the stream failing; the reader reports that.
            contents.read_to_end(&mut bytes)?;
            match entry.kind {
                EntryKind::File { size } => {
                    files += 1;
                    file_bytes += size;
                    assert_eq!(bytes.len() as u64, size, "file contents vs declared size");
                }
                _ => assert!(bytes.is_empty(), "a non-file entry has contents"),
            }
            Ok(())
        },
    );
    let control_only = read_control(data, "fuzz.deb", &LIMITS);
    if let Ok(summary) = result {
        assert_eq!(summary.entries, entries, "entries");
        assert_eq!(summary.files, files, "files");
        assert_eq!(summary.file_bytes, file_bytes, "file bytes");
        assert!(
            summary.data_tar_bytes <= LIMITS.max_total_size,
            "data limit"
        );
        assert!(
            summary.control.files.contains_key("control"),
            "no control file"
        );
        assert_eq!(
            control_seen.as_ref(),
            Some(&summary.control),
            "control handed over"
        );
        match control_only {
            Ok(control) => assert_eq!(control, summary.control, "read_control differs"),
            Err(error) => panic!("read_deb succeeded but read_control failed: {error}"),
        }
    }
});
