//! Scripts under `apply`: order (image before medium), once per instance versus every
//! boot, failures and hangs reported without stopping the others, output in the report
//! and the 0600 log, nothing left behind in the state directory. Scripts run on the host
//! (the root is a temporary directory) and write into `$IMGBUILD_ROOT`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use imgbuild_first_boot::apply::{apply, Options, Outcome, Report};
use imgbuild_first_boot::model::{Instance, Script, Source, When};

fn fake_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("temporary directory");
    fs::create_dir_all(root.path().join("etc/imgbuild/first-boot.d")).expect("mkdir");
    fs::create_dir_all(root.path().join("etc/imgbuild/every-boot.d")).expect("mkdir");
    fs::write(
        root.path().join("etc/machine-id"),
        "0123456789abcdef0123456789abcdef\n",
    )
    .expect("write");
    root
}

fn options(timeout: u64) -> Options {
    Options {
        live: false,
        script_timeout: Duration::from_secs(timeout),
        ..Options::default()
    }
}

fn script(name: &str, body: &str, when: When) -> Script {
    Script {
        name: name.to_owned(),
        body: body.as_bytes().to_vec(),
        when,
    }
}

fn instance(id: &str, scripts: Vec<Script>) -> Instance {
    Instance {
        source: Source::OpenNebula,
        instance_id: id.to_owned(),
        hostname: None,
        interfaces: Vec::new(),
        nameservers: Vec::new(),
        users: Vec::new(),
        files: Vec::new(),
        scripts,
        warnings: Vec::new(),
    }
}

fn image_script(root: &Path, directory: &str, name: &str, body: &str) {
    fs::write(root.join("etc/imgbuild").join(directory).join(name), body).expect("write");
}

fn trace(root: &Path) -> String {
    fs::read_to_string(root.join("trace")).unwrap_or_default()
}

fn outcome(report: &Report, name: &str) -> Outcome {
    report
        .step(name)
        .unwrap_or_else(|| panic!("no step {name}:\n{report}"))
        .outcome
}

#[test]
fn per_instance_scripts_run_once_and_every_boot_scripts_every_time() {
    let root = fake_root();
    let log = |word: &str| format!("echo {word} >> \"$IMGBUILD_ROOT/trace\"\n");
    image_script(root.path(), "first-boot.d", "20-image", &log("image-20"));
    image_script(
        root.path(),
        "first-boot.d",
        "10-image",
        &format!("#!/bin/sh\n{}", log("image-10")),
    );
    image_script(root.path(), "first-boot.d", "30-old~", &log("backup-file"));
    image_script(root.path(), "first-boot.d", ".hidden", &log("hidden-file"));
    image_script(root.path(), "every-boot.d", "10-each", &log("image-each"));
    let scripts = vec![
        script(
            "runcmd",
            &log("medium-once-$IMGBUILD_MEDIUM-$IMGBUILD_INSTANCE_ID"),
            When::PerInstance,
        ),
        script("each", &log("medium-each"), When::EveryBoot),
    ];
    let first = apply(root.path(), &instance("i-1", scripts.clone()), &options(10));
    assert!(!first.failed(), "{first}");
    assert_eq!(
        trace(root.path()),
        "image-10\nimage-20\nmedium-once-context-i-1\nimage-each\nmedium-each\n"
    );
    let second = apply(root.path(), &instance("i-1", scripts.clone()), &options(10));
    assert!(!second.failed(), "{second}");
    assert_eq!(
        trace(root.path()),
        "image-10\nimage-20\nmedium-once-context-i-1\nimage-each\nmedium-each\nimage-each\nmedium-each\n"
    );
    let third = apply(root.path(), &instance("i-2", scripts), &options(10));
    assert!(!third.failed(), "{third}");
    assert!(trace(root.path())
        .ends_with("image-10\nimage-20\nmedium-once-context-i-2\nimage-each\nmedium-each\n"));
    // The copies are gone; what is left of the state is root's only.
    let state = root.path().join("var/lib/imgbuild-first-boot");
    assert_eq!(
        fs::metadata(&state).expect("state").permissions().mode() & 0o777,
        0o700
    );
    assert_eq!(
        fs::read_dir(state.join("scripts"))
            .expect("scripts")
            .count(),
        0
    );
}

#[test]
fn a_failing_script_is_reported_and_the_next_one_runs() {
    let root = fake_root();
    let lines: String = (1..=30)
        .map(|number| format!("echo line {number}\n"))
        .collect();
    let scripts = vec![
        script(
            "fails",
            &format!("{lines}echo oops >&2\nexit 3\n"),
            When::PerInstance,
        ),
        script(
            "not-found",
            "#!/nonexistent/interpreter\n",
            When::PerInstance,
        ),
        script(
            "after",
            "echo after > \"$IMGBUILD_ROOT/trace\"\n",
            When::PerInstance,
        ),
    ];
    let report = apply(root.path(), &instance("i-1", scripts), &options(10));
    let failed = report.step("script medium/fails").expect("step");
    assert_eq!(failed.outcome, Outcome::Failed);
    assert_eq!(failed.message, "exit status 3");
    // The first and last ten lines, stdout and stderr together, in order.
    assert_eq!(failed.details.len(), 21, "{report}");
    assert_eq!(failed.details[0], "line 1");
    assert_eq!(
        failed.details[10],
        "... 11 more line(s) in /var/log/imgbuild-first-boot.log"
    );
    assert_eq!(failed.details[20], "oops");
    assert_eq!(outcome(&report, "script medium/not-found"), Outcome::Failed);
    assert_eq!(outcome(&report, "script medium/after"), Outcome::Done);
    assert_eq!(trace(root.path()), "after\n");
    assert_eq!(
        outcome(&report, "state"),
        Outcome::Done,
        "failures are reported, not retried"
    );
    let log_path = root.path().join("var/log/imgbuild-first-boot.log");
    let log = fs::read_to_string(&log_path).expect("log");
    assert!(
        log.contains("script medium/fails: exit status 3\nline 1\n"),
        "{log}"
    );
    assert!(log.contains("line 15\n"), "the log has all of it");
    assert_eq!(
        fs::metadata(&log_path).expect("log").permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn a_hanging_script_is_killed_with_its_process_group() {
    let root = fake_root();
    let scripts = vec![
        script(
            "hangs",
            "sleep 60 &\necho $! > \"$IMGBUILD_ROOT/child\"\necho started\nsleep 60\n",
            When::PerInstance,
        ),
        script(
            "after",
            "echo after > \"$IMGBUILD_ROOT/trace\"\n",
            When::PerInstance,
        ),
    ];
    let started = Instant::now();
    let report = apply(root.path(), &instance("i-1", scripts), &options(1));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    let hung = report.step("script medium/hangs").expect("step");
    assert_eq!(hung.outcome, Outcome::Failed);
    assert!(
        hung.message.starts_with("timed out after 1 s"),
        "{}",
        hung.message
    );
    assert!(
        !hung.message.contains("background"),
        "the background sleep was killed too: {}",
        hung.message
    );
    assert_eq!(hung.details, ["started"]);
    assert_eq!(trace(root.path()), "after\n");
    let child = fs::read_to_string(root.path().join("child")).expect("child pid");
    let alive = fs::read_to_string(format!("/proc/{}/stat", child.trim())).is_ok_and(|stat| {
        stat.split_whitespace()
            .nth(2)
            .is_none_or(|state| state != "Z")
    });
    assert!(!alive, "the background child {} is gone", child.trim());
}

#[test]
fn a_background_process_holding_the_output_does_not_block() {
    let root = fake_root();
    let scripts = vec![script("daemon", "sleep 5 &\necho done\n", When::EveryBoot)];
    let started = Instant::now();
    let report = apply(root.path(), &instance("i-1", scripts), &options(30));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
    let step = report.step("script medium/daemon").expect("step");
    assert_eq!(step.outcome, Outcome::Done);
    assert!(
        step.message
            .contains("a background process still holds its output"),
        "{}",
        step.message
    );
    assert_eq!(step.details, ["done"]);
}
