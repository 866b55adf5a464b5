//! Checked argument maps for builtin constructors, and the error they raise.
//!
//! Builtins take one Rhai map of named arguments. [`ArgMap`] rejects unknown keys (with a
//! "did you mean" suggestion), missing required keys and wrong types; the resulting
//! [`BuiltinError`] travels through Rhai as a runtime error and is rendered by the
//! diagnostics module at the position of the call.

use std::fmt;

use rhai::{Dynamic, EvalAltResult, Map, Position};

/// An error raised by a builtin: a message and an optional hint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltinError {
    /// What went wrong.
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
}

impl BuiltinError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        BuiltinError {
            message: message.into(),
            help: None,
        }
    }

    /// Adds a hint.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for BuiltinError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.message)
    }
}

impl From<BuiltinError> for Box<EvalAltResult> {
    fn from(error: BuiltinError) -> Self {
        Box::new(EvalAltResult::ErrorRuntime(
            Dynamic::from(error),
            Position::NONE,
        ))
    }
}

impl BuiltinError {
    /// The builtin error inside a Rhai error (as [`crate::EvalState::to_value`] returns
    /// it), or one with the Rhai error's text.
    #[allow(clippy::boxed_local)] // the type `map_err` hands over: Rhai boxes its errors
    pub fn from_rhai(error: Box<EvalAltResult>) -> BuiltinError {
        match *error {
            EvalAltResult::ErrorRuntime(value, _) if value.is::<BuiltinError>() => {
                value.cast::<BuiltinError>()
            }
            other => BuiltinError::new(other.to_string()),
        }
    }
}

/// The closest of `candidates` to `word`, if any is close enough to suggest.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (strsim::damerau_levenshtein(word, candidate), candidate))
        .filter(|(distance, candidate)| *distance <= 2.max(candidate.len() / 3))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// A builtin's argument map, checked against the keys the builtin knows.
pub struct ArgMap {
    function: &'static str,
    map: Map,
}

impl ArgMap {
    /// Checks that every key of `map` is one of `known`.
    pub fn new(function: &'static str, map: Map, known: &[&str]) -> Result<Self, BuiltinError> {
        for key in map.keys() {
            if !known.contains(&key.as_str()) {
                let mut error = BuiltinError::new(format!("{function}: unknown key `{key}`"));
                error = match suggest(key, known.iter().copied()) {
                    Some(near) => error.with_help(format!("did you mean `{near}`?")),
                    None => error.with_help(format!("known keys: {}", known.join(", "))),
                };
                return Err(error);
            }
        }
        Ok(ArgMap { function, map })
    }

    /// The function these arguments belong to.
    pub fn function(&self) -> &'static str {
        self.function
    }

    /// The raw value of a key.
    pub fn get(&self, key: &str) -> Option<&Dynamic> {
        self.map.get(key).filter(|value| !value.is_unit())
    }

    /// A required key.
    pub fn required(&self, key: &str) -> Result<&Dynamic, BuiltinError> {
        self.get(key).ok_or_else(|| {
            BuiltinError::new(format!("{}: missing required key `{key}`", self.function))
        })
    }

    /// A required string.
    pub fn required_string(&self, key: &str) -> Result<String, BuiltinError> {
        let value = self.required(key)?;
        self.expect_string(key, value)
    }

    /// An optional string.
    pub fn optional_string(&self, key: &str) -> Result<Option<String>, BuiltinError> {
        self.get(key)
            .map(|value| self.expect_string(key, value))
            .transpose()
    }

    /// An optional integer.
    pub fn optional_int(&self, key: &str) -> Result<Option<i64>, BuiltinError> {
        self.get(key)
            .map(|value| {
                value
                    .as_int()
                    .map_err(|actual| self.type_error(key, "an integer", actual))
            })
            .transpose()
    }

    /// An optional boolean.
    pub fn optional_bool(&self, key: &str) -> Result<Option<bool>, BuiltinError> {
        self.get(key)
            .map(|value| {
                value
                    .as_bool()
                    .map_err(|actual| self.type_error(key, "a boolean", actual))
            })
            .transpose()
    }

    /// An optional string or array of strings, as a list (empty when absent).
    pub fn string_list(&self, key: &str) -> Result<Vec<String>, BuiltinError> {
        let Some(value) = self.get(key) else {
            return Ok(Vec::new());
        };
        if value.is_string() {
            return Ok(vec![value.to_string()]);
        }
        let Some(array) = value.read_lock::<rhai::Array>().map(|array| array.clone()) else {
            return Err(self.type_error(key, "a string or an array of strings", value.type_name()));
        };
        array
            .iter()
            .map(|item| {
                if item.is_string() {
                    Ok(item.to_string())
                } else {
                    Err(self.type_error(key, "an array of strings", item.type_name()))
                }
            })
            .collect()
    }

    fn expect_string(&self, key: &str, value: &Dynamic) -> Result<String, BuiltinError> {
        if value.is_string() {
            Ok(value.to_string())
        } else {
            Err(self.type_error(key, "a string", value.type_name()))
        }
    }

    /// The error for a key of the wrong type.
    pub fn type_error(&self, key: &str, expected: &str, actual: &str) -> BuiltinError {
        BuiltinError::new(format!(
            "{}: `{key}` must be {expected}, not {}",
            self.function,
            friendly_type_name(actual)
        ))
    }
}

/// Rhai's type names made readable (`map` instead of `rhai::Map`).
pub fn friendly_type_name(name: &str) -> &str {
    match name {
        "i64" | "int" => "an integer",
        "bool" => "a boolean",
        "string" | "ImmutableString" => "a string",
        "map" => "a map",
        "array" => "an array",
        "()" => "nothing (unit)",
        "blob" => "a blob",
        "char" => "a character",
        other if other.ends_with("DerivationHandle") || other == "Derivation" => "a derivation",
        other => other,
    }
}
