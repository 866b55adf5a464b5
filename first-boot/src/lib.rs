//! The first-boot agent (see the crate's README section in the repository's README):
//!
//! - [`model`] — what a medium asks of an instance, whichever medium it came from;
//! - [`media`] — finding media by label and reading them (NoCloud, OpenNebula CONTEXT,
//!   OpenStack config-2) into an [`model::Instance`];
//! - [`apply`] — applying an instance to a root directory (`/` on a real boot).
//!
//! It links neither the recipe language nor the store: it is a small program of its own.

pub mod apply;
pub mod media;
pub mod model;

/// The command line entry point; returns the exit code.
pub fn run(_arguments: Vec<std::ffi::OsString>) -> i32 {
    0
}
