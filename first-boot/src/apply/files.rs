//! Files the medium asks for (`write_files` and the like): each written atomically (or
//! appended to), with its mode and owner, parent directories created root 0755.
//!
//! - The path must be absolute and free of `..`; anything else is refused.
//! - Symbolic links on the way are followed only inside the root (see [`super::root`]),
//!   so a file can never land outside it.
//! - The owner (`user`, `user:group`, or numeric ids) is looked up in the target's own
//!   `/etc/passwd` and `/etc/group` (users are applied first, so the medium's users can
//!   own files); an unknown name fails that file, not the others.
//! - Appending creates a missing file with the given mode and owner and leaves an
//!   existing file's mode and owner alone.

use super::accounts::Accounts;
use super::error::ApplyError;
use super::report::Report;
use super::root::{Follow, Ownership, Root, TargetPath};
use super::{timed, Applied};
use crate::model::File;

/// Applies every file, one report step each (`file <path>`).
pub fn apply(root: &Root, files: &[File], report: &mut Report) {
    for file in files {
        timed(report, format!("file {}", file.path), || write(root, file));
    }
}

fn write(root: &Root, file: &File) -> Result<Applied, ApplyError> {
    let path = TargetPath::new(&file.path)?;
    let (uid, gid) = match &file.owner {
        None => (0, 0),
        Some(owner) => Accounts::read(root)?.owner(owner)?,
    };
    let ownership = Ownership {
        mode: file.mode & 0o7777,
        uid,
        gid,
    };
    if file.append {
        root.append(&path, &file.content, ownership, false)?;
        return Ok(Applied::Done(format!(
            "appended {} byte(s)",
            file.content.len()
        )));
    }
    root.write(&path, &file.content, ownership, Follow::InRoot)?;
    Ok(Applied::Done(format!(
        "{} byte(s), mode {:04o}, owner {uid}:{gid}",
        file.content.len(),
        ownership.mode
    )))
}
