//! Writes that fail and paths that are wrong: a store on a full disk, a result directory
//! on a full disk, a result directory or store the user may not write, a directory that
//! is not a store, local sources that cannot be imported, and `imgbuild log` with bad
//! arguments. Each failure must exit with the right code, name the path that failed, say
//! why, and leave nothing half-written where a reader could see it.
//!
//! The disk-full tests mount small tmpfs file systems and the permission tests run the
//! binary as `nobody` with `runuser`; both need root. Without it (or without `runuser`,
//! or when the mount fails) `imgbuild_test_support` skips them with a message on a
//! developer machine and fails them under CI.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{build, imgbuild, run, running_as_root, scratch, store_command, write_files, Run};
use imgbuild_test_support::{require, Missing};

/// Size of the local file that cannot fit on the small tmpfs.
const BIG_FILE_BYTES: usize = 8 << 20;

/// The size of the small tmpfs the disk-full tests write to.
const SMALL_FILESYSTEM: &str = "2m";

/// Whether `text` mentions `needle`, wherever the report wrapped its lines (miette may
/// also break a line after a hyphen, inside a path): whitespace and the report's
/// continuation bars are ignored on both sides.
fn mentions(text: &str, needle: &str) -> bool {
    let squeeze = |text: &str| -> String {
        text.chars()
            .filter(|character| !character.is_whitespace() && *character != '│')
            .collect()
    };
    squeeze(text).contains(&squeeze(needle))
}

/// Panics with the whole report unless `run.stderr` mentions every one of `needles`.
fn check_mentions(run: &Run, needles: &[&str]) {
    for needle in needles {
        assert!(
            mentions(&run.stderr, needle),
            "stderr should mention {needle:?}\n--- stderr ---\n{}",
            run.stderr
        );
    }
}

/// Panics unless the exit code is `expected` and the process did not panic.
fn check_exit(run: &Run, expected: i32) {
    assert!(
        !run.stderr.contains("panicked"),
        "imgbuild panicked:\n{}",
        run.stderr
    );
    run.expect_code(expected);
}

fn canonical(path: &Path) -> String {
    path.canonicalize()
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        .display()
        .to_string()
}

/// Deterministic bytes that zstd cannot compress (xorshift64*).
fn incompressible_bytes(length: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut bytes = Vec::with_capacity(length + 8);
    while bytes.len() < length {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        bytes.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    bytes.truncate(length);
    bytes
}

/// Every path below `directory` whose name starts with `prefix` (any file type).
fn names_starting_with(directory: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![directory.to_path_buf()];
    while let Some(path) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&path) else {
            continue;
        };
        for entry in entries {
            let child = entry.expect("dir entry").path();
            if child
                .file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with(prefix))
            {
                found.push(child.clone());
            }
            if std::fs::symlink_metadata(&child).is_ok_and(|metadata| metadata.is_dir()) {
                stack.push(child);
            }
        }
    }
    found.sort();
    found
}

/// The names directly in `directory`, sorted.
fn listing(directory: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(directory)
        .unwrap_or_else(|error| panic!("{}: {error}", directory.display()))
        .map(|entry| {
            entry
                .expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

fn verify_passes(directory: &Path, store: &Path, when: &str) {
    let verify = store_command(directory, store, "verify");
    assert!(
        verify.code == Some(0) && verify.stdout.contains(" 0 problem(s)"),
        "store verify {when}:\n{}\n{}",
        verify.stdout,
        verify.stderr
    );
}

/// A tmpfs mounted on a directory for the length of a test; unmounted when dropped, also
/// when the test panics.
struct Tmpfs {
    mount_point: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` on `mount_point`, or says why it cannot.
    fn mount(mount_point: &Path, size: &str) -> Result<Tmpfs, Missing> {
        if !running_as_root() {
            return Err(Missing::new("not running as root (mounting a small tmpfs)"));
        }
        std::fs::create_dir_all(mount_point).expect("create mount point");
        let output = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(mount_point)
            .stdin(Stdio::null())
            .output()
            .map_err(|error| Missing::new(format!("cannot run mount: {error}")))?;
        if !output.status.success() {
            return Err(Missing::new(format!(
                "cannot mount a small tmpfs: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        Ok(Tmpfs {
            mount_point: mount_point.to_path_buf(),
        })
    }

    /// Grows (or shrinks) the file system in place; its content stays.
    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.mount_point)
            .status()
            .expect("run mount");
        assert!(status.success(), "remounting the tmpfs with size {size}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.mount_point)
            .status()
            .is_ok_and(|status| status.success());
        if !unmounted {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(&self.mount_point)
                .status();
        }
    }
}

/// Writes the recipes of the disk-full tests under `directory/src`: `big.rhai` (a tree
/// holding an 8 MiB file and a small one) and `small.rhai` (a small tree).
fn write_disk_full_fixtures(directory: &Path) -> Vec<u8> {
    write_files(
        directory,
        &[
            ("src/small.txt", "small\n"),
            (
                "src/big.rhai",
                "#{ site: tree(\"site\", #{ \"/big.bin\": file(\"big.bin\"), \"/small.txt\": file(\"small.txt\") }) }\n",
            ),
            (
                "src/small.rhai",
                "#{ site: tree(\"site\", #{ \"/small.txt\": file(\"small.txt\"), \"/other\": text(\"other\\n\") }) }\n",
            ),
        ],
    );
    let big = incompressible_bytes(BIG_FILE_BYTES);
    std::fs::write(directory.join("src/big.bin"), &big).expect("write big.bin");
    big
}

/// The store fills up while importing a file: the build stops with an environment
/// error naming the path in the store and the reason, the store still verifies, and after
/// `store gc` (or with more space) the same store builds again.
#[test]
fn store_on_a_full_disk() {
    let directory = scratch();
    let directory = directory.path();
    let store = directory.join("store");
    let tmpfs = require!(require(Tmpfs::mount(&store, SMALL_FILESYSTEM)));
    let big = write_disk_full_fixtures(directory);
    let store_path = canonical(&store);
    let out = directory.join("out");

    let full = build(directory, "src/big.rhai", &store, &out, &[]);
    // The machine is at fault, not the recipe: an environment error (3), not 1.
    check_exit(&full, 3);
    check_mentions(&full, &[&format!("{store_path}/"), "big.bin"]);
    assert!(
        !out.join("site").exists(),
        "a failed build must not write the result"
    );
    let temporaries = names_starting_with(&store, ".publish-");
    assert!(
        temporaries.is_empty(),
        "temporary files left in the store: {temporaries:?}"
    );
    verify_passes(directory, &store, "after the disk filled up");

    // What the failed build wrote is garbage; collecting it makes room on the same disk.
    store_command(directory, &store, "gc").success();
    build(directory, "src/small.rhai", &store, &out, &[]).success();
    assert_eq!(
        std::fs::read_to_string(out.join("site/small.txt")).ok(),
        Some("small\n".to_owned())
    );
    verify_passes(directory, &store, "after a small build on the same disk");

    // With enough space the big build goes through on the very same store.
    tmpfs.resize("64m");
    build(directory, "src/big.rhai", &store, &out, &[]).success();
    assert!(
        std::fs::read(out.join("site/big.bin")).is_ok_and(|bytes| bytes == big),
        "site/big.bin has the source's bytes"
    );
    verify_passes(directory, &store, "after the big build");

    // Last, so that the checks above run even while this one fails: the user is told why.
    check_mentions(&full, &["No space left on device"]);
}

/// The result directory fills up while a tree is written out: nothing half-written
/// appears and the previous result stays as it was.
#[test]
fn result_directory_on_a_full_disk_keeps_the_previous_result() {
    let directory = scratch();
    let directory = directory.path();
    let out = directory.join("out");
    let _tmpfs = require!(require(Tmpfs::mount(&out, SMALL_FILESYSTEM)));
    write_disk_full_fixtures(directory);
    let store = directory.join("store");
    build(directory, "src/small.rhai", &store, &out, &[]).success();
    let before = common::fingerprint(&out);
    let manifest_before = std::fs::read(out.join(".imgbuild-manifest")).expect("manifest");

    let full = build(directory, "src/big.rhai", &store, &out, &[]);
    check_exit(&full, 3);
    check_mentions(&full, &[&canonical(&out), "No space left on device"]);
    assert_eq!(
        listing(&out),
        [".imgbuild-manifest", "site"],
        "nothing half-written may appear in the result directory"
    );
    assert_eq!(
        common::fingerprint(&out),
        before,
        "the old result is intact"
    );
    assert_eq!(
        std::fs::read(out.join(".imgbuild-manifest")).ok(),
        Some(manifest_before),
        "the manifest still describes the old result"
    );
    verify_passes(directory, &store, "after the result directory filled up");
}

/// Runs `imgbuild ARGS...` as `nobody` in `directory`.
fn as_nobody(runuser: &Path, directory: &Path, arguments: &[&str]) -> Run {
    let mut command = Command::new(runuser);
    command
        .args(["-u", "nobody", "--", common::BINARY])
        .args(arguments)
        .current_dir(directory)
        .env("NO_COLOR", "1")
        .env_remove("IMGBUILD_STORE")
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null());
    run(&mut command)
}

/// `imgbuild build recipe.rhai --store STORE -o OUT` as `nobody` in `directory`.
fn build_as_nobody(runuser: &Path, directory: &Path, store: &str, out: &str) -> Run {
    let arguments = ["build", "recipe.rhai", "--store", store, "-o", out];
    as_nobody(runuser, directory, &arguments)
}

/// `imgbuild store SUBCOMMAND --store STORE` as `nobody` in `directory`.
fn store_as_nobody(runuser: &Path, directory: &Path, store: &str, subcommand: &str) -> Run {
    as_nobody(runuser, directory, &["store", subcommand, "--store", store])
}

/// A scratch directory anybody may write to, holding a small recipe with a file output
/// and a tree output.
fn shared_scratch() -> tempfile::TempDir {
    let directory = scratch();
    std::fs::set_permissions(directory.path(), std::fs::Permissions::from_mode(0o777))
        .expect("chmod scratch");
    write_files(
        directory.path(),
        &[(
            "recipe.rhai",
            "#{ greeting: text(\"greeting\", \"hi\\n\"), site: tree(\"site\", #{ \"/etc/motd\": text(\"motd\\n\") }) }\n",
        )],
    );
    directory
}

/// Makes `path` a directory owned by root that only root may write to.
fn root_only_directory(path: &Path) {
    std::fs::create_dir_all(path).expect("create directory");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

#[test]
fn result_directory_the_user_cannot_write() {
    let runuser = &require!(common::runuser_as_root());
    let directory = shared_scratch();
    let directory = directory.path();
    let locked = directory.join("locked");
    root_only_directory(&locked);
    let locked_text = locked.display().to_string();

    let into_locked = build_as_nobody(runuser, directory, "store", &locked_text);
    check_exit(&into_locked, 3);
    check_mentions(&into_locked, &[&locked_text, "Permission denied"]);
    assert!(
        listing(&locked).is_empty(),
        "nothing may appear in the locked directory"
    );

    let below_locked = format!("{locked_text}/result");
    let under_locked = build_as_nobody(runuser, directory, "store", &below_locked);
    check_exit(&under_locked, 3);
    check_mentions(&under_locked, &[&below_locked, "Permission denied"]);
    assert!(listing(&locked).is_empty());
}

#[test]
fn store_the_user_cannot_write() {
    let runuser = &require!(common::runuser_as_root());
    let directory = shared_scratch();
    let directory = directory.path();
    let store = directory.join("store");
    build(
        directory,
        "recipe.rhai",
        &store,
        &directory.join("out"),
        &[],
    )
    .success();
    let store_path = canonical(&store);

    let built = build_as_nobody(runuser, directory, &store_path, "out-nobody");
    check_exit(&built, 3);
    check_mentions(&built, &[&store_path, "Permission denied"]);
    assert!(!directory.join("out-nobody").exists());
    for subcommand in ["gc", "verify"] {
        let maintained = store_as_nobody(runuser, directory, &store_path, subcommand);
        check_exit(&maintained, 3);
        check_mentions(&maintained, &[&store_path]);
    }
    // Not even looking: the store root is owner-only (object names are content
    // digests, an oracle for secret files).
    let looked = store_as_nobody(runuser, directory, &store_path, "info");
    check_exit(&looked, 3);
    check_mentions(&looked, &[&store_path, "Permission denied"]);
    verify_passes(directory, &store, "after nobody's attempts");

    // A fresh, empty store directory nobody may not write to.
    let empty = directory.join("empty-store");
    root_only_directory(&empty);
    let empty_text = empty.display().to_string();
    let into_empty = build_as_nobody(runuser, directory, &empty_text, "out-nobody");
    check_exit(&into_empty, 3);
    check_mentions(&into_empty, &[&empty_text, "Permission denied"]);
    assert!(listing(&empty).is_empty());
}

/// A directory with other files in it is not taken for a store, by any command: nothing
/// is created in it and nothing is removed from it.
#[test]
fn directory_that_is_not_a_store() {
    let directory = scratch();
    let directory = directory.path();
    write_files(
        directory,
        &[
            (
                "recipe.rhai",
                "#{ greeting: text(\"greeting\", \"hi\\n\") }\n",
            ),
            ("documents/notes.txt", "my notes\n"),
            ("documents/letters/one.txt", "dear\n"),
        ],
    );
    let documents = directory.join("documents");
    let documents_path = canonical(&documents);
    let before = common::fingerprint(&documents);
    let runs = [
        build(
            directory,
            "recipe.rhai",
            &documents,
            &directory.join("out"),
            &[],
        ),
        store_command(directory, &documents, "gc"),
        store_command(directory, &documents, "verify"),
        store_command(directory, &documents, "info"),
    ];
    for attempt in &runs {
        check_exit(attempt, 3);
        check_mentions(attempt, &[&documents_path, "not empty"]);
    }
    assert_eq!(
        common::fingerprint(&documents),
        before,
        "the directory is untouched"
    );
    assert!(!directory.join("out").exists());

    // A store from an unknown layout version.
    write_files(directory, &[("future/VERSION", "imgbuild-store-v9\n")]);
    let future = store_command(directory, Path::new("future"), "info");
    check_exit(&future, 3);
    check_mentions(
        &future,
        &[&canonical(&directory.join("future")), "imgbuild-store-v9"],
    );

    // A regular file where the store should be.
    write_files(directory, &[("a-file", "not a directory\n")]);
    let file = build(
        directory,
        "recipe.rhai",
        Path::new("a-file"),
        &directory.join("out"),
        &[],
    );
    check_exit(&file, 3);
    check_mentions(&file, &["a-file"]);
    assert_eq!(
        std::fs::read_to_string(directory.join("a-file")).ok(),
        Some("not a directory\n".to_owned())
    );
}

/// Runs `imgbuild build RECIPE` in `directory`, killing it after ten seconds (opening a
/// FIFO would block for ever).
fn build_with_deadline(directory: &Path, recipe: &str) -> Run {
    let mut child = imgbuild(directory)
        .args(["build", recipe, "--store", "store", "-o", "out"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start imgbuild");
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().expect("poll imgbuild").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().expect("wait for imgbuild");
            panic!(
                "imgbuild build {recipe} hangs:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("wait for imgbuild");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `call` is a local-source call such as `file("x")`; it must fail evaluation (exit 2)
/// with a report that mentions each of `needles`.
fn check_local_source_error(directory: &Path, call: &str, needles: &[&str]) {
    write_files(
        directory,
        &[("recipe.rhai", &format!("#{{ x: {call} }}\n"))],
    );
    let failed = build_with_deadline(directory, "recipe.rhai");
    check_exit(&failed, 2);
    check_mentions(&failed, needles);
    assert!(
        !directory.join("out").exists(),
        "{call}: nothing may be written"
    );
}

#[test]
fn local_sources_that_cannot_be_imported() {
    let directory = scratch();
    let directory = directory.path();
    write_files(
        directory,
        &[
            ("tree/a.txt", "a\n"),
            ("tree/sub/b.txt", "b\n"),
            ("plain.txt", "plain\n"),
        ],
    );
    let fifo = directory.join("tree/sub/pipe");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("run mkfifo");
    assert!(made.success(), "mkfifo {}", fifo.display());
    let root = canonical(directory);

    check_local_source_error(
        directory,
        "file(\"tree\")",
        &[&format!("{root}/tree"), "not a regular file"],
    );
    check_local_source_error(
        directory,
        "file(\"tree/sub/pipe\")",
        &[&format!("{root}/tree/sub/pipe"), "not a regular file"],
    );
    check_local_source_error(
        directory,
        "dir(\"tree\")",
        &[
            &format!("{root}/tree/sub/pipe"),
            "only files, directories and symlinks",
        ],
    );
    check_local_source_error(
        directory,
        "dir(\"missing\")",
        &[&format!("{root}/missing"), "No such file or directory"],
    );
    check_local_source_error(
        directory,
        "dir(\"plain.txt\")",
        &[&format!("{root}/plain.txt"), "not a directory"],
    );
    check_local_source_error(
        directory,
        "file(\"missing.txt\")",
        &[&format!("{root}/missing.txt"), "No such file or directory"],
    );
}

fn log(directory: &Path, derivation: &str) -> Run {
    run(imgbuild(directory).args(["log", derivation, "--store", "store"]))
}

#[test]
fn log_with_a_bad_or_unknown_identity() {
    let directory = scratch();
    let directory = directory.path();
    write_files(
        directory,
        &[
            ("hello.txt", "hello\n"),
            ("recipe.rhai", "#{ hello: file(\"hello.txt\") }\n"),
        ],
    );
    build(
        directory,
        "recipe.rhai",
        Path::new("store"),
        Path::new("out"),
        &[],
    )
    .success();
    // The one log in the store, found by its file name (`logs/x/<63 hex>.log`).
    let logs = names_starting_with(&directory.join("store/logs"), "");
    let known = logs
        .iter()
        .find_map(|path| {
            let name = path.file_name()?.to_str()?.strip_suffix(".log")?;
            let shard = path.parent()?.file_name()?.to_str()?;
            Some(format!("{shard}{name}"))
        })
        .expect("the file derivation wrote a log");

    let found = log(directory, &known[..12]);
    found.success();
    assert!(found.stdout.contains("imported"), "{}", found.stdout);
    log(directory, &known[..12].to_ascii_uppercase()).success();

    for (argument, needle) in [
        ("not-hex", "is not a derivation identity"),
        ("", "is not a derivation identity"),
        ("12g4", "is not a derivation identity"),
        (&"a".repeat(65), "at most 64 hexadecimal digits"),
    ] {
        let bad = log(directory, argument);
        check_exit(&bad, 2);
        check_mentions(&bad, &[needle]);
    }
    let unknown_prefix = if known.starts_with('0') { "1" } else { "0" };
    let unknown_prefix = format!("{unknown_prefix}123456789");
    let unknown = log(directory, &unknown_prefix);
    check_exit(&unknown, 2);
    check_mentions(
        &unknown,
        &[&format!("no log for derivation {unknown_prefix}")],
    );
}

#[test]
fn log_does_not_create_a_missing_store() {
    let directory = tempfile::tempdir().expect("tempdir");
    let store = directory.path().join("no-store-here");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_imgbuild"))
        .arg("--store")
        .arg(&store)
        .args(["log", "abcd"])
        .output()
        .expect("run imgbuild");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("there is no store"));
    assert!(!store.exists(), "a read-only command created the store");
}
