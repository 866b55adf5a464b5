//! [`Digest`]: a 32-byte BLAKE3 hash, the name of every object in the store.
//!
//! A digest prints as 64 lowercase hex characters (both `Display` and `Debug`),
//! parses back from exactly that form, and serializes with serde as the same
//! hex string so that JSON files stay readable.

use std::fmt;
use std::str::FromStr;

/// A BLAKE3 digest. Blob ids, tree ids, cache keys and recipe identities are all digests.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest([u8; 32]);

/// The error returned when a string is not a 64-character hex digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a digest (expected 64 hex characters)")]
pub struct DigestParseError {
    /// The string that failed to parse.
    pub input: String,
}

impl Digest {
    /// Wraps raw digest bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Digest {
        Digest(bytes)
    }

    /// BLAKE3 of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(*blake3::hash(bytes).as_bytes())
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The full 64-character lowercase hex form.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 12 hex characters, for humans.
    pub fn short(&self) -> String {
        let mut text = self.to_hex();
        text.truncate(12);
        text
    }
}

impl From<blake3::Hash> for Digest {
    fn from(hash: blake3::Hash) -> Digest {
        Digest(*hash.as_bytes())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.to_hex())
    }
}

impl FromStr for Digest {
    type Err = DigestParseError;

    fn from_str(text: &str) -> Result<Digest, DigestParseError> {
        let error = || DigestParseError {
            input: text.to_owned(),
        };
        if text.len() != 64 || !text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return Err(error());
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).map_err(|_| error())?;
        Ok(Digest(bytes))
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Digest, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blake3_of_empty_input_is_the_published_vector() {
        assert_eq!(
            Digest::of(b"").to_string(),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
    }

    #[test]
    fn parse_round_trips_and_short_is_twelve_characters() {
        let digest = Digest::of(b"hello");
        let parsed: Digest = digest.to_string().parse().expect("parse");
        assert_eq!(parsed, digest);
        assert_eq!(digest.short().len(), 12);
        assert_eq!(format!("{digest:?}"), digest.to_string());
    }

    #[test]
    fn parse_errors_name_the_input() {
        for bad in ["", "abc", &"g".repeat(64), &"a".repeat(65)] {
            let error = bad.parse::<Digest>().expect_err("must fail");
            assert_eq!(error.input, bad);
            assert!(error.to_string().contains(bad));
        }
    }

    #[test]
    fn uppercase_hex_parses_to_the_same_digest() {
        let digest = Digest::of(b"x");
        let upper = digest.to_string().to_uppercase();
        assert_eq!(upper.parse::<Digest>().expect("parse"), digest);
    }

    #[test]
    fn serde_uses_the_hex_string() {
        let digest = Digest::of(b"serde");
        let json = serde_json::to_string(&digest).expect("serialize");
        assert_eq!(json, format!("\"{digest}\""));
        let back: Digest = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, digest);
        assert!(serde_json::from_str::<Digest>("\"nope\"").is_err());
    }
}
