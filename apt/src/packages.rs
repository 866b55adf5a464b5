//! `Packages` indices: one paragraph per binary package, with what resolution and
//! fetching need (name, version, architecture, relations, `Filename`, `Size`,
//! `SHA256`). Relationship fields are kept as text and parsed when the solver first
//! looks at a package, which keeps parsing a whole archive's index well under a second.

use crate::deb822;
use crate::version::Version;

/// `Multi-Arch` (Debian Policy / the MultiArch spec).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MultiArch {
    /// Absent or `no`.
    #[default]
    No,
    /// `same`: co-installable across architectures.
    Same,
    /// `foreign`: satisfies dependencies of any architecture.
    Foreign,
    /// `allowed`: satisfies `name:any` dependencies.
    Allowed,
}

/// `Priority`, ordered from most to least important.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Priority {
    /// `required`
    Required,
    /// `important`
    Important,
    /// `standard`
    Standard,
    /// `optional` (also the default)
    #[default]
    Optional,
    /// `extra` (obsolete)
    Extra,
}

/// One binary package from an index.
#[derive(Debug, Clone)]
pub struct Package {
    /// `Package`.
    pub name: Box<str>,
    /// `Version`.
    pub version: Version,
    /// `Architecture` (`amd64`, `all`, ...).
    pub architecture: Box<str>,
    /// `Multi-Arch`.
    pub multi_arch: MultiArch,
    /// `Essential: yes`.
    pub essential: bool,
    /// `Priority`.
    pub priority: Priority,
    /// `Source` (may carry a version in parentheses); empty when it equals the name.
    pub source: Box<str>,
    /// `Depends`, as text ("" when absent).
    pub depends: Box<str>,
    /// `Pre-Depends`.
    pub pre_depends: Box<str>,
    /// `Recommends`.
    pub recommends: Box<str>,
    /// `Conflicts`.
    pub conflicts: Box<str>,
    /// `Breaks`.
    pub breaks: Box<str>,
    /// `Provides`.
    pub provides: Box<str>,
    /// `Replaces`.
    pub replaces: Box<str>,
    /// `Filename`: the path below the repository's base URL.
    pub filename: Box<str>,
    /// `Size` of the `.deb` in bytes.
    pub size: u64,
    /// `SHA256` of the `.deb`.
    pub sha256: [u8; 32],
    /// Which repository (the caller's numbering) the index came from.
    pub repository: u16,
}

/// An index entry that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{label} line {line}: {reason}")]
pub struct IndexError {
    /// The index's name for messages (e.g. `bookworm main amd64 Packages`).
    pub label: String,
    /// 1-based line of the paragraph or the bad line.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// Parses a whole `Packages` index.
pub fn parse(text: &str, repository: u16, label: &str) -> Result<Vec<Package>, IndexError> {
    let mut packages = Vec::with_capacity(text.len() / 1200);
    for paragraph in deb822::paragraphs(text) {
        let paragraph = paragraph.map_err(|error| IndexError {
            label: label.to_owned(),
            line: error.line,
            reason: error.reason.to_owned(),
        })?;
        packages.push(package(&paragraph, repository, label)?);
    }
    Ok(packages)
}

fn package(
    paragraph: &deb822::Paragraph<'_>,
    repository: u16,
    label: &str,
) -> Result<Package, IndexError> {
    let error = |reason: String| IndexError {
        label: label.to_owned(),
        line: paragraph.line(),
        reason,
    };
    let mut name = None;
    let mut version = None;
    let mut architecture = None;
    let mut multi_arch = MultiArch::No;
    let mut essential = false;
    let mut priority = Priority::Optional;
    let mut source = "";
    let mut depends = "";
    let mut pre_depends = "";
    let mut recommends = "";
    let mut conflicts = "";
    let mut breaks = "";
    let mut provides = "";
    let mut replaces = "";
    let mut filename = None;
    let mut size = None;
    let mut sha256 = None;
    // One pass over the fields; names compared case-insensitively, common case first.
    for &(field, value) in paragraph.fields() {
        let matches = |wanted: &str| field == wanted || field.eq_ignore_ascii_case(wanted);
        if matches("Package") {
            name = Some(value);
        } else if matches("Version") {
            version = Some(value);
        } else if matches("Architecture") {
            architecture = Some(value);
        } else if matches("Multi-Arch") {
            multi_arch = match value {
                "same" => MultiArch::Same,
                "foreign" => MultiArch::Foreign,
                "allowed" => MultiArch::Allowed,
                _ => MultiArch::No,
            };
        } else if matches("Essential") {
            essential = value.eq_ignore_ascii_case("yes");
        } else if matches("Priority") {
            priority = match value {
                "required" => Priority::Required,
                "important" => Priority::Important,
                "standard" => Priority::Standard,
                "extra" => Priority::Extra,
                _ => Priority::Optional,
            };
        } else if matches("Source") {
            source = value;
        } else if matches("Depends") {
            depends = value;
        } else if matches("Pre-Depends") {
            pre_depends = value;
        } else if matches("Recommends") {
            recommends = value;
        } else if matches("Conflicts") {
            conflicts = value;
        } else if matches("Breaks") {
            breaks = value;
        } else if matches("Provides") {
            provides = value;
        } else if matches("Replaces") {
            replaces = value;
        } else if matches("Filename") {
            filename = Some(value);
        } else if matches("Size") {
            size = Some(value);
        } else if matches("SHA256") {
            sha256 = Some(value);
        }
    }
    let name = name.ok_or_else(|| error("paragraph without `Package`".to_owned()))?;
    let version_text =
        version.ok_or_else(|| error(format!("package `{name}` has no `Version`")))?;
    let version = Version::parse(version_text)
        .map_err(|version_error| error(format!("package `{name}`: {version_error}")))?;
    let architecture =
        architecture.ok_or_else(|| error(format!("package `{name}` has no `Architecture`")))?;
    let filename = filename.ok_or_else(|| error(format!("package `{name}` has no `Filename`")))?;
    if filename.starts_with('/') || filename.split('/').any(|part| part == "..") {
        return Err(error(format!(
            "package `{name}`: `Filename` {filename:?} leaves the repository"
        )));
    }
    let size = size
        .ok_or_else(|| error(format!("package `{name}` has no `Size`")))?
        .parse::<u64>()
        .map_err(|_| error(format!("package `{name}`: `Size` is not a number")))?;
    let sha256_text = sha256.ok_or_else(|| {
        error(format!(
            "package `{name}` has no `SHA256` (a strong hash is required to verify it)"
        ))
    })?;
    let mut sha256 = [0u8; 32];
    hex::decode_to_slice(sha256_text, &mut sha256)
        .map_err(|_| error(format!("package `{name}`: `SHA256` is not 64 hex digits")))?;
    Ok(Package {
        name: name.into(),
        version,
        architecture: architecture.into(),
        multi_arch,
        essential,
        priority,
        source: source.into(),
        depends: depends.into(),
        pre_depends: pre_depends.into(),
        recommends: recommends.into(),
        conflicts: conflicts.into(),
        breaks: breaks.into(),
        provides: provides.into(),
        replaces: replaces.into(),
        filename: filename.into(),
        size,
        sha256,
        repository,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = "Package: a\nVersion: 1.0-1\nArchitecture: amd64\nEssential: yes\nPriority: required\nDepends: b (>= 2)\nFilename: pool/main/a/a_1.0-1_amd64.deb\nSize: 10\nSHA256: 0000000000000000000000000000000000000000000000000000000000000001\n\nPackage: b\nVersion: 2\nArchitecture: all\nMulti-Arch: foreign\nFilename: pool/main/b/b_2_all.deb\nSize: 20\nSHA256: 0000000000000000000000000000000000000000000000000000000000000002\n";

    #[test]
    fn parses_packages() {
        let packages = parse(INDEX, 3, "test").expect("parses");
        assert_eq!(packages.len(), 2);
        assert_eq!(&*packages[0].name, "a");
        assert!(packages[0].essential);
        assert_eq!(packages[0].priority, Priority::Required);
        assert_eq!(&*packages[0].depends, "b (>= 2)");
        assert_eq!(packages[1].multi_arch, MultiArch::Foreign);
        assert_eq!(packages[1].size, 20);
        assert_eq!(packages[1].sha256[31], 2);
        assert_eq!(packages[1].repository, 3);
    }

    #[test]
    fn errors_name_the_index_and_line() {
        let broken = INDEX.replace(
            "SHA256: 0000000000000000000000000000000000000000000000000000000000000002\n",
            "",
        );
        let error = parse(&broken, 0, "main amd64").expect_err("no sha256");
        assert_eq!(error.line, 11);
        assert!(
            error
                .to_string()
                .contains("main amd64 line 11: package `b` has no `SHA256`"),
            "{error}"
        );
        let escaping = INDEX.replace("pool/main/b/b_2_all.deb", "../../etc/passwd");
        assert!(parse(&escaping, 0, "x")
            .expect_err("escape")
            .reason
            .contains("leaves the repository"));
    }
}
