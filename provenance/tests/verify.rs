//! verify_directory: each way a release can be wrong, with the reason it gives.

mod common;

use std::path::Path;

use imgbuild_provenance::{
    sign, sign_directory, verify_directory, Manifest, Policy, Problem, ProblemKind, Verification,
    MANIFEST_FILE, NAMESPACE,
};

/// A release in a temporary directory signed by each of `signers` (committed key
/// names, principal `NAME@example.org`).
fn signed_release(signers: &[&str]) -> (tempfile::TempDir, Manifest) {
    let (dir, manifest) = common::release();
    for signer in signers {
        sign_directory(
            dir.path(),
            &manifest,
            &common::key(signer),
            &format!("{signer}@example.org"),
        )
        .unwrap_or_else(|error| panic!("{signer}: {error}"));
    }
    (dir, manifest)
}

fn verify(dir: &Path, policy: &Policy) -> Verification {
    verify_directory(dir, policy).unwrap_or_else(|error| panic!("{error}"))
}

/// Expects `verification` to have exactly the problems `expected` (subject, kind,
/// start of the reason) and `passed()` to be `passed`.
fn check(verification: &Verification, expected: &[(&str, ProblemKind, &str)], passed: bool) {
    let found: Vec<(&str, ProblemKind, &str)> = verification
        .problems
        .iter()
        .map(
            |Problem {
                 subject,
                 reason,
                 kind,
             }| (subject.as_str(), *kind, reason.as_str()),
        )
        .collect();
    assert_eq!(found.len(), expected.len(), "problems: {found:#?}");
    for ((subject, kind, reason), (expected_subject, expected_kind, expected_reason)) in
        found.iter().zip(expected)
    {
        assert_eq!(
            (subject, kind),
            (expected_subject, expected_kind),
            "problems: {found:#?}"
        );
        assert!(
            reason.starts_with(expected_reason),
            "{reason:?} does not start with {expected_reason:?}"
        );
    }
    assert_eq!(verification.passed(), passed, "problems: {found:#?}");
}

fn flip_byte(path: &Path, offset: usize) {
    let mut bytes = std::fs::read(path).unwrap_or_default();
    bytes[offset] ^= 0x01;
    std::fs::write(path, bytes).unwrap_or_default();
}

#[test]
fn all_good_two_of_two() {
    let (dir, _) = signed_release(&["alice", "bob"]);
    let verification = verify(dir.path(), &common::policy(2, &["alice", "bob"], &[]));
    check(&verification, &[], true);
    assert_eq!(
        verification.accepted,
        ["alice@example.org", "bob@example.org"]
    );
}

#[test]
fn a_flipped_byte_in_an_output_file() {
    let (dir, manifest) = signed_release(&["alice"]);
    flip_byte(&dir.path().join("web.qcow2"), 1_500_000);
    let verification = verify(dir.path(), &common::policy(1, &["alice"], &[]));
    let sha256 = &manifest.outputs[0].sha256;
    check(
        &verification,
        &[
            (
                "web.qcow2",
                ProblemKind::Output,
                &format!("sha256 differs: manifest says {sha256}, file has "),
            ),
            (
                "web.qcow2",
                ProblemKind::Output,
                "sha512 differs: manifest says ",
            ),
        ],
        false,
    );
    assert_eq!(verification.accepted, ["alice@example.org"]);
}

#[test]
fn changes_inside_a_directory_output_are_named_entry_by_entry() {
    let (dir, _) = signed_release(&["alice"]);
    let oci = dir.path().join("web-oci");
    flip_byte(&oci.join("blobs/sha256/aa"), 0);
    std::fs::remove_file(oci.join("index.json")).unwrap_or_default();
    std::fs::write(oci.join("extra"), b"x").unwrap_or_default();
    std::fs::remove_file(oci.join("latest")).unwrap_or_default();
    std::os::unix::fs::symlink("index.json", oci.join("latest")).unwrap_or_default();
    std::fs::remove_dir(oci.join("empty")).unwrap_or_default();
    std::fs::write(oci.join("empty"), b"").unwrap_or_default();
    let verification = verify(dir.path(), &common::policy(1, &["alice"], &[]));
    check(
        &verification,
        &[
            (
                "web-oci/blobs/sha256/aa",
                ProblemKind::Output,
                "sha256 differs: manifest says f191e625",
            ),
            (
                "web-oci/blobs/sha256/aa",
                ProblemKind::Output,
                "sha512 differs",
            ),
            (
                "web-oci/empty",
                ProblemKind::Output,
                "is a file, the manifest lists a directory",
            ),
            (
                "web-oci/index.json",
                ProblemKind::Output,
                "missing (the manifest lists a file)",
            ),
            (
                "web-oci/latest",
                ProblemKind::Output,
                "symlink target differs: manifest says \"blobs/sha256/aa\", found \"index.json\"",
            ),
            (
                "web-oci/extra",
                ProblemKind::Output,
                "not listed in the manifest",
            ),
        ],
        false,
    );
}

#[test]
fn a_missing_output() {
    let (dir, _) = signed_release(&["alice"]);
    std::fs::remove_file(dir.path().join("web.qcow2")).unwrap_or_default();
    std::fs::remove_dir_all(dir.path().join("web-oci")).unwrap_or_default();
    std::fs::write(dir.path().join("web-oci"), b"now a file").unwrap_or_default();
    check(
        &verify(dir.path(), &common::policy(1, &["alice"], &[])),
        &[
            ("web.qcow2", ProblemKind::Output, "missing"),
            (
                "web-oci",
                ProblemKind::Output,
                "the manifest lists a directory, found a file",
            ),
        ],
        false,
    );
}

#[test]
fn an_sbom_digest_that_does_not_match() {
    let (dir, mut manifest) = common::release();
    if let Some(sbom) = manifest.sbom.as_mut() {
        sbom.sha256 = "0".repeat(64);
    }
    sign_directory(dir.path(), &manifest, &common::key("alice"), "alice")
        .unwrap_or_else(|error| panic!("{error}"));
    check(
        &verify(dir.path(), &common::policy(1, &["alice"], &[])),
        &[(
            "web.spdx.json",
            ProblemKind::Sbom,
            "the SBOM's digest does not match: sbom.sha256 says 0000",
        )],
        false,
    );
    // An SBOM that is not an output at all.
    let (dir, mut manifest) = common::release();
    if let Some(sbom) = manifest.sbom.as_mut() {
        sbom.name = "web.cdx.json".into();
    }
    sign_directory(dir.path(), &manifest, &common::key("alice"), "alice")
        .unwrap_or_else(|error| panic!("{error}"));
    check(
        &verify(dir.path(), &common::policy(1, &["alice"], &[])),
        &[(
            "web.cdx.json",
            ProblemKind::Sbom,
            "the manifest's SBOM is not among its outputs",
        )],
        false,
    );
}

#[test]
fn a_banned_endorser_fails_even_with_enough_trusted_signatures() {
    let (dir, _) = signed_release(&["alice", "bob", "mallory"]);
    let verification = verify(
        dir.path(),
        &common::policy(2, &["alice", "bob"], &["mallory"]),
    );
    check(
        &verification,
        &[(
            "imgbuild-release.json.mallory@example.org.sig",
            ProblemKind::BannedEndorser,
            "signed by banned endorser mallory@example.org",
        )],
        false,
    );
    assert_eq!(
        verification.accepted,
        ["alice@example.org", "bob@example.org"]
    );
}

#[test]
fn a_key_both_trusted_and_banned_is_banned() {
    let (dir, _) = signed_release(&["alice", "bob"]);
    let mut policy = common::policy(1, &["alice", "bob"], &["bob"]);
    policy.banned[0].name = "bob-revoked".into();
    let verification = verify(dir.path(), &policy);
    check(
        &verification,
        &[(
            "imgbuild-release.json.bob@example.org.sig",
            ProblemKind::BannedEndorser,
            "signed by banned endorser bob-revoked",
        )],
        false,
    );
    assert_eq!(verification.accepted, ["alice@example.org"]);
}

#[test]
fn an_unknown_key_is_reported_and_does_not_count() {
    let (dir, _) = signed_release(&["alice", "mallory"]);
    let fingerprint = common::key("mallory").fingerprint();
    let unknown = format!("signed by an unknown key {fingerprint}");
    // Reported, but harmless when enough trusted endorsers signed.
    check(
        &verify(dir.path(), &common::policy(1, &["alice"], &[])),
        &[(
            "imgbuild-release.json.mallory@example.org.sig",
            ProblemKind::UnknownKey,
            &unknown,
        )],
        true,
    );
    // It does not count towards `required`.
    check(
        &verify(dir.path(), &common::policy(2, &["alice", "bob"], &[])),
        &[
            (
                "imgbuild-release.json.mallory@example.org.sig",
                ProblemKind::UnknownKey,
                &unknown,
            ),
            (
                "policy",
                ProblemKind::TooFewSignatures,
                "signed by 1 trusted endorser(s), the policy requires 2",
            ),
        ],
        false,
    );
}

#[test]
fn too_few_signatures_and_the_same_endorser_counts_once() {
    let (dir, manifest) = signed_release(&["alice"]);
    sign_directory(dir.path(), &manifest, &common::key("alice"), "alice-again")
        .unwrap_or_else(|error| panic!("{error}"));
    let verification = verify(dir.path(), &common::policy(2, &["alice", "bob"], &[]));
    check(
        &verification,
        &[(
            "policy",
            ProblemKind::TooFewSignatures,
            "signed by 1 trusted endorser(s), the policy requires 2",
        )],
        false,
    );
    assert_eq!(verification.accepted, ["alice@example.org"]);
    // No signature at all.
    let (unsigned, manifest) = common::release();
    std::fs::write(unsigned.path().join(MANIFEST_FILE), manifest.to_bytes()).unwrap_or_default();
    check(
        &verify(unsigned.path(), &common::policy(1, &["alice"], &[])),
        &[(
            "policy",
            ProblemKind::TooFewSignatures,
            "signed by 0 trusted endorser(s), the policy requires 1",
        )],
        false,
    );
}

#[test]
fn a_signature_over_another_manifest() {
    let (dir, manifest) = signed_release(&["alice"]);
    let other = Manifest {
        name: "web-2".into(),
        ..manifest
    };
    let signature =
        sign(&other.to_bytes(), &common::key("bob")).unwrap_or_else(|error| panic!("{error}"));
    std::fs::write(dir.path().join("imgbuild-release.json.bob.sig"), signature).unwrap_or_default();
    let bob = common::key("bob").fingerprint();
    check(
        &verify(dir.path(), &common::policy(1, &["alice", "bob"], &[])),
        &[(
            "imgbuild-release.json.bob.sig",
            ProblemKind::BadSignature,
            &format!("the signature by {bob} does not match this manifest"),
        )],
        false,
    );
}

#[test]
fn a_signature_in_another_namespace() {
    let Some(ssh_keygen) = imgbuild_test_support::require_tool("ssh-keygen") else {
        return;
    };
    let (dir, _) = signed_release(&["alice"]);
    let keys = common::temporary();
    let bob = common::private_key_copy("bob", keys.path());
    let manifest_path = dir.path().join(MANIFEST_FILE);
    let output = common::run(
        &ssh_keygen,
        &[
            "-Y",
            "sign",
            "-n",
            "git",
            "-f",
            &bob.display().to_string(),
            &manifest_path.display().to_string(),
        ],
        b"",
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_ne!(NAMESPACE, "git");
    // ssh-keygen wrote imgbuild-release.json.sig, which is checked too.
    check(
        &verify(dir.path(), &common::policy(1, &["alice", "bob"], &[])),
        &[(
            "imgbuild-release.json.sig",
            ProblemKind::BadSignature,
            "signed for namespace \"git\", not \"imgbuild-release\"",
        )],
        false,
    );
}

#[test]
fn truncated_and_garbage_signature_files() {
    let (dir, _) = signed_release(&["alice", "bob"]);
    let bob = dir.path().join("imgbuild-release.json.bob@example.org.sig");
    let text = std::fs::read_to_string(&bob).unwrap_or_default();
    std::fs::write(&bob, &text[..text.len() / 2]).unwrap_or_default();
    std::fs::write(
        dir.path().join("imgbuild-release.json.garbage.sig"),
        b"\x00\xffnot a signature",
    )
    .unwrap_or_default();
    std::fs::write(dir.path().join("imgbuild-release.json.empty.sig"), b"").unwrap_or_default();
    let verification = verify(dir.path(), &common::policy(1, &["alice", "bob"], &[]));
    check(
        &verification,
        &[
            (
                "imgbuild-release.json.bob@example.org.sig",
                ProblemKind::BadSignature,
                "not an SSH signature",
            ),
            (
                "imgbuild-release.json.empty.sig",
                ProblemKind::BadSignature,
                "not an SSH signature",
            ),
            (
                "imgbuild-release.json.garbage.sig",
                ProblemKind::BadSignature,
                "not an SSH signature",
            ),
        ],
        false,
    );
    assert_eq!(verification.accepted, ["alice@example.org"]);
}

#[test]
fn a_missing_or_invalid_manifest_is_an_error() {
    let (dir, _) = common::release();
    let error = verify_directory(dir.path(), &common::policy(1, &["alice"], &[]))
        .map(|_| ())
        .map_err(|error| error.to_string());
    assert!(
        error
            .as_ref()
            .is_err_and(|message| message.contains("imgbuild-release.json")),
        "{error:?}"
    );
    std::fs::write(
        dir.path().join(MANIFEST_FILE),
        b"{\"format\": \"imgbuild-release-v9\"}",
    )
    .unwrap_or_default();
    let error = verify_directory(dir.path(), &common::policy(1, &["alice"], &[]))
        .map(|_| ())
        .map_err(|error| error.to_string());
    assert!(
        error
            .as_ref()
            .is_err_and(|message| message.contains("\"imgbuild-release-v9\" is not supported")),
        "{error:?}"
    );
}
