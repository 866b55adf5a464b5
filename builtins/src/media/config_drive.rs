//! `config_drive::image(#{ ... })` — an OpenStack config drive (label `config-2`) with
//! `openstack/latest/meta_data.json`, `user_data` and `network_data.json`.
//!
//! ```rhai
//! config_drive::image(#{
//!     hostname: "web-1",
//!     uuid: "…",                    // default: derived from the drive's content
//!     ssh_keys: ["ssh-ed25519 AAAA… ops@example"],   // public_keys
//!     user_data: #{ packages: ["nginx"] },            // as for cloud_init::seed
//!     user: #{ name: "ops", password: "…" },
//!     network: #{ ip: "10.0.0.5", prefix: 24, gateway: "10.0.0.1", mac: "52:54:00:00:00:05" },
//!     meta_data: #{ availability_zone: "zone-a" },   // extra meta_data.json keys
//!     vendor_data: #{ … },                           // vendor_data.json
//!     files: #{ "/etc/motd": "hello\n" },            // injected files (openstack/content/)
//! })
//! ```
//!
//! cloud-init requires `uuid` (it becomes the instance-id); set it to the VM's SMBIOS
//! UUID to let cloud-init recognise reboots without re-reading the drive. JSON is written
//! with sorted keys, so the bytes depend only on the content.

use std::collections::BTreeMap;

use imgbuild_evaluator::rhai::{Engine, Map, Module};
use imgbuild_evaluator::{BuiltinError, DerivationSpec, Inputs, SharedState, Value};
use imgbuild_store::OutputRecord;
use serde_json::json;

use crate::media::{self, argument_error, MediumFile};
use crate::media::{cloud_init, network, secrets, validate};
use imgbuild_engine::{BuildContext, BuildError};

/// Kind of `config_drive::image`.
pub const KIND: &str = "openstack_config_drive";
pub(crate) const VERSION: u32 = 1;

const KEYS: &[&str] = &[
    "name",
    "hostname",
    "uuid",
    "user_data",
    "scripts",
    "ssh_keys",
    "user",
    "network",
    "meta_data",
    "vendor_data",
    "files",
    "source_date_epoch",
    "secret",
];

pub(crate) fn register(engine: &mut Engine, registration: &crate::Registration) {
    let state = &registration.state;
    let mut module = Module::new();
    media::add_constructor(&mut module, state, "image", spec);
    engine.register_static_module("config_drive", module.into());
}

fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(group, length)| {
            group.len() == length && group.chars().all(|c| c.is_ascii_hexdigit())
        })
}

fn spec(state: &SharedState, options: Map) -> Result<DerivationSpec, BuiltinError> {
    let arguments = media::arguments("config_drive::image", options, KEYS)?;
    let mut inputs = Inputs::new();
    let mut args = BTreeMap::new();
    let hostname = arguments.optional_string("hostname")?;
    if let Some(hostname) = &hostname {
        validate::hostname(hostname)
            .map_err(|reason| argument_error(&arguments, "hostname", reason))?;
    }
    args.insert(
        "hostname".to_owned(),
        hostname.clone().map(Value::String).unwrap_or(Value::Null),
    );
    let uuid = arguments.optional_string("uuid")?;
    if let Some(uuid) = &uuid {
        if !is_uuid(uuid) {
            return Err(argument_error(
                &arguments,
                "uuid",
                format!("`{uuid}` is not a UUID (8-4-4-4-12 hexadecimal digits)"),
            ));
        }
    }
    args.insert(
        "uuid".to_owned(),
        uuid.map(|uuid| Value::String(uuid.to_ascii_lowercase()))
            .unwrap_or(Value::Null),
    );
    cloud_init::user_data_arguments(state, &arguments, &mut inputs, &mut args)?;
    let network_value = media::value_of(state, &arguments, "network", &mut inputs)?;
    let nics = network::parse(&network_value)
        .map_err(|reason| argument_error(&arguments, "network", reason))?;
    network::openstack_network_data(&nics)
        .map_err(|reason| argument_error(&arguments, "network", reason))?;
    args.insert("network".to_owned(), network_value);
    for key in ["meta_data", "vendor_data"] {
        let value = media::value_of(state, &arguments, key, &mut inputs)?;
        media::expect_map_or_null(&arguments, key, &value)?;
        args.insert(key.to_owned(), value);
    }
    let files = media::value_of(state, &arguments, "files", &mut inputs)?;
    match &files {
        Value::Null => {}
        Value::Map(entries) => {
            for (path, content) in entries {
                if !path.starts_with('/')
                    || path.contains('\0')
                    || path.split('/').any(|part| part == "..")
                {
                    return Err(argument_error(
                        &arguments,
                        "files",
                        format!("`{path}` must be an absolute path in the guest without `..`"),
                    ));
                }
                if !matches!(content, Value::String(_) | Value::Input(_)) {
                    return Err(argument_error(
                        &arguments,
                        "files",
                        format!("`{path}` must be a string or a file derivation"),
                    ));
                }
            }
        }
        _ => {
            return Err(argument_error(
                &arguments,
                "files",
                "must be a map of guest path to content",
            ))
        }
    }
    args.insert("files".to_owned(), files);
    let name = media::epoch_and_name(&arguments, &mut args, hostname, "config-drive")?;
    let secret =
        media::forced_secret(&arguments)? || secrets::holds_secrets(&Value::Map(args.clone()));
    let mut spec = DerivationSpec::derived(KIND, VERSION, name, args, inputs);
    spec.secret = secret;
    Ok(spec)
}

/// A version-8 UUID derived from `bytes`.
fn derived_uuid(bytes: &[u8]) -> String {
    let digest = blake3::derive_key("imgbuild config-drive uuid v1", bytes);
    let mut raw = [0u8; 16];
    raw.copy_from_slice(&digest[..16]);
    raw[6] = (raw[6] & 0x0f) | 0x80;
    raw[8] = (raw[8] & 0x3f) | 0x80;
    let hex = hex::encode(raw);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn json_bytes(value: &serde_json::Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

pub(crate) fn build(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    let args = context.derivation.args.clone();
    let secret = context.derivation.secret;
    let (hostname, salt_context) = media::hostname_and_salt(context.derivation);
    let has_user_data = !matches!(args.get("user_data"), Some(Value::Null) | None)
        || args.get("user").is_some_and(|user| *user != Value::Null)
        || matches!(args.get("ssh_keys"), Some(Value::List(keys)) if !keys.is_empty());
    let user_data = if has_user_data {
        Some(cloud_init::render_user_data(context, &args, &salt_context)?)
    } else {
        None
    };
    let nics =
        network::parse(args.get("network").unwrap_or(&Value::Null)).map_err(BuildError::Failed)?;
    let network_data = network::openstack_network_data(&nics).map_err(BuildError::Failed)?;
    let mut meta = match args.get("meta_data") {
        Some(meta @ Value::Map(_)) => media::resolve_inputs(context, meta)?.to_json(),
        _ => json!({}),
    };
    if let Some(hostname) = &hostname {
        meta["hostname"] = json!(hostname);
        meta["name"] = json!(hostname);
    }
    if let Some(Value::List(keys)) = args.get("ssh_keys") {
        if !keys.is_empty() {
            let public_keys: serde_json::Map<String, serde_json::Value> = keys
                .iter()
                .enumerate()
                .map(|(index, key)| {
                    (
                        format!("key-{index}"),
                        json!(key.as_str().unwrap_or_default()),
                    )
                })
                .collect();
            meta["public_keys"] = serde_json::Value::Object(public_keys);
        }
    }
    if meta.get("launch_index").is_none() {
        meta["launch_index"] = json!(0);
    }
    let mut files = Vec::new();
    if let Some(Value::Map(entries)) = args.get("files") {
        let mut injected = Vec::new();
        for (index, (path, content)) in entries.iter().enumerate() {
            let bytes = match content {
                Value::Input(input) => media::input_bytes(context, *input)?,
                other => other.as_str().unwrap_or_default().as_bytes().to_vec(),
            };
            let content_path = format!("/content/{index:04}");
            injected.push(json!({ "path": path, "content_path": content_path }));
            files.push(MediumFile {
                path: format!("openstack{content_path}"),
                bytes,
                mode: media::file_mode(secret),
            });
        }
        meta["files"] = json!(injected);
    }
    let vendor = match args.get("vendor_data") {
        Some(vendor @ Value::Map(_)) => Some(json_bytes(
            &media::resolve_inputs(context, vendor)?.to_json(),
        )),
        _ => None,
    };
    let uuid = match args.get("uuid").and_then(Value::as_str) {
        Some(uuid) => uuid.to_owned(),
        None => {
            let mut material = json_bytes(&meta);
            material.extend(user_data.as_deref().unwrap_or_default());
            material.extend(network_data.as_ref().map(json_bytes).unwrap_or_default());
            material.extend(vendor.as_deref().unwrap_or_default());
            derived_uuid(&material)
        }
    };
    meta["uuid"] = json!(uuid);
    let base = "openstack/latest";
    files.push(MediumFile {
        path: format!("{base}/meta_data.json"),
        bytes: json_bytes(&meta),
        mode: media::file_mode(secret),
    });
    if let Some(user_data) = user_data {
        files.push(MediumFile {
            path: format!("{base}/user_data"),
            bytes: user_data,
            mode: media::file_mode(secret),
        });
    }
    if let Some(network_data) = network_data {
        files.push(MediumFile {
            path: format!("{base}/network_data.json"),
            bytes: json_bytes(&network_data),
            mode: 0o644,
        });
    }
    if let Some(vendor) = vendor {
        files.push(MediumFile {
            path: format!("{base}/vendor_data.json"),
            bytes: vendor,
            mode: media::file_mode(secret),
        });
    }
    media::write_iso(context, "config-2", files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_uuids_are_well_formed() {
        let uuid = derived_uuid(b"x");
        assert!(is_uuid(&uuid), "{uuid}");
        assert_eq!(&uuid[14..15], "8");
        assert_ne!(uuid, derived_uuid(b"y"));
    }
}
