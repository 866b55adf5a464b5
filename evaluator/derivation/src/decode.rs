//! Reading the canonical encoding back: what a remote worker receives.
//!
//! A remote action carries a derivation as the exact bytes its cache key hashes
//! ([`crate::identity`] gives the layout), so the worker can check the key by hashing
//! what it decodes from. The reader is strict: every byte must be consumed, maps must
//! have sorted, unique keys, strings must be UTF-8, and nesting is bounded. Secret
//! values cannot be decoded (only their seal is encoded): a derivation holding one is
//! never sent to a worker, and decoding one is an error.

use std::collections::BTreeMap;

use crate::identity::Domain;
use crate::value::Value;

/// Values nested deeper than this are refused (the evaluator allows 128).
const MAX_DEPTH: usize = 256;

/// A derivation decoded from its canonical encoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// The domain the bytes were encoded under.
    pub domain: Domain,
    /// The builder kind.
    pub kind: String,
    /// The builder version.
    pub kind_version: u32,
    /// The derivation's name (empty for fixed outputs).
    pub name: String,
    /// Its arguments.
    pub args: Value,
    /// The inputs' digests (recipe identities or output digests, by domain).
    pub inputs: Vec<[u8; 32]>,
}

/// Why bytes are not a canonical derivation encoding.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a canonical derivation encoding: {reason} at byte {offset}")]
pub struct DecodeError {
    /// What is wrong.
    pub reason: &'static str,
    /// Where.
    pub offset: usize,
}

struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    fn fail<T>(&self, reason: &'static str) -> Result<T, DecodeError> {
        Err(DecodeError {
            reason,
            offset: self.offset,
        })
    }

    fn take(&mut self, count: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .offset
            .checked_add(count)
            .filter(|end| *end <= self.bytes.len());
        match end {
            Some(end) => {
                let slice = &self.bytes[self.offset..end];
                self.offset = end;
                Ok(slice)
            }
            None => self.fail("unexpected end"),
        }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn length(&mut self) -> Result<usize, DecodeError> {
        let length = self.u64()?;
        // Every element takes at least one byte: a longer count cannot be honest.
        if length > (self.bytes.len() - self.offset) as u64 {
            return self.fail("length beyond the end");
        }
        Ok(length as usize)
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        let length = self.length()?;
        let bytes = self.take(length)?;
        match std::str::from_utf8(bytes) {
            Ok(text) => Ok(text.to_owned()),
            Err(_) => self.fail("string is not UTF-8"),
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        if depth > MAX_DEPTH {
            return self.fail("values nested too deep");
        }
        let [tag] = self.array::<1>()?;
        Ok(match tag {
            0x00 => Value::Null,
            0x01 => Value::Bool(false),
            0x02 => Value::Bool(true),
            0x03 => Value::Int(i64::from_le_bytes(self.array()?)),
            0x04 => Value::String(self.string()?),
            0x05 => {
                let length = self.length()?;
                Value::Bytes(self.take(length)?.to_vec())
            }
            0x06 => {
                let count = self.length()?;
                let mut items = Vec::with_capacity(count.min(1024));
                for _ in 0..count {
                    items.push(self.value(depth + 1)?);
                }
                Value::List(items)
            }
            0x07 => {
                let count = self.length()?;
                let mut map = BTreeMap::new();
                let mut last: Option<String> = None;
                for _ in 0..count {
                    let key = self.string()?;
                    if last
                        .as_ref()
                        .is_some_and(|last| last.as_bytes() >= key.as_bytes())
                    {
                        return self.fail("map keys out of order or repeated");
                    }
                    let item = self.value(depth + 1)?;
                    last = Some(key.clone());
                    map.insert(key, item);
                }
                Value::Map(map)
            }
            0x08 => Value::Input(u32::from_le_bytes(self.array()?)),
            0x09 => return self.fail("a secret value cannot be decoded"),
            _ => return self.fail("unknown value tag"),
        })
    }
}

/// Decodes a derivation encoded by [`crate::encode_derivation`].
pub fn decode_derivation(bytes: &[u8]) -> Result<Decoded, DecodeError> {
    let mut reader = Reader { bytes, offset: 0 };
    let domain = [Domain::CacheKey, Domain::Fixed, Domain::Recipe]
        .into_iter()
        .find(|domain| bytes.starts_with(domain.prefix()));
    let Some(domain) = domain else {
        return reader.fail("unknown domain");
    };
    reader.take(domain.prefix().len())?;
    let kind = reader.string()?;
    let kind_version = u32::from_le_bytes(reader.array()?);
    let name = reader.string()?;
    let args = reader.value(0)?;
    let count = reader.u64()?;
    if count > ((bytes.len() - reader.offset) / 32) as u64 {
        return reader.fail("input count beyond the end");
    }
    let mut inputs = Vec::with_capacity(count as usize);
    for _ in 0..count {
        inputs.push(reader.array::<32>()?);
    }
    if reader.offset != bytes.len() {
        return reader.fail("trailing bytes");
    }
    Ok(Decoded {
        domain,
        kind,
        kind_version,
        name,
        args,
        inputs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::encode_derivation;

    fn sample() -> Value {
        let mut map = BTreeMap::new();
        map.insert(
            "a".to_owned(),
            Value::List(vec![Value::Int(-3), Value::Null]),
        );
        map.insert("b".to_owned(), Value::Bytes(vec![0, 1, 2]));
        map.insert("c".to_owned(), Value::Input(1));
        map.insert("d".to_owned(), Value::String("é".to_owned()));
        map.insert("e".to_owned(), Value::Bool(true));
        Value::Map(map)
    }

    #[test]
    fn round_trips_every_value_kind() {
        let mut bytes = Vec::new();
        let inputs = [[7u8; 32], [9u8; 32]];
        encode_derivation(
            &mut bytes,
            Domain::CacheKey,
            "tree",
            3,
            "site",
            &sample(),
            &inputs,
        );
        let decoded = decode_derivation(&bytes).expect("decodes");
        assert_eq!(decoded.domain, Domain::CacheKey);
        assert_eq!(
            (
                decoded.kind.as_str(),
                decoded.kind_version,
                decoded.name.as_str()
            ),
            ("tree", 3, "site")
        );
        assert_eq!(decoded.args, sample());
        assert_eq!(decoded.inputs, inputs.to_vec());
        let mut again = Vec::new();
        encode_derivation(
            &mut again,
            decoded.domain,
            &decoded.kind,
            decoded.kind_version,
            &decoded.name,
            &decoded.args,
            &decoded.inputs,
        );
        assert_eq!(again, bytes);
    }

    #[test]
    fn refuses_truncation_trailing_bytes_secrets_and_disorder() {
        let mut bytes = Vec::new();
        encode_derivation(&mut bytes, Domain::CacheKey, "text", 1, "t", &sample(), &[]);
        for cut in 0..bytes.len() {
            assert!(
                decode_derivation(&bytes[..cut]).is_err(),
                "prefix of {cut} bytes"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            decode_derivation(&longer).map_err(|e| e.reason),
            Err("trailing bytes")
        );
        let sealed = Value::Secret(crate::Sealed::new(&[1; 32], "pw".to_owned()));
        let mut secret = Vec::new();
        encode_derivation(&mut secret, Domain::CacheKey, "text", 1, "t", &sealed, &[]);
        assert!(decode_derivation(&secret).is_err());
        // A map whose keys are out of order is not canonical.
        let mut args = vec![0x07];
        args.extend_from_slice(&2u64.to_le_bytes());
        for key in ["b", "a"] {
            args.extend_from_slice(&1u64.to_le_bytes());
            args.extend_from_slice(key.as_bytes());
            args.push(0x00);
        }
        let mut bytes = b"imgbuild-key-v1\0".to_vec();
        bytes.extend_from_slice(&1u64.to_le_bytes());
        bytes.push(b'k');
        bytes.extend_from_slice(&1u32.to_le_bytes());
        bytes.extend_from_slice(&0u64.to_le_bytes());
        bytes.extend_from_slice(&args);
        bytes.extend_from_slice(&0u64.to_le_bytes());
        assert_eq!(
            decode_derivation(&bytes).map_err(|e| e.reason),
            Err("map keys out of order or repeated")
        );
    }
}
