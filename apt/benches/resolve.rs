//! Times parsing the bookworm main amd64 `Packages` index and resolving the web set
//! (minbase + systemd-sysv, linux-image-cloud-amd64, nginx, openssh-server) from the
//! parsed indices: `cargo bench -p imgbuild-apt --bench resolve`.
//!
//! The indices are the host's apt lists (`/var/lib/apt/lists/*_binary-amd64_Packages*`,
//! decompressed once with `apt-helper cat-file`, untimed); the largest one is "the main
//! index". Prints the median, min and max of several rounds.

use std::hint::black_box;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use imgbuild_apt::packages;
use imgbuild_apt::resolve::{Request, Universe, Variant};

const ROUNDS: usize = 7;

fn summary(label: &str, mut times: Vec<Duration>) {
    times.sort();
    println!(
        "{label:<52} median {:>9.1?}  [{:.1?}..{:.1?}]",
        times[times.len() / 2],
        times[0],
        times[times.len() - 1]
    );
}

fn main() {
    let mut lists: Vec<PathBuf> = std::fs::read_dir("/var/lib/apt/lists")
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .filter(|path| path.to_string_lossy().contains("_binary-amd64_Packages"))
                .collect()
        })
        .unwrap_or_default();
    lists.sort();
    if lists.is_empty() {
        println!("no amd64 Packages lists in /var/lib/apt/lists: run apt-get update first");
        return;
    }
    let texts: Vec<String> = lists
        .iter()
        .filter_map(|path| {
            let output = Command::new("/usr/lib/apt/apt-helper")
                .arg("cat-file")
                .arg(path)
                .output()
                .ok()?;
            String::from_utf8(output.stdout).ok()
        })
        .collect();
    let Some(main_index) = texts.iter().max_by_key(|text| text.len()) else {
        return;
    };
    println!(
        "main index: {} MB, {} paragraphs; {} indices in all",
        main_index.len() / 1_000_000,
        main_index.matches("\nPackage: ").count() + 1,
        texts.len()
    );

    let mut times = Vec::new();
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let parsed = packages::parse(black_box(main_index), 0, "main").expect("parses");
        times.push(start.elapsed());
        black_box(parsed);
    }
    summary("parse the main Packages index", times);

    let mut all = Vec::new();
    for (number, text) in texts.iter().enumerate() {
        all.extend(packages::parse(text, number as u16, "index").expect("parses"));
    }
    let request = Request {
        variant: Variant::Required,
        include: [
            "systemd-sysv",
            "linux-image-cloud-amd64",
            "nginx",
            "openssh-server",
        ]
        .map(str::to_owned)
        .to_vec(),
        exclude: Vec::new(),
        recommends: false,
        architecture: "amd64".to_owned(),
    };
    let mut index_times = Vec::new();
    let mut resolve_times = Vec::new();
    let mut count = 0;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let universe = Universe::new(&all, "amd64");
        index_times.push(start.elapsed());
        let start = Instant::now();
        count = universe.resolve(&request).expect("resolves").packages.len();
        resolve_times.push(start.elapsed());
    }
    summary("index all parsed packages for resolution", index_times);
    summary(
        &format!("resolve the web set ({count} packages)"),
        resolve_times,
    );
}
