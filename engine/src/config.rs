//! Settings from the machine, resolved once at the edge and handed to every builder.
//!
//! A builder must not read environment variables or host configuration files: the same
//! builder has to give the same output on a remote worker. Whatever a build legitimately
//! needs from the machine it runs on — whether the network may be used, which mirror
//! serves a package archive — is resolved by the CLI (or a worker) into a
//! [`BuildConfig`] and carried by the [`crate::BuildContext`]. None of it is part of an
//! identity: mirrors are locations, like a fixed output's URL.

/// What the edge resolved for this build.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BuildConfig {
    /// `--offline`: builders must not use the network.
    pub offline: bool,
    /// Where package archives are fetched from.
    pub mirrors: Mirrors,
    /// How build steps that run programs are sandboxed on this machine.
    pub sandbox: SandboxConfig,
    /// The host programs builders may run (`mke2fs`, `qemu-img`), found by the edge.
    pub tools: Tools,
}

/// Host programs by name, as the edge found them on `PATH`; builders never search.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tools {
    /// Program name → its path.
    pub programs: std::collections::BTreeMap<String, std::path::PathBuf>,
}

impl Tools {
    /// The path of `name`, if the edge found it.
    pub fn get(&self, name: &str) -> Option<&std::path::Path> {
        self.programs.get(name).map(std::path::PathBuf::as_path)
    }
}

/// What the sandbox needs from the machine: the helper program, the ids the user
/// namespace maps, and where checkouts go. Resolved by the CLI (or a worker).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SandboxConfig {
    /// The program run as the sandbox helper (`imgbuild` itself, with `__sandbox`).
    pub helper: Option<std::path::PathBuf>,
    /// How ids are mapped into the user namespace.
    pub ids: IdMapping,
    /// Where checkouts are written (default: the store's scratch directory).
    pub scratch: Option<std::path::PathBuf>,
}

/// How the sandbox maps user and group ids.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum IdMapping {
    /// Not resolved (library use, tests): a sandboxed step fails saying so.
    #[default]
    Unresolved,
    /// Running as root: ids 0–65535 map to themselves, written directly.
    Root,
    /// An ordinary user: namespace id 0 is the user, 1–65535 a subordinate range,
    /// mapped with `newuidmap`/`newgidmap`.
    Subordinate {
        /// The user's uid and gid.
        uid: u32,
        /// The user's gid.
        gid: u32,
        /// First subordinate uid (at least 65535 of them).
        sub_uid: u32,
        /// First subordinate gid (at least 65535 of them).
        sub_gid: u32,
        /// The `newuidmap` program.
        newuidmap: std::path::PathBuf,
        /// The `newgidmap` program.
        newgidmap: std::path::PathBuf,
    },
    /// The machine cannot give this user a namespace with many ids.
    Unavailable {
        /// What is missing.
        reason: String,
        /// The exact fix.
        help: String,
    },
}

/// Package archive locations: explicit overrides, then what the host is configured with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mirrors {
    /// `--mirror` / `IMGBUILD_DEBIAN_MIRROR`: the Debian mirror for every suite except
    /// `*-security`; overrides the recipe and the host.
    pub debian: Option<String>,
    /// `IMGBUILD_DEBIAN_SECURITY_MIRROR`: the mirror for `*-security` suites.
    pub debian_security: Option<String>,
    /// The repositories the host's package manager lists (its apt sources), in order.
    pub host: Vec<HostRepository>,
}

/// One repository the host is configured with (a `deb` line of its apt sources).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRepository {
    /// The repository's base URI (no trailing `/`).
    pub uri: String,
    /// Its suites.
    pub suites: Vec<String>,
    /// Its components.
    pub components: Vec<String>,
}
