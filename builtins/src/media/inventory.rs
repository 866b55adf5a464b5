//! `inventory::csv(path)` and `inventory::json(path)`: a fleet inventory as an array of
//! rows (maps), read at evaluation relative to the recipe file.
//!
//! Each row's values flow into the derivations the recipe builds from it, so a medium's
//! identity covers exactly its own row: editing one row rebuilds one VM's medium.
//!
//! Rows are checked as they are read, and a bad one is reported with the file and row:
//! `name` is required, unique (case-insensitively) and a DNS label; `hostname`, `ip`,
//! `prefix`, `gateway`, `dns`, `mac`, `mtu` and `ssh_key` are checked when present (an
//! empty `ip` means DHCP). Other columns are passed through; their names must be shell
//! identifiers, since recipes commonly turn them into context variables. Input must be
//! UTF-8. CSV lines starting with `#` are comments.

use std::collections::BTreeMap;
use std::path::Path;

use imgbuild_evaluator::rhai::{
    Array, Dynamic, Engine, EvalAltResult, ImmutableString, Map, Module, NativeCallContext,
};
use imgbuild_evaluator::BuiltinError;

use crate::media::validate;

/// Columns with a meaning of their own.
const KNOWN_COLUMNS: &[&str] = &[
    "name",
    "hostname",
    "ip",
    "prefix",
    "gateway",
    "dns",
    "ssh_key",
    "mac",
    "mtu",
    "interface",
];

pub(crate) fn register(engine: &mut Engine, registration: &crate::Registration) {
    let state = &registration.state;
    let mut module = Module::new();
    let csv_state = state.clone();
    module.set_native_fn(
        "csv",
        move |context: NativeCallContext,
              path: ImmutableString|
              -> Result<Array, Box<EvalAltResult>> {
            let resolved = csv_state
                .local_path(&context, &path)
                .map_err(|error| crate::core::at_call(&context, error))?;
            read(&path, &resolved, Format::Csv)
                .and_then(|rows| seal_credentials(&csv_state, rows))
                .map_err(|error| crate::core::at_call(&context, error))
        },
    );
    let json_state = state.clone();
    module.set_native_fn(
        "json",
        move |context: NativeCallContext,
              path: ImmutableString|
              -> Result<Array, Box<EvalAltResult>> {
            let resolved = json_state
                .local_path(&context, &path)
                .map_err(|error| crate::core::at_call(&context, error))?;
            read(&path, &resolved, Format::Json)
                .and_then(|rows| seal_credentials(&json_state, rows))
                .map_err(|error| crate::core::at_call(&context, error))
        },
    );
    engine.register_static_module("inventory", module.into());
}

/// Seals the values of credential columns (`password`, `root_password`, `token`, ...):
/// `row.password` is then a secret wherever the recipe puts it.
fn seal_credentials(
    state: &imgbuild_evaluator::SharedState,
    rows: Array,
) -> Result<Array, BuiltinError> {
    rows.into_iter()
        .map(|row| {
            let mut map = row.cast::<Map>();
            for (key, value) in map.iter_mut() {
                if imgbuild_evaluator::is_secret_field(key) && value.is_string() {
                    *value = Dynamic::from(state.seal(value.to_string())?);
                }
            }
            Ok(Dynamic::from_map(map))
        })
        .collect()
}

#[derive(Clone, Copy)]
enum Format {
    Csv,
    Json,
}

/// Where a row came from, for messages.
struct RowPlace<'a> {
    file: &'a str,
    row: usize,
    line: Option<u64>,
}

impl RowPlace<'_> {
    fn error(&self, reason: impl std::fmt::Display) -> BuiltinError {
        let line = self
            .line
            .map(|line| format!(" (line {line})"))
            .unwrap_or_default();
        BuiltinError::new(format!(
            "inventory `{}` row {}{line}: {reason}",
            self.file, self.row
        ))
    }
}

fn file_error(file: &str, reason: impl std::fmt::Display) -> BuiltinError {
    BuiltinError::new(format!("inventory `{file}`: {reason}"))
}

fn read(given: &str, resolved: &Path, format: Format) -> Result<Array, BuiltinError> {
    let bytes = std::fs::read(resolved).map_err(|error| {
        file_error(
            given,
            format!("cannot read {}: {error}", resolved.display()),
        )
        .with_help("inventory paths are relative to the recipe file that names them")
    })?;
    parse(given, &bytes, format)
}

/// Rows of an inventory file's contents; `given` names the file in messages.
fn parse(given: &str, bytes: &[u8], format: Format) -> Result<Array, BuiltinError> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|error| {
        let valid = &bytes[..error.valid_up_to()];
        let line = valid.iter().filter(|byte| **byte == b'\n').count() + 1;
        file_error(
            given,
            format!(
                "line {line} is not valid UTF-8 (byte {})",
                error.valid_up_to()
            ),
        )
        .with_help("save the inventory as UTF-8")
    })?;
    let rows = match format {
        Format::Csv => csv_rows(given, text)?,
        Format::Json => json_rows(given, text)?,
    };
    check_unique_names(given, &rows)?;
    Ok(rows
        .into_iter()
        .map(|(_, row)| Dynamic::from_map(row))
        .collect())
}

/// Entry points for the fuzz targets in `fuzz/` (not part of the API): the readers
/// without the file, on bytes.
#[doc(hidden)]
pub mod fuzzing {
    use imgbuild_evaluator::rhai::Array;
    use imgbuild_evaluator::BuiltinError;

    /// What `inventory::csv` makes of a file holding `bytes`.
    pub fn csv(bytes: &[u8]) -> Result<Array, BuiltinError> {
        super::parse("fuzz.csv", bytes, super::Format::Csv)
    }

    /// What `inventory::json` makes of a file holding `bytes`.
    pub fn json(bytes: &[u8]) -> Result<Array, BuiltinError> {
        super::parse("fuzz.json", bytes, super::Format::Json)
    }
}

type Row = (RowPlaceOwned, Map);

/// A row's position, kept for the uniqueness check.
struct RowPlaceOwned {
    row: usize,
    line: Option<u64>,
}

fn csv_rows(given: &str, text: &str) -> Result<Vec<Row>, BuiltinError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|error| file_error(given, csv_reason(&error)))?
        .clone();
    let columns: Vec<String> = headers.iter().map(str::to_owned).collect();
    check_columns(given, &columns)?;
    let mut rows = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let record = record.map_err(|error| file_error(given, csv_reason(&error)))?;
        let place = RowPlace {
            file: given,
            row: index + 1,
            line: record.position().map(csv::Position::line),
        };
        // No inventory value spans lines; one that does is an unterminated quote that
        // swallowed the rows after it.
        if let Some((column, _)) = columns
            .iter()
            .zip(record.iter())
            .find(|(_, value)| value.contains(['\n', '\r']))
        {
            return Err(place.error(format!(
                "column `{column}` runs over several lines: a quote that is never closed swallows the rows after it"
            )));
        }
        let values: BTreeMap<&str, String> = columns
            .iter()
            .map(String::as_str)
            .zip(record.iter().map(str::to_owned))
            .collect();
        check_row(&place, &values)?;
        let map: Map = values
            .into_iter()
            .map(|(key, value)| (key.into(), Dynamic::from(value)))
            .collect();
        rows.push((
            RowPlaceOwned {
                row: place.row,
                line: place.line,
            },
            map,
        ));
    }
    Ok(rows)
}

fn csv_reason(error: &csv::Error) -> String {
    match error.kind() {
        csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => format!(
            "{}row has {len} fields, but the header has {expected_len}",
            pos.as_ref()
                .map(|pos| format!("line {}: ", pos.line()))
                .unwrap_or_default()
        ),
        _ => error.to_string(),
    }
}

fn check_columns(given: &str, columns: &[String]) -> Result<(), BuiltinError> {
    if !columns.iter().any(|column| column == "name") {
        return Err(
            file_error(given, "there is no `name` column").with_help(format!(
                "the first line names the columns, e.g. {}",
                "name,ip,prefix,gateway,dns,ssh_key"
            )),
        );
    }
    let mut seen = std::collections::BTreeSet::new();
    for column in columns {
        if !seen.insert(column) {
            return Err(file_error(
                given,
                format!("column `{column}` appears twice"),
            ));
        }
        validate::context_variable(column).map_err(|reason| {
            file_error(given, format!("header (line 1): column {reason}"))
                .with_help("extra columns become variables (e.g. OpenNebula context variables), so their names must be identifiers")
        })?;
    }
    Ok(())
}

/// Checks the columns with a meaning; `values` maps column to text.
fn check_row(place: &RowPlace<'_>, values: &BTreeMap<&str, String>) -> Result<(), BuiltinError> {
    let get = |column: &str| {
        values
            .get(column)
            .map(|value| value.trim())
            .filter(|value| !value.is_empty())
    };
    let name = get("name").ok_or_else(|| place.error("`name` is empty"))?;
    let named = |reason: String| place.error(format!("VM `{name}`: {reason}"));
    validate::dns_label(name)
        .map_err(|reason| named(format!("`name` is not a valid host name: {reason}")))?;
    if let Some(hostname) = get("hostname") {
        validate::hostname(hostname).map_err(|reason| named(format!("`hostname`: {reason}")))?;
    }
    match get("ip") {
        Some(ip) => {
            let (address, prefix) = validate::address_with_prefix(ip, get("prefix"))
                .map_err(|reason| named(format!("`ip`: {reason}")))?;
            if let Some(gateway) = get("gateway") {
                let gateway = validate::ip_address(gateway)
                    .map_err(|reason| named(format!("`gateway`: {reason}")))?;
                validate::gateway(address, prefix, gateway).map_err(named)?;
            }
        }
        None => {
            if let Some(prefix) = get("prefix") {
                return Err(named(format!(
                    "`prefix` is {prefix} but `ip` is empty (DHCP)"
                )));
            }
            if let Some(gateway) = get("gateway") {
                return Err(named(format!(
                    "`gateway` is {gateway} but `ip` is empty (DHCP provides the gateway)"
                )));
            }
        }
    }
    if let Some(dns) = get("dns") {
        for server in dns
            .split([' ', ',', ';', '\n'])
            .filter(|server| !server.is_empty())
        {
            validate::ip_address(server).map_err(|reason| named(format!("`dns`: {reason}")))?;
        }
    }
    if let Some(mac) = get("mac") {
        validate::mac_address(mac).map_err(|reason| named(format!("`mac`: {reason}")))?;
    }
    if let Some(mtu) = get("mtu") {
        if !mtu
            .parse::<u32>()
            .is_ok_and(|mtu| (68..=65535).contains(&mtu))
        {
            return Err(named(format!("`mtu`: `{mtu}` is not an MTU (68–65535)")));
        }
    }
    if let Some(keys) = get("ssh_key") {
        for key in keys.lines().filter(|key| !key.trim().is_empty()) {
            validate::ssh_public_key(key)
                .map_err(|reason| named(format!("`ssh_key`: {reason}")))?;
        }
    }
    Ok(())
}

/// Names, addresses and MACs are each one VM's own: a second row with the same one is
/// an error naming both rows.
fn check_unique_names(given: &str, rows: &[Row]) -> Result<(), BuiltinError> {
    let at = |place: &RowPlaceOwned| match place.line {
        Some(line) => format!("row {} (line {line})", place.row),
        None => format!("row {}", place.row),
    };
    for (column, what, help) in [
        (
            "name",
            "VM name",
            "every VM needs its own name: it names its medium",
        ),
        (
            "ip",
            "address",
            "two VMs with one address break each other's network",
        ),
        (
            "mac",
            "MAC address",
            "two network cards with one MAC break each other's network",
        ),
    ] {
        let mut seen: BTreeMap<String, &RowPlaceOwned> = BTreeMap::new();
        for (place, row) in rows {
            let value = row
                .get(column)
                .map(|value| value.to_string().trim().to_ascii_lowercase())
                .unwrap_or_default();
            // The address without its prefix; MACs in one spelling.
            let value = match column {
                "ip" => value.split('/').next().unwrap_or_default().to_owned(),
                "mac" => value.replace('-', ":"),
                _ => value,
            };
            if value.is_empty() && column != "name" {
                continue;
            }
            if let Some(first) = seen.insert(value.clone(), place) {
                return Err(BuiltinError::new(format!(
                    "inventory `{given}` {}: duplicate {what} `{value}` (also in {})",
                    at(place),
                    at(first)
                ))
                .with_help(help));
            }
        }
    }
    Ok(())
}

fn json_rows(given: &str, text: &str) -> Result<Vec<Row>, BuiltinError> {
    let document: serde_json::Value = serde_json::from_str(text).map_err(|error| {
        file_error(
            given,
            format!(
                "not valid JSON at line {}, column {}: {error}",
                error.line(),
                error.column()
            ),
        )
    })?;
    let serde_json::Value::Array(items) = document else {
        return Err(file_error(
            given,
            "the top level must be an array of objects, one per VM",
        ));
    };
    let mut rows = Vec::new();
    let mut columns_checked = std::collections::BTreeSet::new();
    for (index, item) in items.into_iter().enumerate() {
        let place = RowPlace {
            file: given,
            row: index + 1,
            line: None,
        };
        let serde_json::Value::Object(object) = item else {
            return Err(place.error("must be an object"));
        };
        let mut texts = BTreeMap::new();
        for (key, value) in &object {
            if columns_checked.insert(key.clone()) {
                validate::context_variable(key)
                    .map_err(|reason| place.error(format!("key {reason}")))?;
            }
            if KNOWN_COLUMNS.contains(&key.as_str()) {
                texts.insert(
                    key.as_str(),
                    json_text(value).ok_or_else(|| {
                        place.error(format!(
                            "`{key}` must be a string, a number or an array of strings"
                        ))
                    })?,
                );
            }
        }
        check_row(&place, &texts)?;
        let mut map = Map::new();
        for (key, value) in object {
            map.insert(
                key.as_str().into(),
                json_to_dynamic(value)
                    .map_err(|reason| place.error(format!("`{key}`: {reason}")))?,
            );
        }
        rows.push((
            RowPlaceOwned {
                row: place.row,
                line: None,
            },
            map,
        ));
    }
    Ok(rows)
}

/// The text of a known column's JSON value (arrays joined by newlines).
fn json_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::Null => Some(String::new()),
        serde_json::Value::String(text) => Some(text.clone()),
        serde_json::Value::Number(number) => Some(number.to_string()),
        serde_json::Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .map(|items| items.join("\n")),
        _ => None,
    }
}

fn json_to_dynamic(value: serde_json::Value) -> Result<Dynamic, String> {
    Ok(match value {
        serde_json::Value::Null => Dynamic::UNIT,
        serde_json::Value::Bool(flag) => Dynamic::from_bool(flag),
        serde_json::Value::Number(number) => match number.as_i64() {
            Some(integer) => Dynamic::from_int(integer),
            None => {
                return Err(format!(
                    "{number} is not an integer (recipes have no floating point)"
                ))
            }
        },
        serde_json::Value::String(text) => Dynamic::from(text),
        serde_json::Value::Array(items) => Dynamic::from_array(
            items
                .into_iter()
                .map(json_to_dynamic)
                .collect::<Result<_, _>>()?,
        ),
        serde_json::Value::Object(object) => Dynamic::from_map(
            object
                .into_iter()
                .map(|(key, value)| Ok((key.as_str().into(), json_to_dynamic(value)?)))
                .collect::<Result<Map, String>>()?,
        ),
    })
}
