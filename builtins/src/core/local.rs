//! `file(path)` and `dir(path)`: local sources, read relative to the recipe file.
//!
//! Both are fixed-output derivations: evaluation hashes the content and that hash is
//! the derivation's identity, so editing a file changes exactly the derivations that use
//! it, and moving the recipe directory changes nothing. The builder reads the source
//! again and refuses it if it changed in between.
//!
//! `dir` imports regular files, directories and symlinks with normalised metadata
//! (root-owned, 0644 / 0755 by the owner's execute bit, mtime 0): the host's ownership and
//! timestamps never leak into a build. Other file types are an error.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use imgbuild_evaluator::rhai::{Engine, EvalAltResult, ImmutableString, Map, NativeCallContext};
use imgbuild_evaluator::{
    ArgMap, BuiltinError, DerivationHandle, DerivationSpec, SharedState, Value,
};
use imgbuild_store::{BlobInfo, Entry, EntryKind, Metadata, OutputRecord, Tree, TreePath};

use imgbuild_engine::{BuildContext, BuildError};

/// Kind of `file(...)`.
pub const FILE_KIND: &str = "file";
/// Kind of `dir(...)`.
pub const DIR_KIND: &str = "dir";
pub(crate) const VERSION: u32 = 1;

pub(crate) fn register(engine: &mut Engine, registration: &crate::Registration) {
    let state = &registration.state;
    let plain = state.clone();
    engine.register_fn(
        "file",
        move |context: NativeCallContext,
              path: ImmutableString|
              -> Result<DerivationHandle, Box<EvalAltResult>> {
            file_derivation(&plain, &context, &path, None)
        },
    );
    let with_options = state.clone();
    engine.register_fn(
        "file",
        move |context: NativeCallContext,
              path: ImmutableString,
              options: Map|
              -> Result<DerivationHandle, Box<EvalAltResult>> {
            let options = ArgMap::new("file", options, &["executable"])?;
            let executable = options.optional_bool("executable")?;
            file_derivation(&with_options, &context, &path, executable)
        },
    );
    let directory = state.clone();
    engine.register_fn(
        "dir",
        move |context: NativeCallContext,
              path: ImmutableString|
              -> Result<DerivationHandle, Box<EvalAltResult>> {
            dir_derivation(&directory, &context, &path)
        },
    );
}

fn file_derivation(
    state: &SharedState,
    context: &NativeCallContext,
    path: &str,
    executable: Option<bool>,
) -> Result<DerivationHandle, Box<EvalAltResult>> {
    let resolved = state
        .local_path(context, path)
        .map_err(|error| crate::core::at_call(context, error))?;
    let (info, mode_executable, private) =
        hash_file(&resolved).map_err(|error| cannot_read("file", path, &resolved, error))?;
    let name = local_name(&resolved, "file");
    let mut args = BTreeMap::new();
    args.insert("size".to_owned(), Value::Int(info.size as i64));
    args.insert(
        "executable".to_owned(),
        Value::Bool(executable.unwrap_or(mode_executable)),
    );
    let content = ("blake3", info.digest.to_hex());
    let spec = local_spec(state, FILE_KIND, name, args, content, private, &resolved)?;
    Ok(state.add(context, spec))
}

/// The fixed-output derivation of a local source whose content identity is `content`
/// (argument name, hex digest). A source other users may not read (a key, a shadow
/// file) is secret: owner-only in the store and in result/, and its digest — which
/// would let anyone who sees the identity test guesses of its content — is sealed.
fn local_spec(
    state: &SharedState,
    kind: &'static str,
    name: String,
    mut args: BTreeMap<String, Value>,
    (key, digest): (&str, String),
    private: bool,
    resolved: &Path,
) -> Result<DerivationSpec, BuiltinError> {
    let digest = if private {
        Value::Secret(state.seal(digest)?)
    } else {
        Value::String(digest)
    };
    args.insert(key.to_owned(), digest);
    let location = Value::String(resolved.display().to_string());
    let mut spec = DerivationSpec::fixed(kind, VERSION, name, args, location);
    spec.secret = private;
    Ok(spec)
}

/// The derivation name of a local source: its file name.
fn local_name(resolved: &Path, fallback: &str) -> String {
    resolved
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| fallback.to_owned())
}

fn cannot_read(function: &str, path: &str, resolved: &Path, error: String) -> BuiltinError {
    BuiltinError::new(format!(
        "{function}: cannot read `{path}` ({}): {error}",
        resolved.display()
    ))
    .with_help("paths are relative to the recipe file that names them")
}

/// Content identity, size, owner-execute bit and "others may not read it" of a regular
/// file (the store's parallel, memory-mapped BLAKE3: the same digest the blob will
/// have). Files on the kernel's live file systems are refused.
fn hash_file(path: &Path) -> Result<(BlobInfo, bool, bool), String> {
    let metadata = std::fs::metadata(path).map_err(|error| error.to_string())?;
    if !metadata.is_file() {
        return Err("not a regular file".to_owned());
    }
    check_not_live(path)?;
    let info = imgbuild_store::hash_file(path).map_err(|error| error.to_string())?;
    let mode = metadata.permissions().mode();
    Ok((info, mode & 0o100 != 0, mode & 0o004 == 0))
}

/// File systems whose files are the running kernel's state (the process environment,
/// random numbers, hardware), not sources: reading one would put the machine into an
/// identity, breaking "no environment, no randomness".
const LIVE_FILE_SYSTEMS: &[(u64, &str)] = &[
    (0x9fa0, "procfs"),
    (0x6265_6572, "sysfs"),
    (0x1cd1, "devpts"),
    (0x7363_6673, "securityfs"),
    (0x6462_6720, "debugfs"),
    (0x7472_6163, "tracefs"),
    (0x6367_7270, "cgroup2"),
    (0x0027_e0eb, "cgroup"),
    (0xcafe_4a11, "bpf"),
    (0xde5e_81e4, "efivarfs"),
    (0x6265_6570, "configfs"),
    (0x6165_676c, "pstore"),
];

fn check_not_live(path: &Path) -> Result<(), String> {
    let statfs = rustix::fs::statfs(path).map_err(|error| error.to_string())?;
    #[allow(clippy::unnecessary_cast)] // the field's type differs between targets
    let kind = statfs.f_type as u64;
    match LIVE_FILE_SYSTEMS.iter().find(|(magic, _)| *magic == kind) {
        Some((_, name)) => Err(format!(
            "it is on {name}, the running kernel's live state, not a source file"
        )),
        None => Ok(()),
    }
}

/// One entry of a local directory, as seen at evaluation and again at build time.
#[derive(Debug, PartialEq, Eq)]
enum LocalEntry {
    Directory,
    File {
        blob: BlobInfo,
        executable: bool,
        /// Other users may not read it: the whole directory is then secret.
        private: bool,
    },
    Symlink {
        target: Vec<u8>,
    },
}

/// How a scan learns a file's content identity: hashing it (evaluation) or importing
/// it into the store (build), so that the build reads each file once.
type Content<'a> = &'a mut dyn FnMut(&Path) -> Result<BlobInfo, String>;

fn scan(root: &Path, content: Content<'_>) -> Result<BTreeMap<String, LocalEntry>, String> {
    let mut entries = BTreeMap::new();
    let metadata = std::fs::metadata(root).map_err(|error| error.to_string())?;
    if !metadata.is_dir() {
        return Err("not a directory".to_owned());
    }
    scan_into(root, "", &mut entries, content)?;
    Ok(entries)
}

fn scan_into(
    directory: &Path,
    prefix: &str,
    entries: &mut BTreeMap<String, LocalEntry>,
    content: Content<'_>,
) -> Result<(), String> {
    let reader = std::fs::read_dir(directory)
        .map_err(|error| format!("{}: {error}", directory.display()))?;
    let mut children: Vec<_> = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("{}: {error}", directory.display()))?;
    children.sort_by_key(|child| child.file_name());
    for child in children {
        let name = child.file_name();
        let Some(name) = name.to_str() else {
            return Err(format!(
                "{}: file name is not UTF-8",
                child.path().display()
            ));
        };
        let relative = if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}/{name}")
        };
        let path = child.path();
        let metadata = std::fs::symlink_metadata(&path)
            .map_err(|error| format!("{}: {error}", path.display()))?;
        let file_type = metadata.file_type();
        if file_type.is_symlink() {
            let target = std::fs::read_link(&path)
                .map_err(|error| format!("{}: {error}", path.display()))?;
            entries.insert(
                relative,
                LocalEntry::Symlink {
                    target: target.into_os_string().into_encoded_bytes(),
                },
            );
        } else if file_type.is_dir() {
            entries.insert(relative.clone(), LocalEntry::Directory);
            scan_into(&path, &relative, entries, content)?;
        } else if file_type.is_file() {
            let blob = content(&path).map_err(|error| format!("{}: {error}", path.display()))?;
            let mode = metadata.permissions().mode();
            entries.insert(
                relative,
                LocalEntry::File {
                    blob,
                    executable: mode & 0o100 != 0,
                    private: mode & 0o004 == 0,
                },
            );
        } else {
            return Err(format!(
                "{}: only files, directories and symlinks can be imported",
                path.display()
            ));
        }
    }
    Ok(())
}

fn listing_hash(entries: &BTreeMap<String, LocalEntry>) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"imgbuild-dir-listing-v1\0");
    for (path, entry) in entries {
        hasher.update(&(path.len() as u64).to_le_bytes());
        hasher.update(path.as_bytes());
        match entry {
            LocalEntry::Directory => {
                hasher.update(&[0]);
            }
            LocalEntry::File {
                blob, executable, ..
            } => {
                hasher.update(&[1, u8::from(*executable)]);
                hasher.update(&blob.size.to_le_bytes());
                hasher.update(blob.digest.as_bytes());
            }
            LocalEntry::Symlink { target } => {
                hasher.update(&[2]);
                hasher.update(&(target.len() as u64).to_le_bytes());
                hasher.update(target);
            }
        }
    }
    hasher.finalize().to_hex().to_string()
}

fn dir_derivation(
    state: &SharedState,
    context: &NativeCallContext,
    path: &str,
) -> Result<DerivationHandle, Box<EvalAltResult>> {
    let resolved = state
        .local_path(context, path)
        .map_err(|error| crate::core::at_call(context, error))?;
    check_not_live(&resolved).map_err(|error| cannot_read("dir", path, &resolved, error))?;
    let mut hash = |file: &Path| imgbuild_store::hash_file(file).map_err(|error| error.to_string());
    let entries =
        scan(&resolved, &mut hash).map_err(|error| cannot_read("dir", path, &resolved, error))?;
    let name = local_name(&resolved, "dir");
    let private = entries
        .values()
        .any(|entry| matches!(entry, LocalEntry::File { private: true, .. }));
    let mut args = BTreeMap::new();
    args.insert("entries".to_owned(), Value::Int(entries.len() as i64));
    // A directory holding a file other users may not read is secret as a whole.
    let content = ("listing", listing_hash(&entries));
    let spec = local_spec(state, DIR_KIND, name, args, content, private, &resolved)?;
    Ok(state.add(context, spec))
}

fn location(context: &BuildContext<'_>) -> Result<PathBuf, BuildError> {
    context
        .derivation
        .location
        .as_ref()
        .and_then(Value::as_str)
        .map(PathBuf::from)
        .ok_or_else(|| BuildError::Malformed("local source without a location".to_owned()))
}

fn expected(context: &BuildContext<'_>, key: &str) -> Result<String, BuildError> {
    context
        .derivation
        .args
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| BuildError::Malformed(format!("missing `{key}`")))
}

pub(crate) fn build_file(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    let path = location(context)?;
    let expected = expected(context, "blake3")?;
    let executable = context
        .derivation
        .args
        .get("executable")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let secret = context.derivation.secret;
    let info = context.store.import_file(&path, secret)?;
    if info.digest.to_string() != expected {
        return Err(BuildError::SourceChanged {
            path,
            expected,
            found: info.digest.to_string(),
        });
    }
    context.log_line(format!("imported {} ({} bytes)", path.display(), info.size));
    Ok(imgbuild_engine::file_output(&info, executable, secret))
}

pub(crate) fn build_dir(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    let root = location(context)?;
    let expected = expected(context, "listing")?;
    // Each file is imported while scanning: read once, and the listing is then
    // checked against what evaluation saw.
    let store = context.store;
    let secret = context.derivation.secret;
    let mut import = |file: &Path| {
        store
            .import_file(file, secret)
            .map_err(|error| error.to_string())
    };
    let entries = scan(&root, &mut import).map_err(|error| BuildError::Read {
        path: root.clone(),
        source: std::io::Error::other(error),
    })?;
    let found = listing_hash(&entries);
    if found != expected {
        return Err(BuildError::SourceChanged {
            path: root,
            expected,
            found,
        });
    }
    let mut tree = Tree::new(Metadata::default_directory());
    for (relative, entry) in &entries {
        let tree_path =
            TreePath::parse(relative).map_err(|error| BuildError::Failed(error.to_string()))?;
        let (kind, mode) = match entry {
            LocalEntry::Directory => (EntryKind::Directory(Default::default()), 0o755),
            LocalEntry::Symlink { target } => (
                EntryKind::Symlink {
                    target: target.clone(),
                },
                0o777,
            ),
            LocalEntry::File {
                blob, executable, ..
            } => (
                EntryKind::File {
                    blob: blob.digest,
                    size: blob.size,
                },
                if *executable { 0o755 } else { 0o644 },
            ),
        };
        let meta = Metadata {
            mode,
            ..Metadata::default_directory()
        };
        tree.insert(&tree_path, Entry { kind, meta })
            .map_err(|error| BuildError::Failed(error.to_string()))?;
    }
    let digest = context.store.put_tree(&tree)?;
    context.log_line(format!(
        "imported {} ({} entries)",
        root.display(),
        entries.len()
    ));
    Ok(imgbuild_engine::tree_output(digest, secret))
}
