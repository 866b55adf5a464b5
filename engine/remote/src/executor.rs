//! [`RemoteExecutor`]: the engine's executor seam, with a remote engine behind it.
//!
//! For each derivation the scheduler could not find in the local store:
//!
//! 1. Derivations holding secrets (or reading one) stay local and are never uploaded,
//!    unless the settings ask for it explicitly.
//! 2. The derivation becomes an Action ([`crate::action`]); the engine's ActionCache is
//!    asked for it. A hit is downloaded and verified; a hit whose blobs are missing or
//!    do not match is reported and the derivation is built as if there were none.
//! 3. With remote execution, derivations whose kind can run anywhere are sent to the
//!    engine (inputs uploaded first, only what the CAS lacks) and their output fetched.
//!    Kinds that read this machine (local files) run here.
//! 4. Otherwise the local executor builds it and the output, its log and the
//!    ActionCache entry are uploaded.
//!
//! Outputs found in the ActionCache or executed remotely stay in the remote CAS until
//! something needs them: only their description is read. A derivation built here
//! fetches its inputs first, and the CLI fetches what it materializes
//! ([`Executor::fetch`]); the scheduler does not publish records whose objects are
//! elsewhere. So a remote build of a disk image downloads the image, not the package
//! sets and root filesystems behind it.
//!
//! A remote that stops answering is an environment error naming it; with `fallback`
//! the first such failure is reported once and the rest of the build is local.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use imgbuild_engine::{BuildContext, BuildError, Executor, OutputKeys};
use imgbuild_store::{Digest, OutputRecord, Store};

use crate::action::{self, Prepared};
use crate::client::Client;
use crate::digest::WireDigest;
use crate::error::RemoteError;
use crate::transfer::Transfer;

/// What the remote did during a build (for the summary line).
#[derive(Debug, Default)]
pub struct Counters {
    /// Outputs found in the ActionCache.
    pub fetched: AtomicU64,
    /// Outputs downloaded into the store (the others stayed remote: nothing needed them).
    pub downloaded: AtomicU64,
    /// Derivations executed by the engine's workers.
    pub executed: AtomicU64,
    /// Outputs built here and uploaded.
    pub uploaded: AtomicU64,
    /// Derivations kept local because they hold secrets.
    pub kept_secret: AtomicU64,
}

/// Settings of a [`RemoteExecutor`].
pub struct Options<'a> {
    /// Send derivations to the engine's workers (`--remote-exec`).
    pub execute: bool,
    /// Build locally when the remote fails instead of failing the derivation.
    pub fallback: bool,
    /// Kinds that must run on this machine (their builders read local files).
    pub local_only: &'a (dyn Fn(&str) -> bool + Sync),
    /// Where warnings go (the CLI prints them).
    pub warn: &'a (dyn Fn(&str) + Sync),
}

/// The remote cache and remote execution in front of a local executor.
pub struct RemoteExecutor<'a> {
    client: &'a Client,
    local: &'a dyn Executor,
    options: Options<'a>,
    disabled: AtomicBool,
    /// Outputs left in the remote CAS: output digest → description, and the keys to
    /// publish it under once fetched.
    elsewhere: Mutex<HashMap<Digest, (WireDigest, Option<OutputKeys>)>>,
    /// Output descriptions whose objects turned out corrupt or missing: never used again.
    refused: Mutex<std::collections::HashSet<WireDigest>>,
    /// Set when something was refused: the caller builds again (those outputs here).
    refused_any: AtomicBool,
    /// What happened.
    pub counters: Counters,
}

impl<'a> RemoteExecutor<'a> {
    /// A remote executor over `client`, building locally with `local`.
    pub fn new(client: &'a Client, local: &'a dyn Executor, options: Options<'a>) -> Self {
        RemoteExecutor {
            client,
            local,
            options,
            disabled: AtomicBool::new(false),
            elsewhere: Mutex::new(HashMap::new()),
            refused: Mutex::new(std::collections::HashSet::new()),
            refused_any: AtomicBool::new(false),
            counters: Counters::default(),
        }
    }

    /// Turns a remote failure into the derivation's error, or (with fallback) into a
    /// warning and local building from now on.
    fn failed(&self, error: RemoteError) -> Result<(), BuildError> {
        if error.is_bad_data() {
            (self.options.warn)(&format!("warning: {error}; building it here instead"));
            return Ok(());
        }
        if self.options.fallback && error.is_environment() {
            if !self.disabled.swap(true, Ordering::SeqCst) {
                (self.options.warn)(&format!(
                    "warning: {error}; building the rest locally (--remote-fallback)"
                ));
            }
            return Ok(());
        }
        Err(if error.is_environment() {
            BuildError::Network(error.to_string())
        } else {
            BuildError::Failed(error.to_string())
        })
    }

    fn prepare(&self, context: &BuildContext<'_>) -> Result<Prepared, RemoteError> {
        let transfer = Transfer::new(self.client, context.store);
        let mut descriptions = Vec::with_capacity(context.inputs.len());
        let mut digests = Vec::with_capacity(context.inputs.len());
        for input in &context.inputs {
            descriptions.push(transfer.describe(&input.record)?.digest);
            digests.push(*input.record.digest().as_bytes());
        }
        let encoding = context.derivation.cache_key_encoding(&digests);
        Ok(action::prepare(
            &encoding,
            &descriptions,
            context.derivation.secret,
        ))
    }

    fn lookup(
        &self,
        context: &mut BuildContext<'_>,
        prepared: &Prepared,
    ) -> Result<Option<OutputRecord>, RemoteError> {
        let Some(result) = self.client.get_action_result(prepared.digest)? else {
            return Ok(None);
        };
        let Some(output) = action::output_of(&result) else {
            return Ok(None);
        };
        if self
            .refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&output)
        {
            return Ok(None);
        }
        let record = self.leave_remote(context, output)?;
        context.log_line(format!(
            "found in the remote cache {}",
            self.client.endpoint
        ));
        self.counters.fetched.fetch_add(1, Ordering::Relaxed);
        Ok(Some(record))
    }

    fn execute_remotely(
        &self,
        context: &mut BuildContext<'_>,
        prepared: &Prepared,
    ) -> Result<OutputRecord, RemoteError> {
        let transfer = Transfer::new(self.client, context.store);
        for input in &context.inputs {
            transfer.upload(&input.record)?;
        }
        self.send_action(prepared)?;
        let response = self.client.execute(prepared.digest, false)?;
        let result = response.result.unwrap_or_default();
        if result.exit_code != 0 {
            let message = format!(
                "on a remote worker: {}",
                String::from_utf8_lossy(&result.stderr_raw).trim()
            );
            return Err(if result.exit_code == 3 {
                RemoteError::WorkerMachine(message)
            } else {
                RemoteError::Execution(message)
            });
        }
        let Some(output) = action::output_of(&result) else {
            return Err(RemoteError::Execution(format!(
                "the remote engine at {} returned no output (exit code {})",
                self.client.endpoint, result.exit_code
            )));
        };
        let record = self.leave_remote(context, output)?;
        context.log_line(format!(
            "executed by the remote engine {}",
            self.client.endpoint
        ));
        self.counters.executed.fetch_add(1, Ordering::Relaxed);
        Ok(record)
    }

    /// Sends the Action's own blobs (action, command, directories, the derivation's
    /// encoding) that the CAS lacks.
    fn send_action(&self, prepared: &Prepared) -> Result<(), RemoteError> {
        let wanted: Vec<WireDigest> = prepared.blobs.iter().map(|(digest, _)| *digest).collect();
        let missing = self.client.find_missing(&wanted)?;
        let blobs = prepared
            .blobs
            .iter()
            .filter(|(digest, _)| missing.contains(digest))
            .cloned()
            .collect();
        self.client.upload_batch(blobs)
    }

    fn upload(
        &self,
        context: &BuildContext<'_>,
        prepared: &Prepared,
        record: &OutputRecord,
    ) -> Result<(), RemoteError> {
        let transfer = Transfer::new(self.client, context.store);
        let output = transfer.upload(record)?;
        let log = if context.log.is_empty() {
            None
        } else {
            let digest = WireDigest::of(&context.log);
            self.client
                .upload_batch(vec![(digest, context.log.clone())])?;
            Some(digest)
        };
        // The Action's own blobs go too, so that the entry is complete for anyone.
        self.send_action(prepared)?;
        self.client
            .update_action_result(prepared.digest, action::result(output, log))?;
        self.counters.uploaded.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Notes an output that stays in the remote CAS (only its description is read).
    fn leave_remote(
        &self,
        context: &BuildContext<'_>,
        description: WireDigest,
    ) -> Result<OutputRecord, RemoteError> {
        let record = Transfer::new(self.client, context.store)
            .record_of(description, context.derivation.secret)?;
        if !context.store.has_top_object(&record) {
            self.elsewhere
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(record.digest(), (description, context.keys));
        }
        Ok(record)
    }

    /// Whether an output left remote turned out corrupt or missing since the last call:
    /// building again builds those here.
    pub fn take_refusals(&self) -> bool {
        self.refused_any.swap(false, Ordering::SeqCst)
    }

    /// Brings every input left remote into the store before a local build.
    fn fetch_inputs(&self, context: &BuildContext<'_>) -> Result<(), BuildError> {
        for input in &context.inputs {
            self.fetch(context.store, &input.record)?;
        }
        Ok(())
    }

    fn holds_secret(context: &BuildContext<'_>) -> bool {
        context.derivation.secret
            || context.derivation.args.holds_secret()
            || context.inputs.iter().any(|input| input.record.secret)
    }
}

impl RemoteExecutor<'_> {
    fn build_here(&self, context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
        self.fetch_inputs(context)?;
        self.local.execute(context)
    }
}

impl Executor for RemoteExecutor<'_> {
    fn fetch(&self, store: &Store, record: &OutputRecord) -> Result<(), BuildError> {
        if store.has_top_object(record) {
            return Ok(());
        }
        let description = self
            .elsewhere
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&record.digest())
            .copied();
        let Some((description, keys)) = description else {
            return Ok(());
        };
        let fetched = Transfer::new(self.client, store)
            .download_as(description, record.secret)
            .map_err(|error| {
                if error.is_bad_data() {
                    self.refused
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(description);
                    self.refused_any.store(true, Ordering::SeqCst);
                    (self.options.warn)(&format!(
                        "warning: {error}; the output will be built here instead"
                    ));
                }
                if error.is_environment() {
                    BuildError::Network(format!("cannot fetch an output from the remote: {error}"))
                } else {
                    BuildError::Failed(error.to_string())
                }
            })?;
        self.counters.downloaded.fetch_add(1, Ordering::Relaxed);
        // Now that its objects are here, the store knows the output like any other.
        if let Some(keys) = keys {
            store.put_output_pair(&keys.cache_key, &keys.recipe, &fetched)?;
        }
        Ok(())
    }

    fn execute(&self, context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
        if self.disabled.load(Ordering::SeqCst) {
            return self.build_here(context);
        }
        let secret = Self::holds_secret(context);
        if secret && !self.client.settings.upload_secrets {
            self.counters.kept_secret.fetch_add(1, Ordering::Relaxed);
            return self.build_here(context);
        }
        let prepared = match self.prepare(context) {
            Ok(prepared) => prepared,
            Err(error) => {
                self.failed(error)?;
                return self.build_here(context);
            }
        };
        match self.lookup(context, &prepared) {
            Ok(Some(record)) => return Ok(record),
            Ok(None) => {}
            Err(error) => self.failed(error)?,
        }
        // Secret text travels only as its seal: a derivation holding some runs here.
        let remote_kind = !context.derivation.fixed
            && !context.derivation.args.holds_secret()
            && !(self.options.local_only)(&context.derivation.kind);
        if self.options.execute && remote_kind && !self.disabled.load(Ordering::SeqCst) {
            match self.execute_remotely(context, &prepared) {
                Ok(record) => return Ok(record),
                Err(RemoteError::Execution(message)) => return Err(BuildError::Failed(message)),
                Err(error) => self.failed(error)?,
            }
        }
        let record = self.build_here(context)?;
        if !self.disabled.load(Ordering::SeqCst)
            && (!record.secret || self.client.settings.upload_secrets)
        {
            if let Err(error) = self.upload(context, &prepared, &record) {
                self.failed(error)?;
            }
        }
        Ok(record)
    }
}
