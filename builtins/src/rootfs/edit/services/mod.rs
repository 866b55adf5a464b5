//! Services: `#{ enable: [...], disable: [...] }`, done as `systemctl enable` and
//! `systemctl disable` would, by creating and removing symlinks under
//! `/etc/systemd/system`.
//!
//! Names are systemd unit names; `nginx` means `nginx.service`. A unit must be in the
//! image (the error names the nearest one that is). Disabling runs first, so
//! `disable: ["getty@"]` with `enable: ["getty@ttyS0"]` leaves exactly one getty.
//!
//! Enabling reads the unit's `[Install]` section (see `units`) and creates, like
//! systemctl:
//!
//! - for each `WantedBy=T`: `etc/systemd/system/T.wants/UNIT` → the unit file,
//! - for each `RequiredBy=T`: `etc/systemd/system/T.requires/UNIT` → the unit file,
//! - for each `Alias=A`: `etc/systemd/system/A` → the unit file,
//! - and enables each `Also=` unit.
//!
//! "The unit file" is the absolute path where systemctl finds it first
//! (`/lib/systemd/system/nginx.service` on bookworm, see `units`). For a template, the
//! link is named after the instance (`getty@tty1.service`, from the name or from
//! `DefaultInstance=`) and points to the template file (`getty@.service`). A unit without
//! [Install] lines cannot be enabled; a masked one neither. Links are 0777 root:root with
//! the edit's mtime; a link already there with another target is replaced, a file or
//! directory in the way is an error.
//!
//! Disabling removes every symlink under `etc/systemd/system` (at any depth) that is
//! named after the unit or one of its aliases (for a template without instance: any
//! instance) and points to the unit's file (by name); `/dev/null` masks and regular files
//! are left alone. `Also=` units are disabled too.

#[cfg(test)]
mod tests;
mod units;

use std::collections::BTreeSet;

use imgbuild_evaluator::Value;
use imgbuild_store::{Directory, EntryKind, TreePath};

use super::files::{kind_name, remove, resolve, resolve_parent, tree_path, write_symlink};
use super::options::{unique, Fields};
use super::{Edit, EditError};
use units::{config_path, expand, find, lookup_path, missing, parse_install, Lookup, UnitName};

/// Units to enable and disable, as full unit names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceChanges {
    /// Units to enable (`nginx.service`).
    pub enable: Vec<String>,
    /// Units to disable.
    pub disable: Vec<String>,
}

/// Parses the `services` option.
pub(crate) fn parse(value: &Value) -> Result<ServiceChanges, String> {
    let fields = Fields::new("services".to_owned(), value, &["disable", "enable"])?;
    let names = |key: &str| {
        fields
            .strings(key)?
            .into_iter()
            .map(|name| units::normalize(name).map_err(|reason| fields.error(key, &reason)))
            .collect::<Result<Vec<_>, String>>()
    };
    let changes = ServiceChanges {
        enable: names("enable")?,
        disable: names("disable")?,
    };
    unique("service", changes.enable.iter().map(String::as_str))?;
    unique("service", changes.disable.iter().map(String::as_str))?;
    if let Some(both) = changes
        .enable
        .iter()
        .find(|name| changes.disable.contains(name))
    {
        return Err(format!("service `{both}` is both enabled and disabled"));
    }
    Ok(changes)
}

/// Disables, then enables.
pub(crate) fn apply(edit: &mut Edit<'_>, changes: &ServiceChanges) -> Result<(), EditError> {
    if changes.enable.is_empty() && changes.disable.is_empty() {
        return Ok(());
    }
    let directories = lookup_path(edit)?;
    let mut visited = BTreeSet::new();
    for name in &changes.disable {
        disable(edit, &directories, name, &mut visited)?;
    }
    let mut visited = BTreeSet::new();
    for name in &changes.enable {
        enable(edit, &directories, name, &mut visited)?;
    }
    Ok(())
}

/// The unit file behind `name`, following aliases.
fn locate(
    edit: &Edit<'_>,
    directories: &[&str],
    name: &str,
) -> Result<(UnitName, units::Found), EditError> {
    let mut name = UnitName::parse(name);
    for _ in 0..8 {
        match find(edit, directories, &name)? {
            Lookup::Found(found) => return Ok((name, found)),
            Lookup::Alias(target) => {
                // An alias of a template names the template; keep the instance.
                let target = UnitName::parse(&target);
                name = match (&name.instance, &target.instance) {
                    (Some(instance), Some(_)) => UnitName::parse(&target.with_instance(instance)),
                    _ => target,
                };
            }
            Lookup::Masked(path) => {
                return Err(EditError::UnitMasked {
                    unit: name.full,
                    path,
                })
            }
            Lookup::Missing => break,
        }
    }
    Err(missing(edit, directories, &name.full)?)
}

fn enable(
    edit: &mut Edit<'_>,
    directories: &[&str],
    name: &str,
    visited: &mut BTreeSet<String>,
) -> Result<(), EditError> {
    if !visited.insert(name.to_owned()) {
        return Ok(());
    }
    let (unit, found) = locate(edit, directories, name)?;
    let install = parse_install(&found.content);
    if install.is_empty() {
        return Err(EditError::NoInstallSection {
            unit: unit.full,
            path: found.target,
        });
    }
    let bad = |reason: String| EditError::BadInstall {
        unit: unit.full.clone(),
        path: found.target.clone(),
        reason,
    };
    // The name links get: the instance, the default instance, or the unit itself.
    let instance_name = match (&unit.instance, &install.default_instance) {
        (Some(instance), _) if !instance.is_empty() => Some(unit.full.clone()),
        (Some(_), Some(default)) => Some(unit.with_instance(default)),
        (Some(_), None) => None,
        (None, _) => Some(unit.full.clone()),
    };
    let instance = instance_name
        .as_deref()
        .map(UnitName::parse)
        .unwrap_or_else(|| unit.clone());
    // A name in [Install] must be a plain unit name: it becomes a path component.
    let unit_name = |value: &str| -> Result<String, EditError> {
        let expanded = expand(value, &instance).map_err(bad)?;
        match units::normalize(&expanded) {
            Ok(full) if full == expanded => Ok(expanded),
            _ => Err(bad(format!("`{expanded}` is not a unit name"))),
        }
    };
    let mut links = Vec::new();
    for (targets, kind) in [
        (&install.wanted_by, "wants"),
        (&install.required_by, "requires"),
    ] {
        for target in targets {
            let Some(link_name) = &instance_name else {
                return Err(EditError::TemplateWithoutInstance {
                    unit: unit.full.clone(),
                    prefix: unit.prefix.clone(),
                });
            };
            links.push(format!("{}.{kind}/{link_name}", unit_name(target)?));
        }
    }
    for alias in &install.alias {
        let alias = UnitName::parse(&unit_name(alias)?);
        links.push(match (&alias.instance, &instance.instance) {
            (Some(_), Some(instance)) if !instance.is_empty() => alias.with_instance(instance),
            _ => alias.full,
        });
    }
    for link in &links {
        let path = config_path(link)?;
        let resolved = resolve_parent(edit.tree, &path)?;
        match edit.tree.get(&resolved).map(|entry| &entry.kind) {
            None | Some(EntryKind::Symlink { .. }) => {}
            Some(kind) => {
                return Err(EditError::LinkInTheWay {
                    unit: unit.full.clone(),
                    path: path.to_string(),
                    found: kind_name(kind),
                })
            }
        }
        if write_symlink(edit, &path, &found.target)? {
            edit.log(format!(
                "enabled `{}`: /{path} → {}",
                unit.full, found.target
            ));
        }
    }
    for also in &install.also {
        let also = unit_name(also)?;
        enable(edit, directories, &also, visited)?;
    }
    Ok(())
}

fn disable(
    edit: &mut Edit<'_>,
    directories: &[&str],
    name: &str,
    visited: &mut BTreeSet<String>,
) -> Result<(), EditError> {
    if !visited.insert(name.to_owned()) {
        return Ok(());
    }
    let (unit, found) = locate(edit, directories, name)?;
    let install = parse_install(&found.content);
    let is_template = unit.instance.as_deref() == Some("");
    let mut names: BTreeSet<String> = BTreeSet::from([unit.full.clone()]);
    let mut prefixes = vec![(unit.prefix.clone(), unit.suffix.clone())];
    for alias in &install.alias {
        let Ok(alias) = expand(alias, &unit).map(|alias| UnitName::parse(&alias)) else {
            continue;
        };
        match (&alias.instance, &unit.instance) {
            (Some(_), Some(instance)) if !instance.is_empty() => {
                names.insert(alias.with_instance(instance));
            }
            _ => {
                prefixes.push((alias.prefix.clone(), alias.suffix.clone()));
                names.insert(alias.full);
            }
        }
    }
    let targets = [found.file_name.as_str(), unit.full.as_str()];
    let matches = |link_name: &str, target: &[u8]| {
        let target = String::from_utf8_lossy(target);
        let base = target.rsplit('/').next().unwrap_or_default();
        let named = names.contains(link_name)
            || is_template
                && prefixes.iter().any(|(prefix, suffix)| {
                    link_name.starts_with(&format!("{prefix}@"))
                        && link_name.ends_with(&format!(".{suffix}"))
                });
        target != "/dev/null" && named && targets.contains(&base)
    };
    let config = resolve(edit.tree, &tree_path(units::CONFIG_DIRECTORY)?)?;
    let mut doomed = Vec::new();
    if let Some(directory) = edit.tree.directory(&config) {
        collect_links(directory, &config, &matches, &mut doomed);
    }
    for path in doomed {
        remove(edit.tree, &path)?;
        edit.log(format!("disabled `{}`: removed /{path}", unit.full));
    }
    for also in &install.also {
        if let Ok(also) = expand(also, &unit).and_then(|also| units::normalize(&also)) {
            disable(edit, directories, &also, visited)?;
        }
    }
    Ok(())
}

/// The symlinks below `directory` (at `path`) that `matches` accepts.
fn collect_links(
    directory: &Directory,
    path: &TreePath,
    matches: &dyn Fn(&str, &[u8]) -> bool,
    found: &mut Vec<TreePath>,
) {
    for (name, entry) in &directory.entries {
        match &entry.kind {
            EntryKind::Directory(inner) => collect_links(inner, &path.join(name), matches, found),
            EntryKind::Symlink { target } if matches(&name.to_string(), target) => {
                found.push(path.join(name));
            }
            _ => {}
        }
    }
}
