//! Shared pieces of the scheduler tests: hand-built derivations, a temporary store, an
//! event recorder, a call log and a concurrency probe for builders, and a builder that
//! writes its text and its inputs' bytes into a blob.
//!
//! Builders are plain `fn`s, so what they observe goes into statics; every test owns its
//! statics and its derivation kinds, because tests run in parallel threads.
//!
//! Each test binary (`scheduler.rs`, `caching.rs`) uses part of it.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use imgbuild_derivation::Value;
use imgbuild_engine::{
    file_output, BuildConfig, BuildContext, BuildError, Builders, Derivation, DrvId, Event,
    EventSink, Graph, LocalExecutor, Options, Outcome,
};
use imgbuild_store::{OutputObject, OutputRecord, Store};

/// A store in a temporary directory, removed when dropped.
pub struct TemporaryStore {
    /// The store.
    pub store: Store,
    directory: tempfile::TempDir,
}

impl TemporaryStore {
    /// Creates an empty store.
    pub fn new() -> Self {
        let directory = tempfile::tempdir().expect("create a temporary directory");
        let store = Store::open(&directory.path().join("store")).expect("open the store");
        TemporaryStore { store, directory }
    }

    /// The store's directory (to open it again, as another process would).
    pub fn path(&self) -> std::path::PathBuf {
        self.directory.path().join("store")
    }
}

/// Arguments `{ text: <text> }` plus `extra` entries.
pub fn arguments(text: &str, extra: &[(&str, Value)]) -> Value {
    let mut map = BTreeMap::new();
    map.insert("text".to_owned(), Value::from(text));
    for (key, value) in extra {
        map.insert((*key).to_owned(), value.clone());
    }
    Value::Map(map)
}

/// A derivation of `kind` named `name` whose text is its name.
pub fn derivation(kind: &str, name: &str, inputs: &[DrvId]) -> Derivation {
    derivation_with(kind, name, arguments(name, &[]), inputs)
}

/// A derivation of `kind` named `name` with `args`.
pub fn derivation_with(kind: &str, name: &str, args: Value, inputs: &[DrvId]) -> Derivation {
    Derivation {
        kind: kind.to_owned(),
        kind_version: 1,
        name: name.to_owned(),
        args,
        inputs: inputs.to_vec(),
        fixed: false,
        location: None,
        secret: false,
        origin: None,
    }
}

/// The builder most tests use: writes the `text` argument followed by every input's bytes,
/// in input order, as a file output.
pub fn write_output(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    let derivation = context.derivation;
    let mut bytes = derivation
        .args
        .get("text")
        .and_then(Value::as_str)
        .unwrap_or(&derivation.name)
        .as_bytes()
        .to_vec();
    for input in &context.inputs {
        bytes.extend(file_bytes(context.store, &input.record)?);
    }
    let info = context.store.put_blob(&bytes, false)?;
    Ok(file_output(&info, false, false))
}

/// The bytes of a file output.
pub fn file_bytes(store: &Store, record: &OutputRecord) -> Result<Vec<u8>, BuildError> {
    match &record.object {
        OutputObject::File { blob, .. } => Ok(store.read_blob(blob)?),
        OutputObject::Tree { .. } => Err(BuildError::Malformed(
            "expected a file output, found a tree".to_owned(),
        )),
    }
}

/// Records every scheduler event.
#[derive(Default)]
pub struct Recorder {
    events: Mutex<Vec<Event>>,
}

impl EventSink for Recorder {
    fn event(&self, _graph: &Graph, event: &Event) {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(event.clone());
    }
}

/// What one call of the scheduler returned and reported.
pub struct Run {
    /// The outcome.
    pub outcome: Outcome,
    /// Every event, in the order the sink received them.
    pub events: Vec<Event>,
}

/// Builds `targets` of `graph` into `store` with `builders`, offline.
pub fn run(
    graph: &Graph,
    targets: &[DrvId],
    store: &Store,
    builders: &dyn Builders,
    jobs: usize,
    keep_going: bool,
) -> Run {
    let executor = LocalExecutor { builders };
    let config = BuildConfig {
        offline: true,
        ..BuildConfig::default()
    };
    let options = Options {
        jobs,
        keep_going,
        deep_check: false,
    };
    let recorder = Recorder::default();
    let outcome = imgbuild_engine::build(
        graph, targets, store, &executor, &config, &options, &recorder,
    )
    .expect("the store works");
    let events = recorder
        .events
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    Run { outcome, events }
}

impl Run {
    /// The position of `id`'s `Started` event.
    pub fn started(&self, id: DrvId) -> Option<usize> {
        self.events
            .iter()
            .position(|event| matches!(event, Event::Started { id: started } if *started == id))
    }

    /// The position of `id`'s `Finished` event and whether it was found by cache key.
    pub fn finished(&self, id: DrvId) -> Option<(usize, bool)> {
        self.events
            .iter()
            .enumerate()
            .find_map(|(position, event)| match event {
                Event::Finished {
                    id: finished,
                    cached,
                    ..
                } if *finished == id => Some((position, *cached)),
                _ => None,
            })
    }

    /// `id`'s `Failed` event: its error, log tail and whether the machine is at fault.
    pub fn failure(&self, id: DrvId) -> Option<(&str, &[String], bool)> {
        self.events.iter().find_map(|event| match event {
            Event::Failed {
                id: failed,
                error,
                log_tail,
                environment,
            } if *failed == id => Some((error.as_str(), log_tail.as_slice(), *environment)),
            _ => None,
        })
    }

    /// The derivations reported `Skipped`, sorted.
    pub fn skipped(&self) -> Vec<DrvId> {
        let mut skipped: Vec<DrvId> = self
            .events
            .iter()
            .filter_map(|event| match event {
                Event::Skipped { id } => Some(*id),
                _ => None,
            })
            .collect();
        skipped.sort();
        skipped
    }

    /// Every `Started` event's derivation, in order.
    pub fn all_started(&self) -> Vec<DrvId> {
        self.events
            .iter()
            .filter_map(|event| match event {
                Event::Started { id } => Some(*id),
                _ => None,
            })
            .collect()
    }

    /// The `Planned` event's `(to_build, cached)`.
    pub fn planned(&self) -> Option<(usize, usize)> {
        self.events.iter().find_map(|event| match event {
            Event::Planned { to_build, cached } => Some((*to_build, *cached)),
            _ => None,
        })
    }
}

/// What builders did, in order (`"start x"`, `"x failed"`, ...).
pub struct CallLog {
    entries: Mutex<Vec<String>>,
}

impl CallLog {
    /// An empty log (usable in a `static`).
    pub const fn new() -> Self {
        CallLog {
            entries: Mutex::new(Vec::new()),
        }
    }

    /// Appends an entry.
    pub fn push(&self, entry: impl Into<String>) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(entry.into());
    }

    /// Every entry so far.
    pub fn entries(&self) -> Vec<String> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many entries equal `entry`.
    pub fn count(&self, entry: &str) -> usize {
        self.entries().iter().filter(|each| *each == entry).count()
    }
}

/// Measures how many builders run at once.
pub struct Concurrency {
    running: AtomicUsize,
    peak: AtomicUsize,
}

impl Concurrency {
    /// No builder seen yet (usable in a `static`).
    pub const fn new() -> Self {
        Concurrency {
            running: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }

    /// Counts the calling builder as running until `wanted` builders have been running at
    /// once or `patience` has passed, whichever comes first.
    pub fn hold(&self, wanted: usize, patience: Duration) {
        let running = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(running, Ordering::SeqCst);
        let deadline = Instant::now() + patience;
        while self.peak.load(Ordering::SeqCst) < wanted && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.running.fetch_sub(1, Ordering::SeqCst);
    }

    /// The most builders seen running at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

/// Reads the log the store keeps for the recipe identity of `id`.
pub fn stored_log(store: &Store, graph: &Graph, id: DrvId) -> Option<String> {
    let key = imgbuild_engine::scheduler::store_digest(&graph.node(id).identity);
    let path = store.log_path(&key)?;
    Some(read_text(&path))
}

fn read_text(path: &Path) -> String {
    let bytes = std::fs::read(path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Logs `start <name>` into `log`, then builds with [`write_output`].
pub fn counted(log: &CallLog, context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    log.push(format!("start {}", context.derivation.name));
    write_output(context)
}
