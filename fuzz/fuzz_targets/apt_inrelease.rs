//! `InRelease` and `Release`: the cleartext-signed message parser and signature
//! checks (`verify_inrelease`, `verify_detached`), the `Release` field parser, date
//! parsing and keyring parsing, on arbitrary bytes.
//!
//! The parser is fuzzed without needing a valid signature: the input is also parsed
//! as a `Release` directly and as the body of a cleartext message. And the input text
//! is clearsigned with a throwaway key made here, then verified against a keyring
//! holding that key: a file we signed must verify, and its verified text must be the
//! input with trailing blanks removed and a final newline.

#![no_main]

use std::sync::OnceLock;

use imgbuild_apt::trust::date::{format_iso8601, parse_rfc2822};
use imgbuild_apt::trust::{verify_detached, verify_inrelease, Keyring, Release};
use libfuzzer_sys::fuzz_target;
use pgp::composed::{
    ArmorOptions, CleartextSignedMessage, KeyType, SecretKeyParamsBuilder, SignedSecretKey,
};
use pgp::ser::Serialize;
use pgp::types::{Password, Timestamp};
use rand::{rngs::StdRng, SeedableRng};

struct Fixture {
    key: SignedSecretKey,
    keyring: Keyring,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let mut params = SecretKeyParamsBuilder::default();
        params
            .key_type(KeyType::Ed25519Legacy)
            .can_certify(true)
            .can_sign(true)
            .created_at(Timestamp::from_secs(1_600_000_000))
            .primary_user_id("Fuzz <fuzz@example.invalid>".into());
        let key = params
            .build()
            .expect("key parameters")
            .generate(StdRng::seed_from_u64(10))
            .expect("key");
        let mut bytes = Vec::new();
        key.to_public_key()
            .to_writer(&mut bytes)
            .expect("serialized key");
        let keyring = Keyring::from_bytes(&bytes, "fuzz keyring").expect("keyring");
        Fixture { key, keyring }
    })
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or(0)
}

/// Exercises a parsed release: its checks must not panic.
fn use_release(release: &Release) {
    for now in [i64::MIN, 0, 1_700_000_000, i64::MAX] {
        let _ = release.check_dates(now);
    }
    let _ = release.check_suite("bookworm");
    for path in release.sha256.keys().take(4) {
        let _ = release.file(path);
        let _ = imgbuild_apt::trust::verify_file(release, path, b"");
    }
    if let Some(date) = release.date {
        let _ = format_iso8601(date);
    }
    if let Some(date) = release.valid_until {
        let _ = format_iso8601(date);
    }
}

/// The text `verify_inrelease` must return for a clearsigned `text`.
fn expected_verified_text(text: &str) -> String {
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        let line = line.strip_suffix('\n').unwrap_or(line);
        out.push_str(line.trim_end_matches([' ', '\t']));
        out.push('\n');
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let fixture = fixture();
    let now = now();

    // Signed file as given (a mutated seed has a bad signature: only the parser runs).
    if let Ok(verified) = verify_inrelease(data, &fixture.keyring, now, "fuzz InRelease") {
        if let Ok(release) = Release::from_verified(&verified) {
            use_release(&release);
        }
    }
    let _ = Keyring::from_bytes(data, "fuzz keyring bytes");
    if let Some(split) = data.iter().position(|&byte| byte == 0) {
        let _ = verify_detached(
            &data[..split],
            &data[split + 1..],
            &fixture.keyring,
            now,
            "fuzz",
        );
    }

    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The Release parser on its own, and on the body of a cleartext message.
    if let Ok(release) = Release::parse_unsigned(text, "fuzz Release") {
        use_release(&release);
    }
    if let Ok((message, _headers)) = CleartextSignedMessage::from_string(text) {
        if let Ok(release) = Release::parse_unsigned(message.text(), "fuzz cleartext") {
            use_release(&release);
        }
    }
    for line in text.lines().take(8) {
        if let Some(seconds) = parse_rfc2822(line) {
            let _ = format_iso8601(seconds);
        }
    }

    // Our own signature over the text must verify. rPGP's `sign` hashes trailing
    // blanks that the cleartext framework (RFC 9580 7.1) and GnuPG leave out, so they
    // are removed before signing, as GnuPG would.
    if text.contains('\r') {
        return;
    }
    let signed_text = expected_verified_text(text);
    let message = CleartextSignedMessage::sign(
        StdRng::seed_from_u64(0),
        &signed_text,
        &fixture.key.primary_key,
        &Password::empty(),
    )
    .expect("clearsign");
    let armored = message
        .to_armored_bytes(ArmorOptions::default())
        .expect("armor");
    let verified = match verify_inrelease(&armored, &fixture.keyring, now + 1, "fuzz signed") {
        Ok(verified) => verified,
        Err(error) => panic!("a file signed by a trusted key does not verify: {error}"),
    };
    assert_eq!(
        verified.text(),
        expected_verified_text(text),
        "verified text"
    );
    let signed = Release::from_verified(&verified);
    if let Ok(release) = &signed {
        use_release(release);
    }
});
