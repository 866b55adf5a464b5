//! Resolves a package set from `Packages` files and prints `name version`, one per line,
//! with timings on stderr.
//!
//!     cargo run --release -p imgbuild-apt --example resolve_set -- \
//!         --variant minbase --include nginx,openssh-server [--recommends] PACKAGES...

use std::time::Instant;

use imgbuild_apt::resolve::{Request, Universe, Variant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut variant = Variant::Required;
    let mut include = Vec::new();
    let mut exclude = Vec::new();
    let mut recommends = false;
    let mut files = Vec::new();
    let mut arguments = std::env::args().skip(1);
    while let Some(argument) = arguments.next() {
        match argument.as_str() {
            "--variant" => {
                let name = arguments.next().ok_or("--variant needs a value")?;
                variant = Variant::parse(&name).ok_or("unknown variant")?;
            }
            "--include" => include.extend(
                arguments
                    .next()
                    .ok_or("--include needs a value")?
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            ),
            "--exclude" => exclude.extend(
                arguments
                    .next()
                    .ok_or("--exclude needs a value")?
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            ),
            "--recommends" => recommends = true,
            _ => files.push(argument),
        }
    }
    let texts: Vec<String> = files
        .iter()
        .map(std::fs::read_to_string)
        .collect::<Result<_, _>>()?;
    let start = Instant::now();
    let mut packages = Vec::new();
    for (index, (text, file)) in texts.iter().zip(&files).enumerate() {
        packages.extend(imgbuild_apt::packages::parse(text, index as u16, file)?);
    }
    let parsed = start.elapsed();
    let start = Instant::now();
    let universe = Universe::new(&packages, "amd64");
    let indexed = start.elapsed();
    let start = Instant::now();
    let request = Request {
        variant,
        include,
        exclude,
        recommends,
        architecture: "amd64".to_owned(),
    };
    let resolution = universe.resolve(&request)?;
    let resolved = start.elapsed();
    for package in &resolution.packages {
        println!("{} {}", package.name, package.version);
    }
    eprintln!(
        "{} packages: parse {parsed:?}, index {indexed:?}, resolve {resolved:?}",
        resolution.packages.len()
    );
    Ok(())
}
