//! Debian package versions and their ordering, as dpkg defines them
//! (deb-version(7)): `[epoch:]upstream_version[-debian_revision]`.
//!
//! Comparison: epochs numerically, then the upstream versions, then the revisions, each
//! with dpkg's `verrevcmp`: alternating runs of non-digits (compared character by
//! character, where `~` sorts before everything, even the end of the string, and
//! letters sort before other characters) and runs of digits (compared as numbers).
//! This is our own implementation (the algorithm is short and dpkg's test vectors are
//! in the tests below); `Ord` on [`Version`] is that ordering, and two versions that
//! compare equal (`1.0` and `0:1.0`, `1.0-0` and `1.0`) are equal.

use std::cmp::Ordering;
use std::fmt;

/// A parsed Debian version.
#[derive(Debug, Clone)]
pub struct Version {
    text: Box<str>,
    epoch: u32,
    /// Byte range of the upstream version in `text`.
    upstream: (u32, u32),
    /// Byte range of the revision in `text` (empty when there is none).
    revision: (u32, u32),
}

/// Why a version string is not a Debian version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a Debian version: {reason}")]
pub struct VersionError {
    /// The text that failed to parse.
    pub text: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl Version {
    /// Parses `text` (surrounding whitespace is ignored).
    pub fn parse(text: &str) -> Result<Version, VersionError> {
        let error = |reason| VersionError {
            text: text.to_owned(),
            reason,
        };
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(error("it is empty"));
        }
        if trimmed.len() > u32::MAX as usize / 2 {
            return Err(error("it is too long"));
        }
        if trimmed.contains(char::is_whitespace) {
            return Err(error("it contains white space"));
        }
        let (epoch, rest_start) = match trimmed.find(':') {
            Some(colon) => {
                let digits = &trimmed[..colon];
                if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
                    return Err(error("the epoch is not a number"));
                }
                let epoch = digits
                    .parse::<u32>()
                    .map_err(|_| error("the epoch is too large"))?;
                (epoch, colon + 1)
            }
            None => (0, 0),
        };
        let rest = &trimmed[rest_start..];
        let (upstream, revision) = match rest.rfind('-') {
            Some(dash) => (&rest[..dash], &rest[dash + 1..]),
            None => (rest, ""),
        };
        if upstream.is_empty() {
            return Err(error("the upstream version is empty"));
        }
        if !upstream.as_bytes()[0].is_ascii_digit() {
            // dpkg only warns here; archives do contain such versions, so accept them.
        }
        let allowed =
            |byte: u8, extra: &[u8]| byte.is_ascii_alphanumeric() || extra.contains(&byte);
        if !upstream.bytes().all(|byte| allowed(byte, b".+-~:")) {
            return Err(error(
                "the upstream version has a character outside [A-Za-z0-9.+~:-]",
            ));
        }
        if rest.contains('-') && revision.is_empty() {
            return Err(error("the revision after `-` is empty"));
        }
        if !revision.bytes().all(|byte| allowed(byte, b".+~")) {
            return Err(error("the revision has a character outside [A-Za-z0-9.+~]"));
        }
        let upstream_start = rest_start as u32;
        let upstream_end = upstream_start + upstream.len() as u32;
        let revision_range = if revision.is_empty() {
            (upstream_end, upstream_end)
        } else {
            (upstream_end + 1, trimmed.len() as u32)
        };
        Ok(Version {
            text: trimmed.into(),
            epoch,
            upstream: (upstream_start, upstream_end),
            revision: revision_range,
        })
    }

    /// The epoch (0 when absent).
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The upstream version.
    pub fn upstream(&self) -> &str {
        &self.text[self.upstream.0 as usize..self.upstream.1 as usize]
    }

    /// The Debian revision ("" when absent).
    pub fn revision(&self) -> &str {
        &self.text[self.revision.0 as usize..self.revision.1 as usize]
    }

    /// The version as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Version {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.text)
    }
}

impl std::str::FromStr for Version {
    type Err = VersionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Version::parse(text)
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| verrevcmp(self.upstream(), other.upstream()))
            .then_with(|| verrevcmp(self.revision(), other.revision()))
    }
}

impl std::hash::Hash for Version {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Equal versions may be spelled differently (`0:1` and `1`); hash what `cmp`
        // compares, normalised: epoch, and each part with leading zeros of digit runs
        // removed.
        self.epoch.hash(state);
        for part in [self.upstream(), self.revision()] {
            let mut previous_digit = false;
            let mut leading = true;
            for byte in part.bytes() {
                let digit = byte.is_ascii_digit();
                if digit && !previous_digit {
                    leading = true;
                }
                if digit && leading && byte == b'0' {
                    previous_digit = true;
                    continue;
                }
                leading = false;
                previous_digit = digit;
                byte.hash(state);
            }
            0xffu8.hash(state);
        }
    }
}

/// dpkg's character weight for the non-digit parts.
fn order(byte: Option<u8>) -> i32 {
    match byte {
        None => 0,
        Some(b'~') => -1,
        Some(byte) if byte.is_ascii_digit() => 0,
        Some(byte) if byte.is_ascii_alphabetic() => i32::from(byte),
        Some(byte) => i32::from(byte) + 256,
    }
}

/// dpkg's `verrevcmp`.
fn verrevcmp(left: &str, right: &str) -> Ordering {
    let left = left.as_bytes();
    let right = right.as_bytes();
    let (mut i, mut j) = (0, 0);
    while i < left.len() || j < right.len() {
        // Non-digit run.
        while (i < left.len() && !left[i].is_ascii_digit())
            || (j < right.len() && !right[j].is_ascii_digit())
        {
            let a = order(left.get(i).copied());
            let b = order(right.get(j).copied());
            if a != b {
                return a.cmp(&b);
            }
            i += 1;
            j += 1;
        }
        // Digit run: skip leading zeros, then the longer run is larger, else compare.
        while i < left.len() && left[i] == b'0' {
            i += 1;
        }
        while j < right.len() && right[j] == b'0' {
            j += 1;
        }
        let start_i = i;
        let start_j = j;
        while i < left.len() && left[i].is_ascii_digit() {
            i += 1;
        }
        while j < right.len() && right[j].is_ascii_digit() {
            j += 1;
        }
        let a = &left[start_i..i];
        let b = &right[start_j..j];
        let by_length = a.len().cmp(&b.len());
        if by_length != Ordering::Equal {
            return by_length;
        }
        let by_digits = a.cmp(b);
        if by_digits != Ordering::Equal {
            return by_digits;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).expect("valid version")
    }

    #[test]
    fn dpkg_ordering_vectors() {
        // From dpkg's lib/dpkg/t/t-version.c and deb-version(7).
        let less = [
            ("1.0~rc1", "1.0"),
            ("1.0~~", "1.0~"),
            ("1.0~", "1.0"),
            ("1.0", "1.0+b1"),
            ("1.0", "1.0a"),
            ("1.0a", "1.0+"),
            ("1.0", "1.0.1"),
            ("1.2", "1.10"),
            ("0:9", "1:0"),
            ("1.0-1", "1.0-2"),
            ("1.0-9", "1.0-10"),
            ("1.0-1", "1.0.1-1"),
            ("2.30-21", "2.30-21+deb12u1"),
            ("1:2.38.1-5", "1:2.38.1-5+deb12u1"),
            ("7.88.1-10+deb12u5", "7.88.1-10+deb12u12"),
            ("1.0", "1.0-0.1"),
            ("a", "b"),
            ("1.0~beta", "1.0~rc"),
            ("0.0.9", "0.1"),
            ("1.001", "1.2"),
        ];
        for (a, b) in less {
            assert!(v(a) < v(b), "{a} < {b}");
            assert!(v(b) > v(a), "{b} > {a}");
        }
        let equal = [("1.0", "0:1.0"), ("1.01", "1.1"), ("1.0-001", "1.0-1")];
        for (a, b) in equal {
            assert_eq!(v(a), v(b), "{a} = {b}");
            use std::hash::{BuildHasher, RandomState};
            let state = RandomState::new();
            assert_eq!(state.hash_one(v(a)), state.hash_one(v(b)), "hash {a} = {b}");
        }
        assert_eq!(v("1.0"), v("1.0-0"), "dpkg: 1.0 eq 1.0-0");
    }

    #[test]
    fn parts_and_errors() {
        let version = v("2:1.2-3-4");
        assert_eq!(version.epoch(), 2);
        assert_eq!(version.upstream(), "1.2-3");
        assert_eq!(version.revision(), "4");
        assert_eq!(version.to_string(), "2:1.2-3-4");
        for bad in ["", ":1", "a:1", "1.0-", "1 0", "1.0_1", "1:", "1.0-a_b"] {
            assert!(Version::parse(bad).is_err(), "{bad:?} must be rejected");
        }
    }
}
