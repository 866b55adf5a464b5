//! The scheduler's caching and bookkeeping against a temporary store, with hand-built
//! graphs and fake builders: early cutoff, the recipe-identity fast path, build locks
//! between processes, failure classification and kept logs.
//!
//! Each test owns its derivation kinds and the statics its builders report into (tests
//! run in parallel threads); [`builders`] is the one table of every kind used here.

mod support;

use std::path::PathBuf;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use imgbuild_derivation::Value;
use imgbuild_engine::{BuildContext, BuildError, BuildFn, DrvId, Graph};
use imgbuild_store::{Digest, OutputRecord, Store};

use support::{
    arguments, counted, derivation, derivation_with, run, stored_log, write_output, CallLog,
    TemporaryStore,
};

/// Every builder of this file, by kind.
fn builders(kind: &str) -> Option<BuildFn> {
    let builder: BuildFn = match kind {
        "cutoff_counted" => cutoff_counted,
        "fast_path_counted" => fast_path_counted,
        "lock_counted" => lock_counted,
        "fails_network" => fails_network,
        "fails_store" => fails_store,
        "fails_read" => fails_read,
        "fails_recipe" => fails_recipe,
        "log_failing" => log_failing,
        _ => return None,
    };
    Some(builder)
}

// --- 4. Early cutoff ---------------------------------------------------------------------

static CUTOFF_CALLS: CallLog = CallLog::new();

fn cutoff_counted(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    counted(&CUTOFF_CALLS, context)
}

/// `a -> b`, where `a`'s `revision` changes its recipe identity but not its bytes.
fn cutoff_graph(revision: i64) -> (Graph, DrvId, DrvId) {
    let mut graph = Graph::new();
    let args = arguments("same bytes", &[("revision", Value::Int(revision))]);
    let a = graph.add(derivation_with("cutoff_counted", "a", args, &[]));
    let b = graph.add(derivation("cutoff_counted", "b", &[a]));
    (graph, a, b)
}

#[test]
fn identical_input_bytes_cut_off_the_rebuild_of_dependents() {
    let temporary = TemporaryStore::new();
    let (first_graph, first_a, first_b) = cutoff_graph(1);
    let first = run(
        &first_graph,
        &[first_b],
        &temporary.store,
        &builders,
        2,
        false,
    );
    assert!(
        first.outcome.failed.is_empty(),
        "{:?}",
        first.outcome.failed
    );
    assert_eq!(first.outcome.built, 2);

    let (second_graph, second_a, second_b) = cutoff_graph(2);
    assert_ne!(
        first_graph.node(first_a).identity,
        second_graph.node(second_a).identity
    );
    assert_ne!(
        first_graph.node(first_b).identity,
        second_graph.node(second_b).identity
    );
    let second = run(
        &second_graph,
        &[second_b],
        &temporary.store,
        &builders,
        2,
        false,
    );
    assert!(
        second.outcome.failed.is_empty(),
        "{:?}",
        second.outcome.failed
    );
    assert_eq!(second.planned(), Some((2, 0)));
    assert_eq!(
        second.finished(second_a).map(|(_, cached)| cached),
        Some(false)
    );
    assert_eq!(
        second.finished(second_b).map(|(_, cached)| cached),
        Some(true)
    );
    assert!(
        second.started(second_b).is_some(),
        "b is looked up by a worker"
    );
    assert_eq!(second.outcome.built, 1, "only `a` is built");
    assert_eq!(second.outcome.cached, 1, "`b` is found by cache key");
    assert_eq!(CUTOFF_CALLS.count("start a"), 2);
    assert_eq!(CUTOFF_CALLS.count("start b"), 1, "b's builder ran again");
    assert_eq!(
        second.outcome.outputs[&second_b],
        first.outcome.outputs[&first_b]
    );

    // The cache-key hit is recorded under b's new recipe identity: a third build is a no-op.
    let third = run(
        &second_graph,
        &[second_b],
        &temporary.store,
        &builders,
        2,
        false,
    );
    assert_eq!(third.planned(), Some((0, 1)));
}

// --- 5. Recipe-identity fast path -----------------------------------------------------------

static FAST_PATH_CALLS: CallLog = CallLog::new();

fn fast_path_counted(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    counted(&FAST_PATH_CALLS, context)
}

#[test]
fn a_second_build_of_the_same_graph_runs_no_builder() {
    let mut graph = Graph::new();
    let leaf = graph.add(derivation("fast_path_counted", "leaf", &[]));
    let middle = graph.add(derivation("fast_path_counted", "middle", &[leaf]));
    let top = graph.add(derivation("fast_path_counted", "top", &[middle, leaf]));
    let temporary = TemporaryStore::new();
    let first = run(&graph, &[top], &temporary.store, &builders, 2, false);
    assert_eq!(first.planned(), Some((3, 0)));
    assert_eq!(first.outcome.built, 3);
    let calls = FAST_PATH_CALLS.entries().len();

    let second = run(&graph, &[top], &temporary.store, &builders, 2, false);
    // The target is found by recipe identity; its inputs are not even looked at.
    assert_eq!(second.planned(), Some((0, 1)));
    assert_eq!(second.all_started(), Vec::<DrvId>::new());
    assert_eq!(
        FAST_PATH_CALLS.entries().len(),
        calls,
        "a builder ran again"
    );
    assert_eq!(second.outcome.built, 0);
    assert!(!second.outcome.ran_any);
    assert_eq!(second.outcome.outputs[&top], first.outcome.outputs[&top]);
}

// --- 6. Build locks between processes --------------------------------------------------------

static LOCK_CALLS: CallLog = CallLog::new();

fn lock_counted(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    LOCK_CALLS.push(format!("start {}", context.derivation.name));
    // Long enough for the other build to reach the same derivation meanwhile.
    std::thread::sleep(Duration::from_millis(50));
    write_output(context)
}

#[test]
fn two_concurrent_builds_on_one_store_build_each_derivation_once() {
    let mut graph = Graph::new();
    let one = graph.add(derivation("lock_counted", "one", &[]));
    let two = graph.add(derivation("lock_counted", "two", &[]));
    let three = graph.add(derivation("lock_counted", "three", &[]));
    let pair = graph.add(derivation("lock_counted", "pair", &[one, two]));
    let top = graph.add(derivation("lock_counted", "top", &[pair, three]));
    let temporary = TemporaryStore::new();
    let directory: PathBuf = temporary.path();
    let start = Arc::new(Barrier::new(2));

    let outcomes = std::thread::scope(|scope| {
        let builds: Vec<_> = (0..2)
            .map(|_| {
                let (graph, directory, start) = (&graph, &directory, start.clone());
                scope.spawn(move || {
                    // Its own handle on the store, as another process would have.
                    let store = Store::open(directory).expect("open the store again");
                    start.wait();
                    run(graph, &[top], &store, &builders, 2, false).outcome
                })
            })
            .collect();
        builds
            .into_iter()
            .map(|build| build.join().expect("a build thread panicked"))
            .collect::<Vec<_>>()
    });

    for name in ["one", "two", "three", "pair", "top"] {
        assert_eq!(
            LOCK_CALLS.count(&format!("start {name}")),
            1,
            "`{name}` was not built exactly once: {:?}",
            LOCK_CALLS.entries()
        );
    }
    for outcome in &outcomes {
        assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);
    }
    assert_eq!(outcomes[0].outputs[&top], outcomes[1].outputs[&top]);
    assert_eq!(
        outcomes.iter().map(|outcome| outcome.built).sum::<usize>(),
        5
    );
}

// --- 7 and 8. Classifying failures -----------------------------------------------------------

fn fails_network(_context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    Err(BuildError::Network(
        "cannot reach deb.example.org: connection reset".to_owned(),
    ))
}

fn fails_store(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    // A real store error: the blob was never written.
    let bytes = context.store.read_blob(&Digest::of(b"never stored"))?;
    let info = context.store.put_blob(&bytes, false)?;
    Ok(imgbuild_engine::file_output(&info, false, false))
}

fn fails_read(_context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    let path = PathBuf::from("/nonexistent/imgbuild-scheduler-test/source");
    let source = std::fs::read(&path).expect_err("the path does not exist");
    Err(BuildError::Read { path, source })
}

fn fails_recipe(_context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    Err(BuildError::Failed(
        "package `nginx` is not in suite `bookworm`".to_owned(),
    ))
}

/// Builds one derivation of `kind` and checks that it fails with a message that mentions
/// `mentions`, classified as the machine's fault exactly when `environment`.
fn check_failure(kind: &str, environment: bool, mentions: &str) {
    let mut graph = Graph::new();
    let id = graph.add(derivation(kind, kind, &[]));
    let temporary = TemporaryStore::new();
    let built = run(&graph, &[id], &temporary.store, &builders, 1, false);
    let [(failed, message, reported)] = built.outcome.failed.as_slice() else {
        panic!(
            "{kind}: expected one failure, got {:?}",
            built.outcome.failed
        );
    };
    assert_eq!(*failed, id, "{kind}");
    assert!(
        message.contains(mentions),
        "{kind}: `{message}` lacks `{mentions}`"
    );
    assert_eq!(
        *reported, environment,
        "{kind}: environment in Outcome.failed"
    );
    let (error, _, event_environment) = built.failure(id).expect("a Failed event");
    assert_eq!(error, message, "{kind}");
    assert_eq!(
        event_environment, environment,
        "{kind}: environment in the event"
    );
    assert!(built.outcome.outputs.is_empty(), "{kind}");
}

#[test]
fn network_store_and_read_failures_blame_the_machine_and_others_the_recipe() {
    check_failure("fails_network", true, "cannot reach deb.example.org");
    check_failure("fails_store", true, "is not in the store");
    check_failure(
        "fails_read",
        true,
        "/nonexistent/imgbuild-scheduler-test/source",
    );
    check_failure(
        "fails_recipe",
        false,
        "package `nginx` is not in suite `bookworm`",
    );
}

#[test]
fn a_missing_builder_fails_naming_the_kind() {
    check_failure(
        "kind_nobody_registered",
        false,
        "no builder for kind `kind_nobody_registered`",
    );
}

// --- 9. Logs of failed builders --------------------------------------------------------------

fn log_failing(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    context.log_line("fetching the package index");
    context.log_line("unpacking 3 packages");
    Err(BuildError::Failed(
        "unpack failed: truncated archive".to_owned(),
    ))
}

/// Whether `lines` appear in `text`, in this order.
fn in_order(text: &str, lines: &[&str]) -> bool {
    let mut rest = text;
    for line in lines {
        match rest.find(line) {
            Some(position) => rest = &rest[position + line.len()..],
            None => return false,
        }
    }
    true
}

#[test]
fn a_failing_builder_keeps_its_log() {
    let mut graph = Graph::new();
    let id = graph.add(derivation("log_failing", "unpack", &[]));
    let temporary = TemporaryStore::new();
    let built = run(&graph, &[id], &temporary.store, &builders, 1, false);
    let expected = [
        "fetching the package index",
        "unpacking 3 packages",
        "unpack failed: truncated archive",
    ];

    let (_, log_tail, _) = built.failure(id).expect("a Failed event");
    assert!(
        in_order(&log_tail.join("\n"), &expected),
        "log tail: {log_tail:?}"
    );
    let stored = stored_log(&temporary.store, &graph, id)
        .expect("a log is stored under the derivation's recipe identity");
    assert!(in_order(&stored, &expected), "stored log: {stored}");
}
