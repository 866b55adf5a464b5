//! What a new user gets on disk: its home directory (with `/etc/skel` for regular
//! users), `~/.ssh/authorized_keys`, and `/etc/sudoers.d/NAME` when the image has no
//! `sudo` group.
//!
//! The skeleton is copied the way adduser does: every entry owned by the user, modes
//! kept, skipping `*.dpkg-old`/`*.ucf-new`-style leftovers (adduser's
//! `SKEL_IGNORE_REGEX`); a hard link in the skeleton becomes a copy of its file. Copied
//! entries get the edit's mtime. An existing home is left as it is.

use imgbuild_store::{Directory, Entry, EntryKind, Metadata, Name, TreePath};

use super::super::files::{ensure_directory, read_text, resolve, tree_path, write_file};
use super::super::{Edit, EditError};
use super::accounts::NewUser;
use super::UserSpec;

/// Creates the home directory (unless it exists or is `/nonexistent`) and writes the SSH
/// keys.
pub(super) fn create(edit: &mut Edit<'_>, user: &UserSpec, new: &NewUser) -> Result<(), EditError> {
    let home = tree_path(&new.home)?;
    if new.home.trim_start_matches('/').starts_with("nonexistent") {
        if !user.ssh_authorized_keys.is_empty() {
            return Err(EditError::NoHome {
                user: user.name.clone(),
            });
        }
        return Ok(());
    }
    let mode = if user.system { 0o755 } else { 0o700 };
    let meta = edit.meta(mode, new.uid, new.gid);
    let (home, created) = ensure_directory(edit, &home, meta)?;
    if created && !user.system {
        let copied = copy_skeleton(edit, &home, new)?;
        edit.log(format!(
            "home /{home} for `{}` ({mode:o}, {copied} entries from /etc/skel)",
            user.name
        ));
    }
    if !user.ssh_authorized_keys.is_empty() {
        write_keys(edit, user, new, &home)?;
    }
    Ok(())
}

fn copy_skeleton(edit: &mut Edit<'_>, home: &TreePath, new: &NewUser) -> Result<usize, EditError> {
    let skeleton = resolve(edit.tree, &tree_path("etc/skel")?)?;
    let Some(directory) = edit.tree.directory(&skeleton) else {
        return Ok(0);
    };
    let mut count = 0;
    let copy = copy_directory(edit.tree, directory, new, edit.mtime, &mut count);
    for (name, entry) in copy.entries {
        edit.tree.insert_or_replace(&home.join(&name), entry)?;
    }
    Ok(count)
}

fn ignored(name: &Name) -> bool {
    let name = String::from_utf8_lossy(name.as_bytes());
    ["dpkg", "ucf"].iter().any(|tool| {
        ["old", "new", "dist", "save"]
            .iter()
            .any(|state| name.ends_with(&format!(".{tool}-{state}")))
    })
}

fn copy_directory(
    tree: &imgbuild_store::Tree,
    directory: &Directory,
    new: &NewUser,
    mtime: i64,
    count: &mut usize,
) -> Directory {
    let mut copy = Directory::default();
    for (name, entry) in &directory.entries {
        if ignored(name) {
            continue;
        }
        let kind = match &entry.kind {
            EntryKind::Directory(inner) => {
                EntryKind::Directory(copy_directory(tree, inner, new, mtime, count))
            }
            EntryKind::Hardlink { target } => match tree.get(target) {
                Some(Entry {
                    kind: kind @ EntryKind::File { .. },
                    ..
                }) => kind.clone(),
                _ => continue,
            },
            other => other.clone(),
        };
        let meta = Metadata {
            uid: new.uid,
            gid: new.gid,
            mtime,
            ..entry.meta.clone()
        };
        copy.entries.insert(name.clone(), Entry { kind, meta });
        *count += 1;
    }
    copy
}

fn write_keys(
    edit: &mut Edit<'_>,
    user: &UserSpec,
    new: &NewUser,
    home: &TreePath,
) -> Result<(), EditError> {
    let ssh = home.join(&Name::new(".ssh")?);
    let meta = edit.meta(0o700, new.uid, new.gid);
    let (ssh, _) = ensure_directory(edit, &ssh, meta)?;
    let keys_path = ssh.join(&Name::new("authorized_keys")?);
    let mut lines: Vec<String> = read_text(edit, &keys_path)?
        .map(|text| text.lines().map(str::to_owned).collect())
        .unwrap_or_default();
    for key in &user.ssh_authorized_keys {
        if !lines.contains(key) {
            lines.push(key.clone());
        }
    }
    let text = lines.join("\n") + "\n";
    let meta = edit.meta(0o600, new.uid, new.gid);
    write_file(edit, &keys_path, text.as_bytes(), meta, false)?;
    edit.log(format!(
        "{} SSH key(s) in /{keys_path}",
        user.ssh_authorized_keys.len()
    ));
    Ok(())
}

/// `/etc/sudoers.d/NAME`: `NAME ALL=(ALL:ALL) ALL`, 0440 root:root.
pub(super) fn write_sudoers(edit: &mut Edit<'_>, name: &str) -> Result<(), EditError> {
    let path = tree_path("etc/sudoers.d")?.join(&Name::new(name)?);
    let meta = edit.meta(0o440, 0, 0);
    write_file(
        edit,
        &path,
        format!("{name} ALL=(ALL:ALL) ALL\n").as_bytes(),
        meta,
        false,
    )?;
    edit.log(format!("sudo rights for `{name}` in /{path}"));
    Ok(())
}
