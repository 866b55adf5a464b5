//! Tests of enabling and disabling services. The expected symlinks are the ones
//! bookworm's `systemctl --root=DIR enable/disable` (252) made for the same units on a
//! merged-/usr tree.

use std::collections::BTreeMap;

use imgbuild_evaluator::Value;

use super::super::test_support::Fixture;
use super::super::EditError;
use super::{apply, parse, ServiceChanges};

const UNITS: &str = "usr/lib/systemd/system";

/// A merged-/usr tree with bookworm's systemd and a few units.
fn image(systemd_version: &str) -> Fixture {
    let mut fixture = Fixture::new();
    let status =
        format!("Package: systemd\nStatus: install ok installed\nVersion: {systemd_version}\n\n");
    fixture
        .symlink("lib", "usr/lib")
        .file("var/lib/dpkg/status", &status)
        .file(
            &format!("{UNITS}/nginx.service"),
            "[Service]\nExecStart=/usr/sbin/nginx\n\n[Install]\nWantedBy=multi-user.target\n",
        )
        .file(
            &format!("{UNITS}/ssh.service"),
            "[Install]\nWantedBy=multi-user.target\nAlias=sshd.service\nAlso=ssh.socket\n",
        )
        .file(
            &format!("{UNITS}/ssh.socket"),
            "[Socket]\nListenStream=22\n[Install]\nWantedBy=sockets.target\n",
        )
        .file(
            &format!("{UNITS}/getty@.service"),
            "[Install]\nWantedBy=getty.target\nDefaultInstance=tty1\n",
        )
        .file(
            &format!("{UNITS}/serial-getty@.service"),
            "[Install]\nWantedBy=getty.target\n",
        )
        .file(
            &format!("{UNITS}/static.service"),
            "[Unit]\nDescription=static\n",
        )
        .file(
            &format!("{UNITS}/masked.service"),
            "[Install]\nWantedBy=multi-user.target\n",
        )
        .symlink("etc/systemd/system/masked.service", "/dev/null")
        .file(
            "etc/systemd/system/local.service",
            "[Install]\nWantedBy=multi-user.target\nRequiredBy=foo.target\n",
        );
    fixture
}

fn changes(enable: &[&str], disable: &[&str]) -> ServiceChanges {
    let list = |names: &[&str]| {
        Value::List(
            names
                .iter()
                .map(|name| Value::String((*name).to_owned()))
                .collect(),
        )
    };
    let map: BTreeMap<String, Value> = [
        ("enable".to_owned(), list(enable)),
        ("disable".to_owned(), list(disable)),
    ]
    .into();
    parse(&Value::Map(map)).expect("services parse")
}

/// The symlinks under etc/systemd/system other than the fixture's mask.
fn links(fixture: &Fixture) -> Vec<String> {
    fixture
        .symlinks()
        .into_iter()
        .filter(|link| link.starts_with("etc/systemd/system/") && !link.ends_with("/dev/null"))
        .collect()
}

fn check_enable(enable: &[&str], expected: &[&str]) {
    let mut fixture = image("252.38-1~deb12u1");
    fixture
        .edit(|edit| apply(edit, &changes(enable, &[])))
        .expect("enable");
    assert_eq!(links(&fixture), expected, "{enable:?}");
}

#[test]
fn enabling_creates_exactly_systemctls_symlinks() {
    check_enable(
        &["nginx"],
        &["etc/systemd/system/multi-user.target.wants/nginx.service -> /lib/systemd/system/nginx.service"],
    );
    // Alias= and Also=.
    check_enable(
        &["ssh"],
        &[
            "etc/systemd/system/multi-user.target.wants/ssh.service -> /lib/systemd/system/ssh.service",
            "etc/systemd/system/sockets.target.wants/ssh.socket -> /lib/systemd/system/ssh.socket",
            "etc/systemd/system/sshd.service -> /lib/systemd/system/ssh.service",
        ],
    );
    // Templates: DefaultInstance=, or the instance named.
    check_enable(
        &["getty@", "serial-getty@ttyS0.service"],
        &[
            "etc/systemd/system/getty.target.wants/getty@tty1.service -> /lib/systemd/system/getty@.service",
            "etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service -> /lib/systemd/system/serial-getty@.service",
        ],
    );
    // A unit of the config directory links there; RequiredBy= makes `.requires`.
    check_enable(
        &["local"],
        &[
            "etc/systemd/system/foo.target.requires/local.service -> /etc/systemd/system/local.service",
            "etc/systemd/system/multi-user.target.wants/local.service -> /etc/systemd/system/local.service",
        ],
    );
}

#[test]
fn links_are_root_owned_with_the_build_time_and_enabling_twice_is_a_no_op() {
    let mut fixture = image("252.38-1~deb12u1");
    fixture
        .edit(|edit| apply(edit, &changes(&["nginx", "ssh"], &[])))
        .expect("enable");
    let meta = fixture.meta("etc/systemd/system/multi-user.target.wants/nginx.service");
    assert_eq!(
        (meta.mode, meta.uid, meta.gid, meta.mtime),
        (0o777, 0, 0, Fixture::MTIME)
    );
    let before = links(&fixture);
    let logged = fixture.applied.changes.len();
    // Through the alias this time.
    fixture
        .edit(|edit| apply(edit, &changes(&["nginx", "sshd"], &[])))
        .expect("again");
    assert_eq!(links(&fixture), before);
    assert_eq!(fixture.applied.changes.len(), logged);
}

#[test]
fn trixie_links_point_to_usr_lib() {
    let mut fixture = image("257.9-1~deb13u1");
    fixture
        .edit(|edit| apply(edit, &changes(&["nginx"], &[])))
        .expect("enable");
    assert_eq!(
        links(&fixture),
        ["etc/systemd/system/multi-user.target.wants/nginx.service -> /usr/lib/systemd/system/nginx.service"]
    );
}

fn check_error(enable: &[&str], expected: &str) {
    let mut fixture = image("252.38-1~deb12u1");
    let error: EditError = fixture
        .edit(|edit| apply(edit, &changes(enable, &[])))
        .expect_err("an error");
    assert_eq!(error.to_string(), expected);
}

#[test]
fn units_that_cannot_be_enabled_are_errors() {
    check_error(
        &["ngnix"],
        "service `ngnix` is not in the image; did you mean `nginx`?",
    );
    check_error(&["postgresql"], "service `postgresql` is not in the image");
    check_error(
        &["static"],
        "service `static.service` cannot be enabled: it has no [Install] section \
         (no WantedBy=, RequiredBy=, Alias= or Also= in /lib/systemd/system/static.service)",
    );
    check_error(
        &["masked"],
        "service `masked.service` cannot be enabled: it is masked (`/etc/systemd/system/masked.service` points to /dev/null)",
    );
    check_error(
        &["serial-getty@"],
        "service `serial-getty@.service` is a template: name an instance (e.g. `serial-getty@NAME`) \
         or give it DefaultInstance= in its [Install] section",
    );
}

#[test]
fn disabling_removes_the_units_links_and_nothing_else() {
    let mut fixture = image("252.38-1~deb12u1");
    fixture
        .edit(|edit| {
            apply(
                edit,
                &changes(
                    &[
                        "nginx",
                        "ssh",
                        "getty@tty2",
                        "getty@tty3",
                        "serial-getty@ttyS0",
                    ],
                    &[],
                ),
            )
        })
        .expect("enable");
    // Through the alias; Also= takes ssh.socket along. A template takes every instance.
    fixture
        .edit(|edit| apply(edit, &changes(&[], &["sshd", "getty@"])))
        .expect("disable");
    assert_eq!(
        links(&fixture),
        [
            "etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service -> /lib/systemd/system/serial-getty@.service",
            "etc/systemd/system/multi-user.target.wants/nginx.service -> /lib/systemd/system/nginx.service",
        ]
    );
    assert_eq!(
        fixture.link("etc/systemd/system/masked.service"),
        "/dev/null"
    );
    // One instance only; disabling runs before enabling.
    fixture
        .edit(|edit| {
            apply(
                edit,
                &changes(&["getty@tty5"], &["serial-getty@ttyS0", "nginx"]),
            )
        })
        .expect("both");
    assert_eq!(
        links(&fixture),
        ["etc/systemd/system/getty.target.wants/getty@tty5.service -> /lib/systemd/system/getty@.service"]
    );
}

#[test]
fn service_options_are_checked() {
    let check = |value: Value, expected: &str| assert_eq!(parse(&value), Err(expected.to_owned()));
    let map = |key: &str, names: &[&str]| {
        Value::Map(
            [(
                key.to_owned(),
                Value::List(
                    names
                        .iter()
                        .map(|name| Value::String((*name).to_owned()))
                        .collect(),
                ),
            )]
            .into(),
        )
    };
    check(
        map("enabel", &[]),
        "`services`: unknown key `enabel`; did you mean `enable`?",
    );
    check(
        map("enable", &["a b"]),
        "`services.enable`: `a b` is not a systemd unit name",
    );
    check(
        map("enable", &["x", "x.service"]),
        "service `x.service` is given twice",
    );
    let both: BTreeMap<String, Value> = [
        (
            "enable".to_owned(),
            Value::List(vec![Value::String("x".to_owned())]),
        ),
        (
            "disable".to_owned(),
            Value::List(vec![Value::String("x".to_owned())]),
        ),
    ]
    .into();
    check(
        Value::Map(both),
        "service `x.service` is both enabled and disabled",
    );
}
