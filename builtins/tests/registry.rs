//! The one registry of builtins (`imgbuild_builtins::BUILTINS`) is complete: every
//! function registered into a recipe engine has an entry, and every kind a builder.

use std::collections::BTreeSet;

use imgbuild_builtins::BUILTINS;

#[test]
fn the_builtins_registry_is_complete() {
    // Every function the builtins register into an engine has a registry entry...
    let mut engine = imgbuild_evaluator::rhai::Engine::new_raw();
    let state: imgbuild_evaluator::SharedState = std::rc::Rc::default();
    imgbuild_builtins::register(&mut engine, &state);
    let registered: BTreeSet<String> = engine
        .gen_fn_signatures(false)
        .iter()
        .map(|signature| signature.split('(').next().unwrap_or_default().to_owned())
        // How a builtin type prints (`secret` prints as `<secret>`): not a function
        // of its own.
        .filter(|name| name != "to_string" && name != "to_debug")
        .collect();
    let listed: BTreeSet<String> = BUILTINS
        .iter()
        .flat_map(|builtin| builtin.functions.iter().map(|name| (*name).to_owned()))
        .collect();
    assert_eq!(
        registered, listed,
        "registered functions vs. the BUILTINS table"
    );
    // ... every kind has a builder, exactly one entry, and is found by the lookup.
    let mut kinds = BTreeSet::new();
    for kind in BUILTINS.iter().flat_map(|builtin| builtin.kinds.iter()) {
        assert!(
            kinds.insert(kind.name),
            "kind `{}` is listed twice",
            kind.name
        );
        assert!(
            imgbuild_builtins::builder(kind.name).is_some(),
            "no builder for `{}`",
            kind.name
        );
    }
    assert!(kinds.len() >= 13, "only {} kinds", kinds.len());
    assert!(imgbuild_builtins::builder("no_such_kind").is_none());
}
