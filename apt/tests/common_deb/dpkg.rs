//! Real packages: trees built with `dpkg-deb --build`, packages fetched with
//! `apt-get download`, and `dpkg-deb --contents` listings to compare against.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use imgbuild_apt::deb::EntryKind;

use super::Seen;

/// Runs `command`, panicking with its stderr if it fails; returns stdout.
pub fn run(command: &mut Command) -> Vec<u8> {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// `dpkg-deb --root-owner-group -Z{compression} --build {tree} {output}`.
pub fn dpkg_deb_build(tree: &Path, compression: &str, output: &Path) {
    run(Command::new("dpkg-deb")
        .env_remove("SOURCE_DATE_EPOCH")
        .arg("--root-owner-group")
        .arg(format!("-Z{compression}"))
        .arg("--build")
        .arg(tree)
        .arg(output));
}

/// A real package from the Debian archive: the apt cache if it holds one, else
/// `apt-get download` into a temporary directory (once per process). `None` when it
/// cannot be fetched, reported by `imgbuild_test_support` (a skip on a developer
/// machine, a failure under CI).
pub fn real_package(name: &str) -> Option<PathBuf> {
    static FETCHED: OnceLock<Mutex<HashMap<String, Option<PathBuf>>>> = OnceLock::new();
    static DIRECTORY: OnceLock<tempfile::TempDir> = OnceLock::new();
    let mut fetched = FETCHED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    fetched
        .entry(name.to_owned())
        .or_insert_with(|| {
            let cached = std::fs::read_dir("/var/cache/apt/archives")
                .into_iter()
                .flatten()
                .flatten()
                .find(|entry| {
                    let file_name = entry.file_name();
                    let file_name = file_name.to_string_lossy();
                    file_name.starts_with(&format!("{name}_")) && file_name.ends_with(".deb")
                });
            if let Some(cached) = cached {
                return Some(cached.path());
            }
            let directory =
                DIRECTORY.get_or_init(|| tempfile::tempdir().expect("temporary directory"));
            let downloaded = Command::new("apt-get")
                .args([
                    "-o",
                    "Acquire::http::Timeout=30",
                    "-o",
                    "Acquire::Retries=1",
                    "download",
                    name,
                ])
                .current_dir(directory.path())
                .output();
            let found = std::fs::read_dir(directory.path())
                .into_iter()
                .flatten()
                .flatten()
                .find(|entry| {
                    let file_name = entry.file_name();
                    let file_name = file_name.to_string_lossy();
                    file_name.starts_with(&format!("{name}_")) && file_name.ends_with(".deb")
                });
            let why = || match &downloaded {
                Ok(output) => String::from_utf8_lossy(&output.stderr).trim().to_owned(),
                Err(error) => error.to_string(),
            };
            imgbuild_test_support::require(found.map(|entry| entry.path()).ok_or_else(|| {
                imgbuild_test_support::Missing::new(format!(
                    "`{name}` is not in the apt cache and `apt-get download {name}` failed \
                     (no network to the Debian mirror?): {}",
                    why()
                ))
            }))
        })
        .clone()
}

/// The `tar -tv` line (as printed by `dpkg-deb --contents` with `TZ=UTC`) for `seen`,
/// whitespace between the columns collapsed.
pub fn contents_line(seen: &Seen) -> String {
    let (type_char, size, suffix) = match &seen.kind {
        EntryKind::File { size } => ('-', size.to_string(), String::new()),
        EntryKind::Directory => ('d', "0".to_owned(), "/".to_owned()),
        EntryKind::Symlink { target } => ('l', "0".to_owned(), format!(" -> {target}")),
        EntryKind::Hardlink { target } => ('h', "0".to_owned(), format!(" link to ./{target}")),
        EntryKind::CharDevice { major, minor } => ('c', format!("{major},{minor}"), String::new()),
        EntryKind::BlockDevice { major, minor } => ('b', format!("{major},{minor}"), String::new()),
        EntryKind::Fifo => ('p', "0".to_owned(), String::new()),
    };
    let owner = seen.user.clone().unwrap_or_else(|| seen.uid.to_string());
    let group = seen.group.clone().unwrap_or_else(|| seen.gid.to_string());
    format!(
        "{type_char}{} {owner}/{group} {size} {} ./{}{suffix}",
        permissions(seen.mode),
        utc_minutes(seen.mtime),
        seen.path
    )
}

/// A `dpkg-deb --contents` line with the whitespace between its columns collapsed.
pub fn collapse_contents_line(line: &str) -> String {
    let start = line
        .find(" ./")
        .unwrap_or_else(|| panic!("no path in {line:?}"));
    let columns: Vec<&str> = line[..start].split_whitespace().collect();
    format!("{} {}", columns.join(" "), &line[start + 1..])
}

/// `rwsr-xr-x`, as `ls` and `tar` print permission bits.
pub fn permissions(mode: u32) -> String {
    let bit = |mask: u32, letter: char| if mode & mask != 0 { letter } else { '-' };
    let special = |execute: bool, special: bool, lower: char| match (execute, special) {
        (true, true) => lower,
        (false, true) => lower.to_ascii_uppercase(),
        (true, false) => 'x',
        (false, false) => '-',
    };
    [
        bit(0o400, 'r'),
        bit(0o200, 'w'),
        special(mode & 0o100 != 0, mode & 0o4000 != 0, 's'),
        bit(0o040, 'r'),
        bit(0o020, 'w'),
        special(mode & 0o010 != 0, mode & 0o2000 != 0, 's'),
        bit(0o004, 'r'),
        bit(0o002, 'w'),
        special(mode & 0o001 != 0, mode & 0o1000 != 0, 't'),
    ]
    .iter()
    .collect()
}

/// `YYYY-MM-DD HH:MM` in UTC (from the crate's ISO 8601 formatter, which has its own
/// known-answer tests).
pub fn utc_minutes(seconds: i64) -> String {
    let iso = imgbuild_apt::trust::date::format_iso8601(seconds);
    format!("{} {}", &iso[..10], &iso[11..16])
}
