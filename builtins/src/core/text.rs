//! `text(content)` / `text(name, content)`: a file whose bytes the recipe spells out.
//!
//! `content` is a string, a `secret(...)`, or an array of parts. A string or secret part is copied; a derivation
//! part contributes its output: a file's bytes, or a tree's digest in hexadecimal. So
//! `text("motd", ["built from ", base, "\n"])` depends on `base`.

use imgbuild_evaluator::rhai::{
    Array, Dynamic, Engine, EvalAltResult, ImmutableString, NativeCallContext,
};
use imgbuild_evaluator::{BuiltinError, DerivationHandle, DerivationSpec, Sealed, Value};
use imgbuild_store::{OutputObject, OutputRecord};

use crate::core::paths::check_name;
use imgbuild_engine::{BuildContext, BuildError};

/// The derivation kind.
pub const KIND: &str = "text";
pub(crate) const VERSION: u32 = 1;

pub(crate) fn register(engine: &mut Engine, registration: &crate::Registration) {
    let state = &registration.state;
    let single = state.clone();
    engine.register_fn(
        "text",
        move |context: NativeCallContext, content: ImmutableString| {
            Ok::<_, Box<EvalAltResult>>(single.add(&context, literal("text".to_owned(), &content)))
        },
    );
    let named = state.clone();
    engine.register_fn(
        "text",
        move |context: NativeCallContext, name: ImmutableString, content: ImmutableString| {
            check_name("text", &name)?;
            Ok::<_, Box<EvalAltResult>>(named.add(&context, literal(name.to_string(), &content)))
        },
    );
    let secret = state.clone();
    engine.register_fn(
        "text",
        move |context: NativeCallContext, name: ImmutableString, content: Sealed| {
            check_name("text", &name)?;
            let parts = Value::List(vec![Value::Secret(content)]);
            let spec = spec(name.to_string(), parts, imgbuild_evaluator::Inputs::new());
            Ok::<_, Box<EvalAltResult>>(secret.add(&context, spec))
        },
    );
    let parts_state = state.clone();
    engine.register_fn(
        "text",
        move |context: NativeCallContext,
              name: ImmutableString,
              parts: Array|
              -> Result<DerivationHandle, Box<EvalAltResult>> {
            check_name("text", &name)?;
            let mut inputs = imgbuild_evaluator::Inputs::new();
            let mut values = Vec::with_capacity(parts.len());
            for (index, part) in parts.iter().enumerate() {
                values.push(part_value(part, index, &mut inputs)?);
            }
            Ok(parts_state.add(
                &context,
                spec(name.to_string(), Value::List(values), inputs),
            ))
        },
    );
}

/// A text derivation with literal content only (no inputs).
fn literal(name: String, content: &str) -> DerivationSpec {
    spec(
        name,
        Value::List(vec![Value::String(content.to_owned())]),
        imgbuild_evaluator::Inputs::new(),
    )
}

fn part_value(
    part: &Dynamic,
    index: usize,
    inputs: &mut imgbuild_evaluator::Inputs,
) -> Result<Value, Box<EvalAltResult>> {
    if part.is_string() {
        return Ok(Value::String(part.to_string()));
    }
    if let Some(handle) = part.read_lock::<DerivationHandle>() {
        return Ok(inputs.reference(handle.id));
    }
    if let Some(sealed) = part.read_lock::<Sealed>() {
        return Ok(Value::Secret(sealed.clone()));
    }
    if let Ok(number) = part.as_int() {
        return Ok(Value::String(number.to_string()));
    }
    Err(BuiltinError::new(format!(
        "text: part {index} is {}; parts must be strings, secrets, integers or derivations",
        imgbuild_evaluator::friendly_type_name(part.type_name())
    ))
    .into())
}

fn spec(name: String, parts: Value, inputs: imgbuild_evaluator::Inputs) -> DerivationSpec {
    let mut args = std::collections::BTreeMap::new();
    args.insert("content".to_owned(), parts);
    DerivationSpec::derived(KIND, VERSION, name, args, inputs)
}

pub(crate) fn build(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    let parts = context
        .derivation
        .args
        .get("content")
        .and_then(Value::as_list)
        .ok_or_else(|| BuildError::Malformed("text without content".to_owned()))?;
    let mut bytes = Vec::new();
    for part in parts {
        match part {
            Value::String(text) => bytes.extend_from_slice(text.as_bytes()),
            Value::Secret(sealed) => bytes.extend_from_slice(sealed.text().as_bytes()),
            Value::Input(index) => {
                let input = context.input(*index)?;
                match &input.record.object {
                    OutputObject::File { blob, .. } => {
                        bytes.extend_from_slice(&context.store.read_blob(blob)?)
                    }
                    OutputObject::Tree { tree } => {
                        bytes.extend_from_slice(tree.to_string().as_bytes())
                    }
                }
            }
            other => return Err(BuildError::Malformed(format!("text part {other:?}"))),
        }
    }
    let info = context.store.put_blob(&bytes, context.derivation.secret)?;
    Ok(imgbuild_engine::file_output(
        &info,
        false,
        context.derivation.secret,
    ))
}
