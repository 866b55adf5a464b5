//! Rendering a tree as a deterministic POSIX (pax) tar stream.
//!
//! External tools (`mke2fs -d`, `tar`, container tooling) see a tree as a tar
//! stream that carries everything the tree holds: ownership, permission bits,
//! mtimes, xattrs, devices, fifos and hardlinks. The same tree always renders
//! to the same bytes:
//!
//! * entries in [`crate::Tree::walk`] order (depth first, names in byte order,
//!   a directory before its contents), the root first as `./`, every name
//!   prefixed with `./`, directories with a trailing `/`;
//! * ustar headers with uid, gid, mode and mtime from the tree, empty
//!   uname/gname, devmajor/devminor for devices;
//! * a pax extended header (name `././@PaxHeader`, mode 0644, owner 0:0, mtime
//!   0) before an entry when needed: `path`/`linkpath` for names over 100 bytes
//!   (plus `hdrcharset=BINARY` if they are not UTF-8), `uid`/`gid`/`size`/`mtime`
//!   for values the octal fields cannot hold, and `SCHILY.xattr.<name>` for each
//!   xattr (sorted); records in that order;
//! * of a group of hardlinked names, the first in walk order carries the file
//!   content (with the target file's metadata) and the others are hardlink
//!   entries pointing to it;
//! * two zero blocks at the end, no further padding.

use std::collections::BTreeMap;
use std::io::{self, Write};

use crate::blob::{visit_blob, Segment};
use crate::digest::Digest;
use crate::error::StoreError;
use crate::tree::{Entry, EntryKind, Metadata, Tree, TreePath};
use crate::tree_store::check_hardlink;
use crate::Store;

const BLOCK: usize = 512;

impl Store {
    /// Writes the tree `tree` as a deterministic pax tar stream.
    pub fn write_tar(&self, tree: &Digest, out: &mut dyn Write) -> Result<(), StoreError> {
        let loaded = self.load_tree(tree)?;
        render(self, &loaded, *tree, out)
    }

    /// Writes an in-memory tree (whose blobs are in the store) as a tar stream.
    pub fn write_tar_of_tree(&self, tree: &Tree, out: &mut dyn Write) -> Result<(), StoreError> {
        let digest = crate::tree_encoding::tree_digest(tree)?;
        render(self, tree, digest, out)
    }
}

struct TarWriter<'a> {
    out: &'a mut dyn Write,
    tree: Digest,
}

impl TarWriter<'_> {
    fn write(&mut self, path: &TreePath, bytes: &[u8]) -> Result<(), StoreError> {
        self.out
            .write_all(bytes)
            .map_err(|source| self.error(path, source))
    }

    fn error(&self, path: &TreePath, source: io::Error) -> StoreError {
        StoreError::TarWrite {
            tree: self.tree,
            path: path.to_string(),
            source,
        }
    }
}

fn render(
    store: &Store,
    tree: &Tree,
    digest: Digest,
    out: &mut dyn Write,
) -> Result<(), StoreError> {
    let mut writer = TarWriter { out, tree: digest };
    // The first name (in walk order) of every hardlink group carries the content.
    let entries: Vec<(TreePath, &Entry)> = tree.walk().collect();
    let mut first_name: BTreeMap<TreePath, TreePath> = BTreeMap::new();
    for (path, entry) in &entries {
        if let EntryKind::Hardlink { target } = &entry.kind {
            check_hardlink(tree, path, target)?;
        }
        let group = match &entry.kind {
            EntryKind::Hardlink { target } => target.clone(),
            EntryKind::File { .. } => path.clone(),
            _ => continue,
        };
        first_name.entry(group).or_insert_with(|| path.clone());
    }
    let root = TreePath::root();
    let header = Header::new(b"./".to_vec(), b'5', tree.root_meta());
    header.write(&mut writer, &root)?;
    for (path, entry) in &entries {
        let mut name = b"./".to_vec();
        name.extend_from_slice(&path.to_bytes());
        match &entry.kind {
            EntryKind::Directory(_) => {
                name.push(b'/');
                Header::new(name, b'5', &entry.meta).write(&mut writer, path)?;
            }
            EntryKind::File { .. } | EntryKind::Hardlink { .. } => {
                let target = match &entry.kind {
                    EntryKind::Hardlink { target } => target,
                    _ => path,
                };
                let Some(Entry {
                    kind: EntryKind::File { blob, size },
                    meta,
                }) = tree.get(target)
                else {
                    continue;
                };
                let first = first_name.get(target).unwrap_or(path);
                if first != path {
                    let mut header = Header::new(name, b'1', meta);
                    let mut link = b"./".to_vec();
                    link.extend_from_slice(&first.to_bytes());
                    header.link = link;
                    header.write(&mut writer, path)?;
                } else {
                    write_file(store, &mut writer, path, name, meta, blob, *size)?;
                }
            }
            EntryKind::Symlink { target } => {
                let mut header = Header::new(name, b'2', &entry.meta);
                header.link = target.clone();
                header.write(&mut writer, path)?;
            }
            EntryKind::CharDevice { major, minor } | EntryKind::BlockDevice { major, minor } => {
                let kind = if matches!(entry.kind, EntryKind::CharDevice { .. }) {
                    b'3'
                } else {
                    b'4'
                };
                let mut header = Header::new(name, kind, &entry.meta);
                header.device = (*major, *minor);
                header.write(&mut writer, path)?;
            }
            EntryKind::Fifo => Header::new(name, b'6', &entry.meta).write(&mut writer, path)?,
        }
    }
    writer.write(&root, &[0u8; 2 * BLOCK])?;
    writer
        .out
        .flush()
        .map_err(|source| writer.error(&root, source))
}

fn write_file(
    store: &Store,
    writer: &mut TarWriter<'_>,
    path: &TreePath,
    name: Vec<u8>,
    meta: &Metadata,
    blob: &Digest,
    size: u64,
) -> Result<(), StoreError> {
    let actual = store.blob_size(blob)?;
    if actual != size {
        return Err(StoreError::SizeMismatch {
            blob: *blob,
            context: path.to_string(),
            expected: size,
            actual,
        });
    }
    let mut header = Header::new(name, b'0', meta);
    header.size = size;
    header.write(writer, path)?;
    let zeros = [0u8; 65536];
    visit_blob(&store.layout, blob, &mut |segment| match segment {
        Segment::Data(bytes) => writer.write(path, bytes),
        Segment::Zeros(mut length) => {
            while length > 0 {
                let step = length.min(zeros.len() as u64) as usize;
                writer.write(path, &zeros[..step])?;
                length -= step as u64;
            }
            Ok(())
        }
    })?;
    let padding = (BLOCK - (size % BLOCK as u64) as usize) % BLOCK;
    writer.write(path, &zeros[..padding])
}

struct Header<'a> {
    name: Vec<u8>,
    kind: u8,
    meta: &'a Metadata,
    link: Vec<u8>,
    size: u64,
    device: (u32, u32),
}

impl<'a> Header<'a> {
    fn new(name: Vec<u8>, kind: u8, meta: &'a Metadata) -> Header<'a> {
        Header {
            name,
            kind,
            meta,
            link: Vec::new(),
            size: 0,
            device: (0, 0),
        }
    }

    fn write(&self, writer: &mut TarWriter<'_>, path: &TreePath) -> Result<(), StoreError> {
        let mut records = Vec::new();
        let binary =
            std::str::from_utf8(&self.name).is_err() || std::str::from_utf8(&self.link).is_err();
        if binary && (self.name.len() > 100 || self.link.len() > 100) {
            pax_record(&mut records, b"hdrcharset", b"BINARY");
        }
        if self.name.len() > 100 {
            pax_record(&mut records, b"path", &self.name);
        }
        if self.link.len() > 100 {
            pax_record(&mut records, b"linkpath", &self.link);
        }
        let uid = u64::from(self.meta.uid);
        let gid = u64::from(self.meta.gid);
        if uid > OCTAL_7 {
            pax_record(&mut records, b"uid", uid.to_string().as_bytes());
        }
        if gid > OCTAL_7 {
            pax_record(&mut records, b"gid", gid.to_string().as_bytes());
        }
        if self.size > OCTAL_11 {
            pax_record(&mut records, b"size", self.size.to_string().as_bytes());
        }
        let mtime = u64::try_from(self.meta.mtime)
            .ok()
            .filter(|mtime| *mtime <= OCTAL_11);
        if mtime.is_none() {
            pax_record(
                &mut records,
                b"mtime",
                self.meta.mtime.to_string().as_bytes(),
            );
        }
        for (key, value) in &self.meta.xattrs {
            let mut full_key = b"SCHILY.xattr.".to_vec();
            full_key.extend_from_slice(key);
            pax_record(&mut records, &full_key, value);
        }
        if !records.is_empty() {
            let pax_meta = Metadata::with_mode(0o644);
            let block = ustar_block(
                b"././@PaxHeader",
                b"",
                b'x',
                &pax_meta,
                0,
                records.len() as u64,
                (0, 0),
            );
            writer.write(path, &block)?;
            writer.write(path, &records)?;
            let padding = (BLOCK - records.len() % BLOCK) % BLOCK;
            writer.write(path, &[0u8; BLOCK][..padding])?;
        }
        let block = ustar_block(
            truncate(&self.name),
            truncate(&self.link),
            self.kind,
            self.meta,
            mtime.unwrap_or(0),
            self.size.min(OCTAL_11),
            self.device,
        );
        writer.write(path, &block)
    }
}

const OCTAL_7: u64 = 0o7777777;
const OCTAL_11: u64 = 0o77777777777;

fn truncate(bytes: &[u8]) -> &[u8] {
    &bytes[..bytes.len().min(100)]
}

fn ustar_block(
    name: &[u8],
    link: &[u8],
    kind: u8,
    meta: &Metadata,
    mtime: u64,
    size: u64,
    device: (u32, u32),
) -> [u8; BLOCK] {
    let mut block = [0u8; BLOCK];
    block[..name.len()].copy_from_slice(name);
    octal(&mut block[100..108], u64::from(meta.mode));
    octal(&mut block[108..116], u64::from(meta.uid).min(OCTAL_7));
    octal(&mut block[116..124], u64::from(meta.gid).min(OCTAL_7));
    octal(&mut block[124..136], size);
    octal(&mut block[136..148], mtime);
    block[156] = kind;
    block[157..157 + link.len()].copy_from_slice(link);
    block[257..263].copy_from_slice(b"ustar\0");
    block[263..265].copy_from_slice(b"00");
    if kind == b'3' || kind == b'4' {
        device_number(&mut block[329..337], device.0);
        device_number(&mut block[337..345], device.1);
    }
    block[148..156].copy_from_slice(b"        ");
    let checksum: u64 = block.iter().map(|byte| u64::from(*byte)).sum();
    octal(&mut block[148..155], checksum);
    block[155] = b' ';
    block
}

/// Zero-padded octal digits followed by NUL, filling `field`.
fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    let text = &text.as_bytes()[text.len().saturating_sub(digits)..];
    field[..digits].copy_from_slice(text);
    field[digits] = 0;
}

/// Octal if it fits, else the GNU base-256 form (high bit set, big-endian).
fn device_number(field: &mut [u8], value: u32) {
    if u64::from(value) <= OCTAL_7 {
        octal(field, u64::from(value));
    } else {
        field.fill(0);
        field[0] = 0x80;
        field[4..8].copy_from_slice(&value.to_be_bytes());
    }
}

/// Appends one pax record: `"<length> <key>=<value>\n"`, the length counting itself.
fn pax_record(records: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    let rest = key.len() + value.len() + 3;
    let mut length = rest + 1;
    while length != rest + length.to_string().len() {
        length = rest + length.to_string().len();
    }
    records.extend_from_slice(length.to_string().as_bytes());
    records.push(b' ');
    records.extend_from_slice(key);
    records.push(b'=');
    records.extend_from_slice(value);
    records.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_lengths_count_themselves() {
        let mut records = Vec::new();
        pax_record(&mut records, b"path", b"x");
        assert_eq!(records, b"9 path=x\n");
        let mut records = Vec::new();
        let value = vec![b'a'; 92];
        pax_record(&mut records, b"path", &value);
        assert_eq!(records.len(), 102);
        assert!(records.starts_with(b"102 path="));
    }

    #[test]
    fn octal_fields_are_zero_padded() {
        let mut field = [0xffu8; 8];
        octal(&mut field, 0o755);
        assert_eq!(&field, b"0000755\0");
    }
}
