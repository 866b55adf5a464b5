//! Debian repositories for imgbuild: deb822 control data, dpkg version ordering,
//! `Release`/`InRelease` and their OpenPGP signatures, `Packages` indices, dependency
//! resolution, the lock file, reading `.deb` archives, and the packages installed in a
//! root tree (`installed`, for comparing two images).
//!
//! Apart from reading keyring files (`trust::Keyring`), the crate does no I/O of its own:
//! callers hand it bytes and readers; fetching, the store and the recipe surface live in
//! `imgbuild-builtins`.

pub mod deb;
pub mod deb822;
pub mod dpkg_db;
pub mod installed;
pub mod packages;
pub mod relations;
pub mod resolve;
pub mod trust;
pub mod version;
