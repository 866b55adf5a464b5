//! Chunk sharing between two versions of a disk image, for several chunkers.
//!
//! `IMGBUILD_SHARING_A=old.img IMGBUILD_SHARING_B=new.img cargo bench -p imgbuild-store --bench sharing`
//! (`bench/chunk-sharing.sh` builds a realistic pair of ext4 images and runs this).
//! `IMGBUILD_SHARING_LABEL` names the pair in the output.
//!
//! Each chunker cuts both images; chunks made only of zero bytes are holes (not
//! stored, as in the store). A chunk of B is *shared* when a chunk of A has the
//! same BLAKE3. For B the table gives what the store would add after holding A:
//! the new distinct chunks, raw and compressed as the store does (zstd at
//! [`imgbuild_store::chunking::CHUNK_ZSTD_LEVEL`] plus the 26-byte object header),
//! their size on a filesystem with 4 KiB blocks (one file per chunk), and B's
//! manifest (34 bytes + 41 per chunk + 9 per run of holes).
//!
//! Speeds are single-threaded, from data already in memory (reading is not
//! timed): *cut* is finding the cut points (FastCDC with the store's shortcut for
//! runs of zeros), *hash* is the zero test plus BLAKE3 of the non-zero chunks.
//! They are given over the whole image (holes included), as an import sees them.
//! Memory stays bounded: images are read in windows and only 32-byte digests are kept.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use imgbuild_store::chunking::CHUNK_ZSTD_LEVEL;
use imgbuild_store::{CHUNK_AVERAGE, CHUNK_MAX, CHUNK_MIN};

/// Bytes read per window, as in the store.
const WINDOW: usize = 32 << 20;
/// Manifest header: magic (17), kind (1), size (8), entry count (8).
const MANIFEST_HEADER: u64 = 34;
/// Manifest entry for a chunk: tag, length, digest.
const MANIFEST_CHUNK_ENTRY: u64 = 41;
/// Manifest entry for a run of holes: tag, length.
const MANIFEST_HOLE_ENTRY: u64 = 9;
/// Chunk object header: magic (18) and raw length (8).
const CHUNK_OBJECT_HEADER: u64 = 26;
/// Block size of the filesystem holding the store, for the on-disk estimate.
const DISK_BLOCK: u64 = 4096;

type ChunkId = [u8; 32];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Chunker {
    Fixed(usize),
    FastCdc { min: u32, average: u32, max: u32 },
}

impl Chunker {
    fn cdc(average_kib: u32) -> Chunker {
        let average = average_kib * 1024;
        Chunker::FastCdc {
            min: average / 4,
            average,
            max: average * 4,
        }
    }

    fn name(self) -> String {
        match self {
            Chunker::Fixed(size) => format!("fixed {} KiB", size / 1024),
            Chunker::FastCdc { min, average, max } => format!(
                "FastCDC {}/{}/{} KiB",
                min / 1024,
                average / 1024,
                max / 1024
            ),
        }
    }

    /// Longest chunk this chunker cuts (the carry between windows is at most this).
    fn max(self) -> usize {
        match self {
            Chunker::Fixed(size) => size,
            Chunker::FastCdc { max, .. } => max as usize,
        }
    }
}

/// Cuts `window` into `(offset, length)` chunks, like the store's `cut_points`:
/// a FastCDC chunk that starts a run of at least `max` zeros is cut without
/// running the gear hash, its length computed once in `zero_run_cut`.
fn cut_points(
    chunker: Chunker,
    zero_run_cut: usize,
    window: &[u8],
    cuts: &mut Vec<(usize, usize)>,
) {
    cuts.clear();
    match chunker {
        Chunker::Fixed(size) => {
            let mut position = 0;
            while position < window.len() {
                let length = size.min(window.len() - position);
                cuts.push((position, length));
                position += length;
            }
        }
        Chunker::FastCdc { min, average, max } => {
            let cdc = fastcdc::v2020::FastCDC::new(window, min, average, max);
            let maximum = max as usize;
            let mut position = 0;
            while position < window.len() {
                let remaining = window.len() - position;
                let end = if remaining >= maximum && is_zero(&window[position..position + maximum])
                {
                    position + zero_run_cut
                } else {
                    cdc.cut(position, remaining).1
                };
                if end <= position {
                    break;
                }
                cuts.push((position, end - position));
                position = end;
            }
        }
    }
}

fn zero_run_cut(chunker: Chunker) -> usize {
    match chunker {
        Chunker::Fixed(size) => size,
        Chunker::FastCdc { min, average, max } => {
            let zeros = vec![0u8; max as usize];
            fastcdc::v2020::FastCDC::new(&zeros, min, average, max)
                .cut(0, zeros.len())
                .1
        }
    }
}

/// Whether every byte is zero (same method as the store's).
fn is_zero(data: &[u8]) -> bool {
    let (blocks, rest) = data.as_chunks::<64>();
    blocks.iter().all(|block| {
        block
            .iter()
            .fold(0u8, |accumulated, byte| accumulated | byte)
            == 0
    }) && rest.iter().all(|byte| *byte == 0)
}

/// Reads until `buffer` is full or the input ends; returns the bytes read.
fn read_full(file: &mut File, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(count) => filled += count,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

/// Calls `visit(bytes, id)` for every chunk of the file (`id` is `None` for a hole).
/// Returns the time spent cutting and the time spent on zero tests and hashing.
fn chunk_file(
    path: &Path,
    chunker: Chunker,
    mut visit: impl FnMut(&[u8], Option<ChunkId>),
) -> io::Result<(Duration, Duration)> {
    let zero_run_cut = zero_run_cut(chunker);
    let mut file = File::open(path)?;
    let mut buffer = vec![0u8; WINDOW + chunker.max()];
    let mut cuts = Vec::new();
    let mut carried = 0usize;
    let mut cutting = Duration::ZERO;
    let mut hashing = Duration::ZERO;
    loop {
        let read = read_full(&mut file, &mut buffer[carried..])?;
        let filled = carried + read;
        let last = filled < buffer.len();
        let window = &buffer[..filled];

        let start = Instant::now();
        cut_points(chunker, zero_run_cut, window, &mut cuts);
        if !last {
            cuts.pop();
        }
        cutting += start.elapsed();

        let start = Instant::now();
        let ids: Vec<Option<ChunkId>> = cuts
            .iter()
            .map(|&(offset, length)| {
                let bytes = &window[offset..offset + length];
                (!is_zero(bytes)).then(|| *blake3::hash(bytes).as_bytes())
            })
            .collect();
        hashing += start.elapsed();

        for (&(offset, length), id) in cuts.iter().zip(ids) {
            visit(&window[offset..offset + length], id);
        }
        if last {
            return Ok((cutting, hashing));
        }
        let consumed = cuts.last().map_or(0, |(offset, length)| offset + length);
        buffer.copy_within(consumed..filled, 0);
        carried = filled - consumed;
    }
}

/// Counts of one image's chunks.
#[derive(Default)]
struct ImageCounts {
    size: u64,
    chunks: u64,
    hole_runs: u64,
    data_bytes: u64,
    in_hole: bool,
    cutting: Duration,
    hashing: Duration,
}

impl ImageCounts {
    fn count(&mut self, length: usize, id: Option<ChunkId>) {
        self.size += length as u64;
        match id {
            Some(_) => {
                self.chunks += 1;
                self.data_bytes += length as u64;
                self.in_hole = false;
            }
            None => {
                if !self.in_hole {
                    self.hole_runs += 1;
                }
                self.in_hole = true;
            }
        }
    }

    fn manifest_bytes(&self) -> u64 {
        MANIFEST_HEADER + self.chunks * MANIFEST_CHUNK_ENTRY + self.hole_runs * MANIFEST_HOLE_ENTRY
    }
}

struct Row {
    chunker: Chunker,
    store: bool,
    a: ImageCounts,
    b: ImageCounts,
    /// Distinct non-zero chunks of A.
    a_distinct: u64,
    /// Bytes of B's non-zero chunks that A has.
    shared_bytes: u64,
    /// New distinct chunks of B: count, raw bytes, stored object bytes, on-disk bytes.
    new_chunks: u64,
    new_raw: u64,
    new_stored: u64,
    new_disk: u64,
}

fn measure(chunker: Chunker, store: bool, a_path: &Path, b_path: &Path) -> io::Result<Row> {
    let mut a = ImageCounts::default();
    let mut a_ids: HashSet<ChunkId> = HashSet::new();
    let (cutting, hashing) = chunk_file(a_path, chunker, |bytes, id| {
        a.count(bytes.len(), id);
        if let Some(id) = id {
            a_ids.insert(id);
        }
    })?;
    a.cutting = cutting;
    a.hashing = hashing;

    let mut b = ImageCounts::default();
    let mut b_new_ids: HashSet<ChunkId> = HashSet::new();
    let mut compressor = zstd::bulk::Compressor::new(CHUNK_ZSTD_LEVEL)?;
    let (mut shared_bytes, mut new_raw, mut new_stored, mut new_disk) = (0u64, 0u64, 0u64, 0u64);
    let (cutting, hashing) = chunk_file(b_path, chunker, |bytes, id| {
        b.count(bytes.len(), id);
        let Some(id) = id else { return };
        if a_ids.contains(&id) {
            shared_bytes += bytes.len() as u64;
        } else if b_new_ids.insert(id) {
            let compressed = compressor
                .compress(bytes)
                .expect("zstd compression of a chunk")
                .len() as u64;
            let object = CHUNK_OBJECT_HEADER + compressed;
            new_raw += bytes.len() as u64;
            new_stored += object;
            new_disk += object.div_ceil(DISK_BLOCK) * DISK_BLOCK;
        }
    })?;
    b.cutting = cutting;
    b.hashing = hashing;
    Ok(Row {
        chunker,
        store,
        a,
        b,
        a_distinct: a_ids.len() as u64,
        shared_bytes,
        new_chunks: b_new_ids.len() as u64,
        new_raw,
        new_stored,
        new_disk,
    })
}

fn megabytes(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn speed(bytes: u64, time: Duration) -> f64 {
    megabytes(bytes) / time.as_secs_f64().max(1e-9)
}

fn print_tables(rows: &[Row]) {
    println!();
    println!(
        "Sharing (B against A; MB = 10^6 bytes; new = B's distinct non-zero chunks that A lacks):"
    );
    println!(
        "| {:<30} | {:>8} | {:>8} | {:>9} | {:>10} | {:>17} | {:>9} | {:>9} | {:>9} | {:>9} | {:>10} |",
        "chunker",
        "chunks B",
        "new",
        "mean KiB",
        "data B MB",
        "shared MB (%)",
        "new raw",
        "new zstd",
        "new disk",
        "manifest",
        "B adds MB"
    );
    println!(
        "|{:-<32}|{:->10}|{:->10}|{:->11}|{:->12}|{:->19}|{:->11}|{:->11}|{:->11}|{:->11}|{:->12}|",
        "", "", "", "", "", "", "", "", "", "", ""
    );
    for row in rows {
        let name = if row.store {
            format!("{} (store)", row.chunker.name())
        } else {
            row.chunker.name()
        };
        let manifest = row.b.manifest_bytes();
        println!(
            "| {:<30} | {:>8} | {:>8} | {:>9.1} | {:>10.1} | {:>7.1} ({:>6.2}%) | {:>9.2} | {:>9.2} | {:>9.2} | {:>9.3} | {:>10.2} |",
            name,
            row.b.chunks,
            row.new_chunks,
            row.b.data_bytes as f64 / row.b.chunks.max(1) as f64 / 1024.0,
            megabytes(row.b.data_bytes),
            megabytes(row.shared_bytes),
            100.0 * row.shared_bytes as f64 / row.b.data_bytes.max(1) as f64,
            megabytes(row.new_raw),
            megabytes(row.new_stored),
            megabytes(row.new_disk),
            megabytes(manifest),
            megabytes(row.new_disk + manifest),
        );
    }
    println!(
        "(new raw: uncompressed; new zstd: chunk objects as stored; new disk: those objects \
         rounded up to {DISK_BLOCK}-byte blocks; manifest: B's manifest object; \
         B adds = new disk + manifest)"
    );

    println!();
    println!("Speed (single thread, in memory, MB/s over the whole image, mean of A and B) and A's index:");
    println!(
        "| {:<30} | {:>8} | {:>9} | {:>12} | {:>10} | {:>11} | {:>13} |",
        "chunker", "cut MB/s", "hash MB/s", "cut+hash", "chunks A", "distinct A", "manifest A KB"
    );
    println!(
        "|{:-<32}|{:->10}|{:->11}|{:->14}|{:->12}|{:->13}|{:->15}|",
        "", "", "", "", "", "", ""
    );
    for row in rows {
        let size = row.a.size + row.b.size;
        let cutting = row.a.cutting + row.b.cutting;
        let hashing = row.a.hashing + row.b.hashing;
        println!(
            "| {:<30} | {:>8} | {:>9.0} | {:>12.0} | {:>10} | {:>11} | {:>13.1} |",
            row.chunker.name(),
            match row.chunker {
                // Fixed cuts are offsets: nothing to measure.
                Chunker::Fixed(_) => "-".to_owned(),
                Chunker::FastCdc { .. } => format!("{:.0}", speed(size, cutting)),
            },
            speed(size, hashing),
            speed(size, cutting + hashing),
            row.a.chunks,
            row.a_distinct,
            row.a.manifest_bytes() as f64 / 1e3,
        );
    }
}

fn image_path(variable: &str) -> PathBuf {
    match std::env::var_os(variable) {
        Some(path) => PathBuf::from(path),
        None => {
            eprintln!(
                "set IMGBUILD_SHARING_A and IMGBUILD_SHARING_B to two image files \
                 (bench/chunk-sharing.sh builds a pair and runs this)"
            );
            std::process::exit(2);
        }
    }
}

fn main() {
    let a_path = image_path("IMGBUILD_SHARING_A");
    let b_path = image_path("IMGBUILD_SHARING_B");
    let label = std::env::var("IMGBUILD_SHARING_LABEL").unwrap_or_else(|_| "A vs B".to_owned());
    let a_size = std::fs::metadata(&a_path).expect("size of image A").len();
    let b_size = std::fs::metadata(&b_path).expect("size of image B").len();
    println!("== {label}");
    println!(
        "A: {} ({:.1} MB)\nB: {} ({:.1} MB)",
        a_path.display(),
        megabytes(a_size),
        b_path.display(),
        megabytes(b_size)
    );

    let store = Chunker::FastCdc {
        min: CHUNK_MIN,
        average: CHUNK_AVERAGE,
        max: CHUNK_MAX,
    };
    let mut chunkers = vec![
        Chunker::Fixed(4 * 1024),
        Chunker::Fixed(64 * 1024),
        Chunker::cdc(8),
        Chunker::cdc(16),
        Chunker::cdc(32),
        Chunker::cdc(64),
        Chunker::cdc(128),
        Chunker::cdc(256),
    ];
    if !chunkers.contains(&store) {
        chunkers.push(store);
    }

    let mut rows = Vec::new();
    for chunker in chunkers {
        let start = Instant::now();
        let row = measure(chunker, chunker == store, &a_path, &b_path).expect("chunk the images");
        eprintln!(
            "  {:<24} {:>6.1} s",
            chunker.name(),
            start.elapsed().as_secs_f64()
        );
        rows.push(row);
    }
    print_tables(&rows);
}
