//! The layer sink: the [`io::Write`] handed to the caller's tar writer. It hashes the
//! uncompressed stream (the `diff_id`) as it arrives, cuts it into fixed-size blocks,
//! compresses the blocks on the current rayon pool ([`crate::compress`]) and appends the
//! results to the blob file strictly in block order while hashing them (the layer digest).
//!
//! At most a few blocks per rayon thread are held at once, so memory stays bounded for
//! root filesystems of any size. The producer (the caller's tar writer) never blocks a
//! rayon worker idly: while it waits for the oldest block it runs pending rayon jobs
//! itself (`rayon::yield_now`), so a pool of one thread works (sequentially) and a caller
//! outside any pool uses the global one. The bytes written depend only on the stream, not
//! on the number of threads or the order jobs finish in.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::mem;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use crate::compress::{self, BlockFormat, CompressedBlock, DEFLATE_WINDOW, GZIP_HEADER};
use crate::Compression;

/// Buffer between the tar writer's small writes and the blob file (uncompressed layers).
const FILE_BUFFER: usize = 1 << 20;

/// How long a producer with nothing to run waits for its block before looking for rayon
/// work again.
const IDLE_WAIT: Duration = Duration::from_millis(1);

/// What the finished layer blob is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LayerDigests {
    /// `sha256:<hex>` of the uncompressed tar stream.
    pub(crate) diff_id: String,
    /// `sha256:<hex>` of the blob as written.
    pub(crate) digest: String,
    /// Size of the blob as written.
    pub(crate) size: u64,
}

/// The [`io::Write`] the tar stream goes into.
pub(crate) struct LayerSink<'file> {
    output: HashingWriter<BufWriter<&'file File>>,
    uncompressed: Sha256,
    uncompressed_size: u64,
    blocks: Option<BlockPipeline>,
}

/// Blocks being filled and compressed, for the compressed formats.
struct BlockPipeline {
    format: BlockFormat,
    current: Vec<u8>,
    /// The end of the previous block: the next gzip block's dictionary.
    dictionary: Vec<u8>,
    in_flight: VecDeque<Receiver<io::Result<CompressedBlock>>>,
    in_flight_limit: usize,
    blocks_submitted: u64,
    crc: u32,
}

impl<'file> LayerSink<'file> {
    /// A sink writing `compression`'s format into `file` (positioned at its start).
    pub(crate) fn new(file: &'file File, compression: Compression) -> io::Result<LayerSink<'file>> {
        let mut output = HashingWriter {
            inner: BufWriter::with_capacity(FILE_BUFFER, file),
            digest: Sha256::new(),
            size: 0,
        };
        let format = match compression {
            Compression::None => None,
            Compression::Gzip => Some(BlockFormat::Gzip),
            Compression::Zstd => Some(BlockFormat::Zstd),
        };
        if format == Some(BlockFormat::Gzip) {
            output.write_all(&GZIP_HEADER)?;
        }
        let blocks = format.map(|format| BlockPipeline {
            format,
            current: Vec::with_capacity(format.block_size()),
            dictionary: Vec::new(),
            in_flight: VecDeque::new(),
            in_flight_limit: 2 * rayon::current_num_threads() + 1,
            blocks_submitted: 0,
            crc: 0,
        });
        Ok(LayerSink {
            output,
            uncompressed: Sha256::new(),
            uncompressed_size: 0,
            blocks,
        })
    }

    /// Compresses what is left, waits for every block, writes the gzip trailer and flushes.
    pub(crate) fn finish(mut self) -> io::Result<LayerDigests> {
        if let Some(mut blocks) = self.blocks.take() {
            let needs_last_block = blocks.format == BlockFormat::Gzip
                || !blocks.current.is_empty()
                || blocks.blocks_submitted == 0;
            if needs_last_block {
                blocks.submit(true, &mut self.output)?;
            }
            while let Some(receiver) = blocks.in_flight.pop_front() {
                blocks.append(&receiver, &mut self.output)?;
            }
            if blocks.format == BlockFormat::Gzip {
                self.output
                    .write_all(&compress::gzip_trailer(blocks.crc, self.uncompressed_size))?;
            }
        }
        self.output.inner.flush()?;
        Ok(LayerDigests {
            diff_id: digest_string(self.uncompressed),
            digest: digest_string(self.output.digest),
            size: self.output.size,
        })
    }
}

impl Write for LayerSink<'_> {
    fn write(&mut self, buffer: &[u8]) -> io::Result<usize> {
        self.uncompressed.update(buffer);
        self.uncompressed_size += buffer.len() as u64;
        let Some(blocks) = &mut self.blocks else {
            self.output.write_all(buffer)?;
            return Ok(buffer.len());
        };
        let mut rest = buffer;
        while !rest.is_empty() {
            let room = blocks.format.block_size() - blocks.current.len();
            let (taken, remaining) = rest.split_at(room.min(rest.len()));
            blocks.current.extend_from_slice(taken);
            rest = remaining;
            if blocks.current.len() == blocks.format.block_size() {
                blocks.submit(false, &mut self.output)?;
            }
        }
        Ok(buffer.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.output.inner.flush()
    }
}

impl BlockPipeline {
    /// Hands the current block to a rayon job; first makes room by appending the oldest
    /// block when the limit of blocks in flight is reached.
    fn submit(&mut self, last: bool, output: &mut impl Write) -> io::Result<()> {
        while self.in_flight.len() >= self.in_flight_limit {
            let Some(oldest) = self.in_flight.pop_front() else {
                break;
            };
            self.append(&oldest, output)?;
        }
        let block = mem::replace(
            &mut self.current,
            Vec::with_capacity(self.format.block_size()),
        );
        let dictionary = match self.format {
            BlockFormat::Gzip => {
                let tail = block
                    .get(block.len().saturating_sub(DEFLATE_WINDOW)..)
                    .unwrap_or_default();
                mem::replace(&mut self.dictionary, tail.to_vec())
            }
            BlockFormat::Zstd => Vec::new(),
        };
        let format = self.format;
        let (sender, receiver) = mpsc::sync_channel(1);
        rayon::spawn(move || {
            // The receiver is gone only when the layer was abandoned on an error.
            let _ = sender.send(compress::compress_block(format, &block, &dictionary, last));
        });
        self.in_flight.push_back(receiver);
        self.blocks_submitted += 1;
        Ok(())
    }

    /// Waits for a block and appends it to the output.
    fn append(
        &mut self,
        receiver: &Receiver<io::Result<CompressedBlock>>,
        output: &mut impl Write,
    ) -> io::Result<()> {
        let block = wait_for(receiver)??;
        if self.format == BlockFormat::Gzip {
            self.crc = compress::combine_crc(self.crc, &block);
        }
        output.write_all(&block.bytes)
    }
}

/// Receives a job's result, running other rayon jobs meanwhile when on a worker thread
/// (blocking a worker of a one-thread pool would wait for ever).
fn wait_for<T>(receiver: &Receiver<T>) -> io::Result<T> {
    let lost = || io::Error::other("a compression job ended without a result");
    loop {
        match receiver.try_recv() {
            Ok(value) => return Ok(value),
            Err(TryRecvError::Disconnected) => return Err(lost()),
            Err(TryRecvError::Empty) => {}
        }
        match rayon::yield_now() {
            Some(rayon::Yield::Executed) => {}
            Some(rayon::Yield::Idle) => match receiver.recv_timeout(IDLE_WAIT) {
                Ok(value) => return Ok(value),
                Err(RecvTimeoutError::Disconnected) => return Err(lost()),
                Err(RecvTimeoutError::Timeout) => {}
            },
            None => return receiver.recv().map_err(|_| lost()),
        }
    }
}

/// `sha256:` and the lower-case hex of a finished hash.
pub(crate) fn digest_string(hasher: Sha256) -> String {
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// A writer that hashes and counts what passes through it.
struct HashingWriter<W> {
    inner: W,
    digest: Sha256,
    size: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buffer: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buffer)?;
        let passed = buffer.get(..written).unwrap_or_default();
        self.digest.update(passed);
        self.size += passed.len() as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
