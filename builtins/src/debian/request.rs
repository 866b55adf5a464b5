//! What `debian::packages` asks for, as a typed request and as the canonical data an
//! evaluation hands back when the lock file does not answer it
//! ([`imgbuild_evaluator::PendingRequest`] in the `debian` section).

use std::collections::BTreeMap;
use std::path::PathBuf;

use imgbuild_evaluator::Value;

use super::sources::Overrides;

/// What `debian::packages` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetRequest {
    /// The set's name (its key in the lock file).
    pub name: String,
    /// Suites, in priority order (`bookworm`, `bookworm-updates`, `bookworm-security`).
    pub suites: Vec<String>,
    /// Components (`main`, ...).
    pub components: Vec<String>,
    /// Target architecture.
    pub architecture: String,
    /// Base set.
    pub variant: String,
    /// Extra packages (`name` or `name=version`).
    pub include: Vec<String>,
    /// Packages that must not be installed.
    pub exclude: Vec<String>,
    /// Install Recommends.
    pub recommends: bool,
    /// Keyring files (empty: the host's Debian archive keyring).
    pub keyrings: Vec<PathBuf>,
    /// Accept unsigned repositories.
    pub trusted: bool,
    /// Mirrors named by the recipe.
    pub overrides: Overrides,
    /// Further repositories (a team's own), after the suites.
    pub extra: Vec<ExtraRepository>,
}

/// A repository with its own URL, keyring and components (`repositories: [#{...}]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraRepository {
    /// Base URI (the directory holding `dists/`).
    pub url: String,
    /// Suite.
    pub suite: String,
    /// Components.
    pub components: Vec<String>,
    /// Keyring files (empty: the set's keyring).
    pub keyrings: Vec<PathBuf>,
    /// Accept it unsigned.
    pub trusted: bool,
}

impl SetRequest {
    /// BLAKE3 over the canonical request (mirrors excluded: they are locations).
    pub fn digest(&self) -> String {
        let mut text = String::from("imgbuild-apt-request-v1\n");
        let mut line = |key: &str, values: &[String]| {
            text.push_str(key);
            for value in values {
                text.push('\0');
                text.push_str(value);
            }
            text.push('\n');
        };
        line("suites", &self.suites);
        line("components", &self.components);
        line("architecture", std::slice::from_ref(&self.architecture));
        line("variant", std::slice::from_ref(&self.variant));
        line("include", &self.include);
        line("exclude", &self.exclude);
        line("recommends", &[self.recommends.to_string()]);
        line(
            "keyrings",
            &self
                .keyrings
                .iter()
                .map(|path| path.display().to_string())
                .collect::<Vec<_>>(),
        );
        line("trusted", &[self.trusted.to_string()]);
        for extra in &self.extra {
            // The URL is a location, like a mirror; what the repository is comes from
            // its suite, components and keys.
            line("repository", std::slice::from_ref(&extra.suite));
            line("repository-components", &extra.components);
            line(
                "repository-keyrings",
                &extra
                    .keyrings
                    .iter()
                    .map(|path| path.display().to_string())
                    .collect::<Vec<_>>(),
            );
            line("repository-trusted", &[extra.trusted.to_string()]);
        }
        blake3::hash(text.as_bytes()).to_hex().to_string()
    }

    /// The request as canonical data (what a pending request carries).
    pub fn to_value(&self) -> Value {
        let strings =
            |values: &[String]| Value::List(values.iter().cloned().map(Value::String).collect());
        let paths = |values: &[PathBuf]| {
            Value::List(
                values
                    .iter()
                    .map(|path| Value::String(path.display().to_string()))
                    .collect(),
            )
        };
        let optional = |value: &Option<String>| value.clone().map_or(Value::Null, Value::String);
        let mut map = BTreeMap::new();
        map.insert("name".to_owned(), Value::String(self.name.clone()));
        map.insert("suites".to_owned(), strings(&self.suites));
        map.insert("components".to_owned(), strings(&self.components));
        map.insert(
            "architecture".to_owned(),
            Value::String(self.architecture.clone()),
        );
        map.insert("variant".to_owned(), Value::String(self.variant.clone()));
        map.insert("include".to_owned(), strings(&self.include));
        map.insert("exclude".to_owned(), strings(&self.exclude));
        map.insert("recommends".to_owned(), Value::Bool(self.recommends));
        map.insert("keyrings".to_owned(), paths(&self.keyrings));
        map.insert("trusted".to_owned(), Value::Bool(self.trusted));
        map.insert("mirror".to_owned(), optional(&self.overrides.mirror));
        map.insert(
            "security_mirror".to_owned(),
            optional(&self.overrides.security_mirror),
        );
        let extra = self
            .extra
            .iter()
            .map(|extra| {
                let mut map = BTreeMap::new();
                map.insert("url".to_owned(), Value::String(extra.url.clone()));
                map.insert("suite".to_owned(), Value::String(extra.suite.clone()));
                map.insert("components".to_owned(), strings(&extra.components));
                map.insert("keyrings".to_owned(), paths(&extra.keyrings));
                map.insert("trusted".to_owned(), Value::Bool(extra.trusted));
                Value::Map(map)
            })
            .collect();
        map.insert("repositories".to_owned(), Value::List(extra));
        Value::Map(map)
    }

    /// Reads back what [`SetRequest::to_value`] wrote; `None` if it is not such a value.
    pub fn from_value(value: &Value) -> Option<SetRequest> {
        let text = |value: &Value, key: &str| value.get(key)?.as_str().map(str::to_owned);
        let flag = |value: &Value, key: &str| value.get(key)?.as_bool();
        let strings = |value: &Value, key: &str| -> Option<Vec<String>> {
            value
                .get(key)?
                .as_list()?
                .iter()
                .map(|item| item.as_str().map(str::to_owned))
                .collect()
        };
        let paths = |value: &Value, key: &str| -> Option<Vec<PathBuf>> {
            Some(
                strings(value, key)?
                    .into_iter()
                    .map(PathBuf::from)
                    .collect(),
            )
        };
        let extra = value
            .get("repositories")?
            .as_list()?
            .iter()
            .map(|item| {
                Some(ExtraRepository {
                    url: text(item, "url")?,
                    suite: text(item, "suite")?,
                    components: strings(item, "components")?,
                    keyrings: paths(item, "keyrings")?,
                    trusted: flag(item, "trusted")?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(SetRequest {
            name: text(value, "name")?,
            suites: strings(value, "suites")?,
            components: strings(value, "components")?,
            architecture: text(value, "architecture")?,
            variant: text(value, "variant")?,
            include: strings(value, "include")?,
            exclude: strings(value, "exclude")?,
            recommends: flag(value, "recommends")?,
            keyrings: paths(value, "keyrings")?,
            trusted: flag(value, "trusted")?,
            overrides: Overrides {
                mirror: text(value, "mirror"),
                security_mirror: text(value, "security_mirror"),
            },
            extra,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_survives_the_round_trip_through_canonical_data() {
        let request = SetRequest {
            name: "web".to_owned(),
            suites: vec!["bookworm".to_owned(), "bookworm-security".to_owned()],
            components: vec!["main".to_owned()],
            architecture: "amd64".to_owned(),
            variant: "minbase".to_owned(),
            include: vec!["nginx".to_owned(), "curl=7.88.1-10".to_owned()],
            exclude: vec!["vim-tiny".to_owned()],
            recommends: true,
            keyrings: vec![PathBuf::from("/k/debian.gpg")],
            trusted: false,
            overrides: Overrides {
                mirror: Some("http://mirror.invalid/debian".to_owned()),
                security_mirror: None,
            },
            extra: vec![ExtraRepository {
                url: "file:///srv/team".to_owned(),
                suite: "stable".to_owned(),
                components: vec!["main".to_owned(), "contrib".to_owned()],
                keyrings: Vec::new(),
                trusted: true,
            }],
        };
        assert_eq!(
            SetRequest::from_value(&request.to_value()),
            Some(request.clone())
        );
        assert_eq!(SetRequest::from_value(&Value::Int(3)), None);
    }
}
