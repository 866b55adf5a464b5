//! Verifying a signed release directory against an endorsement policy.
//!
//! [`verify_directory`] reads `dir/imgbuild-release.json` and reports, as
//! [`Problem`]s rather than stopping at the first:
//!
//! * **outputs** ([`check_outputs`]): each listed output is re-hashed (size, SHA-256,
//!   SHA-512); a missing output, a file where a directory was listed (or the reverse),
//!   and for a directory every entry that is missing, unlisted, of another type, of
//!   another size or digest, or a symlink pointing elsewhere;
//! * **the SBOM reference**: `sbom.name` must be an output and its SHA-256 must equal
//!   `sbom.sha256`;
//! * **signatures**: every `imgbuild-release.json.*.sig` file (and
//!   `imgbuild-release.json.sig`, the name `ssh-keygen -Y sign` gives) is read as an
//!   SSHSIG signature; garbage, another namespace, or a signature that does not verify over
//!   the manifest's bytes is a problem; so is a valid signature by a banned key ("signed
//!   by banned endorser NAME"), which fails verification however many trusted
//!   signatures there are; a valid signature by a key the policy does not list is
//!   reported ("signed by an unknown key SHA256:…") and does not count;
//! * **the count**: fewer distinct trusted endorsers than `required` (an endorser who
//!   signed twice, or with two of their keys, counts once).
//!
//! **What fails verification:** every problem except [`ProblemKind::UnknownKey`]: a
//! signature by someone the site neither trusts nor bans is harmless (it may be another
//! site's endorser) and is reported for information only. A bad or garbage signature
//! file does fail: a release directory should hold nothing that does not verify.
//!
//! Subjects are relative to the release directory (`web.qcow2`,
//! `web-oci/blobs/sha256/…`, `imgbuild-release.json.alice.sig`), or `policy` for the
//! count.
//!
//! Errors (rather than problems) are reserved for what prevents verification: the
//! manifest is missing or invalid, or the directory cannot be listed.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use ssh_key::{HashAlg, PublicKey, SshSig};

use crate::describe::describe_output;
use crate::error::{IoResultExt, ProvenanceError};
use crate::manifest::{FileEntry, Manifest, OutputEntry, DIRECTORY_FORMAT};
use crate::policy::Policy;
use crate::{MANIFEST_FILE, NAMESPACE};

/// The largest manifest read.
const MAX_MANIFEST_SIZE: u64 = 256 * 1024 * 1024;

/// The largest signature file read (an RSA-16384 signature is about 5 KiB).
const MAX_SIGNATURE_SIZE: u64 = 64 * 1024;

/// The outcome of [`verify_directory`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// The trusted endorsers whose valid signatures count, each once, in the order of
    /// their signature files' names.
    pub accepted: Vec<String>,
    /// Everything found wrong, or worth reporting.
    pub problems: Vec<Problem>,
}

impl Verification {
    /// True when no problem fails verification (see the module documentation: every
    /// kind except [`ProblemKind::UnknownKey`] fails).
    pub fn passed(&self) -> bool {
        !self.problems.iter().any(|problem| problem.kind.fails())
    }
}

/// One thing found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What it is about: an output or an entry in it, a signature file, or `policy`.
    pub subject: String,
    /// What is wrong, as a sentence fragment (`"sha256 differs: manifest says …"`).
    pub reason: String,
    /// Which check found it.
    pub kind: ProblemKind,
}

/// Which check found a [`Problem`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// An output or an entry below it is missing or differs from the manifest.
    Output,
    /// The `sbom` reference does not match an output.
    Sbom,
    /// A signature file is unreadable, in another namespace, or does not verify.
    BadSignature,
    /// A valid signature by a banned key.
    BannedEndorser,
    /// A valid signature by a key the policy does not list (does not fail).
    UnknownKey,
    /// Fewer distinct trusted endorsers signed than the policy requires.
    TooFewSignatures,
}

impl ProblemKind {
    /// Whether a problem of this kind fails verification.
    pub fn fails(self) -> bool {
        self != ProblemKind::UnknownKey
    }
}

fn problem(subject: impl Into<String>, kind: ProblemKind, reason: impl Into<String>) -> Problem {
    Problem {
        subject: subject.into(),
        reason: reason.into(),
        kind,
    }
}

/// Verifies the release in `dir` against `policy` (see the module documentation).
pub fn verify_directory(dir: &Path, policy: &Policy) -> Result<Verification, ProvenanceError> {
    let manifest_path = dir.join(MANIFEST_FILE);
    let manifest_bytes = read_limited(&manifest_path, MAX_MANIFEST_SIZE)?;
    let manifest = Manifest::parse(&manifest_bytes, &manifest_path)?;
    let mut problems = check_outputs(dir, &manifest);
    if let Some(sbom) = &manifest.sbom {
        match manifest.outputs.iter().find(|output| output.name == sbom.name) {
            None => problems.push(problem(&sbom.name, ProblemKind::Sbom, "the manifest's SBOM is not among its outputs")),
            Some(output) if output.sha256 != sbom.sha256 => problems.push(problem(
                &sbom.name,
                ProblemKind::Sbom,
                format!("the SBOM's digest does not match: sbom.sha256 says {}, the output's sha256 is {}", sbom.sha256, output.sha256),
            )),
            Some(_) => {}
        }
    }
    let mut accepted: Vec<String> = Vec::new();
    for name in signature_files(dir)? {
        let path = dir.join(&name);
        match check_signature(&path, &manifest_bytes, policy) {
            Ok(endorser) => {
                if !accepted.contains(&endorser) {
                    accepted.push(endorser);
                }
            }
            Err((kind, reason)) => problems.push(problem(name, kind, reason)),
        }
    }
    if accepted.len() < policy.required {
        problems.push(problem(
            "policy",
            ProblemKind::TooFewSignatures,
            format!(
                "signed by {} trusted endorser(s), the policy requires {}",
                accepted.len(),
                policy.required
            ),
        ));
    }
    Ok(Verification { accepted, problems })
}

/// The names of the signature files in `dir`, sorted.
fn signature_files(dir: &Path) -> Result<Vec<String>, ProvenanceError> {
    let prefix = format!("{MANIFEST_FILE}.");
    let mut names = Vec::new();
    for item in std::fs::read_dir(dir).at("list", dir)? {
        let item = item.at("list", dir)?;
        if let Ok(name) = item.file_name().into_string() {
            // `imgbuild-release.json.sig` is what `ssh-keygen -Y sign` itself writes.
            if name.len() >= prefix.len() + 3 && name.starts_with(&prefix) && name.ends_with(".sig")
            {
                names.push(name);
            }
        }
    }
    names.sort();
    Ok(names)
}

/// Checks one signature file; the trusted endorser's name, or why it does not count.
fn check_signature(
    path: &Path,
    manifest: &[u8],
    policy: &Policy,
) -> Result<String, (ProblemKind, String)> {
    let bad = |reason: String| (ProblemKind::BadSignature, reason);
    let bytes = read_limited(path, MAX_SIGNATURE_SIZE).map_err(|error| bad(error.to_string()))?;
    let signature =
        SshSig::from_pem(&bytes).map_err(|error| bad(format!("not an SSH signature ({error})")))?;
    if signature.namespace() != NAMESPACE {
        return Err(bad(format!(
            "signed for namespace {:?}, not {NAMESPACE:?}",
            signature.namespace()
        )));
    }
    let key = PublicKey::from(signature.public_key().clone());
    let fingerprint = key.fingerprint(HashAlg::Sha256);
    key.verify(NAMESPACE, manifest, &signature)
        .map_err(|error| {
            bad(format!(
                "the signature by {fingerprint} does not match this manifest ({error})"
            ))
        })?;
    if let Some(name) = policy.banned_name(&key) {
        return Err((
            ProblemKind::BannedEndorser,
            format!("signed by banned endorser {name}"),
        ));
    }
    match policy.trusted_name(&key) {
        Some(name) => Ok(name.to_owned()),
        None => Err((
            ProblemKind::UnknownKey,
            format!("signed by an unknown key {fingerprint}"),
        )),
    }
}

/// Re-hashes every output `manifest` lists in `dir` and reports each difference.
pub fn check_outputs(dir: &Path, manifest: &Manifest) -> Vec<Problem> {
    let mut problems = Vec::new();
    for listed in &manifest.outputs {
        let path = dir.join(&listed.name);
        if std::fs::metadata(&path).is_err() && std::fs::symlink_metadata(&path).is_err() {
            problems.push(problem(&listed.name, ProblemKind::Output, "missing"));
            continue;
        }
        match describe_output(&path, &listed.name) {
            Ok(found) => compare_output(listed, &found, &mut problems),
            Err(error) => problems.push(problem(
                &listed.name,
                ProblemKind::Output,
                error.to_string(),
            )),
        }
    }
    problems
}

/// Pushes a problem for each way `found` differs from `listed`.
fn compare_output(listed: &OutputEntry, found: &OutputEntry, problems: &mut Vec<Problem>) {
    let name = &listed.name;
    let listed_directory = listed.format == DIRECTORY_FORMAT;
    let found_directory = found.format == DIRECTORY_FORMAT;
    if listed_directory != found_directory {
        let (says, is) = if listed_directory {
            ("a directory", "a file")
        } else {
            ("a file", "a directory")
        };
        problems.push(problem(
            name,
            ProblemKind::Output,
            format!("the manifest lists {says}, found {is}"),
        ));
        return;
    }
    let before = problems.len();
    if listed_directory {
        compare_entries(name, &listed.files, &found.files, problems);
    }
    // For a directory, the totals only add news when every entry matched (the manifest's
    // own totals do not match its `files`).
    if problems.len() == before {
        compare_digests(
            name,
            if listed_directory {
                "the directory has"
            } else {
                "file has"
            },
            (listed.size, &listed.sha256, &listed.sha512),
            (found.size, &found.sha256, &found.sha512),
            problems,
        );
    }
}

/// Pushes a problem for a differing size, SHA-256 or SHA-512.
fn compare_digests(
    subject: &str,
    found_what: &str,
    listed: (u64, &str, &str),
    found: (u64, &str, &str),
    problems: &mut Vec<Problem>,
) {
    if listed.0 != found.0 {
        problems.push(problem(
            subject,
            ProblemKind::Output,
            format!(
                "size differs: manifest says {}, {found_what} {}",
                listed.0, found.0
            ),
        ));
    }
    for (algorithm, listed, found) in [("sha256", listed.1, found.1), ("sha512", listed.2, found.2)]
    {
        if listed != found {
            problems.push(problem(
                subject,
                ProblemKind::Output,
                format!("{algorithm} differs: manifest says {listed}, {found_what} {found}"),
            ));
        }
    }
}

/// Compares a directory output's entries, by path.
fn compare_entries(
    output: &str,
    listed: &[FileEntry],
    found: &[FileEntry],
    problems: &mut Vec<Problem>,
) {
    let found: BTreeMap<&str, &FileEntry> =
        found.iter().map(|entry| (entry.path(), entry)).collect();
    let listed_map: BTreeMap<&str, &FileEntry> =
        listed.iter().map(|entry| (entry.path(), entry)).collect();
    for entry in listed {
        let subject = format!("{output}/{}", entry.path());
        let Some(actual) = found.get(entry.path()) else {
            problems.push(problem(
                subject,
                ProblemKind::Output,
                format!("missing (the manifest lists a {})", entry.kind()),
            ));
            continue;
        };
        match (entry, actual) {
            (
                FileEntry::File {
                    size,
                    sha256,
                    sha512,
                    ..
                },
                FileEntry::File {
                    size: found_size,
                    sha256: found_sha256,
                    sha512: found_sha512,
                    ..
                },
            ) => compare_digests(
                &subject,
                "file has",
                (*size, sha256, sha512),
                (*found_size, found_sha256, found_sha512),
                problems,
            ),
            (
                FileEntry::Symlink { target, .. },
                FileEntry::Symlink {
                    target: found_target,
                    ..
                },
            ) if target != found_target => problems.push(problem(
                subject,
                ProblemKind::Output,
                format!("symlink target differs: manifest says {target:?}, found {found_target:?}"),
            )),
            (listed, actual) if listed.kind() != actual.kind() => problems.push(problem(
                subject,
                ProblemKind::Output,
                format!(
                    "is a {}, the manifest lists a {}",
                    actual.kind(),
                    listed.kind()
                ),
            )),
            _ => {}
        }
    }
    for path in found.keys() {
        if !listed_map.contains_key(path) {
            problems.push(problem(
                format!("{output}/{path}"),
                ProblemKind::Output,
                "not listed in the manifest",
            ));
        }
    }
}

/// Reads a whole file of at most `limit` bytes.
fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, ProvenanceError> {
    let file = std::fs::File::open(path).at("read", path)?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .at("read", path)?;
    if bytes.len() as u64 > limit {
        return Err(ProvenanceError::Io {
            action: "read",
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("larger than {limit} bytes"),
            ),
        });
    }
    Ok(bytes)
}
