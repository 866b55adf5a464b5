//! [`GptError`]: every way planning or writing a partition table can fail. Each variant
//! names the partition it is about and carries the numbers that do not add up, so the
//! message says what to change.

use super::{ENTRY_COUNT, NAME_UNITS};

/// Why a partition table cannot be planned or written.
#[derive(Debug, thiserror::Error)]
pub enum GptError {
    /// The layout's sector size is neither 512 nor 4096.
    #[error("the sector size {sector_size} is not supported (512 or 4096)")]
    SectorSize {
        /// The sector size asked for, in bytes.
        sector_size: u64,
    },
    /// The disk is not a whole number of sectors.
    #[error("the disk size {disk_size} is not a multiple of the sector size {sector_size}")]
    DiskSizeNotSectors {
        /// The disk size, in bytes.
        disk_size: u64,
        /// The sector size, in bytes.
        sector_size: u64,
    },
    /// The disk cannot even hold the two tables and one usable sector.
    #[error("a {disk_size}-byte disk cannot hold the two partition tables ({minimum} bytes)")]
    DiskTooSmallForTables {
        /// The disk size, in bytes.
        disk_size: u64,
        /// The smallest disk that can, in bytes.
        minimum: u64,
    },
    /// The alignment given to `plan` is zero or not a whole number of sectors.
    #[error(
        "the alignment {alignment} is not a non-zero multiple of the sector size {sector_size}"
    )]
    Alignment {
        /// The alignment asked for, in bytes.
        alignment: u64,
        /// The sector size, in bytes.
        sector_size: u64,
    },
    /// A requested size is zero or not a whole number of sectors.
    #[error(
        "partition `{partition}`: size {size} is not a non-zero multiple of the sector size \
         {sector_size}"
    )]
    PartitionSize {
        /// The partition's name.
        partition: String,
        /// The size asked for, in bytes.
        size: u64,
        /// The sector size, in bytes.
        sector_size: u64,
    },
    /// A partition that takes the rest of the disk is not the last one.
    #[error(
        "partition `{partition}` takes the rest of the disk but is followed by `{next}`; only \
         the last partition may"
    )]
    RestNotLast {
        /// The partition without a size.
        partition: String,
        /// The partition after it.
        next: String,
    },
    /// The requested partitions (with the tables and alignment) exceed the disk.
    #[error(
        "partition `{partition}` does not fit: the disk is {missing} bytes too small (the \
         layout needs {needed} bytes, the disk has {disk_size})"
    )]
    DoesNotFit {
        /// The first partition that does not fit.
        partition: String,
        /// How many bytes the disk lacks for the whole layout.
        missing: u64,
        /// The disk size the whole layout needs, in bytes.
        needed: u64,
        /// The disk size, in bytes.
        disk_size: u64,
    },
    /// A name longer than a GPT entry holds.
    #[error(
        "partition `{partition}`: its name is {units} UTF-16 code units long, at most \
         {NAME_UNITS} fit"
    )]
    NameTooLong {
        /// The partition's name.
        partition: String,
        /// Its length in UTF-16 code units.
        units: usize,
    },
    /// More partitions than the entry array holds.
    #[error("{count} partitions, but a partition table holds at most {ENTRY_COUNT}")]
    TooManyPartitions {
        /// The number of partitions asked for.
        count: usize,
    },
    /// A partition is empty, reversed, or reaches into a table.
    #[error(
        "partition `{partition}`: sectors {first_lba}..={last_lba} are not within the usable \
         sectors {first_usable}..={last_usable}"
    )]
    OutsideUsable {
        /// The partition's name.
        partition: String,
        /// Its first sector.
        first_lba: u64,
        /// Its last sector.
        last_lba: u64,
        /// The first sector after the primary table.
        first_usable: u64,
        /// The last sector before the backup table.
        last_usable: u64,
    },
    /// Two partitions share sectors.
    #[error(
        "partitions `{first}` (sectors {}..={}) and `{second}` (sectors {}..={}) overlap",
        first_range.0, first_range.1, second_range.0, second_range.1
    )]
    Overlap {
        /// The earlier partition in the table.
        first: String,
        /// Its first and last sector.
        first_range: (u64, u64),
        /// The later partition in the table.
        second: String,
        /// Its first and last sector.
        second_range: (u64, u64),
    },
    /// A requested start is not on the alignment.
    #[error(
        "partition `{partition}`: start {start} is misaligned (partitions start on a multiple of \
         {alignment} bytes)"
    )]
    Misaligned {
        /// The partition's name.
        partition: String,
        /// The start asked for, in bytes.
        start: u64,
        /// The alignment, in bytes.
        alignment: u64,
    },
    /// Two partitions have the same unique GUID.
    #[error("partitions `{first}` and `{second}` have the same unique GUID {guid}")]
    DuplicateGuid {
        /// The earlier partition in the table.
        first: String,
        /// The later partition in the table.
        second: String,
        /// The shared GUID, as text.
        guid: String,
    },
    /// A partition's type GUID is zero, which GPT reads as an unused entry.
    #[error("partition `{partition}`: the type GUID is all zeros, which marks an unused entry")]
    UnusedType {
        /// The partition's name.
        partition: String,
    },
    /// The image file's length differs from the layout's disk size.
    #[error("the image file is {actual} bytes long, the layout says {expected}")]
    FileSize {
        /// The layout's disk size, in bytes.
        expected: u64,
        /// The file's length, in bytes.
        actual: u64,
    },
    /// Text that is not a GUID.
    #[error("`{text}` is not a GUID (expected 8-4-4-4-12 hexadecimal digits)")]
    GuidText {
        /// The text given.
        text: String,
    },
    /// Reading or writing the image file failed (the caller knows its path).
    #[error("cannot {operation} the disk image")]
    Io {
        /// What was being done, e.g. "write the table sectors of".
        operation: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `gptman` could not encode or write the table.
    #[error("cannot write the partition table")]
    Table {
        /// The underlying error.
        #[source]
        source: gptman::Error,
    },
}
