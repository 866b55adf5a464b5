//! imgbuild's builtins: one module per derivation kind.
//!
//! Each kind has two halves. Its **constructor** is a Rhai function that checks its
//! arguments and returns a derivation handle (nothing is built during evaluation). Its
//! **builder** turns the derivation plus its inputs' outputs (already in the store) into
//! a new output in the store. Builders never print: they write to the derivation's log
//! and report progress through the [`Reporter`] the caller provides.

mod build;
mod cloud_init;
mod config_drive;
mod context;
pub mod debian;
mod fetch;
mod http;
mod inventory;
mod iso_image;
mod local;
mod media;
mod merge;
mod network;
mod paths;
mod secrets;
mod tar;
mod text;
mod tree;
mod validate;
mod yaml;

use imgbuild_evaluator::rhai::Engine;
use imgbuild_evaluator::{Derivation, SharedState};

pub use build::{BuildContext, BuildError, InputOutput, NoReporter, Reporter};

/// A builder: realises one derivation kind.
pub type BuildFn = fn(&mut BuildContext<'_>) -> Result<imgbuild_store::OutputRecord, BuildError>;

/// Registers every builtin constructor into a recipe engine, with no lock file (every
/// `debian::packages` set is pending).
pub fn register(engine: &mut Engine, state: &SharedState) {
    register_with(engine, state, std::rc::Rc::new(debian::Session::default()));
}

/// Registers every builtin constructor, with the Debian session (lock file, pending
/// sets) of this evaluation.
pub fn register_with(
    engine: &mut Engine,
    state: &SharedState,
    session: std::rc::Rc<debian::Session>,
) {
    debian::register(engine, state, session);
    text::register(engine, state);
    local::register(engine, state);
    tree::register(engine, state);
    merge::register(engine, state);
    tar::register(engine, state);
    fetch::register(engine, state);
    iso_image::register(engine, state);
    cloud_init::register(engine, state);
    context::register(engine, state);
    config_drive::register(engine, state);
    inventory::register(engine, state);
}

/// Names of the builtin functions, for "did you mean" suggestions.
pub fn function_names() -> Vec<String> {
    [
        "text",
        "file",
        "dir",
        "tree",
        "merge",
        "tar",
        "fetch",
        "iso::image",
        "cloud_init::seed",
        "cloud_init::user_data",
        "context::iso",
        "config_drive::image",
        "debian::packages",
        "inventory::csv",
        "inventory::json",
    ]
    .iter()
    .map(|name| (*name).to_owned())
    .collect()
}

/// The builder for a derivation kind.
pub fn builder(kind: &str) -> Option<BuildFn> {
    match kind {
        text::KIND => Some(text::build),
        local::FILE_KIND => Some(local::build_file),
        local::DIR_KIND => Some(local::build_dir),
        tree::KIND => Some(tree::build),
        merge::KIND => Some(merge::build),
        tar::KIND => Some(tar::build),
        fetch::KIND => Some(fetch::build),
        iso_image::KIND => Some(iso_image::build),
        cloud_init::SEED_KIND => Some(cloud_init::build_seed),
        cloud_init::USER_DATA_KIND => Some(cloud_init::build_user_data),
        context::KIND => Some(context::build),
        config_drive::KIND => Some(config_drive::build),
        debian::KIND => Some(debian::build::build),
        _ => None,
    }
}

/// The file extension a derivation's output should carry when materialized.
pub fn file_extension(derivation: &Derivation) -> Option<&'static str> {
    match derivation.kind.as_str() {
        tar::KIND => Some("tar"),
        iso_image::KIND | cloud_init::SEED_KIND | context::KIND | config_drive::KIND => Some("iso"),
        _ => None,
    }
}
