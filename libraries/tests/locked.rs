//! The resolver with a lock: the locked commit is followed until updated, a moved
//! tag or changed content is refused naming both sides, and offline resolution uses
//! only the lock and the cache.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use imgbuild_libraries::{resolve, tree_hash, LibraryError, LockSection, Mode, Update};

fn locked_project(
    temp: &std::path::Path,
) -> (
    Repo,
    BTreeMap<String, String>,
    imgbuild_libraries::Manifest,
    LockSection,
) {
    let (base, commits) = base_repo(temp);
    let manifest = project(
        &temp.join("web"),
        &format!(
            "[libraries]\nbase = {{ git = \"{}\", version = \"^1.4\" }}\n",
            base.url()
        ),
    );
    let resolution = resolve_fresh(&manifest, &temp.join("cache")).expect("resolution succeeds");
    let lock = LockSection::from_resolution(&resolution, None);
    (base, commits, manifest, lock)
}

#[test]
fn the_lock_is_followed_without_re_resolving_the_range() {
    if !git_ready() {
        return;
    }
    let temp = tempfile::tempdir().expect("temporary directory");
    let (base, commits, manifest, lock) = locked_project(temp.path());
    // A newer tag in range appears: the lock keeps v1.5.2 until updated.
    base.write("debian.rhai", "// 1.6.0\n").commit("1.6.0");
    base.tag("v1.6.0");
    let kept = resolve_locked(&manifest, &temp.path().join("cache"), &lock, Mode::Online)
        .expect("resolution succeeds");
    assert_eq!(
        kept.libraries["base"].commit.as_deref(),
        Some(commits["v1.5.2"].as_str())
    );
    let update = Update::Names(BTreeSet::from(["base".to_owned()]));
    let updated = resolve(
        &manifest,
        &temp.path().join("cache"),
        Some(&lock),
        Mode::Online,
        &update,
        &BTreeMap::new(),
        &Fetcher,
    )
    .expect("fixture");
    assert_eq!(
        updated.libraries["base"]
            .version
            .as_ref()
            .expect("fixture")
            .to_string(),
        "1.6.0"
    );
}

#[test]
fn a_moved_tag_is_refused_naming_both_commits() {
    if !git_ready() {
        return;
    }
    let temp = tempfile::tempdir().expect("temporary directory");
    let (base, commits, manifest, lock) = locked_project(temp.path());
    base.write("debian.rhai", "// rewritten\n");
    let moved = base.commit("rewrite history");
    base.move_tag("v1.5.2");
    let error = assert_error_mentions(
        resolve_locked(&manifest, &temp.path().join("cache"), &lock, Mode::Online),
        &["v1.5.2", &commits["v1.5.2"], &moved],
    );
    assert!(matches!(error, LibraryError::TagMoved { .. }));
    // `lock --update base` accepts the move.
    let update = Update::Names(BTreeSet::from(["base".to_owned()]));
    let updated = resolve(
        &manifest,
        &temp.path().join("cache"),
        Some(&lock),
        Mode::Online,
        &update,
        &BTreeMap::new(),
        &Fetcher,
    )
    .expect("fixture");
    assert_eq!(
        updated.libraries["base"].commit.as_deref(),
        Some(moved.as_str())
    );
}

#[test]
fn content_that_does_not_match_the_locked_hash_is_refused() {
    if !git_ready() {
        return;
    }
    let temp = tempfile::tempdir().expect("temporary directory");
    let (_base, _commits, manifest, lock) = locked_project(temp.path());
    let locked_hash = lock.get("base").expect("present").hash.clone();
    // Tamper with the cached tree.
    let resolution = resolve_locked(&manifest, &temp.path().join("cache"), &lock, Mode::Online)
        .expect("resolution succeeds");
    let tree = resolution.libraries["base"].path.clone();
    std::fs::write(tree.join("debian.rhai"), "// tampered\n").expect("filesystem fixture");
    let actual = tree_hash(&tree).expect("tree hashes");
    let error = assert_error_mentions(
        resolve_locked(&manifest, &temp.path().join("cache"), &lock, Mode::Online),
        &[&locked_hash, &actual],
    );
    assert!(matches!(error, LibraryError::HashMismatch { .. }));
}

#[test]
fn offline_uses_the_lock_and_the_cache_only() {
    if !git_ready() {
        return;
    }
    let temp = tempfile::tempdir().expect("temporary directory");
    let (base, commits, manifest, lock) = locked_project(temp.path());
    // The repository disappears: offline still works from the cache.
    std::fs::rename(&base.dir, temp.path().join("gone")).expect("filesystem fixture");
    let offline = resolve_locked(&manifest, &temp.path().join("cache"), &lock, Mode::Offline)
        .expect("resolution succeeds");
    assert_eq!(
        offline.libraries["base"].commit.as_deref(),
        Some(commits["v1.5.2"].as_str())
    );
    // An empty cache: not cached, an environment error naming the commit.
    let error = assert_error_mentions(
        resolve_locked(
            &manifest,
            &temp.path().join("empty-cache"),
            &lock,
            Mode::Offline,
        ),
        &["not in the cache", &commits["v1.5.2"]],
    );
    assert!(error.is_environment());
    // No lock at all.
    assert_error_mentions(
        resolve(
            &manifest,
            &temp.path().join("cache"),
            None,
            Mode::Offline,
            &Update::Nothing,
            &BTreeMap::new(),
            &Fetcher,
        ),
        &["library `base`", "no entry", "--offline"],
    );
    // The manifest changed since locking.
    let changed = project(
        &temp.path().join("web"),
        &format!(
            "[libraries]\nbase = {{ git = \"{}\", version = \"^2\" }}\n",
            base.url()
        ),
    );
    assert!(!lock.matches_manifest(&changed));
    let error = assert_error_mentions(
        resolve_locked(&changed, &temp.path().join("cache"), &lock, Mode::Offline),
        &["version=^2", "version=^1.4", "--offline"],
    );
    assert!(!error.is_environment());
}

#[test]
fn update_all_and_offline_updates() {
    if !git_ready() {
        return;
    }
    let temp = tempfile::tempdir().expect("temporary directory");
    let (base, _commits, manifest, lock) = locked_project(temp.path());
    base.write("debian.rhai", "// 1.9.0\n").commit("1.9.0");
    base.tag("v1.9.0");
    let cache = temp.path().join("cache");
    let all = resolve(
        &manifest,
        &cache,
        Some(&lock),
        Mode::Online,
        &Update::All,
        &BTreeMap::new(),
        &Fetcher,
    )
    .expect("resolution succeeds");
    assert_eq!(
        all.libraries["base"]
            .version
            .as_ref()
            .expect("present")
            .to_string(),
        "1.9.0"
    );
    let error = resolve(
        &manifest,
        &cache,
        Some(&lock),
        Mode::Offline,
        &Update::All,
        &BTreeMap::new(),
        &Fetcher,
    )
    .expect_err("resolution fails");
    assert!(matches!(error, LibraryError::OfflineUpdate), "{error}");
}
