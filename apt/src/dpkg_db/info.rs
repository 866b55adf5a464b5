//! The per-package files of `var/lib/dpkg/info/` that are not copies of control
//! members: `.list` and, when the package ships none, `.md5sums`; and the reading of
//! the `conffiles` member.

use super::record::StatusConffile;
use super::{DataKind, DataPath};

/// A data path, normalized as dpkg names it in `.list` (`/.` for the root).
#[derive(Debug, Clone)]
pub(super) struct ListedPath<'a> {
    /// `/.`, `/usr`, `/usr/bin/x`, ...
    pub absolute: String,
    /// The entry it came from.
    pub entry: &'a DataPath,
}

/// Normalizes the paths of a data archive and orders them as dpkg lists them: every
/// entry in archive order except symbolic links, then the symbolic links in archive
/// order (dpkg's tar extractor defers symlinks to the end of the archive). A path that
/// appears again is listed once, where it first appeared.
pub(super) fn listed_paths(
    data: &[DataPath],
) -> Result<Vec<ListedPath<'_>>, (String, &'static str)> {
    let mut seen = std::collections::HashSet::new();
    let mut direct = Vec::with_capacity(data.len());
    let mut deferred = Vec::new();
    for entry in data {
        let absolute = normalize(&entry.path).map_err(|reason| (entry.path.clone(), reason))?;
        if !seen.insert(absolute.clone()) {
            continue;
        }
        let listed = ListedPath { absolute, entry };
        if matches!(entry.kind, DataKind::Symlink) {
            deferred.push(listed);
        } else {
            direct.push(listed);
        }
    }
    direct.append(&mut deferred);
    Ok(direct)
}

/// `usr/bin/x`, `./usr/bin/x`, `/usr/bin/x` and `usr/bin/x/` → `/usr/bin/x`; the root
/// (``, `.`, `./`, `/`) → `/.`.
fn normalize(path: &str) -> Result<String, &'static str> {
    if path.contains('\0') || path.contains('\n') {
        return Err("contains a NUL or newline character");
    }
    let mut rest = path;
    loop {
        if let Some(stripped) = rest.strip_prefix("./") {
            rest = stripped;
        } else if let Some(stripped) = rest.strip_prefix('/') {
            rest = stripped;
        } else {
            break;
        }
    }
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest == "." {
        return Ok("/.".to_owned());
    }
    if rest
        .split('/')
        .any(|component| component.is_empty() || component == "." || component == "..")
    {
        return Err("has an empty, `.` or `..` component");
    }
    Ok(format!("/{rest}"))
}

/// The `.list` file: one absolute path a line.
pub(super) fn list_file(paths: &[ListedPath<'_>]) -> Vec<u8> {
    let mut out = String::new();
    for path in paths {
        out.push_str(&path.absolute);
        out.push('\n');
    }
    out.into_bytes()
}

/// The `.md5sums` dpkg writes for a package that ships none: `DIGEST  PATH` for every
/// regular file (hard links included) in list order. `Err` names a file whose digest
/// the caller did not give.
pub(super) fn generated_md5sums(paths: &[ListedPath<'_>]) -> Result<Vec<u8>, String> {
    let mut out = String::new();
    for path in paths {
        if let DataKind::File { md5 } = &path.entry.kind {
            let Some(md5) = md5 else {
                return Err(path.entry.path.clone());
            };
            out.push_str(&hex::encode(md5));
            out.push_str("  ");
            out.push_str(path.absolute.trim_start_matches('/'));
            out.push('\n');
        }
    }
    Ok(out.into_bytes())
}

/// Reads a `conffiles` member as dpkg's unpack does: one absolute path a line,
/// optionally preceded by the flag `remove-on-upgrade`; trailing white space trimmed,
/// blank lines skipped, every line (the last included) ends in a newline.
pub(super) fn parse_conffiles(member: &[u8]) -> Result<Vec<StatusConffile>, String> {
    let text = std::str::from_utf8(member).map_err(|_| "is not UTF-8".to_owned())?;
    let mut conffiles = Vec::new();
    for (number, line) in text.split_inclusive('\n').enumerate() {
        let line_error = |reason: String| format!("line {}: {reason}", number + 1);
        let Some(line) = line.strip_suffix('\n') else {
            return Err(line_error("the last line has no final newline".to_owned()));
        };
        let line = line.trim_end_matches(|c: char| c.is_ascii_whitespace() || c == '\x0b');
        if line.is_empty() {
            continue;
        }
        let (path, remove_on_upgrade) = if line.starts_with('/') {
            (line, false)
        } else {
            match line.split_once(' ') {
                Some(("remove-on-upgrade", path)) if path.starts_with('/') => (path, true),
                Some((_, path)) if !path.is_empty() && !path.starts_with('/') => {
                    return Err(line_error(format!("`{line}` is not an absolute path")))
                }
                None => return Err(line_error(format!("`{line}` is not an absolute path"))),
                Some((_, "")) => {
                    return Err(line_error(format!(
                        "no conffile name after the flag in `{line}`"
                    )))
                }
                Some((flag, _)) => {
                    return Err(line_error(format!("unknown conffile flag `{flag}`")))
                }
            }
        };
        // dpkg's file name nodes drop extra leading slashes and `./` pairs.
        let mut rest = path;
        loop {
            if let Some(stripped) = rest.strip_prefix('/') {
                rest = stripped;
            } else if let Some(stripped) = rest.strip_prefix("./") {
                rest = stripped;
            } else {
                break;
            }
        }
        conffiles.push(StatusConffile {
            path: format!("/{rest}"),
            remove_on_upgrade,
        });
    }
    Ok(conffiles)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, kind: DataKind) -> DataPath {
        DataPath {
            path: path.to_owned(),
            kind,
        }
    }

    #[test]
    fn lists_symlinks_last_and_normalizes() {
        let data = vec![
            entry("./", DataKind::Directory),
            entry("./usr/", DataKind::Directory),
            entry("usr/sl", DataKind::Symlink),
            entry("/usr/b", DataKind::File { md5: Some([1; 16]) }),
            entry("usr/hl", DataKind::File { md5: Some([2; 16]) }),
            entry("usr/b", DataKind::File { md5: Some([3; 16]) }),
            entry("usr/fifo", DataKind::Other),
        ];
        let listed = listed_paths(&data).expect("valid");
        assert_eq!(
            String::from_utf8(list_file(&listed)).expect("utf-8"),
            "/.\n/usr\n/usr/b\n/usr/hl\n/usr/fifo\n/usr/sl\n"
        );
        assert_eq!(
            String::from_utf8(generated_md5sums(&listed).expect("digests")).expect("utf-8"),
            format!("{}  usr/b\n{}  usr/hl\n", "01".repeat(16), "02".repeat(16))
        );
        let missing = vec![entry("usr/x", DataKind::File { md5: None })];
        let listed = listed_paths(&missing).expect("valid");
        assert_eq!(generated_md5sums(&listed), Err("usr/x".to_owned()));
        for bad in ["usr/../etc", "usr//x", "a/./b", "a\nb"] {
            assert!(
                listed_paths(&[entry(bad, DataKind::Directory)]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn reads_conffiles_as_dpkg_does() {
        let parsed = parse_conffiles(b"/etc/a\n\n  \nremove-on-upgrade /etc/old  \n//etc/b\n")
            .expect("valid");
        assert_eq!(
            parsed,
            vec![
                StatusConffile {
                    path: "/etc/a".into(),
                    remove_on_upgrade: false
                },
                StatusConffile {
                    path: "/etc/old".into(),
                    remove_on_upgrade: true
                },
                StatusConffile {
                    path: "/etc/b".into(),
                    remove_on_upgrade: false
                },
            ]
        );
        for bad in [
            &b"/etc/a"[..],
            b"etc/a\n",
            b" /etc/a\n",
            b"keep /etc/a\n",
            b"remove-on-upgrade \n",
            b"remove-on-upgrade etc/a\n",
            b"\xff\n",
        ] {
            assert!(
                parse_conffiles(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
