//! The sandbox that build steps running programs (dpkg, maintainer scripts, a recipe's
//! `run`) execute in.
//!
//! A step gets a fresh checkout of its input tree (never hard links to store objects)
//! and runs as root of a new user namespace with its own mount, pid, uts, ipc and
//! network namespaces: loopback only, no network. Three processes take part:
//!
//! 1. The **builder** (this module, [`run_step`]) starts the helper — the `imgbuild`
//!    binary itself with `__sandbox` — sends it the request, maps ids into the
//!    helper's user namespace once it exists (`newuidmap`/`newgidmap` with the user's
//!    subordinate range; root writes the maps itself, the same path otherwise), copies
//!    the helper's stderr into the derivation's log and reads the outcome.
//! 2. The **helper** ([`helper`]) unshares the namespaces, checks the tree out, sets up
//!    `/dev` (a tmpfs with the host's null, zero, full, random, urandom and tty bound
//!    in, a private devpts, `/dev/shm`), `/tmp` and `/run` (tmpfs), starts the init,
//!    enforces the time limit (killing the init kills every process of the pid
//!    namespace), and afterwards reads the tree back into the store inside the
//!    namespace, where owners appear as the image's own ids.
//! 3. The **init** ([`init`]), pid 1 of the new pid namespace, mounts `/proc`,
//!    `pivot_root`s into the checkout (the host's file systems are unmounted from its
//!    view: no `chroot` to escape), runs the step's program with the given environment
//!    and reaps orphans until the program exits.
//!
//! Nothing reaches the store unless the program exits with status 0; the checkout is
//! removed in every case. The ids a step may use are 0–65535 (namespace root is the
//! building user outside; 1–65535 are the subordinate range).

pub mod helper;
pub mod init;
mod mounts;
mod protocol;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use imgbuild_engine::{BuildContext, BuildError, IdMapping};
use imgbuild_store::Digest;

pub use protocol::Request;

/// A step to run: what the builder asks of the sandbox.
#[derive(Debug, Clone)]
pub struct Step {
    /// The program and its arguments, inside the checkout.
    pub argv: Vec<String>,
    /// The whole environment of the program.
    pub env: Vec<(String, String)>,
    /// The host name inside the uts namespace.
    pub hostname: String,
    /// Modification times later than this are clamped on the way back.
    pub clamp_mtime: i64,
    /// Seconds before the step and every process it started are killed.
    pub timeout_seconds: u64,
    /// Store the result owner-only.
    pub secret: bool,
    /// Progress to report from the step's output, if it shows any.
    pub progress: Option<Progress>,
}

/// How a step's output shows progress: each line starting with `prefix` is one `unit`
/// of `total` (dpkg's `Setting up` lines for the configure step).
#[derive(Debug, Clone)]
pub struct Progress {
    /// The start of a line that marks one unit done.
    pub prefix: String,
    /// How many there will be.
    pub total: u64,
    /// What a unit is (`packages`).
    pub unit: &'static str,
}

/// What a successful step produced.
#[derive(Debug)]
pub struct StepOutput {
    /// The tree as the step left it, stored.
    pub tree: Digest,
    /// Regular files read back (changed or new); the others kept their blobs.
    pub files_read: usize,
    /// Regular files in the tree.
    pub files: usize,
}

/// Runs `step` on a checkout of `input` (already in the store) and stores the result.
pub fn run_step(
    context: &mut BuildContext<'_>,
    input: &Digest,
    step: &Step,
) -> Result<StepOutput, BuildError> {
    let sandbox = &context.config.sandbox;
    let helper = sandbox.helper.clone().ok_or_else(|| {
        BuildError::Environment(
            "this program cannot run sandboxed build steps (no sandbox helper configured)"
                .to_owned(),
        )
    })?;
    if let IdMapping::Unavailable { reason, help } = &sandbox.ids {
        return Err(BuildError::Environment(format!("{reason}; {help}")));
    }
    if sandbox.ids == IdMapping::Unresolved {
        return Err(BuildError::Environment(
            "the sandbox's id mapping was not resolved for this build".to_owned(),
        ));
    }
    let scratch = match &sandbox.scratch {
        Some(path) => path.clone(),
        None => context.store.scratch_directory()?,
    };
    let request = Request {
        store: context.store.root().to_path_buf(),
        tree: input.to_hex(),
        scratch,
        argv: step.argv.clone(),
        env: step.env.clone(),
        hostname: step.hostname.clone(),
        clamp_mtime: step.clamp_mtime,
        timeout_seconds: step.timeout_seconds,
        secret: step.secret,
    };
    let mut child = Command::new(&helper)
        .arg(helper::ARGUMENT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| {
            BuildError::Environment(format!(
                "cannot start the sandbox helper {}: {error}",
                helper.display()
            ))
        })?;
    let (Some(mut stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(BuildError::Environment(
            "sandbox helper without pipes".to_owned(),
        ));
    };
    let reporter = context.reporter;
    let progress = step.progress.clone();
    let (outcome, status, log) = std::thread::scope(|scope| {
        let log_reader = scope.spawn(move || {
            let mut log = Vec::new();
            let mut reader = BufReader::new(stderr);
            let mut line = Vec::new();
            let mut done = 0;
            while reader
                .read_until(b'\n', &mut line)
                .is_ok_and(|read| read > 0)
            {
                if let Some(progress) = &progress {
                    if line.starts_with(progress.prefix.as_bytes()) {
                        done += 1;
                        reporter.progress(done, Some(progress.total), progress.unit);
                    }
                }
                log.append(&mut line);
            }
            log
        });
        let outcome = converse(&sandbox.ids, child.id(), &request, &mut stdin, stdout);
        drop(stdin);
        let status = child.wait();
        (outcome, status, log_reader.join().unwrap_or_default())
    });
    context.log.extend_from_slice(&log);
    let outcome = outcome?;
    match (outcome, status) {
        (protocol::Outcome::Done(output), Ok(status)) if status.success() => Ok(output),
        (protocol::Outcome::Done(_), _) => Err(BuildError::Environment(
            "the sandbox helper failed after storing the result".to_owned(),
        )),
        (protocol::Outcome::Failed(message), _) => {
            let text = String::from_utf8_lossy(&log);
            match text
                .lines()
                .find(|line| line.starts_with(init::SETUP_FAILED))
            {
                Some(line) => Err(BuildError::Environment(line.to_owned())),
                None => Err(BuildError::Failed(explain_failure(message, &log))),
            }
        }
        (protocol::Outcome::Environment(message), _) => Err(BuildError::Environment(message)),
    }
}

/// The request, the id mapping once the helper has its user namespace, the outcome.
fn converse(
    ids: &IdMapping,
    pid: u32,
    request: &Request,
    stdin: &mut impl Write,
    stdout: impl std::io::Read,
) -> Result<protocol::Outcome, BuildError> {
    let lost = |error: std::io::Error| {
        BuildError::Environment(format!("lost contact with the sandbox helper: {error}"))
    };
    let mut line = protocol::encode_request(request);
    line.push('\n');
    stdin.write_all(line.as_bytes()).map_err(lost)?;
    stdin.flush().map_err(lost)?;
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().transpose().map_err(lost)?.unwrap_or_default();
    if first != protocol::UNSHARED {
        return Ok(protocol::parse_outcome(&first));
    }
    let mapped = map_ids(ids, pid);
    let answer = if mapped.is_ok() { "go\n" } else { "abort\n" };
    stdin.write_all(answer.as_bytes()).map_err(lost)?;
    stdin.flush().map_err(lost)?;
    mapped?;
    let last = lines.next().transpose().map_err(lost)?.unwrap_or_default();
    Ok(protocol::parse_outcome(&last))
}

/// Writes the helper's uid and gid maps.
fn map_ids(ids: &IdMapping, pid: u32) -> Result<(), BuildError> {
    match ids {
        IdMapping::Root => {
            for (file, content) in [
                ("setgroups", "deny"),
                ("uid_map", "0 0 65536"),
                ("gid_map", "0 0 65536"),
            ] {
                let path = format!("/proc/{pid}/{file}");
                std::fs::write(&path, content).map_err(|error| {
                    BuildError::Environment(format!("cannot write {path}: {error}"))
                })?;
            }
            Ok(())
        }
        IdMapping::Subordinate {
            uid,
            gid,
            sub_uid,
            sub_gid,
            newuidmap,
            newgidmap,
        } => {
            for (program, own, first) in [(newuidmap, uid, sub_uid), (newgidmap, gid, sub_gid)] {
                let output = Command::new(program)
                    .arg(pid.to_string())
                    .args(["0", &own.to_string(), "1", "1", &first.to_string(), "65535"])
                    .stdin(Stdio::null())
                    .output()
                    .map_err(|error| {
                        BuildError::Environment(format!(
                            "cannot run {}: {error} (install Debian's `uidmap` package)",
                            program.display()
                        ))
                    })?;
                if !output.status.success() {
                    return Err(BuildError::Environment(format!(
                        "{} refused to map ids into the sandbox: {}",
                        program.display(),
                        String::from_utf8_lossy(&output.stderr).trim()
                    )));
                }
            }
            Ok(())
        }
        IdMapping::Unresolved | IdMapping::Unavailable { .. } => Err(BuildError::Environment(
            "no id mapping for the sandbox".to_owned(),
        )),
    }
}

/// The failure message, with a note when the log shows the step reaching for the
/// network.
fn explain_failure(message: String, log: &[u8]) -> String {
    const NETWORK_SIGNS: &[&str] = &[
        "Network is unreachable",
        "Temporary failure in name resolution",
        "Name or service not known",
        "Could not resolve",
        "Could not connect",
        "Connection refused",
        "No route to host",
        "unable to resolve",
        "getaddrinfo",
    ];
    let text = String::from_utf8_lossy(log);
    if NETWORK_SIGNS.iter().any(|sign| text.contains(sign)) {
        format!(
            "{message}; the sandbox has no network (loopback only): fetch what the step \
             needs with fetch() or a package set and give it to the step as part of its tree"
        )
    } else {
        message
    }
}

/// The tree a step's input is (checked to be a tree).
pub fn input_tree(context: &BuildContext<'_>, index: u32) -> Result<Digest, BuildError> {
    let input = context.input(index)?;
    let imgbuild_store::OutputObject::Tree { tree } = input.record.object else {
        return Err(BuildError::Failed(format!(
            "{} is a file; a sandboxed step needs a tree as its root",
            input.described()
        )));
    };
    Ok(tree)
}
