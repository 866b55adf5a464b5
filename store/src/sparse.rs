//! Zero detection and sparse writing: runs of zeros become holes, not data.

use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use crate::error::{IoResultExt, StoreError};

/// Block size used to find zero runs that become holes when writing files.
pub(crate) const HOLE_BLOCK: usize = 4096;

/// Writes `data` at `offset`, leaving 4 KiB blocks of zeros as holes.
pub(crate) fn write_sparse(
    file: &File,
    path: &Path,
    offset: u64,
    data: &[u8],
) -> Result<(), StoreError> {
    let mut start = 0usize;
    while start < data.len() {
        // Align block boundaries to the file offset so holes line up with filesystem blocks.
        let misalignment = ((offset + start as u64) % HOLE_BLOCK as u64) as usize;
        let block_end = (start + HOLE_BLOCK - misalignment).min(data.len());
        if is_zero(&data[start..block_end]) {
            start = block_end;
            continue;
        }
        let mut end = block_end;
        while end < data.len() {
            let next = (end + HOLE_BLOCK).min(data.len());
            if is_zero(&data[end..next]) {
                break;
            }
            end = next;
        }
        file.write_all_at(&data[start..end], offset + start as u64)
            .at("write", path)?;
        start = end;
    }
    Ok(())
}

/// Whether every byte is zero (fast enough to run over every chunk).
pub(crate) fn is_zero(data: &[u8]) -> bool {
    let (blocks, rest) = data.as_chunks::<64>();
    blocks.iter().all(|block| {
        block
            .iter()
            .fold(0u8, |accumulated, byte| accumulated | byte)
            == 0
    }) && rest.iter().all(|byte| *byte == 0)
}

/// The best path we can name for an open file (for error messages).
pub(crate) fn describe_file(file: &File) -> PathBuf {
    let link = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
    fs::read_link(&link).unwrap_or(link)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_detection() {
        assert!(is_zero(&[0; 1000]));
        let mut data = vec![0u8; 1000];
        data[999] = 1;
        assert!(!is_zero(&data));
        data[999] = 0;
        data[3] = 1;
        assert!(!is_zero(&data));
    }

    #[test]
    fn sparse_writes_keep_content_and_skip_zero_blocks() {
        let directory = tempfile::tempdir().expect("tempdir");
        let path = directory.path().join("sparse");
        let file = File::create(&path).expect("create");
        let mut data = vec![0u8; 10 * HOLE_BLOCK];
        data[5] = 1;
        data[7 * HOLE_BLOCK + 3] = 2;
        write_sparse(&file, &path, 100, &data).expect("write");
        file.set_len(100 + data.len() as u64).expect("truncate");
        drop(file);
        let written = fs::read(&path).expect("read");
        assert_eq!(&written[100..], &data[..]);
    }
}
