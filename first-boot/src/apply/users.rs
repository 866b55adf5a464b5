//! Users: created or updated with the image's own shadow tools (`groupadd`, `useradd`,
//! `usermod`, `chpasswd`), then sudo rights and SSH keys written here.
//!
//! Why the tools and not our own edits of `/etc/passwd`, `/etc/shadow`, `/etc/group` and
//! `/etc/gshadow`: they are what the image's administrators use, they honour the image's
//! `/etc/login.defs` and `/etc/default/useradd` (id ranges, user groups, skeleton,
//! subordinate ids), take the same lock files as everything else (`/etc/.pwd.lock`),
//! keep the files' modes and `root:shadow` ownership, and hash plain passwords the way
//! the image is configured to — a second implementation of all that would be a second
//! place for the same bugs. The price: with a root other than `/` they chroot (`--root`),
//! so tests of this module need root.
//!
//! Per user, in order: missing supplementary groups (`groupadd`); the user (`useradd -m`
//! with a group of its own, home from `/etc/skel`, mode 0700 when created here) or, if it
//! exists, what differs (`usermod -a -G`, `-s`, `-c`); the password (`chpasswd -e` for a
//! hash; `chpasswd -c SHA512` for plain text, which keeps PAM out of it — both on
//! standard input, never in arguments, never in the report); `usermod -L` when asked to
//! lock. Then `/etc/sudoers.d/90-imgbuild-<user>` (0440) when sudo is asked and
//! `/etc/sudoers.d` exists (removed when no longer asked), and `~/.ssh/authorized_keys`
//! (0600 in a 0700 `.ssh`, owned by the user): keys are added when missing, never
//! duplicated, and the file's other keys are kept. No symbolic link inside the home is
//! followed. When the account step fails, the user's keys and sudo rights are skipped.

use super::accounts::{check_name, Accounts};
use super::error::ApplyError;
use super::program;
use super::report::{Outcome, Report};
use super::root::{Follow, Ownership, Root, TargetPath};
use super::{timed, Applied};
use crate::model::{Password, User};

/// The default login shell of created users.
const DEFAULT_SHELL: &str = "/bin/bash";

/// Applies every user, one report step each (plus `sudo <user>` and `ssh-keys <user>`).
pub fn apply(root: &Root, users: &[User], report: &mut Report) {
    for user in users {
        let account = timed(report, format!("user {}", user.name), || {
            account(root, user)
        });
        let sudo_name = format!("sudo {}", user.name);
        let keys_name = format!("ssh-keys {}", user.name);
        if account != Outcome::Done {
            let why = format!("the account step for {} did not succeed", user.name);
            if user.sudo {
                report.push(sudo_name, Outcome::Skipped, why.clone(), Default::default());
            }
            if !user.ssh_keys.is_empty() {
                report.push(keys_name, Outcome::Skipped, why, Default::default());
            }
            continue;
        }
        timed(report, sudo_name, || sudo(root, user));
        if !user.ssh_keys.is_empty() {
            timed(report, keys_name, || authorized_keys(root, user));
        }
    }
}

fn root_arguments(root: &Root) -> Vec<String> {
    if root.is_slash() {
        Vec::new()
    } else {
        vec!["--root".to_owned(), root.path().display().to_string()]
    }
}

fn check_field(what: &'static str, value: &str) -> Result<(), ApplyError> {
    if value.contains([':', '\n', '\r', '\0']) {
        return Err(ApplyError::invalid(
            what,
            value,
            "contains `:` or a line break",
        ));
    }
    Ok(())
}

/// Creates or updates the account, its groups and its password.
fn account(root: &Root, user: &User) -> Result<Applied, ApplyError> {
    check_name("user name", &user.name)?;
    for group in &user.groups {
        check_name("group name", group)?;
    }
    if let Some(shell) = &user.shell {
        check_field("shell", shell)?;
        if !shell.starts_with('/') {
            return Err(ApplyError::invalid("shell", shell, "not an absolute path"));
        }
    }
    if let Some(gecos) = &user.gecos {
        check_field("GECOS field", gecos)?;
    }
    match &user.password {
        Some(Password::Hash(hash)) if hash.is_empty() || hash.contains([':', '\n', '\r', '\0']) => {
            return Err(ApplyError::invalid(
                "password hash for",
                &user.name,
                "empty or contains `:` or a line break",
            ));
        }
        Some(Password::Plain(plain)) if plain.contains(['\n', '\r', '\0']) => {
            return Err(ApplyError::invalid(
                "password for",
                &user.name,
                "contains a line break",
            ));
        }
        _ => {}
    }
    let mut done = Vec::new();
    let accounts = Accounts::read(root)?;
    let mut missing_groups = Vec::new();
    for group in &user.groups {
        if accounts.group(group).is_none() {
            let mut arguments = root_arguments(root);
            arguments.push(group.clone());
            program::run(&program::find("groupadd")?, &arguments, None)?;
            missing_groups.push(group.as_str());
        }
    }
    if !missing_groups.is_empty() {
        done.push(format!("added group(s) {}", missing_groups.join(", ")));
    }
    match accounts.user(&user.name) {
        None => {
            let mut arguments = root_arguments(root);
            arguments.push("--create-home".to_owned());
            arguments.push("--shell".to_owned());
            arguments.push(
                user.shell
                    .clone()
                    .unwrap_or_else(|| DEFAULT_SHELL.to_owned()),
            );
            if let Some(gecos) = &user.gecos {
                arguments.push("--comment".to_owned());
                arguments.push(gecos.clone());
            }
            if accounts.group(&user.name).is_some() {
                arguments.push("--gid".to_owned());
                arguments.push(user.name.clone());
            } else {
                arguments.push("--user-group".to_owned());
            }
            if !user.groups.is_empty() {
                arguments.push("--groups".to_owned());
                arguments.push(user.groups.join(","));
            }
            arguments.push(user.name.clone());
            program::run(&program::find("useradd")?, &arguments, None)?;
            let created = Accounts::read(root)?;
            let account = created
                .user(&user.name)
                .ok_or_else(|| ApplyError::Unknown {
                    what: "user",
                    name: user.name.clone(),
                    file: "/etc/passwd",
                })?;
            root.set_ownership(
                &TargetPath::new(&account.home)?,
                Ownership {
                    mode: 0o700,
                    uid: account.uid,
                    gid: account.gid,
                },
                Follow::Never,
            )?;
            done.push(format!("created (uid {})", account.uid));
        }
        Some(existing) => {
            let mut arguments = root_arguments(root);
            let base = arguments.len();
            let absent: Vec<&str> = user
                .groups
                .iter()
                .filter(|group| {
                    accounts.group(group).is_none_or(|found| {
                        !found.members.contains(&user.name) && found.gid != existing.gid
                    })
                })
                .map(String::as_str)
                .collect();
            if !absent.is_empty() {
                arguments.extend([
                    "--append".to_owned(),
                    "--groups".to_owned(),
                    absent.join(","),
                ]);
            }
            if let Some(shell) = user
                .shell
                .as_ref()
                .filter(|shell| **shell != existing.shell)
            {
                arguments.extend(["--shell".to_owned(), shell.clone()]);
            }
            if let Some(gecos) = user
                .gecos
                .as_ref()
                .filter(|gecos| **gecos != existing.gecos)
            {
                arguments.extend(["--comment".to_owned(), gecos.clone()]);
            }
            if arguments.len() > base {
                arguments.push(user.name.clone());
                program::run(&program::find("usermod")?, &arguments, None)?;
                done.push("updated".to_owned());
            } else {
                done.push("exists".to_owned());
            }
        }
    }
    if let Some(password) = &user.password {
        let mut arguments = root_arguments(root);
        let secret = match password {
            Password::Hash(hash) => {
                arguments.push("--encrypted".to_owned());
                hash
            }
            Password::Plain(plain) => {
                arguments.extend(["--crypt-method".to_owned(), "SHA512".to_owned()]);
                plain
            }
        };
        let input = format!("{}:{secret}\n", user.name);
        program::run(
            &program::find("chpasswd")?,
            &arguments,
            Some(input.as_bytes()),
        )?;
        done.push("password set".to_owned());
    }
    if user.lock_password {
        let mut arguments = root_arguments(root);
        arguments.extend(["--lock".to_owned(), user.name.clone()]);
        program::run(&program::find("usermod")?, &arguments, None)?;
        done.push("password locked".to_owned());
    }
    Ok(Applied::Done(done.join(", ")))
}

/// Writes or removes `/etc/sudoers.d/90-imgbuild-<user>`.
fn sudo(root: &Root, user: &User) -> Result<Applied, ApplyError> {
    let directory = TargetPath::new("/etc/sudoers.d")?;
    let file = directory.join(&format!("90-imgbuild-{}", user.name))?;
    if !user.sudo {
        return Ok(if root.remove(&file)? {
            Applied::Done("removed the sudo rights an earlier instance gave".to_owned())
        } else {
            Applied::Skipped("not asked".to_owned())
        });
    }
    if !root.exists(&directory) {
        return Ok(Applied::Skipped("sudo is not installed".to_owned()));
    }
    let text = format!(
        "# Written by imgbuild-first-boot.\n{} ALL=(ALL) NOPASSWD:ALL\n",
        user.name
    );
    root.write(
        &file,
        text.as_bytes(),
        Ownership::root(0o440),
        Follow::InRoot,
    )?;
    Ok(Applied::Done(format!("{file}")))
}

/// Adds the user's keys to `~/.ssh/authorized_keys`.
fn authorized_keys(root: &Root, user: &User) -> Result<Applied, ApplyError> {
    for key in &user.ssh_keys {
        if key.trim().is_empty() || key.contains(['\n', '\r', '\0']) {
            return Err(ApplyError::invalid(
                "SSH key for",
                &user.name,
                "empty or more than one line",
            ));
        }
    }
    let accounts = Accounts::read(root)?;
    let account = accounts
        .user(&user.name)
        .ok_or_else(|| ApplyError::Unknown {
            what: "user",
            name: user.name.clone(),
            file: "/etc/passwd",
        })?;
    let ownership = |mode| Ownership {
        mode,
        uid: account.uid,
        gid: account.gid,
    };
    let home = TargetPath::new(&account.home)?;
    if !root.exists(&home) {
        root.create_directory(&home, ownership(0o700), Follow::InRoot)?;
    }
    let ssh = home.join(".ssh")?;
    root.create_directory(&ssh, ownership(0o700), Follow::Never)?;
    let file = ssh.join("authorized_keys")?;
    let existing = root.read(&file, Follow::Never)?.unwrap_or_default();
    let mut text = String::from_utf8_lossy(&existing).into_owned();
    let mut added = 0;
    for key in &user.ssh_keys {
        let key = key.trim();
        if text.lines().any(|line| line.trim() == key) {
            continue;
        }
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(key);
        text.push('\n');
        added += 1;
    }
    root.write(&file, text.as_bytes(), ownership(0o600), Follow::Never)?;
    Ok(Applied::Done(format!(
        "{added} key(s) added, {} already there",
        user.ssh_keys.len() - added
    )))
}
