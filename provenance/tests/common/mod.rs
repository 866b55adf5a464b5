//! What the provenance tests share: the committed test keys, a small release directory
//! with fixed contents, and running `ssh-keygen`.

#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use imgbuild_provenance::{
    describe_output, load_signing_key, Endorser, Manifest, Policy, PublicKey, SbomReference,
    SigningKey, FORMAT,
};

/// `tests/data`.
pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// A committed test key (`alice`, `bob`, `mallory`).
pub fn key(name: &str) -> SigningKey {
    match load_signing_key(&data(&format!("{name}_ed25519"))) {
        Ok(key) => key,
        Err(error) => panic!("test key {name}: {error}"),
    }
}

/// The public half of a committed test key.
pub fn public(name: &str) -> PublicKey {
    let text = std::fs::read_to_string(data(&format!("{name}_ed25519.pub"))).unwrap_or_default();
    match PublicKey::from_openssh(text.trim()) {
        Ok(key) => key,
        Err(error) => panic!("test public key {name}: {error}"),
    }
}

/// An endorser `NAME@example.org` with the committed key `name`.
pub fn endorser(name: &str) -> Endorser {
    Endorser {
        name: format!("{name}@example.org"),
        key: public(name),
    }
}

/// A policy trusting `trusted`, banning `banned`, requiring `required`.
pub fn policy(required: usize, trusted: &[&str], banned: &[&str]) -> Policy {
    Policy {
        required,
        trusted: trusted.iter().map(|name| endorser(name)).collect(),
        banned: banned.iter().map(|name| endorser(name)).collect(),
    }
}

/// Writes the fixed release outputs into `dir`:
/// `web.qcow2`, `web.spdx.json` and `web-oci/` (files, a symlink, an empty directory).
pub fn write_outputs(dir: &Path) {
    let write = |relative: &str, bytes: &[u8]| {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_default();
        }
        std::fs::write(&path, bytes).unwrap_or_else(|error| panic!("{relative}: {error}"));
    };
    // 3 MiB and a bit, so hashing crosses the 1 MiB read size.
    let image: Vec<u8> = (0..3 * 1024 * 1024 + 17u32)
        .map(|index| (index % 251) as u8)
        .collect();
    write("web.qcow2", &image);
    write("web.spdx.json", b"{\"spdxVersion\": \"SPDX-2.3\"}\n");
    write("web-oci/oci-layout", b"{\"imageLayoutVersion\":\"1.0.0\"}");
    write(
        "web-oci/index.json",
        b"{\"schemaVersion\":2,\"manifests\":[]}",
    );
    write("web-oci/blobs/sha256/aa", b"layer one");
    write("web-oci/blobs-extra", b"");
    std::fs::create_dir_all(dir.join("web-oci/empty")).unwrap_or_default();
    std::os::unix::fs::symlink("blobs/sha256/aa", dir.join("web-oci/latest"))
        .unwrap_or_else(|error| panic!("symlink: {error}"));
}

/// The manifest describing [`write_outputs`]' directory.
pub fn manifest_for(dir: &Path) -> Manifest {
    let outputs: Vec<_> = ["web.qcow2", "web.spdx.json", "web-oci"]
        .iter()
        .map(|name| {
            describe_output(&dir.join(name), name)
                .unwrap_or_else(|error| panic!("describe {name}: {error}"))
        })
        .collect();
    let sbom = outputs
        .iter()
        .find(|output| output.name == "web.spdx.json")
        .map(|output| SbomReference {
            name: output.name.clone(),
            sha256: output.sha256.clone(),
        });
    Manifest {
        format: FORMAT.to_owned(),
        name: "web".to_owned(),
        tool: "imgbuild 0.1.0".to_owned(),
        recipe: Some("9f2c".repeat(16)),
        lock_sha256: Some("4b1a".repeat(16)),
        source_date_epoch: Some(1_700_000_000),
        sbom,
        outputs,
    }
}

/// A temporary directory holding [`write_outputs`].
pub fn release() -> (tempfile::TempDir, Manifest) {
    let dir = temporary();
    write_outputs(dir.path());
    let manifest = manifest_for(dir.path());
    (dir, manifest)
}

/// A fresh temporary directory.
pub fn temporary() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|error| panic!("temporary directory: {error}"))
}

/// Copies a committed private key into `dir` with mode 0600 (ssh-keygen refuses
/// readable keys) and returns the copy's path.
pub fn private_key_copy(name: &str, dir: &Path) -> PathBuf {
    let copy = dir.join(format!("{name}_ed25519"));
    std::fs::copy(data(&format!("{name}_ed25519")), &copy)
        .unwrap_or_else(|error| panic!("copy key: {error}"));
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o600)).unwrap_or_default();
    copy
}

/// Runs `tool` with `arguments`, `stdin` as its standard input.
pub fn run(tool: &Path, arguments: &[&str], stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(tool)
        .args(arguments)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("run {}: {error}", tool.display()));
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin).unwrap_or_default();
    }
    child
        .wait_with_output()
        .unwrap_or_else(|error| panic!("wait for {}: {error}", tool.display()))
}
