//! Helpers shared by the integration tests: running the `imgbuild` binary in a scratch
//! directory, reading its JSON events, fingerprinting result directories, and the insta
//! filters that make snapshots independent of temporary paths, timings and hashes.
//!
//! Each test file includes this module with `mod common;` and uses part of it.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The binary under test.
pub const BINARY: &str = env!("CARGO_BIN_EXE_imgbuild");

/// The workspace root (where `examples/` lives).
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `examples/hello.rhai`, absolute.
pub fn hello_recipe() -> PathBuf {
    workspace().join("examples/hello.rhai")
}

/// A command for the binary, run in `directory`, with a clean environment for the
/// variables imgbuild reads and without colours. Output is captured, so never a terminal.
pub fn imgbuild(directory: &Path) -> Command {
    let mut command = Command::new(BINARY);
    command
        .current_dir(directory)
        .env("NO_COLOR", "1")
        .env("CLICOLOR", "0")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("FORCE_COLOR")
        .env_remove("IMGBUILD_STORE")
        .env_remove("IMGBUILD_PATH")
        .env_remove("IMGBUILD_DEBIAN_MIRROR")
        .env_remove("IMGBUILD_DEBIAN_SECURITY_MIRROR")
        .env_remove("RUST_BACKTRACE")
        // miette takes its width from the first of stdout, stderr, stdin that is a
        // terminal: none of them may be one, so reports wrap at 80 columns everywhere.
        .stdin(Stdio::null());
    command
}

/// A finished run: exit code and both streams as text.
#[derive(Debug)]
pub struct Run {
    /// The exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Panics with both streams unless the exit code is `expected`.
    pub fn expect_code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(expected),
            "expected exit code {expected}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Panics unless the command succeeded.
    pub fn success(&self) -> &Self {
        self.expect_code(0)
    }

    /// The JSON events printed on stdout (with `--json`); panics on any non-JSON line.
    pub fn events(&self) -> Vec<serde_json::Value> {
        json_lines(&self.stdout)
    }
}

/// Parses one JSON object per line; panics on anything else.
pub fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|error| {
                panic!("not a JSON line ({error}): {line:?}\n--- all ---\n{text}")
            });
            assert!(value.is_object(), "not a JSON object: {line}");
            assert!(
                value
                    .get("event")
                    .and_then(|event| event.as_str())
                    .is_some(),
                "no \"event\" field: {line}"
            );
            value
        })
        .collect()
}

/// Runs a command to completion.
pub fn run(command: &mut Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().expect("cannot run imgbuild");
    Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Runs `imgbuild ARGS...` in `directory`.
pub fn imgbuild_run(directory: &Path, arguments: &[&str]) -> Run {
    run(imgbuild(directory).args(arguments))
}

/// `imgbuild build RECIPE --store STORE -o OUT EXTRA...` in `directory`.
pub fn build(directory: &Path, recipe: &str, store: &Path, out: &Path, extra: &[&str]) -> Run {
    let mut command = imgbuild(directory);
    command
        .arg("build")
        .arg(recipe)
        .arg("--store")
        .arg(store)
        .arg("-o")
        .arg(out)
        .args(extra);
    run(&mut command)
}

/// `imgbuild store SUBCOMMAND --store STORE` in `directory`.
pub fn store_command(directory: &Path, store: &Path, subcommand: &str) -> Run {
    let mut command = imgbuild(directory);
    command
        .arg("store")
        .arg(subcommand)
        .arg("--store")
        .arg(store);
    run(&mut command)
}

/// Writes `files` (relative path, content) under `directory`, creating parents.
pub fn write_files(directory: &Path, files: &[(&str, &str)]) {
    for (path, content) in files {
        let path = directory.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create fixture directory");
        }
        std::fs::write(&path, content).expect("write fixture");
    }
}

/// A fresh scratch directory, always directly under `/tmp` so that absolute paths in
/// reports have the same length on every machine (reports wrap at a fixed width).
pub fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("imgbuild-test-")
        .tempdir_in("/tmp")
        .expect("create temp dir")
}

/// `text` with line wrapping undone: the report's continuation bars and every run of
/// whitespace become one space, so a phrase can be looked for wherever the lines break.
pub fn unwrapped(text: &str) -> String {
    text.replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a result directory holds, entry by entry: type, permission bits, owner, and
/// content or link target. The `.imgbuild-manifest` bookkeeping file is left out.
pub fn fingerprint(root: &Path) -> BTreeMap<String, String> {
    let mut entries = BTreeMap::new();
    fingerprint_into(root, root, &mut entries);
    entries
}

fn fingerprint_into(root: &Path, path: &Path, entries: &mut BTreeMap<String, String>) {
    let metadata = std::fs::symlink_metadata(path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let relative = path
        .strip_prefix(root)
        .expect("below root")
        .display()
        .to_string();
    if relative == ".imgbuild-manifest" {
        return;
    }
    let mode = metadata.permissions().mode() & 0o7777;
    let owner = format!("{}:{}", metadata.uid(), metadata.gid());
    let description = if metadata.file_type().is_symlink() {
        let target = std::fs::read_link(path).expect("read link");
        format!("symlink {mode:o} {owner} -> {}", target.display())
    } else if metadata.is_dir() {
        let mut children: Vec<PathBuf> = std::fs::read_dir(path)
            .expect("read dir")
            .map(|child| child.expect("dir entry").path())
            .collect();
        children.sort();
        for child in children {
            fingerprint_into(root, &child, entries);
        }
        format!("dir {mode:o} {owner}")
    } else {
        let bytes = std::fs::read(path).expect("read file");
        format!(
            "file {mode:o} {owner} {} bytes {}",
            bytes.len(),
            hex_digest(&bytes)
        )
    };
    entries.insert(relative, description);
}

/// A short content hash for fingerprints (FNV-1a; only equality matters).
pub fn hex_digest(bytes: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Every regular file below `directory`, sorted.
pub fn files_below(directory: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![directory.to_path_buf()];
    while let Some(path) = stack.pop() {
        let Ok(reader) = std::fs::read_dir(&path) else {
            continue;
        };
        for child in reader {
            let child = child.expect("dir entry").path();
            let metadata = std::fs::symlink_metadata(&child).expect("metadata");
            if metadata.is_dir() {
                stack.push(child);
            } else if metadata.is_file() {
                found.push(child);
            }
        }
    }
    found.sort();
    found
}

/// insta settings that replace what changes from run to run: the scratch directory,
/// timings, and hexadecimal identities.
pub fn snapshot_settings(scratch: &Path) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    for path in [
        scratch.to_path_buf(),
        scratch
            .canonicalize()
            .unwrap_or_else(|_| scratch.to_path_buf()),
    ] {
        settings.add_filter(&regex_escape(&path.display().to_string()), "[SCRATCH]");
    }
    settings.add_filter(
        &regex_escape(&workspace().display().to_string()),
        "[WORKSPACE]",
    );
    settings.add_filter(r"\b\d+(\.\d+)?(ms|s)\b", "[DURATION]");
    settings.add_filter(r"\b\d+m\d\ds\b", "[DURATION]");
    settings.add_filter(r"\b[0-9a-f]{64}\b", "[HASH]");
    settings.add_filter(r"\b[0-9a-f]{12}\b", "[ID]");
    settings
}

/// Escapes regex metacharacters in a literal.
pub fn regex_escape(literal: &str) -> String {
    let mut escaped = String::with_capacity(literal.len());
    for character in literal.chars() {
        if "\\.+*?()|[]{}^$".contains(character) {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}

/// True when the tests run as root.
pub fn running_as_root() -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .is_some_and(|effective| effective == "0")
}
