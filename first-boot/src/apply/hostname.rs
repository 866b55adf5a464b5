//! The host name: `/etc/hostname` gets the short name (Debian's convention), `/etc/hosts`
//! one line `127.0.1.1 <fqdn> <short>` marked `# imgbuild-first-boot`, and, on a live
//! system, the kernel's host name (`sethostname(2)`, short name).
//!
//! `/etc/hosts` is edited, not replaced: lines we wrote before (those with the marker)
//! are dropped, every other line is kept, and the new line goes right after the
//! `127.0.0.1` line (or first) so that it is the one found for `127.0.1.1`. Applying the
//! same name twice gives the same file.

use super::error::ApplyError;
use super::root::{Follow, Ownership, Root, TargetPath};
use super::Applied;

/// The comment that marks the lines this module manages.
pub const MARKER: &str = "# imgbuild-first-boot";

/// Checks a host name: dot-separated labels of letters, digits and `-` (not at either
/// end of a label), each 1–63 bytes, 253 bytes in all.
pub fn check(name: &str) -> Result<(), ApplyError> {
    let refuse = |reason| ApplyError::invalid("host name", name, reason);
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > 253 {
        return Err(refuse("empty or longer than 253 bytes"));
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(refuse("a label is empty or longer than 63 bytes"));
        }
        if !label
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
        {
            return Err(refuse("only letters, digits, `-` and `.` are allowed"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(refuse("a label starts or ends with `-`"));
        }
    }
    Ok(())
}

/// `/etc/hosts` with our line for `fqdn` and `short` (see the module documentation).
pub fn hosts(existing: &str, fqdn: &str, short: &str) -> String {
    let ours = if fqdn == short {
        format!("127.0.1.1\t{short} {MARKER}")
    } else {
        format!("127.0.1.1\t{fqdn} {short} {MARKER}")
    };
    let kept: Vec<&str> = existing
        .lines()
        .filter(|line| !line.contains(MARKER))
        .collect();
    let position = kept
        .iter()
        .position(|line| line.split_whitespace().next() == Some("127.0.0.1"))
        .map_or(0, |index| index + 1);
    let mut lines: Vec<&str> = kept[..position].to_vec();
    lines.push(&ours);
    lines.extend_from_slice(&kept[position..]);
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// Applies `name` (short or fully qualified).
pub fn apply(root: &Root, name: &str, live: bool) -> Result<Applied, ApplyError> {
    check(name)?;
    let fqdn = name.strip_suffix('.').unwrap_or(name);
    let short = fqdn.split('.').next().unwrap_or(fqdn);
    root.write(
        &TargetPath::new("/etc/hostname")?,
        format!("{short}\n").as_bytes(),
        Ownership::root(0o644),
        Follow::InRoot,
    )?;
    let hosts_path = TargetPath::new("/etc/hosts")?;
    let existing = root.read_text(&hosts_path)?;
    let updated = hosts(&existing, fqdn, short);
    if updated != existing {
        root.write(
            &hosts_path,
            updated.as_bytes(),
            Ownership::root(0o644),
            Follow::InRoot,
        )?;
    }
    if live {
        rustix::system::sethostname(short.as_bytes())
            .map_err(|error| ApplyError::io("set the kernel host name to", short, error.into()))?;
    }
    Ok(Applied::Done(if fqdn == short {
        short.to_owned()
    } else {
        format!("{short} ({fqdn})")
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_lines_are_managed_idempotently() {
        let check = |existing: &str, fqdn: &str, short: &str, expected: &str| {
            let once = hosts(existing, fqdn, short);
            assert_eq!(once, expected);
            assert_eq!(hosts(&once, fqdn, short), expected, "idempotent");
        };
        check(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n",
            "web-1.example.org",
            "web-1",
            "127.0.0.1\tlocalhost\n127.0.1.1\tweb-1.example.org web-1 # imgbuild-first-boot\n::1\tlocalhost ip6-localhost\n",
        );
        check(
            "127.0.0.1 localhost\n127.0.1.1\told # imgbuild-first-boot\n10.0.0.1 gw\n",
            "new",
            "new",
            "127.0.0.1 localhost\n127.0.1.1\tnew # imgbuild-first-boot\n10.0.0.1 gw\n",
        );
        check("", "a", "a", "127.0.1.1\ta # imgbuild-first-boot\n");
    }

    #[test]
    fn host_names_are_checked() {
        for good in ["web-1", "web-1.example.org", "a.b.", "X9"] {
            assert!(check(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "a..b",
            "a_b",
            "a b",
            "a;reboot",
            &"a".repeat(64),
            "é",
        ] {
            assert!(check(bad).is_err(), "{bad}");
        }
    }
}
