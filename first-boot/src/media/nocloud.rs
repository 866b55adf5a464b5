//! cloud-init NoCloud seeds (`cidata`): `meta-data`, `user-data`, `network-config` in
//! the root directory.
//!
//! - `meta-data` (YAML or JSON; required, may be empty): `instance-id` (cloud-init's
//!   default `nocloud` when missing, with a warning: every such seed is then the same
//!   instance), `local-hostname` (else `hostname`), `public-keys` (a key, a list, or a
//!   map of them: given to the default user, see [`super::cloud_config`]).
//! - `user-data` (optional; see [`super::user_data`]): its `hostname`/`fqdn` win over
//!   meta-data's.
//! - `network-config` (optional, v1 or v2; see [`super::network_config`]).
//! - `vendor-data` is not applied (a warning when it is not empty).

use serde_json::Value;

use super::values::{describe, extend_unique, text, words, yaml};
use super::{empty_instance, MediaError, Medium};
use crate::model::{Instance, Source};

/// Reads a NoCloud medium.
pub fn read(medium: &mut dyn Medium) -> Result<Instance, MediaError> {
    let meta_bytes = medium
        .file("meta-data")?
        .ok_or_else(|| MediaError::Missing {
            file: "meta-data".to_owned(),
        })?;
    let meta = match yaml("meta-data", &meta_bytes)? {
        Value::Null => serde_json::Map::new(),
        Value::Object(map) => map,
        other => {
            return Err(MediaError::Invalid {
                file: "meta-data".to_owned(),
                reason: format!("must be a map, not {}", describe(&other)),
            })
        }
    };
    let mut instance = empty_instance(Source::NoCloud, String::new());
    match meta
        .get("instance-id")
        .and_then(text)
        .filter(|id| !id.trim().is_empty())
    {
        Some(id) => instance.instance_id = id.trim().to_owned(),
        None => {
            instance.instance_id = "nocloud".to_owned();
            instance.warnings.push(
                "meta-data: no `instance-id`; using cloud-init's default `nocloud`".to_owned(),
            );
        }
    }
    instance.hostname = meta
        .get("local-hostname")
        .or_else(|| meta.get("hostname"))
        .and_then(text)
        .filter(|name| !name.is_empty());
    match medium.file("user-data")? {
        Some(bytes) => super::user_data::apply(&bytes, "user-data", &mut instance)?,
        None => instance
            .warnings
            .push("the medium has no `user-data` (cloud-init would ignore it)".to_owned()),
    }
    if let Some(keys) = meta.get("public-keys") {
        let keys = public_keys(keys).ok_or_else(|| MediaError::Invalid {
            file: "meta-data".to_owned(),
            reason: "`public-keys` must be a key, a list or a map of keys".to_owned(),
        })?;
        if !keys.is_empty() {
            let user = super::cloud_config::default_user(&mut instance);
            extend_unique(&mut user.ssh_keys, keys);
        }
    }
    if let Some(bytes) = medium.file("network-config")? {
        let document = yaml("network-config", &bytes)?;
        super::network_config::apply(&document, "network-config", &mut instance)?;
    }
    if let Some(bytes) = medium.file("vendor-data")? {
        if !bytes.iter().all(u8::is_ascii_whitespace) {
            instance
                .warnings
                .push("vendor-data is not applied".to_owned());
        }
    }
    Ok(instance)
}

/// Keys from meta-data `public-keys` (or config-2 `public_keys`): a string (one key a
/// line), a list, or a map whose values are keys or lists of keys.
pub(crate) fn public_keys(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::Object(map) => {
            let mut keys = Vec::new();
            for value in map.values() {
                keys.extend(public_keys(value)?);
            }
            Some(keys)
        }
        other => words(other, &['\n']),
    }
}
