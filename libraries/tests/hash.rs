//! The library tree hash: a golden vector, independence from creation order, what
//! counts (executable bit, link targets) and what is refused.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use imgbuild_libraries::tree_hash;

fn build(root: &Path, reverse: bool) {
    let mut steps: Vec<Box<dyn Fn()>> = vec![
        Box::new(|| std::fs::create_dir_all(root.join("lib/debian")).expect("filesystem fixture")),
        Box::new(|| {
            std::fs::write(root.join("imgbuild.toml"), "[library]\nname = \"base\"\n")
                .expect("filesystem fixture")
        }),
        Box::new(|| std::fs::create_dir_all(root.join("lib-extra")).expect("filesystem fixture")),
        Box::new(|| symlink("debian", root.join("lib/current")).expect("filesystem fixture")),
    ];
    if reverse {
        steps.reverse();
        std::fs::create_dir_all(root.join("lib")).expect("filesystem fixture");
    }
    for step in steps {
        step();
    }
    std::fs::write(root.join("lib/debian/packages.rhai"), "// packages\n")
        .expect("filesystem fixture");
    let script = root.join("lib/debian/hook.sh");
    std::fs::write(&script, "#!/bin/sh\n").expect("filesystem fixture");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
        .expect("filesystem fixture");
}

#[test]
fn golden_vector_and_order_independence() {
    let first = tempfile::tempdir().expect("temporary directory");
    let second = tempfile::tempdir().expect("temporary directory");
    build(first.path(), false);
    build(second.path(), true);
    let hash = tree_hash(first.path()).expect("tree hashes");
    assert_eq!(hash, tree_hash(second.path()).expect("tree hashes"));
    assert_eq!(
        hash,
        "blake3:2811f4547a64c2959846a264dc0be3f832442c291cac5bf5d2ee22f2255a80f1"
    );
}

#[test]
fn the_executable_bit_and_link_targets_count_git_does_not() {
    let temp = tempfile::tempdir().expect("temporary directory");
    build(temp.path(), false);
    let before = tree_hash(temp.path()).expect("tree hashes");
    std::fs::create_dir_all(temp.path().join(".git/objects")).expect("filesystem fixture");
    std::fs::write(temp.path().join(".git/HEAD"), "ref: refs/heads/main\n")
        .expect("filesystem fixture");
    assert_eq!(
        tree_hash(temp.path()).expect("tree hashes"),
        before,
        ".git is left out"
    );

    let script = temp.path().join("lib/debian/hook.sh");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644))
        .expect("filesystem fixture");
    let not_executable = tree_hash(temp.path()).expect("tree hashes");
    assert_ne!(not_executable, before);
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700))
        .expect("filesystem fixture");
    assert_eq!(
        tree_hash(temp.path()).expect("tree hashes"),
        before,
        "only the owner's x bit counts"
    );

    std::fs::remove_file(temp.path().join("lib/current")).expect("filesystem fixture");
    symlink("debian/packages.rhai", temp.path().join("lib/current")).expect("filesystem fixture");
    assert_ne!(tree_hash(temp.path()).expect("tree hashes"), before);
}

#[test]
fn escaping_links_and_special_files_are_refused() {
    for target in ["/etc/passwd", "../../outside", "../.."] {
        let temp = tempfile::tempdir().expect("temporary directory");
        std::fs::create_dir_all(temp.path().join("lib")).expect("filesystem fixture");
        symlink(target, temp.path().join("lib/link")).expect("filesystem fixture");
        let error = tree_hash(temp.path()).expect_err("fails");
        assert!(error.to_string().contains("lib/link"), "{error}");
    }
    let temp = tempfile::tempdir().expect("temporary directory");
    std::fs::create_dir_all(temp.path().join("lib")).expect("filesystem fixture");
    symlink("../imgbuild.toml", temp.path().join("lib/link")).expect("filesystem fixture");
    assert!(
        tree_hash(temp.path()).is_ok(),
        "a link inside the root is fine"
    );

    let fifo = temp.path().join("pipe");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if made.is_ok_and(|status| status.success()) {
        let error = tree_hash(temp.path()).expect_err("fails");
        assert!(error.to_string().contains("pipe"), "{error}");
    }
    let error = tree_hash(&temp.path().join("absent")).expect_err("fails");
    assert!(error.is_environment());
}
