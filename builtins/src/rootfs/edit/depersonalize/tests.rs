//! Tests of de-personalization: what goes, what stays, what is emptied, and mtimes.

use super::*;
use crate::rootfs::edit::test_support::Fixture;

const EPOCH: i64 = Fixture::MTIME;

/// A tree with one of everything the rules are about, every entry dated after
/// `EPOCH` except `usr/old`.
fn built() -> Fixture {
    let mut fixture = Fixture::new();
    let late = Metadata {
        mtime: EPOCH + 1000,
        ..Metadata::default_file()
    };
    fixture
        .file("etc/ssh/ssh_host_ed25519_key", "private")
        .file("etc/ssh/ssh_host_ed25519_key.pub", "public")
        .file("etc/ssh/ssh_host_rsa_key", "private")
        .file("etc/ssh/sshd_config", "Port 22\n")
        .file("etc/machine-id", "0123456789abcdef0123456789abcdef\n")
        .file("etc/resolv.conf", "nameserver 10.0.0.1\n")
        .file("etc/hostname", "web1\n")
        .file(
            "var/lib/dbus/machine-id",
            "0123456789abcdef0123456789abcdef\n",
        )
        .file("var/lib/systemd/random-seed", "seed")
        .file("var/lib/systemd/credential.secret", "key")
        .file("var/log/dpkg.log", "log")
        .file("var/log/apt/history.log", "log")
        .file("var/log/btmp", "")
        .directory("var/log/journal", 0o2755)
        .file("var/cache/ldconfig/aux-cache", "cache")
        .file("var/cache/debconf/config.dat", "keep")
        .file("var/cache/debconf/config.dat-old", "old")
        .file("var/lib/dpkg/status", "keep")
        .file("var/lib/dpkg/status-old", "old")
        .file("var/lib/dpkg/lock", "")
        .file("var/cache/apt/pkgcache.bin", "bin")
        .file("var/cache/apt/archives/lock", "")
        .file(
            "var/lib/apt/lists/mirror.example.org_debian_dists_bookworm_InRelease",
            "index",
        )
        .file("var/lib/apt/lists/lock", "")
        .file("var/lib/apt/lists/partial/x", "partial")
        .file("var/cache/man/index.db", "db")
        .file("var/cache/man/de/index.db", "db")
        .file("root/.bash_history", "ls\n")
        .file("home/ops/.bash_history", "ls\n")
        .file("home/ops/.bashrc", "# keep\n")
        .file("tmp/build", "x")
        .directory("var/tmp/dir", 0o755)
        .file("run/lock/x", "x")
        .file_with("usr/late", "x", late.clone())
        .file_with(
            "usr/old",
            "x",
            Metadata {
                mtime: 5,
                ..Metadata::default_file()
            },
        )
        .directory("tmp", 0o1777);
    fixture.tree.set_root_meta(Metadata {
        mtime: EPOCH + 1,
        ..Metadata::default_directory()
    });
    fixture
}

#[test]
fn identities_logs_and_caches_go_and_the_rest_stays() {
    let mut fixture = built();
    let log = depersonalize(&mut fixture.tree, EPOCH);
    let remaining: Vec<String> = fixture
        .tree
        .walk()
        .map(|(path, _)| path.to_string())
        .collect();
    assert_eq!(
        remaining,
        [
            "etc",
            "etc/hostname",
            "etc/machine-id",
            "etc/resolv.conf",
            "etc/ssh",
            "etc/ssh/sshd_config",
            "home",
            "home/ops",
            "home/ops/.bashrc",
            "root",
            "run",
            "tmp",
            "usr",
            "usr/late",
            "usr/old",
            "var",
            "var/cache",
            "var/cache/apt",
            "var/cache/apt/archives",
            "var/cache/apt/archives/lock",
            "var/cache/debconf",
            "var/cache/debconf/config.dat",
            "var/cache/ldconfig",
            "var/cache/man",
            "var/lib",
            "var/lib/apt",
            "var/lib/apt/lists",
            "var/lib/apt/lists/partial",
            "var/lib/dbus",
            "var/lib/dpkg",
            "var/lib/dpkg/lock",
            "var/lib/dpkg/status",
            "var/lib/systemd",
            "var/log",
            "var/log/apt",
            "var/log/btmp",
            "var/log/journal",
            "var/tmp",
        ]
    );
    for emptied in ["etc/machine-id", "etc/resolv.conf"] {
        assert_eq!(fixture.text(emptied), "", "{emptied}");
    }
    assert_eq!(
        fixture.meta("etc/machine-id"),
        Metadata {
            mtime: EPOCH,
            ..Metadata::with_mode(0o644)
        }
    );
    assert_eq!(fixture.meta("tmp").mode, 0o1777);
    assert_eq!(fixture.meta("var/log/journal").mode, 0o2755);
    assert!(
        log.contains(&"removed /etc/ssh/ssh_host_ed25519_key".to_owned()),
        "{log:?}"
    );
    assert!(
        log.contains(&"emptied /etc/machine-id".to_owned()),
        "{log:?}"
    );
    assert!(
        log.contains(
            &"removed 2 file(s) under /var/log (directories, empty files and symlinks kept)"
                .to_owned()
        ),
        "{log:?}"
    );
}

#[test]
fn mtimes_are_clamped_not_raised() {
    let mut fixture = built();
    depersonalize(&mut fixture.tree, EPOCH);
    assert_eq!(fixture.meta("usr/late").mtime, EPOCH);
    assert_eq!(fixture.meta("usr/old").mtime, 5);
    assert_eq!(fixture.tree.root_meta().mtime, EPOCH);
    assert!(fixture
        .tree
        .walk()
        .all(|(_, entry)| entry.meta.mtime <= EPOCH));
    // A second pass changes nothing.
    let before = fixture.tree.clone();
    assert_eq!(
        depersonalize(&mut fixture.tree, EPOCH),
        Vec::<String>::new()
    );
    assert_eq!(fixture.tree, before);
}

#[test]
fn links_are_kept_and_a_tree_without_an_empty_blob_loses_the_file() {
    let mut fixture = Fixture::new();
    fixture
        .file("etc/machine-id", "0123\n")
        .symlink("etc/resolv.conf", "../run/systemd/resolve/stub-resolv.conf")
        .symlink("var/lib/dbus/machine-id", "../../../etc/machine-id");
    let log = depersonalize(&mut fixture.tree, EPOCH);
    assert_eq!(
        log,
        ["removed /etc/machine-id (no empty file in the tree to reuse)"]
    );
    assert!(!fixture.has("etc/machine-id"));
    assert_eq!(
        fixture.link("etc/resolv.conf"),
        "../run/systemd/resolve/stub-resolv.conf"
    );
    assert_eq!(
        fixture.link("var/lib/dbus/machine-id"),
        "../../../etc/machine-id"
    );
}
