//! cloud-init network configuration, version 2 (netplan's subset) and version 1, with or
//! without the top-level `network:` wrapper.
//!
//! - v2: `ethernets: {id: {match: {macaddress, name}, set-name, dhcp4, addresses,
//!   gateway4, gateway6, routes: [{to: 0.0.0.0/0 | ::/0 | default, via}], nameservers:
//!   {addresses, search}, mtu}}`. The interface name is `set-name`, else `match.name`,
//!   else the id. Other routes, `bonds`, `bridges`, `vlans`… are warnings.
//! - v1: `config: [{type: physical, name, mac_address, mtu, subnets: [{type: static |
//!   static6 | dhcp | dhcp4, address (with `/prefix` or `netmask`), gateway,
//!   dns_nameservers, dns_search}]}, {type: nameserver, address, search}]`. Other
//!   entry types are warnings.

use serde_json::Value;

use super::values::{boolean, cidr, describe, extend_unique, text, words};
use super::MediaError;
use crate::model::{Instance, Interface};

fn invalid(file: &str, reason: impl Into<String>) -> MediaError {
    MediaError::Invalid {
        file: file.to_owned(),
        reason: reason.into(),
    }
}

/// Applies a parsed network-config document to `instance`.
pub fn apply(document: &Value, file: &str, instance: &mut Instance) -> Result<(), MediaError> {
    let document = match document.get("network") {
        Some(inner @ Value::Object(_)) => inner,
        _ => document,
    };
    if document.is_null() {
        return Ok(());
    }
    match document.get("version").and_then(text).as_deref() {
        Some("2") => version_2(document, file, instance),
        Some("1") => version_1(document, file, instance),
        Some(other) => Err(invalid(
            file,
            format!("network config version `{other}` is not 1 or 2"),
        )),
        None => Err(invalid(file, "network config without `version`")),
    }
}

fn strings(value: Option<&Value>, file: &str, at: &str) -> Result<Vec<String>, MediaError> {
    match value {
        None => Ok(Vec::new()),
        Some(value) => words(value, &[' ', ',']).ok_or_else(|| {
            invalid(
                file,
                format!("{at} must be a list of strings, not {}", describe(value)),
            )
        }),
    }
}

fn mac(value: Option<&Value>) -> Option<String> {
    value.and_then(text).map(|mac| mac.to_ascii_lowercase())
}

fn mtu(value: Option<&Value>, file: &str, at: &str) -> Result<Option<u32>, MediaError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(value) => text(value)
            .and_then(|mtu| mtu.parse::<u32>().ok())
            .map(Some)
            .ok_or_else(|| invalid(file, format!("{at}.mtu must be a number"))),
    }
}

fn version_2(document: &Value, file: &str, instance: &mut Instance) -> Result<(), MediaError> {
    for (key, _) in document.as_object().into_iter().flatten() {
        if !matches!(key.as_str(), "version" | "ethernets" | "renderer") {
            instance
                .warnings
                .push(format!("{file}: network config `{key}` is not applied"));
        }
    }
    let Some(ethernets) = document.get("ethernets") else {
        return Ok(());
    };
    let Value::Object(ethernets) = ethernets else {
        return Err(invalid(file, "`ethernets` must be a map"));
    };
    for (id, settings) in ethernets {
        let at = format!("ethernets.{id}");
        if !settings.is_object() {
            return Err(invalid(file, format!("{at} must be a map")));
        }
        let matching = settings.get("match");
        let mut interface = Interface {
            mac: mac(matching.and_then(|m| m.get("macaddress"))),
            name: settings
                .get("set-name")
                .or_else(|| matching.and_then(|m| m.get("name")))
                .and_then(text)
                .or_else(|| Some(id.clone())),
            dhcp4: settings.get("dhcp4").and_then(boolean).unwrap_or(false),
            addresses: Vec::new(),
            mtu: mtu(settings.get("mtu"), file, &at)?,
            ..Interface::default()
        };
        for address in strings(settings.get("addresses"), file, &format!("{at}.addresses"))? {
            interface.addresses.push(
                cidr(&address, None)
                    .filter(|_| address.contains('/'))
                    .ok_or_else(|| {
                        invalid(file, format!("{at}: `{address}` is not an address/prefix"))
                    })?,
            );
        }
        interface.gateway4 = settings.get("gateway4").and_then(text);
        interface.gateway6 = settings.get("gateway6").and_then(text);
        if let Some(routes) = settings.get("routes") {
            let Value::Array(routes) = routes else {
                return Err(invalid(file, format!("{at}.routes must be a list")));
            };
            for route in routes {
                let to = route.get("to").and_then(text).unwrap_or_default();
                let via = route.get("via").and_then(text);
                match (to.as_str(), via) {
                    ("0.0.0.0/0" | "default", Some(via)) if !via.contains(':') => {
                        interface.gateway4 = Some(via)
                    }
                    ("::/0" | "default", Some(via)) => interface.gateway6 = Some(via),
                    _ => instance
                        .warnings
                        .push(format!("{file}: {at}: route to `{to}` is not applied")),
                }
            }
        }
        if let Some(nameservers) = settings.get("nameservers") {
            interface.nameservers = strings(
                nameservers.get("addresses"),
                file,
                &format!("{at}.nameservers.addresses"),
            )?;
            interface.search = strings(
                nameservers.get("search"),
                file,
                &format!("{at}.nameservers.search"),
            )?;
        }
        for key in settings
            .as_object()
            .into_iter()
            .flatten()
            .map(|(key, _)| key)
        {
            if !matches!(
                key.as_str(),
                "match"
                    | "set-name"
                    | "dhcp4"
                    | "dhcp6"
                    | "addresses"
                    | "gateway4"
                    | "gateway6"
                    | "routes"
                    | "nameservers"
                    | "mtu"
            ) {
                instance
                    .warnings
                    .push(format!("{file}: {at}: `{key}` is not applied"));
            }
        }
        instance.interfaces.push(interface);
    }
    Ok(())
}

fn version_1(document: &Value, file: &str, instance: &mut Instance) -> Result<(), MediaError> {
    let Some(Value::Array(entries)) = document.get("config") else {
        return Err(invalid(file, "network config v1 needs a `config` list"));
    };
    for (index, entry) in entries.iter().enumerate() {
        let at = format!("config[{index}]");
        match entry.get("type").and_then(text).as_deref() {
            Some("physical") => {
                let interface = physical(entry, file, &at, instance)?;
                instance.interfaces.push(interface);
            }
            Some("nameserver") => {
                let servers = strings(entry.get("address"), file, &format!("{at}.address"))?;
                extend_unique(&mut instance.nameservers, servers);
                let search = strings(entry.get("search"), file, &format!("{at}.search"))?;
                for interface in &mut instance.interfaces {
                    extend_unique(&mut interface.search, search.clone());
                }
            }
            Some(other) => instance.warnings.push(format!(
                "{file}: {at}: network config entry type `{other}` is not applied"
            )),
            None => return Err(invalid(file, format!("{at} has no `type`"))),
        }
    }
    Ok(())
}

fn physical(
    entry: &Value,
    file: &str,
    at: &str,
    instance: &mut Instance,
) -> Result<Interface, MediaError> {
    let mut interface = Interface {
        name: entry.get("name").and_then(text),
        mac: mac(entry.get("mac_address")),
        mtu: mtu(entry.get("mtu"), file, at)?,
        ..Interface::default()
    };
    let subnets = match entry.get("subnets") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(subnets)) => subnets.clone(),
        Some(_) => return Err(invalid(file, format!("{at}.subnets must be a list"))),
    };
    for (index, subnet) in subnets.iter().enumerate() {
        let at = format!("{at}.subnets[{index}]");
        match subnet.get("type").and_then(text).as_deref() {
            Some("dhcp" | "dhcp4") => interface.dhcp4 = true,
            Some("static" | "static6") => {
                let address = subnet.get("address").and_then(text).unwrap_or_default();
                let netmask = subnet.get("netmask").and_then(text);
                let address = cidr(&address, netmask.as_deref())
                    .ok_or_else(|| invalid(file, format!("{at}: `{address}` is not an address")))?;
                let ipv6 = address.contains(':');
                if let Some(gateway) = subnet.get("gateway").and_then(text) {
                    if ipv6 {
                        interface.gateway6 = Some(gateway);
                    } else {
                        interface.gateway4 = Some(gateway);
                    }
                }
                interface.addresses.push(address);
                let servers = strings(
                    subnet.get("dns_nameservers"),
                    file,
                    &format!("{at}.dns_nameservers"),
                )?;
                extend_unique(&mut interface.nameservers, servers);
                let search = strings(subnet.get("dns_search"), file, &format!("{at}.dns_search"))?;
                extend_unique(&mut interface.search, search);
            }
            Some("manual") => {}
            other => instance.warnings.push(format!(
                "{file}: {at}: subnet type `{}` is not applied",
                other.unwrap_or_default()
            )),
        }
    }
    Ok(interface)
}
