//! Parsing YAML and JSON documents into one generic tree (`serde_json::Value`), and
//! reading scalars out of it the forgiving way cloud-init (PyYAML, YAML 1.1) does:
//! `yes`/`no`/`on`/`off` are booleans, numbers may be given where strings are expected,
//! `"a,b"` may stand for a list. Errors name the file, and the line for syntax errors.

use serde_json::Value;

use super::MediaError;

/// Parses YAML (JSON is a subset); an empty document is `null`.
pub(crate) fn yaml(file: &str, bytes: &[u8]) -> Result<Value, MediaError> {
    let text = utf8(file, bytes)?;
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    yaml_serde::from_str::<Value>(text).map_err(|error| MediaError::Syntax {
        file: file.to_owned(),
        line: error.location().map(|location| location.line()),
        message: error.to_string(),
    })
}

/// Parses JSON.
pub(crate) fn json(file: &str, bytes: &[u8]) -> Result<Value, MediaError> {
    serde_json::from_slice(bytes).map_err(|error| MediaError::Syntax {
        file: file.to_owned(),
        line: Some(error.line()),
        message: error.to_string(),
    })
}

/// The bytes as UTF-8 text.
pub(crate) fn utf8<'a>(file: &str, bytes: &'a [u8]) -> Result<&'a str, MediaError> {
    std::str::from_utf8(bytes).map_err(|error| MediaError::Syntax {
        file: file.to_owned(),
        line: Some(
            bytes[..error.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1,
        ),
        message: "not UTF-8 text".to_owned(),
    })
}

/// A scalar as text: strings as they are, numbers and booleans spelled out.
pub(crate) fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// A boolean, YAML 1.1 style (`true`, `yes`, `on`, `y`, and their negations).
pub(crate) fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(flag) => Some(*flag),
        Value::String(text) => match text.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "y" => Some(true),
            "false" | "no" | "off" | "n" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A list of strings from a list, or from one string split at `separators`.
pub(crate) fn words(value: &Value, separators: &[char]) -> Option<Vec<String>> {
    match value {
        Value::Null => Some(Vec::new()),
        Value::String(text) => Some(
            text.split(separators)
                .map(str::trim)
                .filter(|word| !word.is_empty())
                .map(str::to_owned)
                .collect(),
        ),
        Value::Array(items) => items.iter().map(text).collect(),
        _ => None,
    }
}

/// A human description of a value's type, for errors.
pub(crate) fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

/// The prefix length of a dotted IPv4 netmask (`255.255.255.0` → 24), or of a plain
/// number; `None` for non-contiguous masks.
pub(crate) fn prefix_length(mask: &str) -> Option<u8> {
    if let Ok(prefix) = mask.parse::<u8>() {
        return (prefix <= 128).then_some(prefix);
    }
    match mask.parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            (bits.leading_ones() + bits.trailing_zeros() == 32).then(|| bits.leading_ones() as u8)
        }
        std::net::IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            (bits.leading_ones() + bits.trailing_zeros() == 128).then(|| bits.leading_ones() as u8)
        }
    }
}

/// `address/prefix` from an address that may carry its own prefix, and a mask.
pub(crate) fn cidr(address: &str, mask: Option<&str>) -> Option<String> {
    let (bare, own) = match address.split_once('/') {
        Some((bare, prefix)) => (bare, Some(prefix)),
        None => (address, None),
    };
    let ip: std::net::IpAddr = bare.trim().parse().ok()?;
    let prefix = match (own, mask) {
        (Some(prefix), _) => prefix_length(prefix)?,
        (None, Some(mask)) if !mask.trim().is_empty() => prefix_length(mask.trim())?,
        (None, _) => {
            if ip.is_ipv4() {
                24
            } else {
                64
            }
        }
    };
    if (ip.is_ipv4() && prefix > 32) || prefix > 128 {
        return None;
    }
    Some(format!("{ip}/{prefix}"))
}

/// Appends `items` to `list`, skipping ones already there.
pub(crate) fn extend_unique(list: &mut Vec<String>, items: impl IntoIterator<Item = String>) {
    for item in items {
        if !list.contains(&item) {
            list.push(item);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_addresses() {
        assert_eq!(prefix_length("255.255.255.0"), Some(24));
        assert_eq!(prefix_length("255.0.255.0"), None);
        assert_eq!(prefix_length("ffff:ffff:ffff:ffff::"), Some(64));
        assert_eq!(
            cidr("10.0.0.5", Some("255.255.0.0")).as_deref(),
            Some("10.0.0.5/16")
        );
        assert_eq!(cidr("10.0.0.5/8", None).as_deref(), Some("10.0.0.5/8"));
        assert_eq!(cidr("10.0.0.5/40", None), None);
        assert_eq!(cidr("x", None), None);
    }

    #[test]
    fn yaml_errors_name_the_line() {
        let error = yaml("user-data", b"a: 1\nb: [1, 2\nc: 3\n").expect_err("malformed");
        assert!(
            matches!(error, MediaError::Syntax { line: Some(3), .. }),
            "{error}"
        );
        assert!(
            error.to_string().starts_with("user-data, line 3: "),
            "{error}"
        );
    }
}
