//! `tar(tree)`: a deterministic tar archive of a tree (the form in which trees are
//! handed to external tools such as `mke2fs -d`). The same tree always gives the same
//! bytes: sorted entries, numeric owners from the tree, mtimes from the tree.

use std::collections::BTreeMap;

use imgbuild_evaluator::rhai::{Engine, EvalAltResult, NativeCallContext};
use imgbuild_evaluator::{DerivationHandle, DerivationSpec, Value};
use imgbuild_store::{OutputObject, OutputRecord};

use imgbuild_engine::{BuildContext, BuildError};

/// The derivation kind.
pub const KIND: &str = "tar";
pub(crate) const VERSION: u32 = 1;

pub(crate) fn register(engine: &mut Engine, registration: &crate::Registration) {
    let state = registration.state.clone();
    engine.register_fn(
        "tar",
        move |context: NativeCallContext,
              tree: DerivationHandle|
              -> Result<DerivationHandle, Box<EvalAltResult>> {
            let mut inputs = imgbuild_evaluator::Inputs::new();
            let mut args = BTreeMap::new();
            args.insert("tree".to_owned(), inputs.reference(tree.id));
            let name = format!("{}.tar", state.derivation_name(tree));
            Ok(state.add(
                &context,
                DerivationSpec::derived(KIND, VERSION, name, args, inputs),
            ))
        },
    );
}

pub(crate) fn build(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    let Some(Value::Input(index)) = context.derivation.args.get("tree") else {
        return Err(BuildError::Malformed("tar without a tree".to_owned()));
    };
    let input = context.input(*index)?.clone();
    let OutputObject::Tree { tree } = input.record.object else {
        return Err(BuildError::Failed(format!(
            "tar: `{}` is a file, not a tree",
            input.name
        )));
    };
    let secret = context.derivation.secret || input.record.secret;
    let mut writer = context.store.blob_writer(secret)?;
    context.store.write_tar(&tree, &mut writer)?;
    let info = writer.finish()?;
    context.log_line(format!("tar of {} ({} bytes)", input.name, info.size));
    Ok(imgbuild_engine::file_output(&info, false, secret))
}
