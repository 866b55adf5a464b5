//! `imgbuild store verify | gc | info`.

use crate::cli::StoreCommand;
use crate::errors::Failure;

/// Runs a store subcommand.
pub fn run(store: Option<&std::path::Path>, command: &StoreCommand) -> Result<(), Failure> {
    let store = super::open_store(store)?;
    if matches!(command, StoreCommand::Verify | StoreCommand::Gc) && store.is_busy()? {
        eprintln!("waiting for running builds on this store to finish...");
    }
    match command {
        StoreCommand::Verify => {
            let report = store.verify()?;
            for problem in &report.problems {
                eprintln!(
                    "corrupt {:?} {}: {} ({}){}",
                    problem.kind,
                    problem.digest,
                    problem.description,
                    problem.path.display(),
                    problem
                        .quarantined_to
                        .as_ref()
                        .map(|path| format!(", moved to {}", path.display()))
                        .unwrap_or_default()
                );
            }
            if report.outdated_records > 0 {
                println!(
                    "removed {} output record(s) of an older format (written before records carried a MAC); their outputs are rebuilt when next needed",
                    report.outdated_records
                );
            }
            println!(
                "verified {} objects ({}), {} problem(s)",
                report.checked_objects,
                human_bytes(report.checked_bytes),
                report.problems.len()
            );
            if report.problems.is_empty() {
                Ok(())
            } else {
                eprintln!("help: corrupt objects were quarantined; the next build rebuilds what needs them");
                Err(Failure::Verify)
            }
        }
        StoreCommand::Gc => {
            let report = store.gc()?;
            print_roots(&report);
            println!(
                "removed {} blobs, {} chunks, {} trees, {} outputs, {} logs, {} dead roots, {} other files; freed {}",
                report.removed_blobs,
                report.removed_chunks,
                report.removed_trees,
                report.removed_outputs,
                report.removed_logs,
                report.removed_roots,
                report.removed_other,
                human_bytes(report.freed_bytes)
            );
            println!(
                "kept {} blobs, {} chunks, {} trees",
                report.kept_blobs, report.kept_chunks, report.kept_trees
            );
            if report.collected {
                Ok(())
            } else {
                eprintln!(
                    "error: nothing was collected: what the roots above reach is unknown, and deleting an object one of them needs cannot be undone"
                );
                Err(Failure::Verify)
            }
        }
        StoreCommand::Info => {
            let info = store.info()?;
            println!("store: {}", store.root().display());
            let rows = [
                ("blobs", &info.blobs),
                ("chunks", &info.chunks),
                ("trees", &info.trees),
                ("outputs by cache key", &info.cache_key_outputs),
                ("outputs by recipe", &info.recipe_outputs),
                ("logs", &info.logs),
                ("explicit roots", &info.explicit_roots),
                ("result roots", &info.auto_roots),
                ("quarantined", &info.quarantined),
            ];
            for (name, usage) in rows {
                println!(
                    "{name:<22} {:>9} {:>12}",
                    usage.count,
                    human_bytes(usage.disk_bytes)
                );
            }
            println!(
                "{:<22} {:>9} {:>12}",
                "blob content",
                "",
                human_bytes(info.logical_blob_bytes)
            );
            Ok(())
        }
    }
}

/// What `store gc` found among the roots: dead ones it removed (stdout), and roots or
/// objects it could not read (stderr), each with what to do.
fn print_roots(report: &imgbuild_store::GcReport) {
    for root in &report.dead_roots {
        println!(
            "removed dead root {} (its result manifest {} is gone)",
            root.path.display(),
            root.target.display()
        );
    }
    for root in &report.bad_roots {
        let target = root
            .target
            .as_ref()
            .map(|target| format!(" (-> {})", target.display()))
            .unwrap_or_default();
        eprintln!(
            "error: cannot read the root {}{target}: {}",
            root.path.display(),
            root.problem
        );
        eprintln!(
            "  help: fix it, or if what it keeps is no longer needed, remove it: {}",
            root.remove_command
        );
    }
    for (kind, digest, path) in &report.undecodable_objects {
        eprintln!(
            "error: {kind} {digest} ({}), which a root reaches, is corrupt: what it refers to is unknown",
            path.display()
        );
        eprintln!("  help: run `imgbuild store verify` (it quarantines the object), then `imgbuild store gc` again");
    }
}

/// `1.5 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
