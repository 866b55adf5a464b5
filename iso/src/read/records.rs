//! The byte-level pieces of the reader: directory records, System Use (SUSP / Rock
//! Ridge) entries with their continuation areas, and the translation of Joliet and
//! plain identifiers into names. Every length is checked before it is used.

use std::io::{self, Read, Seek, SeekFrom};

use super::{Entry, EntryKind, ReadError, FLAG_DIRECTORY, MAX_CONTINUATIONS, SECTOR};

pub(super) fn trimmed(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .trim_end_matches([' ', '\0'])
        .to_owned()
}

pub(super) fn io_error(what: impl Into<String>, source: io::Error) -> ReadError {
    ReadError::Io {
        what: what.into(),
        source,
    }
}

pub(super) fn read_at<R: Read + Seek>(
    source: &mut R,
    offset: u64,
    buffer: &mut [u8],
) -> io::Result<()> {
    source.seek(SeekFrom::Start(offset))?;
    source.read_exact(buffer)
}

pub(super) fn malformed(reason: impl Into<String>) -> ReadError {
    ReadError::Malformed(reason.into())
}

fn both_endian_32(bytes: &[u8], at: usize) -> u32 {
    let mut le = [0u8; 4];
    le.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(le)
}

/// A directory record, parsed and bounds-checked.
pub(super) struct Record<'a> {
    pub(super) extent: u32,
    pub(super) size: u32,
    pub(super) flags: u8,
    pub(super) identifier: &'a [u8],
    pub(super) system_use: &'a [u8],
}

/// Parses the record at the start of `bytes` (`bytes[0]` is its length).
pub(super) fn parse_record(bytes: &[u8]) -> Result<Record<'_>, ReadError> {
    let length = usize::from(bytes[0]);
    if length < 34 || length > bytes.len() {
        return Err(malformed(format!("directory record of length {length}")));
    }
    let record = &bytes[..length];
    let identifier_length = usize::from(record[32]);
    let identifier_end = 33 + identifier_length;
    if identifier_end > length {
        return Err(malformed("a record's identifier runs past its end"));
    }
    let system_use_start = (identifier_end + (1 - identifier_length % 2)).min(length);
    Ok(Record {
        extent: both_endian_32(record, 2),
        size: both_endian_32(record, 10),
        flags: record[25],
        identifier: &record[33..identifier_end],
        system_use: &record[system_use_start..],
    })
}

/// What the System Use entries of one record say.
#[derive(Default)]
pub(super) struct SystemUse {
    pub(super) name: Option<Vec<u8>>,
    pub(super) mode: Option<u32>,
    pub(super) has_er: bool,
    pub(super) relocated: bool,
}

/// Parses SUSP entries in `area`, following `CE` continuations.
pub(super) fn system_use<R: Read + Seek>(
    source: &mut R,
    image_size: u64,
    area: &[u8],
) -> Result<SystemUse, ReadError> {
    let mut found = SystemUse::default();
    let mut name: Vec<u8> = Vec::new();
    let mut name_done = false;
    let mut has_name = false;
    let mut current = area.to_vec();
    let mut continuations = 0;
    loop {
        let area = &current[..];
        let mut next: Option<(u32, u32, u32)> = None;
        let mut at = 0;
        while at + 4 <= area.len() {
            let signature = [area[at], area[at + 1]];
            let length = usize::from(area[at + 2]);
            if length < 4 || at + length > area.len() {
                break;
            }
            let body = &area[at + 4..at + length];
            match &signature {
                b"ER" => found.has_er = true,
                b"RE" => found.relocated = true,
                b"ST" => break,
                b"PX" if body.len() >= 8 => found.mode = Some(both_endian_32(body, 0)),
                b"CE" if body.len() >= 24 => {
                    next = Some((
                        both_endian_32(body, 0),
                        both_endian_32(body, 8),
                        both_endian_32(body, 16),
                    ))
                }
                b"NM" if !body.is_empty() && !name_done => {
                    let flags = body[0];
                    if flags & 0x06 == 0 {
                        has_name = true;
                        name.extend_from_slice(&body[1..]);
                    }
                    name_done = flags & 0x01 == 0;
                }
                _ => {}
            }
            at += length;
        }
        let Some((block, offset, length)) = next else {
            break;
        };
        continuations += 1;
        if continuations > MAX_CONTINUATIONS {
            return Err(malformed(
                "more than 16 chained Rock Ridge continuation areas",
            ));
        }
        let start = u64::from(block) * SECTOR + u64::from(offset);
        if u64::from(offset) + u64::from(length) > SECTOR || start + u64::from(length) > image_size
        {
            return Err(malformed(format!(
                "Rock Ridge continuation area at sector {block} offset {offset} length {length} lies outside its sector or the image"
            )));
        }
        let mut continued = vec![0u8; length as usize];
        read_at(source, start, &mut continued)
            .map_err(|error| io_error(format!("continuation area at sector {block}"), error))?;
        current = continued;
    }
    if has_name {
        found.name = Some(name);
    }
    Ok(found)
}

/// The root directory entry of a volume descriptor.
pub(super) fn root_entry(descriptor: &[u8]) -> Result<Entry, ReadError> {
    let record = parse_record(&descriptor[156..190])?;
    if record.flags & FLAG_DIRECTORY == 0 {
        return Err(malformed("the root record is not a directory"));
    }
    Ok(Entry {
        name: String::new(),
        kind: EntryKind::Directory,
        size: u64::from(record.size),
        mode: None,
        extent: record.extent,
        multi_extent: false,
    })
}

/// A Joliet identifier: UCS-2 big-endian, `;1` and trailing dots removed.
pub(super) fn joliet_name(identifier: &[u8]) -> String {
    let units = identifier
        .chunks_exact(2)
        .map(|pair| u16::from_be_bytes([pair[0], pair[1]]));
    let name: String = char::decode_utf16(units)
        .map(|unit| unit.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect();
    let name = match name.rfind(';') {
        Some(at) => &name[..at],
        None => &name,
    };
    name.trim_end_matches('.').to_owned()
}

/// A plain identifier as Linux shows it: lower-case, without the version and a
/// trailing dot.
pub(super) fn plain_name(identifier: &[u8]) -> String {
    let text = String::from_utf8_lossy(identifier);
    let text = match text.find(';') {
        Some(at) => &text[..at],
        None => &text,
    };
    text.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_translated() {
        assert_eq!(plain_name(b"META_DAT.;1"), "meta_dat");
        assert_eq!(plain_name(b"CONTEXT.SH;1"), "context.sh");
        assert_eq!(plain_name(b"OPENSTACK"), "openstack");
        let mut ucs2 = Vec::new();
        for unit in "user-data;1".encode_utf16() {
            ucs2.extend_from_slice(&unit.to_be_bytes());
        }
        assert_eq!(joliet_name(&ucs2), "user-data");
        assert_eq!(joliet_name(&[0xD8, 0x00]), "\u{FFFD}");
    }
}
