//! `tree(#{ path: entry, ... })`: a file tree assembled from derivations and literals.
//!
//! An entry is a derivation (a file output becomes a file, a tree output is grafted at
//! that path) or a map that says what to create and with which metadata:
//!
//! ```rhai
//! tree(#{
//!     "/etc/motd": text("hello\n"),
//!     "/usr/bin/tool": #{ source: file("tool"), mode: 0o4755 },
//!     "/etc/shadow": #{ text: "", mode: 0o640, gid: 42 },
//!     "/tmp": #{ directory: true, mode: 0o1777 },
//!     "/bin": #{ symlink: "usr/bin" },
//!     "/usr/bin/tool2": #{ hardlink: "/usr/bin/tool" },
//!     "/dev/null": #{ char_device: [1, 3], mode: 0o666 },
//!     "/run/pipe": #{ fifo: true },
//!     "/": #{ directory: true, mode: 0o755 },
//! })
//! ```
//!
//! Metadata keys: `mode` (the 12 permission bits, setuid/setgid/sticky included), `uid`,
//! `gid`, `mtime` (seconds) and `xattrs` (a map of name to string). Defaults: owned by
//! 0:0, mtime 0, mode 0644 for files (0755 when the source is executable), 0755 for
//! directories, 0777 for symlinks. Ownership lives in the store, so none of this needs
//! root.

use std::collections::BTreeMap;

use imgbuild_evaluator::rhai::{Dynamic, Engine, EvalAltResult, Map, NativeCallContext};
use imgbuild_evaluator::{
    friendly_type_name, ArgMap, BuiltinError, DerivationHandle, DerivationSpec, SharedState, Value,
};
use imgbuild_store::{Entry, EntryKind, Metadata, OutputObject, OutputRecord, Tree, TreePath};

use crate::core::paths::normalize_tree_path;
use imgbuild_engine::{BuildContext, BuildError};

/// The derivation kind.
pub const KIND: &str = "tree";
pub(crate) const VERSION: u32 = 1;

const TYPE_KEYS: &[&str] = &[
    "source",
    "text",
    "directory",
    "symlink",
    "hardlink",
    "fifo",
    "char_device",
    "block_device",
];
const META_KEYS: &[&str] = &["mode", "uid", "gid", "mtime", "xattrs"];

pub(crate) fn register(engine: &mut Engine, registration: &crate::Registration) {
    let state = &registration.state;
    let plain = state.clone();
    engine.register_fn(
        "tree",
        move |context: NativeCallContext,
              entries: Map|
              -> Result<DerivationHandle, Box<EvalAltResult>> {
            tree_derivation(&plain, &context, "tree".to_owned(), entries)
        },
    );
    let named = state.clone();
    engine.register_fn(
        "tree",
        move |context: NativeCallContext,
              name: imgbuild_evaluator::rhai::ImmutableString,
              entries: Map|
              -> Result<DerivationHandle, Box<EvalAltResult>> {
            crate::core::paths::check_name("tree", &name)?;
            tree_derivation(&named, &context, name.to_string(), entries)
        },
    );
}

fn tree_derivation(
    state: &SharedState,
    context: &NativeCallContext,
    name: String,
    entries: Map,
) -> Result<DerivationHandle, Box<EvalAltResult>> {
    let mut inputs = imgbuild_evaluator::Inputs::new();
    let mut canonical = BTreeMap::new();
    for (path, value) in entries {
        let normalized = normalize_tree_path("tree", &path)?;
        let entry = entry_value(state, &path, &value, &mut inputs)?;
        if canonical.insert(normalized.clone(), entry).is_some() {
            return Err(BuiltinError::new(format!(
                "tree: `{path}` names the same path as another key (`/{normalized}`)"
            ))
            .into());
        }
    }
    let mut args = BTreeMap::new();
    args.insert("entries".to_owned(), Value::Map(canonical));
    Ok(state.add(
        context,
        DerivationSpec::derived(KIND, VERSION, name, args, inputs),
    ))
}

fn entry_value(
    state: &SharedState,
    path: &str,
    value: &Dynamic,
    inputs: &mut imgbuild_evaluator::Inputs,
) -> Result<Value, Box<EvalAltResult>> {
    let mut entry = BTreeMap::new();
    if let Some(handle) = value.read_lock::<DerivationHandle>() {
        entry.insert("source".to_owned(), inputs.reference(handle.id));
        return Ok(Value::Map(entry));
    }
    let Some(map) = value.read_lock::<Map>().map(|map| map.clone()) else {
        let mut error = BuiltinError::new(format!(
            "tree: entry `{path}` is {}, expected a derivation or a map",
            friendly_type_name(value.type_name())
        ));
        if value.is_string() {
            error = error
                .with_help("for literal content write `text(\"...\")` or `#{ text: \"...\" }`");
        }
        return Err(error.into());
    };
    let known: Vec<&str> = TYPE_KEYS.iter().chain(META_KEYS).copied().collect();
    let function = "tree";
    let arguments = ArgMap::new(function, map.clone(), &known)?;
    let types: Vec<&str> = TYPE_KEYS
        .iter()
        .copied()
        .filter(|key| map.contains_key(*key))
        .collect();
    for key in &types {
        if map.get(*key).is_some_and(Dynamic::is_unit) {
            return Err(BuiltinError::new(format!(
                "tree: `{key}` of `{path}` is nothing (unit)"
            ))
            .with_help("did a function forget to return its value? give the entry a value or leave the key out")
            .into());
        }
    }
    if types.len() > 1 {
        return Err(BuiltinError::new(format!(
            "tree: entry `{path}` has both `{}` and `{}`",
            types[0], types[1]
        ))
        .with_help("an entry is one thing: a source, text, a directory, a symlink, ...")
        .into());
    }
    let kind = types.first().copied().unwrap_or("directory");
    match kind {
        "source" => {
            let source = arguments.required("source")?;
            let Some(handle) = source.read_lock::<DerivationHandle>() else {
                return Err(arguments
                    .type_error("source", "a derivation", source.type_name())
                    .into());
            };
            entry.insert("source".to_owned(), inputs.reference(handle.id));
        }
        "text" => {
            entry.insert(
                "text".to_owned(),
                Value::String(arguments.optional_string("text")?.unwrap_or_default()),
            );
        }
        "symlink" => {
            let target = arguments.required_string("symlink")?;
            if target.is_empty() || target.len() > 4095 || target.contains('\0') {
                return Err(BuiltinError::new(format!(
                    "tree: symlink target of `{path}` must be 1 to 4095 bytes without NUL"
                ))
                .into());
            }
            entry.insert("symlink".to_owned(), Value::String(target));
        }
        "hardlink" => {
            let target = arguments.required_string("hardlink")?;
            entry.insert(
                "hardlink".to_owned(),
                Value::String(normalize_tree_path("tree", &target)?),
            );
        }
        "char_device" | "block_device" => {
            let numbers = arguments.required(kind)?;
            let pair = numbers
                .read_lock::<imgbuild_evaluator::rhai::Array>()
                .map(|array| {
                    array
                        .iter()
                        .map(|item| item.as_int().ok())
                        .collect::<Vec<_>>()
                });
            match pair.as_deref() {
                Some([Some(major), Some(minor)])
                    if (0..=u32::MAX as i64).contains(major)
                        && (0..=u32::MAX as i64).contains(minor) =>
                {
                    entry.insert(
                        kind.to_owned(),
                        Value::List(vec![Value::Int(*major), Value::Int(*minor)]),
                    );
                }
                _ => {
                    return Err(BuiltinError::new(format!(
                        "tree: `{kind}` of `{path}` must be [major, minor]"
                    ))
                    .into());
                }
            }
        }
        "directory" | "fifo" => {
            if let Some(flag) = arguments.optional_bool(kind)? {
                if !flag {
                    return Err(BuiltinError::new(format!(
                        "tree: `{kind}: false` at `{path}` means nothing"
                    ))
                    .with_help(format!("leave `{kind}` out or set it to true"))
                    .into());
                }
            }
            entry.insert(kind.to_owned(), Value::Bool(true));
        }
        _ => {}
    }
    if let Some(mode) = arguments.optional_int("mode")? {
        if !(0..=0o7777).contains(&mode) {
            return Err(BuiltinError::new(format!(
                "tree: mode {mode:#o} of `{path}` is not a permission mode"
            ))
            .with_help("write modes in octal, e.g. 0o644, 0o4755; at most 0o7777")
            .into());
        }
        entry.insert("mode".to_owned(), Value::Int(mode));
    }
    for key in ["uid", "gid"] {
        if let Some(id) = arguments.optional_int(key)? {
            if !(0..=u32::MAX as i64).contains(&id) {
                return Err(BuiltinError::new(format!(
                    "tree: {key} {id} of `{path}` is out of range"
                ))
                .into());
            }
            entry.insert(key.to_owned(), Value::Int(id));
        }
    }
    if let Some(mtime) = arguments.optional_int("mtime")? {
        entry.insert("mtime".to_owned(), Value::Int(mtime));
    }
    if let Some(xattrs) = arguments.get("xattrs") {
        let value = state.to_value(xattrs, inputs, "xattrs")?;
        let valid = value
            .as_map()
            .is_some_and(|map| map.values().all(|item| item.as_str().is_some()));
        if !valid {
            return Err(BuiltinError::new(format!(
                "tree: `xattrs` of `{path}` must be a map of strings"
            ))
            .into());
        }
        entry.insert("xattrs".to_owned(), value);
    }
    Ok(Value::Map(entry))
}

fn metadata(spec: &BTreeMap<String, Value>, default_mode: u32) -> Metadata {
    let number = |key: &str| spec.get(key).and_then(Value::as_int);
    let mut meta = Metadata::with_mode(number("mode").map_or(default_mode, |mode| mode as u32));
    meta.uid = number("uid").unwrap_or(0) as u32;
    meta.gid = number("gid").unwrap_or(0) as u32;
    meta.mtime = number("mtime").unwrap_or(0);
    if let Some(xattrs) = spec.get("xattrs").and_then(Value::as_map) {
        for (name, value) in xattrs {
            meta.xattrs.insert(
                name.as_bytes().to_vec(),
                value.as_str().unwrap_or_default().as_bytes().to_vec(),
            );
        }
    }
    meta
}

fn pair(value: Option<&Value>) -> (u32, u32) {
    let items = value.and_then(Value::as_list).unwrap_or_default();
    let get = |index: usize| items.get(index).and_then(Value::as_int).unwrap_or(0) as u32;
    (get(0), get(1))
}

pub(crate) fn build(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    let entries = context
        .derivation
        .args
        .get("entries")
        .and_then(Value::as_map)
        .ok_or_else(|| BuildError::Malformed("tree without entries".to_owned()))?;
    let mut tree = Tree::new(Metadata::default_directory());
    for (path, spec) in entries {
        let spec = spec
            .as_map()
            .ok_or_else(|| BuildError::Malformed(format!("entry {path}")))?;
        let tree_path =
            TreePath::parse(path).map_err(|error| BuildError::Failed(error.to_string()))?;
        let failed = |error: imgbuild_store::TreeError| {
            BuildError::Failed(format!("tree entry `/{path}`: {error}"))
        };
        if let Some(Value::Input(index)) = spec.get("source") {
            let record = context.input(*index)?.record.clone();
            match record.object {
                OutputObject::File {
                    blob,
                    size,
                    executable,
                } => {
                    let meta = metadata(spec, if executable { 0o755 } else { 0o644 });
                    tree.insert(&tree_path, Entry::file(blob, size, meta))
                        .map_err(failed)?;
                }
                OutputObject::Tree { tree: digest } => {
                    let graft = context.store.load_tree(&digest)?;
                    let mut meta = graft.root_meta().clone();
                    if spec.len() > 1 {
                        meta = metadata(spec, meta.mode);
                    }
                    let entry = Entry {
                        kind: EntryKind::Directory(graft.root_directory().clone()),
                        meta,
                    };
                    if tree_path.is_root() {
                        tree = Tree::from_parts(
                            entry.meta,
                            match entry.kind {
                                EntryKind::Directory(directory) => directory,
                                _ => Default::default(),
                            },
                        );
                    } else {
                        tree.insert(&tree_path, entry).map_err(failed)?;
                    }
                }
            }
            continue;
        }
        let entry = if let Some(text) = spec.get("text").and_then(Value::as_str) {
            let info = context
                .store
                .put_blob(text.as_bytes(), context.derivation.secret)?;
            Entry::file(info.digest, info.size, metadata(spec, 0o644))
        } else if let Some(target) = spec.get("symlink").and_then(Value::as_str) {
            Entry::symlink(target.as_bytes().to_vec(), metadata(spec, 0o777))
        } else if let Some(target) = spec.get("hardlink").and_then(Value::as_str) {
            let target =
                TreePath::parse(target).map_err(|error| BuildError::Failed(error.to_string()))?;
            Entry::hardlink(target, metadata(spec, 0o644))
        } else if spec.contains_key("fifo") {
            Entry::fifo(metadata(spec, 0o644))
        } else if spec.contains_key("char_device") {
            let (major, minor) = pair(spec.get("char_device"));
            Entry {
                kind: EntryKind::CharDevice { major, minor },
                meta: metadata(spec, 0o600),
            }
        } else if spec.contains_key("block_device") {
            let (major, minor) = pair(spec.get("block_device"));
            Entry {
                kind: EntryKind::BlockDevice { major, minor },
                meta: metadata(spec, 0o600),
            }
        } else {
            Entry::directory(metadata(spec, 0o755))
        };
        if tree_path.is_root() {
            tree.set_root_meta(entry.meta);
        } else if let EntryKind::Directory(_) = entry.kind {
            // An explicit directory may already exist as the parent of an earlier graft.
            match tree.get(&tree_path).map(|existing| &existing.kind) {
                Some(EntryKind::Directory(existing)) => {
                    let children = existing.clone();
                    tree.insert_or_replace(
                        &tree_path,
                        Entry {
                            kind: EntryKind::Directory(children),
                            meta: entry.meta,
                        },
                    )
                    .map_err(failed)?;
                }
                _ => tree.insert(&tree_path, entry).map_err(failed)?,
            }
        } else {
            tree.insert(&tree_path, entry).map_err(failed)?;
        }
    }
    let digest = context.store.put_tree(&tree)?;
    Ok(imgbuild_engine::tree_output(
        digest,
        context.derivation.secret,
    ))
}
