//! Network configuration for the instance's interfaces and name servers, written for
//! whichever system configures the image's network. The rule, in order:
//!
//! 1. **systemd-networkd** when it is enabled (`/etc/systemd/system/*.target.wants/
//!    systemd-networkd.service` for `multi-user` or `network-online`) and ifupdown
//!    configures nothing but `lo` (no `iface` other than `lo` in `/etc/network/interfaces`
//!    or `/etc/network/interfaces.d/*`, our own file aside);
//! 2. else **ifupdown** when it is installed (`/sbin/ifup` or `/etc/network/interfaces`);
//! 3. else systemd-networkd when its unit exists at all (Debian 12's `systemd` ships it,
//!    so this is "nothing else"): the files are written and the message says it is not
//!    enabled;
//! 4. else nothing (skipped).
//!
//! networkd gets `/etc/systemd/network/10-imgbuild-<n>.network` per interface (matched by
//! MAC address, else by name); files with that prefix that the instance no longer wants
//! are removed. ifupdown gets `/etc/network/interfaces.d/imgbuild` (interfaces matched by
//! MAC are named through `/sys/class/net/*/address`), and a `source` line for it in
//! `/etc/network/interfaces` when nothing there reads `interfaces.d`.
//!
//! Name servers: networkd gets `DNS=` per interface. Unless `/etc/resolv.conf` is a link
//! to systemd-resolved's files (then `/etc/systemd/resolved.conf.d/90-imgbuild.conf`
//! carries the servers the `.network` files do not), `/etc/resolv.conf` is written (a link
//! to anything else is replaced). An instance without interfaces leaves the image's own
//! configuration alone (but removes files written for an earlier instance).
//!
//! Every value is checked before anything is written (addresses, gateways and servers
//! must parse as IP addresses, names and domains are plain words), so a medium cannot
//! inject lines into these files.

mod render;

use std::net::IpAddr;

use super::error::ApplyError;
use super::hostname;
use super::root::{Follow, Ownership, Root, TargetPath};
use super::Applied;
use crate::model::{Instance, Interface};

/// The prefix of the networkd files this module owns.
const NETWORKD_PREFIX: &str = "10-imgbuild-";
const NETWORKD_DIRECTORY: &str = "/etc/systemd/network";
const IFUPDOWN_FILE: &str = "/etc/network/interfaces.d/imgbuild";
const RESOLVED_DROP_IN: &str = "/etc/systemd/resolved.conf.d/90-imgbuild.conf";

/// Which system configures the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// systemd-networkd (`enabled` false: present but not enabled).
    Networkd {
        /// Whether the unit is enabled.
        enabled: bool,
    },
    /// ifupdown.
    Ifupdown,
}

fn path(text: &str) -> Result<TargetPath, ApplyError> {
    TargetPath::new(text)
}

/// Chooses the backend (see the module documentation).
pub fn backend(root: &Root) -> Result<Option<Backend>, ApplyError> {
    let mut enabled = false;
    for target in ["multi-user", "network-online"] {
        enabled |= root.exists(&path(&format!(
            "/etc/systemd/system/{target}.target.wants/systemd-networkd.service"
        ))?);
    }
    let mut ifupdown_texts = vec![root.read_text(&path("/etc/network/interfaces")?)?];
    let directory = path("/etc/network/interfaces.d")?;
    for name in root.list(&directory)? {
        if name != "imgbuild" {
            ifupdown_texts.push(root.read_text(&directory.join(&name)?)?);
        }
    }
    let ifupdown_configures = ifupdown_texts
        .iter()
        .flat_map(|text| text.lines())
        .any(|line| {
            let mut words = line.split_whitespace();
            words.next() == Some("iface") && words.next().is_some_and(|name| name != "lo")
        });
    let ifupdown_installed =
        root.exists(&path("/sbin/ifup")?) || root.exists(&path("/etc/network/interfaces")?);
    let networkd_present = [
        "/etc/systemd/system",
        "/lib/systemd/system",
        "/usr/lib/systemd/system",
    ]
    .iter()
    .map(|directory| path(&format!("{directory}/systemd-networkd.service")))
    .collect::<Result<Vec<_>, _>>()?
    .iter()
    .any(|unit| root.exists(unit));
    Ok(if enabled && !ifupdown_configures {
        Some(Backend::Networkd { enabled: true })
    } else if ifupdown_installed {
        Some(Backend::Ifupdown)
    } else if networkd_present || enabled {
        Some(Backend::Networkd { enabled })
    } else {
        None
    })
}

/// Checks every value that goes into a file.
fn check(instance: &Instance) -> Result<(), ApplyError> {
    let ip = |what, value: &str| {
        value
            .parse::<IpAddr>()
            .map(|_| ())
            .map_err(|_| ApplyError::invalid(what, value, "not an IP address"))
    };
    for server in &instance.nameservers {
        ip("name server", server)?;
    }
    for interface in &instance.interfaces {
        if let Some(mac) = &interface.mac {
            let parts: Vec<&str> = mac.split(':').collect();
            if parts.len() < 6
                || !parts.iter().all(|part| {
                    part.len() == 2 && part.bytes().all(|byte| byte.is_ascii_hexdigit())
                })
            {
                return Err(ApplyError::invalid(
                    "MAC address",
                    mac,
                    "not colon-separated hex bytes",
                ));
            }
        }
        if let Some(name) = &interface.name {
            if name.is_empty()
                || name.len() > 15
                || !name
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || b"-_.".contains(&byte))
            {
                return Err(ApplyError::invalid(
                    "interface name",
                    name,
                    "not a kernel interface name",
                ));
            }
        }
        if interface.mac.is_none() && interface.name.is_none() {
            return Err(ApplyError::invalid(
                "interface",
                "",
                "neither a MAC address nor a name to match",
            ));
        }
        for address in &interface.addresses {
            let (address_part, prefix) = address
                .split_once('/')
                .ok_or_else(|| ApplyError::invalid("address", address, "no /prefix length"))?;
            let parsed = address_part
                .parse::<IpAddr>()
                .map_err(|_| ApplyError::invalid("address", address, "not an IP address"))?;
            let limit = if parsed.is_ipv4() { 32 } else { 128 };
            if !prefix.parse::<u8>().is_ok_and(|length| length <= limit) {
                return Err(ApplyError::invalid("address", address, "bad prefix length"));
            }
        }
        for gateway in interface.gateway4.iter().chain(&interface.gateway6) {
            ip("gateway", gateway)?;
        }
        for server in &interface.nameservers {
            ip("name server", server)?;
        }
        for domain in &interface.search {
            hostname::check(domain)?;
        }
    }
    Ok(())
}

/// Applies the instance's interfaces and name servers.
pub fn apply(root: &Root, instance: &Instance) -> Result<Applied, ApplyError> {
    check(instance)?;
    let backend = backend(root)?;
    let removed = remove_stale(
        root,
        if instance.interfaces.is_empty() {
            None
        } else {
            backend
        },
        instance.interfaces.len(),
    )?;
    let mut said = Vec::new();
    if removed > 0 {
        said.push(format!("removed {removed} file(s) of an earlier instance"));
    }
    if !instance.interfaces.is_empty() {
        match backend {
            None => {
                return Err(ApplyError::Missing {
                    program: "systemd-networkd or ifupdown",
                })
            }
            Some(Backend::Networkd { enabled }) => {
                write_networkd(root, instance)?;
                said.push(format!(
                    "{} interface(s) for systemd-networkd",
                    instance.interfaces.len()
                ));
                if !enabled {
                    said.push("systemd-networkd is not enabled in the image".to_owned());
                }
            }
            Some(Backend::Ifupdown) => {
                said.push(write_ifupdown(root, instance)?);
            }
        }
    }
    if let Some(message) = nameservers(root, instance, backend)? {
        said.push(message);
    }
    if said.is_empty() {
        return Ok(Applied::Skipped(
            "no interfaces or name servers in the medium".to_owned(),
        ));
    }
    Ok(Applied::Done(said.join("; ")))
}

/// Removes our files that this instance does not want: networkd files beyond `keep`
/// (all of them unless networkd is the backend), the ifupdown file unless ifupdown is.
fn remove_stale(root: &Root, backend: Option<Backend>, keep: usize) -> Result<usize, ApplyError> {
    let keep_networkd = if matches!(backend, Some(Backend::Networkd { .. })) {
        keep
    } else {
        0
    };
    let wanted: Vec<String> = (0..keep_networkd)
        .map(|index| format!("{NETWORKD_PREFIX}{index}.network"))
        .collect();
    let directory = path(NETWORKD_DIRECTORY)?;
    let mut removed = 0;
    for name in root.list(&directory)? {
        if name.starts_with(NETWORKD_PREFIX)
            && !wanted.contains(&name)
            && root.remove(&directory.join(&name)?)?
        {
            removed += 1;
        }
    }
    if backend != Some(Backend::Ifupdown) && root.remove(&path(IFUPDOWN_FILE)?)? {
        removed += 1;
    }
    Ok(removed)
}

fn write_networkd(root: &Root, instance: &Instance) -> Result<(), ApplyError> {
    let directory = path(NETWORKD_DIRECTORY)?;
    for (index, interface) in instance.interfaces.iter().enumerate() {
        let text = render::networkd(interface, &instance.nameservers, &instance.instance_id);
        root.write(
            &directory.join(&format!("{NETWORKD_PREFIX}{index}.network"))?,
            text.as_bytes(),
            Ownership::root(0o644),
            Follow::InRoot,
        )?;
    }
    Ok(())
}

/// The kernel name of the interface whose address is `mac`, from `/sys/class/net`.
fn name_by_mac(root: &Root, mac: &str) -> Result<Option<String>, ApplyError> {
    let directory = path("/sys/class/net")?;
    for name in root.list(&directory)? {
        let address = root
            .read_text(&directory.join(&name)?.join("address")?)
            .unwrap_or_default();
        if address.trim().eq_ignore_ascii_case(mac) {
            return Ok(Some(name));
        }
    }
    Ok(None)
}

fn write_ifupdown(root: &Root, instance: &Instance) -> Result<String, ApplyError> {
    let mut text = render::header(&instance.instance_id);
    let mut unmatched = Vec::new();
    for interface in &instance.interfaces {
        let by_mac = match &interface.mac {
            Some(mac) => name_by_mac(root, mac)?,
            None => None,
        };
        let Some(name) = by_mac.or_else(|| interface.name.clone()) else {
            unmatched.push(interface.mac.clone().unwrap_or_default());
            continue;
        };
        text.push('\n');
        text.push_str(&render::ifupdown(&name, interface));
    }
    root.write(
        &path(IFUPDOWN_FILE)?,
        text.as_bytes(),
        Ownership::root(0o644),
        Follow::InRoot,
    )?;
    let interfaces = path("/etc/network/interfaces")?;
    let existing = root.read_text(&interfaces)?;
    let sourced = existing.lines().any(|line| {
        let line = line.trim_start();
        (line.starts_with("source") || line.starts_with("source-directory"))
            && line.contains("interfaces.d")
    });
    if !sourced {
        let mut updated = existing;
        if !updated.is_empty() && !updated.ends_with('\n') {
            updated.push('\n');
        }
        updated.push_str(&format!("source {IFUPDOWN_FILE} {}\n", hostname::MARKER));
        root.write(
            &interfaces,
            updated.as_bytes(),
            Ownership::root(0o644),
            Follow::InRoot,
        )?;
    }
    let written = instance.interfaces.len() - unmatched.len();
    if unmatched.is_empty() {
        Ok(format!("{written} interface(s) for ifupdown"))
    } else {
        Ok(format!(
            "{written} interface(s) for ifupdown; no interface has MAC address {}",
            unmatched.join(", ")
        ))
    }
}

/// Writes `/etc/resolv.conf` or the resolved drop-in; `None` when there is nothing to do.
fn nameservers(
    root: &Root,
    instance: &Instance,
    backend: Option<Backend>,
) -> Result<Option<String>, ApplyError> {
    let mut servers: Vec<&str> = Vec::new();
    let mut search: Vec<&str> = Vec::new();
    let networkd =
        matches!(backend, Some(Backend::Networkd { .. })) && !instance.interfaces.is_empty();
    let all: Vec<&Interface> = instance.interfaces.iter().collect();
    for server in all
        .iter()
        .flat_map(|interface| &interface.nameservers)
        .chain(&instance.nameservers)
    {
        if !servers.contains(&server.as_str()) {
            servers.push(server);
        }
    }
    for domain in all.iter().flat_map(|interface| &interface.search) {
        if !search.contains(&domain.as_str()) {
            search.push(domain);
        }
    }
    let resolv = path("/etc/resolv.conf")?;
    let drop_in = path(RESOLVED_DROP_IN)?;
    let resolved = root
        .link_target(&resolv)
        .is_some_and(|target| target.contains("systemd/resolve"));
    if resolved {
        // networkd hands its DNS= to resolved; the drop-in carries the rest.
        let (servers, search): (Vec<&str>, Vec<&str>) = if networkd {
            (
                instance.nameservers.iter().map(String::as_str).collect(),
                Vec::new(),
            )
        } else {
            (servers, search)
        };
        if servers.is_empty() {
            root.remove(&drop_in)?;
            return Ok(None);
        }
        let text = render::resolved(&servers, &search, &instance.instance_id);
        root.write(
            &drop_in,
            text.as_bytes(),
            Ownership::root(0o644),
            Follow::InRoot,
        )?;
        return Ok(Some(format!(
            "{} name server(s) for systemd-resolved",
            servers.len()
        )));
    }
    root.remove(&drop_in)?;
    if servers.is_empty() {
        return Ok(None);
    }
    if root.link_target(&resolv).is_some() {
        root.remove(&resolv)?;
    }
    let text = render::resolv_conf(&servers, &search, &instance.instance_id);
    root.write(
        &resolv,
        text.as_bytes(),
        Ownership::root(0o644),
        Follow::Never,
    )?;
    Ok(Some(format!(
        "{} name server(s) in /etc/resolv.conf",
        servers.len().min(3)
    )))
}
