//! Import throughput: hash-only (`hash_file`) vs full `Store::import_file`, and `b3sum`.
//!
//! `IMGBUILD_BENCH_FILE=/path/to/disk.img cargo bench -p imgbuild-store --bench import`
//! measures a real file; without it a 256 MiB file of mixed random, text-like and
//! zero regions (`IMGBUILD_BENCH_SIZE_MIB` to change the size) is generated in a
//! temporary directory. `IMGBUILD_BENCH_RUNS`
//! (default 3) sets the runs per measurement; medians are reported.
//! `IMGBUILD_BENCH_STORE_DIR` puts the stores on another filesystem. The file is
//! read once beforehand so every measurement starts from the page cache.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use imgbuild_store::{hash_file, Store};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let scratch = tempfile::tempdir()?;
    let path = match std::env::var_os("IMGBUILD_BENCH_FILE") {
        Some(path) => PathBuf::from(path),
        None => {
            let mebibytes: usize = std::env::var("IMGBUILD_BENCH_SIZE_MIB")
                .ok()
                .and_then(|size| size.parse().ok())
                .unwrap_or(256);
            generate(&scratch.path().join("mixed.img"), mebibytes << 20)?
        }
    };
    let runs: usize = std::env::var("IMGBUILD_BENCH_RUNS")
        .ok()
        .and_then(|runs| runs.parse().ok())
        .unwrap_or(3);
    let size = std::fs::metadata(&path)?.len();
    std::fs::read(&path).map(drop).ok();
    println!(
        "file: {} ({:.1} MiB), {runs} runs each, medians",
        path.display(),
        size as f64 / f64::from(1 << 20)
    );

    let hash = median(runs, || {
        let start = Instant::now();
        hash_file(&path)?;
        Ok(start.elapsed())
    })?;
    report("hash only (hash_file, all threads)", size, hash, None);

    let b3sum = which("b3sum");
    let single_thread = match &b3sum {
        Some(b3sum) => {
            let elapsed = median(runs, || {
                let start = Instant::now();
                let status = Command::new(b3sum)
                    .args(["--num-threads", "1", "--no-names"])
                    .arg(&path)
                    .stdout(std::process::Stdio::null())
                    .status()?;
                if !status.success() {
                    return Err("b3sum failed".into());
                }
                Ok(start.elapsed())
            })?;
            report("b3sum --num-threads 1", size, elapsed, None);
            Some(elapsed)
        }
        None => {
            println!("b3sum not found: no single-thread reference");
            None
        }
    };

    // Stores are kept until the end: deleting thousands of files just before
    // creating thousands more makes ext4 inode allocation measurably slower.
    let store_parent = std::env::var_os("IMGBUILD_BENCH_STORE_DIR")
        .map_or_else(|| scratch.path().to_path_buf(), PathBuf::from);
    let mut store_directories = Vec::new();
    let import = median(runs, || {
        let directory = tempfile::tempdir_in(&store_parent)?;
        let store = Store::open(&directory.path().join("store"))?;
        let start = Instant::now();
        store.import_file(&path, false)?;
        let elapsed = start.elapsed();
        store_directories.push(directory);
        Ok(elapsed)
    })?;
    report("import_file (fresh store)", size, import, single_thread);

    if let Some(directory) = store_directories.last() {
        let store = Store::open(&directory.path().join("store"))?;
        let again = median(runs, || {
            let start = Instant::now();
            store.import_file(&path, false)?;
            Ok(start.elapsed())
        })?;
        report(
            "import_file (chunks already stored)",
            size,
            again,
            single_thread,
        );
        let info = store.info()?;
        println!(
            "stored: {} chunks, {:.1} MiB on disk for {:.1} MiB of content",
            info.chunks.count,
            info.total_disk_bytes() as f64 / f64::from(1 << 20),
            info.logical_blob_bytes as f64 / f64::from(1 << 20),
        );
    }
    Ok(())
}

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

fn median(runs: usize, mut run: impl FnMut() -> BenchResult<Duration>) -> BenchResult<Duration> {
    let mut times = (0..runs.max(1))
        .map(|_| run())
        .collect::<BenchResult<Vec<_>>>()?;
    times.sort();
    Ok(times[times.len() / 2])
}

fn report(label: &str, size: u64, elapsed: Duration, reference: Option<Duration>) {
    let rate = size as f64 / elapsed.as_secs_f64() / 1e6;
    match reference {
        Some(reference) => println!(
            "{label:40} {rate:8.0} MB/s  ({:.2}x b3sum single-thread)",
            reference.as_secs_f64() / elapsed.as_secs_f64()
        ),
        None => println!("{label:40} {rate:8.0} MB/s"),
    }
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|directory| directory.join(program))
            .find(|candidate| candidate.is_file())
    })
}

/// 40% zeros, 30% pseudo-random, 30% repetitive text, in 1 MiB-ish regions.
fn generate(path: &Path, size: usize) -> std::io::Result<PathBuf> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let text = b"Package: example\nVersion: 1.0-1\nArchitecture: amd64\nDescription: bench data\n";
    let region = 1 << 20;
    let mut written = 0;
    let mut index = 0u64;
    while written < size {
        let length = region.min(size - written) + (index as usize % 7) * 4096;
        let length = length.min(size - written);
        let mut buffer = Vec::with_capacity(length);
        match index % 10 {
            0..=3 => buffer.resize(length, 0),
            4..=6 => {
                while buffer.len() < length {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    buffer.extend_from_slice(&state.to_le_bytes());
                }
                buffer.truncate(length);
            }
            _ => {
                while buffer.len() < length {
                    buffer.extend_from_slice(text);
                    buffer.extend_from_slice(index.to_string().as_bytes());
                }
                buffer.truncate(length);
            }
        }
        file.write_all(&buffer)?;
        written += length;
        index += 1;
    }
    file.flush()?;
    Ok(path.to_path_buf())
}
