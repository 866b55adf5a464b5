//! The Debian section of the lock file (`"debian": { "sets": [...] }`): for every
//! package set, the request it answers, the repositories' signed `Release` data and
//! index digests it was resolved from, and every package with name, version,
//! architecture, file name, size and SHA-256. Builds use it, so the same recipe builds
//! the same bytes next month. No mirror is recorded: where packages come from is a
//! build-time choice (`--mirror`, host apt sources); what they are is pinned by their
//! SHA-256. The file around the sections is [`crate::lock`].

use serde::{Deserialize, Serialize};

/// The `debian` section: package sets, sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DebianSection {
    /// Package sets, sorted by name.
    pub sets: Vec<LockedSet>,
}

impl DebianSection {
    /// The set called `name`.
    pub fn set(&self, name: &str) -> Option<&LockedSet> {
        self.sets.iter().find(|set| set.name == name)
    }

    /// Adds or replaces the set with `set.name`.
    pub fn upsert(&mut self, set: LockedSet) {
        self.sets.retain(|existing| existing.name != set.name);
        self.sets.push(set);
    }

    /// Puts sets and their packages in canonical order.
    pub fn sort(&mut self) {
        self.sets.sort_by(|left, right| left.name.cmp(&right.name));
        for set in &mut self.sets {
            set.packages
                .sort_by(|left, right| left.name.cmp(&right.name));
        }
    }
}

/// One resolved package set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedSet {
    /// The set's name (the `name` argument of `debian::packages`).
    pub name: String,
    /// BLAKE3 of the canonical request; a changed request makes the entry stale.
    pub request: String,
    /// Target architecture.
    pub architecture: String,
    /// The repositories, in the request's order.
    pub repositories: Vec<LockedRepository>,
    /// The packages, sorted by name.
    pub packages: Vec<LockedPackage>,
}

/// A repository (one suite) as it was when the set was resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedRepository {
    /// The suite as requested (`bookworm-security`).
    pub suite: String,
    /// `Codename` from its Release.
    pub codename: String,
    /// `Date` from its Release (ISO 8601, UTC).
    pub date: String,
    /// SHA-256 of the signed Release text.
    pub release_sha256: String,
    /// Fingerprint of the key that signed it ("" for a repository marked trusted).
    pub signed_by: String,
    /// The `Packages` indices used.
    pub indices: Vec<LockedIndex>,
}

/// One `Packages` index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedIndex {
    /// Path below `dists/<suite>/`.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256.
    pub sha256: String,
}

/// One package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedPackage {
    /// Package name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Architecture (`amd64`, `all`).
    pub architecture: String,
    /// Index into the set's repositories.
    pub repository: usize,
    /// Path below the repository's base URI.
    pub filename: String,
    /// Size of the `.deb`.
    pub size: u64,
    /// SHA-256 of the `.deb`.
    pub sha256: String,
}
