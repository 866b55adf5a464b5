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
//! ([`lock`]); a set missing from it (or whose request changed) is *pending*: `imgbuild
//! build` and `imgbuild lock` resolve pending sets against the live repositories
//! ([`repository`]), write the lock file and evaluate again. The derivation's identity
//! is the locked package list (names, versions, SHA-256s); mirrors are locations.
//!
//! The builder ([`build`]) fetches missing `.deb`s in parallel into the store (each
//! checked for size and SHA-256 before it is kept, and found again by its SHA-256 on
//! later builds, so a locked recipe rebuilds offline), then unpacks them into one tree.

pub mod build;
pub mod lock;
pub mod repository;
pub mod sources;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;

use imgbuild_evaluator::rhai::{Engine, EvalAltResult, Map, Module, NativeCallContext};
use imgbuild_evaluator::{
    ArgMap, BuiltinError, DerivationHandle, DerivationSpec, SharedState, Value,
};

use crate::media;
use lock::LockFile;
use repository::SetRequest;
use sources::Overrides;

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

/// Per-evaluation state of the Debian builtins: the lock file in force and the sets
/// that still need resolving.
#[derive(Debug, Default)]
pub struct Session {
    /// The lock file read before evaluation (if any).
    pub lock: Option<LockFile>,
    /// Sets to resolve again even if locked (`imgbuild lock --update [NAME]`).
    pub update: Update,
    /// Sets the recipe asked for that the lock does not answer.
    pub pending: RefCell<Vec<SetRequest>>,
}

/// Which locked sets `--update` refreshes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Update {
    /// None: use the lock.
    #[default]
    Nothing,
    /// Every set.
    All,
    /// The set with this name.
    Set(String),
}

pub(crate) fn register(engine: &mut Engine, state: &SharedState, session: Rc<Session>) {
    let mut module = Module::new();
    let packages_state = state.clone();
    module.set_native_fn(
        "packages",
        move |context: NativeCallContext,
              options: Map|
              -> Result<DerivationHandle, Box<EvalAltResult>> {
            let spec = packages_spec(&packages_state, &context, &session, options)
                .map_err(|error| media::at_call(&context, error))?;
            Ok(packages_state.add(spec))
        },
    );
    engine.register_static_module("debian", module.into());
}

fn packages_spec(
    state: &SharedState,
    context: &NativeCallContext,
    session: &Session,
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
    if imgbuild_debian::resolve::Variant::parse(&variant).is_none() {
        let known = imgbuild_debian::resolve::Variant::NAMES;
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
        if !imgbuild_debian::relations::valid_name(name) {
            return Err(BuiltinError::new(format!(
                "debian::packages: `{entry}` is not a package name (or `name=version`)"
            )));
        }
    }
    let keyrings: Vec<PathBuf> = arguments
        .string_list("keyring")?
        .iter()
        .map(|path| state.local_path(context, path))
        .collect();
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
            extra.push(repository::ExtraRepository {
                url,
                suite: repository.required_string("suite")?,
                components,
                keyrings: repository
                    .string_list("keyring")?
                    .iter()
                    .map(|path| state.local_path(context, path))
                    .collect(),
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
    let refresh = match &session.update {
        Update::Nothing => false,
        Update::All => true,
        Update::Set(only) => only == &name,
    };
    let locked = session
        .lock
        .as_ref()
        .and_then(|lock| lock.set(&name))
        .filter(|set| set.request == digest && !refresh);
    let mut args = BTreeMap::new();
    args.insert("architecture".to_owned(), Value::String(architecture));
    let mut location = BTreeMap::new();
    location.insert(
        "suites".to_owned(),
        Value::List(suites.iter().cloned().map(Value::String).collect()),
    );
    let overrides = &request.overrides;
    for (key, value) in [
        ("mirror", &overrides.mirror),
        ("security_mirror", &overrides.security_mirror),
    ] {
        if let Some(value) = value {
            location.insert(key.to_owned(), Value::String(value.clone()));
        }
    }
    match locked {
        Some(set) => {
            let packages: Vec<Value> = set
                .packages
                .iter()
                .map(|package| {
                    Value::List(vec![
                        Value::String(package.name.clone()),
                        Value::String(package.version.clone()),
                        Value::String(package.architecture.clone()),
                        Value::String(package.sha256.clone()),
                        Value::Int(package.size as i64),
                    ])
                })
                .collect();
            args.insert("packages".to_owned(), Value::List(packages));
            location.insert(
                "files".to_owned(),
                Value::List(
                    set.packages
                        .iter()
                        .map(|package| {
                            Value::List(vec![
                                Value::Int(package.repository as i64),
                                Value::String(package.filename.clone()),
                            ])
                        })
                        .collect(),
                ),
            );
            location.insert(
                "suites".to_owned(),
                Value::List(
                    set.repositories
                        .iter()
                        .map(|repository| Value::String(repository.suite.clone()))
                        .collect(),
                ),
            );
            // Explicit URLs of the recipe's own repositories (after the suites).
            let mut urls: Vec<Value> = vec![Value::String(String::new()); suites.len()];
            urls.extend(
                request
                    .extra
                    .iter()
                    .map(|extra| Value::String(extra.url.clone())),
            );
            location.insert("urls".to_owned(), Value::List(urls));
        }
        None => {
            args.insert("unlocked".to_owned(), Value::String(digest));
            session.pending.borrow_mut().push(request);
        }
    }
    let mut spec =
        DerivationSpec::derived(KIND, VERSION, name, args, imgbuild_evaluator::Inputs::new());
    spec.location = Some(Value::Map(location));
    Ok(spec)
}
