//! Path rules for tar entries: normalization and length limits.
//!
//! These functions are pure; what the package shipped so far, and where its symlinks
//! lead, is `tree.rs`.

use super::error::EntryProblem;

/// A tar entry's path after normalization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NormalPath {
    /// The archive root: `.`, `./` (or `.//.`).
    Root,
    /// A path below the root: relative, `/`-separated, no empty, `.` or `..` components.
    Below(String),
}

/// A path that could not be normalized, lossily decoded for the error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathError {
    pub lossy: String,
    pub problem: EntryProblem,
}

/// Normalizes a raw tar path: drops a leading `./`, empty and `.` components and a
/// trailing `/`. Rejects non-UTF-8, NUL bytes, the empty path, absolute paths and any
/// `..` component (even one that would stay inside the root: dpkg-deb never writes
/// them, so their only use is to confuse).
pub(crate) fn normalize(raw: &[u8]) -> Result<NormalPath, PathError> {
    let fail = |problem| PathError {
        lossy: String::from_utf8_lossy(raw).into_owned(),
        problem,
    };
    let text = std::str::from_utf8(raw).map_err(|_| fail(EntryProblem::NonUtf8Path))?;
    if text.is_empty() {
        return Err(fail(EntryProblem::EmptyPath));
    }
    if text.contains('\0') {
        return Err(fail(EntryProblem::NulInPath));
    }
    if text.starts_with('/') {
        return Err(fail(EntryProblem::AbsolutePath));
    }
    check_lengths(text, "path").map_err(fail)?;
    let mut components = Vec::new();
    for component in text.split('/') {
        match component {
            "" | "." => {}
            ".." => return Err(fail(EntryProblem::ParentComponent)),
            name => components.push(name),
        }
    }
    if components.is_empty() {
        Ok(NormalPath::Root)
    } else {
        Ok(NormalPath::Below(components.join("/")))
    }
}

/// Whether a raw path ends in `/` (a directory by its name).
pub(crate) fn has_trailing_slash(raw: &[u8]) -> bool {
    raw.last() == Some(&b'/')
}

/// Linux's `NAME_MAX`: the longest file name (path component), in bytes.
pub(crate) const NAME_MAX: usize = 255;
/// Linux's `PATH_MAX` less the terminating NUL: the longest path, in bytes.
pub(crate) const PATH_MAX: usize = 4095;

/// Checks a path or link target against [`NAME_MAX`] and [`PATH_MAX`]: dpkg could not
/// install longer ones, and the bounds keep symlink resolution cheap.
pub(crate) fn check_lengths(text: &str, what: &'static str) -> Result<(), EntryProblem> {
    if text.len() > PATH_MAX {
        return Err(EntryProblem::TooLong {
            what,
            length: text.len(),
            limit: PATH_MAX,
        });
    }
    match text.split('/').map(str::len).max() {
        Some(length) if length > NAME_MAX => Err(EntryProblem::TooLong {
            what: "path component",
            length,
            limit: NAME_MAX,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_normalize(raw: &str, expected: Result<NormalPath, EntryProblem>) {
        assert_eq!(
            normalize(raw.as_bytes()).map_err(|error| error.problem),
            expected,
            "{raw:?}"
        );
    }

    #[test]
    fn normalization() {
        let below = |path: &str| Ok(NormalPath::Below(path.to_owned()));
        check_normalize("./", Ok(NormalPath::Root));
        check_normalize(".", Ok(NormalPath::Root));
        check_normalize("./usr/bin/", below("usr/bin"));
        check_normalize("usr//bin/./ls", below("usr/bin/ls"));
        check_normalize("", Err(EntryProblem::EmptyPath));
        check_normalize("/etc/passwd", Err(EntryProblem::AbsolutePath));
        check_normalize("../etc/passwd", Err(EntryProblem::ParentComponent));
        check_normalize("./a/../../x", Err(EntryProblem::ParentComponent));
        check_normalize("./a/../b", Err(EntryProblem::ParentComponent));
        check_normalize("a\0b", Err(EntryProblem::NulInPath));
        assert_eq!(
            normalize(b"a/\xff").map_err(|error| error.problem),
            Err(EntryProblem::NonUtf8Path)
        );
    }

    #[test]
    fn lengths() {
        let long_name = "n".repeat(256);
        assert!(check_lengths(&format!("a/{}", &long_name[1..]), "path").is_ok());
        assert!(check_lengths(&format!("a/{long_name}"), "path").is_err());
        assert!(check_lengths(&"a/".repeat(2048), "path").is_err());
        check_normalize(
            &format!("./{long_name}"),
            Err(EntryProblem::TooLong {
                what: "path component",
                length: 256,
                limit: NAME_MAX,
            }),
        );
    }
}
