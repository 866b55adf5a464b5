//! `sign(outputs, #{ key, name })`: a signed release made in the build graph.
//!
//! ```rhai
//! // imgbuild build release.rhai --secret release_key=file:$HOME/.ssh/release_ed25519
//! let release = sign(#{ "web.qcow2": disk, "web.spdx.json": sbom::spdx(disk) },
//!                    #{ key: args.release_key, name: "alice@example.org" });
//! ```
//!
//! The output is a release directory — the same thing `imgbuild sign RESULT` writes: each
//! output under its name (a file output, or a tree such as an OCI layout whose entries
//! are files, directories and symbolic links), `imgbuild-release.json` (the manifest:
//! names, formats, sizes, SHA-256 and SHA-512, the recipe identity of each output's
//! derivation, the lock's SHA-256, the SBOM's digest, `source_date_epoch`) and
//! `imgbuild-release.json.NAME.sig`, an SSH signature (`ssh-keygen -Y verify` checks it
//! with an allowed-signers file; `imgbuild verify DIR --policy FILE` checks everything).
//!
//! `key` must be secret text (an OpenSSH private key, e.g. from `--secret NAME=file:PATH`):
//! the derivation is secret, so the key never enters an identity (only its keyed seal),
//! a log, the store, or a remote cache, and the release is written owner-only. Ed25519
//! signatures are deterministic: the same outputs and key give the same bytes.

use std::collections::BTreeMap;
use std::path::Path;

use imgbuild_engine::{BuildContext, BuildError};
use imgbuild_evaluator::rhai::{Dynamic, Engine, EvalAltResult, Map, NativeCallContext};
use imgbuild_evaluator::{
    ArgMap, BuiltinError, DerivationHandle, DerivationSpec, SharedState, Value,
};
use imgbuild_store::{Entry, EntryKind, Metadata, OutputObject, OutputRecord, Tree, TreePath};
use sha2::Digest as _;

/// The derivation kind.
pub const KIND: &str = "signed_release";
pub(crate) const VERSION: u32 = 1;

const KEYS: &[&str] = &["key", "name", "release", "source_date_epoch"];

pub(crate) fn register(engine: &mut Engine, registration: &crate::Registration) {
    let state = registration.state.clone();
    let lock = registration.lock.clone();
    engine.register_fn(
        "sign",
        move |context: NativeCallContext,
              outputs: Dynamic,
              options: Map|
              -> Result<DerivationHandle, Box<EvalAltResult>> {
            let bytes = lock.file.to_bytes();
            let lock_sha256 = (bytes != crate::LockFile::default().to_bytes())
                .then(|| hex::encode(sha2::Sha256::digest(bytes)));
            sign(&state, &context, outputs, options, lock_sha256)
                .map_err(|error| crate::core::at_call(&context, error))
        },
    );
}

fn sign(
    state: &SharedState,
    context: &NativeCallContext,
    outputs: Dynamic,
    options: Map,
    lock_sha256: Option<String>,
) -> Result<DerivationHandle, BuiltinError> {
    let arguments = ArgMap::new("sign", options, KEYS)?;
    let named: Vec<(String, DerivationHandle)> =
        if let Some(handle) = outputs.read_lock::<DerivationHandle>() {
            vec![(output_file_name(state, *handle), *handle)]
        } else if let Some(map) = outputs.read_lock::<Map>() {
            map.iter()
                .map(
                    |(name, value)| match value.read_lock::<DerivationHandle>() {
                        Some(handle) => Ok((name.to_string(), *handle)),
                        None => Err(BuiltinError::new(format!(
                            "sign: `{name}` is {}, not a derivation",
                            imgbuild_evaluator::friendly_type_name(value.type_name())
                        ))),
                    },
                )
                .collect::<Result<_, _>>()?
        } else {
            return Err(BuiltinError::new(format!(
                "sign: the outputs are {}: give a derivation or a map from file name to derivation",
                imgbuild_evaluator::friendly_type_name(outputs.type_name())
            )));
        };
    if named.is_empty() {
        return Err(BuiltinError::new("sign: nothing to sign"));
    }
    for (name, _) in &named {
        crate::core::paths::check_name("sign", name)?;
        if name.starts_with(imgbuild_provenance::MANIFEST_FILE) {
            return Err(BuiltinError::new(format!(
                "sign: `{name}` is the manifest's own name"
            )));
        }
    }
    let key = arguments.required("key")?;
    let key = if key.is::<imgbuild_evaluator::Sealed>() {
        key.clone().cast::<imgbuild_evaluator::Sealed>()
    } else {
        return Err(BuiltinError::new(format!(
            "sign: `key` is {}, not a secret",
            imgbuild_evaluator::friendly_type_name(key.type_name())
        ))
        .with_help("pass the private key as a secret: `--secret release_key=file:PATH` and `key: args.release_key`, or `secret(...)`"));
    };
    let principal = arguments.optional_string("name")?.ok_or_else(|| {
        BuiltinError::new("sign: `name` (the endorser, e.g. an e-mail address) is required")
    })?;
    imgbuild_provenance::check_principal(&principal)
        .map_err(|error| BuiltinError::new(format!("sign: `name`: {error}")))?;
    let release = match arguments.optional_string("release")? {
        Some(release) => release,
        None => named[0].0.split('.').next().unwrap_or("release").to_owned(),
    };
    crate::core::paths::check_name("sign", &release)?;
    let mut inputs = imgbuild_evaluator::Inputs::new();
    let mut entries = BTreeMap::new();
    let mut identities = BTreeMap::new();
    let mut sbom = Value::Null;
    let mut epoch = arguments.optional_int("source_date_epoch")?;
    {
        let graph = state.graph();
        for (name, handle) in &named {
            let derivation = &graph.node(handle.id).derivation;
            if derivation.kind == super::sbom::SPDX_KIND {
                sbom = Value::String(name.clone());
            }
            if epoch.is_none() {
                epoch = derivation
                    .args
                    .get("source_date_epoch")
                    .and_then(Value::as_int);
            }
            identities.insert(
                name.clone(),
                Value::String(state.derivation_identity(*handle)),
            );
        }
    }
    for (name, handle) in &named {
        entries.insert(name.clone(), inputs.reference(handle.id));
    }
    let mut args = BTreeMap::new();
    args.insert("outputs".to_owned(), Value::Map(entries));
    args.insert("identities".to_owned(), Value::Map(identities));
    args.insert("key".to_owned(), Value::Secret(key));
    args.insert("name".to_owned(), Value::String(principal));
    args.insert("release".to_owned(), Value::String(release.clone()));
    args.insert("sbom".to_owned(), sbom);
    args.insert(
        "lock_sha256".to_owned(),
        lock_sha256.map_or(Value::Null, Value::String),
    );
    args.insert(
        "source_date_epoch".to_owned(),
        Value::Int(epoch.unwrap_or(0)),
    );
    Ok(state.add(
        context,
        DerivationSpec::derived(KIND, VERSION, format!("{release}-release"), args, inputs),
    ))
}

/// A lone output's file name: its name plus its kind's extension.
fn output_file_name(state: &SharedState, handle: DerivationHandle) -> String {
    let name = state.derivation_name(handle);
    let graph = state.graph();
    match crate::file_extension(&graph.node(handle.id).derivation) {
        Some(extension) if !name.ends_with(&format!(".{extension}")) => {
            format!("{name}.{extension}")
        }
        _ => name,
    }
}

pub(crate) fn build(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    let args = context.derivation.args.clone();
    let malformed = |what: &str| BuildError::Malformed(format!("signed release without {what}"));
    let Some(Value::Map(outputs)) = args.get("outputs") else {
        return Err(malformed("outputs"));
    };
    let key_text = args
        .get("key")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("a key"))?;
    let principal = args
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("a name"))?;
    let epoch = args
        .get("source_date_epoch")
        .and_then(Value::as_int)
        .unwrap_or(0);
    let key = imgbuild_provenance::SigningKey::from_openssh(
        key_text.as_bytes(),
        Path::new("the `key` secret"),
    )
    .map_err(|error| BuildError::Failed(format!("sign: the key of `{principal}`: {error}")))?;
    let scratch = context.store.scratch_directory()?;
    let directory = tempfile::Builder::new()
        .prefix("release-")
        .tempdir_in(&scratch)
        .map_err(|source| {
            BuildError::Failed(format!(
                "sign: a scratch directory in {}: {source}",
                scratch.display()
            ))
        })?;
    let meta = |mode: u32| Metadata {
        mtime: epoch,
        ..Metadata::with_mode(mode)
    };
    let mut release = Tree::new(meta(0o755));
    let mut described = Vec::new();
    for (name, value) in outputs {
        let Value::Input(index) = value else {
            return Err(malformed("an output reference"));
        };
        let input = context.input(*index)?.clone();
        let path = directory.path().join(name);
        let at =
            TreePath::parse(name).map_err(|error| BuildError::Failed(format!("sign: {error}")))?;
        match &input.record.object {
            OutputObject::File {
                blob,
                size,
                executable,
            } => {
                let record = OutputRecord {
                    secret: false,
                    ..input.record.clone()
                };
                context
                    .store
                    .materialize(&record, &path, &Default::default())?;
                let mode = if *executable { 0o755 } else { 0o644 };
                release
                    .insert(&at, Entry::file(*blob, *size, meta(mode)))
                    .map_err(tree_error)?;
            }
            OutputObject::Tree { tree } => {
                let loaded = context.store.load_tree(tree)?;
                write_plain_tree(context, &loaded, &path, &input.described())?;
                let mut entry = Entry::directory(meta(0o755));
                entry.kind = EntryKind::Directory(loaded.root_directory().clone());
                release.insert(&at, entry).map_err(tree_error)?;
            }
        }
        let mut output = imgbuild_provenance::describe_output(&path, name)
            .map_err(|error| BuildError::Failed(format!("sign: {error}")))?;
        output.name = name.clone();
        described.push(output);
    }
    let identity = |name: &str| match args.get("identities") {
        Some(Value::Map(map)) => map.get(name).and_then(Value::as_str).map(str::to_owned),
        _ => None,
    };
    let sbom = args.get("sbom").and_then(Value::as_str).and_then(|name| {
        described
            .iter()
            .find(|output| output.name == name)
            .map(|output| imgbuild_provenance::SbomReference {
                name: name.to_owned(),
                sha256: output.sha256.clone(),
            })
    });
    let release_name = args
        .get("release")
        .and_then(Value::as_str)
        .unwrap_or("release")
        .to_owned();
    let recipe = described.first().and_then(|output| identity(&output.name));
    let manifest = imgbuild_provenance::Manifest {
        format: imgbuild_provenance::FORMAT.to_owned(),
        name: release_name,
        outputs: described,
        recipe,
        lock_sha256: args
            .get("lock_sha256")
            .and_then(Value::as_str)
            .map(str::to_owned),
        sbom,
        source_date_epoch: Some(epoch),
        tool: format!("imgbuild {}", env!("CARGO_PKG_VERSION")),
    };
    let signature =
        imgbuild_provenance::sign_directory(directory.path(), &manifest, &key, principal)
            .map_err(|error| BuildError::Failed(format!("sign: {error}")))?;
    context.log_line(format!(
        "signed by `{principal}`: {} outputs",
        manifest.outputs.len()
    ));
    for path in [
        directory.path().join(imgbuild_provenance::MANIFEST_FILE),
        signature,
    ] {
        let bytes = std::fs::read(&path)
            .map_err(|source| BuildError::Failed(format!("sign: {}: {source}", path.display())))?;
        let info = context.store.put_blob(&bytes, false)?;
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let at =
            TreePath::parse(&name).map_err(|error| BuildError::Failed(format!("sign: {error}")))?;
        release
            .insert(&at, Entry::file(info.digest, info.size, meta(0o644)))
            .map_err(tree_error)?;
    }
    let tree = context.store.put_tree(&release)?;
    Ok(imgbuild_engine::tree_output(
        tree,
        context.derivation.secret,
    ))
}

fn tree_error(error: imgbuild_store::TreeError) -> BuildError {
    BuildError::Failed(format!("sign: {error}"))
}

/// Writes a tree's directories, files and symbolic links (not its owners) so that its
/// files can be hashed; anything else cannot be described by a manifest.
fn write_plain_tree(
    context: &BuildContext<'_>,
    tree: &Tree,
    destination: &Path,
    described: &str,
) -> Result<(), BuildError> {
    let failed = |path: &Path, source: std::io::Error| {
        BuildError::Failed(format!("sign: writing {}: {source}", path.display()))
    };
    std::fs::create_dir(destination).map_err(|source| failed(destination, source))?;
    for (path, entry) in tree.walk() {
        if path.is_root() {
            continue;
        }
        let target = destination.join(String::from_utf8_lossy(&path.to_bytes()).as_ref());
        match &entry.kind {
            EntryKind::Directory(_) => std::fs::create_dir(&target).map_err(|source| failed(&target, source))?,
            EntryKind::File { blob, size } => {
                let record = OutputRecord {
                    object: OutputObject::File { blob: *blob, size: *size, executable: entry.meta.mode & 0o111 != 0 },
                    secret: false,
                };
                context.store.materialize(&record, &target, &Default::default())?;
            }
            EntryKind::Symlink { target: link } => {
                std::os::unix::fs::symlink(String::from_utf8_lossy(link).as_ref(), &target)
                    .map_err(|source| failed(&target, source))?;
            }
            _ => {
                return Err(BuildError::Failed(format!(
                    "sign: {described} holds `/{}`, which is neither a file, a directory nor a symbolic link: \
                     sign files (disk images, ISOs, SBOMs) or trees of plain files such as an OCI image",
                    String::from_utf8_lossy(&path.to_bytes())
                )))
            }
        }
    }
    Ok(())
}
