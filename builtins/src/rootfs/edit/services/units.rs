//! Unit names, finding a unit file the way systemctl does, and the `[Install]` section.
//!
//! The lookup path is systemd's for the system manager, minus the runtime directories a
//! tree at rest has none of: `/etc/systemd/system`, `/usr/local/lib/systemd/system`,
//! `/lib/systemd/system`, `/usr/lib/systemd/system`. Bookworm's systemd (252, built with
//! `rootprefix=/`) has `/lib/systemd/system` before `/usr/lib/systemd/system`, so on a
//! merged-/usr tree it finds `nginx.service` as `/lib/systemd/system/nginx.service`, and
//! that is the target `systemctl enable` writes (`… → /lib/systemd/system/nginx.service`).
//! From systemd 255 (trixie) the `/lib` entry is gone and links point to `/usr/lib/…`; the
//! version is read from the tree's dpkg database (no systemd there: bookworm's order).
//!
//! A name is looked up as given in every directory, then, for an instance
//! (`getty@tty1.service`), as its template (`getty@.service`). A symlink in a unit
//! directory that points to `/dev/null` masks the unit; one that points to another unit
//! name is an alias, and the unit it names is used instead.

use imgbuild_store::{EntryKind, TreePath};

use super::super::files::{children, read_text, resolve_parent, tree_path};
use super::super::{Edit, EditError, Suggestion};

/// Suffixes of unit types; a name without one is a `.service`.
const SUFFIXES: &[&str] = &[
    "service",
    "socket",
    "target",
    "timer",
    "path",
    "mount",
    "automount",
    "swap",
    "slice",
    "scope",
    "device",
];

/// The directory `systemctl enable` writes to.
pub(super) const CONFIG_DIRECTORY: &str = "etc/systemd/system";

/// `nginx` → `nginx.service`; a name with a unit suffix is kept. Checks the characters
/// systemd allows (`[A-Za-z0-9:_.\-@]`, at most one `@`, at most 255 bytes).
pub(crate) fn normalize(name: &str) -> Result<String, String> {
    let has_suffix = name
        .rsplit_once('.')
        .is_some_and(|(stem, suffix)| !stem.is_empty() && SUFFIXES.contains(&suffix));
    let full = if has_suffix {
        name.to_owned()
    } else {
        format!("{name}.service")
    };
    let valid = !name.is_empty()
        && full.len() <= 255
        && !full.starts_with(['@', '.'])
        && full.matches('@').count() <= 1
        && full
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || ":_.-@\\".contains(character));
    if valid {
        Ok(full)
    } else {
        Err(format!("`{name}` is not a systemd unit name"))
    }
}

/// A full unit name split at `@` and the suffix: `getty@tty1.service` is prefix `getty`,
/// instance `tty1` (empty for the template itself), suffix `service`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct UnitName {
    pub(super) full: String,
    pub(super) prefix: String,
    pub(super) instance: Option<String>,
    pub(super) suffix: String,
}

impl UnitName {
    pub(super) fn parse(full: &str) -> UnitName {
        let (stem, suffix) = full.rsplit_once('.').unwrap_or((full, "service"));
        let (prefix, instance) = match stem.split_once('@') {
            Some((prefix, instance)) => (prefix, Some(instance.to_owned())),
            None => (stem, None),
        };
        UnitName {
            full: full.to_owned(),
            prefix: prefix.to_owned(),
            instance,
            suffix: suffix.to_owned(),
        }
    }

    /// `prefix@.suffix` for an instance or a template.
    pub(super) fn template(&self) -> Option<String> {
        self.instance
            .as_ref()
            .map(|_| format!("{}@.{}", self.prefix, self.suffix))
    }

    /// This name with `instance` (a template's name made an instance).
    pub(super) fn with_instance(&self, instance: &str) -> String {
        format!("{}@{instance}.{}", self.prefix, self.suffix)
    }
}

/// A unit file as found in the lookup path.
pub(super) struct Found {
    /// The file's name (`getty@.service` for `getty@tty1.service`).
    pub(super) file_name: String,
    /// Its absolute path as systemctl names it: the symlinks' target.
    pub(super) target: String,
    /// Its text.
    pub(super) content: String,
}

/// What a name is in the lookup path.
pub(super) enum Lookup {
    Found(Found),
    Alias(String),
    Masked(String),
    Missing,
}

/// The unit directories, in systemctl's order for the systemd in the tree.
pub(super) fn lookup_path(edit: &Edit<'_>) -> Result<Vec<&'static str>, EditError> {
    let status = read_text(edit, &tree_path("var/lib/dpkg/status")?)?.unwrap_or_default();
    let modern = systemd_major(&status).is_some_and(|major| major >= 255);
    let mut directories = vec![CONFIG_DIRECTORY, "usr/local/lib/systemd/system"];
    if !modern {
        directories.push("lib/systemd/system");
    }
    directories.push("usr/lib/systemd/system");
    Ok(directories)
}

/// The major version of the `systemd` package in a dpkg status file.
fn systemd_major(status: &str) -> Option<u32> {
    let paragraph = status
        .split("\n\n")
        .find(|paragraph| paragraph.lines().any(|line| line == "Package: systemd"))?;
    let version = paragraph
        .lines()
        .find_map(|line| line.strip_prefix("Version: "))?;
    let upstream = version.split_once(':').map_or(version, |(_, rest)| rest);
    let digits: String = upstream.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Looks `name` up in `directories`: as given, then as its template.
pub(super) fn find(
    edit: &Edit<'_>,
    directories: &[&str],
    name: &UnitName,
) -> Result<Lookup, EditError> {
    let candidates = std::iter::once(name.full.clone()).chain(name.template());
    for file_name in candidates {
        for directory in directories {
            let path = tree_path(directory)?.join(&imgbuild_store::Name::new(file_name.as_str())?);
            let entry_path = resolve_parent(edit.tree, &path)?;
            match edit.tree.get(&entry_path).map(|entry| &entry.kind) {
                None => continue,
                Some(EntryKind::Symlink { target }) => {
                    let target = String::from_utf8_lossy(target).into_owned();
                    if target == "/dev/null" {
                        return Ok(Lookup::Masked(path.to_string()));
                    }
                    let base = target.rsplit('/').next().unwrap_or_default();
                    if base != file_name && normalize(base).as_deref() == Ok(base) {
                        return Ok(Lookup::Alias(base.to_owned()));
                    }
                }
                Some(_) => {}
            }
            if let Some(content) = read_text(edit, &path)? {
                return Ok(Lookup::Found(Found {
                    target: format!("/{directory}/{file_name}"),
                    file_name,
                    content,
                }));
            }
        }
    }
    Ok(Lookup::Missing)
}

/// "not in the image", with the nearest unit name in the lookup path.
pub(super) fn missing(
    edit: &Edit<'_>,
    directories: &[&str],
    given: &str,
) -> Result<EditError, EditError> {
    let mut names = Vec::new();
    for directory in directories {
        for (name, kind) in children(edit.tree, &tree_path(directory)?)? {
            let name = name.to_string();
            if kind != "directory" && normalize(&name).as_deref() == Ok(name.as_str()) {
                names.push(
                    name.strip_suffix(".service")
                        .map(str::to_owned)
                        .unwrap_or(name),
                );
            }
        }
    }
    let word = given.strip_suffix(".service").unwrap_or(given);
    Ok(EditError::UnitMissing {
        unit: word.to_owned(),
        suggestion: Suggestion::nearest(word, names.iter().map(String::as_str)),
    })
}

/// The `[Install]` section of a unit file.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Install {
    pub(super) wanted_by: Vec<String>,
    pub(super) required_by: Vec<String>,
    pub(super) alias: Vec<String>,
    pub(super) also: Vec<String>,
    pub(super) default_instance: Option<String>,
}

impl Install {
    /// Whether there is anything to enable.
    pub(super) fn is_empty(&self) -> bool {
        self.wanted_by.is_empty()
            && self.required_by.is_empty()
            && self.alias.is_empty()
            && self.also.is_empty()
    }
}

/// Parses the `[Install]` section: `#`/`;` comments, `\` continuation lines,
/// whitespace-separated lists that accumulate, an empty assignment resetting a list.
pub(super) fn parse_install(content: &str) -> Install {
    let mut install = Install::default();
    let mut in_install = false;
    let mut logical = String::new();
    for raw in content.lines() {
        let line = raw.trim();
        if logical.is_empty() && (line.starts_with('#') || line.starts_with(';')) {
            continue;
        }
        if let Some(continued) = line.strip_suffix('\\') {
            logical.push_str(continued);
            logical.push(' ');
            continue;
        }
        logical.push_str(line);
        let line = std::mem::take(&mut logical);
        let line = line.trim();
        if line.starts_with('[') {
            in_install = line == "[Install]";
            continue;
        }
        let Some((key, value)) = line.split_once('=').filter(|_| in_install) else {
            continue;
        };
        let list = match key.trim() {
            "WantedBy" => &mut install.wanted_by,
            "RequiredBy" => &mut install.required_by,
            "Alias" => &mut install.alias,
            "Also" => &mut install.also,
            "DefaultInstance" => {
                let value = value.trim();
                install.default_instance = (!value.is_empty()).then(|| value.to_owned());
                continue;
            }
            _ => continue,
        };
        if value.trim().is_empty() {
            list.clear();
        }
        list.extend(value.split_whitespace().map(str::to_owned));
    }
    install
}

/// Expands the specifiers systemctl expands in `[Install]` values: `%n` (full name),
/// `%N` (without suffix), `%p` (prefix), `%i` (instance), `%j` (last `-` part of the
/// prefix), `%%`.
pub(super) fn expand(value: &str, name: &UnitName) -> Result<String, String> {
    let mut expanded = String::new();
    let mut characters = value.chars();
    while let Some(character) = characters.next() {
        if character != '%' {
            expanded.push(character);
            continue;
        }
        match characters.next() {
            Some('n') => expanded.push_str(&name.full),
            Some('N') => expanded.push_str(
                name.full
                    .strip_suffix(&format!(".{}", name.suffix))
                    .unwrap_or(&name.full),
            ),
            Some('p') => expanded.push_str(&name.prefix),
            Some('i') => expanded.push_str(name.instance.as_deref().unwrap_or_default()),
            Some('j') => expanded.push_str(name.prefix.rsplit('-').next().unwrap_or_default()),
            Some('%') => expanded.push('%'),
            other => {
                return Err(format!(
                    "`{value}` uses the specifier `%{}`, which is not supported here",
                    other.map(String::from).unwrap_or_default()
                ))
            }
        }
    }
    Ok(expanded)
}

/// The path of `name` in the config directory, for links.
pub(super) fn config_path(relative: &str) -> Result<TreePath, EditError> {
    tree_path(&format!("{CONFIG_DIRECTORY}/{relative}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalized_and_checked() {
        assert_eq!(normalize("nginx"), Ok("nginx.service".to_owned()));
        assert_eq!(normalize("ssh.socket"), Ok("ssh.socket".to_owned()));
        assert_eq!(normalize("getty@tty1"), Ok("getty@tty1.service".to_owned()));
        assert_eq!(normalize("a.b"), Ok("a.b.service".to_owned()));
        for bad in ["", "a/b", "a b", "@x", "a@b@c"] {
            assert!(normalize(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn install_sections_accumulate_reset_and_continue() {
        let install = parse_install(
            "[Unit]\nWantedBy=ignored.target\n[Install]\n# WantedBy=comment.target\n\
             WantedBy=a.target b.target\nWantedBy=\nWantedBy=c.target \\\n  d.target\n\
             Alias=x.service\nAlso=y.socket\nDefaultInstance=tty1\n[Service]\nAlias=no\n",
        );
        assert_eq!(
            install,
            Install {
                wanted_by: vec!["c.target".to_owned(), "d.target".to_owned()],
                required_by: vec![],
                alias: vec!["x.service".to_owned()],
                also: vec!["y.socket".to_owned()],
                default_instance: Some("tty1".to_owned()),
            }
        );
        assert!(parse_install("[Unit]\nDescription=x\n").is_empty());
    }

    #[test]
    fn specifiers_and_systemd_versions() {
        let name = UnitName::parse("serial-getty@ttyS0.service");
        assert_eq!(
            expand("%p-%i.%N %n %j %%", &name).as_deref(),
            Ok("serial-getty-ttyS0.serial-getty@ttyS0 serial-getty@ttyS0.service getty %")
        );
        assert!(expand("%H", &name).is_err());
        let status = "Package: systemd-sysv\nVersion: 9\n\nPackage: systemd\nStatus: install ok installed\nVersion: 252.38-1~deb12u1\n";
        assert_eq!(systemd_major(status), Some(252));
        assert_eq!(
            systemd_major("Package: systemd\nVersion: 1:257.9-1\n"),
            Some(257)
        );
        assert_eq!(systemd_major("Package: udev\nVersion: 252\n"), None);
    }
}
