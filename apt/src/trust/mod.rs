//! Trust: which Debian repository metadata we believe, and why.
//!
//! A repository is trusted through one signed file, `InRelease` (or the older pair
//! `Release` + `Release.gpg`), which lists the size and SHA-256 of every index. The
//! chain a build follows is:
//!
//! 1. [`Keyring`]: the OpenPGP certificates allowed to sign — by default the host's
//!    `debian-archive-keyring.gpg` ([`Keyring::host_default`]), or files the recipe
//!    names ([`Keyring::from_files`]), optionally scoped to fingerprints
//!    ([`Keyring::restricted_to`], apt's `Signed-By: <fingerprint>`).
//! 2. [`verify_inrelease`] / [`verify_detached`] → [`Verified`]: the signed text and
//!    the key that signed it.
//! 3. [`Release::from_verified`] parses it; [`Release::check_dates`] and
//!    [`Release::check_suite`] apply apt's freshness and "conflicting distribution"
//!    checks. [`Release::from_inrelease`] does 2 and 3 in one call.
//! 4. [`verify_file`] / [`FileVerifier`] check each index against the release.
//!
//! Unsigned repositories exist only through [`Release::parse_unsigned`], which a caller
//! may use only when the recipe explicitly marks the repository trusted.
//!
//! **Invariant:** no function here reads the clock. Every time-dependent check takes
//! `now` (unix seconds) from the caller, so a lock file can re-verify old metadata at
//! the time it was pinned.
//!
//! # Signature policy
//!
//! Over all signatures in the file (apt's rule, `methods/gpgv.cc`):
//! - the file is accepted iff at least one signature is *good* and none is *bad*;
//! - *bad* means a key of the keyring matches the issuer but the cryptographic check
//!   fails (gpgv's `BADSIG`) — this rejects the file even next to a good signature;
//! - signatures by keys not in the keyring, and signatures that verify but break a
//!   rule below (gpgv's `EXPKEYSIG`/`REVKEYSIG`, apt's weak digests), are ignored; if
//!   nothing good remains the error lists every signature's issuer, whether it is in the
//!   keyring, and what was wrong ([`TrustError::NoValidSignature`]).
//!
//! A signature is *good* when all of these hold:
//! - its issuer fingerprint (or, if it carries none, its 64-bit key ID) selects a
//!   primary key or subkey of the keyring;
//! - it is a document signature (binary or text), hashed with SHA-224/256/384/512 or
//!   SHA3-256/512 — MD5, SHA-1 and RIPEMD-160 are refused, like apt ≥ 2.x;
//! - it verifies cryptographically over the signed text;
//! - it has a creation time no more than [`MAX_FUTURE_SECONDS`] after `now`, and has
//!   not passed its own expiration time (if any) at `now`;
//! - the primary key has no valid self-revocation and at least one valid
//!   self-signature (user ID certification or direct-key); the most recent one sets its
//!   expiry and key flags, as in GnuPG;
//! - when a subkey signed: it has no valid subkey revocation, its most recent valid
//!   binding signature allows signing (if it carries key flags) and embeds a valid
//!   back-signature (primary-key binding) from the subkey;
//! - neither the signing key nor its primary had expired at the signature's creation
//!   time *or* at `now` (gpgv checks expiry at the current time; pass an older `now` to
//!   re-verify archived metadata), and neither was created after the signature.
//!
//! Not checked: third-party (designated revoker) revocations, revocation reasons
//! (every revocation is treated as hard, as GnuPG does), user ID revocations, key
//! sizes, and notations. Self-signatures and bindings may use SHA-1 (GnuPG still accepts
//! them) but not MD5.
//!
//! # Release policy
//!
//! - The `SHA256` section is required ([`TrustError::NoStrongHash`]); `MD5Sum` and
//!   `SHA1` are ignored.
//! - `Valid-Until` before `now` → [`TrustError::Expired`]; `Date` more than
//!   [`MAX_FUTURE_SECONDS`] after `now` → [`TrustError::DateInFuture`]. apt's own
//!   default tolerance for `Date` is 10 s (`Acquire::Max-FutureTime`); ours is wider
//!   because `now` may come from another machine's clock.
//! - [`Release::check_suite`]: the expected name must equal `Suite` or `Codename`.

mod checksum;
pub mod date;
mod keyring;
mod release;
mod verify;

use std::fmt::Write as _;
use std::path::PathBuf;

pub use checksum::{verify_file, FileVerifier};
pub use keyring::{Fingerprint, Keyring, APT_TRUSTED_PARTS, DEBIAN_ARCHIVE_KEYRING};
pub use release::{FileEntry, Release};
pub use verify::{verify_detached, verify_inrelease, SignatureProblem, SignatureReport, Verified};

use date::format_iso8601;

/// How far in the future (relative to the caller's `now`) a signature's creation time
/// or a `Release`'s `Date` may be: five minutes of clock skew.
pub const MAX_FUTURE_SECONDS: i64 = 300;

/// Everything that can make repository metadata untrusted. Each variant names the file
/// or URL label the caller gave.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// A keyring file could not be read.
    #[error("cannot read keyring {}: {source}", path.display())]
    KeyringRead {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A keyring file holds no parseable certificate.
    #[error("{label}: not an OpenPGP keyring: {reason}")]
    KeyringParse {
        /// The keyring's label.
        label: String,
        /// What the parser said.
        reason: String,
    },
    /// Not a signed message / signature at all.
    #[error("{label}: malformed signed file: {reason}")]
    Malformed {
        /// The file.
        label: String,
        /// What is wrong.
        reason: String,
    },
    /// A key of the keyring matched a signature that does not verify (gpgv's `BADSIG`).
    #[error("{label}: BAD signature by {issuer}: {reason}")]
    BadSignature {
        /// The file.
        label: String,
        /// The issuer's fingerprint or key ID.
        issuer: String,
        /// Why the check failed.
        reason: String,
    },
    /// No signature was good.
    #[error("{label}: no valid signature by a trusted key{}", render_reports(.reports))]
    NoValidSignature {
        /// The file.
        label: String,
        /// One entry per signature seen.
        reports: Vec<SignatureReport>,
    },
    /// The release's `Valid-Until` has passed.
    #[error(
        "{label}: Release expired: Valid-Until {} is before now ({})",
        format_iso8601(*.valid_until),
        format_iso8601(*.now)
    )]
    Expired {
        /// The file.
        label: String,
        /// `Valid-Until`, unix seconds.
        valid_until: i64,
        /// The caller's now.
        now: i64,
    },
    /// The release's `Date` is in the future.
    #[error(
        "{label}: Release is not valid yet: Date {} is after now ({})",
        format_iso8601(*.date),
        format_iso8601(*.now)
    )]
    DateInFuture {
        /// The file.
        label: String,
        /// `Date`, unix seconds.
        date: i64,
        /// The caller's now.
        now: i64,
    },
    /// The release lists no `SHA256` files.
    #[error("{label}: Release has no SHA256 file list (a strong hash is required)")]
    NoStrongHash {
        /// The file.
        label: String,
    },
    /// The release is for another distribution.
    #[error(
        "{label}: conflicting distribution: expected {expected}, \
         but the Release says Suite {suite}, Codename {codename}"
    )]
    ConflictingDistribution {
        /// The file.
        label: String,
        /// What the caller asked for.
        expected: String,
        /// The `Suite` field.
        suite: String,
        /// The `Codename` field.
        codename: String,
    },
    /// deb822 syntax error.
    #[error("{label}: {source}")]
    ReleaseSyntax {
        /// The file.
        label: String,
        /// The parser's error.
        source: crate::deb822::SyntaxError,
    },
    /// A required field is absent.
    #[error("{label}: missing field {field}")]
    MissingField {
        /// The file.
        label: String,
        /// The field.
        field: String,
    },
    /// A field's value is malformed.
    #[error("{label}: invalid {field} `{value}`: {reason}")]
    InvalidField {
        /// The file.
        label: String,
        /// The field.
        field: String,
        /// The offending value (truncated).
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// The release does not list the file asked for.
    #[error("{label}: {path} is not listed in the Release's SHA256 section")]
    FileNotListed {
        /// The release's label.
        label: String,
        /// The file's path relative to the release.
        path: String,
    },
    /// Wrong size.
    #[error("{label}: {path}: size {actual} but the Release says {expected}")]
    SizeMismatch {
        /// The release's label.
        label: String,
        /// The file's path relative to the release.
        path: String,
        /// Listed size.
        expected: u64,
        /// Actual size.
        actual: u64,
    },
    /// Wrong digest.
    #[error("{label}: {path}: SHA-256 {actual} but the Release says {expected}")]
    HashMismatch {
        /// The release's label.
        label: String,
        /// The file's path relative to the release.
        path: String,
        /// Listed digest, hex.
        expected: String,
        /// Actual digest, hex.
        actual: String,
    },
}

fn render_reports(reports: &[SignatureReport]) -> String {
    let mut out = String::new();
    for report in reports {
        let _ = write!(out, "\n  - {report}");
    }
    if reports.is_empty() {
        out.push_str(" (no signatures)");
    }
    out
}
