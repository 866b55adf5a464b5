//! Root filesystems: `debian::rootfs` configures an unpacked Debian package set inside
//! the sandbox and then applies the recipe's declarative options.
//!
//! - [`edit`]: the declarative options as pure edits of a [`imgbuild_store::Tree`]
//!   (users and groups, services, hostname, locale, timezone, apt sources) and the
//!   de-personalization every root filesystem gets.

pub mod edit;
