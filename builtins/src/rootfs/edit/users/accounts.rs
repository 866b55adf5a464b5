//! The four account databases in memory: `/etc/passwd`, `/etc/group`, `/etc/shadow` and
//! `/etc/gshadow`, as lines, edited by appending and by adding group members.
//!
//! New lines have the exact form bookworm's `useradd`/`groupadd` write (checked against
//! them with `--prefix`):
//!
//! ```text
//! passwd   NAME:x:UID:GID:COMMENT:HOME:SHELL
//! group    NAME:x:GID:                       (members appended: `sudo:x:27:ops`)
//! shadow   NAME:HASH:DAYS:0:99999:7:::       (system users: NAME:HASH:DAYS::::::)
//! gshadow  NAME:!::
//! ```
//!
//! `HASH` is `!` without a password and `DAYS` is `source_date_epoch / 86400`. Lines that
//! do not parse (`+` NIS lines, comments) are kept and ignored. The files are written
//! 0644 root:root (passwd, group) and 0640 root:shadow (shadow, gshadow; gid 0 when the
//! image has no `shadow` group).

use std::collections::BTreeSet;

use super::super::files::{read_text, tree_path, write_file};
use super::super::{Edit, EditError, Suggestion};
use super::{GroupSpec, PrimaryGroup, UserSpec};

const PASSWD: &str = "etc/passwd";
const GROUP: &str = "etc/group";
const SHADOW: &str = "etc/shadow";
const GSHADOW: &str = "etc/gshadow";

/// Regular ids: adduser's `FIRST_UID`..=`LAST_UID`.
const REGULAR_IDS: (u32, u32) = (1000, 59999);
/// System ids: `FIRST_SYSTEM_UID`..=`LAST_SYSTEM_UID`, handed out from the top.
const SYSTEM_IDS: (u32, u32) = (100, 999);

/// The account databases being edited.
pub(super) struct Accounts {
    passwd: Vec<String>,
    group: Vec<String>,
    shadow: Vec<String>,
    gshadow: Vec<String>,
    days: i64,
}

/// Ids given explicitly in the options: allocation skips them.
pub(super) struct Reserved {
    uids: BTreeSet<u32>,
    gids: BTreeSet<u32>,
}

impl Reserved {
    pub(super) fn of(groups: &[GroupSpec], users: &[UserSpec]) -> Reserved {
        let own_gids = users.iter().filter_map(|user| match user.primary_group {
            PrimaryGroup::Own { gid } => gid,
            PrimaryGroup::Existing(_) => None,
        });
        Reserved {
            uids: users.iter().filter_map(|user| user.uid).collect(),
            gids: groups
                .iter()
                .filter_map(|group| group.gid)
                .chain(own_gids)
                .collect(),
        }
    }
}

/// What a new user got.
pub(super) struct NewUser {
    pub(super) uid: u32,
    pub(super) gid: u32,
    pub(super) home: String,
}

fn lines(text: Option<String>) -> Vec<String> {
    text.map(|text| text.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// `(name, id)` of each line with a numeric third field.
fn entries(lines: &[String]) -> impl Iterator<Item = (&str, u32)> {
    lines.iter().filter_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id = fields.nth(1)?.parse().ok()?;
        Some((name, id))
    })
}

impl Accounts {
    pub(super) fn load(edit: &Edit<'_>) -> Result<Accounts, EditError> {
        Ok(Accounts {
            passwd: lines(read_text(edit, &tree_path(PASSWD)?)?),
            group: lines(read_text(edit, &tree_path(GROUP)?)?),
            shadow: lines(read_text(edit, &tree_path(SHADOW)?)?),
            gshadow: lines(read_text(edit, &tree_path(GSHADOW)?)?),
            days: edit.mtime.max(0) / 86400,
        })
    }

    fn user_with_uid(&self, uid: u32) -> Option<&str> {
        entries(&self.passwd)
            .find(|(_, id)| *id == uid)
            .map(|(name, _)| name)
    }

    fn group_with_gid(&self, gid: u32) -> Option<&str> {
        entries(&self.group)
            .find(|(_, id)| *id == gid)
            .map(|(name, _)| name)
    }

    fn gid_of(&self, group: &str) -> Option<u32> {
        entries(&self.group)
            .find(|(name, _)| *name == group)
            .map(|(_, gid)| gid)
    }

    fn group_error(&self, user: &str, group: &str) -> EditError {
        EditError::MissingGroup {
            user: user.to_owned(),
            group: group.to_owned(),
            suggestion: Suggestion::nearest(group, entries(&self.group).map(|(name, _)| name)),
        }
    }

    /// Adds a group line (and its gshadow line); returns the gid.
    pub(super) fn add_group(
        &mut self,
        group: &GroupSpec,
        reserved: &Reserved,
    ) -> Result<u32, EditError> {
        if self.gid_of(&group.name).is_some() {
            return Err(name_exists("group", &group.name, GROUP));
        }
        let gid = match group.gid {
            Some(gid) => {
                self.check_gid_free("group", &group.name, gid)?;
                gid
            }
            None => allocate("group", &group.name, "gid", group.system, |gid| {
                self.group_with_gid(gid).is_none() && !reserved.gids.contains(&gid)
            })?,
        };
        self.push_group(&group.name, gid);
        Ok(gid)
    }

    fn check_gid_free(&self, what: &'static str, name: &str, gid: u32) -> Result<(), EditError> {
        match self.group_with_gid(gid) {
            Some(owner) => Err(EditError::IdTaken {
                what,
                name: name.to_owned(),
                id_kind: "gid",
                id: gid,
                owner: owner.to_owned(),
                path: GROUP.to_owned(),
            }),
            None => Ok(()),
        }
    }

    fn push_group(&mut self, name: &str, gid: u32) {
        self.group.push(format!("{name}:x:{gid}:"));
        self.gshadow.push(format!("{name}:!::"));
    }

    /// Adds a user's lines (its own group's too) and joins its supplementary groups.
    pub(super) fn add_user(
        &mut self,
        user: &UserSpec,
        hash: Option<&str>,
        reserved: &Reserved,
    ) -> Result<NewUser, EditError> {
        let name = user.name.as_str();
        if entries(&self.passwd).any(|(existing, _)| existing == name) {
            return Err(name_exists("user", name, PASSWD));
        }
        let existing_gid = match &user.primary_group {
            PrimaryGroup::Existing(group) => Some(
                self.gid_of(group)
                    .ok_or_else(|| self.group_error(name, group))?,
            ),
            PrimaryGroup::Own { .. } if self.gid_of(name).is_some() => {
                return Err(EditError::OwnGroupExists {
                    user: name.to_owned(),
                })
            }
            PrimaryGroup::Own { .. } => None,
        };
        for group in &user.groups {
            if self.gid_of(group).is_none() {
                return Err(self.group_error(name, group));
            }
        }
        let uid_free =
            |uid: u32| self.user_with_uid(uid).is_none() && !reserved.uids.contains(&uid);
        let gid_free =
            |gid: u32| self.group_with_gid(gid).is_none() && !reserved.gids.contains(&gid);
        let uid = match user.uid {
            Some(uid) => match self.user_with_uid(uid) {
                Some(owner) => {
                    return Err(EditError::IdTaken {
                        what: "user",
                        name: name.to_owned(),
                        id_kind: "uid",
                        id: uid,
                        owner: owner.to_owned(),
                        path: PASSWD.to_owned(),
                    })
                }
                None => uid,
            },
            // adduser: the first id free as both, so the user's group gets the same number.
            None if !user.system
                && matches!(user.primary_group, PrimaryGroup::Own { gid: None }) =>
            {
                allocate("user", name, "uid", user.system, |id| {
                    uid_free(id) && gid_free(id)
                })
                .or_else(|_| allocate("user", name, "uid", user.system, uid_free))?
            }
            None => allocate("user", name, "uid", user.system, uid_free)?,
        };
        let gid = match (existing_gid, &user.primary_group) {
            (Some(gid), _) => gid,
            (None, PrimaryGroup::Own { gid: Some(gid) }) => {
                self.check_gid_free("user", name, *gid)?;
                *gid
            }
            (None, _) if gid_free(uid) => uid,
            (None, _) => allocate("group", name, "gid", user.system, gid_free)?,
        };
        if existing_gid.is_none() {
            self.push_group(name, gid);
        }
        for group in &user.groups {
            self.add_member(group, name);
        }
        let home = user.home.clone().unwrap_or_else(|| {
            if user.system {
                "/nonexistent".to_owned()
            } else {
                format!("/home/{name}")
            }
        });
        let shell = user.shell.as_deref().unwrap_or(if user.system {
            "/usr/sbin/nologin"
        } else {
            "/bin/bash"
        });
        self.passwd.push(format!(
            "{name}:x:{uid}:{gid}:{}:{home}:{shell}",
            user.comment
        ));
        let hash = hash.unwrap_or("!");
        let days = self.days;
        self.shadow.push(if user.system {
            format!("{name}:{hash}:{days}::::::")
        } else {
            format!("{name}:{hash}:{days}:0:99999:7:::")
        });
        Ok(NewUser { uid, gid, home })
    }

    /// Adds `user` to the members of `group` in /etc/group and /etc/gshadow; false when
    /// there is no such group.
    pub(super) fn add_member(&mut self, group: &str, user: &str) -> bool {
        let found = add_to_member_list(&mut self.group, group, user);
        add_to_member_list(&mut self.gshadow, group, user);
        found
    }

    /// Writes the four files.
    pub(super) fn save(&self, edit: &mut Edit<'_>, secret: bool) -> Result<(), EditError> {
        let shadow_gid = self.gid_of("shadow").unwrap_or(0);
        let files = [
            (PASSWD, &self.passwd, 0o644, 0, false),
            (GROUP, &self.group, 0o644, 0, false),
            (SHADOW, &self.shadow, 0o640, shadow_gid, secret),
            (GSHADOW, &self.gshadow, 0o640, shadow_gid, false),
        ];
        for (path, lines, mode, gid, secret) in files {
            let mut text = lines.join("\n");
            if !text.is_empty() {
                text.push('\n');
            }
            let meta = edit.meta(mode, 0, gid);
            write_file(edit, &tree_path(path)?, text.as_bytes(), meta, secret)?;
        }
        Ok(())
    }
}

fn name_exists(what: &'static str, name: &str, path: &str) -> EditError {
    EditError::NameExists {
        what,
        name: name.to_owned(),
        path: path.to_owned(),
    }
}

/// The fourth field of `group`'s line is a comma-separated member list.
fn add_to_member_list(lines: &mut [String], group: &str, user: &str) -> bool {
    let Some(line) = lines
        .iter_mut()
        .find(|line| line.split(':').next() == Some(group))
    else {
        return false;
    };
    let mut fields: Vec<&str> = line.splitn(4, ':').collect();
    while fields.len() < 4 {
        fields.push("");
    }
    let members = fields[3];
    if !members.split(',').any(|member| member == user) {
        let joined = if members.is_empty() {
            user.to_owned()
        } else {
            format!("{members},{user}")
        };
        *line = format!("{}:{}:{}:{joined}", fields[0], fields[1], fields[2]);
    }
    true
}

/// The first free id: upward from 1000 for regular accounts, downward from 999 for
/// system accounts.
fn allocate(
    what: &'static str,
    name: &str,
    id_kind: &'static str,
    system: bool,
    free: impl Fn(u32) -> bool,
) -> Result<u32, EditError> {
    let (first, last) = if system { SYSTEM_IDS } else { REGULAR_IDS };
    let found = if system {
        (first..=last).rev().find(|id| free(*id))
    } else {
        (first..=last).find(|id| free(*id))
    };
    found.ok_or_else(|| EditError::IdsExhausted {
        what,
        name: name.to_owned(),
        id_kind,
        first,
        last,
    })
}
