//! `imgbuild build`: evaluate, build what is missing, materialize the outputs.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use imgbuild_evaluator::{DrvId, Graph};
use imgbuild_store::result_dir::{self, Condition, Placement, ResultEntry, Written};
use imgbuild_store::{
    MaterializeOptions, Materialized, OutputObject, OutputRecord, Store, StoreError,
};
use serde_json::json;

use crate::cli::BuildArgs;
use crate::errors::Failure;
use crate::progress::Display;
use imgbuild_engine::{scheduler, LocalExecutor, Options};

/// Name of the manifest that records what a result directory holds (and roots it).
pub const MANIFEST: &str = ".imgbuild-manifest";

/// Runs `imgbuild build`.
pub fn run(store_dir: Option<&Path>, arguments: &BuildArgs) -> Result<(), Failure> {
    let config = crate::settings::build_config(arguments.offline, arguments.mirror.as_deref());
    let resolve = super::Resolve {
        offline: arguments.offline,
        ..super::Resolve::default()
    };
    let loaded = super::load_with(store_dir, &arguments.recipe, &resolve)?;
    let mut evaluation = loaded.evaluation;
    if !evaluation.pending.is_empty() {
        // Requests the lock file does not answer: resolve them (network), write the
        // lock file, and evaluate again with it.
        if arguments.offline {
            let names: Vec<String> = evaluation
                .pending
                .iter()
                .map(|request| request.name.clone())
                .collect();
            return Err(Failure::Environment(miette::miette!(
                help = "run `imgbuild lock` with network access first",
                "--offline: package set(s) {} are not in {}",
                names.join(", "),
                loaded.lock_path.display()
            )));
        }
        super::lock::resolve_pending(
            &loaded.lock_path,
            &loaded.lock,
            &evaluation.pending,
            &config.mirrors,
            &mut |line| eprintln!("{line}"),
        )?;
        let again = super::load_with(store_dir, &arguments.recipe, &resolve)?.evaluation;
        if !again.pending.is_empty() {
            return Err(Failure::Environment(miette::miette!(
                "the lock file was written but the recipe still has unresolved package sets"
            )));
        }
        evaluation = again;
    }
    let graph = &evaluation.graph;
    let lock_sha256 = super::result_provenance::lock_sha256(&loaded.lock_path);
    let store = super::open_store(store_dir)?;
    let _session = store.build_session()?;
    let display = Display::new(arguments.json);
    let materialize = |outputs: &std::collections::HashMap<DrvId, OutputRecord>| {
        let lock_sha256 = lock_sha256.as_deref();
        materialize_all(
            graph,
            &store,
            outputs,
            &arguments.out,
            lock_sha256,
            &display,
        )
    };
    let targets: Vec<DrvId> = graph
        .outputs()
        .iter()
        .map(|output| output.derivation)
        .collect();
    let jobs = arguments
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let mut options = Options {
        jobs,
        keep_going: arguments.keep_going,
        deep_check: false,
    };
    let builders = imgbuild_builtins::builder;
    let local = LocalExecutor {
        builders: &builders,
    };
    let resolved = super::remote::settings(&arguments.remote)?;
    let (remote_exec, fallback) = match &resolved {
        Some(resolved) => (
            arguments.remote_exec || resolved.exec,
            arguments.remote_fallback || resolved.fallback || arguments.keep_going,
        ),
        None if arguments.remote_exec
            || arguments.remote_fallback
            || arguments.remote_upload_secrets =>
        {
            return Err(Failure::Recipe(miette::miette!(
                help = "add --remote grpc://HOST:PORT (or `url` in the remote settings file)",
                "--remote-exec, --remote-fallback and --remote-upload-secrets need a remote engine"
            )));
        }
        None => (false, false),
    };
    let client = match resolved {
        Some(resolved) => {
            let mut settings = resolved.settings;
            settings.upload_secrets = arguments.remote_upload_secrets;
            settings.need_execution = remote_exec;
            match super::remote::connect(&settings) {
                Ok(client) => Some(client),
                Err(failure) if fallback => {
                    display.line(&format!("warning: {}; building locally", failure.message()));
                    None
                }
                Err(failure) => return Err(failure),
            }
        }
        None => None,
    };
    let warn = |line: &str| display.line(line);
    let remote = client.as_ref().map(|client| {
        imgbuild_remote::RemoteExecutor::new(
            client,
            &local,
            imgbuild_remote::Options {
                execute: remote_exec,
                fallback,
                local_only: &imgbuild_builtins::is_local_kind,
                warn: &warn,
            },
        )
    });
    let executor: &dyn imgbuild_engine::Executor = match &remote {
        Some(remote) => remote,
        None => &local,
    };
    let started = std::time::Instant::now();
    let mut attempt = 0;
    let mut summary;
    let mut wrote = false;
    loop {
        attempt += 1;
        let outcome = scheduler::build(
            graph, &targets, &store, executor, &config, &options, &display,
        )?;
        summary = (outcome.built, outcome.cached);
        // Any derivation that ran (or was found by cache key) published records.
        wrote |= outcome.ran_any;
        for damage in &outcome.damaged {
            let name = &graph.node(damage.id).derivation.name;
            display.line(&format!("warning: {name}: {}", damage.description));
        }
        if outcome.saw_corruption && attempt < 3 {
            options.deep_check = true;
            continue;
        }
        // An output left in the remote turned out corrupt or missing when a local
        // build needed it: build again, that output here this time.
        if !outcome.failed.is_empty()
            && attempt < 3
            && remote.as_ref().is_some_and(|r| r.take_refusals())
        {
            continue;
        }
        if !outcome.failed.is_empty() {
            // Materialize what did build when asked to keep going.
            if arguments.keep_going {
                fetch_outputs(graph, &store, &outcome.outputs, executor)?;
                materialize(&outcome.outputs)?;
            }
            display.finish();
            store.sync()?;
            let environment = outcome
                .failed
                .iter()
                .all(|(_, _, environment)| *environment);
            display.line(&format!(
                "error: {} derivation(s) failed",
                outcome.failed.len()
            ));
            display.json(&json!({ "event": "done", "ok": false, "failed": outcome.failed.len() }));
            return Err(if environment {
                Failure::environment(format!(
                    "{} derivation(s) failed because of the machine (see above)",
                    outcome.failed.len()
                ))
            } else {
                Failure::Build
            });
        }
        if let Err(failure) = fetch_outputs(graph, &store, &outcome.outputs, executor) {
            if attempt < 3 && remote.as_ref().is_some_and(|r| r.take_refusals()) {
                continue;
            }
            return Err(failure);
        }
        match materialize(&outcome.outputs) {
            Ok(materialized) => {
                wrote |= materialized;
                break;
            }
            Err(MaterializeFailure::Corrupt(record)) if attempt < 3 => {
                let problems = store.invalidate_object(&record)?;
                let names: Vec<&str> = graph
                    .outputs()
                    .iter()
                    .filter(|output| outcome.outputs.get(&output.derivation) == Some(&record))
                    .map(|output| output.name.as_str())
                    .collect();
                let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
                display.line(&format!(
                    "warning: {}: its output is damaged in the store ({}); rebuilding it",
                    names.join(", "),
                    if problems.is_empty() {
                        "an object could not be read".to_owned()
                    } else {
                        problems.join("; ")
                    }
                ));
                options.deep_check = true;
            }
            Err(MaterializeFailure::Corrupt(_)) => {
                return Err(Failure::environment(
                    "objects keep turning out missing or corrupt; run `imgbuild store verify`",
                ));
            }
            Err(MaterializeFailure::Other(failure)) => return Err(failure),
        }
    }
    display.finish();
    // The durability point of the build; a no-op build wrote nothing and skips it
    // (syncfs flushes the whole file system, which can take tens of milliseconds).
    if wrote {
        store.sync()?;
    }
    // Outputs the remote fetched or executed count as built for the scheduler.
    let remote_work = match &remote {
        Some(remote) => report_remote(&display, &remote.counters),
        None => 0,
    };
    display.line(&format!(
        "done: {} built{}, {} from the store, in {}",
        summary.0 - remote_work.min(summary.0),
        if remote.is_some() {
            format!(" here, {remote_work} by the remote")
        } else {
            String::new()
        },
        summary.1,
        crate::progress::human_duration(started.elapsed())
    ));
    display.json(&json!({ "event": "done", "ok": true, "built": summary.0, "cached": summary.1 }));
    Ok(())
}

/// Brings the recipe's outputs that a remote left in its CAS into the store, so they
/// can be materialized (a remote build downloads what it writes under result/, not
/// every intermediate output).
fn fetch_outputs(
    graph: &Graph,
    store: &Store,
    outputs: &std::collections::HashMap<DrvId, OutputRecord>,
    executor: &dyn imgbuild_engine::Executor,
) -> Result<(), Failure> {
    // Every output is tried, so that all the bad ones are known after one pass.
    let mut first = None;
    for output in graph.outputs() {
        if let Some(record) = outputs.get(&output.derivation) {
            if let Err(error) = executor.fetch(store, record) {
                first.get_or_insert_with(|| {
                    Failure::environment(format!(
                        "{}: {}",
                        output.name,
                        imgbuild_engine::describe(&error)
                    ))
                });
            }
        }
    }
    first.map_or(Ok(()), Err)
}

/// What the remote engine did, as one line (and one JSON event); returns how many
/// outputs it provided (fetched or executed).
fn report_remote(display: &Display, counters: &imgbuild_remote::Counters) -> usize {
    use std::sync::atomic::Ordering::Relaxed;
    let fetched = counters.fetched.load(Relaxed);
    let downloaded = counters.downloaded.load(Relaxed);
    let executed = counters.executed.load(Relaxed);
    let uploaded = counters.uploaded.load(Relaxed);
    let secret = counters.kept_secret.load(Relaxed);
    let mut line = format!(
        "remote: {fetched} found in the cache, {executed} executed remotely, {downloaded} downloaded, {uploaded} uploaded"
    );
    if secret > 0 {
        line.push_str(&format!(", {secret} kept local (secrets)"));
    }
    display.line(&line);
    display.json(
        &json!({ "event": "remote", "fetched": fetched, "executed": executed, "downloaded": downloaded,
                          "uploaded": uploaded, "kept_secret": secret }),
    );
    usize::try_from(fetched + executed).unwrap_or(usize::MAX)
}

enum MaterializeFailure {
    Corrupt(OutputRecord),
    Other(Failure),
}

impl From<Failure> for MaterializeFailure {
    fn from(failure: Failure) -> Self {
        MaterializeFailure::Other(failure)
    }
}

impl From<MaterializeFailure> for Failure {
    fn from(failure: MaterializeFailure) -> Self {
        match failure {
            MaterializeFailure::Corrupt(_) => {
                Failure::environment("corrupt object in the store; run `imgbuild store verify`")
            }
            MaterializeFailure::Other(failure) => failure,
        }
    }
}

fn materialize_all(
    graph: &Graph,
    store: &Store,
    outputs: &std::collections::HashMap<DrvId, OutputRecord>,
    out_dir: &Path,
    lock_sha256: Option<&str>,
    display: &Display,
) -> Result<bool, MaterializeFailure> {
    // One build at a time writes into a result directory: files and manifest stay in step.
    let _lock = result_dir::lock(out_dir, || {
        display.line(&format!(
            "waiting for another build writing {}/",
            out_dir.display()
        ))
    })
    .map_err(Failure::from)?;
    // A build killed while writing results leaves hidden temporaries. Whoever wrote them
    // is gone: a live writer would hold the lock.
    imgbuild_store::materialize::remove_stale_temporaries(out_dir, std::time::Duration::ZERO)
        .map_err(Failure::from)?;
    let manifest_path = out_dir.join(MANIFEST);
    let previous: Vec<ResultEntry> = store
        .read_result_entries(&manifest_path)
        .unwrap_or_default();
    // By name: a result directory can hold thousands of outputs (one medium per VM).
    let mut manifest: BTreeMap<String, ResultEntry> = previous
        .iter()
        .map(|entry| (entry.name.clone(), entry.clone()))
        .collect();
    // Outputs of this build, whose files were just written or found in place.
    let mut present = HashSet::new();
    let mut materialized_any = false;
    for output in graph.outputs() {
        let Some(record) = outputs.get(&output.derivation) else {
            continue;
        };
        let node = graph.node(output.derivation);
        let mut file_name = output.name.clone();
        if let (OutputObject::File { .. }, Some(extension)) = (
            &record.object,
            imgbuild_builtins::file_extension(&node.derivation),
        ) {
            if !file_name.ends_with(&format!(".{extension}")) {
                file_name = format!("{file_name}.{extension}");
            }
        }
        let destination = out_dir.join(&file_name);
        // What the manifest says is there for this output, and whether it still is.
        let recorded = manifest
            .get(&file_name)
            .filter(|entry| entry.record == *record)
            .and_then(|entry| entry.written.clone());
        let condition = recorded
            .as_ref()
            .map(|written| result_dir::check(record, written, &destination));
        let (shown, written) = match (condition, recorded) {
            (Some(Condition::Intact), Some(written)) | (Some(Condition::Touched(written)), _) => {
                (placed_path(&destination, &written), written)
            }
            (damaged, recorded) => {
                let written =
                    write_result(store, output.name.as_str(), record, &destination, display)?;
                if let (Some(Condition::Damaged(reason)), Some(recorded)) = (damaged, recorded) {
                    display.line(&format!(
                        "repaired {}: {reason} since it was written",
                        placed_path(&destination, &recorded).display()
                    ));
                }
                materialized_any = true;
                written
            }
        };
        display.line(&format!("{} -> {}", output.name, shown.display()));
        display.json(&json!({ "event": "output", "name": output.name, "path": shown.display().to_string(), "output": if record.secret { serde_json::Value::Null } else { json!(record.digest().to_string()) }, "secret": record.secret }));
        manifest.insert(
            file_name.clone(),
            ResultEntry {
                name: file_name.clone(),
                record: record.clone(),
                written: Some(written),
                provenance: Some(super::result_provenance::of(
                    graph,
                    store,
                    outputs,
                    output.derivation,
                    lock_sha256,
                )),
            },
        );
        present.insert(file_name);
    }
    // Earlier outputs this build did not produce stay listed while their files exist.
    manifest.retain(|name, entry| present.contains(name) || still_there(out_dir, entry));
    let manifest: Vec<ResultEntry> = manifest.into_values().collect();
    // Private trees whose link the user deleted, or that are no longer private.
    let private: HashSet<&str> = manifest
        .iter()
        .filter(|entry| {
            entry.written.as_ref().map(|written| written.placement)
                == Some(Placement::PrivateDirectory)
        })
        .map(|entry| entry.name.as_str())
        .collect();
    result_dir::remove_unreferenced_private(out_dir, |name| private.contains(name))
        .map_err(Failure::from)?;
    // The manifest is also the result directory's GC root: rewrite it only when it
    // changes, so a no-op build writes nothing at all.
    let changed = materialized_any || manifest != previous;
    if changed {
        store
            .write_result_entries(&manifest_path, &manifest)
            .map_err(Failure::from)?;
    } else {
        // Same results, maybe another store: make sure this store roots them too.
        store
            .ensure_result_root(&manifest_path)
            .map_err(Failure::from)?;
    }
    Ok(changed)
}

/// Writes one output at `destination`, saying on stderr when it is not where or what
/// the user would expect (a tar, or below the owner-only directory).
fn write_result(
    store: &Store,
    name: &str,
    record: &OutputRecord,
    destination: &Path,
    display: &Display,
) -> Result<(PathBuf, Written), MaterializeFailure> {
    let options = MaterializeOptions {
        allow_tar_fallback: true,
        ..MaterializeOptions::default()
    };
    let result = match store.write_result(record, destination, &options) {
        Ok(result) => result,
        Err(StoreError::ObjectCorrupt { .. } | StoreError::NotFound { .. }) => {
            return Err(MaterializeFailure::Corrupt(record.clone()))
        }
        Err(error) => return Err(MaterializeFailure::Other(error.into())),
    };
    let path = match result.materialized {
        Materialized::File(path) | Materialized::Directory(path) => path,
        Materialized::Tar(path) => {
            display.line(&format!(
                "note: {name} holds owners or devices this user cannot create; wrote {} instead",
                path.display()
            ));
            path
        }
    };
    if let Some(reason) = &result.private_because {
        let private = destination
            .parent()
            .unwrap_or(Path::new("."))
            .join(result_dir::PRIVATE_DIRECTORY);
        display.line(&format!(
            "note: {name} is written below {}, which only its owner can enter: {reason}",
            private.display()
        ));
    }
    Ok((path, result.written))
}

/// The path a user opens for a result recorded as `written` at `destination`.
fn placed_path(destination: &Path, written: &Written) -> PathBuf {
    match written.placement {
        Placement::Tar => tar_sibling(destination),
        Placement::File | Placement::Directory | Placement::PrivateDirectory => {
            destination.to_path_buf()
        }
    }
}

/// Whether an earlier output, not built this time, is still in the result directory.
fn still_there(out_dir: &Path, entry: &ResultEntry) -> bool {
    let destination = out_dir.join(&entry.name);
    match &entry.written {
        Some(written) => std::fs::symlink_metadata(placed_path(&destination, written)).is_ok(),
        None => existing_path(&destination).is_some(),
    }
}

fn tar_sibling(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(".tar");
    PathBuf::from(name)
}

/// The result file or directory for `destination`, or its `.tar` fallback, if either exists.
fn existing_path(destination: &Path) -> Option<PathBuf> {
    if destination.exists() {
        return Some(destination.to_path_buf());
    }
    let sibling = tar_sibling(destination);
    sibling.exists().then_some(sibling)
}
