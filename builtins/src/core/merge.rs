//! `merge([a, b, ...])`: the union of several trees.
//!
//! Directories present in several trees are merged recursively. Anything else present in
//! two trees must be identical (same kind, content and metadata); otherwise the build
//! fails naming the path and both source derivations.

use std::collections::BTreeMap;

use imgbuild_evaluator::rhai::{Array, Engine, EvalAltResult, NativeCallContext};
use imgbuild_evaluator::{
    friendly_type_name, BuiltinError, DerivationHandle, DerivationSpec, SharedState, Value,
};
use imgbuild_store::{Directory, EntryKind, OutputObject, OutputRecord, Tree};

use imgbuild_engine::{BuildContext, BuildError};

/// The derivation kind.
pub const KIND: &str = "merge";
pub(crate) const VERSION: u32 = 1;

pub(crate) fn register(engine: &mut Engine, registration: &crate::Registration) {
    let state = &registration.state;
    let plain = state.clone();
    engine.register_fn(
        "merge",
        move |context: NativeCallContext,
              trees: Array|
              -> Result<DerivationHandle, Box<EvalAltResult>> {
            merge_derivation(&plain, &context, "merge".to_owned(), trees)
        },
    );
    let named = state.clone();
    engine.register_fn(
        "merge",
        move |context: NativeCallContext,
              name: imgbuild_evaluator::rhai::ImmutableString,
              trees: Array|
              -> Result<DerivationHandle, Box<EvalAltResult>> {
            crate::core::paths::check_name("merge", &name)?;
            merge_derivation(&named, &context, name.to_string(), trees)
        },
    );
}

fn merge_derivation(
    state: &SharedState,
    context: &NativeCallContext,
    name: String,
    trees: Array,
) -> Result<DerivationHandle, Box<EvalAltResult>> {
    if trees.is_empty() {
        return Err(BuiltinError::new("merge: needs at least one tree").into());
    }
    let mut inputs = imgbuild_evaluator::Inputs::new();
    let mut parts = Vec::new();
    for (index, item) in trees.iter().enumerate() {
        let Some(handle) = item.read_lock::<DerivationHandle>() else {
            return Err(BuiltinError::new(format!(
                "merge: item {index} is {}, expected a tree derivation",
                friendly_type_name(item.type_name())
            ))
            .into());
        };
        parts.push(inputs.reference(handle.id));
    }
    let mut args = BTreeMap::new();
    args.insert("trees".to_owned(), Value::List(parts));
    Ok(state.add(
        context,
        DerivationSpec::derived(KIND, VERSION, name, args, inputs),
    ))
}

pub(crate) fn build(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    let parts = context
        .derivation
        .args
        .get("trees")
        .and_then(Value::as_list)
        .ok_or_else(|| BuildError::Malformed("merge without trees".to_owned()))?;
    let mut merged: Option<Tree> = None;
    let mut first_source = String::new();
    let mut owners: BTreeMap<String, String> = BTreeMap::new();
    for part in parts {
        let Value::Input(index) = part else {
            return Err(BuildError::Malformed("merge part".to_owned()));
        };
        let input = context.input(*index)?.clone();
        let OutputObject::Tree { tree: digest } = input.record.object else {
            return Err(BuildError::Failed(format!(
                "merge: `{}` is a file, not a tree",
                input.name
            )));
        };
        let tree = context.store.load_tree(&digest)?;
        match merged.as_mut() {
            None => {
                first_source = input.described();
                merged = Some(tree);
            }
            Some(target) => {
                if target.root_meta() != tree.root_meta() {
                    return Err(BuildError::Conflict {
                        path: "/".to_owned(),
                        first: first_source.clone(),
                        second: input.described(),
                    });
                }
                let mut root = target.root_directory().clone();
                merge_directory(
                    &mut root,
                    tree.root_directory(),
                    "",
                    &input.described(),
                    &first_source,
                    &mut owners,
                )?;
                *target = Tree::from_parts(target.root_meta().clone(), root);
            }
        }
    }
    let tree = merged.ok_or_else(|| BuildError::Malformed("merge of nothing".to_owned()))?;
    let digest = context.store.put_tree(&tree)?;
    Ok(imgbuild_engine::tree_output(
        digest,
        context.derivation.secret,
    ))
}

fn merge_directory(
    target: &mut Directory,
    source: &Directory,
    prefix: &str,
    source_name: &str,
    first_source: &str,
    owners: &mut BTreeMap<String, String>,
) -> Result<(), BuildError> {
    for (name, entry) in &source.entries {
        let path = format!("{prefix}/{name}");
        match target.entries.get_mut(name) {
            None => {
                owners.insert(path, source_name.to_owned());
                target.entries.insert(name.clone(), entry.clone());
            }
            Some(existing) => {
                let conflict = || BuildError::Conflict {
                    path: path.clone(),
                    first: owners
                        .get(&path)
                        .cloned()
                        .unwrap_or_else(|| first_source.to_owned()),
                    second: source_name.to_owned(),
                };
                if existing == entry {
                    continue;
                }
                if existing.meta != entry.meta {
                    return Err(conflict());
                }
                match (&mut existing.kind, &entry.kind) {
                    (
                        EntryKind::Directory(existing_directory),
                        EntryKind::Directory(source_directory),
                    ) => {
                        merge_directory(
                            existing_directory,
                            source_directory,
                            &path,
                            source_name,
                            first_source,
                            owners,
                        )?;
                    }
                    _ => return Err(conflict()),
                }
            }
        }
    }
    Ok(())
}
