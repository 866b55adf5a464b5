//! One description of a VM's network interfaces, rendered three ways: cloud-init network
//! config v2, OpenNebula `ETHn_*` variables, OpenStack `network_data.json`.
//!
//! Recipes write `network: #{ ip, prefix, gateway, dns, mac, interface, mtu, search }`
//! (or an array of such maps, one per NIC). An empty or missing `ip` means DHCP. Default
//! routes are written `0.0.0.0/0` and `::/0`, never `to: default`, which cloud-init
//! before 25.3 rejects on non-netplan guests.

use std::net::{IpAddr, Ipv4Addr};

use imgbuild_evaluator::Value;

use crate::media::validate;
use crate::media::yaml::Yaml;

/// The keys a NIC map may have.
pub(crate) const NIC_KEYS: &[&str] = &[
    "interface",
    "mac",
    "ip",
    "prefix",
    "gateway",
    "dns",
    "search",
    "mtu",
];

/// One network interface.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Nic {
    /// Interface name in the guest (`eth0` when neither this nor `mac` is given).
    pub(crate) interface: Option<String>,
    /// MAC address, lower-case.
    pub(crate) mac: Option<String>,
    /// Static addresses with prefix lengths; empty means DHCP.
    pub(crate) addresses: Vec<(IpAddr, u8)>,
    /// Default gateways (at most one per family).
    pub(crate) gateways: Vec<IpAddr>,
    /// DNS servers.
    pub(crate) dns: Vec<IpAddr>,
    /// DNS search domains.
    pub(crate) search: Vec<String>,
    /// MTU.
    pub(crate) mtu: Option<u32>,
}

impl Nic {
    /// True when the interface gets its addresses by DHCP.
    pub(crate) fn dhcp(&self) -> bool {
        self.addresses.is_empty()
    }

    fn ipv4(&self) -> Option<(Ipv4Addr, u8)> {
        self.addresses
            .iter()
            .find_map(|(address, prefix)| match address {
                IpAddr::V4(v4) => Some((*v4, *prefix)),
                IpAddr::V6(_) => None,
            })
    }

    fn ipv6(&self) -> Option<(IpAddr, u8)> {
        self.addresses
            .iter()
            .find(|(address, _)| address.is_ipv6())
            .copied()
    }

    fn gateway(&self, v4: bool) -> Option<IpAddr> {
        self.gateways
            .iter()
            .find(|gateway| gateway.is_ipv4() == v4)
            .copied()
    }

    /// The guest interface name: `interface`, else `ethN`.
    pub(crate) fn name(&self, index: usize) -> String {
        self.interface
            .clone()
            .unwrap_or_else(|| format!("eth{index}"))
    }
}

/// Words in a string or the strings of a list (`"1.1.1.1 8.8.8.8"`, `"a,b"`, `["a"]`).
fn words(value: &Value, what: &str) -> Result<Vec<String>, String> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::String(text) => Ok(text
            .split([' ', ',', ';', '\t', '\n'])
            .filter(|word| !word.is_empty())
            .map(str::to_owned)
            .collect()),
        Value::List(items) => items
            .iter()
            .map(|item| match item {
                Value::String(text) => Ok(text.trim().to_owned()),
                _ => Err(format!("`{what}` must hold strings")),
            })
            .collect(),
        _ => Err(format!("`{what}` must be a string or an array of strings")),
    }
}

fn scalar_text(value: Option<&Value>) -> Option<String> {
    match value {
        Some(Value::String(text)) if !text.trim().is_empty() => Some(text.trim().to_owned()),
        Some(Value::Int(number)) => Some(number.to_string()),
        _ => None,
    }
}

/// Parses one NIC map (already checked for unknown keys).
pub(crate) fn parse_nic(value: &Value) -> Result<Nic, String> {
    let Value::Map(map) = value else {
        return Err("a network interface must be a map".to_owned());
    };
    if let Some(key) = map.keys().find(|key| !NIC_KEYS.contains(&key.as_str())) {
        let help = match imgbuild_evaluator::suggest(key, NIC_KEYS.iter().copied()) {
            Some(near) => format!("did you mean `{near}`?"),
            None => format!("known keys: {}", NIC_KEYS.join(", ")),
        };
        return Err(format!("unknown network key `{key}` ({help})"));
    }
    let mut nic = Nic {
        interface: scalar_text(map.get("interface")),
        ..Nic::default()
    };
    if let Some(interface) = &nic.interface {
        if interface.len() > 15 || interface.contains(['/', ' ', ':']) {
            return Err(format!("`{interface}` is not an interface name"));
        }
    }
    if let Some(mac) = scalar_text(map.get("mac")) {
        nic.mac = Some(validate::mac_address(&mac)?);
    }
    let prefix = scalar_text(map.get("prefix"));
    for address in words(map.get("ip").unwrap_or(&Value::Null), "ip")? {
        nic.addresses
            .push(validate::address_with_prefix(&address, prefix.as_deref())?);
    }
    if nic.addresses.is_empty() && prefix.is_some() {
        return Err("`prefix` is given without `ip`".to_owned());
    }
    for gateway in words(map.get("gateway").unwrap_or(&Value::Null), "gateway")? {
        let gateway =
            validate::ip_address(&gateway).map_err(|reason| format!("gateway: {reason}"))?;
        if nic.gateway(gateway.is_ipv4()).is_some() {
            return Err("more than one gateway of the same address family".to_owned());
        }
        if nic.dhcp() {
            return Err("`gateway` is given without `ip` (DHCP provides the gateway)".to_owned());
        }
        nic.gateways.push(gateway);
    }
    for server in words(map.get("dns").unwrap_or(&Value::Null), "dns")? {
        nic.dns
            .push(validate::ip_address(&server).map_err(|reason| format!("dns: {reason}"))?);
    }
    for domain in words(map.get("search").unwrap_or(&Value::Null), "search")? {
        validate::hostname(&domain).map_err(|reason| format!("search: {reason}"))?;
        nic.search.push(domain);
    }
    if let Some(mtu) = scalar_text(map.get("mtu")) {
        nic.mtu = Some(
            mtu.parse::<u32>()
                .ok()
                .filter(|mtu| (68..=65535).contains(mtu))
                .ok_or_else(|| format!("`{mtu}` is not an MTU (68–65535)"))?,
        );
    }
    Ok(nic)
}

/// Parses `network`: one NIC map or an array of them.
pub(crate) fn parse(value: &Value) -> Result<Vec<Nic>, String> {
    let nics = match value {
        Value::Null => Vec::new(),
        Value::List(items) => items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                parse_nic(item).map_err(|reason| format!("interface {index}: {reason}"))
            })
            .collect::<Result<Vec<_>, _>>()?,
        other => vec![parse_nic(other)?],
    };
    let mut names = std::collections::BTreeSet::new();
    for (index, nic) in nics.iter().enumerate() {
        if !names.insert(nic.name(index)) {
            return Err(format!("two interfaces are named `{}`", nic.name(index)));
        }
    }
    Ok(nics)
}

/// cloud-init network config v2 (unwrapped), or `None` when every NIC is DHCP without a
/// MAC or name (cloud-init's fallback — DHCP on the first NIC — is then the right thing,
/// whatever the guest calls its interface).
pub(crate) fn cloud_init_v2(nics: &[Nic]) -> Option<Yaml> {
    if nics
        .iter()
        .all(|nic| nic.dhcp() && nic.mac.is_none() && nic.interface.is_none() && nic.mtu.is_none())
    {
        return None;
    }
    let mut ethernets = Vec::new();
    for (index, nic) in nics.iter().enumerate() {
        let mut entries = Vec::new();
        if let Some(mac) = &nic.mac {
            entries.push(("match", Yaml::map([("macaddress", Yaml::string(mac))])));
            entries.push(("set-name", Yaml::string(nic.name(index))));
        }
        if nic.dhcp() {
            entries.push(("dhcp4", Yaml::Bool(true)));
        } else {
            let addresses = nic
                .addresses
                .iter()
                .map(|(address, prefix)| Yaml::string(format!("{address}/{prefix}")))
                .collect();
            entries.push(("addresses", Yaml::List(addresses)));
            let routes: Vec<Yaml> = nic
                .gateways
                .iter()
                .map(|gateway| {
                    let to = if gateway.is_ipv4() {
                        "0.0.0.0/0"
                    } else {
                        "::/0"
                    };
                    Yaml::map([
                        ("to", Yaml::string(to)),
                        ("via", Yaml::string(gateway.to_string())),
                    ])
                })
                .collect();
            if !routes.is_empty() {
                entries.push(("routes", Yaml::List(routes)));
            }
        }
        if let Some(mtu) = nic.mtu {
            entries.push(("mtu", Yaml::Int(i64::from(mtu))));
        }
        if !nic.dns.is_empty() || !nic.search.is_empty() {
            let mut nameservers = Vec::new();
            if !nic.dns.is_empty() {
                let servers = nic
                    .dns
                    .iter()
                    .map(|s| Yaml::string(s.to_string()))
                    .collect();
                nameservers.push(("addresses", Yaml::List(servers)));
            }
            if !nic.search.is_empty() {
                let domains = nic.search.iter().map(|d| Yaml::string(d.clone())).collect();
                nameservers.push(("search", Yaml::List(domains)));
            }
            entries.push(("nameservers", Yaml::map(nameservers)));
        }
        ethernets.push((nic.name(index), Yaml::map(entries)));
    }
    Some(Yaml::map([
        ("version", Yaml::Int(2)),
        ("ethernets", Yaml::Map(ethernets)),
    ]))
}

/// The MAC OpenNebula gives a NIC with IPv4 address a.b.c.d: `02:00:a:b:c:d` in hex.
pub(crate) fn opennebula_mac(address: Ipv4Addr) -> String {
    let [a, b, c, d] = address.octets();
    format!("02:00:{a:02x}:{b:02x}:{c:02x}:{d:02x}")
}

/// A NIC's MAC, or OpenNebula's derived one when it has an IPv4 address.
pub(crate) fn effective_mac(nic: &Nic) -> Option<String> {
    nic.mac
        .clone()
        .or_else(|| nic.ipv4().map(|(address, _)| opennebula_mac(address)))
}

/// The dotted netmask of an IPv4 prefix.
pub(crate) fn ipv4_netmask(prefix: u8) -> Ipv4Addr {
    let bits = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix.min(32)))
    };
    Ipv4Addr::from(bits)
}

/// The netmask of an IPv6 prefix, in address notation.
fn ipv6_netmask(prefix: u8) -> std::net::Ipv6Addr {
    let bits = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix.min(128)))
    };
    std::net::Ipv6Addr::from(bits)
}

/// OpenNebula context variables for the NICs (`ETHn_*`).
pub(crate) fn opennebula_variables(nics: &[Nic]) -> Vec<(String, String)> {
    let mut variables = Vec::new();
    for (index, nic) in nics.iter().enumerate() {
        let prefix = format!("ETH{index}_");
        let mut set = |key: &str, value: String| variables.push((format!("{prefix}{key}"), value));
        if let Some(mac) = effective_mac(nic) {
            set("MAC", mac);
        }
        if let Some(interface) = &nic.interface {
            set("NAME", interface.clone());
        }
        match nic.ipv4() {
            Some((address, prefix_length)) => {
                set("METHOD", "static".to_owned());
                set("IP", address.to_string());
                set("MASK", ipv4_netmask(prefix_length).to_string());
                if let Some(gateway) = nic.gateway(true) {
                    set("GATEWAY", gateway.to_string());
                }
            }
            None if nic.dhcp() => set("METHOD", "dhcp".to_owned()),
            None => set("METHOD", "skip".to_owned()),
        }
        if let Some((address, prefix_length)) = nic.ipv6() {
            set("IP6_METHOD", "static".to_owned());
            set("IP6", address.to_string());
            set("IP6_PREFIX_LENGTH", prefix_length.to_string());
            if let Some(gateway) = nic.gateway(false) {
                set("IP6_GATEWAY", gateway.to_string());
            }
        }
        if !nic.dns.is_empty() {
            let servers: Vec<String> = nic.dns.iter().map(ToString::to_string).collect();
            set("DNS", servers.join(" "));
        }
        if !nic.search.is_empty() {
            set("SEARCH_DOMAIN", nic.search.join(" "));
        }
        if let Some(mtu) = nic.mtu {
            set("MTU", mtu.to_string());
        }
    }
    variables
}

/// OpenStack `network_data.json`, or `None` when there is nothing static to say (cloud-init
/// then DHCPs the first NIC). Links need a MAC: the given one, else OpenNebula's derived one.
pub(crate) fn openstack_network_data(nics: &[Nic]) -> Result<Option<serde_json::Value>, String> {
    use serde_json::json;
    if nics
        .iter()
        .all(|nic| nic.dhcp() && nic.mac.is_none() && nic.mtu.is_none())
    {
        return Ok(None);
    }
    let mut links = Vec::new();
    let mut networks = Vec::new();
    let mut services = Vec::new();
    for (index, nic) in nics.iter().enumerate() {
        let link = nic.name(index);
        let mac = effective_mac(nic).ok_or_else(|| {
            format!("interface {link}: a config drive needs the NIC's `mac` to configure it")
        })?;
        let mut entry = json!({ "id": link, "type": "phy", "ethernet_mac_address": mac });
        if let Some(mtu) = nic.mtu {
            entry["mtu"] = json!(mtu);
        }
        links.push(entry);
        if nic.dhcp() {
            networks.push(json!({ "id": format!("network{}", networks.len()), "type": "ipv4_dhcp", "link": link }));
        }
        for (address, prefix) in &nic.addresses {
            let (kind, netmask, any) = match address {
                IpAddr::V4(_) => ("ipv4", ipv4_netmask(*prefix).to_string(), "0.0.0.0"),
                IpAddr::V6(_) => ("ipv6", ipv6_netmask(*prefix).to_string(), "::"),
            };
            let mut network = json!({
                "id": format!("network{}", networks.len()),
                "type": kind,
                "link": link,
                "ip_address": address.to_string(),
                "netmask": netmask,
            });
            if let Some(gateway) = nic.gateway(address.is_ipv4()) {
                network["routes"] =
                    json!([{ "network": any, "netmask": any, "gateway": gateway.to_string() }]);
            }
            let servers: Vec<String> = nic.dns.iter().map(ToString::to_string).collect();
            if !servers.is_empty() {
                network["dns_nameservers"] = json!(servers);
            }
            networks.push(network);
        }
        for server in &nic.dns {
            services.push(json!({ "type": "dns", "address": server.to_string() }));
        }
    }
    Ok(Some(
        json!({ "links": links, "networks": networks, "services": services }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn nic(pairs: &[(&str, &str)]) -> Value {
        Value::Map(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
                .collect::<BTreeMap<_, _>>(),
        )
    }

    #[test]
    fn static_v2_uses_explicit_default_routes() {
        let nics = parse(&nic(&[
            ("ip", "192.168.1.10"),
            ("prefix", "24"),
            ("gateway", "192.168.1.1"),
            ("dns", "192.168.1.1 9.9.9.9"),
            ("mac", "52:54:00:12:34:00"),
        ]))
        .expect("valid");
        let rendered = crate::media::yaml::render(&cloud_init_v2(&nics).expect("static"));
        assert_eq!(
            rendered,
            "version: 2\nethernets:\n  eth0:\n    match:\n      macaddress: \"52:54:00:12:34:00\"\n    set-name: eth0\n    addresses:\n      - \"192.168.1.10/24\"\n    routes:\n      - to: \"0.0.0.0/0\"\n        via: \"192.168.1.1\"\n    nameservers:\n      addresses:\n        - \"192.168.1.1\"\n        - \"9.9.9.9\"\n"
        );
        assert!(!rendered.contains("default"));
    }

    #[test]
    fn dhcp_without_mac_has_no_network_config() {
        let nics = parse(&nic(&[("ip", "")])).expect("valid");
        assert_eq!(cloud_init_v2(&nics), None);
    }

    #[test]
    fn bad_values_are_explained() {
        assert!(parse(&nic(&[("ip", "10.0.0.1"), ("prefix", "40")])).is_err());
        assert!(parse(&nic(&[("ip", ""), ("gateway", "10.0.0.1")])).is_err());
        assert!(parse(&nic(&[("gatway", "10.0.0.1")]))
            .expect_err("unknown key")
            .contains("did you mean `gateway`"));
    }

    #[test]
    fn opennebula_names_and_masks() {
        let nics =
            parse(&nic(&[("ip", "172.20.0.19/16"), ("gateway", "172.20.0.1")])).expect("valid");
        let variables = opennebula_variables(&nics);
        assert!(variables.contains(&("ETH0_MAC".to_owned(), "02:00:ac:14:00:13".to_owned())));
        assert!(variables.contains(&("ETH0_MASK".to_owned(), "255.255.0.0".to_owned())));
    }
}
