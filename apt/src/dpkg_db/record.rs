//! A package's control paragraph as dpkg records it in `status` and `available`.
//!
//! dpkg does not copy the control file: it parses it into its package structure and
//! writes that back out (`lib/dpkg/parse.c` `fieldinfos`, `lib/dpkg/dump.c`). What that
//! means, and what this module reproduces (each point checked against dpkg 1.21 by the
//! tests in `tests/dpkg_db.rs`):
//!
//! - Known fields come first, in the order of dpkg's field table (see [`FIELD_ORDER`]),
//!   with their canonical capitalization; every other field follows in the order of the
//!   control file, spelled as it was.
//! - `Package` is lower-cased. `Essential` and `Protected` appear only when `yes`.
//!   `Priority` and `Multi-Arch` known values are lower-cased; `Multi-Arch: no` is
//!   dropped. Empty known fields are dropped; empty unknown fields stay (`X-Field: `).
//! - `Version` and the versions in relations lose a zero epoch (`0:1.0` → `1.0`) and a
//!   leading zero in the epoch (`01:1` → `1:1`).
//! - Relation fields (`Depends`, `Provides`, ...) are re-rendered on one line:
//!   `name[:arch][ (op version)]`, alternatives joined by ` | `, entries by `, `;
//!   package names are lower-cased, the obsolete `<`/`>` become `<=`/`>=` and a bare
//!   version becomes `=`.
//! - Text fields are kept byte for byte, including a value that starts on the next
//!   line (`Description:` followed by continuation lines is written back as
//!   `Description: ` and the continuation lines).
//! - The obsolete names `Recommended`, `Optional`, `Class`, `Package-Revision` and
//!   `Package_Revision` mean `Recommends`, `Suggests`, `Priority` and `Revision`; a
//!   `Revision` after `Version` is appended to the version as its revision.
//! - `Filename`, `Size`, `MD5sum` and `MSDOS-Filename` are written to `available` only.
//! - `Status`, `Config-Version`, `Conffiles`, `Triggers-Pending` and `Triggers-Awaited`
//!   describe an installation, not a package: dpkg refuses them in a control file, and
//!   so does this module.

use crate::deb822;

/// dpkg's field table, in the order dpkg writes the fields (dpkg 1.21 `fieldinfos`).
pub(super) const FIELD_ORDER: &[&str] = &[
    "Package",
    "Essential",
    "Protected",
    "Status",
    "Priority",
    "Section",
    "Installed-Size",
    "Origin",
    "Maintainer",
    "Bugs",
    "Architecture",
    "Multi-Arch",
    "Source",
    "Version",
    "Revision",
    "Config-Version",
    "Replaces",
    "Provides",
    "Depends",
    "Pre-Depends",
    "Recommends",
    "Suggests",
    "Breaks",
    "Conflicts",
    "Enhances",
    "Conffiles",
    "Filename",
    "Size",
    "MD5sum",
    "MSDOS-Filename",
    "Description",
    "Triggers-Pending",
    "Triggers-Awaited",
];

/// Obsolete field names dpkg still reads, and what they stand for.
const NICKNAMES: &[(&str, &str)] = &[
    ("Recommended", "Recommends"),
    ("Optional", "Suggests"),
    ("Class", "Priority"),
    ("Package-Revision", "Revision"),
    ("Package_Revision", "Revision"),
];

/// Fields that describe an installation; dpkg rejects them in a package's control data.
const RESERVED: &[&str] = &[
    "Status",
    "Config-Version",
    "Conffiles",
    "Triggers-Pending",
    "Triggers-Awaited",
];

/// Fields dpkg writes to `available` only.
const ARCHIVE_FIELDS: &[&str] = &["Filename", "Size", "MD5sum", "MSDOS-Filename"];

/// Priorities dpkg knows by name.
const PRIORITIES: &[&str] = &["required", "important", "standard", "optional", "extra"];

/// `Multi-Arch` values.
const MULTI_ARCH: &[&str] = &["no", "same", "foreign", "allowed"];

/// The database file a record is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RecordKind {
    /// `var/lib/dpkg/status`: with `Status` and `Conffiles`, without the archive fields.
    Status,
    /// `var/lib/dpkg/available`: without `Status` and `Conffiles`.
    Available,
}

/// A problem with one paragraph, before the caller knows which package it concerns.
#[derive(Debug)]
pub(super) enum RecordProblem {
    /// The text holds no paragraph at all.
    Empty,
    /// The text is not deb822.
    Syntax(deb822::SyntaxError),
    /// The text holds more than one paragraph.
    Paragraphs(usize),
    /// A required field is absent.
    Missing(&'static str),
    /// A field's value is not acceptable.
    Field {
        /// The field, as spelled in the text.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// A control or index paragraph, parsed and rendered the way dpkg stores it.
#[derive(Debug, Clone)]
pub(super) struct Record {
    /// The package name, lower-cased.
    pub name: String,
    /// The `Architecture` value.
    pub architecture: String,
    /// Whether `Multi-Arch: same`.
    pub multi_arch_same: bool,
    /// Known fields: index into [`FIELD_ORDER`] and rendered value.
    known: Vec<(usize, String)>,
    /// Other fields, in the order of the text: name as spelled, raw value.
    other: Vec<(String, String)>,
}

/// A conffile as the `Conffiles` field of `status` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct StatusConffile {
    /// Absolute path.
    pub path: String,
    /// `remove-on-upgrade` flag.
    pub remove_on_upgrade: bool,
}

impl Record {
    /// Parses one deb822 paragraph (a `DEBIAN/control` file or a `Packages` entry).
    pub(super) fn parse(text: &str) -> Result<Record, RecordProblem> {
        let mut parsed = deb822::paragraphs(text);
        let paragraph = match parsed.next() {
            None => return Err(RecordProblem::Empty),
            Some(Err(error)) => return Err(RecordProblem::Syntax(error)),
            Some(Ok(paragraph)) => paragraph,
        };
        let mut extra = 0;
        for next in parsed {
            next.map_err(RecordProblem::Syntax)?;
            extra += 1;
        }
        if extra > 0 {
            return Err(RecordProblem::Paragraphs(extra + 1));
        }

        let mut seen: Vec<String> = Vec::new();
        let mut known: Vec<(usize, String)> = Vec::new();
        let mut other: Vec<(String, String)> = Vec::new();
        let mut version: Option<String> = None;
        let mut revision_after_version: Option<String> = None;
        let mut name = None;
        let mut architecture = None;
        let mut multi_arch_same = false;

        for &(field, value) in paragraph.fields() {
            let problem = |reason: String| RecordProblem::Field {
                field: field.to_owned(),
                reason,
            };
            let canonical = NICKNAMES
                .iter()
                .find(|(nick, _)| nick.eq_ignore_ascii_case(field))
                .map(|(_, canonical)| *canonical)
                .unwrap_or(field);
            let lower = canonical.to_ascii_lowercase();
            if seen.contains(&lower) {
                return Err(problem("appears twice".to_owned()));
            }
            seen.push(lower);
            let Some(index) = FIELD_ORDER
                .iter()
                .position(|known| known.eq_ignore_ascii_case(canonical))
            else {
                if field.len() < 2 {
                    return Err(problem(
                        "user-defined field names need two characters".into(),
                    ));
                }
                other.push((field.to_owned(), raw_value(text, field, value)));
                continue;
            };
            let canonical = FIELD_ORDER[index];
            if RESERVED.contains(&canonical) {
                return Err(problem("describes an installation, not a package".into()));
            }
            let rendered = match canonical {
                "Package" => {
                    check_package_name(value).map_err(problem)?;
                    let lowered = value.to_ascii_lowercase();
                    name = Some(lowered.clone());
                    Some(lowered)
                }
                "Essential" | "Protected" => match value.to_ascii_lowercase().as_str() {
                    "" | "no" => None,
                    "yes" => Some("yes".to_owned()),
                    _ => return Err(problem(format!("`{value}` is neither `yes` nor `no`"))),
                },
                "Priority" => PRIORITIES
                    .iter()
                    .find(|known| known.eq_ignore_ascii_case(value))
                    .map(|known| (*known).to_owned())
                    .or_else(|| non_empty(raw_value(text, field, value))),
                "Multi-Arch" => {
                    if value.is_empty() {
                        None
                    } else {
                        let Some(known) = MULTI_ARCH
                            .iter()
                            .find(|known| known.eq_ignore_ascii_case(value))
                        else {
                            return Err(problem(format!("unknown value `{value}`")));
                        };
                        multi_arch_same = *known == "same";
                        (*known != "no").then(|| (*known).to_owned())
                    }
                }
                "Architecture" => {
                    if value == "any" {
                        return Err(problem(
                            "`any` is not the architecture of a built package".into(),
                        ));
                    }
                    if !value.is_empty() && value != "all" {
                        check_architecture(value).map_err(problem)?;
                    }
                    architecture = non_empty(value.to_owned());
                    architecture.clone()
                }
                "Version" => {
                    let rendered = normalize_version(value).map_err(problem)?;
                    version = Some(rendered.clone());
                    revision_after_version = None;
                    Some(rendered)
                }
                "Revision" => {
                    // dpkg appends a later `Revision` to the version's upstream part; a
                    // `Version` that comes after replaces it.
                    if version.is_some() && !value.is_empty() {
                        revision_after_version = Some(value.to_owned());
                    }
                    None
                }
                "Replaces" | "Provides" | "Depends" | "Pre-Depends" | "Recommends" | "Suggests"
                | "Breaks" | "Conflicts" | "Enhances" => {
                    let alternatives =
                        !matches!(canonical, "Replaces" | "Provides" | "Breaks" | "Conflicts");
                    non_empty(normalize_relations(value, alternatives).map_err(problem)?)
                }
                _ => non_empty(raw_value(text, field, value)),
            };
            if let Some(rendered) = rendered {
                known.push((index, rendered));
            }
        }

        let name = name.ok_or(RecordProblem::Missing("Package"))?;
        let version = version.ok_or(RecordProblem::Missing("Version"))?;
        let architecture = architecture.ok_or(RecordProblem::Missing("Architecture"))?;
        if let Some(revision) = revision_after_version {
            if let Some(slot) = known
                .iter_mut()
                .find(|(index, _)| FIELD_ORDER[*index] == "Version")
            {
                slot.1 = format!("{version}-{revision}");
            }
        }
        if multi_arch_same && architecture == "all" {
            return Err(RecordProblem::Field {
                field: "Multi-Arch".to_owned(),
                reason: format!("`same` needs a concrete architecture, not `{architecture}`"),
            });
        }
        known.sort_by_key(|(index, _)| *index);
        Ok(Record {
            name,
            architecture,
            multi_arch_same,
            known,
            other,
        })
    }

    /// The name dpkg uses for the package's `info/` files and trigger records:
    /// `name:arch` for `Multi-Arch: same` packages, `name` otherwise.
    pub(super) fn info_name(&self) -> String {
        if self.multi_arch_same {
            format!("{}:{}", self.name, self.architecture)
        } else {
            self.name.clone()
        }
    }

    /// Appends the record, with its terminating blank line, to `out`.
    pub(super) fn render(&self, kind: RecordKind, conffiles: &[StatusConffile], out: &mut String) {
        let mut known = self.known.iter().peekable();
        for (index, field) in FIELD_ORDER.iter().enumerate() {
            match (*field, kind) {
                ("Status", RecordKind::Status) => out.push_str("Status: install ok unpacked\n"),
                ("Conffiles", RecordKind::Status) if !conffiles.is_empty() => {
                    out.push_str("Conffiles:\n");
                    for conffile in conffiles {
                        out.push(' ');
                        out.push_str(&conffile.path);
                        out.push_str(" newconffile");
                        if conffile.remove_on_upgrade {
                            out.push_str(" remove-on-upgrade");
                        }
                        out.push('\n');
                    }
                }
                _ => {}
            }
            while let Some((_, value)) = known.next_if(|(known_index, _)| *known_index == index) {
                if kind == RecordKind::Status && ARCHIVE_FIELDS.contains(field) {
                    continue;
                }
                push_field(out, field, value);
            }
        }
        for (field, value) in &self.other {
            push_field(out, field, value);
        }
        out.push('\n');
    }
}

fn push_field(out: &mut String, field: &str, value: &str) {
    out.push_str(field);
    out.push_str(": ");
    out.push_str(value);
    out.push('\n');
}

fn non_empty(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
}

/// The value as dpkg stores it. The deb822 parser trims the value at both ends; dpkg
/// skips only the blanks on the field's own line, so a value that starts on a
/// continuation line keeps its newline (and the continuation line's indentation).
fn raw_value(text: &str, field: &str, value: &str) -> String {
    if value.is_empty() {
        return String::new();
    }
    let (Some(field_at), Some(value_at)) = (offset_in(text, field), offset_in(text, value)) else {
        return value.to_owned();
    };
    let after_colon = field_at + field.len() + 1;
    match text.get(after_colon..value_at + value.len()) {
        Some(raw) => raw
            .trim_start_matches(|c: char| c != '\n' && c.is_ascii_whitespace())
            .to_owned(),
        None => value.to_owned(),
    }
}

/// Where `inner`, a slice borrowed from `outer`, starts in it.
fn offset_in(outer: &str, inner: &str) -> Option<usize> {
    let start = (inner.as_ptr() as usize).checked_sub(outer.as_ptr() as usize)?;
    (start + inner.len() <= outer.len()).then_some(start)
}

/// C `isspace` in the C locale, which dpkg's parsers use.
fn c_isspace(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// dpkg's `pkg_name_is_illegal`.
pub(super) fn check_package_name(name: &str) -> Result<(), String> {
    let mut bytes = name.bytes();
    match bytes.next() {
        None => return Err("the package name is empty".to_owned()),
        Some(first) if !first.is_ascii_alphanumeric() => {
            return Err(format!(
                "package name `{name}` must start with a letter or digit"
            ))
        }
        Some(_) => {}
    }
    if let Some(bad) = bytes.find(|byte| !byte.is_ascii_alphanumeric() && !b"-+._".contains(byte)) {
        return Err(format!(
            "package name `{name}` contains `{}` (only letters, digits and `-+._`)",
            char::from(bad).escape_default()
        ));
    }
    Ok(())
}

/// dpkg's `dpkg_arch_name_is_illegal`.
pub(super) fn check_architecture(architecture: &str) -> Result<(), String> {
    let valid = architecture
        .bytes()
        .next()
        .is_some_and(|first| first.is_ascii_alphanumeric())
        && architecture
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not an architecture name (letters, digits and `-`)",
            architecture.escape_default()
        ))
    }
}

/// Parses a version as dpkg's `parseversion` does and renders it as dpkg writes it
/// (`varbufversion` with `vdew_nonambig`).
pub(super) fn normalize_version(text: &str) -> Result<String, String> {
    let error = |reason: &str| Err(format!("version `{}`: {reason}", text.escape_default()));
    let trimmed = text.trim_matches(|c| c == ' ' || c == '\t');
    if trimmed.is_empty() {
        return error("empty");
    }
    if trimmed.contains([' ', '\t']) {
        return error("embedded spaces");
    }
    let (epoch, rest) = match trimmed.split_once(':') {
        None => (0, trimmed),
        Some((epoch, rest)) => {
            if epoch.is_empty() {
                return error("the epoch is empty");
            }
            if !epoch.bytes().all(|byte| byte.is_ascii_digit()) {
                return error("the epoch is not a number");
            }
            let Ok(epoch) = epoch.parse::<u32>() else {
                return error("the epoch is too big");
            };
            if epoch > i32::MAX as u32 {
                return error("the epoch is too big");
            }
            if rest.is_empty() {
                return error("nothing after the epoch's colon");
            }
            (epoch, rest)
        }
    };
    let (upstream, revision) = match rest.rsplit_once('-') {
        None => (rest, ""),
        Some((_, "")) => return error("the revision is empty"),
        Some((upstream, revision)) => (upstream, revision),
    };
    if upstream.is_empty() {
        return error("the upstream version is empty");
    }
    let mut out = String::with_capacity(trimmed.len());
    if epoch != 0 || upstream.contains(':') || revision.contains(':') {
        out.push_str(&epoch.to_string());
        out.push(':');
    }
    out.push_str(upstream);
    if !revision.is_empty() {
        out.push('-');
        out.push_str(revision);
    }
    Ok(out)
}

/// Parses a relation field as dpkg's `f_dependency` does and renders it as dpkg's
/// `varbufdependency` writes it.
pub(super) fn normalize_relations(value: &str, alternatives: bool) -> Result<String, String> {
    let bytes = value.as_bytes();
    let mut at = 0;
    let skip_space = |at: &mut usize| {
        while bytes.get(*at).is_some_and(|&byte| c_isspace(byte)) {
            *at += 1;
        }
    };
    let mut out = String::with_capacity(value.len());
    skip_space(&mut at);
    if at == bytes.len() {
        return Ok(out);
    }
    loop {
        loop {
            let start = at;
            while bytes
                .get(at)
                .is_some_and(|&byte| !c_isspace(byte) && !b":(,|".contains(&byte))
            {
                at += 1;
            }
            let name = &value[start..at];
            if name.is_empty() {
                return Err("missing package name, or garbage where one was expected".into());
            }
            check_package_name(name)?;
            out.push_str(&name.to_ascii_lowercase());
            if bytes.get(at) == Some(&b':') {
                at += 1;
                let start = at;
                while bytes
                    .get(at)
                    .is_some_and(|&byte| !c_isspace(byte) && !b"(,|".contains(&byte))
                {
                    at += 1;
                }
                let arch = &value[start..at];
                if arch.is_empty() {
                    return Err(format!("`{name}:` lacks an architecture name"));
                }
                check_architecture(arch)?;
                out.push(':');
                out.push_str(arch);
            }
            skip_space(&mut at);
            if bytes.get(at) == Some(&b'(') {
                at += 1;
                skip_space(&mut at);
                // (operator as dpkg writes it, bytes it takes in the text)
                let (relation, length) = match (bytes.get(at), bytes.get(at + 1)) {
                    (Some(b'<'), Some(b'<')) => ("<<", 2),
                    (Some(b'>'), Some(b'>')) => (">>", 2),
                    (Some(b'<'), Some(b'=')) => ("<=", 2),
                    (Some(b'>'), Some(b'=')) => (">=", 2),
                    (Some(b'<'), Some(b'>')) | (Some(b'>'), Some(b'<')) => {
                        return Err(format!(
                            "bad version relationship in the reference to `{name}`"
                        ))
                    }
                    // The obsolete `<` and `>` mean `<=` and `>=`.
                    (Some(b'<'), _) => ("<=", 1),
                    (Some(b'>'), _) => (">=", 1),
                    (Some(b'='), _) => ("=", 1),
                    // A bare version is an implicit exact match.
                    _ => ("=", 0),
                };
                at += length;
                skip_space(&mut at);
                let start = at;
                while bytes
                    .get(at)
                    .is_some_and(|&byte| byte != b')' && byte != b'(' && !c_isspace(byte))
                {
                    at += 1;
                }
                let version = &value[start..at];
                skip_space(&mut at);
                match bytes.get(at) {
                    None => {
                        return Err(format!(
                            "the version in the reference to `{name}` is unterminated"
                        ))
                    }
                    Some(b')') => at += 1,
                    Some(&other) => {
                        return Err(format!(
                            "the version in the reference to `{name}` contains `{}`",
                            char::from(other).escape_default()
                        ))
                    }
                }
                let version = normalize_version(version)?;
                out.push_str(" (");
                out.push_str(relation);
                out.push(' ');
                out.push_str(&version);
                out.push(')');
                skip_space(&mut at);
            }
            if bytes.get(at) != Some(&b'|') {
                break;
            }
            if !alternatives {
                return Err("alternatives (`|`) are not allowed in this field".into());
            }
            at += 1;
            skip_space(&mut at);
            out.push_str(" | ");
        }
        match bytes.get(at) {
            None => break,
            Some(b',') => {
                at += 1;
                skip_space(&mut at);
                out.push_str(", ");
            }
            Some(_) => {
                return Err("syntax error after a package reference".into());
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(text: &str, kind: RecordKind) -> String {
        let record = Record::parse(text).expect("parses");
        let mut out = String::new();
        record.render(kind, &[], &mut out);
        out
    }

    #[test]
    fn versions_render_as_dpkg_writes_them() {
        for (input, expected) in [
            ("1.0", "1.0"),
            ("0:1.0-1", "1.0-1"),
            ("01:2.0", "1:2.0"),
            ("  1.0~rc1+b2  ", "1.0~rc1+b2"),
            ("0:1:2", "0:1:2"),
            ("2:1.0-1-2", "2:1.0-1-2"),
        ] {
            assert_eq!(normalize_version(input).as_deref(), Ok(expected), "{input}");
        }
        for bad in ["", "1.0-", "a:1", ":1", "1:", "1 0", "-1", "99999999999:1"] {
            assert!(normalize_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn relations_render_on_one_line() {
        for (input, expected) in [
            (
                "libfoo1(>=1.0),\n   foo-tool:any | bar (<< 2:3),  baz",
                "libfoo1 (>= 1.0), foo-tool:any | bar (<< 2:3), baz",
            ),
            (
                "a:native, b (<1), c (> 2), d(=3) |e:amd64, f:i386 (>= 4:1)",
                "a:native, b (<= 1), c (>= 2), d (= 3) | e:amd64, f:i386 (>= 4:1)",
            ),
            ("\ta\t(\t>=\t1\t)\t,\n b\n\t,c", "a (>= 1), b, c"),
            ("Foo (1.0), x (>> 0:2)", "foo (= 1.0), x (>> 2)"),
            ("", ""),
        ] {
            assert_eq!(
                normalize_relations(input, true).as_deref(),
                Ok(expected),
                "{input}"
            );
        }
        for bad in [
            "a,",
            "a (>= 1",
            "c [amd64]",
            "a (<> 1)",
            ", a",
            "a:",
            "-a",
            "a (>= )",
        ] {
            assert!(normalize_relations(bad, true).is_err(), "{bad}");
        }
        assert!(normalize_relations("a | b", false).is_err());
    }

    #[test]
    fn fields_follow_dpkg_order_and_rules() {
        let control = "Package: Hello\nVersion: 0:1.0-1\nArchitecture: all\nMaintainer: T <t@example.org>\n\
X-Next:\n line one\n line two\nHomepage: https://example.org\nDescription: hello\n Long.\nSection: misc\n\
Priority: OPTIONAL\nDepends: a(>=1.0)\nEssential: no\nProtected: yes\nMulti-Arch: foreign\nX-Empty:\n\
Recommended: qux\nFilename: pool/h.deb\n";
        assert_eq!(
            rendered(control, RecordKind::Status),
            "Package: hello\nProtected: yes\nStatus: install ok unpacked\nPriority: optional\n\
Section: misc\nMaintainer: T <t@example.org>\nArchitecture: all\nMulti-Arch: foreign\n\
Version: 1.0-1\nDepends: a (>= 1.0)\nRecommends: qux\nDescription: hello\n Long.\n\
X-Next: \n line one\n line two\nHomepage: https://example.org\nX-Empty: \n\n"
        );
        assert_eq!(
            rendered(control, RecordKind::Available),
            "Package: hello\nProtected: yes\nPriority: optional\n\
Section: misc\nMaintainer: T <t@example.org>\nArchitecture: all\nMulti-Arch: foreign\n\
Version: 1.0-1\nDepends: a (>= 1.0)\nRecommends: qux\nFilename: pool/h.deb\nDescription: hello\n Long.\n\
X-Next: \n line one\n line two\nHomepage: https://example.org\nX-Empty: \n\n"
        );
    }

    #[test]
    fn revision_is_appended_after_version_only() {
        let after = rendered(
            "Package: a\nVersion: 1:2.0\nRevision: 5\nArchitecture: all\n",
            RecordKind::Status,
        );
        assert!(after.contains("Version: 1:2.0-5\n"), "{after}");
        let before = rendered(
            "Package: a\nRevision: 5\nVersion: 2.0\nArchitecture: all\n",
            RecordKind::Status,
        );
        assert!(before.contains("Version: 2.0\n"), "{before}");
    }

    #[test]
    fn rejects_what_dpkg_rejects() {
        let problem = |text: &str| Record::parse(text).expect_err(text);
        assert!(matches!(problem(""), RecordProblem::Empty));
        assert!(matches!(problem("Package a\n"), RecordProblem::Syntax(_)));
        assert!(matches!(
            problem("Package: a\nVersion: 1\nArchitecture: all\n\nPackage: b\n"),
            RecordProblem::Paragraphs(2)
        ));
        assert!(matches!(
            problem("Version: 1\nArchitecture: all\n"),
            RecordProblem::Missing("Package")
        ));
        assert!(matches!(
            problem("Package: a\nArchitecture: all\n"),
            RecordProblem::Missing("Version")
        ));
        assert!(matches!(
            problem("Package: a\nVersion: 1\n"),
            RecordProblem::Missing("Architecture")
        ));
        for text in [
            "Package: a/b\nVersion: 1\nArchitecture: all\n",
            "Package: ../a\nVersion: 1\nArchitecture: all\n",
            "Package: a\nVersion: 1\nArchitecture: all\nStatus: install ok installed\n",
            "Package: a\nVersion: 1\nArchitecture: all\nConfig-Version: 1\n",
            "Package: a\nVersion: 1\nArchitecture: all\nConffiles:\n /etc/a 0\n",
            "Package: a\nVersion: 1\nArchitecture: all\nEssential: maybe\n",
            "Package: a\nVersion: 1\nArchitecture: all\nMulti-Arch: same\n",
            "Package: a\nVersion: 1\nArchitecture: all\nMulti-Arch: sometimes\n",
            "Package: a\nVersion: 1\nArchitecture: amd/64\n",
            "Package: a\nVersion: 1\nArchitecture: all\nDepends: b\ndepends: c\n",
            "Package: a\nVersion: 1\nArchitecture: all\nSuggests: b\nOptional: c\n",
            "Package: a\nVersion: 1\nArchitecture: all\nX: c\n",
            "Package: a\nVersion: 1-\nArchitecture: all\n",
        ] {
            assert!(
                matches!(problem(text), RecordProblem::Field { .. }),
                "{text}"
            );
        }
    }
}
