//! The `debian_packages` builder: fetch the locked `.deb`s (in parallel, each verified
//! before it is kept), then unpack them into one root tree with the dpkg database.
//!
//! **Fetching.** A `.deb` already in the store is found by its SHA-256 (an output
//! record keyed by `BLAKE3("imgbuild-deb-v1\0" ‖ sha256)`), so a locked recipe rebuilds
//! offline once fetched. Missing ones are downloaded by a pool of threads, streamed
//! into a blob while hashed; a wrong size or SHA-256 leaves nothing behind. With
//! `--offline`, a missing package is an error naming it.
//!
//! **Unpacking.** Packages are read in parallel (each into its own entry list, file
//! contents streamed into the store as blobs) and merged in name order into the tree.
//! The tree starts with bookworm's merged-/usr links (`bin`, `sbin`, `lib`, `lib64` →
//! `usr/...`); package paths below them are stored under `usr/`. Two packages shipping
//! the same non-directory path is an error unless one `Replaces` the other (then the
//! replacing package's file wins); directories shipped by several packages keep the
//! first package's metadata, as dpkg keeps an existing directory.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use imgbuild_apt::deb::{self, DataEntry, EntryKind as DebEntryKind, Limits};
use imgbuild_apt::dpkg_db;
use imgbuild_evaluator::Value;
use imgbuild_store::{
    Digest, Entry, EntryKind, Metadata, OutputIndex, OutputObject, OutputRecord, Store, Tree,
    TreePath,
};
use sha2::Digest as _;

use super::arguments::{Contents, Locations, PackageSet};
use super::sources;
use crate::core::http;
use imgbuild_engine::{BuildContext, BuildError};

/// Downloads in flight at once.
const PARALLEL_DOWNLOADS: usize = 8;
/// Files up to this size are read whole and stored with one call.
const SMALL_FILE: u64 = 8 << 20;
/// bookworm's merged-/usr links on amd64.
const MERGED_USR: &[&str] = &["bin", "lib", "lib64", "sbin"];

/// One locked package, from the derivation's arguments and location.
#[derive(Debug, Clone)]
struct Wanted {
    name: String,
    version: String,
    sha256: [u8; 32],
    size: u64,
    repository: usize,
    filename: String,
}

/// The store key under which a `.deb` with this SHA-256 is recorded.
pub fn deb_key(sha256: &[u8; 32]) -> Digest {
    let mut bytes = b"imgbuild-deb-v1\0".to_vec();
    bytes.extend_from_slice(sha256);
    Digest::of(&bytes)
}

fn wanted(context: &BuildContext<'_>) -> Result<(Vec<Wanted>, Locations), BuildError> {
    let derivation = context.derivation;
    let malformed = |what: String| BuildError::Malformed(format!("debian_packages: {what}"));
    let set = PackageSet::from_args(&derivation.args).map_err(malformed)?;
    let packages = match set.contents {
        Contents::Pinned(packages) => packages,
        Contents::Unlocked(_) => {
            return Err(BuildError::Failed(format!(
                "package set `{}` is not in the lock file: run `imgbuild lock` (imgbuild build does this by itself)",
                derivation.name
            )))
        }
    };
    let locations = derivation
        .location
        .as_ref()
        .ok_or_else(|| malformed("no locations".to_owned()))
        .and_then(|location| Locations::from_value(location).map_err(malformed))?;
    if locations.files.len() != packages.len() {
        return Err(malformed(
            "packages and locations differ in length".to_owned(),
        ));
    }
    let mut wanted = Vec::with_capacity(packages.len());
    for (package, file) in packages.into_iter().zip(&locations.files) {
        let mut sha256 = [0u8; 32];
        hex::decode_to_slice(&package.sha256, &mut sha256)
            .map_err(|_| malformed(format!("sha256 of {}", package.name)))?;
        wanted.push(Wanted {
            name: package.name,
            version: package.version,
            sha256,
            size: package.size,
            repository: file.repository,
            filename: file.filename.clone(),
        });
    }
    Ok((wanted, locations))
}

/// The mirror of each repository: the recipe's own URL, else the command line's
/// mirror, else the recipe's, else the host's sources (all resolved by the CLI into the
/// build configuration).
fn mirrors(context: &BuildContext<'_>, locations: &Locations) -> Result<Vec<String>, BuildError> {
    let mirrors = &context.config.mirrors;
    let overrides = sources::Overrides::from_command_line(mirrors).or(&sources::Overrides {
        mirror: locations.mirror.clone(),
        security_mirror: locations.security_mirror.clone(),
    });
    locations
        .suites
        .iter()
        .enumerate()
        .map(|(index, suite)| match locations.urls.get(index) {
            Some(url) if !url.is_empty() => Ok(url.trim_end_matches('/').to_owned()),
            _ => sources::mirror_for(suite, &overrides, &mirrors.host).map_err(BuildError::Failed),
        })
        .collect()
}

/// Finds or fetches every package; returns each package's blob and how many packages
/// and bytes were downloaded.
fn fetch_all(
    context: &BuildContext<'_>,
    wanted: &[Wanted],
    locations: &Locations,
) -> Result<(Vec<Digest>, usize, u64), BuildError> {
    let store = context.store;
    let mut blobs: Vec<Option<Digest>> = vec![None; wanted.len()];
    let mut missing = Vec::new();
    for (index, package) in wanted.iter().enumerate() {
        match store.get_output(OutputIndex::CacheKey, &deb_key(&package.sha256))? {
            Some(OutputRecord {
                object: OutputObject::File { blob, size, .. },
                ..
            }) if size == package.size && store.has_blob(&blob) => blobs[index] = Some(blob),
            _ => missing.push(index),
        }
    }
    if missing.is_empty() {
        let blobs = blobs
            .into_iter()
            .map(|blob| blob.ok_or_else(|| BuildError::Malformed("lost a blob".to_owned())))
            .collect::<Result<_, _>>()?;
        return Ok((blobs, 0, 0));
    }
    if context.config.offline {
        let names: Vec<String> = missing
            .iter()
            .map(|&index| format!("{} {}", wanted[index].name, wanted[index].version))
            .collect();
        return Err(BuildError::Failed(format!(
            "--offline: {} package(s) of `{}` are not in the store: {}",
            names.len(),
            context.derivation.name,
            names.join(", ")
        )));
    }
    let mirrors = mirrors(context, locations)?;
    let total: u64 = missing.iter().map(|&index| wanted[index].size).sum();
    let done = AtomicU64::new(0);
    let queue = Mutex::new(missing.clone().into_iter());
    let results: Mutex<Vec<(usize, Result<Digest, FetchFailure>)>> = Mutex::new(Vec::new());
    let threads = PARALLEL_DOWNLOADS.min(missing.len());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let next = queue.lock().ok().and_then(|mut queue| queue.next());
                let Some(index) = next else {
                    break;
                };
                let package = &wanted[index];
                let result = match mirrors.get(package.repository) {
                    Some(mirror) => fetch_one(store, mirror, package, &done, &|done| {
                        context.reporter.progress(done, Some(total), "bytes")
                    }),
                    None => Err(FetchFailure::Package {
                        message: format!("{}: no repository #{}", package.name, package.repository),
                        blame: http::Blame::Recipe,
                    }),
                };
                if let Ok(mut results) = results.lock() {
                    results.push((index, result));
                }
            });
        }
    });
    let mut failures = Vec::new();
    // The recipe's fault (exit 1) if any package differs from what the lock promises;
    // the network's (exit 3) if packages could only not be fetched.
    let mut blame = http::Blame::Environment;
    for (index, result) in results.into_inner().unwrap_or_default() {
        match result {
            Ok(blob) => blobs[index] = Some(blob),
            Err(FetchFailure::Store(error)) => return Err(BuildError::Store(error)),
            Err(FetchFailure::Package {
                message,
                blame: package_blame,
            }) => {
                if package_blame == http::Blame::Recipe {
                    blame = http::Blame::Recipe;
                }
                failures.push(message);
            }
        }
    }
    if !failures.is_empty() {
        failures.sort();
        let message = format!(
            "fetching packages of `{}` failed:\n  {}",
            context.derivation.name,
            failures.join("\n  ")
        );
        return Err(match blame {
            http::Blame::Recipe => BuildError::Failed(message),
            http::Blame::Environment => BuildError::Network(message),
        });
    }
    let blobs = blobs
        .into_iter()
        .zip(wanted)
        .map(|(blob, package)| {
            blob.ok_or_else(|| BuildError::Failed(format!("{} was not fetched", package.name)))
        })
        .collect::<Result<_, _>>()?;
    Ok((blobs, missing.len(), total))
}

/// Why one `.deb` was not fetched.
enum FetchFailure {
    /// The store failed: the whole build stops.
    Store(imgbuild_store::StoreError),
    /// The package could not be fetched; the message names it (URLs redacted).
    Package { message: String, blame: http::Blame },
}

/// Downloads one `.deb` into the store through [`http::download`] (resumed when cut
/// short, size and SHA-256 checked while streaming, nothing kept unless they match)
/// and records it by its SHA-256.
fn fetch_one(
    store: &Store,
    mirror: &str,
    package: &Wanted,
    done: &AtomicU64,
    progress: &dyn Fn(u64),
) -> Result<Digest, FetchFailure> {
    let url = format!("{mirror}/{}", package.filename);
    let expected = http::ExpectedHash {
        algorithm: http::HashAlgorithm::Sha256,
        digest: package.sha256,
    };
    // Bytes of this package counted in `done`: a download that starts over takes back
    // what it had counted.
    let mut counted = 0u64;
    let downloaded = http::download(
        std::slice::from_ref(&url),
        expected,
        Some(package.size),
        store,
        &mut |event| {
            if let http::Event::Progress { received, .. } = event {
                let total = if received >= counted {
                    done.fetch_add(received - counted, Ordering::Relaxed) + (received - counted)
                } else {
                    done.fetch_sub(counted - received, Ordering::Relaxed) - (counted - received)
                };
                counted = received;
                progress(total);
            }
        },
    );
    let info = match downloaded {
        Ok(downloaded) => downloaded.info,
        Err(http::DownloadError::Store(error)) => return Err(FetchFailure::Store(error)),
        Err(error) => {
            return Err(FetchFailure::Package {
                message: format!(
                    "{} {}: {}",
                    package.name,
                    package.version,
                    describe_download_error(&error)
                ),
                blame: error.blame(),
            })
        }
    };
    let record = imgbuild_engine::file_output(&info, false, false);
    store
        .put_output(OutputIndex::CacheKey, &deb_key(&package.sha256), &record)
        .map_err(FetchFailure::Store)?;
    Ok(info.digest)
}

/// A failed `.deb` download in the lock file's terms.
fn describe_download_error(error: &http::DownloadError) -> String {
    match error {
        http::DownloadError::Failed(failures) => failures
            .iter()
            .map(|failure| match &failure.failure {
                http::Failure::HashMismatch {
                    expected, actual, ..
                } => format!(
                    "{}: SHA-256 mismatch: the lock says {}, the download is {}",
                    failure.url,
                    hex::encode(expected),
                    hex::encode(actual)
                ),
                _ => failure.to_string(),
            })
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

/// One package's unpacked entries.
struct Unpacked {
    /// (tree path, entry) in archive order.
    entries: Vec<(String, Entry)>,
    /// The package's name.
    name: String,
    /// What the dpkg database needs.
    database: dpkg_db::UnpackedPackage,
    /// Names this package `Replaces`.
    replaces: Vec<String>,
}

/// Maps a package path onto the merged-/usr tree.
fn tree_path(path: &str) -> String {
    let first = path.split('/').next().unwrap_or("");
    if MERGED_USR.contains(&first) {
        format!("usr/{path}")
    } else {
        path.to_owned()
    }
}

fn unpack_one(store: &Store, package: &Wanted, blob: &Digest) -> Result<Unpacked, String> {
    let bytes = store
        .read_blob(blob)
        .map_err(|error| format!("{}: {error}", package.name))?;
    let mut entries = Vec::new();
    // dpkg lists the archive's root entry (which the reader does not report) as `/.`.
    let mut paths: Vec<dpkg_db::DataPath> = vec![dpkg_db::DataPath {
        path: ".".to_owned(),
        kind: dpkg_db::DataKind::Directory,
    }];
    let mut control_text = String::new();
    let mut control_members = BTreeMap::new();
    let mut replaces = Vec::new();
    let mut digests: HashMap<String, [u8; 16]> = HashMap::new();
    let result = deb::read_deb_with(
        bytes.as_slice(),
        &package.name,
        &Limits::default(),
        |control| -> Result<(), String> {
            control_text = String::from_utf8(control.control().to_vec())
                .map_err(|_| "control file is not UTF-8".to_owned())?;
            for (name, file) in &control.files {
                if name != "control" {
                    control_members.insert(
                        name.clone(),
                        dpkg_db::ControlMember {
                            mode: file.mode,
                            contents: file.bytes.clone(),
                        },
                    );
                }
            }
            if let Some(Ok(paragraph)) = imgbuild_apt::deb822::paragraphs(&control_text).next() {
                if let Some(field) = paragraph.get("Replaces") {
                    if let Ok(groups) = imgbuild_apt::relations::parse(field) {
                        replaces = groups
                            .into_iter()
                            .flatten()
                            .map(|relation| relation.name)
                            .collect();
                    }
                }
            }
            Ok(())
        },
        |entry: &DataEntry<'_>, contents: &mut dyn Read| -> Result<(), String> {
            let kind = match &entry.kind {
                DebEntryKind::Directory => dpkg_db::DataKind::Directory,
                DebEntryKind::File { .. } => dpkg_db::DataKind::File { md5: None },
                DebEntryKind::Hardlink { target } => dpkg_db::DataKind::File {
                    md5: digests.get(target.as_str()).copied(),
                },
                DebEntryKind::Symlink { .. } => dpkg_db::DataKind::Symlink,
                _ => dpkg_db::DataKind::Other,
            };
            paths.push(dpkg_db::DataPath {
                path: entry.path.to_owned(),
                kind,
            });
            let meta = Metadata {
                mode: entry.mode & 0o7777,
                uid: entry.uid,
                gid: entry.gid,
                mtime: entry.mtime,
                xattrs: BTreeMap::new(),
            };
            let stored = match &entry.kind {
                DebEntryKind::Directory => {
                    if MERGED_USR.contains(&entry.path) {
                        // `./bin/` in a package is the merged link's directory.
                        return Ok(());
                    }
                    Entry::directory(meta)
                }
                DebEntryKind::File { size } => {
                    // dpkg records an MD5 per file when the package has no md5sums.
                    let mut md5 = md5::Md5::new();
                    let info = if *size <= SMALL_FILE {
                        let mut data = Vec::with_capacity(*size as usize);
                        contents
                            .read_to_end(&mut data)
                            .map_err(|error| format!("{}: {error}", entry.path))?;
                        md5::Digest::update(&mut md5, &data);
                        store.put_blob(&data, false)
                    } else {
                        let mut writer = store
                            .blob_writer(false)
                            .map_err(|error| error.to_string())?;
                        let mut buffer = vec![0u8; 1 << 16];
                        loop {
                            let count = contents
                                .read(&mut buffer)
                                .map_err(|error| format!("{}: {error}", entry.path))?;
                            if count == 0 {
                                break;
                            }
                            md5::Digest::update(&mut md5, &buffer[..count]);
                            writer
                                .write_all(&buffer[..count])
                                .map_err(|error| format!("{}: {error}", entry.path))?;
                        }
                        writer.finish()
                    }
                    .map_err(|error| format!("{}: {error}", entry.path))?;
                    let digest: [u8; 16] = md5::Digest::finalize(md5).into();
                    digests.insert(entry.path.to_owned(), digest);
                    if let Some(last) = paths.last_mut() {
                        last.kind = dpkg_db::DataKind::File { md5: Some(digest) };
                    }
                    Entry::file(info.digest, info.size, meta)
                }
                DebEntryKind::Symlink { target } => Entry::symlink(target.as_bytes(), meta),
                DebEntryKind::Hardlink { target } => {
                    let path = TreePath::parse(&tree_path(target))
                        .map_err(|error| format!("{}: {error}", entry.path))?;
                    Entry::hardlink(path, meta)
                }
                DebEntryKind::CharDevice { major, minor } => Entry {
                    kind: EntryKind::CharDevice {
                        major: *major,
                        minor: *minor,
                    },
                    meta,
                },
                DebEntryKind::BlockDevice { major, minor } => Entry {
                    kind: EntryKind::BlockDevice {
                        major: *major,
                        minor: *minor,
                    },
                    meta,
                },
                DebEntryKind::Fifo => Entry::fifo(meta),
            };
            entries.push((tree_path(entry.path), stored));
            Ok(())
        },
    );
    result.map_err(|error| error.to_string())?;
    Ok(Unpacked {
        entries,
        name: package.name.clone(),
        database: dpkg_db::UnpackedPackage {
            control: control_text,
            control_members,
            data: paths,
            index_fields: None,
        },
        replaces,
    })
}

pub(crate) fn build(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    let (wanted, locations) = wanted(context)?;
    let started = std::time::Instant::now();
    let (blobs, fetched, fetched_bytes) = fetch_all(context, &wanted, &locations)?;
    let seconds = started.elapsed().as_secs_f64().max(1e-6);
    let bytes: u64 = wanted.iter().map(|package| package.size).sum();
    context.log_line(format!(
        "{} packages ({:.1} MB) in the store after {seconds:.2} s; fetched {fetched} ({:.1} MB): {:.0} packages/s, {:.1} MB/s",
        wanted.len(),
        bytes as f64 / 1e6,
        fetched_bytes as f64 / 1e6,
        fetched as f64 / seconds,
        fetched_bytes as f64 / 1e6 / seconds
    ));
    let started = std::time::Instant::now();
    let store = context.store;
    let unpacked_count = AtomicU64::new(0);
    let unpacked: Vec<Result<Unpacked, String>> = {
        use rayon::prelude::*;
        wanted
            .par_iter()
            .zip(blobs.par_iter())
            .map(|(package, blob)| {
                let result = unpack_one(store, package, blob);
                let done = unpacked_count.fetch_add(1, Ordering::Relaxed) + 1;
                context
                    .reporter
                    .progress(done, Some(wanted.len() as u64), "packages");
                result
            })
            .collect()
    };
    let mut packages = Vec::with_capacity(unpacked.len());
    let mut errors = Vec::new();
    for result in unpacked {
        match result {
            Ok(package) => packages.push(package),
            Err(error) => errors.push(error),
        }
    }
    if !errors.is_empty() {
        return Err(BuildError::Failed(format!(
            "unpacking `{}` failed:\n  {}",
            context.derivation.name,
            errors.join("\n  ")
        )));
    }
    let architecture = context
        .derivation
        .args
        .get("architecture")
        .and_then(Value::as_str)
        .unwrap_or("amd64")
        .to_owned();
    let tree = assemble(store, &packages, &architecture)?;
    let digest = store.put_tree(&tree)?;
    context.log_line(format!(
        "unpacked {} packages into one tree in {:.2} s",
        packages.len(),
        started.elapsed().as_secs_f64()
    ));
    Ok(imgbuild_engine::tree_output(digest, false))
}

/// Merges the packages' entries (in name order) and the dpkg database into one tree.
fn assemble(store: &Store, packages: &[Unpacked], architecture: &str) -> Result<Tree, BuildError> {
    let mut tree = Tree::new(Metadata::default_directory());
    let failed = |path: &str, error: imgbuild_store::TreeError| {
        BuildError::Failed(format!("`/{path}`: {error}"))
    };
    for link in MERGED_USR {
        let path = TreePath::parse(link).map_err(|error| failed(link, error))?;
        tree.insert(
            &path,
            Entry::symlink(
                format!("usr/{link}").into_bytes(),
                Metadata::with_mode(0o777),
            ),
        )
        .map_err(|error| failed(link, error))?;
    }
    // Which package owns each non-directory path so far.
    let mut owners: HashMap<String, usize> = HashMap::new();
    for (index, package) in packages.iter().enumerate() {
        for (path, entry) in &package.entries {
            let tree_path = TreePath::parse(path).map_err(|error| failed(path, error))?;
            let is_directory = matches!(entry.kind, EntryKind::Directory(_));
            if is_directory {
                if tree.get(&tree_path).is_none() {
                    tree.insert(&tree_path, entry.clone())
                        .map_err(|error| failed(path, error))?;
                }
                continue;
            }
            if let Some(&owner) = owners.get(path) {
                if owner != index {
                    let other = &packages[owner];
                    let replaces = package.replaces.contains(&other.name);
                    let replaced = other.replaces.contains(&package.name);
                    if replaced && !replaces {
                        continue;
                    }
                    if !replaces {
                        return Err(BuildError::Failed(format!(
                            "file conflict: `/{path}` is in both `{}` and `{}`, and neither Replaces the other",
                            other.name, package.name
                        )));
                    }
                }
            }
            owners.insert(path.clone(), index);
            tree.insert_or_replace(&tree_path, entry.clone())
                .map_err(|error| failed(path, error))?;
        }
    }
    let database: Vec<dpkg_db::UnpackedPackage> = packages
        .iter()
        .map(|package| package.database.clone())
        .collect();
    let database = dpkg_db::database(&database, architecture)
        .map_err(|error| BuildError::Failed(error.to_string()))?;
    // dpkg leaves an unpacked, unconfigured package's conffiles as PATH.dpkg-new;
    // `dpkg --configure` moves them into place.
    for conffile in &database.staged_conffiles {
        let path = tree_path(conffile.trim_start_matches('/'));
        let from = TreePath::parse(&path).map_err(|error| failed(&path, error))?;
        let staged = format!("{path}.dpkg-new");
        let to = TreePath::parse(&staged).map_err(|error| failed(&staged, error))?;
        if let Some(entry) = tree.remove(&from) {
            tree.insert(&to, entry)
                .map_err(|error| failed(&staged, error))?;
        }
    }
    for directory in &database.directories {
        let path = TreePath::parse(directory).map_err(|error| failed(directory, error))?;
        if tree.get(&path).is_none() {
            tree.insert(&path, Entry::directory(Metadata::default_directory()))
                .map_err(|error| failed(directory, error))?;
        }
    }
    for file in database.files {
        let info = store.put_blob(&file.contents, false)?;
        let path = TreePath::parse(&file.path).map_err(|error| failed(&file.path, error))?;
        tree.insert(
            &path,
            Entry::file(info.digest, info.size, Metadata::with_mode(file.mode)),
        )
        .map_err(|error| failed(&file.path, error))?;
    }
    Ok(tree)
}
