//! Fuzz input → an ISO [`Volume`], and the tree a correct image of it must read back as.
//!
//! Names and symlink targets are drawn from small alphabets (byte → piece of text) so
//! that random bytes give plausible paths: letters, dots, slashes, spaces, characters
//! outside ASCII (two- and three-byte UTF-8), long runs, and a few characters the writer
//! must refuse (Joliet's forbidden ones, control characters, a character outside the
//! Basic Multilingual Plane).

use std::collections::{BTreeMap, HashMap};

use arbitrary::Arbitrary;
use imgbuild_iso::{
    Attributes, Content, Directory, File, Label, Node, Symlink, Volume, MAXIMUM_EPOCH,
};

use crate::iso_reader::{Entry, Owner};

/// Pieces names are made of; `/` appears several times so paths have depth.
#[rustfmt::skip]
const NAME_ALPHABET: &[&str] = &[
    "a", "b", "c", "x", "A", "B", "Z", "0", "1", "9", ".", "-", "_", "~", " ", "+", "=", ",",
    "!", "#", "$", "%", "&", "'", "(", ")", "@", "[", "]", "^", "`", "{", "}", "é", "ß", "Ä",
    "中", "\u{a0}", "\u{ffff}", "/", "/", "/", "/", "/", "abcdefghij", "ABCDEFGHIJKLMNOP",
    "中文中文中文中文中文", "meta-data", "user-data", "README.TXT", "x.tar.gz", ":", ";",
    "*", "?", "\\", "\u{1}", "\u{7f}", "\u{1F600}", "..", ".",
];

/// Pieces symlink targets are made of.
#[rustfmt::skip]
const TARGET_ALPHABET: &[&str] = &[
    "/", "/", "/", ".", "..", "a", "b", "é", "中", " ", "etc", "usr/lib",
    "abcdefghijklmnopqrstuvwxyz", "\0",
];

/// Pieces volume labels are made of (mostly valid).
#[rustfmt::skip]
const LABEL_ALPHABET: &[&str] = &[
    "cidata", "CONTEXT", "config-2", "a", "Z", "0", "_", "-", ".", " ", "é", "ABCDEFGH",
];

/// The whole fuzz input of the ISO round trip.
#[derive(Arbitrary, Debug)]
pub struct VolumeInput {
    label: Vec<u8>,
    epoch: EpochInput,
    root_mode: u16,
    entries: Vec<EntryInput>,
    /// How the external-content callback behaves.
    pub callback: Callback,
}

/// How the external-content callback behaves.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callback {
    /// Writes exactly the declared bytes.
    Exact,
    /// Writes one byte less for the first extent with content.
    Short,
    /// Writes one byte more for the first extent with content.
    Long,
    /// Fails with an I/O error.
    Fail,
}

#[derive(Arbitrary, Debug)]
enum EpochInput {
    /// Reduced into 1970–2155.
    InRange(u64),
    /// Any value (mostly out of range).
    Raw(i64),
}

#[derive(Arbitrary, Debug)]
struct EntryInput {
    path: Vec<u8>,
    node: NodeInput,
}

#[derive(Arbitrary, Debug)]
enum NodeInput {
    Bytes {
        content: Vec<u8>,
        repeat: u8,
        mode: u16,
        uid: u32,
        gid: u32,
    },
    External {
        key: u8,
        size: u16,
        mode: u16,
    },
    Directory {
        mode: u16,
        uid: u32,
        gid: u32,
    },
    Symlink {
        target: Vec<u8>,
        repeat: u8,
        uid: u32,
        gid: u32,
    },
}

/// A volume built from fuzz input, with what reading its image must give.
pub struct Built {
    /// The volume to write.
    pub volume: Volume,
    /// The tree a reader must find (the root directory).
    pub expected: Entry,
    /// External keys and their declared sizes.
    pub external_sizes: HashMap<u64, u64>,
    /// True when the writer must succeed (with an exact callback): every choice the
    /// input made is representable.
    pub must_succeed: bool,
}

/// The bytes the callback writes for external `key` of `size` bytes.
pub fn external_bytes(key: u64, size: u64) -> Vec<u8> {
    (0..size)
        .map(|index| (key as u8).wrapping_mul(31) ^ (index as u8))
        .collect()
}

fn text(bytes: &[u8], alphabet: &[&str]) -> String {
    bytes
        .iter()
        .map(|byte| alphabet[usize::from(*byte) % alphabet.len()])
        .collect()
}

/// What a Rock Ridge reader gives back for a symlink target: repeated slashes as one.
pub fn stored_target(target: &str) -> String {
    let mut stored = String::with_capacity(target.len());
    for c in target.chars() {
        if c == '/' && stored.ends_with('/') {
            continue;
        }
        stored.push(c);
    }
    stored
}

impl VolumeInput {
    /// Builds the volume; `None` when the input gives no valid label (the label
    /// constructor must still not panic).
    pub fn build(&self) -> Option<Built> {
        let label_text = text(&self.label, LABEL_ALPHABET);
        let label = match Label::new(&label_text) {
            Ok(label) => label,
            Err(_) => Label::new("cidata").ok()?,
        };
        let epoch = match self.epoch {
            EpochInput::InRange(value) => (value % (MAXIMUM_EPOCH as u64 + 1)) as i64,
            EpochInput::Raw(value) => value,
        };
        let mut must_succeed = (0..=MAXIMUM_EPOCH).contains(&epoch);
        let root_attributes = Attributes::directory(u32::from(self.root_mode) & 0o7777);
        let mut root = Directory::new(root_attributes);
        let mut external_sizes: HashMap<u64, u64> = HashMap::new();
        for entry in &self.entries {
            let path = text(&entry.path, NAME_ALPHABET);
            let node = match &entry.node {
                NodeInput::Bytes {
                    content,
                    repeat,
                    mode,
                    uid,
                    gid,
                } => Node::File(File {
                    content: Content::Bytes(content.repeat(usize::from(*repeat % 16) + 1)),
                    attributes: Attributes::file(u32::from(*mode)).with_owner(*uid, *gid),
                }),
                NodeInput::External { key, size, mode } => {
                    let (key, size) = (u64::from(*key), u64::from(*size));
                    Node::File(File {
                        content: Content::External { key, size },
                        attributes: Attributes::file(u32::from(*mode)),
                    })
                }
                NodeInput::Directory { mode, uid, gid } => Node::Directory(Directory::new(
                    Attributes::directory(u32::from(*mode)).with_owner(*uid, *gid),
                )),
                NodeInput::Symlink {
                    target,
                    repeat,
                    uid,
                    gid,
                } => Node::Symlink(Symlink {
                    target: text(target, TARGET_ALPHABET).repeat(usize::from(*repeat % 32) + 1),
                    attributes: Attributes::symlink().with_owner(*uid, *gid),
                }),
            };
            // Only entries the tree accepts are part of the volume.
            let external = match &node {
                Node::File(File {
                    content: Content::External { key, size },
                    ..
                }) => Some((*key, *size)),
                _ => None,
            };
            let target = match &node {
                Node::Symlink(symlink) => Some(symlink.target.clone()),
                _ => None,
            };
            if root.insert(&path, node).is_err() {
                continue;
            }
            if let Some((key, size)) = external {
                if let Some(previous) = external_sizes.insert(key, size) {
                    // Two files sharing a key must declare the same size.
                    must_succeed &= previous == size;
                }
            }
            if let Some(target) = target {
                // The name and target must fit one 2048-byte continuation area. A target
                // of one-character components takes about 1.5 bytes per byte; the name
                // at most 197.
                must_succeed &=
                    !target.is_empty() && !target.contains('\0') && target.len() <= 1100;
            }
        }
        let expected = expected_directory(&root);
        Some(Built {
            volume: Volume {
                label,
                source_date_epoch: epoch,
                root,
            },
            expected,
            external_sizes,
            must_succeed,
        })
    }
}

fn expected_directory(directory: &Directory) -> Entry {
    let entries: BTreeMap<String, Entry> = directory
        .entries
        .iter()
        .map(|(name, node)| (name.as_str().to_owned(), expected_node(node)))
        .collect();
    Entry::Directory {
        owner: owner(&directory.attributes),
        entries,
    }
}

fn expected_node(node: &Node) -> Entry {
    match node {
        Node::Directory(directory) => expected_directory(directory),
        Node::File(file) => Entry::File {
            owner: owner(&file.attributes),
            bytes: match &file.content {
                Content::Bytes(bytes) => bytes.clone(),
                Content::External { key, size } => external_bytes(*key, *size),
            },
        },
        Node::Symlink(symlink) => Entry::Symlink {
            owner: owner(&symlink.attributes),
            target: stored_target(&symlink.target),
        },
    }
}

fn owner(attributes: &Attributes) -> Owner {
    Owner {
        mode: attributes.mode & 0o7777,
        uid: attributes.uid,
        gid: attributes.gid,
    }
}
