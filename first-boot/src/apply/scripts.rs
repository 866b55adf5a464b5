//! Running scripts: the image's own (`/etc/imgbuild/first-boot.d/*` once per instance,
//! `/etc/imgbuild/every-boot.d/*` on every boot) and the medium's.
//!
//! Order: image scripts first, in byte order of their names, then the medium's in the
//! medium's order — for per-instance and for every-boot scripts alike. The image prepares
//! (grows disks, installs what its recipe left for first boot); the medium customizes.
//! Image script names starting with `.` or ending in `~`, `.dpkg-old`, `.dpkg-new`,
//! `.dpkg-dist` or `.dpkg-tmp` are ignored, as `run-parts` ignores them.
//!
//! Each script is copied to `<state>/scripts/` (directory 0700, file 0700, both root's,
//! removed after the run) and run from there with its `#!` line (or as the program it is, for an ELF file), or with the shell named
//! in the options (`/bin/sh`) when it has none. It runs in its own process group with
//! standard input from `/dev/null` and standard output and error captured together: the
//! first and last [`REPORT_LINES`] lines go into the report, all of it (up to
//! [`LOG_LIMIT`] bytes) into `/var/log/imgbuild-first-boot.log` (0600). Past the time
//! limit the whole process group is killed. A background process that keeps the output
//! open is not waited for past [`OUTPUT_GRACE`]. A failing, killed or hanging script is
//! reported and the next one runs.
//!
//! Scripts run in the agent's own file system: on a real boot that is the target. With
//! another root (tests) they run on the host with the working directory and
//! `IMGBUILD_ROOT` set to the root; they never chroot. Their environment adds
//! `IMGBUILD_INSTANCE_ID`, `IMGBUILD_MEDIUM` (`nocloud`, `context` or `config-2`) and
//! `IMGBUILD_ROOT`.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use super::error::ApplyError;
use super::report::{Outcome, Report};
use super::root::{Follow, Ownership, Root, TargetPath};
use super::Options;

/// Lines of output kept in the report from each end.
pub const REPORT_LINES: usize = 10;
/// Bytes of one script's output kept for the log.
pub const LOG_LIMIT: usize = 1 << 20;
/// How long to wait for the output to close after the script exited.
pub const OUTPUT_GRACE: Duration = Duration::from_secs(1);
/// The log file.
pub const LOG: &str = "/var/log/imgbuild-first-boot.log";

/// One script to run.
#[derive(Debug, Clone)]
pub struct Runnable {
    /// The name in the report (`first-boot.d/10-grow`, `medium/runcmd`).
    pub name: String,
    /// Its text.
    pub body: Vec<u8>,
}

/// What every script of one run shares.
pub struct Context<'a> {
    /// The target.
    pub root: &'a Root,
    /// The state directory (scripts are copied below it).
    pub state: &'a TargetPath,
    /// The instance id, for the environment.
    pub instance_id: &'a str,
    /// The medium kind, for the environment.
    pub medium: &'static str,
    /// Time limit and shell.
    pub options: &'a Options,
}

/// The image's scripts in `directory` (`/etc/imgbuild/first-boot.d`), in name order.
pub fn image_scripts(root: &Root, directory: &str) -> Result<Vec<Runnable>, ApplyError> {
    let directory = TargetPath::new(directory)?;
    let label = directory.file_name().to_owned();
    let mut scripts = Vec::new();
    for name in root.list(&directory)? {
        let ignored = name.starts_with('.')
            || name.ends_with('~')
            || [".dpkg-old", ".dpkg-new", ".dpkg-dist", ".dpkg-tmp"]
                .iter()
                .any(|suffix| name.ends_with(suffix));
        let path = directory.join(&name)?;
        if ignored || root.kind(&path) != Some(rustix::fs::FileType::RegularFile) {
            continue;
        }
        if let Some(body) = root.read(&path, Follow::InRoot)? {
            scripts.push(Runnable {
                name: format!("{label}/{name}"),
                body,
            });
        }
    }
    Ok(scripts)
}

/// Runs `scripts` in order, one report step each (`script <name>`).
pub fn run_all(context: &Context<'_>, scripts: &[Runnable], report: &mut Report) {
    for (index, script) in scripts.iter().enumerate() {
        let started = Instant::now();
        let (outcome, message, output) = match run(context, index, script) {
            Ok(ran) => ran,
            Err(error) => (Outcome::Failed, error.to_string(), Vec::new()),
        };
        log(context, script, &message, &output);
        let text = String::from_utf8_lossy(&output);
        let lines: Vec<&str> = text.lines().collect();
        let mut details: Vec<String> = Vec::new();
        if lines.len() > 2 * REPORT_LINES {
            details.extend(lines[..REPORT_LINES].iter().map(|line| (*line).to_owned()));
            details.push(format!(
                "... {} more line(s) in {LOG}",
                lines.len() - 2 * REPORT_LINES
            ));
            details.extend(
                lines[lines.len() - REPORT_LINES..]
                    .iter()
                    .map(|line| (*line).to_owned()),
            );
        } else {
            details.extend(lines.iter().map(|line| (*line).to_owned()));
        }
        report
            .push(
                format!("script {}", script.name),
                outcome,
                message,
                started.elapsed(),
            )
            .details = details;
    }
}

/// Appends one script's outcome and output to the log (0600, also when it existed).
fn log(context: &Context<'_>, script: &Runnable, message: &str, output: &[u8]) {
    let mut entry = format!(
        "== imgbuild-first-boot: instance {}: script {}: {message}\n",
        context.instance_id, script.name
    )
    .into_bytes();
    entry.extend_from_slice(output);
    if !output.is_empty() && !output.ends_with(b"\n") {
        entry.push(b'\n');
    }
    // The report carries the outcome; a log that cannot be written must not stop a script.
    if let Ok(path) = TargetPath::new(LOG) {
        let _ = context
            .root
            .append(&path, &entry, Ownership::root(0o600), true);
    }
}

/// A script name reduced to a safe file name.
fn file_name(index: usize, name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|character| {
            if character.is_ascii_alphanumeric() || "-_.".contains(character) {
                character
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    format!("{index:03}-{cleaned}")
}

/// Runs one script: the outcome, a one-line message and its captured output.
fn run(
    context: &Context<'_>,
    index: usize,
    script: &Runnable,
) -> Result<(Outcome, String, Vec<u8>), ApplyError> {
    let directory = context.state.join("scripts")?;
    context
        .root
        .create_directory(&directory, Ownership::root(0o700), Follow::Never)?;
    let path = directory.join(&file_name(index, &script.name))?;
    context
        .root
        .write(&path, &script.body, Ownership::root(0o700), Follow::Never)?;
    let host_path = context
        .root
        .path()
        .join(path.to_string().trim_start_matches('/'));
    let direct = script.body.starts_with(b"#!") || script.body.starts_with(b"\x7fELF");
    let result = execute(context, &host_path, direct);
    let _ = context.root.remove(&path);
    result
}

fn execute(
    context: &Context<'_>,
    host_path: &std::path::Path,
    shebang: bool,
) -> Result<(Outcome, String, Vec<u8>), ApplyError> {
    let mut command = if shebang {
        Command::new(host_path)
    } else {
        let mut command = Command::new(&context.options.shell);
        command.arg(host_path);
        command
    };
    let program = if shebang {
        host_path.to_path_buf()
    } else {
        context.options.shell.clone()
    };
    let spawn_error = |source| ApplyError::Spawn {
        program: program.clone(),
        source,
    };
    let (reader, writer) = std::io::pipe().map_err(spawn_error)?;
    let writer_too = writer.try_clone().map_err(spawn_error)?;
    command
        .current_dir(context.root.path())
        .env("IMGBUILD_INSTANCE_ID", context.instance_id)
        .env("IMGBUILD_MEDIUM", context.medium)
        .env("IMGBUILD_ROOT", context.root.path())
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(writer_too)
        .process_group(0);
    let spawned = spawn(&mut command);
    // The command holds the pipe's write ends: drop them so the output ends with the script.
    drop(command);
    let mut child = spawned.map_err(spawn_error)?;
    let output = Arc::new(Mutex::new(Vec::new()));
    let (closed, output_closed) = mpsc::channel();
    {
        let output = Arc::clone(&output);
        std::thread::spawn(move || {
            let mut reader = reader;
            let mut buffer = [0u8; 8192];
            while let Ok(count @ 1..) = reader.read(&mut buffer) {
                if let Ok(mut kept) = output.lock() {
                    let room = LOG_LIMIT.saturating_sub(kept.len());
                    kept.extend_from_slice(&buffer[..count.min(room)]);
                }
            }
            let _ = closed.send(());
        });
    }
    let started = Instant::now();
    let limit = context.options.script_timeout;
    let mut timed_out = false;
    let status: ExitStatus = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(source) => return Err(spawn_error(source)),
        }
        if started.elapsed() >= limit {
            timed_out = true;
            let _ = rustix::process::kill_process_group(
                rustix::process::Pid::from_child(&child),
                rustix::process::Signal::KILL,
            );
            break child.wait().map_err(spawn_error)?;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let lingering = output_closed.recv_timeout(OUTPUT_GRACE).is_err();
    let captured = output.lock().map(|kept| kept.clone()).unwrap_or_default();
    let (outcome, mut message) = if timed_out {
        (
            Outcome::Failed,
            format!(
                "timed out after {} s: its process group was killed",
                limit.as_secs_f64()
            ),
        )
    } else if status.success() {
        (Outcome::Done, "exit status 0".to_owned())
    } else {
        (Outcome::Failed, describe(status))
    };
    if lingering {
        message.push_str("; a background process still holds its output, not waited for");
    }
    Ok((outcome, message, captured))
}

/// Spawns `command`, retrying a few times while the copied script is "text file busy":
/// another thread of the agent (or of a test binary) may be forking while it holds the
/// copy's write descriptor, until that child's `exec` closes it.
fn spawn(command: &mut Command) -> std::io::Result<std::process::Child> {
    let mut attempts = 0;
    loop {
        match command.spawn() {
            Err(error)
                if error.kind() == std::io::ErrorKind::ExecutableFileBusy && attempts < 20 =>
            {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(25));
            }
            result => return result,
        }
    }
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => format!("{status}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_file_names_are_plain() {
        assert_eq!(
            file_name(3, "medium/run cmd;rm -rf /"),
            "003-medium_run_cmd_rm_-rf__"
        );
        assert_eq!(
            file_name(0, "first-boot.d/10-grow.sh"),
            "000-first-boot.d_10-grow.sh"
        );
    }
}
