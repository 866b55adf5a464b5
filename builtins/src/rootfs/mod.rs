//! `debian::rootfs(packages, #{ ... })`: a configured, de-personalized Debian root
//! filesystem from an unpacked package set.
//!
//! ```rhai
//! let root = debian::rootfs(pkgs, #{
//!     name: "web-root",
//!     overlays: [site],                                   // trees merged in, in order
//!     services: #{ enable: ["nginx"], disable: ["ssh"] },
//!     groups: [#{ name: "deploy" }],
//!     users: [#{ name: "admin", groups: ["deploy"], sudo: true, password: secret("..."),
//!                ssh_authorized_keys: ["ssh-ed25519 AAAA... admin@laptop"] }],
//!     hostname: "web", locale: "en_US.UTF-8", timezone: "Europe/Paris",
//!     apt_sources: "none",                                // or [#{ uris, suites, components }]
//!     scripts: ["echo built > /etc/built-by"],            // run in the sandbox, in order, last
//!     source_date_epoch: 1700000000,
//! });
//! ```
//!
//! Two derivations: `debian_configure` ([`configure`]) runs dpkg over the unpacked set
//! in the sandbox (the slow part, cached on its own), and `debian_rootfs` applies the
//! options to the configured tree: overlays are merged natively; users, groups,
//! services, hostname, locale, timezone and apt sources are edits of the tree
//! ([`edit`]); only `scripts` (and `locale-gen` for a non-C locale) need the sandbox
//! again. Changing an overlay or an option therefore never re-runs dpkg. Both end with
//! [`edit::depersonalize`]: SSH host keys, machine-id, logs, caches and random seeds
//! removed, every mtime clamped to `source_date_epoch`.

pub mod configure;
pub mod edit;
pub mod order;

use std::collections::BTreeMap;

use imgbuild_engine::{BuildContext, BuildError};
use imgbuild_evaluator::rhai::{Dynamic, EvalAltResult, Map, Module, NativeCallContext};
use imgbuild_evaluator::{BuiltinError, DerivationHandle, DerivationSpec, SharedState, Value};
use imgbuild_store::{Directory, Entry, EntryKind, OutputObject, OutputRecord, Tree};

use crate::sandbox::{self, Step};

/// The derivation kind of the finished root filesystem.
pub const KIND: &str = "debian_rootfs";
/// Bump when the output for the same inputs changes.
pub const VERSION: u32 = 1;

/// `debian::rootfs`'s own keys (the rest are [`edit::OPTION_KEYS`]).
const OWN_KEYS: &[&str] = &["name", "overlays", "scripts", "source_date_epoch"];

/// Time limit of the scripts step, seconds.
const SCRIPTS_TIMEOUT: u64 = 3600;

/// Adds `rootfs` to the `debian` module.
pub(crate) fn register_into(module: &mut Module, registration: &crate::Registration) {
    let state = registration.state.clone();
    module.set_native_fn(
        "rootfs",
        move |context: NativeCallContext,
              packages: Dynamic,
              options: Map|
              -> Result<DerivationHandle, Box<EvalAltResult>> {
            let handle = rootfs(&state, &context, packages, options)
                .map_err(|error| crate::core::at_call(&context, error))?;
            Ok(handle)
        },
    );
}

fn rootfs(
    state: &SharedState,
    context: &NativeCallContext,
    packages: Dynamic,
    options: Map,
) -> Result<DerivationHandle, BuiltinError> {
    let Some(packages) = packages
        .read_lock::<DerivationHandle>()
        .map(|handle| *handle)
    else {
        return Err(BuiltinError::new(format!(
            "debian::rootfs: the first argument must be a debian::packages set, not {}",
            imgbuild_evaluator::friendly_type_name(packages.type_name())
        )));
    };
    if state.derivation_kind(packages) != crate::debian::KIND {
        return Err(BuiltinError::new(format!(
            "debian::rootfs: `{}` is a {}, not a debian::packages set",
            state.derivation_name(packages),
            state.derivation_kind(packages)
        )));
    }
    let mut inputs = imgbuild_evaluator::Inputs::new();
    let value = state
        .to_value(&Dynamic::from(options), &mut inputs, "debian::rootfs")
        .map_err(BuiltinError::from_rhai)?;
    let Some(map) = value.as_map() else {
        return Err(BuiltinError::new("debian::rootfs: options must be a map"));
    };
    edit::check_options_among(map, OWN_KEYS)
        .map_err(|message| BuiltinError::new(format!("debian::rootfs: {message}")))?;
    let epoch = match map.get("source_date_epoch") {
        None => 0,
        Some(Value::Int(epoch)) if *epoch >= 0 => *epoch,
        Some(_) => {
            return Err(BuiltinError::new(
                "debian::rootfs: `source_date_epoch` must be a non-negative integer",
            ))
        }
    };
    let name = match map.get("name") {
        None => "rootfs".to_owned(),
        Some(Value::String(name)) => name.clone(),
        Some(_) => return Err(BuiltinError::new("debian::rootfs: `name` must be a string")),
    };
    crate::core::paths::check_name("debian::rootfs", &name)?;
    for key in ["overlays", "scripts"] {
        match map.get(key) {
            None => {}
            Some(Value::List(items)) => {
                for (position, item) in items.iter().enumerate() {
                    let fine = match key {
                        "overlays" => matches!(item, Value::Input(_)),
                        _ => matches!(item, Value::String(_) | Value::Secret(_)),
                    };
                    if !fine {
                        let expected = if key == "overlays" {
                            "a tree derivation"
                        } else {
                            "shell text"
                        };
                        return Err(BuiltinError::new(format!(
                            "debian::rootfs: `{key}[{position}]` must be {expected}"
                        )));
                    }
                }
            }
            Some(_) => {
                return Err(BuiltinError::new(format!(
                    "debian::rootfs: `{key}` must be a list"
                )))
            }
        }
    }
    // The configure step: one per package set and epoch, shared by every rootfs of it.
    let mut configure_inputs = imgbuild_evaluator::Inputs::new();
    let mut configure_args = BTreeMap::new();
    configure_args.insert(
        "packages".to_owned(),
        configure_inputs.reference(packages.id),
    );
    configure_args.insert("source_date_epoch".to_owned(), Value::Int(epoch));
    let configured = state.add(
        context,
        DerivationSpec::derived(
            configure::KIND,
            configure::VERSION,
            format!("{}-configured", state.derivation_name(packages)),
            configure_args,
            configure_inputs,
        ),
    );
    let mut args = map.clone();
    args.remove("name");
    args.insert("source_date_epoch".to_owned(), Value::Int(epoch));
    args.insert("root".to_owned(), inputs.reference(configured.id));
    Ok(state.add(
        context,
        DerivationSpec::derived(KIND, VERSION, name, args, inputs),
    ))
}

/// Merges `overlay` into `root`: directories that exist keep their metadata, anything
/// else the overlay has replaces what was there.
fn merge_overlay(root: &mut Tree, overlay: &Tree, name: &str) -> Result<(), BuildError> {
    for (path, entry) in overlay.walk() {
        let existing_directory = matches!(
            root.get(&path).map(|entry| &entry.kind),
            Some(EntryKind::Directory(_))
        );
        let result = match &entry.kind {
            EntryKind::Directory(_) if existing_directory => Ok(()),
            EntryKind::Directory(_) => root.insert_or_replace(
                &path,
                Entry {
                    kind: EntryKind::Directory(Directory::default()),
                    meta: entry.meta.clone(),
                },
            ),
            _ => root.insert_or_replace(&path, entry.clone()),
        };
        result
            .map_err(|error| BuildError::Failed(format!("overlay `{name}` at /{path}: {error}")))?;
    }
    Ok(())
}

fn tree_of(context: &BuildContext<'_>, index: u32) -> Result<(Tree, bool), BuildError> {
    let input = context.input(index)?;
    let OutputObject::Tree { tree } = input.record.object else {
        return Err(BuildError::Failed(format!(
            "{} is a file, not a tree",
            input.described()
        )));
    };
    Ok((context.store.load_tree(&tree)?, input.record.secret))
}

pub(crate) fn build(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    let args = context
        .derivation
        .args
        .as_map()
        .ok_or_else(|| BuildError::Malformed("debian_rootfs args".to_owned()))?
        .clone();
    let Some(Value::Input(root_index)) = args.get("root") else {
        return Err(BuildError::Malformed(
            "debian_rootfs without a root".to_owned(),
        ));
    };
    let epoch = args
        .get("source_date_epoch")
        .and_then(Value::as_int)
        .unwrap_or(0);
    let (mut tree, mut secret) = tree_of(context, *root_index)?;
    secret |= context.derivation.secret;
    for overlay in args
        .get("overlays")
        .and_then(Value::as_list)
        .unwrap_or_default()
    {
        let Value::Input(index) = overlay else {
            return Err(BuildError::Malformed("overlay".to_owned()));
        };
        let (overlay_tree, overlay_secret) = tree_of(context, *index)?;
        let name = context.input(*index)?.described();
        merge_overlay(&mut tree, &overlay_tree, &name)?;
        secret |= overlay_secret;
        context.log_line(format!("overlay {name} merged"));
    }
    let options = edit::Options::from_value(&args).map_err(BuildError::Malformed)?;
    let applied = edit::apply(context.store, &mut tree, &options, epoch)
        .map_err(|error| BuildError::Failed(error.to_string()))?;
    for change in &applied.changes {
        context.log_line(change);
    }
    secret |= applied.secret;
    let scripts: Vec<String> = args
        .get("scripts")
        .and_then(Value::as_list)
        .unwrap_or_default()
        .iter()
        .filter_map(|script| match script {
            Value::String(text) => Some(text.clone()),
            Value::Secret(sealed) => Some(sealed.text().to_owned()),
            _ => None,
        })
        .collect();
    if applied.needs_locale_gen || !scripts.is_empty() {
        let mut text = String::from("set -e\n");
        if applied.needs_locale_gen {
            text.push_str("echo 'imgbuild: locale-gen'\nlocale-gen\n");
        }
        for (position, script) in scripts.iter().enumerate() {
            text.push_str(&format!(
                "echo 'imgbuild: scripts[{position}]'\nif ! /bin/sh -e -c '{}'; then echo 'imgbuild: scripts[{position}] failed' >&2; exit 1; fi\n",
                script.replace('\'', r"'\''")
            ));
        }
        let digest = context.store.put_tree(&tree)?;
        let step = Step {
            argv: vec!["/bin/sh".to_owned(), "-c".to_owned(), text],
            env: crate::core::run::base_environment(epoch)
                .into_iter()
                .collect(),
            hostname: options
                .hostname
                .clone()
                .unwrap_or_else(|| "localhost".to_owned()),
            clamp_mtime: epoch,
            timeout_seconds: SCRIPTS_TIMEOUT,
            secret,
            progress: None,
        };
        let output = sandbox::run_step(context, &digest, &step).map_err(|error| match error {
            BuildError::Failed(message) => {
                let log = String::from_utf8_lossy(&context.log);
                let which = log
                    .lines()
                    .find_map(|line| {
                        line.strip_prefix("imgbuild: ")
                            .and_then(|rest| rest.strip_suffix(" failed"))
                    })
                    .map(|which| format!("`{which}` failed: "))
                    .unwrap_or_default();
                BuildError::Failed(format!("{which}{message}"))
            }
            other => other,
        })?;
        tree = context.store.load_tree(&output.tree)?;
    }
    for line in edit::depersonalize(&mut tree, epoch) {
        context.log_line(format!("de-personalized: {line}"));
    }
    let stored = context.store.put_tree(&tree)?;
    Ok(imgbuild_engine::tree_output(stored, secret))
}
