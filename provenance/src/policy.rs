//! The endorsement policy: which endorsers' signatures a site accepts, which it bans,
//! and how many distinct trusted endorsers must sign a release.
//!
//! The policy is a TOML file:
//!
//! ```toml
//! required = 2                      # signatures by distinct trusted endorsers needed (default 1)
//!
//! [[trusted]]
//! name = "alice@example.org"
//! key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI... alice"   # an OpenSSH public key line
//!
//! [[trusted]]
//! name = "bob@example.org"
//! key = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAI..."
//!
//! [[banned]]
//! name = "mallory@example.org"
//! key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI..."
//! ```
//!
//! **Rules.** Unknown keys are errors; every error names the file and the line of the
//! offending key or value. `required` is at least 1 and at most the number of distinct
//! trusted names (a policy nobody can satisfy is refused). A name is non-empty,
//! at most 200 bytes, and holds no whitespace, control characters, `,`, `"`, `*` or `?`
//! and does not start with `!` or `.` (it becomes a principal in an `allowed_signers`
//! file, where those characters are syntax). The same name may appear with several
//! keys (key rotation): it is one endorser, counted once. Keys are compared without
//! their comments.
//!
//! **A key listed both as trusted and as banned is banned:** banning wins, so a site
//! can withdraw trust by adding a `[[banned]]` entry without editing its trusted list.
//! Such a key is left out of [`Policy::allowed_signers`].

use std::ops::Range;
use std::path::{Path, PathBuf};

use ssh_key::PublicKey;
use toml_edit::{Document, Item, TableLike};

use crate::error::ProvenanceError;
use crate::NAMESPACE;

/// The longest endorser name accepted, in bytes.
const MAX_NAME_LENGTH: usize = 200;

/// A site's endorsement policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// How many distinct trusted endorsers must sign.
    pub required: usize,
    /// Endorsers whose signatures count.
    pub trusted: Vec<Endorser>,
    /// Endorsers whose signature fails verification.
    pub banned: Vec<Endorser>,
}

/// A named public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endorser {
    /// Who it is (`"alice@example.org"`).
    pub name: String,
    /// The key.
    pub key: PublicKey,
}

impl Policy {
    /// Reads a policy from `text`, the contents of `path` (used in errors only).
    pub fn parse(text: &str, path: &Path) -> Result<Policy, ProvenanceError> {
        let context = Context { path, text };
        let document = Document::parse(text).map_err(|error| {
            context.error(
                error.span(),
                format!("invalid TOML: {}", error.message().trim_end()),
            )
        })?;
        let root = document.as_table();
        let mut required = None;
        let mut trusted = Vec::new();
        let mut banned = Vec::new();
        for (key, item) in root.iter() {
            let span = key_span(root, key).or_else(|| item.span());
            match key {
                "required" => {
                    let value = item.as_integer().ok_or_else(|| {
                        context.error(span.clone(), "`required` must be an integer".into())
                    })?;
                    let value = usize::try_from(value)
                        .ok()
                        .filter(|value| *value >= 1)
                        .ok_or_else(|| {
                            context.error(
                                span.clone(),
                                format!("`required` must be at least 1, not {value}"),
                            )
                        })?;
                    required = Some((value, span));
                }
                "trusted" => trusted = context.endorsers(key, item, span)?,
                "banned" => banned = context.endorsers(key, item, span)?,
                other => {
                    return Err(context.error(
                        span,
                        format!(
                            "unknown key `{other}` (expected `required`, `trusted` or `banned`)"
                        ),
                    ))
                }
            }
        }
        let trusted_names = distinct_names(&trusted, &banned);
        let (required, required_span) = required.unwrap_or((1, None));
        if required > trusted_names {
            return Err(context.error(
                required_span,
                format!(
                    "the policy requires {required} trusted endorsers but lists {trusted_names} (not counting banned keys)"
                ),
            ));
        }
        Ok(Policy {
            required,
            trusted,
            banned,
        })
    }

    /// Reads the policy file `path`.
    pub fn read(path: &Path) -> Result<Policy, ProvenanceError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProvenanceError::Io {
            action: "read",
            path: path.to_path_buf(),
            source,
        })?;
        Policy::parse(&text, path)
    }

    /// The trusted keys that are not banned as an OpenSSH `allowed_signers` file (one
    /// `NAME namespaces="imgbuild-release" KEY` line each, in policy order), for
    /// `ssh-keygen -Y verify -f FILE -I NAME -n imgbuild-release -s SIG`.
    pub fn allowed_signers(&self) -> String {
        let mut text = String::new();
        for endorser in &self.trusted {
            if self.banned_name(&endorser.key).is_some() {
                continue;
            }
            text.push_str(&format!(
                "{} namespaces=\"{NAMESPACE}\" {}\n",
                endorser.name,
                public_key_line(&endorser.key)
            ));
        }
        text
    }

    /// The name of the banned endorser holding `key`, if it is banned.
    pub fn banned_name(&self, key: &PublicKey) -> Option<&str> {
        find(&self.banned, key)
    }

    /// The name of the trusted endorser holding `key`, if it is trusted and not banned.
    pub fn trusted_name(&self, key: &PublicKey) -> Option<&str> {
        match self.banned_name(key) {
            Some(_) => None,
            None => find(&self.trusted, key),
        }
    }
}

/// `ALGORITHM BASE64`, the public key without its comment.
pub fn public_key_line(key: &PublicKey) -> String {
    let without_comment = PublicKey::new(key.key_data().clone(), "");
    without_comment
        .to_openssh()
        .map(|line| line.trim_end().to_owned())
        .unwrap_or_default()
}

fn find<'p>(endorsers: &'p [Endorser], key: &PublicKey) -> Option<&'p str> {
    endorsers
        .iter()
        .find(|endorser| endorser.key.key_data() == key.key_data())
        .map(|endorser| endorser.name.as_str())
}

/// How many distinct names have at least one trusted key that is not banned.
fn distinct_names(trusted: &[Endorser], banned: &[Endorser]) -> usize {
    let mut names = std::collections::BTreeSet::new();
    for endorser in trusted {
        if find(banned, &endorser.key).is_none() {
            names.insert(endorser.name.as_str());
        }
    }
    names.len()
}

/// Checks an endorser name (see the module rules).
fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        Err("is empty")
    } else if name.len() > MAX_NAME_LENGTH {
        Err("is longer than 200 bytes")
    } else if name.starts_with('!') || name.starts_with('.') {
        Err("must not start with `!` or `.`")
    } else if name.chars().any(|character| {
        character.is_control()
            || character.is_whitespace()
            || matches!(character, ',' | '"' | '*' | '?' | '/')
    }) {
        Err("must not contain whitespace, control characters, `,`, `\"`, `*`, `?` or `/`")
    } else {
        Ok(())
    }
}

fn key_span(table: &dyn TableLike, key: &str) -> Option<Range<usize>> {
    table.get_key_value(key).and_then(|(key, _)| key.span())
}

/// The file being parsed, for errors with line numbers.
struct Context<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Context<'_> {
    /// The 1-based line where `span` starts (1 when unknown).
    fn line(&self, span: Option<Range<usize>>) -> usize {
        span.map_or(1, |span| {
            let end = span.start.min(self.text.len());
            self.text
                .as_bytes()
                .get(..end)
                .unwrap_or_default()
                .iter()
                .filter(|byte| **byte == b'\n')
                .count()
                + 1
        })
    }

    fn error(&self, span: Option<Range<usize>>, message: String) -> ProvenanceError {
        ProvenanceError::Policy {
            path: PathBuf::from(self.path),
            line: self.line(span),
            message,
        }
    }

    /// Reads `[[trusted]]` or `[[banned]]`.
    fn endorsers(
        &self,
        list: &str,
        item: &Item,
        span: Option<Range<usize>>,
    ) -> Result<Vec<Endorser>, ProvenanceError> {
        type Entry<'t> = (&'t dyn TableLike, Option<Range<usize>>);
        let tables: Vec<Entry> = if let Some(array) = item.as_array_of_tables() {
            array
                .iter()
                .map(|table| (table as &dyn TableLike, table.span()))
                .collect()
        } else if let Some(array) = item.as_array() {
            array
                .iter()
                .map(|value| {
                    value
                        .as_inline_table()
                        .map(|table| (table as &dyn TableLike, value.span()))
                        .ok_or_else(|| {
                            self.error(
                                value.span().or(span.clone()),
                                format!("`{list}` entries must be tables with `name` and `key`"),
                            )
                        })
                })
                .collect::<Result<_, _>>()?
        } else {
            return Err(self.error(
                span,
                format!("`{list}` must be an array of tables (`[[{list}]]`)"),
            ));
        };
        tables
            .into_iter()
            .map(|(table, table_span)| self.endorser(list, table, table_span.or(span.clone())))
            .collect()
    }

    /// Reads one `[[trusted]]` or `[[banned]]` table.
    fn endorser(
        &self,
        list: &str,
        table: &dyn TableLike,
        table_span: Option<Range<usize>>,
    ) -> Result<Endorser, ProvenanceError> {
        let mut name = None;
        let mut key = None;
        for (field, item) in table.iter() {
            let span = key_span(table, field).or_else(|| item.span());
            let value_span = item.span().or_else(|| span.clone());
            let text = || {
                item.as_str().ok_or_else(|| {
                    self.error(span.clone(), format!("`{list}.{field}` must be a string"))
                })
            };
            match field {
                "name" => {
                    let value = text()?;
                    check_name(value).map_err(|reason| {
                        self.error(value_span, format!("endorser name {value:?} {reason}"))
                    })?;
                    name = Some(value.to_owned());
                }
                "key" => {
                    let value = text()?;
                    let parsed = PublicKey::from_openssh(value.trim()).map_err(|error| {
                        self.error(
                            value_span,
                            format!("`{list}.key` is not an OpenSSH public key line: {error}"),
                        )
                    })?;
                    key = Some(parsed);
                }
                other => {
                    return Err(self.error(
                        span,
                        format!(
                            "unknown key `{other}` in `[[{list}]]` (expected `name` and `key`)"
                        ),
                    ))
                }
            }
        }
        match (name, key) {
            (Some(name), Some(key)) => Ok(Endorser { name, key }),
            (None, _) => Err(self.error(table_span, format!("a `[[{list}]]` entry has no `name`"))),
            (_, None) => Err(self.error(table_span, format!("a `[[{list}]]` entry has no `key`"))),
        }
    }
}
