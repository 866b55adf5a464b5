//! The canonical binary encoding of directory objects; a tree's digest is BLAKE3 of it.
//!
//! Each directory of a tree is its own object (a Merkle tree): a directory object
//! holds the directory's own metadata and its entries, and refers to child
//! directories by their digest. Byte by byte (all integers little-endian,
//! fixed width; every length counts bytes):
//!
//! ```text
//! directory = "imgbuild-tree-v1\0"                  17 bytes: domain and version
//!             metadata                              of the directory itself
//!             entry_count     u32
//!             entry * entry_count                   strictly increasing by name bytes
//! entry     = name_length     u32 (1..=255)
//!             name            bytes (no '/', no NUL, not "." or "..")
//!             kind            u8
//!             metadata
//!             payload         depends on kind:
//!               1 file          blob digest [32], size u64
//!               2 directory     child directory digest [32]
//!               3 symlink       target_length u32 (1..=4095), target bytes (no NUL)
//!               4 hardlink      target_length u32, target path bytes ("a/b", no
//!                               leading '/', components valid names)
//!               5 char device   major u32, minor u32
//!               6 block device  major u32, minor u32
//!               7 fifo          (nothing)
//! metadata  = mode u32 (only the bits 0o7777), uid u32, gid u32, mtime i64,
//!             xattr_count u32, then per xattr, strictly increasing by key bytes:
//!             key_length u32 (1..=255), key (no NUL), value_length u32, value
//! ```
//!
//! Decoding rejects an unknown prefix, unsorted or duplicate names or xattr
//! keys, invalid names, modes or targets, unknown kinds and trailing bytes,
//! so every digest has exactly one encoding.

use std::collections::BTreeMap;

use crate::digest::Digest;
use crate::tree::{
    check_symlink_target, Directory, EntryKind, Metadata, Name, Tree, TreeError, TreePath,
    MAX_SYMLINK_TARGET_LENGTH, MAX_XATTR_NAME_LENGTH, MODE_MASK,
};

/// Domain separator and version at the start of every directory object.
pub const TREE_ENCODING_PREFIX: &[u8; 17] = b"imgbuild-tree-v1\0";

const KIND_FILE: u8 = 1;
const KIND_DIRECTORY: u8 = 2;
const KIND_SYMLINK: u8 = 3;
const KIND_HARDLINK: u8 = 4;
const KIND_CHAR_DEVICE: u8 = 5;
const KIND_BLOCK_DEVICE: u8 = 6;
const KIND_FIFO: u8 = 7;

/// An entry of a decoded directory object; child directories are digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DecodedKind {
    Leaf(EntryKind),
    Directory(Digest),
}

/// A decoded directory object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodedDirectory {
    pub(crate) meta: Metadata,
    pub(crate) entries: Vec<(Name, DecodedKind, Metadata)>,
}

/// Every directory object of `tree`, children before parents; the root is last.
pub fn encode_tree(tree: &Tree) -> Result<Vec<(Digest, Vec<u8>)>, TreeError> {
    let mut objects = Vec::new();
    encode_directory(
        tree.root_meta(),
        tree.root_directory(),
        &TreePath::root(),
        &mut objects,
    )?;
    Ok(objects)
}

/// The digest of `tree`'s root directory object (what [`crate::Store::put_tree`] returns).
pub fn tree_digest(tree: &Tree) -> Result<Digest, TreeError> {
    let objects = encode_tree(tree)?;
    Ok(objects
        .last()
        .map_or_else(|| Digest::of(b""), |(digest, _)| *digest))
}

fn encode_directory(
    meta: &Metadata,
    directory: &Directory,
    path: &TreePath,
    objects: &mut Vec<(Digest, Vec<u8>)>,
) -> Result<Digest, TreeError> {
    meta.check(path)?;
    let mut bytes = Vec::with_capacity(64 + directory.entries.len() * 96);
    bytes.extend_from_slice(TREE_ENCODING_PREFIX);
    encode_metadata(meta, &mut bytes);
    put_u32(&mut bytes, directory.entries.len());
    for (name, entry) in &directory.entries {
        let entry_path = path.join(name);
        entry.meta.check(&entry_path)?;
        put_bytes(&mut bytes, name.as_bytes());
        match &entry.kind {
            EntryKind::File { blob, size } => {
                bytes.push(KIND_FILE);
                encode_metadata(&entry.meta, &mut bytes);
                bytes.extend_from_slice(blob.as_bytes());
                bytes.extend_from_slice(&size.to_le_bytes());
            }
            EntryKind::Directory(child) => {
                let child_digest = encode_directory(&entry.meta, child, &entry_path, objects)?;
                bytes.push(KIND_DIRECTORY);
                encode_metadata(&entry.meta, &mut bytes);
                bytes.extend_from_slice(child_digest.as_bytes());
            }
            EntryKind::Symlink { target } => {
                check_symlink_target(&entry_path, target)?;
                bytes.push(KIND_SYMLINK);
                encode_metadata(&entry.meta, &mut bytes);
                put_bytes(&mut bytes, target);
            }
            EntryKind::Hardlink { target } => {
                if target.is_root() {
                    return Err(TreeError::InvalidPath {
                        path: entry_path.to_string(),
                        reason: "a hardlink cannot point to the root",
                    });
                }
                bytes.push(KIND_HARDLINK);
                encode_metadata(&entry.meta, &mut bytes);
                put_bytes(&mut bytes, &target.to_bytes());
            }
            EntryKind::CharDevice { major, minor } | EntryKind::BlockDevice { major, minor } => {
                bytes.push(if matches!(entry.kind, EntryKind::CharDevice { .. }) {
                    KIND_CHAR_DEVICE
                } else {
                    KIND_BLOCK_DEVICE
                });
                encode_metadata(&entry.meta, &mut bytes);
                bytes.extend_from_slice(&major.to_le_bytes());
                bytes.extend_from_slice(&minor.to_le_bytes());
            }
            EntryKind::Fifo => {
                bytes.push(KIND_FIFO);
                encode_metadata(&entry.meta, &mut bytes);
            }
        }
    }
    let digest = Digest::of(&bytes);
    objects.push((digest, bytes));
    Ok(digest)
}

fn encode_metadata(meta: &Metadata, bytes: &mut Vec<u8>) {
    bytes.extend_from_slice(&meta.mode.to_le_bytes());
    bytes.extend_from_slice(&meta.uid.to_le_bytes());
    bytes.extend_from_slice(&meta.gid.to_le_bytes());
    bytes.extend_from_slice(&meta.mtime.to_le_bytes());
    put_u32(bytes, meta.xattrs.len());
    for (key, value) in &meta.xattrs {
        put_bytes(bytes, key);
        put_bytes(bytes, value);
    }
}

fn put_u32(bytes: &mut Vec<u8>, value: usize) {
    // Lengths and counts come from checked names, targets and in-memory maps; a
    // count above u32::MAX cannot be encoded and saturates (decoding then fails).
    bytes.extend_from_slice(&u32::try_from(value).unwrap_or(u32::MAX).to_le_bytes());
}

fn put_bytes(bytes: &mut Vec<u8>, value: &[u8]) {
    put_u32(bytes, value.len());
    bytes.extend_from_slice(value);
}

/// Why a directory object did not decode (for reports; callers map it to `ObjectCorrupt`).
pub(crate) type DecodeError = &'static str;

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < count {
            return Err("truncated");
        }
        let (head, tail) = self.0.split_at(count);
        self.0 = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        self.take(N)?.try_into().map_err(|_| "truncated")
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn length(&mut self) -> Result<usize, DecodeError> {
        let length = usize::try_from(self.u32()?).map_err(|_| "length too large")?;
        if length > self.0.len() {
            return Err("length beyond the end of the object");
        }
        Ok(length)
    }
    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let length = self.length()?;
        self.take(length)
    }
}

/// Decodes one directory object.
pub(crate) fn decode_directory(bytes: &[u8]) -> Result<DecodedDirectory, DecodeError> {
    let mut reader = Reader(bytes);
    if reader.take(TREE_ENCODING_PREFIX.len())? != TREE_ENCODING_PREFIX {
        return Err("unknown tree encoding version");
    }
    let meta = decode_metadata(&mut reader)?;
    let count = reader.u32()?;
    let mut entries: Vec<(Name, DecodedKind, Metadata)> = Vec::new();
    for _ in 0..count {
        let name = Name::new(reader.bytes()?).map_err(|_| "invalid entry name")?;
        if let Some((previous, _, _)) = entries.last() {
            if *previous >= name {
                return Err("entries are not sorted or not unique");
            }
        }
        let kind = reader.u8()?;
        let entry_meta = decode_metadata(&mut reader)?;
        let decoded = match kind {
            KIND_FILE => DecodedKind::Leaf(EntryKind::File {
                blob: Digest::from_bytes(reader.array()?),
                size: u64::from_le_bytes(reader.array()?),
            }),
            KIND_DIRECTORY => DecodedKind::Directory(Digest::from_bytes(reader.array()?)),
            KIND_SYMLINK => {
                let target = reader.bytes()?;
                if target.is_empty() || target.len() > MAX_SYMLINK_TARGET_LENGTH {
                    return Err("invalid symlink target length");
                }
                check_symlink_target(&TreePath::root(), target)
                    .map_err(|_| "invalid symlink target")?;
                DecodedKind::Leaf(EntryKind::Symlink {
                    target: target.to_vec(),
                })
            }
            KIND_HARDLINK => {
                let target_bytes = reader.bytes()?;
                let target =
                    TreePath::from_bytes(target_bytes).map_err(|_| "invalid hardlink target")?;
                if target.is_root() || target.to_bytes() != target_bytes {
                    return Err("hardlink target is not in canonical form");
                }
                DecodedKind::Leaf(EntryKind::Hardlink { target })
            }
            KIND_CHAR_DEVICE => DecodedKind::Leaf(EntryKind::CharDevice {
                major: reader.u32()?,
                minor: reader.u32()?,
            }),
            KIND_BLOCK_DEVICE => DecodedKind::Leaf(EntryKind::BlockDevice {
                major: reader.u32()?,
                minor: reader.u32()?,
            }),
            KIND_FIFO => DecodedKind::Leaf(EntryKind::Fifo),
            _ => return Err("unknown entry kind"),
        };
        entries.push((name, decoded, entry_meta));
    }
    if !reader.0.is_empty() {
        return Err("trailing bytes");
    }
    Ok(DecodedDirectory { meta, entries })
}

fn decode_metadata(reader: &mut Reader<'_>) -> Result<Metadata, DecodeError> {
    let mode = reader.u32()?;
    if mode & !MODE_MASK != 0 {
        return Err("mode has bits outside 0o7777");
    }
    let uid = reader.u32()?;
    let gid = reader.u32()?;
    let mtime = i64::from_le_bytes(reader.array()?);
    let count = reader.u32()?;
    let mut xattrs = BTreeMap::new();
    let mut previous: Option<&[u8]> = None;
    for _ in 0..count {
        let key = reader.bytes()?;
        if key.is_empty() || key.len() > MAX_XATTR_NAME_LENGTH || key.contains(&0) {
            return Err("invalid xattr key");
        }
        if previous.is_some_and(|previous| previous >= key) {
            return Err("xattr keys are not sorted or not unique");
        }
        previous = Some(key);
        xattrs.insert(key.to_vec(), reader.bytes()?.to_vec());
    }
    Ok(Metadata {
        mode,
        uid,
        gid,
        mtime,
        xattrs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{Entry, Tree};

    fn encoded_directory_with(names: &[&str]) -> Vec<u8> {
        let mut tree = Tree::new(Metadata::default_directory());
        for name in names {
            let path = TreePath::parse(name).expect("path");
            tree.insert(&path, Entry::fifo(Metadata::default_file()))
                .expect("insert");
        }
        encode_tree(&tree).expect("encode").pop().expect("root").1
    }

    #[test]
    fn decoding_inverts_encoding() {
        let bytes = encoded_directory_with(&["a", "b"]);
        let decoded = decode_directory(&bytes).expect("decode");
        let names: Vec<String> = decoded
            .entries
            .iter()
            .map(|(name, _, _)| name.to_string())
            .collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn decoding_rejects_non_canonical_objects() {
        let bytes = encoded_directory_with(&["a", "b"]);
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(decode_directory(&trailing), Err("trailing bytes"));
        let mut other_version = bytes.clone();
        other_version[15] = b'2';
        assert_eq!(
            decode_directory(&other_version),
            Err("unknown tree encoding version")
        );
        // Swap the two one-byte names: same length, now unsorted.
        let swapped: Vec<u8> = {
            let first = bytes
                .windows(5)
                .position(|window| window == [1, 0, 0, 0, b'a'])
                .expect("entry a");
            let second = bytes
                .windows(5)
                .position(|window| window == [1, 0, 0, 0, b'b'])
                .expect("entry b");
            let mut swapped = bytes.clone();
            swapped[first + 4] = b'b';
            swapped[second + 4] = b'a';
            swapped
        };
        assert_eq!(
            decode_directory(&swapped),
            Err("entries are not sorted or not unique")
        );
        let duplicate = {
            let mut duplicate = swapped.clone();
            let position = duplicate
                .windows(5)
                .rposition(|window| window == [1, 0, 0, 0, b'a'])
                .expect("entry");
            duplicate[position + 4] = b'b';
            duplicate
        };
        assert_eq!(
            decode_directory(&duplicate),
            Err("entries are not sorted or not unique")
        );
        for length in 0..bytes.len() {
            assert!(decode_directory(&bytes[..length]).is_err());
        }
    }
}
