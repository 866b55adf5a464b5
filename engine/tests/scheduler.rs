//! The scheduler against a temporary store, with hand-built graphs and fake builders:
//! parallelism, ordering, failure propagation and `--keep-going`. (Caching, locks,
//! failure classes and logs are in `caching.rs`.)
//!
//! Each test owns its derivation kinds and the statics its builders report into (tests
//! run in parallel threads); [`builders`] is the one table of every kind used here.

mod support;

use std::time::Duration;

use imgbuild_engine::{BuildContext, BuildError, BuildFn, DrvId, Graph};
use imgbuild_store::OutputRecord;

use support::{
    counted, derivation, file_bytes, run, write_output, CallLog, Concurrency, TemporaryStore,
};

/// Every builder of this file, by kind.
fn builders(kind: &str) -> Option<BuildFn> {
    let builder: BuildFn = match kind {
        "parallel_two_jobs" => parallel_two_jobs,
        "parallel_one_job" => parallel_one_job,
        "order_leaf" => order_leaf,
        "order_join" => order_join,
        "skip_broken" | "chain_broken" | "queue_broken" | "keep_going_broken" => broken,
        "skip_counted" => skip_counted,
        "chain_counted" => chain_counted,
        "queue_counted" => queue_counted,
        "keep_going_counted" => keep_going_counted,
        _ => return None,
    };
    Some(builder)
}

/// Fails after logging `start <name>` then `<name> failed` into the test's call log.
fn broken(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    let log = match context.derivation.kind.as_str() {
        "skip_broken" => &SKIP_CALLS,
        "chain_broken" => &CHAIN_CALLS,
        "queue_broken" => &QUEUE_CALLS,
        _ => &KEEP_GOING_CALLS,
    };
    let name = &context.derivation.name;
    log.push(format!("start {name}"));
    log.push(format!("{name} failed"));
    Err(BuildError::Failed(format!("{name} is broken on purpose")))
}

/// The names of the builders that started after the builder `failed` returned its
/// failure, according to `log`.
fn started_after_failure(log: &CallLog, failed: &str) -> Vec<String> {
    let entries = log.entries();
    let failure = format!("{failed} failed");
    let Some(position) = entries.iter().position(|entry| *entry == failure) else {
        panic!("`{failed}` never failed: {entries:?}");
    };
    entries[position + 1..]
        .iter()
        .filter_map(|entry| entry.strip_prefix("start ").map(str::to_owned))
        .collect()
}

// --- 1. Parallelism -------------------------------------------------------------------

static TWO_JOBS: Concurrency = Concurrency::new();

fn parallel_two_jobs(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    TWO_JOBS.hold(2, Duration::from_secs(10));
    write_output(context)
}

/// Builds three independent derivations of `kind` with `jobs` workers and checks that
/// exactly `peak` builders ran at once.
fn check_peak(kind: &str, jobs: usize, probe: &Concurrency, peak: usize, why: &str) {
    let mut graph = Graph::new();
    let targets: Vec<DrvId> = ["first", "second", "third"]
        .iter()
        .map(|name| graph.add(derivation(kind, name, &[])))
        .collect();
    let temporary = TemporaryStore::new();
    let built = run(&graph, &targets, &temporary.store, &builders, jobs, false);
    assert!(
        built.outcome.failed.is_empty(),
        "{:?}",
        built.outcome.failed
    );
    assert_eq!(built.outcome.built, 3);
    assert_eq!(probe.peak(), peak, "{why}");
}

#[test]
fn two_jobs_run_independent_builders_at_once_and_never_more() {
    check_peak(
        "parallel_two_jobs",
        2,
        &TWO_JOBS,
        2,
        "with jobs=2 exactly two of three independent builders must run at once",
    );
}

static ONE_JOB: Concurrency = Concurrency::new();

fn parallel_one_job(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    ONE_JOB.hold(2, Duration::from_millis(300));
    write_output(context)
}

#[test]
fn one_job_never_runs_two_builders_at_once() {
    check_peak(
        "parallel_one_job",
        1,
        &ONE_JOB,
        1,
        "with jobs=1 builders must run one at a time",
    );
}

// --- 2. Order --------------------------------------------------------------------------

static ORDER_CALLS: CallLog = CallLog::new();
static ORDER_SEEN: std::sync::Mutex<Vec<(String, OutputRecord)>> =
    std::sync::Mutex::new(Vec::new());

fn order_leaf(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    let name = context.derivation.name.clone();
    if name == "slow" {
        std::thread::sleep(Duration::from_millis(200));
    }
    let record = write_output(context)?;
    ORDER_CALLS.push(format!("{name} done"));
    Ok(record)
}

fn order_join(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    ORDER_CALLS.push("join start");
    let mut seen = ORDER_SEEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    seen.extend(
        context
            .inputs
            .iter()
            .map(|input| (input.name.clone(), input.record.clone())),
    );
    drop(seen);
    write_output(context)
}

#[test]
fn a_builder_runs_after_its_inputs_and_sees_them_in_input_order() {
    // Arena order and completion order are both `fast, slow`; the input order is not.
    let mut graph = Graph::new();
    let fast = graph.add(derivation("order_leaf", "fast", &[]));
    let slow = graph.add(derivation("order_leaf", "slow", &[]));
    let join = graph.add(derivation("order_join", "join", &[slow, fast]));
    let temporary = TemporaryStore::new();
    let built = run(&graph, &[join], &temporary.store, &builders, 4, false);
    assert!(
        built.outcome.failed.is_empty(),
        "{:?}",
        built.outcome.failed
    );

    let calls = ORDER_CALLS.entries();
    assert_eq!(
        calls.last().map(String::as_str),
        Some("join start"),
        "{calls:?}"
    );
    assert_eq!(calls.len(), 3, "{calls:?}");
    let join_started = built.started(join).expect("join started");
    for input in [fast, slow] {
        let (finished, _) = built.finished(input).expect("input finished");
        assert!(
            finished < join_started,
            "join started before input {input:?} finished: {:?}",
            built.events
        );
    }

    let seen = ORDER_SEEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let expected = vec![
        ("slow".to_owned(), built.outcome.outputs[&slow].clone()),
        ("fast".to_owned(), built.outcome.outputs[&fast].clone()),
    ];
    assert_eq!(seen, expected);
    let bytes = file_bytes(&temporary.store, &built.outcome.outputs[&join]).expect("join output");
    assert_eq!(bytes, b"joinslowfast");
}

// --- 3. Failure propagation and --keep-going ------------------------------------------

static SKIP_CALLS: CallLog = CallLog::new();

fn skip_counted(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    counted(&SKIP_CALLS, context)
}

#[test]
fn a_failed_input_skips_its_dependents_and_is_reported() {
    let mut graph = Graph::new();
    let broken = graph.add(derivation("skip_broken", "broken", &[]));
    let good = graph.add(derivation("skip_counted", "good", &[]));
    let middle = graph.add(derivation("skip_counted", "middle", &[broken]));
    let top = graph.add(derivation("skip_counted", "top", &[middle]));
    let mixed = graph.add(derivation("skip_counted", "mixed", &[good, broken]));
    let temporary = TemporaryStore::new();
    let built = run(&graph, &[top, mixed], &temporary.store, &builders, 2, true);

    assert_eq!(
        built.outcome.failed,
        vec![(broken, "broken is broken on purpose".to_owned(), false)]
    );
    let (error, _, environment) = built.failure(broken).expect("a Failed event");
    assert_eq!(error, "broken is broken on purpose");
    assert!(!environment);
    assert_eq!(built.skipped(), vec![middle, top, mixed]);
    for dependent in [middle, top, mixed] {
        assert_eq!(built.started(dependent), None, "{dependent:?} started");
        assert!(!built.outcome.outputs.contains_key(&dependent));
    }
    assert_eq!(SKIP_CALLS.count("start good"), 1);
    for name in ["middle", "top", "mixed"] {
        assert_eq!(SKIP_CALLS.count(&format!("start {name}")), 0, "{name} ran");
    }
}

static CHAIN_CALLS: CallLog = CallLog::new();

fn chain_counted(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    counted(&CHAIN_CALLS, context)
}

#[test]
fn without_keep_going_newly_ready_work_is_not_started_after_a_failure() {
    // One job: `broken` runs first; the independent chain's later links only become
    // ready after the failure is known, so none of them may start.
    let mut graph = Graph::new();
    let broken = graph.add(derivation("chain_broken", "broken", &[]));
    let first = graph.add(derivation("chain_counted", "first", &[]));
    let second = graph.add(derivation("chain_counted", "second", &[first]));
    let third = graph.add(derivation("chain_counted", "third", &[second]));
    let temporary = TemporaryStore::new();
    let built = run(
        &graph,
        &[broken, third],
        &temporary.store,
        &builders,
        1,
        false,
    );

    assert_eq!(built.outcome.failed.len(), 1, "{:?}", built.outcome.failed);
    assert_eq!(built.outcome.failed[0].0, broken);
    let late = started_after_failure(&CHAIN_CALLS, "broken");
    for name in ["second", "third"] {
        assert!(
            !late.iter().any(|started| started == name),
            "`{name}` started after the failure: {:?}",
            CHAIN_CALLS.entries()
        );
    }
    assert!(!built.outcome.outputs.contains_key(&third));
}

static QUEUE_CALLS: CallLog = CallLog::new();

fn queue_counted(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    counted(&QUEUE_CALLS, context)
}

#[test]
fn without_keep_going_queued_work_is_not_started_after_a_failure() {
    // One job, two independent leaves ready at once: once `broken` has failed, the other
    // leaf has not started yet and must not start ("derivations already running finish";
    // nothing else does).
    let mut graph = Graph::new();
    let broken = graph.add(derivation("queue_broken", "broken", &[]));
    let independent = graph.add(derivation("queue_counted", "independent", &[]));
    let temporary = TemporaryStore::new();
    let built = run(
        &graph,
        &[broken, independent],
        &temporary.store,
        &builders,
        1,
        false,
    );

    assert_eq!(built.outcome.failed.len(), 1, "{:?}", built.outcome.failed);
    assert_eq!(built.outcome.failed[0].0, broken);
    let late = started_after_failure(&QUEUE_CALLS, "broken");
    assert!(
        late.is_empty(),
        "builders started after the failure without --keep-going: {late:?} (calls: {:?})",
        QUEUE_CALLS.entries()
    );
}

static KEEP_GOING_CALLS: CallLog = CallLog::new();

fn keep_going_counted(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    counted(&KEEP_GOING_CALLS, context)
}

#[test]
fn with_keep_going_independent_work_is_still_built() {
    let mut graph = Graph::new();
    let broken = graph.add(derivation("keep_going_broken", "broken", &[]));
    let dependent = graph.add(derivation("keep_going_counted", "dependent", &[broken]));
    let first = graph.add(derivation("keep_going_counted", "first", &[]));
    let second = graph.add(derivation("keep_going_counted", "second", &[first]));
    let third = graph.add(derivation("keep_going_counted", "third", &[second]));
    let temporary = TemporaryStore::new();
    let built = run(
        &graph,
        &[dependent, third],
        &temporary.store,
        &builders,
        1,
        true,
    );

    assert_eq!(built.outcome.failed.len(), 1, "{:?}", built.outcome.failed);
    assert_eq!(built.outcome.failed[0].0, broken);
    assert_eq!(built.skipped(), vec![dependent]);
    assert_eq!(built.outcome.built, 3);
    for id in [first, second, third] {
        assert_eq!(built.finished(id).map(|(_, cached)| cached), Some(false));
        assert!(built.outcome.outputs.contains_key(&id));
    }
    let bytes = file_bytes(&temporary.store, &built.outcome.outputs[&third]).expect("third");
    assert_eq!(bytes, b"thirdsecondfirst");
    assert_eq!(KEEP_GOING_CALLS.count("start dependent"), 0);
}
