//! The text of the files the network step writes, as pure functions of checked values:
//! one systemd-networkd `.network` file per interface, one ifupdown `interfaces.d` file
//! for all of them, `/etc/resolv.conf`, and a systemd-resolved drop-in.

use std::net::IpAddr;

use crate::model::Interface;

/// The first line of every file written here.
pub fn header(instance_id: &str) -> String {
    format!(
        "# Written by imgbuild-first-boot for instance {}; replaced when the instance changes.\n",
        instance_id.replace(['\n', '\r'], " ")
    )
}

/// Name servers for `interface`: its own, then the instance's, without repeats.
pub fn interface_nameservers<'a>(interface: &'a Interface, global: &'a [String]) -> Vec<&'a str> {
    let mut servers: Vec<&str> = Vec::new();
    for server in interface.nameservers.iter().chain(global) {
        if !servers.contains(&server.as_str()) {
            servers.push(server);
        }
    }
    servers
}

/// A systemd-networkd `.network` file for `interface`.
pub fn networkd(interface: &Interface, global_nameservers: &[String], instance_id: &str) -> String {
    let mut text = header(instance_id);
    text.push_str("\n[Match]\n");
    match (&interface.mac, &interface.name) {
        (Some(mac), _) => text.push_str(&format!("MACAddress={mac}\n")),
        (None, Some(name)) => text.push_str(&format!("Name={name}\n")),
        (None, None) => {}
    }
    if let Some(mtu) = interface.mtu {
        text.push_str(&format!("\n[Link]\nMTUBytes={mtu}\n"));
    }
    text.push_str("\n[Network]\n");
    if interface.dhcp4 {
        text.push_str("DHCP=ipv4\n");
    }
    for address in &interface.addresses {
        text.push_str(&format!("Address={address}\n"));
    }
    for gateway in interface.gateway4.iter().chain(&interface.gateway6) {
        text.push_str(&format!("Gateway={gateway}\n"));
    }
    for server in interface_nameservers(interface, global_nameservers) {
        text.push_str(&format!("DNS={server}\n"));
    }
    if !interface.search.is_empty() {
        text.push_str(&format!("Domains={}\n", interface.search.join(" ")));
    }
    text
}

/// The ifupdown stanzas for `interface`, known by the kernel as `name`.
pub fn ifupdown(name: &str, interface: &Interface) -> String {
    let mut text = format!("auto {name}\n");
    if interface.dhcp4 {
        text.push_str(&format!("iface {name} inet dhcp\n"));
        if let Some(mtu) = interface.mtu {
            text.push_str(&format!("    pre-up ip link set dev {name} mtu {mtu}\n"));
        }
    }
    let is_v4 = |address: &&String| {
        address
            .split('/')
            .next()
            .and_then(|ip| ip.parse::<IpAddr>().ok())
            .is_some_and(|ip| ip.is_ipv4())
    };
    let v4: Vec<&String> = interface.addresses.iter().filter(is_v4).collect();
    let v6: Vec<&String> = interface
        .addresses
        .iter()
        .filter(|address| !is_v4(address))
        .collect();
    for (index, address) in v4.iter().enumerate() {
        text.push_str(&format!(
            "iface {name} inet static\n    address {address}\n"
        ));
        if index == 0 {
            if let Some(gateway) = &interface.gateway4 {
                text.push_str(&format!("    gateway {gateway}\n"));
            }
            if let (Some(mtu), false) = (interface.mtu, interface.dhcp4) {
                text.push_str(&format!("    mtu {mtu}\n"));
            }
            if !interface.nameservers.is_empty() {
                text.push_str(&format!(
                    "    dns-nameservers {}\n",
                    interface.nameservers.join(" ")
                ));
            }
            if !interface.search.is_empty() {
                text.push_str(&format!("    dns-search {}\n", interface.search.join(" ")));
            }
        }
    }
    for (index, address) in v6.iter().enumerate() {
        text.push_str(&format!(
            "iface {name} inet6 static\n    address {address}\n"
        ));
        if index == 0 {
            if let Some(gateway) = &interface.gateway6 {
                text.push_str(&format!("    gateway {gateway}\n"));
            }
        }
    }
    text
}

/// `/etc/resolv.conf` for `servers` (the C library reads the first three) and `search`.
pub fn resolv_conf(servers: &[&str], search: &[&str], instance_id: &str) -> String {
    let mut text = header(instance_id);
    for server in servers.iter().take(3) {
        text.push_str(&format!("nameserver {server}\n"));
    }
    if !search.is_empty() {
        text.push_str(&format!("search {}\n", search.join(" ")));
    }
    text
}

/// A systemd-resolved drop-in for `servers` and `search`.
pub fn resolved(servers: &[&str], search: &[&str], instance_id: &str) -> String {
    let mut text = header(instance_id);
    text.push_str("\n[Resolve]\n");
    text.push_str(&format!("DNS={}\n", servers.join(" ")));
    if !search.is_empty() {
        text.push_str(&format!("Domains={}\n", search.join(" ")));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interface() -> Interface {
        Interface {
            name: Some("eth0".to_owned()),
            mac: Some("52:54:00:12:34:56".to_owned()),
            dhcp4: false,
            addresses: vec![
                "192.0.2.10/24".to_owned(),
                "192.0.2.11/24".to_owned(),
                "2001:db8::5/64".to_owned(),
            ],
            gateway4: Some("192.0.2.1".to_owned()),
            gateway6: Some("2001:db8::1".to_owned()),
            nameservers: vec!["192.0.2.53".to_owned()],
            search: vec!["example.org".to_owned()],
            mtu: Some(1400),
        }
    }

    #[test]
    fn networkd_files_match_by_mac_and_carry_everything() {
        let text = networkd(
            &interface(),
            &["192.0.2.53".to_owned(), "9.9.9.9".to_owned()],
            "i-1",
        );
        assert_eq!(
            text,
            "# Written by imgbuild-first-boot for instance i-1; replaced when the instance changes.\n\
             \n[Match]\nMACAddress=52:54:00:12:34:56\n\
             \n[Link]\nMTUBytes=1400\n\
             \n[Network]\nAddress=192.0.2.10/24\nAddress=192.0.2.11/24\nAddress=2001:db8::5/64\n\
             Gateway=192.0.2.1\nGateway=2001:db8::1\nDNS=192.0.2.53\nDNS=9.9.9.9\nDomains=example.org\n"
        );
        let dhcp = Interface {
            name: Some("ens3".to_owned()),
            dhcp4: true,
            ..Interface::default()
        };
        assert!(networkd(&dhcp, &[], "i").ends_with("[Match]\nName=ens3\n\n[Network]\nDHCP=ipv4\n"));
    }

    #[test]
    fn ifupdown_stanzas_put_extra_addresses_in_their_own_stanzas() {
        assert_eq!(
            ifupdown("ens3", &interface()),
            "auto ens3\n\
             iface ens3 inet static\n    address 192.0.2.10/24\n    gateway 192.0.2.1\n    mtu 1400\n\
             \x20   dns-nameservers 192.0.2.53\n    dns-search example.org\n\
             iface ens3 inet static\n    address 192.0.2.11/24\n\
             iface ens3 inet6 static\n    address 2001:db8::5/64\n    gateway 2001:db8::1\n"
        );
        let dhcp = Interface {
            dhcp4: true,
            mtu: Some(9000),
            ..Interface::default()
        };
        assert_eq!(
            ifupdown("eth1", &dhcp),
            "auto eth1\niface eth1 inet dhcp\n    pre-up ip link set dev eth1 mtu 9000\n"
        );
    }
}
