//! Directory records (ECMA-119 9.1), directory extents of both trees, Rock Ridge
//! continuation areas and path tables (ECMA-119 9.4), written into the metadata
//! buffer at the places [`Layout`] chose.
//!
//! A record is: length, extended attribute length 0, extent (733), data length (733),
//! 7-byte date, flags (`0x02` for directories), unit size 0, gap 0, volume sequence
//! number 1 (723), identifier length, identifier, a pad byte when the identifier
//! length is even, System Use entries (primary tree only), and a final pad byte to keep
//! the length even. Records never straddle a sector; the rest of a sector is zero.

use crate::descriptors::{both_16, both_32, SECTOR};
use crate::layout::{
    dot_record_length, joliet_record_length, place_record, push_names, record_length, Extent,
    Layout, Target,
};
use crate::names::push_ucs2;
use crate::rock_ridge::{self, S_IFDIR, S_IFLNK, S_IFREG};
use crate::{Attributes, Node};

/// Directory flag.
const FLAG_DIRECTORY: u8 = 0x02;

/// Writes the 34-byte root directory record of a volume descriptor.
pub(crate) fn root_record(out: &mut [u8], root: Extent, date: &[u8; 7]) {
    put_record(out, 34, root, FLAG_DIRECTORY, date, &[0], &[]);
}

/// Writes a record of `length` bytes at the start of `out` (which is zeroed).
fn put_record(
    out: &mut [u8],
    length: usize,
    extent: Extent,
    flags: u8,
    date: &[u8; 7],
    identifier: &[u8],
    system_use: &[u8],
) {
    debug_assert_eq!(
        record_length(identifier.len(), system_use.len()).next_multiple_of(2),
        length
    );
    out[0] = length as u8;
    both_32(out, 2, extent.lba);
    both_32(out, 10, extent.size);
    out[18..25].copy_from_slice(date);
    out[25] = flags;
    both_16(out, 28, 1);
    out[32] = identifier.len() as u8;
    out[33..33 + identifier.len()].copy_from_slice(identifier);
    let system_use_at = 33 + identifier.len() + (1 - identifier.len() % 2);
    out[system_use_at..system_use_at + system_use.len()].copy_from_slice(system_use);
}

/// Mode for `PX`: permission bits plus the file type.
fn mode(attributes: &Attributes, file_type: u32) -> u32 {
    attributes.mode & 0o7777 | file_type
}

/// Writes directory `index` of the primary tree, with its Rock Ridge entries and the
/// continuation areas its records point to. `buffer` holds the image from sector 0.
pub(crate) fn write_primary_directory(
    buffer: &mut [u8],
    layout: &Layout<'_>,
    index: usize,
    scratch: &mut Vec<u8>,
) {
    let plan = &layout.directories[index];
    let parent = &layout.directories[plan.parent];
    let date = layout.timestamp.record_bytes();
    let base = plan.primary.lba as usize * SECTOR;
    let mut end = 0;
    let mut place = |length: usize| {
        let at = place_record(end, length);
        end = at + length;
        base + at
    };

    for (dot, directory_plan) in [(true, plan), (false, parent)] {
        let attributes = &directory_plan.directory.attributes;
        scratch.clear();
        let root_dot = dot && index == 0;
        if root_dot {
            rock_ridge::push_sp(scratch);
        }
        rock_ridge::push_px(
            scratch,
            mode(attributes, S_IFDIR),
            2 + directory_plan.subdirectories,
            attributes.uid,
            attributes.gid,
        );
        rock_ridge::push_tf(scratch, &layout.timestamp);
        if root_dot {
            let area = layout.root_continuation;
            rock_ridge::push_ce(scratch, area.lba, area.offset, area.length);
            let mut er = Vec::with_capacity(area.length as usize);
            rock_ridge::push_er(&mut er);
            let at = area.lba as usize * SECTOR + area.offset as usize;
            buffer[at..at + er.len()].copy_from_slice(&er);
        }
        let length = dot_record_length(root_dot);
        let at = place(length);
        let identifier = if dot { [0] } else { [1] };
        put_record(
            &mut buffer[at..],
            length,
            directory_plan.primary,
            FLAG_DIRECTORY,
            &date,
            &identifier,
            scratch,
        );
    }

    for &child_index in &plan.primary_order {
        let child = &plan.children[child_index];
        let (extent, flags, attributes, file_type, links) = match (child.node, child.target) {
            (Node::Directory(directory), Target::Directory(target)) => {
                let target = &layout.directories[target];
                (
                    target.primary,
                    FLAG_DIRECTORY,
                    &directory.attributes,
                    S_IFDIR,
                    2 + target.subdirectories,
                )
            }
            (Node::File(file), Target::Data(extent)) => (extent, 0, &file.attributes, S_IFREG, 1),
            (Node::Symlink(symlink), _) => (Extent::default(), 0, &symlink.attributes, S_IFLNK, 1),
            // Layout gives directories a directory target and files a data target.
            (Node::Directory(directory), Target::Data(_)) => (
                Extent::default(),
                FLAG_DIRECTORY,
                &directory.attributes,
                S_IFDIR,
                2,
            ),
            (Node::File(file), Target::Directory(_)) => {
                (Extent::default(), 0, &file.attributes, S_IFREG, 1)
            }
        };
        scratch.clear();
        rock_ridge::push_px(
            scratch,
            mode(attributes, file_type),
            links,
            attributes.uid,
            attributes.gid,
        );
        rock_ridge::push_tf(scratch, &layout.timestamp);
        match child.continuation {
            None => push_names(scratch, child),
            Some(area) => {
                rock_ridge::push_ce(scratch, area.lba, area.offset, area.length);
                let inline = scratch.len();
                push_names(scratch, child);
                let at = area.lba as usize * SECTOR + area.offset as usize;
                buffer[at..at + scratch.len() - inline].copy_from_slice(&scratch[inline..]);
                scratch.truncate(inline);
            }
        }
        let length = usize::from(child.primary_length);
        let at = place(length);
        put_record(
            &mut buffer[at..],
            length,
            extent,
            flags,
            &date,
            child.primary_identifier.as_bytes(),
            scratch,
        );
    }
}

/// Writes directory `index` of the Joliet tree. `buffer` holds the image from sector 0.
pub(crate) fn write_joliet_directory(
    buffer: &mut [u8],
    layout: &Layout<'_>,
    index: usize,
    scratch: &mut Vec<u8>,
) {
    let plan = &layout.directories[index];
    let parent = &layout.directories[plan.parent];
    let date = layout.timestamp.record_bytes();
    let base = plan.joliet.lba as usize * SECTOR;
    let mut end = 0;
    let mut place = |length: usize| {
        let at = place_record(end, length);
        end = at + length;
        base + at
    };
    for (identifier, extent) in [(0u8, plan.joliet), (1u8, parent.joliet)] {
        let at = place(34);
        put_record(
            &mut buffer[at..],
            34,
            extent,
            FLAG_DIRECTORY,
            &date,
            &[identifier],
            &[],
        );
    }
    for &child_index in &plan.joliet_order {
        let child = &plan.children[child_index];
        let (extent, flags) = match child.target {
            Target::Directory(target) => (layout.directories[target].joliet, FLAG_DIRECTORY),
            // Symlinks have an empty data target: an empty file through Joliet.
            Target::Data(extent) => (extent, 0),
        };
        scratch.clear();
        push_ucs2(scratch, child.name.as_str());
        let length = joliet_record_length(child.name).next_multiple_of(2);
        let at = place(length);
        put_record(
            &mut buffer[at..],
            length,
            extent,
            flags,
            &date,
            scratch,
            &[],
        );
    }
}

/// Which path table to write.
#[derive(Clone, Copy)]
pub(crate) enum PathTableKind {
    /// Primary tree, little-endian (type L).
    PrimaryLittle,
    /// Primary tree, big-endian (type M).
    PrimaryBig,
    /// Joliet tree, little-endian.
    JolietLittle,
    /// Joliet tree, big-endian.
    JolietBig,
}

/// Writes one path table at the start of `out`: one record per directory, root first,
/// in breadth-first order (by level, parent number, identifier).
pub(crate) fn write_path_table(out: &mut [u8], layout: &Layout<'_>, kind: PathTableKind) {
    let (joliet, big_endian) = match kind {
        PathTableKind::PrimaryLittle => (false, false),
        PathTableKind::PrimaryBig => (false, true),
        PathTableKind::JolietLittle => (true, false),
        PathTableKind::JolietBig => (true, true),
    };
    let order: Vec<usize> = if joliet {
        layout.joliet_directories.clone()
    } else {
        (0..layout.directories.len()).collect()
    };
    let mut identifier = Vec::new();
    let mut at = 0;
    for index in order {
        let plan = &layout.directories[index];
        let parent = &layout.directories[plan.parent];
        identifier.clear();
        let (lba, parent_number) = if joliet {
            match plan.name {
                Some((name, _)) => push_ucs2(&mut identifier, name.as_str()),
                None => identifier.push(0),
            }
            (plan.joliet.lba, parent.joliet_number)
        } else {
            identifier.extend_from_slice(plan.primary_identifier());
            (plan.primary.lba, (plan.parent + 1) as u16)
        };
        out[at] = identifier.len() as u8;
        let (lba, parent_number) = if big_endian {
            (lba.to_be_bytes(), parent_number.to_be_bytes())
        } else {
            (lba.to_le_bytes(), parent_number.to_le_bytes())
        };
        out[at + 2..at + 6].copy_from_slice(&lba);
        out[at + 6..at + 8].copy_from_slice(&parent_number);
        out[at + 8..at + 8 + identifier.len()].copy_from_slice(&identifier);
        at += 8 + identifier.len() + identifier.len() % 2;
    }
}
