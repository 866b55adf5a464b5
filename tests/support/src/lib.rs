//! What imgbuild's tests need from the machine, checked in one place: a tool on the
//! `PATH` (or in the sbin directories), root, the host's apt lists, the network to the
//! host's Debian mirror, and the `IMGBUILD_SLOW_TESTS` switch.
//!
//! A test states its requirements first and returns when one is missing:
//!
//! ```no_run
//! use imgbuild_test_support::{require, require_tool};
//!
//! fn dpkg_reads_the_database() {
//!     let dpkg = require!(require_tool("dpkg"));
//!     // ... run `dpkg` ...
//! #   let _ = dpkg;
//! }
//! ```
//!
//! **Nothing passes silently.** On a developer machine a missing requirement prints
//! `skipped: <test>: <reason>` to standard error and the test returns. When the
//! environment variable `CI` is set (non-empty), as `.ci/run` sets it, the same
//! requirement is a failure: CI installs everything (`scripts/setup.sh`, `apt-get
//! update`, root), so a test that cannot run there is a broken CI, not a skip. The one
//! exception is [`require_slow_tests`]: slow tests are opt-in everywhere, and CI opts in
//! by setting `IMGBUILD_SLOW_TESTS=1` itself.
//!
//! Each check also exists without the reporting ([`find_tool`], [`is_root`],
//! [`apt_lists`], [`debian_mirror`]), returning [`Missing`], for tests that decide on
//! their own what to do; [`require`] reports any such result the same way.
//!
//! This crate depends on nothing in the workspace, so the stand-alone format libraries
//! (`imgbuild-apt`, `imgbuild-iso`) can use it as a dev-dependency. The Debian mirror is
//! read from the host's apt configuration (or `IMGBUILD_DEBIAN_MIRROR`); no host name is
//! written here.

use std::fmt;
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// Where apt keeps the indices `apt-get update` downloaded.
pub const APT_LISTS: &str = "/var/lib/apt/lists";

/// The variable that turns on slow tests (VM boots, real-archive downloads).
pub const SLOW_TESTS_VARIABLE: &str = "IMGBUILD_SLOW_TESTS";

/// Directories searched after `PATH`: an ordinary user's `PATH` often lacks the sbin
/// directories where `blkid`, `runuser` or `mkfs` live.
const SBIN_DIRECTORIES: &[&str] = &["/usr/local/sbin", "/usr/sbin", "/sbin"];

/// How long a connection to the Debian mirror may take before the network counts as
/// missing.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a test cannot run on this machine: one sentence that says what is missing and,
/// where it helps, how to get it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    reason: String,
}

impl Missing {
    /// A requirement described by `reason` (`"gpg is not installed"`).
    pub fn new(reason: impl Into<String>) -> Missing {
        Missing {
            reason: reason.into(),
        }
    }

    /// The sentence given to [`Missing::new`].
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for Missing {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.reason)
    }
}

impl std::error::Error for Missing {}

/// Returns from the enclosing function (a test, or a helper returning `()`) when a
/// `require_*` check reported a missing requirement; otherwise evaluates to what the
/// check found.
///
/// ```no_run
/// # use imgbuild_test_support::{require, require_root, require_tool};
/// # fn test() {
/// require!(require_root("dpkg unpacks with the archive's ownership"));
/// let gpg = require!(require_tool("gpg"));
/// # }
/// ```
#[macro_export]
macro_rules! require {
    ($check:expr) => {
        match $check {
            ::std::option::Option::Some(found) => found,
            ::std::option::Option::None => return,
        }
    };
}

/// True when the tests run under CI (`CI` set and non-empty): missing requirements fail.
pub fn under_ci() -> bool {
    std::env::var_os("CI").is_some_and(|value| !value.is_empty())
}

/// The running test's name, as the test harness names its thread.
fn test_name() -> String {
    match std::thread::current().name() {
        Some(name) if name != "main" => name.to_owned(),
        _ => "this test".to_owned(),
    }
}

/// Reports a missing requirement: under CI a panic naming it, elsewhere a
/// `skipped: <test>: <reason>` line on standard error.
///
/// The line is written to the standard error stream itself, not through `eprintln!`,
/// which the test harness captures and shows only for failing tests: a skip must be
/// visible in the output of a passing run.
#[track_caller]
pub fn skip(missing: &Missing) {
    let test = test_name();
    if under_ci() {
        panic!("{test}: {missing}; CI is set, so this is a failure, not a skip");
    }
    say(&format!("skipped: {test}: {missing}"));
}

/// Writes `line` to standard error past the test harness's output capture.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// `found`, or `None` after reporting why not (see [`skip`]).
#[track_caller]
pub fn require<T>(found: Result<T, Missing>) -> Option<T> {
    match found {
        Ok(value) => Some(value),
        Err(missing) => {
            skip(&missing);
            None
        }
    }
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
}

/// Finds a program: `name` itself when it contains a `/`, else the first executable
/// `name` on `PATH` or in the sbin directories.
pub fn find_tool(name: &str) -> Result<PathBuf, Missing> {
    if name.contains('/') {
        let path = PathBuf::from(name);
        return if is_executable(&path) {
            Ok(path)
        } else {
            Err(Missing::new(format!(
                "`{name}` is not installed (scripts/setup.sh installs the test tools)"
            )))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(SBIN_DIRECTORIES.iter().map(PathBuf::from))
        .map(|directory| directory.join(name))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| {
            Missing::new(format!(
                "`{name}` is not installed (scripts/setup.sh installs the test tools)"
            ))
        })
}

/// The path of the program `name`, or `None` after reporting that it is missing.
#[track_caller]
pub fn require_tool(name: &str) -> Option<PathBuf> {
    require(find_tool(name))
}

/// The paths of all of `names`, or `None` after reporting every one that is missing.
#[track_caller]
pub fn require_tools(names: &[&str]) -> Option<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for name in names {
        match find_tool(name) {
            Ok(path) => found.push(path),
            Err(_) => missing.push(format!("`{name}`")),
        }
    }
    if missing.is_empty() {
        Some(found)
    } else {
        skip(&Missing::new(format!(
            "{} not installed (scripts/setup.sh installs the test tools)",
            match missing.len() {
                1 => format!("{} is", missing[0]),
                _ => format!("{} are", missing.join(", ")),
            }
        )));
        None
    }
}

/// True when the effective user is root (read from `/proc/self/status`).
pub fn is_root() -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .is_some_and(|effective| effective == "0")
}

/// `Some(())` as root, else `None` after reporting that `why` needs root (`"dpkg
/// unpacks with the archive's ownership"`).
#[track_caller]
pub fn require_root(why: &str) -> Option<()> {
    require(if is_root() {
        Ok(())
    } else {
        Err(Missing::new(format!("not running as root ({why})")))
    })
}

/// The host's apt lists directory, if `apt-get update` has filled it (it holds at least
/// one `*_InRelease` and one `*_Packages*` index).
pub fn apt_lists() -> Result<PathBuf, Missing> {
    let names: Vec<String> = std::fs::read_dir(APT_LISTS)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect();
    let has_release = names.iter().any(|name| name.ends_with("_InRelease"));
    let has_packages = names.iter().any(|name| name.contains("_Packages"));
    if has_release && has_packages {
        Ok(PathBuf::from(APT_LISTS))
    } else {
        Err(Missing::new(format!(
            "no apt lists in {APT_LISTS} (run `apt-get update`; .ci/run does)"
        )))
    }
}

/// The host's apt lists directory, or `None` after reporting that it is empty.
#[track_caller]
pub fn require_apt_lists() -> Option<PathBuf> {
    require(apt_lists())
}

/// The Debian mirror the host uses, if one can be reached: `IMGBUILD_DEBIAN_MIRROR`,
/// else the first `deb` repository of the host's apt sources (`/etc/apt/sources.list`,
/// `/etc/apt/sources.list.d/*.list` and `*.sources`). Reachable means a TCP connection
/// to its host opens within a few seconds; the answer is computed once per process.
pub fn debian_mirror() -> Result<String, Missing> {
    static REACHABLE: OnceLock<Result<String, Missing>> = OnceLock::new();
    REACHABLE
        .get_or_init(|| {
            let mirror = configured_mirror().ok_or_else(|| {
                Missing::new(
                    "no Debian mirror configured (no `deb` entry in the host's apt sources and \
                     no IMGBUILD_DEBIAN_MIRROR)",
                )
            })?;
            connect(&mirror)?;
            Ok(mirror)
        })
        .clone()
}

/// The reachable Debian mirror, or `None` after reporting that there is no network to it.
#[track_caller]
pub fn require_network() -> Option<String> {
    require(debian_mirror())
}

/// `Some(())` when `IMGBUILD_SLOW_TESTS` is set (non-empty); otherwise says so and
/// returns `None` — also under CI, where `.ci/run` sets the variable when it wants slow
/// tests.
pub fn require_slow_tests() -> Option<()> {
    if std::env::var_os(SLOW_TESTS_VARIABLE).is_some_and(|value| !value.is_empty()) {
        return Some(());
    }
    say(&format!(
        "skipped: {}: a slow test; set {SLOW_TESTS_VARIABLE}=1 to run it",
        test_name()
    ));
    None
}

/// The mirror named by `IMGBUILD_DEBIAN_MIRROR` or the host's apt sources.
fn configured_mirror() -> Option<String> {
    if let Some(mirror) = std::env::var("IMGBUILD_DEBIAN_MIRROR")
        .ok()
        .filter(|mirror| !mirror.is_empty())
    {
        return Some(mirror);
    }
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    let mut parts: Vec<PathBuf> = std::fs::read_dir("/etc/apt/sources.list.d")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .collect();
    parts.sort();
    files.extend(parts);
    files.iter().find_map(|file| {
        let text = std::fs::read_to_string(file).ok()?;
        match file.extension().and_then(|extension| extension.to_str()) {
            Some("sources") => first_deb822_uri(&text),
            Some("list") => first_one_line_uri(&text),
            _ => None,
        }
    })
}

/// The first `URIs:` value of an enabled `Types: deb` paragraph of a `.sources` file.
fn first_deb822_uri(text: &str) -> Option<String> {
    text.split("\n\n").find_map(|paragraph| {
        let field = |name: &str| {
            paragraph
                .lines()
                .filter(|line| !line.starts_with('#'))
                .find_map(|line| {
                    let (key, value) = line.split_once(':')?;
                    key.trim()
                        .eq_ignore_ascii_case(name)
                        .then(|| value.trim().to_owned())
                })
        };
        let is_deb = field("Types")?.split_whitespace().any(|kind| kind == "deb");
        let enabled = field("Enabled").is_none_or(|value| !value.eq_ignore_ascii_case("no"));
        let uri = field("URIs")?.split_whitespace().next()?.to_owned();
        (is_deb && enabled && is_network_uri(&uri)).then_some(uri)
    })
}

/// The URI of the first `deb` line of a one-line-style `.list` file.
fn first_one_line_uri(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let line = line.split('#').next()?.trim();
        let rest = line.strip_prefix("deb ")?.trim_start();
        // Options: `deb [arch=amd64 signed-by=...] URI suite components`.
        let rest = match rest.strip_prefix('[') {
            Some(options) => options.split_once(']')?.1.trim_start(),
            None => rest,
        };
        let uri = rest.split_whitespace().next()?.to_owned();
        is_network_uri(&uri).then_some(uri)
    })
}

fn is_network_uri(uri: &str) -> bool {
    uri.starts_with("http://") || uri.starts_with("https://")
}

/// Opens (and closes) a TCP connection to the host of `uri`.
fn connect(uri: &str) -> Result<(), Missing> {
    let (default_port, rest) = match uri.split_once("://") {
        Some(("https", rest)) => (443, rest),
        Some((_, rest)) => (80, rest),
        None => (80, uri),
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    let address = if authority
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|byte| byte.is_ascii_digit()))
    {
        authority.to_owned()
    } else {
        format!("{authority}:{default_port}")
    };
    let unreachable =
        |why: String| Missing::new(format!("no network to the Debian mirror {uri}: {why}"));
    let addresses: Vec<_> = address
        .to_socket_addrs()
        .map_err(|error| unreachable(error.to_string()))?
        .collect();
    let mut last_error = String::from("the host name has no address");
    for socket in addresses {
        match TcpStream::connect_timeout(&socket, CONNECT_TIMEOUT) {
            Ok(_) => return Ok(()),
            Err(error) => last_error = error.to_string(),
        }
    }
    Err(unreachable(last_error))
}

/// The SPDX project's reference validator, `pyspdxtools` (spdx-tools from the Python
/// package index, in a virtual environment `scripts/spdx-tools.sh` makes once), or why
/// it cannot be had.
pub fn spdx_validator() -> Result<PathBuf, Missing> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/spdx-tools.sh");
    let output = std::process::Command::new("bash")
        .arg(&script)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|error| Missing::new(format!("cannot run {}: {error}", script.display())))?;
    if !output.status.success() {
        return Err(Missing::new(format!(
            "scripts/spdx-tools.sh failed (needs python3-venv and the Python package index): {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(PathBuf::from(
        String::from_utf8_lossy(&output.stdout).trim(),
    ))
}

/// [`spdx_validator`], reported like every other requirement.
#[track_caller]
pub fn require_spdx_validator() -> Option<PathBuf> {
    require(spdx_validator())
}

/// A real REAPI engine for the remote tests: `IMGBUILD_REMOTE` when set, else (with
/// slow tests on) BuildGrid on 127.0.0.1 started by `scripts/buildgrid.sh start`
/// (idempotent; serialized between test processes with `flock`). `None` after saying
/// why when neither is possible — which fails the test under CI.
#[track_caller]
pub fn require_buildgrid() -> Option<String> {
    if let Some(endpoint) = std::env::var("IMGBUILD_REMOTE")
        .ok()
        .filter(|endpoint| !endpoint.is_empty())
    {
        return Some(endpoint);
    }
    if std::env::var_os(SLOW_TESTS_VARIABLE).is_none_or(|value| value.is_empty()) {
        say(&format!(
            "skipped: {}: needs a REAPI engine; set {SLOW_TESTS_VARIABLE}=1 to start BuildGrid \
             with scripts/buildgrid.sh, or IMGBUILD_REMOTE=grpc://HOST:PORT",
            test_name()
        ));
        return None;
    }
    require(start_buildgrid())
}

fn start_buildgrid() -> Result<String, Missing> {
    let repository = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let script = repository.join("scripts/buildgrid.sh");
    let lock = repository.join("target/buildgrid.lock");
    let flock = find_tool("flock")?;
    // `-o`: the server and database the script leaves running must not inherit the
    // lock (they would hold it for ever); their output goes to their own logs, so
    // nothing keeps our pipes open either.
    let output = std::process::Command::new(flock)
        .arg("-o")
        .arg(&lock)
        .arg(&script)
        .arg("start")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|error| Missing::new(format!("cannot run {}: {error}", script.display())))?;
    if !output.status.success() {
        return Err(Missing::new(format!(
            "scripts/buildgrid.sh start failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let endpoint = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    Ok(endpoint.replacen("http://", "grpc://", 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deb822_sources_give_their_first_enabled_deb_uri() {
        let text = "Types: deb-src\nURIs: http://source.invalid/debian\nSuites: x\n\n\
                    Types: deb\nEnabled: no\nURIs: http://off.invalid/debian\n\n\
                    Types: deb deb-src\n# a comment: here\nURIs: http://mirror.invalid/debian http://b.invalid\nSuites: bookworm\n";
        assert_eq!(
            first_deb822_uri(text).as_deref(),
            Some("http://mirror.invalid/debian")
        );
        assert_eq!(
            first_deb822_uri("Types: deb\nURIs: file:///srv/repo\n"),
            None
        );
    }

    #[test]
    fn one_line_sources_skip_options_comments_and_sources() {
        let text = "# deb http://commented.invalid/debian bookworm main\n\
                    deb-src http://source.invalid/debian bookworm main\n\
                    deb [arch=amd64 signed-by=/k.gpg] https://mirror.invalid/debian bookworm main\n";
        assert_eq!(
            first_one_line_uri(text).as_deref(),
            Some("https://mirror.invalid/debian")
        );
    }

    #[test]
    fn tools_are_found_on_the_path_or_by_their_path() {
        assert!(find_tool("sh").is_ok());
        assert!(find_tool("/bin/sh").is_ok());
        let missing = find_tool("imgbuild-no-such-tool").expect_err("not installed");
        assert!(
            missing
                .reason()
                .contains("`imgbuild-no-such-tool` is not installed"),
            "{missing}"
        );
        assert!(find_tool("/nonexistent/tool").is_err());
    }

    #[test]
    fn a_closed_port_is_no_network() {
        let missing = connect("http://127.0.0.1:9/debian").expect_err("port 9 is closed");
        assert!(
            missing.reason().contains("http://127.0.0.1:9/debian"),
            "{missing}"
        );
    }

    #[test]
    fn require_passes_what_was_found_through() {
        assert_eq!(require::<u8>(Ok(7)), Some(7));
    }

    /// Set in the child run of the test below.
    const CHILD: &str = "IMGBUILD_TEST_SUPPORT_CHILD";
    const SELF: &str = "tests::a_missing_requirement_skips_here_and_fails_under_ci";

    /// Runs this test binary again (with `CI` set to `ci`) to report one missing
    /// requirement: a skip line on a developer machine, a failing test under CI.
    #[test]
    fn a_missing_requirement_skips_here_and_fails_under_ci() {
        if std::env::var_os(CHILD).is_some() {
            let found = require::<()>(Err(Missing::new("the moon is not installed")));
            assert_eq!(found, None);
            return;
        }
        let run = |ci: &str| {
            std::process::Command::new(std::env::current_exe().expect("test binary"))
                .args(["--exact", SELF, "--nocapture", "--test-threads=1"])
                .env(CHILD, "1")
                .env("CI", ci)
                .output()
                .expect("run the test binary")
        };
        let developer = run("");
        let stderr = String::from_utf8_lossy(&developer.stderr);
        assert!(developer.status.success(), "{stderr}");
        assert!(
            stderr.contains(&format!("skipped: {SELF}: the moon is not installed")),
            "{stderr}"
        );
        let ci = run("true");
        let stderr = String::from_utf8_lossy(&ci.stderr);
        assert!(!ci.status.success(), "under CI a missing requirement fails");
        assert!(
            stderr.contains("the moon is not installed") && stderr.contains("CI is set"),
            "{stderr}"
        );
    }
}
