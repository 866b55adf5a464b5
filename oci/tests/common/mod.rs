//! The fixed test layer and image configuration shared by the integration tests, and the
//! helpers that write a layout from them.
//!
//! The layer is a tar of a small root filesystem with every kind of entry the store's
//! renderer produces: directories, files of modes 0644, 0755, 04755 and 0600 (owned by
//! 0:42), a file and a directory owned by uid 1000, a symbolic link, a hard link, and a
//! 6 MiB file so that gzip (1 MiB blocks) and zstd (4 MiB frames) use several blocks.

#![allow(dead_code, missing_docs)]

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::Path;

use imgbuild_oci::{write_layout, Compression, ImageConfig, Layout};

/// One entry of the test layer, as the tar states it.
pub struct Entry {
    pub path: &'static str,
    pub kind: Kind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
}

pub enum Kind {
    Directory,
    File(Vec<u8>),
    Symlink(&'static str),
    /// A hard link to the named earlier entry.
    Hardlink(&'static str),
}

/// 6 MiB: text-like runs interleaved with pseudo-random bytes, compressible but not
/// trivially.
pub fn large_content() -> Vec<u8> {
    let mut state: u32 = 0x1234_5678;
    let mut content = Vec::with_capacity(6 << 20);
    let mut line = 0_u32;
    while content.len() < 6 << 20 {
        content.extend_from_slice(
            format!("line {line}: the quick brown fox jumps over the lazy dog\n").as_bytes(),
        );
        for _ in 0..24 {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            content.push((state >> 24) as u8);
        }
        line += 1;
    }
    content.truncate(6 << 20);
    content
}

pub fn entries() -> Vec<Entry> {
    let entry = |path, kind, mode, uid, gid| Entry {
        path,
        kind,
        mode,
        uid,
        gid,
    };
    use Kind::*;
    vec![
        entry("./", Directory, 0o755, 0, 0),
        entry("./bin/", Directory, 0o755, 0, 0),
        entry(
            "./bin/hello",
            File(b"#!/bin/sh\necho hello\n".to_vec()),
            0o755,
            0,
            0,
        ),
        entry("./bin/hello-again", Hardlink("./bin/hello"), 0o755, 0, 0),
        entry("./bin/greet", Symlink("hello"), 0o777, 0, 0),
        entry(
            "./bin/su",
            File(b"pretend setuid binary\n".to_vec()),
            0o4755,
            0,
            0,
        ),
        entry("./etc/", Directory, 0o755, 0, 0),
        entry("./etc/hostname", File(b"imgbuild\n".to_vec()), 0o644, 0, 0),
        entry(
            "./etc/shadow",
            File(b"root:*:19000:0:99999:7:::\n".to_vec()),
            0o600,
            0,
            42,
        ),
        entry("./home/", Directory, 0o755, 0, 0),
        entry("./home/user/", Directory, 0o750, 1000, 1000),
        entry(
            "./home/user/notes.txt",
            File(b"remember the milk\n".to_vec()),
            0o644,
            1000,
            1000,
        ),
        entry("./usr/", Directory, 0o755, 0, 0),
        entry("./usr/share/", Directory, 0o755, 0, 0),
        entry("./usr/share/large.bin", File(large_content()), 0o644, 0, 0),
    ]
}

/// Writes the test layer as the store renders trees: sorted, `./` names, pax-free ustar
/// headers with numeric ids, empty user and group names, modification time 0.
pub fn write_tar(output: &mut dyn Write) -> io::Result<()> {
    let mut builder = tar::Builder::new(output);
    for entry in entries() {
        let mut header = tar::Header::new_ustar();
        header.set_mode(entry.mode);
        header.set_uid(entry.uid);
        header.set_gid(entry.gid);
        header.set_mtime(0);
        header.set_username("")?;
        header.set_groupname("")?;
        match &entry.kind {
            Kind::Directory => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                builder.append_data(&mut header, entry.path, io::empty())?;
            }
            Kind::File(content) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(content.len() as u64);
                builder.append_data(&mut header, entry.path, content.as_slice())?;
            }
            Kind::Symlink(target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                builder.append_link(&mut header, entry.path, target)?;
            }
            Kind::Hardlink(target) => {
                header.set_entry_type(tar::EntryType::Link);
                header.set_size(0);
                builder.append_link(&mut header, entry.path, target)?;
            }
        }
    }
    builder.finish()
}

/// The test layer as bytes.
pub fn tar_bytes() -> Vec<u8> {
    let mut bytes = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = write_tar(&mut bytes);
    bytes
}

pub fn image_config() -> ImageConfig {
    ImageConfig {
        architecture: "amd64".into(),
        os: "linux".into(),
        created: 1_700_000_000,
        entrypoint: vec!["/bin/hello".into()],
        cmd: vec!["--loud".into()],
        env: vec!["PATH=/usr/bin:/bin".into(), "LANG=C.UTF-8".into()],
        user: Some("1000:1000".into()),
        working_dir: Some("/home/user".into()),
        labels: BTreeMap::from([("org.example.flavour".into(), "vanilla".into())]),
        exposed_ports: vec!["80/tcp".into(), "53/udp".into()],
        volumes: vec!["/var/lib/data".into()],
        stop_signal: Some("SIGTERM".into()),
        annotations: BTreeMap::from([(
            "org.opencontainers.image.source".into(),
            "imgbuild tests".into(),
        )]),
        ref_name: Some("latest".into()),
        author: Some("imgbuild".into()),
        history_comment: Some("root filesystem".into()),
        ..ImageConfig::default()
    }
}

/// Writes the test image into `directory` on a rayon pool of `threads` threads.
pub fn write_in_pool(directory: &Path, compression: Compression, threads: usize) -> Layout {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a rayon pool");
    pool.install(|| write_layout(directory, &image_config(), compression, &mut write_tar))
        .expect("the layout is written")
}

pub const ALL_COMPRESSIONS: [Compression; 3] =
    [Compression::None, Compression::Gzip, Compression::Zstd];

/// The path of a blob in a layout.
pub fn blob(directory: &Path, digest: &str) -> std::path::PathBuf {
    directory
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}
