//! What a step may not do or see: run past its time limit, reach the network, leave
//! mounts; what a failing step and a user without subordinate ids are told.

use super::fixture::*;

/// The start of the range the sandbox proposes: above every range already given out in
/// /etc/subuid and /etc/subgid, at least 100000, on a 65536 boundary.
fn proposed_start() -> u64 {
    let end = ["/etc/subuid", "/etc/subgid"]
        .iter()
        .flat_map(|file| {
            std::fs::read_to_string(file)
                .unwrap_or_default()
                .lines()
                .filter_map(|line| {
                    let mut fields = line.trim().split(':').skip(1);
                    let start: u64 = fields.next()?.parse().ok()?;
                    let count: u64 = fields.next()?.parse().ok()?;
                    Some(start + count)
                })
                .collect::<Vec<_>>()
        })
        .max()
        .unwrap_or(0);
    end.max(100_000).div_ceil(65_536) * 65_536
}

#[test]
fn a_user_without_subordinate_ids_is_told_the_line_to_add() {
    let runuser = require!(require_user(
        "nobody",
        "only root can run commands as `nobody`"
    ));
    require!(require(if has_subordinate_range("nobody", 65534) {
        Err(Missing::new(
            "`nobody` has a subordinate id range on this machine; this test needs it without",
        ))
    } else {
        Ok(())
    }));
    let directory = require!(project(&one_step("step", "script: \"true\"")));
    give_to("nobody", directory.path());
    let (binary, _copy) = binary_for(&runuser, "nobody");
    let nobody = Who::User {
        runuser: &runuser,
        user: "nobody",
        binary: &binary,
    };
    let built = build(directory.path(), &nobody, "store", "result", false);
    built.expect_code(3);
    let start = proposed_start();
    let end = start + 65_535;
    let report = unwrapped(&built.stderr);
    for expected in [
        "the sandbox needs a range of 65536 subordinate ids for user `nobody` (uid 65534) in \
         /etc/subuid and /etc/subgid, and there is none"
            .to_owned(),
        format!("add the line `nobody:{start}:65536` to both /etc/subuid and /etc/subgid"),
        format!("`usermod --add-subuids {start}-{end} --add-subgids {start}-{end} nobody`"),
    ] {
        assert!(report.contains(&expected), "{expected}\n{}", built.stderr);
    }
    assert!(!directory.path().join("result/step").exists());
}

#[test]
fn a_failing_step_shows_its_log_and_publishes_nothing() {
    let script = "echo before-the-failure-4711\nexit 3\necho never-printed";
    let Some((directory, built)) = check_failure(
        "failing",
        &format!("script: {}", rhai_string(script)),
        &[
            "error: failing (run) failed",
            "`/bin/sh` exited with status 3",
        ],
    ) else {
        return;
    };
    let directory = directory.path();
    // The tail of the log, in the report: the step's output and how it ended (the
    // sandbox's own `sandbox: ...` notes left out).
    let tail: Vec<&str> = built
        .stderr
        .lines()
        .skip_while(|line| !line.contains("last lines of the log"))
        .skip(1)
        .take_while(|line| line.starts_with("    "))
        .map(str::trim)
        .filter(|line| !line.starts_with("sandbox: "))
        .collect();
    assert_eq!(
        tail,
        [
            "before-the-failure-4711",
            "error: `/bin/sh` exited with status 3"
        ],
        "{}",
        built.stderr
    );
    // Nothing was stored: the next build runs the step again (only the fixture is cached).
    let again = build_json(directory);
    again.expect_code(1);
    assert_eq!(again.started, ["failing"]);
    let planned = common::json_lines(&again.stdout)
        .into_iter()
        .find(|event| event["event"] == "planned")
        .expect("a planned event");
    assert_eq!(
        (planned["to_build"].as_u64(), planned["cached"].as_u64()),
        (Some(1), Some(1))
    );
    assert!(again.outputs.is_empty(), "{:?}", again.outputs);
    assert!(!directory.join("result/failing").exists());
}

/// `(pid, command line)` of every process whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("list /proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(bytes) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let line = String::from_utf8_lossy(&bytes).replace('\0', " ");
        if line.contains(marker) {
            found.push((pid, line));
        }
    }
    found
}

/// Sends SIGKILL to `pid` (a process this test started, directly or through its build).
fn kill(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

#[test]
fn a_step_past_its_time_limit_is_killed_with_every_process_it_started() {
    require!(require_sandbox());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .subsec_nanos();
    let marker = format!("imgbuild-timeout-{}-{nanos}", std::process::id());
    let script = format!(
        "for n in 1 2 3; do (exec -a {marker}-background-$n sleep 1000) & done\n\
         exec -a {marker}-foreground sleep 1000"
    );
    let directory = require!(project(&one_step(
        "endless",
        &format!(
            "timeout: 2, command: [\"/bin/bash\", \"-c\", {}]",
            rhai_string(&script)
        )
    )));
    let started = Instant::now();
    let child = imgbuild(directory.path())
        .args(["build", "recipe.rhai", "--store", "store", "-o", "result"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start imgbuild");
    let build_pid = child.id();
    let (sender, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(child.wait_with_output());
    });
    // The sleeps run (so the scan below can see them)...
    let mut sleeping = Vec::new();
    while started.elapsed() < Duration::from_secs(20) {
        sleeping = processes_with(&marker)
            .into_iter()
            .filter(|(_, line)| line.starts_with(&marker))
            .map(|(_, line)| line)
            .collect();
        if sleeping.len() == 4 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    sleeping.sort();
    // ... and the build ends soon after the limit.
    let output = match finished.recv_timeout(Duration::from_secs(30)) {
        Ok(output) => output.expect("wait for imgbuild"),
        Err(_) => {
            kill(build_pid);
            for (pid, _) in processes_with(&marker) {
                kill(pid);
            }
            panic!("the build did not end 30 s after its step's time limit of 2 s");
        }
    };
    let elapsed = started.elapsed();
    let left = processes_with(&marker);
    for (pid, _) in &left {
        kill(*pid);
    }
    assert_eq!(
        sleeping,
        [
            format!("{marker}-background-1 1000 "),
            format!("{marker}-background-2 1000 "),
            format!("{marker}-background-3 1000 "),
            format!("{marker}-foreground 1000 "),
        ],
        "the step's processes, seen while it ran"
    );
    assert!(left.is_empty(), "processes left behind: {left:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        unwrapped(&stderr).contains(
            "`/bin/bash` ran past its time limit of 2 s; it and every process it started were killed"
        ),
        "{stderr}"
    );
    assert!(
        elapsed < Duration::from_secs(10),
        "the build took {elapsed:?} for a 2 s limit"
    );
    assert!(!directory.path().join("result/endless").exists());
}

/// Tries loopback (a closed port), then an address outside, printing a heading before
/// each; bash reports each failure on stderr, which is the log too.
const NETWORK_SCRIPT: &str = "echo loopback:
(exec 3<>/dev/tcp/127.0.0.1/1) || echo loopback-failed
echo outside:
exec 3<>/dev/tcp/192.0.2.1/80 || exit 4
echo connected-outside
";

#[test]
fn a_step_has_loopback_but_no_network() {
    let Some((directory, built)) = check_failure(
        "online",
        &format!(
            "command: [\"/bin/bash\", \"-c\", {}]",
            rhai_string(NETWORK_SCRIPT)
        ),
        &[
            "`/bin/bash` exited with status 4",
            "the sandbox has no network (loopback only)",
        ],
    ) else {
        return;
    };
    let log = log(directory.path(), &built.log_identity());
    let (before, outside) = log
        .split_once("outside:\n")
        .unwrap_or_else(|| panic!("no `outside:` in the log:\n{log}"));
    let (_, loopback) = before
        .split_once("loopback:\n")
        .unwrap_or_else(|| panic!("no `loopback:` in the log:\n{log}"));
    assert!(
        loopback.contains("/dev/tcp/127.0.0.1/1: Connection refused\nloopback-failed\n"),
        "loopback answers (the port is closed):\n{log}"
    );
    assert!(!loopback.contains("unreachable"), "{log}");
    assert!(
        outside.contains("/dev/tcp/192.0.2.1/80: Network is unreachable\n"),
        "no route outside:\n{log}"
    );
    assert!(!log.contains("connected-outside"), "{log}");
}

/// What a step sees, written to `/view.txt`; then it leaves files in `/tmp` and `/run`.
const VIEW_SCRIPT: &str = r#"shopt -s nullglob dotglob
{ IFS= read -r -d '' program; IFS= read -r -d '' role; } < /proc/1/cmdline
tmp_entries=(/tmp/*)
{
    echo "pid 1: $role"
    echo "own pid: $$"
    echo "hostname: $(cat /proc/sys/kernel/hostname)"
    echo "/dev/null: $(stat -c '%F %t:%T %a' /dev/null)"
    echo "/tmp: $(stat -c '%F %a' /tmp), ${#tmp_entries[@]} entries"
} > /view.txt
echo scratch > /tmp/scratch-file
mkdir /tmp/scratch-directory
echo "/tmp written: $(cat /tmp/scratch-file)" >> /view.txt
echo runtime > /run/runtime-file
echo "/run written: $(cat /run/runtime-file)" >> /view.txt
echo nothing > /dev/null && echo "/dev/null written" >> /view.txt
"#;

#[test]
fn a_step_sees_its_own_proc_hostname_dev_and_tmp_and_leaves_no_mounts() {
    require!(require_result_tree());
    let directory = require!(project(&one_step(
        "view",
        &format!(
            "hostname: \"sandbox-view\", command: [\"/bin/bash\", \"-c\", {}]",
            rhai_string(VIEW_SCRIPT)
        )
    )));
    let directory = directory.path();
    build_json(directory).expect_code(0);
    let tree = directory.join("result/view");
    assert_eq!(
        std::fs::read_to_string(tree.join("view.txt")).expect("read view.txt"),
        "pid 1: __sandbox-init\n\
         own pid: 2\n\
         hostname: sandbox-view\n\
         /dev/null: character special file 1:3 666\n\
         /tmp: directory 1777, 0 entries\n\
         /tmp written: scratch\n\
         /run written: runtime\n\
         /dev/null written\n"
    );
    // /tmp and /run were the step's own: nothing written there is in the output, and the
    // mount points the sandbox made (/proc, /dev, /run) are gone.
    let mut top: Vec<String> = std::fs::read_dir(&tree)
        .expect("list the result")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    top.sort();
    let mut expected: Vec<&str> = FIXTURE_TOP.to_vec();
    expected.push("view.txt");
    assert_eq!(top, expected);
    let tmp_left: Vec<_> = std::fs::read_dir(tree.join("tmp"))
        .expect("list tmp")
        .collect();
    assert!(tmp_left.is_empty(), "{tmp_left:?}");
    assert_eq!(
        owner_and_mode(&tree.join("tmp")).2,
        0o755,
        "the tree's own /tmp"
    );
}

/// The `sandbox-*` checkouts in `store/tmp`.
fn checkouts(store: &Path) -> Vec<String> {
    std::fs::read_dir(store.join("tmp"))
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .filter(|name| name.contains("sandbox-"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_killed_builds_checkout_is_removed_by_the_next_step() {
    require!(require_sandbox());
    let directory = require!(project(&one_step(
        "slow",
        "script: \"touch /started; exec sleep 1000\""
    )));
    let store = directory.path().join("store");
    let mut child = imgbuild(directory.path())
        .args(["build", "recipe.rhai", "--store", "store", "-o", "result"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start imgbuild");
    let started = Instant::now();
    let started_file = |name: &String| store.join("tmp").join(name).join("root/started");
    while !checkouts(&store)
        .iter()
        .any(|name| started_file(name).exists())
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the step did not start: {:?}",
            checkouts(&store)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("kill imgbuild");
    child.wait().expect("wait");
    // SIGKILL runs no cleanup: the checkout stays until the next step's helper, in a
    // namespace with the same mapping, finds its lock free.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(checkouts(&store).len(), 1, "{:?}", checkouts(&store));
    write_files(
        directory.path(),
        &[(
            "recipe.rhai",
            &one_step("quick", "script: \"echo quick > /quick\""),
        )],
    );
    let built = build(directory.path(), &Who::Us, "store", "result", false);
    built.expect_code(0);
    assert_eq!(checkouts(&store), Vec::<String>::new());
    assert!(
        built.stderr.is_empty() || !built.stderr.contains("error"),
        "{}",
        built.stderr
    );
}
