//! The manifest, `imgbuild.toml`: which libraries a project (or a library) uses, and,
//! for a library, its own name and version.
//!
//! ```toml
//! [library]                      # only in a library
//! name = "web"
//! version = "1.0.0"
//!
//! [libraries]
//! base = { git = "https://git.example.org/platform/base-os.git", version = "^1.4" }
//! tools = { git = "ssh://git@git.example.org/ops/tools.git", rev = "3f2c1e9" }
//! site = { path = "../site-lib" }
//! net = { url = "https://files.example.org/net-lib-2.1.tar.gz", sha256 = "..." }
//!
//! [patch]                        # honoured in the root manifest only
//! base = { path = "../base-os" }
//! ```
//!
//! A project's manifest is found by walking up from the recipe ([`Manifest::find`]),
//! as Cargo finds `Cargo.toml`.
//!
//! **Invariants:** every error names the manifest file and the line of the offending
//! key or value; unknown keys are errors, never ignored; a library name is lowercase
//! ASCII letters, digits, `-` and `_`, starting with a letter or digit (it becomes the
//! first component of an import path, `import "base/debian"`); every [`Source`] passed
//! [`Source::validate`].

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use semver::{Version, VersionReq};
use toml_edit::{Document, Item, TableLike};

use crate::error::{IoResultExt, LibraryError, Result};
use crate::source::{Selector, Source};

/// The manifest's file name.
pub const MANIFEST_NAME: &str = "imgbuild.toml";

/// A parsed `imgbuild.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The file it was read from (as given to [`Manifest::parse`]).
    pub path: PathBuf,
    /// `[library]`: present when this manifest describes a library.
    pub library: Option<LibraryInfo>,
    /// `[libraries]`: what this project or library requires, by name.
    pub libraries: BTreeMap<String, Entry>,
    /// `[patch]`: sources forced for names anywhere in the graph (root manifest only).
    pub patches: BTreeMap<String, Entry>,
}

/// `[library]`: who a library says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibraryInfo {
    /// Its name.
    pub name: String,
    /// Its version, if it declares one.
    pub version: Option<Version>,
}

/// One `name = { ... }` line of `[libraries]` or `[patch]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The source.
    pub source: Source,
    /// The 1-based line of the entry in the manifest.
    pub line: usize,
}

const SOURCE_KEYS: &[&str] = &[
    "git", "version", "tag", "rev", "branch", "path", "url", "sha256",
];

impl Manifest {
    /// Looks for `imgbuild.toml` in `start` (or, when `start` is a file, its directory)
    /// and each parent directory; returns the first found, parsed, with its path.
    pub fn find(start: &Path) -> Result<Option<(PathBuf, Manifest)>> {
        let mut directory = if start.is_dir() {
            Some(start)
        } else {
            start.parent()
        };
        while let Some(current) = directory {
            let candidate = current.join(MANIFEST_NAME);
            if candidate.is_file() {
                let text = std::fs::read_to_string(&candidate).at("read manifest", &candidate)?;
                let manifest = Manifest::parse(&candidate, &text)?;
                return Ok(Some((candidate, manifest)));
            }
            directory = current.parent();
        }
        Ok(None)
    }

    /// Reads the manifest `path` (a library directory's `imgbuild.toml`).
    pub fn read(path: &Path) -> Result<Manifest> {
        let text = std::fs::read_to_string(path).at("read manifest", path)?;
        Manifest::parse(path, &text)
    }

    /// Parses `text`, the contents of the manifest `path` (used in errors only).
    pub fn parse(path: &Path, text: &str) -> Result<Manifest> {
        let context = Context { path, text };
        let document = Document::parse(text).map_err(|error| {
            context.error(error.span(), format!("invalid TOML: {}", error.message()))
        })?;
        let mut manifest = Manifest {
            path: path.to_path_buf(),
            library: None,
            libraries: BTreeMap::new(),
            patches: BTreeMap::new(),
        };
        for (key, item) in document.as_table().iter() {
            let span = key_span(document.as_table(), key).or_else(|| item.span());
            match key {
                "library" => manifest.library = Some(context.library_info(item, span)?),
                "libraries" => manifest.libraries = context.entries(key, item, span)?,
                "patch" => manifest.patches = context.entries(key, item, span)?,
                other => {
                    return Err(context.error(
                        span,
                        format!(
                            "unknown key `{other}` (expected `library`, `libraries` or `patch`)"
                        ),
                    ))
                }
            }
        }
        Ok(manifest)
    }

    /// The directory holding the manifest: paths in it are relative to this.
    pub fn directory(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }
}

/// True when `name` is a valid library name (see the module invariants).
pub fn is_valid_name(name: &str) -> bool {
    let mut characters = name.chars();
    characters
        .next()
        .is_some_and(|first| first.is_ascii_lowercase() || first.is_ascii_digit())
        && characters.all(|character| {
            character.is_ascii_lowercase()
                || character.is_ascii_digit()
                || character == '-'
                || character == '_'
        })
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
            self.text.as_bytes()[..end]
                .iter()
                .filter(|byte| **byte == b'\n')
                .count()
                + 1
        })
    }

    fn error(&self, span: Option<Range<usize>>, message: String) -> LibraryError {
        LibraryError::Manifest {
            path: self.path.to_path_buf(),
            line: self.line(span),
            message,
        }
    }

    fn table<'t>(
        &self,
        what: &str,
        item: &'t Item,
        span: Option<Range<usize>>,
    ) -> Result<&'t dyn TableLike> {
        item.as_table_like()
            .ok_or_else(|| self.error(span, format!("`{what}` must be a table")))
    }

    fn string<'t>(&self, table: &'t dyn TableLike, owner: &str, key: &str) -> Result<&'t str> {
        let item = table
            .get(key)
            .ok_or_else(|| self.error(None, format!("`{owner}` has no `{key}`")))?;
        item.as_str().ok_or_else(|| {
            self.error(
                item.span().or_else(|| key_span(table, key)),
                format!("`{owner}.{key}` must be a string"),
            )
        })
    }

    fn library_info(&self, item: &Item, span: Option<Range<usize>>) -> Result<LibraryInfo> {
        let table = self.table("library", item, span.clone())?;
        for (key, _) in table.iter() {
            if key != "name" && key != "version" {
                return Err(self.error(
                    key_span(table, key),
                    format!("unknown key `library.{key}` (expected `name` or `version`)"),
                ));
            }
        }
        if table.get("name").is_none() {
            return Err(self.error(span, "`[library]` has no `name`".to_owned()));
        }
        let name = self.string(table, "library", "name")?;
        if !is_valid_name(name) {
            return Err(self.error(
                table.get("name").and_then(Item::span),
                format!(
                    "`{name}` is not a valid library name (lowercase letters, digits, `-`, `_`)"
                ),
            ));
        }
        let version = match table.get("version") {
            None => None,
            Some(item) => {
                let text = self.string(table, "library", "version")?;
                Some(Version::parse(text).map_err(|error| {
                    self.error(item.span(), format!("bad version `{text}`: {error}"))
                })?)
            }
        };
        Ok(LibraryInfo {
            name: name.to_owned(),
            version,
        })
    }

    fn entries(
        &self,
        section: &str,
        item: &Item,
        span: Option<Range<usize>>,
    ) -> Result<BTreeMap<String, Entry>> {
        let table = self.table(section, item, span)?;
        let mut entries = BTreeMap::new();
        for (name, value) in table.iter() {
            let span = key_span(table, name).or_else(|| value.span());
            if !is_valid_name(name) {
                return Err(self.error(
                    span,
                    format!("`{name}` is not a valid library name (lowercase letters, digits, `-`, `_`)"),
                ));
            }
            let owner = format!("{section}.{name}");
            let entry_table = self.table(&owner, value, span.clone())?;
            let source = self.source(entry_table, &owner, span.clone())?;
            let line = self.line(span);
            entries.insert(name.to_owned(), Entry { source, line });
        }
        Ok(entries)
    }

    fn source(
        &self,
        table: &dyn TableLike,
        owner: &str,
        span: Option<Range<usize>>,
    ) -> Result<Source> {
        for (key, _) in table.iter() {
            if !SOURCE_KEYS.contains(&key) {
                return Err(self.error(
                    key_span(table, key),
                    format!(
                        "unknown key `{key}` in `{owner}` (expected one of {})",
                        SOURCE_KEYS.join(", ")
                    ),
                ));
            }
        }
        let present: Vec<&str> = SOURCE_KEYS
            .iter()
            .copied()
            .filter(|key| table.get(key).is_some())
            .collect();
        let kinds: Vec<&str> = present
            .iter()
            .copied()
            .filter(|key| matches!(*key, "git" | "path" | "url"))
            .collect();
        let allowed: &[&str] = match kinds.as_slice() {
            ["git"] => &["git", "version", "tag", "rev", "branch"],
            ["path"] => &["path"],
            ["url"] => &["url", "sha256"],
            _ => {
                return Err(self.error(
                    span,
                    format!("`{owner}` needs exactly one of `git`, `path` or `url`"),
                ))
            }
        };
        if let Some(extra) = present.iter().find(|key| !allowed.contains(key)) {
            return Err(self.error(
                key_span(table, extra),
                format!("`{extra}` does not go with `{}` in `{owner}`", kinds[0]),
            ));
        }
        let source = match kinds[0] {
            "git" => {
                let url = self.string(table, owner, "git")?.to_owned();
                let selectors: Vec<&str> = present
                    .iter()
                    .copied()
                    .filter(|key| *key != "git")
                    .collect();
                let selector = match selectors.as_slice() {
                    ["version"] => {
                        let text = self.string(table, owner, "version")?;
                        Selector::Version(VersionReq::parse(text).map_err(|error| {
                            self.error(
                                table.get("version").and_then(Item::span),
                                format!("bad version range `{text}` in `{owner}`: {error}"),
                            )
                        })?)
                    }
                    ["tag"] => Selector::Tag(self.string(table, owner, "tag")?.to_owned()),
                    ["rev"] => Selector::Rev(self.string(table, owner, "rev")?.to_owned()),
                    ["branch"] => Selector::Branch(self.string(table, owner, "branch")?.to_owned()),
                    _ => {
                        return Err(self.error(
                            span,
                            format!(
                            "`{owner}` needs exactly one of `version`, `tag`, `rev` or `branch`"
                        ),
                        ))
                    }
                };
                Source::Git { url, selector }
            }
            "path" => Source::Path(PathBuf::from(self.string(table, owner, "path")?)),
            _ => {
                if table.get("sha256").is_none() {
                    return Err(self.error(span, format!("`{owner}` needs a `sha256`")));
                }
                Source::Archive {
                    url: self.string(table, owner, "url")?.to_owned(),
                    sha256: self.string(table, owner, "sha256")?.to_owned(),
                }
            }
        };
        source
            .validate()
            .map_err(|problem| self.error(span, format!("`{owner}`: {problem}")))?;
        Ok(source)
    }
}
