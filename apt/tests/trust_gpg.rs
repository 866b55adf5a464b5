//! A second OpenPGP implementation: keys and signatures made by the real GnuPG (in a
//! throwaway `GNUPGHOME`) must be judged by our policy as apt would judge them. Without
//! `gpg`, `imgbuild_test_support` skips it with a message (a failure under CI).

use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use imgbuild_apt::trust::{verify_inrelease, Keyring, Release, SignatureProblem, TrustError};

const RELEASE: &str = "\
Origin: Gpg
Suite: unstable
Codename: sid
Date: Sat, 10 Aug 2024 09:10:27 UTC
SHA256:
 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 main/binary-amd64/Packages

-----a paragraph of dashes that gpg must dash-escape
";

fn gpg(home: &Path, arguments: &[&str], input: Option<&Path>) -> Vec<u8> {
    let mut command = Command::new("gpg");
    command
        .arg("--homedir")
        .arg(home)
        .args([
            "--batch",
            "--quiet",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
        ])
        .args(arguments);
    if let Some(input) = input {
        command.arg(input);
    }
    let output = command.output().expect("run gpg");
    assert!(
        output.status.success(),
        "gpg {arguments:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn primary_fingerprint(home: &Path, user_id: &str) -> String {
    let listing = gpg(home, &["--with-colons", "--list-keys", user_id], None);
    String::from_utf8_lossy(&listing)
        .lines()
        .find_map(|line| line.strip_prefix("fpr:"))
        .and_then(|rest| {
            rest.trim_matches(':')
                .split(':')
                .next_back()
                .map(str::to_string)
        })
        .expect("fingerprint")
}

#[test]
fn gnupg_made_keys_and_signatures() {
    imgbuild_test_support::require!(imgbuild_test_support::require_tool("gpg"));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .expect("clock");
    let directory = tempfile::tempdir().expect("tempdir");
    let home = directory.path().join("home");
    std::fs::create_dir(&home).expect("home");
    let mut permissions = std::fs::metadata(&home).expect("meta").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o700);
    std::fs::set_permissions(&home, permissions).expect("chmod");
    let release = directory.path().join("Release");
    std::fs::write(&release, RELEASE).expect("write");

    // An Ed25519 certify-only primary with an RSA 3072 signing subkey, like the archive.
    gpg(
        &home,
        &[
            "--quick-gen-key",
            "Archive <archive@example.invalid>",
            "ed25519",
            "cert",
            "never",
        ],
        None,
    );
    let archive = primary_fingerprint(&home, "archive@example.invalid");
    gpg(
        &home,
        &["--quick-add-key", &archive, "rsa3072", "sign", "2y"],
        None,
    );
    // A key that expired long ago, with a signature made while it was valid.
    gpg(
        &home,
        &[
            "--faked-system-time",
            "20240801T000000!",
            "--quick-gen-key",
            "Old <old@example.invalid>",
            "ed25519",
            "sign",
            "1d",
        ],
        None,
    );

    let sign = |user: &str, extra: &[&str]| {
        let mut arguments = vec!["--local-user", user, "--clearsign", "--output", "-"];
        arguments.extend_from_slice(extra);
        gpg(&home, &arguments, Some(&release))
    };
    let good = sign("archive@example.invalid", &[]);
    let sha1 = sign("archive@example.invalid", &["--digest-algo", "SHA1"]);
    let old = sign(
        "old@example.invalid",
        &["--faked-system-time", "20240801T010000!"],
    );
    let keyring_bytes = gpg(&home, &["--export"], None);
    let keyring = Keyring::from_bytes(&keyring_bytes, "exported.gpg").expect("gpg export");
    assert_eq!(keyring.len(), 2);

    let verified = verify_inrelease(&good, &keyring, now, "good").expect("gpg signature");
    assert_eq!(verified.text(), RELEASE);
    assert_eq!(verified.primary().to_string(), archive);
    assert_ne!(
        verified.signer(),
        verified.primary(),
        "signed by the subkey"
    );
    Release::from_verified(&verified)
        .expect("parse")
        .check_suite("sid")
        .expect("suite");

    let weak = verify_inrelease(&sha1, &keyring, now, "sha1").expect_err("SHA-1");
    assert!(
        matches!(&weak, TrustError::NoValidSignature { reports, .. }
            if matches!(&reports[0].problem, SignatureProblem::WeakHash(hash) if hash == "SHA1")),
        "{weak}"
    );

    let expired = verify_inrelease(&old, &keyring, now, "old").expect_err("expired key");
    assert!(
        matches!(&expired, TrustError::NoValidSignature { reports, .. }
            if matches!(reports[0].problem, SignatureProblem::KeyExpired { .. })),
        "{expired}"
    );
    // At a `now` within the key's life, the same signature is fine.
    let august = imgbuild_apt::trust::date::parse_rfc2822("1 Aug 2024 02:00 UTC").expect("date");
    verify_inrelease(&old, &keyring, august, "old").expect("valid then");

    let mut tampered = good.clone();
    let position = tampered
        .windows(4)
        .position(|window| window == b"Gpg\n")
        .expect("Origin");
    tampered[position] = b'X';
    assert!(matches!(
        verify_inrelease(&tampered, &keyring, now, "tampered"),
        Err(TrustError::BadSignature { .. })
    ));
}
