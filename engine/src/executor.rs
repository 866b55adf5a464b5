//! Executors: where a derivation's builder runs.
//!
//! The scheduler decides *what* must be built and in which order; an [`Executor`] is
//! asked to turn one derivation, whose inputs are already in the store, into an output
//! record in the store. [`LocalExecutor`] runs the builder in this process; a remote
//! executor (REAPI) implements the same trait by sending the derivation and its inputs'
//! outputs to a worker that runs the same builder with the same [`crate::BuildConfig`].

use imgbuild_store::OutputRecord;

use crate::context::BuildContext;
use crate::error::BuildError;

/// A builder: realises one derivation kind.
pub type BuildFn = fn(&mut BuildContext<'_>) -> Result<OutputRecord, BuildError>;

/// The table of builders by derivation kind (the builtins' registry implements it).
pub trait Builders: Sync {
    /// The builder for `kind`, if there is one.
    fn builder(&self, kind: &str) -> Option<BuildFn>;
}

impl<F> Builders for F
where
    F: Fn(&str) -> Option<BuildFn> + Sync,
{
    fn builder(&self, kind: &str) -> Option<BuildFn> {
        self(kind)
    }
}

/// Runs one derivation's build step.
pub trait Executor: Sync {
    /// Builds `context.derivation` and returns its output record. The output is in
    /// `context.store`, or (a remote executor's) elsewhere, to be brought in by
    /// [`Executor::fetch`] when something needs it; the scheduler publishes only
    /// records whose objects are in the store.
    fn execute(&self, context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError>;

    /// Brings an output this executor left elsewhere into `store` (before it is
    /// materialized). The local executor leaves nothing elsewhere.
    fn fetch(
        &self,
        _store: &imgbuild_store::Store,
        _record: &OutputRecord,
    ) -> Result<(), BuildError> {
        Ok(())
    }
}

/// Runs builders in this process, on the scheduler's worker thread.
pub struct LocalExecutor<'a> {
    /// Where builders are looked up.
    pub builders: &'a dyn Builders,
}

impl Executor for LocalExecutor<'_> {
    fn execute(&self, context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
        let kind = &context.derivation.kind;
        let Some(builder) = self.builders.builder(kind) else {
            return Err(BuildError::Failed(format!("no builder for kind `{kind}`")));
        };
        builder(context)
    }
}
