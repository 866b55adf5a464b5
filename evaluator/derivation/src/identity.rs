//! Identities and their canonical encodings.
//!
//! Every derivation has two 32-byte BLAKE3 identities, both computed over the same
//! canonical, versioned byte encoding (format `imgbuild-drv-v1`):
//!
//! * the **recipe identity** hashes the derivation with each input replaced by the input's
//!   own recipe identity. It is known as soon as the recipe is evaluated.
//! * the **cache key** hashes the derivation with each input replaced by the digest of the
//!   input's *built output*. Two derivations whose inputs differ in recipe but produced the
//!   same bytes share a cache key: that is early cutoff.
//!
//! Fixed-output derivations (local files, fetches) hash only what they promise to produce:
//! their location (a path on disk, a URL) is not part of either identity.
//!
//! ## Encoding, byte by byte
//!
//! ```text
//! derivation := domain kind:str kind_version:u32 name:str args:value
//!               input_count:u64 input_digest:[u8; 32]*
//! domain     := "imgbuild-drv-v1\0"   (recipe identity)
//!             | "imgbuild-key-v1\0"   (cache key)
//!             | "imgbuild-fixed-v1\0" (fixed output: no inputs, args are the promise)
//! str        := len:u64 utf8-bytes
//! value      := 0x00                                   null
//!             | 0x01 | 0x02                            false | true
//!             | 0x03 i64                               integer
//!             | 0x04 str                               string
//!             | 0x05 len:u64 bytes                     bytes
//!             | 0x06 count:u64 value*                  list, in order
//!             | 0x07 count:u64 (key:str value)*        map, keys sorted by their bytes, unique
//!             | 0x08 u32                               reference to input number n
//!             | 0x09 seal:[u8; 32]                     secret text, by its keyed seal only
//! ```
//!
//! All integers are little-endian and fixed width. There are no floats.

use std::fmt;

use crate::value::Value;

/// A 32-byte BLAKE3 digest naming a derivation (recipe identity or cache key).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Identity(pub [u8; 32]);

impl Identity {
    /// The digest as 64 lowercase hexadecimal characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 12 hexadecimal characters, for logs and progress lines.
    pub fn short(&self) -> String {
        let mut hex = self.to_hex();
        hex.truncate(12);
        hex
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "Identity({})", self.short())
    }
}

/// Which of the encodings' domains to hash under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Domain {
    /// Recipe identity: inputs by recipe identity.
    Recipe,
    /// Cache key: inputs by output digest.
    CacheKey,
    /// Fixed output: identity is the promised content.
    Fixed,
}

impl Domain {
    pub(crate) fn prefix(self) -> &'static [u8] {
        match self {
            Domain::Recipe => b"imgbuild-drv-v1\0",
            Domain::CacheKey => b"imgbuild-key-v1\0",
            Domain::Fixed => b"imgbuild-fixed-v1\0",
        }
    }
}

/// Encodes a derivation's fields canonically (see the module docs) into `out`.
pub fn encode_derivation(
    out: &mut Vec<u8>,
    domain: Domain,
    kind: &str,
    kind_version: u32,
    name: &str,
    args: &Value,
    inputs: &[[u8; 32]],
) {
    out.extend_from_slice(domain.prefix());
    encode_str(out, kind);
    out.extend_from_slice(&kind_version.to_le_bytes());
    encode_str(out, name);
    encode_value(out, args);
    out.extend_from_slice(&(inputs.len() as u64).to_le_bytes());
    for input in inputs {
        out.extend_from_slice(input);
    }
}

/// Hashes a derivation's canonical encoding.
pub fn hash_derivation(
    domain: Domain,
    kind: &str,
    kind_version: u32,
    name: &str,
    args: &Value,
    inputs: &[[u8; 32]],
) -> Identity {
    let mut buffer = Vec::with_capacity(128);
    encode_derivation(&mut buffer, domain, kind, kind_version, name, args, inputs);
    Identity(*blake3::hash(&buffer).as_bytes())
}

fn encode_str(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
}

/// Encodes one canonical value (see the module docs) into `out`.
pub fn encode_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.push(0x00),
        Value::Bool(false) => out.push(0x01),
        Value::Bool(true) => out.push(0x02),
        Value::Int(number) => {
            out.push(0x03);
            out.extend_from_slice(&number.to_le_bytes());
        }
        Value::String(text) => {
            out.push(0x04);
            encode_str(out, text);
        }
        Value::Bytes(bytes) => {
            out.push(0x05);
            out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            out.extend_from_slice(bytes);
        }
        Value::List(items) => {
            out.push(0x06);
            out.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for item in items {
                encode_value(out, item);
            }
        }
        Value::Map(map) => {
            out.push(0x07);
            out.extend_from_slice(&(map.len() as u64).to_le_bytes());
            // BTreeMap<String, _> iterates in byte order of the keys.
            for (key, item) in map {
                encode_str(out, key);
                encode_value(out, item);
            }
        }
        Value::Input(index) => {
            out.push(0x08);
            out.extend_from_slice(&index.to_le_bytes());
        }
        Value::Secret(sealed) => {
            out.push(0x09);
            out.extend_from_slice(sealed.seal());
        }
    }
}
