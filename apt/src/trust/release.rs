//! `Release` files: the repository's signed table of contents.
//!
//! A [`Release`] is made from a [`Verified`] signed text ([`Release::from_verified`]) or,
//! for a repository the recipe explicitly marks trusted, from unsigned text
//! ([`Release::parse_unsigned`]). Parsing requires a `SHA256` file list — apt refuses
//! repositories without a strong hash — and parses `Date`/`Valid-Until` as RFC 2822.
//! Freshness ([`Release::check_dates`]) and the expected suite
//! ([`Release::check_suite`]) are separate checks so a caller can state which apply.

use std::collections::BTreeMap;

use crate::deb822;

use super::date::parse_rfc2822;
use super::keyring::Fingerprint;
use super::verify::{verify_inrelease, Verified};
use super::{Keyring, TrustError, MAX_FUTURE_SECONDS};

/// One file listed in the `SHA256` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileEntry {
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the file's bytes.
    pub sha256: [u8; 32],
}

/// A parsed `Release` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// `Origin`, e.g. `Debian`.
    pub origin: Option<String>,
    /// `Label`.
    pub label: Option<String>,
    /// `Suite`, e.g. `stable`.
    pub suite: Option<String>,
    /// `Codename`, e.g. `bookworm`.
    pub codename: Option<String>,
    /// `Version`, e.g. `12.6`.
    pub version: Option<String>,
    /// `Date`, unix seconds.
    pub date: Option<i64>,
    /// `Valid-Until`, unix seconds.
    pub valid_until: Option<i64>,
    /// `Architectures`.
    pub architectures: Vec<String>,
    /// `Components`.
    pub components: Vec<String>,
    /// `Acquire-By-Hash: yes`: indices may be fetched from `by-hash/SHA256/<digest>`.
    pub acquire_by_hash: bool,
    /// `No-Support-for-Architecture-all: Packages`: `all` packages are listed in every
    /// architecture's `Packages` rather than in a `binary-all` index.
    pub no_support_for_architecture_all: bool,
    /// The `SHA256` section: path relative to the `Release` file's directory → entry.
    pub sha256: BTreeMap<String, FileEntry>,
    /// Who signed it; `None` for a release parsed with [`Release::parse_unsigned`].
    pub signed_by: Option<Fingerprint>,
    /// The caller's label for the file (a path or URL), used in errors.
    pub source: String,
}

impl Release {
    /// Parses the text of a verified `InRelease` or `Release`.
    pub fn from_verified(verified: &Verified) -> Result<Release, TrustError> {
        let mut release = parse(verified.text(), verified.label())?;
        release.signed_by = Some(verified.signer().clone());
        Ok(release)
    }

    /// Verifies an `InRelease` file, parses it and checks its dates against `now`: the
    /// usual path for a signed repository.
    pub fn from_inrelease(
        bytes: &[u8],
        keyring: &Keyring,
        now: i64,
        label: &str,
    ) -> Result<Release, TrustError> {
        let verified = verify_inrelease(bytes, keyring, now, label)?;
        let release = Release::from_verified(&verified)?;
        release.check_dates(now)?;
        Ok(release)
    }

    /// Parses a `Release` without any signature check.
    ///
    /// Only for repositories the recipe explicitly marks trusted (apt's
    /// `[trusted=yes]`), such as a local repository built in the same graph. The file
    /// list is still required and every index fetched through it is still checked
    /// against its SHA-256, so only the authenticity of the `Release` itself is waived.
    pub fn parse_unsigned(text: &str, label: &str) -> Result<Release, TrustError> {
        parse(text, label)
    }

    /// Freshness: fails with [`TrustError::Expired`] when `Valid-Until` is before
    /// `now`, and with [`TrustError::DateInFuture`] when `Date` is more than
    /// [`MAX_FUTURE_SECONDS`] after `now`. Skip it only where apt would be told
    /// `check-valid-until=no` (snapshots).
    pub fn check_dates(&self, now: i64) -> Result<(), TrustError> {
        if let Some(valid_until) = self.valid_until {
            if valid_until < now {
                return Err(TrustError::Expired {
                    label: self.source.clone(),
                    valid_until,
                    now,
                });
            }
        }
        if let Some(date) = self.date {
            if date > now.saturating_add(MAX_FUTURE_SECONDS) {
                return Err(TrustError::DateInFuture {
                    label: self.source.clone(),
                    date,
                    now,
                });
            }
        }
        Ok(())
    }

    /// The release must call itself `expected` in `Suite` or `Codename` (apt's
    /// "conflicting distribution" check), so a mirror cannot serve `oldstable` for
    /// `bookworm`.
    pub fn check_suite(&self, expected: &str) -> Result<(), TrustError> {
        let names = [self.suite.as_deref(), self.codename.as_deref()];
        if names.contains(&Some(expected)) {
            return Ok(());
        }
        Err(TrustError::ConflictingDistribution {
            label: self.source.clone(),
            expected: expected.to_string(),
            suite: self.suite.clone().unwrap_or_else(|| "(none)".into()),
            codename: self.codename.clone().unwrap_or_else(|| "(none)".into()),
        })
    }

    /// The `SHA256` entry for `path` (e.g. `main/binary-amd64/Packages.xz`).
    pub fn file(&self, path: &str) -> Option<&FileEntry> {
        self.sha256.get(path)
    }
}

fn parse(text: &str, label: &str) -> Result<Release, TrustError> {
    let syntax = |source: deb822::SyntaxError| TrustError::ReleaseSyntax {
        label: label.to_string(),
        source,
    };
    let invalid = |field: &str, value: &str, reason: &str| TrustError::InvalidField {
        label: label.to_string(),
        field: field.to_string(),
        value: value.chars().take(120).collect(),
        reason: reason.to_string(),
    };
    let paragraph = deb822::paragraphs(text)
        .next()
        .ok_or_else(|| TrustError::MissingField {
            label: label.to_string(),
            field: "Origin/Suite/SHA256 (the file is empty)".into(),
        })?
        .map_err(syntax)?;
    let owned = |name: &str| paragraph.get(name).map(|value| value.trim().to_string());
    let date_field = |name: &str| -> Result<Option<i64>, TrustError> {
        paragraph
            .get(name)
            .map(|value| {
                parse_rfc2822(value).ok_or_else(|| invalid(name, value, "not an RFC 2822 date"))
            })
            .transpose()
    };
    let words = |name: &str| -> Vec<String> {
        paragraph
            .get(name)
            .map(|value| value.split_ascii_whitespace().map(str::to_string).collect())
            .unwrap_or_default()
    };
    let acquire_by_hash = match paragraph.get("Acquire-By-Hash").map(str::trim) {
        None => false,
        Some(value)
            if ["yes", "true"]
                .iter()
                .any(|v| value.eq_ignore_ascii_case(v)) =>
        {
            true
        }
        Some(value)
            if ["no", "false"]
                .iter()
                .any(|v| value.eq_ignore_ascii_case(v)) =>
        {
            false
        }
        Some(value) => return Err(invalid("Acquire-By-Hash", value, "expected yes or no")),
    };
    let no_support_for_architecture_all = paragraph
        .get("No-Support-for-Architecture-all")
        .is_some_and(|value| value.trim() == "Packages");
    let listing = paragraph
        .get("SHA256")
        .ok_or_else(|| TrustError::NoStrongHash {
            label: label.to_string(),
        })?;
    let mut sha256 = BTreeMap::new();
    for line in listing
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
    {
        let mut parts = line.split_ascii_whitespace();
        let (Some(digest), Some(size), Some(path), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid("SHA256", line, "expected `<sha256> <size> <path>`"));
        };
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(digest, &mut bytes)
            .map_err(|_| invalid("SHA256", line, "digest is not 64 hex digits"))?;
        let size = size
            .parse::<u64>()
            .map_err(|_| invalid("SHA256", line, "size is not a number"))?;
        let entry = FileEntry {
            size,
            sha256: bytes,
        };
        if sha256.insert(path.to_string(), entry).is_some() {
            return Err(invalid("SHA256", line, "path listed twice"));
        }
    }
    if sha256.is_empty() {
        return Err(TrustError::NoStrongHash {
            label: label.to_string(),
        });
    }
    Ok(Release {
        origin: owned("Origin"),
        label: owned("Label"),
        suite: owned("Suite"),
        codename: owned("Codename"),
        version: owned("Version"),
        date: date_field("Date")?,
        valid_until: date_field("Valid-Until")?,
        architectures: words("Architectures"),
        components: words("Components"),
        acquire_by_hash,
        no_support_for_architecture_all,
        sha256,
        signed_by: None,
        source: label.to_string(),
    })
}
