//! The scheduler: walks the derivation graph and builds what is missing, in parallel.
//!
//! 1. **Plan** (top-down from the requested outputs): a derivation whose recipe identity
//!    already maps to an output in the store is done, and its inputs are not even looked
//!    at. This is the fast path that makes a no-op build a handful of lookups.
//! 2. **Build** (bottom-up): a derivation is ready when its inputs are done. Up to `jobs`
//!    workers build ready derivations. Each computes its cache key from its inputs'
//!    output digests; a hit there (early cutoff) skips the builder. Otherwise it takes the
//!    store's build lock for that key (so two processes build it once), checks again,
//!    runs the builder and publishes the output under both keys.
//! 3. On failure, dependents are skipped; derivations already running finish and no
//!    other one starts (queued jobs are withdrawn); with `keep_going`, everything that
//!    does not depend on the failure is still built.
//!
//! Damage in the store (a missing or corrupt object, a record that is not authentic) is
//! handled as described in [`crate::integrity`]: found records that are not authentic
//! are rebuilt; a step that fails on a missing or corrupt object fails like any other
//! and is also listed in [`Outcome::damaged`], for the caller to build again with
//! [`Options::deep_check`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use imgbuild_derivation::{DrvId, Graph, Identity};
use imgbuild_store::{Digest, OutputIndex, OutputRecord, Store, StoreError};

use crate::config::BuildConfig;
use crate::context::InputOutput;
use crate::error::describe;
use crate::executor::Executor;
use crate::integrity::{self, Damage};

mod step;
use step::{DerivationReporter, Step, StepResult};

/// What the scheduler reports as it goes.
#[derive(Debug, Clone)]
pub enum Event {
    /// The plan is known: how many derivations must be built, how many were cached.
    Planned {
        /// Derivations to build (or find by cache key).
        to_build: usize,
        /// Derivations already in the store by recipe identity.
        cached: usize,
    },
    /// A builder started.
    Started {
        /// The derivation.
        id: DrvId,
    },
    /// A derivation is done.
    Finished {
        /// The derivation.
        id: DrvId,
        /// Found by cache key instead of built.
        cached: bool,
        /// Time spent.
        duration: Duration,
    },
    /// A derivation failed.
    Failed {
        /// The derivation.
        id: DrvId,
        /// The error, rendered.
        error: String,
        /// The last lines of its log.
        log_tail: Vec<String>,
        /// True when the machine, not the recipe, is at fault.
        environment: bool,
    },
    /// A running builder reported progress (throttled).
    Progress {
        /// The derivation.
        id: DrvId,
        /// Work done so far.
        done: u64,
        /// Total work, when known.
        total: Option<u64>,
        /// Unit of `done` and `total` (`bytes`, `files`, ...).
        unit: &'static str,
    },
    /// A derivation was not built because an input failed.
    Skipped {
        /// The derivation.
        id: DrvId,
    },
}

/// Receives scheduler events (the CLI's progress display).
pub trait EventSink: Sync {
    /// One event.
    fn event(&self, graph: &Graph, event: &Event);
}

/// Scheduler options.
#[derive(Debug, Clone)]
pub struct Options {
    /// Derivations built at once.
    pub jobs: usize,
    /// Continue with independent work after a failure.
    pub keep_going: bool,
    /// Check every output found in the store in full (every object it reaches present
    /// and re-hashed, [`Store::repair_output`]), not just its top object; damaged ones
    /// are rebuilt. Used when recovering from a missing or corrupt object.
    pub deep_check: bool,
}

/// The result of a build.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Outputs of every derivation that is done.
    pub outputs: HashMap<DrvId, OutputRecord>,
    /// Derivations that failed, with their errors.
    pub failed: Vec<(DrvId, String, bool)>,
    /// A step failed on a missing or corrupt object (the caller may retry with
    /// `deep_check`).
    pub saw_corruption: bool,
    /// Damage met and what was done about it: outputs found damaged or whose record was
    /// rejected (they were rebuilt), and steps that failed on a missing or corrupt
    /// object (also in `failed`; the caller may retry with `deep_check`).
    pub damaged: Vec<Damage>,
    /// Derivations whose builder ran.
    pub built: usize,
    /// Some derivation was built or found by cache key (so records were written).
    pub ran_any: bool,
    /// Derivations found in the store (by recipe identity or cache key).
    pub cached: usize,
}

enum State {
    Done,
    Waiting(usize),
    Failed,
}

/// Builds `targets` (and whatever they need) into `store`, running build steps on
/// `executor` with `config`.
pub fn build(
    graph: &Graph,
    targets: &[DrvId],
    store: &Store,
    executor: &dyn Executor,
    config: &BuildConfig,
    options: &Options,
    sink: &dyn EventSink,
) -> Result<Outcome, StoreError> {
    let mut outcome = Outcome::default();
    let needed = plan(graph, targets, store, options, &mut outcome)?;
    outcome.cached = outcome.outputs.len();
    sink.event(
        graph,
        &Event::Planned {
            to_build: needed.len(),
            cached: outcome.outputs.len(),
        },
    );
    if needed.is_empty() {
        return Ok(outcome);
    }
    let mut states: HashMap<DrvId, State> = HashMap::with_capacity(needed.len());
    let mut dependents: HashMap<DrvId, Vec<DrvId>> = HashMap::new();
    let mut ready = Vec::new();
    for &id in &needed {
        let waiting = graph
            .node(id)
            .derivation
            .inputs
            .iter()
            .filter(|input| !outcome.outputs.contains_key(input))
            .count();
        for input in &graph.node(id).derivation.inputs {
            if !outcome.outputs.contains_key(input) {
                dependents.entry(*input).or_default().push(id);
            }
        }
        if waiting == 0 {
            ready.push(id);
        }
        states.insert(id, State::Waiting(waiting));
    }
    ready.reverse();

    let (job_sender, job_receiver) = mpsc::channel::<(DrvId, Vec<InputOutput>)>();
    let job_receiver = Arc::new(Mutex::new(job_receiver));
    // `None`: the job was withdrawn before it started (a failure stopped the build).
    let (result_sender, result_receiver) = mpsc::channel::<(DrvId, Option<StepResult>, Duration)>();
    let jobs = options.jobs.max(1).min(needed.len());
    let mut stop_scheduling = false;
    // Set on a failure without --keep-going: queued jobs are withdrawn, not started.
    let stopped = AtomicBool::new(false);
    // Damage the workers met while looking outputs up by cache key.
    let step_damage: Mutex<Vec<Damage>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let job_receiver = job_receiver.clone();
            let result_sender = result_sender.clone();
            let stopped = &stopped;
            let step_damage = &step_damage;
            scope.spawn(move || loop {
                let job = match job_receiver.lock() {
                    Ok(receiver) => receiver.recv(),
                    Err(_) => return,
                };
                let Ok((id, inputs)) = job else { return };
                if stopped.load(Ordering::SeqCst) {
                    if result_sender.send((id, None, Duration::ZERO)).is_err() {
                        return;
                    }
                    continue;
                }
                sink.event(graph, &Event::Started { id });
                let started = Instant::now();
                let reporter = DerivationReporter {
                    graph,
                    id,
                    sink,
                    last: std::sync::atomic::AtomicU64::new(0),
                };
                let step = Step {
                    graph,
                    store,
                    executor,
                    config,
                    deep_check: options.deep_check,
                    damage: step_damage,
                };
                let result = step.run(id, inputs, &reporter);
                if result.is_err() && !options.keep_going {
                    // Before this worker (or another) takes the next job.
                    stopped.store(true, Ordering::SeqCst);
                }
                if result_sender
                    .send((id, Some(result), started.elapsed()))
                    .is_err()
                {
                    return;
                }
            });
        }
        drop(result_sender);
        let mut running = 0usize;
        loop {
            // Everything ready is queued at once (workers never wait for this thread);
            // after a failure without --keep-going, what is still queued is withdrawn.
            while let Some(id) = ready.pop() {
                if stop_scheduling {
                    ready.clear();
                    break;
                }
                let inputs = input_outputs(graph, id, &outcome.outputs);
                if job_sender.send((id, inputs)).is_err() {
                    break;
                }
                running += 1;
            }
            if running == 0 {
                break;
            }
            let Ok((id, result, duration)) = result_receiver.recv() else {
                break;
            };
            running -= 1;
            let Some(result) = result else {
                continue;
            };
            match result {
                Ok((record, cached)) => {
                    outcome.ran_any = true;
                    if cached {
                        outcome.cached += 1;
                    } else {
                        outcome.built += 1;
                    }
                    outcome.outputs.insert(id, record);
                    states.insert(id, State::Done);
                    sink.event(
                        graph,
                        &Event::Finished {
                            id,
                            cached,
                            duration,
                        },
                    );
                    for dependent in dependents.get(&id).map(Vec::as_slice).unwrap_or_default() {
                        if let Some(State::Waiting(count)) = states.get_mut(dependent) {
                            *count -= 1;
                            if *count == 0 {
                                ready.push(*dependent);
                            }
                        }
                    }
                }
                Err((error, log)) => {
                    if let Some(description) = integrity::damage_in(&error) {
                        // The caller builds again with a deep check.
                        outcome.saw_corruption = true;
                        outcome.damaged.push(Damage { id, description });
                    }
                    let environment = error.is_environment();
                    let message = describe(&error);
                    let log_tail = tail(&log, 20);
                    sink.event(
                        graph,
                        &Event::Failed {
                            id,
                            error: message.clone(),
                            log_tail,
                            environment,
                        },
                    );
                    outcome.failed.push((id, message, environment));
                    states.insert(id, State::Failed);
                    skip_dependents(graph, id, &dependents, &mut states, sink);
                    if !options.keep_going {
                        stop_scheduling = true;
                        stopped.store(true, Ordering::SeqCst);
                    }
                }
            }
        }
        drop(job_sender);
    });
    outcome.damaged.extend(
        step_damage
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner),
    );
    Ok(outcome)
}

fn plan(
    graph: &Graph,
    targets: &[DrvId],
    store: &Store,
    options: &Options,
    outcome: &mut Outcome,
) -> Result<Vec<DrvId>, StoreError> {
    let mut visited = vec![false; graph.len()];
    let mut needed = Vec::new();
    let mut stack: Vec<DrvId> = targets.to_vec();
    while let Some(id) = stack.pop() {
        if std::mem::replace(&mut visited[id.index()], true) {
            continue;
        }
        let identity = store_digest(&graph.node(id).identity);
        let (found, damage) =
            integrity::lookup(store, OutputIndex::Recipe, &identity, options.deep_check)?;
        if let Some(description) = damage {
            outcome.damaged.push(Damage { id, description });
        }
        if let Some(record) = found {
            tracing::trace!(name = %graph.node(id).derivation.name, "found by recipe identity");
            outcome.outputs.insert(id, record);
            continue;
        }
        needed.push(id);
        stack.extend(graph.node(id).derivation.inputs.iter().copied());
    }
    needed.sort();
    Ok(needed)
}

fn input_outputs(
    graph: &Graph,
    id: DrvId,
    outputs: &HashMap<DrvId, OutputRecord>,
) -> Vec<InputOutput> {
    graph
        .node(id)
        .derivation
        .inputs
        .iter()
        .filter_map(|input| {
            outputs.get(input).map(|record| InputOutput {
                name: graph.node(*input).derivation.name.clone(),
                identity: graph.node(*input).identity,
                record: record.clone(),
                origin: graph.node(*input).derivation.origin.clone(),
            })
        })
        .collect()
}

/// Converts an evaluator identity to a store digest.
pub fn store_digest(identity: &Identity) -> Digest {
    Digest::from_bytes(identity.0)
}

fn skip_dependents(
    graph: &Graph,
    failed: DrvId,
    dependents: &HashMap<DrvId, Vec<DrvId>>,
    states: &mut HashMap<DrvId, State>,
    sink: &dyn EventSink,
) {
    let mut stack = vec![failed];
    while let Some(id) = stack.pop() {
        for dependent in dependents.get(&id).map(Vec::as_slice).unwrap_or_default() {
            if matches!(states.get(dependent), Some(State::Waiting(_))) {
                states.insert(*dependent, State::Failed);
                sink.event(graph, &Event::Skipped { id: *dependent });
                stack.push(*dependent);
            }
        }
    }
}

fn tail(log: &[u8], lines: usize) -> Vec<String> {
    let text = String::from_utf8_lossy(log);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|line| (*line).to_owned())
        .collect()
}
