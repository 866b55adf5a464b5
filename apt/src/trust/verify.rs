//! Signature verification of `InRelease` (cleartext-signed) and `Release` + `Release.gpg`
//! (detached) against a [`Keyring`], with the policy described in the [module
//! docs](super).
//!
//! rPGP answers only "does this signature verify with this key"; everything else —
//! choosing the key by issuer, subkey binding and cross-certification, key flags,
//! expiry and revocation, hash algorithm and time checks — is done here.

use std::fmt;
use std::io::Read as _;

use pgp::composed::{CleartextSignedMessage, SignedPublicKey, SignedPublicSubKey};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{Packet, PacketParser, PacketTrait, Signature, SignatureType, SubpacketData};
use pgp::types::{KeyDetails, Tag};

use super::date::format_iso8601;
use super::keyring::{Fingerprint, Keyring};
use super::{TrustError, MAX_FUTURE_SECONDS};

/// A successfully verified signed `Release` text.
///
/// Only [`verify_inrelease`] and [`verify_detached`] make one, so holding a `Verified`
/// means a trusted key signed [`Verified::text`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    text: String,
    signer: Fingerprint,
    primary: Fingerprint,
    signed_at: i64,
    label: String,
}

impl Verified {
    /// The signed text. For `InRelease`: dash-escaping undone, trailing spaces and tabs
    /// removed from each line (the signature does not cover them), line endings `\n`,
    /// ending in `\n`. For a detached signature: the `Release` bytes unchanged.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Fingerprint of the key (primary or subkey) whose signature verified.
    pub fn signer(&self) -> &Fingerprint {
        &self.signer
    }

    /// Fingerprint of that key's certificate (its primary key).
    pub fn primary(&self) -> &Fingerprint {
        &self.primary
    }

    /// Creation time of the accepted signature, unix seconds.
    pub fn signed_at(&self) -> i64 {
        self.signed_at
    }

    /// The label the caller gave (a file name or URL), for later messages.
    pub fn label(&self) -> &str {
        &self.label
    }
}

/// Why one signature did not count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureReport {
    /// The issuer as the signature names it: a fingerprint, else `key ID <16 hex>`.
    pub issuer: String,
    /// Whether a key of the keyring matched the issuer.
    pub in_keyring: bool,
    /// What was wrong.
    pub problem: SignatureProblem,
}

impl fmt::Display for SignatureReport {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let place = if self.in_keyring {
            "in keyring"
        } else {
            "not in keyring"
        };
        write!(formatter, "{} ({place}): {}", self.issuer, self.problem)
    }
}

/// The policy rule a signature broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureProblem {
    /// No key of the keyring has the issuer's fingerprint or key ID.
    UnknownKey,
    /// The signature names no issuer at all.
    NoIssuer,
    /// Not a signature over a document (type 0x00 or 0x01).
    NotADocumentSignature(String),
    /// MD5, SHA-1, RIPEMD-160 or an unknown hash (apt refuses SHA-1 since 2.x).
    WeakHash(String),
    /// The signature has no creation time.
    NoCreationTime,
    /// Made more than [`MAX_FUTURE_SECONDS`] after `now`.
    CreatedInFuture {
        /// Signature creation, unix seconds.
        created: i64,
        /// The caller's now.
        now: i64,
    },
    /// The signature's own expiration time has passed.
    SignatureExpired {
        /// When it expired, unix seconds.
        expired: i64,
    },
    /// The key was created after the signature claims to have been made.
    KeyNewerThanSignature {
        /// The key.
        key: Fingerprint,
    },
    /// The certificate has no valid self-signature (user ID or direct-key).
    NoSelfSignature {
        /// The primary key.
        key: Fingerprint,
    },
    /// The subkey has no valid binding signature from its primary.
    NoBinding {
        /// The subkey.
        key: Fingerprint,
    },
    /// A signing subkey lacks a valid primary-key binding (back) signature.
    NoCrossCertification {
        /// The subkey.
        key: Fingerprint,
    },
    /// The key's flags do not allow signing data.
    NotSigningCapable {
        /// The key.
        key: Fingerprint,
    },
    /// The key (or its primary) is revoked.
    Revoked {
        /// The revoked key.
        key: Fingerprint,
    },
    /// The key (or its primary) had expired at the time checked.
    KeyExpired {
        /// The expired key.
        key: Fingerprint,
        /// Expiry, unix seconds.
        expired: i64,
        /// The time checked: the signature's creation or the caller's now.
        checked: i64,
    },
    /// The cryptographic check failed.
    Invalid(String),
}

impl fmt::Display for SignatureProblem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignatureProblem::UnknownKey => write!(formatter, "public key not available"),
            SignatureProblem::NoIssuer => write!(formatter, "signature names no issuer"),
            SignatureProblem::NotADocumentSignature(kind) => {
                write!(formatter, "not a document signature ({kind})")
            }
            SignatureProblem::WeakHash(hash) => {
                write!(formatter, "weak or unsupported digest algorithm {hash}")
            }
            SignatureProblem::NoCreationTime => write!(formatter, "no signature creation time"),
            SignatureProblem::CreatedInFuture { created, now } => write!(
                formatter,
                "signature made {} is in the future (now {})",
                format_iso8601(*created),
                format_iso8601(*now)
            ),
            SignatureProblem::SignatureExpired { expired } => {
                write!(formatter, "signature expired {}", format_iso8601(*expired))
            }
            SignatureProblem::KeyNewerThanSignature { key } => {
                write!(formatter, "key {key} was created after the signature")
            }
            SignatureProblem::NoSelfSignature { key } => {
                write!(formatter, "key {key} has no valid self-signature")
            }
            SignatureProblem::NoBinding { key } => {
                write!(formatter, "subkey {key} has no valid binding signature")
            }
            SignatureProblem::NoCrossCertification { key } => write!(
                formatter,
                "signing subkey {key} has no valid back-signature to its primary"
            ),
            SignatureProblem::NotSigningCapable { key } => {
                write!(formatter, "key {key} is not allowed to sign (key flags)")
            }
            SignatureProblem::Revoked { key } => write!(formatter, "key {key} is revoked"),
            SignatureProblem::KeyExpired {
                key,
                expired,
                checked,
            } => write!(
                formatter,
                "key {key} expired {} (checked at {})",
                format_iso8601(*expired),
                format_iso8601(*checked)
            ),
            SignatureProblem::Invalid(reason) => write!(formatter, "BAD signature: {reason}"),
        }
    }
}

/// Verifies a cleartext-signed `InRelease` file.
///
/// `now` is unix seconds (the library never reads the clock); `label` names the file or
/// URL in errors.
pub fn verify_inrelease(
    bytes: &[u8],
    keyring: &Keyring,
    now: i64,
    label: &str,
) -> Result<Verified, TrustError> {
    let malformed = |reason: String| TrustError::Malformed {
        label: label.to_string(),
        reason,
    };
    let text = std::str::from_utf8(bytes).map_err(|_| malformed("not UTF-8".into()))?;
    let (message, _headers) = CleartextSignedMessage::from_string(text)
        .map_err(|error| malformed(format!("not a cleartext-signed message: {error}")))?;
    let signed = message.signed_text();
    let mut verified = decide(message.signatures(), signed.as_bytes(), keyring, now, label)?;
    verified.text = unescaped_text(message.text());
    Ok(verified)
}

/// Verifies a `Release` file against its detached signature (`Release.gpg`, armored or
/// binary, possibly several signatures).
pub fn verify_detached(
    release: &[u8],
    signature: &[u8],
    keyring: &Keyring,
    now: i64,
    label: &str,
) -> Result<Verified, TrustError> {
    let malformed = |reason: String| TrustError::Malformed {
        label: label.to_string(),
        reason,
    };
    let text = std::str::from_utf8(release)
        .map_err(|_| malformed("Release is not UTF-8".into()))?
        .to_string();
    let binary = match signature.iter().find(|byte| !byte.is_ascii_whitespace()) {
        Some(first) if first & 0x80 != 0 => signature.to_vec(),
        _ => {
            let armored = std::str::from_utf8(signature)
                .map_err(|_| malformed("signature is neither binary nor armor".into()))?;
            let mut dearmor = pgp::armor::Dearmor::new(armored.as_bytes());
            let mut data = Vec::new();
            dearmor
                .read_to_end(&mut data)
                .map_err(|error| malformed(format!("signature armor: {error}")))?;
            if dearmor.typ != Some(pgp::armor::BlockType::Signature) {
                return Err(malformed("armor is not a PGP SIGNATURE block".into()));
            }
            data
        }
    };
    let mut signatures = Vec::new();
    for packet in PacketParser::new(binary.as_slice()) {
        match packet {
            Ok(Packet::Signature(signature)) => signatures.push(signature),
            Ok(other) => {
                return Err(malformed(format!(
                    "unexpected {:?} packet in detached signature",
                    other.tag()
                )))
            }
            Err(error) => return Err(malformed(format!("signature packet: {error}"))),
        }
    }
    if signatures.is_empty() {
        return Err(malformed("no signature packet".into()));
    }
    let mut verified = decide(&signatures, release, keyring, now, label)?;
    verified.text = text;
    Ok(verified)
}

/// apt's rule over all signatures: at least one good one, and no cryptographically bad
/// one by a key of the keyring. Signatures by unknown keys and signatures that verify
/// but break the policy (expired, revoked, weak hash...) are ignored when another
/// signature is good.
fn decide(
    signatures: &[Signature],
    data: &[u8],
    keyring: &Keyring,
    now: i64,
    label: &str,
) -> Result<Verified, TrustError> {
    if signatures.is_empty() {
        return Err(TrustError::Malformed {
            label: label.to_string(),
            reason: "no signature".into(),
        });
    }
    let mut good = None;
    let mut reports = Vec::new();
    for signature in signatures {
        match evaluate(signature, data, keyring, now) {
            Ok(verified) => {
                good.get_or_insert(verified);
            }
            Err(report) => {
                if matches!(report.problem, SignatureProblem::Invalid(_)) {
                    return Err(TrustError::BadSignature {
                        label: label.to_string(),
                        issuer: report.issuer,
                        reason: report.problem.to_string(),
                    });
                }
                reports.push(report);
            }
        }
    }
    match good {
        Some((signer, primary, signed_at)) => Ok(Verified {
            text: String::new(),
            signer,
            primary,
            signed_at,
            label: label.to_string(),
        }),
        None => Err(TrustError::NoValidSignature {
            label: label.to_string(),
            reports,
        }),
    }
}

/// A key of the keyring that may have made a signature.
enum Candidate<'a> {
    Primary(&'a SignedPublicKey),
    Subkey(&'a SignedPublicKey, &'a SignedPublicSubKey),
}

fn evaluate(
    signature: &Signature,
    data: &[u8],
    keyring: &Keyring,
    now: i64,
) -> Result<(Fingerprint, Fingerprint, i64), SignatureReport> {
    let issuer = issuer_name(signature);
    let candidates = candidates(signature, keyring);
    let report = |in_keyring: bool, problem: SignatureProblem| SignatureReport {
        issuer: issuer.clone(),
        in_keyring,
        problem,
    };
    if signature.issuer_fingerprint().is_empty() && signature.issuer_key_id().is_empty() {
        return Err(report(false, SignatureProblem::NoIssuer));
    }
    if candidates.is_empty() {
        return Err(report(false, SignatureProblem::UnknownKey));
    }
    match signature.typ() {
        Some(SignatureType::Binary | SignatureType::Text) => {}
        other => {
            return Err(report(
                true,
                SignatureProblem::NotADocumentSignature(format!("{other:?}")),
            ))
        }
    }
    let hash = signature.hash_alg();
    if !hash.is_some_and(is_strong_hash) {
        let name = hash.map_or_else(|| "unknown".to_string(), |hash| hash.to_string());
        return Err(report(true, SignatureProblem::WeakHash(name)));
    }
    // Cryptography first, so that a forged signature is reported as bad rather than as
    // a policy problem of the key it claims.
    let mut failure = None;
    let mut matched = None;
    for candidate in &candidates {
        let result = match candidate {
            Candidate::Primary(certificate) => signature.verify(&certificate.primary_key, data),
            Candidate::Subkey(_, subkey) => signature.verify(&subkey.key, data),
        };
        match result {
            Ok(()) => {
                matched = Some(candidate);
                break;
            }
            Err(error) => failure = Some(error.to_string()),
        }
    }
    let Some(candidate) = matched else {
        let reason = failure.unwrap_or_else(|| "no candidate key".to_string());
        return Err(report(true, SignatureProblem::Invalid(reason)));
    };
    let created = signature
        .created()
        .map(|timestamp| i64::from(timestamp.as_secs()))
        .ok_or_else(|| report(true, SignatureProblem::NoCreationTime))?;
    if created > now.saturating_add(MAX_FUTURE_SECONDS) {
        return Err(report(
            true,
            SignatureProblem::CreatedInFuture { created, now },
        ));
    }
    if let Some(lifetime) = signature.signature_expiration_time() {
        let lifetime = i64::from(lifetime.as_secs());
        if lifetime > 0 && created + lifetime <= now {
            return Err(report(
                true,
                SignatureProblem::SignatureExpired {
                    expired: created + lifetime,
                },
            ));
        }
    }
    let (signer, primary) = match candidate {
        Candidate::Primary(certificate) => {
            check_primary(certificate, created, now, true).map_err(|p| report(true, p))?;
            let fingerprint = Fingerprint::of(&certificate.fingerprint());
            (fingerprint.clone(), fingerprint)
        }
        Candidate::Subkey(certificate, subkey) => {
            check_primary(certificate, created, now, false).map_err(|p| report(true, p))?;
            check_subkey(certificate, subkey, created, now).map_err(|p| report(true, p))?;
            (
                Fingerprint::of(&subkey.key.fingerprint()),
                Fingerprint::of(&certificate.fingerprint()),
            )
        }
    };
    Ok((signer, primary, created))
}

/// Hash algorithms apt trusts for signatures (SHA-2 and SHA-3).
fn is_strong_hash(hash: HashAlgorithm) -> bool {
    matches!(
        hash,
        HashAlgorithm::Sha224
            | HashAlgorithm::Sha256
            | HashAlgorithm::Sha384
            | HashAlgorithm::Sha512
            | HashAlgorithm::Sha3_256
            | HashAlgorithm::Sha3_512
    )
}

fn issuer_name(signature: &Signature) -> String {
    if let Some(fingerprint) = signature.issuer_fingerprint().first() {
        return Fingerprint::of(fingerprint).to_string();
    }
    match signature.issuer_key_id().first() {
        Some(key_id) => format!("key ID {}", hex::encode_upper(key_id.as_ref())),
        None => "unknown issuer".to_string(),
    }
}

/// Keys whose fingerprint (or, failing that, key ID) the signature names as issuer.
fn candidates<'a>(signature: &Signature, keyring: &'a Keyring) -> Vec<Candidate<'a>> {
    let fingerprints = signature.issuer_fingerprint();
    let key_ids = signature.issuer_key_id();
    let matches = |key: &dyn KeyDetails| {
        if fingerprints.is_empty() {
            key_ids.iter().any(|id| **id == key.legacy_key_id())
        } else {
            fingerprints.iter().any(|fp| **fp == key.fingerprint())
        }
    };
    let mut found = Vec::new();
    for certificate in keyring.certificates() {
        if matches(&certificate.primary_key) {
            found.push(Candidate::Primary(certificate));
        }
        for subkey in &certificate.public_subkeys {
            if matches(&subkey.key) {
                found.push(Candidate::Subkey(certificate, subkey));
            }
        }
    }
    found
}

/// Whether the signature's hashed area carries a key-flags subpacket.
fn has_key_flags(signature: &Signature) -> bool {
    signature.config().is_some_and(|config| {
        config
            .hashed_subpackets()
            .any(|subpacket| matches!(subpacket.data, SubpacketData::KeyFlags(_)))
    })
}

fn created_at(signature: &Signature) -> i64 {
    signature
        .created()
        .map_or(0, |timestamp| i64::from(timestamp.as_secs()))
}

/// Expiry (unix seconds) a binding or self-signature sets for a key created at
/// `key_created`; `None` for "never".
fn expiry(signature: &Signature, key_created: i64) -> Option<i64> {
    signature
        .key_expiration_time()
        .map(|lifetime| i64::from(lifetime.as_secs()))
        .filter(|lifetime| *lifetime > 0)
        .map(|lifetime| key_created + lifetime)
}

fn check_not_expired(
    key: &Fingerprint,
    expires: Option<i64>,
    created: i64,
    now: i64,
) -> Result<(), SignatureProblem> {
    if let Some(expired) = expires {
        for checked in [created, now] {
            if checked >= expired {
                return Err(SignatureProblem::KeyExpired {
                    key: key.clone(),
                    expired,
                    checked,
                });
            }
        }
    }
    Ok(())
}

/// Primary-key rules: not revoked, a valid self-signature, not expired at the
/// signature's creation nor at `now`, created before the signature, and — when it made
/// the signature itself — allowed to sign if its self-signature carries key flags.
fn check_primary(
    certificate: &SignedPublicKey,
    created: i64,
    now: i64,
    signs_itself: bool,
) -> Result<(), SignatureProblem> {
    let primary = &certificate.primary_key;
    let key = Fingerprint::of(&primary.fingerprint());
    let revoked = certificate
        .details
        .revocation_signatures
        .iter()
        .any(|revocation| {
            revocation.typ() == Some(SignatureType::KeyRevocation)
                && is_self_issued(revocation, certificate)
                && revocation.verify_key(primary).is_ok()
        });
    if revoked {
        return Err(SignatureProblem::Revoked { key });
    }
    let key_created = i64::from(primary.created_at().as_secs());
    if key_created > created {
        return Err(SignatureProblem::KeyNewerThanSignature { key });
    }
    // The most recent valid self-signature (direct-key or user ID certification)
    // carries the key's current expiry and flags, as in GnuPG.
    let direct = certificate
        .details
        .direct_signatures
        .iter()
        .filter(|signature| signature.typ() == Some(SignatureType::Key))
        .filter(|signature| acceptable_binding_hash(signature))
        .filter(|signature| signature.verify_key(primary).is_ok());
    let certifications = certificate.details.users.iter().flat_map(|user| {
        user.signatures
            .iter()
            .filter(|signature| signature.is_certification())
            .filter(|signature| is_self_issued(signature, certificate))
            .filter(|signature| acceptable_binding_hash(signature))
            .filter(move |signature| {
                signature
                    .verify_certification(primary, Tag::UserId, &user.id)
                    .is_ok()
            })
    });
    let latest = direct.chain(certifications).max_by_key(|s| created_at(s));
    let Some(self_signature) = latest else {
        return Err(SignatureProblem::NoSelfSignature { key });
    };
    check_not_expired(&key, expiry(self_signature, key_created), created, now)?;
    if signs_itself && has_key_flags(self_signature) && !self_signature.key_flags().sign() {
        return Err(SignatureProblem::NotSigningCapable { key });
    }
    Ok(())
}

/// Subkey rules: not revoked, bound by a valid binding signature (the most recent one
/// counts), signing allowed by its flags when present, cross-certified by a valid
/// embedded back-signature, not expired, created before the signature.
fn check_subkey(
    certificate: &SignedPublicKey,
    subkey: &SignedPublicSubKey,
    created: i64,
    now: i64,
) -> Result<(), SignatureProblem> {
    let primary = &certificate.primary_key;
    let key = Fingerprint::of(&subkey.key.fingerprint());
    let key_created = i64::from(subkey.key.created_at().as_secs());
    if key_created > created {
        return Err(SignatureProblem::KeyNewerThanSignature { key });
    }
    let verified = |wanted: SignatureType| {
        subkey
            .signatures
            .iter()
            .filter(move |signature| signature.typ() == Some(wanted))
            .filter(|signature| acceptable_binding_hash(signature))
            .filter(|signature| {
                signature
                    .verify_subkey_binding(primary, &subkey.key)
                    .is_ok()
            })
    };
    if verified(SignatureType::SubkeyRevocation).next().is_some() {
        return Err(SignatureProblem::Revoked { key });
    }
    let Some(binding) = verified(SignatureType::SubkeyBinding).max_by_key(|s| created_at(s)) else {
        return Err(SignatureProblem::NoBinding { key });
    };
    if has_key_flags(binding) && !binding.key_flags().sign() {
        return Err(SignatureProblem::NotSigningCapable { key });
    }
    let cross_certified = binding.embedded_signature().is_some_and(|back| {
        acceptable_binding_hash(back)
            && back
                .verify_primary_key_binding(&subkey.key, primary)
                .is_ok()
    });
    if !cross_certified {
        return Err(SignatureProblem::NoCrossCertification { key });
    }
    check_not_expired(&key, expiry(binding, key_created), created, now)
}

/// Whether a self-signature names the certificate's primary key as issuer (or names
/// none, as some old signatures do).
fn is_self_issued(signature: &Signature, certificate: &SignedPublicKey) -> bool {
    let fingerprints = signature.issuer_fingerprint();
    let key_ids = signature.issuer_key_id();
    (fingerprints.is_empty() && key_ids.is_empty())
        || fingerprints
            .iter()
            .any(|fingerprint| **fingerprint == certificate.fingerprint())
        || key_ids
            .iter()
            .any(|key_id| **key_id == certificate.legacy_key_id())
}

/// Binding and self-signatures may still use SHA-1 (GnuPG accepts them; archive keys
/// made before 2013 did), but never MD5 or an unknown hash.
fn acceptable_binding_hash(signature: &Signature) -> bool {
    signature
        .hash_alg()
        .is_some_and(|hash| hash == HashAlgorithm::Sha1 || is_strong_hash(hash))
}

/// The cleartext body as signed: dash-escapes removed, trailing blanks trimmed (they are
/// not covered by the signature), `\n` line endings, ending in `\n`.
fn unescaped_text(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len() + 1);
    for line in encoded.split_inclusive('\n') {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        let line = line.strip_prefix("- ").unwrap_or(line);
        out.push_str(line.trim_end_matches([' ', '\t']));
        out.push('\n');
    }
    out
}
