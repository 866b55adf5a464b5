//! OpenStack config drives (`config-2`): `openstack/latest/` (else the newest dated
//! version directory) with `meta_data.json`, `network_data.json` and `user_data`.
//!
//! - `meta_data.json` (required): `uuid` (required, as cloud-init requires it) is the
//!   instance id; `hostname` (else `name`) the host name; `public_keys` (`{name: key}`)
//!   go to the default user (the first user of user-data, else root — cloud-init gives
//!   them to the distribution's default user); `files: [{path, content_path}]` are
//!   written from `openstack/<content_path>` with mode 0644 (cloud-init uses 0660).
//! - `network_data.json`: `links` (`id`, `ethernet_mac_address`, `mtu`), `networks`
//!   (`ipv4`/`ipv6` with `ip_address`, `netmask`, `routes` — a default route's
//!   `gateway` is the interface gateway —, `dns_nameservers`; `ipv4_dhcp`), `services`
//!   of type `dns`. Other link and network types are warnings.
//! - `user_data`: any user-data format ([`super::user_data`]).
//! - `vendor_data.json` and the rest are not read.

use serde_json::Value;

use super::values::{cidr, extend_unique, json, text};
use super::{empty_instance, MediaError, Medium};
use crate::model::{File, Instance, Interface, Source};

fn invalid(file: &str, reason: impl Into<String>) -> MediaError {
    MediaError::Invalid {
        file: file.to_owned(),
        reason: reason.into(),
    }
}

/// The version directory: `latest`, else the newest `YYYY-MM-DD`.
fn version(medium: &mut dyn Medium) -> Result<String, MediaError> {
    let names = medium.names("openstack")?;
    if names.iter().any(|name| name == "latest") {
        return Ok("latest".to_owned());
    }
    names
        .into_iter()
        .filter(|name| name.len() == 10 && name.chars().all(|c| c.is_ascii_digit() || c == '-'))
        .max()
        .ok_or_else(|| MediaError::Missing {
            file: "openstack/latest/meta_data.json".to_owned(),
        })
}

/// Reads a config drive.
pub fn read(medium: &mut dyn Medium) -> Result<Instance, MediaError> {
    let base = format!("openstack/{}", version(medium)?);
    let meta_file = format!("{base}/meta_data.json");
    let meta_bytes = medium
        .file(&meta_file)?
        .ok_or_else(|| MediaError::Missing {
            file: meta_file.clone(),
        })?;
    let meta = json(&meta_file, &meta_bytes)?;
    if !meta.is_object() {
        return Err(invalid(&meta_file, "must be a JSON object"));
    }
    let uuid = meta
        .get("uuid")
        .and_then(text)
        .filter(|uuid| !uuid.is_empty())
        .ok_or_else(|| invalid(&meta_file, "no `uuid`"))?;
    let mut instance = empty_instance(Source::ConfigDrive, uuid);
    instance.hostname = meta
        .get("hostname")
        .or_else(|| meta.get("name"))
        .and_then(text)
        .filter(|name| !name.is_empty());
    let user_file = format!("{base}/user_data");
    if let Some(bytes) = medium.file(&user_file)? {
        super::user_data::apply(&bytes, &user_file, &mut instance)?;
    }
    if let Some(keys) = meta.get("public_keys") {
        let keys = super::nocloud::public_keys(keys)
            .ok_or_else(|| invalid(&meta_file, "`public_keys` must be a map of keys"))?;
        if !keys.is_empty() {
            let user = super::cloud_config::default_user(&mut instance);
            extend_unique(&mut user.ssh_keys, keys);
        }
    }
    if let Some(files) = meta.get("files") {
        injected_files(files, &meta_file, medium, &mut instance)?;
    }
    let network_file = format!("{base}/network_data.json");
    if let Some(bytes) = medium.file(&network_file)? {
        let network = json(&network_file, &bytes)?;
        network_data(&network, &network_file, &mut instance)?;
    }
    Ok(instance)
}

fn injected_files(
    files: &Value,
    meta_file: &str,
    medium: &mut dyn Medium,
    instance: &mut Instance,
) -> Result<(), MediaError> {
    let Value::Array(files) = files else {
        return Err(invalid(meta_file, "`files` must be a list"));
    };
    for (index, entry) in files.iter().enumerate() {
        let path = entry.get("path").and_then(text);
        let content_path = entry.get("content_path").and_then(text);
        let (Some(path), Some(content_path)) = (path, content_path) else {
            return Err(invalid(
                meta_file,
                format!("files[{index}] needs `path` and `content_path`"),
            ));
        };
        let unsafe_path = |p: &str| p.split('/').any(|part| part == "..");
        if !path.starts_with('/') || unsafe_path(&path) || unsafe_path(&content_path) {
            return Err(invalid(
                meta_file,
                format!("files[{index}]: `{path}` / `{content_path}` is not a safe path"),
            ));
        }
        let source = format!("openstack/{}", content_path.trim_start_matches('/'));
        let content = medium.file(&source)?.ok_or_else(|| MediaError::Missing {
            file: source.clone(),
        })?;
        instance.files.push(File {
            path,
            content,
            mode: 0o644,
            owner: None,
            append: false,
        });
    }
    Ok(())
}

fn network_data(network: &Value, file: &str, instance: &mut Instance) -> Result<(), MediaError> {
    let list = |key: &str| -> Result<Vec<Value>, MediaError> {
        match network.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items.clone()),
            Some(_) => Err(invalid(file, format!("`{key}` must be a list"))),
        }
    };
    let links = list("links")?;
    let mut ids: Vec<String> = Vec::new();
    for (index, link) in links.iter().enumerate() {
        let kind = link
            .get("type")
            .and_then(text)
            .unwrap_or_else(|| "phy".to_owned());
        let id = link
            .get("id")
            .and_then(text)
            .unwrap_or_else(|| format!("link{index}"));
        if !matches!(
            kind.as_str(),
            "phy"
                | "ethernet"
                | "bridge"
                | "ovs"
                | "vif"
                | "tap"
                | "hw_veb"
                | "hyperv"
                | "vhostuser"
                | "dvs"
        ) {
            instance.warnings.push(format!(
                "{file}: link `{id}` of type `{kind}` is not applied"
            ));
            continue;
        }
        let mtu = match link.get("mtu") {
            None | Some(Value::Null) => None,
            Some(mtu) => Some(
                mtu.as_u64()
                    .and_then(|mtu| u32::try_from(mtu).ok())
                    .ok_or_else(|| invalid(file, format!("link `{id}`: `mtu` must be a number")))?,
            ),
        };
        instance.interfaces.push(Interface {
            name: Some(id.clone()),
            mac: link
                .get("ethernet_mac_address")
                .and_then(text)
                .map(|mac| mac.to_ascii_lowercase()),
            mtu,
            ..Interface::default()
        });
        ids.push(id);
    }
    for (index, network_entry) in list("networks")?.iter().enumerate() {
        let kind = network_entry.get("type").and_then(text).unwrap_or_default();
        let link = network_entry.get("link").and_then(text).unwrap_or_default();
        let at = format!("networks[{index}]");
        let Some(position) = ids.iter().position(|id| *id == link) else {
            instance.warnings.push(format!(
                "{file}: {at}: link `{link}` is not a known link; not applied"
            ));
            continue;
        };
        let interface = &mut instance.interfaces[position];
        match kind.as_str() {
            "ipv4_dhcp" => interface.dhcp4 = true,
            "ipv4" | "ipv6" => {
                let address = network_entry
                    .get("ip_address")
                    .and_then(text)
                    .unwrap_or_default();
                let netmask = network_entry.get("netmask").and_then(text);
                let address = cidr(&address, netmask.as_deref()).ok_or_else(|| {
                    invalid(
                        file,
                        format!("{at}: `{address}` with netmask {netmask:?} is not an address"),
                    )
                })?;
                interface.addresses.push(address);
                if let Some(Value::Array(routes)) = network_entry.get("routes") {
                    for route in routes {
                        let destination = route.get("network").and_then(text).unwrap_or_default();
                        let gateway = route.get("gateway").and_then(text);
                        match (destination.as_str(), gateway) {
                            ("0.0.0.0", Some(gateway)) => interface.gateway4 = Some(gateway),
                            ("::", Some(gateway)) => interface.gateway6 = Some(gateway),
                            _ => instance.warnings.push(format!(
                                "{file}: {at}: route to `{destination}` is not applied"
                            )),
                        }
                    }
                }
                if let Some(servers) = network_entry.get("dns_nameservers") {
                    let servers = super::values::words(servers, &[' ']).unwrap_or_default();
                    extend_unique(&mut interface.nameservers, servers);
                }
            }
            other => instance.warnings.push(format!(
                "{file}: {at}: network type `{other}` is not applied"
            )),
        }
    }
    for service in list("services")? {
        if service.get("type").and_then(text).as_deref() == Some("dns") {
            if let Some(address) = service.get("address").and_then(text) {
                extend_unique(&mut instance.nameservers, [address]);
            }
        }
    }
    Ok(())
}
