//! An independent ISO 9660 reader for the round-trip target: it reads an image the way
//! Linux does (Rock Ridge names, modes, owners and symlink targets from the primary
//! tree; UCS-2 names from the Joliet tree) and checks the structure on the way:
//! sector-aligned size, the descriptor set, both-endian numbers that agree, records
//! that do not straddle sectors, `.` and `..`, unique and ordered identifiers, link
//! counts, extents inside the image, path tables that list every directory.
//!
//! Every problem is an `Err` with a message; the target turns it into a panic.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};

/// Bytes in a sector.
pub const SECTOR: usize = 2048;

const S_IFMT: u32 = 0o170_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;

/// The deepest tree the reader walks (the writer writes any depth it is given; a loop
/// is caught by the extents already visited).
const MAXIMUM_DEPTH: usize = 1024;

/// Permission bits and owner, as Rock Ridge `PX` carries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// Permission bits (`0o7777`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

/// What the primary tree (through Rock Ridge) holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A regular file and its bytes.
    File {
        /// Mode and owner.
        owner: Owner,
        /// Contents.
        bytes: Vec<u8>,
    },
    /// A directory and its entries by exact name.
    Directory {
        /// Mode and owner.
        owner: Owner,
        /// Entries.
        entries: BTreeMap<String, Entry>,
    },
    /// A symbolic link.
    Symlink {
        /// Mode and owner.
        owner: Owner,
        /// Target as a Rock Ridge reader rebuilds it.
        target: String,
    },
}

/// What the Joliet tree holds: names and contents (symlinks show as empty files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JolietEntry {
    /// A file.
    File(Vec<u8>),
    /// A directory.
    Directory(BTreeMap<String, JolietEntry>),
}

impl Entry {
    /// The Joliet view of this tree.
    pub fn joliet(&self) -> JolietEntry {
        match self {
            Entry::File { bytes, .. } => JolietEntry::File(bytes.clone()),
            Entry::Symlink { .. } => JolietEntry::File(Vec::new()),
            Entry::Directory { entries, .. } => JolietEntry::Directory(
                entries
                    .iter()
                    .map(|(name, entry)| (name.clone(), entry.joliet()))
                    .collect(),
            ),
        }
    }
}

/// An image read back.
#[derive(Debug)]
pub struct Image {
    /// The primary volume identifier, trailing spaces removed.
    pub label: String,
    /// The primary tree.
    pub root: Entry,
    /// The Joliet tree.
    pub joliet: JolietEntry,
}

type Result<T> = std::result::Result<T, String>;

fn slice(image: &[u8], start: usize, length: usize) -> Result<&[u8]> {
    image
        .get(start..start.checked_add(length).ok_or("offset overflow")?)
        .ok_or_else(|| format!("{length} bytes at {start} are outside the image"))
}

fn both_16(image: &[u8], at: usize) -> Result<u16> {
    let bytes = slice(image, at, 4)?;
    let little = u16::from_le_bytes([bytes[0], bytes[1]]);
    let big = u16::from_be_bytes([bytes[2], bytes[3]]);
    if little != big {
        return Err(format!(
            "both-endian 16-bit number at {at}: {little} ≠ {big}"
        ));
    }
    Ok(little)
}

fn both_32(image: &[u8], at: usize) -> Result<u32> {
    let bytes = slice(image, at, 8)?;
    let little = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let big = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    if little != big {
        return Err(format!(
            "both-endian 32-bit number at {at}: {little} ≠ {big}"
        ));
    }
    Ok(little)
}

/// One directory record.
#[derive(Debug, Clone)]
struct Record {
    at: usize,
    extent: u32,
    size: u32,
    directory: bool,
    identifier: Vec<u8>,
    system_use: std::ops::Range<usize>,
}

/// Reads the records of the directory extent at `lba`, `size` bytes.
fn read_directory(image: &[u8], lba: u32, size: u32) -> Result<Vec<Record>> {
    if size as usize % SECTOR != 0 || size == 0 {
        return Err(format!("directory at LBA {lba} has size {size}"));
    }
    let start = lba as usize * SECTOR;
    let end = start + size as usize;
    slice(image, start, size as usize)?;
    let mut records = Vec::new();
    let mut at = start;
    while at < end {
        let length = usize::from(image[at]);
        if length == 0 {
            let next = (at / SECTOR + 1) * SECTOR;
            if image[at..next].iter().any(|&byte| byte != 0) {
                return Err(format!("non-zero bytes after the last record at {at}"));
            }
            at = next;
            continue;
        }
        if length % 2 != 0 || length < 34 {
            return Err(format!("record at {at} has length {length}"));
        }
        if at / SECTOR != (at + length - 1) / SECTOR {
            return Err(format!("record at {at} straddles a sector"));
        }
        if image[at + 1] != 0 {
            return Err(format!("record at {at} has an extended attribute record"));
        }
        if both_16(image, at + 28)? != 1 {
            return Err(format!("record at {at}: volume sequence number"));
        }
        let identifier_length = usize::from(image[at + 32]);
        let mut system_use_start = at + 33 + identifier_length;
        if system_use_start > at + length {
            return Err(format!("record at {at}: identifier longer than the record"));
        }
        let identifier = image[at + 33..system_use_start].to_vec();
        if identifier_length % 2 == 0 {
            if system_use_start >= at + length || image[system_use_start] != 0 {
                return Err(format!("record at {at}: missing pad byte"));
            }
            system_use_start += 1;
        }
        records.push(Record {
            at,
            extent: both_32(image, at + 2)?,
            size: both_32(image, at + 10)?,
            directory: image[at + 25] & 0x02 != 0,
            identifier,
            system_use: system_use_start..at + length,
        });
        at += length;
    }
    Ok(records)
}

/// The Rock Ridge facts of one record.
#[derive(Debug, Default)]
struct RockRidge {
    name: Option<Vec<u8>>,
    /// Mode, link count, uid, gid.
    px: Option<(u32, u32, u32, u32)>,
    target: Option<Vec<u8>>,
    sp: bool,
    er: bool,
}

/// Reads the SUSP entries of `area`, following `CE` continuation areas.
fn rock_ridge(image: &[u8], area: std::ops::Range<usize>) -> Result<RockRidge> {
    let mut facts = RockRidge::default();
    let mut pending = vec![area];
    let mut areas = 0;
    let mut name_done = false;
    let mut target = Vec::new();
    let mut target_done = false;
    let mut target_seen = false;
    while let Some(area) = pending.pop() {
        areas += 1;
        if areas > 16 {
            return Err("more than 16 continuation areas for one record".into());
        }
        let mut at = area.start;
        while at + 4 <= area.end {
            let length = usize::from(image[at + 2]);
            if length < 4 || at + length > area.end {
                return Err(format!("SUSP entry at {at} has length {length}"));
            }
            if image[at + 3] != 1 {
                return Err(format!("SUSP entry at {at}: version {}", image[at + 3]));
            }
            let data = &image[at + 4..at + length];
            match &image[at..at + 2] {
                b"SP" => facts.sp = data.len() == 3 && data[..2] == [0xBE, 0xEF],
                b"ER" => facts.er = data.get(4..14) == Some(&b"RRIP_1991A"[..]),
                b"CE" => {
                    if length != 28 {
                        return Err(format!("CE at {at} has length {length}"));
                    }
                    let block = both_32(image, at + 4)? as usize;
                    let offset = both_32(image, at + 12)? as usize;
                    let size = both_32(image, at + 20)? as usize;
                    if offset + size > SECTOR {
                        return Err(format!("CE at {at}: area crosses its block"));
                    }
                    let start = block * SECTOR + offset;
                    slice(image, start, size)?;
                    pending.push(start..start + size);
                }
                b"PX" => {
                    if length != 36 {
                        return Err(format!("PX at {at} has length {length}"));
                    }
                    facts.px = Some((
                        both_32(image, at + 4)?,
                        both_32(image, at + 12)?,
                        both_32(image, at + 20)?,
                        both_32(image, at + 28)?,
                    ));
                }
                b"NM" => {
                    if name_done {
                        return Err(format!("NM at {at} after a final NM"));
                    }
                    let flags = *data.first().ok_or("empty NM")?;
                    facts
                        .name
                        .get_or_insert_with(Vec::new)
                        .extend_from_slice(&data[1..]);
                    name_done = flags & 1 == 0;
                }
                b"SL" => {
                    if target_done {
                        return Err(format!("SL at {at} after a final SL"));
                    }
                    target_seen = true;
                    let flags = *data.first().ok_or("empty SL")?;
                    decode_symlink_components(&data[1..], flags & 1 != 0, &mut target)?;
                    target_done = flags & 1 == 0;
                }
                b"TF" | b"RR" => {}
                other => {
                    return Err(format!(
                        "unexpected SUSP entry {:?} at {at}",
                        String::from_utf8_lossy(other)
                    ))
                }
            }
            at += length;
        }
        if image[at..area.end].iter().any(|&byte| byte != 0) {
            return Err(format!("non-zero bytes after the SUSP entries at {at}"));
        }
    }
    if target_seen {
        if !target_done {
            return Err("the last SL entry has the continue flag".into());
        }
        facts.target = Some(target);
    }
    if facts.name.is_some() && !name_done {
        return Err("the last NM entry has the continue flag".into());
    }
    Ok(facts)
}

/// Decodes the component records of one `SL` entry the way Linux's
/// `get_symlink_chunk` does.
fn decode_symlink_components(
    mut components: &[u8],
    entry_continues: bool,
    target: &mut Vec<u8>,
) -> Result<()> {
    while components.len() > 1 {
        let flags = components[0];
        let size = usize::from(components[1]);
        let text = components
            .get(2..2 + size)
            .ok_or("SL component longer than its entry")?;
        let root = flags & !1 == 0x08;
        match flags & !1 {
            0 => target.extend_from_slice(text),
            0x02 => target.push(b'.'),
            0x04 => target.extend_from_slice(b".."),
            0x08 => target.push(b'/'),
            other => return Err(format!("SL component flag {other:#x}")),
        }
        if flags & !1 != 0 && size != 0 {
            return Err("a flagged SL component carries text".into());
        }
        components = &components[2 + size..];
        let last = components.len() < 2;
        if !root && flags & 1 == 0 && (!last || entry_continues) {
            target.push(b'/');
        }
    }
    if !components.is_empty() {
        return Err("a stray byte after the SL components".into());
    }
    Ok(())
}

/// ECMA-119 9.3 order of primary identifiers: name, extension (space padded), then
/// version descending.
fn compare_primary(a: &[u8], b: &[u8]) -> Ordering {
    fn split(identifier: &[u8]) -> (&[u8], &[u8], &[u8]) {
        let (rest, version) = match identifier.iter().position(|&b| b == b';') {
            Some(at) => (&identifier[..at], &identifier[at + 1..]),
            None => (identifier, &[][..]),
        };
        match rest.iter().position(|&b| b == b'.') {
            Some(at) => (&rest[..at], &rest[at + 1..], version),
            None => (rest, &[][..], version),
        }
    }
    fn padded(a: &[u8], b: &[u8]) -> Ordering {
        let length = a.len().max(b.len());
        (0..length)
            .map(|i| {
                let x = a.get(i).copied().unwrap_or(b' ');
                let y = b.get(i).copied().unwrap_or(b' ');
                x.cmp(&y)
            })
            .find(|ordering| ordering.is_ne())
            .unwrap_or(Ordering::Equal)
    }
    let (a_name, a_extension, a_version) = split(a);
    let (b_name, b_extension, b_version) = split(b);
    padded(a_name, b_name)
        .then_with(|| padded(a_extension, b_extension))
        .then_with(|| padded(b_version, a_version))
}

/// A level-1 identifier: `NAME8.EXT;1` for files, `NAME8` for directories, d-characters.
fn check_primary_identifier(identifier: &[u8], directory: bool) -> Result<()> {
    let d = |byte: &u8| byte.is_ascii_uppercase() || byte.is_ascii_digit() || *byte == b'_';
    let shown = String::from_utf8_lossy(identifier);
    let valid = if directory {
        (1..=8).contains(&identifier.len()) && identifier.iter().all(d)
    } else {
        match identifier.strip_suffix(b";1") {
            Some(base) => match base.iter().position(|&b| b == b'.') {
                Some(dot) => {
                    let (name, extension) = (&base[..dot], &base[dot + 1..]);
                    name.len() <= 8
                        && extension.len() <= 3
                        && !(name.is_empty() && extension.is_empty())
                        && name.iter().all(d)
                        && extension.iter().all(d)
                }
                None => false,
            },
            None => false,
        }
    };
    if valid {
        Ok(())
    } else {
        Err(format!("primary identifier {shown:?} is not level 1"))
    }
}

/// The identifier as readers without extensions show it (version and a trailing dot
/// dropped).
fn shown_identifier(identifier: &[u8]) -> Vec<u8> {
    let base = identifier.split(|&b| b == b';').next().unwrap_or_default();
    base.strip_suffix(b".").unwrap_or(base).to_vec()
}

fn file_bytes(image: &[u8], extent: u32, size: u32) -> Result<Vec<u8>> {
    if size == 0 {
        if extent != 0 {
            return Err(format!("empty file with extent {extent}"));
        }
        return Ok(Vec::new());
    }
    Ok(slice(image, extent as usize * SECTOR, size as usize)?.to_vec())
}

/// Walks the primary tree from the directory at `lba`/`size` whose parent is at
/// `parent_lba`; records every directory's extent in `directories`.
fn walk_primary(
    image: &[u8],
    lba: u32,
    size: u32,
    parent_lba: u32,
    depth: usize,
    directories: &mut Vec<(u32, u32)>,
) -> Result<Entry> {
    if depth > MAXIMUM_DEPTH || directories.iter().any(|(seen, _)| *seen == lba) {
        return Err(format!(
            "the primary tree loops or is deeper than {MAXIMUM_DEPTH}"
        ));
    }
    directories.push((lba, parent_lba));
    let records = read_directory(image, lba, size)?;
    let [dot, dotdot, children @ ..] = records.as_slice() else {
        return Err(format!("directory at LBA {lba} lacks `.` and `..`"));
    };
    if dot.identifier != [0] || dot.extent != lba || dot.size != size || !dot.directory {
        return Err(format!("`.` of the directory at LBA {lba}"));
    }
    if dotdot.identifier != [1] || dotdot.extent != parent_lba || !dotdot.directory {
        return Err(format!("`..` of the directory at LBA {lba}"));
    }
    let dot_facts = rock_ridge(image, dot.system_use.clone())?;
    if depth == 0 && !(dot_facts.sp && dot_facts.er) {
        return Err("the root `.` lacks SP or ER".into());
    }
    let (mode, links, uid, gid) = dot_facts.px.ok_or("`.` has no PX")?;
    if mode & S_IFMT != S_IFDIR {
        return Err(format!("`.` at LBA {lba} has mode {mode:o}"));
    }
    let subdirectories = children.iter().filter(|record| record.directory).count() as u32;
    if links != 2 + subdirectories {
        return Err(format!(
            "`.` at LBA {lba}: link count {links} for {subdirectories} subdirectories"
        ));
    }
    let mut entries = BTreeMap::new();
    let mut shown = HashSet::new();
    for pair in children.windows(2) {
        if compare_primary(&pair[0].identifier, &pair[1].identifier) != Ordering::Less {
            return Err(format!(
                "records {:?} and {:?} are out of order",
                String::from_utf8_lossy(&pair[0].identifier),
                String::from_utf8_lossy(&pair[1].identifier)
            ));
        }
    }
    for record in children {
        check_primary_identifier(&record.identifier, record.directory)?;
        if !shown.insert(shown_identifier(&record.identifier)) {
            return Err(format!(
                "identifier {:?} is not unique",
                String::from_utf8_lossy(&record.identifier)
            ));
        }
        let facts = rock_ridge(image, record.system_use.clone())?;
        let name = facts
            .name
            .ok_or_else(|| format!("record at {} has no NM", record.at))?;
        let name = String::from_utf8(name).map_err(|_| "NM is not UTF-8".to_owned())?;
        let (mode, links, uid, gid) = facts.px.ok_or("a record has no PX")?;
        let owner = Owner {
            mode: mode & 0o7777,
            uid,
            gid,
        };
        let entry = match mode & S_IFMT {
            S_IFDIR if record.directory => {
                let entry = walk_primary(
                    image,
                    record.extent,
                    record.size,
                    lba,
                    depth + 1,
                    directories,
                )?;
                let Entry::Directory { owner: inner, .. } = &entry else {
                    return Err("a directory read as something else".into());
                };
                if *inner != owner {
                    return Err(format!("`{name}`: PX of its record and of its `.` differ"));
                }
                let grandchildren = read_directory(image, record.extent, record.size)?
                    .iter()
                    .skip(2)
                    .filter(|child| child.directory)
                    .count() as u32;
                if links != 2 + grandchildren {
                    return Err(format!("`{name}`: link count {links}"));
                }
                entry
            }
            S_IFREG if !record.directory => {
                if links != 1 || facts.target.is_some() {
                    return Err(format!("`{name}`: file with links {links} or SL"));
                }
                Entry::File {
                    owner,
                    bytes: file_bytes(image, record.extent, record.size)?,
                }
            }
            S_IFLNK if !record.directory => {
                if record.size != 0 || record.extent != 0 {
                    return Err(format!("`{name}`: symlink with an extent"));
                }
                let target = facts
                    .target
                    .ok_or_else(|| format!("`{name}`: symlink without SL"))?;
                Entry::Symlink {
                    owner,
                    target: String::from_utf8(target)
                        .map_err(|_| format!("`{name}`: target is not UTF-8"))?,
                }
            }
            other => {
                return Err(format!(
                    "`{name}`: mode {other:o} with directory flag {}",
                    record.directory
                ))
            }
        };
        if entries.insert(name.clone(), entry).is_some() {
            return Err(format!("`{name}` appears twice"));
        }
    }
    Ok(Entry::Directory {
        owner: Owner {
            mode: mode & 0o7777,
            uid,
            gid,
        },
        entries,
    })
}

fn ucs2(bytes: &[u8]) -> Result<String> {
    if bytes.len() % 2 != 0 {
        return Err("odd-length Joliet name".into());
    }
    let units: Vec<u16> = bytes
        .chunks(2)
        .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
        .collect();
    String::from_utf16(&units).map_err(|_| "Joliet name is not UCS-2".to_owned())
}

fn walk_joliet(
    image: &[u8],
    lba: u32,
    size: u32,
    parent_lba: u32,
    depth: usize,
    directories: &mut Vec<(u32, u32)>,
) -> Result<JolietEntry> {
    if depth > MAXIMUM_DEPTH || directories.iter().any(|(seen, _)| *seen == lba) {
        return Err(format!(
            "the Joliet tree loops or is deeper than {MAXIMUM_DEPTH}"
        ));
    }
    directories.push((lba, parent_lba));
    let records = read_directory(image, lba, size)?;
    let [dot, dotdot, children @ ..] = records.as_slice() else {
        return Err(format!("Joliet directory at LBA {lba} lacks `.` and `..`"));
    };
    if dot.identifier != [0] || dot.extent != lba || dotdot.identifier != [1] {
        return Err(format!("`.`/`..` of the Joliet directory at LBA {lba}"));
    }
    if dotdot.extent != parent_lba {
        return Err(format!("`..` of the Joliet directory at LBA {lba}"));
    }
    for pair in children.windows(2) {
        let units = |identifier: &[u8]| -> Vec<u16> {
            identifier
                .chunks(2)
                .map(|pair| u16::from_be_bytes([pair[0], pair.get(1).copied().unwrap_or(0)]))
                .collect()
        };
        if units(&pair[0].identifier) >= units(&pair[1].identifier) {
            return Err("Joliet records out of order".into());
        }
    }
    let mut entries = BTreeMap::new();
    for record in children {
        if !record.system_use.is_empty()
            && image[record.system_use.clone()]
                .iter()
                .any(|&byte| byte != 0)
        {
            return Err("a Joliet record has System Use bytes".into());
        }
        let name = ucs2(&record.identifier)?;
        let entry = if record.directory {
            walk_joliet(
                image,
                record.extent,
                record.size,
                lba,
                depth + 1,
                directories,
            )?
        } else {
            JolietEntry::File(file_bytes(image, record.extent, record.size)?)
        };
        if entries.insert(name.clone(), entry).is_some() {
            return Err(format!("Joliet `{name}` appears twice"));
        }
    }
    Ok(JolietEntry::Directory(entries))
}

/// Checks a path table (L or M) against the directories found by walking the tree:
/// same count, and each record's extent and parent number match a directory.
fn check_path_table(
    image: &[u8],
    size: u32,
    lba: u32,
    big_endian: bool,
    directories: &[(u32, u32)],
) -> Result<()> {
    let table = slice(image, lba as usize * SECTOR, size as usize)?;
    let mut records: Vec<(u32, u16)> = Vec::new();
    let mut at = 0;
    while at < table.len() {
        let length = usize::from(table[at]);
        let record = table
            .get(at..at + 8 + length)
            .ok_or("a path table record runs past the table")?;
        let extent = [record[2], record[3], record[4], record[5]];
        let parent = [record[6], record[7]];
        let (extent, parent) = if big_endian {
            (u32::from_be_bytes(extent), u16::from_be_bytes(parent))
        } else {
            (u32::from_le_bytes(extent), u16::from_le_bytes(parent))
        };
        records.push((extent, parent));
        at += 8 + length + length % 2;
    }
    if records.len() != directories.len() {
        return Err(format!(
            "path table lists {} directories, the tree has {}",
            records.len(),
            directories.len()
        ));
    }
    let by_extent: BTreeMap<u32, u32> = directories.iter().copied().collect();
    for (extent, parent) in &records {
        let parent_extent = records
            .get(usize::from(*parent).wrapping_sub(1))
            .map(|(extent, _)| *extent)
            .ok_or_else(|| format!("path table parent number {parent}"))?;
        if by_extent.get(extent) != Some(&parent_extent) {
            return Err(format!(
                "path table record for LBA {extent} has a wrong parent"
            ));
        }
    }
    Ok(())
}

/// Reads an image written by `imgbuild_iso`.
pub fn read(image: &[u8]) -> Result<Image> {
    if image.len() % SECTOR != 0 || image.len() < 19 * SECTOR {
        return Err(format!("image size {} is not sectors", image.len()));
    }
    let sectors = (image.len() / SECTOR) as u32;
    if image[..16 * SECTOR].iter().any(|&byte| byte != 0) {
        return Err("the system area is not zero".into());
    }
    let primary = 16 * SECTOR;
    let joliet = 17 * SECTOR;
    let terminator = 18 * SECTOR;
    if image[primary..primary + 7] != [1, b'C', b'D', b'0', b'0', b'1', 1] {
        return Err("no primary volume descriptor at sector 16".into());
    }
    if image[joliet..joliet + 7] != [2, b'C', b'D', b'0', b'0', b'1', 1]
        || &image[joliet + 88..joliet + 91] != b"%/E"
    {
        return Err("no Joliet descriptor at sector 17".into());
    }
    if image[terminator..terminator + 7] != [0xFF, b'C', b'D', b'0', b'0', b'1', 1] {
        return Err("no terminator at sector 18".into());
    }
    for descriptor in [primary, joliet] {
        if both_32(image, descriptor + 80)? != sectors {
            return Err("the volume space size is not the image size".into());
        }
        if both_16(image, descriptor + 128)? != SECTOR as u16 {
            return Err("the logical block size is not 2048".into());
        }
    }
    let label = String::from_utf8_lossy(&image[primary + 40..primary + 72])
        .trim_end_matches(' ')
        .to_owned();
    let root_record = |descriptor: usize| -> Result<(u32, u32)> {
        let at = descriptor + 156;
        if image[at] != 34 || image[at + 32] != 1 || image[at + 33] != 0 {
            return Err("the root record of a descriptor".into());
        }
        Ok((both_32(image, at + 2)?, both_32(image, at + 10)?))
    };
    let (primary_lba, primary_size) = root_record(primary)?;
    let mut primary_directories = Vec::new();
    let root = walk_primary(
        image,
        primary_lba,
        primary_size,
        primary_lba,
        0,
        &mut primary_directories,
    )?;
    let (joliet_lba, joliet_size) = root_record(joliet)?;
    let mut joliet_directories = Vec::new();
    let joliet_root = walk_joliet(
        image,
        joliet_lba,
        joliet_size,
        joliet_lba,
        0,
        &mut joliet_directories,
    )?;
    for (descriptor, directories) in [
        (primary, &primary_directories),
        (joliet, &joliet_directories),
    ] {
        let size = both_32(image, descriptor + 132)?;
        let little = u32::from_le_bytes(
            slice(image, descriptor + 140, 4)?
                .try_into()
                .map_err(|_| "4 bytes")?,
        );
        let big = u32::from_be_bytes(
            slice(image, descriptor + 148, 4)?
                .try_into()
                .map_err(|_| "4 bytes")?,
        );
        check_path_table(image, size, little, false, directories)?;
        check_path_table(image, size, big, true, directories)?;
    }
    Ok(Image {
        label,
        root,
        joliet: joliet_root,
    })
}
