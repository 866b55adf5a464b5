//! Temporaries left in a result directory by a killed materialization are cleared once
//! they are old enough, and nothing else is touched.

use std::process::Command;
use std::time::Duration;

use imgbuild_store::materialize::remove_stale_temporaries;

#[test]
fn only_old_hidden_temporaries_are_removed() {
    let directory = tempfile::tempdir().expect("tempdir");
    let root = directory.path();
    std::fs::create_dir_all(root.join(".site.imgbuild-old/etc")).expect("mkdir");
    std::fs::write(root.join(".site.imgbuild-old/etc/x"), "x").expect("write");
    std::fs::create_dir(root.join(".site.imgbuild-new")).expect("mkdir");
    std::fs::write(root.join("greeting"), "kept").expect("write");
    std::fs::write(root.join(".imgbuild-manifest"), "kept").expect("write");
    let status = Command::new("touch")
        .args(["-d", "2000-01-01"])
        .arg(root.join(".site.imgbuild-old"))
        .status()
        .expect("touch");
    assert!(status.success());

    let removed = remove_stale_temporaries(root, Duration::from_secs(600)).expect("clean");
    assert_eq!(removed, 1);
    assert!(!root.join(".site.imgbuild-old").exists());
    assert!(
        root.join(".site.imgbuild-new").exists(),
        "may belong to a running build"
    );
    assert!(root.join("greeting").exists() && root.join(".imgbuild-manifest").exists());
    assert_eq!(
        remove_stale_temporaries(&root.join("missing"), Duration::ZERO).expect("missing dir"),
        0
    );
}
