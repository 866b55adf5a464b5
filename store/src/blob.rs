//! Blobs: byte strings named by the BLAKE3 of their uncompressed content.
//!
//! A blob object at `objects/blobs/x/<63 hex>` (the first hex digit of its digest names
//! the fan-out directory) is one of two things:
//!
//! ```text
//! blob object  = "imgbuild-blob-v1\0"   17 bytes, domain and version
//!                kind      u8           1 = single, 2 = manifest
//!                size      u64 LE       uncompressed size of the whole blob
//!                payload
//! single       : payload = one zstd frame holding all `size` bytes (blobs below
//!                [`SINGLE_BLOB_LIMIT`])
//! manifest     : payload = count u64 LE, then `count` entries:
//!                  tag u8 (1 = chunk, 2 = hole), length u64 LE,
//!                  and for a chunk its 32-byte BLAKE3 digest
//!                the lengths add up to `size`; nothing may follow the last entry
//! chunk object = "imgbuild-chunk-v1\0"  18 bytes
//!                size u64 LE, then one zstd frame of `size` bytes
//!                (at `objects/chunks/x/<63 hex>`, named by BLAKE3 of the raw chunk)
//! ```
//!
//! Object files are read-only (0444, or 0400 for a secret blob and its chunks) and are
//! never rewritten once published. Chunking never changes a blob's identity. Reads
//! always verify: every chunk against its digest and the whole content against the
//! blob digest, so a torn or flipped object surfaces as [`StoreError::ObjectCorrupt`],
//! never as bad bytes.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;

use rayon::prelude::*;

use crate::digest::Digest;
use crate::error::{IoResultExt, ObjectKind, StoreError};
use crate::layout::{publish_file, Layout, OBJECT_MODE, SECRET_OBJECT_MODE};
use crate::sparse::{describe_file, write_sparse};
use crate::Store;

/// Blobs smaller than this are stored as one compressed object; larger ones are chunked.
pub const SINGLE_BLOB_LIMIT: usize = 4 * 1024 * 1024;

const BLOB_MAGIC: &[u8; 17] = b"imgbuild-blob-v1\0";
const CHUNK_MAGIC: &[u8; 18] = b"imgbuild-chunk-v1\0";
const KIND_SINGLE: u8 = 1;
const KIND_MANIFEST: u8 = 2;
const TAG_CHUNK: u8 = 1;
const TAG_HOLE: u8 = 2;
/// zstd level for single blobs: they are small, so the better ratio of level 3 is cheap.
const SINGLE_ZSTD_LEVEL: i32 = 3;
/// Refuse to decompress more than this from one object (guards against corrupt headers).
const MAX_DECODED_OBJECT: u64 = 64 * 1024 * 1024;

/// The identity and size of a stored blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct BlobInfo {
    /// BLAKE3 of the uncompressed bytes.
    pub digest: Digest,
    /// Uncompressed size in bytes.
    pub size: u64,
}

/// One entry of a chunk manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ManifestEntry {
    /// Stored bytes.
    Chunk { digest: Digest, length: u64 },
    /// A run of zero bytes that is not stored.
    Hole { length: u64 },
}

impl ManifestEntry {
    pub(crate) fn length(&self) -> u64 {
        match self {
            ManifestEntry::Chunk { length, .. } | ManifestEntry::Hole { length } => *length,
        }
    }
}

/// A decoded blob object.
pub(crate) enum BlobObject<'a> {
    Single {
        size: u64,
        compressed: &'a [u8],
    },
    Manifest {
        size: u64,
        entries: Vec<ManifestEntry>,
    },
}

/// A piece of blob content handed to [`visit_blob`]'s visitor.
pub(crate) enum Segment<'a> {
    Data(&'a [u8]),
    Zeros(u64),
}

pub(crate) fn object_mode(secret: bool) -> u32 {
    if secret {
        SECRET_OBJECT_MODE
    } else {
        OBJECT_MODE
    }
}

pub(crate) fn encode_single(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut object = Vec::with_capacity(bytes.len() / 2 + 64);
    object.extend_from_slice(BLOB_MAGIC);
    object.push(KIND_SINGLE);
    object.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    object.extend_from_slice(&zstd::bulk::compress(bytes, SINGLE_ZSTD_LEVEL)?);
    Ok(object)
}

pub(crate) fn encode_manifest(size: u64, entries: &[ManifestEntry]) -> Vec<u8> {
    let mut object = Vec::with_capacity(34 + entries.len() * 41);
    object.extend_from_slice(BLOB_MAGIC);
    object.push(KIND_MANIFEST);
    object.extend_from_slice(&size.to_le_bytes());
    object.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    for entry in entries {
        match entry {
            ManifestEntry::Chunk { digest, length } => {
                object.push(TAG_CHUNK);
                object.extend_from_slice(&length.to_le_bytes());
                object.extend_from_slice(digest.as_bytes());
            }
            ManifestEntry::Hole { length } => {
                object.push(TAG_HOLE);
                object.extend_from_slice(&length.to_le_bytes());
            }
        }
    }
    object
}

pub(crate) fn encode_chunk(bytes: &[u8], level: i32) -> io::Result<Vec<u8>> {
    thread_local! {
        // One compression context per thread and level: creating a context per
        // chunk showed up in profiles of large imports.
        static COMPRESSOR: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
            const { std::cell::RefCell::new(None) };
    }
    let compressed = COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|(cached, _)| *cached != level) {
            *slot = Some((level, zstd::bulk::Compressor::new(level)?));
        }
        match slot.as_mut() {
            Some((_, compressor)) => compressor.compress(bytes),
            None => zstd::bulk::compress(bytes, level),
        }
    })?;
    let mut object = Vec::with_capacity(compressed.len() + CHUNK_MAGIC.len() + 8);
    object.extend_from_slice(CHUNK_MAGIC);
    object.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    object.extend_from_slice(&compressed);
    Ok(object)
}

/// A little-endian cursor that returns `None` instead of panicking.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, count: usize) -> Option<&'a [u8]> {
        if self.0.len() < count {
            return None;
        }
        let (head, tail) = self.0.split_at(count);
        self.0 = tail;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|bytes| bytes[0])
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8)?.try_into().ok().map(u64::from_le_bytes)
    }
    fn digest(&mut self) -> Option<Digest> {
        self.take(32)?.try_into().ok().map(Digest::from_bytes)
    }
}

/// Decodes the header of a blob object; `None` if it is malformed.
pub(crate) fn decode_blob(data: &[u8]) -> Option<BlobObject<'_>> {
    let mut cursor = Cursor(data);
    if cursor.take(BLOB_MAGIC.len())? != BLOB_MAGIC {
        return None;
    }
    let kind = cursor.u8()?;
    let size = cursor.u64()?;
    match kind {
        KIND_SINGLE if size <= MAX_DECODED_OBJECT => Some(BlobObject::Single {
            size,
            compressed: cursor.0,
        }),
        KIND_MANIFEST => {
            let count = usize::try_from(cursor.u64()?).ok()?;
            if count > cursor.0.len() / 9 {
                return None;
            }
            let mut entries = Vec::with_capacity(count);
            let mut total = 0u64;
            for _ in 0..count {
                let tag = cursor.u8()?;
                let length = cursor.u64()?;
                if length == 0 {
                    return None;
                }
                total = total.checked_add(length)?;
                entries.push(match tag {
                    TAG_CHUNK if length <= MAX_DECODED_OBJECT => ManifestEntry::Chunk {
                        digest: cursor.digest()?,
                        length,
                    },
                    TAG_HOLE => ManifestEntry::Hole { length },
                    _ => return None,
                });
            }
            (cursor.0.is_empty() && total == size).then_some(BlobObject::Manifest { size, entries })
        }
        _ => None,
    }
}

/// zstd-decompresses `data` (at most `capacity` bytes) with this thread's decompression
/// context: making a context per object cost a third of the decompression time when a
/// tar stream of a root tree was rendered from thousands of small blobs and chunks.
fn decompress(data: &[u8], capacity: usize) -> std::io::Result<Vec<u8>> {
    thread_local! {
        static CONTEXT: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    CONTEXT.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(zstd::bulk::Decompressor::new()?);
        }
        match slot.as_mut() {
            Some(context) => context.decompress(data, capacity),
            None => zstd::bulk::decompress(data, capacity),
        }
    })
}

/// Decodes a chunk object and checks it against `digest`; `None` if it does not match.
pub(crate) fn decode_chunk(data: &[u8], digest: &Digest) -> Option<Vec<u8>> {
    let mut cursor = Cursor(data);
    if cursor.take(CHUNK_MAGIC.len())? != CHUNK_MAGIC {
        return None;
    }
    let size = cursor.u64()?;
    if size > MAX_DECODED_OBJECT {
        return None;
    }
    let bytes = decompress(cursor.0, usize::try_from(size).ok()?).ok()?;
    (bytes.len() as u64 == size && Digest::of(&bytes) == *digest).then_some(bytes)
}

/// Reads an object file; a missing file becomes [`StoreError::NotFound`].
pub(crate) fn read_object(
    path: &Path,
    kind: ObjectKind,
    digest: &Digest,
) -> Result<Vec<u8>, StoreError> {
    match fs::read(path) {
        Ok(data) => Ok(data),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Err(StoreError::NotFound {
            kind,
            digest: *digest,
        }),
        Err(error) => Err(error).at("read", path),
    }
}

fn read_chunk(layout: &Layout, digest: &Digest, length: u64) -> Result<Vec<u8>, StoreError> {
    let path = layout.chunk(digest);
    let data = read_object(&path, ObjectKind::Chunk, digest)?;
    match decode_chunk(&data, digest) {
        Some(bytes) if bytes.len() as u64 == length => Ok(bytes),
        _ => Err(StoreError::ObjectCorrupt {
            kind: ObjectKind::Chunk,
            digest: *digest,
            path,
        }),
    }
}

/// Feeds `length` zero bytes to `hasher`.
pub(crate) fn hash_zeros(hasher: &mut blake3::Hasher, mut length: u64) {
    static ZEROS: [u8; 65536] = [0; 65536];
    while length > 0 {
        let step = length.min(ZEROS.len() as u64) as usize;
        hasher.update(&ZEROS[..step]);
        length -= step as u64;
    }
}

/// Streams a blob's content to `visitor` in order, verifying everything.
///
/// Chunks are read and checked in parallel batches; the whole-content digest is
/// checked at the end, so a visitor that has side effects must treat an error
/// as "discard what you wrote". Returns the blob size.
pub(crate) fn visit_blob(
    layout: &Layout,
    digest: &Digest,
    visitor: &mut dyn FnMut(Segment<'_>) -> Result<(), StoreError>,
) -> Result<u64, StoreError> {
    let path = layout.blob(digest);
    let data = read_object(&path, ObjectKind::Blob, digest)?;
    let corrupt = || StoreError::ObjectCorrupt {
        kind: ObjectKind::Blob,
        digest: *digest,
        path: path.clone(),
    };
    match decode_blob(&data).ok_or_else(corrupt)? {
        BlobObject::Single { size, compressed } => {
            let capacity = usize::try_from(size).map_err(|_| corrupt())?;
            let bytes = decompress(compressed, capacity).map_err(|_| corrupt())?;
            if bytes.len() as u64 != size || Digest::of(&bytes) != *digest {
                return Err(corrupt());
            }
            visitor(Segment::Data(&bytes))?;
            Ok(size)
        }
        BlobObject::Manifest { size, entries } => {
            let mut hasher = blake3::Hasher::new();
            for batch in entries.chunks(64) {
                let contents: Vec<Result<Option<Vec<u8>>, StoreError>> = batch
                    .par_iter()
                    .map(|entry| match entry {
                        ManifestEntry::Chunk { digest, length } => {
                            read_chunk(layout, digest, *length).map(Some)
                        }
                        ManifestEntry::Hole { .. } => Ok(None),
                    })
                    .collect();
                for (entry, content) in batch.iter().zip(contents) {
                    match content? {
                        Some(bytes) => {
                            hasher.update(&bytes);
                            visitor(Segment::Data(&bytes))?;
                        }
                        None => {
                            hash_zeros(&mut hasher, entry.length());
                            visitor(Segment::Zeros(entry.length()))?;
                        }
                    }
                }
            }
            if Digest::from(hasher.finalize()) != *digest {
                return Err(corrupt());
            }
            Ok(size)
        }
    }
}

impl Store {
    /// Stores `bytes` as a blob (chunked when large) and returns its identity.
    pub fn put_blob(&self, bytes: &[u8], secret: bool) -> Result<BlobInfo, StoreError> {
        if bytes.len() >= SINGLE_BLOB_LIMIT {
            let mut writer = crate::chunking::ChunkedWriter::new(self.layout.clone(), secret);
            writer.write_segment(bytes, true)?;
            return writer.finish();
        }
        put_single(&self.layout, bytes, Digest::of(bytes), secret)
    }

    /// Whether the blob's object exists (its chunks are not checked).
    pub fn has_blob(&self, digest: &Digest) -> bool {
        crate::layout::exists(&self.layout.blob(digest))
    }

    /// The whole blob, verified against `digest`.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let mut content = Vec::new();
        visit_blob(&self.layout, digest, &mut |segment| {
            match segment {
                Segment::Data(bytes) => content.extend_from_slice(bytes),
                Segment::Zeros(length) => {
                    let new_length = content.len().saturating_add(length as usize);
                    content.resize(new_length, 0);
                }
            }
            Ok(())
        })?;
        Ok(content)
    }

    /// Writes the blob into `file` from offset 0 (zero runs become holes), truncating it
    /// to the blob size. Verified; on error the file content is unspecified.
    pub fn copy_blob_to_file(&self, digest: &Digest, file: &mut File) -> Result<u64, StoreError> {
        let path = describe_file(file);
        file.set_len(0).at("truncate", &path)?;
        let mut offset = 0u64;
        let size = visit_blob(&self.layout, digest, &mut |segment| {
            match segment {
                Segment::Data(bytes) => {
                    write_sparse(file, &path, offset, bytes)?;
                    offset += bytes.len() as u64;
                }
                Segment::Zeros(length) => offset += length,
            }
            Ok(())
        })?;
        file.set_len(size).at("set the length of", &path)?;
        Ok(size)
    }

    /// Streams the blob's bytes into `sink` (zero runs as zeros), verified as it goes;
    /// on error `sink` has received an unspecified prefix. Returns the size.
    pub fn write_blob_to(
        &self,
        digest: &Digest,
        sink: &mut dyn std::io::Write,
    ) -> Result<u64, StoreError> {
        let path = self.layout.blob(digest);
        let zeros = [0u8; 64 * 1024];
        visit_blob(&self.layout, digest, &mut |segment| {
            match segment {
                Segment::Data(bytes) => sink.write_all(bytes).at("send the bytes of", &path)?,
                Segment::Zeros(mut length) => {
                    while length > 0 {
                        let step = length.min(zeros.len() as u64) as usize;
                        sink.write_all(&zeros[..step])
                            .at("send the bytes of", &path)?;
                        length -= step as u64;
                    }
                }
            }
            Ok(())
        })
    }

    /// The uncompressed size of a blob, from its header (not verified).
    pub fn blob_size(&self, digest: &Digest) -> Result<u64, StoreError> {
        let path = self.layout.blob(digest);
        let mut header = [0u8; BLOB_MAGIC.len() + 9];
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound {
                    kind: ObjectKind::Blob,
                    digest: *digest,
                });
            }
            Err(error) => return Err(error).at("open", &path),
        };
        let corrupt = || StoreError::ObjectCorrupt {
            kind: ObjectKind::Blob,
            digest: *digest,
            path: path.clone(),
        };
        file.read_exact(&mut header).map_err(|_| corrupt())?;
        if &header[..BLOB_MAGIC.len()] != BLOB_MAGIC {
            return Err(corrupt());
        }
        let mut size = [0u8; 8];
        size.copy_from_slice(&header[BLOB_MAGIC.len() + 1..]);
        Ok(u64::from_le_bytes(size))
    }
}

/// Publishes a single-object blob whose digest the caller already computed.
pub(crate) fn put_single(
    layout: &Layout,
    bytes: &[u8],
    digest: Digest,
    secret: bool,
) -> Result<BlobInfo, StoreError> {
    let info = BlobInfo {
        digest,
        size: bytes.len() as u64,
    };
    let path = layout.blob(&digest);
    if crate::layout::exists(&path) {
        return Ok(info);
    }
    let object = encode_single(bytes).at("compress blob for", &path)?;
    publish_file(&path, object_mode(secret), false, |file| {
        io::Write::write_all(file, &object)
    })?;
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trips_and_rejects_trailing_bytes() {
        let entries = vec![
            ManifestEntry::Chunk {
                digest: Digest::of(b"a"),
                length: 10,
            },
            ManifestEntry::Hole { length: 5 },
        ];
        let encoded = encode_manifest(15, &entries);
        match decode_blob(&encoded) {
            Some(BlobObject::Manifest {
                size,
                entries: decoded,
            }) => {
                assert_eq!(size, 15);
                assert_eq!(decoded, entries);
            }
            _ => panic!("manifest did not decode"),
        }
        let mut trailing = encoded.clone();
        trailing.push(0);
        assert!(decode_blob(&trailing).is_none());
        assert!(decode_blob(&encode_manifest(16, &entries)).is_none());
        for length in 0..encoded.len() {
            assert!(decode_blob(&encoded[..length]).is_none());
        }
    }

    #[test]
    fn chunk_decoding_checks_the_digest() {
        let object = encode_chunk(b"chunk bytes", 1).expect("compress");
        assert_eq!(
            decode_chunk(&object, &Digest::of(b"chunk bytes")).as_deref(),
            Some(&b"chunk bytes"[..])
        );
        assert!(decode_chunk(&object, &Digest::of(b"other")).is_none());
    }
}
