//! Running the image's own administration programs (`useradd`, `chpasswd`, `ssh-keygen`).
//!
//! They are looked up in the usual system directories of the running system — the
//! target itself on a real boot. When the root is not `/` (tests) the running system's
//! programs are used with their `--root DIR` option (`ssh-keygen -A -f DIR`), which
//! makes them chroot into the target: that needs root.
//!
//! Secrets go to a program on its standard input only, never in its arguments (which
//! any user can read in `/proc`) and never in an error.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::error::ApplyError;

/// Where programs are looked for, in order.
const DIRECTORIES: &[&str] = &["/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/// The path of the program `name`, if installed.
pub fn find(name: &'static str) -> Result<PathBuf, ApplyError> {
    DIRECTORIES
        .iter()
        .map(|directory| PathBuf::from(directory).join(name))
        .find(|path| path.is_file())
        .ok_or(ApplyError::Missing { program: name })
}

/// Runs `program` with `arguments`, feeding `input` on standard input; fails with its
/// standard error when it exits unsuccessfully.
pub fn run(
    program: &PathBuf,
    arguments: &[String],
    input: Option<&[u8]>,
) -> Result<(), ApplyError> {
    let mut child = Command::new(program)
        .args(arguments)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| ApplyError::Spawn {
            program: program.clone(),
            source,
        })?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        // A program that exits early closes its end: the exit status says why.
        let _ = stdin.write_all(input);
    }
    let output = child
        .wait_with_output()
        .map_err(|source| ApplyError::Spawn {
            program: program.clone(),
            source,
        })?;
    if output.status.success() {
        return Ok(());
    }
    Err(ApplyError::Program {
        program: program.clone(),
        arguments: arguments.join(" "),
        status: output.status,
        stderr: String::from_utf8_lossy(&output.stderr)
            .trim()
            .replace('\n', "; "),
    })
}
