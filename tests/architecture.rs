//! The architecture's invariants, checked on the workspace itself: which crate may depend
//! on which (read from `cargo metadata`), builtins never print, builders read nothing
//! from the machine but their build configuration, and every module opens with `//!`
//! prose. (That the builtins' registry is complete is checked in
//! `builtins/tests/registry.rs`, where Rhai's function metadata is available.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A workspace package: its manifest directory and the packages it depends on (any kind:
/// normal, build or dev).
struct Package {
    directory: PathBuf,
    dependencies: BTreeSet<String>,
}

fn workspace_packages() -> BTreeMap<String, Package> {
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    let mut packages = BTreeMap::new();
    for package in metadata["packages"].as_array().expect("packages") {
        let name = package["name"].as_str().expect("package name").to_owned();
        let manifest = PathBuf::from(package["manifest_path"].as_str().expect("manifest path"));
        let dependencies = package["dependencies"]
            .as_array()
            .expect("dependencies")
            .iter()
            .filter_map(|dependency| dependency["name"].as_str().map(str::to_owned))
            .collect();
        let directory = manifest.parent().expect("manifest directory").to_path_buf();
        packages.insert(
            name,
            Package {
                directory,
                dependencies,
            },
        );
    }
    packages
}

/// Everything `name` depends on, directly or through other workspace packages.
fn reachable(packages: &BTreeMap<String, Package>, name: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![name.to_owned()];
    while let Some(current) = stack.pop() {
        let Some(package) = packages.get(&current) else {
            continue;
        };
        for dependency in &package.dependencies {
            if seen.insert(dependency.clone()) {
                stack.push(dependency.clone());
            }
        }
    }
    seen
}

/// Fails if `package` depends on any of `forbidden`, directly or through the workspace.
fn check_forbidden(packages: &BTreeMap<String, Package>, package: &str, forbidden: &[&str]) {
    assert!(
        packages.contains_key(package),
        "no workspace package {package}: update this test if it was renamed"
    );
    let dependencies = reachable(packages, package);
    let violations: Vec<&&str> = forbidden
        .iter()
        .filter(|name| dependencies.contains(**name))
        .collect();
    assert!(
        violations.is_empty(),
        "{package} must not depend on {violations:?} (it depends on {dependencies:?})"
    );
}

#[test]
fn store_knows_nothing_of_recipes() {
    check_forbidden(
        &workspace_packages(),
        "imgbuild-store",
        &[
            "imgbuild-evaluator",
            "imgbuild-builtins",
            "imgbuild",
            "rhai",
        ],
    );
}

#[test]
fn evaluator_does_not_build() {
    check_forbidden(
        &workspace_packages(),
        "imgbuild-evaluator",
        &[
            "imgbuild-store",
            "imgbuild-engine",
            "imgbuild-builtins",
            "imgbuild",
        ],
    );
}

#[test]
fn derivation_model_knows_neither_rhai_nor_the_store() {
    check_forbidden(
        &workspace_packages(),
        "imgbuild-derivation",
        &[
            "rhai",
            "imgbuild-evaluator",
            "imgbuild-store",
            "imgbuild-engine",
            "imgbuild-builtins",
            "imgbuild",
        ],
    );
}

#[test]
fn engine_does_not_know_the_recipe_language() {
    check_forbidden(
        &workspace_packages(),
        "imgbuild-engine",
        &[
            "rhai",
            "imgbuild-evaluator",
            "imgbuild-builtins",
            "imgbuild-apt",
            "imgbuild-iso",
            "imgbuild",
        ],
    );
}

#[test]
fn remote_execution_knows_neither_the_recipe_language_nor_the_builders() {
    // A worker runs whatever builders the binary hands it: the remote crate sees only
    // the engine's table, so the same code serves any builder set.
    check_forbidden(
        &workspace_packages(),
        "imgbuild-remote",
        &[
            "rhai",
            "imgbuild-evaluator",
            "imgbuild-builtins",
            "imgbuild-apt",
            "imgbuild-iso",
            "imgbuild",
        ],
    );
}

/// Every workspace crate except test support: the format libraries may depend on none.
const WORKSPACE_CRATES: &[&str] = &[
    "imgbuild",
    "imgbuild-evaluator",
    "imgbuild-derivation",
    "imgbuild-engine",
    "imgbuild-store",
    "imgbuild-builtins",
    "imgbuild-iso",
    "imgbuild-apt",
    "imgbuild-libraries",
    "imgbuild-remote",
    "imgbuild-oci",
    "imgbuild-sbom",
    "imgbuild-provenance",
];

fn check_stands_alone(package: &str) {
    let packages = workspace_packages();
    let mut forbidden: Vec<&str> = WORKSPACE_CRATES
        .iter()
        .copied()
        .filter(|name| *name != package)
        .collect();
    forbidden.push("rhai");
    check_forbidden(&packages, package, &forbidden);
}

#[test]
fn iso_writer_stands_alone() {
    check_stands_alone("imgbuild-iso");
}

#[test]
fn apt_library_stands_alone() {
    check_stands_alone("imgbuild-apt");
}

#[test]
fn provenance_libraries_stand_alone() {
    // The OCI layout writer, the SBOM writer and release signing take plain data and
    // files: the builtins and the CLI call into them.
    check_stands_alone("imgbuild-oci");
    check_stands_alone("imgbuild-sbom");
    check_stands_alone("imgbuild-provenance");
}

#[test]
fn recipe_libraries_stand_alone() {
    // Manifest, git, resolution and lock section know neither Rhai nor the store: the
    // evaluator and the CLI call into them, never the other way round.
    check_stands_alone("imgbuild-libraries");
}

#[test]
fn no_debian_folder_at_the_top_level() {
    // `debian/` is where Debian packaging tools look for imgbuild's own packaging.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        !root.join("debian/Cargo.toml").exists(),
        "the Debian library lives in apt/; debian/ is reserved for packaging"
    );
    assert!(root.join("apt/Cargo.toml").is_file());
    assert!(root.join("engine/Cargo.toml").is_file());
}

#[test]
fn builtins_do_not_know_the_cli() {
    check_forbidden(&workspace_packages(), "imgbuild-builtins", &["imgbuild"]);
}

/// The code lines of a Rust file (comment lines left out) that contain one of `patterns`.
fn lines_containing(path: &Path, patterns: &[&str]) -> Vec<String> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
        .filter(|(_, line)| patterns.iter().any(|pattern| line.contains(pattern)))
        .map(|(index, line)| format!("{}:{}: {}", path.display(), index + 1, line.trim()))
        .collect()
}

fn rust_files(directory: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![directory.to_path_buf()];
    while let Some(path) = stack.pop() {
        for entry in
            std::fs::read_dir(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        {
            let entry = entry.expect("directory entry").path();
            if entry.is_dir() {
                stack.push(entry);
            } else if entry.extension().is_some_and(|extension| extension == "rs") {
                found.push(entry);
            }
        }
    }
    found.sort();
    found
}

#[test]
fn builtins_never_print() {
    let packages = workspace_packages();
    let mut files = Vec::new();
    for library in [
        "imgbuild-builtins",
        "imgbuild-iso",
        "imgbuild-apt",
        "imgbuild-oci",
        "imgbuild-sbom",
        "imgbuild-provenance",
    ] {
        let source = packages[library].directory.join("src");
        let found = rust_files(&source);
        assert!(
            !found.is_empty(),
            "no Rust files under {}",
            source.display()
        );
        files.extend(found);
    }
    let patterns = [
        "println!",
        "eprintln!",
        "print!",
        "eprint!",
        "dbg!",
        "io::stdout()",
        "io::stderr()",
    ];
    // The sandbox's helper and init are processes of their own (`imgbuild __sandbox`,
    // `__sandbox-init`): their stdout is the protocol with the builder and their stderr
    // is the derivation's log, read by the builder.
    const OWN_PROCESSES: &[&str] = &["sandbox/helper.rs", "sandbox/init.rs"];
    let printing: Vec<String> = files
        .iter()
        .filter(|file| !OWN_PROCESSES.iter().any(|own| file.ends_with(own)))
        .flat_map(|file| lines_containing(file, &patterns))
        .collect();
    assert!(
        printing.is_empty(),
        "builtins report through the Reporter trait and their log, never print:\n{}",
        printing.join("\n")
    );
}

/// What a builder must not use: the environment, the host's configuration files, the
/// clock. (Measuring durations with `Instant` for logs is fine: nothing built sees it.)
const MACHINE_READS: &[&str] = &[
    "std::env::",
    "env::var",
    "var_os(",
    "set_var(",
    "current_dir(",
    "home_dir(",
    "SystemTime",
    "\"/etc",
    "\"/usr/share",
    "\"/var/lib",
    "host_default(",
];

/// Modules that run at the CLI edge, not in a builder: resolving package sets for the
/// lock file (`imgbuild lock`) may read the host's Debian archive keyring.
const EDGE_MODULES: &[&str] = &["debian/repository.rs"];

/// The code lines of a Rust file up to its `#[cfg(test)]` module that contain one of
/// `patterns`.
fn non_test_lines_containing(path: &Path, patterns: &[&str]) -> Vec<String> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    text.lines()
        .take_while(|line| line.trim() != "#[cfg(test)]")
        .enumerate()
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
        .filter(|(_, line)| patterns.iter().any(|pattern| line.contains(pattern)))
        .map(|(index, line)| format!("{}:{}: {}", path.display(), index + 1, line.trim()))
        .collect()
}

#[test]
fn builders_read_nothing_from_the_machine() {
    let packages = workspace_packages();
    let mut files = Vec::new();
    for library in [
        "imgbuild-builtins",
        "imgbuild-engine",
        "imgbuild-derivation",
        "imgbuild-oci",
        "imgbuild-sbom",
    ] {
        let source = packages[library].directory.join("src");
        files.extend(
            rust_files(&source)
                .into_iter()
                .filter(|file| !EDGE_MODULES.iter().any(|edge| file.ends_with(edge))),
        );
    }
    assert!(
        files.len() >= 20,
        "only {} files: is the walk broken?",
        files.len()
    );
    let reads: Vec<String> = files
        .iter()
        .flat_map(|file| non_test_lines_containing(file, MACHINE_READS))
        .collect();
    assert!(
        reads.is_empty(),
        "builders are pure functions of their BuildContext: resolve settings at the CLI edge \
         into BuildConfig instead of reading the machine here:\n{}",
        reads.join("\n")
    );
    // The edge modules are not reachable from a builder.
    let builtins = packages["imgbuild-builtins"].directory.join("src");
    let debian_builder = builtins.join("debian/build.rs");
    let uses = non_test_lines_containing(&debian_builder, &["repository::", "host_default"]);
    assert!(
        uses.is_empty(),
        "the Debian builder calls lock-time code:\n{}",
        uses.join("\n")
    );
}

#[test]
fn every_module_opens_with_module_documentation() {
    let packages = workspace_packages();
    let mut checked = 0;
    let mut undocumented = Vec::new();
    for (name, package) in &packages {
        let source = package.directory.join("src");
        if !source.is_dir() {
            continue;
        }
        for file in rust_files(&source) {
            checked += 1;
            let text = std::fs::read_to_string(&file)
                .unwrap_or_else(|error| panic!("{}: {error}", file.display()));
            let first = text
                .lines()
                .find(|line| !line.trim().is_empty())
                .unwrap_or_default();
            let prose = first.strip_prefix("//!").map(str::trim).unwrap_or_default();
            if prose.is_empty() {
                undocumented.push(format!("{name}: {}", file.display()));
            }
        }
    }
    for member in WORKSPACE_CRATES {
        assert!(
            packages.contains_key(*member),
            "workspace member {member} is missing"
        );
    }
    assert!(
        checked >= 30,
        "only {checked} files checked; is the walk broken?"
    );
    assert!(
        undocumented.is_empty(),
        "these files do not open with `//!` prose:\n{}",
        undocumented.join("\n")
    );
}

#[test]
fn the_first_boot_agent_links_neither_the_recipe_language_nor_the_store() {
    check_forbidden(
        &workspace_packages(),
        "imgbuild-first-boot",
        &[
            "imgbuild-evaluator",
            "imgbuild-derivation",
            "imgbuild-engine",
            "imgbuild-store",
            "imgbuild-builtins",
            "imgbuild-apt",
            "imgbuild",
            "rhai",
        ],
    );
}
