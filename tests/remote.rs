//! Remote cache and remote execution through the binary, against a real BuildGrid
//! (`scripts/buildgrid.sh`, started by the test support when slow tests run):
//! a second store builds nothing and gets identical outputs; a fleet of media is
//! executed by two `imgbuild worker`s and equals a local build; a worker killed in the
//! middle of an action does not stop the build; a remote blob corrupted or deleted under
//! its digest is refused and the output built here; a server that goes away mid-build is
//! a clear environment error, and `--remote-fallback` finishes the build here.
//!
//! The tests run one at a time (workers of one test must not take another's actions),
//! and every recipe carries a nonce so that nothing comes from an earlier run's cache.

mod common;
#[path = "sandbox/fixture.rs"]
#[allow(unused_imports)]
mod fixture;
mod remote_support;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{build, scratch, write_files};
use remote_support::{cas_object, nonce, serial, Proxy, Worker};

/// A recipe of texts, a tree and its tar, all unique to this run.
fn small_recipe(nonce: &str) -> String {
    format!(
        "let a = text(\"a\", \"alpha {nonce}\\n\");\n\
         let b = text(\"b\", \"beta {nonce}\\n\");\n\
         let site = tree(\"site\", #{{ \"/etc/motd\": a, \"/srv/b\": #{{ source: b, mode: 0o4755 }} }});\n\
         #{{ a: a, site: site, archive: tar(site) }}\n"
    )
}

fn remote_event(run: &common::Run) -> serde_json::Value {
    run.events()
        .into_iter()
        .find(|event| event["event"] == "remote")
        .unwrap_or_else(|| panic!("no remote event in {}", run.stdout))
}

#[test]
fn a_second_store_fetches_everything_and_gets_identical_outputs() {
    let Some(endpoint) = imgbuild_test_support::require_buildgrid() else {
        return;
    };
    let _serial = serial();
    let directory = scratch();
    let nonce = nonce();
    write_files(directory.path(), &[("recipe.rhai", &small_recipe(&nonce))]);
    let remote = ["--remote", endpoint.as_str(), "--json"];
    let first = build(
        directory.path(),
        "recipe.rhai",
        Path::new("s1"),
        Path::new("r1"),
        &remote,
    );
    first.success();
    assert_eq!(remote_event(&first)["uploaded"], 4, "{}", first.stdout);
    let second = build(
        directory.path(),
        "recipe.rhai",
        Path::new("s2"),
        Path::new("r2"),
        &remote,
    );
    second.success();
    let event = remote_event(&second);
    assert_eq!(event["fetched"], 4, "{}", second.stdout);
    assert_eq!(event["uploaded"], 0);
    assert_eq!(
        common::fingerprint(&directory.path().join("r1")),
        common::fingerprint(&directory.path().join("r2"))
    );
    // `b` is only an input of `site`: it stays remote.
    assert_eq!(event["downloaded"], 3, "{}", second.stdout);
    // Lazily: one output of a chain downloads that output only.
    let archive = build(
        directory.path(),
        "recipe.rhai#archive",
        Path::new("s3"),
        Path::new("r3"),
        &remote,
    );
    archive.success();
    let event = remote_event(&archive);
    assert_eq!(
        (event["fetched"].as_u64(), event["downloaded"].as_u64()),
        (Some(4), Some(1)),
        "{}",
        archive.stdout
    );
    // Without the remote, the second store rebuilds nothing: fetched outputs are its own.
    let local = build(
        directory.path(),
        "recipe.rhai",
        Path::new("s2"),
        Path::new("r3"),
        &["--offline"],
    );
    local.success();
    assert!(local.stderr.contains("0 built"), "{}", local.stderr);
}

#[test]
fn a_fleet_runs_on_two_workers_and_equals_a_local_build() {
    let Some(endpoint) = imgbuild_test_support::require_buildgrid() else {
        return;
    };
    let _serial = serial();
    let directory = scratch();
    let nonce = nonce();
    let mut inventory = String::from("name,ip,prefix,gateway,dns,ssh_key,role\n");
    for index in 0..24 {
        inventory.push_str(&format!("vm{index:02}-{nonce},,,,,,web\n"));
    }
    let recipe = std::fs::read_to_string(common::workspace().join("examples/fleet.rhai"))
        .expect("fleet.rhai");
    write_files(
        directory.path(),
        &[("fleet.rhai", &recipe), ("fleet.csv", &inventory)],
    );
    let one = Worker::start(directory.path(), &endpoint, "w1");
    let two = Worker::start(directory.path(), &endpoint, "w2");
    let remote = build(
        directory.path(),
        "fleet.rhai",
        Path::new("client"),
        Path::new("remote"),
        // The media hold the VMs' keys: outputs with secrets travel only when asked.
        &[
            "--remote",
            &endpoint,
            "--remote-exec",
            "--remote-upload-secrets",
            "-j",
            "8",
            "--json",
        ],
    );
    let logs = [one.stop(), two.stop()];
    remote.success();
    let event = remote_event(&remote);
    assert!(
        event["executed"].as_u64().unwrap_or(0) >= 24,
        "{}",
        remote.stdout
    );
    for (name, log) in ["w1", "w2"].iter().zip(&logs) {
        assert!(
            log.matches("built ").count() >= 1,
            "worker {name} did no work:\n{log}"
        );
    }
    let local = build(
        directory.path(),
        "fleet.rhai",
        Path::new("local"),
        Path::new("here"),
        &[],
    );
    local.success();
    assert_eq!(
        common::fingerprint(&directory.path().join("remote")),
        common::fingerprint(&directory.path().join("here"))
    );
}

/// A project whose one output takes `seconds` in a sandboxed step (`sleep`).
fn slow_project(seconds: u32, nonce: &str) -> Option<tempfile::TempDir> {
    let body = format!(
        "#{{ slow: run(#{{ root: root, name: \"slow\", script: \"sleep {seconds}; echo {nonce} > /made\" }}) }}"
    );
    fixture::project(&fixture::recipe(&body))
}

#[test]
fn a_worker_killed_mid_action_does_not_stop_the_build() {
    let Some(endpoint) = imgbuild_test_support::require_buildgrid() else {
        return;
    };
    if imgbuild_test_support::require_root("the worker's sandbox maps ids directly as root")
        .is_none()
    {
        return;
    }
    let _serial = serial();
    let nonce = nonce();
    let Some(project) = slow_project(6, &nonce) else {
        return;
    };
    let directory = project.path();
    let first = Worker::start(directory, &endpoint, "doomed");
    let client = remote_support::spawn_build(directory, &["--remote", &endpoint, "--remote-exec"]);
    assert!(
        first.wait_for("building slow", Duration::from_secs(60)),
        "the first worker never took the action:\n{}",
        first.log()
    );
    first.kill();
    let started = Instant::now();
    let second = Worker::start(directory, &endpoint, "rescuer");
    let run = remote_support::finish(client);
    let log = second.stop();
    run.success();
    assert!(
        log.contains("built slow"),
        "the second worker did not build it:\n{log}"
    );
    let made = std::fs::read_to_string(directory.join("out/slow/made")).expect("the output");
    assert_eq!(made.trim(), nonce);
    eprintln!("re-queued and rebuilt in {:?}", started.elapsed());
}

#[test]
fn a_corrupt_or_missing_remote_blob_is_refused_and_built_here() {
    let Some(endpoint) = imgbuild_test_support::require_buildgrid() else {
        return;
    };
    let _serial = serial();
    let directory = scratch();
    for damage in ["corrupt", "delete"] {
        let nonce = nonce();
        let content = format!("alpha {nonce}\n");
        write_files(directory.path(), &[("recipe.rhai", &small_recipe(&nonce))]);
        let first = build(
            directory.path(),
            "recipe.rhai",
            Path::new(&format!("{damage}-1")),
            Path::new("r1"),
            &["--remote", &endpoint],
        );
        first.success();
        let Some(object) = imgbuild_test_support::require(cas_object(content.as_bytes())) else {
            return;
        };
        match damage {
            "corrupt" => {
                std::fs::write(&object, "x".repeat(content.len())).expect("corrupt the blob")
            }
            _ => std::fs::remove_file(&object).expect("delete the blob"),
        }
        let second = build(
            directory.path(),
            "recipe.rhai",
            Path::new(&format!("{damage}-2")),
            Path::new("r2"),
            &["--remote", &endpoint, "--json"],
        );
        second.success();
        let expected = if damage == "corrupt" {
            "does not match its digest"
        } else {
            "missing from the remote CAS"
        };
        assert!(
            second.stdout.contains(expected) || second.stderr.contains(expected),
            "{damage}: {}\n{}",
            second.stdout,
            second.stderr
        );
        assert_eq!(
            std::fs::read_to_string(directory.path().join("r2/a")).expect("output a"),
            content,
            "{damage}"
        );
    }
}

#[test]
fn a_server_that_goes_away_is_an_environment_error_unless_falling_back() {
    let Some(endpoint) = imgbuild_test_support::require_buildgrid() else {
        return;
    };
    let _serial = serial();
    // Unreachable from the start.
    let directory = scratch();
    write_files(
        directory.path(),
        &[("recipe.rhai", &small_recipe(&nonce()))],
    );
    let closed = remote_support::closed_endpoint();
    let refused = build(
        directory.path(),
        "recipe.rhai",
        Path::new("s"),
        Path::new("r"),
        &["--remote", &closed],
    );
    refused.expect_code(3);
    assert!(
        refused
            .stderr
            .contains(&format!("cannot reach the remote engine at {closed}")),
        "{}",
        refused.stderr
    );
    let fallback = build(
        directory.path(),
        "recipe.rhai",
        Path::new("s"),
        Path::new("r"),
        &["--remote", &closed, "--remote-fallback"],
    );
    fallback.success();
    assert!(
        fallback.stderr.contains("building locally"),
        "{}",
        fallback.stderr
    );

    // Gone in the middle: a proxy in front of the server is cut while a step runs.
    if imgbuild_test_support::require_root("the sandbox step maps ids directly as root").is_none() {
        return;
    }
    for flag in [None, Some("--remote-fallback")] {
        let nonce = nonce();
        let Some(project) = slow_project(3, &nonce) else {
            return;
        };
        let proxy = Proxy::start(&endpoint);
        let mut arguments = vec!["--remote".to_owned(), proxy.endpoint()];
        arguments.extend(flag.map(str::to_owned));
        let arguments: Vec<&str> = arguments.iter().map(String::as_str).collect();
        let client = remote_support::spawn_build(project.path(), &arguments);
        std::thread::sleep(Duration::from_millis(1500));
        proxy.cut();
        let run = remote_support::finish(client);
        match flag {
            None => {
                run.expect_code(3);
                assert!(run.stderr.contains(&proxy.endpoint()), "{}", run.stderr);
            }
            Some(_) => {
                run.success();
                assert!(
                    run.stderr.contains("building the rest locally"),
                    "{}",
                    run.stderr
                );
            }
        }
    }
}

#[test]
fn remote_settings_and_usage_errors_are_located() {
    let directory = scratch();
    write_files(directory.path(), &[("recipe.rhai", &small_recipe("usage"))]);
    let check = |extra: &[&str], code: i32, mention: &str| {
        let run = build(
            directory.path(),
            "recipe.rhai",
            Path::new("s"),
            Path::new("r"),
            extra,
        );
        run.expect_code(code);
        let text = common::unwrapped(&run.stderr);
        assert!(text.contains(mention), "{extra:?}: {text}");
        assert!(
            !directory.path().join("r").exists(),
            "{extra:?} wrote a result"
        );
    };
    check(&["--remote-exec"], 2, "need a remote engine");
    check(
        &["--remote", "127.0.0.1:50051"],
        2,
        "is not a remote endpoint",
    );
    check(
        &["--remote", "grpc://user:pw@127.0.0.1:1"],
        2,
        "credentials go in --remote-header",
    );
    check(
        &[
            "--remote",
            "grpc://127.0.0.1:1",
            "--remote-header",
            "novalue",
        ],
        2,
        "expected NAME=VALUE",
    );
    write_files(directory.path(), &[("empty-token", "\n")]);
    check(
        &[
            "--remote",
            "grpc://127.0.0.1:1",
            "--remote-token-file",
            "empty-token",
        ],
        3,
        "is empty",
    );
    // The settings file: an unknown key is refused with the file's name; its URL is used.
    write_files(
        directory.path(),
        &[(
            "remote.toml",
            "url = \"grpc://127.0.0.1:1\"\nexecute = true\n",
        )],
    );
    check(
        &["--remote-config", "remote.toml"],
        2,
        "unknown key `execute`",
    );
    let closed = remote_support::closed_endpoint();
    write_files(
        directory.path(),
        &[("remote.toml", &format!("url = \"{closed}\"\n"))],
    );
    check(
        &["--remote-config", "remote.toml"],
        3,
        &format!("cannot reach the remote engine at {closed}"),
    );
    write_files(
        directory.path(),
        &[(
            "remote.toml",
            &format!("url = \"{closed}\"\nfallback = true\n"),
        )],
    );
    let run = build(
        directory.path(),
        "recipe.rhai",
        Path::new("s"),
        Path::new("r"),
        &["--remote-config", "remote.toml"],
    );
    run.success();
    assert!(run.stderr.contains("building locally"), "{}", run.stderr);
}
