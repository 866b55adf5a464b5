//! The sandbox helper: `imgbuild __sandbox`, started by [`super::run_step`].
//!
//! Reads one [`Request`] from stdin, unshares a user namespace and waits for the
//! builder to map its ids, unshares the mount, uts, ipc, network and pid namespaces,
//! checks the input tree out, prepares the mounts, starts the init (pid 1 of the new
//! pid namespace) and waits for it within the time limit, then reads the checkout back
//! into the store and answers on stdout (see [`super::protocol`]). The checkout is
//! removed whatever happens. Must be called before the process starts any thread:
//! the kernel refuses a new user namespace to a multi-threaded process.

use std::io::{BufRead, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use imgbuild_store::{DeviceNodes, ImportOptions, Store, StoreError};
use rustix::thread::UnshareFlags;

use super::mounts;
use super::protocol::{self, Outcome, Request};
use super::StepOutput;

/// The first argument that makes `imgbuild` the helper.
pub const ARGUMENT: &str = "__sandbox";

/// The helper's whole life; returns the process exit code.
pub fn main() -> i32 {
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut line = String::new();
    let outcome = match input.read_line(&mut line) {
        Ok(_) => match protocol::decode_request(line.trim_end()) {
            Ok(request) => run(&request, &mut input).unwrap_or_else(|outcome| outcome),
            Err(message) => Outcome::Environment(message),
        },
        Err(error) => Outcome::Environment(format!("cannot read the sandbox request: {error}")),
    };
    answer(&protocol::encode_outcome(&outcome));
    0
}

fn answer(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

fn environment(what: &str, error: impl std::fmt::Display) -> Outcome {
    Outcome::Environment(format!("{what}: {error}"))
}

/// Store errors while checking out or reading back: the disk's fault (exit 3) or the
/// tree's (an owner the namespace cannot represent, a name the store refuses: exit 1).
fn store_failure(what: &str, error: StoreError) -> Outcome {
    let machine = match &error {
        StoreError::Io { source, .. } => matches!(
            source.raw_os_error(),
            Some(libc::ENOSPC | libc::EIO | libc::EDQUOT | libc::EROFS | libc::ENOMEM)
        ),
        _ => true,
    };
    let message = format!("{what}: {}", imgbuild_engine::describe(&error));
    if machine {
        Outcome::Environment(message)
    } else {
        Outcome::Failed(message)
    }
}

/// Removes the checkout when dropped (inside the namespace, where every owner in it is
/// ours).
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::fs::remove_dir_all(&self.0).is_err() {
            let _ = make_writable(&self.0);
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Removes the checkouts in `scratch` that no live helper holds (see [`run`]).
fn remove_dead_checkouts(scratch: &Path, own: &Path) {
    let Ok(entries) = std::fs::read_dir(scratch) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path == own || !name.to_string_lossy().starts_with("sandbox-") {
            continue;
        }
        let Ok(directory) = std::fs::File::open(&path) else {
            continue;
        };
        let free = rustix::fs::flock(
            &directory,
            rustix::fs::FlockOperation::NonBlockingLockExclusive,
        )
        .is_ok();
        if free {
            eprintln!(
                "sandbox: removing a dead build's checkout {}",
                path.display()
            );
            drop(Scratch(path));
        }
    }
}

fn make_writable(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let metadata = std::fs::symlink_metadata(path)?;
    if metadata.is_dir() {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
        for entry in std::fs::read_dir(path)? {
            make_writable(&entry?.path())?;
        }
    }
    Ok(())
}

fn run(request: &Request, input: &mut impl BufRead) -> Result<Outcome, Outcome> {
    mounts::unshare(UnshareFlags::NEWUSER).map_err(|error| {
        environment(
            "cannot create a user namespace (the kernel or a security module refuses \
             unprivileged user namespaces; on Debian check `sysctl kernel.unprivileged_userns_clone`)",
            error,
        )
    })?;
    answer(protocol::UNSHARED);
    let mut go = String::new();
    input
        .read_line(&mut go)
        .map_err(|error| environment("lost the builder", error))?;
    if go.trim_end() != "go" {
        return Err(Outcome::Environment(
            "the builder could not map ids into the sandbox".to_owned(),
        ));
    }
    let _ = rustix::thread::set_thread_groups(&[]);
    mounts::unshare(
        UnshareFlags::NEWNS | UnshareFlags::NEWUTS | UnshareFlags::NEWIPC | UnshareFlags::NEWNET,
    )
    .map_err(|error| environment("cannot create the sandbox's namespaces", error))?;
    // Threads: not before the mount namespace (the kernel refuses it to a process
    // sharing its file system context) and not after the pid namespace (a process
    // whose children go to another pid namespace cannot create threads). Checkout and
    // read-back use rayon's pool, so it is started here, in between.
    let _ = rayon::ThreadPoolBuilder::new().build_global();
    mounts::unshare(UnshareFlags::NEWPID)
        .map_err(|error| environment("cannot create the sandbox's pid namespace", error))?;
    mounts::make_private().map_err(|error| environment("cannot make mounts private", error))?;
    rustix::system::sethostname(request.hostname.as_bytes())
        .map_err(|error| environment("cannot set the sandbox's host name", error))?;
    mounts::loopback_up().map_err(|error| environment("cannot bring up loopback", error))?;

    let store = Store::open(&request.store)
        .map_err(|error| store_failure("cannot open the store", error))?;
    let digest = request
        .tree
        .parse()
        .map_err(|_| Outcome::Environment(format!("bad tree digest {}", request.tree)))?;
    let tree = store
        .load_tree(&digest)
        .map_err(|error| store_failure("cannot load the input tree", error))?;
    // Created under a name the sweep below ignores, locked, then named `sandbox-*`: the
    // lock is held while this checkout lives, so a `sandbox-*` checkout whose lock can
    // be taken belongs to a helper that is gone (killed with SIGKILL, where no cleanup
    // runs) — and only inside a namespace with the same mapping can its
    // subordinate-owned files be removed, so the next helper does it.
    let created = tempfile::Builder::new()
        .prefix(".new-sandbox-")
        .tempdir_in(&request.scratch)
        .map_err(|error| {
            environment(
                &format!("cannot create a checkout in {}", request.scratch.display()),
                error,
            )
        })?
        .keep();
    let held = std::fs::File::open(&created)
        .map_err(|error| environment("cannot open the checkout", error))?;
    rustix::fs::flock(&held, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|error| environment("cannot lock the checkout", error))?;
    let name = created
        .file_name()
        .map(|name| name.to_string_lossy().replace(".new-", ""))
        .unwrap_or_default();
    let directory = request.scratch.join(name);
    if let Err(error) = std::fs::rename(&created, &directory) {
        let _ = std::fs::remove_dir(&created);
        return Err(environment("cannot name the checkout", error));
    }
    let scratch = Scratch(directory);
    remove_dead_checkouts(&request.scratch, &scratch.0);
    let root = scratch.0.join("root");
    std::fs::create_dir(&root).map_err(|error| environment("cannot create the checkout", error))?;
    let started = Instant::now();
    let checkout = store
        .checkout(&tree, &root, DeviceNodes::SkipRefused)
        .map_err(|error| store_failure("cannot check out the input tree", error))?;
    checkout
        .fence(&scratch.0)
        .map_err(|error| store_failure("cannot check out the input tree", error))?;

    eprintln!(
        "sandbox: checked out in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let mut prepared = mounts::prepare(&root)
        .map_err(|error| environment("cannot prepare the sandbox's mounts", error))?;
    let started = Instant::now();
    let status = run_init(request, &root)?;
    eprintln!(
        "sandbox: the step ran for {:.2} s",
        started.elapsed().as_secs_f64()
    );
    mounts::release(&mut prepared)
        .map_err(|error| environment("cannot undo the sandbox's mounts", error))?;
    let program = request.argv.first().map(String::as_str).unwrap_or("");
    match status {
        Ended::TimedOut => {
            return Ok(Outcome::Failed(format!(
                "`{program}` ran past its time limit of {} s; it and every process it \
                 started were killed",
                request.timeout_seconds
            )))
        }
        Ended::Exited(status) if !status.success() => {
            use std::os::unix::process::ExitStatusExt;
            return Ok(Outcome::Failed(match (status.code(), status.signal()) {
                (Some(code), _) => format!("`{program}` exited with status {code}"),
                (_, Some(signal)) => format!("`{program}` was killed by signal {signal}"),
                _ => format!("`{program}` failed"),
            }));
        }
        Ended::Exited(_) => {}
    }
    let started = Instant::now();
    let imported = store
        .import_directory(
            &root,
            &ImportOptions {
                baseline: Some(&checkout),
                clamp_mtime: Some(request.clamp_mtime),
                secret: request.secret,
            },
        )
        .map_err(|error| store_failure("cannot read the result back", error))?;
    let stored = store
        .put_tree(&imported.tree)
        .map_err(|error| store_failure("cannot store the result", error))?;
    let _ = mounts::release_root(&mut prepared);
    eprintln!(
        "sandbox: read back in {:.2} s: {} regular files, {} of them new or changed{}",
        started.elapsed().as_secs_f64(),
        imported.files,
        imported.files_read,
        if imported.sockets > 0 {
            format!(", {} sockets left out", imported.sockets)
        } else {
            String::new()
        }
    );
    Ok(Outcome::Done(StepOutput {
        tree: stored,
        files_read: imported.files_read,
        files: imported.files,
    }))
}

enum Ended {
    Exited(ExitStatus),
    TimedOut,
}

/// Starts the init in the new pid namespace and waits for it, killing it (and with
/// it every process of the namespace) at the time limit.
fn run_init(request: &Request, root: &Path) -> Result<Ended, Outcome> {
    let log = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|error| environment("cannot pass the log on", error))?;
    // The init finds the checkout as its working directory (inherited from here): a
    // path on its command line would show the host's store location in the step's
    // /proc/1/cmdline.
    rustix::process::chdir(root)
        .map_err(|error| environment("cannot enter the checkout", error))?;
    let mut child = Command::new("/proc/self/exe")
        .arg(super::init::ARGUMENT)
        .arg("--")
        .args(&request.argv)
        .env_clear()
        .envs(request.env.iter().map(|(key, value)| (key, value)))
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|error| environment("cannot start the sandbox's init", error))?;
    let started = Instant::now();
    let limit = Duration::from_secs(request.timeout_seconds);
    let mut pause = Duration::from_millis(2);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(Ended::Exited(status)),
            Ok(None) => {}
            Err(error) => return Err(environment("cannot wait for the sandbox's init", error)),
        }
        if started.elapsed() >= limit {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(Ended::TimedOut);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}
