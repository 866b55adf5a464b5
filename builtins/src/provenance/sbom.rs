//! `sbom::spdx(subject)`: a software bill of materials (SPDX 2.3 JSON) of a package set,
//! a root filesystem, a disk image or an OCI image.
//!
//! ```rhai
//! let bom = sbom::spdx(disk);                                // result/NAME.spdx.json
//! let bom = sbom::spdx(root, #{ name: "web-root", source_date_epoch: 1700000000 });
//! ```
//!
//! At evaluation the constructor finds the tree the subject is made of
//! ([`super::content_root`]: a disk image's root filesystem, an OCI image's root) and
//! copies the lock's pins of every `debian::packages` set in that tree's closure into its
//! arguments (name, version, architecture, the `.deb`'s SHA-256 and size, its pool path
//! and suite). The builder reads the tree's dpkg database (`var/lib/dpkg/status`, the
//! `info/*.list` files), each installed package's `usr/share/doc/PKG/copyright`, and
//! hashes every regular file no package lists (overlays, the first-boot agent, files
//! made at configuration time); the database itself (`var/lib/dpkg/`) is what the
//! document is made from and is not listed file by file. `imgbuild-sbom` writes the
//! document: the same tree and pins give the same bytes.
//!
//! Paths in `*.list` files are as the packages ship them (`/bin/ls`); on a merged-`/usr`
//! root they are matched through the root's top-level symbolic links (`bin` →
//! `usr/bin`).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use imgbuild_engine::{BuildContext, BuildError};
use imgbuild_evaluator::rhai::{Engine, EvalAltResult, Map, Module, NativeCallContext};
use imgbuild_evaluator::{
    ArgMap, BuiltinError, DerivationHandle, DerivationSpec, SharedState, Value,
};
use imgbuild_store::{Digest, Entry, EntryKind, OutputObject, OutputRecord, Tree, TreePath};
use sha2::Digest as _;

use crate::debian::arguments::{Contents, Locations, PackageSet};

/// The SPDX 2.3 JSON document's derivation kind.
pub const SPDX_KIND: &str = "sbom_spdx";
pub(crate) const VERSION: u32 = 1;

const KEYS: &[&str] = &["name", "source_date_epoch"];

/// The dpkg database, which the document is made from (not listed file by file).
const DPKG_DATABASE: &str = "var/lib/dpkg";

pub(crate) fn register(engine: &mut Engine, registration: &crate::Registration) {
    let mut module = Module::new();
    let state = registration.state.clone();
    module.set_native_fn(
        "spdx",
        move |context: NativeCallContext,
              subject: DerivationHandle|
              -> Result<DerivationHandle, Box<EvalAltResult>> {
            sbom(&state, &context, subject, Map::new())
                .map_err(|error| crate::core::at_call(&context, error))
        },
    );
    let state = registration.state.clone();
    module.set_native_fn(
        "spdx",
        move |context: NativeCallContext,
              subject: DerivationHandle,
              options: Map|
              -> Result<DerivationHandle, Box<EvalAltResult>> {
            sbom(&state, &context, subject, options)
                .map_err(|error| crate::core::at_call(&context, error))
        },
    );
    engine.register_static_module("sbom", module.into());
}

fn sbom(
    state: &SharedState,
    context: &NativeCallContext,
    subject: DerivationHandle,
    options: Map,
) -> Result<DerivationHandle, BuiltinError> {
    let function = "sbom::spdx";
    let arguments = ArgMap::new(function, options, KEYS)?;
    let name = match arguments.optional_string("name")? {
        Some(name) => name,
        None => state.derivation_name(subject),
    };
    crate::core::paths::check_name(function, &name)?;
    let (root, pins, epoch) = {
        let graph = state.graph();
        let root = super::content_root(&graph, subject.id);
        let closure = graph.closure(&[root]);
        let mut pins = Vec::new();
        let mut epoch = None;
        for id in std::iter::once(subject.id).chain(closure.iter().copied()) {
            let derivation = &graph.node(id).derivation;
            if epoch.is_none() {
                epoch = derivation
                    .args
                    .get("source_date_epoch")
                    .and_then(Value::as_int);
            }
            if derivation.kind == crate::debian::KIND {
                pins.extend(set_pins(derivation).map_err(|message| {
                    BuiltinError::new(format!(
                        "{function}: the package set `{}` cannot be read: {message}",
                        derivation.name
                    ))
                })?);
            }
        }
        (root, pins, epoch)
    };
    let epoch = match arguments.optional_int("source_date_epoch")? {
        Some(epoch) if epoch >= 0 => epoch,
        Some(epoch) => {
            return Err(BuiltinError::new(format!(
                "{function}: `source_date_epoch` {epoch} is negative"
            )))
        }
        None => epoch.unwrap_or(0),
    };
    let mut inputs = imgbuild_evaluator::Inputs::new();
    let mut args = BTreeMap::new();
    args.insert("root".to_owned(), inputs.reference(root));
    args.insert("name".to_owned(), Value::String(name.clone()));
    args.insert("pins".to_owned(), Value::List(pins));
    args.insert("source_date_epoch".to_owned(), Value::Int(epoch));
    args.insert("tool".to_owned(), Value::String(tool()));
    Ok(state.add(
        context,
        DerivationSpec::derived(SPDX_KIND, VERSION, name, args, inputs),
    ))
}

/// The tool named in documents: this imgbuild's version.
fn tool() -> String {
    format!("imgbuild-{}", env!("CARGO_PKG_VERSION"))
}

/// A package set's pins as `[name, version, architecture, sha256, size, filename, suite]`.
fn set_pins(derivation: &imgbuild_evaluator::Derivation) -> Result<Vec<Value>, String> {
    let set = PackageSet::from_args(&derivation.args)?;
    let Contents::Pinned(packages) = set.contents else {
        // Not locked yet: the evaluation has a pending request and nothing is built.
        return Ok(Vec::new());
    };
    let locations = match &derivation.location {
        Some(location) => Locations::from_value(location)?,
        None => Locations::default(),
    };
    Ok(packages
        .iter()
        .enumerate()
        .map(|(index, package)| {
            let file = locations.files.get(index);
            let suite = file
                .and_then(|file| locations.suites.get(file.repository))
                .cloned()
                .unwrap_or_default();
            Value::List(vec![
                Value::String(package.name.clone()),
                Value::String(package.version.clone()),
                Value::String(package.architecture.clone()),
                Value::String(package.sha256.clone()),
                Value::Int(i64::try_from(package.size).unwrap_or(i64::MAX)),
                Value::String(file.map(|file| file.filename.clone()).unwrap_or_default()),
                Value::String(suite),
            ])
        })
        .collect())
}

fn read_pins(value: Option<&Value>) -> Result<Vec<imgbuild_sbom::Pin>, BuildError> {
    let malformed = || BuildError::Malformed("sbom: malformed `pins`".to_owned());
    let list = value.and_then(Value::as_list).ok_or_else(malformed)?;
    list.iter()
        .map(|pin| {
            let fields = pin.as_list().ok_or_else(malformed)?;
            let text = |index: usize| {
                fields
                    .get(index)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(malformed)
            };
            Ok(imgbuild_sbom::Pin {
                name: text(0)?,
                version: text(1)?,
                architecture: text(2)?,
                sha256: text(3)?,
                size: fields
                    .get(4)
                    .and_then(Value::as_int)
                    .and_then(|size| u64::try_from(size).ok())
                    .ok_or_else(malformed)?,
                filename: text(5)?,
                suite: text(6)?,
            })
        })
        .collect()
}

pub(crate) fn build_spdx(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    let args = &context.derivation.args;
    let Some(Value::Input(index)) = args.get("root") else {
        return Err(BuildError::Malformed("sbom without a root".to_owned()));
    };
    let input = context.input(*index)?.clone();
    let OutputObject::Tree { tree } = input.record.object else {
        return Err(BuildError::Failed(format!(
            "sbom: {} is a file, not a tree: give a package set, a root filesystem, a disk image or an OCI image",
            input.described()
        )));
    };
    let text = |key: &str| {
        args.get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| BuildError::Malformed(format!("sbom without `{key}`")))
    };
    let loaded = context.store.load_tree(&tree)?;
    let status = read_text(context, &loaded, "var/lib/dpkg/status")?.unwrap_or_default();
    let installed = imgbuild_sbom::installed_packages(&status).map_err(|error| {
        BuildError::Failed(format!(
            "sbom: {}: var/lib/dpkg/status: {error}",
            input.described()
        ))
    })?;
    let mut copyrights = BTreeMap::new();
    for package in &installed {
        let path = format!("usr/share/doc/{}/copyright", package.name);
        if let Some(text) = read_text(context, &loaded, &path)? {
            copyrights.insert(package.name.clone(), text);
        }
    }
    let owned = owned_paths(context, &loaded)?;
    let files = unowned_files(context, &loaded, &owned)?;
    context.log_line(format!(
        "{} installed packages, {} files no package owns",
        installed.len(),
        files.len()
    ));
    let document = imgbuild_sbom::SbomInput {
        name: text("name")?,
        subject: tree.to_string(),
        source_date_epoch: args
            .get("source_date_epoch")
            .and_then(Value::as_int)
            .unwrap_or(0),
        tool: text("tool")?,
        status,
        pins: read_pins(args.get("pins"))?,
        copyrights,
        files,
    };
    let bytes = imgbuild_sbom::spdx_json(&document)
        .map_err(|error| BuildError::Failed(format!("sbom of {}: {error}", input.described())))?;
    let secret = context.derivation.secret || input.record.secret;
    let info = context.store.put_blob(&bytes, secret)?;
    Ok(imgbuild_engine::file_output(&info, false, secret))
}

/// Follows symbolic links inside the tree (relative or absolute, at most 40) to the
/// entry `path` names.
fn resolve<'a>(tree: &'a Tree, path: &str) -> Option<&'a Entry> {
    let mut components: Vec<String> = Vec::new();
    let mut pending: Vec<String> = path.split('/').rev().map(str::to_owned).collect();
    let mut links = 0;
    while let Some(component) = pending.pop() {
        match component.as_str() {
            "" | "." => continue,
            ".." => {
                components.pop();
                continue;
            }
            _ => components.push(component),
        }
        let here = TreePath::parse(&components.join("/")).ok()?;
        if let Some(Entry {
            kind: EntryKind::Symlink { target },
            ..
        }) = tree.get(&here)
        {
            links += 1;
            if links > 40 {
                return None;
            }
            components.pop();
            let target = String::from_utf8_lossy(target).into_owned();
            if target.starts_with('/') {
                components.clear();
            }
            pending.extend(target.split('/').rev().map(str::to_owned));
        }
    }
    tree.get(&TreePath::parse(&components.join("/")).ok()?)
}

/// The text of a file of the tree, `None` when it does not exist.
fn read_text(
    context: &BuildContext<'_>,
    tree: &Tree,
    path: &str,
) -> Result<Option<String>, BuildError> {
    match resolve(tree, path) {
        Some(Entry {
            kind: EntryKind::File { blob, .. },
            ..
        }) => {
            let bytes = context.store.read_blob(blob)?;
            Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
        }
        _ => Ok(None),
    }
}

/// Every path the dpkg database's `info/*.list` files name, as paths of this tree
/// (without the leading `/`, through the root's top-level symbolic links).
fn owned_paths(context: &BuildContext<'_>, tree: &Tree) -> Result<HashSet<String>, BuildError> {
    let aliases: BTreeMap<String, String> = tree
        .root_directory()
        .entries
        .iter()
        .filter_map(|(name, entry)| match &entry.kind {
            EntryKind::Symlink { target } => Some((
                String::from_utf8_lossy(name.as_bytes()).into_owned(),
                String::from_utf8_lossy(target)
                    .trim_start_matches('/')
                    .to_owned(),
            )),
            _ => None,
        })
        .collect();
    let mut owned = HashSet::new();
    let Some(info) = TreePath::parse(&format!("{DPKG_DATABASE}/info"))
        .ok()
        .and_then(|path| tree.directory(&path))
    else {
        return Ok(owned);
    };
    for (name, entry) in &info.entries {
        let EntryKind::File { blob, .. } = &entry.kind else {
            continue;
        };
        if !name.as_bytes().ends_with(b".list") {
            continue;
        }
        let list = String::from_utf8_lossy(&context.store.read_blob(blob)?).into_owned();
        for path in imgbuild_sbom::listed_paths(&list) {
            let path = path.trim_start_matches('/');
            let (first, rest) = path.split_once('/').unwrap_or((path, ""));
            match aliases.get(first) {
                Some(target) if !rest.is_empty() => owned.insert(format!("{target}/{rest}")),
                _ => owned.insert(path.to_owned()),
            };
        }
    }
    Ok(owned)
}

/// Regular files (and the first name of hard-linked ones) no package lists, with their
/// SHA-1 and SHA-256, sorted by path.
fn unowned_files(
    context: &BuildContext<'_>,
    tree: &Tree,
    owned: &HashSet<String>,
) -> Result<Vec<imgbuild_sbom::FileRecord>, BuildError> {
    let mut wanted: BTreeSet<(String, Digest, u64)> = BTreeSet::new();
    for (path, entry) in tree.walk() {
        let EntryKind::File { blob, size } = &entry.kind else {
            continue;
        };
        let text = String::from_utf8_lossy(&path.to_bytes()).into_owned();
        let text = text.trim_start_matches('/').to_owned();
        if text.starts_with(&format!("{DPKG_DATABASE}/")) || owned.contains(&text) {
            continue;
        }
        wanted.insert((text, *blob, *size));
    }
    wanted
        .into_iter()
        .map(|(path, blob, size)| {
            let bytes = context.store.read_blob(&blob)?;
            Ok(imgbuild_sbom::FileRecord {
                path: format!("/{path}"),
                size,
                sha1: hex::encode(sha1::Sha1::digest(&bytes)),
                sha256: hex::encode(sha2::Sha256::digest(&bytes)),
            })
        })
        .collect()
}
