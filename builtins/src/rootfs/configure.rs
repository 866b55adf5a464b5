//! The configure step (`debian_configure`): an unpacked package set configured by dpkg
//! inside the sandbox, then de-personalized.
//!
//! The shell script run in the sandbox follows [`super::order::plan`] and mmdebstrap's
//! precautions: `/usr/sbin/policy-rc.d` answers 101 (no service starts) and
//! `start-stop-daemon` is moved aside for a stub while configuring; dpkg runs with
//! `force-unsafe-io` (nothing here needs fsync: the tree is read back, not kept).
//! After `dpkg --configure -a`, every trigger interest in the database is activated
//! once and processed (`dpkg --triggers-only -a`): an unpack by dpkg would have
//! activated them, ours did not. `update-initramfs` is a stub while dpkg runs (the
//! kernel's postinst hook and initramfs-tools' trigger would each build the initramfs,
//! five seconds apiece here); the real one runs once per kernel, in the background as
//! soon as the packages an initramfs is made from are configured ([`INITRAMFS_SOURCES`]
//! by the dpkg file lists, the kernels, initramfs-tools and their dependencies), while
//! dpkg configures the rest. Then the stubs go, and
//! `dpkg --audit` must have nothing to say. A failing maintainer script is named with
//! its package in the error.

use std::fmt::Write as _;

use imgbuild_engine::{BuildContext, BuildError};
use imgbuild_evaluator::Value;
use imgbuild_store::{EntryKind, OutputRecord, Store, Tree, TreePath};

use super::order::{self, Action};
use crate::sandbox::{self, Step};

/// The derivation kind.
pub const KIND: &str = "debian_configure";
/// Bump when the configured tree for the same input changes.
pub const VERSION: u32 = 1;

/// Time limit of the configure step, seconds.
const TIMEOUT: u64 = 3600;

/// The content of the regular file at `path` in `tree`, if there is one.
pub(crate) fn read_file(
    store: &Store,
    tree: &Tree,
    path: &str,
) -> Result<Option<Vec<u8>>, BuildError> {
    let Ok(path) = TreePath::parse(path) else {
        return Ok(None);
    };
    match tree.get(&path).map(|entry| &entry.kind) {
        Some(EntryKind::File { blob, .. }) => Ok(Some(store.read_blob(blob)?)),
        _ => Ok(None),
    }
}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The script for `plan`; `preinst` gives each package's script path in the tree.
fn script(
    plan: &[Action],
    packages: &std::collections::BTreeMap<String, order::Package>,
    preinst: impl Fn(&str) -> Option<String>,
) -> String {
    let dpkg_version = packages
        .get("dpkg")
        .map(|package| package.version.clone())
        .unwrap_or_default();
    let mut text = String::from(
        "set -e\n\
         cd /\n\
         say() { echo \"imgbuild: $*\"; }\n\
         t0=$(date +%s%N); lap() { t1=$(date +%s%N); echo \"imgbuild: ($(( (t1 - t0) / 1000000 )) ms)\"; t0=$t1; }\n\
         printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d\n\
         chmod 755 /usr/sbin/policy-rc.d\n\
         ssd=/usr/sbin/start-stop-daemon\n\
         if [ -e \"$ssd\" ]; then mv \"$ssd\" \"$ssd.REAL\"; \
         printf '#!/bin/sh\\necho \"Warning: Fake start-stop-daemon called, doing nothing\" >&2\\n' > \"$ssd\"; \
         chmod 755 \"$ssd\"; fi\n\
         uif=/usr/sbin/update-initramfs\n\
         if [ -e \"$uif\" ]; then mv \"$uif\" \"$uif.REAL\"; printf '#!/bin/sh\\nexit 0\\n' > \"$uif\"; chmod 755 \"$uif\"; fi\n\
         mkdir -p /etc/dpkg/dpkg.cfg.d\n\
         echo force-unsafe-io > /etc/dpkg/dpkg.cfg.d/imgbuild-unsafe-io\n\
         preinst() {\n\
         \x20 say \"preinst install of $1\"\n\
         \x20 if ! env DPKG_MAINTSCRIPT_PACKAGE=\"$1\" DPKG_MAINTSCRIPT_ARCH=\"$2\" \
         DPKG_MAINTSCRIPT_NAME=preinst DPKG_MAINTSCRIPT_PACKAGE_REFCOUNT=1 \
         DEBCONF_PACKAGE=\"$1\" PERL_DL_NONLAZY=1 \
         DPKG_ADMINDIR=/var/lib/dpkg DPKG_ROOT= DPKG_RUNNING_VERSION=\"$4\" \"$3\" install; then\n\
         \x20   echo \"imgbuild: the preinst script of package $1 failed\" >&2; exit 1\n\
         \x20 fi\n\
         }\n",
    );
    for action in plan {
        match action {
            Action::Preinst(name) => {
                if let (Some(path), Some(package)) = (preinst(name), packages.get(name)) {
                    let _ = writeln!(
                        text,
                        "preinst {} {} {} {}",
                        quote(name),
                        quote(&package.architecture),
                        quote(&path),
                        quote(&dpkg_version)
                    );
                }
            }
            Action::Configure(names) => {
                let _ = writeln!(
                    text,
                    "say configuring {} packages\ndpkg --configure --force-depends {}\nlap",
                    names.len(),
                    names
                        .iter()
                        .map(|name| quote(name))
                        .collect::<Vec<_>>()
                        .join(" ")
                );
            }
            Action::StartInitramfs => {
                text.push_str(
                    "if [ -e \"$uif.REAL\" ]; then say 'building the initramfs in the background'; \
                     ( for k in /boot/vmlinuz-*; do [ -e \"$k\" ] || continue; \"$uif.REAL\" -c -k \"${k#/boot/vmlinuz-}\" || exit 1; done ) \
                     > /run/imgbuild-initramfs.log 2>&1 & initramfs=$!; fi\n",
                );
            }
            Action::ConfigureAll => {
                text.push_str("say configuring the rest\ndpkg --configure -a\nlap\n");
            }
        }
    }
    text.push_str(
        "say activating every trigger interest once\n\
         if [ -f /var/lib/dpkg/triggers/File ]; then \
         cut -d' ' -f1 /var/lib/dpkg/triggers/File | sort -u | while read -r p; do dpkg-trigger --no-await \"$p\"; done; fi\n\
         for t in /var/lib/dpkg/triggers/*; do n=${t##*/}; case $n in File|Unincorp|Lock) ;; *) dpkg-trigger --no-await \"$n\";; esac; done\n\
         dpkg --triggers-only -a\n\
         lap\n\
         if [ -n \"${initramfs:-}\" ]; then if wait \"$initramfs\"; then cat /run/imgbuild-initramfs.log; \
         else cat /run/imgbuild-initramfs.log; echo 'imgbuild: update-initramfs failed' >&2; exit 1; fi; lap; \
         elif [ -e \"$uif.REAL\" ]; then for k in /boot/vmlinuz-*; do [ -e \"$k\" ] || continue; \
         say \"initramfs for ${k#/boot/vmlinuz-}\"; \"$uif.REAL\" -c -k \"${k#/boot/vmlinuz-}\"; done; lap; fi\n\
         if [ -e \"$uif.REAL\" ]; then mv \"$uif.REAL\" \"$uif\"; fi\n\
         rm -f /usr/sbin/policy-rc.d /etc/dpkg/dpkg.cfg.d/imgbuild-unsafe-io\n\
         [ -e /etc/fstab ] || echo '# UNCONFIGURED FSTAB FOR BASE SYSTEM' > /etc/fstab\n\
         if [ -e \"$ssd.REAL\" ]; then mv \"$ssd.REAL\" \"$ssd\"; fi\n\
         audit=$(dpkg --audit 2>&1 || true)\n\
         if [ -n \"$audit\" ]; then echo \"$audit\" >&2; echo 'imgbuild: dpkg --audit found problems' >&2; exit 1; fi\n\
         say configured\n",
    );
    text
}

/// Where an initramfs is made from, inside the image (relative to its root): hooks,
/// scripts and configuration of initramfs-tools, modules, firmware, modprobe and udev
/// configuration.
const INITRAMFS_SOURCES: &[&str] = &[
    "usr/share/initramfs-tools/",
    "etc/initramfs-tools/",
    "lib/modules/",
    "lib/firmware/",
    "lib/modprobe.d/",
    "etc/modprobe.d/",
    "lib/udev/",
    "etc/udev/",
];

/// The packages to configure before the initramfs is built (none when the image has
/// no kernel or no initramfs-tools): the kernels, initramfs-tools and every package
/// with files where an initramfs is made from (by the dpkg file lists).
fn initramfs_packages(
    store: &Store,
    tree: &Tree,
    packages: &std::collections::BTreeMap<String, order::Package>,
) -> Result<Vec<String>, BuildError> {
    let has = |path: &str| TreePath::parse(path).is_ok_and(|path| tree.get(&path).is_some());
    let kernels = packages.keys().any(|name| name.starts_with("linux-image-"));
    if !kernels || !has("usr/sbin/update-initramfs") {
        return Ok(Vec::new());
    }
    let mut found = Vec::new();
    for (name, package) in packages {
        let list = match read_file(store, tree, &format!("var/lib/dpkg/info/{name}.list"))? {
            Some(list) => Some(list),
            None => read_file(
                store,
                tree,
                &format!("var/lib/dpkg/info/{name}:{}.list", package.architecture),
            )?,
        };
        let text = list
            .map(|list| String::from_utf8_lossy(&list).into_owned())
            .unwrap_or_default();
        // dpkg lists a package's own paths (`/lib/...` or `/usr/lib/...`); with merged
        // /usr both are the same place.
        let source = text.lines().any(|line| {
            let line = line.trim_start_matches('/');
            let line = line.strip_prefix("usr/").unwrap_or(line);
            INITRAMFS_SOURCES.iter().any(|prefix| {
                let prefix = prefix.strip_prefix("usr/").unwrap_or(prefix);
                line.starts_with(prefix)
            })
        });
        if source || name.starts_with("linux-image-") || name.starts_with("initramfs-tools") {
            found.push(name.clone());
        }
    }
    Ok(found)
}

/// The package a dpkg or preinst failure in `log` names, and which script.
fn failed_script(log: &str) -> Option<String> {
    for line in log.lines() {
        if let Some(rest) = line.strip_prefix("imgbuild: the preinst script of package ") {
            let package = rest.trim_end_matches(" failed");
            return Some(format!("the preinst script of package `{package}` failed"));
        }
        if let Some(rest) = line.strip_prefix("dpkg: error processing package ") {
            let package = rest.split_whitespace().next().unwrap_or(rest);
            let script = if log.contains(&format!("{package} package post-installation script")) {
                "postinst"
            } else {
                "configuration"
            };
            return Some(format!("the {script} script of package `{package}` failed"));
        }
    }
    None
}

pub(crate) fn build(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    let Some(Value::Input(index)) = context.derivation.args.get("packages") else {
        return Err(BuildError::Malformed(
            "debian_configure without packages".to_owned(),
        ));
    };
    let index = *index;
    let epoch = context
        .derivation
        .args
        .get("source_date_epoch")
        .and_then(Value::as_int)
        .unwrap_or(0);
    let digest = sandbox::input_tree(context, index)?;
    let tree = context.store.load_tree(&digest)?;
    let status = read_file(context.store, &tree, "var/lib/dpkg/status")?.ok_or_else(|| {
        BuildError::Failed(format!(
            "{} has no dpkg database (var/lib/dpkg/status): give debian::rootfs a debian::packages set",
            context.input(index).map(|input| input.described()).unwrap_or_default()
        ))
    })?;
    let packages =
        order::installed(&String::from_utf8_lossy(&status)).map_err(BuildError::Failed)?;
    let preinst_path = |name: &str| -> Option<String> {
        let package = packages.get(name)?;
        [
            format!("var/lib/dpkg/info/{name}.preinst"),
            format!("var/lib/dpkg/info/{name}:{}.preinst", package.architecture),
        ]
        .into_iter()
        .find(|path| {
            TreePath::parse(path).is_ok_and(|path| {
                matches!(
                    tree.get(&path).map(|entry| &entry.kind),
                    Some(EntryKind::File { .. })
                )
            })
        })
        .map(|path| format!("/{path}"))
    };
    let initramfs = initramfs_packages(context.store, &tree, &packages)?;
    let plan = order::plan(&packages, |name| preinst_path(name).is_some(), &initramfs);
    let text = script(&plan, &packages, preinst_path);
    context.log_line(format!(
        "configuring {} packages ({} steps)",
        packages.len(),
        plan.len()
    ));
    let mut env = crate::core::run::base_environment(epoch);
    env.insert("DEBCONF_NONINTERACTIVE_SEEN".to_owned(), "true".to_owned());
    env.insert("DEBIAN_PRIORITY".to_owned(), "critical".to_owned());
    let step = Step {
        argv: vec!["/bin/sh".to_owned(), "-c".to_owned(), text],
        env: env.into_iter().collect(),
        hostname: "localhost".to_owned(),
        clamp_mtime: epoch,
        timeout_seconds: TIMEOUT,
        secret: context.derivation.secret,
        progress: Some(sandbox::Progress {
            prefix: "Setting up ".to_owned(),
            total: packages.len() as u64,
            unit: "packages",
        }),
    };
    let output = match sandbox::run_step(context, &digest, &step) {
        Ok(output) => output,
        Err(BuildError::Failed(message)) => {
            let log = String::from_utf8_lossy(&context.log).into_owned();
            return Err(BuildError::Failed(match failed_script(&log) {
                Some(script) => format!("configuring the packages failed: {script} ({message})"),
                None => format!("configuring the packages failed: {message}"),
            }));
        }
        Err(error) => return Err(error),
    };
    let mut configured = context.store.load_tree(&output.tree)?;
    let removed = super::edit::depersonalize(&mut configured, epoch);
    for line in &removed {
        context.log_line(format!("de-personalized: {line}"));
    }
    let stored = context.store.put_tree(&configured)?;
    Ok(imgbuild_engine::tree_output(
        stored,
        context.derivation.secret,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_name_the_package_and_script() {
        assert_eq!(
            failed_script("x\ndpkg: error processing package nginx (--configure):\n installed nginx package post-installation script subprocess returned error exit status 1\n").as_deref(),
            Some("the postinst script of package `nginx` failed")
        );
        assert_eq!(
            failed_script("imgbuild: the preinst script of package base-passwd failed\n")
                .as_deref(),
            Some("the preinst script of package `base-passwd` failed")
        );
        assert_eq!(failed_script("all fine"), None);
    }
}
