//! A store is the owner's alone: its directories get fixed modes whatever the umask,
//! and a store directory another user can write to is refused with a clear error.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use imgbuild_store::{Store, StoreError};

/// Runs `body` with the process umask set to `mask` (tests in this file run one at a
/// time through this lock: the umask is process-wide).
fn with_umask<T>(mask: u32, body: impl FnOnce() -> T) -> T {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|poison| poison.into_inner());
    let old = rustix::process::umask(rustix::fs::Mode::from_raw_mode(mask));
    let result = body();
    rustix::process::umask(old);
    result
}

fn directories_below(root: &Path) -> Vec<std::path::PathBuf> {
    let mut found = vec![root.to_path_buf()];
    let mut stack = vec![root.to_path_buf()];
    while let Some(directory) = stack.pop() {
        for entry in std::fs::read_dir(&directory).expect("list") {
            let path = entry.expect("entry").path();
            if path.is_dir() && !path.is_symlink() {
                found.push(path.clone());
                stack.push(path);
            }
        }
    }
    found
}

#[test]
fn a_store_made_under_umask_000_is_not_writable_by_others() {
    let scratch = tempfile::tempdir().expect("scratch");
    let root = scratch.path().join("store");
    with_umask(0o000, || {
        let store = Store::open(&root).expect("store");
        // Publish into a fan-out directory created now, under the same umask.
        store.put_blob(b"hello", false).expect("blob");
    });
    let directories = directories_below(&root);
    assert!(directories.len() > 10, "{directories:?}");
    for directory in directories {
        let mode = std::fs::metadata(&directory).expect("stat").mode() & 0o7777;
        assert_eq!(
            mode & 0o022,
            0,
            "{} has mode {mode:04o}",
            directory.display()
        );
    }
}

#[test]
fn a_store_others_can_write_is_refused() {
    let scratch = tempfile::tempdir().expect("scratch");
    let root = scratch.path().join("store");
    drop(Store::open(&root).expect("store"));
    for (path, mode) in [
        (root.clone(), 0o777),
        (root.join("outputs/cache-key"), 0o775),
    ] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        let error = Store::open(&root).expect_err("a shared store is refused");
        assert!(
            matches!(&error, StoreError::SharedStore { path: refused, .. } if refused == &path),
            "{error}"
        );
        let message = error.to_string();
        assert!(message.contains("other users can write"), "{message}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    Store::open(&root).expect("fine again once fixed");
}

/// Object names are content digests: other users must not list or probe them (for a
/// secret file that would be an offline oracle), so the root is owner-only — also a
/// store made before this rule, once it is opened.
#[test]
fn only_the_owner_can_enter_a_store() {
    let scratch = tempfile::tempdir().expect("scratch");
    let root = scratch.path().join("store");
    with_umask(0o022, || drop(Store::open(&root).expect("store")));
    let mode = |path: &Path| std::fs::metadata(path).expect("stat").mode() & 0o7777;
    assert_eq!(mode(&root), 0o700);
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    drop(Store::open(&root).expect("reopen"));
    assert_eq!(mode(&root), 0o700);
}
