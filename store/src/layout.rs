//! Where everything lives under the store root (layout `imgbuild-store-v2`, drawn in
//! the crate docs), and the one way to publish a file.
//!
//! Every file is written as a `.publish-XXXXXX` temporary in its destination's own
//! directory and renamed into place ([`publish_file`]), so a reader never sees a
//! half-written object, even if the writer is killed; GC removes temporaries a killed
//! writer left once they are old. Objects, output records and logs are fanned out by
//! the first hex digit of their digest ([`FAN_OUT`]): `x/<63 hex>`, 16 directories per
//! kind. Build locks are striped over 256 files named by the key's first byte
//! (`locks/build/xx.lock`). `VERSION` holds [`LAYOUT_VERSION`]; a store with another
//! value (the v1 layout fanned out over two hex digits) is refused, not converted.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::error::{IoResultExt, StoreError};
use crate::output::OutputIndex;

/// The contents of the `VERSION` file, without the trailing newline.
pub const LAYOUT_VERSION: &str = "imgbuild-store-v2";

/// Mode of a published object file (read-only for everybody).
pub(crate) const OBJECT_MODE: u32 = 0o444;
/// Mode of a published secret object file (owner only).
pub(crate) const SECRET_OBJECT_MODE: u32 = 0o400;
/// Mode of small mutable index files (output records, roots, logs).
pub(crate) const INDEX_MODE: u32 = 0o644;

/// The paths of one store.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    root: PathBuf,
}

/// Subdirectories created by [`Layout::create`].
const DIRECTORIES: &[&str] = &[
    "objects/blobs",
    "objects/chunks",
    "objects/trees",
    "outputs/cache-key",
    "outputs/recipe",
    "logs",
    "locks/build",
    "roots/explicit",
    "roots/auto",
    "tmp",
    "quarantine",
    "libraries",
    "remote",
];

impl Layout {
    /// Opens (creating if needed) the store directory at `root` and checks its version.
    pub(crate) fn create(root: &Path) -> Result<Layout, StoreError> {
        create_directories(root).at("create store directory", root)?;
        let root = fs::canonicalize(root).at("resolve store directory", root)?;
        check_not_shared(&root)?;
        let version_path = root.join("VERSION");
        match fs::read_to_string(&version_path) {
            Ok(text) => check_version(&version_path, &text)?,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                // A `.publish-*` file is another process creating the store right now (or
                // one that was killed doing so): not a foreign directory.
                let foreign = fs::read_dir(&root)
                    .at("list store directory", &root)?
                    .filter_map(Result::ok)
                    .any(|entry| !entry.file_name().to_string_lossy().starts_with(".publish-"));
                if foreign {
                    // Another process may have published VERSION since we looked.
                    if let Ok(text) = fs::read_to_string(&version_path) {
                        check_version(&version_path, &text)?;
                        return Self::finish_create(root);
                    }
                    return Err(StoreError::UnknownLayout {
                        path: version_path,
                        found: "nothing (no VERSION file, and the directory is not empty)"
                            .to_owned(),
                        expected: LAYOUT_VERSION,
                    });
                }
                let content = format!("{LAYOUT_VERSION}\n");
                let published = publish_file(&version_path, INDEX_MODE, false, |file| {
                    file.write_all(content.as_bytes())
                })?;
                if !published {
                    // Another process created the store at the same time.
                    let text = fs::read_to_string(&version_path).at("read", &version_path)?;
                    check_version(&version_path, &text)?;
                }
            }
            Err(error) => return Err(error).at("read", &version_path),
        }
        Self::finish_create(root)
    }

    fn finish_create(root: PathBuf) -> Result<Layout, StoreError> {
        make_private(&root)?;
        for directory in DIRECTORIES {
            let path = root.join(directory);
            create_directories(&path).at("create directory", &path)?;
            check_not_shared(&path)?;
        }
        Ok(Layout { root })
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Every directory that holds published files (where `.publish-*` temporaries may be left).
    pub(crate) fn published_directories(&self) -> Vec<PathBuf> {
        vec![
            self.root.clone(),
            self.blobs(),
            self.chunks(),
            self.trees(),
            self.outputs(OutputIndex::CacheKey),
            self.outputs(OutputIndex::Recipe),
            self.logs(),
            self.explicit_roots(),
            self.tmp(),
        ]
    }

    pub(crate) fn quarantine(&self) -> PathBuf {
        self.root.join("quarantine")
    }

    pub(crate) fn blobs(&self) -> PathBuf {
        self.root.join("objects/blobs")
    }

    pub(crate) fn chunks(&self) -> PathBuf {
        self.root.join("objects/chunks")
    }

    pub(crate) fn trees(&self) -> PathBuf {
        self.root.join("objects/trees")
    }

    pub(crate) fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }

    pub(crate) fn build_locks(&self) -> PathBuf {
        self.root.join("locks/build")
    }

    pub(crate) fn gc_lock(&self) -> PathBuf {
        self.root.join("locks/gc.lock")
    }

    pub(crate) fn explicit_roots(&self) -> PathBuf {
        self.root.join("roots/explicit")
    }

    pub(crate) fn auto_roots(&self) -> PathBuf {
        self.root.join("roots/auto")
    }

    pub(crate) fn blob(&self, digest: &Digest) -> PathBuf {
        fan_out(&self.blobs(), digest, "")
    }

    pub(crate) fn chunk(&self, digest: &Digest) -> PathBuf {
        fan_out(&self.chunks(), digest, "")
    }

    pub(crate) fn tree(&self, digest: &Digest) -> PathBuf {
        fan_out(&self.trees(), digest, "")
    }

    pub(crate) fn log(&self, key: &Digest) -> PathBuf {
        fan_out(&self.logs(), key, ".log")
    }

    pub(crate) fn outputs(&self, index: OutputIndex) -> PathBuf {
        self.root.join(match index {
            OutputIndex::CacheKey => "outputs/cache-key",
            OutputIndex::Recipe => "outputs/recipe",
        })
    }

    pub(crate) fn output(&self, index: OutputIndex, key: &Digest) -> PathBuf {
        fan_out(&self.outputs(index), key, "")
    }

    /// Build locks are striped over 256 files (by the key's first byte) rather than one
    /// file per key: creating a file per derivation cost more than building a small
    /// derivation. Two keys in one stripe merely build one after the other; a builder
    /// never holds two build locks, so striping cannot deadlock.
    pub(crate) fn build_lock(&self, key: &Digest) -> PathBuf {
        self.build_locks()
            .join(format!("{}.lock", &key.to_hex()[..2]))
    }
}

fn check_version(path: &Path, text: &str) -> Result<(), StoreError> {
    if text.trim_end() == LAYOUT_VERSION {
        Ok(())
    } else {
        Err(StoreError::UnknownLayout {
            path: path.to_path_buf(),
            found: text.trim_end().chars().take(80).collect(),
            expected: LAYOUT_VERSION,
        })
    }
}

/// Hex digits of a digest that name its fan-out directory. One digit: 16 directories
/// per kind. Creating a directory on ext4 costs as much as building a small
/// derivation, and 256 directories per kind made the skeleton of a fresh store a
/// third of a 1,000-seed build; 16 keep directories well inside what ext4's hashed
/// directories handle quickly even with millions of objects.
pub(crate) const FAN_OUT: usize = 1;

/// `directory/x/<remaining 63 hex><suffix>`.
pub(crate) fn fan_out(directory: &Path, digest: &Digest, suffix: &str) -> PathBuf {
    let hex = digest.to_hex();
    directory
        .join(&hex[..FAN_OUT])
        .join(format!("{}{suffix}", &hex[FAN_OUT..]))
}

/// Parses a fanned-out file name back into a digest (`x` + `rest`), if it is one.
pub(crate) fn digest_from_fan_out(prefix: &str, name: &str, suffix: &str) -> Option<Digest> {
    let rest = name.strip_suffix(suffix)?;
    if prefix.len() != FAN_OUT || rest.len() != 64 - FAN_OUT {
        return None;
    }
    let hex = format!("{prefix}{rest}");
    if hex.bytes().any(|byte| byte.is_ascii_uppercase()) {
        return None;
    }
    hex.parse().ok()
}

/// Prefix of the temporary files [`publish_file`] creates next to their destination.
pub(crate) const TEMPORARY_PREFIX: &str = ".publish-";

/// Writes a file through a temporary sibling and renames it to `destination`.
///
/// The temporary file lives in the destination's own directory
/// (`.publish-XXXXXX`): a rename within one directory does not take the
/// filesystem-wide cross-directory rename lock, which serialised parallel chunk
/// writers when temporaries lived in `tmp/`. It is removed if anything fails, so
/// nothing partial is ever visible at `destination`; a killed writer leaves a
/// `.publish-*` file that GC removes once it is old. With `replace == false` an
/// existing destination is kept and `Ok(false)` is returned; this is how
/// concurrent writers of the same content-addressed object all succeed. Missing
/// parent directories are created.
pub(crate) fn publish_file(
    destination: &Path,
    mode: u32,
    replace: bool,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<bool, StoreError> {
    let directory = match destination.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let builder = {
        let mut builder = tempfile::Builder::new();
        builder.prefix(TEMPORARY_PREFIX);
        builder
    };
    let mut temporary = match builder.tempfile_in(directory) {
        Ok(temporary) => temporary,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            create_directories(directory).at("create directory", directory)?;
            builder
                .tempfile_in(directory)
                .at("create a temporary file in", directory)?
        }
        Err(error) => return Err(error).at("create a temporary file in", directory),
    };
    write(temporary.as_file_mut()).at("write", temporary.path())?;
    temporary
        .as_file()
        .set_permissions(fs::Permissions::from_mode(mode))
        .at("set permissions of", temporary.path())?;
    let mut created_parent = false;
    loop {
        let result = if replace {
            temporary.persist(destination)
        } else {
            temporary.persist_noclobber(destination)
        };
        match result {
            Ok(_) => return Ok(true),
            Err(error) if error.error.kind() == io::ErrorKind::AlreadyExists && !replace => {
                return Ok(false);
            }
            Err(error) if error.error.kind() == io::ErrorKind::NotFound && !created_parent => {
                temporary = error.file;
                created_parent = true;
                if let Some(parent) = destination.parent() {
                    create_directories(parent).at("create directory", parent)?;
                }
            }
            Err(error) => return Err(error.error).at("publish", destination),
        }
    }
}

/// Mode of every store directory below the root, whatever the umask: writable by the
/// owner only (the root itself is [`ROOT_MODE`]).
pub(crate) const DIRECTORY_MODE: u32 = 0o755;

/// Creates `path` and its missing parents with [`DIRECTORY_MODE`] whatever the umask
/// (a umask of 000 would otherwise give a world-writable store, in which another user
/// could replace output records). Directories that exist are left as they are.
pub(crate) fn create_directories(path: &Path) -> io::Result<()> {
    match fs::create_dir(path) {
        Ok(()) => fs::set_permissions(path, fs::Permissions::from_mode(DIRECTORY_MODE)),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            match path.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => create_directories(parent)?,
                _ => return Err(error),
            }
            match fs::create_dir(path) {
                Ok(()) => fs::set_permissions(path, fs::Permissions::from_mode(DIRECTORY_MODE)),
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(()),
                Err(error) => Err(error),
            }
        }
        Err(error) => Err(error),
    }
}

/// Mode of the store's root directory: only the owner may enter. Object file names are
/// BLAKE3 digests of their content; for a secret (a password file, a key) that would be
/// an offline oracle, so other users must not be able to list or probe them. Results
/// are copies, so other users can still read what is materialized for them.
pub(crate) const ROOT_MODE: u32 = 0o700;

/// Gives the store root [`ROOT_MODE`] (also tightening a store made before this rule).
fn make_private(root: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::MetadataExt;
    let metadata = fs::metadata(root).at("inspect", root)?;
    if metadata.mode() & 0o077 != 0 {
        fs::set_permissions(root, fs::Permissions::from_mode(ROOT_MODE))
            .at("make owner-only", root)?;
    }
    Ok(())
}

/// Refuses a store directory that someone other than this user and root can write:
/// group- or world-writable, or owned by another ordinary user. Whoever can write the
/// store decides what every build returns.
fn check_not_shared(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::MetadataExt;
    let metadata = fs::metadata(path).at("inspect", path)?;
    let user = rustix::process::geteuid().as_raw();
    let owner = metadata.uid();
    let mode = metadata.mode() & 0o7777;
    let problem = if owner != user && owner != 0 {
        Some(format!(
            "it belongs to user {owner}, not to this user ({user})"
        ))
    } else if mode & 0o022 != 0 {
        Some(format!(
            "its mode is {mode:04o}: other users can write to it"
        ))
    } else {
        None
    };
    match problem {
        Some(problem) => Err(StoreError::SharedStore {
            path: path.to_path_buf(),
            problem,
        }),
        None => Ok(()),
    }
}

/// Whether `path` exists (without following a final symlink).
pub(crate) fn exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// Removes a file; a missing file is not an error. Returns the bytes freed.
pub(crate) fn remove_file_if_exists(path: &Path) -> Result<u64, StoreError> {
    let size = match fs::symlink_metadata(path) {
        Ok(metadata) => metadata.len(),
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(error) => return Err(error).at("inspect", path),
    };
    match fs::remove_file(path) {
        Ok(()) => Ok(size),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(error) => Err(error).at("remove", path),
    }
}

/// Removes `.publish-*` temporaries older than `max_age` under `directory` and its
/// `x/` fan-out subdirectories. Returns the number removed and their size.
pub(crate) fn remove_stale_temporaries(
    directory: &Path,
    max_age: std::time::Duration,
) -> Result<(u64, u64), StoreError> {
    let now = std::time::SystemTime::now();
    let mut removed = (0, 0);
    let mut directories = vec![directory.to_path_buf()];
    for name in sorted_names(directory)? {
        // A one-character file (a root named `a`, say) is not a fan-out directory.
        if name.len() == FAN_OUT && directory.join(&name).is_dir() {
            directories.push(directory.join(name));
        }
    }
    for directory in directories {
        for name in sorted_names(&directory)? {
            if !name.starts_with(TEMPORARY_PREFIX) {
                continue;
            }
            let path = directory.join(name);
            let Ok(metadata) = fs::symlink_metadata(&path) else {
                continue;
            };
            let age = metadata
                .modified()
                .ok()
                .and_then(|modified| now.duration_since(modified).ok())
                .unwrap_or_default();
            if age >= max_age && metadata.is_file() {
                removed.1 += remove_file_if_exists(&path)?;
                removed.0 += 1;
            }
        }
    }
    Ok(removed)
}

/// Lists the fanned-out files under `directory` as `(digest, path)`, ignoring anything else.
pub(crate) fn list_fanned_out(
    directory: &Path,
    suffix: &str,
) -> Result<Vec<(Digest, PathBuf)>, StoreError> {
    let mut found = Vec::new();
    for prefix in sorted_names(directory)? {
        let prefix_path = directory.join(&prefix);
        if !prefix_path.is_dir() {
            continue;
        }
        for name in sorted_names(&prefix_path)? {
            if let Some(digest) = digest_from_fan_out(&prefix, &name, suffix) {
                found.push((digest, prefix_path.join(name)));
            }
        }
    }
    Ok(found)
}

/// The UTF-8 names in `directory`, sorted; a missing directory is empty.
pub(crate) fn sorted_names(directory: &Path) -> Result<Vec<String>, StoreError> {
    let entries = match fs::read_dir(directory) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error).at("list directory", directory),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.at("list directory", directory)?;
        if let Ok(name) = entry.file_name().into_string() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fan_out_round_trips() {
        let digest = Digest::of(b"layout");
        let path = fan_out(Path::new("/s"), &digest, ".log");
        let hex = digest.to_hex();
        assert_eq!(
            path,
            Path::new("/s")
                .join(&hex[..FAN_OUT])
                .join(format!("{}.log", &hex[FAN_OUT..]))
        );
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .expect("name");
        assert_eq!(
            digest_from_fan_out(&hex[..FAN_OUT], name, ".log"),
            Some(digest)
        );
        assert_eq!(digest_from_fan_out(&hex[..FAN_OUT], name, ""), None);
    }

    #[test]
    fn publish_keeps_existing_without_replace() {
        let directory = tempfile::tempdir().expect("tempdir");
        let destination = directory.path().join("a/b/object");
        let first = publish_file(&destination, 0o444, false, |file| file.write_all(b"one"))
            .expect("publish");
        let second = publish_file(&destination, 0o444, false, |file| file.write_all(b"two"))
            .expect("publish");
        assert!(first && !second);
        assert_eq!(fs::read(&destination).expect("read"), b"one");
    }

    #[test]
    fn failed_write_leaves_nothing_behind() {
        let directory = tempfile::tempdir().expect("tempdir");
        let destination = directory.path().join("object");
        let result = publish_file(&destination, 0o444, false, |file| {
            file.write_all(b"partial")?;
            Err(io::Error::other("disk full"))
        });
        assert!(matches!(result, Err(StoreError::Io { .. })));
        assert!(!destination.exists());
        assert_eq!(fs::read_dir(directory.path()).expect("list").count(), 0);
    }
}
