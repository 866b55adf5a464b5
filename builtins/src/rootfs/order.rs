//! The order in which an unpacked Debian system is configured, read from its dpkg
//! database — what dpkg and apt would have done during installation, decided before
//! the sandbox starts.
//!
//! mmdebstrap installs the essential set first (`dpkg --install --force-depends`) and
//! the rest with apt afterwards. Here every package is already unpacked, but no
//! `preinst` has run (dpkg runs `preinst install` before it unpacks), so the plan is:
//!
//! 1. `base-passwd`'s `preinst` (it creates `/etc/passwd` and `/etc/group`, which
//!    everything else needs), then the other essential packages' `preinst`s, in
//!    dependency order;
//! 2. the essential set configured (`dpkg --configure --force-depends`), which is
//!    every `Essential: yes` package and what it depends on;
//! 3. for every other package in dependency order: its `Pre-Depends` configured
//!    first (what `Pre-Depends` promises a `preinst`), then its `preinst`;
//! 4. when the image has kernels and initramfs-tools: the packages an initramfs is made
//!    from configured, and the initramfs built in the background from here on;
//! 5. everything else configured (`dpkg --configure -a`), triggers included.
//!
//! Dependency order is a topological order over `Pre-Depends` and `Depends` with
//! cycles (Debian has several: `libc6` and `libgcc-s1`) broken by name, so the same
//! database always gives the same plan. A dependency names the first alternative that
//! is installed, by name or through `Provides`.

use std::collections::{BTreeMap, BTreeSet};

use imgbuild_apt::{deb822, relations};

/// One installed (unpacked) package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its architecture (`amd64`, `all`).
    pub architecture: String,
    /// `Essential: yes`.
    pub essential: bool,
    /// Installed packages it pre-depends on.
    pub pre_depends: Vec<String>,
    /// Installed packages it depends on.
    pub depends: Vec<String>,
}

/// One step of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Run this package's `preinst install`.
    Preinst(String),
    /// Configure these packages (dependencies not enforced).
    Configure(Vec<String>),
    /// Start building the initramfs of every installed kernel in the background.
    StartInitramfs,
    /// Configure everything left, process triggers.
    ConfigureAll,
}

/// The packages of a dpkg `status` file, dependencies resolved to installed names.
pub fn installed(status: &str) -> Result<BTreeMap<String, Package>, String> {
    let mut raw = Vec::new();
    let mut provides: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for paragraph in deb822::paragraphs(status) {
        let paragraph = paragraph.map_err(|error| format!("var/lib/dpkg/status: {error}"))?;
        let Some(name) = paragraph.get("Package") else {
            continue;
        };
        let state = paragraph.get("Status").unwrap_or("");
        if state.ends_with("not-installed") || state.ends_with("config-files") {
            continue;
        }
        for field in ["Provides"] {
            for alternatives in parse(paragraph.get(field), name, field)? {
                for relation in alternatives {
                    provides
                        .entry(relation.name)
                        .or_default()
                        .push(name.to_owned());
                }
            }
        }
        raw.push((
            name.to_owned(),
            paragraph.get("Version").unwrap_or("").to_owned(),
            paragraph.get("Architecture").unwrap_or("").to_owned(),
            paragraph.get("Essential") == Some("yes"),
            parse(paragraph.get("Pre-Depends"), name, "Pre-Depends")?,
            parse(paragraph.get("Depends"), name, "Depends")?,
        ));
    }
    let names: BTreeSet<String> = raw.iter().map(|(name, ..)| name.clone()).collect();
    let resolve = |field: Vec<relations::Alternatives>, own: &str| -> Vec<String> {
        let mut found = Vec::new();
        for alternatives in field {
            let target = alternatives.iter().find_map(|relation| {
                if names.contains(&relation.name) {
                    Some(relation.name.clone())
                } else {
                    provides
                        .get(&relation.name)
                        .and_then(|providers| providers.first().cloned())
                }
            });
            if let Some(target) = target.filter(|target| target != own) {
                if !found.contains(&target) {
                    found.push(target);
                }
            }
        }
        found
    };
    Ok(raw
        .into_iter()
        .map(
            |(name, version, architecture, essential, pre_depends, depends)| {
                let package = Package {
                    version,
                    architecture,
                    pre_depends: resolve(pre_depends, &name),
                    depends: resolve(depends, &name),
                    name: name.clone(),
                    essential,
                };
                (name, package)
            },
        )
        .collect())
}

fn parse(
    field: Option<&str>,
    package: &str,
    name: &str,
) -> Result<Vec<relations::Alternatives>, String> {
    match field {
        None => Ok(Vec::new()),
        Some(text) => relations::parse(text)
            .map_err(|error| format!("var/lib/dpkg/status: {package}'s {name}: {error}")),
    }
}

/// Every package in dependency order (dependencies first), cycles broken by name.
pub fn dependency_order(packages: &BTreeMap<String, Package>) -> Vec<String> {
    let mut order = Vec::new();
    let mut state: BTreeMap<&str, bool> = BTreeMap::new(); // false: on the path, true: done
    fn visit<'a>(
        name: &'a str,
        packages: &'a BTreeMap<String, Package>,
        state: &mut BTreeMap<&'a str, bool>,
        order: &mut Vec<String>,
    ) {
        if state.contains_key(name) {
            return;
        }
        state.insert(name, false);
        if let Some(package) = packages.get(name) {
            let mut dependencies: Vec<&str> = package
                .pre_depends
                .iter()
                .chain(&package.depends)
                .map(String::as_str)
                .collect();
            dependencies.sort_unstable();
            dependencies.dedup();
            for dependency in dependencies {
                visit(dependency, packages, state, order);
            }
        }
        state.insert(name, true);
        order.push(name.to_owned());
    }
    for name in packages.keys() {
        visit(name, packages, &mut state, &mut order);
    }
    order
}

/// `roots` and everything they depend on, in `order`.
fn closure(
    packages: &BTreeMap<String, Package>,
    roots: impl IntoIterator<Item = String>,
    order: &[String],
) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut stack: Vec<String> = roots.into_iter().collect();
    while let Some(name) = stack.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(package) = packages.get(&name) {
            stack.extend(package.pre_depends.iter().chain(&package.depends).cloned());
        }
    }
    order
        .iter()
        .filter(|name| seen.contains(*name))
        .cloned()
        .collect()
}

/// The plan (see the module documentation). `has_preinst` says which packages have a
/// `preinst` script. When `initramfs` names packages (the kernels, initramfs-tools and
/// every package with files where an initramfs is made from), they and what they
/// depend on are configured before the rest, and the initramfs is built in the
/// background while the rest is configured.
pub fn plan(
    packages: &BTreeMap<String, Package>,
    has_preinst: impl Fn(&str) -> bool,
    initramfs: &[String],
) -> Vec<Action> {
    let order = dependency_order(packages);
    let essential = closure(
        packages,
        packages
            .values()
            .filter(|package| package.essential)
            .map(|package| package.name.clone()),
        &order,
    );
    let mut actions = Vec::new();
    let mut first: Vec<&String> = essential
        .iter()
        .filter(|name| *name == "base-passwd")
        .collect();
    first.extend(essential.iter().filter(|name| *name != "base-passwd"));
    for name in first {
        if has_preinst(name) {
            actions.push(Action::Preinst(name.clone()));
        }
    }
    if !essential.is_empty() {
        actions.push(Action::Configure(essential.clone()));
    }
    let mut configured: BTreeSet<String> = essential.iter().cloned().collect();
    for name in &order {
        if configured.contains(name) || !has_preinst(name) {
            continue;
        }
        let pre_depends = packages
            .get(name)
            .map(|package| package.pre_depends.clone())
            .unwrap_or_default();
        let needed: Vec<String> = closure(packages, pre_depends, &order)
            .into_iter()
            .filter(|dependency| !configured.contains(dependency))
            .collect();
        if !needed.is_empty() {
            configured.extend(needed.iter().cloned());
            actions.push(Action::Configure(needed));
        }
        actions.push(Action::Preinst(name.clone()));
    }
    if !initramfs.is_empty() {
        let needed: Vec<String> = closure(packages, initramfs.iter().cloned(), &order)
            .into_iter()
            .filter(|dependency| !configured.contains(dependency))
            .collect();
        if !needed.is_empty() {
            actions.push(Action::Configure(needed));
        }
        actions.push(Action::StartInitramfs);
    }
    actions.push(Action::ConfigureAll);
    actions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(entries: &[(&str, &str)]) -> String {
        entries
            .iter()
            .map(|(name, extra)| {
                format!("Package: {name}\nStatus: install ok unpacked\nVersion: 1\n{extra}\n")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn base_passwd_first_essential_configured_then_pre_depends_before_preinst() {
        let text = status(&[
            ("bash", "Essential: yes\nPre-Depends: libc6, libtinfo6\n"),
            ("base-passwd", "Essential: yes\nDepends: libc6\n"),
            ("libc6", "Depends: libgcc-s1\n"),
            ("libgcc-s1", "Depends: libc6\n"),
            ("libtinfo6", "Depends: libc6\n"),
            ("adduser", "Depends: passwd | shadow-tools\n"),
            ("passwd", "Depends: libc6\n"),
            (
                "nginx",
                "Pre-Depends: adduser\nDepends: www-server-helper\n",
            ),
            ("helper", "Provides: www-server-helper\n"),
        ]);
        let packages = installed(&text).expect("status");
        assert_eq!(packages["nginx"].depends, vec!["helper"]);
        assert_eq!(packages["adduser"].depends, vec!["passwd"]);
        let plan = plan(
            &packages,
            |name| ["bash", "base-passwd", "nginx", "libc6"].contains(&name),
            &[],
        );
        assert_eq!(
            plan,
            vec![
                Action::Preinst("base-passwd".into()),
                Action::Preinst("libc6".into()),
                Action::Preinst("bash".into()),
                // libc6 and libgcc-s1 depend on each other: the cycle is broken where the
                // walk (by name) meets it, the same way every time.
                Action::Configure(vec![
                    "libgcc-s1".into(),
                    "libc6".into(),
                    "base-passwd".into(),
                    "libtinfo6".into(),
                    "bash".into()
                ]),
                Action::Configure(vec!["passwd".into(), "adduser".into()]),
                Action::Preinst("nginx".into()),
                Action::ConfigureAll,
            ]
        );
    }

    #[test]
    fn the_initramfs_packages_are_configured_before_the_background_build() {
        let text = status(&[
            ("libc6", ""),
            ("kmod", "Depends: libc6\n"),
            ("initramfs-tools", "Depends: kmod\n"),
            ("linux-image-6", "Depends: kmod\n"),
            ("nginx", "Depends: libc6\n"),
        ]);
        let packages = installed(&text).expect("status");
        let plan = plan(
            &packages,
            |_| false,
            &["initramfs-tools".to_owned(), "linux-image-6".to_owned()],
        );
        assert_eq!(
            plan,
            vec![
                Action::Configure(vec![
                    "libc6".into(),
                    "kmod".into(),
                    "initramfs-tools".into(),
                    "linux-image-6".into()
                ]),
                Action::StartInitramfs,
                Action::ConfigureAll,
            ]
        );
    }

    #[test]
    fn the_order_is_the_same_whatever_the_status_file_order() {
        let a = status(&[("a", "Depends: b\n"), ("b", "Depends: a\n"), ("c", "")]);
        let b = status(&[("c", ""), ("b", "Depends: a\n"), ("a", "Depends: b\n")]);
        let first = dependency_order(&installed(&a).expect("a"));
        assert_eq!(first, dependency_order(&installed(&b).expect("b")));
        assert_eq!(first, vec!["b", "a", "c"]);
    }
}
