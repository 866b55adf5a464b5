//! Helpers for the `.deb` reader tests: a visitor that records everything, and builders
//! for hand-made (hostile) `ar` and tar bytes.
#![allow(dead_code)]

pub mod dpkg;

use std::io::{self, Read, Write};

use imgbuild_apt::deb::{
    read_deb, ControlArchive, DataEntry, DebError, DebErrorKind, DebSummary, DebVisitor, EntryKind,
    EntryProblem, Limits,
};
use sha2::{Digest, Sha256};

/// One data entry as the reader reported it, contents hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub path: String,
    pub kind: EntryKind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub user: Option<String>,
    pub group: Option<String>,
    pub mtime: i64,
    /// SHA-256 of the contents read (of regular files; empty for the others).
    pub sha256: String,
    pub bytes_read: u64,
}

/// Records the control archive and every entry.
#[derive(Default)]
pub struct Collector {
    pub control: Option<ControlArchive>,
    pub entries: Vec<Seen>,
}

impl DebVisitor for Collector {
    type Error = io::Error;

    fn control(&mut self, control: &ControlArchive) -> io::Result<()> {
        assert!(
            self.control.is_none() && self.entries.is_empty(),
            "control comes once, first"
        );
        self.control = Some(control.clone());
        Ok(())
    }

    fn entry(&mut self, entry: &DataEntry<'_>, contents: &mut dyn Read) -> io::Result<()> {
        let mut hasher = Sha256::new();
        let mut buffer = [0u8; 16 * 1024];
        let mut bytes_read = 0u64;
        loop {
            let read = contents.read(&mut buffer)?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
            bytes_read += read as u64;
        }
        self.entries.push(Seen {
            path: entry.path.to_owned(),
            kind: entry.kind.clone(),
            mode: entry.mode,
            uid: entry.uid,
            gid: entry.gid,
            user: entry.user.map(str::to_owned),
            group: entry.group.map(str::to_owned),
            mtime: entry.mtime,
            sha256: hex::encode(hasher.finalize()),
            bytes_read,
        });
        Ok(())
    }
}

/// Reads `bytes` as a package called `test.deb`.
pub fn read(bytes: &[u8], limits: &Limits) -> Result<(DebSummary, Collector), DebError<io::Error>> {
    let mut collector = Collector::default();
    let summary = read_deb(bytes, "test.deb", limits, &mut collector)?;
    Ok((summary, collector))
}

/// Reads `bytes`, expecting failure; returns the error and its message.
pub fn read_error(bytes: &[u8], limits: &Limits) -> (DebError<io::Error>, String) {
    match read(bytes, limits) {
        Ok((_, collector)) => {
            panic!(
                "expected an error, read {} entries fine",
                collector.entries.len()
            )
        }
        Err(error) => {
            let message = error.to_string();
            eprintln!("rejected: {message}");
            assert!(
                message.contains("test.deb"),
                "the error names the package: {message}"
            );
            (error, message)
        }
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// An `ar` archive of `members`, as dpkg-deb writes it.
pub fn ar(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut bytes = b"!<arch>\n".to_vec();
    for (name, data) in members {
        bytes.extend_from_slice(&ar_header(name, data.len() as u64));
        bytes.extend_from_slice(data);
        if data.len() % 2 == 1 {
            bytes.push(b'\n');
        }
    }
    bytes
}

/// A 60-byte `ar` member header.
pub fn ar_header(name: &str, size: u64) -> Vec<u8> {
    let header = format!(
        "{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
        name, 0, 0, 0, 100644, size
    );
    assert_eq!(header.len(), 60);
    header.into_bytes()
}

/// Entry types for [`TarBytes::entry`].
pub const FILE: u8 = b'0';
pub const HARDLINK: u8 = b'1';
pub const SYMLINK: u8 = b'2';
pub const CHAR_DEVICE: u8 = b'3';
pub const DIRECTORY: u8 = b'5';
pub const FIFO: u8 = b'6';

/// Tar bytes written header by header, names copied raw (no checks).
#[derive(Default)]
pub struct TarBytes {
    pub bytes: Vec<u8>,
}

impl TarBytes {
    pub fn new() -> Self {
        TarBytes::default()
    }

    /// An entry with a raw name (≤ 100 bytes) and link name.
    pub fn entry(
        &mut self,
        name: &[u8],
        kind: u8,
        mode: u32,
        link: &[u8],
        data: &[u8],
    ) -> &mut Self {
        let mut header = tar::Header::new_gnu();
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link);
        header.set_entry_type(tar::EntryType::new(kind));
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(1_700_000_000);
        header.set_size(data.len() as u64);
        header.set_device_major(0).expect("device");
        header.set_device_minor(0).expect("device");
        if let Some(gnu) = header.as_gnu_mut() {
            gnu.set_username("root").expect("user name");
            gnu.set_groupname("root").expect("group name");
        }
        header.set_cksum();
        self.header_and_data(&header, data)
    }

    pub fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.entry(name.as_bytes(), FILE, 0o644, b"", data)
    }

    pub fn dir(&mut self, name: &str) -> &mut Self {
        self.entry(name.as_bytes(), DIRECTORY, 0o755, b"", b"")
    }

    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(name.as_bytes(), SYMLINK, 0o777, target.as_bytes(), b"")
    }

    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(name.as_bytes(), HARDLINK, 0o644, target.as_bytes(), b"")
    }

    /// A GNU long-name (`L`) record for the next entry.
    pub fn gnu_long_name(&mut self, name: &[u8]) -> &mut Self {
        let mut data = name.to_vec();
        data.push(0);
        self.extension(b"././@LongLink", b'L', &data)
    }

    /// A PAX extended header (`x`) with `records` for the next entry.
    pub fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        let mut data = Vec::new();
        for (key, value) in records {
            // "%d %s=%s\n", the length counting itself.
            let rest = key.len() + value.len() + 3;
            let mut length = rest + 1;
            while length.to_string().len() + rest != length {
                length += 1;
            }
            data.extend_from_slice(format!("{length} {key}=").as_bytes());
            data.extend_from_slice(value);
            data.push(b'\n');
        }
        self.extension(b"./PaxHeaders/x", b'x', &data)
    }

    fn extension(&mut self, name: &[u8], kind: u8, data: &[u8]) -> &mut Self {
        let mut header = tar::Header::new_gnu();
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_entry_type(tar::EntryType::new(kind));
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        header.set_mtime(0);
        header.set_cksum();
        self.header_and_data(&header, data)
    }

    fn header_and_data(&mut self, header: &tar::Header, data: &[u8]) -> &mut Self {
        self.bytes.extend_from_slice(header.as_bytes());
        self.bytes.extend_from_slice(data);
        self.bytes.resize(self.bytes.len().div_ceil(512) * 512, 0);
        self
    }

    /// The bytes with the end-of-archive marker (two zero blocks).
    pub fn finish(&self) -> Vec<u8> {
        let mut bytes = self.bytes.clone();
        bytes.resize(bytes.len() + 1024, 0);
        bytes
    }
}

pub const CONTROL: &[u8] = b"Package: hostile\nVersion: 1.0\nArchitecture: all\nMaintainer: Test <test@example.org>\nDescription: test\n";

/// A valid control archive (`./`, `./control`, `./postinst`), uncompressed.
pub fn control_tar() -> Vec<u8> {
    TarBytes::new()
        .dir("./")
        .file("./control", CONTROL)
        .entry(b"./postinst", FILE, 0o755, b"", b"#!/bin/sh\nexit 0\n")
        .finish()
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

pub fn xz(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = liblzma::write::XzEncoder::new(Vec::new(), 1);
    encoder.write_all(bytes).expect("xz");
    encoder.finish().expect("xz")
}

pub fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::encode_all(bytes, 1).expect("zstd")
}

/// A package with a valid `debian-binary` and control archive (gzip) and the given
/// data member.
pub fn deb_with_data(data_member: &str, data: &[u8]) -> Vec<u8> {
    ar(&[
        ("debian-binary", b"2.0\n"),
        ("control.tar.gz", &gzip(&control_tar())),
        (data_member, data),
    ])
}

/// A package whose uncompressed `data.tar` is `tar`.
pub fn deb_with_data_tar(tar: &TarBytes) -> Vec<u8> {
    deb_with_data("data.tar", &tar.finish())
}

/// Reads `deb`, expects an error for which `expected` holds, and whose message mentions
/// each of `mentions`.
pub fn check_rejected(
    deb: &[u8],
    limits: &Limits,
    expected: impl Fn(&DebErrorKind<io::Error>) -> bool,
    mentions: &[&str],
) {
    let (error, message) = read_error(deb, limits);
    assert!(
        expected(&error.kind),
        "unexpected error: {message}\n{:?}",
        error.kind
    );
    for mention in mentions {
        assert!(
            message.contains(mention),
            "{message:?} does not mention {mention:?}"
        );
    }
}

/// An entry-level rejection in `data.tar` of `path` for `problem`.
pub fn check_entry_rejected(tar: &TarBytes, path: &str, problem: impl Fn(&EntryProblem) -> bool) {
    check_rejected(
        &deb_with_data_tar(tar),
        &Limits::default(),
        |kind| {
            matches!(kind, DebErrorKind::Entry { member, path: found, problem: found_problem }
            if member == "data.tar" && found == path && problem(found_problem))
        },
        &["data.tar", path],
    );
}
