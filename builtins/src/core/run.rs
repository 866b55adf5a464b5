//! `run(#{ root, script | command, env, timeout, ... })`: a program run in the sandbox
//! on a fresh checkout of a tree; the tree it leaves is the output.
//!
//! ```rhai
//! let built = run(#{
//!     root: rootfs,                        // a tree with a shell (any tree derivation)
//!     script: "echo hello > /etc/motd",    // run by /bin/sh -e -c; or command: ["/bin/x", "arg"]
//!     env: #{ GREETING: "hello" },         // added to PATH, HOME, LC_ALL, SOURCE_DATE_EPOCH
//!     timeout: 600,                        // seconds (default 3600); then everything is killed
//!     name: "motd", hostname: "build", source_date_epoch: 0,
//! });
//! ```
//!
//! The step runs as root of its own user namespace with no network (see
//! [`crate::sandbox`]); its stdout and stderr are the derivation's log. Modification
//! times later than `source_date_epoch` are clamped to it. A step that fails, or runs
//! past its time limit, stores nothing.

use std::collections::BTreeMap;

use imgbuild_evaluator::rhai::{Engine, EvalAltResult, Map, NativeCallContext};
use imgbuild_evaluator::{
    ArgMap, BuiltinError, DerivationHandle, DerivationSpec, SharedState, Value,
};
use imgbuild_store::OutputRecord;

use imgbuild_engine::{BuildContext, BuildError};

use crate::sandbox::{self, Step};

/// The derivation kind.
pub const KIND: &str = "run";
pub(crate) const VERSION: u32 = 1;

const KNOWN: &[&str] = &[
    "root",
    "script",
    "command",
    "env",
    "timeout",
    "name",
    "hostname",
    "source_date_epoch",
];

/// Default time limit, seconds.
const DEFAULT_TIMEOUT: i64 = 3600;

/// The environment every step starts from; a recipe's `env` adds to it and overrides it.
pub(crate) fn base_environment(source_date_epoch: i64) -> BTreeMap<String, String> {
    [
        (
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ),
        ("HOME", "/root"),
        ("LC_ALL", "C.UTF-8"),
        ("DEBIAN_FRONTEND", "noninteractive"),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value.to_owned()))
    .chain([(
        "SOURCE_DATE_EPOCH".to_owned(),
        source_date_epoch.to_string(),
    )])
    .collect()
}

pub(crate) fn register(engine: &mut Engine, registration: &crate::Registration) {
    let state = registration.state.clone();
    engine.register_fn(
        "run",
        move |context: NativeCallContext,
              options: Map|
              -> Result<DerivationHandle, Box<EvalAltResult>> {
            let spec =
                spec(&state, options).map_err(|error| crate::core::at_call(&context, error))?;
            Ok(state.add(&context, spec))
        },
    );
}

pub(crate) fn spec(state: &SharedState, options: Map) -> Result<DerivationSpec, BuiltinError> {
    let arguments = ArgMap::new("run", options, KNOWN)?;
    let mut inputs = imgbuild_evaluator::Inputs::new();
    let root = arguments.required("root")?;
    let Some(root) = root.read_lock::<DerivationHandle>().map(|handle| *handle) else {
        return Err(arguments.type_error("root", "a tree derivation", root.type_name()));
    };
    let mut args = BTreeMap::new();
    args.insert("root".to_owned(), inputs.reference(root.id));
    let command = match (
        arguments.optional_string("script")?,
        arguments.get("command"),
    ) {
        (Some(script), None) => vec![
            "/bin/sh".to_owned(),
            "-e".to_owned(),
            "-c".to_owned(),
            script,
        ],
        (None, Some(_)) => {
            let command = arguments.string_list("command")?;
            if command.is_empty() || command[0].is_empty() {
                return Err(BuiltinError::new("run: `command` must name a program"));
            }
            command
        }
        (Some(_), Some(_)) => {
            return Err(BuiltinError::new(
                "run: give either `script` or `command`, not both",
            ))
        }
        (None, None) => {
            return Err(BuiltinError::new(
                "run: missing `script` (shell text) or `command` (a list)",
            ))
        }
    };
    args.insert(
        "command".to_owned(),
        Value::List(command.into_iter().map(Value::String).collect()),
    );
    if let Some(env) = arguments.get("env") {
        let value = state
            .to_value(env, &mut inputs, "run: env")
            .map_err(BuiltinError::from_rhai)?;
        let Some(map) = value.as_map() else {
            return Err(arguments.type_error("env", "a map of strings", env.type_name()));
        };
        for (key, item) in map {
            if key.is_empty() || key.contains('=') || key.contains('\0') {
                return Err(BuiltinError::new(format!(
                    "run: `{key}` is not an environment variable name"
                )));
            }
            if !matches!(item, Value::String(_) | Value::Secret(_)) {
                return Err(BuiltinError::new(format!(
                    "run: env `{key}` must be a string"
                )));
            }
        }
        args.insert("env".to_owned(), value);
    }
    let timeout = arguments
        .optional_int("timeout")?
        .unwrap_or(DEFAULT_TIMEOUT);
    if !(1..=7 * 24 * 3600).contains(&timeout) {
        return Err(BuiltinError::new(format!(
            "run: `timeout` {timeout} must be between 1 second and a week"
        )));
    }
    args.insert("timeout".to_owned(), Value::Int(timeout));
    let hostname = arguments
        .optional_string("hostname")?
        .unwrap_or_else(|| "localhost".to_owned());
    if hostname.is_empty() || hostname.len() > 64 {
        return Err(BuiltinError::new(
            "run: `hostname` must have 1 to 64 characters",
        ));
    }
    args.insert("hostname".to_owned(), Value::String(hostname));
    let name = crate::media::common::epoch_and_name(&arguments, &mut args, None, "run")?;
    Ok(DerivationSpec::derived(KIND, VERSION, name, args, inputs))
}

fn text<'a>(args: &'a Value, key: &str) -> Result<&'a str, BuildError> {
    args.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| BuildError::Malformed(format!("run without {key}")))
}

pub(crate) fn build(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    let args = &context.derivation.args;
    let Some(Value::Input(index)) = args.get("root") else {
        return Err(BuildError::Malformed("run without a root".to_owned()));
    };
    let index = *index;
    let argv: Vec<String> = args
        .get("command")
        .and_then(Value::as_list)
        .ok_or_else(|| BuildError::Malformed("run without a command".to_owned()))?
        .iter()
        .filter_map(|item| item.as_str().map(str::to_owned))
        .collect();
    let epoch = args
        .get("source_date_epoch")
        .and_then(Value::as_int)
        .unwrap_or(0);
    let mut env = base_environment(epoch);
    if let Some(map) = args.get("env").and_then(Value::as_map) {
        for (key, value) in map {
            let text = match value {
                Value::String(text) => text.clone(),
                Value::Secret(sealed) => sealed.text().to_owned(),
                _ => return Err(BuildError::Malformed(format!("env {key}"))),
            };
            env.insert(key.clone(), text);
        }
    }
    let step = Step {
        argv,
        env: env.into_iter().collect(),
        hostname: text(args, "hostname")?.to_owned(),
        clamp_mtime: epoch,
        timeout_seconds: args
            .get("timeout")
            .and_then(Value::as_int)
            .unwrap_or(DEFAULT_TIMEOUT) as u64,
        secret: context.derivation.secret,
        progress: None,
    };
    let digest = sandbox::input_tree(context, index)?;
    let secret = context.derivation.secret || context.input(index)?.record.secret;
    let output = sandbox::run_step(context, &digest, &Step { secret, ..step })?;
    Ok(imgbuild_engine::tree_output(output.tree, secret))
}
