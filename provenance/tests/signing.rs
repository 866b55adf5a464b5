//! Keys, signatures and writing a signed release directory.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use imgbuild_provenance::{
    check_principal, load_signing_key, sign, sign_directory, signature_file_name, Manifest,
    ProvenanceError, MANIFEST_FILE,
};

#[test]
fn ed25519_signature_is_golden() {
    // tests/data/manifest.json.alice.sig was written by `ssh-keygen -Y sign -n
    // imgbuild-release -f alice_ed25519 manifest.json` (OpenSSH 9.2): Ed25519 is
    // deterministic, so ours must be the same bytes.
    let manifest = std::fs::read(common::data("manifest.json")).unwrap_or_default();
    let golden =
        std::fs::read_to_string(common::data("manifest.json.alice.sig")).unwrap_or_default();
    let signature =
        sign(&manifest, &common::key("alice")).unwrap_or_else(|error| panic!("{error}"));
    assert!(signature.starts_with("-----BEGIN SSH SIGNATURE-----\n"));
    assert_eq!(signature, golden);
}

#[test]
fn encrypted_key_is_refused_with_help_and_without_key_material() {
    let path = common::data("encrypted_ed25519");
    let error = load_signing_key(&path).map(|_| ());
    assert!(
        matches!(error, Err(ProvenanceError::EncryptedKey { .. })),
        "{error:?}"
    );
    let message = error
        .map_err(|error| error.to_string())
        .err()
        .unwrap_or_default();
    assert!(
        message.contains("encrypted_ed25519: the private key is encrypted with a passphrase"),
        "{message}"
    );
    assert!(message.contains("ssh-keygen -p"), "{message}");
    let key_text = std::fs::read_to_string(&path).unwrap_or_default();
    for line in key_text.lines().filter(|line| !line.starts_with("-----")) {
        assert!(!message.contains(line), "the message quotes the key file");
    }
}

#[test]
fn a_file_that_is_not_a_key_is_refused_by_name() {
    let path = common::data("manifest.json");
    match load_signing_key(&path) {
        Err(ProvenanceError::InvalidKey { path: named, .. }) => assert_eq!(named, path),
        other => panic!("{other:?}"),
    }
    let public = common::data("alice_ed25519.pub");
    assert!(matches!(
        load_signing_key(&public),
        Err(ProvenanceError::InvalidKey { .. })
    ));
}

#[test]
fn debug_shows_the_fingerprint_not_the_key() {
    let key = common::key("alice");
    let shown = format!("{key:?}");
    assert!(shown.contains("SHA256:"), "{shown}");
    assert_eq!(
        key.fingerprint(),
        key.public_key().fingerprint(Default::default()).to_string()
    );
    let key_text = std::fs::read_to_string(common::data("alice_ed25519")).unwrap_or_default();
    for line in key_text.lines().filter(|line| !line.starts_with("-----")) {
        assert!(!shown.contains(line), "Debug shows the key file");
    }
}

fn check_principal_case(principal: &str, expected: Result<&str, &str>) {
    match (check_principal(principal), expected) {
        (Ok(()), Ok(file_name)) => {
            assert_eq!(
                signature_file_name(principal).ok().as_deref(),
                Some(file_name)
            )
        }
        (Err(error), Err(reason)) => {
            let message = error.to_string();
            assert!(
                message.contains(reason),
                "{principal:?}: {message:?} lacks {reason:?}"
            )
        }
        (result, expected) => panic!("{principal:?}: {result:?}, expected {expected:?}"),
    }
}

#[test]
fn principals_are_checked() {
    check_principal_case(
        "alice@example.org",
        Ok("imgbuild-release.json.alice@example.org.sig"),
    );
    check_principal_case("zoé", Ok("imgbuild-release.json.zoé.sig"));
    check_principal_case("", Err("is empty"));
    check_principal_case(".hidden", Err("must not start with `.`"));
    check_principal_case("..", Err("must not start with `.`"));
    check_principal_case("a/b", Err("must not contain `/`"));
    check_principal_case("alice smith", Err("must be printable, without spaces"));
    check_principal_case("bell\u{7}", Err("must be printable"));
    check_principal_case(&"a".repeat(201), Err("longer than 200 bytes"));
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .map(|metadata| metadata.permissions().mode() & 0o777)
        .unwrap_or(0)
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

#[test]
fn sign_directory_writes_once_and_endorsers_add_signatures() {
    let (dir, manifest) = common::release();
    let alice = sign_directory(
        dir.path(),
        &manifest,
        &common::key("alice"),
        "alice@example.org",
    )
    .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(
        alice,
        dir.path()
            .join("imgbuild-release.json.alice@example.org.sig")
    );
    let manifest_path = dir.path().join(MANIFEST_FILE);
    let written = std::fs::read(&manifest_path).unwrap_or_default();
    assert_eq!(written, manifest.to_bytes());
    assert_eq!((mode(&manifest_path), mode(&alice)), (0o644, 0o644));
    // A second endorser rebuilding the same manifest only adds a signature.
    let rebuilt = common::manifest_for(dir.path());
    let bob = sign_directory(dir.path(), &rebuilt, &common::key("bob"), "bob@example.org")
        .unwrap_or_else(|error| panic!("{error}"));
    assert!(bob.is_file());
    assert_eq!(std::fs::read(&manifest_path).unwrap_or_default(), written);
    // Signing again replaces the signature with the same bytes (Ed25519 is deterministic).
    let before = std::fs::read(&alice).unwrap_or_default();
    sign_directory(
        dir.path(),
        &manifest,
        &common::key("alice"),
        "alice@example.org",
    )
    .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(std::fs::read(&alice).unwrap_or_default(), before);
    // No temporary file is left behind.
    assert_eq!(
        listing(dir.path()),
        [
            "imgbuild-release.json",
            "imgbuild-release.json.alice@example.org.sig",
            "imgbuild-release.json.bob@example.org.sig",
            "web-oci",
            "web.qcow2",
            "web.spdx.json"
        ]
    );
}

#[test]
fn sign_directory_refuses_a_different_manifest() {
    let (dir, manifest) = common::release();
    sign_directory(dir.path(), &manifest, &common::key("alice"), "alice")
        .unwrap_or_else(|error| panic!("{error}"));
    let other = Manifest {
        name: "web-2".into(),
        ..manifest
    };
    match sign_directory(dir.path(), &other, &common::key("bob"), "bob") {
        Err(ProvenanceError::ManifestDiffers { path }) => {
            assert_eq!(path, dir.path().join(MANIFEST_FILE))
        }
        result => panic!("{result:?}"),
    }
    assert!(!dir.path().join("imgbuild-release.json.bob.sig").exists());
}

#[test]
fn sign_directory_refuses_a_bad_principal_or_an_invalid_manifest_before_writing() {
    let (dir, manifest) = common::release();
    let result = sign_directory(dir.path(), &manifest, &common::key("alice"), "../alice");
    assert!(
        matches!(result, Err(ProvenanceError::InvalidPrincipal { .. })),
        "{result:?}"
    );
    let mut invalid = manifest;
    invalid.outputs[0].sha256 = "not hex".into();
    let result = sign_directory(dir.path(), &invalid, &common::key("alice"), "alice");
    assert!(
        matches!(result, Err(ProvenanceError::ManifestField { ref field, .. }) if field == "outputs[0].sha256"),
        "{result:?}"
    );
    assert!(!dir.path().join(MANIFEST_FILE).exists());
}
