//! Writing a planned image: all metadata (descriptors, path tables, directories,
//! continuation areas) is built in one zeroed buffer, then file extents follow in
//! layout order. Small file contents are appended to the same buffer, which is
//! flushed in large chunks; external content is streamed by the caller's callback
//! straight into the output, through a counter that checks the declared size.

use std::io::{self, Write};

use crate::descriptors::{write_joliet, write_primary, write_terminator, SECTOR};
use crate::layout::Layout;
use crate::records::{
    write_joliet_directory, write_path_table, write_primary_directory, PathTableKind,
};
use crate::{Content, IsoError, Volume};

/// Flush the buffer to the output once it holds this much.
const FLUSH_THRESHOLD: usize = 1 << 20;

/// Writes `volume` as an ISO 9660 image to `out` and returns the number of bytes
/// written (a multiple of 2048).
///
/// For every extent of [`Content::External`] content, `external(key, writer)` is called
/// exactly once, when that extent's bytes are due; it must write exactly `size` bytes to
/// `writer`, otherwise the image is abandoned with an error. Files sharing a key share
/// the extent. External content of size 0 needs no extent and is never requested.
pub fn write_image(
    volume: &Volume,
    out: &mut dyn Write,
    external: &mut dyn FnMut(u64, &mut dyn Write) -> io::Result<()>,
) -> Result<u64, IsoError> {
    let layout = Layout::new(volume)?;
    let mut target = Target::Stream { out, external };
    let mut buffer = Vec::new();
    let written = emit(&layout, &mut buffer, &mut target)?;
    Ok(written)
}

/// Writes `volume` into memory. Volumes with [`Content::External`] files are refused,
/// as there is no callback to fetch their bytes; use [`write_image`] for those.
pub fn to_vec(volume: &Volume) -> Result<Vec<u8>, IsoError> {
    let layout = Layout::new(volume)?;
    if layout.has_external {
        let path = first_external_path(&layout).unwrap_or_default();
        return Err(IsoError::Unrepresentable {
            path,
            reason: "has external content, which `to_vec` cannot fetch; use `write_image`"
                .to_owned(),
        });
    }
    let mut buffer = Vec::with_capacity(layout.total_sectors as usize * SECTOR);
    emit(&layout, &mut buffer, &mut Target::Memory)?;
    Ok(buffer)
}

/// The size in bytes of the image of `volume`, without writing it.
pub fn image_size(volume: &Volume) -> Result<u64, IsoError> {
    let layout = Layout::new(volume)?;
    Ok(u64::from(layout.total_sectors) * SECTOR as u64)
}

/// Where the bytes go.
enum Target<'a> {
    /// Everything stays in the buffer.
    Memory,
    /// The buffer is flushed to `out`; external content is streamed by `external`.
    Stream {
        out: &'a mut dyn Write,
        external: &'a mut dyn FnMut(u64, &mut dyn Write) -> io::Result<()>,
    },
}

impl Target<'_> {
    fn flush(&mut self, buffer: &mut Vec<u8>, written: &mut u64) -> io::Result<()> {
        if let Target::Stream { out, .. } = self {
            out.write_all(buffer)?;
            *written += buffer.len() as u64;
            buffer.clear();
        }
        Ok(())
    }
}

/// Writes the whole image; returns the byte count.
fn emit(
    layout: &Layout<'_>,
    buffer: &mut Vec<u8>,
    target: &mut Target<'_>,
) -> Result<u64, IsoError> {
    let mut written = 0u64;
    write_metadata(layout, buffer);
    for plan in &layout.extents {
        let size = plan.extent.size as usize;
        match plan.content {
            Content::Bytes(bytes) => {
                if bytes.len() >= FLUSH_THRESHOLD {
                    target.flush(buffer, &mut written)?;
                    if let Target::Stream { out, .. } = target {
                        out.write_all(bytes)?;
                        written += bytes.len() as u64;
                    } else {
                        buffer.extend_from_slice(bytes);
                    }
                } else {
                    buffer.extend_from_slice(bytes);
                }
            }
            Content::External { key, .. } => {
                let Target::Stream { out, external } = target else {
                    // `to_vec` refuses external content before writing.
                    return Err(IsoError::Unrepresentable {
                        path: layout.child_path(plan.owner.0, plan.owner.1),
                        reason: "has external content, which `to_vec` cannot fetch".to_owned(),
                    });
                };
                out.write_all(buffer)?;
                written += buffer.len() as u64;
                buffer.clear();
                let mut counter = CountingWriter {
                    inner: &mut **out,
                    count: 0,
                    limit: size as u64,
                    overflowed: false,
                };
                let result = external(*key, &mut counter);
                let (count, overflowed) = (counter.count, counter.overflowed);
                written += count;
                if overflowed {
                    return Err(IsoError::Unrepresentable {
                        path: layout.child_path(plan.owner.0, plan.owner.1),
                        reason: format!(
                            "the external content for key {key} is longer than the {size} bytes declared"
                        ),
                    });
                }
                if result.is_ok() && count != size as u64 {
                    return Err(IsoError::Unrepresentable {
                        path: layout.child_path(plan.owner.0, plan.owner.1),
                        reason: format!(
                            "the external content for key {key} is {count} bytes, but {size} were declared"
                        ),
                    });
                }
                result?;
            }
        }
        let padding = size.next_multiple_of(SECTOR) - size;
        buffer.resize(buffer.len() + padding, 0);
        if buffer.len() >= FLUSH_THRESHOLD {
            target.flush(buffer, &mut written)?;
        }
    }
    target.flush(buffer, &mut written)?;
    if let Target::Memory = target {
        written = buffer.len() as u64;
    }
    debug_assert_eq!(written, u64::from(layout.total_sectors) * SECTOR as u64);
    Ok(written)
}

/// Builds sectors 0 up to the first file extent in `buffer`.
fn write_metadata(layout: &Layout<'_>, buffer: &mut Vec<u8>) {
    let start = buffer.len();
    buffer.resize(start + layout.first_file_lba as usize * SECTOR, 0);
    let image = &mut buffer[start..];
    let sector = |lba: u32| lba as usize * SECTOR..(lba as usize + 1) * SECTOR;
    write_primary(&mut image[sector(16)], layout);
    write_joliet(&mut image[sector(17)], layout);
    write_terminator(&mut image[sector(18)]);
    for (kind, lba) in [
        (
            PathTableKind::PrimaryLittle,
            layout.primary_path_table.little_endian_lba,
        ),
        (
            PathTableKind::PrimaryBig,
            layout.primary_path_table.big_endian_lba,
        ),
        (
            PathTableKind::JolietLittle,
            layout.joliet_path_table.little_endian_lba,
        ),
        (
            PathTableKind::JolietBig,
            layout.joliet_path_table.big_endian_lba,
        ),
    ] {
        write_path_table(&mut image[lba as usize * SECTOR..], layout, kind);
    }
    let mut scratch = Vec::with_capacity(SECTOR);
    for index in 0..layout.directories.len() {
        write_primary_directory(image, layout, index, &mut scratch);
        write_joliet_directory(image, layout, index, &mut scratch);
    }
}

/// The path of the first file with external content.
fn first_external_path(layout: &Layout<'_>) -> Option<String> {
    layout.directories.iter().enumerate().find_map(|(index, plan)| {
        plan.children.iter().position(|child| {
            matches!(child.node, crate::Node::File(file) if matches!(file.content, Content::External { .. }))
        })
        .map(|child| layout.child_path(index, child))
    })
}

/// Passes bytes through to `inner`, counting them and refusing more than `limit`.
struct CountingWriter<'a> {
    inner: &'a mut dyn Write,
    count: u64,
    limit: u64,
    overflowed: bool,
}

impl Write for CountingWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.count + bytes.len() as u64 > self.limit {
            self.overflowed = true;
            return Err(io::Error::other(
                "external content is longer than its declared size",
            ));
        }
        let written = self.inner.write(bytes)?;
        self.count += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
