//! Names on the medium: which labels and file names are accepted, and the three forms a
//! name takes in an image.
//!
//! - The exact name, carried by Rock Ridge `NM` (UTF-8 bytes) and by Joliet (UCS-2BE).
//!   A name is accepted only if both can carry it unchanged.
//! - The primary (ECMA-119) identifier, derived from the exact name: upper-cased, every
//!   character outside `A`–`Z` `0`–`9` `_` replaced by `_`, files as `BASE.EXT;1`
//!   (base ≤ 8, extension ≤ 3, the separator kept when there is no extension),
//!   directories as up to 8 characters without a dot. Identifiers are made unique
//!   within a directory by replacing the tail of the base with a decimal counter, in
//!   the order of the exact names; they are compared as readers without extensions
//!   show them (`ABC.;1` and `ABC` collide). Readers that understand Rock Ridge or
//!   Joliet never show these identifiers.

use std::cmp::Ordering;
use std::collections::HashSet;

/// The longest label: the Joliet volume identifier holds 16 UCS-2 characters.
const LABEL_MAXIMUM: usize = 16;
/// The longest name in UTF-16 units (Joliet).
const NAME_MAXIMUM_UNITS: usize = 64;
/// The longest name in UTF-8 bytes (Rock Ridge `NM` as Linux reads it).
const NAME_MAXIMUM_BYTES: usize = 255;
/// Characters Joliet forbids in identifiers besides control characters.
const JOLIET_FORBIDDEN: [char; 6] = ['*', '/', ':', ';', '?', '\\'];

/// Checks a volume label; the error is the reason.
pub(crate) fn check_label(label: &str) -> Result<(), String> {
    if label.is_empty() {
        return Err("is empty".to_owned());
    }
    if let Some(bad) = label
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(format!(
            "contains {}, but a label may hold only `A`-`Z`, `a`-`z`, `0`-`9`, `_` and `-`",
            describe(bad)
        ));
    }
    let length = label.chars().count();
    if length > LABEL_MAXIMUM {
        return Err(format!(
            "is {length} characters long, longer than {LABEL_MAXIMUM}, the Joliet volume identifier limit"
        ));
    }
    Ok(())
}

/// Checks a file name; the error is the reason.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("is empty".to_owned());
    }
    if name == "." || name == ".." {
        return Err("is `.` or `..`, which every directory already holds".to_owned());
    }
    for c in name.chars() {
        if c == '/' {
            return Err("contains `/`, the path separator".to_owned());
        }
        if c == '\0' {
            return Err("contains a NUL character".to_owned());
        }
        if c.is_control() {
            return Err(format!("contains the control character {}", describe(c)));
        }
        if JOLIET_FORBIDDEN.contains(&c) {
            return Err(format!("contains {}, which Joliet forbids", describe(c)));
        }
        if u32::from(c) > 0xFFFF {
            return Err(format!(
                "contains {}, outside the Unicode Basic Multilingual Plane that Joliet (UCS-2) can hold",
                describe(c)
            ));
        }
    }
    let units = name.chars().count();
    if units > NAME_MAXIMUM_UNITS {
        return Err(format!(
            "is {units} characters long, longer than {NAME_MAXIMUM_UNITS} characters, the Joliet limit"
        ));
    }
    // Unreachable while the Joliet limit holds (64 BMP characters are at most 192
    // bytes of UTF-8), but it is the Rock Ridge limit and stays checked on its own.
    if name.len() > NAME_MAXIMUM_BYTES {
        return Err(format!(
            "is {} bytes long in UTF-8, longer than {NAME_MAXIMUM_BYTES} bytes, the Rock Ridge limit",
            name.len()
        ));
    }
    Ok(())
}

/// A character for a message: printable ones quoted, all with their code point.
fn describe(c: char) -> String {
    if c.is_control() {
        format!("U+{:04X}", u32::from(c))
    } else {
        format!("`{c}` (U+{:04X})", u32::from(c))
    }
}

/// Appends `name` as UCS-2 big-endian (every character is in the BMP, checked by
/// [`check_name`]).
pub(crate) fn push_ucs2(out: &mut Vec<u8>, text: &str) {
    for unit in text.encode_utf16() {
        out.extend_from_slice(&unit.to_be_bytes());
    }
}

/// A primary identifier: at most `BASE8.EXT;1`, 14 bytes, kept inline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PrimaryIdentifier {
    bytes: [u8; 14],
    length: u8,
}

impl PrimaryIdentifier {
    /// The identifier's bytes.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.length)]
    }

    /// `BASE`, or with an extension `BASE.EXT` followed by `;1` when `versioned`.
    fn from_parts(base: &[u8], extension: Option<&[u8]>, versioned: bool) -> PrimaryIdentifier {
        let mut identifier = PrimaryIdentifier {
            bytes: [0; 14],
            length: 0,
        };
        let mut push = |byte: u8| {
            identifier.bytes[usize::from(identifier.length)] = byte;
            identifier.length += 1;
        };
        base.iter().for_each(|&b| push(b));
        if let Some(extension) = extension {
            push(b'.');
            extension.iter().for_each(|&b| push(b));
            if versioned {
                push(b';');
                push(b'1');
            }
        }
        identifier
    }
}

/// Maps a piece of an exact name to d-characters, at most `limit` of them.
fn d_characters(text: &str, limit: usize) -> Vec<u8> {
    text.chars()
        .take(limit)
        .map(|c| match c {
            'A'..='Z' | '0'..='9' | '_' => c as u8,
            'a'..='z' => c.to_ascii_uppercase() as u8,
            _ => b'_',
        })
        .collect()
}

/// The base (≤ 8 bytes) and, for files, the extension (≤ 3 bytes) of a name's
/// primary identifier before uniqueness is enforced.
fn natural_parts(name: &str, directory: bool) -> (Vec<u8>, Option<Vec<u8>>) {
    if directory {
        return (d_characters(name, 8), None);
    }
    match name.rfind('.') {
        Some(dot) => (
            d_characters(&name[..dot], 8),
            Some(d_characters(&name[dot + 1..], 3)),
        ),
        None => (d_characters(name, 8), Some(Vec::new())),
    }
}

/// Unique primary identifiers for the entries of one directory, given in the order of
/// their exact names as `(name, is_directory)`.
///
/// Uniqueness is checked on the name readers show without extensions (Linux
/// `isofs_name_translate`, libisofs): version and a trailing dot dropped, so the file
/// `ABC.;1` and the directory `ABC` count as the same name.
pub(crate) fn primary_identifiers<'a>(
    entries: impl Iterator<Item = (&'a str, bool)>,
) -> Vec<PrimaryIdentifier> {
    let mut used = HashSet::new();
    let mut identifiers = Vec::new();
    let mut counter: u64 = 0;
    for (name, directory) in entries {
        let (base, extension) = natural_parts(name, directory);
        let mut renamed = base.clone();
        loop {
            let shown_extension = extension
                .as_deref()
                .filter(|extension| !extension.is_empty());
            let shown = PrimaryIdentifier::from_parts(&renamed, shown_extension, false);
            if used.insert(shown) {
                break;
            }
            counter += 1;
            let digits = counter.to_string();
            let keep = base.len().min(8usize.saturating_sub(digits.len()));
            renamed = base[..keep].to_vec();
            renamed.extend_from_slice(digits.as_bytes());
        }
        identifiers.push(PrimaryIdentifier::from_parts(
            &renamed,
            extension.as_deref(),
            true,
        ));
    }
    identifiers
}

/// The order of primary identifiers in a directory (ECMA-119 9.3): file names
/// compared padded with spaces, then extensions padded with spaces, then versions in
/// descending order; identical keys fall back to the raw bytes.
pub(crate) fn compare_primary(a: &[u8], b: &[u8]) -> Ordering {
    let (a_name, a_extension, a_version) = split_identifier(a);
    let (b_name, b_extension, b_version) = split_identifier(b);
    compare_padded(a_name, b_name)
        .then_with(|| compare_padded(a_extension, b_extension))
        .then_with(|| compare_padded(b_version, a_version))
        .then_with(|| a.cmp(b))
}

/// The name, extension and version of an identifier.
fn split_identifier(identifier: &[u8]) -> (&[u8], &[u8], &[u8]) {
    let (rest, version) = match identifier.iter().position(|&b| b == b';') {
        Some(at) => (&identifier[..at], &identifier[at + 1..]),
        None => (identifier, &[][..]),
    };
    match rest.iter().position(|&b| b == b'.') {
        Some(at) => (&rest[..at], &rest[at + 1..], version),
        None => (rest, &[][..], version),
    }
}

/// Compares two byte strings as if the shorter were padded with spaces (0x20).
pub(crate) fn compare_padded(a: &[u8], b: &[u8]) -> Ordering {
    let length = a.len().max(b.len());
    let at = |s: &[u8], i: usize| s.get(i).copied().unwrap_or(b' ');
    (0..length)
        .map(|i| at(a, i).cmp(&at(b, i)))
        .find(|ordering| ordering.is_ne())
        .unwrap_or(Ordering::Equal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identifiers(entries: &[(&str, bool)]) -> Vec<String> {
        primary_identifiers(entries.iter().copied())
            .iter()
            .map(|identifier| String::from_utf8_lossy(identifier.as_bytes()).into_owned())
            .collect()
    }

    #[test]
    fn primary_identifiers_are_level_one_and_unique() {
        assert_eq!(
            identifiers(&[
                ("meta-data", false),
                ("network-config", false),
                ("user-data", false),
                ("openstack", true),
                ("archive.tar.gz", false),
                ("café", false),
                (".hidden", false),
                ("x.", false),
            ]),
            [
                "META_DAT.;1",
                "NETWORK_.;1",
                "USER_DAT.;1",
                "OPENSTAC",
                "ARCHIVE_.GZ;1",
                "CAF_.;1",
                ".HID;1",
                "X.;1",
            ]
        );
        assert_eq!(
            identifiers(&[("abc", true), ("abc.", false), ("ABC", false)]),
            ["ABC", "ABC1.;1", "ABC2.;1"]
        );
        assert_eq!(
            identifiers(&[
                ("ReadMe.TXT", false),
                ("readme.txt", false),
                ("readme.txt.d", true),
                ("readme_txt", true),
            ]),
            ["README.TXT;1", "README1.TXT;1", "README_T", "README_2"]
        );
    }

    #[test]
    fn many_collisions_stay_unique() {
        let names: Vec<String> = (0..300)
            .map(|i| format!("entry-with-a-long-name-{i:03}"))
            .collect();
        let ids = primary_identifiers(names.iter().map(|name| (name.as_str(), false)));
        let unique: HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), 300);
        assert!(ids.iter().all(|id| id.as_bytes().len() <= 12));
    }

    #[test]
    fn ecma_119_order() {
        let mut ids: Vec<&[u8]> = vec![b"A.10;1", b"A.1;1", b"A_.;1", b"A.B;1", b"AB", b"A"];
        ids.sort_by(|a, b| compare_primary(a, b));
        assert_eq!(
            ids,
            [&b"A"[..], b"A.1;1", b"A.10;1", b"A.B;1", b"AB", b"A_.;1"]
        );
    }

    #[test]
    fn labels() {
        for good in [
            "cidata",
            "CIDATA",
            "config-2",
            "CONTEXT",
            "a",
            "ABCDEFGHIJKLMNOP",
            "x_y",
        ] {
            assert_eq!(check_label(good), Ok(()), "{good}");
        }
        assert_eq!(check_label(""), Err("is empty".to_owned()));
        assert!(check_label("a.b").expect_err("invalid").contains("`.`"));
        assert!(check_label("a b")
            .expect_err("invalid")
            .contains("` ` (U+0020)"));
        assert!(check_label("café").expect_err("invalid").contains("`é`"));
        assert!(check_label("ABCDEFGHIJKLMNOPQ")
            .expect_err("invalid")
            .contains("17 characters"));
    }
}
