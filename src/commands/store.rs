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
            Ok(())
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
