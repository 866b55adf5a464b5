//! Where everything goes: the plan [`Layout::new`] computes before a byte is written.
//!
//! Sector map (2048-byte sectors, every area starting on a sector boundary):
//!
//! | sectors | content |
//! |---|---|
//! | 0–15 | system area, zero |
//! | 16 | primary volume descriptor |
//! | 17 | Joliet supplementary volume descriptor |
//! | 18 | volume descriptor set terminator |
//! | 19… | path tables: primary L, primary M, Joliet L, Joliet M (each ≥ 1 sector) |
//! | … | primary directories, breadth-first (path table order) |
//! | … | Joliet directories, breadth-first (Joliet path table order) |
//! | … | Rock Ridge continuation areas: the root's `ER`, then `NM`/`SL` that did not fit |
//! | … | file extents, depth-first in exact-name order, each zero-padded to 2048 |
//!
//! There is no trailing pad; the volume space size is the number of sectors.
//!
//! Choices the standards leave open:
//! - Empty files, zero-sized external content and symlinks have extent LBA 0 and
//!   length 0 (no extent is allocated, and the external callback is not called).
//! - Files with the same `External` key share one extent; equal `Bytes` are not
//!   deduplicated.
//! - Symlinks appear in the Joliet tree as empty files.
//! - A primary record whose `NM`/`SL` entries would make it longer than 254 bytes keeps
//!   `PX`, `TF` and a `CE` inline and moves `NM`/`SL` into a continuation area. Areas
//!   are packed in order into the continuation sectors without crossing a sector
//!   boundary, so each lies within one block as FreeBSD requires.

use crate::date::Timestamp;
use crate::descriptors::SECTOR;
use crate::names::{compare_primary, primary_identifiers, PrimaryIdentifier};
use crate::rock_ridge::{self, CE_LENGTH, ER_LENGTH, PX_LENGTH, SP_LENGTH, TF_LENGTH};
use crate::{extents, Content, Directory, IsoError, Name, Node, Volume};

/// The first sector after the volume descriptor set.
const FIRST_PATH_TABLE_LBA: u64 = 19;
/// The longest directory record (an even length, at most 255).
const RECORD_MAXIMUM: usize = 254;

/// An extent: first sector and length in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Extent {
    pub(crate) lba: u32,
    pub(crate) size: u32,
}

/// A pair of path tables (L and M) of one tree.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PathTable {
    pub(crate) size: u32,
    pub(crate) little_endian_lba: u32,
    pub(crate) big_endian_lba: u32,
}

/// A Rock Ridge continuation area: `length` bytes at `offset` in sector `lba`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Continuation {
    pub(crate) lba: u32,
    pub(crate) offset: u32,
    pub(crate) length: u32,
}

/// What a child record points at.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target {
    /// A directory, by index into [`Layout::directories`].
    Directory(usize),
    /// File data (or nothing, for symlinks and empty files).
    Data(Extent),
}

/// One entry of a directory.
pub(crate) struct Child<'a> {
    pub(crate) name: &'a Name,
    pub(crate) node: &'a Node,
    pub(crate) primary_identifier: PrimaryIdentifier,
    pub(crate) target: Target,
    /// Where `NM`/`SL` live when they do not fit in the record.
    pub(crate) continuation: Option<Continuation>,
    /// Length of the primary record.
    pub(crate) primary_length: u8,
}

/// One directory, in both trees.
pub(crate) struct DirectoryPlan<'a> {
    pub(crate) directory: &'a Directory,
    /// The directory's name and primary identifier in its parent (`None` for the root).
    pub(crate) name: Option<(&'a Name, PrimaryIdentifier)>,
    /// `/`-separated path from the root, empty for the root.
    pub(crate) path: String,
    /// Index of the parent (the root is its own parent).
    pub(crate) parent: usize,
    /// Entries in exact-name order.
    pub(crate) children: Vec<Child<'a>>,
    /// Indices into `children` in primary (ECMA-119 9.3) order.
    pub(crate) primary_order: Vec<usize>,
    /// Indices into `children` in Joliet (UCS-2) order.
    pub(crate) joliet_order: Vec<usize>,
    /// Number of subdirectories (for the link count).
    pub(crate) subdirectories: u32,
    pub(crate) primary: Extent,
    pub(crate) joliet: Extent,
    /// Number in the Joliet path table (1-based).
    pub(crate) joliet_number: u16,
}

impl DirectoryPlan<'_> {
    /// The identifier in the primary path table (`00` for the root).
    pub(crate) fn primary_identifier(&self) -> &[u8] {
        match &self.name {
            Some((_, identifier)) => identifier.as_bytes(),
            None => &[0],
        }
    }

    /// Length of the identifier in the Joliet path table (1 for the root's `00`).
    pub(crate) fn joliet_identifier_length(&self) -> usize {
        match self.name {
            Some((name, _)) => 2 * name.as_str().encode_utf16().count(),
            None => 1,
        }
    }
}

/// A file extent to write.
pub(crate) struct ExtentPlan<'a> {
    pub(crate) content: &'a Content,
    pub(crate) extent: Extent,
    /// The first file using it: directory index and child index, for messages.
    pub(crate) owner: (usize, usize),
}

/// The complete plan of an image.
pub(crate) struct Layout<'a> {
    pub(crate) volume: &'a Volume,
    pub(crate) timestamp: Timestamp,
    /// Directories in primary breadth-first order (index + 1 = path table number).
    pub(crate) directories: Vec<DirectoryPlan<'a>>,
    /// Directory indices in Joliet breadth-first order.
    pub(crate) joliet_directories: Vec<usize>,
    pub(crate) extents: Vec<ExtentPlan<'a>>,
    pub(crate) primary_path_table: PathTable,
    pub(crate) joliet_path_table: PathTable,
    /// The root "." record's continuation area (holding `ER`).
    pub(crate) root_continuation: Continuation,
    /// First sector of file data (everything before it is metadata).
    pub(crate) first_file_lba: u32,
    pub(crate) total_sectors: u32,
    /// True when some file has `External` content.
    pub(crate) has_external: bool,
}

impl<'a> Layout<'a> {
    /// Plans `volume`, checking everything that could make it unrepresentable.
    pub(crate) fn new(volume: &'a Volume) -> Result<Layout<'a>, IsoError> {
        let timestamp = Timestamp::from_epoch(volume.source_date_epoch)?;
        let mut directories = plan_directories(volume)?;
        let joliet_directories = joliet_breadth_first(&mut directories);

        let mut cursor = FIRST_PATH_TABLE_LBA;
        let mut path_table = |size: u64| -> Result<PathTable, IsoError> {
            let sectors = size.div_ceil(SECTOR as u64).max(1);
            let table = PathTable {
                size: narrow(size, "")?,
                little_endian_lba: narrow(cursor, "")?,
                big_endian_lba: narrow(cursor + sectors, "")?,
            };
            cursor += 2 * sectors;
            Ok(table)
        };
        let primary_path_table = path_table(primary_path_table_size(&directories))?;
        let joliet_path_table = path_table(joliet_path_table_size(&directories))?;

        let mut continuations = ContinuationAllocator::default();
        let root_continuation = continuations.allocate(ER_LENGTH);
        let mut scratch = Vec::new();
        for index in 0..directories.len() {
            let sectors =
                plan_primary_records(&mut directories, index, &mut continuations, &mut scratch)?;
            let plan = &mut directories[index];
            plan.primary = Extent {
                lba: narrow(cursor, &plan.path)?,
                size: narrow(sectors * SECTOR as u64, &plan.path)?,
            };
            cursor += sectors;
        }
        for &index in &joliet_directories {
            let plan = &mut directories[index];
            let lengths = plan
                .joliet_order
                .iter()
                .map(|&child| joliet_record_length(plan.children[child].name));
            let sectors = packed_sectors([34, 34].into_iter().chain(lengths));
            plan.joliet = Extent {
                lba: narrow(cursor, &plan.path)?,
                size: narrow(sectors * SECTOR as u64, &plan.path)?,
            };
            cursor += sectors;
        }
        let continuation_lba = cursor;
        cursor += u64::from(continuations.sector) + 1;
        let relocate = |continuation: &mut Continuation| -> Result<(), IsoError> {
            continuation.lba = narrow(continuation_lba + u64::from(continuation.lba), "")?;
            Ok(())
        };
        let mut root_continuation = root_continuation;
        relocate(&mut root_continuation)?;
        for plan in &mut directories {
            for child in &mut plan.children {
                if let Some(continuation) = &mut child.continuation {
                    relocate(continuation)?;
                }
            }
        }

        let first_file_lba = narrow(cursor, "")?;
        let (extents, has_external) = extents::plan_extents(&mut directories, &mut cursor)?;
        Ok(Layout {
            volume,
            timestamp,
            directories,
            joliet_directories,
            extents,
            primary_path_table,
            joliet_path_table,
            root_continuation,
            first_file_lba,
            total_sectors: narrow(cursor, "")?,
            has_external,
        })
    }

    /// The path of child `child` of directory `directory`, for messages.
    pub(crate) fn child_path(&self, directory: usize, child: usize) -> String {
        child_path(&self.directories[directory], child)
    }
}

pub(crate) fn child_path(plan: &DirectoryPlan<'_>, child: usize) -> String {
    let name = plan.children[child].name.as_str();
    if plan.path.is_empty() {
        name.to_owned()
    } else {
        format!("{}/{name}", plan.path)
    }
}

/// A sector number or size as the 32 bits ISO 9660 gives it.
/// `path` is the entry being placed; empty means the volume as a whole (shown as `/`).
pub(crate) fn narrow(value: u64, path: &str) -> Result<u32, IsoError> {
    u32::try_from(value).map_err(|_| IsoError::Unrepresentable {
        path: if path.is_empty() { "/" } else { path }.to_owned(),
        reason: "the image would exceed the 2^32 sectors or bytes ISO 9660 can address".to_owned(),
    })
}

/// All directories in primary breadth-first order, with their children named and
/// ordered.
fn plan_directories(volume: &Volume) -> Result<Vec<DirectoryPlan<'_>>, IsoError> {
    let mut directories = vec![directory_plan(&volume.root, None, String::new(), 0)];
    let mut index = 0;
    while index < directories.len() {
        for position in 0..directories[index].primary_order.len() {
            let child = directories[index].primary_order[position];
            if let Node::Directory(directory) = directories[index].children[child].node {
                let path = child_path(&directories[index], child);
                let new_index = directories.len();
                let entry = &mut directories[index].children[child];
                entry.target = Target::Directory(new_index);
                let name = Some((entry.name, entry.primary_identifier));
                directories.push(directory_plan(directory, name, path, index));
            }
        }
        index += 1;
    }
    if directories.len() > usize::from(u16::MAX) {
        return Err(IsoError::Unrepresentable {
            path: "/".to_owned(),
            reason: format!(
                "the volume has {} directories; path tables number at most 65535",
                directories.len()
            ),
        });
    }
    Ok(directories)
}

fn directory_plan<'a>(
    directory: &'a Directory,
    name: Option<(&'a Name, PrimaryIdentifier)>,
    path: String,
    parent: usize,
) -> DirectoryPlan<'a> {
    let identifiers = primary_identifiers(
        directory
            .entries
            .iter()
            .map(|(name, node)| (name.as_str(), matches!(node, Node::Directory(_)))),
    );
    let children: Vec<Child<'a>> = directory
        .entries
        .iter()
        .zip(identifiers)
        .map(|((name, node), primary_identifier)| Child {
            name,
            node,
            primary_identifier,
            target: Target::Data(Extent::default()),
            continuation: None,
            primary_length: 0,
        })
        .collect();
    let mut primary_order: Vec<usize> = (0..children.len()).collect();
    primary_order.sort_by(|&a, &b| {
        compare_primary(
            children[a].primary_identifier.as_bytes(),
            children[b].primary_identifier.as_bytes(),
        )
    });
    let mut joliet_order: Vec<usize> = (0..children.len()).collect();
    joliet_order.sort_by(|&a, &b| {
        let units = |index: usize| children[index].name.as_str().encode_utf16();
        units(a).cmp(units(b))
    });
    let subdirectories = children
        .iter()
        .filter(|child| matches!(child.node, Node::Directory(_)))
        .count() as u32;
    DirectoryPlan {
        directory,
        name,
        path,
        parent,
        children,
        primary_order,
        joliet_order,
        subdirectories,
        primary: Extent::default(),
        joliet: Extent::default(),
        joliet_number: 0,
    }
}

/// Directory indices in Joliet breadth-first order; sets each directory's Joliet
/// path table number.
fn joliet_breadth_first(directories: &mut [DirectoryPlan<'_>]) -> Vec<usize> {
    let mut order = vec![0];
    let mut position = 0;
    while position < order.len() {
        let plan = &mut directories[order[position]];
        plan.joliet_number = (position + 1) as u16;
        for &child in &plan.joliet_order {
            if let Target::Directory(index) = plan.children[child].target {
                order.push(index);
            }
        }
        position += 1;
    }
    order
}

/// Bytes of one path table record with an identifier of `length` bytes.
fn path_table_record_length(length: usize) -> u64 {
    (8 + length + length % 2) as u64
}

fn primary_path_table_size(directories: &[DirectoryPlan<'_>]) -> u64 {
    directories
        .iter()
        .map(|plan| path_table_record_length(plan.primary_identifier().len()))
        .sum()
}

fn joliet_path_table_size(directories: &[DirectoryPlan<'_>]) -> u64 {
    directories
        .iter()
        .map(|plan| path_table_record_length(plan.joliet_identifier_length()))
        .sum()
}

/// Length of a record with an identifier of `identifier` bytes and `system_use` bytes
/// of System Use entries, before rounding up to even.
pub(crate) fn record_length(identifier: usize, system_use: usize) -> usize {
    33 + identifier + (1 - identifier % 2) + system_use
}

/// Length of a Joliet record for `name`.
pub(crate) fn joliet_record_length(name: &Name) -> usize {
    record_length(2 * name.as_str().encode_utf16().count(), 0)
}

/// Length of the primary "." or ".." record (identifier of one byte, `PX`, `TF`, and
/// for the root's "." also `SP` and `CE`), rounded up to even.
pub(crate) fn dot_record_length(root_dot: bool) -> usize {
    let extra = if root_dot { SP_LENGTH + CE_LENGTH } else { 0 };
    record_length(1, PX_LENGTH + TF_LENGTH + extra).next_multiple_of(2)
}

/// Bytes of `NM` and `SL` entries for a child, written into `scratch`.
pub(crate) fn push_names(scratch: &mut Vec<u8>, child: &Child<'_>) {
    rock_ridge::push_nm(scratch, child.name.as_str().as_bytes());
    if let Node::Symlink(symlink) = child.node {
        rock_ridge::push_sl(scratch, symlink.target.as_bytes());
    }
}

/// Sizes the primary records of directory `index`: record lengths, continuation areas
/// and the number of sectors of the directory.
fn plan_primary_records(
    directories: &mut [DirectoryPlan<'_>],
    index: usize,
    continuations: &mut ContinuationAllocator,
    scratch: &mut Vec<u8>,
) -> Result<u64, IsoError> {
    let plan = &mut directories[index];
    let mut lengths = vec![dot_record_length(index == 0), dot_record_length(false)];
    for position in 0..plan.primary_order.len() {
        let child_index = plan.primary_order[position];
        let child = &plan.children[child_index];
        if let Node::Symlink(symlink) = child.node {
            check_symlink_target(&symlink.target).map_err(|reason| IsoError::Unrepresentable {
                path: child_path(plan, child_index),
                reason,
            })?;
        }
        scratch.clear();
        push_names(scratch, child);
        let identifier = child.primary_identifier.as_bytes().len();
        let inline = record_length(identifier, PX_LENGTH + TF_LENGTH + scratch.len());
        let (length, continuation) = if inline <= RECORD_MAXIMUM {
            (inline, None)
        } else if scratch.len() <= SECTOR {
            let with_ce = record_length(identifier, PX_LENGTH + TF_LENGTH + CE_LENGTH);
            (with_ce, Some(continuations.allocate(scratch.len())))
        } else {
            return Err(IsoError::Unrepresentable {
                path: child_path(plan, child_index),
                reason: format!(
                    "its Rock Ridge name and symlink entries take {} bytes, more than the {SECTOR}-byte continuation area one record can have",
                    scratch.len()
                ),
            });
        };
        let length = length.next_multiple_of(2);
        let child = &mut plan.children[child_index];
        child.primary_length = length as u8;
        child.continuation = continuation;
        lengths.push(length);
    }
    Ok(packed_sectors(lengths))
}

/// Why a symlink target cannot be written, if it cannot.
fn check_symlink_target(target: &str) -> Result<(), String> {
    if target.is_empty() {
        return Err("the symlink target is empty".to_owned());
    }
    if target.contains('\0') {
        return Err("the symlink target contains a NUL character".to_owned());
    }
    Ok(())
}

/// Sectors needed for records of the given lengths, none straddling a sector.
fn packed_sectors(lengths: impl IntoIterator<Item = usize>) -> u64 {
    let mut end = 0;
    for length in lengths {
        end = place_record(end, length) + length;
    }
    (end as u64).div_ceil(SECTOR as u64).max(1)
}

/// Where a record of `length` bytes goes when the previous one ended at `end`: there,
/// or at the next sector boundary if it would straddle one.
pub(crate) fn place_record(end: usize, length: usize) -> usize {
    if end % SECTOR + length > SECTOR {
        end.next_multiple_of(SECTOR)
    } else {
        end
    }
}

/// Packs continuation areas into consecutive sectors (sector numbers relative to the
/// first continuation sector until [`Layout::new`] relocates them).
#[derive(Default)]
struct ContinuationAllocator {
    sector: u32,
    offset: u32,
}

impl ContinuationAllocator {
    /// `length` ≤ 2048.
    fn allocate(&mut self, length: usize) -> Continuation {
        let length = length as u32;
        if self.offset + length > SECTOR as u32 {
            self.sector += 1;
            self.offset = 0;
        }
        let continuation = Continuation {
            lba: self.sector,
            offset: self.offset,
            length,
        };
        self.offset += length;
        continuation
    }
}
