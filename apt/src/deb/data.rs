//! The data member (`data.tar[.gz|.xz|.zst]`): every entry is checked against the
//! rules in the module docs of [`deb`](super), then handed to the visitor with a reader
//! over its contents.

use std::io::{self, Read};

use tar::EntryType;

use super::error::{DebErrorKind, EntryProblem};
use super::paths::{check_lengths, has_trailing_slash, normalize, NormalPath};
use super::stream::{drain, next_entry, ContentReader, StreamState, TarStream};
use super::tree::{Shipped, Tree};
use super::{DataEntry, DebVisitor, EntryKind, Limits};

/// Counts over the data member.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct DataCounts {
    pub entries: u64,
    pub files: u64,
    pub file_bytes: u64,
}

/// Walks the data archive, checking each entry and handing it to `visitor`.
pub(crate) fn walk_data<V: DebVisitor>(
    tar: &mut TarStream<'_>,
    member: &str,
    limits: &Limits,
    state: &StreamState,
    visitor: &mut V,
) -> Result<DataCounts, DebErrorKind<V::Error>> {
    let mut counts = DataCounts::default();
    let mut tree = Tree::new(limits.max_entries);
    let mut entries = tar
        .entries()
        .map_err(|error| state.error(member, None, error))?;
    let mut last: Option<String> = None;
    let mut seen_entries: u64 = 0;
    while let Some(next) = next_entry(&mut entries, state) {
        let mut entry = next.map_err(|error| state.error(member, last.as_deref(), error))?;
        seen_entries += 1;
        if seen_entries > limits.max_entries {
            return Err(DebErrorKind::TooManyEntries {
                member: member.to_owned(),
                limit: limits.max_entries,
            });
        }
        let entry_type = entry.header().entry_type();
        if entry_type.is_pax_global_extensions() {
            // Global PAX records carry nothing dpkg uses; their size is bounded by the
            // total limit and they are never buffered.
            drain(&mut entry).map_err(|error| state.error(member, last.as_deref(), error))?;
            continue;
        }
        let raw_path = entry.path_bytes().into_owned();
        let fail = |path: &str, problem| DebErrorKind::Entry {
            member: member.to_owned(),
            path: path.to_owned(),
            problem,
        };
        let path = match normalize(&raw_path) {
            Err(error) => return Err(fail(&error.lossy, error.problem)),
            Ok(NormalPath::Root) if entry_type.is_dir() => {
                drain(&mut entry).map_err(|error| state.error(member, Some("."), error))?;
                continue;
            }
            Ok(NormalPath::Root) => return Err(fail(".", EntryProblem::RootNotDirectory)),
            Ok(NormalPath::Below(path)) => path,
        };
        if has_trailing_slash(&raw_path) && !entry_type.is_dir() {
            return Err(fail(&path, EntryProblem::TrailingSlash));
        }
        let metadata = read_metadata(&mut entry).map_err(|problem| fail(&path, problem))?;
        let (kind, shipped) = entry_kind(&entry, entry_type, limits, &tree)
            .map_err(|problem| fail(&path, problem))?;
        let node = tree
            .place(&path, shipped)
            .map_err(|problem| fail(&path, problem))?;
        tree.check_symlink(node)
            .map_err(|problem| fail(&path, problem))?;

        let file_size = match kind {
            EntryKind::File { size } => {
                counts.files += 1;
                counts.file_bytes += size;
                size
            }
            _ => 0,
        };
        counts.entries += 1;
        let visited = {
            let data_entry = DataEntry {
                path: &path,
                kind,
                mode: metadata.mode,
                uid: metadata.uid,
                gid: metadata.gid,
                user: metadata.user.as_deref(),
                group: metadata.group.as_deref(),
                mtime: metadata.mtime,
            };
            let mut contents = ContentReader {
                inner: &mut entry,
                expected: file_size,
                read: 0,
                state,
            };
            let visited = visitor.entry(&data_entry, &mut contents);
            visited.map(|()| drain(&mut contents))
        };
        match visited {
            Ok(drained) => drained.map_err(|error| state.error(member, Some(&path), error))?,
            Err(source) if state.has_fault() => {
                // The visitor failed because the stream did: report the stream's failure.
                drop(source);
                return Err(state.error(member, Some(&path), io::Error::other("visitor failed")));
            }
            Err(source) => {
                return Err(DebErrorKind::Visitor {
                    member: Some(member.to_owned()),
                    path: Some(path),
                    source,
                });
            }
        }
        // Hardlinks and directories with a non-zero size: their bytes mean nothing.
        drain(&mut entry).map_err(|error| state.error(member, Some(&path), error))?;
        last = Some(path);
    }
    tree.recheck_symlinks()
        .map_err(|(path, problem)| fail_owned(member, path, problem))?;
    Ok(counts)
}

fn fail_owned<E>(member: &str, path: String, problem: EntryProblem) -> DebErrorKind<E> {
    DebErrorKind::Entry {
        member: member.to_owned(),
        path,
        problem,
    }
}

/// What the entry is, and what to record in the tree; checks sizes and hardlink
/// targets.
fn entry_kind<R: Read>(
    entry: &tar::Entry<'_, R>,
    entry_type: EntryType,
    limits: &Limits,
    tree: &Tree,
) -> Result<(EntryKind, Shipped), EntryProblem> {
    let header = entry.header();
    let device = |field: &'static str, value: io::Result<Option<u32>>| match value {
        Ok(Some(number)) => Ok(number),
        Ok(None) => Err(EntryProblem::InvalidHeader {
            field,
            reason: "missing".to_owned(),
        }),
        Err(error) => Err(EntryProblem::InvalidHeader {
            field,
            reason: error.to_string(),
        }),
    };
    Ok(match entry_type {
        EntryType::Regular | EntryType::Continuous => {
            let size = entry.size();
            if size > limits.max_entry_size {
                return Err(EntryProblem::TooLarge {
                    size,
                    limit: limits.max_entry_size,
                });
            }
            (EntryKind::File { size }, Shipped::File)
        }
        EntryType::Directory => (EntryKind::Directory, Shipped::Directory),
        EntryType::Symlink => {
            let raw = entry.link_name_bytes().unwrap_or_default();
            let invalid = || EntryProblem::InvalidSymlinkTarget {
                target: String::from_utf8_lossy(&raw).into_owned(),
            };
            let target = std::str::from_utf8(&raw).map_err(|_| invalid())?;
            if target.is_empty() || target.contains('\0') {
                return Err(invalid());
            }
            check_lengths(target, "symlink target")?;
            (
                EntryKind::Symlink {
                    target: target.to_owned(),
                },
                Shipped::Symlink(target.to_owned()),
            )
        }
        EntryType::Link => {
            let raw = entry.link_name_bytes().unwrap_or_default();
            let invalid =
                |target: String, reason| EntryProblem::InvalidHardlinkTarget { target, reason };
            let target = match normalize(&raw) {
                Ok(NormalPath::Below(target)) => target,
                Ok(NormalPath::Root) => return Err(invalid(".".to_owned(), "is the package root")),
                Err(error) => {
                    return Err(invalid(
                        error.lossy,
                        "is not a path inside the package (absolute, `..`, empty or not UTF-8)",
                    ))
                }
            };
            let (original, original_path) = tree
                .hardlink_original(&target)
                .map_err(|reason| invalid(target, reason))?;
            (
                EntryKind::Hardlink {
                    target: original_path,
                },
                Shipped::Hardlink(original),
            )
        }
        EntryType::Char => {
            let major = device("devmajor", header.device_major())?;
            let minor = device("devminor", header.device_minor())?;
            (EntryKind::CharDevice { major, minor }, Shipped::Special)
        }
        EntryType::Block => {
            let major = device("devmajor", header.device_major())?;
            let minor = device("devminor", header.device_minor())?;
            (EntryKind::BlockDevice { major, minor }, Shipped::Special)
        }
        EntryType::Fifo => (EntryKind::Fifo, Shipped::Special),
        other => {
            return Err(EntryProblem::UnsupportedType {
                type_byte: char::from(other.as_byte()),
            })
        }
    })
}

/// Ownership, permissions and time of an entry, PAX records applied.
struct Metadata {
    mode: u32,
    uid: u32,
    gid: u32,
    user: Option<String>,
    group: Option<String>,
    mtime: i64,
}

fn read_metadata<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<Metadata, EntryProblem> {
    let invalid =
        |field: &'static str, reason: String| EntryProblem::InvalidHeader { field, reason };
    let header = entry.header();
    let mode = header
        .mode()
        .map_err(|error| invalid("mode", error.to_string()))?
        & 0o7777;
    let uid = header
        .uid()
        .map_err(|error| invalid("uid", error.to_string()))?;
    let gid = header
        .gid()
        .map_err(|error| invalid("gid", error.to_string()))?;
    let mtime = header
        .mtime()
        .map_err(|error| invalid("mtime", error.to_string()))?;
    let mut mtime =
        i64::try_from(mtime).map_err(|_| invalid("mtime", format!("{mtime} is out of range")))?;
    let mut uid =
        u32::try_from(uid).map_err(|_| invalid("uid", format!("{uid} does not fit 32 bits")))?;
    let mut gid =
        u32::try_from(gid).map_err(|_| invalid("gid", format!("{gid} does not fit 32 bits")))?;
    let name =
        |field: &'static str, bytes: Option<&[u8]>| -> Result<Option<String>, EntryProblem> {
            match bytes {
                None | Some([]) => Ok(None),
                Some(bytes) => match std::str::from_utf8(bytes) {
                    Ok(name) => Ok(Some(name.to_owned())),
                    Err(_) => Err(invalid(
                        field,
                        format!("{:?} is not UTF-8", String::from_utf8_lossy(bytes)),
                    )),
                },
            }
        };
    let mut user = name("uname", header.username_bytes())?;
    let mut group = name("gname", header.groupname_bytes())?;
    let pax = entry
        .pax_extensions()
        .map_err(|error| invalid("pax", error.to_string()))?;
    for record in pax.into_iter().flatten() {
        let record = record.map_err(|error| invalid("pax", error.to_string()))?;
        let value = || {
            record
                .value()
                .map_err(|_| invalid("pax", "a record value is not UTF-8".to_owned()))
        };
        let number = |field: &'static str| {
            let value = value()?;
            value
                .parse::<u32>()
                .map_err(|_| invalid(field, format!("PAX value {value:?} is not a 32-bit number")))
        };
        match record.key_bytes() {
            b"uid" => uid = number("uid")?,
            b"gid" => gid = number("gid")?,
            b"mtime" => {
                mtime = parse_pax_time(value()?)
                    .ok_or_else(|| invalid("mtime", "malformed PAX time".to_owned()))?
            }
            b"uname" => user = name("uname", Some(record.value_bytes()))?,
            b"gname" => group = name("gname", Some(record.value_bytes()))?,
            _ => {}
        }
    }
    Ok(Metadata {
        mode,
        uid,
        gid,
        user,
        group,
        mtime,
    })
}

/// Parses a PAX time (`-12.5`, `1700000000.123456789`) to whole seconds, rounding down.
fn parse_pax_time(value: &str) -> Option<i64> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    if !fraction.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let seconds: i64 = whole.parse().ok()?;
    if whole.starts_with('-') && fraction.bytes().any(|byte| byte != b'0') {
        seconds.checked_sub(1)
    } else {
        Some(seconds)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn pax_times() {
        assert_eq!(super::parse_pax_time("1700000000.5"), Some(1_700_000_000));
        assert_eq!(super::parse_pax_time("-1.5"), Some(-2));
        assert_eq!(super::parse_pax_time("12"), Some(12));
        assert_eq!(super::parse_pax_time("1.x"), None);
    }
}
