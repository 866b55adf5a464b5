//! Fixtures for the resolver tests: git repositories made by the test (isolated from
//! the host's git configuration), projects with an `imgbuild.toml`, and a smart-HTTP
//! server on 127.0.0.1 (`http.rs`). Nothing here reaches outside the machine.

#![allow(dead_code)]

pub mod http;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;

use imgbuild_libraries::{resolve, LibraryError, LockSection, Manifest, Mode, Resolution, Update};

/// Makes every `git` this process runs (ours and the library's) ignore the host's
/// configuration and commit with fixed names and dates. Returns false (after the
/// test-support crate reported the skip) when git is missing.
pub fn git_ready() -> bool {
    if imgbuild_test_support::require_tool("git").is_none() {
        return false;
    }
    static ISOLATE: Once = Once::new();
    ISOLATE.call_once(|| {
        for (key, value) in [
            ("GIT_CONFIG_GLOBAL", "/dev/null"),
            ("GIT_CONFIG_NOSYSTEM", "1"),
            ("GIT_AUTHOR_NAME", "Test Author"),
            ("GIT_AUTHOR_EMAIL", "author@example.org"),
            ("GIT_COMMITTER_NAME", "Test Committer"),
            ("GIT_COMMITTER_EMAIL", "committer@example.org"),
            ("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z"),
            ("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z"),
        ] {
            std::env::set_var(key, value);
        }
    });
    true
}

/// A git repository (with a work tree) made by the test.
pub struct Repo {
    pub dir: PathBuf,
}

impl Repo {
    /// An empty repository at `dir` on branch `main`.
    pub fn new(dir: &Path) -> Repo {
        std::fs::create_dir_all(dir).expect("filesystem fixture");
        let repo = Repo {
            dir: dir.to_path_buf(),
        };
        repo.git(&["init", "--quiet", "--initial-branch=main"]);
        repo
    }

    /// `file://` URL of the repository.
    pub fn url(&self) -> String {
        format!("file://{}", self.dir.display())
    }

    pub fn git(&self, args: &[&str]) -> String {
        let output = Command::new("git")
            .arg("-C")
            .arg(&self.dir)
            .args(args)
            .output()
            .expect("fixture");
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout)
            .expect("fixture")
            .trim()
            .to_owned()
    }

    pub fn write(&self, path: &str, contents: &str) -> &Repo {
        let full = self.dir.join(path);
        std::fs::create_dir_all(full.parent().expect("filesystem fixture"))
            .expect("filesystem fixture");
        std::fs::write(full, contents).expect("filesystem fixture");
        self
    }

    /// Commits everything; returns the commit id.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "--all"]);
        self.git(&["commit", "--quiet", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// An annotated tag on HEAD (peeling must find the commit).
    pub fn tag(&self, tag: &str) {
        self.git(&["tag", "-a", "-m", tag, tag]);
    }

    /// Moves `tag` to HEAD, as a force-push would.
    pub fn move_tag(&self, tag: &str) {
        self.git(&["tag", "-f", "-a", "-m", "moved", tag]);
    }

    /// A library `name` with one commit per version: `v1.4.0`, `v1.5.2`, `v2.0.0` by
    /// default; each version's `debian.rhai` says which version it is. Returns the
    /// commits by tag.
    pub fn library(
        dir: &Path,
        name: &str,
        versions: &[&str],
        requires: &str,
    ) -> (Repo, BTreeMap<String, String>) {
        let repo = Repo::new(dir);
        let mut commits = BTreeMap::new();
        for version in versions {
            repo.write(
                "imgbuild.toml",
                &format!("[library]\nname = \"{name}\"\nversion = \"{version}\"\n\n[libraries]\n{requires}"),
            );
            repo.write("debian.rhai", &format!("// {name} {version}\n"));
            repo.write("hooks/run.sh", "#!/bin/sh\n");
            let script = repo.dir.join("hooks/run.sh");
            std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .expect("filesystem fixture");
            let link = repo.dir.join("current.rhai");
            if !link.exists() {
                std::os::unix::fs::symlink("debian.rhai", &link).expect("filesystem fixture");
            }
            let commit = repo.commit(&format!("{name} {version}"));
            repo.tag(&format!("v{version}"));
            commits.insert(format!("v{version}"), commit);
        }
        (repo, commits)
    }
}

/// The usual `base` library with tags v1.4.0, v1.5.2, v2.0.0.
pub fn base_repo(root: &Path) -> (Repo, BTreeMap<String, String>) {
    Repo::library(&root.join("base"), "base", &["1.4.0", "1.5.2", "2.0.0"], "")
}

/// A local (path) library directory with a manifest.
pub fn path_library(dir: &Path, name: &str, version: &str, requires: &str) {
    std::fs::create_dir_all(dir).expect("filesystem fixture");
    std::fs::write(
        dir.join("imgbuild.toml"),
        format!("[library]\nname = \"{name}\"\nversion = \"{version}\"\n\n[libraries]\n{requires}"),
    )
    .expect("fixture");
    std::fs::write(dir.join("lib.rhai"), format!("// {name}\n")).expect("filesystem fixture");
}

/// A project directory `dir` whose `imgbuild.toml` is `manifest`; returns it parsed.
pub fn project(dir: &Path, manifest: &str) -> Manifest {
    std::fs::create_dir_all(dir).expect("filesystem fixture");
    let path = dir.join("imgbuild.toml");
    std::fs::write(&path, manifest).expect("filesystem fixture");
    Manifest::parse(&path, manifest).expect("parses")
}

/// Resolves online without lock, update or overrides.
pub fn resolve_fresh(manifest: &Manifest, cache: &Path) -> Result<Resolution, LibraryError> {
    resolve(
        manifest,
        cache,
        None,
        Mode::Online,
        &Update::Nothing,
        &BTreeMap::new(),
        &Fetcher,
    )
}

/// Resolves with `lock` in `mode`.
pub fn resolve_locked(
    manifest: &Manifest,
    cache: &Path,
    lock: &LockSection,
    mode: Mode,
) -> Result<Resolution, LibraryError> {
    resolve(
        manifest,
        cache,
        Some(lock),
        mode,
        &Update::Nothing,
        &BTreeMap::new(),
        &Fetcher,
    )
}

/// Asserts that `result` failed and its message mentions every one of `mentions`.
pub fn assert_error_mentions<T: std::fmt::Debug>(
    result: Result<T, LibraryError>,
    mentions: &[&str],
) -> LibraryError {
    let error = result.expect_err("expected an error");
    let message = error.to_string();
    for mention in mentions {
        assert!(message.contains(mention), "`{mention}` not in: {message}");
    }
    error
}

/// The tests' download path for archive sources (the binary passes its own HTTP
/// client): `file://` URLs from disk, `http://` ones (servers on 127.0.0.1) with ureq.
pub struct Fetcher;

impl imgbuild_libraries::archive::Download for Fetcher {
    fn get(&self, url: &str, limit: u64) -> Result<Vec<u8>, String> {
        use std::io::Read;
        let mut bytes = Vec::new();
        if let Some(path) = url.strip_prefix("file://") {
            std::fs::File::open(path)
                .and_then(|file| file.take(limit + 1).read_to_end(&mut bytes))
                .map_err(|error| error.to_string())?;
        } else {
            ureq::get(url)
                .call()
                .map_err(|error| error.to_string())?
                .into_reader()
                .take(limit + 1)
                .read_to_end(&mut bytes)
                .map_err(|error| error.to_string())?;
        }
        Ok(bytes)
    }
}
