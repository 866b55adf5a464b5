//! What comes back from a step: owners, modes, links, capabilities; the same tree for
//! root and an ordinary user; reproducible bytes, clamped times, the golden digest.

use super::fixture::*;
use crate::common;

#[test]
fn owners_modes_hard_links_fifos_and_capabilities_survive_steps_and_results() {
    require!(require_result_tree());
    let getcap = require!(require_tool("getcap"));
    let directory = require!(project(&recipe(&format!(
        "let made = run(#{{ root: root, name: \"made\", script: {} }});\n\
         #{{ checked: run(#{{ root: made, name: \"checked\", script: {} }}) }}",
        rhai_string(MAKE_SPECIAL_FILES),
        rhai_string(CHECK_SPECIAL_FILES)
    ))));
    let directory = directory.path();
    let built = build_json(directory);
    built.expect_code(0);
    assert_eq!(built.started, ["fixture", "made", "checked"]);
    // The checks ran (a step that printed nothing would not prove anything).
    let identity = {
        let events = common::json_lines(&built.stdout);
        events
            .iter()
            .find(|event| event["event"] == "finished" && event["name"] == "checked")
            .and_then(|event| event["derivation"].as_str())
            .expect("a finished event for `checked`")
            .to_owned()
    };
    assert!(
        log(directory, &identity).contains("all special files survived\n"),
        "the checking step's log"
    );

    // The result: setuid and capabilities make it private to the builder.
    let result = directory.join("result");
    assert_eq!(built.paths["checked"], "result/checked");
    assert_eq!(
        std::fs::read_link(result.join("checked")).expect("result/checked is a link"),
        Path::new(".imgbuild-private/checked")
    );
    let tree = result.join(".imgbuild-private/checked");
    assert_eq!(owner_and_mode(&tree.join("made")), (42, 43, 0o640));
    assert_eq!(
        std::fs::read_to_string(tree.join("made")).expect("read made"),
        "made\n"
    );
    assert_eq!(
        owner_and_mode(&tree.join("usr/bin/id-setuid")),
        (0, 0, 0o4755)
    );
    let a = std::fs::metadata(tree.join("a")).expect("stat a");
    let b = std::fs::metadata(tree.join("b")).expect("stat b");
    assert_eq!(
        (a.ino(), a.nlink(), b.nlink()),
        (b.ino(), 2, 2),
        "/a and /b are one file"
    );
    let fifo = std::fs::symlink_metadata(tree.join("f")).expect("stat f");
    assert!(fifo.file_type().is_fifo(), "/f is a fifo");
    assert_eq!(owner_and_mode(&tree.join("f")), (0, 0, 0o644));
    let ping = tree.join("usr/bin/ping-copy");
    let shown = Command::new(&getcap)
        .arg(&ping)
        .output()
        .expect("run getcap");
    assert_eq!(
        String::from_utf8_lossy(&shown.stdout),
        format!("{} cap_net_raw=ep\n", ping.display())
    );
}

/// A step that gives files to several owners, as root and as an ordinary user.
const CHOWN_SCRIPT: &str = "mkdir /srv
for id in 1 100 1000 65534 65535; do
    echo $id > /srv/u$id
    chown $id:$id /srv/u$id
done
chown 1000:2000 /srv
chmod 2750 /srv
";

#[test]
fn root_and_an_ordinary_user_build_the_same_tree() {
    let runuser = require!(require_user(
        TEST_USER,
        "only root can run commands as another user"
    ));
    let user_uid = Command::new("id")
        .args(["-u", TEST_USER])
        .output()
        .expect("run id");
    let user_uid: u32 = String::from_utf8_lossy(&user_uid.stdout)
        .trim()
        .parse()
        .expect("uid");
    require!(require(if has_subordinate_range(TEST_USER, user_uid) {
        Ok(())
    } else {
        Err(Missing::new(format!(
            "`{TEST_USER}` has no subordinate id range (scripts/setup.sh as root adds it)"
        )))
    }));
    let tar = require!(require_tool("tar"));
    let recipe = one_step("owned", &format!("script: {}", rhai_string(CHOWN_SCRIPT)));
    let as_root = require!(project(&recipe));
    let as_user = require!(project(&recipe));
    give_to(TEST_USER, as_user.path());
    let (binary, _copy) = binary_for(&runuser, TEST_USER);

    let by_root = build_json(as_root.path());
    by_root.expect_code(0);
    let user = Who::User {
        runuser: &runuser,
        user: TEST_USER,
        binary: &binary,
    };
    let by_user = build(as_user.path(), &user, "store", "result", true);
    by_user.expect_code(0);
    assert_eq!(
        by_user.output("owned"),
        by_root.output("owned"),
        "the same tree, whoever builds"
    );
    // Root writes the owners; the user cannot, and gets the tree as a tar that has them.
    let srv = as_root.path().join("result/owned/srv");
    assert_eq!(owner_and_mode(&srv), (1000, 2000, 0o2750));
    for id in [1, 100, 1000, 65534, 65535] {
        assert_eq!(
            owner_and_mode(&srv.join(format!("u{id}"))),
            (id, id, 0o644),
            "u{id}"
        );
    }
    assert_eq!(by_user.paths["owned"], "result/owned.tar");
    let listing = Command::new(tar)
        .args(["--numeric-owner", "-tvf", "result/owned.tar", "./srv"])
        .current_dir(as_user.path())
        .output()
        .expect("run tar");
    assert!(listing.status.success(), "tar -t");
    let owners: Vec<String> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            format!("{} {} {}", fields[0], fields[1], fields[fields.len() - 1])
        })
        .collect();
    assert_eq!(
        owners,
        [
            "drwxr-s--- 1000/2000 ./srv/",
            "-rw-r--r-- 1/1 ./srv/u1",
            "-rw-r--r-- 100/100 ./srv/u100",
            "-rw-r--r-- 1000/1000 ./srv/u1000",
            "-rw-r--r-- 65534/65534 ./srv/u65534",
            "-rw-r--r-- 65535/65535 ./srv/u65535",
        ]
    );
}

/// Builds that must agree, into fresh stores, with `source_date_epoch` set.
const STAMPED_SCRIPT: &str = "echo stamped > /created
mkdir /created-directory
echo old > /old
touch -d @1000000000 /old
echo \"$SOURCE_DATE_EPOCH\" > /epoch
";

const EPOCH: i64 = 1_700_000_000;

#[test]
fn a_step_is_reproducible_and_its_mtimes_are_clamped() {
    require!(require_result_tree());
    let directory = require!(project(&one_step(
        "stamped",
        &format!(
            "source_date_epoch: {EPOCH}, script: {}",
            rhai_string(STAMPED_SCRIPT)
        )
    )));
    let directory = directory.path();
    let first = build(directory, &Who::Us, "store-a", "result-a", true);
    first.expect_code(0);
    let second = build(directory, &Who::Us, "store-b", "result-b", true);
    second.expect_code(0);
    assert_eq!(second.started, ["fixture", "stamped"], "a fresh store");
    assert_eq!(first.output("stamped"), second.output("stamped"));
    let tree = directory.join("result-a/stamped");
    let mtime = |path: &str| {
        std::fs::symlink_metadata(tree.join(path))
            .unwrap_or_else(|error| panic!("{path}: {error}"))
            .mtime()
    };
    for (path, expected) in [
        ("created", EPOCH),
        ("created-directory", EPOCH),
        ("old", 1_000_000_000),
        ("epoch", EPOCH),
        ("bin/bash", 0),
        ("", EPOCH),
    ] {
        assert_eq!(mtime(path), expected, "mtime of /{path}");
    }
    assert_eq!(
        std::fs::read_to_string(tree.join("epoch")).expect("read epoch"),
        format!("{EPOCH}\n")
    );
    assert_eq!(
        common::fingerprint(&tree),
        common::fingerprint(&directory.join("result-b/stamped"))
    );
}

/// The step removes every host binary of the fixture, so what is left depends only on
/// the script: the `run` kind's golden output digest (listed in
/// `builtins/tests/golden.rs` as covered here). A change in what the sandbox writes
/// back (owners, modes, mtimes, what /tmp and /run leave behind) changes it: bump
/// `run`'s kind_version and record the new digest.
const GOLDEN_SCRIPT: &str = "mkdir -p /srv/golden
echo golden > /srv/golden/file
chown 42:43 /srv/golden/file
chmod 0640 /srv/golden/file
ln -s file /srv/golden/link
echo scratch > /tmp/scratch
cd /
exec /usr/bin/rm -rf /bin /usr /lib /lib64";

#[test]
fn the_run_kind_has_a_golden_output_digest() {
    require!(require_sandbox());
    let directory = require!(project(&one_step(
        "golden",
        &format!(
            "source_date_epoch: {EPOCH}, script: {}",
            rhai_string(GOLDEN_SCRIPT)
        )
    )));
    let built = build(directory.path(), &Who::Us, "store", "result", true);
    built.expect_code(0);
    assert_eq!(
        built.output("golden"),
        "40dd2e2d205ca169511e93c4170674eae4c924fa5f7c7031914de45ea85ebc80",
        "the run kind's output changed: bump its kind_version in builtins/src/core/run.rs and record the new digest"
    );
}
