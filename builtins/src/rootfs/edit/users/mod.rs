//! Users and groups: the `groups` and `users` options, applied the way Debian's
//! `adduser` (3.134, bookworm) and `useradd` would, but as edits of the tree.
//!
//! - `/etc/passwd`, `/etc/group`, `/etc/shadow`, `/etc/gshadow` keep their lines and
//!   order; new lines are appended (see `accounts` for their exact form and modes).
//! - Ids not given are allocated deterministically: regular users take the first id from
//!   1000 up that is free both as a uid and a gid (adduser's rule, so the user's own
//!   group gets the same number); system users and groups take the first free id from 999
//!   down to 100 (useradd's and systemd-sysusers' rule). Ids given explicitly anywhere in
//!   the options are never handed out to others.
//! - A user gets its own group named after it (adduser's `USERGROUPS=yes`; `gid` sets its
//!   number) unless `group` names an existing one as its primary group.
//! - An existing name, or an explicit id that belongs to someone, is an error naming both.
//! - Defaults: regular users `/home/NAME` (created 0700 from `/etc/skel`, adduser's
//!   `DIR_MODE`), shell `/bin/bash`; system users `/nonexistent` (not created), shell
//!   `/usr/sbin/nologin`; a system user's explicit home is created 0755 and empty.
//! - `password` (secret text) is hashed with SHA-512 crypt, salted from its seal and the
//!   user name; `crypted_password` is written as given. Either makes the tree secret. No
//!   password: `!`, like useradd (SSH keys still work with Debian's `UsePAM yes`).
//! - `sudo: true` needs `/usr/bin/sudo`; it adds the user to group `sudo` when the image
//!   has it, else writes `/etc/sudoers.d/NAME` (`NAME ALL=(ALL:ALL) ALL`, 0440).
//! - `ssh_authorized_keys` go to `~/.ssh/authorized_keys` (0600 in a 0700 `.ssh`, owned by
//!   the user); keys already there are kept.

mod accounts;
mod homes;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use imgbuild_evaluator::{Sealed, Value};

use super::files::{exists, tree_path};
use super::options::{list_items, unique, Fields};
use super::{Edit, EditError};
use accounts::{Accounts, Reserved};

/// A group to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSpec {
    /// Its name.
    pub name: String,
    /// Its gid; allocated when absent.
    pub gid: Option<u32>,
    /// A system group (ids from 999 down).
    pub system: bool,
}

/// A user to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSpec {
    /// Its name.
    pub name: String,
    /// Its uid; allocated when absent.
    pub uid: Option<u32>,
    /// Its primary group.
    pub primary_group: PrimaryGroup,
    /// Login shell (default `/bin/bash`, or `/usr/sbin/nologin` for system users).
    pub shell: Option<String>,
    /// Home directory (default `/home/NAME`, or `/nonexistent` for system users).
    pub home: Option<String>,
    /// Supplementary groups, which must exist.
    pub groups: Vec<String>,
    /// May use sudo.
    pub sudo: bool,
    /// A password to hash, or a hash.
    pub password: Option<Password>,
    /// Lines of `~/.ssh/authorized_keys`.
    pub ssh_authorized_keys: Vec<String>,
    /// A system user (ids from 999 down, no skeleton).
    pub system: bool,
    /// The GECOS field.
    pub comment: String,
}

/// A user's primary group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrimaryGroup {
    /// A new group named after the user, with this gid (allocated when absent).
    Own {
        /// Its gid.
        gid: Option<u32>,
    },
    /// An existing group (from the image or `groups`).
    Existing(String),
}

/// A password as the recipe gave it. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub enum Password {
    /// Plain text, sealed: hashed at build time.
    Plain(Sealed),
    /// A crypt(3) hash, written as is.
    Crypted(String),
}

impl std::fmt::Debug for Password {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(match self {
            Password::Plain(_) => "Plain(<secret>)",
            Password::Crypted(_) => "Crypted(<secret>)",
        })
    }
}

const GROUP_KEYS: &[&str] = &["gid", "name", "system"];
const USER_KEYS: &[&str] = &[
    "comment",
    "crypted_password",
    "gid",
    "group",
    "groups",
    "home",
    "name",
    "password",
    "shell",
    "ssh_authorized_keys",
    "sudo",
    "system",
    "uid",
];

/// Parses the `groups` option.
pub(crate) fn parse_groups(value: &Value) -> Result<Vec<GroupSpec>, String> {
    let groups = list_items("groups", value)?
        .map(|(context, item)| {
            let fields = Fields::new(context, item, GROUP_KEYS)?;
            Ok(GroupSpec {
                name: account_name(&fields, "name", "group")?,
                gid: fields.id("gid")?,
                system: fields.flag("system")?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    unique("group", groups.iter().map(|group| group.name.as_str()))?;
    Ok(groups)
}

/// Parses the `users` option.
pub(crate) fn parse_users(value: &Value) -> Result<Vec<UserSpec>, String> {
    let users = list_items("users", value)?
        .map(|(context, item)| parse_user(&Fields::new(context, item, USER_KEYS)?))
        .collect::<Result<Vec<_>, String>>()?;
    unique("user", users.iter().map(|user| user.name.as_str()))?;
    Ok(users)
}

fn parse_user(fields: &Fields<'_>) -> Result<UserSpec, String> {
    let name = account_name(fields, "name", "user")?;
    let primary_group = match (fields.id("gid")?, fields.string("group")?) {
        (Some(_), Some(_)) => {
            return Err(fields.error(
                "gid",
                "give `gid` (the user's own group) or `group` (an existing group), not both",
            ))
        }
        (gid, None) => PrimaryGroup::Own { gid },
        (None, Some(_)) => PrimaryGroup::Existing(account_name(fields, "group", "group")?),
    };
    let groups = fields
        .strings("groups")?
        .into_iter()
        .map(|group| {
            check_account_name(group, "group")
                .map(|()| group.to_owned())
                .map_err(|reason| fields.error("groups", &reason))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let password = match (fields.get("password"), fields.get("crypted_password")) {
        (Some(_), Some(_)) => {
            return Err(fields.error(
                "password",
                "give `password` or `crypted_password`, not both",
            ))
        }
        (Some(Value::Secret(sealed)), None) => Some(Password::Plain(sealed.clone())),
        (Some(_), None) => return Err(fields.error("password", "expected secret text")),
        (None, Some(hash)) => {
            let hash = hash
                .as_str()
                .ok_or_else(|| fields.error("crypted_password", "expected a crypt hash"))?;
            crate::media::secrets::crypt_hash(hash)
                .map_err(|reason| fields.error("crypted_password", &reason))?;
            Some(Password::Crypted(hash.to_owned()))
        }
        (None, None) => None,
    };
    let ssh_authorized_keys = fields
        .strings("ssh_authorized_keys")?
        .into_iter()
        .map(|key| {
            check_ssh_key(key)
                .map(|()| key.trim().to_owned())
                .map_err(|reason| fields.error("ssh_authorized_keys", &reason))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(UserSpec {
        uid: fields.id("uid")?,
        primary_group,
        shell: absolute_field(fields, "shell")?,
        home: absolute_field(fields, "home")?,
        groups,
        sudo: fields.flag("sudo")?,
        password,
        ssh_authorized_keys,
        system: fields.flag("system")?,
        comment: match fields.string("comment")? {
            Some(comment) if comment.contains([':', '\n']) => {
                return Err(fields.error("comment", "must not contain `:` or a line break"))
            }
            comment => comment.unwrap_or_default().to_owned(),
        },
        name,
    })
}

fn account_name(fields: &Fields<'_>, key: &str, what: &str) -> Result<String, String> {
    let name = fields.required_string(key)?;
    check_account_name(name, what).map_err(|reason| fields.error(key, &reason))?;
    Ok(name.to_owned())
}

/// adduser's `SYS_NAME_REGEX` (`^[a-z_][-a-z0-9_]*\$?$`), at most 32 characters.
fn check_account_name(name: &str, what: &str) -> Result<(), String> {
    let body = name.strip_suffix('$').unwrap_or(name);
    let valid = (1..=32).contains(&name.len())
        && body.starts_with(|first: char| first.is_ascii_lowercase() || first == '_')
        && body
            .chars()
            .all(|character| matches!(character, 'a'..='z' | '0'..='9' | '_' | '-'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a valid {what} name: use at most 32 lowercase letters, digits, \
             `_` and `-`, starting with a letter or `_`"
        ))
    }
}

fn absolute_field(fields: &Fields<'_>, key: &str) -> Result<Option<String>, String> {
    let Some(path) = fields.string(key)? else {
        return Ok(None);
    };
    let valid = path.starts_with('/')
        && !path.contains([':', '\n'])
        && imgbuild_store::TreePath::parse(path).is_ok_and(|path| !path.is_root());
    if !valid {
        return Err(fields.error(key, &format!("`{path}` is not an absolute path")));
    }
    Ok(Some(path.to_owned()))
}

/// A line of `authorized_keys`, loosely: optional options, then a key type (`ssh-…`,
/// `ecdsa-sha2-…`, `sk-…`) followed by the key data.
fn check_ssh_key(line: &str) -> Result<(), String> {
    let line = line.trim();
    if line.contains("PRIVATE KEY") {
        return Err("this is a PRIVATE key; give the public key (the `.pub` file)".to_owned());
    }
    if line.contains(['\n', '\r']) {
        return Err("an SSH public key is a single line".to_owned());
    }
    let fields: Vec<&str> = line.split_whitespace().collect();
    let is_type = |field: &str| {
        ["ssh-", "ecdsa-sha2-", "sk-"]
            .iter()
            .any(|prefix| field.starts_with(prefix))
    };
    match fields.iter().position(|field| is_type(field)) {
        Some(index) if index + 1 < fields.len() => Ok(()),
        _ => Err(format!(
            "`{}` is not an SSH public key (expected `TYPE KEY [COMMENT]` with a type like \
             ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256 or sk-ssh-ed25519@openssh.com)",
            crate::media::validate::abbreviate(line)
        )),
    }
}

/// Checks the options' users against their groups: a user's own group must not clash
/// with a declared group, by name or gid; explicit ids are distinct.
pub(crate) fn check_together(groups: &[GroupSpec], users: &[UserSpec]) -> Result<(), String> {
    let mut uids = BTreeSet::new();
    for user in users {
        if let Some(uid) = user.uid.filter(|uid| !uids.insert(*uid)) {
            return Err(format!(
                "uid {uid} is given to two users (the second is `{}`)",
                user.name
            ));
        }
    }
    let mut gids: Vec<(u32, &str)> = groups
        .iter()
        .filter_map(|group| Some((group.gid?, group.name.as_str())))
        .collect();
    for user in users {
        let PrimaryGroup::Own { gid } = user.primary_group else {
            continue;
        };
        if groups.iter().any(|group| group.name == user.name) {
            return Err(format!(
                "user `{0}` would get its own group `{0}`, which `groups` also adds; \
                 give the user `group: \"{0}\"`",
                user.name
            ));
        }
        gids.extend(gid.map(|gid| (gid, user.name.as_str())));
    }
    gids.sort_unstable();
    if let Some(pair) = gids.windows(2).find(|pair| pair[0].0 == pair[1].0) {
        return Err(format!(
            "gid {} is given to two groups, `{}` and `{}`",
            pair[0].0, pair[0].1, pair[1].1
        ));
    }
    Ok(())
}

/// Adds `groups`, then `users` (their account lines, homes, keys and sudo rights).
pub(crate) fn apply(
    edit: &mut Edit<'_>,
    groups: &[GroupSpec],
    users: &[UserSpec],
) -> Result<(), EditError> {
    if groups.is_empty() && users.is_empty() {
        return Ok(());
    }
    let mut accounts = Accounts::load(edit)?;
    let reserved = Reserved::of(groups, users);
    for group in groups {
        let gid = accounts.add_group(group, &reserved)?;
        edit.log(format!("group `{}` (gid {gid})", group.name));
    }
    let sudo_installed = exists(edit.tree, &tree_path("usr/bin/sudo")?)?;
    let mut created = Vec::new();
    for user in users {
        if let Some(shell) = &user.shell {
            if !exists(edit.tree, &tree_path(shell)?)? {
                return Err(EditError::MissingShell {
                    user: user.name.clone(),
                    shell: shell.clone(),
                });
            }
        }
        let hash = match &user.password {
            Some(Password::Plain(sealed)) => Some(
                crate::media::secrets::sha512_crypt(sealed, &user.name).map_err(|reason| {
                    EditError::Password {
                        user: user.name.clone(),
                        reason,
                    }
                })?,
            ),
            Some(Password::Crypted(hash)) => Some(hash.clone()),
            None => None,
        };
        let new = accounts.add_user(user, hash.as_deref(), &reserved)?;
        if user.sudo {
            if !sudo_installed {
                return Err(EditError::SudoMissing {
                    user: user.name.clone(),
                });
            }
            if !accounts.add_member("sudo", &user.name) {
                homes::write_sudoers(edit, &user.name)?;
            }
        }
        edit.log(format!(
            "user `{}` (uid {}, gid {}, home {}{})",
            user.name,
            new.uid,
            new.gid,
            new.home,
            if hash.is_some() { ", password set" } else { "" }
        ));
        created.push(new);
    }
    let secret = users.iter().any(|user| user.password.is_some());
    edit.applied.secret |= secret;
    accounts.save(edit, secret)?;
    for (user, new) in users.iter().zip(&created) {
        homes::create(edit, user, new)?;
    }
    Ok(())
}
