//! The store used by an ordinary user: run as `nobody` when the tests run as root.
//!
//! As root, the test re-runs itself under `runuser -u nobody` so the unprivileged
//! paths are exercised for real: no chown, no device nodes, tar fallback for a
//! root-owned tree, owner-only secrets. As an ordinary user it runs them directly.
//! Root without `runuser` is reported by `imgbuild_test_support` (a skip on a
//! developer machine, a failure under CI).

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;

use imgbuild_store::{
    Entry, EntryKind, MaterializeOptions, Materialized, Metadata, OutputObject, OutputRecord,
    Store, Tree, TreePath,
};

const CHILD_VARIABLE: &str = "IMGBUILD_STORE_TEST_UNPRIVILEGED_CHILD";

#[test]
fn ordinary_user_can_build_and_materialize() {
    let euid = rustix::process::geteuid();
    if euid.is_root() {
        if std::env::var_os(CHILD_VARIABLE).is_some() {
            // The child run, which `runuser` did not make an ordinary user: the parent
            // fails on the panic.
            panic!("runuser -u nobody left the child running as root");
        }
        let runuser =
            imgbuild_test_support::require!(imgbuild_test_support::require_tool("runuser"));
        let executable = std::env::current_exe().expect("test executable");
        let output = Command::new(runuser)
            .args(["-u", "nobody", "--"])
            .arg(executable)
            .args([
                "--exact",
                "ordinary_user_can_build_and_materialize",
                "--nocapture",
            ])
            .env(CHILD_VARIABLE, "1")
            .env("TMPDIR", "/tmp")
            .output()
            .expect("run as nobody");
        assert!(
            output.status.success(),
            "unprivileged run failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        return;
    }
    exercise_as_ordinary_user(euid.as_raw(), rustix::process::getegid().as_raw());
}

fn exercise_as_ordinary_user(uid: u32, gid: u32) {
    let directory = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&directory.path().join("store")).expect("open");
    let path = |text: &str| TreePath::parse(text).expect("path");

    // A root-owned tree with a setuid binary and a device: built fine, materialized as tar.
    let binary = store.put_blob(b"\x7fELF pretend", false).expect("put");
    let mut rootfs = Tree::new(Metadata::default_directory());
    rootfs
        .insert(
            &path("usr/bin/passwd"),
            Entry::file(binary.digest, binary.size, Metadata::with_mode(0o4755)),
        )
        .expect("insert");
    rootfs
        .insert(
            &path("dev/console"),
            Entry {
                kind: EntryKind::CharDevice { major: 5, minor: 1 },
                meta: Metadata::with_mode(0o600),
            },
        )
        .expect("insert");
    let digest = store.put_tree(&rootfs).expect("put tree");
    let record = OutputRecord {
        object: OutputObject::Tree { tree: digest },
        secret: false,
    };
    let result = store
        .materialize(
            &record,
            &directory.path().join("result/rootfs"),
            &MaterializeOptions::default(),
        )
        .expect("materialize");
    assert_eq!(
        result,
        Materialized::Tar(directory.path().join("result/rootfs.tar"))
    );

    // A tree we own is written as a directory with its modes.
    let mut own = Tree::new(Metadata {
        uid,
        gid,
        ..Metadata::default_directory()
    });
    own.insert(
        &path("bin/tool"),
        Entry::file(
            binary.digest,
            binary.size,
            Metadata {
                uid,
                gid,
                ..Metadata::with_mode(0o4755)
            },
        ),
    )
    .expect("insert");
    own.insert_or_replace(
        &path("bin"),
        Entry {
            kind: own.get(&path("bin")).expect("bin").kind.clone(),
            meta: Metadata {
                uid,
                gid,
                ..Metadata::with_mode(0o555)
            },
        },
    )
    .expect("replace");
    let own_record = OutputRecord {
        object: OutputObject::Tree {
            tree: store.put_tree(&own).expect("put"),
        },
        secret: false,
    };
    let destination = directory.path().join("result/own");
    for _ in 0..2 {
        let result = store
            .materialize(&own_record, &destination, &MaterializeOptions::default())
            .expect("materialize");
        assert_eq!(result, Materialized::Directory(destination.clone()));
    }
    let tool = fs::metadata(destination.join("bin/tool")).expect("stat");
    assert_eq!((tool.mode() & 0o7777, tool.uid()), (0o4755, uid));

    // Secrets are owner-only in the store and when materialized.
    let secret = store.put_blob(b"token", true).expect("put");
    let secret_record = OutputRecord {
        object: OutputObject::File {
            blob: secret.digest,
            size: secret.size,
            executable: false,
        },
        secret: true,
    };
    let secret_path = directory.path().join("result/token");
    store
        .materialize(&secret_record, &secret_path, &MaterializeOptions::default())
        .expect("materialize");
    assert_eq!(
        fs::metadata(&secret_path)
            .expect("stat")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert_eq!(fs::read(&secret_path).expect("read"), b"token");

    // GC and verify work on what we own.
    store.add_root("own", &[own_record]).expect("root");
    assert!(store.verify().expect("verify").problems.is_empty());
    store.gc().expect("gc");
    assert!(store.has_blob(&binary.digest));
    assert!(!store.has_blob(&secret.digest));
    // Clean up read-only directories so the temporary directory can be removed.
    fs::set_permissions(destination.join("bin"), fs::Permissions::from_mode(0o755)).expect("chmod");
}
