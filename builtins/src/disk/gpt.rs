//! GUID partition tables (GPT) written in place into a disk image file, deterministically.
//!
//! A disk image is built as a sparse file of its final size; this module writes only its
//! partition table: the protective MBR (LBA 0), the primary header (LBA 1) and entry array
//! (LBA 2..34, 128 entries of 128 bytes), and at the end of the disk the backup entry array
//! and backup header (the last 33 sectors with 512-byte sectors). Every other byte of the
//! file is left alone. The encoding and CRC32s are done by the `gptman` crate; what
//! `gptman` would choose by itself (partition placement) is decided here instead.
//!
//! **Invariant:** the table is a pure function of the [`Layout`]: no clock, no randomness,
//! no environment. Disk and partition GUIDs are inputs; [`derive_guid`] makes them from a
//! derivation's identity, so the same recipe gives the same bytes.
//!
//! GUIDs are held as the 16 bytes stored on disk. GPT stores the first three fields of a
//! GUID little-endian ("mixed-endian"): the text `c12a7328-f81f-11d2-…` is stored as
//! `28 73 2a c1 1f f8 d2 11 …`. [`guid_from_text`] and [`guid_to_text`] convert.
//!
//! [`plan`] places partitions given their sizes: each start aligned (1 MiB is usual, so the
//! first partition starts at LBA 2048), the last one may take the rest of the disk. Every
//! input error is a [`GptError`] naming the partition and the numbers; nothing panics.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};

mod error;
mod guid;

pub use error::GptError;
pub use guid::{
    derive_guid, guid_from_text, guid_to_text, ESP, LINUX_FILESYSTEM, LINUX_HOME,
    LINUX_ROOT_X86_64, LINUX_SRV, LINUX_SWAP, LINUX_VAR, XBOOTLDR,
};

/// The sector size [`plan`] assumes, in bytes.
pub const SECTOR_SIZE: u64 = 512;

/// Number of entries in the partition entry array (the usual, and minimum, size).
pub(crate) const ENTRY_COUNT: u64 = 128;
/// Size of one partition entry, in bytes.
const ENTRY_SIZE: u64 = 128;
/// Longest partition name, in UTF-16 code units.
pub(crate) const NAME_UNITS: usize = 36;

/// One partition of a [`Layout`], with its place on the disk in sectors (both ends
/// inclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// The GPT partition name (at most 36 UTF-16 code units).
    pub name: String,
    /// The partition type, as stored on disk (see [`guid_from_text`]).
    pub type_guid: [u8; 16],
    /// The partition's own GUID, as stored on disk.
    pub unique_guid: [u8; 16],
    /// First sector of the partition.
    pub first_lba: u64,
    /// Last sector of the partition (inclusive).
    pub last_lba: u64,
    /// The attribute bits (bit 0: required, bit 2: legacy BIOS bootable, 48..63: type
    /// specific).
    pub attributes: u64,
}

/// A whole partition table: what [`write_table`] writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The disk GUID, as stored on disk.
    pub disk_guid: [u8; 16],
    /// Bytes per sector: 512 or 4096.
    pub sector_size: u64,
    /// Size of the disk image in bytes (the file must have exactly this length).
    pub disk_size: u64,
    /// The partitions, in table order (entry 1 first).
    pub partitions: Vec<Partition>,
}

/// A partition to place with [`plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRequest {
    /// The partition name, used in error messages and checked for length.
    pub name: String,
    /// The partition type, as stored on disk.
    pub type_guid: [u8; 16],
    /// Size in bytes (a multiple of [`SECTOR_SIZE`]), or `None` for the rest of the disk
    /// (only the last request).
    pub size: Option<u64>,
    /// Where it starts, in bytes (a multiple of the alignment), or `None` for the first
    /// aligned sector after the previous partition.
    pub start: Option<u64>,
}

/// Sectors taken by one copy of the entry array.
fn entry_sectors(sector_size: u64) -> u64 {
    (ENTRY_COUNT * ENTRY_SIZE).div_ceil(sector_size)
}

/// The usable sectors `(first, last)` of a disk, after checking its geometry.
fn usable_sectors(disk_size: u64, sector_size: u64) -> Result<(u64, u64), GptError> {
    if sector_size != 512 && sector_size != 4096 {
        return Err(GptError::SectorSize { sector_size });
    }
    if !disk_size.is_multiple_of(sector_size) {
        return Err(GptError::DiskSizeNotSectors {
            disk_size,
            sector_size,
        });
    }
    let table = entry_sectors(sector_size);
    // MBR, header and entries in front; entries and header behind; one usable sector.
    let minimum = (2 + table + table + 1 + 1) * sector_size;
    if disk_size < minimum {
        return Err(GptError::DiskTooSmallForTables { disk_size, minimum });
    }
    let sectors = disk_size / sector_size;
    Ok((2 + table, sectors - table - 2))
}

fn check_name(name: &str) -> Result<(), GptError> {
    let units = name.encode_utf16().count();
    if units > NAME_UNITS {
        return Err(GptError::NameTooLong {
            partition: name.to_owned(),
            units,
        });
    }
    Ok(())
}

/// Places `requests` on a disk of `disk_size` bytes with [`SECTOR_SIZE`]-byte sectors:
/// each partition starts at the first multiple of `alignment` (bytes) after the previous
/// one (or after the primary table); a `None` size takes the rest, up to the backup table.
/// Returns `(first_lba, last_lba)` per request, both inclusive.
pub fn plan(
    disk_size: u64,
    requests: &[PartitionRequest],
    alignment: u64,
) -> Result<Vec<(u64, u64)>, GptError> {
    let (first_usable, last_usable) = usable_sectors(disk_size, SECTOR_SIZE)?;
    if alignment == 0 || !alignment.is_multiple_of(SECTOR_SIZE) {
        return Err(GptError::Alignment {
            alignment,
            sector_size: SECTOR_SIZE,
        });
    }
    if requests.len() as u64 > ENTRY_COUNT {
        return Err(GptError::TooManyPartitions {
            count: requests.len(),
        });
    }
    let alignment_sectors = alignment / SECTOR_SIZE;
    // Computed in u128 so that absurd sizes report a shortfall rather than overflow.
    let mut next = u128::from(first_usable);
    let mut placed = Vec::with_capacity(requests.len());
    let mut overflow: Option<(&str, u128)> = None;
    for (index, request) in requests.iter().enumerate() {
        check_name(&request.name)?;
        let after = next.div_ceil(u128::from(alignment_sectors)) * u128::from(alignment_sectors);
        let first = match request.start {
            None => after,
            Some(start) => {
                if !start.is_multiple_of(alignment) {
                    return Err(GptError::Misaligned {
                        partition: request.name.clone(),
                        start,
                        alignment,
                    });
                }
                let first = u128::from(start / SECTOR_SIZE);
                if first < next {
                    let (previous, range) = match index.checked_sub(1) {
                        Some(before) => (requests[before].name.clone(), placed[before]),
                        None => ("the partition table".to_owned(), (0, next - 1)),
                    };
                    let to_u64 = |value: u128| u64::try_from(value).unwrap_or(u64::MAX);
                    return Err(GptError::Overlap {
                        first: previous,
                        first_range: (to_u64(range.0), to_u64(range.1)),
                        second: request.name.clone(),
                        second_range: (
                            to_u64(first),
                            to_u64(
                                first
                                    + u128::from(request.size.unwrap_or(SECTOR_SIZE) / SECTOR_SIZE)
                                    - 1,
                            ),
                        ),
                    });
                }
                first
            }
        };
        let last = match request.size {
            Some(size) => {
                if size == 0 || !size.is_multiple_of(SECTOR_SIZE) {
                    return Err(GptError::PartitionSize {
                        partition: request.name.clone(),
                        size,
                        sector_size: SECTOR_SIZE,
                    });
                }
                first + u128::from(size / SECTOR_SIZE) - 1
            }
            None => {
                if let Some(following) = requests.get(index + 1) {
                    return Err(GptError::RestNotLast {
                        partition: request.name.clone(),
                        next: following.name.clone(),
                    });
                }
                // The rest must be at least one sector.
                first.max(u128::from(last_usable))
            }
        };
        if last > u128::from(last_usable) && overflow.is_none() {
            overflow = Some((&request.name, 0));
        }
        if let Some((_, end)) = overflow.as_mut() {
            *end = last;
        }
        placed.push((first, last));
        next = last + 1;
    }
    if let Some((partition, end)) = overflow {
        // The backup table and header follow the last usable sector.
        let needed =
            (end + 1 + u128::from(entry_sectors(SECTOR_SIZE)) + 1) * u128::from(SECTOR_SIZE);
        let to_bytes = |value: u128| u64::try_from(value).unwrap_or(u64::MAX);
        return Err(GptError::DoesNotFit {
            partition: partition.to_owned(),
            missing: to_bytes(needed - u128::from(disk_size)),
            needed: to_bytes(needed),
            disk_size,
        });
    }
    // Every value is at most `last_usable`, a u64, once nothing overflowed.
    Ok(placed
        .into_iter()
        .map(|(first, last)| (first as u64, last as u64))
        .collect())
}

/// Checks a layout against the disk it describes; returns the table's geometry.
fn check_layout(layout: &Layout) -> Result<(u64, u64), GptError> {
    let (first_usable, last_usable) = usable_sectors(layout.disk_size, layout.sector_size)?;
    if layout.partitions.len() as u64 > ENTRY_COUNT {
        return Err(GptError::TooManyPartitions {
            count: layout.partitions.len(),
        });
    }
    for partition in &layout.partitions {
        check_name(&partition.name)?;
        if partition.type_guid == [0; 16] {
            return Err(GptError::UnusedType {
                partition: partition.name.clone(),
            });
        }
        if partition.first_lba < first_usable
            || partition.last_lba > last_usable
            || partition.first_lba > partition.last_lba
        {
            return Err(GptError::OutsideUsable {
                partition: partition.name.clone(),
                first_lba: partition.first_lba,
                last_lba: partition.last_lba,
                first_usable,
                last_usable,
            });
        }
    }
    for (index, first) in layout.partitions.iter().enumerate() {
        for second in &layout.partitions[index + 1..] {
            if first.first_lba <= second.last_lba && second.first_lba <= first.last_lba {
                return Err(GptError::Overlap {
                    first: first.name.clone(),
                    first_range: (first.first_lba, first.last_lba),
                    second: second.name.clone(),
                    second_range: (second.first_lba, second.last_lba),
                });
            }
            if first.unique_guid == second.unique_guid {
                return Err(GptError::DuplicateGuid {
                    first: first.name.clone(),
                    second: second.name.clone(),
                    guid: guid_to_text(&first.unique_guid),
                });
            }
        }
    }
    Ok((first_usable, last_usable))
}

/// Writes `layout`'s partition table into `file`, which must already be
/// `layout.disk_size` bytes long (typically sparse). Only the table sectors are written:
/// they are zeroed first, so the result does not depend on what the file held before.
pub fn write_table(file: &mut File, layout: &Layout) -> Result<(), GptError> {
    let (first_usable, last_usable) = check_layout(layout)?;
    let io = |operation| move |source| GptError::Io { operation, source };
    let actual = file.metadata().map_err(io("read the size of"))?.len();
    if actual != layout.disk_size {
        return Err(GptError::FileSize {
            expected: layout.disk_size,
            actual,
        });
    }
    let sector_size = layout.sector_size;
    let front = vec![0u8; usize::try_from(first_usable * sector_size).unwrap_or(0)];
    let back_start = (last_usable + 1) * sector_size;
    let back = vec![0u8; usize::try_from(layout.disk_size - back_start).unwrap_or(0)];
    for (offset, zeros) in [(0, &front), (back_start, &back)] {
        file.seek(SeekFrom::Start(offset)).map_err(io("seek in"))?;
        file.write_all(zeros)
            .map_err(io("clear the table sectors of"))?;
    }

    let table = |source| GptError::Table { source };
    let mut gpt = gptman::GPT::new_from(file, sector_size, layout.disk_guid).map_err(table)?;
    for (number, partition) in (1u32..).zip(&layout.partitions) {
        gpt[number] = gptman::GPTPartitionEntry {
            partition_type_guid: partition.type_guid,
            unique_partition_guid: partition.unique_guid,
            starting_lba: partition.first_lba,
            ending_lba: partition.last_lba,
            attribute_bits: partition.attributes,
            partition_name: partition.name.as_str().into(),
        };
    }
    gpt.write_into(file).map_err(table)?;
    gptman::GPT::write_protective_mbr_into(file, sector_size).map_err(table)?;
    file.flush().map_err(io("write"))
}
