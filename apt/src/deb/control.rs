//! The control member (`control.tar[.gz|.xz|.zst]`): maintainer scripts and metadata,
//! collected in memory.

use std::collections::BTreeMap;
use std::io::Read;

use super::error::{DebErrorKind, EntryProblem};
use super::paths::{has_trailing_slash, normalize, NormalPath};
use super::stream::{drain, next_entry, ContentReader, StreamState, TarStream};
use super::{ControlArchive, ControlFile, Limits};

/// Reads the control archive's entries: the root directory and regular files at the top
/// level, nothing else. Requires a `control` file.
pub(crate) fn walk_control<E>(
    tar: &mut TarStream<'_>,
    member: &str,
    limits: &Limits,
    state: &StreamState,
) -> Result<ControlArchive, DebErrorKind<E>> {
    let mut files = BTreeMap::new();
    let mut entries = tar
        .entries()
        .map_err(|error| state.error(member, None, error))?;
    let mut last: Option<String> = None;
    let mut count: u64 = 0;
    while let Some(next) = next_entry(&mut entries, state) {
        let mut entry = next.map_err(|error| state.error(member, last.as_deref(), error))?;
        count += 1;
        if count > limits.max_entries {
            return Err(DebErrorKind::TooManyEntries {
                member: member.to_owned(),
                limit: limits.max_entries,
            });
        }
        let entry_type = entry.header().entry_type();
        let raw_path = entry.path_bytes().into_owned();
        let fail = |path: String, problem| DebErrorKind::Entry {
            member: member.to_owned(),
            path,
            problem,
        };
        if entry_type.is_pax_global_extensions() {
            drain(&mut entry).map_err(|error| state.error(member, last.as_deref(), error))?;
            continue;
        }
        let name = match normalize(&raw_path) {
            Err(error) => return Err(fail(error.lossy, error.problem)),
            Ok(NormalPath::Root) if entry_type.is_dir() => {
                drain(&mut entry).map_err(|error| state.error(member, Some("."), error))?;
                continue;
            }
            Ok(NormalPath::Root) => {
                return Err(fail(".".to_owned(), EntryProblem::RootNotDirectory))
            }
            Ok(NormalPath::Below(name)) => name,
        };
        let is_regular = entry_type.is_file() || entry_type.is_contiguous();
        if name.contains('/') || !is_regular || has_trailing_slash(&raw_path) {
            return Err(fail(name, EntryProblem::NotAControlFile));
        }
        if files.contains_key(&name) {
            return Err(fail(name, EntryProblem::Duplicate));
        }
        let size = entry.size();
        if size > limits.max_control_size {
            return Err(fail(
                name,
                EntryProblem::TooLarge {
                    size,
                    limit: limits.max_control_size,
                },
            ));
        }
        let mode = match entry.header().mode() {
            Ok(mode) => mode & 0o7777,
            Err(error) => {
                let problem = EntryProblem::InvalidHeader {
                    field: "mode",
                    reason: error.to_string(),
                };
                return Err(fail(name, problem));
            }
        };
        let mut bytes = Vec::new();
        let mut contents = ContentReader {
            inner: &mut entry,
            expected: size,
            read: 0,
            state,
        };
        contents
            .read_to_end(&mut bytes)
            .map_err(|error| state.error(member, Some(&name), error))?;
        drain(&mut entry).map_err(|error| state.error(member, Some(&name), error))?;
        files.insert(name.clone(), ControlFile { mode, bytes });
        last = Some(name);
    }
    if !files.contains_key("control") {
        return Err(DebErrorKind::MissingControlFile {
            member: member.to_owned(),
        });
    }
    Ok(ControlArchive { files })
}
