//! What imgbuild's root file systems leave out on purpose and every instance needs its
//! own of: `/etc/machine-id` and the SSH host keys. Both are checked on every boot and
//! made only when missing, so they are cheap no-ops once done.
//!
//! - machine-id: systemd normally makes one itself very early (a transient one bound
//!   over an empty `/etc/machine-id`, committed once `/etc` is writable), so this only
//!   acts when the file is still missing, empty or `uninitialized`: 32 hex digits from
//!   the kernel's random generator, shaped as a version 4 UUID as systemd does.
//! - host keys: only when openssh-server is installed (`/usr/sbin/sshd` in the target)
//!   and a default key is missing: `ssh-keygen -A` (with `-f ROOT` when the root is not
//!   `/`), which writes the missing keys with private parts 0600.

use std::io::Read;

use super::error::ApplyError;
use super::program;
use super::root::{Follow, Ownership, Root, TargetPath};
use super::Applied;

/// The default host key types `ssh-keygen -A` makes on Debian 12.
const HOST_KEYS: &[&str] = &["rsa", "ecdsa", "ed25519"];

/// Writes `/etc/machine-id` when it is missing, empty or `uninitialized`.
pub fn machine_id(root: &Root) -> Result<Applied, ApplyError> {
    let path = TargetPath::new("/etc/machine-id")?;
    let existing = root.read_text(&path)?;
    let existing = existing.trim();
    if !existing.is_empty() && existing != "uninitialized" {
        return Ok(Applied::Skipped("already set".to_owned()));
    }
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .map_err(|error| ApplyError::io("read", "/dev/urandom", error))?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let id: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    root.write(
        &path,
        format!("{id}\n").as_bytes(),
        Ownership::root(0o444),
        Follow::InRoot,
    )?;
    Ok(Applied::Done("a new machine id".to_owned()))
}

/// Makes the missing SSH host keys when openssh-server is installed.
pub fn ssh_host_keys(root: &Root) -> Result<Applied, ApplyError> {
    if !root.exists(&TargetPath::new("/usr/sbin/sshd")?) {
        return Ok(Applied::Skipped(
            "openssh-server is not installed".to_owned(),
        ));
    }
    let mut missing = Vec::new();
    for kind in HOST_KEYS {
        if !root.exists(&TargetPath::new(&format!("/etc/ssh/ssh_host_{kind}_key"))?) {
            missing.push(*kind);
        }
    }
    if missing.is_empty() {
        return Ok(Applied::Skipped("present".to_owned()));
    }
    root.create_directory(
        &TargetPath::new("/etc/ssh")?,
        Ownership::root(0o755),
        Follow::InRoot,
    )?;
    let keygen = program::find("ssh-keygen")?;
    let mut arguments = vec!["-A".to_owned()];
    if !root.is_slash() {
        arguments.push("-f".to_owned());
        arguments.push(root.path().display().to_string());
    }
    program::run(&keygen, &arguments, None)?;
    Ok(Applied::Done(format!("made {}", missing.join(", "))))
}
