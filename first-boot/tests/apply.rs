//! `apply` on a fake Debian root in a temporary directory: what it writes, with which
//! modes, that a second run changes nothing, that a new instance id runs the per-instance
//! steps again, and that nothing lands outside the root. Users (which need root for the
//! shadow tools' `--root`) are in `apply_users.rs`, scripts in `apply_scripts.rs`.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use imgbuild_first_boot::apply::{apply, Options, Outcome, Report};
use imgbuild_first_boot::model::{File, Instance, Interface, Source};

/// A fake bookworm root: accounts, skeleton, hosts, networkd enabled, sudo installed.
fn fake_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("temporary directory");
    let write = |path: &str, text: &str| {
        let path = root.path().join(path);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(path, text).expect("write");
    };
    write(
        "etc/passwd",
        "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n",
    );
    write(
        "etc/group",
        "root:x:0:\ndaemon:x:1:\nadm:x:4:\nshadow:x:42:\n",
    );
    write(
        "etc/hosts",
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
    );
    write("lib/systemd/system/systemd-networkd.service", "[Unit]\n");
    fs::create_dir_all(
        root.path()
            .join("etc/systemd/system/multi-user.target.wants"),
    )
    .expect("mkdir");
    symlink(
        "/lib/systemd/system/systemd-networkd.service",
        root.path()
            .join("etc/systemd/system/multi-user.target.wants/systemd-networkd.service"),
    )
    .expect("symlink");
    root
}

fn options() -> Options {
    Options {
        live: false,
        script_timeout: Duration::from_secs(10),
        ..Options::default()
    }
}

fn instance(id: &str) -> Instance {
    Instance {
        source: Source::NoCloud,
        instance_id: id.to_owned(),
        hostname: Some("web-1.example.org".to_owned()),
        interfaces: vec![Interface {
            name: Some("eth0".to_owned()),
            mac: Some("52:54:00:12:34:56".to_owned()),
            addresses: vec!["192.0.2.10/24".to_owned()],
            gateway4: Some("192.0.2.1".to_owned()),
            search: vec!["example.org".to_owned()],
            ..Interface::default()
        }],
        nameservers: vec!["192.0.2.53".to_owned()],
        users: Vec::new(),
        files: Vec::new(),
        scripts: Vec::new(),
        warnings: Vec::new(),
    }
}

fn read(root: &Path, path: &str) -> String {
    fs::read_to_string(root.join(path)).unwrap_or_else(|error| panic!("{path}: {error}"))
}

fn mode(root: &Path, path: &str) -> u32 {
    fs::symlink_metadata(root.join(path))
        .expect(path)
        .permissions()
        .mode()
        & 0o7777
}

/// The outcome of the step `name`, with the whole report on failure.
fn outcome(report: &Report, name: &str) -> Outcome {
    report
        .step(name)
        .unwrap_or_else(|| panic!("no step {name}:\n{report}"))
        .outcome
}

#[test]
fn a_first_boot_writes_hostname_network_and_state() {
    let root = fake_root();
    let report = apply(root.path(), &instance("i-1"), &options());
    assert!(!report.failed(), "{report}");
    let root = root.path();
    assert_eq!(read(root, "etc/hostname"), "web-1\n");
    assert_eq!(
        read(root, "etc/hosts"),
        "127.0.0.1\tlocalhost\n127.0.1.1\tweb-1.example.org web-1 # imgbuild-first-boot\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    );
    let network = read(root, "etc/systemd/network/10-imgbuild-0.network");
    for line in [
        "MACAddress=52:54:00:12:34:56",
        "Address=192.0.2.10/24",
        "Gateway=192.0.2.1",
        "DNS=192.0.2.53",
        "Domains=example.org",
    ] {
        assert!(
            network.lines().any(|found| found == line),
            "{line} in\n{network}"
        );
    }
    assert_eq!(
        mode(root, "etc/systemd/network/10-imgbuild-0.network"),
        0o644
    );
    // No systemd-resolved here: resolv.conf carries the servers.
    assert!(read(root, "etc/resolv.conf").contains("nameserver 192.0.2.53\nsearch example.org\n"));
    assert_eq!(mode(root, "var/lib/imgbuild-first-boot"), 0o700);
    assert_eq!(
        read(root, "var/lib/imgbuild-first-boot/instance-id"),
        "i-1\n"
    );
    assert_eq!(mode(root, "var/lib/imgbuild-first-boot/instance-id"), 0o600);
    let machine_id = read(root, "etc/machine-id");
    assert_eq!(machine_id.trim().len(), 32, "{machine_id}");
    assert!(machine_id
        .trim()
        .bytes()
        .all(|byte| byte.is_ascii_hexdigit()));
    assert_eq!(mode(root, "var/log/imgbuild-first-boot.log"), 0o600);
    assert_eq!(
        outcome(&report, "ssh-host-keys"),
        Outcome::Skipped,
        "no sshd in the image"
    );
    assert_eq!(outcome(&report, "instance"), Outcome::Done);
    let lines = report.lines();
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("done    hostname: web-1 (web-1.example.org)")),
        "{lines:?}"
    );
    assert!(
        lines.last().is_some_and(|line| line.contains("0 failed")),
        "{lines:?}"
    );
}

#[test]
fn a_second_boot_changes_nothing() {
    let root = fake_root();
    let first = apply(root.path(), &instance("i-1"), &options());
    assert!(!first.failed(), "{first}");
    fs::write(
        root.path().join("etc/hosts"),
        read(root.path(), "etc/hosts") + "10.0.0.7 db\n",
    )
    .expect("edit hosts");
    let hosts = read(root.path(), "etc/hosts");
    let machine_id = read(root.path(), "etc/machine-id");
    let second = apply(root.path(), &instance("i-1"), &options());
    assert!(!second.failed(), "{second}");
    assert_eq!(outcome(&second, "instance"), Outcome::Skipped);
    assert!(
        second.step("hostname").is_none(),
        "per-instance steps do not run:\n{second}"
    );
    assert_eq!(outcome(&second, "machine-id"), Outcome::Skipped);
    assert_eq!(read(root.path(), "etc/hosts"), hosts);
    assert_eq!(read(root.path(), "etc/machine-id"), machine_id);
}

#[test]
fn a_new_instance_applies_again_and_removes_what_it_no_longer_wants() {
    let root = fake_root();
    let mut two = instance("i-1");
    two.interfaces.push(Interface {
        name: Some("eth1".to_owned()),
        dhcp4: true,
        ..Interface::default()
    });
    assert!(!apply(root.path(), &two, &options()).failed());
    assert!(root
        .path()
        .join("etc/systemd/network/10-imgbuild-1.network")
        .exists());
    // Someone else's file with a similar name stays.
    fs::write(
        root.path()
            .join("etc/systemd/network/20-imgbuild-mine.network"),
        "[Match]\n",
    )
    .expect("write");
    let mut renamed = instance("i-2");
    renamed.hostname = Some("web-2".to_owned());
    let report = apply(root.path(), &renamed, &options());
    assert!(!report.failed(), "{report}");
    assert_eq!(outcome(&report, "instance"), Outcome::Done);
    assert!(
        report
            .step("network")
            .is_some_and(|step| step.message.contains("removed 1 file")),
        "{report}"
    );
    assert!(!root
        .path()
        .join("etc/systemd/network/10-imgbuild-1.network")
        .exists());
    assert!(root
        .path()
        .join("etc/systemd/network/20-imgbuild-mine.network")
        .exists());
    assert_eq!(read(root.path(), "etc/hostname"), "web-2\n");
    let hosts = read(root.path(), "etc/hosts");
    assert_eq!(hosts.matches("127.0.1.1").count(), 1, "{hosts}");
    assert!(
        hosts.contains("127.0.1.1\tweb-2 # imgbuild-first-boot"),
        "{hosts}"
    );
    assert_eq!(
        read(root.path(), "var/lib/imgbuild-first-boot/instance-id"),
        "i-2\n"
    );
}

#[test]
fn ifupdown_images_get_an_interfaces_d_file_named_through_sys() {
    let root = fake_root();
    fs::remove_file(
        root.path()
            .join("etc/systemd/system/multi-user.target.wants/systemd-networkd.service"),
    )
    .expect("disable networkd");
    fs::create_dir_all(root.path().join("etc/network/interfaces.d")).expect("mkdir");
    fs::write(
        root.path().join("etc/network/interfaces"),
        "auto lo\niface lo inet loopback\n",
    )
    .expect("write");
    fs::create_dir_all(root.path().join("sys/class/net/ens3")).expect("mkdir");
    fs::write(
        root.path().join("sys/class/net/ens3/address"),
        "52:54:00:12:34:56\n",
    )
    .expect("write");
    let report = apply(root.path(), &instance("i-1"), &options());
    assert!(!report.failed(), "{report}");
    let text = read(root.path(), "etc/network/interfaces.d/imgbuild");
    assert!(
        text.contains(
            "auto ens3\niface ens3 inet static\n    address 192.0.2.10/24\n    gateway 192.0.2.1\n"
        ),
        "{text}"
    );
    assert!(read(root.path(), "etc/network/interfaces")
        .ends_with("source /etc/network/interfaces.d/imgbuild # imgbuild-first-boot\n"));
    assert!(!root.path().join("etc/systemd/network").exists());
    // Applying again (a new instance) does not add a second source line.
    assert!(!apply(root.path(), &instance("i-2"), &options()).failed());
    assert_eq!(
        read(root.path(), "etc/network/interfaces")
            .matches("source")
            .count(),
        1
    );
}

#[test]
fn bad_values_fail_their_step_only() {
    let root = fake_root();
    let mut bad = instance("i-1");
    bad.hostname = Some("web;reboot".to_owned());
    bad.interfaces[0].addresses = vec!["192.0.2.10/24\nDNS=6.6.6.6".to_owned()];
    bad.files = vec![File {
        path: "/etc/motd".to_owned(),
        content: b"hello\n".to_vec(),
        mode: 0o644,
        owner: None,
        append: false,
    }];
    let report = apply(root.path(), &bad, &options());
    assert_eq!(outcome(&report, "hostname"), Outcome::Failed);
    assert_eq!(outcome(&report, "network"), Outcome::Failed);
    assert_eq!(outcome(&report, "file /etc/motd"), Outcome::Done);
    assert!(!root.path().join("etc/hostname").exists());
    assert!(!root.path().join("etc/systemd/network").exists());
    assert_eq!(read(root.path(), "etc/motd"), "hello\n");
}

#[test]
fn files_outside_the_root_are_refused_or_kept_inside() {
    let root = fake_root();
    let outside = tempfile::tempdir().expect("temporary directory");
    // Links that would leave the root if the kernel resolved them.
    symlink(outside.path(), root.path().join("etc/absolute")).expect("symlink");
    symlink("../../../../../../../../..", root.path().join("etc/up")).expect("symlink");
    symlink(outside.path().join("motd"), root.path().join("etc/motd")).expect("symlink");
    let file = |path: &str| File {
        path: path.to_owned(),
        content: b"x\n".to_vec(),
        mode: 0o600,
        owner: None,
        append: false,
    };
    let mut hostile = instance("i-1");
    hostile.files = [
        "relative/path",
        "/etc/../../escape",
        "/",
        "/etc/absolute/a",
        "/etc/up/b",
        "/etc/motd",
    ]
    .into_iter()
    .map(file)
    .collect();
    hostile.files.push(File {
        append: true,
        ..file("/etc/up/tmp/c")
    });
    let report = apply(root.path(), &hostile, &options());
    for refused in ["relative/path", "/etc/../../escape", "/"] {
        assert_eq!(
            outcome(&report, &format!("file {refused}")),
            Outcome::Failed,
            "{refused}"
        );
    }
    for kept_inside in ["/etc/absolute/a", "/etc/up/b", "/etc/motd", "/etc/up/tmp/c"] {
        assert_eq!(
            outcome(&report, &format!("file {kept_inside}")),
            Outcome::Done,
            "{kept_inside}:\n{report}"
        );
    }
    assert_eq!(
        fs::read_dir(outside.path()).expect("list").count(),
        0,
        "nothing written outside the root"
    );
    // As a chrooted process would see them: absolute links start at the root, `..` stops there.
    let inside = |path: &Path| root.path().join(path.strip_prefix("/").expect("absolute"));
    assert_eq!(
        fs::read(inside(&outside.path().join("a"))).expect("a"),
        b"x\n"
    );
    assert_eq!(
        fs::read(inside(&outside.path().join("motd"))).expect("motd"),
        b"x\n"
    );
    assert_eq!(fs::read(root.path().join("b")).expect("b"), b"x\n");
    assert_eq!(fs::read(root.path().join("tmp/c")).expect("c"), b"x\n");
    assert_eq!(mode(root.path(), "b"), 0o600);
}

#[test]
fn files_get_their_mode_and_appends_keep_what_was_there() {
    let root = fake_root();
    fs::write(root.path().join("etc/environment"), "A=1\n").expect("write");
    let mut with_files = instance("i-1");
    with_files.files = vec![
        File {
            path: "/opt/app/deep/run.sh".to_owned(),
            content: b"#!/bin/sh\n".to_vec(),
            mode: 0o4755,
            owner: Some("daemon:adm".to_owned()),
            append: false,
        },
        File {
            path: "/etc/environment".to_owned(),
            content: b"B=2\n".to_vec(),
            mode: 0o600,
            owner: None,
            append: true,
        },
        File {
            path: "/etc/x".to_owned(),
            content: Vec::new(),
            mode: 0o644,
            owner: Some("nobody-here".to_owned()),
            append: false,
        },
    ];
    let report = apply(root.path(), &with_files, &options());
    assert_eq!(
        outcome(&report, "file /opt/app/deep/run.sh"),
        Outcome::Done,
        "{report}"
    );
    assert_eq!(mode(root.path(), "opt/app/deep/run.sh"), 0o4755);
    assert_eq!(mode(root.path(), "opt/app/deep"), 0o755);
    assert_eq!(read(root.path(), "etc/environment"), "A=1\nB=2\n");
    assert_eq!(outcome(&report, "file /etc/x"), Outcome::Failed);
    assert!(
        report
            .step("file /etc/x")
            .is_some_and(|step| step.message.contains("no user \"nobody-here\"")),
        "{report}"
    );
    if imgbuild_test_support::is_root() {
        use std::os::unix::fs::MetadataExt;
        let metadata = fs::metadata(root.path().join("opt/app/deep/run.sh")).expect("stat");
        assert_eq!(
            (metadata.uid(), metadata.gid()),
            (1, 4),
            "owner from the target's files"
        );
    }
}

#[test]
fn ssh_host_keys_are_made_when_sshd_is_installed() {
    imgbuild_test_support::require!(imgbuild_test_support::require_tool("ssh-keygen"));
    let root = fake_root();
    fs::create_dir_all(root.path().join("usr/sbin")).expect("mkdir");
    fs::write(root.path().join("usr/sbin/sshd"), "").expect("write");
    fs::create_dir_all(root.path().join("etc/ssh/sshd_config.d")).expect("mkdir");
    let report = apply(root.path(), &instance("i-1"), &options());
    assert_eq!(outcome(&report, "ssh-host-keys"), Outcome::Done, "{report}");
    for kind in ["ecdsa", "ed25519"] {
        assert_eq!(
            mode(root.path(), &format!("etc/ssh/ssh_host_{kind}_key")),
            0o600
        );
    }
    // No RSA key (slow to make under emulation); sshd is told which keys it has.
    assert!(!root.path().join("etc/ssh/ssh_host_rsa_key").exists());
    let told = fs::read_to_string(
        root.path()
            .join("etc/ssh/sshd_config.d/imgbuild-host-keys.conf"),
    )
    .expect("sshd configuration");
    assert!(
        told.contains("HostKey /etc/ssh/ssh_host_ed25519_key"),
        "{told}"
    );
    let again = apply(root.path(), &instance("i-1"), &options());
    assert_eq!(
        outcome(&again, "ssh-host-keys"),
        Outcome::Skipped,
        "{again}"
    );
}
