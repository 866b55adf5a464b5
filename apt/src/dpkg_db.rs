//! The dpkg database of a root tree whose packages were unpacked without dpkg.
//!
//! imgbuild extracts the `data.tar` of every package of a resolved set into a root
//! tree itself. For dpkg and apt inside the image to know what is there, the tree needs
//! the database `dpkg --unpack` would have left: every package in state
//! `install ok unpacked`, so that a later `dpkg --configure -a` (in a chroot or a
//! booted image) runs the maintainer scripts and brings them to `installed`.
//! [`database`] computes that database from what the caller read out of each package;
//! it does no I/O and returns the files and directories to add to the tree.
//!
//! What it writes, each file compared byte for byte with what dpkg 1.21 (Debian 12)
//! writes when it unpacks the same packages (`tests/dpkg_db.rs`):
//!
//! - `var/lib/dpkg/status`: one record per package, sorted by name (then
//!   architecture), as dpkg writes them — `Package`, `Status: install ok
//!   unpacked`, the control fields in dpkg's order and normalization, and
//!   `Conffiles` with the hash `newconffile` (dpkg's marker for a conffile that was
//!   unpacked but never configured; `--configure` replaces it with the real MD5).
//! - `var/lib/dpkg/info/PKG.list`: the package's paths as dpkg lists them (`/.` for the
//!   root, then `/usr`, `/usr/bin`, ...; symbolic links after everything else, as
//!   dpkg's tar extractor defers them). `PKG` is `name:arch` for `Multi-Arch: same`
//!   packages, as in dpkg's `info/` format 1.
//! - `var/lib/dpkg/info/PKG.MEMBER` for every control member except `control` (and
//!   names with a `.`, and `list`, which dpkg skips): `md5sums`, `conffiles`,
//!   `preinst`, `postinst`, `prerm`, `postrm`, `config`, `templates`, `triggers`,
//!   `shlibs`, `symbols`, ..., byte for byte and with the member's mode. When the
//!   package ships no `md5sums`, dpkg writes one from the digests of what it unpacked;
//!   so does [`database`], from [`DataKind::File`]'s digests.
//! - `var/lib/dpkg/info/format`: `1`.
//! - `var/lib/dpkg/triggers/File` and `var/lib/dpkg/triggers/NAME`: the trigger
//!   interests dpkg registers at unpack time (see `triggers`); `triggers/Unincorp`
//!   (empty) and `triggers/Lock` (empty, 0600).
//! - `var/lib/dpkg/lock` and `lock-frontend`: empty, 0640, as dpkg creates them.
//! - `var/lib/dpkg/arch`: the native architecture, then every foreign architecture of
//!   the packages, one a line (as mmdebstrap writes it; without the foreign ones dpkg
//!   would refuse those packages).
//! - `var/lib/dpkg/available`: the packages' index paragraphs
//!   ([`UnpackedPackage::index_fields`]) in the format `dpkg --update-avail` writes,
//!   or empty; `var/lib/dpkg/diversions` and `statoverride`: empty.
//!
//! and the directories `var`, `var/lib`, `var/lib/dpkg`, `var/lib/dpkg/info`,
//! `var/lib/dpkg/triggers` and `var/lib/dpkg/updates`.
//!
//! One thing the caller must do as dpkg does: `dpkg --unpack` leaves a new conffile
//! next to its final place as `PATH.dpkg-new`, and `--configure` moves it into place
//! and records its MD5 in `status`. A conffile extracted straight to `PATH` is not
//! replaced, but `status` keeps `newconffile` for it forever — later upgrades then
//! treat the administrator's file as unknown. [`Database::staged_conffiles`] lists the
//! paths to extract as `PATH.dpkg-new`.
//!
//! Where the result differs from a real `dpkg --unpack` run: dpkg records trigger
//! interests in the order it unpacks packages, this module in name order; dpkg leaves
//! `status-old` behind and creates no `available`, `arch`, `diversions` or
//! `statoverride` file (an empty one means the same to dpkg).
//!
//! Output is deterministic: files sorted by path, no time stamps, nothing taken from
//! the environment.

mod info;
mod record;
mod triggers;

use std::collections::{BTreeMap, BTreeSet};

use record::{check_architecture, Record, RecordKind, RecordProblem};

use crate::deb822::SyntaxError;

/// The root of dpkg's database in the tree.
const ADMIN_DIR: &str = "var/lib/dpkg";

/// The longest control member name dpkg accepts (`MAXCONTROLFILENAME`).
const MAX_MEMBER_NAME: usize = 100;

/// One unpacked package: what the caller read out of its `.deb`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackedPackage {
    /// The `control` member of `control.tar`: one deb822 paragraph. The package's name,
    /// architecture and `Multi-Arch` are taken from it.
    pub control: String,
    /// The other members of `control.tar` by name (`md5sums`, `conffiles`, `preinst`,
    /// `postinst`, `prerm`, `postrm`, `config`, `templates`, `triggers`, `shlibs`,
    /// `symbols`, ...). A `control` entry here is ignored.
    pub control_members: BTreeMap<String, ControlMember>,
    /// Every entry `data.tar` created, in archive order, directories included.
    pub data: Vec<DataPath>,
    /// The package's paragraph from the repository's `Packages` index, if the caller
    /// wants it in `var/lib/dpkg/available`.
    pub index_fields: Option<String>,
}

/// A member of a package's `control.tar`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlMember {
    /// Permission bits as found in the archive (dpkg keeps them for `info/` files;
    /// `dpkg-deb --build` makes them 0755 for scripts and 0644 for the rest).
    pub mode: u32,
    /// The member's bytes.
    pub contents: Vec<u8>,
}

/// One entry of a package's `data.tar`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataPath {
    /// The path relative to the root, as in the archive or normalized: `usr/bin/x`,
    /// `./usr/bin/x` and `usr/bin/` are all accepted. The archive's root entry (`./`)
    /// is `.` (or the empty string); dpkg lists it as `/.`.
    pub path: String,
    /// What the entry is.
    pub kind: DataKind,
}

/// The kind of a [`DataPath`], as far as the database cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataKind {
    /// A directory.
    Directory,
    /// A regular file or a hard link to one.
    File {
        /// MD5 of the contents. Needed only when the package has no `md5sums` member:
        /// dpkg then writes `info/PKG.md5sums` from what it unpacked.
        md5: Option<[u8; 16]>,
    },
    /// A symbolic link.
    Symlink,
    /// A device or a FIFO.
    Other,
}

/// The database to add to the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Database {
    /// Directories to create (mode 0755), parents before children.
    pub directories: Vec<String>,
    /// Files to create, sorted by path.
    pub files: Vec<DbFile>,
    /// Conffiles the packages ship, relative to the root and sorted: dpkg unpacks each
    /// as `PATH.dpkg-new`, and `dpkg --configure` expects to find it there.
    pub staged_conffiles: Vec<String>,
}

/// One file of the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbFile {
    /// Path relative to the root, e.g. `var/lib/dpkg/status`.
    pub path: String,
    /// Permission bits.
    pub mode: u32,
    /// Contents.
    pub contents: Vec<u8>,
}

/// Why the database cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum DpkgDbError {
    /// A control file or index paragraph holds no field.
    #[error("{package}: the {what} is empty")]
    Empty {
        /// The package (`package #N` while its name is unknown).
        package: String,
        /// `control file` or `index paragraph`.
        what: &'static str,
    },
    /// A control file or index paragraph is not deb822.
    #[error("{package}: the {what} is not a deb822 paragraph: {source}")]
    Syntax {
        /// The package (`package #N` while its name is unknown).
        package: String,
        /// `control file` or `index paragraph`.
        what: &'static str,
        /// The parser's complaint.
        #[source]
        source: SyntaxError,
    },
    /// A control file or index paragraph holds several paragraphs.
    #[error("{package}: the {what} holds {count} paragraphs, not one")]
    Paragraphs {
        /// The package (`package #N` while its name is unknown).
        package: String,
        /// `control file` or `index paragraph`.
        what: &'static str,
        /// How many.
        count: usize,
    },
    /// A required field is absent.
    #[error("{package}: the {what} has no `{field}` field")]
    MissingField {
        /// The package (`package #N` while its name is unknown).
        package: String,
        /// `control file` or `index paragraph`.
        what: &'static str,
        /// The field.
        field: &'static str,
    },
    /// A field's value is not what dpkg accepts.
    #[error("{package}: {what} field `{field}`: {reason}")]
    Field {
        /// The package (`package #N` while its name is unknown).
        package: String,
        /// `control file` or `index paragraph`.
        what: &'static str,
        /// The field, as spelled.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// The index paragraph describes another package.
    #[error("{package}: the index paragraph is for `{index_package}`")]
    IndexMismatch {
        /// The package.
        package: String,
        /// The package the index paragraph names.
        index_package: String,
    },
    /// Two packages share a name, and are not `Multi-Arch: same` instances of different
    /// architectures.
    #[error("package `{package}` appears twice")]
    DuplicatePackage {
        /// The package (`name` or `name:arch`).
        package: String,
    },
    /// A control member cannot become an `info/` file.
    #[error("{package}: control member `{member}`: {reason}")]
    ControlMember {
        /// The package.
        package: String,
        /// The member's name.
        member: String,
        /// What is wrong.
        reason: String,
    },
    /// A data path is not a relative path inside the root.
    #[error("{package}: data path `{path}` {reason}")]
    DataPath {
        /// The package.
        package: String,
        /// The path as given.
        path: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The package has no `md5sums` member and a file's digest is missing.
    #[error("{package}: no md5sums member and no MD5 for `{path}`")]
    MissingDigest {
        /// The package.
        package: String,
        /// The file.
        path: String,
    },
    /// The native architecture is not an architecture name.
    #[error("native architecture: {0}")]
    NativeArchitecture(String),
}

/// One package on its way into the database.
struct Prepared<'a> {
    record: Record,
    available: Option<Record>,
    package: &'a UnpackedPackage,
}

/// Computes the dpkg database for `packages`, all in state `install ok unpacked`, on
/// a system whose native architecture is `native_architecture` (`amd64`, ...).
pub fn database(
    packages: &[UnpackedPackage],
    native_architecture: &str,
) -> Result<Database, DpkgDbError> {
    check_architecture(native_architecture).map_err(DpkgDbError::NativeArchitecture)?;

    let mut prepared = Vec::with_capacity(packages.len());
    for (index, package) in packages.iter().enumerate() {
        let label = format!("package #{}", index + 1);
        let record = Record::parse(&package.control)
            .map_err(|problem| record_error(problem, label, "control file"))?;
        let available = match &package.index_fields {
            None => None,
            Some(text) => {
                let available = Record::parse(text).map_err(|problem| {
                    record_error(problem, record.info_name(), "index paragraph")
                })?;
                if available.name != record.name {
                    return Err(DpkgDbError::IndexMismatch {
                        package: record.info_name(),
                        index_package: available.name,
                    });
                }
                Some(available)
            }
        };
        prepared.push(Prepared {
            record,
            available,
            package,
        });
    }
    prepared.sort_by(|a, b| {
        (a.record.name.as_str(), a.record.architecture.as_str())
            .cmp(&(b.record.name.as_str(), b.record.architecture.as_str()))
    });
    for pair in prepared.windows(2) {
        let (a, b) = (&pair[0].record, &pair[1].record);
        if a.name == b.name
            && !(a.multi_arch_same && b.multi_arch_same && a.architecture != b.architecture)
        {
            return Err(DpkgDbError::DuplicatePackage {
                package: b.info_name(),
            });
        }
    }

    let admin = |path: &str| format!("{ADMIN_DIR}/{path}");
    let mut files: BTreeMap<String, (u32, Vec<u8>)> = BTreeMap::new();
    let mut status = String::new();
    let mut available = String::new();
    let mut interests = triggers::Interests::default();
    let mut staged_conffiles = BTreeSet::new();
    let mut foreign_architectures = BTreeSet::new();

    for Prepared {
        record,
        available: index_record,
        package,
    } in &prepared
    {
        let name = record.info_name();
        if record.architecture != "all" && record.architecture != native_architecture {
            foreign_architectures.insert(record.architecture.clone());
        }
        let member_error = |member: &str, reason: String| DpkgDbError::ControlMember {
            package: name.clone(),
            member: member.to_owned(),
            reason,
        };

        for (member, ControlMember { mode, contents }) in &package.control_members {
            if member.is_empty()
                || member.contains('/')
                || member.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(member_error(member, "is not a plain file name".into()));
            }
            if member.len() > MAX_MEMBER_NAME {
                return Err(member_error(
                    member,
                    format!("is longer than {MAX_MEMBER_NAME} bytes"),
                ));
            }
            // dpkg skips names with a dot, the control file itself and `list`.
            if member.contains('.') || member == "control" || member == "list" {
                continue;
            }
            files.insert(
                admin(&format!("info/{name}.{member}")),
                (mode & 0o7777, contents.clone()),
            );
        }

        let conffiles = match package.control_members.get("conffiles") {
            Some(member) => info::parse_conffiles(&member.contents)
                .map_err(|reason| member_error("conffiles", reason))?,
            None => Vec::new(),
        };
        if let Some(member) = package.control_members.get("triggers") {
            interests
                .add(&name, &member.contents)
                .map_err(|reason| member_error("triggers", reason))?;
        }

        let listed =
            info::listed_paths(&package.data).map_err(|(path, reason)| DpkgDbError::DataPath {
                package: name.clone(),
                path,
                reason,
            })?;
        files.insert(
            admin(&format!("info/{name}.list")),
            (0o644, info::list_file(&listed)),
        );
        if !package.control_members.contains_key("md5sums") {
            let md5sums =
                info::generated_md5sums(&listed).map_err(|path| DpkgDbError::MissingDigest {
                    package: name.clone(),
                    path,
                })?;
            files.insert(admin(&format!("info/{name}.md5sums")), (0o644, md5sums));
        }
        for conffile in conffiles
            .iter()
            .filter(|conffile| !conffile.remove_on_upgrade)
        {
            let shipped = listed.iter().any(|path| {
                path.absolute == conffile.path && !matches!(path.entry.kind, DataKind::Directory)
            });
            if shipped {
                staged_conffiles.insert(conffile.path.trim_start_matches('/').to_owned());
            }
        }

        record.render(RecordKind::Status, &conffiles, &mut status);
        if let Some(index_record) = index_record {
            index_record.render(RecordKind::Available, &[], &mut available);
        }
    }

    let mut arch = format!("{native_architecture}\n");
    for foreign in &foreign_architectures {
        arch.push_str(foreign);
        arch.push('\n');
    }
    for (path, mode, contents) in [
        ("status", 0o644, status.into_bytes()),
        ("available", 0o644, available.into_bytes()),
        ("arch", 0o644, arch.into_bytes()),
        ("diversions", 0o644, Vec::new()),
        ("statoverride", 0o644, Vec::new()),
        ("lock", 0o640, Vec::new()),
        ("lock-frontend", 0o640, Vec::new()),
        ("info/format", 0o644, b"1\n".to_vec()),
        ("triggers/Unincorp", 0o644, Vec::new()),
        ("triggers/Lock", 0o600, Vec::new()),
    ] {
        files.insert(admin(path), (mode, contents));
    }
    for (trigger, contents) in interests.files() {
        files.insert(admin(&format!("triggers/{trigger}")), (0o644, contents));
    }

    let directories = ["var", "var/lib", ADMIN_DIR]
        .into_iter()
        .map(str::to_owned)
        .chain(["info", "triggers", "updates"].into_iter().map(admin))
        .collect();
    Ok(Database {
        directories,
        files: files
            .into_iter()
            .map(|(path, (mode, contents))| DbFile {
                path,
                mode,
                contents,
            })
            .collect(),
        staged_conffiles: staged_conffiles.into_iter().collect(),
    })
}

fn record_error(problem: RecordProblem, package: String, what: &'static str) -> DpkgDbError {
    match problem {
        RecordProblem::Empty => DpkgDbError::Empty { package, what },
        RecordProblem::Syntax(source) => DpkgDbError::Syntax {
            package,
            what,
            source,
        },
        RecordProblem::Paragraphs(count) => DpkgDbError::Paragraphs {
            package,
            what,
            count,
        },
        RecordProblem::Missing(field) => DpkgDbError::MissingField {
            package,
            what,
            field,
        },
        RecordProblem::Field { field, reason } => DpkgDbError::Field {
            package,
            what,
            field,
            reason,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(
        control: &str,
        members: &[(&str, u32, &str)],
        data: &[(&str, DataKind)],
    ) -> UnpackedPackage {
        UnpackedPackage {
            control: control.to_owned(),
            control_members: members
                .iter()
                .map(|(name, mode, contents)| {
                    (
                        (*name).to_owned(),
                        ControlMember {
                            mode: *mode,
                            contents: contents.as_bytes().to_vec(),
                        },
                    )
                })
                .collect(),
            data: data
                .iter()
                .map(|(path, kind)| DataPath {
                    path: (*path).to_owned(),
                    kind: kind.clone(),
                })
                .collect(),
            index_fields: None,
        }
    }

    fn sample() -> Vec<UnpackedPackage> {
        let file = || DataKind::File {
            md5: Some([0xab; 16]),
        };
        vec![
            package(
                "Package: zeta\nVersion: 1\nArchitecture: amd64\nMaintainer: z <z@example.org>\nDescription: z\n",
                &[("postinst", 0o755, "#!/bin/sh\nexit 0\n"), ("conffiles", 0o644, "/etc/zeta.conf\n")],
                &[(".", DataKind::Directory), ("etc", DataKind::Directory), ("etc/zeta.conf", file())],
            ),
            package(
                "Package: libalpha1\nVersion: 2\nArchitecture: i386\nMulti-Arch: same\nMaintainer: a <a@example.org>\nDescription: a\n",
                &[("md5sums", 0o644, ""), ("triggers", 0o644, "interest-noawait /usr/lib/alpha\n")],
                &[(".", DataKind::Directory), ("usr/lib/alpha", DataKind::Directory)],
            ),
            package(
                "Package: libalpha1\nVersion: 2\nArchitecture: amd64\nMulti-Arch: same\nMaintainer: a <a@example.org>\nDescription: a\n",
                &[("md5sums", 0o644, ""), ("triggers", 0o644, "interest-noawait /usr/lib/alpha\n")],
                &[(".", DataKind::Directory), ("usr/lib/alpha", DataKind::Directory)],
            ),
        ]
    }

    fn text(database: &Database, path: &str) -> String {
        let file = database
            .files
            .iter()
            .find(|file| file.path == path)
            .unwrap_or_else(|| panic!("{path} is missing"));
        String::from_utf8(file.contents.clone()).expect("UTF-8")
    }

    #[test]
    fn output_is_sorted_and_independent_of_input_order() {
        let packages = sample();
        let first = database(&packages, "amd64").expect("valid");
        let mut reversed = packages.clone();
        reversed.reverse();
        assert_eq!(first, database(&reversed, "amd64").expect("valid"));
        let paths: Vec<&str> = first.files.iter().map(|file| file.path.as_str()).collect();
        let mut sorted = paths.clone();
        sorted.sort_unstable();
        assert_eq!(paths, sorted);
        let names: Vec<String> = text(&first, "var/lib/dpkg/status")
            .lines()
            .filter_map(|line| line.strip_prefix("Package: ").map(str::to_owned))
            .collect();
        assert_eq!(names, ["libalpha1", "libalpha1", "zeta"]);
        assert!(text(&first, "var/lib/dpkg/status").contains("Architecture: amd64\nMulti-Arch: same\nVersion: 2\nDescription: a\n\nPackage: libalpha1\nStatus: install ok unpacked\nMaintainer: a <a@example.org>\nArchitecture: i386\n"));
        assert_eq!(
            text(&first, "var/lib/dpkg/triggers/File"),
            "/usr/lib/alpha libalpha1:amd64/noawait\n/usr/lib/alpha libalpha1:i386/noawait\n"
        );
        assert_eq!(text(&first, "var/lib/dpkg/arch"), "amd64\ni386\n");
        assert_eq!(first.staged_conffiles, ["etc/zeta.conf"]);
        assert_eq!(
            first.directories,
            [
                "var",
                "var/lib",
                "var/lib/dpkg",
                "var/lib/dpkg/info",
                "var/lib/dpkg/triggers",
                "var/lib/dpkg/updates"
            ]
        );
        for name in [
            "libalpha1:amd64.list",
            "libalpha1:i386.md5sums",
            "zeta.md5sums",
            "zeta.postinst",
        ] {
            assert!(
                paths.contains(&format!("var/lib/dpkg/info/{name}").as_str()),
                "{name}"
            );
        }
        assert_eq!(
            text(&first, "var/lib/dpkg/info/zeta.md5sums"),
            format!("{}  etc/zeta.conf\n", "ab".repeat(16))
        );
        assert!(text(&first, "var/lib/dpkg/status")
            .contains("Conffiles:\n /etc/zeta.conf newconffile\n"));
        assert_eq!(text(&first, "var/lib/dpkg/available"), "");
    }

    #[test]
    fn rejects_bad_input() {
        let packages = sample();
        let mut duplicate = packages.clone();
        duplicate.push(packages[0].clone());
        assert!(matches!(
            database(&duplicate, "amd64"),
            Err(DpkgDbError::DuplicatePackage { .. })
        ));
        let mut same_arch = packages.clone();
        same_arch.push(packages[1].clone());
        assert!(matches!(
            database(&same_arch, "amd64"),
            Err(DpkgDbError::DuplicatePackage { .. })
        ));

        let mut empty = packages.clone();
        empty[0].control = "\n".to_owned();
        assert!(matches!(
            database(&empty, "amd64"),
            Err(DpkgDbError::Empty { .. })
        ));
        let mut garbage = packages.clone();
        garbage[0].control = "not deb822\n".to_owned();
        assert!(matches!(
            database(&garbage, "amd64"),
            Err(DpkgDbError::Syntax { .. })
        ));
        let mut slash = packages.clone();
        slash[0].control = slash[0].control.replace("zeta", "../zeta");
        assert!(matches!(
            database(&slash, "amd64"),
            Err(DpkgDbError::Field { .. })
        ));

        let mut member = packages.clone();
        member[0].control_members.insert(
            "../x".to_owned(),
            ControlMember {
                mode: 0o644,
                contents: Vec::new(),
            },
        );
        assert!(matches!(
            database(&member, "amd64"),
            Err(DpkgDbError::ControlMember { .. })
        ));
        let mut path = packages.clone();
        path[0].data.push(DataPath {
            path: "etc/../../x".to_owned(),
            kind: DataKind::Directory,
        });
        assert!(matches!(
            database(&path, "amd64"),
            Err(DpkgDbError::DataPath { .. })
        ));
        let mut digest = packages.clone();
        digest[0].data.push(DataPath {
            path: "etc/x".to_owned(),
            kind: DataKind::File { md5: None },
        });
        assert!(matches!(
            database(&digest, "amd64"),
            Err(DpkgDbError::MissingDigest { .. })
        ));
        let mut index = packages.clone();
        index[0].index_fields =
            Some("Package: other\nVersion: 1\nArchitecture: amd64\n".to_owned());
        assert!(matches!(
            database(&index, "amd64"),
            Err(DpkgDbError::IndexMismatch { .. })
        ));
        assert!(matches!(
            database(&packages, "amd/64"),
            Err(DpkgDbError::NativeArchitecture(_))
        ));
    }

    #[test]
    fn skips_members_dpkg_skips_and_keeps_modes() {
        let mut packages = sample();
        for (name, mode) in [
            ("control", 0o644),
            ("foo.bar", 0o644),
            ("list", 0o644),
            ("custom", 0o600),
        ] {
            packages[0].control_members.insert(
                name.to_owned(),
                ControlMember {
                    mode,
                    contents: b"x\n".to_vec(),
                },
            );
        }
        let result = database(&packages, "amd64").expect("valid");
        let info: Vec<(&str, u32)> = result
            .files
            .iter()
            .filter_map(|file| {
                file.path
                    .strip_prefix("var/lib/dpkg/info/zeta.")
                    .map(|member| (member, file.mode))
            })
            .collect();
        assert_eq!(
            info,
            [
                ("conffiles", 0o644),
                ("custom", 0o600),
                ("list", 0o644),
                ("md5sums", 0o644),
                ("postinst", 0o755)
            ]
        );
        assert_eq!(
            text(&result, "var/lib/dpkg/info/zeta.list"),
            "/.\n/etc\n/etc/zeta.conf\n"
        );
    }
}
