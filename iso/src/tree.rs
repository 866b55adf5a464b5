//! Building the tree a [`Volume`](crate::Volume) holds: attribute shorthands and
//! inserting entries by `/`-separated path, creating missing parent directories.

use std::collections::btree_map::Entry;

use crate::{Attributes, Directory, IsoError, Name, Node};

/// Mode of the parent directories [`Directory::insert`] creates.
const CREATED_DIRECTORY_MODE: u32 = 0o755;

impl Attributes {
    /// A regular file's attributes: `mode` (permission bits), owned by root:root.
    pub fn file(mode: u32) -> Attributes {
        Attributes {
            mode,
            uid: 0,
            gid: 0,
        }
    }

    /// A directory's attributes: `mode` (permission bits), owned by root:root.
    pub fn directory(mode: u32) -> Attributes {
        Attributes {
            mode,
            uid: 0,
            gid: 0,
        }
    }

    /// A symbolic link's attributes: mode `0o777`, owned by root:root.
    pub fn symlink() -> Attributes {
        Attributes {
            mode: 0o777,
            uid: 0,
            gid: 0,
        }
    }

    /// The same attributes owned by `uid`:`gid`.
    pub fn with_owner(self, uid: u32, gid: u32) -> Attributes {
        Attributes { uid, gid, ..self }
    }
}

impl Directory {
    /// An empty directory.
    pub fn new(attributes: Attributes) -> Directory {
        Directory {
            entries: Default::default(),
            attributes,
        }
    }

    /// Inserts `node` at `path`, a `/`-separated path relative to this directory.
    /// Missing parent directories are created (mode `0o755`, root:root). Every
    /// component must pass [`Name::new`]; an existing entry at `path`, or a file or
    /// symlink where a parent directory should be, is an error.
    pub fn insert(&mut self, path: &str, node: Node) -> Result<(), IsoError> {
        let mut components = path.split('/').peekable();
        let mut directory = self;
        let mut consumed = 0;
        while let Some(component) = components.next() {
            if component.is_empty() {
                return Err(IsoError::InvalidName {
                    name: path.to_owned(),
                    reason: "has an empty component (a leading, trailing or doubled `/`)"
                        .to_owned(),
                });
            }
            let name = Name::new(component)?;
            consumed += component.len();
            let so_far = &path[..consumed];
            consumed += 1;
            if components.peek().is_none() {
                return match directory.entries.entry(name) {
                    Entry::Occupied(_) => Err(IsoError::Unrepresentable {
                        path: so_far.to_owned(),
                        reason: "already exists".to_owned(),
                    }),
                    Entry::Vacant(slot) => {
                        slot.insert(node);
                        Ok(())
                    }
                };
            }
            let next = directory.entries.entry(name).or_insert_with(|| {
                Node::Directory(Directory::new(Attributes::directory(
                    CREATED_DIRECTORY_MODE,
                )))
            });
            directory = match next {
                Node::Directory(child) => child,
                Node::File(_) | Node::Symlink(_) => {
                    return Err(IsoError::Unrepresentable {
                        path: so_far.to_owned(),
                        reason: format!(
                            "is not a directory, so `{path}` cannot be created inside it"
                        ),
                    })
                }
            };
        }
        // `split` yields at least one component, so the loop always returns.
        Err(IsoError::InvalidName {
            name: path.to_owned(),
            reason: "is empty".to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Content, File};

    fn file() -> Node {
        Node::File(File {
            content: Content::Bytes(b"x".to_vec()),
            attributes: Attributes::file(0o644),
        })
    }

    #[test]
    fn insert_creates_parents() {
        let mut root = Directory::new(Attributes::directory(0o755));
        root.insert("openstack/latest/meta_data.json", file())
            .expect("insert");
        root.insert("openstack/latest/user_data", file())
            .expect("insert");
        let Some(Node::Directory(openstack)) =
            root.entries.get(&Name::new("openstack").expect("name"))
        else {
            panic!("openstack missing");
        };
        assert_eq!(openstack.attributes, Attributes::directory(0o755));
        let Some(Node::Directory(latest)) =
            openstack.entries.get(&Name::new("latest").expect("name"))
        else {
            panic!("latest missing");
        };
        assert_eq!(latest.entries.len(), 2);
    }

    #[test]
    fn insert_errors() {
        let mut root = Directory::new(Attributes::directory(0o755));
        root.insert("a/b", file()).expect("insert");
        let message = |result: Result<(), IsoError>| result.expect_err("must fail").to_string();
        assert_eq!(message(root.insert("a/b", file())), "`a/b`: already exists");
        assert_eq!(
            message(root.insert("a/b/c", file())),
            "`a/b`: is not a directory, so `a/b/c` cannot be created inside it"
        );
        assert!(message(root.insert("/a", file())).contains("empty component"));
        assert!(message(root.insert("a//c", file())).contains("empty component"));
        assert!(message(root.insert("a/", file())).contains("empty component"));
        assert!(message(root.insert("", file())).contains("empty component"));
        assert!(message(root.insert("a/../c", file())).contains("`.` or `..`"));
        assert!(message(root.insert("a/x:y", file())).contains("Joliet forbids"));
    }
}
