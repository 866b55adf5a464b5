//! Parses a `Packages` index given on the command line and prints how long it took.
//!
//!     cargo run --release -p imgbuild-apt --example parse_index -- PATH

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: parse_index PATH")?;
    let text = std::fs::read_to_string(&path)?;
    let start = Instant::now();
    let packages = imgbuild_apt::packages::parse(&text, 0, &path)?;
    let parsed = start.elapsed();
    let start = Instant::now();
    let mut groups = 0;
    for package in &packages {
        for field in [
            &package.depends,
            &package.pre_depends,
            &package.conflicts,
            &package.breaks,
            &package.provides,
        ] {
            groups += imgbuild_apt::relations::parse(field)?.len();
        }
    }
    println!(
        "{} packages parsed in {:?}; {groups} relation groups parsed in {:?}",
        packages.len(),
        parsed,
        start.elapsed()
    );
    Ok(())
}
