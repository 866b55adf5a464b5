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
