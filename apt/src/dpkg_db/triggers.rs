//! Trigger interests, as `dpkg --unpack` records them in `var/lib/dpkg/triggers/`.
//!
//! Unpacking a package whose `triggers` control member declares `interest` (or
//! `interest-await`, `interest-noawait`) registers the interest right away:
//!
//! - a file trigger (a name starting with `/`) becomes a line `PATH PKG[/noawait]` of
//!   `triggers/File`, appended in unpack order; a second interest of the same package
//!   in the same path only updates the `/noawait` option in place;
//! - an explicit trigger `NAME` becomes a line `PKG[/noawait]` of `triggers/NAME`; a
//!   second interest of the same package removes its line and appends the new one.
//!
//! `PKG` is `name:arch` for `Multi-Arch: same` packages. `activate` lines record
//! nothing at unpack time (they fire when the package is configured), and activations
//! by unpacked files are not recorded either: dpkg notes pending triggers only for
//! packages that are at least `triggers-awaited`, and every package here is
//! `unpacked`. The directive syntax is checked as dpkg's `trig_parse_ci` and
//! `trig_classify_byname` check it.

use std::collections::BTreeMap;

use super::record::check_package_name;

/// Names under `triggers/` that dpkg uses itself.
const RESERVED_NAMES: &[&str] = &["File", "Unincorp", "Lock"];

/// The interests registered so far.
#[derive(Debug, Default)]
pub(super) struct Interests {
    /// `triggers/File` lines: path, package, `noawait`.
    files: Vec<(String, String, bool)>,
    /// `triggers/NAME` files: package and `noawait`, in file order.
    explicit: BTreeMap<String, Vec<(String, bool)>>,
}

/// C `isspace` in the C locale.
fn c_isspace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

impl Interests {
    /// Registers the interests of the package known to dpkg as `package` (`name` or
    /// `name:arch`), whose `triggers` control member is `member`.
    pub(super) fn add(&mut self, package: &str, member: &[u8]) -> Result<(), String> {
        let text = std::str::from_utf8(member).map_err(|_| "is not UTF-8".to_owned())?;
        for (number, line) in text.split('\n').enumerate() {
            let line_error = |reason: String| format!("line {}: {reason}", number + 1);
            let line = line.trim_start_matches(c_isspace);
            if line.starts_with('#') {
                continue;
            }
            let line = line.trim_end_matches(c_isspace);
            if line.is_empty() {
                continue;
            }
            let Some((directive, name)) = line.split_once(c_isspace) else {
                return Err(line_error(format!("`{line}` is not `DIRECTIVE NAME`")));
            };
            let name = name.trim_start_matches(c_isspace);
            if name.is_empty() || name.chars().any(|c| c <= ' ' || c >= '\x7f') {
                return Err(line_error(format!(
                    "trigger name `{}` is empty or contains a space or a non-ASCII character",
                    name.escape_default()
                )));
            }
            let noawait = match directive {
                "interest" | "interest-await" => false,
                "interest-noawait" => true,
                "activate" | "activate-await" | "activate-noawait" => continue,
                _ => return Err(line_error(format!("unknown directive `{directive}`"))),
            };
            if name.starts_with('/') {
                if name.ends_with('/') || name.contains("//") {
                    return Err(line_error(format!(
                        "file trigger `{name}` has an empty path component"
                    )));
                }
                match self
                    .files
                    .iter_mut()
                    .find(|(path, owner, _)| path == name && owner == package)
                {
                    Some(existing) => existing.2 = noawait,
                    None => self
                        .files
                        .push((name.to_owned(), package.to_owned(), noawait)),
                }
            } else {
                if check_package_name(name).is_err() || name.contains('_') {
                    return Err(line_error(format!(
                        "`{name}` is neither a file trigger nor a valid explicit trigger name"
                    )));
                }
                if RESERVED_NAMES.contains(&name) {
                    return Err(line_error(format!(
                        "trigger name `{name}` would overwrite dpkg's own triggers/{name}"
                    )));
                }
                let interested = self.explicit.entry(name.to_owned()).or_default();
                interested.retain(|(owner, _)| owner != package);
                interested.push((package.to_owned(), noawait));
            }
        }
        Ok(())
    }

    /// The files under `var/lib/dpkg/triggers/` that record the interests: name and
    /// contents. `File` is absent when there is no file trigger, as with dpkg.
    pub(super) fn files(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        if !self.files.is_empty() {
            let mut text = String::new();
            for (path, package, noawait) in &self.files {
                text.push_str(path);
                text.push(' ');
                text.push_str(package);
                if *noawait {
                    text.push_str("/noawait");
                }
                text.push('\n');
            }
            out.push(("File".to_owned(), text.into_bytes()));
        }
        for (name, interested) in &self.explicit {
            let mut text = String::new();
            for (package, noawait) in interested {
                text.push_str(package);
                if *noawait {
                    text.push_str("/noawait");
                }
                text.push('\n');
            }
            out.push((name.clone(), text.into_bytes()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_interests_as_dpkg_does() {
        let mut interests = Interests::default();
        interests
            .add(
                "matrig:amd64",
                b"  # comment\n\ninterest-noawait  mytrig  \ninterest-await /usr/./share/x\n\
interest /usr/lib\ninterest other\ninterest-noawait other\nactivate-await zzz\n\
interest-noawait /usr/lib\n",
            )
            .expect("valid");
        interests
            .add("zed", b"interest other\ninterest /usr/lib\n")
            .expect("valid");
        let files = interests.files();
        let text = |name: &str| {
            files
                .iter()
                .find(|(file, _)| file == name)
                .map(|(_, contents)| String::from_utf8_lossy(contents).into_owned())
        };
        assert_eq!(
            text("File").as_deref(),
            Some("/usr/./share/x matrig:amd64\n/usr/lib matrig:amd64/noawait\n/usr/lib zed\n")
        );
        assert_eq!(text("mytrig").as_deref(), Some("matrig:amd64/noawait\n"));
        assert_eq!(
            text("other").as_deref(),
            Some("matrig:amd64/noawait\nzed\n")
        );
        assert_eq!(text("zzz"), None);
    }

    #[test]
    fn rejects_bad_directives() {
        for bad in [
            "interest\n",
            "interest //usr/lib\n",
            "interest /usr/lib/\n",
            "interest two words\n",
            "interest under_score\n",
            "interest File\n",
            "interest-maybe x\n",
            "interest a/b\n",
        ] {
            assert!(
                Interests::default().add("p", bad.as_bytes()).is_err(),
                "{bad}"
            );
        }
        assert!(Interests::default().add("p", b"\xff\n").is_err());
        assert!(Interests::default().files().is_empty());
    }
}
