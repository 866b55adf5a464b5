//! Compression of one fixed-size block of the layer's tar stream, the unit of parallel
//! work.
//!
//! **gzip** (RFC 1952) is written the way `pigz` writes it: one gzip member whose deflate
//! stream (RFC 1951) is cut into blocks of [`GZIP_BLOCK_SIZE`] input bytes, each
//! compressed on its own with the previous block's last 32 KiB (the whole deflate window)
//! as preset dictionary. Every block but the last ends with a sync flush (an empty stored
//! block, so the next starts on a byte boundary) and the last with the final block bit;
//! the concatenation is therefore one ordinary deflate stream that every gzip reader
//! accepts, and the dictionary keeps the ratio within a fraction of a percent of a
//! serial compressor. Each block's CRC-32 is computed with it and the CRCs are combined
//! in order for the trailer. The header is fixed: no name, no comment, modification time
//! 0, extra flags 0, operating system 255 ("unknown"), as Go's `compress/gzip` writes it.
//!
//! **zstd** (RFC 8878) blocks of [`ZSTD_BLOCK_SIZE`] become independent frames (each
//! records its content size), concatenated: a zstd stream of several frames is valid and
//! decodes to the concatenation.
//!
//! **Determinism.** A block's bytes depend only on its input, its dictionary (gzip) and
//! the constants here (level, window, block size) — never on which thread compressed it
//! or how many there are. Deflate is `zlib-rs`, named directly rather than through
//! `flate2` (whose backend follows feature unification); its CPU-specific paths
//! (`compare256`, `slide_hash`) compute the same results as the portable ones. Changing a
//! constant here or the version of `zlib-rs`/`zstd` may change the compressed bytes (never
//! the `diff_id`): the golden digests in the tests pin them.

use std::io;

use zlib_rs::{Deflate, DeflateFlush, Status};

/// Input bytes per gzip block: 1 MiB, enough that the 5-byte sync-flush marker and the
/// per-block compressor set-up cost nothing measurable.
pub(crate) const GZIP_BLOCK_SIZE: usize = 1 << 20;

/// Input bytes per zstd frame: 4 MiB, larger than gzip's because frames share no history.
pub(crate) const ZSTD_BLOCK_SIZE: usize = 4 << 20;

/// zlib's default level, the one `gzip`, Go's `compress/gzip` and `pigz` use.
const GZIP_LEVEL: i32 = 6;

/// zstd's default level.
const ZSTD_LEVEL: i32 = 3;

/// The deflate window, and so the dictionary handed from one gzip block to the next.
pub(crate) const DEFLATE_WINDOW: usize = 32 * 1024;

/// The gzip member header: magic, method 8 (deflate), no flags, modification time 0, extra
/// flags 0, operating system 255.
pub(crate) const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];

/// How much output room is added when a deflate call fills its buffer.
const OUTPUT_GROWTH: usize = 64 * 1024;

/// A compressed block with what the gzip trailer needs to know about its input.
#[derive(Debug)]
pub(crate) struct CompressedBlock {
    /// The compressed bytes, to be appended to the layer in block order.
    pub(crate) bytes: Vec<u8>,
    /// CRC-32 of the block's input (gzip only; 0 for zstd).
    pub(crate) crc: u32,
    /// Length of the block's input.
    pub(crate) input_length: u64,
}

/// Which block compressor a layer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlockFormat {
    /// Raw deflate pieces of one gzip member.
    Gzip,
    /// Independent zstd frames.
    Zstd,
}

impl BlockFormat {
    /// How many input bytes one block holds.
    pub(crate) fn block_size(self) -> usize {
        match self {
            BlockFormat::Gzip => GZIP_BLOCK_SIZE,
            BlockFormat::Zstd => ZSTD_BLOCK_SIZE,
        }
    }
}

/// Compresses one block. `dictionary` is the end of the previous block (gzip; empty for
/// the first block and for zstd); `last` closes the stream.
pub(crate) fn compress_block(
    format: BlockFormat,
    input: &[u8],
    dictionary: &[u8],
    last: bool,
) -> io::Result<CompressedBlock> {
    let input_length = input.len() as u64;
    match format {
        BlockFormat::Gzip => Ok(CompressedBlock {
            bytes: deflate_block(input, dictionary, last)?,
            crc: zlib_rs::crc32::crc32(0, input),
            input_length,
        }),
        BlockFormat::Zstd => Ok(CompressedBlock {
            bytes: zstd::bulk::compress(input, ZSTD_LEVEL)?,
            crc: 0,
            input_length,
        }),
    }
}

/// Combines the CRC-32 of everything before a block with the block's own CRC-32.
pub(crate) fn combine_crc(before: u32, block: &CompressedBlock) -> u32 {
    zlib_rs::crc32::crc32_combine(before, block.crc, block.input_length)
}

/// The gzip trailer: CRC-32 and input length modulo 2^32, both little-endian.
pub(crate) fn gzip_trailer(crc: u32, input_length: u64) -> [u8; 8] {
    let mut trailer = [0; 8];
    trailer[..4].copy_from_slice(&crc.to_le_bytes());
    // RFC 1952 stores the length modulo 2^32: the truncation is the format.
    trailer[4..].copy_from_slice(&((input_length & 0xffff_ffff) as u32).to_le_bytes());
    trailer
}

/// Raw deflate of `input` primed with `dictionary`, ending in a sync flush or, when `last`,
/// in the final block.
fn deflate_block(input: &[u8], dictionary: &[u8], last: bool) -> io::Result<Vec<u8>> {
    let failure = |error: zlib_rs::DeflateError| io::Error::other(error.as_str());
    let mut deflate = Deflate::new(GZIP_LEVEL, false, 15);
    if !dictionary.is_empty() {
        deflate.set_dictionary(dictionary).map_err(failure)?;
    }
    let flush = if last {
        DeflateFlush::Finish
    } else {
        DeflateFlush::SyncFlush
    };
    let mut output = vec![0; zlib_rs::compress_bound(input.len()) + OUTPUT_GROWTH];
    loop {
        let consumed = usize::try_from(deflate.total_in()).map_err(io::Error::other)?;
        let produced = usize::try_from(deflate.total_out()).map_err(io::Error::other)?;
        if produced == output.len() {
            output.resize(output.len() + OUTPUT_GROWTH, 0);
        }
        let rest = input.get(consumed..).unwrap_or_default();
        let room = output.get_mut(produced..).unwrap_or_default();
        let status = deflate.compress(rest, room, flush).map_err(failure)?;
        let produced = usize::try_from(deflate.total_out()).map_err(io::Error::other)?;
        let consumed = usize::try_from(deflate.total_in()).map_err(io::Error::other)?;
        // zlib's contract: a flush is complete once all input is taken and the call left
        // output room unused; the final block is complete at the stream end.
        let complete = if last {
            status == Status::StreamEnd
        } else {
            consumed == input.len() && produced < output.len()
        };
        if complete {
            output.truncate(produced);
            return Ok(output);
        }
    }
}
