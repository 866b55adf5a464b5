//! How fast a layer is written, against plain `flate2` and the `gzip` command.
//!
//! `cargo bench -p imgbuild-oci --bench compress [-- TAR]` builds (or reads) a tar of about
//! 300 MB (regular files of `/usr`, sorted, until the size is reached), then times, three
//! times each, with the median and the ratio to serial `flate2`:
//!
//! - `flate2::write::GzEncoder` at level 6 (its default backend), serially;
//! - `gzip -6 -c` (the command), when installed;
//! - [`write_layout`] with gzip on rayon pools of 1 and 2 threads, with zstd on 2, and
//!   uncompressed (the cost of the hashing and the file alone).
//!
//! Measured on the project's 2-core machine while others compiled (load 4-5; dev profile,
//! dependencies at opt-level 2), 300 MiB of `/usr`: flate2 (miniz_oxide) 21.6 s, 101.2 MiB;
//! `gzip -6` 16.1 s, 101.0 MiB; write_layout gzip 1 thread 9.2 s, 2 threads 9.0 s, 103.9
//! MiB (zlib-rs level 6 compresses ~3% larger than zlib's); zstd 2 threads 3.5 s, 96.8 MiB;
//! uncompressed 0.9 s. The gain from a second thread could not be measured under that load.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use imgbuild_oci::{write_layout, Compression, ImageConfig};

const TARGET_SIZE: u64 = 300 << 20;
const RUNS: usize = 3;

fn main() -> io::Result<()> {
    let scratch = tempfile::tempdir()?;
    let tar = match std::env::args()
        .skip(1)
        .find(|argument| !argument.starts_with('-'))
    {
        Some(path) => PathBuf::from(path),
        None => build_tar(&scratch.path().join("usr.tar"))?,
    };
    let size = fs::metadata(&tar)?.len();
    println!(
        "layer: {} ({:.0} MiB), {RUNS} runs each, median",
        tar.display(),
        size as f64 / 1048576.0
    );

    let baseline = median(|| {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        io::copy(&mut File::open(&tar)?, &mut encoder)?;
        Ok(Some(encoder.finish()?.len() as u64))
    })?;
    report("flate2 GzEncoder level 6, serial", baseline, baseline);

    if Path::new("/usr/bin/gzip").exists() {
        let time = median(|| {
            let mut child = Command::new("gzip")
                .args(["-6", "-c"])
                .stdin(File::open(&tar)?)
                .stdout(Stdio::piped())
                .spawn()?;
            let mut size = 0;
            if let Some(mut output) = child.stdout.take() {
                size = io::copy(&mut output, &mut io::sink())?;
            }
            Ok(child.wait()?.success().then_some(size))
        })?;
        report("gzip -6 (command)", time, baseline);
    }

    for (label, compression, threads) in [
        ("write_layout gzip, 1 thread", Compression::Gzip, 1),
        ("write_layout gzip, 2 threads", Compression::Gzip, 2),
        ("write_layout zstd, 2 threads", Compression::Zstd, 2),
        ("write_layout uncompressed", Compression::None, 2),
    ] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(io::Error::other)?;
        let time = median(|| {
            let directory = tempfile::tempdir_in(scratch.path())?;
            let config = ImageConfig {
                architecture: "amd64".into(),
                os: "linux".into(),
                ..ImageConfig::default()
            };
            let layout = pool
                .install(|| {
                    write_layout(directory.path(), &config, compression, &mut |output| {
                        io::copy(&mut File::open(&tar)?, output).map(drop)
                    })
                })
                .map_err(io::Error::other)?;
            Ok(Some(layout.layer.size))
        })?;
        report(label, time, baseline);
    }
    Ok(())
}

/// Runs `work` [`RUNS`] times; the median time and the last output size.
fn median(
    mut work: impl FnMut() -> io::Result<Option<u64>>,
) -> io::Result<(Duration, Option<u64>)> {
    let mut times = Vec::new();
    let mut output = None;
    for _ in 0..RUNS {
        let start = Instant::now();
        output = work()?;
        times.push(start.elapsed());
    }
    times.sort();
    Ok((times[RUNS / 2], output))
}

fn report(
    label: &str,
    (time, size): (Duration, Option<u64>),
    (baseline, _): (Duration, Option<u64>),
) {
    let size = size
        .filter(|size| *size > 0)
        .map(|size| format!(", {:.1} MiB out", size as f64 / 1048576.0));
    println!(
        "{label:<34} {:>7.2} s  {:>5.2}x flate2{}",
        time.as_secs_f64(),
        baseline.as_secs_f64() / time.as_secs_f64(),
        size.unwrap_or_default()
    );
}

/// A tar of the regular files under `/usr`, in sorted order, up to [`TARGET_SIZE`].
fn build_tar(path: &Path) -> io::Result<PathBuf> {
    let mut builder = tar::Builder::new(io::BufWriter::new(File::create(path)?));
    let mut total = 0;
    let mut pending = vec![PathBuf::from("/usr")];
    while let Some(directory) = pending.pop() {
        let Ok(entries) = fs::read_dir(&directory) else {
            continue;
        };
        let mut children: Vec<PathBuf> = entries
            .filter_map(|entry| Some(entry.ok()?.path()))
            .collect();
        children.sort();
        for child in children.into_iter().rev() {
            let Ok(metadata) = fs::symlink_metadata(&child) else {
                continue;
            };
            if metadata.is_dir() {
                pending.push(child);
            } else if metadata.is_file() && total < TARGET_SIZE {
                let Ok(mut file) = File::open(&child) else {
                    continue;
                };
                let name = child.strip_prefix("/").map_err(io::Error::other)?;
                builder.append_file(name, &mut file)?;
                total += metadata.len();
            }
        }
    }
    builder.into_inner()?.flush()?;
    Ok(path.to_owned())
}
