//! Checks on the values contextualization media carry: host names, addresses, prefixes,
//! MAC addresses, SSH public keys and shell variable names.
//!
//! Each check returns the normalised value or a sentence saying what is wrong, which the
//! caller prefixes with where the value came from (a recipe call, or an inventory file
//! and row). Parsing here, at evaluation time, means a bad row is reported before anything
//! is built.

use std::net::IpAddr;

use base64::Engine as _;

/// A host name: one DNS label (letters, digits, `-`; 1–63 characters; no leading or
/// trailing `-`), or several joined by `.` (at most 253 characters).
pub(crate) fn hostname(value: &str) -> Result<String, String> {
    if value.is_empty() {
        return Err("the host name is empty".to_owned());
    }
    if value.len() > 253 {
        return Err(format!(
            "`{value}` is not a valid host name: longer than 253 characters"
        ));
    }
    for label in value.split('.') {
        dns_label(label)
            .map_err(|reason| format!("`{value}` is not a valid host name: {reason}"))?;
    }
    Ok(value.to_owned())
}

/// One DNS label (RFC 1123): what a VM name must be.
pub(crate) fn dns_label(label: &str) -> Result<(), String> {
    if label.is_empty() {
        return Err("it has an empty label".to_owned());
    }
    if label.len() > 63 {
        return Err(format!("`{label}` is longer than 63 characters"));
    }
    if let Some(bad) = label
        .chars()
        .find(|character| !(character.is_ascii_alphanumeric() || *character == '-'))
    {
        return Err(format!(
            "`{label}` contains {bad:?}; only letters, digits and `-` are allowed"
        ));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(format!("`{label}` starts or ends with `-`"));
    }
    Ok(())
}

/// An IPv4 or IPv6 address (no prefix).
pub(crate) fn ip_address(value: &str) -> Result<IpAddr, String> {
    value
        .trim()
        .parse::<IpAddr>()
        .map_err(|_| format!("`{value}` is not an IPv4 or IPv6 address"))
}

/// An address with an optional `/prefix`; `prefix` (if given separately) must agree.
pub(crate) fn address_with_prefix(
    value: &str,
    prefix: Option<&str>,
) -> Result<(IpAddr, u8), String> {
    let (address, inline_prefix) = match value.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (value, None),
    };
    let address = ip_address(address)?;
    let prefix = match (
        inline_prefix,
        prefix.filter(|prefix| !prefix.trim().is_empty()),
    ) {
        (Some(inline), Some(separate)) if inline.trim() != separate.trim() => {
            return Err(format!(
                "`{value}` has prefix /{inline} but the prefix is given as {separate}"
            ))
        }
        (Some(prefix), _) | (None, Some(prefix)) => prefix_length(prefix, &address)?,
        (None, None) => {
            return Err(format!(
                "`{value}` has no prefix length (give `prefix`, e.g. 24, or write `{value}/24`)"
            ))
        }
    };
    if prefix == 0 {
        return Err(format!(
            "`{value}` has prefix length 0: that is every address, not a network"
        ));
    }
    usable_host(&address).map_err(|reason| format!("`{value}`: {reason}"))?;
    Ok((address, prefix))
}

/// An address a VM can have: not unspecified (`0.0.0.0`, `::`), multicast, broadcast
/// or loopback.
fn usable_host(address: &IpAddr) -> Result<(), String> {
    let problem = match address {
        _ if address.is_unspecified() => "the unspecified address",
        _ if address.is_multicast() => "a multicast address",
        _ if address.is_loopback() => "a loopback address",
        IpAddr::V4(v4) if v4.is_broadcast() => "the broadcast address",
        _ => return Ok(()),
    };
    Err(format!("{problem} is not a VM's address"))
}

/// Checks a gateway against the VM's address and prefix: the same family, not the VM
/// itself, and on the VM's network — except IPv6 link-local gateways (`fe80::/10`, the
/// usual router address) and point-to-point set-ups (`/32`, `/128`), whose gateway is
/// outside by definition.
pub(crate) fn gateway(address: IpAddr, prefix: u8, gateway: IpAddr) -> Result<(), String> {
    if gateway.is_ipv4() != address.is_ipv4() {
        return Err(format!(
            "`gateway` {gateway} and `ip` {address} are of different address families"
        ));
    }
    if gateway == address {
        return Err(format!("`gateway` {gateway} is the VM's own address"));
    }
    usable_host(&gateway).map_err(|reason| format!("`gateway` {gateway}: {reason}"))?;
    let on_link = match (address, gateway) {
        (IpAddr::V4(address), IpAddr::V4(gateway)) => {
            prefix >= 32 || {
                let mask = u32::MAX << (32 - u32::from(prefix));
                u32::from(address) & mask == u32::from(gateway) & mask
            }
        }
        (IpAddr::V6(address), IpAddr::V6(gateway)) => {
            prefix >= 128 || gateway.segments()[0] & 0xffc0 == 0xfe80 || {
                let mask = u128::MAX << (128 - u32::from(prefix));
                u128::from(address) & mask == u128::from(gateway) & mask
            }
        }
        _ => false,
    };
    if !on_link {
        return Err(format!(
            "`gateway` {gateway} is outside the VM's network {address}/{prefix}"
        ));
    }
    Ok(())
}

/// A prefix length valid for `address`'s family.
pub(crate) fn prefix_length(value: &str, address: &IpAddr) -> Result<u8, String> {
    let maximum = if address.is_ipv4() { 32 } else { 128 };
    match value.trim().parse::<u8>() {
        Ok(prefix) if prefix <= maximum => Ok(prefix),
        _ => Err(format!(
            "`{value}` is not a prefix length for {address} (0–{maximum})"
        )),
    }
}

/// A MAC address `xx:xx:xx:xx:xx:xx` (`-` separators accepted), returned lower-case with `:`.
pub(crate) fn mac_address(value: &str) -> Result<String, String> {
    let parts: Vec<&str> = value.trim().split([':', '-']).collect();
    let valid = parts.len() == 6
        && parts
            .iter()
            .all(|part| part.len() == 2 && part.chars().all(|c| c.is_ascii_hexdigit()));
    if !valid {
        return Err(format!(
            "`{value}` is not a MAC address (six hexadecimal pairs like 52:54:00:12:34:56)"
        ));
    }
    let mac = parts.join(":").to_ascii_lowercase();
    let first = u8::from_str_radix(parts[0], 16).unwrap_or(0);
    if first & 1 == 1 {
        return Err(format!(
            "`{value}` is a multicast or broadcast MAC address, not a network card's"
        ));
    }
    if mac == "00:00:00:00:00:00" {
        return Err(format!("`{value}` is the all-zero MAC address"));
    }
    Ok(mac)
}

/// Key types OpenSSH accepts in `authorized_keys`.
const SSH_KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-dss",
];

/// An SSH public key line: `type base64 [comment]`, where the base64 blob decodes and
/// names the same key type. Private keys are refused with a pointed message.
pub(crate) fn ssh_public_key(value: &str) -> Result<String, String> {
    let line = value.trim();
    if line.contains("PRIVATE KEY") {
        return Err(
            "this is a PRIVATE key; give the public key (the `.pub` file) instead".to_owned(),
        );
    }
    if line.contains('\n') {
        return Err("an SSH public key is a single line".to_owned());
    }
    let mut fields = line.split_whitespace();
    let (Some(kind), Some(blob)) = (fields.next(), fields.next()) else {
        return Err(format!(
            "`{}` is not an SSH public key (expected `TYPE BASE64 [COMMENT]`)",
            abbreviate(line)
        ));
    };
    if !SSH_KEY_TYPES.contains(&kind) {
        return Err(format!(
            "`{}` is not an SSH public key: unknown key type `{kind}` (expected one of {})",
            abbreviate(line),
            SSH_KEY_TYPES.join(", ")
        ));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .map_err(|_| {
            format!(
                "SSH public key `{}`: the key data is not base64",
                abbreviate(line)
            )
        })?;
    let named = decoded
        .get(..4)
        .map(|length| u32::from_be_bytes([length[0], length[1], length[2], length[3]]) as usize)
        .and_then(|length| decoded.get(4..4 + length));
    if named != Some(kind.as_bytes()) {
        return Err(format!(
            "SSH public key `{}`: the key data is not a `{kind}` key",
            abbreviate(line)
        ));
    }
    Ok(line.to_owned())
}

/// A shell variable name: `[A-Za-z_][A-Za-z0-9_]*`.
pub(crate) fn shell_identifier(name: &str) -> Result<(), String> {
    let mut characters = name.chars();
    let valid = matches!(characters.next(), Some(first) if first.is_ascii_alphabetic() || first == '_')
        && characters.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a shell variable name (letters, digits and `_`, not starting with a digit)"
        ))
    }
}

/// Variables that change how the shell sourcing `context.sh`, or every program it
/// starts, behaves: set from a recipe or an inventory they would run code as root.
const DANGEROUS_VARIABLES: &[&str] = &[
    "PATH",
    "IFS",
    "ENV",
    "BASH_ENV",
    "SHELLOPTS",
    "BASHOPTS",
    "CDPATH",
    "GLOBIGNORE",
    "PS4",
    "PROMPT_COMMAND",
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "LD_AUDIT",
    "PYTHONPATH",
    "PERL5LIB",
];

/// A variable a recipe or an inventory may put into an OpenNebula `context.sh`: a
/// shell identifier that is not one of the variables that steer the shell or the
/// dynamic loader (compared in upper case, as the variables are written).
pub(crate) fn context_variable(name: &str) -> Result<(), String> {
    shell_identifier(name)?;
    let upper = name.to_ascii_uppercase();
    if DANGEROUS_VARIABLES.contains(&upper.as_str()) || upper.starts_with("LD_") {
        return Err(format!(
            "`{name}` would steer the shell that reads context.sh (or every program it starts); choose another name"
        ));
    }
    Ok(())
}

/// The first 40 characters of a long value, for messages.
pub(crate) fn abbreviate(value: &str) -> String {
    let mut characters = value.chars();
    let head: String = characters.by_ref().take(40).collect();
    if characters.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIfyhm6lbcFhh6fuPYv76s7QQEFtaWtD79Tl4BgtgJgT ops@example";

    #[test]
    fn host_names() {
        assert!(hostname("vm-0001").is_ok());
        assert!(hostname("web.example.org").is_ok());
        assert!(hostname("-bad").is_err());
        assert!(hostname("under_score").is_err());
        assert!(hostname(&"a".repeat(64)).is_err());
        assert!(hostname("").is_err());
    }

    #[test]
    fn addresses() {
        assert_eq!(
            address_with_prefix("10.0.0.5", Some("24")).map(|(a, p)| (a.to_string(), p)),
            Ok(("10.0.0.5".to_owned(), 24))
        );
        assert!(address_with_prefix("10.0.0.5/24", Some("16")).is_err());
        assert!(address_with_prefix("10.0.0.300", Some("24")).is_err());
        assert!(address_with_prefix("10.0.0.5", Some("33")).is_err());
        assert!(address_with_prefix("fd00::5/64", None).is_ok());
        assert!(address_with_prefix("10.0.0.5", None).is_err());
    }

    #[test]
    fn macs() {
        assert_eq!(
            mac_address("52-54-00-AB-CD-EF").as_deref(),
            Ok("52:54:00:ab:cd:ef")
        );
        assert!(mac_address("52:54:00:ab:cd").is_err());
        assert!(mac_address("52:54:00:ab:cd:eg").is_err());
    }

    #[test]
    fn ssh_keys() {
        assert!(ssh_public_key(ED25519).is_ok());
        assert!(ssh_public_key("ssh-ed25519 bm90IGEga2V5").is_err());
        assert!(ssh_public_key(
            "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIIfyhm6lbcFhh6fuPYv76s7QQEFtaWtD79Tl4BgtgJgT"
        )
        .is_err());
        assert!(ssh_public_key("hello").is_err());
        assert!(ssh_public_key("-----BEGIN OPENSSH PRIVATE KEY-----").is_err());
    }

    #[test]
    fn identifiers() {
        assert!(shell_identifier("ETH0_IP").is_ok());
        assert!(shell_identifier("_x1").is_ok());
        assert!(shell_identifier("1X").is_err());
        assert!(shell_identifier("MY-VAR").is_err());
        assert!(shell_identifier("").is_err());
        assert!(mac_address("ff:ff:ff:ff:ff:ff").is_err());
        assert!(mac_address("01:00:5e:00:00:01").is_err());
        assert!(mac_address("00:00:00:00:00:00").is_err());
        assert!(mac_address("52:54:00:12:34:56").is_ok());
        assert!(address_with_prefix("0.0.0.0/0", None).is_err());
        assert!(address_with_prefix("0.0.0.0", Some("24")).is_err());
        assert!(address_with_prefix("255.255.255.255/24", None).is_err());
        assert!(address_with_prefix("10.0.0.5/0", None).is_err());
        let v4 = |text: &str| text.parse::<IpAddr>().expect("address");
        assert!(gateway(v4("10.0.0.5"), 24, v4("10.0.0.1")).is_ok());
        assert!(gateway(v4("10.0.0.5"), 24, v4("10.0.0.5")).is_err());
        assert!(gateway(v4("10.0.0.5"), 24, v4("10.0.1.1")).is_err());
        assert!(gateway(v4("10.0.0.5"), 32, v4("172.31.1.1")).is_ok());
        assert!(gateway(v4("2001:db8::5"), 64, v4("fe80::1")).is_ok());
        assert!(gateway(v4("2001:db8::5"), 64, v4("2001:db9::1")).is_err());
        for name in ["PATH", "ifs", "LD_PRELOAD", "BASH_ENV", "ld_anything"] {
            assert!(context_variable(name).is_err(), "{name}");
        }
        assert!(context_variable("ROLE").is_ok());
    }
}
