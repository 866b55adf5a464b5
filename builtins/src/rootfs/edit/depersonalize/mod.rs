//! De-personalization: what every root filesystem loses before it becomes an image, so
//! that two machines booted from it do not share identities and two builds of it give
//! the same bytes. Each rule, and why:
//!
//! - `/etc/ssh/ssh_host_*_key` and `*_key.pub` are removed: host keys made during the
//!   build would be shared by every machine booted from the image. They must be made at
//!   first boot (cloud-init does; otherwise the image needs `ssh-keygen -A` before sshd).
//! - `/etc/machine-id`, when present, becomes an empty file (0644 root:root, as Debian's
//!   systemd leaves it and mmdebstrap's trees have it): systemd
//!   then makes a fresh id at boot (machine-id(5)) instead of every machine sharing the
//!   build's. A missing one is left missing (systemd treats that as a first boot too).
//! - `/var/lib/dbus/machine-id` is removed when it is a file (D-Bus falls back to
//!   `/etc/machine-id`); a symlink to `/etc/machine-id` is kept.
//! - `/var/lib/systemd/random-seed` and `/var/lib/systemd/credential.secret` are removed:
//!   a seed or credential key shared by every machine is no secret.
//! - Under `/var/log` every regular file with content is removed: build logs hold build
//!   times and host details. Directories, empty files (`btmp`, `lastlog`, nginx's
//!   `access.log`: their owners and modes matter to the programs that write there) and
//!   symlinks (systemd's `README`, which dpkg lists as installed) are kept, as in
//!   mmdebstrap's trees.
//! - `/var/cache/ldconfig/aux-cache` (inode numbers and times of the build machine),
//!   `/var/cache/debconf/*-old` and `/var/lib/dpkg/*-old` (backups of an earlier state),
//!   `/var/cache/apt/*.bin` (caches apt rebuilds), everything in `/var/lib/apt/lists`
//!   except an emptied `partial/` directory (indexes of the build-time mirror), and the
//!   contents of `/var/cache/man` (man-db's index, not reproducible) are removed.
//! - `/etc/resolv.conf`, when it is a regular file with content, is emptied (0644
//!   root:root): the build's name servers are not the machine's, and an empty file
//!   makes the resolver use the local host until DHCP or a network manager writes one.
//!   A symlink (systemd-resolved's stub, resolvconf) is kept.
//! - `/etc/hostname` is kept: the `hostname` option writes it.
//! - `/root/.bash_history` and `/home/*/.bash_history` are removed.
//! - The contents of `/tmp`, `/var/tmp` and `/run` are removed, the directories kept
//!   (with their modes): at boot they are empty or a fresh tmpfs.
//! - Finally every entry's mtime, the root's included, is clamped to
//!   `source_date_epoch`: newer entries get it, older ones keep theirs (the
//!   reproducible-builds convention, as `tar --clamp-mtime`).
//!
//! Directories are looked up without following symlinks: a rule never reaches through a
//! link out of the place it is about.
//!
//! This takes no store, so it writes no blob: an emptied file reuses the empty blob,
//! which the store holds whenever the tree has any empty regular file (a dpkg-configured
//! tree always has some, e.g. `/var/lib/dpkg/lock`). A tree without one gets the file
//! removed instead, which is as good for both files above, and the log says so.

use imgbuild_store::{Digest, Directory, Entry, EntryKind, Metadata, Name, Tree, TreePath};

/// Removes and resets what identifies one build, then clamps mtimes; returns one line
/// per change for the build log. Files written get `source_date_epoch` as mtime.
pub fn depersonalize(tree: &mut Tree, source_date_epoch: i64) -> Vec<String> {
    let mut log = Vec::new();
    let empty_blob = Digest::of(b"");
    let has_empty_blob = tree.walk().any(
        |(_, entry)| matches!(entry.kind, EntryKind::File { size: 0, blob } if blob == empty_blob),
    );
    let mut sweep = Sweep {
        tree,
        mtime: source_date_epoch,
        has_empty_blob,
        log: &mut log,
    };
    sweep.run();
    let clamped = clamp_mtimes(tree, source_date_epoch);
    if clamped > 0 {
        log.push(format!("clamped {clamped} mtime(s) to {source_date_epoch}"));
    }
    log
}

/// The rules, applied to one tree.
struct Sweep<'a> {
    tree: &'a mut Tree,
    mtime: i64,
    has_empty_blob: bool,
    log: &'a mut Vec<String>,
}

/// A path of the rules; `None` (never for the constants here) skips the rule rather
/// than falling back to the root.
fn path(text: &str) -> Option<TreePath> {
    TreePath::parse(text).ok().filter(|path| !path.is_root())
}

fn not_directory(entry: &Entry) -> bool {
    !matches!(entry.kind, EntryKind::Directory(_))
}

impl Sweep<'_> {
    fn run(&mut self) {
        self.remove_children("etc/ssh", &|name, entry| {
            let name = name.to_string();
            not_directory(entry)
                && name.starts_with("ssh_host_")
                && (name.ends_with("_key") || name.ends_with("_key.pub"))
        });
        // Anything but an empty 0644 root:root file (a symlink too) is replaced.
        self.empty_file("etc/machine-id", 0o644, &|entry| {
            !matches!(entry.kind, EntryKind::File { size: 0, .. })
                || (entry.meta.mode, entry.meta.uid, entry.meta.gid) != (0o644, 0, 0)
        });
        self.remove_one("var/lib/dbus/machine-id", true);
        self.remove_one("var/lib/systemd/random-seed", false);
        self.remove_one("var/lib/systemd/credential.secret", false);
        self.remove_files_below("var/log");
        self.remove_one("var/cache/ldconfig/aux-cache", false);
        let ending = |suffix: &'static str| {
            move |name: &Name, entry: &Entry| {
                not_directory(entry) && name.as_bytes().ends_with(suffix.as_bytes())
            }
        };
        self.remove_children("var/cache/debconf", &ending("-old"));
        self.remove_children("var/lib/dpkg", &ending("-old"));
        self.remove_children("var/cache/apt", &ending(".bin"));
        self.empty_directory("var/lib/apt/lists", &|name, entry| {
            name.as_bytes() != b"partial" || not_directory(entry)
        });
        self.empty_directory("var/lib/apt/lists/partial", &|_, _| true);
        self.empty_directory("var/cache/man", &|_, _| true);
        // A symlinked resolv.conf belongs to a resolver (systemd-resolved, resolvconf).
        self.empty_file(
            "etc/resolv.conf",
            0o644,
            &|entry| matches!(entry.kind, EntryKind::File { size, .. } if size > 0),
        );
        self.remove_one("root/.bash_history", false);
        let history = Name::new(".bash_history");
        for home in self.children("home", &|_, entry| !not_directory(entry)) {
            if let Ok(history) = &history {
                self.remove_path(&home.join(history), false);
            }
        }
        for place in ["tmp", "var/tmp", "run"] {
            self.empty_directory(place, &|_, _| true);
        }
    }

    /// Removes `at` unless it is a directory (or, with `keep_symlink`, a symlink).
    fn remove_one(&mut self, at: &str, keep_symlink: bool) {
        if let Some(at) = path(at) {
            self.remove_path(&at, keep_symlink);
        }
    }

    fn remove_path(&mut self, at: &TreePath, keep_symlink: bool) {
        let removable = match self.tree.get(at).map(|entry| &entry.kind) {
            None | Some(EntryKind::Directory(_)) => false,
            Some(EntryKind::Symlink { .. }) => !keep_symlink,
            Some(_) => true,
        };
        if removable && self.tree.remove(at).is_some() {
            self.log.push(format!("removed /{at}"));
        }
    }

    /// The children of the directory `at` (not following symlinks) that `select` accepts.
    fn children(&self, at: &str, select: &dyn Fn(&Name, &Entry) -> bool) -> Vec<TreePath> {
        let Some(parent) = path(at) else {
            return Vec::new();
        };
        self.tree
            .directory(&parent)
            .map(|directory| {
                directory
                    .entries
                    .iter()
                    .filter(|(name, entry)| select(name, entry))
                    .map(|(name, _)| parent.join(name))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Removes the children of `at` that `select` accepts, one log line each.
    fn remove_children(&mut self, at: &str, select: &dyn Fn(&Name, &Entry) -> bool) {
        for child in self.children(at, select) {
            if self.tree.remove(&child).is_some() {
                self.log.push(format!("removed /{child}"));
            }
        }
    }

    /// Removes the children of `at` that `select` accepts, one log line in all.
    fn empty_directory(&mut self, at: &str, select: &dyn Fn(&Name, &Entry) -> bool) {
        let doomed = self.children(at, select);
        for child in &doomed {
            self.tree.remove(child);
        }
        if !doomed.is_empty() {
            self.log
                .push(format!("emptied /{at} ({} entries)", doomed.len()));
        }
    }

    /// Removes every regular file with content below `at`, at any depth.
    fn remove_files_below(&mut self, at: &str) {
        let mut doomed = Vec::new();
        if let Some(parent) = path(at) {
            if let Some(found) = self.tree.directory(&parent) {
                collect_files(found, &parent, &mut doomed);
            }
        }
        for file in &doomed {
            self.tree.remove(file);
        }
        if !doomed.is_empty() {
            self.log.push(format!(
                "removed {} file(s) under /{at} (directories, empty files and symlinks kept)",
                doomed.len()
            ));
        }
    }

    /// Replaces what is at `at` (never a directory) with an empty root-owned file of
    /// `mode` when `replace` accepts it; removes it when there is no empty blob to use.
    fn empty_file(&mut self, at: &str, mode: u32, replace: &dyn Fn(&Entry) -> bool) {
        let Some(at) = path(at) else {
            return;
        };
        let Some(entry) = self.tree.get(&at) else {
            return;
        };
        if !not_directory(entry) || !replace(entry) {
            return;
        }
        if !self.has_empty_blob {
            self.tree.remove(&at);
            self.log.push(format!(
                "removed /{at} (no empty file in the tree to reuse)"
            ));
            return;
        }
        let meta = Metadata {
            mtime: self.mtime,
            ..Metadata::with_mode(mode)
        };
        let empty = Entry::file(Digest::of(b""), 0, meta);
        if self.tree.insert_or_replace(&at, empty).is_ok() {
            self.log.push(format!("emptied /{at}"));
        }
    }
}

fn collect_files(directory: &Directory, at: &TreePath, found: &mut Vec<TreePath>) {
    for (name, entry) in &directory.entries {
        match &entry.kind {
            EntryKind::Directory(inner) => collect_files(inner, &at.join(name), found),
            EntryKind::File { size, .. } if *size > 0 => found.push(at.join(name)),
            _ => {}
        }
    }
}

/// Sets every mtime above `limit` to `limit`; returns how many changed.
fn clamp_mtimes(tree: &mut Tree, limit: i64) -> usize {
    let mut count = 0;
    let mut root = tree.root_directory().clone();
    clamp_directory(&mut root, limit, &mut count);
    let mut meta = tree.root_meta().clone();
    if meta.mtime > limit {
        meta.mtime = limit;
        count += 1;
    }
    *tree = Tree::from_parts(meta, root);
    count
}

fn clamp_directory(directory: &mut Directory, limit: i64, count: &mut usize) {
    for entry in directory.entries.values_mut() {
        if entry.meta.mtime > limit {
            entry.meta.mtime = limit;
            *count += 1;
        }
        if let EntryKind::Directory(inner) = &mut entry.kind {
            clamp_directory(inner, limit, count);
        }
    }
}

#[cfg(test)]
mod tests;
