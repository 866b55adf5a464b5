//! `imgbuild-remote`: imgbuild on an existing Remote Execution API (REAPI v2) engine,
//! such as BuildGrid.
//!
//! - [`Client`] speaks the engine's Capabilities, CAS, ByteStream, ActionCache and
//!   Execution services (SHA-256, which every engine offers), verifying every blob.
//! - [`transfer`] moves store outputs to and from the CAS: the store's own objects,
//!   named by SHA-256 on the wire ([`digest::DigestMap`] remembers the mapping), plus an
//!   output description listing them.
//! - [`action`] maps a derivation to an Action whose digest is a function of its cache
//!   key, so the ActionCache is keyed like the store.
//! - [`RemoteExecutor`] is the engine's executor seam with the remote behind it: cache
//!   lookups and uploads, and (with `--remote-exec`) execution on the engine's workers.
//! - [`worker`] is `imgbuild worker`, a bot on the engine's Remote Workers API.
//!
//! Nothing here is hashed into an identity: endpoints, headers and worker settings
//! are resolved at the edge, like mirrors.

pub mod action;
mod bots;
mod bytestream;
mod client;
pub mod digest;
mod error;
mod execute;
mod executor;
pub mod transfer;
pub mod worker;

pub use client::{Client, Settings};
pub use digest::WireDigest;
pub use error::RemoteError;
pub use executor::{Counters, Options, RemoteExecutor};
pub use worker::{serve, Machine, WorkerOptions};
