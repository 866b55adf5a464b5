//! Tests of users and groups: exact account lines, allocation, modes and ownership of
//! what is written, and the errors naming both sides of a clash.

use std::collections::BTreeMap;

use imgbuild_evaluator::{Sealed, Value};
use sha_crypt::PasswordVerifier as _;

use super::super::options::Options;
use super::super::test_support::Fixture;
use super::super::EditError;

const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n\
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
systemd-network:x:998:998:systemd Network Management:/:/usr/sbin/nologin\n\
first:x:1000:1000::/home/first:/bin/bash\n";
const GROUP: &str = "root:x:0:\nadm:x:4:\nsudo:x:27:\nwww-data:x:33:\nshadow:x:42:\n\
users:x:100:\nnogroup:x:65534:\nsystemd-network:x:998:\nfirst:x:1000:\nother:x:1001:\n";
const SHADOW: &str = "root:*:19000:0:99999:7:::\nfirst:!:19000:0:99999:7:::\n";
const GSHADOW: &str = "root:*::\nadm:*::\nsudo:*::\nshadow:*::\nfirst:!::\nother:!::\n";
/// `Fixture::MTIME / 86400`.
const DAYS: &str = "19518";
const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ops@laptop";

/// A bookworm-like tree: merged /usr, the account files, a skeleton, bash, sudo.
fn debian() -> Fixture {
    let mut fixture = Fixture::new();
    fixture
        .symlink("bin", "usr/bin")
        .file("usr/bin/bash", "ELF")
        .file("usr/bin/sudo", "ELF")
        .file("usr/sbin/nologin", "ELF")
        .file("etc/passwd", PASSWD)
        .file("etc/group", GROUP)
        .file("etc/shadow", SHADOW)
        .file("etc/gshadow", GSHADOW)
        .file("etc/skel/.bashrc", "# bashrc\n")
        .file("etc/skel/.bashrc.dpkg-old", "# old\n")
        .directory("etc/skel/.config", 0o755)
        .directory("home/first", 0o700);
    fixture
}

fn text(value: &str) -> Value {
    Value::String(value.to_owned())
}

fn strings(items: &[&str]) -> Value {
    Value::List(items.iter().map(|item| text(item)).collect())
}

fn map(entries: &[(&str, Value)]) -> Value {
    Value::Map(
        entries
            .iter()
            .map(|(key, value)| ((*key).to_owned(), value.clone()))
            .collect(),
    )
}

fn options(groups: Vec<Value>, users: Vec<Value>) -> Result<Options, String> {
    let mut arguments = BTreeMap::new();
    arguments.insert("groups".to_owned(), Value::List(groups));
    arguments.insert("users".to_owned(), Value::List(users));
    Options::from_value(&arguments)
}

/// Applies the options to `fixture`.
fn run(fixture: &mut Fixture, groups: Vec<Value>, users: Vec<Value>) -> Result<(), EditError> {
    let options = options(groups, users).expect("options parse");
    fixture.edit(|edit| super::apply(edit, &options.groups, &options.users))
}

/// Checks the lines appended to each account file (the existing ones stay first).
fn check_appended(fixture: &Fixture, file: &str, original: &str, appended: &[&str]) {
    let mut expected = original.to_owned();
    for line in appended {
        expected.push_str(line);
        expected.push('\n');
    }
    assert_eq!(fixture.text(file), expected, "{file}");
}

#[test]
fn users_and_groups_are_appended_with_allocated_ids() {
    let mut fixture = debian();
    run(
        &mut fixture,
        vec![
            map(&[("name", text("deploy"))]),
            map(&[("name", text("monitor")), ("system", Value::Bool(true))]),
        ],
        vec![
            map(&[
                ("name", text("ops")),
                ("groups", strings(&["deploy", "adm"])),
                ("comment", text("Operations")),
            ]),
            map(&[("name", text("svc")), ("system", Value::Bool(true))]),
            map(&[
                ("name", text("web")),
                ("uid", Value::Int(2000)),
                ("group", text("www-data")),
            ]),
        ],
    )
    .expect("apply");
    // deploy: 1000 and 1001 are taken as gids. ops: the first id free as uid and gid.
    // svc: uid 999 is free, gid 999 is monitor's, 998 systemd-network's.
    check_appended(
        &fixture,
        "etc/passwd",
        PASSWD,
        &[
            "ops:x:1003:1003:Operations:/home/ops:/bin/bash",
            "svc:x:999:997::/nonexistent:/usr/sbin/nologin",
            "web:x:2000:33::/home/web:/bin/bash",
        ],
    );
    assert_eq!(
        fixture.text("etc/group"),
        GROUP.replace("adm:x:4:", "adm:x:4:ops")
            + "deploy:x:1002:ops\nmonitor:x:999:\nops:x:1003:\nsvc:x:997:\n"
    );
    check_appended(
        &fixture,
        "etc/shadow",
        SHADOW,
        &[
            &format!("ops:!:{DAYS}:0:99999:7:::"),
            &format!("svc:!:{DAYS}::::::"),
            &format!("web:!:{DAYS}:0:99999:7:::"),
        ],
    );
    assert_eq!(
        fixture.text("etc/gshadow"),
        GSHADOW.replace("adm:*::", "adm:*::ops") + "deploy:!::ops\nmonitor:!::\nops:!::\nsvc:!::\n"
    );
    let expected_modes = [
        ("etc/passwd", 0o644, 0),
        ("etc/group", 0o644, 0),
        ("etc/shadow", 0o640, 42),
        ("etc/gshadow", 0o640, 42),
    ];
    for (file, mode, gid) in expected_modes {
        let meta = fixture.meta(file);
        assert_eq!(
            (meta.mode, meta.uid, meta.gid, meta.mtime),
            (mode, 0, gid, Fixture::MTIME),
            "{file}"
        );
    }
    assert!(!fixture.applied.secret);
}

#[test]
fn homes_are_made_from_the_skeleton_with_ssh_keys() {
    let mut fixture = debian();
    run(
        &mut fixture,
        vec![],
        vec![map(&[
            ("name", text("ops")),
            ("ssh_authorized_keys", strings(&[KEY])),
        ])],
    )
    .expect("apply");
    let owned = |path: &str, mode: u32| {
        let meta = fixture.meta(path);
        assert_eq!(
            (meta.mode, meta.uid, meta.gid, meta.mtime),
            (mode, 1002, 1002, Fixture::MTIME),
            "{path}"
        );
    };
    owned("home/ops", 0o700);
    owned("home/ops/.bashrc", 0o644);
    owned("home/ops/.config", 0o755);
    owned("home/ops/.ssh", 0o700);
    owned("home/ops/.ssh/authorized_keys", 0o600);
    assert_eq!(fixture.text("home/ops/.bashrc"), "# bashrc\n");
    assert!(!fixture.has("home/ops/.bashrc.dpkg-old"));
    assert_eq!(
        fixture.text("home/ops/.ssh/authorized_keys"),
        format!("{KEY}\n")
    );
    // The skeleton itself is untouched.
    assert_eq!(fixture.meta("etc/skel/.bashrc").uid, 0);
}

#[test]
fn passwords_are_hashed_and_make_the_tree_secret() {
    let mut fixture = debian();
    let sealed = Sealed::new(&[7; 32], "correct horse".to_owned());
    let crypted = "$6$salt$IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy.g.";
    run(
        &mut fixture,
        vec![],
        vec![
            map(&[("name", text("ops")), ("password", Value::Secret(sealed))]),
            map(&[("name", text("dev")), ("crypted_password", text(crypted))]),
        ],
    )
    .expect("apply");
    let shadow = fixture.text("etc/shadow");
    let hash_of = |user: &str| {
        shadow
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{user}:")))
            .and_then(|rest| rest.split(':').next())
            .unwrap_or_default()
            .to_owned()
    };
    let hash = hash_of("ops");
    assert!(
        hash.starts_with("$6$") && !shadow.contains("correct horse"),
        "{hash}"
    );
    sha_crypt::ShaCrypt::default()
        .verify_password(b"correct horse", hash.as_str())
        .expect("the hash verifies");
    assert_eq!(hash_of("dev"), crypted);
    assert!(fixture.applied.secret);
    assert!(fixture
        .applied
        .changes
        .iter()
        .all(|line| !line.contains("correct horse")));
}

fn check_error(groups: Vec<Value>, users: Vec<Value>, expected: &str) {
    let mut fixture = debian();
    let error = run(&mut fixture, groups, users).expect_err("an error");
    assert_eq!(error.to_string(), expected);
}

#[test]
fn clashes_name_both_sides() {
    let user = |entries: &[(&str, Value)]| vec![map(entries)];
    check_error(
        vec![],
        user(&[("name", text("web")), ("uid", Value::Int(33))]),
        "user `web` wants uid 33, which belongs to `www-data` in /etc/passwd",
    );
    check_error(
        vec![map(&[("name", text("web")), ("gid", Value::Int(33))])],
        vec![],
        "group `web` wants gid 33, which belongs to `www-data` in /etc/group",
    );
    check_error(
        vec![],
        user(&[("name", text("web")), ("gid", Value::Int(42))]),
        "user `web` wants gid 42, which belongs to `shadow` in /etc/group",
    );
    check_error(
        vec![],
        user(&[("name", text("root"))]),
        "user `root` already exists in /etc/passwd",
    );
    check_error(
        vec![map(&[("name", text("adm"))])],
        vec![],
        "group `adm` already exists in /etc/group",
    );
    check_error(
        vec![],
        user(&[("name", text("users"))]),
        "user `users`: a group `users` already exists in /etc/group; give `group: \"users\"` to make it the user's primary group",
    );
}

#[test]
fn missing_groups_shells_and_sudo_are_errors() {
    check_error(
        vec![map(&[("name", text("deploy"))])],
        vec![map(&[
            ("name", text("ops")),
            ("groups", strings(&["deplyo"])),
        ])],
        "user `ops`: group `deplyo` does not exist in /etc/group; did you mean `deploy`?",
    );
    check_error(
        vec![],
        vec![map(&[("name", text("ops")), ("group", text("wheel"))])],
        "user `ops`: group `wheel` does not exist in /etc/group",
    );
    check_error(
        vec![],
        vec![map(&[("name", text("ops")), ("shell", text("/bin/zsh"))])],
        "user `ops`: the shell `/bin/zsh` is not in the image",
    );
    check_error(
        vec![],
        vec![map(&[
            ("name", text("svc")),
            ("system", Value::Bool(true)),
            ("ssh_authorized_keys", strings(&[KEY])),
        ])],
        "user `svc` has `ssh_authorized_keys` but no home directory; give `home`",
    );
    let mut fixture = debian();
    fixture.tree.remove(&"usr/bin/sudo".parse().expect("path"));
    let error = run(
        &mut fixture,
        vec![],
        vec![map(&[("name", text("ops")), ("sudo", Value::Bool(true))])],
    )
    .expect_err("no sudo");
    assert_eq!(
        error.to_string(),
        "user `ops` has `sudo: true`, but sudo is not installed (no /usr/bin/sudo); add `sudo` to include:"
    );
}

#[test]
fn sudo_uses_the_sudo_group_or_a_sudoers_file() {
    let sudoer = || vec![map(&[("name", text("ops")), ("sudo", Value::Bool(true))])];
    let mut fixture = debian();
    run(&mut fixture, vec![], sudoer()).expect("apply");
    assert!(fixture.text("etc/group").contains("\nsudo:x:27:ops\n"));
    assert!(fixture.text("etc/gshadow").contains("\nsudo:*::ops\n"));
    assert!(!fixture.has("etc/sudoers.d/ops"));

    let mut fixture = debian();
    fixture.file("etc/group", &GROUP.replace("sudo:x:27:\n", ""));
    run(&mut fixture, vec![], sudoer()).expect("apply");
    assert_eq!(fixture.text("etc/sudoers.d/ops"), "ops ALL=(ALL:ALL) ALL\n");
    let meta = fixture.meta("etc/sudoers.d/ops");
    assert_eq!((meta.mode, meta.uid, meta.gid), (0o440, 0, 0));
}

#[test]
fn recipe_errors_are_found_when_parsing() {
    let check = |groups: Vec<Value>, users: Vec<Value>, expected: &str| {
        assert_eq!(options(groups, users).map(drop), Err(expected.to_owned()));
    };
    let one = |entries: &[(&str, Value)]| vec![map(entries)];
    check(vec![], one(&[("name", text("Bob"))]),
        "`users[0].name`: `Bob` is not a valid user name: use at most 32 lowercase letters, digits, `_` and `-`, starting with a letter or `_`");
    check(
        vec![],
        one(&[("name", text("bob")), ("uid", Value::Int(1 << 32))]),
        "`users[0].uid`: 4294967296 is out of range (0 to 4294967294, not 65535)",
    );
    check(
        vec![],
        one(&[("name", text("bob")), ("nmae", text("x"))]),
        "`users[0]`: unknown key `nmae`; did you mean `name`?",
    );
    check(
        vec![],
        vec![map(&[("name", text("bob"))]), map(&[("name", text("bob"))])],
        "user `bob` is given twice",
    );
    check(vec![], one(&[("name", text("bob")), ("gid", Value::Int(5)), ("group", text("adm"))]),
        "`users[0].gid`: give `gid` (the user's own group) or `group` (an existing group), not both");
    check(
        vec![],
        one(&[("name", text("bob")), ("password", text("plain"))]),
        "`users[0].password`: expected secret text",
    );
    check(vec![], one(&[("name", text("bob")), ("crypted_password", text("hunter2"))]),
        "`users[0].crypted_password`: the value (7 characters, not shown: it may be a password) is not a crypt hash (expected `$6$salt$hash`, as `mkpasswd -m sha-512` prints); use `password` for a plain-text password to be hashed at build time");
    check(vec![], one(&[("name", text("bob")), ("ssh_authorized_keys", strings(&["AAAA bob"]))]),
        "`users[0].ssh_authorized_keys`: `AAAA bob` is not an SSH public key (expected `TYPE KEY [COMMENT]` with a type like ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256 or sk-ssh-ed25519@openssh.com)");
    check(
        vec![],
        one(&[("name", text("bob")), ("home", text("home/bob"))]),
        "`users[0].home`: `home/bob` is not an absolute path",
    );
    check(vec![map(&[("name", text("web"))])], one(&[("name", text("web"))]),
        "user `web` would get its own group `web`, which `groups` also adds; give the user `group: \"web\"`");
    check(
        vec![map(&[("name", text("a")), ("gid", Value::Int(3000))])],
        one(&[("name", text("b")), ("gid", Value::Int(3000))]),
        "gid 3000 is given to two groups, `a` and `b`",
    );
    check(
        vec![],
        vec![text("bob")],
        "`users[0]`: expected a map, found a string",
    );
    let with_options = one(&[
        ("name", text("bob")),
        (
            "ssh_authorized_keys",
            strings(&[&format!("from=\"10.0.0.0/8\" {KEY}")]),
        ),
        ("groups", text("adm")),
    ]);
    let parsed = options(vec![], with_options).expect("options before the key are fine");
    assert_eq!(parsed.users[0].groups, ["adm"]);
}
