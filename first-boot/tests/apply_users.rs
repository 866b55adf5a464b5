//! Users under `apply`, with the host's real shadow tools chrooting into a fake root
//! (`useradd --root`): that needs root, so each test first requires it (a skip message
//! on a developer machine, a failure under CI).

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use imgbuild_first_boot::apply::{apply, Options, Outcome, Report};
use imgbuild_first_boot::model::{File, Instance, Password, Source, User};
use imgbuild_test_support::{require, require_root, require_tools};

const TOOLS: &[&str] = &["useradd", "usermod", "groupadd", "chpasswd"];
const HASH: &str = "$6$saltsalt$Vbs1lThv8hBRsTidZ/ZW1ovd5o3xdbvA2ouYbWfNPrRp7UBxfFsAZjSaHVG1ASSy3tDJO0BMmpCPOqcYd7JLN.";

/// A fake bookworm root with the accounts files a rootfs has (shadow files 0640).
fn fake_root(with_sudo: bool) -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("temporary directory");
    let write = |path: &str, text: &str, mode: u32| {
        let path = root.path().join(path);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(&path, text).expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
    };
    write("etc/passwd", "root:x:0:0:root:/root:/bin/bash\n", 0o644);
    write("etc/group", "root:x:0:\nshadow:x:42:\nadm:x:4:\n", 0o644);
    write("etc/shadow", "root:*:19000:0:99999:7:::\n", 0o640);
    write("etc/gshadow", "root:*::\nshadow:*::\nadm:*::\n", 0o640);
    write(
        "etc/login.defs",
        "USERGROUPS_ENAB yes\nUID_MIN 1000\nUID_MAX 60000\nGID_MIN 1000\nGID_MAX 60000\n",
        0o644,
    );
    write("etc/skel/.bashrc", "# skeleton\n", 0o644);
    write(
        "etc/machine-id",
        "0123456789abcdef0123456789abcdef\n",
        0o444,
    );
    fs::create_dir_all(root.path().join("home")).expect("mkdir");
    if with_sudo {
        fs::create_dir_all(root.path().join("etc/sudoers.d")).expect("mkdir");
    }
    root
}

fn options() -> Options {
    Options {
        live: false,
        script_timeout: Duration::from_secs(10),
        ..Options::default()
    }
}

fn alice() -> User {
    User {
        name: "alice".to_owned(),
        groups: vec!["adm".to_owned(), "docker".to_owned()],
        sudo: true,
        password: Some(Password::Hash(HASH.to_owned())),
        lock_password: false,
        ssh_keys: vec!["ssh-ed25519 AAAAC3Nza alice@laptop".to_owned()],
        shell: None,
        gecos: Some("Alice".to_owned()),
    }
}

fn instance(id: &str, users: Vec<User>) -> Instance {
    Instance {
        source: Source::NoCloud,
        instance_id: id.to_owned(),
        hostname: None,
        interfaces: Vec::new(),
        nameservers: Vec::new(),
        users,
        files: Vec::new(),
        scripts: Vec::new(),
        warnings: Vec::new(),
    }
}

fn read(root: &Path, path: &str) -> String {
    fs::read_to_string(root.join(path)).unwrap_or_else(|error| panic!("{path}: {error}"))
}

fn outcome(report: &Report, name: &str) -> Outcome {
    report
        .step(name)
        .unwrap_or_else(|| panic!("no step {name}:\n{report}"))
        .outcome
}

fn ready() -> Option<()> {
    require_root("useradd --root chroots into the fake root")?;
    require_tools(TOOLS)?;
    Some(())
}

#[test]
fn a_new_user_gets_home_groups_password_sudo_and_keys() {
    require!(ready());
    let root = fake_root(true);
    let mut with_file = instance("i-1", vec![alice()]);
    with_file.files.push(File {
        path: "/home/alice/notes".to_owned(),
        content: b"hi\n".to_vec(),
        mode: 0o640,
        owner: Some("alice".to_owned()),
        append: false,
    });
    let report = apply(root.path(), &with_file, &options());
    assert!(!report.failed(), "{report}");
    let root = root.path();
    let passwd = read(root, "etc/passwd");
    // docker is created first (gid 1000), so alice's own group is 1001.
    assert!(
        passwd.contains("alice:x:1000:1001:Alice:/home/alice:/bin/bash\n"),
        "{passwd}"
    );
    let group = read(root, "etc/group");
    for line in ["adm:x:4:alice", "alice:x:1001:", "docker:x:1000:alice"] {
        assert!(
            group.lines().any(|found| found == line),
            "{line} in\n{group}"
        );
    }
    assert!(read(root, "etc/shadow").contains(&format!("alice:{HASH}:")));
    let shadow = fs::metadata(root.join("etc/shadow")).expect("shadow");
    assert_eq!(shadow.permissions().mode() & 0o777, 0o640);
    let home = fs::metadata(root.join("home/alice")).expect("home");
    assert_eq!(
        (home.uid(), home.gid(), home.permissions().mode() & 0o777),
        (1000, 1001, 0o700)
    );
    assert_eq!(read(root, "home/alice/.bashrc"), "# skeleton\n");
    let sudoers = root.join("etc/sudoers.d/90-imgbuild-alice");
    assert!(
        read(root, "etc/sudoers.d/90-imgbuild-alice").ends_with("alice ALL=(ALL) NOPASSWD:ALL\n")
    );
    assert_eq!(
        fs::metadata(&sudoers)
            .expect("sudoers")
            .permissions()
            .mode()
            & 0o777,
        0o440
    );
    let ssh = fs::metadata(root.join("home/alice/.ssh")).expect(".ssh");
    assert_eq!((ssh.uid(), ssh.permissions().mode() & 0o777), (1000, 0o700));
    let keys = fs::metadata(root.join("home/alice/.ssh/authorized_keys")).expect("keys");
    assert_eq!(
        (keys.uid(), keys.gid(), keys.permissions().mode() & 0o777),
        (1000, 1001, 0o600)
    );
    assert_eq!(
        read(root, "home/alice/.ssh/authorized_keys"),
        "ssh-ed25519 AAAAC3Nza alice@laptop\n"
    );
    let notes = fs::metadata(root.join("home/alice/notes")).expect("notes");
    assert_eq!(
        (notes.uid(), notes.gid()),
        (1000, 1001),
        "files come after users"
    );
    // Secrets stay out of the report and the log.
    let log = read(root, "var/log/imgbuild-first-boot.log");
    for text in [report.to_string(), log] {
        assert!(!text.contains("saltsalt"), "{text}");
    }
}

#[test]
fn a_new_instance_updates_users_without_duplicating_keys() {
    require!(ready());
    let root = fake_root(true);
    assert!(!apply(root.path(), &instance("i-1", vec![alice()]), &options()).failed());
    let keys = root.path().join("home/alice/.ssh/authorized_keys");
    fs::write(
        &keys,
        read(root.path(), "home/alice/.ssh/authorized_keys") + "ssh-rsa AAAAB3 added-by-hand",
    )
    .expect("edit");
    let mut changed = alice();
    changed.sudo = false;
    changed.ssh_keys.push("ssh-rsa AAAAB3 second".to_owned());
    changed.ssh_keys.push("ssh-rsa AAAAB3 second".to_owned());
    changed.password = Some(Password::Plain("correct horse battery staple".to_owned()));
    changed.lock_password = true;
    changed.shell = Some("/bin/sh".to_owned());
    let report = apply(root.path(), &instance("i-2", vec![changed]), &options());
    assert!(!report.failed(), "{report}");
    assert_eq!(
        read(root.path(), "home/alice/.ssh/authorized_keys"),
        "ssh-ed25519 AAAAC3Nza alice@laptop\nssh-rsa AAAAB3 added-by-hand\nssh-rsa AAAAB3 second\n"
    );
    assert!(!root.path().join("etc/sudoers.d/90-imgbuild-alice").exists());
    assert!(
        read(root.path(), "etc/passwd").contains("alice:x:1000:1001:Alice:/home/alice:/bin/sh\n")
    );
    let shadow = read(root.path(), "etc/shadow");
    let entry = shadow
        .lines()
        .find(|line| line.starts_with("alice:"))
        .expect("alice in shadow");
    assert!(
        entry.starts_with("alice:!$6$"),
        "a new SHA-512 hash, locked: {entry}"
    );
    assert!(!report.to_string().contains("horse"), "{report}");
    assert_eq!(
        report.step("user alice").map(|step| step.message.as_str()),
        Some("updated, password set, password locked")
    );
}

#[test]
fn sudo_needs_sudo_and_a_failed_user_skips_its_keys() {
    require!(ready());
    let root = fake_root(false);
    let mut bad = alice();
    bad.name = "Bad.Name".to_owned();
    let report = apply(
        root.path(),
        &instance("i-1", vec![alice(), bad]),
        &options(),
    );
    assert_eq!(outcome(&report, "user alice"), Outcome::Done, "{report}");
    let sudo = report.step("sudo alice").expect("sudo step");
    assert_eq!(
        (sudo.outcome, sudo.message.as_str()),
        (Outcome::Skipped, "sudo is not installed")
    );
    assert_eq!(outcome(&report, "user Bad.Name"), Outcome::Failed);
    assert_eq!(outcome(&report, "ssh-keys Bad.Name"), Outcome::Skipped);
    assert_eq!(outcome(&report, "sudo Bad.Name"), Outcome::Skipped);
    assert_eq!(outcome(&report, "ssh-keys alice"), Outcome::Done);
}

#[test]
fn a_symbolic_link_in_a_home_is_not_followed() {
    require!(ready());
    let root = fake_root(true);
    assert!(!apply(root.path(), &instance("i-1", vec![alice()]), &options()).failed());
    // The user replaces ~/.ssh with a link to root's: the next instance must not follow it.
    fs::create_dir_all(root.path().join("root/.ssh")).expect("mkdir");
    fs::remove_dir_all(root.path().join("home/alice/.ssh")).expect("rm");
    std::os::unix::fs::symlink("/root/.ssh", root.path().join("home/alice/.ssh")).expect("symlink");
    let report = apply(root.path(), &instance("i-2", vec![alice()]), &options());
    assert_eq!(
        outcome(&report, "ssh-keys alice"),
        Outcome::Failed,
        "{report}"
    );
    assert!(!root.path().join("root/.ssh/authorized_keys").exists());
}
