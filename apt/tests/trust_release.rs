//! `Release` parsing and checks: dates, freshness, suite, file lists, index checksums —
//! through the signed path (a throwaway key) and the explicit unsigned path.

use std::io::Write as _;

use imgbuild_apt::trust::date::{format_iso8601, parse_rfc2822};
use imgbuild_apt::trust::{
    verify_file, FileVerifier, Keyring, Release, TrustError, MAX_FUTURE_SECONDS,
};
use pgp::composed::{ArmorOptions, CleartextSignedMessage, KeyType, SecretKeyParamsBuilder};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{SignatureConfig, SignatureType, Subpacket, SubpacketData};
use pgp::ser::Serialize;
use pgp::types::{KeyDetails, Password, Timestamp};
use rand::{rngs::StdRng, SeedableRng};
use sha2::{Digest, Sha256};

/// `Date` of the fixtures: Sat, 10 Aug 2024 09:10:27 UTC.
const DATE: i64 = 1_723_281_027;
const DAY: i64 = 86_400;

const PACKAGES: &[u8] = b"Package: hello\nVersion: 2.10-3\n";

fn release_text(extra: &str, with_sha256: bool) -> String {
    let digest = hex::encode(Sha256::digest(PACKAGES));
    let mut text = format!(
        "Origin: Debian\nLabel: Debian\nSuite: stable\nVersion: 12.6\nCodename: bookworm\n\
         Date: Sat, 10 Aug 2024 09:10:27 UTC\n{extra}Acquire-By-Hash: yes\n\
         No-Support-for-Architecture-all: Packages\nArchitectures: all amd64 arm64\n\
         Components: main contrib\nDescription: Debian 12.6 Released 29 June 2024\n\
         MD5Sum:\n 00000000000000000000000000000000 {len} main/binary-amd64/Packages\n",
        len = PACKAGES.len()
    );
    if with_sha256 {
        text.push_str(&format!(
            "SHA256:\n {digest} {len} main/binary-amd64/Packages\n \
             {zero} 0 main/binary-arm64/Packages\n",
            len = PACKAGES.len(),
            zero = hex::encode(Sha256::digest(b""))
        ));
    }
    text
}

fn unsigned(text: &str) -> Result<Release, TrustError> {
    Release::parse_unsigned(text, "local/Release")
}

#[test]
fn rfc2822_dates() {
    let check = |text: &str, expected: Option<i64>| {
        assert_eq!(parse_rfc2822(text), expected, "{text}");
    };
    check("Sat, 10 Aug 2024 09:10:27 UTC", Some(DATE));
    check("10 Aug 2024 09:10:27 GMT", Some(DATE));
    check("Sat, 10 Aug 2024 11:10:27 +0200", Some(DATE));
    check("Sat, 10 Aug 2024 07:40:27 -0130", Some(DATE));
    check("sat, 10 aug 2024 09:10:27 utc", Some(DATE));
    check("Thu, 29 Feb 2024 23:59:59 -0130", Some(1_709_256_599));
    check("Sat, 1 Jan 2000 00:00 Z", Some(946_684_800));
    check("Thu, 1 Jan 1970 00:00:00 UTC", Some(0));
    check("Thu, 29 Feb 2023 00:00:00 UTC", None);
    check("Sat, 10 Aug 2024 09:10:27", None);
    check("Sat, 10 Foo 2024 09:10:27 UTC", None);
    check("Xyz, 10 Aug 2024 09:10:27 UTC", None);
    check("Sat, 10 Aug 2024 24:00:00 UTC", None);
    check("Sat, 10 Aug 2024 09:10:27 UTC extra", None);
    check("2024-08-10T09:10:27Z", None);
    check("", None);
    assert_eq!(format_iso8601(DATE), "2024-08-10T09:10:27Z");
    assert_eq!(format_iso8601(0), "1970-01-01T00:00:00Z");
    assert_eq!(format_iso8601(-1), "1969-12-31T23:59:59Z");
    assert_eq!(format_iso8601(1_709_251_199), "2024-02-29T23:59:59Z");
}

#[test]
fn parses_fields_and_file_list() {
    let release = unsigned(&release_text(
        "Valid-Until: Sat, 17 Aug 2024 09:10:27 UTC\n",
        true,
    ))
    .expect("parse");
    assert_eq!(release.origin.as_deref(), Some("Debian"));
    assert_eq!(release.label.as_deref(), Some("Debian"));
    assert_eq!(release.suite.as_deref(), Some("stable"));
    assert_eq!(release.codename.as_deref(), Some("bookworm"));
    assert_eq!(release.version.as_deref(), Some("12.6"));
    assert_eq!(release.date, Some(DATE));
    assert_eq!(release.valid_until, Some(DATE + 7 * DAY));
    assert_eq!(release.architectures, ["all", "amd64", "arm64"]);
    assert_eq!(release.components, ["main", "contrib"]);
    assert!(release.acquire_by_hash);
    assert!(release.no_support_for_architecture_all);
    assert_eq!(release.signed_by, None);
    assert_eq!(release.sha256.len(), 2);
    let entry = release.file("main/binary-amd64/Packages").expect("listed");
    assert_eq!(entry.size, PACKAGES.len() as u64);
    assert_eq!(entry.sha256.as_slice(), Sha256::digest(PACKAGES).as_slice());
    assert!(release.file("main/binary-amd64/Packages.xz").is_none());
}

#[test]
fn freshness_and_suite_checks() {
    let release = unsigned(&release_text(
        "Valid-Until: Sat, 17 Aug 2024 09:10:27 UTC\n",
        true,
    ))
    .expect("parse");
    release.check_dates(DATE).expect("fresh at Date");
    release
        .check_dates(DATE + 7 * DAY)
        .expect("fresh until Valid-Until");
    let error = release
        .check_dates(DATE + 7 * DAY + 1)
        .expect_err("expired");
    assert!(matches!(error, TrustError::Expired { .. }));
    assert_eq!(
        error.to_string(),
        "local/Release: Release expired: Valid-Until 2024-08-17T09:10:27Z is before now \
         (2024-08-17T09:10:28Z)"
    );
    release
        .check_dates(DATE - MAX_FUTURE_SECONDS)
        .expect("within skew");
    let error = release
        .check_dates(DATE - DAY)
        .expect_err("from the future");
    assert!(matches!(error, TrustError::DateInFuture { .. }), "{error}");
    assert!(
        error.to_string().contains("2024-08-10T09:10:27Z"),
        "{error}"
    );

    release.check_suite("bookworm").expect("codename");
    release.check_suite("stable").expect("suite");
    let error = release.check_suite("trixie").expect_err("mismatch");
    assert_eq!(
        error.to_string(),
        "local/Release: conflicting distribution: expected trixie, but the Release says \
         Suite stable, Codename bookworm"
    );

    // Without Valid-Until nothing expires.
    let release = unsigned(&release_text("", true)).expect("parse");
    release
        .check_dates(DATE + 3650 * DAY)
        .expect("no Valid-Until");
}

#[test]
fn rejects_bad_release_files() {
    let check = |text: &str, matcher: fn(&TrustError) -> bool| {
        let error = unsigned(text).expect_err(text);
        assert!(matcher(&error), "{text}: {error}");
        assert!(error.to_string().starts_with("local/Release: "), "{error}");
    };
    check(&release_text("", false), |e| {
        matches!(e, TrustError::NoStrongHash { .. })
    });
    check("", |e| matches!(e, TrustError::MissingField { .. }));
    check(
        &release_text("Valid-Until: tomorrow\n", true),
        |e| matches!(e, TrustError::InvalidField { field, .. } if field == "Valid-Until"),
    );
    let bad_digest = release_text("", true).replace(&hex::encode(Sha256::digest(PACKAGES)), "abcd");
    check(
        &bad_digest,
        |e| matches!(e, TrustError::InvalidField { field, .. } if field == "SHA256"),
    );
    let bad_size = release_text("", true).replace(
        &format!(" {} main/binary-amd64", PACKAGES.len()),
        " -3 main/binary-amd64",
    );
    check(&bad_size, |e| matches!(e, TrustError::InvalidField { .. }));
    let duplicated = format!(
        "{} {} 0 main/binary-arm64/Packages\n",
        release_text("", true),
        hex::encode(Sha256::digest(b""))
    );
    check(&duplicated, |e| {
        matches!(e, TrustError::InvalidField { .. })
    });
    check(&release_text("Acquire-By-Hash: maybe\n", true), |e| {
        matches!(e, TrustError::InvalidField { .. })
    });
    check(" leading continuation\n", |e| {
        matches!(e, TrustError::ReleaseSyntax { .. })
    });
}

#[test]
fn index_checksums() {
    let release = unsigned(&release_text("", true)).expect("parse");
    let path = "main/binary-amd64/Packages";
    verify_file(&release, path, PACKAGES).expect("matches");

    let mut other = PACKAGES.to_vec();
    other[0] = b'p';
    let error = verify_file(&release, path, &other).expect_err("changed byte");
    let message = error.to_string();
    assert!(matches!(error, TrustError::HashMismatch { .. }));
    assert!(message.contains(path), "{message}");
    assert!(
        message.contains(&hex::encode(Sha256::digest(PACKAGES))),
        "{message}"
    );
    assert!(
        message.contains(&hex::encode(Sha256::digest(&other))),
        "{message}"
    );

    assert!(matches!(
        verify_file(&release, path, &PACKAGES[1..]),
        Err(TrustError::SizeMismatch { expected, actual, .. })
            if expected == PACKAGES.len() as u64 && actual == PACKAGES.len() as u64 - 1
    ));
    assert!(matches!(
        verify_file(&release, "main/binary-i386/Packages", PACKAGES),
        Err(TrustError::FileNotListed { .. })
    ));
    verify_file(&release, "main/binary-arm64/Packages", b"").expect("empty file");

    // Streaming, fed a byte at a time and through io::copy.
    let mut streaming = FileVerifier::new(&release, path).expect("listed");
    for byte in PACKAGES {
        streaming.update(std::slice::from_ref(byte));
    }
    assert_eq!(streaming.size(), PACKAGES.len() as u64);
    streaming.finish().expect("streamed");
    let mut streaming = FileVerifier::new(&release, path).expect("listed");
    std::io::copy(&mut &PACKAGES[..], &mut streaming).expect("copy");
    streaming.finish().expect("copied");
    let mut oversized = FileVerifier::new(&release, path).expect("listed");
    let too_long = [PACKAGES, b"more"].concat();
    assert!(oversized.write_all(&too_long).is_err());
    assert!(oversized.is_oversized());
    assert!(matches!(
        oversized.finish(),
        Err(TrustError::SizeMismatch { .. })
    ));
}

/// The signed path end to end: sign with a throwaway Ed25519 key, then
/// `Release::from_inrelease` with different `now`s.
#[test]
fn signed_release_end_to_end() {
    let key = SecretKeyParamsBuilder::default()
        .key_type(KeyType::Ed25519Legacy)
        .can_certify(true)
        .can_sign(true)
        .created_at(Timestamp::from_secs(
            u32::try_from(DATE - DAY).expect("fits"),
        ))
        .primary_user_id("Release test <release@example.invalid>".into())
        .build()
        .expect("params")
        .generate(StdRng::seed_from_u64(42))
        .expect("generate");
    let public = key.to_public_key();
    let keyring =
        Keyring::from_bytes(&public.to_bytes().expect("bytes"), "test.gpg").expect("keyring");
    let text = release_text("Valid-Until: Sat, 17 Aug 2024 09:10:27 UTC\n", true);
    let signed = CleartextSignedMessage::new_many(&text, |normalized| {
        let mut config =
            SignatureConfig::v4(SignatureType::Text, key.algorithm(), HashAlgorithm::Sha512);
        config.hashed_subpackets = vec![
            Subpacket::regular(SubpacketData::SignatureCreationTime(Timestamp::from_secs(
                u32::try_from(DATE + 60).expect("fits"),
            )))?,
            Subpacket::regular(SubpacketData::IssuerFingerprint(key.fingerprint()))?,
        ];
        Ok(vec![config.sign(
            &key.primary_key,
            &Password::empty(),
            normalized.as_bytes(),
        )?])
    })
    .expect("sign")
    .to_armored_bytes(ArmorOptions::default())
    .expect("armor");

    let release = Release::from_inrelease(&signed, &keyring, DATE + DAY, "mirror/InRelease")
        .expect("verified and fresh");
    assert_eq!(
        release.signed_by.as_ref().map(ToString::to_string),
        Some(hex::encode_upper(key.fingerprint().as_bytes()))
    );
    assert_eq!(release.source, "mirror/InRelease");
    verify_file(&release, "main/binary-amd64/Packages", PACKAGES).expect("index");

    // A week later the same file is stale; that the signature is fine does not matter.
    let error = Release::from_inrelease(&signed, &keyring, DATE + 8 * DAY, "mirror/InRelease")
        .expect_err("expired");
    assert!(matches!(error, TrustError::Expired { .. }), "{error}");
    // Before it was signed (beyond the skew) the signature itself is from the future.
    let error = Release::from_inrelease(&signed, &keyring, DATE - DAY, "mirror/InRelease")
        .expect_err("future");
    assert!(
        matches!(error, TrustError::NoValidSignature { .. }),
        "{error}"
    );

    // A signed release without SHA256 verifies but does not parse.
    let weak = release_text("", false);
    let weak_signed = CleartextSignedMessage::new_many(&weak, |normalized| {
        let mut config =
            SignatureConfig::v4(SignatureType::Text, key.algorithm(), HashAlgorithm::Sha256);
        config.hashed_subpackets = vec![
            Subpacket::regular(SubpacketData::SignatureCreationTime(Timestamp::from_secs(
                u32::try_from(DATE).expect("fits"),
            )))?,
            Subpacket::regular(SubpacketData::IssuerFingerprint(key.fingerprint()))?,
        ];
        Ok(vec![config.sign(
            &key.primary_key,
            &Password::empty(),
            normalized.as_bytes(),
        )?])
    })
    .expect("sign")
    .to_armored_bytes(ArmorOptions::default())
    .expect("armor");
    let error = Release::from_inrelease(&weak_signed, &keyring, DATE, "weak/InRelease")
        .expect_err("no SHA256");
    assert!(matches!(error, TrustError::NoStrongHash { .. }), "{error}");
}
