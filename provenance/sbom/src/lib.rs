//! Software bills of materials for imgbuild's images: an SPDX 2.3 JSON document made from
//! plain data a builder read from a root filesystem tree — the dpkg status file, the
//! packages' copyright files, the lock file's pins and the files no package owns.
//! Nothing here reads the machine: no clock, no environment, no file system; the same
//! [`SbomInput`] gives the same bytes.
//!
//! # The SPDX 2.3 mapping
//!
//! | SPDX field | comes from |
//! |---|---|
//! | `spdxVersion`, `dataLicense`, `SPDXID` | `SPDX-2.3`, `CC0-1.0`, `SPDXRef-DOCUMENT` |
//! | `name` | [`SbomInput::name`] |
//! | `documentNamespace` | `https://imgbuild.invalid/spdx/NAME/SUBJECT` (name percent-encoded; `.invalid` is a reserved top-level domain, so the URI names no real host) |
//! | `creationInfo.created` | [`SbomInput::source_date_epoch`] as RFC 3339 UTC, `YYYY-MM-DDThh:mm:ssZ` |
//! | `creationInfo.creators` | `["Tool: TOOL"]` |
//! | image package | `SPDXRef-Image`, named NAME, `primaryPackagePurpose` `OPERATING-SYSTEM`, the subject in `comment`; `filesAnalyzed` is true when there are files (SPDX forbids `CONTAINS` files otherwise); no verification code, as the listed files are not all of the tree's |
//! | one package per installed Debian package | [`installed_packages`] of the status text |
//! | — `SPDXID` | `SPDXRef-Package-deb-NAME-ARCH` (see the `spdx` module for the escaping) |
//! | — `name`, `versionInfo` | `Package`, `Version` |
//! | — `supplier` | `Organization: NAME (ADDRESS)` from `Maintainer: NAME <ADDRESS>` |
//! | — `downloadLocation` | always `NOASSERTION`: a pin names a file of the Debian archive, not a URL, and no mirror's host is written; the pin's pool path, size and suite go in `comment` and its file name in `packageFileName` |
//! | — `checksums` | `SHA256` of the `.deb` from the pin, when a pin matches |
//! | — `licenseDeclared` | [`declared_license`] of `copyrights[NAME]`, else `NOASSERTION` |
//! | — `licenseConcluded`, `copyrightText` | `NOASSERTION`; `filesAnalyzed` false |
//! | — `sourceInfo` | the `Source` package's name and version |
//! | — `homepage` | `Homepage` when it is a plain `http(s)` URL a validator accepts, else left out |
//! | — `summary` | the first line of `Description` |
//! | — `externalRefs` | a purl, `pkg:deb/debian/NAME@VERSION?arch=ARCH`, with `&upstream=SOURCE` (or `SOURCE@VERSION`) when the source differs; every part percent-encoded |
//! | one file per [`FileRecord`] | `SPDXRef-File-` + 16 hex digits of SHA-256(path); `fileName` `./PATH`; `SHA1` and `SHA256`; `licenseConcluded`, `copyrightText` `NOASSERTION` (the record's size has no SPDX 2.3 field and is not written) |
//! | `hasExtractedLicensingInfos` | every `LicenseRef-` a declared license uses, with the text the first package's copyright file (by package order) gives, and the packages naming it in `comment` |
//! | `relationships` | `SPDXRef-DOCUMENT DESCRIBES SPDXRef-Image`, then the image `CONTAINS` each package, then each file |
//!
//! A pin is used for a package only when its name, architecture **and version** equal the
//! status file's: when the lock file and the tree disagree the tree is what the image
//! holds, so the status wins and the pin is ignored (no checksum, no archive location).
//! A package with no pin still appears, without a checksum.
//!
//! Order: packages by name then architecture (the image first), files by path,
//! extracted licenses by identifier, relationships as above. Output is serde_json's
//! pretty form with a final newline.

mod deb822;
mod dpkg;
mod error;
mod license;
mod spdx;

use std::collections::{BTreeMap, BTreeSet};

pub use dpkg::{installed_packages, listed_paths, InstalledPackage};
pub use error::SbomError;
pub use license::{
    declared_license, declared_license_with_references, DeclaredLicense, LicenseReference,
};
pub use spdx::spdx_json;

/// Everything an SBOM is made from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SbomInput {
    /// The image's (and the document's) name, e.g. `web`.
    pub name: String,
    /// The hexadecimal digest of the root tree; makes the document namespace unique.
    pub subject: String,
    /// The document's creation time, seconds since 1970-01-01 UTC.
    pub source_date_epoch: i64,
    /// The tool that made the document, e.g. `imgbuild-0.1.0`.
    pub tool: String,
    /// The text of the tree's `var/lib/dpkg/status` (`""` when the tree has none).
    pub status: String,
    /// The lock file's pins for the packages (may be empty or partial).
    pub pins: Vec<Pin>,
    /// Package name → the text of its `usr/share/doc/PACKAGE/copyright`.
    pub copyrights: BTreeMap<String, String>,
    /// The tree's regular files that no package owns.
    pub files: Vec<FileRecord>,
}

/// One package of the lock file: what was downloaded from the Debian archive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pin {
    /// The package name.
    pub name: String,
    /// The version, with its epoch when it has one.
    pub version: String,
    /// The architecture (`amd64`, `all`).
    pub architecture: String,
    /// The SHA-256 of the `.deb`, lowercase hexadecimal.
    pub sha256: String,
    /// The size of the `.deb` in bytes.
    pub size: u64,
    /// The path in the archive, `pool/main/n/nginx/nginx_1.22.1-9_amd64.deb`.
    pub filename: String,
    /// The suite it came from, `bookworm-security`.
    pub suite: String,
}

/// One regular file of the tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileRecord {
    /// Its absolute path in the tree, `/etc/hostname`.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-1, lowercase hexadecimal.
    pub sha1: String,
    /// Its SHA-256, lowercase hexadecimal.
    pub sha256: String,
}

/// Checks what the document would otherwise carry unchecked and returns the creation
/// time in RFC 3339 form.
fn validate_input(input: &SbomInput) -> Result<String, SbomError> {
    if input.name.is_empty() {
        return Err(SbomError::EmptyName);
    }
    let subject_is_valid = !input.subject.is_empty()
        && input
            .subject
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"._:-".contains(&byte));
    if !subject_is_valid {
        return Err(SbomError::InvalidSubject(input.subject.clone()));
    }
    for pin in &input.pins {
        check_digest(
            &format!("pin {}:{}", pin.name, pin.architecture),
            "sha256",
            &pin.sha256,
            64,
        )?;
    }
    let mut paths = BTreeSet::new();
    for file in &input.files {
        let path = &file.path;
        if path.len() < 2 || !path.starts_with('/') || path.chars().any(char::is_control) {
            return Err(SbomError::InvalidFilePath { path: path.clone() });
        }
        if !paths.insert(path.as_str()) {
            return Err(SbomError::DuplicateFile { path: path.clone() });
        }
        check_digest(path, "sha1", &file.sha1, 40)?;
        check_digest(path, "sha256", &file.sha256, 64)?;
    }
    rfc3339(input.source_date_epoch)
}

fn check_digest(
    subject: &str,
    field: &'static str,
    value: &str,
    length: usize,
) -> Result<(), SbomError> {
    let valid = value.len() == length
        && value
            .bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte));
    if valid {
        Ok(())
    } else {
        Err(SbomError::InvalidDigest {
            subject: subject.to_owned(),
            field,
            value: value.to_owned(),
            length,
        })
    }
}

/// Seconds since the epoch as `YYYY-MM-DDThh:mm:ssZ` (the `time` crate's calendar);
/// years outside 0000–9999 are an error.
fn rfc3339(epoch: i64) -> Result<String, SbomError> {
    const MINIMUM: i64 = -62_167_219_200; // 0000-01-01T00:00:00Z
    const MAXIMUM: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    if !(MINIMUM..=MAXIMUM).contains(&epoch) {
        return Err(SbomError::TimestampOutOfRange(epoch));
    }
    time::OffsetDateTime::from_unix_timestamp(epoch)
        .ok()
        .and_then(|instant| {
            instant
                .format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .ok_or(SbomError::TimestampOutOfRange(epoch))
}

/// Every byte outside RFC 3986's unreserved set (`A-Z a-z 0-9 - . _ ~`) as `%XX`.
fn percent_encode(text: &str) -> String {
    let mut encoded = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let check =
            |epoch: i64, expected: &str| assert_eq!(rfc3339(epoch).as_deref(), Ok(expected));
        check(0, "1970-01-01T00:00:00Z");
        check(1_700_000_000, "2023-11-14T22:13:20Z");
        check(951_782_400, "2000-02-29T00:00:00Z");
        check(-1, "1969-12-31T23:59:59Z");
        check(-62_167_219_200, "0000-01-01T00:00:00Z");
        check(253_402_300_799, "9999-12-31T23:59:59Z");
        assert_eq!(
            rfc3339(253_402_300_800),
            Err(SbomError::TimestampOutOfRange(253_402_300_800))
        );
    }

    #[test]
    fn percent_encoding_keeps_only_unreserved_bytes() {
        assert_eq!(
            percent_encode("1:2.36-9+deb12u4~x"),
            "1%3A2.36-9%2Bdeb12u4~x"
        );
    }
}
