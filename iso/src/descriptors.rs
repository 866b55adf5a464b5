//! The volume descriptor set at sectors 16–18: the primary volume descriptor, the
//! Joliet supplementary volume descriptor (UCS-2 level 3, escape `%/E`) and the set
//! terminator. Field offsets follow ECMA-119 8.4 (table in research Appendix E.1).
//!
//! Identifier fields hold the label (volume identifier) and `IMGBUILD` (application
//! identifier); every other identifier is blank (spaces, or UCS-2 spaces in the Joliet
//! descriptor), and no tool version appears anywhere. Creation and modification dates
//! are the volume's `SOURCE_DATE_EPOCH`; expiration and effective dates are "not
//! specified" (the volume never expires and is effective at once). blkid derives the
//! filesystem UUID from the modification date, so two volumes with the same epoch
//! share a UUID.

use crate::date::UNSET_DESCRIPTOR_DATE;
use crate::layout::{Extent, Layout, PathTable};
use crate::names::push_ucs2;
use crate::records::root_record;

/// Bytes in a sector (logical block).
pub(crate) const SECTOR: usize = 2048;

/// The application identifier.
const APPLICATION: &str = "IMGBUILD";

/// Which descriptor to write.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Primary,
    Joliet,
}

/// Writes the primary volume descriptor into `sector`.
pub(crate) fn write_primary(sector: &mut [u8], layout: &Layout<'_>) {
    let root = layout.directories[0].primary;
    write_descriptor(
        sector,
        layout,
        Kind::Primary,
        &layout.primary_path_table,
        root,
    );
}

/// Writes the Joliet supplementary volume descriptor into `sector`.
pub(crate) fn write_joliet(sector: &mut [u8], layout: &Layout<'_>) {
    let root = layout.directories[0].joliet;
    write_descriptor(
        sector,
        layout,
        Kind::Joliet,
        &layout.joliet_path_table,
        root,
    );
}

/// Writes the volume descriptor set terminator into `sector`.
pub(crate) fn write_terminator(sector: &mut [u8]) {
    sector[..7].copy_from_slice(&[0xFF, b'C', b'D', b'0', b'0', b'1', 1]);
}

fn write_descriptor(
    sector: &mut [u8],
    layout: &Layout<'_>,
    kind: Kind,
    path_table: &PathTable,
    root: Extent,
) {
    let text = |sector: &mut [u8], at: usize, width: usize, value: &str| match kind {
        Kind::Primary => {
            let field = &mut sector[at..at + width];
            field.fill(b' ');
            field[..value.len()].copy_from_slice(value.as_bytes());
        }
        Kind::Joliet => {
            let mut encoded = Vec::with_capacity(width);
            push_ucs2(&mut encoded, value);
            while encoded.len() + 2 <= width {
                encoded.extend_from_slice(&[0x00, 0x20]);
            }
            // The 37-byte file identifier fields end with one byte that cannot hold a
            // UCS-2 character; it stays zero.
            sector[at..at + encoded.len()].copy_from_slice(&encoded);
        }
    };
    sector[0] = match kind {
        Kind::Primary => 1,
        Kind::Joliet => 2,
    };
    sector[1..6].copy_from_slice(b"CD001");
    sector[6] = 1;
    text(sector, 8, 32, "");
    text(sector, 40, 32, layout.volume.label.as_str());
    both_32(sector, 80, layout.total_sectors);
    if kind == Kind::Joliet {
        sector[88..91].copy_from_slice(b"%/E");
    }
    both_16(sector, 120, 1);
    both_16(sector, 124, 1);
    both_16(sector, 128, SECTOR as u16);
    both_32(sector, 132, path_table.size);
    sector[140..144].copy_from_slice(&path_table.little_endian_lba.to_le_bytes());
    sector[148..152].copy_from_slice(&path_table.big_endian_lba.to_be_bytes());
    root_record(
        &mut sector[156..190],
        root,
        &layout.timestamp.record_bytes(),
    );
    text(sector, 190, 128, "");
    text(sector, 318, 128, "");
    text(sector, 446, 128, "");
    text(sector, 574, 128, APPLICATION);
    text(sector, 702, 37, "");
    text(sector, 739, 37, "");
    text(sector, 776, 37, "");
    let date = layout.timestamp.descriptor_bytes();
    sector[813..830].copy_from_slice(&date);
    sector[830..847].copy_from_slice(&date);
    sector[847..864].copy_from_slice(&UNSET_DESCRIPTOR_DATE);
    sector[864..881].copy_from_slice(&UNSET_DESCRIPTOR_DATE);
    sector[881] = 1;
}

/// Writes a both-endian 16-bit number (ECMA-119 7.2.3) at `at`.
pub(crate) fn both_16(buffer: &mut [u8], at: usize, value: u16) {
    buffer[at..at + 2].copy_from_slice(&value.to_le_bytes());
    buffer[at + 2..at + 4].copy_from_slice(&value.to_be_bytes());
}

/// Writes a both-endian 32-bit number (ECMA-119 7.3.3) at `at`.
pub(crate) fn both_32(buffer: &mut [u8], at: usize, value: u32) {
    buffer[at..at + 4].copy_from_slice(&value.to_le_bytes());
    buffer[at + 4..at + 8].copy_from_slice(&value.to_be_bytes());
}
