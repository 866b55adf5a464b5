//! What `disk::image` accepts: sizes, formats and declared partitions, checked when the
//! recipe is evaluated (so a mistake points at the recipe line), and turned into the
//! canonical arguments of the `disk_raw` derivation.
//!
//! A declared partition is a map:
//!
//! ```rhai
//! #{ type: "swap", size: "512M" }                     // Linux swap (activated by systemd)
//! #{ type: "srv", size: "1G", contents: tree }        // ext4 with a tree's files, at /srv
//! #{ type: "linux", name: "data", size: "256M" }      // an empty ext4, not mounted
//! #{ type: "xbootldr", size: "512M" }                 // a separate /boot (see below)
//! #{ type: "linux", size: "64M", start: "1G" }        // placed at 1 GiB (MiB aligned)
//! ```
//!
//! Types use the Discoverable Partitions Specification's GUIDs, so systemd's
//! `systemd-gpt-auto-generator` activates swap and mounts `home`, `srv`, `var` and
//! `xbootldr` (at /boot) with no fstab entry. `xbootldr` is a separate /boot: the
//! kernel, initramfs and loader entry go there (FAT, which the firmware's driver reads),
//! and the ESP keeps only systemd-boot.

use std::collections::BTreeMap;

use imgbuild_evaluator::rhai::{Array, Map};
use imgbuild_evaluator::{ArgMap, BuiltinError, DerivationHandle, Inputs, Value};

use super::gpt;

/// 1 MiB: partition alignment, and what sizes are rounded to.
pub const MIB: u64 = 1 << 20;

/// Output formats.
pub const FORMATS: &[&str] = &["raw", "qcow2", "vmdk", "vhd"];
/// Boot loaders.
pub const BOOTS: &[&str] = &["systemd-boot", "none"];
/// Declarable partition types.
pub const TYPES: &[&str] = &["swap", "linux", "home", "srv", "var", "xbootldr"];
const PARTITION_KEYS: &[&str] = &["type", "name", "size", "start", "contents"];

/// `"auto"` (0 here), or a size with a K/M/G/T suffix (powers of 1024), in bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    if text == "auto" {
        return Ok(0);
    }
    parse_bytes(text).and_then(|bytes| {
        if bytes >= 8 * MIB {
            Ok(bytes)
        } else {
            Err(format!("`{text}` is not a disk size between 8M and 16E"))
        }
    })
}

/// A byte count with a K/M/G/T suffix (powers of 1024).
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let (digits, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size like \"2G\" or \"512M\""))?;
    let scale: u64 = match unit {
        "" => 1,
        "K" | "k" => 1 << 10,
        "M" | "m" => 1 << 20,
        "G" | "g" => 1 << 30,
        "T" | "t" => 1 << 40,
        _ => {
            return Err(format!(
                "`{text}`: unknown unit `{unit}` (use K, M, G or T)"
            ))
        }
    };
    number
        .checked_mul(scale)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// The error for a word not in `known`, with a suggestion.
pub fn unknown(function: &str, what: &str, word: &str, known: &[&str]) -> BuiltinError {
    let error = BuiltinError::new(format!("{function}: unknown {what} `{word}`"));
    match imgbuild_evaluator::suggest(word, known.iter().copied()) {
        Some(near) => error.with_help(format!(
            "did you mean `{near}`? ({what}s: {})",
            known.join(", ")
        )),
        None => error.with_help(format!("{what}s: {}", known.join(", "))),
    }
}

/// The formats asked for: `format` (one) or `formats` (several), raw when neither.
pub fn formats(arguments: &ArgMap) -> Result<Vec<String>, BuiltinError> {
    let one = arguments.optional_string("format")?;
    let several = arguments.string_list("formats")?;
    let list = match (one, several.is_empty()) {
        (Some(_), false) => {
            return Err(BuiltinError::new(
                "disk::image: give `format` or `formats`, not both",
            ))
        }
        (Some(format), true) => vec![format],
        (None, false) => several,
        (None, true) => vec!["raw".to_owned()],
    };
    let mut seen = Vec::new();
    for format in list {
        if !FORMATS.contains(&format.as_str()) {
            return Err(unknown("disk::image", "format", &format, FORMATS));
        }
        if seen.contains(&format) {
            return Err(BuiltinError::new(format!(
                "disk::image: format `{format}` is listed twice"
            )));
        }
        seen.push(format);
    }
    Ok(seen)
}

/// The GPT type of a declared partition type.
pub fn type_guid(kind: &str) -> Option<[u8; 16]> {
    Some(match kind {
        "swap" => gpt::LINUX_SWAP,
        "linux" => gpt::LINUX_FILESYSTEM,
        "home" => gpt::LINUX_HOME,
        "srv" => gpt::LINUX_SRV,
        "var" => gpt::LINUX_VAR,
        "xbootldr" => gpt::XBOOTLDR,
        _ => return None,
    })
}

/// Checks `partitions` and returns their canonical form: a list of maps with `type`,
/// `name`, `size` and `start` (bytes, `start` 0 when not given) and `contents` (an
/// input, or null).
pub fn partitions(
    arguments: &ArgMap,
    boot: bool,
    inputs: &mut Inputs,
) -> Result<Value, BuiltinError> {
    let Some(value) = arguments.get("partitions") else {
        return Ok(Value::List(Vec::new()));
    };
    let Some(array) = value.read_lock::<Array>().map(|array| array.clone()) else {
        return Err(arguments.type_error("partitions", "an array of maps", value.type_name()));
    };
    let mut list = Vec::new();
    let mut names: Vec<String> = vec!["esp".to_owned(), "root".to_owned()];
    let mut xbootldr = false;
    for (index, item) in array.into_iter().enumerate() {
        let Some(map) = item.read_lock::<Map>().map(|map| map.clone()) else {
            return Err(arguments.type_error(
                "partitions",
                "an array of maps such as #{ type: \"swap\", size: \"512M\" }",
                item.type_name(),
            ));
        };
        let at = |message: String| {
            BuiltinError::new(format!("disk::image: partition {}: {message}", index + 1))
        };
        let partition = ArgMap::new("disk::image partition", map, PARTITION_KEYS)?;
        let kind = partition.required_string("type")?;
        if type_guid(&kind).is_none() {
            return Err(unknown("disk::image", "partition type", &kind, TYPES));
        }
        let name = partition.optional_string("name")?.unwrap_or(kind.clone());
        if name.encode_utf16().count() > 36 {
            return Err(at(format!(
                "name `{name}` is longer than GPT's 36 characters"
            )));
        }
        if names.contains(&name) {
            return Err(at(format!(
                "the name `{name}` is taken (esp and root are the disk's own; give `name`)"
            )));
        }
        names.push(name.clone());
        let size_text = partition.required_string("size")?;
        let size = parse_bytes(&size_text).map_err(at)?;
        if size < MIB || !size.is_multiple_of(MIB) {
            return Err(at(format!(
                "size `{size_text}` is not a whole number of MiB (at least 1M): partitions are 1 MiB aligned"
            )));
        }
        let start = match partition.optional_string("start")? {
            None => 0,
            Some(text) => {
                let start = parse_bytes(&text).map_err(at)?;
                if start == 0 || !start.is_multiple_of(MIB) {
                    return Err(at(format!(
                        "start `{text}` is misaligned: partitions start on a whole MiB, after the partition table (1M or later)"
                    )));
                }
                start
            }
        };
        let contents = match partition.get("contents") {
            None => Value::Null,
            Some(value) => {
                let Some(handle) = value.read_lock::<DerivationHandle>().map(|handle| *handle)
                else {
                    return Err(partition.type_error(
                        "contents",
                        "a tree derivation",
                        value.type_name(),
                    ));
                };
                if matches!(kind.as_str(), "swap" | "xbootldr") {
                    return Err(at(format!(
                        "a `{kind}` partition takes no `contents` (imgbuild fills it)"
                    )));
                }
                inputs.reference(handle.id)
            }
        };
        if kind == "xbootldr" {
            if xbootldr || !boot {
                return Err(at(
                    "an `xbootldr` partition needs boot \"systemd-boot\" and there can be one"
                        .to_owned(),
                ));
            }
            xbootldr = true;
        }
        let mut entry = BTreeMap::new();
        entry.insert("type".to_owned(), Value::String(kind));
        entry.insert("name".to_owned(), Value::String(name));
        entry.insert("size".to_owned(), Value::Int(size as i64));
        entry.insert("start".to_owned(), Value::Int(start as i64));
        entry.insert("contents".to_owned(), contents);
        list.push(Value::Map(entry));
    }
    Ok(Value::List(list))
}

/// A declared partition, read back from the derivation's arguments.
#[derive(Debug, Clone)]
pub struct Declared {
    /// `swap`, `linux`, `home`, `srv`, `var` or `xbootldr`.
    pub kind: String,
    /// The GPT name.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// Byte offset asked for, 0 for "after the previous one".
    pub start: u64,
    /// The input index of its contents tree.
    pub contents: Option<u32>,
}

/// Reads [`partitions`]' canonical form back.
pub fn declared(value: Option<&Value>) -> Result<Vec<Declared>, String> {
    let Some(Value::List(items)) = value else {
        return Ok(Vec::new());
    };
    items
        .iter()
        .map(|item| {
            let Value::Map(map) = item else {
                return Err("a partition is not a map".to_owned());
            };
            let text = |key: &str| map.get(key).and_then(Value::as_str).map(str::to_owned);
            let number = |key: &str| {
                map.get(key)
                    .and_then(Value::as_int)
                    .and_then(|value| u64::try_from(value).ok())
            };
            Ok(Declared {
                kind: text("type").ok_or("a partition without a type")?,
                name: text("name").ok_or("a partition without a name")?,
                size: number("size").ok_or("a partition without a size")?,
                start: number("start").unwrap_or(0),
                contents: match map.get("contents") {
                    Some(Value::Input(index)) => Some(*index),
                    _ => None,
                },
            })
        })
        .collect()
}
