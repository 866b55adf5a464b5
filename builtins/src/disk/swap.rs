//! Swap partitions: the Linux swap signature (`mkswap`'s version-1 header) written in
//! place, with a UUID derived by the caller, so no tool and no randomness is involved.
//!
//! The header is the first 4096-byte page: 1024 bytes left for boot code, then the
//! version (1), the last usable page, the number of bad pages (0), the UUID and a
//! 16-byte label, and `SWAPSPACE2` in the page's last 10 bytes. Integers are
//! little-endian (x86-64). The rest of the partition stays a hole.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use imgbuild_engine::BuildError;

const PAGE: u64 = 4096;

/// The header page for a swap area of `size` bytes.
pub fn header(size: u64, uuid: [u8; 16], label: &str) -> Result<Vec<u8>, BuildError> {
    let pages = size / PAGE;
    if pages < 10 {
        return Err(BuildError::Failed(format!(
            "a swap partition of {size} bytes is too small (10 pages at least)"
        )));
    }
    let last = u32::try_from(pages - 1).map_err(|_| {
        BuildError::Failed(format!(
            "a swap partition of {size} bytes is larger than Linux swap allows (16 TiB)"
        ))
    })?;
    let mut page = vec![0u8; PAGE as usize];
    page[1024..1028].copy_from_slice(&1u32.to_le_bytes());
    page[1028..1032].copy_from_slice(&last.to_le_bytes());
    page[1036..1052].copy_from_slice(&uuid);
    let label = label.as_bytes();
    let length = label.len().min(15);
    page[1052..1052 + length].copy_from_slice(&label[..length]);
    page[PAGE as usize - 10..].copy_from_slice(b"SWAPSPACE2");
    Ok(page)
}

/// Writes the header of a swap area of `size` bytes at `offset` in `image`.
pub fn write(
    image: &Path,
    offset: u64,
    size: u64,
    uuid: [u8; 16],
    label: &str,
) -> Result<(), BuildError> {
    let page = header(size, uuid, label)?;
    let failed =
        |error: std::io::Error| BuildError::Environment(format!("{}: {error}", image.display()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(image)
        .map_err(failed)?;
    file.seek(SeekFrom::Start(offset)).map_err(failed)?;
    file.write_all(&page).map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_has_the_signature_and_the_last_page() {
        let page = header(64 << 20, [7; 16], "swap").expect("a header");
        assert_eq!(&page[4086..], b"SWAPSPACE2");
        assert_eq!(
            u32::from_le_bytes(page[1028..1032].try_into().expect("4 bytes")),
            16383
        );
        assert_eq!(&page[1052..1056], b"swap");
        assert!(header(4096 * 9, [0; 16], "").is_err());
    }
}
