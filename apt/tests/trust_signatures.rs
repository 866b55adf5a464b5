//! Signature policy against throwaway keys made at test time with rPGP, and the same
//! inputs cross-checked with the real `gpgv` (read the way apt's gpgv method reads it).

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use imgbuild_apt::trust::{
    verify_detached, verify_inrelease, Fingerprint, Keyring, SignatureProblem, TrustError,
};
use pgp::composed::{
    ArmorOptions, CleartextSignedMessage, DetachedSignature, KeyType, SecretKeyParamsBuilder,
    SignedPublicKey, SignedSecretKey, SubkeyParamsBuilder,
};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{
    KeyFlags, PacketTrait, Signature, SignatureConfig, SignatureType, Subpacket, SubpacketData,
};
use pgp::ser::Serialize;
use pgp::types::{Duration, KeyDetails, Password, SigningKey, Tag, Timestamp};
use rand::{rngs::StdRng, SeedableRng};

const DAY: i64 = 86_400;

const RELEASE: &str = "\
Origin: Test
Label: Test
Suite: stable
Codename: testing-codename
Date: Sat, 10 Aug 2024 09:10:27 UTC
Architectures: amd64
Components: main
Description: throwaway repository
- dashed line that cleartext signing must escape
SHA256:
 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 main/binary-amd64/Packages
";

fn wall_clock() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or(0)
}

fn timestamp(seconds: i64) -> Timestamp {
    Timestamp::from_secs(u32::try_from(seconds).expect("time fits in u32"))
}

struct Keys {
    now: i64,
    created: i64,
    rsa2048: SignedSecretKey,
    rsa3072_with_subkey: SignedSecretKey,
    ed25519: SignedSecretKey,
    ed25519_nosign_subkey: SignedSecretKey,
    stranger: SignedSecretKey,
    expired: SignedSecretKey,
    expired_public: SignedPublicKey,
    revoked_public: SignedPublicKey,
    revoked: SignedSecretKey,
}

fn generate(
    seed: u64,
    primary: KeyType,
    primary_signs: bool,
    subkey: Option<(KeyType, bool)>,
    created: i64,
) -> SignedSecretKey {
    let mut params = SecretKeyParamsBuilder::default();
    params
        .key_type(primary)
        .can_certify(true)
        .can_sign(primary_signs)
        .created_at(timestamp(created))
        .primary_user_id(format!("Throwaway {seed} <key{seed}@example.invalid>"));
    if let Some((key_type, can_sign)) = subkey {
        let mut sub = SubkeyParamsBuilder::default();
        sub.key_type(key_type)
            .can_sign(can_sign)
            .created_at(timestamp(created));
        params.subkey(sub.build().expect("subkey params"));
    }
    params
        .build()
        .expect("key params")
        .generate(StdRng::seed_from_u64(seed))
        .expect("generate key")
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let now = wall_clock();
        let created = now - 30 * DAY;
        let expired = generate(6, KeyType::Ed25519Legacy, true, None, created);
        let expired_public = with_expiry(&expired, created, 10 * DAY);
        let revoked = generate(7, KeyType::Ed25519Legacy, true, None, created);
        let revoked_public = with_revocation(&revoked, created + DAY);
        Keys {
            now,
            created,
            rsa2048: generate(1, KeyType::Rsa(2048), true, None, created),
            rsa3072_with_subkey: generate(
                2,
                KeyType::Rsa(3072),
                false,
                Some((KeyType::Rsa(2048), true)),
                created,
            ),
            ed25519: generate(3, KeyType::Ed25519Legacy, true, None, created),
            ed25519_nosign_subkey: generate(
                4,
                KeyType::Ed25519Legacy,
                true,
                Some((KeyType::Ed25519Legacy, false)),
                created,
            ),
            stranger: generate(5, KeyType::Ed25519Legacy, true, None, created),
            expired,
            expired_public,
            revoked,
            revoked_public,
        }
    })
}

/// The public certificate with its user ID self-signature replaced by one (made at key
/// creation) that lets the key expire `lifetime` seconds after creation.
fn with_expiry(secret: &SignedSecretKey, created: i64, lifetime: i64) -> SignedPublicKey {
    let mut public = secret.to_public_key();
    let primary = &secret.primary_key;
    let mut config = SignatureConfig::v4(
        SignatureType::CertPositive,
        primary.algorithm(),
        HashAlgorithm::Sha256,
    );
    let mut flags = KeyFlags::default();
    flags.set_certify(true);
    flags.set_sign(true);
    config.hashed_subpackets = vec![
        subpacket(SubpacketData::SignatureCreationTime(timestamp(created))),
        subpacket(SubpacketData::IssuerFingerprint(primary.fingerprint())),
        subpacket(SubpacketData::KeyFlags(flags)),
        subpacket(SubpacketData::KeyExpirationTime(Duration::from_secs(
            u32::try_from(lifetime).expect("lifetime fits"),
        ))),
    ];
    config.unhashed_subpackets = vec![subpacket(SubpacketData::IssuerKeyId(
        primary.legacy_key_id(),
    ))];
    let user = &mut public.details.users[0];
    let certification = config
        .sign_certification(
            primary,
            primary.public_key(),
            &Password::empty(),
            Tag::UserId,
            &user.id,
        )
        .expect("certify");
    user.signatures = vec![certification];
    public
}

/// The public certificate plus a key revocation made at `when`.
fn with_revocation(secret: &SignedSecretKey, when: i64) -> SignedPublicKey {
    let mut public = secret.to_public_key();
    let primary = &secret.primary_key;
    let mut config = SignatureConfig::v4(
        SignatureType::KeyRevocation,
        primary.algorithm(),
        HashAlgorithm::Sha256,
    );
    config.hashed_subpackets = vec![
        subpacket(SubpacketData::SignatureCreationTime(timestamp(when))),
        subpacket(SubpacketData::IssuerFingerprint(primary.fingerprint())),
    ];
    config.unhashed_subpackets = vec![subpacket(SubpacketData::IssuerKeyId(
        primary.legacy_key_id(),
    ))];
    let revocation = config
        .sign_key(primary, &Password::empty(), primary.public_key())
        .expect("revoke");
    public.details.revocation_signatures.push(revocation);
    public
}

fn subpacket(data: SubpacketData) -> Subpacket {
    Subpacket::regular(data).expect("subpacket")
}

fn document_signature(
    key: &dyn SigningKey,
    hash: HashAlgorithm,
    created: i64,
    typ: SignatureType,
    data: &[u8],
) -> Signature {
    let key = Box::new(key);
    let mut config = SignatureConfig::v4(typ, key.algorithm(), hash);
    config.hashed_subpackets = vec![
        subpacket(SubpacketData::SignatureCreationTime(timestamp(created))),
        subpacket(SubpacketData::IssuerFingerprint(key.fingerprint())),
    ];
    config.unhashed_subpackets = vec![subpacket(SubpacketData::IssuerKeyId(key.legacy_key_id()))];
    config
        .sign(&key, &Password::empty(), data)
        .expect("sign document")
}

/// One signer of a cleartext message: key, hash, creation time, and the text it signs
/// (`None`: the message's own text).
struct Signer<'a> {
    key: &'a dyn SigningKey,
    hash: HashAlgorithm,
    created: i64,
    other_text: Option<&'a str>,
}

fn signer(key: &dyn SigningKey, created: i64) -> Signer<'_> {
    Signer {
        key,
        hash: HashAlgorithm::Sha256,
        created,
        other_text: None,
    }
}

fn clearsign(text: &str, signers: &[Signer<'_>]) -> Vec<u8> {
    let message = CleartextSignedMessage::new_many(text, |normalized| {
        Ok(signers
            .iter()
            .map(|signer| {
                let other = signer
                    .other_text
                    .map(|other| other.replace('\n', "\r\n").trim_end().to_string());
                let data = other.as_deref().unwrap_or(normalized);
                document_signature(
                    signer.key,
                    signer.hash,
                    signer.created,
                    SignatureType::Text,
                    data.as_bytes(),
                )
            })
            .collect())
    })
    .expect("clearsign");
    message
        .to_armored_bytes(ArmorOptions::default())
        .expect("armor")
}

fn keyring_bytes(certificates: &[&SignedPublicKey]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for certificate in certificates {
        certificate.to_writer(&mut bytes).expect("serialize key");
    }
    bytes
}

fn keyring(certificates: &[&SignedPublicKey]) -> Keyring {
    Keyring::from_bytes(&keyring_bytes(certificates), "test keyring").expect("keyring")
}

/// What the test expects from our verifier.
#[derive(Debug, Clone, Copy)]
enum Expect {
    Accept,
    /// Rejected: a policy problem (the matcher names which).
    Reject(fn(&TrustError) -> bool),
}

struct Case {
    name: &'static str,
    inrelease: Vec<u8>,
    keyring: Vec<SignedPublicKey>,
    now: i64,
    expect: Expect,
    /// Whether gpgv (which checks at the real current time and does not know apt's
    /// weak-digest rule on its own) decides this case; apt's reading of gpgv is applied.
    gpgv: bool,
}

fn no_valid(problem: fn(&SignatureProblem) -> bool) -> impl Fn(&TrustError) -> bool {
    move |error| match error {
        TrustError::NoValidSignature { reports, .. } => {
            reports.iter().any(|report| problem(&report.problem))
        }
        _ => false,
    }
}

fn is_unknown_key(error: &TrustError) -> bool {
    no_valid(|p| *p == SignatureProblem::UnknownKey)(error)
}
fn is_bad(error: &TrustError) -> bool {
    matches!(error, TrustError::BadSignature { .. })
}
fn is_weak_hash(error: &TrustError) -> bool {
    no_valid(|p| matches!(p, SignatureProblem::WeakHash(hash) if hash == "SHA1"))(error)
}
fn is_expired_key(error: &TrustError) -> bool {
    no_valid(|p| matches!(p, SignatureProblem::KeyExpired { .. }))(error)
}
fn is_expired_at_creation(error: &TrustError) -> bool {
    no_valid(
        |p| matches!(p, SignatureProblem::KeyExpired { expired, checked, .. } if checked < &(expired + 30 * DAY) && checked > expired && *checked == keys().created + 20 * DAY),
    )(error)
}
fn is_revoked(error: &TrustError) -> bool {
    no_valid(|p| matches!(p, SignatureProblem::Revoked { .. }))(error)
}
fn is_not_signing(error: &TrustError) -> bool {
    no_valid(|p| matches!(p, SignatureProblem::NotSigningCapable { .. }))(error)
}
fn is_future(error: &TrustError) -> bool {
    no_valid(|p| matches!(p, SignatureProblem::CreatedInFuture { .. }))(error)
}

fn cases() -> Vec<Case> {
    let keys = keys();
    let now = keys.now;
    let signed_at = now - DAY;
    let public = |key: &SignedSecretKey| key.to_public_key();
    let rsa_subkey = &keys.rsa3072_with_subkey.secret_subkeys[0].key;
    let nosign_subkey = &keys.ed25519_nosign_subkey.secret_subkeys[0].key;
    let good_rsa = clearsign(RELEASE, &[signer(&keys.rsa2048.primary_key, signed_at)]);
    let mut tampered = good_rsa.clone();
    let position = tampered
        .windows(6)
        .position(|window| window == b"amd64\n")
        .expect("amd64 in text");
    tampered[position] = b'A';
    let sha1 = Signer {
        hash: HashAlgorithm::Sha1,
        ..signer(&keys.rsa2048.primary_key, signed_at)
    };
    let other_text = Signer {
        other_text: Some("Origin: Evil\n"),
        ..signer(&keys.ed25519.primary_key, signed_at)
    };
    vec![
        Case {
            name: "good RSA 2048",
            inrelease: good_rsa.clone(),
            keyring: vec![public(&keys.rsa2048)],
            now,
            expect: Expect::Accept,
            gpgv: true,
        },
        Case {
            name: "good Ed25519",
            inrelease: clearsign(RELEASE, &[signer(&keys.ed25519.primary_key, signed_at)]),
            keyring: vec![public(&keys.ed25519), public(&keys.rsa2048)],
            now,
            expect: Expect::Accept,
            gpgv: true,
        },
        Case {
            name: "RSA 2048 signing subkey of an RSA 3072 primary",
            inrelease: clearsign(RELEASE, &[signer(rsa_subkey, signed_at)]),
            keyring: vec![public(&keys.rsa3072_with_subkey)],
            now,
            expect: Expect::Accept,
            gpgv: true,
        },
        Case {
            name: "certify-only RSA 3072 primary signs",
            inrelease: clearsign(
                RELEASE,
                &[signer(&keys.rsa3072_with_subkey.primary_key, signed_at)],
            ),
            keyring: vec![public(&keys.rsa3072_with_subkey)],
            now,
            expect: Expect::Reject(is_not_signing),
            gpgv: false,
        },
        Case {
            name: "subkey without the signing flag",
            inrelease: clearsign(RELEASE, &[signer(nosign_subkey, signed_at)]),
            keyring: vec![public(&keys.ed25519_nosign_subkey)],
            now,
            expect: Expect::Reject(is_not_signing),
            gpgv: false,
        },
        Case {
            name: "key not in keyring",
            inrelease: clearsign(RELEASE, &[signer(&keys.stranger.primary_key, signed_at)]),
            keyring: vec![public(&keys.rsa2048), public(&keys.ed25519)],
            now,
            expect: Expect::Reject(is_unknown_key),
            gpgv: true,
        },
        Case {
            name: "tampered text",
            inrelease: tampered,
            keyring: vec![public(&keys.rsa2048)],
            now,
            expect: Expect::Reject(is_bad),
            gpgv: true,
        },
        Case {
            name: "SHA-1 signature",
            inrelease: clearsign(RELEASE, &[sha1]),
            keyring: vec![public(&keys.rsa2048)],
            now,
            expect: Expect::Reject(is_weak_hash),
            gpgv: true,
        },
        Case {
            name: "unknown signature next to a good one",
            inrelease: clearsign(
                RELEASE,
                &[
                    signer(&keys.stranger.primary_key, signed_at),
                    signer(rsa_subkey, signed_at),
                ],
            ),
            keyring: vec![public(&keys.rsa3072_with_subkey)],
            now,
            expect: Expect::Accept,
            gpgv: true,
        },
        Case {
            name: "bad signature by a keyring key next to a good one",
            inrelease: clearsign(
                RELEASE,
                &[signer(&keys.rsa2048.primary_key, signed_at), other_text],
            ),
            keyring: vec![public(&keys.rsa2048), public(&keys.ed25519)],
            now,
            expect: Expect::Reject(is_bad),
            gpgv: true,
        },
        Case {
            name: "key expired after signing (checked now)",
            inrelease: clearsign(
                RELEASE,
                &[signer(&keys.expired.primary_key, keys.created + DAY)],
            ),
            keyring: vec![keys.expired_public.clone()],
            now,
            expect: Expect::Reject(is_expired_key),
            gpgv: true,
        },
        Case {
            name: "same signature while the key was still valid",
            inrelease: clearsign(
                RELEASE,
                &[signer(&keys.expired.primary_key, keys.created + DAY)],
            ),
            keyring: vec![keys.expired_public.clone()],
            now: keys.created + 2 * DAY,
            expect: Expect::Accept,
            gpgv: false,
        },
        Case {
            name: "signature made after the key expired",
            inrelease: clearsign(
                RELEASE,
                &[signer(&keys.expired.primary_key, keys.created + 20 * DAY)],
            ),
            keyring: vec![keys.expired_public.clone()],
            now: keys.created + 20 * DAY,
            expect: Expect::Reject(is_expired_at_creation),
            gpgv: false,
        },
        Case {
            name: "revoked key",
            inrelease: clearsign(RELEASE, &[signer(&keys.revoked.primary_key, signed_at)]),
            keyring: vec![keys.revoked_public.clone()],
            now,
            expect: Expect::Reject(is_revoked),
            gpgv: true,
        },
        Case {
            name: "signature from the future",
            inrelease: clearsign(RELEASE, &[signer(&keys.ed25519.primary_key, now + DAY)]),
            keyring: vec![public(&keys.ed25519)],
            now,
            expect: Expect::Reject(is_future),
            gpgv: false,
        },
    ]
}

fn run(case: &Case) -> Result<imgbuild_apt::trust::Verified, TrustError> {
    let certificates: Vec<&SignedPublicKey> = case.keyring.iter().collect();
    verify_inrelease(
        &case.inrelease,
        &keyring(&certificates),
        case.now,
        case.name,
    )
}

#[test]
fn signature_policy_cases() {
    let mut failures = Vec::new();
    for case in cases() {
        let outcome = run(&case);
        let ok = match (&case.expect, &outcome) {
            (Expect::Accept, Ok(verified)) => verified.text() == RELEASE,
            (Expect::Reject(matcher), Err(error)) => matcher(error),
            _ => false,
        };
        if !ok {
            failures.push(format!("{}: got {outcome:?}", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn accepted_result_names_signer_and_primary() {
    let keys = keys();
    let subkey = &keys.rsa3072_with_subkey.secret_subkeys[0].key;
    let bytes = clearsign(RELEASE, &[signer(subkey, keys.now - 60)]);
    let certificate = keys.rsa3072_with_subkey.to_public_key();
    let verified = verify_inrelease(&bytes, &keyring(&[&certificate]), keys.now, "InRelease")
        .expect("verifies");
    let primary_hex = hex::encode_upper(certificate.fingerprint().as_bytes());
    let subkey_hex = hex::encode_upper(subkey.fingerprint().as_bytes());
    assert_eq!(verified.primary().to_string(), primary_hex);
    assert_eq!(verified.signer().to_string(), subkey_hex);
    assert_eq!(verified.signed_at(), keys.now - 60);
    assert_eq!(verified.text(), RELEASE);
    assert!(verified.text().contains("\n- dashed line"));
}

#[test]
fn no_valid_signature_error_lists_issuers() {
    let keys = keys();
    let bytes = clearsign(
        RELEASE,
        &[
            signer(&keys.stranger.primary_key, keys.now - 60),
            signer(&keys.expired.primary_key, keys.created + DAY),
        ],
    );
    let error = verify_inrelease(
        &bytes,
        &keyring(&[&keys.expired_public]),
        keys.now,
        "mirror/dists/x/InRelease",
    )
    .expect_err("rejected");
    let message = error.to_string();
    let stranger = hex::encode_upper(keys.stranger.fingerprint().as_bytes());
    let expired = hex::encode_upper(keys.expired.fingerprint().as_bytes());
    assert!(
        message.starts_with("mirror/dists/x/InRelease: "),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "{stranger} (not in keyring): public key not available"
        )),
        "{message}"
    );
    assert!(
        message.contains(&format!("{expired} (in keyring): key {expired} expired")),
        "{message}"
    );
}

#[test]
fn restricted_keyring_scopes_trust() {
    let keys = keys();
    let bytes = clearsign(RELEASE, &[signer(&keys.ed25519.primary_key, keys.now - 60)]);
    let full = keyring(&[&keys.ed25519.to_public_key(), &keys.rsa2048.to_public_key()]);
    let rsa_only = full.restricted_to(&[Fingerprint::from_hex(&hex::encode(
        keys.rsa2048.fingerprint().as_bytes(),
    ))
    .expect("fingerprint")]);
    assert_eq!(rsa_only.len(), 1);
    assert!(verify_inrelease(&bytes, &full, keys.now, "x").is_ok());
    assert!(verify_inrelease(&bytes, &rsa_only, keys.now, "x").is_err());
}

#[test]
fn detached_release_signatures() {
    let keys = keys();
    let release = RELEASE.as_bytes();
    let good = document_signature(
        &keys.rsa2048.primary_key,
        HashAlgorithm::Sha512,
        keys.now - 60,
        SignatureType::Binary,
        release,
    );
    let unknown = document_signature(
        &keys.stranger.primary_key,
        HashAlgorithm::Sha256,
        keys.now - 60,
        SignatureType::Binary,
        release,
    );
    let mut binary = Vec::new();
    unknown
        .to_writer_with_header(&mut binary)
        .expect("serialize");
    good.to_writer_with_header(&mut binary).expect("serialize");
    let armored = DetachedSignature::new(good.clone())
        .to_armored_bytes(ArmorOptions::default())
        .expect("armor");
    let ring = keyring(&[&keys.rsa2048.to_public_key()]);
    for signature in [&binary, &armored] {
        let verified =
            verify_detached(release, signature, &ring, keys.now, "Release").expect("verifies");
        assert_eq!(verified.text(), RELEASE);
    }
    let mut changed = release.to_vec();
    changed[0] = b'o';
    assert!(matches!(
        verify_detached(&changed, &armored, &ring, keys.now, "Release"),
        Err(TrustError::BadSignature { .. })
    ));
    assert!(matches!(
        verify_detached(release, b"not a signature", &ring, keys.now, "Release"),
        Err(TrustError::Malformed { .. })
    ));
    if let Some(gpgv) = Gpgv::find() {
        let directory = tempfile::tempdir().expect("tempdir");
        let keyring_path = directory.path().join("keyring.gpg");
        std::fs::write(
            &keyring_path,
            keyring_bytes(&[&keys.rsa2048.to_public_key()]),
        )
        .expect("write");
        std::fs::write(directory.path().join("Release"), release).expect("write");
        std::fs::write(directory.path().join("Release.gpg"), &binary).expect("write");
        std::fs::write(directory.path().join("Changed"), &changed).expect("write");
        let good = gpgv.apt_accepts(directory.path(), &keyring_path, &["Release.gpg", "Release"]);
        let bad = gpgv.apt_accepts(directory.path(), &keyring_path, &["Release.gpg", "Changed"]);
        assert!(good && !bad, "gpgv: good {good}, changed {bad}");
    }
}

#[test]
fn malformed_inputs_are_errors_not_panics() {
    let keys = keys();
    let ring = keyring(&[&keys.ed25519.to_public_key()]);
    let good = clearsign(RELEASE, &[signer(&keys.ed25519.primary_key, keys.now - 60)]);
    let inputs: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"Origin: Debian\n".to_vec(),
        b"-----BEGIN PGP SIGNED MESSAGE-----\n".to_vec(),
        vec![0xff, 0xfe, 0x00],
        [b"leading junk\n".as_slice(), &good].concat(),
        good[..good.len() / 2].to_vec(),
        [good.as_slice(), b"trailing junk\n"].concat(),
    ];
    for input in inputs {
        match verify_inrelease(&input, &ring, keys.now, "junk") {
            Err(TrustError::Malformed { label, .. }) => assert_eq!(label, "junk"),
            other => panic!("{:?} gave {other:?}", String::from_utf8_lossy(&input)),
        }
    }
    assert!(Keyring::from_bytes(b"", "empty").is_err());
    assert!(Keyring::from_bytes(b"garbage", "garbage").is_err());
    assert!(Keyring::from_bytes(&[0x99, 0x01, 0x02], "truncated").is_err());
}

#[test]
fn armored_keyring_with_several_keys() {
    let keys = keys();
    let mut armored = Vec::new();
    for key in [&keys.ed25519, &keys.rsa2048] {
        armored.extend(
            key.to_public_key()
                .to_armored_bytes(ArmorOptions::default())
                .expect("armor"),
        );
        armored.push(b'\n');
    }
    let ring = Keyring::from_bytes(&armored, "two.asc").expect("armored keyring");
    assert_eq!(ring.len(), 2);
    let directory = tempfile::tempdir().expect("tempdir");
    let asc = directory.path().join("two.asc");
    let gpg = directory.path().join("one.gpg");
    std::fs::write(&asc, &armored).expect("write");
    std::fs::write(&gpg, keyring_bytes(&[&keys.stranger.to_public_key()])).expect("write");
    let ring = Keyring::from_files(&[asc, gpg.clone()]).expect("files");
    let expected: Vec<String> = [&keys.ed25519, &keys.rsa2048, &keys.stranger]
        .iter()
        .map(|key| hex::encode_upper(key.fingerprint().as_bytes()))
        .collect();
    let listed: Vec<String> = ring
        .fingerprints()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(listed, expected);
    let missing = directory.path().join("missing.gpg");
    let error = Keyring::from_files(&[missing]).expect_err("missing file");
    assert!(error.to_string().contains("missing.gpg"), "{error}");
}

/// The real `gpgv`, read the way apt's gpgv method reads it: accepted iff some
/// `GOODSIG` whose `VALIDSIG` uses a trusted digest (not MD5/SHA-1/RIPEMD-160) and no
/// `BADSIG`. (`EXPKEYSIG`/`REVKEYSIG` are not `GOODSIG`.)
struct Gpgv;

impl Gpgv {
    /// `gpgv`, or `None` once `imgbuild_test_support` reported it missing.
    fn find() -> Option<Gpgv> {
        imgbuild_test_support::require_tool("gpgv").map(|_| Gpgv)
    }

    fn apt_accepts(&self, directory: &Path, keyring: &Path, files: &[&str]) -> bool {
        let home = directory.join("gnupg-home");
        std::fs::create_dir_all(&home).expect("gnupg home");
        let output = Command::new("gpgv")
            .arg("--homedir")
            .arg(&home)
            .args(["--status-fd", "1", "--keyring"])
            .arg(keyring)
            .args(files.iter().map(|file| directory.join(file)))
            .output()
            .expect("run gpgv");
        let status = String::from_utf8_lossy(&output.stdout);
        let mut good = Vec::new();
        let mut untrusted = Vec::new();
        let mut bad = false;
        for line in status.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.get(1).copied() {
                Some("BADSIG") => bad = true,
                Some("GOODSIG") => good.extend(words.get(2).map(|id| id.to_string())),
                Some("VALIDSIG") => {
                    let digest = words.get(9).copied().unwrap_or("0");
                    if ["0", "1", "2", "3"].contains(&digest) {
                        untrusted.extend(words.get(2).map(|fpr| fpr.to_string()));
                    }
                }
                _ => {}
            }
        }
        good.retain(|long_id| !untrusted.iter().any(|fpr| fpr.ends_with(long_id.as_str())));
        !good.is_empty() && !bad
    }
}

#[test]
fn gpgv_agrees_on_the_cases_it_decides() {
    let gpgv = imgbuild_test_support::require!(Gpgv::find());
    let directory = tempfile::tempdir().expect("tempdir");
    let mut compared = 0;
    let mut disagreements = Vec::new();
    for (index, case) in cases().iter().enumerate().filter(|(_, case)| case.gpgv) {
        let keyring_path = directory.path().join(format!("keyring{index}.gpg"));
        let certificates: Vec<&SignedPublicKey> = case.keyring.iter().collect();
        std::fs::write(&keyring_path, keyring_bytes(&certificates)).expect("write keyring");
        let file = format!("InRelease{index}");
        std::fs::write(directory.path().join(&file), &case.inrelease).expect("write");
        let theirs = gpgv.apt_accepts(directory.path(), &keyring_path, &[&file]);
        let ours = run(case).is_ok();
        compared += 1;
        if theirs != ours {
            disagreements.push(format!("{}: gpgv/apt {theirs}, ours {ours}", case.name));
            if std::env::var_os("TRUST_DEBUG").is_some() {
                let _ = std::fs::copy(&keyring_path, format!("/tmp/trust-debug-{index}.gpg"));
                let _ = std::fs::write(format!("/tmp/trust-debug-{index}.txt"), &case.inrelease);
            }
        }
    }
    assert!(compared >= 9);
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}
