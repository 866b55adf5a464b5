//! `run(#{ root, script | command, ... })` end to end: build steps in the sandbox, through
//! the binary. The root is a small tree made of the host's own programs (dash, bash, a
//! few coreutils, setcap/getcap) and the libraries `ldd` lists for them, imported with
//! `dir("fixture")`, so no test needs a Debian archive or the network.
//!
//! What is checked: owners, modes, hard links, fifos and file capabilities survive a step
//! and the next one and reach `result/`; root and an ordinary user (with a subordinate id
//! range) build the same tree; a user without a range is told the line to add; a failing
//! step shows its log and publishes nothing; the time limit kills every process a step
//! started; a step has loopback but no network; its view of `/proc`, the host name,
//! `/dev` and `/tmp`; and two builds give the same bytes with clamped times.
//!
//! Steps run as root need nothing more; as an ordinary user they need a subordinate id
//! range and `uidmap`. The tests that look into `result/` need root (only root writes a
//! tree owned by root as a directory; an ordinary user gets `NAME.tar`), and those that
//! run the binary as another user also `runuser` and the test user `imgbuild-test` that
//! scripts/setup.sh creates. Without them `imgbuild_test_support` skips with a message
//! on a developer machine and fails under CI.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{binary_for, give_to, imgbuild, require_user, scratch, unwrapped, write_files};
use imgbuild_test_support::{find_tool, is_root, require, require_root, require_tool, Missing};

/// The host programs the fixture root holds: the program and the directory of the root
/// it goes to.
const PROGRAMS: &[(&str, &str)] = &[
    ("sh", "bin"),
    ("bash", "bin"),
    ("id", "usr/bin"),
    ("stat", "usr/bin"),
    ("chown", "usr/bin"),
    ("chmod", "usr/bin"),
    ("ln", "usr/bin"),
    ("mkfifo", "usr/bin"),
    ("sleep", "usr/bin"),
    ("cat", "usr/bin"),
    ("touch", "usr/bin"),
    ("mkdir", "usr/bin"),
    ("rm", "usr/bin"),
    ("setcap", "usr/sbin"),
    ("getcap", "usr/sbin"),
];

/// Empty directories of the fixture root besides those the programs go to.
const EMPTY_DIRECTORIES: &[&str] = &["tmp", "etc"];

/// The top-level entries of the fixture root.
const FIXTURE_TOP: &[&str] = &["bin", "etc", "lib", "lib64", "tmp", "usr"];

/// The name the user tests build as (created by scripts/setup.sh with a subordinate
/// range).
const TEST_USER: &str = "imgbuild-test";

/// Writes the fixture root to `directory/fixture`: the [`PROGRAMS`] and every shared
/// library `ldd` lists for them, at the library's own path (`lib/x86_64-linux-gnu/...`,
/// `lib64/ld-linux-x86-64.so.2`). `None` after reporting a missing tool.
fn write_fixture(directory: &Path) -> Option<()> {
    let names: Vec<&str> = PROGRAMS.iter().map(|(name, _)| *name).collect();
    let programs = imgbuild_test_support::require_tools(&names)?;
    let ldd = require_tool("ldd")?;
    let root = directory.join("fixture");
    for empty in EMPTY_DIRECTORIES {
        std::fs::create_dir_all(root.join(empty)).expect("create fixture directory");
    }
    let mut libraries = std::collections::BTreeSet::new();
    for ((name, place), program) in PROGRAMS.iter().zip(&programs) {
        let target = root.join(place).join(name);
        std::fs::create_dir_all(root.join(place)).expect("create fixture directory");
        // `copy` follows symlinks: /bin/sh becomes dash itself.
        std::fs::copy(program, &target)
            .unwrap_or_else(|error| panic!("copy {}: {error}", program.display()));
        let listed = Command::new(&ldd).arg(program).output().expect("run ldd");
        assert!(listed.status.success(), "ldd {}", program.display());
        for line in String::from_utf8_lossy(&listed.stdout).lines() {
            // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)` or
            // `/lib64/ld-linux-x86-64.so.2 (0x...)`; the vdso has no path.
            let path = line
                .split("=>")
                .last()
                .and_then(|rest| rest.split_whitespace().next())
                .filter(|path| path.starts_with('/'));
            if let Some(path) = path {
                libraries.insert(PathBuf::from(path));
            }
        }
    }
    assert!(
        libraries.iter().any(|path| path.ends_with("libc.so.6")),
        "ldd lists no libc: {libraries:?}"
    );
    for library in &libraries {
        let target = root.join(library.strip_prefix("/").expect("absolute"));
        std::fs::create_dir_all(target.parent().expect("parent")).expect("create lib dir");
        std::fs::copy(library, &target)
            .unwrap_or_else(|error| panic!("copy {}: {error}", library.display()));
    }
    Some(())
}

/// A Rhai string literal holding `text`.
fn rhai_string(text: &str) -> String {
    let mut literal = String::from("\"");
    for character in text.chars() {
        match character {
            '\\' => literal.push_str("\\\\"),
            '"' => literal.push_str("\\\""),
            '\n' => literal.push_str("\\n"),
            '\t' => literal.push_str("\\t"),
            other => literal.push(other),
        }
    }
    literal.push('"');
    literal
}

/// A recipe over the fixture: `root` is `dir("fixture")`, `body` ends with the outputs.
fn recipe(body: &str) -> String {
    format!("let root = dir(\"fixture\");\n{body}\n")
}

/// A recipe with one output `NAME`, a `run` on the fixture with `options` (Rhai map
/// entries) besides `root` and `name`.
fn one_step(name: &str, options: &str) -> String {
    recipe(&format!(
        "#{{ {name}: run(#{{ root: root, name: \"{name}\", {options} }}) }}"
    ))
}

/// A scratch directory with the fixture and `recipe` as `recipe.rhai`; `None` after
/// reporting a missing tool.
fn project(recipe: &str) -> Option<tempfile::TempDir> {
    let directory = scratch();
    write_fixture(directory.path())?;
    write_files(directory.path(), &[("recipe.rhai", recipe)]);
    Some(directory)
}

/// Who runs the binary.
enum Who<'a> {
    /// This test process.
    Us,
    /// `user`, through `runuser`, running `binary`.
    User {
        runuser: &'a Path,
        user: &'a str,
        binary: &'a Path,
    },
}

/// One build: exit code, both streams, and what `--json` said.
#[derive(Debug)]
struct Built {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    /// Output digests by output name (`"event":"output"`, with `--json`).
    outputs: BTreeMap<String, String>,
    /// Result paths by output name (with `--json`).
    paths: BTreeMap<String, String>,
    /// Derivations started, by name (with `--json`): they were not found in the store.
    started: Vec<String>,
}

impl Built {
    fn expect_code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(expected),
            "expected exit code {expected}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// The output digest of `name`; panics when there is none.
    fn output(&self, name: &str) -> &str {
        self.outputs.get(name).unwrap_or_else(|| {
            panic!(
                "no output {name}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// The recipe identity prefix `imgbuild log ID` is suggested with in the failure
    /// report.
    fn log_identity(&self) -> String {
        let (_, after) = self
            .stderr
            .split_once("(imgbuild log ")
            .unwrap_or_else(|| panic!("no `imgbuild log` hint:\n{}", self.stderr));
        after.split(')').next().expect("identity").to_owned()
    }
}

/// `imgbuild build recipe.rhai --store STORE -o OUT` (with `--json` when `json`) in
/// `directory`, run by `who`.
fn build(directory: &Path, who: &Who<'_>, store: &str, out: &str, json: bool) -> Built {
    let mut command = match who {
        Who::Us => imgbuild(directory),
        Who::User {
            runuser,
            user,
            binary,
        } => {
            let mut command = Command::new(runuser);
            command
                .args(["-u", user, "--"])
                .arg(binary)
                .current_dir(directory)
                .env("NO_COLOR", "1")
                .env_remove("IMGBUILD_STORE")
                .env_remove("IMGBUILD_SECRET_KEY_FILE")
                .stdin(Stdio::null());
            command
        }
    };
    command.args(["build", "recipe.rhai", "--store", store, "-o", out]);
    if json {
        command.arg("--json");
    }
    let run = common::run(&mut command);
    let mut built = Built {
        code: run.code,
        outputs: BTreeMap::new(),
        paths: BTreeMap::new(),
        started: Vec::new(),
        stdout: run.stdout,
        stderr: run.stderr,
    };
    if json {
        for event in common::json_lines(&built.stdout) {
            let text = |key: &str| event[key].as_str().unwrap_or_default().to_owned();
            match event["event"].as_str() {
                Some("output") => {
                    built.outputs.insert(text("name"), text("output"));
                    built.paths.insert(text("name"), text("path"));
                }
                Some("started") => built.started.push(text("name")),
                _ => {}
            }
        }
    }
    built
}

/// Builds `recipe.rhai` as this process into `store` and `result` with `--json`.
fn build_json(directory: &Path) -> Built {
    build(directory, &Who::Us, "store", "result", true)
}

/// `imgbuild log ID --store store` in `directory`: the derivation's whole log.
fn log(directory: &Path, identity: &str) -> String {
    let run = common::imgbuild_run(directory, &["log", identity, "--store", "store"]);
    run.success();
    run.stdout
}

/// The uid this process runs as (the owner of its `/proc` directory).
fn own_uid() -> u32 {
    std::fs::metadata("/proc/self")
        .expect("stat /proc/self")
        .uid()
}

/// The name of the user with `uid` in /etc/passwd.
fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.get(2) == Some(&uid.to_string().as_str())).then(|| fields[0].to_owned())
    })
}

/// Whether /etc/subuid and /etc/subgid both give `user` (or `uid`) a range.
fn has_subordinate_range(user: &str, uid: u32) -> bool {
    ["/etc/subuid", "/etc/subgid"].iter().all(|file| {
        std::fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .any(|line| {
                let owner = line.split(':').next().unwrap_or_default();
                owner == user || owner == uid.to_string()
            })
    })
}

/// `Some(())` when this process can run sandboxed steps: as root, or as a user with a
/// subordinate id range and `newuidmap`/`newgidmap`; otherwise `None` after reporting.
fn require_sandbox() -> Option<()> {
    if is_root() {
        return Some(());
    }
    let uid = own_uid();
    let name = user_name(uid).unwrap_or_else(|| uid.to_string());
    require(
        if has_subordinate_range(&name, uid)
            && find_tool("newuidmap").is_ok()
            && find_tool("newgidmap").is_ok()
        {
            Ok(())
        } else {
            Err(Missing::new(format!(
                "user `{name}` needs a subordinate id range in /etc/subuid and /etc/subgid and \
                 Debian's `uidmap` for sandboxed steps (scripts/setup.sh as root adds them)"
            )))
        },
    )
}

/// `Some(())` as root: only root writes a tree owned by root (or by anyone else) as a
/// directory under `result/`; an ordinary user gets `NAME.tar`. Tests that look into
/// the result directory need it.
fn require_result_tree() -> Option<()> {
    require_root(
        "only root writes a tree with the step's owners into result/ (an ordinary user gets a tar)",
    )
}

/// Builds a one-output recipe whose step must fail: exit 1, and the report (unwrapped)
/// mentions each of `mentions`. Returns the project and the build.
fn check_failure(
    name: &str,
    options: &str,
    mentions: &[&str],
) -> Option<(tempfile::TempDir, Built)> {
    require_sandbox()?;
    let directory = project(&one_step(name, options))?;
    let built = build(directory.path(), &Who::Us, "store", "result", false);
    built.expect_code(1);
    let report = unwrapped(&built.stderr);
    for mention in mentions {
        assert!(
            report.contains(mention),
            "{name}: the report must mention {mention:?}:\n{}",
            built.stderr
        );
    }
    assert!(
        !directory.path().join("result").join(name).exists(),
        "{name}: a failed step has no result"
    );
    Some((directory, built))
}

/// `(uid, gid, permission bits)` of `path` (not following a symlink).
fn owner_and_mode(path: &Path) -> (u32, u32, u32) {
    let metadata = std::fs::symlink_metadata(path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    (metadata.uid(), metadata.gid(), metadata.mode() & 0o7777)
}

/// The first step makes one of each thing that is easy to lose.
const MAKE_SPECIAL_FILES: &str = "echo made > /made
chown 42:43 /made
chmod 640 /made
cat /usr/bin/id > /usr/bin/id-setuid
chmod 4755 /usr/bin/id-setuid
echo linked > /a
ln /a /b
mkfifo /f
cat /usr/bin/sleep > /usr/bin/ping-copy
chmod 755 /usr/bin/ping-copy
setcap cap_net_raw+ep /usr/bin/ping-copy
";

/// The second step, on the first one's output, fails unless all of it is still there.
const CHECK_SPECIAL_FILES: &str = r#"expect() {
    if [ "$2" != "$3" ]; then
        echo "$1: expected '$3', found '$2'"
        exit 1
    fi
}
expect /made "$(stat -c '%u %g %a %F' /made)" "42 43 640 regular file"
expect /made "$(cat /made)" "made"
expect /usr/bin/id-setuid "$(stat -c '%u %g %a' /usr/bin/id-setuid)" "0 0 4755"
expect "/a and /b" "$(stat -c '%i %h' /a)" "$(stat -c '%i %h' /b)"
expect /b "$(stat -c '%h %F' /b)" "2 regular file"
expect /f "$(stat -c '%F %a' /f)" "fifo 644"
expect /usr/bin/ping-copy "$(getcap /usr/bin/ping-copy)" "/usr/bin/ping-copy cap_net_raw=ep"
echo "all special files survived"
"#;

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
