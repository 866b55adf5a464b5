//! Canonical argument values.
//!
//! A derivation's `args` are a [`Value`]: a small, float-free data model whose maps are
//! always sorted, so the same arguments always encode to the same bytes. References to
//! other derivations appear as [`Value::Input`], an index into the derivation's input list.

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
}

impl Value {
    /// Looks up a key in a map value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(map) => map.get(key),
            _ => None,
        }
    }

    /// The text of a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(text) => Some(text),
            _ => None,
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

    /// A JSON rendering for `imgbuild eval --json` and `graph --format json`. Inputs are
    /// rendered as `{"input": n}`, bytes as `{"bytes": "<hex>"}`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(flag) => json!(flag),
            Value::Int(number) => json!(number),
            Value::String(text) => json!(text),
            Value::Bytes(bytes) => json!({ "bytes": hex::encode(bytes) }),
            Value::List(items) => {
                serde_json::Value::Array(items.iter().map(Value::to_json).collect())
            }
            Value::Map(map) => serde_json::Value::Object(
                map.iter()
                    .map(|(key, item)| (key.clone(), item.to_json()))
                    .collect(),
            ),
            Value::Input(index) => json!({ "input": index }),
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
