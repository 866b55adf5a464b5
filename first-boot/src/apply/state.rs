//! The once-per-instance gate: the state directory (default
//! `/var/lib/imgbuild-first-boot`, root 0700) records the identity of the last instance
//! whose per-instance steps finished, in `instance-id` (0600).
//!
//! The record is written atomically and only after every per-instance step ran (failed
//! steps included: they are reported, not retried). A crash or power loss midway leaves
//! the old record, so the next boot runs the per-instance steps again — which is why
//! each of them is idempotent.
//!
//! The directory is also where scripts are copied before they run (`scripts/`, 0700)
//! and where a media reader may keep copies of a medium (0600): nothing in it is
//! readable by anyone but root.

use super::error::ApplyError;
use super::root::{Follow, Ownership, Root, TargetPath};

/// The default state directory, as the instance sees it.
pub const DEFAULT_DIRECTORY: &str = "/var/lib/imgbuild-first-boot";

/// The file in the state directory that holds the last instance id configured.
pub const CONFIGURED: &str = "instance-id";
/// The file that holds the last instance id whose per-instance scripts ran.
pub const SCRIPTED: &str = "scripts-instance-id";

/// Creates the state directory (0700 root, also when it existed with another mode).
pub fn prepare(root: &Root, directory: &TargetPath) -> Result<(), ApplyError> {
    root.create_directory(directory, Ownership::root(0o700), Follow::Never)
}

/// The instance id recorded by the last finished run, if any.
pub fn recorded(
    root: &Root,
    directory: &TargetPath,
    record: &str,
) -> Result<Option<String>, ApplyError> {
    let text = root.read_text(&directory.join(record)?)?;
    let id = text.strip_suffix('\n').unwrap_or(&text);
    Ok((!id.is_empty()).then(|| id.to_owned()))
}

/// Records `instance_id` as applied.
pub fn record(
    root: &Root,
    directory: &TargetPath,
    record: &str,
    instance_id: &str,
) -> Result<(), ApplyError> {
    root.write(
        &directory.join(record)?,
        format!("{instance_id}\n").as_bytes(),
        Ownership::root(0o600),
        Follow::InRoot,
    )
}
