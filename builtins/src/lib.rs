//! imgbuild's builtins: one registry of everything a recipe can call and build.
//!
//! Each builtin has two halves. Its **constructor** is a Rhai function that checks its
//! arguments and returns a derivation handle (nothing is built during evaluation). Its
//! **builder** turns the derivation plus its inputs' outputs (already in the store) into
//! a new output in the store. Builders never print: they write to the derivation's log
//! and report progress through the engine's `Reporter`; they read nothing from the
//! machine but the `BuildConfig` in their context.
//!
//! [`BUILTINS`] is the one table: each entry names its Rhai functions, the derivation
//! kinds it creates (with their builders and output file extensions) and how it is
//! registered. Registration, "did you mean" names, builder lookup and result file names
//! all read it; a test checks that every function the engine knows has an entry and
//! every kind a builder.
//!
//! Builtins are grouped by domain:
//! - [`core`]: `text`, `file`, `dir`, `tree`, `merge`, `tar`, `fetch`, `secret` and the one HTTP
//!   download path;
//! - [`media`]: contextualization media — `iso::image`, `cloud_init::`, `context::`,
//!   `config_drive::`, `inventory::`, and what they share (network rendering, YAML,
//!   validation, password hashing);
//! - [`debian`]: `debian::packages`, resolution against repositories, fetch and unpack;
//! - [`rootfs`]: `debian::rootfs`, configuring a package set in the [`sandbox`] and
//!   applying declarative options;
//! - [`disk`]: `disk::image`; [`first_boot`]: `first_boot::agent`;
//! - [`provenance`]: `sbom::spdx`, `oci::image` and `sign`.
//!
//! [`lock`] is the lock file, with one section per kind of pinned request.

pub mod core;
pub mod debian;
pub mod disk;
pub mod first_boot;
pub mod lock;
pub mod media;
pub mod provenance;
pub mod rootfs;
pub mod sandbox;

use std::rc::Rc;

use imgbuild_engine::BuildFn;
use imgbuild_evaluator::rhai::Engine;
use imgbuild_evaluator::{Derivation, SharedState};

pub use lock::{LockFile, Update};

/// What every constructor may consult while a recipe is evaluated: the evaluation's
/// state and the lock file in force. Read-only: what the lock does not answer is
/// returned as [`imgbuild_evaluator::PendingRequest`]s, not recorded here.
#[derive(Clone)]
pub struct Registration {
    /// The evaluation's state (the graph being built).
    pub state: SharedState,
    /// The lock file in force and which of its entries to refresh.
    pub lock: Rc<LockInput>,
}

/// The lock file an evaluation reads, and which entries `imgbuild lock --update`
/// wants resolved again.
#[derive(Debug, Default)]
pub struct LockInput {
    /// The lock file read before evaluation (empty when there is none).
    pub file: LockFile,
    /// Entries to treat as missing.
    pub update: Update,
}

/// One derivation kind: its builder and how its output is named under `result/`.
pub struct Kind {
    /// The derivation kind (`text`, `cloud_init_seed`, ...).
    pub name: &'static str,
    /// Its builder's version (the derivations' `kind_version`): a remote worker
    /// refuses an action whose version differs from its own.
    pub version: u32,
    /// The builder that realises it.
    pub builder: BuildFn,
    /// The file extension of a file output (`iso`, `tar`), if any.
    pub extension: Option<&'static str>,
}

/// One builtin: the functions a recipe calls and the kinds they create.
pub struct Builtin {
    /// The Rhai functions, as recipes write them (`text`, `cloud_init::seed`).
    pub functions: &'static [&'static str],
    /// The derivation kinds its constructors create.
    pub kinds: &'static [Kind],
    /// Registers the functions into a recipe engine.
    pub register: fn(&mut Engine, &Registration),
}

const fn kind(
    name: &'static str,
    version: u32,
    builder: BuildFn,
    extension: Option<&'static str>,
) -> Kind {
    Kind {
        name,
        version,
        builder,
        extension,
    }
}

/// Every builtin.
pub static BUILTINS: &[Builtin] = &[
    Builtin {
        functions: &["text"],
        kinds: &[kind(
            core::text::KIND,
            core::text::VERSION,
            core::text::build,
            None,
        )],
        register: core::text::register,
    },
    Builtin {
        functions: &["file", "dir"],
        kinds: &[
            kind(
                core::local::FILE_KIND,
                core::local::VERSION,
                core::local::build_file,
                None,
            ),
            kind(
                core::local::DIR_KIND,
                core::local::VERSION,
                core::local::build_dir,
                None,
            ),
        ],
        register: core::local::register,
    },
    Builtin {
        functions: &["tree"],
        kinds: &[kind(
            core::tree::KIND,
            core::tree::VERSION,
            core::tree::build,
            None,
        )],
        register: core::tree::register,
    },
    Builtin {
        functions: &["merge"],
        kinds: &[kind(
            core::merge::KIND,
            core::merge::VERSION,
            core::merge::build,
            None,
        )],
        register: core::merge::register,
    },
    Builtin {
        functions: &["tar"],
        kinds: &[kind(
            core::tar::KIND,
            core::tar::VERSION,
            core::tar::build,
            Some("tar"),
        )],
        register: core::tar::register,
    },
    Builtin {
        functions: &["run"],
        kinds: &[kind(
            core::run::KIND,
            core::run::VERSION,
            core::run::build,
            None,
        )],
        register: core::run::register,
    },
    Builtin {
        functions: &["secret"],
        kinds: &[],
        register: core::secret::register,
    },
    Builtin {
        functions: &["fetch"],
        kinds: &[kind(
            core::fetch::KIND,
            core::fetch::VERSION,
            core::fetch::build,
            None,
        )],
        register: core::fetch::register,
    },
    Builtin {
        functions: &["iso::image"],
        kinds: &[kind(
            media::iso_image::KIND,
            media::iso_image::VERSION,
            media::iso_image::build,
            Some("iso"),
        )],
        register: media::iso_image::register,
    },
    Builtin {
        functions: &["cloud_init::seed", "cloud_init::user_data"],
        kinds: &[
            kind(
                media::cloud_init::SEED_KIND,
                media::cloud_init::VERSION,
                media::cloud_init::build_seed,
                Some("iso"),
            ),
            kind(
                media::cloud_init::USER_DATA_KIND,
                media::cloud_init::VERSION,
                media::cloud_init::build_user_data,
                None,
            ),
        ],
        register: media::cloud_init::register,
    },
    Builtin {
        functions: &["context::iso"],
        kinds: &[kind(
            media::context::KIND,
            media::context::VERSION,
            media::context::build,
            Some("iso"),
        )],
        register: media::context::register,
    },
    Builtin {
        functions: &["config_drive::image"],
        kinds: &[kind(
            media::config_drive::KIND,
            media::config_drive::VERSION,
            media::config_drive::build,
            Some("iso"),
        )],
        register: media::config_drive::register,
    },
    Builtin {
        functions: &["inventory::csv", "inventory::json"],
        kinds: &[],
        register: media::inventory::register,
    },
    Builtin {
        functions: &["disk::image"],
        kinds: &[
            kind(disk::RAW_KIND, disk::VERSION, disk::build_raw, Some("raw")),
            kind(
                disk::QCOW2_KIND,
                disk::VERSION,
                disk::build_qcow2,
                Some("qcow2"),
            ),
            kind(
                disk::VMDK_KIND,
                disk::VERSION,
                disk::build_vmdk,
                Some("vmdk"),
            ),
            kind(disk::VHD_KIND, disk::VERSION, disk::build_vhd, Some("vhd")),
        ],
        register: disk::register,
    },
    Builtin {
        functions: &["first_boot::agent"],
        kinds: &[kind(
            first_boot::KIND,
            first_boot::VERSION,
            first_boot::build,
            None,
        )],
        register: first_boot::register,
    },
    Builtin {
        functions: &["debian::packages", "debian::rootfs"],
        kinds: &[
            kind(debian::KIND, debian::VERSION, debian::build::build, None),
            kind(
                rootfs::configure::KIND,
                rootfs::configure::VERSION,
                rootfs::configure::build,
                None,
            ),
            kind(rootfs::KIND, rootfs::VERSION, rootfs::build, None),
        ],
        register: debian::register,
    },
    Builtin {
        functions: &["sbom::spdx"],
        kinds: &[kind(
            provenance::sbom::SPDX_KIND,
            provenance::sbom::VERSION,
            provenance::sbom::build_spdx,
            Some("spdx.json"),
        )],
        register: provenance::sbom::register,
    },
    Builtin {
        functions: &["oci::image"],
        kinds: &[kind(
            provenance::oci::KIND,
            provenance::oci::VERSION,
            provenance::oci::build,
            None,
        )],
        register: provenance::oci::register,
    },
    Builtin {
        functions: &["sign"],
        kinds: &[kind(
            provenance::sign::KIND,
            provenance::sign::VERSION,
            provenance::sign::build,
            None,
        )],
        register: provenance::sign::register,
    },
];

/// Registers every builtin constructor into a recipe engine, with no lock file (every
/// `debian::packages` set is pending).
pub fn register(engine: &mut Engine, state: &SharedState) {
    register_with(engine, state, Rc::new(LockInput::default()));
}

/// Registers every builtin constructor, reading `lock`.
pub fn register_with(engine: &mut Engine, state: &SharedState, lock: Rc<LockInput>) {
    let registration = Registration {
        state: state.clone(),
        lock,
    };
    for builtin in BUILTINS {
        (builtin.register)(engine, &registration);
    }
}

/// Names of the builtin functions, for "did you mean" suggestions.
pub fn function_names() -> Vec<String> {
    BUILTINS
        .iter()
        .flat_map(|builtin| builtin.functions.iter().map(|name| (*name).to_owned()))
        .collect()
}

fn find_kind(name: &str) -> Option<&'static Kind> {
    BUILTINS
        .iter()
        .flat_map(|builtin| builtin.kinds.iter())
        .find(|kind| kind.name == name)
}

/// The version of the builder for a derivation kind.
pub fn kind_version(kind: &str) -> Option<u32> {
    find_kind(kind).map(|kind| kind.version)
}

/// Whether a kind's builder reads this machine (local files): it never runs on a
/// remote worker.
pub fn is_local_kind(kind: &str) -> bool {
    kind == core::local::FILE_KIND || kind == core::local::DIR_KIND
}

/// The builder for a derivation kind (the engine's [`imgbuild_engine::Builders`]).
pub fn builder(kind: &str) -> Option<BuildFn> {
    find_kind(kind).map(|kind| kind.builder)
}

/// The file extension a derivation's output should carry when materialized.
pub fn file_extension(derivation: &Derivation) -> Option<&'static str> {
    find_kind(&derivation.kind).and_then(|kind| kind.extension)
}
