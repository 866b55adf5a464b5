//! A thin wrapper over the user's `git` program: list a repository's tags and
//! branches, resolve a [`Selector`] to a commit, and fetch one commit's files as a
//! plain directory.
//!
//! Git runs with the user's environment — `HOME`, `SSH_AUTH_SOCK`, `GIT_*`, their
//! configuration and credential helpers — so private repositories work as they do on
//! the command line. This is the CLI's edge, never a build step. `GIT_TERMINAL_PROMPT=0`
//! makes a missing credential fail instead of waiting for a password.
//!
//! Commits are fetched into a bare "mirror" repository the caller names (one per
//! URL), shallowly by commit id (`git fetch --depth 1 URL COMMIT`), then written out
//! with `git archive`, unpacked in-process: the result has no `.git`.
//!
//! **Invariants:** no argument that starts with `-` reaches git from a manifest (URLs,
//! tags and revisions are validated by [`crate::Source::validate`]; commits here are
//! checked to be hexadecimal); a failure to reach a repository is
//! [`LibraryError::Unreachable`], an environment error.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use semver::Version;

use crate::error::{IoResultExt, LibraryError, Result};
use crate::source::Selector;

/// A `git` command with the environment described in the module documentation.
fn git() -> Command {
    let mut command = Command::new("git");
    command.env("GIT_TERMINAL_PROMPT", "0").stdin(Stdio::null());
    command
}

fn run(mut command: Command) -> Result<Output> {
    command
        .output()
        .map_err(|source| LibraryError::GitMissing { source })
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).trim().to_owned()
}

/// True when `text` is a 40- or 64-digit hexadecimal object id.
pub fn is_full_commit(text: &str) -> bool {
    (text.len() == 40 || text.len() == 64) && text.chars().all(|c| c.is_ascii_hexdigit())
}

/// `git ls-remote KIND URL` (`--tags`, `--heads`): (name after `prefix`, commit), with
/// annotated tags peeled to the commit they point to.
fn ls_remote(url: &str, kind: &str, prefix: &str) -> Result<Vec<(String, String)>> {
    let mut command = git();
    command.args(["ls-remote", kind, url]);
    let output = run(command)?;
    if !output.status.success() {
        return Err(LibraryError::Unreachable {
            url: url.to_owned(),
            stderr: stderr_of(&output),
        });
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let mut refs: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let Some((commit, reference)) = line.split_once('\t') else {
            continue;
        };
        let Some(name) = reference.strip_prefix(prefix) else {
            continue;
        };
        if let Some(peeled) = name.strip_suffix("^{}") {
            refs.retain(|(existing, _)| existing != peeled);
            refs.push((peeled.to_owned(), commit.to_owned()));
        } else if !refs.iter().any(|(existing, _)| existing == name) {
            refs.push((name.to_owned(), commit.to_owned()));
        }
    }
    refs.sort();
    Ok(refs)
}

/// The repository's tags, sorted by name, each with the commit it points to (peeled).
pub fn ls_remote_tags(url: &str) -> Result<Vec<(String, String)>> {
    ls_remote(url, "--tags", "refs/tags/")
}

/// The repository's branches, sorted by name, each with its head commit.
pub fn ls_remote_branches(url: &str) -> Result<Vec<(String, String)>> {
    ls_remote(url, "--heads", "refs/heads/")
}

/// The version of a `vX.Y.Z` tag (`None` for any other tag).
pub fn tag_version(tag: &str) -> Option<Version> {
    tag.strip_prefix('v')
        .and_then(|text| Version::parse(text).ok())
}

/// The commit `selector` means in the repository `url`: the highest `vX.Y.Z` tag in
/// range, the tag, the branch head or the revision (an abbreviated one is looked up in
/// the `mirror` repository after fetching everything). `chain` names the requirement
/// in errors.
pub fn resolve(url: &str, selector: &Selector, mirror: &Path, chain: &str) -> Result<String> {
    let no_match = |what: String, tags: &[(String, String)]| LibraryError::NoMatch {
        chain: chain.to_owned(),
        url: url.to_owned(),
        what,
        available: tags.iter().map(|(tag, _)| tag.clone()).collect(),
    };
    match selector {
        Selector::Version(requirement) => {
            let tags = ls_remote_tags(url)?;
            tags.iter()
                .filter_map(|(tag, commit)| tag_version(tag).map(|version| (version, commit)))
                .filter(|(version, _)| requirement.matches(version))
                .max_by(|left, right| left.0.cmp(&right.0))
                .map(|(_, commit)| commit.clone())
                .ok_or_else(|| no_match(format!("tag matching {requirement}"), &tags))
        }
        Selector::Tag(wanted) => {
            let tags = ls_remote_tags(url)?;
            tags.iter()
                .find(|(tag, _)| tag == wanted)
                .map(|(_, commit)| commit.clone())
                .ok_or_else(|| no_match(format!("tag `{wanted}`"), &tags))
        }
        Selector::Branch(wanted) => {
            let branches = ls_remote_branches(url)?;
            match branches.iter().find(|(branch, _)| branch == wanted) {
                Some((_, commit)) => Ok(commit.clone()),
                None => Err(no_match(
                    format!("branch `{wanted}`"),
                    &ls_remote_tags(url)?,
                )),
            }
        }
        Selector::Rev(rev) if is_full_commit(rev) => Ok(rev.to_ascii_lowercase()),
        Selector::Rev(rev) => {
            fetch_everything(url, mirror)?;
            let mut command = git();
            command
                .arg("-C")
                .arg(mirror)
                .args(["rev-parse", "--verify", "--quiet"])
                .arg(format!("{rev}^{{commit}}"));
            let output = run(command)?;
            if output.status.success() {
                Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
            } else {
                Err(no_match(
                    format!("single commit `{rev}` (unknown or ambiguous)"),
                    &ls_remote_tags(url)?,
                ))
            }
        }
    }
}

/// Creates the bare repository `mirror` unless it exists.
fn ensure_mirror(mirror: &Path) -> Result<()> {
    if mirror.join("HEAD").is_file() {
        return Ok(());
    }
    std::fs::create_dir_all(mirror).at("create directory", mirror)?;
    let mut command = git();
    command.args(["init", "--bare", "--quiet"]).arg(mirror);
    let output = run(command)?;
    if output.status.success() {
        Ok(())
    } else {
        Err(LibraryError::Git {
            url: mirror.display().to_string(),
            command: "init --bare".to_owned(),
            stderr: stderr_of(&output),
        })
    }
}

/// Fetches every branch and tag of `url` into `mirror`, with full history.
fn fetch_everything(url: &str, mirror: &Path) -> Result<()> {
    ensure_mirror(mirror)?;
    let mut command = git();
    command
        .arg("-C")
        .arg(mirror)
        .args(["fetch", "--quiet", "--no-tags"]);
    if mirror.join("shallow").exists() {
        command.arg("--unshallow");
    }
    command.args([
        url,
        "+refs/heads/*:refs/mirror/heads/*",
        "+refs/tags/*:refs/mirror/tags/*",
    ]);
    let output = run(command)?;
    if output.status.success() {
        Ok(())
    } else {
        Err(LibraryError::Unreachable {
            url: url.to_owned(),
            stderr: stderr_of(&output),
        })
    }
}

fn has_commit(mirror: &Path, commit: &str) -> Result<bool> {
    let mut command = git();
    command
        .arg("-C")
        .arg(mirror)
        .args(["cat-file", "-e"])
        .arg(format!("{commit}^{{commit}}"));
    Ok(run(command)?.status.success())
}

/// Writes the files of `commit` of `url` into the directory `into` (created; it must
/// not exist yet), fetching the commit into `mirror` first unless it is there.
pub fn fetch_tree(url: &str, commit: &str, mirror: &Path, into: &Path) -> Result<()> {
    if !is_full_commit(commit) {
        return Err(LibraryError::Git {
            url: url.to_owned(),
            command: format!("fetch {commit}"),
            stderr: "not a full commit id".to_owned(),
        });
    }
    ensure_mirror(mirror)?;
    if !has_commit(mirror, commit)? {
        let mut command = git();
        command.arg("-C").arg(mirror).args([
            "fetch",
            "--quiet",
            "--no-tags",
            "--depth",
            "1",
            url,
            commit,
        ]);
        let output = run(command)?;
        if !output.status.success() {
            let stderr = stderr_of(&output);
            let missing = [
                "not our ref",
                "remote ref",
                "upload-pack: not",
                "unadvertised",
            ]
            .iter()
            .any(|needle| stderr.contains(needle));
            return Err(if missing {
                LibraryError::Git {
                    url: url.to_owned(),
                    command: format!("fetch --depth 1 {commit}"),
                    stderr,
                }
            } else {
                LibraryError::Unreachable {
                    url: url.to_owned(),
                    stderr,
                }
            });
        }
    }
    std::fs::create_dir_all(into).at("create directory", into)?;
    let mut command = git();
    command
        .arg("-C")
        .arg(mirror)
        .args(["archive", "--format=tar", commit])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .map_err(|source| LibraryError::GitMissing { source })?;
    let unpacked = match child.stdout.take() {
        Some(stdout) => tar::Archive::new(stdout).unpack(into),
        None => Ok(()),
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        // What git said is only used in the error; a failure to read it is not one.
        let _ = pipe.read_to_string(&mut stderr);
    }
    let status = child.wait().at("wait for `git archive` writing", into)?;
    if !status.success() {
        return Err(LibraryError::Git {
            url: url.to_owned(),
            command: format!("archive {commit}"),
            stderr: stderr.trim().to_owned(),
        });
    }
    unpacked.at("unpack `git archive` into", into)
}
