//! The imgbuild recipe evaluator.
//!
//! A recipe is a Rhai script. Evaluating it yields a [`Graph`] of [`Derivation`]s with
//! named outputs. This crate owns the Rhai engine set-up and its limits, module
//! resolution, the derivation values and graph (the Rhai-free `imgbuild-derivation` crate in
//! `evaluator/derivation/`, re-exported here), and diagnostics with source spans. It does no I/O of its own apart from
//! reading the recipe and the modules it imports, and, for [`doc`], the modules of a
//! library; builtins (registered by the caller) record what local files they read.

mod args;
mod diagnostics;
pub mod doc;
mod evaluate;
pub mod libraries;
mod limits;
mod resolver;
mod state;

pub use args::{friendly_type_name, suggest, ArgMap, BuiltinError};
pub use diagnostics::{display_path, span_at, Location, RecipeDiagnostic};
pub use evaluate::{evaluate, EvalOptions, Evaluation, Limits, Registrar};
pub use imgbuild_derivation::{
    encode_derivation, encode_value, hash_derivation, Derivation, Domain, DrvId, Graph, Identity,
    Node, Origin, Output, Sealed, Value,
};
pub use limits::{
    count_allocations_with, on_large_stack, AllocationCount, MAX_VALUE_DEPTH, STACK_SIZE,
};
pub use rhai;
pub use state::{
    is_secret_field, DerivationHandle, DerivationSpec, EvalState, Inputs, PendingRequest,
    SecretKeySource, SharedState,
};
