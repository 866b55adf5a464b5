//! The manifest's canonical bytes, its strict reader, and describing outputs.
//!
//! The golden digests were computed independently with coreutils: `sha256sum` and
//! `sha512sum` of each file, and for `web-oci` of the listing made with `printf`
//! (`printf 'file %s %s %s %s\0' SIZE SHA256 SHA512 PATH`, `printf 'directory
//! blobs\0'`, `printf 'symlink latest\0blobs/sha256/aa\0'`, in path order).

mod common;

use std::path::Path;

use imgbuild_provenance::{
    describe_output, directory_listing, FileEntry, Manifest, ProvenanceError,
};
use sha2::Digest;

const QCOW2_SHA256: &str = "fe2aaf82bfa2ffec207a0c6fa7ce7d4af268d67e2672fdaec675f3f9b65d0854";
const OCI_SHA256: &str = "fb3f77b77777e17263f4c004cffe28a074d5292fdeeaa19703b638ea77f38bbd";
const OCI_SHA512_PREFIX: &str = "a55e0cd1b868f0f27e3cb7730c762b3666fe07b2";
const MANIFEST_SHA256: &str = "85c999e231cf226b4d9d2849484225492accabf7339258055e0c6ab95810b597";

fn golden_bytes() -> Vec<u8> {
    std::fs::read(common::data("manifest.json")).unwrap_or_default()
}

#[test]
fn manifest_bytes_are_golden() {
    let (_dir, manifest) = common::release();
    let bytes = manifest.to_bytes();
    assert_eq!(
        String::from_utf8_lossy(&bytes),
        String::from_utf8_lossy(&golden_bytes())
    );
    assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), MANIFEST_SHA256);
}

#[test]
fn golden_manifest_parses_and_writes_back_identically() {
    let bytes = golden_bytes();
    let manifest = Manifest::parse(&bytes, Path::new("manifest.json"))
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(manifest.to_bytes(), bytes);
    assert_eq!(manifest.outputs[0].sha256, QCOW2_SHA256);
}

#[test]
fn outputs_are_described_with_golden_digests() {
    let (dir, manifest) = common::release();
    let qcow2 = &manifest.outputs[0];
    assert_eq!(
        (qcow2.format.as_str(), qcow2.size, qcow2.sha256.as_str()),
        ("qcow2", 3 * 1024 * 1024 + 17, QCOW2_SHA256)
    );
    let oci = &manifest.outputs[2];
    assert_eq!(
        (oci.format.as_str(), oci.size, oci.sha256.as_str()),
        ("directory", 73, OCI_SHA256)
    );
    assert!(oci.sha512.starts_with(OCI_SHA512_PREFIX));
    let paths: Vec<&str> = oci.files.iter().map(FileEntry::path).collect();
    assert_eq!(
        paths,
        [
            "blobs",
            "blobs-extra",
            "blobs/sha256",
            "blobs/sha256/aa",
            "empty",
            "index.json",
            "latest",
            "oci-layout"
        ]
    );
    assert_eq!(
        oci.files[6],
        FileEntry::Symlink {
            path: "latest".into(),
            target: "blobs/sha256/aa".into()
        }
    );
    // The listing the digest is over.
    let listing = directory_listing(&oci.files);
    assert!(listing.starts_with(b"directory blobs\0file 0 e3b0c442"));
    assert_eq!(hex::encode(sha2::Sha256::digest(&listing)), OCI_SHA256);
    // A top-level symlink is followed: the output is what it points at.
    std::os::unix::fs::symlink(dir.path().join("web.qcow2"), dir.path().join("link.qcow2"))
        .unwrap_or_default();
    let linked = describe_output(&dir.path().join("link.qcow2"), "link.qcow2")
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(linked.sha256, QCOW2_SHA256);
}

fn check_format(name: &str, expected: &str) {
    let dir = common::temporary();
    let path = dir.path().join(name);
    std::fs::write(&path, b"x").unwrap_or_default();
    let output = describe_output(&path, name).unwrap_or_else(|error| panic!("{name}: {error}"));
    assert_eq!(output.format, expected, "{name}");
}

#[test]
fn formats_are_extensions() {
    check_format("web.qcow2", "qcow2");
    check_format("web-1.2.raw", "raw");
    check_format("web.spdx.json", "spdx.json");
    check_format("web.cdx.json", "cdx.json");
    check_format("rootfs.tar.zst", "tar.zst");
    check_format("vmlinuz", "file");
    check_format("trailing.", "file");
}

#[test]
fn describe_refuses_bad_names_and_special_files() {
    let dir = common::temporary();
    std::fs::write(dir.path().join("a"), b"").unwrap_or_default();
    for name in ["", ".", "..", "a/b", "new\nline"] {
        let error = describe_output(&dir.path().join("a"), name);
        assert!(
            matches!(error, Err(ProvenanceError::InvalidOutputName { .. })),
            "{name:?}: {error:?}"
        );
    }
    let missing = describe_output(&dir.path().join("missing"), "missing");
    assert!(
        matches!(missing, Err(ProvenanceError::Io { .. })),
        "{missing:?}"
    );
    let fifo_dir = dir.path().join("out");
    std::fs::create_dir(&fifo_dir).unwrap_or_default();
    let status = std::process::Command::new("mkfifo")
        .arg(fifo_dir.join("pipe"))
        .status();
    assert!(status.is_ok_and(|status| status.success()));
    let error = describe_output(&fifo_dir, "out")
        .map(|_| ())
        .map_err(|error| error.to_string());
    assert!(
        error
            .as_ref()
            .is_err_and(|message| message.contains("pipe: is a fifo")),
        "{error:?}"
    );
}

/// Replaces `from` with `to` in the golden manifest and expects `Manifest::parse` to
/// refuse it with a message containing `expected`.
fn check_refused(from: &str, to: &str, expected: &str) {
    let text = String::from_utf8_lossy(&golden_bytes()).into_owned();
    assert!(text.contains(from), "golden manifest lacks {from:?}");
    let changed = text.replacen(from, to, 1);
    match Manifest::parse(changed.as_bytes(), Path::new("r/imgbuild-release.json")) {
        Ok(_) => panic!("accepted after replacing {from:?} with {to:?}"),
        Err(error) => {
            let message = error.to_string();
            assert!(
                message.contains(expected),
                "{message:?} does not contain {expected:?}"
            );
            assert!(
                message.starts_with("r/imgbuild-release.json"),
                "{message:?} does not name the file"
            );
        }
    }
}

#[test]
fn parse_is_strict() {
    check_refused(
        "\"format\": \"imgbuild-release-v1\"",
        "\"format\": \"imgbuild-release-v2\"",
        "format \"imgbuild-release-v2\" is not supported",
    );
    check_refused(
        "\"name\": \"web\",",
        "\"name\": \"web\", \"signed\": true,",
        "unknown field `signed`",
    );
    check_refused("\"tool\": \"imgbuild 0.1.0\",", "", "missing field `tool`");
    check_refused(
        "\"type\": \"symlink\",",
        "\"type\": \"socket\",",
        "unknown variant `socket`",
    );
    check_refused(
        "\"target\": \"blobs/sha256/aa\"",
        "\"target\": \"blobs/sha256/aa\", \"mode\": 420",
        "unknown field `mode`",
    );
    check_refused(
        "\"name\": \"web.qcow2\"",
        "\"name\": \"../web.qcow2\"",
        "`outputs[0].name`: must be a file name",
    );
    check_refused(
        "\"name\": \"web.qcow2\"",
        "\"name\": \"web-oci\"",
        "`outputs[2].name`: \"web-oci\" is listed twice",
    );
    check_refused(
        QCOW2_SHA256,
        &QCOW2_SHA256.to_uppercase(),
        "`outputs[0].sha256`: ",
    );
    check_refused(QCOW2_SHA256, "fe2a", "has 4 hex digits, expected 64");
    check_refused(
        "\"path\": \"empty\"",
        "\"path\": \"../empty\"",
        "`outputs[2].files[4].path`: must not have empty, `.` or `..` components",
    );
    check_refused(
        "\"path\": \"empty\"",
        "\"path\": \"blobs\"",
        "paths must be unique and sorted",
    );
    check_refused("\"size\": 3145745", "\"size\": -1", "invalid value");
    check_refused("\"recipe\": \"9f2c", "\"recipe\": \"X9f2c", "`recipe`: ");
    check_refused("\"files\": []\n    },\n    {\n      \"name\": \"web.spdx.json\"", "\"files\": [{\"type\": \"directory\", \"path\": \"a\"}]\n    },\n    {\n      \"name\": \"web.spdx.json\"", "must be empty for an output that is not a directory");
}

#[test]
fn optional_fields_may_be_null() {
    let text = String::from_utf8_lossy(&golden_bytes()).into_owned();
    let start = text.find("  \"recipe\"").unwrap_or_default();
    let end = text.find("  \"outputs\"").unwrap_or_default();
    let changed = format!(
        "{}  \"recipe\": null,\n  \"lock_sha256\": null,\n  \"source_date_epoch\": null,\n  \"sbom\": null,\n{}",
        &text[..start],
        &text[end..]
    );
    let manifest = Manifest::parse(changed.as_bytes(), Path::new("m"))
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(
        (manifest.recipe, manifest.sbom, manifest.source_date_epoch),
        (None, None, None)
    );
    assert_eq!(
        Manifest::parse(changed.as_bytes(), Path::new("m"))
            .map(|m| m.to_bytes())
            .ok(),
        Some(changed.into_bytes())
    );
}
