//! Large blobs: content-defined chunking, parallel hashing and compression.
//!
//! A blob of [`crate::blob::SINGLE_BLOB_LIMIT`] bytes or more is cut with FastCDC
//! (v2020) into chunks of [`CHUNK_MIN`]..[`CHUNK_MAX`] bytes, [`CHUNK_AVERAGE`] on
//! average. Each chunk is stored once under its own BLAKE3; a chunk made only of
//! zero bytes is not stored at all but recorded as a hole in the blob's manifest.
//!
//! Input is processed in windows of [`WINDOW`] bytes. For each window, the
//! whole-blob BLAKE3 (`update_rayon`) runs alongside the cutting, then the chunks
//! are hashed, compressed and written in parallel. The last cut of a window may be
//! incomplete, so its bytes are carried into the next window: FastCDC's cut points
//! depend only on the bytes from the start of the current chunk, so the result is
//! the same as cutting the whole blob at once.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use rayon::prelude::*;

use crate::blob::{
    encode_chunk, encode_manifest, object_mode, put_single, BlobInfo, ManifestEntry,
    SINGLE_BLOB_LIMIT,
};
use crate::digest::Digest;
use crate::error::{IoResultExt, StoreError};
use crate::layout::{exists, publish_file, Layout};
use crate::sparse::is_zero;
use crate::Store;

/// Smallest chunk FastCDC cuts (except the last of a blob).
///
/// Chosen from `bench/chunk-sharing.sh` (store/benches/sharing.rs): two 880 MB ext4
/// images of a 559 MiB `/usr/share` tree, the second with 20 files modified, 50
/// added, 20 removed and one appended to. What the store adds for the second image:
///
/// | FastCDC min/avg/max | shared | second image adds | manifest |
/// |---|---|---|---|
/// | 4/16/64 KiB   | 83% | 32.6 MB | 1.03 MB |
/// | 8/32/128 KiB  | 77% | 44.6 MB | 0.51 MB |
/// | 16/64/256 KiB | 67% | 63.1 MB | 0.26 MB |
/// | fixed 64 KiB  |  3% | 230 MB  | 0.38 MB |
///
/// Adding or removing files renumbers inodes, so directory and inode-table blocks
/// change all over the image; smaller chunks lose less around each. Below 16 KiB the
/// saving flattens (8 KiB: 3.5 MB less) while chunk count and hashing cost double.
/// Changing these changes how blobs are stored, never their identity.
pub const CHUNK_MIN: u32 = 4 * 1024;
/// Average chunk size FastCDC aims for (FastCDC adds the minimum: real chunks average
/// about 24 KiB).
pub const CHUNK_AVERAGE: u32 = 16 * 1024;
/// Largest chunk FastCDC cuts.
pub const CHUNK_MAX: u32 = 64 * 1024;
/// zstd level for chunks. Level 1 compresses roughly twice as fast as level 3 for a
/// few percent worse ratio; chunking big images is on the critical path of imports.
pub const CHUNK_ZSTD_LEVEL: i32 = 1;
/// Bytes processed per window (large enough to keep both hashing and chunking parallel).
pub const WINDOW: usize = 32 * 1024 * 1024;

/// Builds a chunked blob from consecutive windows of input.
pub(crate) struct ChunkedWriter {
    layout: Layout,
    secret: bool,
    hasher: blake3::Hasher,
    entries: Vec<ManifestEntry>,
    size: u64,
}

impl ChunkedWriter {
    pub(crate) fn new(layout: Layout, secret: bool) -> ChunkedWriter {
        ChunkedWriter {
            layout,
            secret,
            hasher: blake3::Hasher::new(),
            entries: Vec::new(),
            size: 0,
        }
    }

    /// Consumes a window whose bytes from `new_start` on have not been seen before.
    ///
    /// Returns how many bytes from the start of `window` were cut into final
    /// chunks; the caller keeps the rest and puts it at the start of the next
    /// window. With `last`, everything is consumed.
    pub(crate) fn absorb(
        &mut self,
        window: &[u8],
        new_start: usize,
        last: bool,
    ) -> Result<usize, StoreError> {
        let new_bytes = &window[new_start..];
        let hasher = &mut self.hasher;
        let layout = &self.layout;
        let secret = self.secret;
        let ((), stored) = rayon::join(
            || {
                hasher.update_rayon(new_bytes);
            },
            || cut_and_store(layout, secret, window, last),
        );
        let (entries, consumed) = stored?;
        self.size += new_bytes.len() as u64;
        for entry in entries {
            match (self.entries.last_mut(), entry) {
                (
                    Some(ManifestEntry::Hole { length }),
                    ManifestEntry::Hole {
                        length: more_length,
                    },
                ) => *length += more_length,
                _ => self.entries.push(entry),
            }
        }
        Ok(consumed)
    }

    /// Convenience for callers that have the whole remaining input in one slice.
    pub(crate) fn write_segment(&mut self, data: &[u8], last: bool) -> Result<usize, StoreError> {
        self.absorb(data, 0, last)
    }

    /// Publishes the manifest; all input must have been absorbed with `last`.
    pub(crate) fn finish(self) -> Result<BlobInfo, StoreError> {
        let digest = Digest::from(self.hasher.finalize());
        let info = BlobInfo {
            digest,
            size: self.size,
        };
        let path = self.layout.blob(&digest);
        if !exists(&path) {
            let object = encode_manifest(self.size, &self.entries);
            publish_file(&path, object_mode(self.secret), false, |file| {
                file.write_all(&object)
            })?;
        }
        Ok(info)
    }
}

/// Cuts `window` into chunks and stores the non-zero ones, in parallel.
fn cut_and_store(
    layout: &Layout,
    secret: bool,
    window: &[u8],
    last: bool,
) -> Result<(Vec<ManifestEntry>, usize), StoreError> {
    let mut cuts = cut_points(window);
    if !last {
        cuts.pop();
    }
    let consumed = cuts.last().map_or(0, |(offset, length)| offset + length);
    let entries = cuts
        .par_iter()
        .map(|&(offset, length)| store_chunk(layout, secret, &window[offset..offset + length]))
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok((entries, consumed))
}

/// FastCDC cut points of `window` as `(offset, length)`.
///
/// Identical to iterating `fastcdc::v2020::FastCDC`, but a chunk that starts a
/// run of at least [`CHUNK_MAX`] zero bytes is cut without running the gear
/// hash: its length only depends on those zeros, so it is computed once.
/// Disk images are often more than half zeros.
pub(crate) fn cut_points(window: &[u8]) -> Vec<(usize, usize)> {
    static ZERO_RUN_CUT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let zero_run_cut = *ZERO_RUN_CUT.get_or_init(|| {
        let zeros = vec![0u8; CHUNK_MAX as usize];
        fastcdc::v2020::FastCDC::new(&zeros, CHUNK_MIN, CHUNK_AVERAGE, CHUNK_MAX)
            .cut(0, zeros.len())
            .1
    });
    let chunker = fastcdc::v2020::FastCDC::new(window, CHUNK_MIN, CHUNK_AVERAGE, CHUNK_MAX);
    let maximum = CHUNK_MAX as usize;
    let mut cuts = Vec::with_capacity(window.len() / CHUNK_AVERAGE as usize + 1);
    let mut position = 0;
    while position < window.len() {
        let remaining = window.len() - position;
        let end = if remaining >= maximum && is_zero(&window[position..position + maximum]) {
            position + zero_run_cut
        } else {
            chunker.cut(position, remaining).1
        };
        if end <= position {
            break;
        }
        cuts.push((position, end - position));
        position = end;
    }
    cuts
}

fn store_chunk(layout: &Layout, secret: bool, bytes: &[u8]) -> Result<ManifestEntry, StoreError> {
    let length = bytes.len() as u64;
    if is_zero(bytes) {
        return Ok(ManifestEntry::Hole { length });
    }
    let digest = Digest::of(bytes);
    let path = layout.chunk(&digest);
    if !exists(&path) {
        let object = encode_chunk(bytes, CHUNK_ZSTD_LEVEL).at("compress chunk for", &path)?;
        publish_file(&path, object_mode(secret), false, |file| {
            file.write_all(&object)
        })?;
    }
    Ok(ManifestEntry::Chunk { digest, length })
}

/// Reads until `buffer` is full or the input ends; returns the bytes read.
fn read_full(file: &mut File, path: &Path, buffer: &mut [u8]) -> Result<usize, StoreError> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(count) => filled += count,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error).at("read", path),
        }
    }
    Ok(filled)
}

/// BLAKE3 and size of a file, without storing anything (memory-mapped, multi-threaded).
///
/// This is the reference point for import speed: [`Store::import_file`] should
/// come close to it.
pub fn hash_file(path: &Path) -> Result<BlobInfo, StoreError> {
    let mut hasher = blake3::Hasher::new();
    hasher.update_mmap_rayon(path).at("hash", path)?;
    Ok(BlobInfo {
        digest: hasher.finalize().into(),
        size: hasher.count(),
    })
}

impl Store {
    /// Stores the content of the file at `path` as a blob.
    ///
    /// The file is read once, in windows; hashing, chunking and compression run
    /// in parallel (see the module documentation).
    pub fn import_file(&self, path: &Path, secret: bool) -> Result<BlobInfo, StoreError> {
        let mut file = File::open(path).at("open", path)?;
        let length = file.metadata().at("inspect", path)?.len();
        if length < SINGLE_BLOB_LIMIT as u64 {
            let mut bytes = Vec::with_capacity(length as usize);
            file.read_to_end(&mut bytes).at("read", path)?;
            if bytes.len() < SINGLE_BLOB_LIMIT {
                return put_single(&self.layout, &bytes, Digest::of(&bytes), secret);
            }
            return self.put_blob(&bytes, secret);
        }
        // Best effort: ask the kernel for aggressive read-ahead.
        let _ = rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::Sequential);
        let mut writer = ChunkedWriter::new(self.layout.clone(), secret);
        let mut buffer = vec![0u8; CHUNK_MAX as usize + WINDOW];
        let mut carried = 0usize;
        loop {
            let read = read_full(&mut file, path, &mut buffer[carried..])?;
            let filled = carried + read;
            let last = filled < buffer.len();
            let consumed = writer.absorb(&buffer[..filled], carried, last)?;
            if last {
                break;
            }
            buffer.copy_within(consumed..filled, 0);
            carried = filled - consumed;
        }
        writer.finish()
    }

    /// A writer that stores what is written to it as one blob.
    pub fn blob_writer(&self, secret: bool) -> Result<BlobWriter, StoreError> {
        Ok(BlobWriter {
            layout: self.layout.clone(),
            secret,
            pending: Vec::new(),
            hashed: 0,
            chunked: None,
        })
    }
}

/// Streams bytes into a new blob; call [`BlobWriter::finish`] to publish it.
///
/// Small content is kept in memory; once it reaches the chunking threshold it is
/// chunked and stored window by window, so memory stays bounded. Dropping the
/// writer without finishing publishes nothing (chunks already written are
/// unreferenced and collected by GC).
pub struct BlobWriter {
    layout: Layout,
    secret: bool,
    pending: Vec<u8>,
    /// How many bytes at the start of `pending` are already in the chunked hasher.
    hashed: usize,
    chunked: Option<ChunkedWriter>,
}

impl BlobWriter {
    /// Publishes the blob and returns its identity.
    pub fn finish(mut self) -> Result<BlobInfo, StoreError> {
        match self.chunked.take() {
            None if self.pending.len() < SINGLE_BLOB_LIMIT => put_single(
                &self.layout,
                &self.pending,
                Digest::of(&self.pending),
                self.secret,
            ),
            None => {
                let mut writer = ChunkedWriter::new(self.layout.clone(), self.secret);
                writer.absorb(&self.pending, 0, true)?;
                writer.finish()
            }
            Some(mut writer) => {
                writer.absorb(&self.pending, self.hashed, true)?;
                writer.finish()
            }
        }
    }

    fn flush_window(&mut self) -> Result<(), StoreError> {
        let writer = self
            .chunked
            .get_or_insert_with(|| ChunkedWriter::new(self.layout.clone(), self.secret));
        let consumed = writer.absorb(&self.pending, self.hashed, false)?;
        self.pending.drain(..consumed);
        self.hashed = self.pending.len();
        Ok(())
    }
}

impl Write for BlobWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(data);
        if self.pending.len() >= WINDOW {
            self.flush_window().map_err(io::Error::other)?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference_cuts(window: &[u8]) -> Vec<(usize, usize)> {
        fastcdc::v2020::FastCDC::new(window, CHUNK_MIN, CHUNK_AVERAGE, CHUNK_MAX)
            .map(|chunk| (chunk.offset, chunk.length))
            .collect()
    }

    #[test]
    fn zero_run_shortcut_cuts_like_fastcdc() {
        let mut state = 0x1234_5678_9abc_def1u64;
        let mut window = Vec::new();
        for region in 0..12usize {
            let length = 100_000 + region * 77_777;
            if region % 3 == 0 {
                window.resize(window.len() + length * 3, 0);
            } else {
                for _ in 0..length / 8 {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    window.extend_from_slice(&state.to_le_bytes());
                }
            }
        }
        assert_eq!(cut_points(&window), reference_cuts(&window));
        assert_eq!(cut_points(&[]), reference_cuts(&[]));
        let zeros = vec![0u8; 3 * CHUNK_MAX as usize + 5];
        assert_eq!(cut_points(&zeros), reference_cuts(&zeros));
    }
}
