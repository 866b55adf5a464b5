//! What the contextualization media builtins (`cloud_init::`, `context::`,
//! `config_drive::`, `iso::`) share: the `source_date_epoch` argument, turning recipe
//! values into canonical ones with errors that name the call, resolving derivation
//! inputs to text at build time, and writing a small ISO into the store.

use std::collections::BTreeMap;

use imgbuild_evaluator::rhai::{Dynamic, EvalAltResult, Map, Module, NativeCallContext};
use imgbuild_evaluator::{
    ArgMap, BuiltinError, DerivationHandle, DerivationSpec, Inputs, SharedState, Value,
};
use imgbuild_iso::{Attributes, Content, Directory, File, Label, Node, Volume, MAXIMUM_EPOCH};
use imgbuild_store::{OutputObject, OutputRecord};

use imgbuild_engine::{BuildContext, BuildError};

/// Registers the constructor `name(#{ ... })` in `module`: `spec` checks the map and
/// describes the derivation; its error is reported at the call.
pub(crate) fn add_constructor(
    module: &mut Module,
    state: &SharedState,
    name: &str,
    spec: fn(&SharedState, Map) -> Result<DerivationSpec, BuiltinError>,
) {
    let state = state.clone();
    module.set_native_fn(
        name,
        move |context: NativeCallContext,
              options: Map|
              -> Result<DerivationHandle, Box<EvalAltResult>> {
            let spec =
                spec(&state, options).map_err(|error| crate::core::at_call(&context, error))?;
            Ok(state.add(&context, spec))
        },
    );
}

/// Records `source_date_epoch` in `args` and returns the output's name: `name`, else
/// the hostname, else `default` (checked as an output name).
pub(crate) fn epoch_and_name(
    arguments: &ArgMap,
    args: &mut BTreeMap<String, Value>,
    hostname: Option<String>,
    default: &str,
) -> Result<String, BuiltinError> {
    args.insert(
        "source_date_epoch".to_owned(),
        Value::Int(epoch(arguments)?),
    );
    let name = arguments
        .optional_string("name")?
        .or(hostname)
        .unwrap_or_else(|| default.to_owned());
    crate::core::paths::check_name(arguments.function(), &name)?;
    Ok(name)
}

/// A medium's hostname argument, and the context a build-time password hash is salted
/// with (the hostname, else the derivation's name).
pub(crate) fn hostname_and_salt(
    derivation: &imgbuild_evaluator::Derivation,
) -> (Option<String>, String) {
    let hostname = derivation
        .args
        .get("hostname")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let salt = hostname.clone().unwrap_or_else(|| derivation.name.clone());
    (hostname, salt)
}

/// Reads `source_date_epoch` (seconds since 1970, default 0) from a constructor's map.
pub(crate) fn epoch(arguments: &ArgMap) -> Result<i64, BuiltinError> {
    let epoch = arguments.optional_int("source_date_epoch")?.unwrap_or(0);
    if !(0..=MAXIMUM_EPOCH).contains(&epoch) {
        return Err(BuiltinError::new(format!(
            "{}: `source_date_epoch` {epoch} is outside what an ISO 9660 date holds (1970–2155)",
            arguments.function()
        )));
    }
    Ok(epoch)
}

/// Converts one argument to a canonical value (`Null` when absent).
pub(crate) fn value_of(
    state: &SharedState,
    arguments: &ArgMap,
    key: &str,
    inputs: &mut Inputs,
) -> Result<Value, BuiltinError> {
    match arguments.get(key) {
        None => Ok(Value::Null),
        Some(value) => state
            .to_value(value, inputs, &format!("{}: `{key}`", arguments.function()))
            .map_err(BuiltinError::from_rhai),
    }
}

/// A credential argument (`password`, `crypted_password`): text or `secret(...)`,
/// returned sealed. Its value is never quoted in an error.
pub(crate) fn secret_text(
    state: &SharedState,
    arguments: &ArgMap,
    key: &str,
) -> Result<Option<imgbuild_evaluator::Sealed>, BuiltinError> {
    let Some(value) = arguments.get(key) else {
        return Ok(None);
    };
    if let Some(sealed) = value.read_lock::<imgbuild_evaluator::Sealed>() {
        return Ok(Some(sealed.clone()));
    }
    if value.is_string() {
        return state.seal(value.to_string()).map(Some);
    }
    if value.is_unit() {
        return Ok(None);
    }
    Err(argument_error(
        arguments,
        key,
        format!("must be a string or a secret, not {}", describe(value)),
    ))
}

/// An error about one argument of a constructor.
pub(crate) fn argument_error(
    arguments: &ArgMap,
    key: &str,
    reason: impl std::fmt::Display,
) -> BuiltinError {
    BuiltinError::new(format!("{}: `{key}`: {reason}", arguments.function()))
}

/// A list of strings from a string (one item) or an array of strings.
pub(crate) fn string_list(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::Null => Some(Vec::new()),
        Value::String(text) => Some(vec![text.clone()]),
        Value::List(items) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect(),
        _ => None,
    }
}

/// Checks and normalises `ssh_keys` (a key, or an array of keys).
pub(crate) fn ssh_keys(arguments: &ArgMap, value: &Value) -> Result<Value, BuiltinError> {
    let keys = string_list(value).ok_or_else(|| {
        argument_error(
            arguments,
            "ssh_keys",
            "must be a string or an array of strings",
        )
    })?;
    let mut checked = Vec::new();
    for key in keys.iter().filter(|key| !key.trim().is_empty()) {
        let key = crate::media::validate::ssh_public_key(key)
            .map_err(|reason| argument_error(arguments, "ssh_keys", reason))?;
        checked.push(Value::String(key));
    }
    Ok(Value::List(checked))
}

/// A checked map argument (`Null` or a map), with a type error otherwise.
pub(crate) fn expect_map_or_null(
    arguments: &ArgMap,
    key: &str,
    value: &Value,
) -> Result<(), BuiltinError> {
    match value {
        Value::Null | Value::Map(_) => Ok(()),
        _ => Err(argument_error(arguments, key, "must be a map")),
    }
}

/// The options map of a constructor, checked against its known keys.
pub(crate) fn arguments(
    function: &'static str,
    map: Map,
    known: &[&str],
) -> Result<ArgMap, BuiltinError> {
    ArgMap::new(function, map, known)
}

/// True when the optional `secret` flag is set.
pub(crate) fn forced_secret(arguments: &ArgMap) -> Result<bool, BuiltinError> {
    Ok(arguments.optional_bool("secret")?.unwrap_or(false))
}

/// An input's output as text (a file's bytes, which must be UTF-8).
pub(crate) fn input_text(context: &BuildContext<'_>, index: u32) -> Result<String, BuildError> {
    let input = context.input(index)?;
    match &input.record.object {
        OutputObject::File { blob, .. } => {
            let bytes = context.store.read_blob(blob)?;
            String::from_utf8(bytes).map_err(|_| {
                BuildError::Failed(format!(
                    "`{}` is not UTF-8 text, so it cannot be embedded in a text document",
                    input.name
                ))
            })
        }
        OutputObject::Tree { .. } => Err(BuildError::Failed(format!(
            "`{}` is a tree; only file outputs can be embedded as text",
            input.name
        ))),
    }
}

/// An input's output as bytes (a file's content).
pub(crate) fn input_bytes(context: &BuildContext<'_>, index: u32) -> Result<Vec<u8>, BuildError> {
    let input = context.input(index)?;
    match &input.record.object {
        OutputObject::File { blob, .. } => Ok(context.store.read_blob(blob)?),
        OutputObject::Tree { .. } => Err(BuildError::Failed(format!(
            "`{}` is a tree; only file outputs can be placed as files here",
            input.name
        ))),
    }
}

/// Replaces every input reference in `value` by the input's text.
pub(crate) fn resolve_inputs(
    context: &BuildContext<'_>,
    value: &Value,
) -> Result<Value, BuildError> {
    Ok(match value {
        Value::Input(index) => Value::String(input_text(context, *index)?),
        Value::List(items) => Value::List(
            items
                .iter()
                .map(|item| resolve_inputs(context, item))
                .collect::<Result<_, _>>()?,
        ),
        Value::Map(entries) => Value::Map(
            entries
                .iter()
                .map(|(key, item)| Ok((key.clone(), resolve_inputs(context, item)?)))
                .collect::<Result<BTreeMap<_, _>, BuildError>>()?,
        ),
        other => other.clone(),
    })
}

/// One file to put on a medium.
pub(crate) struct MediumFile {
    /// `/`-separated path from the medium's root.
    pub(crate) path: String,
    /// The bytes.
    pub(crate) bytes: Vec<u8>,
    /// Permission bits.
    pub(crate) mode: u32,
}

/// Writes `files` as an ISO labelled `label` into the store and returns the output.
pub(crate) fn write_iso(
    context: &mut BuildContext<'_>,
    label: &str,
    files: Vec<MediumFile>,
) -> Result<OutputRecord, BuildError> {
    let epoch = context
        .derivation
        .args
        .get("source_date_epoch")
        .and_then(Value::as_int)
        .unwrap_or(0);
    let secret = context.derivation.secret;
    let label = Label::new(label).map_err(|error| BuildError::Failed(error.to_string()))?;
    let mut root = Directory::new(Attributes::directory(0o755));
    for file in files {
        let node = Node::File(File {
            content: Content::Bytes(file.bytes),
            attributes: Attributes::file(file.mode),
        });
        root.insert(&file.path, node)
            .map_err(|error| BuildError::Failed(error.to_string()))?;
    }
    let volume = Volume {
        label,
        source_date_epoch: epoch,
        root,
    };
    let image =
        imgbuild_iso::to_vec(&volume).map_err(|error| BuildError::Failed(error.to_string()))?;
    // No log line: a fleet builds thousands of these, and on ext4 every log file is one
    // more inode to allocate (a quarter of a seed's build time). Failures still log.
    let info = context.store.put_blob(&image, secret)?;
    Ok(imgbuild_engine::file_output(&info, false, secret))
}

/// The mode of a file on a medium: owner-only when the medium holds secrets.
pub(crate) fn file_mode(secret: bool) -> u32 {
    if secret {
        0o400
    } else {
        0o644
    }
}

/// A Rhai value as a short type description, for messages.
pub(crate) fn describe(value: &Dynamic) -> &str {
    imgbuild_evaluator::friendly_type_name(value.type_name())
}
