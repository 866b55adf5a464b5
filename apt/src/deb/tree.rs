//! What the package has shipped so far, as a tree of path components: where each new
//! entry may go, what a hardlink may point at, and where symlinks lead.
//!
//! A tree rather than a map of full paths keeps memory linear in the input (a map would
//! hold every ancestor of every path) and makes each step of a symlink resolution one
//! hash lookup of one component.
//!
//! Two budgets keep a hostile package from exhausting the machine while each entry
//! stays within the per-entry limits. Nodes: every path may create up to 2048 parent
//! directories that the package never lists, each a node of a few hundred bytes, so the
//! tree holds at most `2 × max_entries + 4096` nodes (what the allowed number of
//! entries needs anyway). Steps: all symlink resolutions of one package together may
//! take at most [`MAX_RESOLUTION_STEPS`]; one resolution is bounded (40 symlinks of at
//! most 4095 bytes), but a package of many symlinks into a chain of long ones would
//! otherwise keep the reader busy for hours.

use std::cell::Cell;
use std::collections::HashMap;

use super::error::EntryProblem;

/// How many symlinks one resolution may follow (the kernel's `MAXSYMLINKS`).
const MAX_SYMLINK_HOPS: usize = 40;
/// How many path components all symlink resolutions of one package may step through
/// (2^25, well under a second); real packages need a few per symlink.
pub(crate) const MAX_RESOLUTION_STEPS: u64 = 1 << 25;
const ROOT: usize = 0;

/// What is at a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Shipped {
    /// A parent of some entry, not itself listed (yet).
    ImplicitDirectory,
    Directory,
    File,
    /// A hardlink to the regular file at the given node.
    Hardlink(usize),
    /// A symlink and its target.
    Symlink(String),
    /// A device or fifo.
    Special,
}

#[derive(Debug)]
struct Node {
    name: Box<str>,
    parent: usize,
    shipped: Shipped,
    children: HashMap<Box<str>, usize>,
}

/// The package's entries so far; paths are normalized (see `paths.rs`).
#[derive(Debug)]
pub(crate) struct Tree {
    nodes: Vec<Node>,
    /// The most nodes the tree may hold, the root included.
    max_nodes: u64,
    /// Symlink nodes, in archive order.
    symlinks: Vec<usize>,
    /// The most resolution steps allowed in all (see [`MAX_RESOLUTION_STEPS`]).
    max_resolution_steps: u64,
    /// Resolution steps still allowed.
    resolution_budget: Cell<u64>,
}

impl Tree {
    /// A tree for a package of at most `max_entries` entries.
    pub fn new(max_entries: u64) -> Self {
        Tree::with_budgets(
            max_entries.saturating_mul(2).saturating_add(4096),
            MAX_RESOLUTION_STEPS,
        )
    }

    /// A tree of at most `max_nodes` nodes whose symlink resolutions may take `steps`
    /// steps in all.
    fn with_budgets(max_nodes: u64, steps: u64) -> Self {
        let root = Node {
            name: "".into(),
            parent: ROOT,
            shipped: Shipped::Directory,
            children: HashMap::new(),
        };
        Tree {
            nodes: vec![root],
            max_nodes,
            symlinks: Vec::new(),
            max_resolution_steps: steps,
            resolution_budget: Cell::new(steps),
        }
    }

    /// Records an entry at `path`. Rejects a path through a symlink or a non-directory,
    /// a second entry for a path, and a non-directory where earlier entries put
    /// children. Returns the entry's node.
    pub fn place(&mut self, path: &str, shipped: Shipped) -> Result<usize, EntryProblem> {
        let mut node = ROOT;
        let mut components = path.split('/').peekable();
        let mut consumed = 0;
        while let Some(component) = components.next() {
            consumed += component.len();
            if components.peek().is_none() {
                return self.place_last(node, component, shipped);
            }
            let ancestor = &path[..consumed];
            consumed += 1;
            node = match self.child(node, component) {
                None => self.add(node, component, Shipped::ImplicitDirectory)?,
                Some(child) => match &self.nodes[child].shipped {
                    Shipped::ImplicitDirectory | Shipped::Directory => child,
                    Shipped::Symlink(_) => {
                        return Err(EntryProblem::ThroughSymlink {
                            symlink: ancestor.to_owned(),
                        })
                    }
                    _ => {
                        return Err(EntryProblem::ParentNotDirectory {
                            parent: ancestor.to_owned(),
                        })
                    }
                },
            };
        }
        Err(EntryProblem::EmptyPath)
    }

    fn place_last(
        &mut self,
        parent: usize,
        name: &str,
        shipped: Shipped,
    ) -> Result<usize, EntryProblem> {
        let node = match self.child(parent, name) {
            None => self.add(parent, name, shipped)?,
            Some(existing) => {
                match (&self.nodes[existing].shipped, &shipped) {
                    (Shipped::ImplicitDirectory, Shipped::Directory) => {}
                    (Shipped::ImplicitDirectory, _) => {
                        return Err(EntryProblem::ConflictsWithDirectory)
                    }
                    _ => return Err(EntryProblem::Duplicate),
                }
                self.nodes[existing].shipped = shipped;
                existing
            }
        };
        if matches!(self.nodes[node].shipped, Shipped::Symlink(_)) {
            self.symlinks.push(node);
        }
        Ok(node)
    }

    fn add(&mut self, parent: usize, name: &str, shipped: Shipped) -> Result<usize, EntryProblem> {
        let node = self.nodes.len();
        if node as u64 >= self.max_nodes {
            return Err(EntryProblem::TooManyPaths {
                limit: self.max_nodes,
            });
        }
        self.nodes.push(Node {
            name: name.into(),
            parent,
            shipped,
            children: HashMap::new(),
        });
        self.nodes[parent].children.insert(name.into(), node);
        Ok(node)
    }

    fn child(&self, node: usize, name: &str) -> Option<usize> {
        self.nodes[node].children.get(name).copied()
    }

    /// The regular file a hardlink to `target` (normalized) refers to: its node and
    /// path. The target must be an earlier regular file or a hardlink to one.
    pub fn hardlink_original(&self, target: &str) -> Result<(usize, String), &'static str> {
        let not_earlier = "does not appear earlier in the package";
        let mut node = ROOT;
        for component in target.split('/') {
            node = self.child(node, component).ok_or(not_earlier)?;
        }
        let original = match self.nodes[node].shipped {
            Shipped::File => node,
            Shipped::Hardlink(original) => original,
            Shipped::ImplicitDirectory => return Err(not_earlier),
            _ => return Err("is not a regular file"),
        };
        Ok((original, self.path_of(original)))
    }

    /// The normalized path of `node`.
    pub fn path_of(&self, mut node: usize) -> String {
        let mut names = Vec::new();
        while node != ROOT {
            names.push(&*self.nodes[node].name);
            node = self.nodes[node].parent;
        }
        names.reverse();
        names.join("/")
    }

    /// Checks where the symlink at `link` leads (see the module docs of `deb`): its
    /// target is resolved from the link's directory (from the root if absolute),
    /// following the package's own symlinks; climbing above the root is an escape, more
    /// than 40 symlinks a loop. Components past what the package ships are taken as
    /// plain directories.
    pub fn check_symlink(&self, link: usize) -> Result<(), EntryProblem> {
        let Shipped::Symlink(target) = &self.nodes[link].shipped else {
            return Ok(());
        };
        let escapes = || EntryProblem::SymlinkEscapes {
            target: target.clone(),
        };
        // Where we are: a node, then `beyond` components the package does not ship.
        let mut node = self.nodes[link].parent;
        let mut beyond = 0usize;
        let mut pending: Vec<&str> = Vec::new();
        enter(target, &mut node, &mut beyond, &mut pending);
        let mut hops = 0;
        while let Some(component) = pending.pop() {
            let budget = self.resolution_budget.get();
            if budget == 0 {
                return Err(EntryProblem::SymlinkResolutionTooLong {
                    limit: self.max_resolution_steps,
                });
            }
            self.resolution_budget.set(budget - 1);
            match component {
                "" | "." => {}
                ".." if beyond > 0 => beyond -= 1,
                ".." if node == ROOT => return Err(escapes()),
                ".." => node = self.nodes[node].parent,
                _ if beyond > 0 => beyond += 1,
                name => match self.child(node, name) {
                    None => beyond = 1,
                    Some(child) => match &self.nodes[child].shipped {
                        Shipped::Symlink(next) => {
                            hops += 1;
                            if hops > MAX_SYMLINK_HOPS {
                                return Err(EntryProblem::SymlinkLoop {
                                    target: target.clone(),
                                });
                            }
                            enter(next, &mut node, &mut beyond, &mut pending);
                        }
                        _ => node = child,
                    },
                },
            }
        }
        Ok(())
    }

    /// Checks every symlink again, now that all of the package's symlinks are known (a
    /// later symlink can change where an earlier one leads). Returns the first failing
    /// symlink's path.
    pub fn recheck_symlinks(&self) -> Result<(), (String, EntryProblem)> {
        for &link in &self.symlinks {
            self.check_symlink(link)
                .map_err(|problem| (self.path_of(link), problem))?;
        }
        Ok(())
    }
}

/// Starts resolving `target` from the current position: an absolute target restarts
/// from the root.
fn enter<'a>(target: &'a str, node: &mut usize, beyond: &mut usize, pending: &mut Vec<&'a str>) {
    if target.starts_with('/') {
        *node = ROOT;
        *beyond = 0;
    }
    pending.extend(target.split('/').rev());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ships `earlier` symlinks, then `link -> target`; checks the link at once and
    /// after a full recheck.
    fn check(earlier: &[(&str, &str)], link: &str, target: &str, escapes: bool) {
        let mut tree = Tree::new(100);
        for (path, target) in earlier {
            tree.place(path, Shipped::Symlink((*target).to_owned()))
                .expect("placed");
        }
        let node = tree
            .place(link, Shipped::Symlink(target.to_owned()))
            .expect("placed");
        let checked = tree
            .check_symlink(node)
            .and(tree.recheck_symlinks().map_err(|(_, problem)| problem));
        assert_eq!(checked.is_err(), escapes, "{link} -> {target}: {checked:?}");
    }

    #[test]
    fn symlink_targets() {
        check(&[], "usr/bin/x", "../lib/x", false);
        check(&[], "usr/bin/x", "../../etc/x", false);
        check(&[], "usr/bin/x", "../../../etc/x", true);
        check(&[], "x", "..", true);
        check(&[], "x", ".", false);
        check(&[], "a", "/etc", false);
        check(&[], "a/b", "/usr/../..", true);
        check(&[], "usr/lib/x", "/usr/lib/y", false);
        check(&[], "a/b", "c/d/../../..", false);
        check(&[], "a/b", "c/d/../../../..", true);
        // `a/s1` points at the root, so `a/s1/..` climbs above it.
        check(&[("a/s1", "..")], "a/s2", "s1/..", true);
        check(&[("a/s1", "..")], "a/s2", "s1/x", false);
        check(&[("a/s1", "/")], "a/s2", "s1/..", true);
        check(&[("m", "l")], "l", "m", true);
        check(&[], "self", "self/x", true);
    }

    /// A package of many short symlinks into a chain of long ones: each resolution is
    /// bounded, but all of them together ran for hours before the budget existed.
    #[test]
    fn symlink_resolution_has_a_budget() {
        let chain = |tree: &mut Tree| {
            let detour = "x/../".repeat(100);
            for k in 0..39 {
                let target = format!("{detour}L{}", k + 1);
                tree.place(&format!("d/L{k}"), Shipped::Symlink(target))
                    .expect("placed");
            }
            tree.place("d/L39", Shipped::Symlink("end".into()))
                .expect("placed");
        };
        let links = |tree: &mut Tree, count: usize| -> Result<(), EntryProblem> {
            for i in 0..count {
                let node = tree
                    .place(&format!("s/{i}"), Shipped::Symlink("../d/L0".into()))
                    .expect("placed");
                tree.check_symlink(node)?;
            }
            tree.recheck_symlinks().map_err(|(_, problem)| problem)
        };
        // One resolution through the whole chain takes about 39 × 200 steps; checking
        // the chain's own links again at the end about 20 times that.
        let mut tree = Tree::with_budgets(1000, 400_000);
        chain(&mut tree);
        assert_eq!(links(&mut tree, 2), Ok(()));
        let mut tree = Tree::with_budgets(1000, 400_000);
        chain(&mut tree);
        assert_eq!(
            links(&mut tree, 60),
            Err(EntryProblem::SymlinkResolutionTooLong { limit: 400_000 })
        );
    }

    /// Paths whose parents the package never lists: each may add thousands of nodes,
    /// so the tree stops at its node budget.
    #[test]
    fn implicit_directories_have_a_budget() {
        let deep = |i: usize| format!("{i}/{}", "d/".repeat(2000)) + "file";
        // 2 × 8 + 4096 nodes: room for two such paths of 2002 nodes, not three.
        let mut tree = Tree::new(8);
        for i in 0..2 {
            tree.place(&deep(i), Shipped::File)
                .expect("within the budget");
        }
        assert_eq!(
            tree.place(&deep(2), Shipped::File),
            Err(EntryProblem::TooManyPaths { limit: 4112 })
        );
        // Listed directories cost one node each, as the entries themselves do.
        let mut tree = Tree::new(8);
        for i in 0..8 {
            tree.place(&format!("usr/share/{i}"), Shipped::File)
                .expect("within the budget");
        }
    }

    #[test]
    fn placement() {
        let mut tree = Tree::new(100);
        tree.place("usr/bin/a", Shipped::File).expect("file");
        tree.place("usr", Shipped::Directory)
            .expect("listed after its child");
        assert_eq!(
            tree.place("usr", Shipped::Directory),
            Err(EntryProblem::Duplicate)
        );
        assert_eq!(
            tree.place("usr/bin", Shipped::File),
            Err(EntryProblem::ConflictsWithDirectory)
        );
        assert_eq!(
            tree.place("usr/bin/a/b", Shipped::File),
            Err(EntryProblem::ParentNotDirectory {
                parent: "usr/bin/a".into()
            })
        );
        tree.place("etc", Shipped::Symlink("/srv".into()))
            .expect("symlink");
        assert_eq!(
            tree.place("etc/passwd", Shipped::File),
            Err(EntryProblem::ThroughSymlink {
                symlink: "etc".into()
            })
        );
        let (original, path) = tree.hardlink_original("usr/bin/a").expect("a file");
        tree.place("usr/bin/h", Shipped::Hardlink(original))
            .expect("hardlink");
        assert_eq!(
            tree.hardlink_original("usr/bin/h").map(|(_, path)| path),
            Ok(path)
        );
        assert!(tree.hardlink_original("usr/bin").is_err());
        assert!(tree.hardlink_original("etc").is_err());
    }
}
