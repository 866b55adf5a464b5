//! `debian::packages` end to end against a local, signed Debian repository built by the
//! test: real `.deb`s from `dpkg-deb`, a `Packages` index, a `Release` clear-signed by
//! a throwaway GnuPG key, served as `file://` (and a closed 127.0.0.1 port for a mirror
//! that is down). Checks the lock file, parallel fetch, the unpacked tree with merged
//! /usr and the dpkg database (read back by the real `dpkg`), offline rebuilds, and
//! refusals: tampered `.deb`, tampered or unsigned `InRelease`, unknown packages.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::imgbuild;

fn run(mut command: impl std::borrow::BorrowMut<Command>) -> std::process::Output {
    let command = command.borrow_mut();
    let output = command.output().expect("command runs");
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn sha256(path: &Path) -> String {
    let output = run(Command::new("sha256sum").arg(path));
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_owned()
}

/// (name, version, extra control fields, files: (path, mode, contents))
type Spec<'a> = (&'a str, &'a str, &'a str, Vec<(&'a str, u32, &'a str)>);

struct Repository {
    _directory: tempfile::TempDir,
    root: PathBuf,
    keyring: PathBuf,
    gnupg: PathBuf,
}

impl Repository {
    fn url(&self) -> String {
        format!("file://{}", self.root.join("repo").display())
    }
    fn dists(&self) -> PathBuf {
        self.root.join("repo/dists/test")
    }
}

fn packages(extra: bool) -> Vec<Spec<'static>> {
    let mut specs = vec![
        (
            "base-stuff",
            "1.0",
            "Essential: yes\nPriority: required\n",
            vec![
                ("etc/base.conf", 0o644, "setting=1\n"),
                ("usr/share/doc/base-stuff/README", 0o644, "base\n"),
            ],
        ),
        (
            "libfoo1",
            "1.2-1",
            "Multi-Arch: same\nPriority: optional\n",
            vec![("usr/lib/x86_64-linux-gnu/libfoo.so.1", 0o644, "ELF-ish\n")],
        ),
        (
            "app",
            "2.0-1",
            "Depends: libfoo1 (>= 1.0)\nPre-Depends: base-stuff\nPriority: optional\n",
            vec![
                ("bin/app", 0o755, "#!/bin/sh\necho app\n"),
                ("usr/bin/app-helper", 0o4755, "#!/bin/sh\n"),
            ],
        ),
        (
            "unrelated",
            "1",
            "Priority: optional\n",
            vec![("usr/share/unrelated", 0o644, "x\n")],
        ),
    ];
    if extra {
        // Two packages shipping the same file: `newtool` Replaces `oldtool`; `clash`
        // replaces nobody.
        specs.push((
            "oldtool",
            "1",
            "Priority: optional\n",
            vec![("usr/bin/tool", 0o755, "old\n")],
        ));
        specs.push((
            "newtool",
            "2",
            "Replaces: oldtool\nPriority: optional\n",
            vec![("usr/bin/tool", 0o755, "new\n")],
        ));
        specs.push((
            "clash",
            "1",
            "Priority: optional\n",
            vec![("usr/bin/app-helper", 0o755, "clash\n")],
        ));
    }
    specs
}

/// Builds the repository: debs, Packages(.xz), Release, InRelease, keyring.
fn repository(signed: bool) -> Repository {
    repository_with(signed, false)
}

fn repository_with(signed: bool, extra: bool) -> Repository {
    repository_full(signed, extra, false)
}

/// A `.deb` whose data archive climbs out of the root (`./../../tmp/evil`), written
/// by hand (dpkg-deb refuses to build one).
const HOSTILE_DEB: &str = r#"
import io, sys, tarfile
def tar(entries):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
control = tar([("./control", b"Package: evil\nVersion: 1\nArchitecture: amd64\nMaintainer: x <x@example.org>\nDescription: hostile\n")])
data = tar([("./../../tmp/evil", b"pwned\n")])
def member(name, body):
    header = name.ljust(16).encode() + b"0".ljust(12) + b"0".ljust(6) + b"0".ljust(6) + b"100644".ljust(8) + str(len(body)).ljust(10).encode() + b"`\n"
    return header + body + (b"\n" if len(body) % 2 else b"")
with open(sys.argv[1], "wb") as out:
    out.write(b"!<arch>\n" + member("debian-binary", b"2.0\n") + member("control.tar.gz", control) + member("data.tar.gz", data))
"#;

fn repository_full(signed: bool, extra: bool, hostile: bool) -> Repository {
    let directory = tempfile::tempdir().expect("temporary directory");
    let root = directory.path().to_path_buf();
    let pool = root.join("repo/pool/main");
    std::fs::create_dir_all(&pool).expect("pool");
    let mut index = String::new();
    for (name, version, extra, files) in packages(extra) {
        let tree = root.join("build").join(name);
        std::fs::create_dir_all(tree.join("DEBIAN")).expect("DEBIAN");
        let mut control = format!(
            "Package: {name}\nVersion: {version}\nArchitecture: amd64\nMaintainer: Test <test@example.org>\n{extra}Description: test package {name}\n"
        );
        if name == "base-stuff" {
            std::fs::write(tree.join("DEBIAN/conffiles"), "/etc/base.conf\n").expect("conffiles");
            std::fs::write(tree.join("DEBIAN/postinst"), "#!/bin/sh\nexit 0\n").expect("postinst");
            run(Command::new("chmod")
                .arg("0755")
                .arg(tree.join("DEBIAN/postinst")));
        }
        for (path, mode, contents) in &files {
            let file = tree.join(path);
            std::fs::create_dir_all(file.parent().expect("parent")).expect("dirs");
            std::fs::write(&file, contents).expect("file");
            run(Command::new("chmod").arg(format!("{mode:o}")).arg(&file));
        }
        control.push_str("");
        std::fs::write(tree.join("DEBIAN/control"), &control).expect("control");
        let deb = pool.join(format!("{name}_{version}_amd64.deb"));
        run(Command::new("dpkg-deb")
            .args(["--root-owner-group", "-Zxz", "--build"])
            .arg(&tree)
            .arg(&deb));
        let size = std::fs::metadata(&deb).expect("deb").len();
        index.push_str(&control);
        index.push_str(&format!(
            "Filename: pool/main/{name}_{version}_amd64.deb\nSize: {size}\nSHA256: {}\n\n",
            sha256(&deb)
        ));
    }
    if hostile {
        let deb = pool.join("evil_1_amd64.deb");
        run(Command::new("python3").arg("-c").arg(HOSTILE_DEB).arg(&deb));
        let size = std::fs::metadata(&deb).expect("deb").len();
        index.push_str(&format!(
            "Package: evil\nVersion: 1\nArchitecture: amd64\nMaintainer: x <x@example.org>\nDescription: hostile\nFilename: pool/main/evil_1_amd64.deb\nSize: {size}\nSHA256: {}\n\n",
            sha256(&deb)
        ));
    }
    let binary = root.join("repo/dists/test/main/binary-amd64");
    std::fs::create_dir_all(&binary).expect("dists");
    std::fs::write(binary.join("Packages"), &index).expect("Packages");
    run(Command::new("xz")
        .args(["-k", "-9"])
        .arg(binary.join("Packages")));
    let mut release = String::from(
        "Origin: imgbuild-test\nLabel: imgbuild-test\nSuite: test\nCodename: test\nDate: Thu, 01 Jan 2026 00:00:00 UTC\nArchitectures: amd64\nComponents: main\nSHA256:\n",
    );
    for file in ["Packages", "Packages.xz"] {
        let path = binary.join(file);
        let size = std::fs::metadata(&path).expect("index").len();
        release.push_str(&format!(
            " {} {size} main/binary-amd64/{file}\n",
            sha256(&path)
        ));
    }
    let dists = root.join("repo/dists/test");
    std::fs::write(dists.join("Release"), &release).expect("Release");
    let gnupg = root.join("gnupg");
    std::fs::create_dir_all(&gnupg).expect("gnupg");
    run(Command::new("chmod").arg("0700").arg(&gnupg));
    let gpg = |arguments: &[&str]| {
        let mut command = Command::new("gpg");
        command.arg("--homedir").arg(&gnupg).args([
            "--batch",
            "--quiet",
            "--passphrase",
            "",
            "--pinentry-mode",
            "loopback",
        ]);
        command.args(arguments);
        command
    };
    run(&mut gpg(&[
        "--quick-gen-key",
        "imgbuild test <test@example.org>",
        "ed25519",
        "sign",
        "0",
    ]));
    let keyring = root.join("test-keyring.gpg");
    run(&mut gpg(&[
        "--output",
        &keyring.display().to_string(),
        "--export",
    ]));
    if signed {
        run(&mut gpg(&[
            "--output",
            &dists.join("InRelease").display().to_string(),
            "--clearsign",
            &dists.join("Release").display().to_string(),
        ]));
    } else {
        std::fs::copy(dists.join("Release"), dists.join("InRelease")).expect("unsigned InRelease");
    }
    Repository {
        _directory: directory,
        root,
        keyring,
        gnupg,
    }
}

fn recipe(directory: &Path, repository: &Repository, extra: &str, include: &str) -> PathBuf {
    let path = directory.join("base.rhai");
    std::fs::write(
        &path,
        format!(
            "debian::packages(#{{ name: \"base\", suites: [\"test\"], mirror: \"{}\", keyring: \"{}\", variant: \"essential\", include: [{include}] {extra} }})\n",
            repository.url(),
            repository.keyring.display()
        ),
    )
    .expect("recipe");
    path
}

/// `imgbuild build RECIPE --store STORE`, run in `work`.
fn build(
    work: &Path,
    recipe: impl AsRef<std::ffi::OsStr>,
    store: impl AsRef<std::ffi::OsStr>,
) -> Command {
    let mut command = imgbuild(work);
    command.arg("build").arg(recipe).arg("--store").arg(store);
    command
}

/// `imgbuild lock RECIPE`, run in `work`.
fn lock_command(work: &Path, recipe: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = imgbuild(work);
    command.arg("lock").arg(recipe);
    command
}

/// Whether the tools that build the fixture repository are installed; when not,
/// `imgbuild_test_support` has said so (a skip here, a failure under CI).
fn repository_tools_installed() -> bool {
    imgbuild_test_support::require_tools(&["gpg", "dpkg-deb", "xz"]).is_some()
}

#[test]
fn locks_fetches_and_unpacks_with_a_dpkg_database() {
    if !repository_tools_installed() {
        return;
    }
    let repository = repository(true);
    let work = tempfile::tempdir().expect("work");
    let recipe = recipe(work.path(), &repository, "", "\"app\"");
    let store = work.path().join("store");
    let output = run(build(work.path(), &recipe, &store));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("resolving package set `base`"), "{stderr}");

    // The lock: three packages (not `unrelated`), with SHA-256s and no mirror.
    let lock = std::fs::read_to_string(work.path().join("base.lock")).expect("lock written");
    assert!(lock.contains("\"format\": \"imgbuild-lock-v2\""), "{lock}");
    assert!(
        lock.contains("\"debian\": {"),
        "sets live in the debian section: {lock}"
    );
    for name in ["\"app\"", "\"base-stuff\"", "\"libfoo1\""] {
        assert!(lock.contains(name), "{name} missing from {lock}");
    }
    assert!(!lock.contains("unrelated"), "{lock}");
    assert!(
        !lock.contains("file://"),
        "the lock names no mirror: {lock}"
    );

    // The tree: merged /usr, ownership and modes, the dpkg database.
    let result = work.path().join("result/base");
    assert_eq!(
        std::fs::read_link(result.join("bin")).expect("bin is a link"),
        Path::new("usr/bin")
    );
    assert_eq!(
        std::fs::read_to_string(result.join("usr/bin/app")).expect("app under usr/bin"),
        "#!/bin/sh\necho app\n"
    );
    use std::os::unix::fs::MetadataExt;
    let helper = std::fs::metadata(result.join("usr/bin/app-helper")).expect("helper");
    assert_eq!(helper.mode() & 0o7777, 0o4755);
    let admin = result.join("var/lib/dpkg");
    let listing = run(Command::new("dpkg-query")
        .arg(format!("--admindir={}", admin.display()))
        .args(["-W", "-f=${Package} ${Version} ${Status}\n"]));
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert_eq!(
        listing,
        "app 2.0-1 install ok unpacked\nbase-stuff 1.0 install ok unpacked\nlibfoo1 1.2-1 install ok unpacked\n"
    );
    let files = run(Command::new("dpkg")
        .arg(format!("--admindir={}", admin.display()))
        .args(["-L", "app"]));
    let files = String::from_utf8_lossy(&files.stdout);
    assert!(files.contains("/bin/app"), "{files}");

    // A second build changes nothing and needs no network; a fresh output directory
    // in the same store works offline.
    let again = run(build(work.path(), &recipe, &store)
        .arg("--offline")
        .arg("-o")
        .arg(work.path().join("offline-result")));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("0 built"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    // A fresh store offline: the packages are missing, by name.
    let offline = build(work.path(), &recipe, work.path().join("empty-store"))
        .arg("--offline")
        .output()
        .expect("runs");
    assert_eq!(offline.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&offline.stderr);
    assert!(
        stderr.contains("--offline") && stderr.contains("app 2.0-1"),
        "{stderr}"
    );
}

#[test]
fn a_tampered_deb_is_refused_and_nothing_is_kept() {
    if !repository_tools_installed() {
        return;
    }
    let repository = repository(true);
    let work = tempfile::tempdir().expect("work");
    let recipe = recipe(work.path(), &repository, "", "\"app\"");
    run(lock_command(work.path(), &recipe));
    // Same size, different bytes.
    let deb = repository
        .root
        .join("repo/pool/main/libfoo1_1.2-1_amd64.deb");
    let mut bytes = std::fs::read(&deb).expect("deb");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&deb, bytes).expect("tamper");
    let store = work.path().join("store");
    let output = build(work.path(), &recipe, &store).output().expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("libfoo1 1.2-1") && stderr.contains("SHA-256 mismatch"),
        "{stderr}"
    );
    let verify = run(imgbuild(work.path())
        .arg("store")
        .arg("verify")
        .arg("--store")
        .arg(&store));
    assert!(verify.status.success());
}

#[test]
fn bad_requests_and_untrusted_repositories_are_refused() {
    if !repository_tools_installed() {
        return;
    }
    let repository = repository(true);
    let work = tempfile::tempdir().expect("work");

    let unknown = recipe(work.path(), &repository, "", "\"ap\", \"libfoo\"");
    let output = lock_command(work.path(), &unknown).output().expect("runs");
    assert_eq!(
        output.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unknown package `ap`") && stderr.contains("`app`"),
        "{stderr}"
    );
    assert!(
        !work.path().join("base.lock").exists(),
        "no lock file on failure"
    );

    let pinned = recipe(work.path(), &repository, "", "\"app\", \"libfoo1=0.9\"");
    let output = lock_command(work.path(), &pinned).output().expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("1.2-1"));

    // Tampered InRelease: one byte of the signed text changed.
    let in_release = repository.dists().join("InRelease");
    let text = std::fs::read_to_string(&in_release).expect("InRelease");
    std::fs::write(
        &in_release,
        text.replace("Label: imgbuild-test", "Label: imgbuild-tesT"),
    )
    .expect("tamper");
    let good = recipe(work.path(), &repository, "", "\"app\"");
    let output = lock_command(work.path(), &good).output().expect("runs");
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // Unsigned: refused, unless the recipe says trusted.
    let unsigned = self::repository(false);
    let plain = recipe(work.path(), &unsigned, "", "\"app\"");
    let output = lock_command(work.path(), &plain).output().expect("runs");
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let trusted = recipe(work.path(), &unsigned, ", trusted: true", "\"app\"");
    run(lock_command(work.path(), &trusted));

    // A mirror that is down: retried, then an error naming the URL.
    let path = work.path().join("down.rhai");
    std::fs::write(
        &path,
        "debian::packages(#{ suites: [\"test\"], mirror: \"http://127.0.0.1:9/debian\", variant: \"custom\", include: [\"app\"] })\n",
    )
    .expect("recipe");
    let output = lock_command(work.path(), &path).output().expect("runs");
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("http://127.0.0.1:9/debian/dists/test/InRelease"),
        "{stderr}"
    );
    let _ = &repository.gnupg;
}

#[test]
fn missing_or_truncated_packages_and_file_conflicts_are_named() {
    if !repository_tools_installed() {
        return;
    }
    let repository = repository_with(true, true);
    let work = tempfile::tempdir().expect("work");

    // Replaces: newtool's file wins over oldtool's.
    let replacing = recipe(work.path(), &repository, "", "\"oldtool\", \"newtool\"");
    let store = work.path().join("store");
    run(build(work.path(), &replacing, &store));
    assert_eq!(
        std::fs::read_to_string(work.path().join("result/base/usr/bin/tool")).expect("tool"),
        "new\n"
    );

    // No Replaces: an error naming both packages and the path.
    let clashing = recipe(work.path(), &repository, "", "\"app\", \"clash\"");
    let output = build(work.path(), &clashing, &store)
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("/usr/bin/app-helper")
            && stderr.contains("`app`")
            && stderr.contains("`clash`"),
        "{stderr}"
    );

    // `lock --update base` re-resolves; a package gone from the mirror, or cut short,
    // is an error naming it (in a store that does not have it).
    let locked = recipe(work.path(), &repository, "", "\"app\"");
    run(lock_command(work.path(), &locked)
        .arg("--update")
        .arg("base"));
    let missing = lock_command(work.path(), &locked)
        .arg("--update")
        .arg("nope")
        .output()
        .expect("runs");
    assert_eq!(missing.status.code(), Some(2));
    let pool = repository.root.join("repo/pool/main");
    std::fs::remove_file(pool.join("libfoo1_1.2-1_amd64.deb")).expect("remove");
    let deb = pool.join("base-stuff_1.0_amd64.deb");
    let bytes = std::fs::read(&deb).expect("deb");
    std::fs::write(&deb, &bytes[..bytes.len() / 2]).expect("truncate");
    let output = build(work.path(), &locked, work.path().join("fresh-store"))
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("libfoo1 1.2-1") && stderr.contains("No such file"),
        "{stderr}"
    );
    assert!(
        stderr.contains("base-stuff 1.0") && stderr.contains("truncated"),
        "{stderr}"
    );
}

#[test]
fn a_teams_own_repository_joins_the_suites_with_its_own_url_and_key() {
    if !repository_tools_installed() {
        return;
    }
    let debian = repository(true);
    let team = repository_with(true, true);
    let work = tempfile::tempdir().expect("work");
    let path = work.path().join("team.rhai");
    std::fs::write(
        &path,
        format!(
            "debian::packages(#{{ name: \"team\", suites: [\"test\"], mirror: \"{}\", keyring: \"{}\", variant: \"custom\", include: [\"app\", \"newtool\"],\n  repositories: [#{{ url: \"{}\", suite: \"test\", keyring: \"{}\" }}] }})\n",
            debian.url(),
            debian.keyring.display(),
            team.url(),
            team.keyring.display()
        ),
    )
    .expect("recipe");
    run(build(work.path(), &path, work.path().join("store")));
    let lock = std::fs::read_to_string(work.path().join("team.lock")).expect("lock");
    assert!(lock.contains("\"newtool\""), "{lock}");
    assert!(
        lock.contains("\"repository\": 1"),
        "newtool comes from the team repository: {lock}"
    );
    assert_eq!(
        std::fs::read_to_string(work.path().join("result/team/usr/bin/tool")).expect("tool"),
        "new\n"
    );
    // With the Debian key in place of the team's, the team repository is refused.
    let wrong_key = path.with_file_name("wrong.rhai");
    std::fs::write(
        &wrong_key,
        std::fs::read_to_string(&path).expect("recipe").replace(
            &team.keyring.display().to_string(),
            &debian.keyring.display().to_string(),
        ),
    )
    .expect("recipe");
    let output = lock_command(work.path(), &wrong_key)
        .output()
        .expect("runs");
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Serves `root` over HTTP on 127.0.0.1. The first response for each `.deb` stops
/// halfway (the connection closes); later requests with `Range: bytes=N-` get the rest
/// (206). Returns the base URL and the list of ranges asked for.
fn flaky_server(root: PathBuf) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    let ranges = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = ranges.clone();
    std::thread::spawn(move || {
        let mut cut: std::collections::HashSet<String> = std::collections::HashSet::new();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let mut range = None;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
                    range = value.trim().trim_end_matches('-').parse::<usize>().ok();
                }
            }
            let Ok(body) = std::fs::read(root.join(path.trim_start_matches('/'))) else {
                let _ = stream.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                continue;
            };
            if let Some(start) = range {
                if let Ok(mut seen) = seen.lock() {
                    seen.push(format!("{path} from {start}"));
                }
                let rest = &body[start.min(body.len())..];
                let _ = write!(
                    stream,
                    "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{}/{}\r\nConnection: close\r\n\r\n",
                    rest.len(),
                    body.len() - 1,
                    body.len()
                );
                let _ = stream.write_all(rest);
            } else if path.ends_with(".deb") && cut.insert(path.clone()) {
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(&body[..body.len() / 2]);
            } else {
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(&body);
            }
        }
    });
    (format!("http://{address}"), ranges)
}

#[test]
fn downloads_cut_short_are_resumed_where_they_stopped() {
    if !repository_tools_installed() {
        return;
    }
    let repository = repository(true);
    let (url, ranges) = flaky_server(repository.root.join("repo"));
    let work = tempfile::tempdir().expect("work");
    let path = work.path().join("flaky.rhai");
    std::fs::write(
        &path,
        format!(
            "debian::packages(#{{ name: \"flaky\", suites: [\"test\"], mirror: \"{url}\", keyring: \"{}\", variant: \"custom\", include: [\"app\"] }})\n",
            repository.keyring.display()
        ),
    )
    .expect("recipe");
    run(build(work.path(), &path, work.path().join("store")));
    let ranges = ranges.lock().expect("ranges").clone();
    assert_eq!(
        ranges.len(),
        3,
        "one resumed request per package: {ranges:?}"
    );
    assert!(
        ranges.iter().all(|range| !range.ends_with(" from 0")),
        "{ranges:?}"
    );
    assert_eq!(
        std::fs::read_to_string(work.path().join("result/flaky/usr/bin/app")).expect("app"),
        "#!/bin/sh\necho app\n"
    );
}

#[test]
fn a_packages_index_that_does_not_match_the_release_is_refused() {
    if !repository_tools_installed() {
        return;
    }
    let repository = repository(true);
    let work = tempfile::tempdir().expect("work");
    let binary = repository.dists().join("main/binary-amd64");
    let index = std::fs::read_to_string(binary.join("Packages")).expect("Packages");
    std::fs::write(
        binary.join("Packages"),
        index.replace("Version: 2.0-1", "Version: 9.0-1"),
    )
    .expect("tamper");
    std::fs::remove_file(binary.join("Packages.xz")).expect("remove");
    run(Command::new("xz")
        .args(["-k", "-9"])
        .arg(binary.join("Packages")));
    let recipe = recipe(work.path(), &repository, "", "\"app\"");
    let output = lock_command(work.path(), &recipe).output().expect("runs");
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("main/binary-amd64/Packages.xz"), "{stderr}");
    assert!(!work.path().join("base.lock").exists());
}

#[test]
fn a_hostile_deb_is_refused_naming_the_package_and_path() {
    if !repository_tools_installed() {
        return;
    }
    let repository = repository_full(true, false, true);
    let work = tempfile::tempdir().expect("work");
    let recipe = recipe(work.path(), &repository, "", "\"evil\"");
    let store = work.path().join("store");
    let output = build(work.path(), &recipe, &store).output().expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("evil") && stderr.contains(".."), "{stderr}");
    assert!(!work.path().join("result").exists(), "no result on failure");
    assert!(
        !Path::new("/tmp/evil").exists()
            || std::fs::read_to_string("/tmp/evil").map_or(true, |text| text != "pwned\n")
    );
    run(imgbuild(work.path())
        .arg("store")
        .arg("verify")
        .arg("--store")
        .arg(&store));
}

#[test]
fn locking_a_recipe_without_package_sets_says_so_and_writes_nothing() {
    let work = tempfile::tempdir().expect("work");
    let recipe = work.path().join("plain.rhai");
    std::fs::write(&recipe, "text(\"greeting\", \"hello\\n\")\n").expect("recipe");
    let output = run(lock_command(work.path(), &recipe));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no debian::packages sets and no libraries: nothing to lock"),
        "{stderr}"
    );
    assert!(!work.path().join("plain.lock").exists());
}
