//! `iso::image(#{ label, tree, source_date_epoch })`: any tree as an ISO 9660 image with
//! Joliet and Rock Ridge (modes, owners, symlinks and exact names preserved).
//!
//! The label is checked at evaluation; the tree's names are checked when the image is
//! built, and a name the medium cannot carry (longer than Joliet's 64 characters, or
//! with a character Joliet forbids) fails the build with its path — names are never
//! silently changed. Devices and fifos cannot be put on an ISO and are errors too.
//! Hard links share one extent. File contents are streamed from the store.

use std::collections::BTreeMap;

use imgbuild_evaluator::rhai::{Engine, Map, Module};
use imgbuild_evaluator::{
    ArgMap, BuiltinError, DerivationHandle, DerivationSpec, Inputs, SharedState, Value,
};
use imgbuild_iso::{Attributes, Content, Directory, File, Label, Name, Node, Symlink, Volume};
use imgbuild_store::{Digest, Entry, EntryKind, OutputObject, OutputRecord, Tree};

use crate::media::{self, argument_error};
use imgbuild_engine::{BuildContext, BuildError};

/// Kind of `iso::image`.
pub const KIND: &str = "iso_image";
pub(crate) const VERSION: u32 = 1;
const KEYS: &[&str] = &["label", "tree", "name", "source_date_epoch", "secret"];

pub(crate) fn register(engine: &mut Engine, registration: &crate::Registration) {
    let state = &registration.state;
    let mut module = Module::new();
    media::add_constructor(&mut module, state, "image", spec);
    engine.register_static_module("iso", module.into());
}

fn spec(state: &SharedState, options: Map) -> Result<DerivationSpec, BuiltinError> {
    let arguments: ArgMap = media::arguments("iso::image", options, KEYS)?;
    let label = arguments.required_string("label")?;
    Label::new(&label).map_err(|error| argument_error(&arguments, "label", error))?;
    let tree = arguments.required("tree")?;
    let Some(handle) = tree.read_lock::<DerivationHandle>().map(|handle| *handle) else {
        return Err(argument_error(
            &arguments,
            "tree",
            format!(
                "must be a derivation (e.g. `tree(#{{...}})` or `dir(\"path\")`), not {}",
                media::describe(tree)
            ),
        ));
    };
    let mut inputs = Inputs::new();
    let mut args = BTreeMap::new();
    args.insert("label".to_owned(), Value::String(label.clone()));
    args.insert("tree".to_owned(), inputs.reference(handle.id));
    args.insert(
        "source_date_epoch".to_owned(),
        Value::Int(media::epoch(&arguments)?),
    );
    let name = arguments
        .optional_string("name")?
        .unwrap_or_else(|| label.to_ascii_lowercase());
    crate::core::paths::check_name("iso::image", &name)?;
    let secret =
        media::forced_secret(&arguments)? || state.graph().node(handle.id).derivation.secret;
    let mut spec = DerivationSpec::derived(KIND, VERSION, name, args, inputs);
    spec.secret = secret;
    Ok(spec)
}

fn attributes(entry: &Entry) -> Attributes {
    Attributes {
        mode: entry.meta.mode & 0o7777,
        uid: entry.meta.uid,
        gid: entry.meta.gid,
    }
}

fn failed(path: &str, error: impl std::fmt::Display) -> BuildError {
    BuildError::Failed(format!("`/{path}`: {error}"))
}

/// Converts a store directory into an ISO directory; `blobs` collects the file contents
/// (the index is the extent key, so hard links and equal files share one extent).
fn convert(
    directory: &imgbuild_store::Directory,
    own: Attributes,
    prefix: &str,
    tree: &Tree,
    blobs: &mut Vec<Digest>,
    keys: &mut BTreeMap<Digest, u64>,
) -> Result<Directory, BuildError> {
    let mut converted = Directory::new(own);
    for (name, entry) in &directory.entries {
        let name_text = String::from_utf8_lossy(name.as_bytes()).into_owned();
        let path = if prefix.is_empty() {
            name_text.clone()
        } else {
            format!("{prefix}/{name_text}")
        };
        if std::str::from_utf8(name.as_bytes()).is_err() {
            return Err(failed(
                &path,
                "the name is not UTF-8, which Joliet cannot carry",
            ));
        }
        let iso_name = Name::new(&name_text).map_err(|error| failed(&path, error))?;
        let mut content = |blob: &Digest, size: u64| {
            let next = blobs.len() as u64;
            let key = *keys.entry(*blob).or_insert(next);
            if key == next {
                blobs.push(*blob);
            }
            Content::External { key, size }
        };
        let node = match &entry.kind {
            EntryKind::File { blob, size } => Node::File(File {
                content: content(blob, *size),
                attributes: attributes(entry),
            }),
            EntryKind::Hardlink { target } => match tree.get(target).map(|target| &target.kind) {
                Some(EntryKind::File { blob, size }) => Node::File(File {
                    content: content(blob, *size),
                    attributes: attributes(entry),
                }),
                _ => {
                    return Err(failed(
                        &path,
                        "a hard link whose target is not a regular file",
                    ))
                }
            },
            EntryKind::Symlink { target } => Node::Symlink(Symlink {
                target: String::from_utf8(target.clone())
                    .map_err(|_| failed(&path, "the link target is not UTF-8"))?,
                attributes: attributes(entry),
            }),
            EntryKind::Directory(children) => Node::Directory(convert(
                children,
                attributes(entry),
                &path,
                tree,
                blobs,
                keys,
            )?),
            EntryKind::CharDevice { .. } | EntryKind::BlockDevice { .. } | EntryKind::Fifo => {
                return Err(failed(
                    &path,
                    "devices and fifos cannot be put on an ISO image",
                ))
            }
        };
        converted.entries.insert(iso_name, node);
    }
    Ok(converted)
}

pub(crate) fn build(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    let args = &context.derivation.args;
    let label = args
        .get("label")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let label = Label::new(label).map_err(|error| BuildError::Failed(error.to_string()))?;
    let epoch = args
        .get("source_date_epoch")
        .and_then(Value::as_int)
        .unwrap_or(0);
    let Some(Value::Input(index)) = args.get("tree") else {
        return Err(BuildError::Malformed(
            "iso::image without a tree".to_owned(),
        ));
    };
    let input = context.input(*index)?.clone();
    let OutputObject::Tree { tree } = input.record.object else {
        return Err(BuildError::Failed(format!(
            "`{}` is a file, not a tree; iso::image needs a tree",
            input.name
        )));
    };
    let tree = context.store.load_tree(&tree)?;
    let mut blobs = Vec::new();
    let mut keys = BTreeMap::new();
    let root_attributes = Attributes {
        mode: tree.root_meta().mode & 0o7777,
        uid: tree.root_meta().uid,
        gid: tree.root_meta().gid,
    };
    let root = convert(
        tree.root_directory(),
        root_attributes,
        "",
        &tree,
        &mut blobs,
        &mut keys,
    )?;
    let volume = Volume {
        label,
        source_date_epoch: epoch,
        root,
    };
    let secret = context.derivation.secret;
    let store = context.store;
    let mut writer = store.blob_writer(secret)?;
    let mut failure = None;
    let written = imgbuild_iso::write_image(&volume, &mut writer, &mut |key, out| {
        let blob = blobs
            .get(key as usize)
            .ok_or_else(|| std::io::Error::other("unknown extent"))?;
        match store.read_blob(blob) {
            Ok(bytes) => out.write_all(&bytes),
            Err(error) => {
                let message = error.to_string();
                failure = Some(error);
                Err(std::io::Error::other(message))
            }
        }
    });
    if let Some(error) = failure {
        return Err(error.into());
    }
    let written = written.map_err(|error| BuildError::Failed(error.to_string()))?;
    let info = writer.finish()?;
    context.log_line(format!(
        "ISO 9660 image `{}`: {} files, {written} bytes",
        volume.label.as_str(),
        blobs.len()
    ));
    Ok(imgbuild_engine::file_output(&info, false, secret))
}
