//! `imgbuild diff A B`: what changed between two images — packages from their dpkg
//! databases, then files from the store's Merkle trees (equal directories are skipped
//! without being read, so two images that share most of their content compare in
//! milliseconds).
//!
//! A side is a result (its directory's `.imgbuild-manifest` records the tree the output
//! is made of: a disk image's root file system, an OCI image's root) or a recipe output
//! `RECIPE#OUTPUT` that was built in this store.

use std::path::{Path, PathBuf};

use imgbuild_apt::installed::{compare_installed, installed_packages, PackageChange};
use imgbuild_store::diff::{Change, EntrySummary, TreeChange};
use imgbuild_store::result_dir::ResultProvenance;
use imgbuild_store::{Digest, OutputIndex, OutputLookup, OutputObject, Store, TreePath};
use serde_json::json;

use crate::cli::DiffArgs;
use crate::errors::Failure;

/// Runs `imgbuild diff`.
pub fn run(store_dir: Option<&Path>, arguments: &DiffArgs) -> Result<(), Failure> {
    let store = super::open_store(store_dir)?;
    let before = resolve(store_dir, &store, &arguments.before)?;
    let after = resolve(store_dir, &store, &arguments.after)?;
    let packages = compare_packages(&store, &before, &after)?;
    let mut files = Vec::new();
    let mut only_mtime = 0u64;
    let statistics = store
        .diff_trees(&before.tree, &after.tree, &mut |change| {
            let is_mtime_only = matches!(&change.change, Change::Changed { fields, .. } if fields.as_slice() == ["mtime"]);
            if is_mtime_only && !arguments.mtime {
                only_mtime += 1;
            } else {
                files.push(change);
            }
        })
        .map_err(|error| Failure::Environment(miette::miette!("comparing the trees: {error}")))?;
    if arguments.json {
        let document = json!({
            "before": { "name": before.label, "tree": before.tree.to_string() },
            "after": { "name": after.label, "tree": after.tree.to_string() },
            "packages": packages.iter().map(package_json).collect::<Vec<_>>(),
            "files": files.iter().map(file_json).collect::<Vec<_>>(),
            "mtime_only": only_mtime,
            "statistics": {
                "compared_directories": statistics.compared_directories,
                "skipped_subtrees": statistics.skipped_subtrees,
                "entries_compared": statistics.entries_compared,
            },
        });
        println!("{document}");
        return Ok(());
    }
    print_packages(&packages);
    print_files(&files);
    if only_mtime > 0 {
        println!("({only_mtime} more differ only in their modification time: --mtime lists them)");
    }
    Ok(())
}

/// One side of the comparison.
struct Side {
    label: String,
    tree: Digest,
}

fn resolve(store_dir: Option<&Path>, store: &Store, operand: &str) -> Result<Side, Failure> {
    let path = PathBuf::from(operand);
    if path.exists() {
        return resolve_result(&path, operand);
    }
    if operand.contains('#') || operand.ends_with(".rhai") {
        return resolve_recipe(store_dir, store, operand);
    }
    Err(Failure::Recipe(miette::miette!(
        help = "give a result (e.g. result/web.qcow2) or a recipe output (recipes/web.rhai#web)",
        "`{operand}` is neither a result nor a recipe output"
    )))
}

/// A result: its directory's manifest names the tree it is made of.
fn resolve_result(path: &Path, operand: &str) -> Result<Side, Failure> {
    let directory = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let manifest = directory.join(super::build::MANIFEST);
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let entries = imgbuild_store::read_result_manifest(&manifest).map_err(|error| {
        Failure::Recipe(miette::miette!(
            help = "give a result `imgbuild build` wrote (its directory holds .imgbuild-manifest)",
            "{operand}: {error}"
        ))
    })?;
    let entry = entries
        .iter()
        .find(|entry| entry.name == name || format!("{}.tar", entry.name) == name)
        .ok_or_else(|| {
            Failure::Recipe(miette::miette!(
                "{operand}: {} does not list `{name}`",
                manifest.display()
            ))
        })?;
    // The tree the output is made of (an OCI layout's root, not its blobs), else the
    // output itself when it is a tree.
    let tree = match (&entry.record.object, &entry.provenance) {
        (_, Some(ResultProvenance { content: Some(tree), .. })) => *tree,
        (OutputObject::Tree { tree }, _) => *tree,
        (OutputObject::File { .. }, Some(_)) => {
            return Err(Failure::Recipe(miette::miette!(
                help = "diff compares root trees: of trees, disk images, OCI images and tars",
                "{operand}: this file is not made from a tree"
            )))
        }
        (OutputObject::File { .. }, None) => {
            return Err(Failure::Recipe(miette::miette!(
                help = "build it again with this imgbuild: the manifest then records the root file system it was made from",
                "{operand}: the result manifest does not say which tree this file was made from"
            )))
        }
    };
    Ok(Side {
        label: operand.to_owned(),
        tree,
    })
}

/// `RECIPE#OUTPUT`: evaluated, then found in the store by recipe identity.
fn resolve_recipe(store_dir: Option<&Path>, store: &Store, operand: &str) -> Result<Side, Failure> {
    let recipe = crate::cli::RecipeArgs {
        recipe: operand.to_owned(),
        args: Vec::new(),
        include: Vec::new(),
        overrides: Vec::new(),
        secrets: Vec::new(),
        secret_key_file: None,
    };
    let resolve = super::Resolve {
        offline: true,
        ..super::Resolve::default()
    };
    let loaded = super::load_with(store_dir, &recipe, &resolve)?;
    let graph = &loaded.evaluation.graph;
    let [output] = graph.outputs() else {
        let names: Vec<&str> = graph
            .outputs()
            .iter()
            .map(|output| output.name.as_str())
            .collect();
        return Err(Failure::Recipe(miette::miette!(
            help = format!("name one output: {operand}#NAME ({})", names.join(", ")),
            "{operand}: {} outputs, diff compares one",
            names.len()
        )));
    };
    let root = imgbuild_builtins::provenance::content_root(graph, output.derivation);
    let identity = graph.node(root).identity;
    let record = match store
        .lookup_output(OutputIndex::Recipe, &Digest::from_bytes(identity.0))
        .map_err(|error| Failure::Environment(miette::miette!("{error}")))?
    {
        OutputLookup::Found(record) => record,
        _ => {
            return Err(Failure::Recipe(miette::miette!(
                help = format!("build it first: imgbuild build {operand}"),
                "{operand}: `{}` is not built in this store",
                graph.node(root).derivation.name
            )))
        }
    };
    match record.object {
        OutputObject::Tree { tree } => Ok(Side {
            label: operand.to_owned(),
            tree,
        }),
        OutputObject::File { .. } => Err(Failure::Recipe(miette::miette!(
            "{operand}: `{}` is a file, not a tree",
            graph.node(root).derivation.name
        ))),
    }
}

fn compare_packages(
    store: &Store,
    before: &Side,
    after: &Side,
) -> Result<Vec<PackageChange>, Failure> {
    let status = |side: &Side| -> Result<_, Failure> {
        let path = TreePath::parse("var/lib/dpkg/status").map_err(Failure::internal)?;
        let bytes = store
            .read_file_at(&side.tree, &path)
            .map_err(|error| Failure::Environment(miette::miette!("{}: {error}", side.label)))?
            .unwrap_or_default();
        installed_packages(&String::from_utf8_lossy(&bytes)).map_err(|error| {
            Failure::Recipe(miette::miette!(
                "{}: var/lib/dpkg/status: {error}",
                side.label
            ))
        })
    };
    Ok(compare_installed(&status(before)?, &status(after)?))
}

fn package_json(change: &PackageChange) -> serde_json::Value {
    match change {
        PackageChange::Added(package) => {
            json!({ "change": "added", "name": package.name, "architecture": package.architecture, "version": package.version })
        }
        PackageChange::Removed(package) => {
            json!({ "change": "removed", "name": package.name, "architecture": package.architecture, "version": package.version })
        }
        PackageChange::Upgraded { before, after } => {
            json!({ "change": "upgraded", "name": after.name, "architecture": after.architecture, "before": before.version, "after": after.version })
        }
        PackageChange::Downgraded { before, after } => {
            json!({ "change": "downgraded", "name": after.name, "architecture": after.architecture, "before": before.version, "after": after.version })
        }
    }
}

fn summary_json(entry: &EntrySummary) -> serde_json::Value {
    json!({ "type": entry.kind, "mode": format!("{:04o}", entry.mode), "uid": entry.uid, "gid": entry.gid, "size": entry.size, "content": entry.content, "mtime": entry.mtime })
}

fn file_json(change: &TreeChange) -> serde_json::Value {
    match &change.change {
        Change::Added(entry) => {
            json!({ "path": change.path, "change": "added", "after": summary_json(entry) })
        }
        Change::Removed(entry) => {
            json!({ "path": change.path, "change": "removed", "before": summary_json(entry) })
        }
        Change::Changed {
            before,
            after,
            fields,
        } => {
            json!({ "path": change.path, "change": "changed", "fields": fields, "before": summary_json(before), "after": summary_json(after) })
        }
    }
}

fn print_packages(packages: &[PackageChange]) {
    let count =
        |test: fn(&PackageChange) -> bool| packages.iter().filter(|change| test(change)).count();
    println!(
        "packages: {} added, {} removed, {} upgraded, {} downgraded",
        count(|change| matches!(change, PackageChange::Added(_))),
        count(|change| matches!(change, PackageChange::Removed(_))),
        count(|change| matches!(change, PackageChange::Upgraded { .. })),
        count(|change| matches!(change, PackageChange::Downgraded { .. })),
    );
    for change in packages {
        match change {
            PackageChange::Added(package) => println!(
                "  + {} {} ({})",
                package.name, package.version, package.architecture
            ),
            PackageChange::Removed(package) => println!(
                "  - {} {} ({})",
                package.name, package.version, package.architecture
            ),
            PackageChange::Upgraded { before, after }
            | PackageChange::Downgraded { before, after } => {
                println!(
                    "  ~ {} {} -> {} ({})",
                    after.name, before.version, after.version, after.architecture
                )
            }
        }
    }
}

fn describe(entry: &EntrySummary) -> String {
    let mut text = format!(
        "{} {:04o} {}:{}",
        entry.kind, entry.mode, entry.uid, entry.gid
    );
    if let Some(size) = entry.size {
        text.push_str(&format!(" {size} bytes"));
    }
    if entry.kind == "symlink" {
        if let Some(target) = &entry.content {
            text.push_str(&format!(" -> {target}"));
        }
    }
    text
}

fn print_files(files: &[TreeChange]) {
    let count =
        |test: fn(&Change) -> bool| files.iter().filter(|change| test(&change.change)).count();
    println!(
        "files: {} added, {} removed, {} changed",
        count(|change| matches!(change, Change::Added(_))),
        count(|change| matches!(change, Change::Removed(_))),
        count(|change| matches!(change, Change::Changed { .. })),
    );
    for change in files {
        match &change.change {
            Change::Added(entry) => println!("  + {}  {}", change.path, describe(entry)),
            Change::Removed(entry) => println!("  - {}  {}", change.path, describe(entry)),
            Change::Changed {
                before,
                after,
                fields,
            } => println!(
                "  ~ {}  {}: {} -> {}",
                change.path,
                fields.join(", "),
                describe(before),
                describe(after)
            ),
        }
    }
}
