//! One build step, run on a worker thread: find the derivation by cache key (early
//! cutoff) or run its builder under the build lock, and publish its output; plus the
//! reporter that forwards the builder's progress as events.

use std::sync::{Mutex, PoisonError};

use imgbuild_derivation::{DrvId, Graph};
use imgbuild_store::{OutputIndex, OutputRecord, Store, StoreError};

use super::{store_digest, Event, EventSink};
use crate::config::BuildConfig;
use crate::context::{BuildContext, InputOutput, Reporter};
use crate::error::{describe, BuildError};
use crate::executor::Executor;
use crate::integrity::{self, Damage};

/// A build step's result: the record and whether it was found by cache key, or the
/// error with the derivation's log.
pub(super) type StepResult = Result<(OutputRecord, bool), (BuildError, Vec<u8>)>;

/// What a worker thread needs to build one derivation.
pub(super) struct Step<'a> {
    pub(super) graph: &'a Graph,
    pub(super) store: &'a Store,
    pub(super) executor: &'a dyn Executor,
    pub(super) config: &'a BuildConfig,
    /// Check outputs found by cache key in full ([`super::Options::deep_check`]).
    pub(super) deep_check: bool,
    /// Where damage met while looking up is reported.
    pub(super) damage: &'a Mutex<Vec<Damage>>,
}

impl Step<'_> {
    /// Builds `id` (or finds it by cache key): `Ok((record, found_by_cache_key))`, or the
    /// error with the derivation's log.
    pub(super) fn run(
        &self,
        id: DrvId,
        inputs: Vec<InputOutput>,
        reporter: &dyn Reporter,
    ) -> Result<(OutputRecord, bool), (BuildError, Vec<u8>)> {
        let Step {
            graph,
            store,
            executor,
            config,
            deep_check,
            damage,
        } = *self;
        let node = graph.node(id);
        let input_digests: Vec<[u8; 32]> = inputs
            .iter()
            .map(|input| *input.record.digest().as_bytes())
            .collect();
        let cache_key = store_digest(&graph.cache_key(id, &input_digests));
        let recipe = store_digest(&node.identity);
        let lookup = |store: &Store| -> Result<Option<OutputRecord>, StoreError> {
            let (found, damaged) =
                integrity::lookup(store, OutputIndex::CacheKey, &cache_key, deep_check)?;
            if let Some(description) = damaged {
                damage
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(Damage { id, description });
            }
            if let Some(record) = found {
                store.put_output(OutputIndex::Recipe, &recipe, &record)?;
                return Ok(Some(record));
            }
            Ok(None)
        };
        let fail = |error: StoreError| (BuildError::Store(error), Vec::new());
        // A secret derivation's cache key and output digest are unkeyed hashes of its
        // content (a guess could be checked against them): they are never logged.
        let secret = node.derivation.secret;
        let shown = |digest: &imgbuild_store::Digest| {
            if secret {
                "<secret>".to_owned()
            } else {
                digest.short()
            }
        };
        let span = tracing::info_span!(
            "derivation",
            name = %node.derivation.name,
            kind = %node.derivation.kind,
            identity = %node.identity.short(),
            cache_key = %shown(&cache_key),
        );
        let _entered = span.enter();
        // Lock first, then look: one lookup instead of two (locks are striped and cheap).
        let _lock = store.lock_build(&cache_key).map_err(fail)?;
        if let Some(record) = lookup(store).map_err(fail)? {
            tracing::debug!(output = %shown(&record.digest()), "found by cache key");
            return Ok((record, true));
        }
        let mut context = BuildContext {
            store,
            derivation: &node.derivation,
            inputs,
            log: Vec::new(),
            reporter,
            config,
            keys: Some(crate::context::OutputKeys { cache_key, recipe }),
        };
        let result = executor.execute(&mut context);
        let mut log = context.log;
        match result {
            Ok(record) => {
                // An output an executor left elsewhere (a remote engine's CAS, fetched
                // only when needed) is not published here: the store never holds a
                // record whose objects it lacks.
                if !store.has_top_object(&record) {
                    tracing::info!(output = %shown(&record.digest()), "built elsewhere");
                    return Ok((record, false));
                }
                let publish = || -> Result<(), StoreError> {
                    store.put_output_pair(&cache_key, &recipe, &record)?;
                    if !log.is_empty() {
                        store.write_log(&recipe, &log)?;
                    }
                    Ok(())
                };
                publish().map_err(|error| (BuildError::Store(error), log.clone()))?;
                tracing::info!(output = %shown(&record.digest()), "built");
                Ok((record, false))
            }
            Err(error) => {
                tracing::warn!(error = %describe(&error), "failed");
                log.extend_from_slice(format!("error: {}\n", describe(&error)).as_bytes());
                let _ = store.write_log(&recipe, &log);
                Err((error, log))
            }
        }
    }
}

/// Forwards a builder's progress as [`Event::Progress`], at most every 4 MiB (or unit
/// equivalent) so that a fast builder does not flood the display.
pub(super) struct DerivationReporter<'a> {
    pub(super) graph: &'a Graph,
    pub(super) id: DrvId,
    pub(super) sink: &'a dyn EventSink,
    pub(super) last: std::sync::atomic::AtomicU64,
}

impl Reporter for DerivationReporter<'_> {
    fn progress(&self, done: u64, total: Option<u64>, unit: &str) {
        use std::sync::atomic::Ordering;
        let step = if unit == "bytes" { 4 << 20 } else { 64 };
        let last = self.last.load(Ordering::Relaxed);
        if done < last + step && Some(done) != total {
            return;
        }
        self.last.store(done, Ordering::Relaxed);
        let unit = match unit {
            "bytes" => "bytes",
            "files" => "files",
            _ => "items",
        };
        self.sink.event(
            self.graph,
            &Event::Progress {
                id: self.id,
                done,
                total,
                unit,
            },
        );
    }
}
