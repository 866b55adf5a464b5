//! `first_boot::agent(#{ root, scripts, ... })`: installs imgbuild's first-boot agent
//! (the `imgbuild-first-boot` program, `first-boot/` in the repository) and its systemd
//! units into a root tree, with the recipe's first-boot and every-boot scripts.
//!
//! ```rhai
//! let image_root = first_boot::agent(#{
//!     root: rootfs,
//!     scripts: [
//!         #{ name: "page", when: "first-boot", script: "hostname > /var/www/html/index.html" },
//!         #{ name: "motd", when: "every-boot", script: "date > /run/booted" },
//!         #{ name: "tools", when: "build", script: "echo built > /etc/built" },  // run() now
//!     ],
//!     timeout: 300,             // seconds a first-boot or every-boot script may run
//! });
//! ```
//!
//! The agent's bytes come from this program: `builtins/build.rs` builds it (release,
//! stripped, paths remapped) and they are embedded here ([`AGENT`]). Their BLAKE3 is
//! part of the derivation's arguments, so another agent is another identity, and a
//! builder carrying a different agent than the one evaluated refuses to build.
//!
//! Installed: `/usr/lib/imgbuild/imgbuild-first-boot` (0755), the units
//! `imgbuild-first-boot.service` (configuration, before the network and logins) and
//! `imgbuild-first-boot-scripts.service` (scripts, after the network, not blocking
//! logins), enabled by their `[Install]` sections, and the scripts under
//! `/etc/imgbuild/first-boot.d/` and `/etc/imgbuild/every-boot.d/` (0700, numbered in
//! recipe order). `when: "build"` scripts become `run()` steps on the root before the
//! agent is installed.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use imgbuild_engine::{BuildContext, BuildError};
use imgbuild_evaluator::rhai::{
    Array, Dynamic, Engine, EvalAltResult, Map, Module, NativeCallContext,
};
use imgbuild_evaluator::{
    ArgMap, BuiltinError, DerivationHandle, DerivationSpec, SharedState, Value,
};
use imgbuild_store::{OutputObject, OutputRecord};

use crate::rootfs::edit::{self, InstallFile};

/// The derivation kind.
pub const KIND: &str = "first_boot_agent";
pub(crate) const VERSION: u32 = 1;

/// The agent program, built by `builtins/build.rs`.
pub const AGENT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/imgbuild-first-boot"));

/// Where the agent goes in the image.
pub const AGENT_PATH: &str = "usr/lib/imgbuild/imgbuild-first-boot";

const KEYS: &[&str] = &["root", "scripts", "timeout", "name", "source_date_epoch"];
const SCRIPT_KEYS: &[&str] = &["name", "when", "script"];
const WHEN: &[&str] = &["build", "first-boot", "every-boot"];

/// The configuration unit: before the network is configured and before logins.
const CONFIGURE_UNIT: &str = "[Unit]
Description=imgbuild first boot: apply the contextualization medium
Documentation=file:/usr/lib/imgbuild/README
DefaultDependencies=no
After=local-fs.target systemd-remount-fs.service systemd-udev-trigger.service systemd-sysusers.service systemd-tmpfiles-setup.service
Before=network-pre.target systemd-networkd.service networking.service systemd-user-sessions.service ssh.service getty.target serial-getty@ttyS0.service sysinit.target
Wants=network-pre.target
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/lib/imgbuild/imgbuild-first-boot configure
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=120

[Install]
WantedBy=sysinit.target
";

/// The scripts unit: after the network, never blocking logins.
const SCRIPTS_UNIT: &str = "[Unit]
Description=imgbuild first boot: run the first-boot and every-boot scripts
Documentation=file:/usr/lib/imgbuild/README
After=imgbuild-first-boot.service network-online.target nss-lookup.target
Wants=network-online.target
Requires=imgbuild-first-boot.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/lib/imgbuild/imgbuild-first-boot scripts --timeout {timeout}
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=infinity

[Install]
WantedBy=multi-user.target
";

const README: &str = "The imgbuild first-boot agent.

At each boot imgbuild-first-boot.service finds a contextualization medium by its label
(NoCloud cidata/CIDATA, OpenStack config-2, OpenNebula CONTEXT), reads it without
mounting it, and applies it once per instance id: hostname, network, users, SSH keys,
files, SSH host keys and machine id when missing. imgbuild-first-boot-scripts.service
then runs the medium's scripts and /etc/imgbuild/first-boot.d/* once per instance and
/etc/imgbuild/every-boot.d/* on every boot, each with a time limit.

State: /var/lib/imgbuild-first-boot (root only). Log: /var/log/imgbuild-first-boot.log
and the journal (journalctl -u imgbuild-first-boot -u imgbuild-first-boot-scripts).
";

/// The agent's BLAKE3, hex.
pub fn agent_digest() -> &'static str {
    static DIGEST: OnceLock<String> = OnceLock::new();
    DIGEST.get_or_init(|| blake3::hash(AGENT).to_hex().to_string())
}

pub(crate) fn register(engine: &mut Engine, registration: &crate::Registration) {
    let mut module = Module::new();
    let state = registration.state.clone();
    module.set_native_fn(
        "agent",
        move |context: NativeCallContext,
              options: Map|
              -> Result<DerivationHandle, Box<EvalAltResult>> {
            agent(&state, &context, options).map_err(|error| crate::core::at_call(&context, error))
        },
    );
    engine.register_static_module("first_boot", module.into());
}

fn agent(
    state: &SharedState,
    context: &NativeCallContext,
    options: Map,
) -> Result<DerivationHandle, BuiltinError> {
    let arguments = ArgMap::new("first_boot::agent", options, KEYS)?;
    let root = arguments.required("root")?;
    let Some(mut root) = root.read_lock::<DerivationHandle>().map(|handle| *handle) else {
        return Err(arguments.type_error("root", "a tree derivation", root.type_name()));
    };
    let timeout = arguments.optional_int("timeout")?.unwrap_or(300);
    if !(1..=24 * 3600).contains(&timeout) {
        return Err(BuiltinError::new(format!(
            "first_boot::agent: `timeout` {timeout} must be between 1 second and a day"
        )));
    }
    let epoch = crate::media::common::epoch(&arguments)?;
    let scripts = match arguments.get("scripts") {
        None => Array::new(),
        Some(value) => value
            .read_lock::<Array>()
            .map(|array| array.clone())
            .ok_or_else(|| {
                arguments.type_error("scripts", "an array of maps", value.type_name())
            })?,
    };
    let mut installed = Vec::new();
    let mut names = Vec::new();
    for (index, item) in scripts.into_iter().enumerate() {
        let Some(map) = item.read_lock::<Map>().map(|map| map.clone()) else {
            return Err(arguments.type_error(
                "scripts",
                "an array of maps such as #{ name: \"page\", when: \"first-boot\", script: \"...\" }",
                item.type_name(),
            ));
        };
        let script = ArgMap::new("first_boot::agent script", map, SCRIPT_KEYS)?;
        let when = script.required_string("when")?;
        if !WHEN.contains(&when.as_str()) {
            return Err(crate::disk::options::unknown(
                "first_boot::agent",
                "when",
                &when,
                WHEN,
            ));
        }
        let name = script
            .optional_string("name")?
            .unwrap_or_else(|| format!("script-{}", index + 1));
        crate::core::paths::check_name("first_boot::agent", &name)?;
        if names.contains(&name) {
            return Err(BuiltinError::new(format!(
                "first_boot::agent: two scripts are named `{name}`"
            )));
        }
        names.push(name.clone());
        let text = script.required_string("script")?;
        if when == "build" {
            let mut step = Map::new();
            step.insert("root".into(), Dynamic::from(root));
            step.insert("script".into(), text.into());
            step.insert("name".into(), name.into());
            step.insert("source_date_epoch".into(), Dynamic::from(epoch));
            root = state.add(context, crate::core::run::spec(state, step)?);
            continue;
        }
        let mut entry = BTreeMap::new();
        entry.insert("name".to_owned(), Value::String(name));
        entry.insert("when".to_owned(), Value::String(when));
        entry.insert("script".to_owned(), Value::String(text));
        installed.push(Value::Map(entry));
    }
    let mut inputs = imgbuild_evaluator::Inputs::new();
    let mut args = BTreeMap::new();
    args.insert("root".to_owned(), inputs.reference(root.id));
    args.insert("agent".to_owned(), Value::String(agent_digest().to_owned()));
    args.insert("scripts".to_owned(), Value::List(installed));
    args.insert("timeout".to_owned(), Value::Int(timeout));
    args.insert("source_date_epoch".to_owned(), Value::Int(epoch));
    let name = arguments
        .optional_string("name")?
        .unwrap_or_else(|| "first-boot".to_owned());
    crate::core::paths::check_name("first_boot::agent", &name)?;
    Ok(state.add(
        context,
        DerivationSpec::derived(KIND, VERSION, name, args, inputs),
    ))
}

pub(crate) fn build(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    let args = context.derivation.args.clone();
    if args.get("agent").and_then(Value::as_str) != Some(agent_digest()) {
        return Err(BuildError::Failed(format!(
            "this imgbuild carries first-boot agent {} but the recipe was evaluated with another; evaluate and build with the same imgbuild",
            &agent_digest()[..16]
        )));
    }
    let Some(Value::Input(index)) = args.get("root") else {
        return Err(BuildError::Malformed(
            "first-boot agent without a root".to_owned(),
        ));
    };
    let input = context.input(*index)?.clone();
    let OutputObject::Tree { tree: digest } = input.record.object else {
        return Err(BuildError::Failed(format!(
            "{} is a file; the agent goes into a tree",
            input.described()
        )));
    };
    let epoch = args
        .get("source_date_epoch")
        .and_then(Value::as_int)
        .unwrap_or(0);
    let timeout = args.get("timeout").and_then(Value::as_int).unwrap_or(300);
    let mut files = vec![
        InstallFile {
            path: AGENT_PATH.to_owned(),
            content: AGENT.to_vec(),
            mode: 0o755,
        },
        InstallFile {
            path: "usr/lib/imgbuild/README".to_owned(),
            content: README.as_bytes().to_vec(),
            mode: 0o644,
        },
        InstallFile {
            path: "usr/lib/systemd/system/imgbuild-first-boot.service".to_owned(),
            content: CONFIGURE_UNIT.as_bytes().to_vec(),
            mode: 0o644,
        },
        InstallFile {
            path: "usr/lib/systemd/system/imgbuild-first-boot-scripts.service".to_owned(),
            content: SCRIPTS_UNIT
                .replace("{timeout}", &timeout.to_string())
                .into_bytes(),
            mode: 0o644,
        },
    ];
    let scripts = args.get("scripts").and_then(Value::as_list).unwrap_or(&[]);
    for (position, script) in (1..).zip(scripts) {
        let field = |key: &str| script.get(key).and_then(Value::as_str).unwrap_or("");
        let directory = if field("when") == "every-boot" {
            "every-boot.d"
        } else {
            "first-boot.d"
        };
        let text = field("script");
        let body = if text.starts_with("#!") {
            text.to_owned()
        } else {
            format!("#!/bin/sh\nset -e\n{text}\n")
        };
        files.push(InstallFile {
            path: format!("etc/imgbuild/{directory}/{position:02}-{}", field("name")),
            content: body.into_bytes(),
            mode: 0o700,
        });
    }
    let mut tree = context.store.load_tree(&digest)?;
    let units = [
        "imgbuild-first-boot.service".to_owned(),
        "imgbuild-first-boot-scripts.service".to_owned(),
    ];
    let applied = edit::install(context.store, &mut tree, &files, &units, epoch)
        .map_err(|error| BuildError::Failed(format!("first_boot::agent: {error}")))?;
    for change in &applied.changes {
        context.log_line(change);
    }
    let stored = context.store.put_tree(&tree)?;
    Ok(imgbuild_engine::tree_output(
        stored,
        input.record.secret || context.derivation.secret,
    ))
}
