//! Cross-check against apt: for several package sets, our resolver must choose exactly
//! the packages and versions apt chooses from the same indices.
//!
//! The indices are the host's apt lists (`/var/lib/apt/lists/*_Packages*` without
//! backports, decompressed
//! with apt's own `apt-helper cat-file`); apt runs as `apt-get --simulate install` with
//! an empty dpkg status, no Recommends unless the set asks for them, and
//! `pkgCacheGen::ForceEssential=,` so that apt is not treated as essential (what
//! mmdebstrap does). The seeds are given to apt as its own patterns (`?essential`,
//! `?priority(required)`), so apt picks the base set independently of our code.
//!
//! It needs the apt lists, `apt-get` and `apt-helper`; without them
//! `imgbuild_test_support` prints why it is skipped, and under CI (`CI` set) fails
//! instead, since `.ci/run` runs `apt-get update` first.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use imgbuild_apt::packages;
use imgbuild_apt::resolve::{Request, Universe, Variant};
use imgbuild_test_support::{require, require_tools, Missing};

const LISTS: &str = "/var/lib/apt/lists";

fn lists() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(LISTS) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            let name = path
                .file_name()
                .and_then(|name| name.to_str())
                .unwrap_or("");
            // Backports (which scripts/setup.sh adds for newer tools) are left out: apt
            // pins them at 100 (`NotAutomatic`), the resolver has no pinning, and a
            // recipe names the suites it wants.
            name.contains("_binary-amd64_Packages") && !name.contains("-backports_")
        })
        .collect();
    found.sort();
    found
}

fn decompress(path: &Path) -> String {
    let output = Command::new("/usr/lib/apt/apt-helper")
        .arg("cat-file")
        .arg(path)
        .output()
        .expect("apt-helper runs");
    assert!(
        output.status.success(),
        "apt-helper cat-file {}",
        path.display()
    );
    String::from_utf8(output.stdout).expect("index is UTF-8")
}

/// A directory with the host's apt lists except backports (as links), so that apt sees
/// the same indices as [`lists`].
fn lists_without_backports() -> tempfile::TempDir {
    let directory = tempfile::tempdir().expect("temporary lists");
    if let Ok(entries) = std::fs::read_dir(LISTS) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let text = name.to_string_lossy();
            if text.contains("-backports_") || !entry.path().is_file() {
                continue;
            }
            std::os::unix::fs::symlink(entry.path(), directory.path().join(&name)).expect("link");
        }
    }
    std::fs::create_dir(directory.path().join("partial")).expect("partial");
    directory
}

fn apt_simulation(lists: &Path, recommends: bool, arguments: &[&str]) -> BTreeSet<String> {
    let status = tempfile::NamedTempFile::new().expect("temporary status file");
    let output = Command::new("apt-get")
        .args(["--simulate", "--quiet", "--yes"])
        .arg(format!("-oDir::State::status={}", status.path().display()))
        .arg(format!("-oDir::State::Lists={}", lists.display()))
        .args(["-oDir::Cache::pkgcache=", "-oDir::Cache::srcpkgcache="])
        .arg(format!("-oAPT::Install-Recommends={recommends}"))
        .args([
            "-oDebug::NoLocking=1",
            "-opkgCacheGen::ForceEssential=,",
            "install",
        ])
        .args(arguments)
        .output()
        .expect("apt-get runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "apt-get failed for {arguments:?}: {}{}",
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .filter_map(|line| line.strip_prefix("Inst "))
        .map(|rest| {
            // "name (version suite [arch])"
            let mut words = rest.split_whitespace();
            let name = words.next().unwrap_or("");
            let version = words.next().unwrap_or("").trim_start_matches('(');
            format!("{name}={version}")
        })
        .collect()
}

#[test]
fn resolution_equals_apt_for_the_reference_sets() {
    require!(require_tools(&["apt-get", "/usr/lib/apt/apt-helper"]));
    let files = lists();
    let apt_lists = lists_without_backports();
    require!(require(if files.is_empty() {
        Err(Missing::new(format!(
            "no amd64 Packages lists in {LISTS} (run `apt-get update`; .ci/run does)"
        )))
    } else {
        Ok(())
    }));
    let texts: Vec<String> = files.iter().map(|path| decompress(path)).collect();
    let mut all = Vec::new();
    for (number, (text, path)) in texts.iter().zip(&files).enumerate() {
        all.extend(
            packages::parse(text, number as u16, &path.display().to_string())
                .expect("index parses"),
        );
    }
    let universe = Universe::new(&all, "amd64");
    let web = [
        "systemd-sysv",
        "linux-image-cloud-amd64",
        "nginx",
        "openssh-server",
    ];
    // (label, variant, include, recommends, what apt is asked to install)
    type Case<'a> = (&'a str, Variant, Vec<&'a str>, bool, Vec<&'a str>);
    let cases: Vec<Case> = vec![
        (
            "essential",
            Variant::Essential,
            vec![],
            false,
            vec!["?essential"],
        ),
        (
            "apt",
            Variant::Apt,
            vec![],
            false,
            vec!["?essential", "apt"],
        ),
        (
            "minbase",
            Variant::Required,
            vec![],
            false,
            vec!["?essential", "?priority(required)", "apt"],
        ),
        (
            "minbase + web",
            Variant::Required,
            web.to_vec(),
            false,
            [
                vec!["?essential", "?priority(required)", "apt"],
                web.to_vec(),
            ]
            .concat(),
        ),
        (
            "minbase + web, with Recommends",
            Variant::Required,
            web.to_vec(),
            true,
            [
                vec!["?essential", "?priority(required)", "apt"],
                web.to_vec(),
            ]
            .concat(),
        ),
        (
            "standard",
            Variant::Standard,
            vec![],
            false,
            vec![
                "?essential",
                "?priority(required)",
                "?priority(important)",
                "?priority(standard)",
                "apt",
            ],
        ),
    ];
    let mut failures = Vec::new();
    for (label, variant, include, recommends, apt_arguments) in cases {
        let request = Request {
            variant,
            include: include.iter().map(|name| (*name).to_owned()).collect(),
            exclude: Vec::new(),
            recommends,
            architecture: "amd64".to_owned(),
        };
        let ours: BTreeSet<String> = universe
            .resolve(&request)
            .unwrap_or_else(|error| panic!("{label}: {error}"))
            .packages
            .iter()
            .map(|package| format!("{}={}", package.name, package.version))
            .collect();
        let apt = apt_simulation(apt_lists.path(), recommends, &apt_arguments);
        eprintln!("{label}: apt {} packages, ours {}", apt.len(), ours.len());
        if ours != apt {
            failures.push(format!(
                "{label}: only apt: {:?}; only ours: {:?}",
                apt.difference(&ours).collect::<Vec<_>>(),
                ours.difference(&apt).collect::<Vec<_>>()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "differences from apt:\n{}",
        failures.join("\n")
    );
}
