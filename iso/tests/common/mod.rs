//! Shared helpers for the integration tests: building volumes, writing them to
//! temporary files, and running the real consumers (isoinfo, xorriso, blkid) on them.

#![allow(dead_code)]

pub mod image;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use imgbuild_iso::{Attributes, Content, Directory, File, Label, Node, Symlink, Volume};

/// A regular file with `content` and `mode`.
pub fn file(content: &[u8], mode: u32) -> Node {
    Node::File(File {
        content: Content::Bytes(content.to_vec()),
        attributes: Attributes::file(mode),
    })
}

/// A file whose bytes the external callback supplies.
pub fn external(key: u64, size: u64, mode: u32) -> Node {
    Node::File(File {
        content: Content::External { key, size },
        attributes: Attributes::file(mode),
    })
}

/// A symbolic link to `target`.
pub fn symlink(target: &str) -> Node {
    Node::Symlink(Symlink {
        target: target.to_owned(),
        attributes: Attributes::symlink(),
    })
}

/// An empty directory with `mode`.
pub fn directory(mode: u32) -> Node {
    Node::Directory(Directory::new(Attributes::directory(mode)))
}

/// A volume labelled `label` holding `entries` (inserted by path).
pub fn volume(label: &str, epoch: i64, entries: Vec<(String, Node)>) -> Volume {
    let mut root = Directory::new(Attributes::directory(0o755));
    for (path, node) in entries {
        root.insert(&path, node).expect("insert");
    }
    Volume {
        label: Label::new(label).expect("label"),
        source_date_epoch: epoch,
        root,
    }
}

/// The NoCloud seed of research Appendix A.
pub fn seed(label: &str, epoch: i64) -> Volume {
    volume(
        label,
        epoch,
        vec![
            (
                "meta-data".into(),
                file(
                    b"instance-id: 7f1c2e4a-0000-4000-8000-000000000001\nlocal-hostname: vm-0001\n",
                    0o644,
                ),
            ),
            (
                "user-data".into(),
                file(b"#cloud-config\nusers:\n  - name: ops\n", 0o600),
            ),
            (
                "network-config".into(),
                file(b"version: 2\nethernets: {}\n", 0o644),
            ),
        ],
    )
}

/// Writes `image` to a file in a new temporary directory.
pub fn temp_image(image: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let directory = tempfile::tempdir().expect("temporary directory");
    let path = directory.path().join("image.iso");
    std::fs::write(&path, image).expect("write image");
    (directory, path)
}

/// The consumers the image checks run: `isoinfo` (genisoimage), `xorriso` and `blkid`
/// (util-linux). `false` when one is missing, after `imgbuild_test_support` said so (a
/// skip on a developer machine, a failure under CI); tests check this before running
/// them.
pub fn consumers_installed() -> bool {
    imgbuild_test_support::require_tools(&["isoinfo", "xorriso", "blkid"]).is_some()
}

/// The output of a test tool, found by `imgbuild_test_support` on `PATH` or in the sbin
/// directories (blkid lives in /usr/sbin, which a non-root `PATH` may lack). A missing
/// tool fails the test with a pointer to scripts/setup.sh; tests that can skip ask
/// [`consumers_installed`] first.
fn output_of(tool: &str, arguments: &[&str]) -> std::process::Output {
    let path = imgbuild_test_support::find_tool(tool).unwrap_or_else(|missing| panic!("{missing}"));
    let output = Command::new(&path)
        .args(arguments)
        .output()
        .unwrap_or_else(|error| panic!("cannot run `{}`: {error}", path.display()));
    assert!(
        output.status.success(),
        "`{tool} {}` failed: {}\nstdout:\n{}\nstderr:\n{}",
        arguments.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Runs a test tool and returns its standard output and standard error.
pub fn run(tool: &str, arguments: &[&str]) -> String {
    let output = output_of(tool, arguments);
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

/// Runs a test tool and returns its raw standard output.
pub fn run_bytes(tool: &str, arguments: &[&str]) -> Vec<u8> {
    output_of(tool, arguments).stdout
}

/// `isoinfo -l` through Rock Ridge (`joliet` false) or Joliet (true, names shown in
/// ISO 8859-15 as [`as_latin_9`] describes): path → (mode string, name column).
/// "." and ".." are left out.
pub fn isoinfo_listing(image: &Path, joliet: bool) -> BTreeMap<String, (String, String)> {
    let image = image.to_str().expect("utf-8 path");
    let output = if joliet {
        decode_latin_9(&run_bytes(
            "isoinfo",
            &["-J", "-j", "iso8859-15", "-l", "-i", image],
        ))
    } else {
        String::from_utf8(run_bytes("isoinfo", &["-R", "-l", "-i", image])).expect("utf-8 listing")
    };
    let mut listing = BTreeMap::new();
    let mut directory = String::new();
    for line in output.lines() {
        if let Some(rest) = line.strip_prefix("Directory listing of ") {
            directory = rest.trim_end().to_owned();
            continue;
        }
        let Some(bracket) = line.find("] ") else {
            continue;
        };
        // The name column: `name ` for files, `name -> target` for symlinks.
        let column = line[bracket + 2..].trim_start();
        let name = match column.split_once(" -> ") {
            Some((name, _)) => name,
            None => column.trim_end_matches(' '),
        };
        if name == "." || name == ".." {
            continue;
        }
        let mode = line
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        listing.insert(format!("{directory}{name}"), (mode, column.to_owned()));
    }
    listing
}

/// One entry of `xorriso -find / -exec lsdl`.
#[derive(Debug, PartialEq, Eq)]
pub struct XorrisoEntry {
    pub mode: String,
    pub uid: String,
    pub gid: String,
    pub size: u64,
    pub target: Option<String>,
}

/// `xorriso -indev image -find / -exec lsdl`: path → entry (the root is left out).
/// `read_fs` is xorriso's `-read_fs` value: `any` (Rock Ridge), `norock` (Joliet) or
/// `ecma119` (primary identifiers).
pub fn xorriso_listing(image: &Path, read_fs: &str) -> BTreeMap<String, XorrisoEntry> {
    let output = run(
        "xorriso",
        &[
            "-abort_on",
            "WARNING",
            "-read_fs",
            read_fs,
            "-indev",
            image.to_str().expect("utf-8 path"),
            "-find",
            "/",
            "-exec",
            "lsdl",
            "--",
        ],
    );
    let mut listing = BTreeMap::new();
    for line in output.lines() {
        let Some(quote) = line.find(" '") else {
            continue;
        };
        let fields: Vec<&str> = line[..quote].split_whitespace().collect();
        if fields.len() < 5 || !fields[0].starts_with(['-', 'd', 'l']) {
            continue;
        }
        let quoted = &line[quote + 1..];
        let (path, target) = match quoted.split_once("' -> '") {
            Some((path, target)) => (
                path.trim_start_matches('\''),
                Some(target.trim_end_matches('\'').to_owned()),
            ),
            None => (quoted.trim_matches('\''), None),
        };
        if path == "/" {
            continue;
        }
        listing.insert(
            path.to_owned(),
            XorrisoEntry {
                mode: fields[0].to_owned(),
                uid: fields[2].to_owned(),
                gid: fields[3].to_owned(),
                size: fields[4].parse().unwrap_or(u64::MAX),
                target,
            },
        );
    }
    listing
}

/// Extracts the whole image with xorriso into a new temporary directory.
pub fn xorriso_extract(image: &Path) -> tempfile::TempDir {
    let directory = tempfile::tempdir().expect("temporary directory");
    let out = directory.path().join("x");
    run(
        "xorriso",
        &[
            "-abort_on",
            "WARNING",
            "-indev",
            image.to_str().expect("utf-8 path"),
            "-osirrox",
            "on",
            "-extract",
            "/",
            out.to_str().expect("utf-8 path"),
        ],
    );
    directory
}

/// `blkid -p -o export image` as a map.
pub fn blkid(image: &Path) -> BTreeMap<String, String> {
    let output = run(
        "blkid",
        &["-p", "-o", "export", image.to_str().expect("utf-8 path")],
    );
    output
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

/// ISO 8859-15 code points that differ from ISO 8859-1.
const LATIN_9: [(u8, char); 8] = [
    (0xA4, '€'),
    (0xA6, 'Š'),
    (0xA8, 'š'),
    (0xB4, 'Ž'),
    (0xB8, 'ž'),
    (0xBC, 'Œ'),
    (0xBD, 'œ'),
    (0xBE, 'Ÿ'),
];

/// Decodes ISO 8859-15 text.
pub fn decode_latin_9(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&byte| {
            LATIN_9
                .iter()
                .find(|(code, _)| *code == byte)
                .map_or(char::from(byte), |(_, c)| *c)
        })
        .collect()
}

/// `text` as isoinfo shows it with `-j iso8859-15`: characters ISO 8859-15 lacks
/// become `_`.
pub fn as_latin_9(text: &str) -> String {
    text.chars()
        .map(|c| {
            let replaced = LATIN_9
                .iter()
                .any(|(code, _)| u32::from(*code) == u32::from(c));
            if LATIN_9.iter().any(|(_, latin)| *latin == c) || (u32::from(c) < 256 && !replaced) {
                c
            } else {
                '_'
            }
        })
        .collect()
}
