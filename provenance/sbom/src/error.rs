//! The one error type of this crate. Every variant names what was wrong: the line of the
//! dpkg status file, the package, the file path or the field.

/// Why an SBOM could not be made from the input.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SbomError {
    /// A line of the dpkg status file is neither a field, a continuation nor blank.
    #[error("var/lib/dpkg/status line {line}: not a `Field: value` line or a continuation")]
    MalformedStatusLine {
        /// The line number, counted from 1.
        line: usize,
    },
    /// An installed package's paragraph lacks a field every installed package has.
    #[error("var/lib/dpkg/status line {line}: installed package {package:?} has no {field} field")]
    MissingStatusField {
        /// The line the paragraph starts on.
        line: usize,
        /// The package name, or `""` when the Package field itself is missing.
        package: String,
        /// The missing field (`Package`, `Version`, `Architecture`).
        field: &'static str,
    },
    /// The Source field is not `NAME` or `NAME (VERSION)`.
    #[error("var/lib/dpkg/status: package {package}: Source field {value:?} is not `NAME` or `NAME (VERSION)`")]
    MalformedSource {
        /// The package whose Source field it is.
        package: String,
        /// The field's value.
        value: String,
    },
    /// The status file lists the same package and architecture as installed twice.
    #[error("var/lib/dpkg/status: package {package}:{architecture} is installed twice")]
    DuplicatePackage {
        /// The package name.
        package: String,
        /// Its architecture.
        architecture: String,
    },
    /// Two different packages would get the same SPDX identifier.
    #[error("packages {first} and {second} both map to the SPDX identifier {identifier}")]
    DuplicateIdentifier {
        /// The identifier.
        identifier: String,
        /// The first package (`name:architecture`).
        first: String,
        /// The second package.
        second: String,
    },
    /// Two pins name the same package, architecture and version.
    #[error("pins: {package}:{architecture} version {version} is pinned twice")]
    DuplicatePin {
        /// The package name.
        package: String,
        /// Its architecture.
        architecture: String,
        /// The pinned version.
        version: String,
    },
    /// A file record's path is not absolute or holds a character SPDX cannot carry.
    #[error("file {path:?}: not an absolute path without control characters")]
    InvalidFilePath {
        /// The path as given.
        path: String,
    },
    /// Two file records have the same path.
    #[error("file {path}: listed twice")]
    DuplicateFile {
        /// The path.
        path: String,
    },
    /// A digest is not lowercase hexadecimal of the algorithm's length.
    #[error("{subject}: {field} {value:?} is not {length} lowercase hexadecimal digits")]
    InvalidDigest {
        /// What the digest belongs to: a file path or `pin NAME:ARCH`.
        subject: String,
        /// The field (`sha1`, `sha256`).
        field: &'static str,
        /// The value given.
        value: String,
        /// The number of hexadecimal digits the algorithm has.
        length: usize,
    },
    /// `source_date_epoch` is outside the years 0000–9999 that RFC 3339 can write.
    #[error("source_date_epoch {0} is outside the years 0000-9999")]
    TimestampOutOfRange(i64),
    /// The document name is empty.
    #[error("the SBOM's name is empty")]
    EmptyName,
    /// The subject digest is empty or holds a character outside `[A-Za-z0-9._:-]`.
    #[error("subject {0:?} is not a digest (letters, digits, `.`, `_`, `:`, `-`)")]
    InvalidSubject(String),
    /// The JSON writer failed (it does not for these documents; kept for honesty).
    #[error("writing the JSON document: {0}")]
    Serialize(String),
}
