//! Declarative edits of a Debian root tree: the options of `debian::rootfs` (users and
//! groups, services, hostname, timezone, locale, apt sources) and the de-personalization
//! every root filesystem gets, as pure functions over an in-memory [`Tree`].
//!
//! Nothing here runs a program or looks at the machine: files are read from and written
//! to the store as blobs, ownership and modes live in the tree's [`Metadata`], and the only
//! clock is the build's `source_date_epoch` (every entry written gets it as mtime). The one
//! step that needs a program, `locale-gen`, is reported in [`Applied::needs_locale_gen`]
//! for the caller to run in the sandbox.
//!
//! - [`options`]: [`Options`], parsed from the derivation's canonical arguments, and
//!   [`check_options`], the same parse run at evaluation time for early recipe errors.
//! - [`apply`] applies the options in a fixed order: groups, users, services, hostname,
//!   timezone, locale, apt sources (`users`, `services`, `system`, `apt_sources`).
//! - [`depersonalize`] removes what identifies one build (host keys, machine id, logs,
//!   caches) and clamps mtimes to `source_date_epoch`.
//! - [`install`] writes files and enables units into a tree (`first_boot::agent`).
//! - `files`: reading, writing and resolving paths in a tree, shared by the above.
//!
//! Paths in errors are shown absolute (`/etc/passwd`) although the tree's are relative.

mod apt_sources;
mod depersonalize;
mod files;
pub mod options;
mod services;
mod system;
#[cfg(test)]
mod test_support;
mod users;

use std::fmt;

use imgbuild_store::{Metadata, Store, StoreError, Tree, TreeError};

pub use depersonalize::depersonalize;
pub use options::{check_options, check_options_among, Options, OPTION_KEYS};

/// Why an edit of a root tree failed. Every variant names the path, user, group, unit or
/// value it is about.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EditError {
    /// A blob of the tree could not be read or written.
    #[error("cannot {operation} `/{path}` in the store")]
    Store {
        /// "read" or "write".
        operation: &'static str,
        /// The file in the tree.
        path: String,
        /// What the store said.
        #[source]
        source: StoreError,
    },
    /// The tree refused an insertion (its message names the path).
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// Resolving a path met a symlink loop (or more than 40 symlinks).
    #[error("`/{path}` cannot be resolved: too many levels of symbolic links")]
    SymlinkLoop {
        /// The path being resolved.
        path: String,
    },
    /// Something of the wrong kind is at a path.
    #[error("`/{path}` is a {found}, expected a {expected}")]
    WrongKind {
        /// The path.
        path: String,
        /// What is there.
        found: &'static str,
        /// What the edit needs.
        expected: &'static str,
    },
    /// A file that must be text is not UTF-8.
    #[error("`/{path}` is not UTF-8 text")]
    NotText {
        /// The file.
        path: String,
    },
    /// A user or group of the options already exists in the tree.
    #[error("{what} `{name}` already exists in /{path}")]
    NameExists {
        /// "user" or "group".
        what: &'static str,
        /// Its name.
        name: String,
        /// `etc/passwd` or `etc/group`.
        path: String,
    },
    /// An explicit uid or gid belongs to someone else.
    #[error("{what} `{name}` wants {id_kind} {id}, which belongs to `{owner}` in /{path}")]
    IdTaken {
        /// "user" or "group".
        what: &'static str,
        /// The name asking for the id.
        name: String,
        /// "uid" or "gid".
        id_kind: &'static str,
        /// The id.
        id: u32,
        /// Who has it.
        owner: String,
        /// `etc/passwd` or `etc/group`.
        path: String,
    },
    /// No id was free in the range allocation uses.
    #[error("no free {id_kind} left for {what} `{name}` in {first}..={last}")]
    IdsExhausted {
        /// "user" or "group".
        what: &'static str,
        /// The name.
        name: String,
        /// "uid" or "gid".
        id_kind: &'static str,
        /// The range's first id.
        first: u32,
        /// The range's last id.
        last: u32,
    },
    /// A user names a group that does not exist.
    #[error("user `{user}`: group `{group}` does not exist in /etc/group{suggestion}")]
    MissingGroup {
        /// The user.
        user: String,
        /// The group.
        group: String,
        /// The nearest existing group.
        suggestion: Suggestion,
    },
    /// A user would create its own group, but a group of that name exists.
    #[error(
        "user `{user}`: a group `{user}` already exists in /etc/group; \
         give `group: \"{user}\"` to make it the user's primary group"
    )]
    OwnGroupExists {
        /// The user (and group) name.
        user: String,
    },
    /// A user's login shell is not in the image.
    #[error("user `{user}`: the shell `{shell}` is not in the image")]
    MissingShell {
        /// The user.
        user: String,
        /// The shell.
        shell: String,
    },
    /// SSH keys were given for a user without a home directory.
    #[error("user `{user}` has `ssh_authorized_keys` but no home directory; give `home`")]
    NoHome {
        /// The user.
        user: String,
    },
    /// `sudo: true` without sudo in the image.
    #[error("user `{user}` has `sudo: true`, but sudo is not installed (no /usr/bin/sudo); add `sudo` to include:")]
    SudoMissing {
        /// The user.
        user: String,
    },
    /// Hashing a password failed.
    #[error("user `{user}`: {reason}")]
    Password {
        /// The user.
        user: String,
        /// Why.
        reason: String,
    },
    /// A unit is in none of systemd's unit directories.
    #[error("service `{unit}` is not in the image{suggestion}")]
    UnitMissing {
        /// The unit as the recipe gave it.
        unit: String,
        /// The nearest unit in the image.
        suggestion: Suggestion,
    },
    /// A unit to enable has nothing to install.
    #[error(
        "service `{unit}` cannot be enabled: it has no [Install] section \
         (no WantedBy=, RequiredBy=, Alias= or Also= in {path})"
    )]
    NoInstallSection {
        /// The unit.
        unit: String,
        /// Its file, as systemctl would name it.
        path: String,
    },
    /// A unit to enable is masked.
    #[error("service `{unit}` cannot be enabled: it is masked (`/{path}` points to /dev/null)")]
    UnitMasked {
        /// The unit.
        unit: String,
        /// The masking symlink.
        path: String,
    },
    /// A template unit without an instance or a `DefaultInstance=`.
    #[error(
        "service `{unit}` is a template: name an instance (e.g. `{prefix}@NAME`) \
         or give it DefaultInstance= in its [Install] section"
    )]
    TemplateWithoutInstance {
        /// The unit.
        unit: String,
        /// Its name before `@`.
        prefix: String,
    },
    /// The [Install] section of a unit names something unusable.
    #[error("service `{unit}`: {reason} (in {path})")]
    BadInstall {
        /// The unit.
        unit: String,
        /// Its file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A file or directory is where a unit's symlink must go.
    #[error("service `{unit}`: cannot create the symlink `/{path}`: a {found} is in the way")]
    LinkInTheWay {
        /// The unit.
        unit: String,
        /// The symlink's path.
        path: String,
        /// What is there.
        found: &'static str,
    },
    /// The timezone has no file under `usr/share/zoneinfo`.
    #[error("timezone `{timezone}` is not in the image (no /usr/share/zoneinfo/{timezone}; is `tzdata` in include:?){suggestion}")]
    TimezoneMissing {
        /// The timezone.
        timezone: String,
        /// The nearest timezone in the image.
        suggestion: Suggestion,
    },
    /// A non-C locale without the `locales` package.
    #[error("locale `{locale}` needs the `locales` package in include: (no /usr/sbin/locale-gen in the image)")]
    LocalesMissing {
        /// The locale.
        locale: String,
    },
    /// A locale glibc does not know.
    #[error("locale `{locale}` is not in /usr/share/i18n/SUPPORTED{suggestion}")]
    LocaleUnknown {
        /// The locale.
        locale: String,
        /// The nearest supported locale.
        suggestion: Suggestion,
    },
    /// An apt source's keyring is not in the image.
    #[error("apt source `{uri}`: its signed_by keyring `{keyring}` is not in the image")]
    KeyringMissing {
        /// The source's first URI.
        uri: String,
        /// The keyring path.
        keyring: String,
    },
}

/// "did you mean" for an error message: nothing, or `; did you mean `x`?`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Suggestion(pub Option<String>);

impl fmt::Display for Suggestion {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(near) => write!(formatter, "; did you mean `{near}`?"),
            None => Ok(()),
        }
    }
}

impl Suggestion {
    /// The candidate nearest to `word`, if one is near enough.
    pub(crate) fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Self {
        Suggestion(imgbuild_evaluator::suggest(word, candidates).map(str::to_owned))
    }
}

/// What [`apply`] did, for the build log and the builder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// One line per change, in the order made (no secrets in them).
    pub changes: Vec<String>,
    /// A non-C locale was requested: run `locale-gen` in the sandbox.
    pub needs_locale_gen: bool,
    /// Password hashes were written: the output must be stored as secret.
    pub secret: bool,
}

/// Applies `options` to `tree` in the order groups, users, services, hostname, timezone,
/// locale, apt sources. Every entry written gets `source_date_epoch` as its mtime. On
/// error the tree may be partly edited; the caller discards it.
pub fn apply(
    store: &Store,
    tree: &mut Tree,
    options: &Options,
    source_date_epoch: i64,
) -> Result<Applied, EditError> {
    let mut applied = Applied::default();
    let mut edit = Edit {
        store,
        tree,
        mtime: source_date_epoch,
        applied: &mut applied,
    };
    users::apply(&mut edit, &options.groups, &options.users)?;
    services::apply(&mut edit, &options.services)?;
    if let Some(hostname) = &options.hostname {
        system::set_hostname(&mut edit, hostname)?;
    }
    if let Some(timezone) = &options.timezone {
        system::set_timezone(&mut edit, timezone)?;
    }
    if let Some(locale) = &options.locale {
        system::set_locale(&mut edit, locale)?;
    }
    if let Some(sources) = &options.apt_sources {
        apt_sources::apply(&mut edit, sources)?;
    }
    Ok(applied)
}

/// A file [`install`] writes: path in the tree, contents, mode (root-owned).
pub struct InstallFile {
    /// Path in the tree (`usr/lib/...`).
    pub path: String,
    /// Contents.
    pub content: Vec<u8>,
    /// Permission bits.
    pub mode: u32,
}

/// Writes `files` (root-owned, parents created 0755) into `tree`, then enables the
/// systemd `units` by their `[Install]` sections, like `debian::rootfs`'s `services`.
pub fn install(
    store: &Store,
    tree: &mut Tree,
    files: &[InstallFile],
    units: &[String],
    source_date_epoch: i64,
) -> Result<Applied, EditError> {
    let mut applied = Applied::default();
    let mut edit = Edit {
        store,
        tree,
        mtime: source_date_epoch,
        applied: &mut applied,
    };
    for file in files {
        let path = files::tree_path(&file.path)?;
        let meta = edit.meta(file.mode, 0, 0);
        files::write_file(&mut edit, &path, &file.content, meta, false)?;
        edit.log(format!("wrote /{}", file.path));
    }
    services::apply(
        &mut edit,
        &options::ServiceChanges {
            enable: units.to_vec(),
            disable: Vec::new(),
        },
    )?;
    Ok(applied)
}

/// One edit in progress: the store for blobs, the tree, the mtime of what is written and
/// the report.
pub(crate) struct Edit<'a> {
    pub(crate) store: &'a Store,
    pub(crate) tree: &'a mut Tree,
    pub(crate) mtime: i64,
    pub(crate) applied: &'a mut Applied,
}

impl Edit<'_> {
    /// Records one change for the log.
    pub(crate) fn log(&mut self, change: impl Into<String>) {
        self.applied.changes.push(change.into());
    }

    /// `mode` owned by `uid:gid`, with this edit's mtime.
    pub(crate) fn meta(&self, mode: u32, uid: u32, gid: u32) -> Metadata {
        Metadata {
            mode,
            uid,
            gid,
            mtime: self.mtime,
            xattrs: Default::default(),
        }
    }
}
