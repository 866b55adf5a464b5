//! Resolving a package set against live repositories (what `imgbuild lock` does):
//! fetch each suite's `InRelease`, verify it against the keyring (or accept it unsigned
//! only when the recipe marks the repository trusted), check `Valid-Until`, fetch the
//! `Packages` indices it lists and check their size and SHA-256 before parsing, then
//! resolve and pin the result as a [`LockedSet`].

use std::io::Read;
use std::path::PathBuf;

use imgbuild_apt::resolve::{Request, Universe, Variant};
use imgbuild_apt::trust::{self, Keyring, Release};
use sha2::Digest as _;

use super::lock::{LockedIndex, LockedPackage, LockedRepository, LockedSet};
use super::request::SetRequest;
use super::sources;
use crate::core::http;
use imgbuild_engine::Mirrors;

/// One repository to read, whichever way the recipe named it.
struct Source<'a> {
    suite: &'a str,
    url: Option<&'a str>,
    components: &'a [String],
    keyrings: &'a [PathBuf],
    trusted: bool,
}

/// Why a set could not be resolved.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LockSetError {
    /// The request itself is wrong (unknown package, unsatisfiable, bad variant).
    #[error("{0}")]
    Request(String),
    /// The repositories could not be read or trusted (network, signature, checksum).
    #[error("{0}")]
    Repository(String),
}

impl From<String> for LockSetError {
    fn from(message: String) -> Self {
        LockSetError::Repository(message)
    }
}

/// Largest `InRelease` / index accepted.
const RELEASE_LIMIT: u64 = 16 << 20;
const INDEX_LIMIT: u64 = 512 << 20;

/// Resolves `request` against the live repositories; `now` is the wall clock (only for
/// `Valid-Until`; nothing time-dependent is hashed).
pub fn lock_set(
    request: &SetRequest,
    mirrors: &Mirrors,
    now: i64,
    progress: &mut dyn FnMut(&str),
) -> Result<LockedSet, LockSetError> {
    let variant = Variant::parse(&request.variant).ok_or_else(|| {
        LockSetError::Request(format!(
            "unknown variant `{}` (use one of {})",
            request.variant,
            Variant::NAMES.join(", ")
        ))
    })?;
    let load = |keyrings: &[PathBuf]| -> Result<Keyring, String> {
        if keyrings.is_empty() {
            Keyring::host_default().map_err(|error| error.to_string())
        } else {
            Keyring::from_files(keyrings).map_err(|error| error.to_string())
        }
    };
    // The command line (--mirror, IMGBUILD_DEBIAN_MIRROR) wins over the recipe: whoever
    // builds decides where packages come from.
    let overrides = sources::Overrides::from_command_line(mirrors).or(&request.overrides);
    let mut repositories = Vec::new();
    let mut all_packages = Vec::new();
    let mut sources_list: Vec<Source<'_>> = request
        .suites
        .iter()
        .map(|suite| Source {
            suite,
            url: None,
            components: &request.components,
            keyrings: &request.keyrings,
            trusted: request.trusted,
        })
        .collect();
    sources_list.extend(request.extra.iter().map(|extra| Source {
        suite: &extra.suite,
        url: Some(&extra.url),
        components: &extra.components,
        keyrings: if extra.keyrings.is_empty() {
            &request.keyrings
        } else {
            &extra.keyrings
        },
        trusted: extra.trusted,
    }));
    let mut keyrings: std::collections::BTreeMap<Vec<PathBuf>, Keyring> =
        std::collections::BTreeMap::new();
    for (number, source) in sources_list.iter().enumerate() {
        let suite = source.suite;
        // Suites sharing a keyring (the usual case) read and parse it once.
        if !keyrings.contains_key(source.keyrings) {
            keyrings.insert(source.keyrings.to_vec(), load(source.keyrings)?);
        }
        let keyring = &keyrings[source.keyrings];
        let mirror = match source.url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => sources::mirror_for(suite, &overrides, &mirrors.host)?,
        };
        let base = format!("{mirror}/dists/{suite}");
        // Credentials in a mirror URL are used, never shown.
        progress(&format!("fetching {}/InRelease", http::redact(&base)));
        let in_release = http::get(&format!("{base}/InRelease"), RELEASE_LIMIT)
            .map_err(|error| error.to_string())?;
        let label = format!("{suite} InRelease");
        let release = if source.trusted {
            match Release::from_inrelease(&in_release, keyring, now, &label) {
                Ok(release) => release,
                Err(_) => {
                    let text = String::from_utf8_lossy(&in_release);
                    Release::parse_unsigned(&text, &label).map_err(|error| error.to_string())?
                }
            }
        } else {
            Release::from_inrelease(&in_release, keyring, now, &label)
                .map_err(|error| error.to_string())?
        };
        release
            .check_suite(suite)
            .map_err(|error| error.to_string())?;
        let mut indices = Vec::new();
        for component in source.components {
            let (path, bytes) =
                fetch_index(&base, &release, component, &request.architecture, progress)?;
            let text = decompress(&path, &bytes)?;
            let label = format!("{suite} {path}");
            let parsed = imgbuild_apt::packages::parse(&text, number as u16, &label)
                .map_err(|error| error.to_string())?;
            all_packages.extend(parsed);
            let entry = release
                .file(&path)
                .ok_or_else(|| format!("{label}: not listed in the Release"))?;
            indices.push(LockedIndex {
                path,
                size: entry.size,
                sha256: hex::encode(entry.sha256),
            });
        }
        repositories.push(LockedRepository {
            suite: suite.to_owned(),
            codename: release.codename.clone().unwrap_or_default(),
            date: release
                .date
                .map(trust::date::format_iso8601)
                .unwrap_or_default(),
            release_sha256: hex::encode(sha2::Sha256::digest(release.source.as_bytes())),
            signed_by: release
                .signed_by
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            indices,
        });
    }
    progress("resolving");
    let universe = Universe::new(&all_packages, &request.architecture);
    let resolution = universe
        .resolve(&Request {
            variant,
            include: request.include.clone(),
            exclude: request.exclude.clone(),
            recommends: request.recommends,
            architecture: request.architecture.clone(),
        })
        .map_err(|error| LockSetError::Request(error.to_string()))?;
    let packages = resolution
        .packages
        .iter()
        .map(|package| LockedPackage {
            name: package.name.to_string(),
            version: package.version.to_string(),
            architecture: package.architecture.to_string(),
            repository: usize::from(package.repository),
            filename: package.filename.to_string(),
            size: package.size,
            sha256: hex::encode(package.sha256),
        })
        .collect();
    Ok(LockedSet {
        name: request.name.clone(),
        request: request.digest(),
        architecture: request.architecture.clone(),
        repositories,
        packages,
    })
}

/// Fetches `component`'s Packages index for `architecture`, the best compression the
/// Release lists first, and checks it against the Release.
fn fetch_index(
    base: &str,
    release: &Release,
    component: &str,
    architecture: &str,
    progress: &mut dyn FnMut(&str),
) -> Result<(String, Vec<u8>), String> {
    let mut tried = Vec::new();
    for extension in [".xz", ".gz", ""] {
        for prefix in ["", "updates/"] {
            let path = format!("{prefix}{component}/binary-{architecture}/Packages{extension}");
            if release.file(&path).is_none() {
                continue;
            }
            progress(&format!("fetching {}/{path}", http::redact(base)));
            let bytes = http::get(&format!("{base}/{path}"), INDEX_LIMIT)
                .map_err(|error| error.to_string())?;
            trust::verify_file(release, &path, &bytes).map_err(|error| error.to_string())?;
            return Ok((path, bytes));
        }
        tried.push(format!(
            "{component}/binary-{architecture}/Packages{extension}"
        ));
    }
    Err(format!(
        "{}: the Release lists no Packages index for component `{component}`, architecture `{architecture}` (looked for {})",
        http::redact(base),
        tried.join(", ")
    ))
}

fn decompress(path: &str, bytes: &[u8]) -> Result<String, String> {
    let mut text = String::new();
    let result = if path.ends_with(".xz") {
        liblzma::read::XzDecoder::new(bytes).read_to_string(&mut text)
    } else if path.ends_with(".gz") {
        flate2::read::GzDecoder::new(bytes).read_to_string(&mut text)
    } else {
        std::str::from_utf8(bytes)
            .map(|plain| text.push_str(plain))
            .map(|_| 0)
            .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidData, error))
    };
    result.map_err(|error| format!("{path}: cannot decompress: {error}"))?;
    Ok(text)
}
