//! The members of a package in order: `debian-binary`, control, data, and nothing but
//! `_` members after.

use std::io::Read;
use std::marker::PhantomData;

use super::ar::{ArReader, HeaderError, MemberHeader};
use super::control::walk_control;
use super::data::walk_data;
use super::error::{DebError, DebErrorKind};
use super::stream::{finish_member, read_tar_member, Compression, LimitKind, StreamState};
use super::{ControlArchive, DataEntry, DebSummary, DebVisitor, IgnoreData, Limits};

/// Largest `debian-binary` accepted.
const MAX_VERSION_SIZE: u64 = 1024;

/// Reads a whole `.deb` from `reader`, handing the control archive and then each data
/// entry to `visitor`; see the [module docs](super) for the rules enforced.
///
/// `package` names the package in errors (a file name or `name_version_arch`). The
/// reader is read sequentially, once; wrap files in a `BufReader`.
pub fn read_deb<R: Read, V: DebVisitor>(
    reader: R,
    package: &str,
    limits: &Limits,
    visitor: &mut V,
) -> Result<DebSummary, DebError<V::Error>> {
    let mut archive = ArReader::new(reader);
    read_package(&mut archive, limits, visitor, true).map_err(|kind| DebError {
        package: package.to_owned(),
        kind,
    })
}

/// [`read_deb`] with two closures instead of a [`DebVisitor`]. When both need the same
/// mutable state, implement [`DebVisitor`] instead.
pub fn read_deb_with<R, E>(
    reader: R,
    package: &str,
    limits: &Limits,
    on_control: impl FnOnce(&ControlArchive) -> Result<(), E>,
    on_entry: impl FnMut(&DataEntry<'_>, &mut dyn Read) -> Result<(), E>,
) -> Result<DebSummary, DebError<E>>
where
    R: Read,
{
    let mut visitor = Closures {
        on_control: Some(on_control),
        on_entry,
        error: PhantomData,
    };
    read_deb(reader, package, limits, &mut visitor)
}

/// Reads `debian-binary` and the control archive only; the rest of `reader` is not
/// read (nor checked).
pub fn read_control<R: Read>(
    reader: R,
    package: &str,
    limits: &Limits,
) -> Result<ControlArchive, DebError> {
    let mut archive = ArReader::new(reader);
    read_package(&mut archive, limits, &mut IgnoreData, false)
        .map(|summary| summary.control)
        .map_err(|kind| DebError {
            package: package.to_owned(),
            kind,
        })
}

struct Closures<C, F, E> {
    on_control: Option<C>,
    on_entry: F,
    error: PhantomData<fn() -> E>,
}

impl<C, F, E> DebVisitor for Closures<C, F, E>
where
    C: FnOnce(&ControlArchive) -> Result<(), E>,
    F: FnMut(&DataEntry<'_>, &mut dyn Read) -> Result<(), E>,
{
    type Error = E;

    fn control(&mut self, control: &ControlArchive) -> Result<(), E> {
        match self.on_control.take() {
            Some(on_control) => on_control(control),
            None => Ok(()),
        }
    }

    fn entry(&mut self, entry: &DataEntry<'_>, contents: &mut dyn Read) -> Result<(), E> {
        (self.on_entry)(entry, contents)
    }
}

const CONTROL_EXPECTED: &str = "the control member (`control.tar`, `.gz`, `.xz` or `.zst`)";
const DATA_EXPECTED: &str = "the data member (`data.tar`, `.gz`, `.xz` or `.zst`)";

fn read_package<R: Read, V: DebVisitor>(
    archive: &mut ArReader<R>,
    limits: &Limits,
    visitor: &mut V,
    read_data: bool,
) -> Result<DebSummary, DebErrorKind<V::Error>> {
    match archive.read_magic() {
        Ok(true) => {}
        Ok(false) => return Err(DebErrorKind::NotAnArArchive),
        Err(source) => {
            return Err(DebErrorKind::Io {
                member: None,
                source,
            })
        }
    }
    let first = next_header(archive)?.ok_or(DebErrorKind::MissingMember {
        expected: "`debian-binary`",
    })?;
    if first.name != "debian-binary" {
        return Err(DebErrorKind::UnexpectedMember {
            member: first.name,
            expected: "`debian-binary` first",
        });
    }
    read_version(archive, &first)?;

    let mut skipped_members = Vec::new();
    let (control_member, control_compression) = next_tar_member(
        archive,
        "control.tar",
        CONTROL_EXPECTED,
        &mut skipped_members,
    )?;
    let state = StreamState::new(LimitKind::Control, limits.max_control_size);
    let control = read_tar_member(
        archive,
        &control_member,
        control_compression,
        &state,
        |tar| walk_control(tar, &control_member, limits, &state),
    )?;
    visitor
        .control(&control)
        .map_err(|source| DebErrorKind::Visitor {
            member: Some(control_member.clone()),
            path: None,
            source,
        })?;
    let mut summary = DebSummary {
        control,
        control_member,
        control_compression,
        data_member: String::new(),
        data_compression: Compression::None,
        entries: 0,
        files: 0,
        file_bytes: 0,
        data_tar_bytes: 0,
        skipped_members,
    };
    if !read_data {
        return Ok(summary);
    }

    let (data_member, data_compression) = next_tar_member(
        archive,
        "data.tar",
        DATA_EXPECTED,
        &mut summary.skipped_members,
    )?;
    let state = StreamState::new(LimitKind::Data, limits.max_total_size);
    let counts = read_tar_member(archive, &data_member, data_compression, &state, |tar| {
        walk_data(tar, &data_member, limits, &state, visitor)
    })?;
    summary.data_member = data_member;
    summary.data_compression = data_compression;
    summary.entries = counts.entries;
    summary.files = counts.files;
    summary.file_bytes = counts.file_bytes;
    summary.data_tar_bytes = state.total();

    // After the data member: only `_` members, then the end.
    loop {
        let offset = archive.offset();
        match archive.next_header() {
            Ok(None) => return Ok(summary),
            Ok(Some(header)) if header.name.starts_with('_') => {
                finish_member(archive, &header.name)?;
                summary.skipped_members.push(header.name);
            }
            Ok(Some(header)) => {
                return Err(DebErrorKind::UnexpectedMember {
                    member: header.name,
                    expected: "nothing after the data member",
                })
            }
            Err(HeaderError::Malformed { .. }) => {
                return Err(DebErrorKind::TrailingGarbage { offset })
            }
            Err(HeaderError::Io(source)) => {
                return Err(DebErrorKind::Io {
                    member: None,
                    source,
                })
            }
        }
    }
}

fn next_header<E>(
    archive: &mut ArReader<impl Read>,
) -> Result<Option<MemberHeader>, DebErrorKind<E>> {
    archive.next_header().map_err(|error| match error {
        HeaderError::Io(source) => DebErrorKind::Io {
            member: None,
            source,
        },
        HeaderError::Malformed { offset, reason } => {
            DebErrorKind::MalformedArHeader { offset, reason }
        }
    })
}

/// Checks `debian-binary`: its first line must be `2.` and digits.
fn read_version<E>(
    archive: &mut ArReader<impl Read>,
    header: &MemberHeader,
) -> Result<(), DebErrorKind<E>> {
    if header.size > MAX_VERSION_SIZE {
        return Err(DebErrorKind::UnsupportedFormatVersion {
            found: format!("<{} bytes>", header.size),
        });
    }
    let state = StreamState::new(LimitKind::Control, MAX_VERSION_SIZE);
    let mut bytes = Vec::new();
    archive
        .member(&state)
        .read_to_end(&mut bytes)
        .map_err(|error| state.error(&header.name, None, error))?;
    finish_member(archive, &header.name)?;
    let text = String::from_utf8_lossy(&bytes);
    let first_line = text.split('\n').next().unwrap_or_default();
    let supported = text.contains('\n')
        && first_line.strip_prefix("2.").is_some_and(|minor| {
            !minor.is_empty() && minor.bytes().all(|byte| byte.is_ascii_digit())
        });
    if supported {
        Ok(())
    } else {
        Err(DebErrorKind::UnsupportedFormatVersion {
            found: text.chars().take(64).collect(),
        })
    }
}

/// Skips `_` members up to the next member, which must be `{stem}[.compression]`.
fn next_tar_member<E>(
    archive: &mut ArReader<impl Read>,
    stem: &str,
    expected: &'static str,
    skipped: &mut Vec<String>,
) -> Result<(String, Compression), DebErrorKind<E>> {
    loop {
        let header = next_header(archive)?.ok_or(DebErrorKind::MissingMember { expected })?;
        if header.name.starts_with('_') {
            finish_member(archive, &header.name)?;
            skipped.push(header.name);
            continue;
        }
        return match Compression::of_member(&header.name, stem) {
            Ok(Some(compression)) => Ok((header.name, compression)),
            Ok(None) => Err(DebErrorKind::UnexpectedMember {
                member: header.name,
                expected,
            }),
            Err(compression) => Err(DebErrorKind::UnsupportedCompression {
                member: header.name,
                compression,
            }),
        };
    }
}
