//! [`Name`] and [`TreePath`]: checked file names and relative paths inside a tree.
//!
//! Names are bytes (not necessarily UTF-8) and are compared by raw bytes, which
//! is the order of tree entries everywhere (walks, encoding, tar streams).

use std::fmt;
use std::str::FromStr;

use crate::tree::{TreeError, MAX_NAME_LENGTH};

/// One path component: non-empty, no `/`, no NUL, not `.` or `..`, at most 255 bytes.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(Vec<u8>);

impl Name {
    /// Checks and wraps a file name.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Name, TreeError> {
        let bytes = bytes.into();
        let reason = if bytes.is_empty() {
            Some("it is empty")
        } else if bytes.len() > MAX_NAME_LENGTH {
            Some("it is longer than 255 bytes")
        } else if bytes.contains(&b'/') {
            Some("it contains `/`")
        } else if bytes.contains(&0) {
            Some("it contains a NUL byte")
        } else if bytes == b"." || bytes == b".." {
            Some("`.` and `..` are not names")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(TreeError::InvalidName {
                name: String::from_utf8_lossy(&bytes).into_owned(),
                reason,
            }),
            None => Ok(Name(bytes)),
        }
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&String::from_utf8_lossy(&self.0))
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{:?}", String::from_utf8_lossy(&self.0))
    }
}

impl FromStr for Name {
    type Err = TreeError;
    fn from_str(text: &str) -> Result<Name, TreeError> {
        Name::new(text)
    }
}

/// A relative path of [`Name`]s inside a tree; the empty path is the root.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TreePath(Vec<Name>);

impl TreePath {
    /// The root (no components).
    pub fn root() -> TreePath {
        TreePath(Vec::new())
    }

    /// Parses `a/b/c` or `/a/b/c` as bytes; empty components and `.` are squeezed, `..` is rejected.
    pub fn from_bytes(bytes: &[u8]) -> Result<TreePath, TreeError> {
        let mut components = Vec::new();
        for component in bytes.split(|byte| *byte == b'/') {
            match component {
                b"" | b"." => {}
                b".." => {
                    return Err(TreeError::InvalidPath {
                        path: String::from_utf8_lossy(bytes).into_owned(),
                        reason: "`..` is not allowed",
                    });
                }
                _ => components.push(Name::new(component)?),
            }
        }
        Ok(TreePath(components))
    }

    /// Parses `a/b/c` or `/a/b/c`.
    pub fn parse(text: &str) -> Result<TreePath, TreeError> {
        TreePath::from_bytes(text.as_bytes())
    }

    /// A path from already-checked names.
    pub fn from_names(names: Vec<Name>) -> TreePath {
        TreePath(names)
    }

    /// The components.
    pub fn components(&self) -> &[Name] {
        &self.0
    }

    /// Whether this is the root.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// This path with `name` appended.
    pub fn join(&self, name: &Name) -> TreePath {
        let mut components = self.0.clone();
        components.push(name.clone());
        TreePath(components)
    }

    /// The parent path and the last name, unless this is the root.
    pub fn split_last(&self) -> Option<(TreePath, &Name)> {
        let (last, parent) = self.0.split_last()?;
        Some((TreePath(parent.to_vec()), last))
    }

    /// The components joined by `/`, without a leading slash.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        for (index, name) in self.0.iter().enumerate() {
            if index > 0 {
                bytes.push(b'/');
            }
            bytes.extend_from_slice(name.as_bytes());
        }
        bytes
    }
}

impl fmt::Display for TreePath {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&String::from_utf8_lossy(&self.to_bytes()))
    }
}

impl fmt::Debug for TreePath {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{:?}", self.to_string())
    }
}

impl FromStr for TreePath {
    type Err = TreeError;
    fn from_str(text: &str) -> Result<TreePath, TreeError> {
        TreePath::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        let long = "x".repeat(256);
        for bad in ["", ".", "..", "a/b", "a\0b", long.as_str()] {
            assert!(Name::new(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Name::new(vec![0xff, 0xfe]).is_ok());
        assert!(Name::new("x".repeat(255)).is_ok());
    }

    #[test]
    fn paths_squeeze_empty_components_and_reject_dot_dot() {
        let path = |text: &str| TreePath::parse(text).expect("path");
        assert_eq!(path("/a//b/./c/").to_string(), "a/b/c");
        assert!(path("/").is_root());
        assert!(TreePath::parse("a/../b").is_err());
        let (parent, last) = path("a/b")
            .split_last()
            .map(|(parent, last)| (parent, last.clone()))
            .expect("split");
        assert_eq!(
            (parent.to_string(), last.to_string()),
            ("a".to_owned(), "b".to_owned())
        );
    }
}
