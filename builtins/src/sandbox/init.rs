//! The sandbox's init: `imgbuild __sandbox-init -- PROGRAM ARGS...`, started in the
//! checkout (its working directory), pid 1 of the step's pid namespace.
//!
//! Enters the checkout (its own mount namespace, `/proc`, `pivot_root`), sets the umask
//! to 022 (files a step creates must not depend on the caller's umask), runs the
//! program with the environment it was given, and reaps every orphan until the program
//! exits; its exit status becomes the init's (128 + N for a signal). When the init
//! exits the kernel kills whatever else still runs in the namespace. A set-up failure
//! is written to stderr after [`SETUP_FAILED`] and ends with status 125.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The first argument that makes `imgbuild` the init.
pub const ARGUMENT: &str = "__sandbox-init";

/// Marks a set-up failure in the log (the machine's fault, not the step's).
pub const SETUP_FAILED: &str = "imgbuild sandbox set-up failed";

/// The init's whole life: `arguments` are what follows [`ARGUMENT`].
pub fn main(arguments: Vec<OsString>) -> i32 {
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    let mut arguments = arguments.into_iter();
    let (Some(_separator), Some(program)) = (arguments.next(), arguments.next()) else {
        eprintln!("{SETUP_FAILED}: usage: {ARGUMENT} -- PROGRAM [ARGS...]");
        return 125;
    };
    let root = PathBuf::from(".");
    if let Err(error) = super::mounts::enter_root(&root) {
        eprintln!("{SETUP_FAILED}: {error}");
        return 125;
    }
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    let child = Command::new(&program)
        .args(arguments)
        .stdin(Stdio::inherit())
        .spawn();
    let child = match child {
        Ok(child) => child,
        Err(error) => {
            eprintln!(
                "cannot run `{}` in the sandbox: {error}",
                program.to_string_lossy()
            );
            return 127;
        }
    };
    let program_pid = child.id();
    loop {
        match rustix::process::wait(rustix::process::WaitOptions::empty()) {
            Ok(Some((pid, status))) if pid.as_raw_nonzero().get() as u32 == program_pid => {
                if let Some(code) = status.exit_status() {
                    return code;
                }
                if let Some(signal) = status.terminating_signal() {
                    return 128 + signal;
                }
                return 1;
            }
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return 1,
        }
    }
}
