//! user-data in any of the formats this agent applies, recognised by its first bytes as
//! cloud-init does:
//!
//! - gzip data (magic `1f 8b`): decompressed, then read again;
//! - `#cloud-config`: a cloud-config document ([`super::cloud_config`]);
//! - `#!`: a shell script, one per-instance script named `user-data`;
//! - `Content-Type: multipart/…` (or `MIME-Version:` first): MIME multipart, as imgbuild
//!   writes it when scripts are given. `text/cloud-config` parts are merged;
//!   `text/x-shellscript` (and `-per-instance`) parts become per-instance scripts,
//!   `text/x-shellscript-per-boot` every-boot scripts, named by their file name, in
//!   document order; `base64` transfer encoding is decoded. `text/plain` parts are
//!   recognised by their first line like a whole document. Other part types are
//!   warnings;
//! - empty: nothing.
//!
//! Formats that would ask for things this agent cannot do (`#include`, `## template:
//! jinja`, `#cloud-boothook`, `#cloud-config-archive`, `#part-handler`) are errors, so
//! that nothing is applied half-way. Text without any header is ignored with a warning,
//! like cloud-init does.

use base64::Engine as _;
use serde_json::{Map, Value};

use super::values::{describe, utf8, yaml};
use super::MediaError;
use crate::model::{Instance, Script, When};

/// Nested multipart documents are not followed deeper than this.
const MAX_NESTING: usize = 2;

/// What user-data collects before it is applied.
#[derive(Default)]
struct Collected {
    cloud_config: Option<Map<String, Value>>,
    scripts: Vec<Script>,
}

/// Reads user-data (`file` names it in errors) into `instance`.
pub fn apply(bytes: &[u8], file: &str, instance: &mut Instance) -> Result<(), MediaError> {
    let mut collected = Collected::default();
    collect(bytes, file, None, 0, &mut collected, instance)?;
    // Part scripts run before `runcmd` (cloud-init runs both from its scripts
    // directory; `runcmd` last).
    let earlier = std::mem::take(&mut instance.scripts);
    if let Some(config) = &collected.cloud_config {
        super::cloud_config::interpret(config, file, instance)?;
    }
    let mut config_scripts = std::mem::take(&mut instance.scripts);
    let boot: Vec<Script> = config_scripts
        .iter()
        .filter(|script| script.name == "bootcmd")
        .cloned()
        .collect();
    config_scripts.retain(|script| script.name != "bootcmd");
    instance.scripts = earlier;
    instance.scripts.extend(boot);
    instance.scripts.extend(collected.scripts);
    instance.scripts.extend(config_scripts);
    Ok(())
}

fn syntax(file: &str, message: impl Into<String>) -> MediaError {
    MediaError::Syntax {
        file: file.to_owned(),
        line: None,
        message: message.into(),
    }
}

fn collect(
    bytes: &[u8],
    file: &str,
    name: Option<&str>,
    depth: usize,
    collected: &mut Collected,
    instance: &mut Instance,
) -> Result<(), MediaError> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let inflated = super::cloud_config::gunzip(bytes).map_err(|reason| syntax(file, reason))?;
        return collect(&inflated, file, name, depth, collected, instance);
    }
    let start = String::from_utf8_lossy(&bytes[..bytes.len().min(64)]).to_ascii_lowercase();
    let first_line = start
        .lines()
        .next()
        .unwrap_or_default()
        .trim_end()
        .to_owned();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    if first_line.starts_with("#cloud-config-archive") {
        return Err(syntax(
            file,
            "#cloud-config-archive user-data is not supported",
        ));
    }
    if first_line.starts_with("#cloud-config") {
        let document = yaml(file, bytes)?;
        let map = match document {
            Value::Null => Map::new(),
            Value::Object(map) => map,
            other => {
                return Err(MediaError::Invalid {
                    file: file.to_owned(),
                    reason: format!("cloud-config must be a map, not {}", describe(&other)),
                })
            }
        };
        match &mut collected.cloud_config {
            Some(existing) => super::cloud_config::merge(existing, map),
            None => collected.cloud_config = Some(map),
        }
        return Ok(());
    }
    if first_line.starts_with("#!") {
        collected.scripts.push(Script {
            name: name.unwrap_or("user-data").to_owned(),
            body: bytes.to_vec(),
            when: When::PerInstance,
        });
        return Ok(());
    }
    if first_line.starts_with("content-type:") || first_line.starts_with("mime-version:") {
        if depth >= MAX_NESTING {
            return Err(syntax(file, "MIME multipart nested too deeply"));
        }
        return multipart(bytes, file, depth, collected, instance);
    }
    for header in [
        "#include",
        "## template:",
        "#cloud-boothook",
        "#part-handler",
    ] {
        if first_line.starts_with(header) {
            return Err(syntax(
                file,
                format!("`{header}` user-data is not supported"),
            ));
        }
    }
    instance.warnings.push(format!(
        "{file}{}: no known header (#cloud-config, #!, MIME); ignored",
        name.map(|name| format!(" part `{name}`"))
            .unwrap_or_default()
    ));
    Ok(())
}

/// Headers of a MIME entity: (lower-case name, value), continuation lines unfolded.
fn headers(text: &str) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    headers
}

/// A parameter of a header value (`boundary="x"`).
fn parameter(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|part| {
        let (key, value) = part.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().trim_matches('"').to_owned())
    })
}

/// Splits an entity at its first empty line into header text and body.
fn split_entity(text: &str) -> (&str, &str) {
    for separator in ["\r\n\r\n", "\n\n"] {
        if let Some(at) = text.find(separator) {
            // Both orders matter: pick the earliest separator.
            let other = if separator == "\n\n" {
                "\r\n\r\n"
            } else {
                "\n\n"
            };
            if text.find(other).is_some_and(|other_at| other_at < at) {
                continue;
            }
            return (&text[..at], &text[at + separator.len()..]);
        }
    }
    (text, "")
}

fn multipart(
    bytes: &[u8],
    file: &str,
    depth: usize,
    collected: &mut Collected,
    instance: &mut Instance,
) -> Result<(), MediaError> {
    let text = utf8(file, bytes)?;
    let (head, body) = split_entity(text);
    let top = headers(head);
    let content_type = top
        .iter()
        .find(|(name, _)| name == "content-type")
        .map(|(_, value)| value.clone())
        .unwrap_or_default();
    if !content_type.to_ascii_lowercase().starts_with("multipart/") {
        return Err(syntax(
            file,
            format!("MIME user-data of type `{content_type}` is not multipart"),
        ));
    }
    let boundary = parameter(&content_type, "boundary")
        .filter(|boundary| !boundary.is_empty())
        .ok_or_else(|| syntax(file, "MIME multipart without a boundary"))?;
    let delimiter = format!("--{boundary}");
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    let mut closed = false;
    for line in body.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\r', '\n']);
        if bare.trim_end() == delimiter || bare.trim_end() == format!("{delimiter}--") {
            if let Some(part) = current.take() {
                parts.push(part);
            }
            if bare.trim_end().ends_with("--") && bare.trim_end() != delimiter {
                closed = true;
                break;
            }
            current = Some(String::new());
        } else if let Some(part) = &mut current {
            part.push_str(line);
        }
    }
    if !closed {
        return Err(syntax(
            file,
            format!("MIME multipart without its closing `{delimiter}--`"),
        ));
    }
    for (index, part) in parts.iter().enumerate() {
        // RFC 2046 gives the line break before a delimiter to the delimiter; it is kept
        // here, so text parts keep their last line break (imgbuild's writer adds one
        // only when a part lacks it).
        let (head, body) = split_entity(part);
        let part_headers = headers(head);
        let header = |wanted: &str| {
            part_headers
                .iter()
                .find(|(name, _)| name == wanted)
                .map(|(_, value)| value.clone())
                .unwrap_or_default()
        };
        let kind = header("content-type");
        let mime_type = kind
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let filename = parameter(&header("content-disposition"), "filename")
            .unwrap_or_else(|| format!("part-{:03}", index + 1));
        let label = format!("{file} part `{filename}`");
        let body = match header("content-transfer-encoding")
            .to_ascii_lowercase()
            .as_str()
        {
            "" | "7bit" | "8bit" | "binary" => body.as_bytes().to_vec(),
            "base64" => {
                let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
                base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .map_err(|error| syntax(&label, format!("not base64: {error}")))?
            }
            other => {
                return Err(syntax(
                    &label,
                    format!("transfer encoding `{other}` is not supported"),
                ))
            }
        };
        let script = |when| Script {
            name: filename.clone(),
            body: body.clone(),
            when,
        };
        match mime_type.as_str() {
            "text/cloud-config" => {
                let mut body = body.clone();
                if !body.starts_with(b"#cloud-config") {
                    body.splice(0..0, b"#cloud-config\n".iter().copied());
                }
                collect(
                    &body,
                    &label,
                    Some(&filename),
                    depth + 1,
                    collected,
                    instance,
                )?
            }
            "text/x-shellscript" | "text/x-shellscript-per-instance" => {
                collected.scripts.push(script(When::PerInstance))
            }
            "text/x-shellscript-per-boot" => collected.scripts.push(script(When::EveryBoot)),
            "text/plain" | "" | "multipart/mixed" => {
                let body = if mime_type == "multipart/mixed" {
                    part.as_bytes().to_vec()
                } else {
                    body
                };
                collect(
                    &body,
                    &label,
                    Some(&filename),
                    depth + 1,
                    collected,
                    instance,
                )?
            }
            other => instance
                .warnings
                .push(format!("{label}: MIME type `{other}` is not applied")),
        }
    }
    Ok(())
}
