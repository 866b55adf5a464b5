//! The target's users and groups, read from its own `/etc/passwd` and `/etc/group` —
//! never the agent's name service: in tests (and whenever the root is not `/`) the two
//! differ, and even on a real boot nothing but these files is guaranteed this early.
//!
//! Also the rules for names the medium gives: a user or group name must look like what
//! Debian's `useradd` accepts by default (`[a-z_][a-z0-9_-]*[$]?`, at most 32 bytes),
//! which also keeps it safe as a sudoers file name (sudo skips names with a `.`).

use super::error::ApplyError;
use super::root::{Root, TargetPath};

/// One line of `/etc/passwd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Login name.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// GECOS field.
    pub gecos: String,
    /// Home directory (as the instance sees it).
    pub home: String,
    /// Login shell.
    pub shell: String,
}

/// One line of `/etc/group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Group name.
    pub name: String,
    /// Group id.
    pub gid: u32,
    /// Supplementary members.
    pub members: Vec<String>,
}

/// The target's `/etc/passwd` and `/etc/group`.
#[derive(Debug, Clone, Default)]
pub struct Accounts {
    /// The users, in file order.
    pub users: Vec<Account>,
    /// The groups, in file order.
    pub groups: Vec<Group>,
}

impl Accounts {
    /// Reads the target's files (missing files are empty; malformed lines are ignored,
    /// as the C library ignores them).
    pub fn read(root: &Root) -> Result<Accounts, ApplyError> {
        let passwd = root.read_text(&TargetPath::new("/etc/passwd")?)?;
        let group = root.read_text(&TargetPath::new("/etc/group")?)?;
        Ok(Accounts::parse(&passwd, &group))
    }

    /// Parses the two files' text.
    pub fn parse(passwd: &str, group: &str) -> Accounts {
        let users = passwd
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split(':').collect();
                let [name, _, uid, gid, gecos, home, shell] = fields.as_slice() else {
                    return None;
                };
                Some(Account {
                    name: (*name).to_owned(),
                    uid: uid.parse().ok()?,
                    gid: gid.parse().ok()?,
                    gecos: (*gecos).to_owned(),
                    home: (*home).to_owned(),
                    shell: (*shell).to_owned(),
                })
            })
            .collect();
        let groups = group
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split(':').collect();
                let [name, _, gid, members] = fields.as_slice() else {
                    return None;
                };
                Some(Group {
                    name: (*name).to_owned(),
                    gid: gid.parse().ok()?,
                    members: members
                        .split(',')
                        .filter(|member| !member.is_empty())
                        .map(str::to_owned)
                        .collect(),
                })
            })
            .collect();
        Accounts { users, groups }
    }

    /// The user `name`.
    pub fn user(&self, name: &str) -> Option<&Account> {
        self.users.iter().find(|user| user.name == name)
    }

    /// The group `name`.
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|group| group.name == name)
    }

    /// The uid and gid for a file owner `user`, `user:group`, or numeric ids: a user
    /// alone means its primary group.
    pub fn owner(&self, owner: &str) -> Result<(u32, u32), ApplyError> {
        let (user, group) = match owner.split_once(':') {
            Some((user, group)) => (user, Some(group)),
            None => (owner, None),
        };
        let account = self.user(user);
        let uid = match (account, user.parse::<u32>()) {
            (Some(account), _) => account.uid,
            (None, Ok(uid)) => uid,
            (None, Err(_)) => {
                return Err(ApplyError::Unknown {
                    what: "user",
                    name: user.to_owned(),
                    file: "/etc/passwd",
                })
            }
        };
        let gid = match group {
            None => match account {
                Some(account) => account.gid,
                None => uid,
            },
            Some(group) => match (self.group(group), group.parse::<u32>()) {
                (Some(found), _) => found.gid,
                (None, Ok(gid)) => gid,
                (None, Err(_)) => {
                    return Err(ApplyError::Unknown {
                        what: "group",
                        name: group.to_owned(),
                        file: "/etc/group",
                    })
                }
            },
        };
        Ok((uid, gid))
    }
}

/// Checks a user or group name (see the module documentation).
pub fn check_name(what: &'static str, name: &str) -> Result<(), ApplyError> {
    let bytes = name.as_bytes();
    let body = bytes.strip_suffix(b"$").unwrap_or(bytes);
    let first_ok = body
        .first()
        .is_some_and(|byte| byte.is_ascii_lowercase() || *byte == b'_');
    let rest_ok = body.iter().all(|byte| {
        byte.is_ascii_lowercase() || byte.is_ascii_digit() || *byte == b'_' || *byte == b'-'
    });
    if name.len() > 32 {
        return Err(ApplyError::invalid(what, name, "longer than 32 bytes"));
    }
    if !first_ok || !rest_ok {
        return Err(ApplyError::invalid(
            what,
            name,
            "not a portable name ([a-z_][a-z0-9_-]*, optionally ending in $)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:Alice:/home/alice:/bin/bash\nbroken line\n";
    const GROUP: &str = "root:x:0:\nalice:x:1000:\nadm:x:4:alice,bob\n";

    #[test]
    fn owners_resolve_through_the_target_files() {
        let accounts = Accounts::parse(PASSWD, GROUP);
        let check = |owner: &str, expected: Option<(u32, u32)>| {
            assert_eq!(accounts.owner(owner).ok(), expected, "{owner}");
        };
        check("alice", Some((1000, 1000)));
        check("alice:adm", Some((1000, 4)));
        check("root:alice", Some((0, 1000)));
        check("1234:5", Some((1234, 5)));
        check("mallory", None);
        check("alice:nogroup", None);
        assert_eq!(
            accounts.group("adm").map(|group| group.members.clone()),
            Some(vec!["alice".to_owned(), "bob".to_owned()])
        );
        assert_eq!(accounts.users.len(), 2);
    }

    #[test]
    fn names_are_portable() {
        for good in ["alice", "_svc", "a-b_c9", "machine$"] {
            assert!(check_name("user name", good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Alice",
            "9lives",
            "a.b",
            "a:b",
            "a b",
            "../x",
            "-x",
            &"a".repeat(33),
        ] {
            assert!(check_name("user name", bad).is_err(), "{bad}");
        }
    }
}
