//! `#cloud-config` documents (NoCloud user-data, config-2 `user_data`): the keys this
//! agent applies, with cloud-init's meaning.
//!
//! | key | becomes |
//! |---|---|
//! | `hostname`, `fqdn` (preferred), `preserve_hostname: true` (keeps the image's) | [`Instance::hostname`] |
//! | `users` (`default` entries skipped; `name`, `gecos`, `groups` as `"a,b"` or a list, `sudo`, `passwd`/`hashed_passwd`, `plain_text_passwd`, `lock_passwd` (default true), `ssh_authorized_keys`, `shell`) | [`Instance::users`] |
//! | `ssh_authorized_keys`, `password` | the *default user*: the first user declared in `users`, else `root` (cloud-init gives them to the distribution's default user, which this agent does not create) |
//! | `chpasswd` (`users: [{name, password, type}]`, `list`) | passwords of named users (`RANDOM` is not supported: a warning) |
//! | `write_files` (`path`, `content`, `encoding` b64/base64/gz/gzip/gz+b64…, `permissions` as an octal string or a number, `owner`, `append`) | [`Instance::files`] |
//! | `bootcmd` | one every-boot script `bootcmd` |
//! | `runcmd` | one per-instance script `runcmd` (list items shell-quoted, strings as they are) |
//!
//! `sudo` becomes passwordless sudo only for the rule `ALL=(ALL) NOPASSWD:ALL` (or
//! `true`); any narrower rule is not widened: the user gets no sudo and a warning.
//! Other keys are warnings, never errors (`package_update: false` and the like, which
//! ask for nothing, are silent). Several cloud-config documents (MIME parts) are merged
//! first: lists are concatenated, other values replaced by later documents.

use std::io::Read;

use base64::Engine as _;
use serde_json::{Map, Value};

use super::values::{boolean, describe, text, words};
use super::MediaError;
use crate::model::{File, Instance, Password, Script, User, When};

/// The sudo rule that means "passwordless sudo for everything".
const FULL_SUDO: &str = "ALL=(ALL) NOPASSWD:ALL";

/// Keys that ask for nothing when false.
const SILENT_WHEN_FALSE: &[&str] = &[
    "package_update",
    "package_upgrade",
    "package_reboot_if_required",
    "apt_update",
    "apt_upgrade",
    "manage_etc_hosts",
    "ssh_pwauth",
];

/// Merges cloud-config document `from` into `into`: lists concatenate, the rest is
/// replaced.
pub fn merge(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (key, value) in from {
        match (into.get_mut(&key), value) {
            (Some(Value::Array(existing)), Value::Array(more)) => existing.extend(more),
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

fn invalid(file: &str, reason: impl Into<String>) -> MediaError {
    MediaError::Invalid {
        file: file.to_owned(),
        reason: reason.into(),
    }
}

/// Applies a (merged) cloud-config map to `instance`.
pub fn interpret(
    config: &Map<String, Value>,
    file: &str,
    instance: &mut Instance,
) -> Result<(), MediaError> {
    let mut default_keys: Vec<String> = Vec::new();
    let mut default_password: Option<Password> = None;
    let mut chpasswd: Option<&Value> = None;
    for (key, value) in config {
        match key.as_str() {
            "hostname" | "fqdn" | "preserve_hostname" | "merge_how" | "merge_type" => {}
            "users" => users(value, file, instance)?,
            "ssh_authorized_keys" => {
                default_keys = words(value, &['\n'])
                    .ok_or_else(|| invalid(file, "`ssh_authorized_keys` must be a list"))?
            }
            "password" => {
                default_password =
                    Some(Password::Plain(text(value).ok_or_else(|| {
                        invalid(file, "`password` must be a string")
                    })?))
            }
            "chpasswd" => chpasswd = Some(value),
            "write_files" => write_files(value, file, instance)?,
            "bootcmd" => instance
                .scripts
                .insert(0, commands("bootcmd", value, file, When::EveryBoot)?),
            "runcmd" => instance
                .scripts
                .push(commands("runcmd", value, file, When::PerInstance)?),
            key if SILENT_WHEN_FALSE.contains(&key) && boolean(value) == Some(false) => {}
            other => instance
                .warnings
                .push(format!("{file}: cloud-config key `{other}` is not applied")),
        }
    }
    let name = |key: &str| {
        config
            .get(key)
            .and_then(text)
            .filter(|name| !name.is_empty())
    };
    if let Some(hostname) = name("fqdn").or_else(|| name("hostname")) {
        instance.hostname = Some(hostname);
    }
    if config.get("preserve_hostname").and_then(boolean) == Some(true) {
        instance.hostname = None;
    }
    if !default_keys.is_empty() || default_password.is_some() {
        let user = default_user(instance);
        super::values::extend_unique(&mut user.ssh_keys, default_keys);
        if let Some(password) = default_password {
            user.password = Some(password);
            user.lock_password = false;
        }
    }
    if let Some(chpasswd) = chpasswd {
        passwords(chpasswd, file, instance)?;
    }
    Ok(())
}

/// The user top-level keys and passwords go to: the first declared user, else root.
pub(crate) fn default_user(instance: &mut Instance) -> &mut User {
    if instance.users.is_empty() {
        instance.users.push(User {
            name: "root".to_owned(),
            ..User::default()
        });
    }
    &mut instance.users[0]
}

/// The user named `name`, added (to be updated, not locked) when missing.
fn user_named<'a>(instance: &'a mut Instance, name: &str) -> &'a mut User {
    let index = match instance.users.iter().position(|user| user.name == name) {
        Some(index) => index,
        None => {
            instance.users.push(User {
                name: name.to_owned(),
                ..User::default()
            });
            instance.users.len() - 1
        }
    };
    &mut instance.users[index]
}

fn users(value: &Value, file: &str, instance: &mut Instance) -> Result<(), MediaError> {
    let items: Vec<Value> = match value {
        Value::Null => Vec::new(),
        Value::String(names) => names
            .split(',')
            .map(|name| Value::String(name.trim().to_owned()))
            .collect(),
        Value::Array(items) => items.clone(),
        Value::Object(_) => vec![value.clone()],
        other => {
            return Err(invalid(
                file,
                format!("`users` must be a list, not {}", describe(other)),
            ))
        }
    };
    for (index, item) in items.iter().enumerate() {
        let user = match item {
            Value::String(name) if name == "default" || name.is_empty() => continue,
            Value::String(name) => User {
                name: name.clone(),
                lock_password: true,
                ..User::default()
            },
            Value::Object(map) => user(map, &format!("users[{index}]"), file, instance)?,
            other => {
                return Err(invalid(
                    file,
                    format!(
                        "users[{index}] must be a name or a map, not {}",
                        describe(other)
                    ),
                ))
            }
        };
        instance.users.push(user);
    }
    Ok(())
}

fn user(
    map: &Map<String, Value>,
    at: &str,
    file: &str,
    instance: &mut Instance,
) -> Result<User, MediaError> {
    let name = map
        .get("name")
        .and_then(text)
        .filter(|name| !name.is_empty() && !name.contains(['/', ':', '\n']))
        .ok_or_else(|| invalid(file, format!("{at} needs a `name`")))?;
    let at = format!("{at} ({name})");
    let string = |key: &str| -> Result<Option<String>, MediaError> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => text(value)
                .map(Some)
                .ok_or_else(|| invalid(file, format!("{at}: `{key}` must be a string"))),
        }
    };
    let mut user = User {
        name: name.clone(),
        gecos: string("gecos")?,
        shell: string("shell")?,
        lock_password: true,
        ..User::default()
    };
    if let Some(groups) = map.get("groups") {
        user.groups = words(groups, &[','])
            .ok_or_else(|| invalid(file, format!("{at}: `groups` must be a string or a list")))?;
    }
    if let Some(keys) = map.get("ssh_authorized_keys") {
        user.ssh_keys = words(keys, &['\n'])
            .ok_or_else(|| invalid(file, format!("{at}: `ssh_authorized_keys` must be a list")))?;
    }
    if let Some(hash) = string("hashed_passwd")?.or(string("passwd")?) {
        user.password = Some(Password::Hash(hash));
    }
    if let Some(plain) = string("plain_text_passwd")? {
        user.password = Some(Password::Plain(plain));
    }
    if let Some(lock) = map.get("lock_passwd") {
        user.lock_password = boolean(lock)
            .ok_or_else(|| invalid(file, format!("{at}: `lock_passwd` must be a boolean")))?;
    }
    user.sudo = match map.get("sudo") {
        None | Some(Value::Null) => false,
        Some(value) => match (boolean(value), words(value, &[])) {
            (Some(flag), _) => flag,
            (None, Some(rules)) if rules.iter().all(|rule| rule.trim() == FULL_SUDO) => true,
            (None, Some(rules)) => {
                instance.warnings.push(format!(
                    "{file}: {at}: sudo rule {rules:?} is not applied (only `{FULL_SUDO}` is)"
                ));
                false
            }
            (None, None) => {
                return Err(invalid(
                    file,
                    format!("{at}: `sudo` must be a rule or a boolean"),
                ))
            }
        },
    };
    for key in map.keys() {
        if !matches!(
            key.as_str(),
            "name"
                | "gecos"
                | "shell"
                | "groups"
                | "ssh_authorized_keys"
                | "hashed_passwd"
                | "passwd"
                | "plain_text_passwd"
                | "lock_passwd"
                | "sudo"
        ) {
            instance
                .warnings
                .push(format!("{file}: {at}: `{key}` is not applied"));
        }
    }
    Ok(user)
}

/// `chpasswd`: `users: [{name, password, type}]` and the older `list`.
fn passwords(value: &Value, file: &str, instance: &mut Instance) -> Result<(), MediaError> {
    let Value::Object(map) = value else {
        return Err(invalid(file, "`chpasswd` must be a map"));
    };
    let mut pairs: Vec<(String, String, Option<String>)> = Vec::new();
    if let Some(list) = map.get("list") {
        for line in
            words(list, &['\n']).ok_or_else(|| invalid(file, "`chpasswd.list` must be a list"))?
        {
            let (name, password) = line
                .split_once(':')
                .ok_or_else(|| invalid(file, "a `chpasswd.list` line is not `user:password`"))?;
            pairs.push((name.to_owned(), password.to_owned(), None));
        }
    }
    if let Some(Value::Array(users)) = map.get("users") {
        for (index, entry) in users.iter().enumerate() {
            let field = |key: &str| entry.get(key).and_then(text);
            let (Some(name), Some(password)) = (field("name"), field("password")) else {
                return Err(invalid(
                    file,
                    format!("chpasswd.users[{index}] needs `name` and `password`"),
                ));
            };
            pairs.push((name, password, field("type")));
        }
    }
    for (name, password, kind) in pairs {
        let password = match kind.as_deref() {
            _ if password == "R" || password == "RANDOM" || kind.as_deref() == Some("RANDOM") => {
                instance.warnings.push(format!(
                    "{file}: chpasswd: random password for `{name}` is not supported"
                ));
                continue;
            }
            Some("hash") => Password::Hash(password),
            Some("text") => Password::Plain(password),
            _ if password.starts_with('$') => Password::Hash(password),
            _ => Password::Plain(password),
        };
        let user = user_named(instance, &name);
        user.password = Some(password);
        user.lock_password = false;
    }
    Ok(())
}

fn write_files(value: &Value, file: &str, instance: &mut Instance) -> Result<(), MediaError> {
    let Value::Array(entries) = value else {
        return Err(invalid(file, "`write_files` must be a list"));
    };
    for (index, entry) in entries.iter().enumerate() {
        let Value::Object(map) = entry else {
            return Err(invalid(file, format!("write_files[{index}] must be a map")));
        };
        let path = map
            .get("path")
            .and_then(text)
            .filter(|path| path.starts_with('/') && !path.split('/').any(|part| part == ".."))
            .ok_or_else(|| {
                invalid(
                    file,
                    format!("write_files[{index}] needs an absolute `path` without `..`"),
                )
            })?;
        let at = format!("write_files[{index}] ({path})");
        if map.contains_key("source") && !map.contains_key("content") {
            instance.warnings.push(format!(
                "{file}: {at}: `source` (a download) is not supported; not written"
            ));
            continue;
        }
        let content = map.get("content").and_then(text).unwrap_or_default();
        let encoding = map.get("encoding").and_then(text).unwrap_or_default();
        let content = decode(&content, &encoding)
            .map_err(|reason| invalid(file, format!("{at}: {reason}")))?;
        let mode = match map.get("permissions") {
            None | Some(Value::Null) => Some(0o644),
            Some(Value::Number(number)) => number
                .as_u64()
                .and_then(|mode| u32::try_from(mode).ok())
                .filter(|mode| *mode <= 0o7777),
            Some(Value::String(octal)) => {
                let digits = octal.trim().trim_start_matches("0o");
                u32::from_str_radix(digits, 8)
                    .ok()
                    .filter(|mode| *mode <= 0o7777)
            }
            Some(_) => None,
        }
        .ok_or_else(|| {
            invalid(
                file,
                format!("{at}: `permissions` must be an octal mode such as \"0644\""),
            )
        })?;
        let append = match map.get("append") {
            None | Some(Value::Null) => false,
            Some(value) => boolean(value)
                .ok_or_else(|| invalid(file, format!("{at}: `append` must be a boolean")))?,
        };
        instance.files.push(File {
            path,
            content,
            mode,
            owner: map
                .get("owner")
                .and_then(text)
                .filter(|owner| owner != "root:root" && owner != "root"),
            append,
        });
    }
    Ok(())
}

/// Decodes write_files content.
fn decode(content: &str, encoding: &str) -> Result<Vec<u8>, String> {
    let base64 = |text: &str| {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|error| format!("content is not base64: {error}"))
    };
    match encoding.to_ascii_lowercase().as_str() {
        "" | "text/plain" => Ok(content.as_bytes().to_vec()),
        "b64" | "base64" => base64(content),
        "gz" | "gzip" => gunzip(content.as_bytes()),
        "gz+b64" | "gzip+b64" | "gz+base64" | "gzip+base64" => gunzip(&base64(content)?),
        other => Err(format!("unknown encoding `{other}`")),
    }
}

/// Decompresses gzip data, at most [`super::MAX_FILE_SIZE`] bytes.
pub(crate) fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(super::MAX_FILE_SIZE + 1)
        .read_to_end(&mut out)
        .map_err(|error| format!("not gzip data: {error}"))?;
    if out.len() as u64 > super::MAX_FILE_SIZE {
        return Err(format!(
            "decompresses to more than {} bytes",
            super::MAX_FILE_SIZE
        ));
    }
    Ok(out)
}

/// `runcmd` / `bootcmd` as one shell script.
fn commands(name: &str, value: &Value, file: &str, when: When) -> Result<Script, MediaError> {
    let Value::Array(items) = value else {
        return Err(invalid(file, format!("`{name}` must be a list")));
    };
    let mut body = String::from("#!/bin/sh\n");
    for (index, item) in items.iter().enumerate() {
        match item {
            Value::Null => continue,
            Value::Array(words) => {
                let quoted: Option<Vec<String>> = words
                    .iter()
                    .map(|word| text(word).map(|word| shell_quote(&word)))
                    .collect();
                let quoted = quoted
                    .ok_or_else(|| invalid(file, format!("{name}[{index}] must hold strings")))?;
                body.push_str(&quoted.join(" "));
            }
            other => body.push_str(&text(other).ok_or_else(|| {
                invalid(file, format!("{name}[{index}] must be a string or a list"))
            })?),
        }
        body.push('\n');
    }
    Ok(Script {
        name: name.to_owned(),
        body: body.into_bytes(),
        when,
    })
}

/// A word for `/bin/sh`: as it is when safe, else single-quoted.
pub(crate) fn shell_quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./:=@%+,".contains(&b));
    if safe {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}
