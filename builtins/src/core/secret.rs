//! `secret(value)`: marks text as secret.
//!
//! A secret is sealed as soon as it is made (see [`imgbuild_evaluator::Sealed`]): the
//! recipe can pass it on but never read it back — it prints as `<secret>`, has no
//! operators, and is refused where plain text is expected. Every derivation whose
//! arguments hold one, and everything built from such a derivation, is secret: stored
//! and materialized owner-only, its arguments shown as `<secret>`.
//!
//! `secret` takes a string, or an array or map whose strings are all sealed (numbers
//! and booleans inside stay as they are). Strings under credential keys (`password`,
//! `crypted_password`, `token`, `private_key`, …) are sealed without being asked; the
//! command line passes secrets with `--secret NAME` (never echoed, never in `ps`).

use imgbuild_evaluator::rhai::{Array, Dynamic, Engine, EvalAltResult, Map, NativeCallContext};
use imgbuild_evaluator::{BuiltinError, Sealed, SharedState};

pub(crate) fn register(engine: &mut Engine, registration: &crate::Registration) {
    engine
        .register_type_with_name::<Sealed>("secret")
        .register_fn("to_string", |_: &mut Sealed| "<secret>".to_owned())
        .register_fn("to_debug", |_: &mut Sealed| "<secret>".to_owned());
    let state = registration.state.clone();
    engine.register_fn(
        "secret",
        move |context: NativeCallContext, value: Dynamic| -> Result<Dynamic, Box<EvalAltResult>> {
            seal(&state, value, "secret(...)")
                .map_err(|error| crate::core::at_call(&context, error))
        },
    );
}

fn seal(state: &SharedState, value: Dynamic, what: &str) -> Result<Dynamic, BuiltinError> {
    if value.is::<Sealed>() || value.is_int() || value.is_bool() || value.is_unit() {
        return Ok(value);
    }
    if value.is_string() {
        return Ok(Dynamic::from(state.seal(value.to_string())?));
    }
    if value.is_array() {
        let items = value.cast::<Array>();
        let mut sealed = Array::with_capacity(items.len());
        for (index, item) in items.into_iter().enumerate() {
            sealed.push(seal(state, item, &format!("{what}[{index}]"))?);
        }
        return Ok(Dynamic::from_array(sealed));
    }
    if value.is_map() {
        let mut sealed = Map::new();
        for (key, item) in value.cast::<Map>() {
            let item = seal(state, item, &format!("{what}.{key}"))?;
            sealed.insert(key, item);
        }
        return Ok(Dynamic::from_map(sealed));
    }
    Err(BuiltinError::new(format!(
        "{what} is {}; only text (or arrays and maps of it) can be secret",
        imgbuild_evaluator::friendly_type_name(value.type_name())
    ))
    .with_help("a derivation that holds a secret is secret already"))
}
