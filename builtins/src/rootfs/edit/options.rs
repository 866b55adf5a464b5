//! The recipe's declarative options for a root tree, parsed from canonical arguments.
//!
//! ```text
//! #{
//!     groups:   [#{ name: "deploy", gid: 2000, system: false }],
//!     users:    [#{ name: "ops", uid: 1000, group: "deploy" /* or gid: 1000 */,
//!                   shell: "/bin/bash", home: "/home/ops", groups: ["adm"], sudo: true,
//!                   password: "…" /* or crypted_password: "$6$…" */,
//!                   ssh_authorized_keys: ["ssh-ed25519 AAAA… ops"], system: false,
//!                   comment: "Operations" }],
//!     services: #{ enable: ["nginx", "getty@ttyS0"], disable: ["ssh.socket"] },
//!     hostname: "web1", locale: "en_US.UTF-8", timezone: "Europe/Paris",
//!     apt_sources: "none" /* or [#{ uris: "http://mirror.example.org/debian",
//!                   suites: ["bookworm"], components: ["main"], signed_by: "…" }] */,
//! }
//! ```
//!
//! [`Options::from_value`] parses what the builder receives; [`check_options`] runs the
//! same parse at evaluation time, plus the check for unknown keys, so a recipe error is
//! reported at the call rather than after packages are unpacked. A key whose value is
//! `()` is absent. Errors name the place (`users[1].uid: …`).

use std::collections::{BTreeMap, BTreeSet};

use imgbuild_evaluator::Value;

pub use super::apt_sources::{AptSource, AptSources};
pub use super::services::ServiceChanges;
pub use super::users::{GroupSpec, Password, PrimaryGroup, UserSpec};
use super::{apt_sources, services, system, users};

/// The keys [`Options`] reads.
pub const OPTION_KEYS: &[&str] = &[
    "apt_sources",
    "groups",
    "hostname",
    "locale",
    "services",
    "timezone",
    "users",
];

/// The declarative options of a root tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Groups to add, in order.
    pub groups: Vec<GroupSpec>,
    /// Users to add, in order.
    pub users: Vec<UserSpec>,
    /// Units to enable and disable.
    pub services: ServiceChanges,
    /// `/etc/hostname` and the `127.0.1.1` line of `/etc/hosts`.
    pub hostname: Option<String>,
    /// `LANG` in `/etc/default/locale`.
    pub locale: Option<String>,
    /// A zone under `/usr/share/zoneinfo`.
    pub timezone: Option<String>,
    /// Replace the apt sources (`None`: leave them).
    pub apt_sources: Option<AptSources>,
}

impl Options {
    /// Parses the options among `map`'s keys; keys not in [`OPTION_KEYS`] are left to
    /// the caller (check them with [`check_options_among`]).
    pub fn from_value(map: &BTreeMap<String, Value>) -> Result<Options, String> {
        let fields = Fields {
            context: String::new(),
            map,
        };
        let options = Options {
            groups: fields
                .get("groups")
                .map(users::parse_groups)
                .transpose()?
                .unwrap_or_default(),
            users: fields
                .get("users")
                .map(users::parse_users)
                .transpose()?
                .unwrap_or_default(),
            services: fields
                .get("services")
                .map(services::parse)
                .transpose()?
                .unwrap_or_default(),
            hostname: fields
                .string("hostname")?
                .map(|name| system::check_hostname(name).map_err(|reason| at("hostname", &reason)))
                .transpose()?,
            locale: fields
                .string("locale")?
                .map(|locale| system::check_locale(locale).map_err(|reason| at("locale", &reason)))
                .transpose()?,
            timezone: fields
                .string("timezone")?
                .map(|zone| system::check_timezone(zone).map_err(|reason| at("timezone", &reason)))
                .transpose()?,
            apt_sources: fields
                .get("apt_sources")
                .map(apt_sources::parse)
                .transpose()?,
        };
        users::check_together(&options.groups, &options.users)?;
        Ok(options)
    }
}

/// Checks a recipe's options at evaluation time: unknown keys (with "did you mean"),
/// types, names, ids, duplicates. The map holds only these options.
pub fn check_options(map: &BTreeMap<String, Value>) -> Result<(), String> {
    check_options_among(map, &[])
}

/// [`check_options`] for a map that also holds the caller's own `other_keys`, which are
/// skipped (and offered as suggestions for a misspelt key).
pub fn check_options_among(
    map: &BTreeMap<String, Value>,
    other_keys: &[&str],
) -> Result<(), String> {
    let known: Vec<&str> = OPTION_KEYS.iter().chain(other_keys).copied().collect();
    check_keys("", map, &known)?;
    Options::from_value(map).map(drop)
}

/// `context.key`, or `key` at the top level, followed by `: reason`.
pub(crate) fn at(place: &str, reason: &str) -> String {
    format!("`{place}`: {reason}")
}

/// Rejects keys of `map` that are not in `known`, suggesting the nearest.
pub(crate) fn check_keys(
    context: &str,
    map: &BTreeMap<String, Value>,
    known: &[&str],
) -> Result<(), String> {
    let Some(unknown) = map.keys().find(|key| !known.contains(&key.as_str())) else {
        return Ok(());
    };
    let place = if context.is_empty() {
        "unknown option".to_owned()
    } else {
        format!("`{context}`: unknown key")
    };
    Err(
        match imgbuild_evaluator::suggest(unknown, known.iter().copied()) {
            Some(near) => format!("{place} `{unknown}`; did you mean `{near}`?"),
            None => format!("{place} `{unknown}` (known: {})", known.join(", ")),
        },
    )
}

/// What kind of value this is, in words.
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Int(_) => "an integer",
        Value::String(_) => "a string",
        Value::Bytes(_) => "bytes",
        Value::List(_) => "a list",
        Value::Map(_) => "a map",
        Value::Input(_) => "a derivation",
        Value::Secret(_) => "secret text",
    }
}

/// The fields of one map argument, with its place for errors (`users[0]`).
pub(crate) struct Fields<'a> {
    pub(crate) context: String,
    map: &'a BTreeMap<String, Value>,
}

impl<'a> Fields<'a> {
    /// `value` as a map whose keys are all in `known`.
    pub(crate) fn new(
        context: String,
        value: &'a Value,
        known: &[&str],
    ) -> Result<Fields<'a>, String> {
        let Value::Map(map) = value else {
            return Err(at(
                &context,
                &format!("expected a map, found {}", type_name(value)),
            ));
        };
        check_keys(&context, map, known)?;
        Ok(Fields { context, map })
    }

    /// The place of `key`, for errors.
    pub(crate) fn place(&self, key: &str) -> String {
        if self.context.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.context)
        }
    }

    /// An error about `key`.
    pub(crate) fn error(&self, key: &str, reason: &str) -> String {
        at(&self.place(key), reason)
    }

    fn wrong_type(&self, key: &str, expected: &str, value: &Value) -> String {
        self.error(
            key,
            &format!("expected {expected}, found {}", type_name(value)),
        )
    }

    /// The value of `key`; `None` when absent or `()`.
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map
            .get(key)
            .filter(|value| !matches!(value, Value::Null))
    }

    /// A string (not secret text).
    pub(crate) fn string(&self, key: &str) -> Result<Option<&'a str>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(other) => Err(self.wrong_type(key, "a string", other)),
        }
    }

    /// A required string.
    pub(crate) fn required_string(&self, key: &str) -> Result<&'a str, String> {
        self.string(key)?
            .ok_or_else(|| self.error(key, "is required"))
    }

    /// A boolean, false when absent.
    pub(crate) fn flag(&self, key: &str) -> Result<bool, String> {
        match self.get(key) {
            None => Ok(false),
            Some(Value::Bool(flag)) => Ok(*flag),
            Some(other) => Err(self.wrong_type(key, "a boolean", other)),
        }
    }

    /// A user or group id: 0 to 4294967294, not 65535 (both are `(uid_t) -1` somewhere).
    pub(crate) fn id(&self, key: &str) -> Result<Option<u32>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Int(number)) => match u32::try_from(*number) {
                Ok(id) if id != u32::MAX && id != 65535 => Ok(Some(id)),
                _ => Err(self.error(
                    key,
                    &format!("{number} is out of range (0 to 4294967294, not 65535)"),
                )),
            },
            Some(other) => Err(self.wrong_type(key, "an integer", other)),
        }
    }

    /// A list of strings, empty when absent. A single string is a list of one.
    pub(crate) fn strings(&self, key: &str) -> Result<Vec<&'a str>, String> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::String(text)) => Ok(vec![text.as_str()]),
            Some(Value::List(items)) => items
                .iter()
                .enumerate()
                .map(|(index, item)| match item {
                    Value::String(text) => Ok(text.as_str()),
                    other => Err(self.wrong_type(&format!("{key}[{index}]"), "a string", other)),
                })
                .collect(),
            Some(other) => Err(self.wrong_type(key, "a list of strings", other)),
        }
    }
}

/// The items of a list option, each with its place (`users[2]`).
pub(crate) fn list_items<'a>(
    key: &str,
    value: &'a Value,
) -> Result<impl Iterator<Item = (String, &'a Value)>, String> {
    let Value::List(items) = value else {
        return Err(at(
            key,
            &format!("expected a list of maps, found {}", type_name(value)),
        ));
    };
    let key = key.to_owned();
    Ok(items
        .iter()
        .enumerate()
        .map(move |(index, item)| (format!("{key}[{index}]"), item)))
}

/// Fails on the first name seen twice.
pub(crate) fn unique<'a>(
    what: &str,
    names: impl IntoIterator<Item = &'a str>,
) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    for name in names {
        if !seen.insert(name) {
            return Err(format!("{what} `{name}` is given twice"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(&str, Value)]) -> BTreeMap<String, Value> {
        entries
            .iter()
            .map(|(key, value)| ((*key).to_owned(), value.clone()))
            .collect()
    }

    fn string(text: &str) -> Value {
        Value::String(text.to_owned())
    }

    fn check(entries: &[(&str, Value)], expected: Result<(), &str>) {
        assert_eq!(
            check_options(&map(entries)),
            expected.map_err(str::to_owned),
            "{entries:?}"
        );
    }

    #[test]
    fn unknown_keys_and_types_are_recipe_errors() {
        check(&[], Ok(()));
        check(
            &[("hostname", string("web1")), ("locale", Value::Null)],
            Ok(()),
        );
        check(
            &[("user", Value::List(vec![]))],
            Err("unknown option `user`; did you mean `users`?"),
        );
        check(
            &[("hostname", Value::Int(1))],
            Err("`hostname`: expected a string, found an integer"),
        );
        check(
            &[("hostname", string("web_1"))],
            Err("`hostname`: `web_1` is not a valid host name: `web_1` contains '_'; only letters, digits and `-` are allowed"),
        );
        check(
            &[("timezone", string("../etc/passwd"))],
            Err("`timezone`: `../etc/passwd` is not a timezone name (like `Europe/Paris`)"),
        );
        check(
            &[("locale", string("en US"))],
            Err("`locale`: `en US` is not a locale name (like `en_US.UTF-8`)"),
        );
        assert_eq!(
            check_options_among(
                &map(&[("includ", Value::Null), ("include", Value::Null)]),
                &["include"]
            ),
            Err("unknown option `includ`; did you mean `include`?".to_owned())
        );
    }

    #[test]
    fn options_parse_into_their_types() {
        let options = Options::from_value(&map(&[
            ("hostname", string("web1.example.org")),
            ("timezone", string("Europe/Paris")),
            (
                "services",
                Value::Map(map(&[("enable", Value::List(vec![string("nginx")]))])),
            ),
        ]))
        .expect("options");
        assert_eq!(options.hostname.as_deref(), Some("web1.example.org"));
        assert_eq!(options.timezone.as_deref(), Some("Europe/Paris"));
        assert_eq!(options.services.enable, ["nginx.service"]);
        assert!(options.users.is_empty() && options.apt_sources.is_none());
    }
}
