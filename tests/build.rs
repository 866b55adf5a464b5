//! `imgbuild build` end to end: what lands in the result directory, caching and no-op
//! builds, reproducibility across stores, JSON progress, output selection, `--arg`,
//! early cutoff, and failures with and without `--keep-going`.

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use common::{
    build, fingerprint, hello_recipe, imgbuild_run, running_as_root, scratch, snapshot_settings,
    workspace, write_files, Run,
};

fn hello() -> String {
    hello_recipe().display().to_string()
}

/// Checks one file of a result: its bytes, and its permission bits and owner when given.
fn check_file(path: &Path, content: &[u8], mode: Option<u32>, owner: Option<(u32, u32)>) {
    let metadata = std::fs::symlink_metadata(path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    assert!(
        metadata.is_file(),
        "{} is not a regular file",
        path.display()
    );
    let bytes = std::fs::read(path).expect("read result file");
    assert_eq!(
        String::from_utf8_lossy(&bytes),
        String::from_utf8_lossy(content),
        "content of {}",
        path.display()
    );
    if let Some(mode) = mode {
        assert_eq!(
            metadata.permissions().mode() & 0o7777,
            mode,
            "mode of {} is {:o}",
            path.display(),
            metadata.permissions().mode() & 0o7777
        );
    }
    if let Some((uid, gid)) = owner {
        assert_eq!(
            (metadata.uid(), metadata.gid()),
            (uid, gid),
            "owner of {}",
            path.display()
        );
    }
}

/// `tar -tv --numeric-owner` of an archive, one line per member.
fn tar_listing(archive: &Path) -> Vec<String> {
    let output = Command::new("tar")
        .arg("-tv")
        .arg("--numeric-owner")
        .arg("-f")
        .arg(archive)
        .output()
        .expect("run tar");
    assert!(
        output.status.success(),
        "tar -tv {}: {}",
        archive.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The listing line for `member` has the given permission string and numeric owner.
fn check_tar_member(listing: &[String], member: &str, permissions: &str, owner: &str) {
    let line = listing
        .iter()
        .find(|line| {
            line.ends_with(&format!(" {member}")) || line.ends_with(&format!(" ./{member}"))
        })
        .unwrap_or_else(|| panic!("{member} is not in the archive:\n{}", listing.join("\n")));
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        fields.first().copied(),
        Some(permissions),
        "permissions of {member}: {line}"
    );
    assert_eq!(
        fields.get(1).copied(),
        Some(owner),
        "owner of {member}: {line}"
    );
}

fn greeting_text(who: Option<&str>) -> String {
    match who {
        Some(who) => format!("hello from imgbuild, {who}!\n"),
        None => "hello from imgbuild!\n".to_owned(),
    }
}

/// Checks everything a hello build writes under `out`.
fn check_hello_result(out: &Path, who: Option<&str>) {
    let greeting = greeting_text(who);
    check_file(&out.join("greeting"), greeting.as_bytes(), None, None);

    let listing = tar_listing(&out.join("site-archive.tar"));
    check_tar_member(&listing, "etc/shadow", "-rw-r-----", "0/42");
    check_tar_member(&listing, "usr/bin/hello", "-rwsr-xr-x", "0/0");
    check_tar_member(&listing, "etc/motd", "-rw-r--r--", "0/0");
    check_tar_member(&listing, "tmp/", "drwxrwxrwt", "0/0");

    let site = out.join("site");
    if !running_as_root() {
        assert!(
            out.join("site.tar").is_file(),
            "as an ordinary user, site must come out as site.tar"
        );
        println!(
            "note: not root, so site is a tar; its ownership was checked in site-archive.tar only"
        );
        return;
    }
    assert!(
        site.is_dir(),
        "site must be a directory when running as root"
    );
    let files = workspace().join("examples/files");
    check_file(
        &site.join("etc/motd"),
        greeting.as_bytes(),
        Some(0o644),
        Some((0, 0)),
    );
    check_file(
        &site.join("etc/hostname"),
        b"hello\n",
        Some(0o644),
        Some((0, 0)),
    );
    check_file(
        &site.join("etc/shadow"),
        b"root:*:19000:0:99999:7:::\n",
        Some(0o640),
        Some((0, 42)),
    );
    let banner = std::fs::read(files.join("banner.txt")).expect("read banner");
    check_file(
        &site.join("usr/share/hello/banner.txt"),
        &banner,
        Some(0o644),
        Some((0, 0)),
    );
    let script = std::fs::read(files.join("hello.sh")).expect("read hello.sh");
    check_file(
        &site.join("usr/bin/hello"),
        &script,
        Some(0o4755),
        Some((0, 0)),
    );
    assert_eq!(
        std::fs::read_link(site.join("bin")).expect("bin is a symlink"),
        Path::new("usr/bin")
    );
    let tmp = std::fs::symlink_metadata(site.join("tmp")).expect("tmp");
    assert!(tmp.is_dir());
    assert_eq!(
        tmp.permissions().mode() & 0o7777,
        0o1777,
        "tmp must be sticky and world-writable"
    );
}

fn events_named(run: &Run, event: &str) -> Vec<serde_json::Value> {
    run.events()
        .into_iter()
        .filter(|value| value["event"] == event)
        .collect()
}

fn names(events: &[serde_json::Value]) -> BTreeSet<String> {
    events
        .iter()
        .filter_map(|event| event["name"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn hello_result_has_the_right_files_modes_and_owners() {
    let directory = scratch();
    build(
        directory.path(),
        &hello(),
        Path::new("store"),
        Path::new("out"),
        &[],
    )
    .success();
    check_hello_result(&directory.path().join("out"), None);
}

#[test]
fn second_build_is_a_no_op_with_identical_outputs() {
    let directory = scratch();
    let (store, out) = (Path::new("store"), Path::new("out"));
    let first = build(directory.path(), &hello(), store, out, &["-j", "1"]);
    first.success();
    let before = fingerprint(&directory.path().join("out"));
    let second = build(directory.path(), &hello(), store, out, &[]);
    second.success();
    assert!(
        second.stderr.contains("0 to build"),
        "a second build must build nothing:\n{}",
        second.stderr
    );
    assert!(
        !second.stderr.contains("built "),
        "nothing may be rebuilt:\n{}",
        second.stderr
    );
    assert_eq!(
        before,
        fingerprint(&directory.path().join("out")),
        "a no-op build changed the results"
    );
    let third = build(directory.path(), &hello(), store, out, &["--json"]);
    third.success();
    assert_eq!(events_named(&third, "planned")[0]["to_build"], 0);
    assert!(
        events_named(&third, "started").is_empty(),
        "a no-op build started builders:\n{}",
        third.stdout
    );
    snapshot_settings(directory.path()).bind(|| {
        insta::assert_snapshot!("hello_first_build", first.stderr);
        insta::assert_snapshot!("hello_second_build", second.stderr);
    });
}

#[test]
fn two_fresh_stores_give_identical_bytes() {
    let directory = scratch();
    build(
        directory.path(),
        &hello(),
        Path::new("store-a"),
        Path::new("out-a"),
        &[],
    )
    .success();
    build(
        directory.path(),
        &hello(),
        Path::new("store-b"),
        Path::new("out-b"),
        &["-j", "1"],
    )
    .success();
    let archive = |out: &str| {
        std::fs::read(directory.path().join(out).join("site-archive.tar")).expect("read archive")
    };
    assert!(
        archive("out-a") == archive("out-b"),
        "site-archive.tar differs between two fresh stores"
    );
    assert_eq!(
        fingerprint(&directory.path().join("out-a")),
        fingerprint(&directory.path().join("out-b"))
    );
}

#[test]
fn json_progress_is_one_event_per_line() {
    let directory = scratch();
    let run = build(
        directory.path(),
        &hello(),
        Path::new("store"),
        Path::new("out"),
        &["--json"],
    );
    run.success();
    let events = run.events();
    let kinds: BTreeSet<&str> = events
        .iter()
        .filter_map(|event| event["event"].as_str())
        .collect();
    for kind in ["planned", "started", "finished", "output", "done"] {
        assert!(kinds.contains(kind), "no {kind} event in:\n{}", run.stdout);
    }
    assert_eq!(
        events.first().map(|event| &event["event"]),
        Some(&serde_json::json!("planned"))
    );
    assert_eq!(events_named(&run, "planned")[0]["to_build"], 6);
    let started = names(&events_named(&run, "started"));
    let finished = names(&events_named(&run, "finished"));
    assert_eq!(started, finished, "every started derivation finishes");
    assert_eq!(finished.len(), 6);
    for event in events_named(&run, "finished") {
        assert_eq!(
            event["derivation"].as_str().map(str::len),
            Some(64),
            "identity in {event}"
        );
    }
    let outputs = events_named(&run, "output");
    assert_eq!(
        names(&outputs),
        ["greeting", "site", "site-archive"]
            .map(str::to_owned)
            .into()
    );
    for output in outputs {
        let path = output["path"].as_str().expect("output path");
        assert!(
            directory.path().join(path).exists(),
            "output path {path} does not exist"
        );
    }
    assert_eq!(run.stderr, "", "--json keeps stderr quiet on success");
}

/// A JSON consumer stops reading at `done`: there is exactly one, it is the last event,
/// and its `ok` says whether the build succeeded.
fn check_json_ends_with_done(run: &Run, ok: bool) {
    let events = run.events();
    let done: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, event)| event["event"] == "done")
        .map(|(index, _)| index)
        .collect();
    assert_eq!(done.len(), 1, "exactly one done event:\n{}", run.stdout);
    assert_eq!(
        done[0],
        events.len() - 1,
        "done must be the last event:\n{}",
        run.stdout
    );
    assert_eq!(events[done[0]]["ok"], ok, "{}", run.stdout);
}

#[test]
fn json_progress_ends_with_one_done() {
    let directory = scratch();
    let run = build(
        directory.path(),
        &hello(),
        Path::new("store"),
        Path::new("out"),
        &["--json"],
    );
    run.success();
    check_json_ends_with_done(&run, true);
}

#[test]
fn one_job_builds_the_same_result() {
    let directory = scratch();
    build(
        directory.path(),
        &hello(),
        Path::new("store-1"),
        Path::new("out-1"),
        &["-j", "1"],
    )
    .success();
    check_hello_result(&directory.path().join("out-1"), None);
    build(
        directory.path(),
        &hello(),
        Path::new("store-n"),
        Path::new("out-n"),
        &["-j", "8"],
    )
    .success();
    assert_eq!(
        fingerprint(&directory.path().join("out-1")),
        fingerprint(&directory.path().join("out-n"))
    );
}

#[test]
fn selecting_one_output_builds_only_that() {
    let directory = scratch();
    let run = build(
        directory.path(),
        &format!("{}#greeting", hello()),
        Path::new("store"),
        Path::new("out"),
        &["--json"],
    );
    run.success();
    assert_eq!(
        names(&events_named(&run, "finished")),
        ["greeting".to_owned()].into()
    );
    let written: BTreeSet<String> = fingerprint(&directory.path().join("out"))
        .into_keys()
        .collect();
    assert_eq!(
        written,
        ["".to_owned(), "greeting".to_owned()].into(),
        "only greeting may be written"
    );
    check_file(
        &directory.path().join("out/greeting"),
        greeting_text(None).as_bytes(),
        None,
        None,
    );
}

#[test]
fn arg_changes_the_greeting() {
    let directory = scratch();
    build(
        directory.path(),
        &hello(),
        Path::new("store"),
        Path::new("out"),
        &[],
    )
    .success();
    build(
        directory.path(),
        &hello(),
        Path::new("store"),
        Path::new("out"),
        &["--arg", "who=you"],
    )
    .success();
    check_hello_result(&directory.path().join("out"), Some("you"));
}

/// Two spellings of the same bytes: the input derivation changes identity and is rebuilt,
/// but its output is the same, so the tree that uses it is found by cache key.
#[test]
fn identical_bytes_do_not_rebuild_dependents() {
    let directory = scratch();
    write_files(
        directory.path(),
        &[(
            "recipe.rhai",
            "let a = if args.form == \"parts\" { text(\"a\", [\"x\", \"y\\n\"]) } else { text(\"a\", \"xy\\n\") };\n\
             #{ t: tree(\"t\", #{ \"/f\": a }) }\n",
        )],
    );
    let (store, out) = (Path::new("store"), Path::new("out"));
    let first = build(
        directory.path(),
        "recipe.rhai",
        store,
        out,
        &["--json", "--arg", "form=string"],
    );
    first.success();
    let second = build(
        directory.path(),
        "recipe.rhai",
        store,
        out,
        &["--json", "--arg", "form=parts"],
    );
    second.success();
    let finished = |run: &Run, name: &str| {
        events_named(run, "finished")
            .into_iter()
            .find(|event| event["name"] == name)
            .unwrap_or_else(|| panic!("no finished event for {name}:\n{}", run.stdout))
    };
    assert_ne!(
        finished(&first, "a")["derivation"],
        finished(&second, "a")["derivation"],
        "the two spellings must be different derivations"
    );
    assert_ne!(
        finished(&first, "t")["derivation"],
        finished(&second, "t")["derivation"]
    );
    assert_eq!(
        finished(&second, "a")["cached"],
        false,
        "the changed input is built"
    );
    assert_eq!(
        finished(&second, "t")["cached"],
        true,
        "the tree is found by cache key (early cutoff)"
    );
    assert_eq!(
        std::fs::read_to_string(directory.path().join("out/t/f"))
            .ok()
            .as_deref(),
        Some("xy\n")
    );
}

const CONFLICT: &str = "let left = tree(\"left\", #{ \"/etc/motd\": #{ text: \"left\\n\" } });\n\
let right = tree(\"right\", #{ \"/etc/motd\": #{ text: \"right\\n\" } });\n\
#{\n    merged: merge(\"merged\", [left, right]),\n    independent: text(\"independent\", \"still here\\n\"),\n}\n";

/// The `imgbuild log PREFIX` a failure message points to.
fn log_command(stderr: &str) -> String {
    let start = stderr
        .find("imgbuild log ")
        .unwrap_or_else(|| panic!("the failure does not show `imgbuild log`:\n{stderr}"));
    stderr[start + "imgbuild log ".len()..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect()
}

#[test]
fn failure_stops_the_build_and_names_both_merge_sources() {
    let directory = scratch();
    write_files(directory.path(), &[("recipe.rhai", CONFLICT)]);
    let run = build(
        directory.path(),
        "recipe.rhai",
        Path::new("store"),
        Path::new("out"),
        &["-j", "1"],
    );
    run.expect_code(1);
    for mention in [
        "merged (merge) failed",
        "/etc/motd",
        "`left`",
        "`right`",
        "imgbuild log ",
    ] {
        assert!(
            run.stderr.contains(mention),
            "the failure should mention {mention:?}:\n{}",
            run.stderr
        );
    }
    assert!(
        !directory.path().join("out/independent").exists(),
        "without --keep-going nothing is written"
    );
    snapshot_settings(directory.path())
        .bind(|| insta::assert_snapshot!("merge_conflict", run.stderr));

    let prefix = log_command(&run.stderr);
    assert!(prefix.len() >= 8, "log prefix {prefix:?}");
    let log = imgbuild_run(directory.path(), &["log", &prefix, "--store", "store"]);
    log.success();
    assert!(
        log.stdout.contains("conflict at `/etc/motd`"),
        "the log should hold the conflict:\n{}",
        log.stdout
    );
    assert!(log.stdout.contains("left") && log.stdout.contains("right"));
}

#[test]
fn keep_going_still_writes_independent_outputs() {
    let directory = scratch();
    write_files(directory.path(), &[("recipe.rhai", CONFLICT)]);
    let run = build(
        directory.path(),
        "recipe.rhai",
        Path::new("store"),
        Path::new("out"),
        &["--keep-going"],
    );
    run.expect_code(1);
    assert!(
        run.stderr.contains("`left`") && run.stderr.contains("`right`"),
        "{}",
        run.stderr
    );
    check_file(
        &directory.path().join("out/independent"),
        b"still here\n",
        None,
        None,
    );
    assert!(
        !directory.path().join("out/merged").exists(),
        "a failed output must not be written"
    );
}

fn keep_going_json_build(directory: &Path) -> Run {
    write_files(directory, &[("recipe.rhai", CONFLICT)]);
    let run = build(
        directory,
        "recipe.rhai",
        Path::new("store"),
        Path::new("out"),
        &["--keep-going", "--json"],
    );
    run.expect_code(1);
    run
}

/// With `--keep-going --json`, the failure is one `failed` event naming both merge
/// sources, and its identity finds the log.
#[test]
fn keep_going_json_names_the_failure() {
    let directory = scratch();
    let run = keep_going_json_build(directory.path());
    let failed = events_named(&run, "failed");
    assert_eq!(names(&failed), ["merged".to_owned()].into());
    let error = failed[0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("`left`") && error.contains("`right`"),
        "the failed event names both sources: {error}"
    );
    assert_eq!(
        names(&events_named(&run, "output")),
        ["independent".to_owned()].into()
    );
    let identity = failed[0]["derivation"].as_str().expect("failed derivation");
    let log = imgbuild_run(directory.path(), &["log", identity, "--store", "store"]);
    log.success();
    assert!(log.stdout.contains("conflict"), "{}", log.stdout);
}

/// ... and the run ends with one `done` event that says it failed.
#[test]
fn keep_going_json_ends_with_one_failed_done() {
    let directory = scratch();
    let run = keep_going_json_build(directory.path());
    check_json_ends_with_done(&run, false);
}
