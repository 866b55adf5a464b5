//! The derivation model: what an evaluated recipe is, without the recipe language.
//!
//! A [`Derivation`] is `{ kind, kind_version, name, args, inputs }` with canonical
//! [`Value`] arguments; a [`Graph`] is an arena of them in topological order with the
//! recipe's named outputs; [`identity`] holds the versioned canonical encoding behind
//! every recipe identity and cache key. Each derivation also remembers its [`Origin`],
//! the place in the recipe that constructed it, outside its identity.
//!
//! This crate is the half of the evaluator that the build engine and a remote worker
//! need: it depends on no Rhai and no store, so `imgbuild-engine` can depend on it and
//! still not link the recipe language (`tests/architecture.rs` checks both).

mod decode;
mod graph;
pub mod identity;
mod origin;
mod value;

pub use decode::{decode_derivation, DecodeError, Decoded};
pub use graph::{Derivation, DrvId, Graph, Node, Output};
pub use identity::{encode_derivation, encode_value, hash_derivation, Domain, Identity};
pub use origin::Origin;
pub use value::{Sealed, Value};
