//! The fixture root (host programs and their libraries), building recipes through the
//! binary as us or as another user, and what the tests require.

#![allow(dead_code)]

pub(crate) use std::collections::BTreeMap;
pub(crate) use std::os::unix::fs::{FileTypeExt, MetadataExt};
pub(crate) use std::path::{Path, PathBuf};
pub(crate) use std::process::{Command, Stdio};
pub(crate) use std::time::{Duration, Instant};

pub(crate) use crate::common;
pub(crate) use crate::common::{
    binary_for, give_to, imgbuild, require_user, scratch, unwrapped, write_files,
};
pub(crate) use imgbuild_test_support::{
    find_tool, is_root, require, require_root, require_tool, Missing,
};

/// The host programs the fixture root holds: the program and the directory of the root
/// it goes to.
pub(crate) const PROGRAMS: &[(&str, &str)] = &[
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
pub(crate) const EMPTY_DIRECTORIES: &[&str] = &["tmp", "etc"];

/// The top-level entries of the fixture root.
pub(crate) const FIXTURE_TOP: &[&str] = &["bin", "etc", "lib", "lib64", "tmp", "usr"];

/// The name the user tests build as (created by scripts/setup.sh with a subordinate
/// range).
pub(crate) const TEST_USER: &str = "imgbuild-test";

/// Writes the fixture root to `directory/fixture`: the [`PROGRAMS`] and every shared
/// library `ldd` lists for them, at the library's own path (`lib/x86_64-linux-gnu/...`,
/// `lib64/ld-linux-x86-64.so.2`). `None` after reporting a missing tool.
pub(crate) fn write_fixture(directory: &Path) -> Option<()> {
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
pub(crate) fn rhai_string(text: &str) -> String {
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
pub(crate) fn recipe(body: &str) -> String {
    format!("let root = dir(\"fixture\");\n{body}\n")
}

/// A recipe with one output `NAME`, a `run` on the fixture with `options` (Rhai map
/// entries) besides `root` and `name`.
pub(crate) fn one_step(name: &str, options: &str) -> String {
    recipe(&format!(
        "#{{ {name}: run(#{{ root: root, name: \"{name}\", {options} }}) }}"
    ))
}

/// A scratch directory with the fixture and `recipe` as `recipe.rhai`; `None` after
/// reporting a missing tool.
pub(crate) fn project(recipe: &str) -> Option<tempfile::TempDir> {
    let directory = scratch();
    write_fixture(directory.path())?;
    write_files(directory.path(), &[("recipe.rhai", recipe)]);
    Some(directory)
}

/// Who runs the binary.
pub(crate) enum Who<'a> {
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
pub(crate) struct Built {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    /// Output digests by output name (`"event":"output"`, with `--json`).
    pub(crate) outputs: BTreeMap<String, String>,
    /// Result paths by output name (with `--json`).
    pub(crate) paths: BTreeMap<String, String>,
    /// Derivations started, by name (with `--json`): they were not found in the store.
    pub(crate) started: Vec<String>,
}

impl Built {
    pub(crate) fn expect_code(&self, expected: i32) -> &Self {
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
    pub(crate) fn output(&self, name: &str) -> &str {
        self.outputs.get(name).unwrap_or_else(|| {
            panic!(
                "no output {name}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// The recipe identity prefix `imgbuild log ID` is suggested with in the failure
    /// report.
    pub(crate) fn log_identity(&self) -> String {
        let (_, after) = self
            .stderr
            .split_once("(imgbuild log ")
            .unwrap_or_else(|| panic!("no `imgbuild log` hint:\n{}", self.stderr));
        after.split(')').next().expect("identity").to_owned()
    }
}

/// `imgbuild build recipe.rhai --store STORE -o OUT` (with `--json` when `json`) in
/// `directory`, run by `who`.
pub(crate) fn build(directory: &Path, who: &Who<'_>, store: &str, out: &str, json: bool) -> Built {
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
pub(crate) fn build_json(directory: &Path) -> Built {
    build(directory, &Who::Us, "store", "result", true)
}

/// `imgbuild log ID --store store` in `directory`: the derivation's whole log.
pub(crate) fn log(directory: &Path, identity: &str) -> String {
    let run = common::imgbuild_run(directory, &["log", identity, "--store", "store"]);
    run.success();
    run.stdout
}

/// The uid this process runs as (the owner of its `/proc` directory).
pub(crate) fn own_uid() -> u32 {
    std::fs::metadata("/proc/self")
        .expect("stat /proc/self")
        .uid()
}

/// The name of the user with `uid` in /etc/passwd.
pub(crate) fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.get(2) == Some(&uid.to_string().as_str())).then(|| fields[0].to_owned())
    })
}

/// Whether /etc/subuid and /etc/subgid both give `user` (or `uid`) a range.
pub(crate) fn has_subordinate_range(user: &str, uid: u32) -> bool {
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
pub(crate) fn require_sandbox() -> Option<()> {
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
pub(crate) fn require_result_tree() -> Option<()> {
    require_root(
        "only root writes a tree with the step's owners into result/ (an ordinary user gets a tar)",
    )
}

/// Builds a one-output recipe whose step must fail: exit 1, and the report (unwrapped)
/// mentions each of `mentions`. Returns the project and the build.
pub(crate) fn check_failure(
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
pub(crate) fn owner_and_mode(path: &Path) -> (u32, u32, u32) {
    let metadata = std::fs::symlink_metadata(path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    (metadata.uid(), metadata.gid(), metadata.mode() & 0o7777)
}

/// The first step makes one of each thing that is easy to lose.
pub(crate) const MAKE_SPECIAL_FILES: &str = "echo made > /made
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
pub(crate) const CHECK_SPECIAL_FILES: &str = r#"expect() {
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
