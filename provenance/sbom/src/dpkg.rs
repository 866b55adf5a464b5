//! What dpkg's database says is installed: the `var/lib/dpkg/status` file and the
//! `var/lib/dpkg/info/PACKAGE[:ARCH].list` files.
//!
//! The status file is deb822 (see `deb822`), one paragraph per package dpkg knows of.
//! A package counts as installed when its `Status` field's flag is `ok` and its state is
//! `installed` (`install ok installed`, and also `hold ok installed`: a held package is
//! installed too) or `unpacked` (its files are on disk: imgbuild's package sets are
//! unpacked, not configured, and their SBOM lists them). Every other state —
//! `half-installed`, `config-files`, `not-installed`, a `reinstreq` flag — is left out. An installed package must have
//! `Package`, `Version` and `Architecture`; `Source` is `NAME` or `NAME (VERSION)` and
//! defaults to the package's own name and version (Debian Policy 5.6.1). A malformed line
//! anywhere in the file is an error: the database is written by dpkg, not by hand.

use std::collections::BTreeSet;

use crate::deb822;
use crate::SbomError;

/// One installed package, as its dpkg status paragraph describes it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct InstalledPackage {
    /// `Package`.
    pub name: String,
    /// `Version`, with its epoch when it has one (`1:2.36-9`).
    pub version: String,
    /// `Architecture` (`amd64`, `all`).
    pub architecture: String,
    /// The source package's name: `Source` without its version, else `Package`.
    pub source: String,
    /// The source package's version: the `(VERSION)` of `Source`, else `Version`.
    pub source_version: String,
    /// `Maintainer` (`Name <address>`), when present.
    pub maintainer: Option<String>,
    /// `Homepage`, when present.
    pub homepage: Option<String>,
    /// The first line of `Description` (the synopsis), when present.
    pub summary: Option<String>,
    /// `Multi-Arch` (`same`, `foreign`, `allowed`), when present.
    pub multi_arch: Option<String>,
}

/// The installed packages of a dpkg status file, sorted by name and then architecture.
/// An empty text (a tree without a dpkg database) has none.
pub fn installed_packages(status: &str) -> Result<Vec<InstalledPackage>, SbomError> {
    let document = deb822::parse(status);
    if let Some(&line) = document.malformed_lines.first() {
        return Err(SbomError::MalformedStatusLine { line });
    }
    let mut packages = Vec::new();
    let mut seen = BTreeSet::new();
    for paragraph in &document.paragraphs {
        if !is_installed(paragraph.first_line("Status")) {
            continue;
        }
        let package = installed_package(paragraph)?;
        if !seen.insert((package.name.clone(), package.architecture.clone())) {
            return Err(SbomError::DuplicatePackage {
                package: package.name,
                architecture: package.architecture,
            });
        }
        packages.push(package);
    }
    packages.sort();
    Ok(packages)
}

/// True for a `Status` of `WANT ok installed` or `WANT ok unpacked`.
fn is_installed(status: Option<&str>) -> bool {
    let words: Vec<&str> = status.unwrap_or("").split_whitespace().collect();
    matches!(words.as_slice(), [_, "ok", "installed" | "unpacked"])
}

fn installed_package(paragraph: &deb822::Paragraph) -> Result<InstalledPackage, SbomError> {
    let missing = |package: &str, field: &'static str| SbomError::MissingStatusField {
        line: paragraph.line,
        package: package.to_owned(),
        field,
    };
    let name = paragraph
        .first_line("Package")
        .ok_or_else(|| missing("", "Package"))?;
    let version = paragraph
        .first_line("Version")
        .ok_or_else(|| missing(name, "Version"))?;
    let architecture = paragraph
        .first_line("Architecture")
        .ok_or_else(|| missing(name, "Architecture"))?;
    let (source, source_version) = match paragraph.first_line("Source") {
        None => (name.to_owned(), version.to_owned()),
        Some(value) => parse_source(value).ok_or_else(|| SbomError::MalformedSource {
            package: name.to_owned(),
            value: value.to_owned(),
        })?,
    };
    let source_version = if source_version.is_empty() {
        version.to_owned()
    } else {
        source_version
    };
    Ok(InstalledPackage {
        name: name.to_owned(),
        version: version.to_owned(),
        architecture: architecture.to_owned(),
        source,
        source_version,
        maintainer: paragraph.first_line("Maintainer").map(str::to_owned),
        homepage: paragraph.first_line("Homepage").map(str::to_owned),
        summary: paragraph.first_line("Description").map(str::to_owned),
        multi_arch: paragraph.first_line("Multi-Arch").map(str::to_owned),
    })
}

/// `NAME` → (`NAME`, `""`); `NAME (VERSION)` → (`NAME`, `VERSION`); anything else → `None`.
fn parse_source(value: &str) -> Option<(String, String)> {
    let (name, rest) = match value.split_once('(') {
        None => (value.trim(), ""),
        Some((name, rest)) => {
            let version = rest.trim().strip_suffix(')')?.trim();
            if version.is_empty() || version.contains(['(', ')']) {
                return None;
            }
            (name.trim(), version)
        }
    };
    if name.is_empty() || name.contains(char::is_whitespace) {
        return None;
    }
    Some((name.to_owned(), rest.to_owned()))
}

/// The paths one `var/lib/dpkg/info/*.list` file lists, in file order: its non-empty
/// lines, verbatim (a path may end in a space). dpkg writes one absolute path per line,
/// the directories (`/.`, `/usr`) as well as the files; this returns them all.
pub fn listed_paths(list: &str) -> impl Iterator<Item = &str> {
    list.split('\n').filter(|line| !line.is_empty())
}
