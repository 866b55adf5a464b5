//! `debian::packages(#{ ... })`: a resolved, pinned, verified set of Debian packages
//! unpacked into a root tree with the dpkg database.
//!
//! ```rhai
//! let base = debian::packages(#{
//!     name: "web",                       // key in the lock file (default "packages")
//!     suite: "bookworm",                 // + bookworm-updates and bookworm-security
//!     components: ["main"],
//!     architecture: "amd64",
//!     variant: "minbase",                // custom, essential, apt, minbase/required, buildd, important, standard
//!     include: ["systemd-sysv", "nginx", "openssh-server"],
//!     exclude: [],
//!     recommends: false,
//!     // suites: ["bookworm"],           // instead of suite: exactly these suites
//!     // mirror: "http://...",           // unless --mirror / IMGBUILD_DEBIAN_MIRROR; else host apt sources
//!     // keyring: "keys/team.gpg",       // else the host's Debian archive keyring
//!     // trusted: true,                  // accept unsigned repositories (explicitly)
//!     // repositories: [#{ url: "https://apt.example.org/debian", suite: "stable",
//!     //                   components: ["main"], keyring: "keys/team.gpg" }],
//! });
//! ```
//!
//! Evaluation never touches the network. The package list comes from `RECIPE.lock`
//! ([`lock`]); a set missing from it (or whose request changed) is returned as a
//! pending request (section `debian`, the [`request::SetRequest`] as data): `imgbuild
//! build` and `imgbuild lock` resolve pending sets against the live repositories
//! ([`repository`]), write the lock file and evaluate again. The derivation's identity
//! is the locked package list (names, versions, SHA-256s); mirrors are locations.
//!
//! The builder ([`build`]) fetches missing `.deb`s in parallel into the store (each
//! checked for size and SHA-256 before it is kept, and found again by its SHA-256 on
//! later builds, so a locked recipe rebuilds offline), then unpacks them into one tree.

pub mod arguments;
pub mod build;
pub mod lock;
pub mod repository;
pub mod request;
pub mod sources;

use std::path::PathBuf;

use imgbuild_evaluator::rhai::{Engine, EvalAltResult, Map, Module, NativeCallContext};
use imgbuild_evaluator::{
    ArgMap, BuiltinError, DerivationHandle, DerivationSpec, PendingRequest, SharedState,
};

use crate::LockInput;
use arguments::{Contents, FileLocation, Locations, PackageSet, PinnedPackage};
use request::{ExtraRepository, SetRequest};
use sources::Overrides;

/// The lock file section (and pending-request section) of package sets.
pub const SECTION: &str = "debian";

/// The derivation kind of `debian::packages`.
pub const KIND: &str = "debian_packages";
/// Bump when the unpacked tree for the same packages changes.
pub const VERSION: u32 = 1;

const KEYS: &[&str] = &[
    "name",
    "suite",
    "suites",
    "components",
    "architecture",
    "variant",
    "include",
    "exclude",
    "recommends",
    "mirror",
    "security_mirror",
    "keyring",
    "trusted",
    "repositories",
];

const REPOSITORY_KEYS: &[&str] = &["url", "suite", "components", "keyring", "trusted"];

pub(crate) fn register(engine: &mut Engine, registration: &crate::Registration) {
    let mut module = Module::new();
    let packages_state = registration.state.clone();
    let lock = registration.lock.clone();
    module.set_native_fn(
        "packages",
        move |context: NativeCallContext,
              options: Map|
              -> Result<DerivationHandle, Box<EvalAltResult>> {
            let spec = packages_spec(&packages_state, &context, &lock, options)
                .map_err(|error| crate::core::at_call(&context, error))?;
            Ok(packages_state.add(&context, spec))
        },
    );
    crate::rootfs::register_into(&mut module, registration);
    engine.register_static_module("debian", module.into());
}

fn packages_spec(
    state: &SharedState,
    context: &NativeCallContext,
    lock: &LockInput,
    options: Map,
) -> Result<DerivationSpec, BuiltinError> {
    let arguments = ArgMap::new("debian::packages", options, KEYS)?;
    let name = arguments
        .optional_string("name")?
        .unwrap_or_else(|| "packages".to_owned());
    if name.is_empty() || name.contains(['/', '\0']) {
        return Err(BuiltinError::new(format!(
            "debian::packages: `name` {name:?} must be a non-empty name without `/`"
        )));
    }
    let suites = match (arguments.optional_string("suite")?, arguments.string_list("suites")?) {
        (Some(_), suites) if !suites.is_empty() => {
            return Err(BuiltinError::new(
                "debian::packages: give `suite` (which adds its -updates and -security suites) or `suites`, not both",
            ))
        }
        (_, suites) if !suites.is_empty() => suites,
        (suite, _) => {
            let suite = suite.unwrap_or_else(|| "bookworm".to_owned());
            if matches!(suite.as_str(), "sid" | "unstable" | "experimental" | "rc-buggy") {
                vec![suite]
            } else {
                vec![
                    suite.clone(),
                    format!("{suite}-updates"),
                    format!("{suite}-security"),
                ]
            }
        }
    };
    let mut components = arguments.string_list("components")?;
    if components.is_empty() {
        components.push("main".to_owned());
    }
    let architecture = arguments
        .optional_string("architecture")?
        .unwrap_or_else(|| "amd64".to_owned());
    let variant = arguments
        .optional_string("variant")?
        .unwrap_or_else(|| "minbase".to_owned());
    if imgbuild_apt::resolve::Variant::parse(&variant).is_none() {
        let known = imgbuild_apt::resolve::Variant::NAMES;
        let mut error = BuiltinError::new(format!("debian::packages: unknown variant `{variant}`"));
        error = error.with_help(
            match imgbuild_evaluator::suggest(&variant, known.iter().copied()) {
                Some(near) => format!("did you mean `{near}`? (variants: {})", known.join(", ")),
                None => format!("variants: {}", known.join(", ")),
            },
        );
        return Err(error);
    }
    let include = arguments.string_list("include")?;
    let exclude = arguments.string_list("exclude")?;
    for entry in include.iter().chain(&exclude) {
        let name = entry.split('=').next().unwrap_or("");
        if !imgbuild_apt::relations::valid_name(name) {
            return Err(BuiltinError::new(format!(
                "debian::packages: `{entry}` is not a package name (or `name=version`)"
            )));
        }
    }
    let keyrings: Vec<PathBuf> = arguments
        .string_list("keyring")?
        .iter()
        .map(|path| state.local_path(context, path))
        .collect::<Result<_, _>>()?;
    let mut extra = Vec::new();
    if let Some(value) = arguments.get("repositories") {
        let Some(items) = value
            .read_lock::<imgbuild_evaluator::rhai::Array>()
            .map(|array| array.clone())
        else {
            return Err(arguments.type_error(
                "repositories",
                "an array of maps",
                value.type_name(),
            ));
        };
        for item in items {
            let Some(map) = item.read_lock::<Map>().map(|map| map.clone()) else {
                return Err(arguments.type_error(
                    "repositories",
                    "an array of maps",
                    item.type_name(),
                ));
            };
            let repository = ArgMap::new("debian::packages repository", map, REPOSITORY_KEYS)?;
            let url = repository.required_string("url")?;
            if !(url.starts_with("http://")
                || url.starts_with("https://")
                || url.starts_with("file://"))
            {
                return Err(BuiltinError::new(format!(
                    "debian::packages: repository url `{url}` must start with http://, https:// or file://"
                )));
            }
            let mut components = repository.string_list("components")?;
            if components.is_empty() {
                components.push("main".to_owned());
            }
            extra.push(ExtraRepository {
                url,
                suite: repository.required_string("suite")?,
                components,
                keyrings: repository
                    .string_list("keyring")?
                    .iter()
                    .map(|path| state.local_path(context, path))
                    .collect::<Result<_, _>>()?,
                trusted: repository.optional_bool("trusted")?.unwrap_or(false),
            });
        }
    }
    let request = SetRequest {
        name: name.clone(),
        suites: suites.clone(),
        components,
        architecture: architecture.clone(),
        variant,
        include,
        exclude,
        recommends: arguments.optional_bool("recommends")?.unwrap_or(false),
        keyrings,
        trusted: arguments.optional_bool("trusted")?.unwrap_or(false),
        overrides: Overrides {
            mirror: arguments.optional_string("mirror")?,
            security_mirror: arguments.optional_string("security_mirror")?,
        },
        extra,
    };
    let digest = request.digest();
    let refresh = lock.update.wants(&name);
    let locked = lock
        .file
        .debian
        .set(&name)
        .filter(|set| set.request == digest && !refresh);
    let mut locations = Locations {
        suites: suites.clone(),
        mirror: request.overrides.mirror.clone(),
        security_mirror: request.overrides.security_mirror.clone(),
        ..Locations::default()
    };
    let contents = match locked {
        Some(set) => {
            locations.suites = set
                .repositories
                .iter()
                .map(|repository| repository.suite.clone())
                .collect();
            // Explicit URLs of the recipe's own repositories (after the suites).
            locations.urls = vec![String::new(); suites.len()];
            locations
                .urls
                .extend(request.extra.iter().map(|extra| extra.url.clone()));
            locations.files = set
                .packages
                .iter()
                .map(|package| FileLocation {
                    repository: package.repository,
                    filename: package.filename.clone(),
                })
                .collect();
            Contents::Pinned(
                set.packages
                    .iter()
                    .map(|package| PinnedPackage {
                        name: package.name.clone(),
                        version: package.version.clone(),
                        architecture: package.architecture.clone(),
                        sha256: package.sha256.clone(),
                        size: package.size,
                    })
                    .collect(),
            )
        }
        None => {
            state.add_pending(PendingRequest {
                section: SECTION.to_owned(),
                name: request.name.clone(),
                request: request.to_value(),
                origin: state.origin(context.call_source(), context.call_position()),
            });
            Contents::Unlocked(digest)
        }
    };
    let args = PackageSet {
        architecture,
        contents,
    }
    .to_args();
    let mut spec =
        DerivationSpec::derived(KIND, VERSION, name, args, imgbuild_evaluator::Inputs::new());
    spec.location = Some(locations.to_value());
    Ok(spec)
}
