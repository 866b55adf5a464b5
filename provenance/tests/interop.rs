//! Interoperability with OpenSSH's `ssh-keygen -Y sign` / `-Y verify` (package
//! openssh-client), with the committed Ed25519 keys and with Ed25519, ECDSA and RSA
//! keys `ssh-keygen` generates.

mod common;

use std::path::Path;

use imgbuild_provenance::{
    load_signing_key, sign, sign_directory, verify_directory, Endorser, Policy, PublicKey,
    NAMESPACE,
};

/// `ssh-keygen -Y verify` of `signature` over `message` as `principal`.
fn openssh_verifies(
    ssh_keygen: &Path,
    dir: &Path,
    policy: &Policy,
    principal: &str,
    message: &[u8],
    signature: &str,
) -> bool {
    let allowed = dir.join("allowed_signers");
    let signature_path = dir.join("message.sig");
    std::fs::write(&allowed, policy.allowed_signers()).unwrap_or_default();
    std::fs::write(&signature_path, signature).unwrap_or_default();
    let output = common::run(
        ssh_keygen,
        &[
            "-Y",
            "verify",
            "-f",
            &allowed.display().to_string(),
            "-I",
            principal,
            "-n",
            NAMESPACE,
            "-s",
            &signature_path.display().to_string(),
        ],
        message,
    );
    output.status.success()
}

#[test]
fn openssh_verifies_our_signature_and_rejects_a_changed_manifest() {
    let Some(ssh_keygen) = imgbuild_test_support::require_tool("ssh-keygen") else {
        return;
    };
    let dir = common::temporary();
    let policy = common::policy(1, &["alice", "bob"], &[]);
    let manifest = std::fs::read(common::data("manifest.json")).unwrap_or_default();
    let signature =
        sign(&manifest, &common::key("alice")).unwrap_or_else(|error| panic!("{error}"));
    assert!(openssh_verifies(
        &ssh_keygen,
        dir.path(),
        &policy,
        "alice@example.org",
        &manifest,
        &signature
    ));
    let mut changed = manifest.clone();
    changed[40] ^= 1;
    assert!(!openssh_verifies(
        &ssh_keygen,
        dir.path(),
        &policy,
        "alice@example.org",
        &changed,
        &signature
    ));
    // Another principal's key does not verify it.
    assert!(!openssh_verifies(
        &ssh_keygen,
        dir.path(),
        &policy,
        "bob@example.org",
        &manifest,
        &signature
    ));
}

#[test]
fn allowed_signers_leaves_out_banned_keys() {
    let policy = common::policy(1, &["alice", "bob"], &["bob"]);
    let text = policy.allowed_signers();
    let alice = imgbuild_provenance::public_key_line(&common::public("alice"));
    assert_eq!(
        text,
        format!("alice@example.org namespaces=\"imgbuild-release\" {alice}\n")
    );
    assert!(
        !alice.contains("alice@example.org"),
        "the key comment is dropped: {alice}"
    );
}

/// Generates a key with ssh-keygen; returns its private key path.
fn generate(ssh_keygen: &Path, dir: &Path, name: &str, arguments: &[&str]) -> std::path::PathBuf {
    let path = dir.join(name);
    let mut all = vec!["-q", "-N", "", "-C", name, "-f"];
    let path_text = path.display().to_string();
    all.push(&path_text);
    all.extend_from_slice(arguments);
    let output = common::run(ssh_keygen, &all, b"");
    assert!(
        output.status.success(),
        "ssh-keygen {arguments:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    path
}

const KEY_TYPES: &[(&str, &[&str])] = &[
    ("ed25519", &["-t", "ed25519"]),
    ("ecdsa256", &["-t", "ecdsa", "-b", "256"]),
    ("ecdsa384", &["-t", "ecdsa", "-b", "384"]),
    ("ecdsa521", &["-t", "ecdsa", "-b", "521"]),
    ("rsa3072", &["-t", "rsa", "-b", "3072"]),
];

#[test]
fn each_key_type_signs_with_openssh_and_verifies_with_us_and_the_reverse() {
    let Some(ssh_keygen) = imgbuild_test_support::require_tool("ssh-keygen") else {
        return;
    };
    let keys = common::temporary();
    for (name, arguments) in KEY_TYPES {
        let private = generate(&ssh_keygen, keys.path(), name, arguments);
        let public_text =
            std::fs::read_to_string(private.with_extension("pub")).unwrap_or_default();
        let public = PublicKey::from_openssh(public_text.trim())
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        let policy = Policy {
            required: 1,
            trusted: vec![Endorser {
                name: format!("{name}@example.org"),
                key: public,
            }],
            banned: Vec::new(),
        };

        // ssh-keygen signs a release; verify_directory accepts it.
        let (dir, manifest) = common::release();
        let manifest_path = dir.path().join("imgbuild-release.json");
        std::fs::write(&manifest_path, manifest.to_bytes()).unwrap_or_default();
        let output = common::run(
            &ssh_keygen,
            &[
                "-Y",
                "sign",
                "-n",
                NAMESPACE,
                "-f",
                &private.display().to_string(),
                &manifest_path.display().to_string(),
            ],
            b"",
        );
        assert!(
            output.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let verification =
            verify_directory(dir.path(), &policy).unwrap_or_else(|error| panic!("{name}: {error}"));
        assert_eq!(verification.problems, [], "{name}");
        assert_eq!(
            verification.accepted,
            [format!("{name}@example.org")],
            "{name}"
        );

        // We sign with the key ssh-keygen made; ssh-keygen verifies it. ECDSA and RSA
        // keys are refused for signing, by name (see the signing module: ssh-key 0.6.7
        // cannot read some ECDSA keys and cannot sign with RSA ones).
        if !name.starts_with("ed25519") {
            let refused = load_signing_key(&private)
                .map(|_| ())
                .map_err(|error| error.to_string());
            assert!(
                refused
                    .as_ref()
                    .is_err_and(|message| message.contains("keys cannot sign")
                        && message.contains("ssh-keygen -t ed25519")),
                "{name}: {refused:?}"
            );
            continue;
        }
        let key = load_signing_key(&private).unwrap_or_else(|error| panic!("{name}: {error}"));
        let signed = common::temporary();
        let signature =
            sign_directory(signed.path(), &common::manifest_for(dir.path()), &key, name)
                .unwrap_or_else(|error| panic!("{name}: {error}"));
        let signature_text = std::fs::read_to_string(&signature).unwrap_or_default();
        let message = manifest.to_bytes();
        assert!(
            openssh_verifies(
                &ssh_keygen,
                keys.path(),
                &policy,
                &format!("{name}@example.org"),
                &message,
                &signature_text
            ),
            "{name}: ssh-keygen rejects our signature"
        );
        let mut changed = message.clone();
        changed[10] ^= 1;
        assert!(
            !openssh_verifies(
                &ssh_keygen,
                keys.path(),
                &policy,
                &format!("{name}@example.org"),
                &changed,
                &signature_text
            ),
            "{name}: ssh-keygen accepts our signature over another manifest"
        );
    }
}
