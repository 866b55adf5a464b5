//! `oci::image(root, #{ ... })`: an OCI image layout (image-spec 1.1) whose one layer
//! is the root tree, for container platforms.
//!
//! ```rhai
//! let image = oci::image(root, #{
//!     entrypoint: ["/usr/sbin/nginx"], cmd: ["-g", "daemon off;"],
//!     env: #{ LANG: "C.UTF-8" },           // or ["LANG=C.UTF-8"]
//!     user: "www-data", working_dir: "/var/www",
//!     labels: #{ "org.opencontainers.image.title": "web" },
//!     exposed_ports: ["80/tcp"], volumes: ["/var/log/nginx"], stop_signal: "SIGQUIT",
//!     annotations: #{}, tag: "latest", author: "platform team",
//!     architecture: "amd64", compression: "gzip",    // or "zstd", "none"
//!     source_date_epoch: 1700000000,
//! });                                      // result/NAME/ : oci-layout, index.json, blobs/
//! ```
//!
//! The layer is the store's tar stream of the tree (`Store::write_tar`: sorted names,
//! the tree's numeric owners, modes, mtimes, xattrs, devices and hard links; no user or
//! group names, nothing of the machine that builds it), compressed by `imgbuild-oci`
//! without timestamps; `created` is `source_date_epoch` (default: the subject's own, else
//! 0). The output is a tree: the layout's files owned by 0:0, 0644 in 0755 directories,
//! dated `source_date_epoch`, so `skopeo copy oci:result/NAME:latest ...` or `podman
//! load` take it as is. The same root and options give the same manifest digest.

use std::collections::BTreeMap;
use std::path::Path;

use imgbuild_engine::{BuildContext, BuildError};
use imgbuild_evaluator::rhai::{Array, Engine, EvalAltResult, Map, Module, NativeCallContext};
use imgbuild_evaluator::{
    ArgMap, BuiltinError, DerivationHandle, DerivationSpec, SharedState, Value,
};
use imgbuild_store::{Entry, Metadata, OutputObject, OutputRecord, Tree, TreePath};

/// The derivation kind.
pub const KIND: &str = "oci_image";
pub(crate) const VERSION: u32 = 1;

const KEYS: &[&str] = &[
    "name",
    "entrypoint",
    "cmd",
    "env",
    "user",
    "working_dir",
    "labels",
    "exposed_ports",
    "volumes",
    "stop_signal",
    "annotations",
    "tag",
    "author",
    "architecture",
    "compression",
    "source_date_epoch",
];

const COMPRESSIONS: &[&str] = &["gzip", "zstd", "none"];

pub(crate) fn register(engine: &mut Engine, registration: &crate::Registration) {
    let mut module = Module::new();
    let state = registration.state.clone();
    module.set_native_fn(
        "image",
        move |context: NativeCallContext,
              root: DerivationHandle,
              options: Map|
              -> Result<DerivationHandle, Box<EvalAltResult>> {
            image(&state, &context, root, options)
                .map_err(|error| crate::core::at_call(&context, error))
        },
    );
    let state = registration.state.clone();
    module.set_native_fn(
        "image",
        move |context: NativeCallContext,
              root: DerivationHandle|
              -> Result<DerivationHandle, Box<EvalAltResult>> {
            image(&state, &context, root, Map::new())
                .map_err(|error| crate::core::at_call(&context, error))
        },
    );
    engine.register_static_module("oci", module.into());
}

fn image(
    state: &SharedState,
    context: &NativeCallContext,
    root: DerivationHandle,
    options: Map,
) -> Result<DerivationHandle, BuiltinError> {
    let arguments = ArgMap::new("oci::image", options, KEYS)?;
    let name = match arguments.optional_string("name")? {
        Some(name) => name,
        None => format!("{}-oci", state.derivation_name(root)),
    };
    crate::core::paths::check_name("oci::image", &name)?;
    let mut args = BTreeMap::new();
    for key in ["entrypoint", "cmd", "exposed_ports", "volumes"] {
        args.insert(key.to_owned(), Value::List(strings(&arguments, key)?));
    }
    args.insert("env".to_owned(), Value::List(environment(&arguments)?));
    for key in ["labels", "annotations"] {
        args.insert(key.to_owned(), Value::Map(string_map(&arguments, key)?));
    }
    for key in ["user", "working_dir", "stop_signal", "author"] {
        if let Some(value) = arguments.optional_string(key)? {
            args.insert(key.to_owned(), Value::String(value));
        }
    }
    let tag = arguments
        .optional_string("tag")?
        .unwrap_or_else(|| "latest".to_owned());
    args.insert("tag".to_owned(), Value::String(tag));
    let architecture = arguments
        .optional_string("architecture")?
        .unwrap_or_else(|| "amd64".to_owned());
    args.insert("architecture".to_owned(), Value::String(architecture));
    let compression = arguments
        .optional_string("compression")?
        .unwrap_or_else(|| "gzip".to_owned());
    if !COMPRESSIONS.contains(&compression.as_str()) {
        return Err(
            BuiltinError::new(format!("oci::image: unknown compression `{compression}`"))
                .with_help("`gzip` (the default, read by every tool), `zstd` or `none`"),
        );
    }
    args.insert("compression".to_owned(), Value::String(compression));
    let epoch = match arguments.optional_int("source_date_epoch")? {
        Some(epoch) if epoch >= 0 => epoch,
        Some(epoch) => {
            return Err(BuiltinError::new(format!(
                "oci::image: `source_date_epoch` {epoch} is negative"
            )))
        }
        None => {
            let graph = state.graph();
            graph
                .node(root.id)
                .derivation
                .args
                .get("source_date_epoch")
                .and_then(Value::as_int)
                .unwrap_or(0)
        }
    };
    args.insert("source_date_epoch".to_owned(), Value::Int(epoch));
    let mut inputs = imgbuild_evaluator::Inputs::new();
    args.insert("root".to_owned(), inputs.reference(root.id));
    Ok(state.add(
        context,
        DerivationSpec::derived(KIND, VERSION, name, args, inputs),
    ))
}

fn strings(arguments: &ArgMap, key: &str) -> Result<Vec<Value>, BuiltinError> {
    let Some(value) = arguments.get(key) else {
        return Ok(Vec::new());
    };
    let Some(array) = value.read_lock::<Array>() else {
        return Err(arguments.type_error(key, "an array of strings", value.type_name()));
    };
    array
        .iter()
        .map(
            |item| match item.read_lock::<imgbuild_evaluator::rhai::ImmutableString>() {
                Some(text) => Ok(Value::String(text.to_string())),
                None => Err(arguments.type_error(key, "an array of strings", item.type_name())),
            },
        )
        .collect()
}

fn string_map(arguments: &ArgMap, key: &str) -> Result<BTreeMap<String, Value>, BuiltinError> {
    let Some(value) = arguments.get(key) else {
        return Ok(BTreeMap::new());
    };
    let Some(map) = value.read_lock::<Map>() else {
        return Err(arguments.type_error(key, "a map of strings", value.type_name()));
    };
    map.iter()
        .map(
            |(name, item)| match item.read_lock::<imgbuild_evaluator::rhai::ImmutableString>() {
                Some(text) => Ok((name.to_string(), Value::String(text.to_string()))),
                None => Err(arguments.type_error(key, "a map of strings", item.type_name())),
            },
        )
        .collect()
}

/// `env`: a map (written `KEY=VALUE` in key order) or an array of `KEY=VALUE` strings
/// (kept in order).
fn environment(arguments: &ArgMap) -> Result<Vec<Value>, BuiltinError> {
    let Some(value) = arguments.get("env") else {
        return Ok(Vec::new());
    };
    let entries: Vec<Value> = if value.is::<Map>() {
        string_map(arguments, "env")?
            .into_iter()
            .map(|(key, value)| Value::String(format!("{key}={}", value.as_str().unwrap_or(""))))
            .collect()
    } else {
        strings(arguments, "env")?
    };
    for entry in &entries {
        let text = entry.as_str().unwrap_or("");
        if text.split_once('=').is_none_or(|(key, _)| key.is_empty()) {
            return Err(BuiltinError::new(format!(
                "oci::image: `env` entry `{text}` is not KEY=VALUE"
            )));
        }
    }
    Ok(entries)
}

fn config_of(args: &Value) -> imgbuild_oci::ImageConfig {
    let text = |key: &str| args.get(key).and_then(Value::as_str).map(str::to_owned);
    let list = |key: &str| -> Vec<String> {
        args.get(key)
            .and_then(Value::as_list)
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let map = |key: &str| -> BTreeMap<String, String> {
        match args.get(key) {
            Some(Value::Map(entries)) => entries
                .iter()
                .filter_map(|(name, value)| Some((name.clone(), value.as_str()?.to_owned())))
                .collect(),
            _ => BTreeMap::new(),
        }
    };
    imgbuild_oci::ImageConfig {
        architecture: text("architecture").unwrap_or_else(|| "amd64".to_owned()),
        os: "linux".to_owned(),
        variant: None,
        created: args
            .get("source_date_epoch")
            .and_then(Value::as_int)
            .unwrap_or(0),
        entrypoint: list("entrypoint"),
        cmd: list("cmd"),
        env: list("env"),
        user: text("user"),
        working_dir: text("working_dir"),
        labels: map("labels"),
        exposed_ports: list("exposed_ports"),
        volumes: list("volumes"),
        stop_signal: text("stop_signal"),
        annotations: map("annotations"),
        ref_name: text("tag"),
        author: text("author"),
        history_comment: Some(format!("imgbuild {}", env!("CARGO_PKG_VERSION"))),
    }
}

pub(crate) fn build(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    let args = &context.derivation.args;
    let Some(Value::Input(index)) = args.get("root") else {
        return Err(BuildError::Malformed("oci image without a root".to_owned()));
    };
    let input = context.input(*index)?.clone();
    let OutputObject::Tree { tree } = input.record.object else {
        return Err(BuildError::Failed(format!(
            "oci::image: {} is a file, not a tree",
            input.described()
        )));
    };
    let config = config_of(args);
    let compression = match args.get("compression").and_then(Value::as_str) {
        Some("none") => imgbuild_oci::Compression::None,
        Some("zstd") => imgbuild_oci::Compression::Zstd,
        _ => imgbuild_oci::Compression::Gzip,
    };
    let scratch = context.store.scratch_directory()?;
    let directory = tempfile::Builder::new()
        .prefix("oci-")
        .tempdir_in(&scratch)
        .map_err(|source| {
            BuildError::Failed(format!(
                "oci::image: a scratch directory in {}: {source}",
                scratch.display()
            ))
        })?;
    let store = context.store;
    let reporter = context.reporter;
    let layout = imgbuild_oci::write_layout(directory.path(), &config, compression, &mut |out| {
        let mut counted = Progress {
            inner: out,
            written: 0,
            reported: 0,
            reporter,
        };
        store
            .write_tar(&tree, &mut counted)
            .map_err(std::io::Error::other)
    })
    .map_err(|error| BuildError::Failed(format!("oci::image of {}: {error}", input.described())))?;
    context.log_line(format!(
        "manifest {}, layer {} ({} bytes), diff_id {}",
        layout.manifest.digest, layout.layer.digest, layout.layer.size, layout.diff_id
    ));
    let secret = context.derivation.secret || input.record.secret;
    let tree = import_layout(context, directory.path(), config.created, secret)?;
    Ok(imgbuild_engine::tree_output(tree, secret))
}

/// The layer's tar stream on its way to the compressor, reported every 4 MiB.
struct Progress<'a> {
    inner: &'a mut dyn std::io::Write,
    written: u64,
    reported: u64,
    reporter: &'a dyn imgbuild_engine::Reporter,
}

impl std::io::Write for Progress<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(bytes)?;
        self.written += written as u64;
        if self.written - self.reported >= 4 << 20 {
            self.reported = self.written;
            self.reporter.progress(self.written, None, "bytes");
        }
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The layout directory as a tree: 0:0, files 0644, directories 0755, dated `epoch`.
fn import_layout(
    context: &BuildContext<'_>,
    directory: &Path,
    epoch: i64,
    secret: bool,
) -> Result<imgbuild_store::Digest, BuildError> {
    let meta = |mode: u32| Metadata {
        mtime: epoch,
        ..Metadata::with_mode(mode)
    };
    let mut tree = Tree::new(meta(0o755));
    let failed = |path: &Path, source: std::io::Error| {
        BuildError::Failed(format!("oci::image: {}: {source}", path.display()))
    };
    let mut pending = vec![(directory.to_path_buf(), TreePath::root())];
    while let Some((path, at)) = pending.pop() {
        let mut names = std::fs::read_dir(&path)
            .and_then(|entries| {
                entries
                    .map(|entry| entry.map(|entry| entry.file_name()))
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(|source| failed(&path, source))?;
        names.sort();
        for name in names {
            let child = path.join(&name);
            let tree_name = imgbuild_store::Name::new(name.as_encoded_bytes())
                .map_err(|error| BuildError::Failed(format!("oci::image: {error}")))?;
            let child_at = at.join(&tree_name);
            let file_type = std::fs::symlink_metadata(&child)
                .map_err(|source| failed(&child, source))?
                .file_type();
            let entry = if file_type.is_dir() {
                pending.push((child, child_at.clone()));
                Entry::directory(meta(0o755))
            } else {
                let mut file =
                    std::fs::File::open(&child).map_err(|source| failed(&child, source))?;
                let mut writer = context.store.blob_writer(secret)?;
                std::io::copy(&mut file, &mut writer).map_err(|source| failed(&child, source))?;
                let info = writer.finish()?;
                Entry::file(info.digest, info.size, meta(0o644))
            };
            tree.insert(&child_at, entry)
                .map_err(|error| BuildError::Failed(format!("oci::image: {error}")))?;
        }
    }
    Ok(context.store.put_tree(&tree)?)
}
