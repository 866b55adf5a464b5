//! OpenNebula CONTEXT media: `context.sh` (and the scripts it names) in the root.
//!
//! `context.sh` is parsed, never sourced: lines `KEY='value'` whose single-quoted values
//! may span lines and join `'\''` escapes (OpenNebula's exact format), plus what a shell
//! author might write by hand — `export KEY=…`, double quotes with `\"`, `\\`, `\$`, `` \` ``
//! escapes, bare words, comments and blank lines. Anything that would need a shell to
//! evaluate (`$VAR`, `` `cmd` ``, `$(…)`, `;`, pipes) is an error naming the line.
//!
//! | variables | become |
//! |---|---|
//! | `SET_HOSTNAME`, else `HOSTNAME` (sanitised to `[-a-zA-Z0-9.]`, as one-context does) | the host name |
//! | `ETH<n>_MAC`, `_NAME`, `_IP`, `_MASK` (default /24), `_GATEWAY`, `_DNS`, `_SEARCH_DOMAIN`, `_MTU`, `_METHOD` (`static`, `dhcp`, `skip`), `_IP6` + `_IP6_PREFIX_LENGTH` (default 64), `_IP6_GATEWAY` | one interface per `n` |
//! | `DNS` | name servers |
//! | `USERNAME` (default `root`), `USERNAME_SUDO` (default `YES`), `SSH_PUBLIC_KEY` (one key a line), `CRYPTED_PASSWORD_BASE64` > `PASSWORD_BASE64` > `CRYPTED_PASSWORD` > `PASSWORD`, `USERNAME_PASSWORD_RESET=YES` (locks the password) | one user |
//! | `START_SCRIPT_BASE64` > `START_SCRIPT` | the per-instance script `START_SCRIPT` |
//! | `INIT_SCRIPTS` (names on the medium, in order; default `init.sh` when present) | per-instance scripts, after `START_SCRIPT` |
//! | `USER_DATA` (+ `USER_DATA_ENCODING=base64`) | user-data, as on a NoCloud seed |
//!
//! **Re-runs.** one-context runs `START_SCRIPT` and `INIT_SCRIPTS` on every boot; this
//! agent runs them once per instance, like every other medium's scripts (a script that
//! must run at each boot belongs in cloud-config `bootcmd` or an every-boot part).
//!
//! **Identity.** OpenNebula gives no instance id (cloud-init uses one fixed id for all).
//! The identity here is the BLAKE3 digest of `context.sh` (hex): a changed context is a
//! new instance and per-instance work runs again — as with Proxmox's content-hash ids.
//!
//! `FILES` (copied onto the medium) needs nothing more; other variables are ignored,
//! `DNS_HOSTNAME`, `TIMEZONE`, `ETH<n>_ALIAS…` and `ETH<n>_ROUTES` with a warning.

use std::collections::BTreeMap;

use base64::Engine as _;

use super::{empty_instance, MediaError, Medium};
use crate::model::{Instance, Interface, Password, Script, Source, User, When};

const FILE: &str = "context.sh";

fn syntax(line: usize, message: impl Into<String>) -> MediaError {
    MediaError::Syntax {
        file: FILE.to_owned(),
        line: Some(line),
        message: message.into(),
    }
}

/// Parses `context.sh` into its variables.
pub fn parse(text: &str) -> Result<BTreeMap<String, String>, MediaError> {
    let chars: Vec<char> = text.chars().collect();
    let mut variables = BTreeMap::new();
    let mut at = 0;
    let mut line = 1;
    while at < chars.len() {
        match chars[at] {
            '\n' => {
                line += 1;
                at += 1;
                continue;
            }
            ' ' | '\t' | '\r' => {
                at += 1;
                continue;
            }
            '#' => {
                while at < chars.len() && chars[at] != '\n' {
                    at += 1;
                }
                continue;
            }
            _ => {}
        }
        let start_line = line;
        let mut key = String::new();
        while at < chars.len() && (chars[at].is_ascii_alphanumeric() || chars[at] == '_') {
            key.push(chars[at]);
            at += 1;
        }
        if key == "export" && chars.get(at) == Some(&' ') {
            continue;
        }
        if key.is_empty()
            || key.starts_with(|c: char| c.is_ascii_digit())
            || chars.get(at) != Some(&'=')
        {
            return Err(syntax(start_line, "expected `NAME='value'`"));
        }
        at += 1;
        let mut value = String::new();
        while let Some(&c) = chars.get(at) {
            match c {
                '\'' => {
                    let quote_line = line;
                    at += 1;
                    loop {
                        match chars.get(at) {
                            None => return Err(syntax(quote_line, "unterminated single quote")),
                            Some('\'') => break,
                            Some(&c) => {
                                if c == '\n' {
                                    line += 1;
                                }
                                value.push(c);
                            }
                        }
                        at += 1;
                    }
                    at += 1;
                }
                '"' => {
                    let quote_line = line;
                    at += 1;
                    loop {
                        match chars.get(at) {
                            None => return Err(syntax(quote_line, "unterminated double quote")),
                            Some('"') => break,
                            Some('\\')
                                if matches!(chars.get(at + 1), Some('"' | '\\' | '$' | '`')) =>
                            {
                                value.push(chars[at + 1]);
                                at += 1;
                            }
                            Some('\\') if chars.get(at + 1) == Some(&'\n') => {
                                line += 1;
                                at += 1;
                            }
                            Some('$' | '`') => {
                                return Err(syntax(line, "`$` or a backquote would need a shell"))
                            }
                            Some(&c) => {
                                if c == '\n' {
                                    line += 1;
                                }
                                value.push(c);
                            }
                        }
                        at += 1;
                    }
                    at += 1;
                }
                '\\' => match chars.get(at + 1) {
                    Some('\n') => {
                        line += 1;
                        at += 2;
                    }
                    Some(&c) => {
                        value.push(c);
                        at += 2;
                    }
                    None => return Err(syntax(line, "a backslash ends the file")),
                },
                ' ' | '\t' | '\r' | '\n' | '#' => break,
                '$' | '`' | ';' | '|' | '&' | '<' | '>' | '(' | ')' => {
                    return Err(syntax(line, format!("`{c}` would need a shell")))
                }
                c => {
                    value.push(c);
                    at += 1;
                }
            }
        }
        while matches!(chars.get(at), Some(' ' | '\t' | '\r')) {
            at += 1;
        }
        if !matches!(chars.get(at), None | Some('\n' | '#')) {
            return Err(syntax(line, "more than one assignment on a line"));
        }
        variables.insert(key, value);
    }
    Ok(variables)
}

/// Reads an OpenNebula medium.
pub fn read(medium: &mut dyn Medium) -> Result<Instance, MediaError> {
    let bytes = medium.file(FILE)?.ok_or_else(|| MediaError::Missing {
        file: FILE.to_owned(),
    })?;
    let text = super::values::utf8(FILE, &bytes)?;
    let variables = parse(text)?;
    let id = blake3::hash(&bytes).to_hex().to_string();
    let mut instance = empty_instance(Source::OpenNebula, id);
    let get = |key: &str| {
        variables
            .get(key)
            .map(String::as_str)
            .filter(|value| !value.is_empty())
    };
    let yes = |key: &str, default: bool| {
        get(key).map_or(default, |value| value.eq_ignore_ascii_case("yes"))
    };
    instance.hostname = get("SET_HOSTNAME")
        .or_else(|| get("HOSTNAME"))
        .map(|name| {
            name.chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.')
                .collect::<String>()
        })
        .filter(|name| !name.is_empty());
    instance.nameservers = words(get("DNS"));
    interfaces(&variables, &mut instance)?;
    let decode = |key: &str| -> Result<Option<String>, MediaError> {
        get(key)
            .map(|value| {
                base64::engine::general_purpose::STANDARD
                    .decode(value.trim())
                    .ok()
                    .and_then(|bytes| String::from_utf8(bytes).ok())
                    .ok_or_else(|| MediaError::Invalid {
                        file: FILE.to_owned(),
                        reason: format!("`{key}` is not base64 of UTF-8 text"),
                    })
            })
            .transpose()
    };
    let password = if let Some(hash) = decode("CRYPTED_PASSWORD_BASE64")? {
        Some(Password::Hash(hash))
    } else if let Some(plain) = decode("PASSWORD_BASE64")? {
        Some(Password::Plain(plain))
    } else if let Some(hash) = get("CRYPTED_PASSWORD") {
        Some(Password::Hash(hash.to_owned()))
    } else {
        get("PASSWORD").map(|plain| Password::Plain(plain.to_owned()))
    };
    let keys: Vec<String> = get("SSH_PUBLIC_KEY")
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|key| !key.is_empty())
        .map(str::to_owned)
        .collect();
    let name = get("USERNAME").unwrap_or("root").to_owned();
    if get("USERNAME").is_some() || password.is_some() || !keys.is_empty() {
        instance.users.push(User {
            sudo: name != "root" && yes("USERNAME_SUDO", true) && yes("GRANT_SUDO", true),
            lock_password: yes("USERNAME_PASSWORD_RESET", false),
            name,
            password,
            ssh_keys: keys,
            ..User::default()
        });
    }
    let start = match decode_bytes(get("START_SCRIPT_BASE64"), "START_SCRIPT_BASE64")? {
        Some(bytes) => Some(bytes),
        None => get("START_SCRIPT").map(|script| script.as_bytes().to_vec()),
    };
    if let Some(body) = start {
        instance.scripts.push(Script {
            name: "START_SCRIPT".to_owned(),
            body,
            when: When::PerInstance,
        });
    }
    let init_scripts = match get("INIT_SCRIPTS") {
        Some(names) => words(Some(names)),
        None => medium
            .file("init.sh")?
            .map(|_| vec!["init.sh".to_owned()])
            .unwrap_or_default(),
    };
    for name in init_scripts {
        let body = medium
            .file(&name)?
            .ok_or_else(|| MediaError::Missing { file: name.clone() })?;
        instance.scripts.push(Script {
            name,
            body,
            when: When::PerInstance,
        });
    }
    let user_data = match get("USER_DATA_ENCODING") {
        Some(encoding) if encoding.eq_ignore_ascii_case("base64") => {
            decode_bytes(get("USER_DATA").or_else(|| get("USERDATA")), "USER_DATA")?
        }
        _ => get("USER_DATA")
            .or_else(|| get("USERDATA"))
            .map(|text| text.as_bytes().to_vec()),
    };
    if let Some(user_data) = user_data {
        super::user_data::apply(&user_data, "context.sh USER_DATA", &mut instance)?;
    }
    for key in variables.keys() {
        let noted = matches!(key.as_str(), "TIMEZONE" | "GROW_ROOTFS" | "GROW_FS")
            || (key == "DNS_HOSTNAME" && yes(key, false))
            || (key.starts_with("ETH") && (key.contains("_ALIAS") || key.ends_with("_ROUTES")));
        if noted && get(key).is_some() {
            instance
                .warnings
                .push(format!("context.sh: `{key}` is not applied"));
        }
    }
    Ok(instance)
}

fn decode_bytes(value: Option<&str>, key: &str) -> Result<Option<Vec<u8>>, MediaError> {
    value
        .map(|value| {
            let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map_err(|_| MediaError::Invalid {
                    file: FILE.to_owned(),
                    reason: format!("`{key}` is not base64"),
                })
        })
        .transpose()
}

fn words(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or_default()
        .split([' ', ',', '\t', '\n'])
        .filter(|word| !word.is_empty())
        .map(str::to_owned)
        .collect()
}

/// One interface per `ETH<n>_` prefix, in `n` order.
fn interfaces(
    variables: &BTreeMap<String, String>,
    instance: &mut Instance,
) -> Result<(), MediaError> {
    let mut indices: Vec<u32> = variables
        .keys()
        .filter_map(|key| key.strip_prefix("ETH")?.split_once('_')?.0.parse().ok())
        .collect();
    indices.sort_unstable();
    indices.dedup();
    for index in indices {
        let get = |suffix: &str| {
            variables
                .get(&format!("ETH{index}_{suffix}"))
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
        };
        let invalid = |reason: String| MediaError::Invalid {
            file: FILE.to_owned(),
            reason,
        };
        let mut interface = Interface {
            name: get("NAME").or_else(|| Some(format!("eth{index}"))),
            mac: get("MAC").map(|mac| mac.to_ascii_lowercase()),
            nameservers: words(get("DNS").as_deref()),
            search: words(get("SEARCH_DOMAIN").as_deref()),
            ..Interface::default()
        };
        if let Some(mtu) = get("MTU") {
            interface.mtu = Some(
                mtu.parse()
                    .map_err(|_| invalid(format!("ETH{index}_MTU `{mtu}` is not a number")))?,
            );
        }
        match get("METHOD").as_deref().unwrap_or("static") {
            "dhcp" => interface.dhcp4 = true,
            "skip" => {}
            _ => {
                if let Some(ip) = get("IP") {
                    let address =
                        super::values::cidr(&ip, get("MASK").as_deref()).ok_or_else(|| {
                            invalid(format!(
                                "ETH{index}_IP/_MASK `{ip}` is not an IPv4 address and mask"
                            ))
                        })?;
                    interface.addresses.push(address);
                    interface.gateway4 = get("GATEWAY");
                }
            }
        }
        if !matches!(get("IP6_METHOD").as_deref(), Some("skip" | "disable")) {
            if let Some(ip6) = get("IP6").or_else(|| get("IP6_GLOBAL")) {
                let prefix = get("IP6_PREFIX_LENGTH").unwrap_or_else(|| "64".to_owned());
                let address = super::values::cidr(&ip6, Some(&prefix)).ok_or_else(|| {
                    invalid(format!("ETH{index}_IP6 `{ip6}` is not an IPv6 address"))
                })?;
                interface.addresses.push(address);
                interface.gateway6 = get("IP6_GATEWAY").or_else(|| get("GATEWAY6"));
            }
        }
        instance.interfaces.push(interface);
    }
    Ok(())
}
