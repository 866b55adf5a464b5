//! Helpers shared by the integration tests: running the `imgbuild` binary in a scratch
//! directory, reading its JSON events, fingerprinting result directories, and the insta
//! filters that make snapshots independent of temporary paths, timings and hashes.
//!
//! Each test file includes this module with `mod common;` and uses part of it.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The binary under test.
pub const BINARY: &str = env!("CARGO_BIN_EXE_imgbuild");

/// The workspace root (where `examples/` lives).
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `examples/hello.rhai`, absolute.
pub fn hello_recipe() -> PathBuf {
    workspace().join("examples/hello.rhai")
}

/// A command for the binary, run in `directory`, with a clean environment for the
/// variables imgbuild reads and without colours. Output is captured, so never a terminal.
pub fn imgbuild(directory: &Path) -> Command {
    let mut command = Command::new(BINARY);
    command
        .current_dir(directory)
        .env("NO_COLOR", "1")
        .env("CLICOLOR", "0")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("FORCE_COLOR")
        .env_remove("IMGBUILD_STORE")
        .env_remove("IMGBUILD_PATH")
        .env_remove("IMGBUILD_SECRET_KEY_FILE")
        .env_remove("IMGBUILD_DEBIAN_MIRROR")
        .env_remove("IMGBUILD_DEBIAN_SECURITY_MIRROR")
        .env_remove("IMGBUILD_REMOTE")
        .env_remove("IMGBUILD_REMOTE_TOKEN_FILE")
        .env_remove("IMGBUILD_REMOTE_CA")
        .env_remove("IMGBUILD_REMOTE_CONFIG")
        .env_remove("RUST_BACKTRACE")
        // miette takes its width from the first of stdout, stderr, stdin that is a
        // terminal: none of them may be one, so reports wrap at 80 columns everywhere.
        .stdin(Stdio::null());
    command
}

/// A finished run: exit code and both streams as text.
#[derive(Debug)]
pub struct Run {
    /// The exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Panics with both streams unless the exit code is `expected`.
    pub fn expect_code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(expected),
            "expected exit code {expected}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Panics unless the command succeeded.
    pub fn success(&self) -> &Self {
        self.expect_code(0)
    }

    /// The JSON events printed on stdout (with `--json`); panics on any non-JSON line.
    pub fn events(&self) -> Vec<serde_json::Value> {
        json_lines(&self.stdout)
    }
}

/// Parses one JSON object per line; panics on anything else.
pub fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|error| {
                panic!("not a JSON line ({error}): {line:?}\n--- all ---\n{text}")
            });
            assert!(value.is_object(), "not a JSON object: {line}");
            assert!(
                value
                    .get("event")
                    .and_then(|event| event.as_str())
                    .is_some(),
                "no \"event\" field: {line}"
            );
            value
        })
        .collect()
}

/// Runs a command to completion.
pub fn run(command: &mut Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().expect("cannot run imgbuild");
    Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Runs `imgbuild ARGS...` in `directory`.
pub fn imgbuild_run(directory: &Path, arguments: &[&str]) -> Run {
    run(imgbuild(directory).args(arguments))
}

/// Writes `recipe` as `recipe.rhai` in `directory` and builds it ([`build_here`]).
pub fn build_recipe(directory: &Path, recipe: &str, extra: &[&str]) -> Run {
    write_files(directory, &[("recipe.rhai", recipe)]);
    build_here(directory, extra)
}

/// `imgbuild build recipe.rhai --store store -o out EXTRA...` in `directory`.
pub fn build_here(directory: &Path, extra: &[&str]) -> Run {
    build(
        directory,
        "recipe.rhai",
        Path::new("store"),
        Path::new("out"),
        extra,
    )
}

/// `imgbuild build RECIPE --store STORE -o OUT EXTRA...` in `directory`.
pub fn build(directory: &Path, recipe: &str, store: &Path, out: &Path, extra: &[&str]) -> Run {
    let mut command = imgbuild(directory);
    command
        .arg("build")
        .arg(recipe)
        .arg("--store")
        .arg(store)
        .arg("-o")
        .arg(out)
        .args(extra);
    run(&mut command)
}

/// `imgbuild store SUBCOMMAND --store STORE` in `directory`.
pub fn store_command(directory: &Path, store: &Path, subcommand: &str) -> Run {
    let mut command = imgbuild(directory);
    command
        .arg("store")
        .arg(subcommand)
        .arg("--store")
        .arg(store);
    run(&mut command)
}

/// Writes `files` (relative path, content) under `directory`, creating parents.
pub fn write_files(directory: &Path, files: &[(&str, &str)]) {
    for (path, content) in files {
        let path = directory.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create fixture directory");
        }
        std::fs::write(&path, content).expect("write fixture");
    }
}

/// A fresh scratch directory, always directly under `/tmp` so that absolute paths in
/// reports have the same length on every machine (reports wrap at a fixed width).
pub fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("imgbuild-test-")
        .tempdir_in("/tmp")
        .expect("create temp dir")
}

/// `text` with line wrapping undone: the report's continuation bars and every run of
/// whitespace become one space, so a phrase can be looked for wherever the lines break.
pub fn unwrapped(text: &str) -> String {
    text.replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a result directory holds, entry by entry: type, permission bits, owner, and
/// content or link target. The `.imgbuild-manifest` bookkeeping file is left out.
pub fn fingerprint(root: &Path) -> BTreeMap<String, String> {
    let mut entries = BTreeMap::new();
    fingerprint_into(root, root, &mut entries);
    entries
}

fn fingerprint_into(root: &Path, path: &Path, entries: &mut BTreeMap<String, String>) {
    let metadata = std::fs::symlink_metadata(path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let relative = path
        .strip_prefix(root)
        .expect("below root")
        .display()
        .to_string();
    if relative == ".imgbuild-manifest" {
        return;
    }
    let mode = metadata.permissions().mode() & 0o7777;
    let owner = format!("{}:{}", metadata.uid(), metadata.gid());
    let description = if metadata.file_type().is_symlink() {
        let target = std::fs::read_link(path).expect("read link");
        format!("symlink {mode:o} {owner} -> {}", target.display())
    } else if metadata.is_dir() {
        let mut children: Vec<PathBuf> = std::fs::read_dir(path)
            .expect("read dir")
            .map(|child| child.expect("dir entry").path())
            .collect();
        children.sort();
        for child in children {
            fingerprint_into(root, &child, entries);
        }
        format!("dir {mode:o} {owner}")
    } else {
        let bytes = std::fs::read(path).expect("read file");
        format!(
            "file {mode:o} {owner} {} bytes {}",
            bytes.len(),
            hex_digest(&bytes)
        )
    };
    entries.insert(relative, description);
}

/// A short content hash for fingerprints (FNV-1a; only equality matters).
pub fn hex_digest(bytes: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Every regular file below `directory`, sorted.
pub fn files_below(directory: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![directory.to_path_buf()];
    while let Some(path) = stack.pop() {
        let Ok(reader) = std::fs::read_dir(&path) else {
            continue;
        };
        for child in reader {
            let child = child.expect("dir entry").path();
            let metadata = std::fs::symlink_metadata(&child).expect("metadata");
            if metadata.is_dir() {
                stack.push(child);
            } else if metadata.is_file() {
                found.push(child);
            }
        }
    }
    found.sort();
    found
}

/// insta settings that replace what changes from run to run: the scratch directory,
/// timings, and hexadecimal identities.
pub fn snapshot_settings(scratch: &Path) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    for path in [
        scratch.to_path_buf(),
        scratch
            .canonicalize()
            .unwrap_or_else(|_| scratch.to_path_buf()),
    ] {
        settings.add_filter(&regex_escape(&path.display().to_string()), "[SCRATCH]");
    }
    settings.add_filter(
        &regex_escape(&workspace().display().to_string()),
        "[WORKSPACE]",
    );
    settings.add_filter(r"\b\d+(\.\d+)?(ms|s)\b", "[DURATION]");
    settings.add_filter(r"\b\d+m\d\ds\b", "[DURATION]");
    settings.add_filter(r"\b[0-9a-f]{64}\b", "[HASH]");
    settings.add_filter(r"\b[0-9a-f]{12}\b", "[ID]");
    settings
}

/// Escapes regex metacharacters in a literal.
pub fn regex_escape(literal: &str) -> String {
    let mut escaped = String::with_capacity(literal.len());
    for character in literal.chars() {
        if "\\.+*?()|[]{}^$".contains(character) {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}

/// True when the tests run as root (the one check, in `imgbuild_test_support`).
pub fn running_as_root() -> bool {
    imgbuild_test_support::is_root()
}

/// `runuser`, to run the binary as `nobody`: `None` (after `imgbuild_test_support`
/// reported it: a skip on a developer machine, a failure under CI) unless the tests run
/// as root and `runuser` is installed.
pub fn runuser_as_root() -> Option<PathBuf> {
    imgbuild_test_support::require_root("only root can run commands as `nobody`")?;
    imgbuild_test_support::require_tool("runuser")
}

/// One request as [`http_server`] received it.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    /// The request target (`/payload.txt`).
    pub path: String,
    /// Header names (lower case) and values, in order.
    pub headers: Vec<(String, String)>,
}

impl SeenRequest {
    /// The value of header `name` (case-insensitive), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// What [`http_server`] answers to one request.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// Extra headers (`Content-Length` and `Connection: close` are always sent).
    pub headers: Vec<(String, String)>,
    /// The body; `Content-Length` is its full length.
    pub body: Vec<u8>,
    /// Send only this many bytes of the body, then close the connection.
    pub cut_after: Option<usize>,
}

impl Reply {
    /// `200 OK` with `body`.
    pub fn ok(body: &[u8]) -> Reply {
        Reply::status(200).with_body(body)
    }

    /// An empty answer with `status`.
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            cut_after: None,
        }
    }

    /// `302 Found` to `location`.
    pub fn redirect(location: &str) -> Reply {
        Reply::status(302).with_header("Location", location)
    }

    /// `body`, honouring a `Range: bytes=N-` request with `206 Partial Content`.
    pub fn ranged(request: &SeenRequest, body: &[u8]) -> Reply {
        let start = request
            .header("range")
            .and_then(|range| range.strip_prefix("bytes="))
            .and_then(|range| range.strip_suffix('-'))
            .and_then(|start| start.parse::<usize>().ok());
        match start {
            Some(start) if start < body.len() => Reply::status(206)
                .with_header(
                    "Content-Range",
                    &format!("bytes {start}-{}/{}", body.len() - 1, body.len()),
                )
                .with_body(&body[start..]),
            Some(_) => Reply::status(416),
            None => Reply::ok(body),
        }
    }

    /// The same reply with `body`.
    pub fn with_body(mut self, body: &[u8]) -> Reply {
        self.body = body.to_vec();
        self
    }

    /// The same reply with one more header.
    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The same reply, but the connection closes after `count` bytes of the body.
    pub fn cut_after(mut self, count: usize) -> Reply {
        self.cut_after = Some(count);
        self
    }
}

/// A scripted HTTP/1.1 server on 127.0.0.1 (see [`http_server`]).
pub struct TestServer {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub base: String,
    /// The port, for URLs built by hand (with credentials, say).
    pub port: u16,
    requests: std::sync::Arc<std::sync::Mutex<Vec<SeenRequest>>>,
}

impl TestServer {
    /// `base` + `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.requests
            .lock()
            .map(|requests| requests.clone())
            .unwrap_or_default()
    }

    /// The requests received so far for `path`.
    pub fn requests_to(&self, path: &str) -> Vec<SeenRequest> {
        self.requests()
            .into_iter()
            .filter(|request| request.path == path)
            .collect()
    }
}

/// Starts a server on 127.0.0.1 that answers each request with `answer(request, n)`,
/// where `n` counts the earlier requests for the same path (0 for the first). One
/// request per connection (`Connection: close`); the server lives as long as the test
/// process.
pub fn http_server(answer: impl Fn(&SeenRequest, usize) -> Reply + Send + 'static) -> TestServer {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().expect("address").port();
    let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::<SeenRequest>::new()));
    let seen = requests.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let Ok(clone) = stream.try_clone() else {
                continue;
            };
            let mut reader = BufReader::new(clone);
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let mut headers = Vec::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
                }
            }
            let request = SeenRequest { path, headers };
            let earlier = {
                let Ok(mut seen) = seen.lock() else { continue };
                let earlier = seen
                    .iter()
                    .filter(|other| other.path == request.path)
                    .count();
                seen.push(request.clone());
                earlier
            };
            let reply = answer(&request, earlier);
            let mut head = format!(
                "HTTP/1.1 {} Test\r\nContent-Length: {}\r\nConnection: close\r\n",
                reply.status,
                reply.body.len()
            );
            for (name, value) in &reply.headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str("\r\n");
            let sent = reply
                .cut_after
                .unwrap_or(reply.body.len())
                .min(reply.body.len());
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&reply.body[..sent]);
            let _ = stream.flush();
        }
    });
    TestServer {
        base: format!("http://127.0.0.1:{port}"),
        port,
        requests,
    }
}

/// `runuser`, and `user` existing; `None` after reporting.
pub fn require_user(user: &str, why: &str) -> Option<PathBuf> {
    imgbuild_test_support::require_root(why)?;
    let runuser = imgbuild_test_support::require_tool("runuser")?;
    let exists = Command::new("id")
        .args(["-u", user])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    imgbuild_test_support::require(if exists {
        Ok(runuser)
    } else {
        Err(imgbuild_test_support::Missing::new(format!(
            "there is no user `{user}` (scripts/setup.sh as root creates it)"
        )))
    })
}

/// `chown -R user: path`.
pub fn give_to(user: &str, path: &Path) {
    let status = Command::new("chown")
        .args(["-R", &format!("{user}:")])
        .arg(path)
        .status()
        .expect("run chown");
    assert!(status.success(), "chown -R {user}: {}", path.display());
}

/// The binary as `user` can run it: the build's own when `user` can execute it there,
/// else a copy in a directory anyone may enter (kept alive by the returned guard).
pub fn binary_for(runuser: &Path, user: &str) -> (PathBuf, Option<tempfile::TempDir>) {
    let reachable = Command::new(runuser)
        .args(["-u", user, "--", "test", "-x", BINARY])
        .status()
        .is_ok_and(|status| status.success());
    if reachable {
        return (PathBuf::from(BINARY), None);
    }
    let directory = scratch();
    std::fs::set_permissions(directory.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    let copy = directory.path().join("imgbuild");
    std::fs::copy(BINARY, &copy).expect("copy the binary");
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (copy, Some(directory))
}

/// mke2fs that reads a tar stream (e2fsprogs 1.47.1 or later): what disk images need.
pub fn require_mke2fs() -> Option<()> {
    let mke2fs = imgbuild_test_support::require_tool("mke2fs")?;
    let output = Command::new(mke2fs).arg("-V").output().ok()?;
    let text = String::from_utf8_lossy(&output.stderr).into_owned();
    let version: Vec<u32> = text
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .split('.')
        .filter_map(|part| part.parse().ok())
        .collect();
    imgbuild_test_support::require(if version >= vec![1, 47, 1] {
        Ok(())
    } else {
        Err(imgbuild_test_support::Missing::new(format!(
            "mke2fs {version:?} cannot read a tar stream (1.47.1 or later: scripts/setup.sh installs it from bookworm-backports)"
        )))
    })
}

/// Runs a host tool that must succeed; its stdout.
pub fn run_tool(command: &mut Command) -> String {
    let output = command.output().expect("run");
    assert!(
        output.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The SHA-256 of a file, hex (by `sha256sum`, as a user would check).
pub fn sha256(path: &Path) -> String {
    run_tool(Command::new("sha256sum").arg(path))[..64].to_owned()
}

/// `GET /` on 127.0.0.1:`port`, the whole answer (empty when nothing answers).
pub fn http_get(port: u16) -> String {
    use std::io::{Read, Write};
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) =
        std::net::TcpStream::connect_timeout(&address, std::time::Duration::from_secs(5))
    else {
        return String::new();
    };
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(5)));
    if stream
        .write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .is_err()
    {
        return String::new();
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// The SPDX project's validator (`pyspdxtools -i`) accepts `document`; when the validator
/// cannot be had this is reported as a requirement is (a failure under CI).
pub fn check_spdx(document: &Path) {
    let Some(validator) = imgbuild_test_support::require_spdx_validator() else {
        return;
    };
    let checked = Command::new(validator)
        .arg("-i")
        .arg(document)
        .output()
        .expect("run pyspdxtools");
    assert!(
        checked.status.success(),
        "pyspdxtools refused {}:\n{}{}",
        document.display(),
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
}
