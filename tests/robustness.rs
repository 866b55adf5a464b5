//! The store under stress: builds killed with SIGKILL at several points, two processes
//! building the same recipe into one store at once, and a build by an ordinary user.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{
    build, fingerprint, hello_recipe, imgbuild, json_lines, run, scratch, store_command, workspace,
};

/// Nodes in the bench graph used here: enough that a build takes a while, small enough
/// to keep the suite fast.
const NODES: usize = 1000;

fn bench_recipe() -> String {
    workspace()
        .join("examples/bench/graph.rhai")
        .display()
        .to_string()
}

fn bench_arguments() -> [String; 2] {
    ["--arg".to_owned(), format!("n={NODES}")]
}

/// When to kill a running build, judged from its JSON events.
#[derive(Debug, Clone, Copy)]
enum KillPoint {
    /// After this much time, wherever the build is (evaluating, building, writing).
    AfterDelay(Duration),
    /// After this many derivations finished.
    AfterFinished(usize),
    /// When the builder of the derivation with this name starts.
    WhenStarted(&'static str),
    /// When the derivation with this name is finished (results are being written).
    WhenFinished(&'static str),
}

impl KillPoint {
    fn reached(self, event: &serde_json::Value, finished_so_far: usize) -> bool {
        match self {
            KillPoint::AfterDelay(_) => false,
            KillPoint::AfterFinished(count) => {
                event["event"] == "finished" && finished_so_far >= count
            }
            KillPoint::WhenStarted(name) => event["event"] == "started" && event["name"] == name,
            KillPoint::WhenFinished(name) => event["event"] == "finished" && event["name"] == name,
        }
    }
}

/// Starts a bench build with `--json` and SIGKILLs it at `point`. Returns false when the
/// build ended before reaching that point.
fn build_and_kill(directory: &Path, point: KillPoint) -> bool {
    let mut child = imgbuild(directory)
        .args([
            "build",
            &bench_recipe(),
            "--store",
            "store",
            "-o",
            "out",
            "--json",
        ])
        .args(bench_arguments())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start imgbuild");
    let stdout = child.stdout.take().expect("stdout");
    if let KillPoint::AfterDelay(delay) = point {
        std::thread::sleep(delay);
        let running = child.try_wait().expect("poll imgbuild").is_none();
        child.kill().expect("SIGKILL the build");
        let status = child.wait().expect("wait for imgbuild");
        drop(stdout);
        if running {
            assert_eq!(
                std::os::unix::process::ExitStatusExt::signal(&status),
                Some(9),
                "the build should have died of SIGKILL"
            );
        }
        return running;
    }
    let mut finished = 0;
    let mut killed = false;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let event = &json_lines(&line)[0];
        if event["event"] == "finished" {
            finished += 1;
        }
        if point.reached(event, finished) {
            child.kill().expect("SIGKILL the build");
            killed = true;
            break;
        }
    }
    let status = child.wait().expect("wait for imgbuild");
    if killed {
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "the build should have died of SIGKILL"
        );
    }
    killed
}

/// What node `index` of the bench graph holds: its line, then its parent's content.
fn node_content(index: usize) -> String {
    if index == 0 {
        "node 0\n".to_owned()
    } else {
        format!("node {index}, child of {}\n", node_content((index - 1) / 2))
    }
}

fn check_bench_result(directory: &Path) {
    let all = directory.join("out/all");
    let count = std::fs::read_dir(&all)
        .expect("out/all is a directory")
        .count();
    assert_eq!(count, NODES, "out/all should hold one file per node");
    for index in [0, 1, 7, 150, NODES - 1] {
        let path = all.join(format!("node-{index}.txt"));
        assert_eq!(
            std::fs::read_to_string(&path).ok(),
            Some(node_content(index)),
            "{}",
            path.display()
        );
    }
}

fn verify_passes(directory: &Path, when: &str) {
    let verify = store_command(directory, Path::new("store"), "verify");
    assert_eq!(
        verify.code,
        Some(0),
        "store verify {when}:\n{}\n{}",
        verify.stdout,
        verify.stderr
    );
    assert!(
        verify.stdout.contains(" 0 problem(s)"),
        "store verify {when}:\n{}",
        verify.stdout
    );
}

/// A build killed at any point leaves a store that verifies, and the next build finishes
/// the job with the right results.
#[test]
fn sigkill_in_the_middle_of_a_build() {
    let directory = scratch();
    let directory = directory.path();
    // First a kill after a fixed delay, shortened if the build was already over.
    let delayed = [150, 60, 20]
        .into_iter()
        .map(|milliseconds| KillPoint::AfterDelay(Duration::from_millis(milliseconds)))
        .find(|point| build_and_kill(directory, *point));
    assert!(
        delayed.is_some(),
        "every build finished before it could be killed"
    );
    verify_passes(directory, &format!("after a kill at {delayed:?}"));
    // Then kills at points the build reports: among the builders, as the last
    // derivation starts, and while the results are written.
    let points = [
        KillPoint::AfterFinished(150),
        KillPoint::WhenStarted("all"),
        KillPoint::WhenFinished("all"),
    ];
    for point in points {
        assert!(
            build_and_kill(directory, point),
            "the build ended before {point:?}"
        );
        verify_passes(directory, &format!("after a kill at {point:?}"));
    }
    let resumed = build(
        directory,
        &bench_recipe(),
        Path::new("store"),
        Path::new("out"),
        &["--arg", &format!("n={NODES}")],
    );
    resumed.success();
    assert!(
        resumed.stderr.contains("0 to build"),
        "everything was built before the last kill:\n{}",
        resumed.stderr
    );
    check_bench_result(directory);
    verify_passes(directory, "after the resumed build");
}

/// Starts two builds of the same recipe into one store at once and checks that both
/// succeed, write the same results, and build each derivation only once between them.
fn check_concurrent_builds(directory: &Path) {
    let start = |out: &str| {
        imgbuild(directory)
            .args([
                "build",
                &bench_recipe(),
                "--store",
                "store",
                "-o",
                out,
                "--json",
                "--arg",
                "n=300",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start imgbuild")
    };
    let (first, second) = (start("out-1"), start("out-2"));
    let outputs = [
        first.wait_with_output().expect("first build"),
        second.wait_with_output().expect("second build"),
    ];
    let mut built: BTreeMap<String, usize> = BTreeMap::new();
    for output in &outputs {
        assert!(
            output.status.success(),
            "a concurrent build failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        for event in json_lines(&String::from_utf8_lossy(&output.stdout)) {
            if event["event"] == "finished" && event["cached"] == false {
                *built
                    .entry(event["derivation"].as_str().unwrap_or_default().to_owned())
                    .or_default() += 1;
            }
        }
    }
    let twice: Vec<&String> = built
        .iter()
        .filter(|(_, count)| **count > 1)
        .map(|(identity, _)| identity)
        .collect();
    assert!(
        twice.is_empty(),
        "{} derivations were built by both processes, e.g. {:?}",
        twice.len(),
        twice.first()
    );
    assert_eq!(
        built.len(),
        301,
        "between them the two processes build every derivation once"
    );
    assert_eq!(
        fingerprint(&directory.join("out-1")),
        fingerprint(&directory.join("out-2"))
    );
    verify_passes(directory, "after two concurrent builds");
}

#[test]
fn two_processes_build_the_same_recipe_into_one_store() {
    let directory = scratch();
    store_command(directory.path(), Path::new("store"), "info").success();
    check_concurrent_builds(directory.path());
}

/// Two processes that find no store create it at the same time: both must succeed. The
/// race is narrow, so it is run a few times with fresh stores.
#[test]
fn two_processes_create_a_store_at_once() {
    let directory = scratch();
    let hello = hello_recipe().display().to_string();
    for round in 0..20 {
        let store = format!("store-{round}");
        let start = |out: &str| {
            imgbuild(directory.path())
                .args(["build", &hello, "--store", &store, "-o", out])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start imgbuild")
        };
        let (first, second) = (
            start(&format!("out-{round}-a")),
            start(&format!("out-{round}-b")),
        );
        for output in [
            first.wait_with_output().expect("first build"),
            second.wait_with_output().expect("second build"),
        ] {
            assert!(
                output.status.success(),
                "round {round}: a build that created the store at the same time as another failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

/// As user `nobody`, hello builds into a store nobody owns a byte of beforehand; `site`
/// (root-owned files, a setuid binary) comes out as `site.tar` since nobody cannot chown.
#[test]
fn an_ordinary_user_builds_hello() {
    let runuser = imgbuild_test_support::require!(common::runuser_as_root());
    let directory = scratch();
    let directory = directory.path();
    std::fs::set_permissions(directory, std::fs::Permissions::from_mode(0o777))
        .expect("chmod scratch");
    let as_nobody = |arguments: &[&str]| {
        let mut command = Command::new(&runuser);
        command
            .args(["-u", "nobody", "--", common::BINARY])
            .args(arguments)
            .current_dir(directory)
            .env("NO_COLOR", "1")
            .env_remove("IMGBUILD_STORE")
            .stdin(Stdio::null());
        run(&mut command)
    };
    let hello = hello_recipe().display().to_string();
    let built = as_nobody(&["build", &hello, "--store", "store", "-o", "out"]);
    built.success();
    let out = directory.join("out");
    assert_eq!(
        std::fs::read_to_string(out.join("greeting"))
            .ok()
            .as_deref(),
        Some("hello from imgbuild!\n")
    );
    assert!(
        std::fs::symlink_metadata(out.join("greeting")).is_ok_and(|metadata| metadata.is_file()),
        "greeting is a plain file"
    );
    assert!(
        !out.join("site").exists(),
        "nobody cannot apply site's ownership, so no site directory"
    );
    assert!(
        out.join("site.tar").is_file(),
        "site must come out as site.tar:\n{}",
        built.stderr
    );
    assert!(
        built.stderr.contains("site.tar instead"),
        "the user is told why:\n{}",
        built.stderr
    );
    let listing = Command::new("tar")
        .args(["-tv", "--numeric-owner", "-f"])
        .arg(out.join("site.tar"))
        .output()
        .expect("tar");
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(
        listing
            .lines()
            .any(|line| line.starts_with("-rw-r----- 0/42 ") && line.ends_with("etc/shadow")),
        "{listing}"
    );
    assert!(
        listing
            .lines()
            .any(|line| line.starts_with("-rwsr-xr-x 0/0 ") && line.ends_with("usr/bin/hello")),
        "{listing}"
    );

    let again = as_nobody(&["build", &hello, "--store", "store", "-o", "out"]);
    again.success();
    assert!(again.stderr.contains("0 to build"), "{}", again.stderr);
    let verify = as_nobody(&["store", "verify", "--store", "store"]);
    verify.success();
}
