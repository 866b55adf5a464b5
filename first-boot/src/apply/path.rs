//! [`TargetPath`]: an absolute path as the instance sees it (`/etc/hosts`), checked once
//! when made — absolute, no `..` component, no NUL byte, not the root itself — so that
//! whatever resolves it under the target root ([`super::root`]) starts from a path that
//! cannot climb out lexically. A bad path is refused, never normalized.
//!
//! Also the two small values that say how such a path is reached and written:
//! [`Follow`] (symbolic links followed inside the root, or not at all) and [`Ownership`].

use super::error::ApplyError;

/// An absolute path inside the target, checked: no `..`, no NUL, at least one component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetPath {
    components: Vec<String>,
}

impl TargetPath {
    /// Checks `path`: absolute, no `..`, no NUL byte, not the root itself. `.` and empty
    /// components (`//`) are dropped.
    pub fn new(path: &str) -> Result<TargetPath, ApplyError> {
        let refuse = |reason| ApplyError::Path {
            path: path.to_owned(),
            reason,
        };
        if !path.starts_with('/') {
            return Err(refuse("not absolute"));
        }
        if path.contains('\0') {
            return Err(refuse("contains a NUL byte"));
        }
        let mut components = Vec::new();
        for component in path.split('/') {
            match component {
                "" | "." => {}
                ".." => return Err(refuse("contains a `..` component")),
                name => components.push(name.to_owned()),
            }
        }
        if components.is_empty() {
            return Err(refuse("names the root directory"));
        }
        Ok(TargetPath { components })
    }

    /// `self` with `name` appended (a single component, checked like the others).
    pub fn join(&self, name: &str) -> Result<TargetPath, ApplyError> {
        let joined = format!("{self}/{name}");
        let path = TargetPath::new(&joined)?;
        if path.components.len() != self.components.len() + 1 {
            return Err(ApplyError::Path {
                path: joined,
                reason: "not a single file name",
            });
        }
        Ok(path)
    }

    /// The components, in order.
    pub fn components(&self) -> &[String] {
        &self.components
    }

    /// The components of the parent directory (empty for a path directly under `/`).
    pub fn parent_components(&self) -> &[String] {
        &self.components[..self.components.len().saturating_sub(1)]
    }

    /// The last component.
    pub fn file_name(&self) -> &str {
        self.components.last().map_or("", String::as_str)
    }
}

impl std::fmt::Display for TargetPath {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for component in &self.components {
            write!(formatter, "/{component}")?;
        }
        Ok(())
    }
}

/// Whether symbolic links are followed while resolving a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    /// As a process chrooted into the root would: never out of it.
    InRoot,
    /// Not at all: any link on the way (or at the end) is an error.
    Never,
}

/// Owner and permission bits for a file or directory written into the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ownership {
    /// Permission bits (including setuid, setgid, sticky).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

impl Ownership {
    /// Root-owned with `mode`.
    pub fn root(mode: u32) -> Ownership {
        Ownership {
            mode,
            uid: 0,
            gid: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_absolute_without_dot_dot() {
        let check = |path: &str, expected: Option<&str>| {
            assert_eq!(
                TargetPath::new(path)
                    .ok()
                    .map(|path| path.to_string())
                    .as_deref(),
                expected,
                "{path}"
            );
        };
        check("/etc/hosts", Some("/etc/hosts"));
        check("//etc/./ssh//", Some("/etc/ssh"));
        check("etc/hosts", None);
        check("", None);
        check("/", None);
        check("/./", None);
        check("/etc/../shadow", None);
        check("/..", None);
        check(r"/etc/a\0b", Some(r"/etc/a\0b"));
        check("/etc/a\u{0}b", None);
        let etc = TargetPath::new("/etc").expect("path");
        assert_eq!(
            etc.join("hosts")
                .map(|path| path.to_string())
                .ok()
                .as_deref(),
            Some("/etc/hosts")
        );
        for bad in ["..", "a/b", "", "."] {
            assert!(etc.join(bad).is_err(), "{bad}");
        }
        assert_eq!(etc.parent_components(), &[] as &[String]);
        assert_eq!(etc.file_name(), "etc");
    }
}
