//! Canonical argument values.
//!
//! A derivation's `args` are a [`Value`]: a small, float-free data model whose maps are
//! always sorted, so the same arguments always encode to the same bytes. References to
//! other derivations appear as [`Value::Input`], an index into the derivation's input list.
//!
//! Encoding, hashing, JSON rendering and dropping a value recurse once per level. The
//! evaluator refuses recipe values nested more than 128 maps and lists deep
//! (`imgbuild_evaluator::MAX_VALUE_DEPTH`), so that recursion stays shallow.

use std::collections::BTreeMap;

use serde_json::json;

/// A canonical, hashable argument value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// No value.
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer.
    Int(i64),
    /// UTF-8 text.
    String(String),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// An ordered list.
    List(Vec<Value>),
    /// A map with sorted, unique keys.
    Map(BTreeMap<String, Value>),
    /// The output of input number `n` of the derivation holding this value.
    Input(u32),
    /// Secret text: builders read it like a string, identities see only its keyed seal.
    Secret(Sealed),
}

/// Secret text and its seal: BLAKE3 keyed with the secret-identity subkey of the store's
/// (or the team's) secret key over the text. Only the seal is encoded into identities,
/// so a printed identity cannot be used to test candidate passwords offline; `Debug`
/// and [`Value::to_display_json`] never show the text.
///
/// Boxed, so that [`Value`] stays three words wide: a graph holds millions of values.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(Box<SealedText>);

#[derive(Clone, PartialEq, Eq)]
struct SealedText {
    seal: [u8; 32],
    text: String,
}

impl Sealed {
    /// Seals `text` with `key` (the secret-identity subkey).
    pub fn new(key: &[u8; 32], text: String) -> Sealed {
        let mut hasher = blake3::Hasher::new_keyed(key);
        hasher.update(&(text.len() as u64).to_le_bytes());
        hasher.update(text.as_bytes());
        Sealed(Box::new(SealedText {
            seal: *hasher.finalize().as_bytes(),
            text,
        }))
    }

    /// The keyed seal (a secret itself: never print it).
    pub fn seal(&self) -> &[u8; 32] {
        &self.0.seal
    }

    /// The secret text.
    pub fn text(&self) -> &str {
        &self.0.text
    }
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Sealed(<secret>)")
    }
}

impl Value {
    /// Looks up a key in a map value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(map) => map.get(key),
            _ => None,
        }
    }

    /// The text of a string value (or of secret text).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(text) => Some(text),
            Value::Secret(sealed) => Some(sealed.text()),
            _ => None,
        }
    }

    /// Whether this value is, or contains, secret text.
    pub fn holds_secret(&self) -> bool {
        match self {
            Value::Secret(_) => true,
            Value::List(items) => items.iter().any(Value::holds_secret),
            Value::Map(map) => map.values().any(Value::holds_secret),
            _ => false,
        }
    }

    /// The number of an integer value.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(number) => Some(*number),
            _ => None,
        }
    }

    /// The flag of a boolean value.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(flag) => Some(*flag),
            _ => None,
        }
    }

    /// The items of a list value.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(items) => Some(items),
            _ => None,
        }
    }

    /// The entries of a map value.
    pub fn as_map(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Map(map) => Some(map),
            _ => None,
        }
    }

    /// The JSON a builder writes into an output (secret text in clear). Inputs are
    /// rendered as `{"input": n}`, bytes as `{"bytes": "<hex>"}`.
    pub fn to_json(&self) -> serde_json::Value {
        self.json(false)
    }

    /// The JSON `imgbuild graph` and `eval --json` print: secret text is `"<secret>"`.
    pub fn to_display_json(&self) -> serde_json::Value {
        self.json(true)
    }

    fn json(&self, redact: bool) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(flag) => json!(flag),
            Value::Int(number) => json!(number),
            Value::String(text) => json!(text),
            Value::Bytes(bytes) => json!({ "bytes": hex::encode(bytes) }),
            Value::List(items) => {
                serde_json::Value::Array(items.iter().map(|item| item.json(redact)).collect())
            }
            Value::Map(map) => serde_json::Value::Object(
                map.iter()
                    .map(|(key, item)| (key.clone(), item.json(redact)))
                    .collect(),
            ),
            Value::Input(index) => json!({ "input": index }),
            Value::Secret(_) if redact => json!("<secret>"),
            Value::Secret(sealed) => json!(sealed.text()),
        }
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Self {
        Value::String(text.to_owned())
    }
}

impl From<String> for Value {
    fn from(text: String) -> Self {
        Value::String(text)
    }
}

impl From<i64> for Value {
    fn from(number: i64) -> Self {
        Value::Int(number)
    }
}

impl From<bool> for Value {
    fn from(flag: bool) -> Self {
        Value::Bool(flag)
    }
}

#[cfg(test)]
mod size_tests {
    #[test]
    fn a_value_is_four_words_at_most() {
        assert!(std::mem::size_of::<super::Value>() <= 32);
    }
}
