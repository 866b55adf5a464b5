//! The sandbox's settings, resolved at the edge: the helper program (this binary), how
//! ids map into the user namespace (root: directly; an ordinary user: the subordinate
//! range of `/etc/subuid` and `/etc/subgid` through `newuidmap`/`newgidmap`), and what
//! to say when the machine lacks either. Builders get the result in `BuildConfig`.

use std::path::{Path, PathBuf};

use imgbuild_engine::{IdMapping, SandboxConfig};

/// How many ids a sandbox maps besides namespace root.
const RANGE: u64 = 65535;

/// Resolves the sandbox settings for this process.
pub fn sandbox_config() -> SandboxConfig {
    SandboxConfig {
        helper: std::env::current_exe().ok(),
        ids: id_mapping(Path::new("/etc")),
        scratch: None,
    }
}

fn id_mapping(etc: &Path) -> IdMapping {
    let uid = rustix::process::getuid().as_raw();
    let gid = rustix::process::getgid().as_raw();
    if uid == 0 {
        return IdMapping::Root;
    }
    let name = user_name(&etc.join("passwd"), uid).unwrap_or_else(|| uid.to_string());
    let ranges = |file: &str| {
        let text = std::fs::read_to_string(etc.join(file)).unwrap_or_default();
        subordinate_start(&text, &name, uid)
    };
    let (Some(sub_uid), Some(sub_gid)) = (ranges("subuid"), ranges("subgid")) else {
        let start = free_start(&[
            std::fs::read_to_string(etc.join("subuid")).unwrap_or_default(),
            std::fs::read_to_string(etc.join("subgid")).unwrap_or_default(),
        ]);
        let end = start + RANGE;
        return IdMapping::Unavailable {
            reason: format!(
                "the sandbox needs a range of {} subordinate ids for user `{name}` (uid {uid}) in \
                 /etc/subuid and /etc/subgid, and there is none",
                RANGE + 1
            ),
            help: format!(
                "add the line `{name}:{start}:{}` to both /etc/subuid and /etc/subgid (as root: \
                 `usermod --add-subuids {start}-{end} --add-subgids {start}-{end} {name}`)",
                RANGE + 1
            ),
        };
    };
    let (Some(newuidmap), Some(newgidmap)) = (find_program("newuidmap"), find_program("newgidmap"))
    else {
        return IdMapping::Unavailable {
            reason: "the sandbox needs `newuidmap` and `newgidmap`, which are not installed"
                .to_owned(),
            help: "install Debian's `uidmap` package (`apt-get install uidmap`)".to_owned(),
        };
    };
    IdMapping::Subordinate {
        uid,
        gid,
        sub_uid,
        sub_gid,
        newuidmap,
        newgidmap,
    }
}

fn user_name(passwd: &Path, uid: u32) -> Option<String> {
    let text = std::fs::read_to_string(passwd).ok()?;
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id = fields.nth(1)?;
        (id.parse() == Ok(uid)).then(|| name.to_owned())
    })
}

/// The first id of a range of at least [`RANGE`] ids for `name` (or its uid).
fn subordinate_start(text: &str, name: &str, uid: u32) -> Option<u32> {
    text.lines().find_map(|line| {
        let mut fields = line.trim().split(':');
        let owner = fields.next()?;
        let start: u32 = fields.next()?.parse().ok()?;
        let count: u64 = fields.next()?.parse().ok()?;
        ((owner == name || owner == uid.to_string()) && count >= RANGE).then_some(start)
    })
}

/// A start above every range already given out (at least 100000), for the help text.
fn free_start(files: &[String]) -> u64 {
    let end = files
        .iter()
        .flat_map(|text| text.lines())
        .filter_map(|line| {
            let mut fields = line.trim().split(':').skip(1);
            let start: u64 = fields.next()?.parse().ok()?;
            let count: u64 = fields.next()?.parse().ok()?;
            Some(start + count)
        })
        .max()
        .unwrap_or(0);
    end.max(100_000).div_ceil(65_536) * 65_536
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|directory| directory.join(name))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subordinate_ranges_by_name_or_uid_and_large_enough() {
        let text = "alice:100000:65536\nbob:165536:1000\n1002:300000:65536\n";
        assert_eq!(subordinate_start(text, "alice", 1000), Some(100000));
        assert_eq!(subordinate_start(text, "bob", 1001), None);
        assert_eq!(subordinate_start(text, "carol", 1002), Some(300000));
        assert_eq!(free_start(&[text.to_owned()]), 393216);
        assert_eq!(free_start(&[String::new()]), 131072);
    }
}
