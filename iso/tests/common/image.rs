//! A minimal, independent ISO 9660 reader for byte-level tests: volume descriptors,
//! directory records (checking the structural rules as it walks) and SUSP entries.

use std::cmp::Ordering;
use std::ops::Range;

pub const SECTOR: usize = 2048;

/// A both-endian 32-bit number; panics if the halves disagree.
pub fn both_32(bytes: &[u8], at: usize) -> u32 {
    let little = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let big = u32::from_be_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes"));
    assert_eq!(little, big, "both-endian number at {at}");
    little
}

/// A both-endian 16-bit number; panics if the halves disagree.
pub fn both_16(bytes: &[u8], at: usize) -> u16 {
    let little = u16::from_le_bytes(bytes[at..at + 2].try_into().expect("2 bytes"));
    let big = u16::from_be_bytes(bytes[at + 2..at + 4].try_into().expect("2 bytes"));
    assert_eq!(little, big, "both-endian number at {at}");
    little
}

/// One directory record.
#[derive(Clone, Debug)]
pub struct Record {
    /// Absolute offset in the image.
    pub at: usize,
    pub length: usize,
    pub extent: u32,
    pub size: u32,
    pub flags: u8,
    pub identifier: Vec<u8>,
    /// Absolute range of the System Use area.
    pub system_use: Range<usize>,
}

impl Record {
    pub fn is_directory(&self) -> bool {
        self.flags & 2 != 0
    }

    /// Absolute range of the 7-byte date.
    pub fn date(&self) -> Range<usize> {
        self.at + 18..self.at + 25
    }
}

/// Reads the records of the directory at `lba` with `size` bytes, checking: even
/// lengths, no record straddling a sector, size a multiple of 2048, zero fill after
/// the last record of each sector, and the identifier pad byte.
pub fn read_directory(image: &[u8], lba: u32, size: u32) -> Vec<Record> {
    assert_eq!(size as usize % SECTOR, 0, "directory size at LBA {lba}");
    let start = lba as usize * SECTOR;
    let end = start + size as usize;
    let mut records = Vec::new();
    let mut at = start;
    while at < end {
        let length = usize::from(image[at]);
        if length == 0 {
            let next = (at / SECTOR + 1) * SECTOR;
            assert!(image[at..next].iter().all(|&b| b == 0), "zero fill at {at}");
            at = next;
            continue;
        }
        assert_eq!(length % 2, 0, "odd record length at {at}");
        assert!(length >= 34, "short record at {at}");
        assert_eq!(
            at / SECTOR,
            (at + length - 1) / SECTOR,
            "record at {at} straddles a sector"
        );
        assert_eq!(image[at + 1], 0, "extended attribute length");
        assert_eq!(both_16(image, at + 28), 1, "volume sequence number");
        let identifier_length = usize::from(image[at + 32]);
        let identifier = image[at + 33..at + 33 + identifier_length].to_vec();
        let mut system_use_start = at + 33 + identifier_length;
        if identifier_length % 2 == 0 {
            assert_eq!(image[system_use_start], 0, "pad byte at {system_use_start}");
            system_use_start += 1;
        }
        records.push(Record {
            at,
            length,
            extent: both_32(image, at + 2),
            size: both_32(image, at + 10),
            flags: image[at + 25],
            identifier,
            system_use: system_use_start..at + length,
        });
        at += length;
    }
    records
}

/// One SUSP entry, with where it was found.
#[derive(Clone, Debug)]
pub struct SystemUseEntry {
    pub signature: [u8; 2],
    /// Absolute range of the whole entry.
    pub range: Range<usize>,
}

impl SystemUseEntry {
    pub fn data<'a>(&self, image: &'a [u8]) -> &'a [u8] {
        &image[self.range.start + 4..self.range.end]
    }
}

/// The SUSP entries of a System Use area, following `CE` continuation areas (and
/// checking each lies within one block).
pub fn system_use_entries(image: &[u8], area: Range<usize>) -> Vec<SystemUseEntry> {
    let mut entries = Vec::new();
    let mut pending = vec![area];
    while let Some(area) = pending.pop() {
        let mut at = area.start;
        while at + 4 <= area.end {
            let length = usize::from(image[at + 2]);
            if length == 0 {
                // A trailing pad byte.
                break;
            }
            assert!(length >= 4 && at + length <= area.end, "SUSP entry at {at}");
            assert_eq!(image[at + 3], 1, "SUSP entry version at {at}");
            let signature = [image[at], image[at + 1]];
            if &signature == b"CE" {
                let block = both_32(image, at + 4) as usize;
                let offset = both_32(image, at + 12) as usize;
                let size = both_32(image, at + 20) as usize;
                assert!(offset + size <= SECTOR, "CE area crosses its block");
                let start = block * SECTOR + offset;
                pending.push(start..start + size);
            }
            entries.push(SystemUseEntry {
                signature,
                range: at..at + length,
            });
            at += length;
        }
    }
    entries
}

/// The Rock Ridge name (concatenated `NM` entries) of a record, if any.
pub fn rock_ridge_name(image: &[u8], entries: &[SystemUseEntry]) -> Option<Vec<u8>> {
    let mut name = Vec::new();
    let mut found = false;
    for entry in entries.iter().filter(|entry| &entry.signature == b"NM") {
        found = true;
        name.extend_from_slice(&entry.data(image)[1..]);
    }
    found.then_some(name)
}

/// A whole tree: (path of the directory, its records), breadth-first, starting at the
/// root record at `root_at` (offset of a 34-byte record in a volume descriptor).
/// Names are the raw identifiers joined with `/`.
pub fn walk(image: &[u8], root_at: usize) -> Vec<(String, u32, Vec<Record>)> {
    let root_lba = both_32(image, root_at + 2);
    let root_size = both_32(image, root_at + 10);
    let mut queue = vec![(String::new(), root_lba, root_size, root_lba)];
    let mut directories = Vec::new();
    let mut position = 0;
    while position < queue.len() {
        let (path, lba, size, parent) = queue[position].clone();
        position += 1;
        let records = read_directory(image, lba, size);
        assert!(records.len() >= 2, "directory {path:?} lacks . and ..");
        assert_eq!(records[0].identifier, [0], "first record of {path:?} is .");
        assert_eq!(records[0].extent, lba, ". of {path:?}");
        assert_eq!(
            records[1].identifier,
            [1],
            "second record of {path:?} is .."
        );
        assert_eq!(records[1].extent, parent, ".. of {path:?}");
        for record in &records[2..] {
            if record.is_directory() {
                let name = String::from_utf8_lossy(&record.identifier).into_owned();
                queue.push((format!("{path}/{name}"), record.extent, record.size, lba));
            }
        }
        directories.push((path, lba, records));
    }
    directories
}

/// ECMA-119 9.3 order of primary identifiers (name, then extension, space padded).
pub fn compare_primary(a: &[u8], b: &[u8]) -> Ordering {
    let split = |identifier: &[u8]| {
        let base = identifier
            .split(|&b| b == b';')
            .next()
            .unwrap_or_default()
            .to_vec();
        let mut parts = base.splitn(2, |&b| b == b'.').map(<[u8]>::to_vec);
        (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        )
    };
    let pad = |mut part: Vec<u8>| {
        part.resize(16, b' ');
        part
    };
    let ((a_name, a_extension), (b_name, b_extension)) = (split(a), split(b));
    pad(a_name)
        .cmp(&pad(b_name))
        .then(pad(a_extension).cmp(&pad(b_extension)))
}

/// Parses a path table: (identifier, extent, parent number).
pub fn path_table(image: &[u8], lba: u32, size: u32, big_endian: bool) -> Vec<(Vec<u8>, u32, u16)> {
    let mut at = lba as usize * SECTOR;
    let end = at + size as usize;
    let mut records = Vec::new();
    while at < end {
        let length = usize::from(image[at]);
        let extent: [u8; 4] = image[at + 2..at + 6].try_into().expect("4");
        let parent: [u8; 2] = image[at + 6..at + 8].try_into().expect("2");
        let (extent, parent) = if big_endian {
            (u32::from_be_bytes(extent), u16::from_be_bytes(parent))
        } else {
            (u32::from_le_bytes(extent), u16::from_le_bytes(parent))
        };
        records.push((image[at + 8..at + 8 + length].to_vec(), extent, parent));
        at += 8 + length + length % 2;
    }
    records
}
