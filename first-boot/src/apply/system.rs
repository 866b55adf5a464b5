//! What imgbuild's root file systems leave out on purpose and every instance needs its
//! own of: `/etc/machine-id` and the SSH host keys. Both are checked on every boot and
//! made only when missing, so they are cheap no-ops once done.
//!
//! - machine-id: systemd normally makes one itself very early (a transient one bound
//!   over an empty `/etc/machine-id`, committed once `/etc` is writable), so this only
//!   acts when the file is still missing, empty or `uninitialized`: 32 hex digits from
//!   the kernel's random generator, shaped as a version 4 UUID as systemd does.
//! - host keys: only when openssh-server is installed (`/usr/sbin/sshd` in the target)
//!   and no host key is there: Ed25519 and ECDSA keys by `ssh-keygen` (private parts
//!   0600), and `sshd_config.d/imgbuild-host-keys.conf` naming them so sshd does not
//!   look for an RSA key. No RSA key: making a 3072-bit one took 20 s of a 30 s boot
//!   under qemu's TCG, and every OpenSSH client of the last decade takes Ed25519.

use std::io::Read;

use super::error::ApplyError;
use super::program;
use super::root::{Follow, Ownership, Root, TargetPath};
use super::Applied;

/// Host key types looked for: any one of them present means the image has its keys.
const HOST_KEYS: &[&str] = &["rsa", "ecdsa", "ed25519"];
/// Host key types made when there are none.
const MADE_KEYS: &[&str] = &["ed25519", "ecdsa"];
/// Tells sshd which keys it has.
const SSHD_HOST_KEYS: &str = "# Written by imgbuild-first-boot: the host keys it made (no RSA key).
HostKey /etc/ssh/ssh_host_ed25519_key
HostKey /etc/ssh/ssh_host_ecdsa_key
";

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
    for kind in HOST_KEYS {
        if root.exists(&TargetPath::new(&format!("/etc/ssh/ssh_host_{kind}_key"))?) {
            return Ok(Applied::Skipped(format!("present ({kind})")));
        }
    }
    root.create_directory(
        &TargetPath::new("/etc/ssh")?,
        Ownership::root(0o755),
        Follow::InRoot,
    )?;
    let keygen = program::find("ssh-keygen")?;
    for kind in MADE_KEYS {
        let key = root.path().join(format!("etc/ssh/ssh_host_{kind}_key"));
        let arguments = vec![
            "-q".to_owned(),
            "-t".to_owned(),
            (*kind).to_owned(),
            "-N".to_owned(),
            String::new(),
            "-C".to_owned(),
            String::new(),
            "-f".to_owned(),
            key.display().to_string(),
        ];
        program::run(&keygen, &arguments, None)?;
    }
    let configuration = TargetPath::new("/etc/ssh/sshd_config.d")?;
    if root.exists(&configuration) {
        root.write(
            &configuration.join("imgbuild-host-keys.conf")?,
            SSHD_HOST_KEYS.as_bytes(),
            Ownership::root(0o644),
            Follow::InRoot,
        )?;
    }
    let missing = MADE_KEYS;
    Ok(Applied::Done(format!("made {}", missing.join(", "))))
}
