//! Debian repositories for imgbuild: deb822 control data, dpkg version ordering,
//! `Release`/`InRelease` and their OpenPGP signatures, `Packages` indices, dependency
//! resolution, the lock file, and reading `.deb` archives.
//!
//! This crate does no I/O of its own beyond what its callers hand it (bytes, readers);
//! fetching, the store and the recipe surface live in `imgbuild-builtins`.

pub mod deb822;
pub mod deb;
pub mod trust;
pub mod version;
pub mod packages;
pub mod relations;
pub mod resolve;
