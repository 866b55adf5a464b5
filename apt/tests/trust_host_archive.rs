//! The real Debian archive: every `InRelease` apt has downloaded on this host must verify
//! against the host keyrings, parse, and vouch for the `Packages` index apt stored next
//! to it. Needs the apt lists and the host's Debian archive keyring: without them
//! `imgbuild_test_support` skips it with a message, or fails it under CI.

use std::path::{Path, PathBuf};
use std::process::Command;

use imgbuild_apt::trust::{
    verify_file, verify_inrelease, FileVerifier, Keyring, Release, TrustError,
};
use imgbuild_test_support::{require, require_apt_lists, Missing};

const LISTS: &str = "/var/lib/apt/lists";

fn inrelease_files() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(LISTS) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.ends_with("_InRelease"))
        })
        // Debian's own (other origins are signed by their own keys, and a list left
        // behind by a disabled third-party source stays until the next `apt-get update`).
        .filter(|path| {
            std::fs::read_to_string(path)
                .is_ok_and(|text| text.lines().any(|line| line == "Origin: Debian"))
        })
        .collect();
    files.sort();
    files
}

/// apt stores indices decompressed or recompressed locally (`.lz4` on Debian 12); return
/// the uncompressed bytes if we can read them.
fn stored_index(inrelease: &Path, index: &str) -> Option<Vec<u8>> {
    let name = inrelease.file_name()?.to_str()?;
    let prefix = name.strip_suffix("InRelease")?;
    let base = Path::new(LISTS).join(format!("{prefix}{}", index.replace('/', "_")));
    if base.is_file() {
        return std::fs::read(&base).ok();
    }
    for (extension, tool) in [
        ("lz4", "lz4"),
        ("xz", "xz"),
        ("gz", "gzip"),
        ("zst", "zstd"),
    ] {
        let compressed =
            base.with_file_name(format!("{}.{extension}", base.file_name()?.to_str()?));
        if !compressed.is_file() {
            continue;
        }
        // apt stored it compressed: without the tool, this index is skipped with a
        // message (a failure under CI).
        let tool = imgbuild_test_support::require_tool(tool)?;
        let output = Command::new(&tool)
            .arg("-dc")
            .arg(&compressed)
            .output()
            .unwrap_or_else(|error| panic!("cannot run {}: {error}", tool.display()));
        assert!(
            output.status.success(),
            "cannot decompress {} with {}: {}",
            compressed.display(),
            tool.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        return Some(output.stdout);
    }
    None
}

#[test]
fn host_inrelease_files_verify_and_vouch_for_their_indices() {
    require!(require_apt_lists());
    let files = inrelease_files();
    let default = require!(require(Keyring::host_default().map_err(|error| {
        Missing::new(format!(
            "the host's Debian archive keyring cannot be read: {error}"
        ))
    })));
    let apt = Keyring::host_apt().expect("host apt keyrings parse");
    assert!(apt.len() >= default.len());
    let mut checked_indices = 0;
    for path in &files {
        let label = path.display().to_string();
        let bytes = std::fs::read(path).expect("read InRelease");
        // `now` = the Release's own Date (plus an hour for signing): never expires.
        let date_line = String::from_utf8_lossy(&bytes)
            .lines()
            .find_map(|line| line.strip_prefix("Date: ").map(str::to_string))
            .expect("InRelease has a Date");
        let date = imgbuild_apt::trust::date::parse_rfc2822(&date_line).expect("RFC 2822 Date");
        let now = date + 3600;

        let verified = verify_inrelease(&bytes, &default, now, &label)
            .unwrap_or_else(|error| panic!("{error}"));
        assert!(default.contains(verified.signer()), "{label}");
        verify_inrelease(&bytes, &apt, now, &label).unwrap_or_else(|error| panic!("{error}"));
        let release = Release::from_verified(&verified).expect("parse");
        release.check_dates(now).expect("fresh at its own Date");
        assert_eq!(release.date, Some(date));
        assert!(!release.sha256.is_empty());
        let codename = release.codename.clone().expect("Codename");
        release.check_suite(&codename).expect("own codename");
        assert!(matches!(
            release.check_suite("no-such-suite"),
            Err(TrustError::ConflictingDistribution { .. })
        ));

        // Tampering with one byte of the signed part must break it.
        let mut tampered = bytes.clone();
        let position = String::from_utf8_lossy(&bytes)
            .find("\nSHA256:")
            .expect("SHA256 section");
        tampered[position + 20] ^= 0x01;
        assert!(verify_inrelease(&tampered, &default, now, &label).is_err());

        // An empty keyring accepts nothing.
        assert!(matches!(
            verify_inrelease(&bytes, &Keyring::new(), now, &label),
            Err(TrustError::NoValidSignature { .. })
        ));

        // The security archive says `Components: updates/main ...` but lists `main/...`.
        let mut components: Vec<&str> = release.components.iter().map(String::as_str).collect();
        components.extend(
            release
                .components
                .iter()
                .filter_map(|c| c.rsplit_once('/').map(|(_, last)| last)),
        );
        for component in components {
            for architecture in ["amd64", "arm64", "all"] {
                let index = format!("{component}/binary-{architecture}/Packages");
                if release.file(&index).is_none() {
                    continue;
                }
                let Some(contents) = stored_index(path, &index) else {
                    continue;
                };
                // apt may hold a newer/older index than this InRelease only in a broken
                // state; on a consistent host they must match.
                verify_file(&release, &index, &contents).unwrap_or_else(|e| panic!("{e}"));
                let mut streaming = FileVerifier::new(&release, &index).expect("listed");
                for chunk in contents.chunks(65_536) {
                    streaming.update(chunk);
                }
                streaming.finish().expect("streaming check");
                let mut corrupted = contents.clone();
                if let Some(byte) = corrupted.last_mut() {
                    *byte ^= 0x20;
                }
                assert!(matches!(
                    verify_file(&release, &index, &corrupted),
                    Err(TrustError::HashMismatch { .. })
                ));
                checked_indices += 1;
                println!(
                    "checked {index} of {}",
                    release.suite.as_deref().unwrap_or("?")
                );
            }
        }
    }
    println!(
        "verified {} InRelease files, {checked_indices} indices",
        files.len()
    );
}
