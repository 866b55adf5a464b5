//! Dependency resolution: which packages (and versions) a request installs, decided by
//! resolvo's CDCL SAT solver the way apt decides it.
//!
//! # What apt does, and how it is modelled
//!
//! - **One candidate per package.** apt installs each package's *candidate*: the
//!   highest version among its sources (all at the default pin priority). It never
//!   falls back to an older version. So each real package name offers one solvable:
//!   its candidate, or the version the request pins (`name=version`).
//! - **Depends / Pre-Depends** (and Recommends when asked): every group of
//!   alternatives becomes one requirement, the union of its alternatives in their
//!   written order, which is the order the solver tries them (apt also prefers the
//!   first alternative).
//! - **Provides.** A dependency on `x` is satisfied by the package `x` or by any
//!   package providing `x` (a versioned dependency only by versioned provides that
//!   satisfy it). Resolvo wants all candidates of one requirement to share a name, so
//!   a dependency targets a *capability* name `x`, whose candidates are proxies —
//!   "`x` itself" and "`x` via `p`" — each requiring exactly one real package. The
//!   capability allows several proxies at once; the real name allows one version.
//!   Proxies are ordered: the package itself, then providers by `Priority`, then name.
//! - **Conflicts / Breaks** become constraints: the conflicting real package must not
//!   be installed in a matching version, and neither may any (other) package providing
//!   the conflicting name (unversioned conflicts; versioned ones only hit versioned
//!   provides that match). A package's conflicts with itself are ignored.
//! - **Multi-Arch**, single architecture: packages of the target architecture and
//!   `all` are candidates; `x:any` is satisfied by `x` only when `x` is
//!   `Multi-Arch: allowed`; `x:native` and `x:<target>` are plain `x`; any other
//!   architecture qualifier has no candidates.
//! - **Variants** follow mmdebstrap: `essential` (every `Essential: yes` package),
//!   `apt` (+ apt), `required`/`minbase` (+ every `Priority: required`), `buildd`
//!   (+ build-essential), `important` (+ `Priority: important`), `standard`
//!   (+ `Priority: standard`); `custom` is only what `include` names.
//!
//! An unsatisfiable request is an error whose text is resolvo's explanation tree
//! rendered with package names and versions ("nginx 1.22.1-9 requires libssl3 (>= 3),
//! for which no candidates were found" ...). Unknown names in the request are
//! reported first, with the nearest known names.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use resolvo::{
    Candidates, Condition, ConditionId, ConditionalRequirement, Dependencies, DependencyProvider,
    Interner, KnownDependencies, NameId, Problem, Requirement, SolvableId, Solver, SolverCache,
    StringId, UnsolvableOrCancelled, VersionSetId, VersionSetUnionId,
};

use crate::packages::{MultiArch, Package, Priority};
use crate::relations::{self, Alternatives, ArchQualifier, Operator, Relation};
use crate::version::Version;

/// A base set of packages, as mmdebstrap names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// Only what `include` names.
    Custom,
    /// Every `Essential: yes` package.
    Essential,
    /// `essential` + apt.
    Apt,
    /// `apt` + every `Priority: required` package (also called `minbase`).
    Required,
    /// `required` + build-essential.
    Buildd,
    /// `required` + every `Priority: important` package.
    Important,
    /// `important` + every `Priority: standard` package.
    Standard,
}

impl Variant {
    /// Parses a variant name (`custom`, `essential`, `apt`, `minbase`/`required`,
    /// `buildd`, `important`, `standard`).
    pub fn parse(name: &str) -> Option<Variant> {
        Some(match name {
            "custom" => Variant::Custom,
            "essential" => Variant::Essential,
            "apt" => Variant::Apt,
            "minbase" | "required" => Variant::Required,
            "buildd" => Variant::Buildd,
            "important" => Variant::Important,
            "standard" => Variant::Standard,
            _ => return None,
        })
    }

    /// The names accepted by [`Variant::parse`].
    pub const NAMES: &'static [&'static str] = &[
        "custom",
        "essential",
        "apt",
        "minbase",
        "required",
        "buildd",
        "important",
        "standard",
    ];
}

/// What to install.
#[derive(Debug, Clone)]
pub struct Request {
    /// The base set.
    pub variant: Variant,
    /// Extra packages: `name` or `name=version`.
    pub include: Vec<String>,
    /// Packages that must not be installed (an error if something needs them).
    pub exclude: Vec<String>,
    /// Whether Recommends are installed too.
    pub recommends: bool,
    /// The target architecture (`amd64`, ...).
    pub architecture: String,
}

/// Why a request cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// Names in the request that no index has.
    #[error("{}", describe_unknown(.0))]
    Unknown(Vec<(String, Vec<String>)>),
    /// A pinned version that no index has.
    #[error("`{name}={version}`: no index has that version (available: {available})")]
    UnknownVersion {
        /// The package.
        name: String,
        /// The pinned version.
        version: String,
        /// The versions the indices have.
        available: String,
    },
    /// A malformed `include` entry.
    #[error("`{0}` is not `name` or `name=version`")]
    BadEntry(String),
    /// The solver found no solution; the text explains why.
    #[error("the package set cannot be satisfied:\n{0}")]
    Unsatisfiable(String),
}

fn describe_unknown(unknown: &[(String, Vec<String>)]) -> String {
    let mut text = String::new();
    for (index, (name, near)) in unknown.iter().enumerate() {
        if index > 0 {
            text.push('\n');
        }
        let _ = write!(text, "unknown package `{name}`");
        if !near.is_empty() {
            let _ = write!(text, " (did you mean {}?)", near.join(", "));
        }
    }
    text
}

/// The packages a request installs, sorted by name.
#[derive(Debug, Clone)]
pub struct Resolution<'a> {
    /// The chosen packages.
    pub packages: Vec<&'a Package>,
}

/// All packages of the target architecture (and `all`) from every index, indexed for
/// resolution.
pub struct Universe<'a> {
    packages: Vec<&'a Package>,
    /// Real package name → indices into `packages`, highest version first.
    by_name: HashMap<&'a str, Vec<u32>>,
    /// Provided name → (provider index, provided version).
    providers: HashMap<String, Vec<(u32, Option<Version>)>>,
    architecture: String,
}

impl<'a> Universe<'a> {
    /// Indexes `packages` for `architecture` (packages of other architectures are
    /// ignored). Provides that do not parse are ignored, as apt ignores them.
    pub fn new(packages: impl IntoIterator<Item = &'a Package>, architecture: &str) -> Self {
        let packages: Vec<&Package> = packages
            .into_iter()
            .filter(|package| {
                &*package.architecture == architecture || &*package.architecture == "all"
            })
            .collect();
        let mut by_name: HashMap<&str, Vec<u32>> = HashMap::with_capacity(packages.len());
        let mut providers: HashMap<String, Vec<(u32, Option<Version>)>> = HashMap::new();
        for (index, package) in packages.iter().enumerate() {
            by_name.entry(&package.name).or_default().push(index as u32);
        }
        for versions in by_name.values_mut() {
            // Highest version first; equal versions keep the first index (repository
            // order), as apt prefers the first source listing a version.
            versions.sort_by(|&left, &right| {
                packages[right as usize]
                    .version
                    .cmp(&packages[left as usize].version)
                    .then(left.cmp(&right))
            });
        }
        // Provides of candidates only: apt only looks at the candidate version.
        for versions in by_name.values() {
            let Some(&candidate) = versions.first() else {
                continue;
            };
            let package = packages[candidate as usize];
            if package.provides.is_empty() {
                continue;
            }
            let Ok(groups) = relations::parse(&package.provides) else {
                continue;
            };
            for relation in groups.into_iter().flatten() {
                let version = match relation.constraint {
                    Some((Operator::Equal, version)) => Some(version),
                    _ => None,
                };
                providers
                    .entry(relation.name)
                    .or_default()
                    .push((candidate, version));
            }
        }
        Universe {
            packages,
            by_name,
            providers,
            architecture: architecture.to_owned(),
        }
    }

    /// The candidate (highest) version of `name`, if any index has it.
    pub fn candidate(&self, name: &str) -> Option<&'a Package> {
        self.by_name
            .get(name)
            .and_then(|versions| versions.first())
            .map(|&index| self.packages[index as usize])
    }

    /// Resolves `request`.
    pub fn resolve(&self, request: &Request) -> Result<Resolution<'a>, ResolveError> {
        let mut pins: HashMap<String, u32> = HashMap::new();
        let mut seeds: Vec<String> = Vec::new();
        let mut unknown = Vec::new();
        for entry in &request.include {
            let (name, version) = match entry.split_once('=') {
                Some((name, version)) => (name.trim(), Some(version.trim())),
                None => (entry.trim(), None),
            };
            if name.is_empty() || !relations::valid_name(name) {
                return Err(ResolveError::BadEntry(entry.clone()));
            }
            let known = self.by_name.contains_key(name) || self.providers.contains_key(name);
            if !known {
                unknown.push((name.to_owned(), self.near_names(name)));
                continue;
            }
            if let Some(version) = version {
                let versions = self.by_name.get(name).map(Vec::as_slice).unwrap_or(&[]);
                let wanted =
                    Version::parse(version).map_err(|_| ResolveError::BadEntry(entry.clone()))?;
                let Some(&index) = versions
                    .iter()
                    .find(|&&index| self.packages[index as usize].version == wanted)
                else {
                    let available = versions
                        .iter()
                        .map(|&index| self.packages[index as usize].version.to_string())
                        .collect::<Vec<_>>()
                        .join(", ");
                    return Err(ResolveError::UnknownVersion {
                        name: name.to_owned(),
                        version: version.to_owned(),
                        available: if available.is_empty() {
                            "none".to_owned()
                        } else {
                            available
                        },
                    });
                };
                pins.insert(name.to_owned(), index);
            }
            seeds.push(name.to_owned());
        }
        for name in &request.exclude {
            if !self.by_name.contains_key(name.as_str()) {
                unknown.push((name.clone(), self.near_names(name)));
            }
        }
        if !unknown.is_empty() {
            return Err(ResolveError::Unknown(unknown));
        }
        seeds.extend(self.variant_seeds(request.variant));
        seeds.sort();
        seeds.dedup();

        let provider = Provider::new(self, request, pins);
        let requirements: Vec<ConditionalRequirement> = seeds
            .iter()
            .map(|name| {
                let set = if self.by_name.contains_key(name.as_str()) {
                    provider.real_set(name, RealSet::Any)
                } else {
                    provider.capability_set(&Relation {
                        name: name.clone(),
                        arch: ArchQualifier::None,
                        constraint: None,
                    })
                };
                Requirement::Single(set).into()
            })
            .collect();
        let mut solver = Solver::new(provider);
        let problem = Problem::new().requirements(requirements);
        match solver.solve(problem) {
            Ok(solution) => {
                let provider = solver.provider();
                let solvables = provider.solvables.borrow();
                let mut chosen: BTreeMap<&str, &'a Package> = BTreeMap::new();
                for solvable in solution {
                    if let Some(SolvableKind::Real { package, .. }) =
                        solvables.get(solvable.into_raw() as usize)
                    {
                        let package = self.packages[*package as usize];
                        chosen.insert(&package.name, package);
                    }
                }
                Ok(Resolution {
                    packages: self.prune(&seeds, chosen, request.recommends),
                })
            }
            Err(UnsolvableOrCancelled::Unsolvable(conflict)) => Err(ResolveError::Unsatisfiable(
                conflict.display_user_friendly(&solver).to_string(),
            )),
            Err(UnsolvableOrCancelled::Cancelled(_)) => Err(ResolveError::Unsatisfiable(
                "resolution was cancelled".to_owned(),
            )),
        }
    }

    /// Keeps the packages the seeds reach when every dependency is satisfied, where
    /// possible, by a package that is already in: apt never installs a package for a
    /// dependency that something installed (or provided) already satisfies, whereas
    /// the solver may pick, say, the real `lsb-base` for `Depends: lsb-base` although
    /// the essential `sysvinit-utils` provides it. Seeds come first, then a
    /// breadth-first walk in name order. Removing packages cannot create a conflict,
    /// and every kept package's dependencies are satisfied by kept packages.
    fn prune(
        &self,
        seeds: &[String],
        chosen: BTreeMap<&'a str, &'a Package>,
        recommends: bool,
    ) -> Vec<&'a Package> {
        let mut provided: HashMap<&str, Vec<(&'a Package, Option<Version>)>> = HashMap::new();
        for package in chosen.values() {
            if let Ok(groups) = relations::parse(&package.provides) {
                for relation in groups.into_iter().flatten() {
                    let version = match relation.constraint {
                        Some((Operator::Equal, version)) => Some(version),
                        _ => None,
                    };
                    let name: &str = self
                        .providers
                        .get_key_value(&relation.name)
                        .map(|(name, _)| name.as_str())
                        .unwrap_or("");
                    if !name.is_empty() {
                        provided.entry(name).or_default().push((package, version));
                    }
                }
            }
        }
        // Packages in the solution satisfying `relation`, the package itself first.
        let satisfiers = |relation: &Relation| -> Vec<&'a Package> {
            let mut found = Vec::new();
            if let Some(package) = chosen.get(relation.name.as_str()) {
                let arch_ok =
                    relation.arch != ArchQualifier::Any || package.multi_arch == MultiArch::Allowed;
                if arch_ok && relation.allows_version(&package.version) {
                    found.push(*package);
                }
            }
            if let Some(providers) = provided.get(relation.name.as_str()) {
                for (package, version) in providers {
                    let version_ok = match (&relation.constraint, version) {
                        (None, _) => true,
                        (Some((operator, bound)), Some(version)) => operator.allows(version, bound),
                        (Some(_), None) => false,
                    };
                    if version_ok {
                        found.push(*package);
                    }
                }
            }
            found
        };
        let mut kept: BTreeMap<&str, &'a Package> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::new();
        for seed in seeds {
            let package = match chosen.get(seed.as_str()) {
                Some(package) => Some(*package),
                None => satisfiers(&Relation {
                    name: seed.clone(),
                    arch: ArchQualifier::None,
                    constraint: None,
                })
                .first()
                .copied(),
            };
            if let Some(package) = package {
                if kept.insert(&package.name, package).is_none() {
                    queue.push_back(package);
                }
            }
        }
        while let Some(package) = queue.pop_front() {
            let mut fields: Vec<&str> = vec![&package.pre_depends, &package.depends];
            if recommends {
                fields.push(&package.recommends);
            }
            for field in fields {
                let Ok(groups) = relations::parse(field) else {
                    continue;
                };
                for group in groups {
                    let options: Vec<&'a Package> = group.iter().flat_map(&satisfiers).collect();
                    if options
                        .iter()
                        .any(|option| kept.contains_key(&*option.name))
                    {
                        continue;
                    }
                    if let Some(option) = options.first() {
                        kept.insert(&option.name, option);
                        queue.push_back(option);
                    }
                }
            }
        }
        kept.into_values().collect()
    }

    fn variant_seeds(&self, variant: Variant) -> Vec<String> {
        let mut seeds = Vec::new();
        if variant == Variant::Custom {
            return seeds;
        }
        let with_priority = |seeds: &mut Vec<String>, priority: Priority| {
            for (name, versions) in &self.by_name {
                if let Some(&index) = versions.first() {
                    if self.packages[index as usize].priority == priority {
                        seeds.push((*name).to_owned());
                    }
                }
            }
        };
        for (name, versions) in &self.by_name {
            if let Some(&index) = versions.first() {
                if self.packages[index as usize].essential {
                    seeds.push((*name).to_owned());
                }
            }
        }
        if variant == Variant::Essential {
            return seeds;
        }
        seeds.push("apt".to_owned());
        if variant == Variant::Apt {
            return seeds;
        }
        with_priority(&mut seeds, Priority::Required);
        match variant {
            Variant::Buildd => seeds.push("build-essential".to_owned()),
            Variant::Important => with_priority(&mut seeds, Priority::Important),
            Variant::Standard => {
                with_priority(&mut seeds, Priority::Important);
                with_priority(&mut seeds, Priority::Standard);
            }
            _ => {}
        }
        seeds
    }

    /// Up to three known names close to `name`.
    fn near_names(&self, name: &str) -> Vec<String> {
        let mut scored: Vec<(f64, &str)> = self
            .by_name
            .keys()
            .map(|candidate| (strsim::jaro_winkler(name, candidate), *candidate))
            .filter(|(score, _)| *score > 0.85)
            .collect();
        scored.sort_by(|left, right| right.0.total_cmp(&left.0).then(left.1.cmp(right.1)));
        scored
            .into_iter()
            .take(3)
            .map(|(_, name)| format!("`{name}`"))
            .collect()
    }
}

/// A name the solver knows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum NameKind {
    /// A real package: at most one version installed.
    Real(String),
    /// A dependency target: satisfied by the package itself or a provider.
    Capability(String),
}

#[derive(Debug, Clone)]
enum SolvableKind {
    /// A real package (index into the universe) and its name's id.
    Real { package: u32, name: NameId },
    /// "capability satisfied by `package`" (which provides `version`, or is the
    /// capability's own package when `itself`).
    Proxy {
        capability: NameId,
        package: u32,
        itself: bool,
        version: Option<Version>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum RealSet {
    /// Any version (the candidate).
    Any,
    /// Exactly this package index.
    Exactly(u32),
    /// Versions *not* matching the constraint (for Conflicts/Breaks).
    NotMatching(Option<(Operator, Version)>),
}

#[derive(Debug, Clone)]
enum VersionSetKind {
    Real { name: NameId, set: RealSet },
    Capability { name: NameId, relation: Relation },
}

struct Provider<'u, 'a> {
    universe: &'u Universe<'a>,
    pins: HashMap<String, u32>,
    excluded: Vec<String>,
    recommends: bool,
    names: RefCell<Vec<NameKind>>,
    name_ids: RefCell<HashMap<NameKind, NameId>>,
    solvables: RefCell<Vec<SolvableKind>>,
    /// Real package index → its solvable.
    real_solvables: RefCell<HashMap<u32, SolvableId>>,
    version_sets: RefCell<Vec<VersionSetKind>>,
    unions: RefCell<Vec<Vec<VersionSetId>>>,
    strings: RefCell<Vec<String>>,
}

impl<'u, 'a> Provider<'u, 'a> {
    fn new(universe: &'u Universe<'a>, request: &Request, pins: HashMap<String, u32>) -> Self {
        Provider {
            universe,
            pins,
            excluded: request.exclude.clone(),
            recommends: request.recommends,
            names: RefCell::new(Vec::new()),
            name_ids: RefCell::new(HashMap::new()),
            solvables: RefCell::new(Vec::new()),
            real_solvables: RefCell::new(HashMap::new()),
            version_sets: RefCell::new(Vec::new()),
            unions: RefCell::new(Vec::new()),
            strings: RefCell::new(Vec::new()),
        }
    }

    fn name(&self, kind: NameKind) -> NameId {
        if let Some(&id) = self.name_ids.borrow().get(&kind) {
            return id;
        }
        let mut names = self.names.borrow_mut();
        let id = NameId::from_raw(names.len() as u32);
        names.push(kind.clone());
        self.name_ids.borrow_mut().insert(kind, id);
        id
    }

    fn string(&self, text: String) -> StringId {
        let mut strings = self.strings.borrow_mut();
        strings.push(text);
        StringId(strings.len() as u32 - 1)
    }

    fn real_solvable(&self, package: u32) -> SolvableId {
        if let Some(&id) = self.real_solvables.borrow().get(&package) {
            return id;
        }
        let name = self.name(NameKind::Real(self.package(package).name.to_string()));
        let mut solvables = self.solvables.borrow_mut();
        let id = SolvableId::from_raw(solvables.len() as u32);
        solvables.push(SolvableKind::Real { package, name });
        self.real_solvables.borrow_mut().insert(package, id);
        id
    }

    fn add_version_set(&self, kind: VersionSetKind) -> VersionSetId {
        let mut sets = self.version_sets.borrow_mut();
        sets.push(kind);
        VersionSetId(sets.len() as u32 - 1)
    }

    fn real_set(&self, name: &str, set: RealSet) -> VersionSetId {
        let name = self.name(NameKind::Real(name.to_owned()));
        self.add_version_set(VersionSetKind::Real { name, set })
    }

    fn capability_set(&self, relation: &Relation) -> VersionSetId {
        let name = self.name(NameKind::Capability(relation.name.clone()));
        self.add_version_set(VersionSetKind::Capability {
            name,
            relation: relation.clone(),
        })
    }

    fn package(&self, index: u32) -> &'a Package {
        self.universe.packages[index as usize]
    }

    /// The requirement for one group of alternatives.
    fn requirement(&self, group: &Alternatives) -> Requirement {
        let sets: Vec<VersionSetId> = group
            .iter()
            .map(|relation| self.capability_set(relation))
            .collect();
        if sets.len() == 1 {
            Requirement::Single(sets[0])
        } else {
            let mut unions = self.unions.borrow_mut();
            unions.push(sets);
            Requirement::Union(VersionSetUnionId(unions.len() as u32 - 1))
        }
    }

    /// Whether a relation's architecture qualifier can be satisfied at all here.
    fn arch_usable(&self, relation: &Relation) -> bool {
        match &relation.arch {
            ArchQualifier::Architecture(arch) => {
                arch == &self.universe.architecture || arch == "all"
            }
            _ => true,
        }
    }

    fn dependencies_of_real(&self, package: &'a Package) -> Dependencies {
        let mut known = KnownDependencies::default();
        let mut fields: Vec<&str> = vec![&package.pre_depends, &package.depends];
        if self.recommends {
            fields.push(&package.recommends);
        }
        for (index, field) in fields.iter().enumerate() {
            let groups = match relations::parse(field) {
                Ok(groups) => groups,
                Err(error) => {
                    return Dependencies::Unknown(self.string(format!(
                        "{} {}: bad dependency field: {error}",
                        package.name, package.version
                    )))
                }
            };
            let is_recommends = self.recommends && index == 2;
            for group in groups {
                let group: Alternatives = group
                    .into_iter()
                    .filter(|relation| self.arch_usable(relation))
                    .collect();
                if is_recommends
                    && !group.iter().any(|relation| {
                        self.universe.by_name.contains_key(relation.name.as_str())
                            || self.universe.providers.contains_key(&relation.name)
                    })
                {
                    // apt skips recommendations nothing can satisfy.
                    continue;
                }
                if group.is_empty() {
                    continue;
                }
                known.requirements.push(self.requirement(&group).into());
            }
        }
        for field in [&package.conflicts, &package.breaks] {
            let Ok(groups) = relations::parse(field) else {
                continue;
            };
            for relation in groups.into_iter().flatten() {
                if !self.arch_usable(&relation) {
                    continue;
                }
                if relation.name.as_str() != &*package.name
                    && self.universe.by_name.contains_key(relation.name.as_str())
                {
                    known.constrains.push(self.real_set(
                        &relation.name,
                        RealSet::NotMatching(relation.constraint.clone()),
                    ));
                }
                if let Some(providers) = self.universe.providers.get(&relation.name) {
                    for (provider, provided) in providers {
                        let provider_package = self.package(*provider);
                        if provider_package.name == package.name {
                            continue;
                        }
                        let hits = match (&relation.constraint, provided) {
                            (None, _) => true,
                            (Some((operator, bound)), Some(version)) => {
                                operator.allows(version, bound)
                            }
                            (Some(_), None) => false,
                        };
                        if hits {
                            known.constrains.push(
                                self.real_set(&provider_package.name, RealSet::NotMatching(None)),
                            );
                        }
                    }
                }
            }
        }
        Dependencies::Known(known)
    }
}

impl Provider<'_, '_> {
    /// What the indices offer for `name`: its versions and its providers.
    fn available(&self, name: &str) -> String {
        let mut offers: Vec<String> = self
            .universe
            .by_name
            .get(name)
            .map(|versions| {
                versions
                    .iter()
                    .take(5)
                    .map(|&index| format!("{name} {}", self.package(index).version))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(providers) = self.universe.providers.get(name) {
            for (provider, version) in providers.iter().take(5) {
                let package = self.package(*provider);
                offers.push(match version {
                    Some(version) => format!(
                        "{} {} provides {name} (= {version})",
                        package.name, package.version
                    ),
                    None => format!("{} {} provides {name}", package.name, package.version),
                });
            }
        }
        offers.join(", ")
    }
}

fn priority_rank(priority: Priority) -> u8 {
    priority as u8
}

impl Interner for Provider<'_, '_> {
    type NameId = NameId;
    type SolvableId = SolvableId;

    fn display_solvable(&self, solvable: SolvableId) -> impl std::fmt::Display + '_ {
        match self.solvables.borrow().get(solvable.into_raw() as usize) {
            Some(SolvableKind::Real { package, .. }) => {
                let package = self.package(*package);
                format!("{} {}", package.name, package.version)
            }
            Some(SolvableKind::Proxy {
                package, itself, ..
            }) => {
                let package = self.package(*package);
                if *itself {
                    format!("{}", package.version)
                } else {
                    format!("provided by {} {}", package.name, package.version)
                }
            }
            None => String::from("?"),
        }
    }

    fn display_merged_solvables(&self, solvables: &[SolvableId]) -> impl std::fmt::Display + '_ {
        let Some(first) = solvables.first() else {
            return String::new();
        };
        let mut versions: Vec<String> = solvables
            .iter()
            .map(
                |&solvable| match self.solvables.borrow().get(solvable.into_raw() as usize) {
                    Some(SolvableKind::Real { package, .. }) => {
                        self.package(*package).version.to_string()
                    }
                    _ => self.display_solvable(solvable).to_string(),
                },
            )
            .collect();
        versions.sort();
        versions.dedup();
        format!(
            "{} {}",
            self.display_solvable_name(*first),
            versions.join(" | ")
        )
    }

    fn display_name(&self, name: NameId) -> impl std::fmt::Display + '_ {
        match self.names.borrow().get(name.into_raw() as usize) {
            Some(NameKind::Real(name)) | Some(NameKind::Capability(name)) => name.clone(),
            None => String::from("?"),
        }
    }

    fn display_version_set(&self, version_set: VersionSetId) -> impl std::fmt::Display + '_ {
        match self.version_sets.borrow().get(version_set.0 as usize) {
            Some(VersionSetKind::Capability { relation, .. }) => {
                let mut text = match &relation.constraint {
                    Some((operator, version)) => format!("({} {version})", operator.as_str()),
                    None => String::new(),
                };
                let available = self.available(&relation.name);
                if !text.is_empty() {
                    text.push(' ');
                }
                if available.is_empty() {
                    text.push_str("[in no index]");
                } else {
                    text.push_str(&format!("[available: {available}]"));
                }
                text
            }
            Some(VersionSetKind::Real { set, .. }) => match set {
                RealSet::Any => String::new(),
                RealSet::Exactly(package) => format!("(= {})", self.package(*package).version),
                RealSet::NotMatching(None) => "(not installed: conflict)".to_owned(),
                RealSet::NotMatching(Some((operator, version))) => {
                    format!("(not {} {version}: conflict)", operator.as_str())
                }
            },
            None => String::new(),
        }
    }

    fn display_string(&self, string_id: StringId) -> impl std::fmt::Display + '_ {
        self.strings
            .borrow()
            .get(string_id.0 as usize)
            .cloned()
            .unwrap_or_default()
    }

    fn version_set_name(&self, version_set: VersionSetId) -> NameId {
        match self.version_sets.borrow().get(version_set.0 as usize) {
            Some(VersionSetKind::Real { name, .. })
            | Some(VersionSetKind::Capability { name, .. }) => *name,
            None => NameId::from_raw(0),
        }
    }

    fn solvable_name(&self, solvable: SolvableId) -> NameId {
        // Called by the solver for every clause it builds: no allocation here.
        match self.solvables.borrow().get(solvable.into_raw() as usize) {
            Some(SolvableKind::Real { name, .. }) => *name,
            Some(SolvableKind::Proxy { capability, .. }) => *capability,
            None => NameId::from_raw(0),
        }
    }

    fn version_sets_in_union(
        &self,
        version_set_union: VersionSetUnionId,
    ) -> impl Iterator<Item = VersionSetId> {
        self.unions
            .borrow()
            .get(version_set_union.0 as usize)
            .cloned()
            .unwrap_or_default()
            .into_iter()
    }

    fn resolve_condition(&self, _condition: ConditionId) -> Condition {
        // This provider never creates conditional requirements.
        Condition::Requirement(VersionSetId(0))
    }
}

impl DependencyProvider for Provider<'_, '_> {
    async fn filter_candidates(
        &self,
        candidates: &[SolvableId],
        version_set: VersionSetId,
        inverse: bool,
    ) -> Vec<SolvableId> {
        let Some(kind) = self
            .version_sets
            .borrow()
            .get(version_set.0 as usize)
            .cloned()
        else {
            return Vec::new();
        };
        let solvables = self.solvables.borrow();
        candidates
            .iter()
            .copied()
            .filter(|&solvable| {
                let matches = match (&kind, solvables.get(solvable.into_raw() as usize)) {
                    (
                        VersionSetKind::Real { set, .. },
                        Some(SolvableKind::Real { package, .. }),
                    ) => {
                        let version = &self.package(*package).version;
                        match set {
                            RealSet::Any => true,
                            RealSet::Exactly(wanted) => wanted == package,
                            RealSet::NotMatching(None) => false,
                            RealSet::NotMatching(Some((operator, bound))) => {
                                !operator.allows(version, bound)
                            }
                        }
                    }
                    (
                        VersionSetKind::Capability { relation, .. },
                        Some(SolvableKind::Proxy {
                            package,
                            itself,
                            version,
                            ..
                        }),
                    ) => {
                        let package = self.package(*package);
                        let arch_ok = match relation.arch {
                            ArchQualifier::Any => {
                                if *itself {
                                    package.multi_arch == MultiArch::Allowed
                                } else {
                                    matches!(
                                        package.multi_arch,
                                        MultiArch::Foreign | MultiArch::Allowed
                                    )
                                }
                            }
                            _ => true,
                        };
                        let version_ok = match (&relation.constraint, itself, version) {
                            (None, _, _) => true,
                            (Some((operator, bound)), true, _) => {
                                operator.allows(&package.version, bound)
                            }
                            (Some((operator, bound)), false, Some(provided)) => {
                                operator.allows(provided, bound)
                            }
                            (Some(_), false, None) => false,
                        };
                        arch_ok && version_ok
                    }
                    _ => false,
                };
                matches != inverse
            })
            .collect()
    }

    async fn get_candidates(&self, name: NameId) -> Option<Candidates<SolvableId>> {
        let kind = self.names.borrow().get(name.into_raw() as usize)?.clone();
        match kind {
            NameKind::Real(real) => {
                let versions = self.universe.by_name.get(real.as_str())?;
                let chosen = match self.pins.get(&real) {
                    Some(&pinned) => pinned,
                    None => *versions.first()?,
                };
                let solvable = self.real_solvable(chosen);
                let mut candidates = Candidates {
                    candidates: vec![solvable],
                    ..Candidates::default()
                };
                if self.excluded.iter().any(|excluded| excluded == &real) {
                    candidates.excluded.push((
                        solvable,
                        self.string(format!("{real} is excluded by the request")),
                    ));
                }
                Some(candidates)
            }
            NameKind::Capability(capability) => {
                let mut proxies: Vec<(bool, u8, String, u32, Option<Version>)> = Vec::new();
                if let Some(versions) = self.universe.by_name.get(capability.as_str()) {
                    let chosen = match self.pins.get(&capability) {
                        Some(&pinned) => Some(pinned),
                        None => versions.first().copied(),
                    };
                    if let Some(chosen) = chosen {
                        proxies.push((true, 0, capability.clone(), chosen, None));
                    }
                }
                if let Some(providers) = self.universe.providers.get(&capability) {
                    for (provider, version) in providers {
                        let package = self.package(*provider);
                        // A pinned package provides through its pinned version only.
                        let provider = match self.pins.get(&*package.name) {
                            Some(&pinned) if pinned != *provider => continue,
                            _ => *provider,
                        };
                        proxies.push((
                            false,
                            priority_rank(package.priority),
                            package.name.to_string(),
                            provider,
                            version.clone(),
                        ));
                    }
                }
                if proxies.is_empty() {
                    return None;
                }
                proxies.sort_by(|left, right| {
                    right
                        .0
                        .cmp(&left.0)
                        .then(left.1.cmp(&right.1))
                        .then(left.2.cmp(&right.2))
                });
                let mut solvables = self.solvables.borrow_mut();
                let mut candidates = Vec::with_capacity(proxies.len());
                for (itself, _, _, package, version) in proxies {
                    let id = SolvableId::from_raw(solvables.len() as u32);
                    solvables.push(SolvableKind::Proxy {
                        capability: name,
                        package,
                        itself,
                        version,
                    });
                    candidates.push(id);
                }
                Some(Candidates {
                    candidates,
                    allow_multiple: true,
                    ..Candidates::default()
                })
            }
        }
    }

    async fn sort_candidates(&self, _solver: &SolverCache<Self>, _solvables: &mut [SolvableId]) {
        // Candidates are created in preference order (see `get_candidates`); keep it.
    }

    async fn get_dependencies(&self, solvable: SolvableId) -> Dependencies {
        let kind = self
            .solvables
            .borrow()
            .get(solvable.into_raw() as usize)
            .cloned();
        match kind {
            Some(SolvableKind::Real { package, .. }) => {
                self.dependencies_of_real(self.package(package))
            }
            Some(SolvableKind::Proxy { package, .. }) => {
                let name = self.package(package).name.to_string();
                let set = self.real_set(&name, RealSet::Exactly(package));
                // Make sure the real package's solvable exists before the solver asks.
                let _ = self.real_solvable(package);
                Dependencies::Known(KnownDependencies {
                    requirements: vec![Requirement::Single(set).into()],
                    constrains: Vec::new(),
                })
            }
            None => Dependencies::Unknown(self.string("unknown solvable".to_owned())),
        }
    }
}
