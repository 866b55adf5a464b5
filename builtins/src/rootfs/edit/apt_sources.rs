//! The `apt_sources` option: what apt in the finished image fetches from.
//!
//! - `"none"`: `/etc/apt/sources.list` and every non-directory entry of
//!   `/etc/apt/sources.list.d` are removed (an image that never runs `apt-get update`,
//!   or gets its sources later).
//! - a list of `#{ uris, suites, components, signed_by?, types? }`: one deb822 file,
//!   `/etc/apt/sources.list.d/debian.sources` (0644), one paragraph per source in the
//!   order given, and `/etc/apt/sources.list` removed so the one-line format does not
//!   name the same archives twice. `uris` are http, https or file URLs; a suite ending in
//!   `/` is a flat repository and takes no components, any other suite needs some;
//!   `signed_by` is an absolute path that must be in the image; `types` defaults to
//!   `["deb"]`.

use imgbuild_evaluator::Value;
use imgbuild_store::Name;

use super::files::{children, exists, remove, tree_path, write_file};
use super::options::{at, list_items, type_name, Fields};
use super::{Edit, EditError};

/// The apt sources of the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AptSources {
    /// No sources at all.
    None,
    /// These sources, in one deb822 file.
    List(Vec<AptSource>),
}

/// One deb822 paragraph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptSource {
    /// `Types:` (`deb`, `deb-src`).
    pub types: Vec<String>,
    /// `URIs:`.
    pub uris: Vec<String>,
    /// `Suites:`.
    pub suites: Vec<String>,
    /// `Components:` (empty for a flat repository).
    pub components: Vec<String>,
    /// `Signed-By:`, a keyring path.
    pub signed_by: Option<String>,
}

const KEYS: &[&str] = &["components", "signed_by", "suites", "types", "uris"];

/// Parses the `apt_sources` option.
pub(crate) fn parse(value: &Value) -> Result<AptSources, String> {
    match value {
        Value::String(text) if text == "none" => return Ok(AptSources::None),
        Value::String(text) => {
            return Err(at(
                "apt_sources",
                &format!("`{text}` is not `none` or a list of sources"),
            ))
        }
        Value::List(_) => {}
        other => {
            return Err(at(
                "apt_sources",
                &format!(
                    "expected `none` or a list of maps, found {}",
                    type_name(other)
                ),
            ))
        }
    }
    let sources = list_items("apt_sources", value)?
        .map(|(context, item)| parse_source(&Fields::new(context, item, KEYS)?))
        .collect::<Result<Vec<_>, String>>()?;
    if sources.is_empty() {
        return Err(at(
            "apt_sources",
            "the list is empty; give `none` for no sources",
        ));
    }
    Ok(AptSources::List(sources))
}

fn parse_source(fields: &Fields<'_>) -> Result<AptSource, String> {
    let words = |key: &str| -> Result<Vec<String>, String> {
        fields
            .strings(key)?
            .into_iter()
            .map(|word| {
                if word.is_empty() || word.contains(char::is_whitespace) {
                    Err(fields.error(key, &format!("`{word}` is empty or contains white space")))
                } else {
                    Ok(word.to_owned())
                }
            })
            .collect()
    };
    let uris = words("uris")?;
    if uris.is_empty() {
        return Err(fields.error("uris", "is required"));
    }
    for uri in &uris {
        let scheme = uri.split_once("://").map(|(scheme, _)| scheme);
        if !matches!(scheme, Some("http" | "https" | "file")) {
            return Err(fields.error(
                "uris",
                &format!("`{uri}` is not an http, https or file URL"),
            ));
        }
    }
    let suites = words("suites")?;
    let components = words("components")?;
    if suites.is_empty() {
        return Err(fields.error("suites", "is required"));
    }
    let flat = suites.iter().filter(|suite| suite.ends_with('/')).count();
    if flat > 0 && (flat < suites.len() || !components.is_empty()) {
        return Err(fields.error(
            "components",
            "a suite ending in `/` is a flat repository: all suites must be flat and there are no components",
        ));
    }
    if flat == 0 && components.is_empty() {
        return Err(fields.error("components", "is required (e.g. [\"main\"])"));
    }
    let types = match words("types")? {
        types if types.is_empty() => vec!["deb".to_owned()],
        types => types,
    };
    if let Some(bad) = types
        .iter()
        .find(|kind| !matches!(kind.as_str(), "deb" | "deb-src"))
    {
        return Err(fields.error("types", &format!("`{bad}` is not `deb` or `deb-src`")));
    }
    let signed_by = match fields.string("signed_by")? {
        Some(path) if !path.starts_with('/') || path.contains(char::is_whitespace) => {
            return Err(fields.error("signed_by", &format!("`{path}` is not an absolute path")))
        }
        path => path.map(str::to_owned),
    };
    Ok(AptSource {
        types,
        uris,
        suites,
        components,
        signed_by,
    })
}

/// The deb822 text of `sources`.
fn render(sources: &[AptSource]) -> String {
    let paragraphs: Vec<String> = sources
        .iter()
        .map(|source| {
            let mut text = format!(
                "Types: {}\nURIs: {}\nSuites: {}\n",
                source.types.join(" "),
                source.uris.join(" "),
                source.suites.join(" ")
            );
            if !source.components.is_empty() {
                text += &format!("Components: {}\n", source.components.join(" "));
            }
            if let Some(keyring) = &source.signed_by {
                text += &format!("Signed-By: {keyring}\n");
            }
            text
        })
        .collect();
    paragraphs.join("\n")
}

/// Writes or removes the sources.
pub(crate) fn apply(edit: &mut Edit<'_>, sources: &AptSources) -> Result<(), EditError> {
    if let AptSources::List(sources) = sources {
        for source in sources {
            let Some(keyring) = &source.signed_by else {
                continue;
            };
            if !exists(edit.tree, &tree_path(keyring)?)? {
                return Err(EditError::KeyringMissing {
                    uri: source.uris.first().cloned().unwrap_or_default(),
                    keyring: keyring.clone(),
                });
            }
        }
    }
    let list = tree_path("etc/apt/sources.list")?;
    let directory = tree_path("etc/apt/sources.list.d")?;
    let mut removed = Vec::new();
    if remove(edit.tree, &list)? {
        removed.push(format!("/{list}"));
    }
    match sources {
        AptSources::None => {
            for (name, kind) in children(edit.tree, &directory)? {
                let path = directory.join(&name);
                if kind != "directory" && remove(edit.tree, &path)? {
                    removed.push(format!("/{path}"));
                }
            }
            edit.log(format!(
                "apt sources: none (removed {})",
                list_or_nothing(&removed)
            ));
        }
        AptSources::List(sources) => {
            let path = directory.join(&Name::new("debian.sources")?);
            let meta = edit.meta(0o644, 0, 0);
            write_file(edit, &path, render(sources).as_bytes(), meta, false)?;
            edit.log(format!(
                "apt sources: {} source(s) in /{path} (removed {})",
                sources.len(),
                list_or_nothing(&removed)
            ));
        }
    }
    Ok(())
}

fn list_or_nothing(paths: &[String]) -> String {
    if paths.is_empty() {
        "nothing".to_owned()
    } else {
        paths.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rootfs::edit::test_support::Fixture;
    use std::collections::BTreeMap;

    fn string(text: &str) -> Value {
        Value::String(text.to_owned())
    }

    fn strings(items: &[&str]) -> Value {
        Value::List(items.iter().map(|item| string(item)).collect())
    }

    fn source(entries: &[(&str, Value)]) -> Value {
        Value::Map(
            entries
                .iter()
                .map(|(key, value)| ((*key).to_owned(), value.clone()))
                .collect::<BTreeMap<_, _>>(),
        )
    }

    fn image() -> Fixture {
        let mut fixture = Fixture::new();
        fixture
            .file(
                "etc/apt/sources.list",
                "deb http://host-mirror/debian bookworm main\n",
            )
            .file("etc/apt/sources.list.d/debian.sources", "old\n")
            .file("etc/apt/sources.list.d/extra.list", "deb http://x y z\n")
            .directory("etc/apt/sources.list.d/keep", 0o755)
            .file("usr/share/keyrings/debian-archive-keyring.gpg", "keys");
        fixture
    }

    #[test]
    fn a_list_becomes_one_deb822_file() {
        let value = Value::List(vec![
            source(&[
                ("uris", string("http://mirror.example.org/debian")),
                ("suites", strings(&["bookworm", "bookworm-updates"])),
                ("components", strings(&["main", "contrib"])),
                (
                    "signed_by",
                    string("/usr/share/keyrings/debian-archive-keyring.gpg"),
                ),
            ]),
            source(&[
                ("types", strings(&["deb", "deb-src"])),
                (
                    "uris",
                    strings(&["https://security.example.org/debian-security"]),
                ),
                ("suites", strings(&["bookworm-security"])),
                ("components", strings(&["main"])),
            ]),
            source(&[
                ("uris", string("file:///srv/repo")),
                ("suites", strings(&["./"])),
            ]),
        ]);
        let sources = parse(&value).expect("sources");
        let mut fixture = image();
        fixture.edit(|edit| apply(edit, &sources)).expect("apply");
        assert_eq!(
            fixture.text("etc/apt/sources.list.d/debian.sources"),
            "Types: deb\nURIs: http://mirror.example.org/debian\nSuites: bookworm bookworm-updates\n\
             Components: main contrib\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\
             \n\
             Types: deb deb-src\nURIs: https://security.example.org/debian-security\n\
             Suites: bookworm-security\nComponents: main\n\
             \n\
             Types: deb\nURIs: file:///srv/repo\nSuites: ./\n"
        );
        assert_eq!(
            fixture.meta("etc/apt/sources.list.d/debian.sources"),
            fixture.edit(|edit| edit.meta(0o644, 0, 0))
        );
        assert!(!fixture.has("etc/apt/sources.list"));
        assert!(fixture.has("etc/apt/sources.list.d/extra.list"));
    }

    #[test]
    fn none_removes_every_source_file() {
        let mut fixture = image();
        fixture
            .edit(|edit| apply(edit, &AptSources::None))
            .expect("apply");
        assert!(!fixture.has("etc/apt/sources.list"));
        assert!(!fixture.has("etc/apt/sources.list.d/debian.sources"));
        assert!(!fixture.has("etc/apt/sources.list.d/extra.list"));
        assert!(fixture.has("etc/apt/sources.list.d/keep"));
    }

    #[test]
    fn bad_sources_are_recipe_or_build_errors() {
        let check = |value: Value, expected: &str| {
            assert_eq!(parse(&value), Err(expected.to_owned()));
        };
        check(
            string("off"),
            "`apt_sources`: `off` is not `none` or a list of sources",
        );
        let base = [
            ("suites", strings(&["bookworm"])),
            ("components", strings(&["main"])),
        ];
        let mut ftp = base.to_vec();
        ftp.push(("uris", string("ftp://x/debian")));
        check(
            Value::List(vec![source(&ftp)]),
            "`apt_sources[0].uris`: `ftp://x/debian` is not an http, https or file URL",
        );
        check(
            Value::List(vec![source(&[
                ("uris", string("http://x")),
                ("suites", strings(&["bookworm"])),
            ])]),
            "`apt_sources[0].components`: is required (e.g. [\"main\"])",
        );
        let mut missing_key = base.to_vec();
        missing_key.push(("uris", string("http://x")));
        missing_key.push(("signed_by", string("/missing.gpg")));
        let sources = parse(&Value::List(vec![source(&missing_key)])).expect("parses");
        let mut fixture = image();
        let error = fixture
            .edit(|edit| apply(edit, &sources))
            .expect_err("no keyring");
        assert_eq!(
            error.to_string(),
            "apt source `http://x`: its signed_by keyring `/missing.gpg` is not in the image"
        );
    }
}
