//! The result directory: builds writing into one at the same time take turns, a result
//! someone edited, replaced or deleted is repaired by the next build, and a tree holding
//! setuid files or device nodes is out of other users' reach.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{build_here, fingerprint, run, scratch, write_files, Run};
use imgbuild_test_support::require;

/// 100 outputs `o0`..`o99`: with `--arg v=small` a small file each, with `v=big` a tree
/// of 41 files each (owned by `--arg owner=UID:GID`, so that any user can write it as a
/// directory), which takes much longer to write out.
const MANY_OUTPUTS: &str = r#"let owner = args.owner.split(":");
let uid = parse_int(owner[0]);
let gid = parse_int(owner[1]);
let files = #{ "/": #{ directory: true, uid: uid, gid: gid } };
for j in 0..40 { files[`/f${j}`] = #{ text: `file ${j}`, uid: uid, gid: gid }; }
let outputs = #{};
for i in 0..100 {
    if args.v == "big" {
        let entries = files;
        entries["/which"] = #{ text: `big ${i}`, uid: uid, gid: gid };
        outputs[`o${i}`] = tree(`o${i}`, entries);
    } else {
        outputs[`o${i}`] = text(`o${i}`, `small ${i}`);
    }
}
outputs
"#;

/// `imgbuild build recipe.rhai --store store -o OUT --arg v=VALUE --arg owner=...`.
fn build_many(directory: &Path, out: &str, value: &str) -> Command {
    let metadata = std::fs::metadata(directory).expect("stat scratch");
    let mut command = common::imgbuild(directory);
    command
        .args([
            "build",
            "recipe.rhai",
            "--store",
            "store",
            "-o",
            out,
            "--arg",
        ])
        .arg(format!("v={value}"))
        .arg("--arg")
        .arg(format!("owner={}:{}", metadata.uid(), metadata.gid()));
    command
}

/// Starts [`build_many`] into `out`; its stderr lines arrive on the returned channel.
fn spawn_many(
    directory: &Path,
    value: &str,
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    let mut child = build_many(directory, "out", value)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start imgbuild");
    let stderr = child.stderr.take().expect("stderr");
    let (sender, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    (child, lines)
}

/// Waits for a line containing `text` (at most a minute); panics with what came before.
fn wait_for_line(lines: &std::sync::mpsc::Receiver<String>, text: &str) {
    let mut seen = Vec::new();
    loop {
        match lines.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.contains(text) => return,
            Ok(line) => seen.push(line),
            Err(_) => panic!("no line with {text:?}; stderr so far:\n{}", seen.join("\n")),
        }
    }
}

/// Waits for `child` to succeed, with its remaining stderr lines.
fn finish(mut child: std::process::Child, lines: std::sync::mpsc::Receiver<String>) -> Vec<String> {
    let status = child.wait().expect("wait for imgbuild");
    let rest: Vec<String> = lines.iter().collect();
    assert!(status.success(), "{}", rest.join("\n"));
    rest
}

/// The manifest's records by result name.
fn manifest_records(out: &Path) -> BTreeMap<String, serde_json::Value> {
    let text = std::fs::read_to_string(out.join(".imgbuild-manifest")).expect("read manifest");
    let manifest: serde_json::Value = serde_json::from_str(&text).expect("manifest is JSON");
    manifest["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|entry| {
            let name = entry["name"].as_str().expect("name").to_owned();
            (name, entry["record"].clone())
        })
        .collect()
}

#[test]
fn concurrent_builds_into_one_result_directory_leave_it_consistent() {
    let directory = scratch();
    let directory = directory.path();
    write_files(directory, &[("recipe.rhai", MANY_OUTPUTS)]);
    // What each value's results are, built alone (which also puts them in the store,
    // so the builds below only write results).
    let mut alone = BTreeMap::new();
    for value in ["big", "small"] {
        let out = format!("alone-{value}");
        run(&mut build_many(directory, &out, value)).success();
        alone.insert(value, manifest_records(&directory.join(out)));
    }
    let out = directory.join("out");
    for round in 0..5 {
        // `small` starts while `big` is writing its results, and would overtake it.
        let (big, big_lines) = spawn_many(directory, "big");
        wait_for_line(&big_lines, "o0 -> out/o0");
        let (small, small_lines) = spawn_many(directory, "small");
        finish(big, big_lines);
        finish(small, small_lines);
        // Whatever order they ran in, each result is what the manifest says it is.
        let records = manifest_records(&out);
        assert_eq!(records.len(), 100, "round {round}");
        for (name, record) in &records {
            let value = if out.join(name).is_dir() {
                "big"
            } else {
                "small"
            };
            assert_eq!(
                Some(record),
                alone[value].get(name),
                "round {round}: {name} holds the {value} result but the manifest records the other"
            );
        }
    }
    // A build after all that leaves exactly its own results.
    run(&mut build_many(directory, "out", "big")).success();
    assert_eq!(manifest_records(&out), alone["big"]);
    for index in 0..100 {
        assert_eq!(
            std::fs::read_to_string(out.join(format!("o{index}/which"))).ok(),
            Some(format!("big {index}")),
            "o{index}"
        );
    }
}

#[test]
fn a_build_waits_for_the_one_writing_the_result_directory() {
    let directory = scratch();
    let directory = directory.path();
    write_files(directory, &[("recipe.rhai", MANY_OUTPUTS)]);
    let out = directory.join("out");
    std::fs::create_dir(&out).expect("create out");
    // Stand in for another build: hold the result directory's lock.
    let held = std::fs::File::open(&out).expect("open out");
    held.lock().expect("lock out");
    let (child, lines) = spawn_many(directory, "small");
    wait_for_line(&lines, "waiting for another build writing out/");
    std::thread::sleep(Duration::from_millis(200));
    assert!(!out.join("o0").exists(), "nothing is written meanwhile");
    drop(held);
    let rest = finish(child, lines);
    assert!(
        !rest
            .iter()
            .any(|line| line.contains("waiting for another build")),
        "said once: {rest:?}"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("o0")).ok().as_deref(),
        Some("small 0")
    );
}

const SMALL_RECIPE: &str = "#{\n    \"notes.txt\": text(\"notes\", \"hello, results\\n\"),\n    site: tree(\"site\", #{ \"/etc/motd\": #{ text: \"hi\\n\" }, \"/index.html\": #{ text: \"<p>x</p>\\n\" } }),\n}\n";

/// Builds [`SMALL_RECIPE`], damages the result with `damage`, builds again: the result
/// must be as before and the build must say it repaired `repaired` (a path below `out`).
fn check_repair(what: &str, repaired: &str, damage: impl Fn(&Path)) {
    let directory = scratch();
    let directory = directory.path();
    write_files(directory, &[("recipe.rhai", SMALL_RECIPE)]);
    build_here(directory, &[]).success();
    let out = directory.join("out");
    let before = fingerprint(&out);
    damage(&out);
    let again = build_here(directory, &[]);
    again.success();
    assert!(
        again.stderr.contains(&format!("repaired out/{repaired}")),
        "{what}: the build must say it repaired {repaired}:\n{}",
        again.stderr
    );
    assert_eq!(fingerprint(&out), before, "{what}: not repaired");
    // And now it is a no-op again.
    let third = build_here(directory, &[]);
    third.success();
    assert!(
        !third.stderr.contains("repaired"),
        "{what}: repaired twice:\n{}",
        third.stderr
    );
}

fn shell(command: &str, directory: &Path) {
    let status = Command::new("sh")
        .args(["-c", command])
        .current_dir(directory)
        .status()
        .expect("run sh");
    assert!(status.success(), "{command}");
}

#[test]
fn edited_replaced_or_deleted_results_are_repaired() {
    check_repair("edited", "notes.txt", |out| {
        shell("echo x > notes.txt", out);
    });
    check_repair("edited, same size and mtime", "notes.txt", |out| {
        shell(
            "printf 'HELLO, RESULTS\\n' > ../new && touch -r notes.txt ../new && cp -p ../new notes.txt",
            out,
        );
    });
    check_repair("made executable", "notes.txt", |out| {
        shell("chmod 755 notes.txt", out);
    });
    check_repair("deleted", "notes.txt", |out| {
        shell("rm notes.txt", out);
    });
    check_repair("replaced by a directory", "notes.txt", |out| {
        shell("rm notes.txt && mkdir notes.txt", out);
    });
    check_repair("tree deleted", "site", |out| {
        shell("rm -r site", out);
    });
    check_repair("tree replaced by a file", "site", |out| {
        shell("rm -r site && echo x > site", out);
    });
    check_repair("entry added to a tree", "site", |out| {
        shell("echo extra > site/extra", out);
    });
    check_repair("entry removed from a tree", "site", |out| {
        shell("rm site/index.html", out);
    });
}

#[test]
fn a_touched_result_is_checked_not_rewritten() {
    let directory = scratch();
    let directory = directory.path();
    write_files(directory, &[("recipe.rhai", SMALL_RECIPE)]);
    build_here(directory, &[]).success();
    let out = directory.join("out");
    let inode = std::fs::metadata(out.join("notes.txt"))
        .expect("stat")
        .ino();
    shell("touch -d 2001-01-01 notes.txt", &out);
    let again = build_here(directory, &[]);
    again.success();
    assert!(!again.stderr.contains("repaired"), "{}", again.stderr);
    assert_eq!(
        std::fs::metadata(out.join("notes.txt"))
            .expect("stat")
            .ino(),
        inode,
        "same content: left in place"
    );
}

/// A tree with a setuid-root shell and a device node, and a plain file beside it.
const DANGEROUS_RECIPE: &str = "#{\n    \"plain.txt\": text(\"plain\", \"anyone may read this\\n\"),\n    rootfs: tree(\"rootfs\", #{\n        \"/bin/rootshell\": #{ text: \"#!/bin/sh\\nexec /bin/sh -p\\n\", mode: 0o4755 },\n        \"/dev/null\": #{ char_device: [1, 3], mode: 0o666 },\n        \"/etc/motd\": #{ text: \"hi\\n\" },\n    }),\n}\n";

/// Runs `command...` as `user` (with `runuser`).
fn as_user(runuser: &Path, user: &str, directory: &Path, command: &[&str]) -> Run {
    run(Command::new(runuser)
        .args(["-u", user, "--"])
        .args(command)
        .current_dir(directory)
        .env("NO_COLOR", "1")
        .env_remove("IMGBUILD_STORE")
        .stdin(Stdio::null()))
}

/// Checks that `out/NAME` went below `out/.imgbuild-private` (0700, owned by `owner`),
/// that `other` cannot reach `inside` through it, and can read `out/plain.txt`.
fn check_private(runuser: &Path, directory: &Path, built: &Run, owner: u32, other: &str) {
    let out = directory.join("out");
    assert!(
        built
            .stderr
            .contains("rootfs is written below out/.imgbuild-private")
            && built.stderr.contains("`/bin/rootshell` is setuid"),
        "the build names the output and why:\n{}",
        built.stderr
    );
    let private = std::fs::symlink_metadata(out.join(".imgbuild-private")).expect("private");
    assert_eq!(
        (private.is_dir(), private.mode() & 0o7777, private.uid()),
        (true, 0o700, owner)
    );
    assert_eq!(
        std::fs::read_link(out.join("rootfs")).expect("rootfs is a link"),
        Path::new(".imgbuild-private/rootfs")
    );
    // The tree itself keeps its own metadata.
    let top = std::fs::metadata(out.join("rootfs")).expect("rootfs");
    assert_eq!(top.mode() & 0o7777, 0o755);
    let rootshell = std::fs::metadata(out.join("rootfs/bin/rootshell")).expect("rootshell");
    assert_eq!(rootshell.mode() & 0o7777, 0o4755);
    for path in [
        "out/rootfs/bin/rootshell",
        "out/.imgbuild-private/rootfs/bin/rootshell",
    ] {
        let reached = as_user(runuser, other, directory, &["test", "-e", path]);
        assert_eq!(reached.code, Some(1), "{other} can reach {path}");
    }
    let plain = as_user(runuser, other, directory, &["cat", "out/plain.txt"]);
    plain.success();
    assert_eq!(plain.stdout, "anyone may read this\n");
}

#[test]
fn setuid_files_and_devices_are_out_of_other_users_reach() {
    let runuser = require!(common::runuser_as_root());
    let directory = scratch();
    let directory = directory.path();
    // Only our own directory may stand between other users and the results.
    std::fs::set_permissions(directory, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    write_files(directory, &[("recipe.rhai", DANGEROUS_RECIPE)]);
    let built = build_here(directory, &[]);
    built.success();
    check_private(&runuser, directory, &built, 0, "nobody");
    let rootshell = std::fs::metadata(directory.join("out/rootfs/bin/rootshell")).expect("stat");
    assert_eq!(rootshell.uid(), 0, "as root, ownership is applied");

    // A tree that is no longer dangerous comes out of the private directory.
    write_files(
        directory,
        &[(
            "recipe.rhai",
            "#{ rootfs: tree(\"rootfs\", #{ \"/etc/motd\": #{ text: \"hi\\n\" } }) }\n",
        )],
    );
    build_here(directory, &[]).success();
    let out = directory.join("out");
    assert!(std::fs::symlink_metadata(out.join("rootfs")).is_ok_and(|metadata| metadata.is_dir()));
    let left: Vec<_> = std::fs::read_dir(out.join(".imgbuild-private"))
        .expect("list")
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// As an ordinary user, a tree whose setuid file that user owns is private too: anyone
/// who ran it would act as that user.
#[test]
fn an_ordinary_users_setuid_files_are_private_too() {
    let runuser = require!(common::runuser_as_root());
    let directory = scratch();
    let directory = directory.path();
    std::fs::set_permissions(directory, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let nobody = as_user(&runuser, "nobody", directory, &["id", "-u"]);
    let nobody_group = as_user(&runuser, "nobody", directory, &["id", "-g"]);
    let (uid, gid) = (nobody.stdout.trim(), nobody_group.stdout.trim());
    let owned = format!("uid: {uid}, gid: {gid}");
    write_files(
        directory,
        &[(
            "recipe.rhai",
            &format!(
                "#{{\n    \"plain.txt\": text(\"plain\", \"anyone may read this\\n\"),\n    rootfs: tree(\"rootfs\", #{{\n        \"/\": #{{ directory: true, mode: 0o755, {owned} }},\n        \"/bin\": #{{ directory: true, {owned} }},\n        \"/bin/rootshell\": #{{ text: \"#!/bin/sh\\nid\\n\", mode: 0o4755, {owned} }},\n    }}),\n}}\n"
            ),
        )],
    );
    let built = as_user(
        &runuser,
        "nobody",
        directory,
        &[
            common::BINARY,
            "build",
            "recipe.rhai",
            "--store",
            "store",
            "-o",
            "out",
        ],
    );
    built.success();
    let owner = uid.parse().expect("uid");
    check_private(&runuser, directory, &built, owner, "daemon");
}
