//! Golden vectors for every identity the evaluator computes, and property tests for the
//! canonical encoding. A change to any identity must show up here as a failing test.

use std::collections::BTreeMap;

use imgbuild_evaluator::{encode_value, hash_derivation, Derivation, Domain, Graph, Value};
use proptest::prelude::*;

fn check(domain: Domain, args: Value, inputs: &[[u8; 32]], expected: &str) {
    let actual = hash_derivation(domain, "text", 1, "hello", &args, inputs);
    assert_eq!(actual.to_hex(), expected, "{domain:?} {args:?}");
}

fn map(entries: &[(&str, Value)]) -> Value {
    Value::Map(
        entries
            .iter()
            .map(|(key, value)| ((*key).to_owned(), value.clone()))
            .collect(),
    )
}

#[test]
fn golden_recipe_identities() {
    check(
        Domain::Recipe,
        Value::Null,
        &[],
        "b3d8f44f955f322049d856fa25cc5ff24770292db6cbe5a2c50741cb63ef2749",
    );
    check(
        Domain::Recipe,
        map(&[("content", Value::List(vec!["hi\n".into(), Value::Input(0)]))]),
        &[[7; 32]],
        "a9a377b3f88de4e2ab4f6f1fa37bb0141eac01ad075719ac706f33f13bd572ed",
    );
    check(
        Domain::Recipe,
        map(&[
            ("b", Value::Int(-1)),
            ("a", Value::Bool(true)),
            ("c", Value::Bytes(vec![0, 255])),
        ]),
        &[],
        "78d7582cce5be55ad946fac9c57c35e41da3bd5b8a1b21878938a9adc0ee47d3",
    );
}

#[test]
fn golden_cache_keys_and_fixed_outputs() {
    check(
        Domain::CacheKey,
        map(&[("content", Value::List(vec![Value::Input(0)]))]),
        &[[1; 32]],
        "d4edf71753a5fcf2b80a14177e1201a796ff20b89934e9a61f7da078bc71aaf2",
    );
    check(
        Domain::Fixed,
        map(&[("blake3", "00".into())]),
        &[],
        "c3aa0af6e698f86e11c8747916fe95b5d00cca51bf22d1ecf78488698634ecb4",
    );
}

#[test]
fn golden_value_encoding_bytes() {
    let mut bytes = Vec::new();
    encode_value(
        &mut bytes,
        &map(&[("k", Value::List(vec![Value::Int(1), Value::Input(2)]))]),
    );
    assert_eq!(
        hex::encode(&bytes),
        concat!(
            "07",
            "0100000000000000", // map, 1 entry
            "0100000000000000",
            "6b", // key "k"
            "06",
            "0200000000000000", // list, 2 items
            "03",
            "0100000000000000", // int 1
            "08",
            "02000000", // input 2
        )
    );
}

fn derivation(name: &str, inputs: Vec<imgbuild_evaluator::DrvId>) -> Derivation {
    Derivation {
        kind: "text".to_owned(),
        kind_version: 1,
        name: name.to_owned(),
        args: Value::Null,
        inputs,
        fixed: false,
        location: None,
        secret: false,
        origin: None,
    }
}

#[test]
fn origin_is_not_part_of_the_identity() {
    let mut graph = Graph::new();
    let plain = graph.add(derivation("a", vec![]));
    let mut placed = derivation("a", vec![]);
    placed.origin = Some(std::sync::Arc::new(imgbuild_evaluator::Origin {
        file: "/recipes/web.rhai".into(),
        line: 3,
        column: 9,
        imported_from: None,
    }));
    assert_eq!(graph.add(placed), plain, "same derivation, same node");
    assert_eq!(graph.len(), 1);
}

#[test]
fn graph_deduplicates_identical_derivations() {
    let mut graph = Graph::new();
    let first = graph.add(derivation("a", vec![]));
    let again = graph.add(derivation("a", vec![]));
    let other = graph.add(derivation("b", vec![first]));
    assert_eq!(first, again);
    assert_ne!(first, other);
    assert_eq!(graph.len(), 2);
    assert_eq!(graph.closure(&[other]), vec![first, other]);
}

#[test]
fn cache_key_depends_on_input_outputs_not_recipes() {
    let mut graph = Graph::new();
    let left = graph.add(derivation("a", vec![]));
    let right = graph.add(derivation("different-recipe", vec![]));
    let on_left = graph.add(derivation("c", vec![left]));
    let on_right = graph.add(derivation("c", vec![right]));
    assert_ne!(graph.node(on_left).identity, graph.node(on_right).identity);
    // Same input output bytes => same cache key: early cutoff.
    assert_eq!(
        graph.cache_key(on_left, &[[9; 32]]),
        graph.cache_key(on_right, &[[9; 32]])
    );
    assert_ne!(
        graph.cache_key(on_left, &[[9; 32]]),
        graph.cache_key(on_left, &[[8; 32]])
    );
}

#[test]
fn fixed_outputs_ignore_location_and_name() {
    let mut graph = Graph::new();
    let mut promise = BTreeMap::new();
    promise.insert("blake3".to_owned(), Value::from("ab"));
    let mut first = derivation("x.conf", vec![]);
    first.fixed = true;
    first.args = Value::Map(promise);
    first.location = Some("/one/x.conf".into());
    let mut second = first.clone();
    second.name = "y.conf".to_owned();
    second.location = Some("/two/y.conf".into());
    assert_eq!(graph.add(first), graph.add(second));
}

fn value_strategy() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        ".{0,8}".prop_map(Value::String),
        proptest::collection::vec(any::<u8>(), 0..8).prop_map(Value::Bytes),
        (0u32..4).prop_map(Value::Input),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::List),
            proptest::collection::btree_map(".{0,6}", inner, 0..6).prop_map(Value::Map),
        ]
    })
}

proptest! {
    #[test]
    fn encoding_is_injective_on_samples(left in value_strategy(), right in value_strategy()) {
        let mut left_bytes = Vec::new();
        let mut right_bytes = Vec::new();
        encode_value(&mut left_bytes, &left);
        encode_value(&mut right_bytes, &right);
        prop_assert_eq!(left == right, left_bytes == right_bytes);
    }

    #[test]
    fn map_insertion_order_does_not_matter(entries in proptest::collection::vec((".{0,6}", any::<i64>()), 0..10)) {
        let forward: BTreeMap<String, Value> = entries.iter().map(|(key, value)| (key.clone(), Value::Int(*value))).collect();
        let backward: BTreeMap<String, Value> = entries.iter().rev().map(|(key, value)| (key.clone(), Value::Int(*value))).collect();
        // Later duplicates win in `forward`, earlier ones in `backward`: compare only
        // when keys are unique.
        let unique: std::collections::BTreeSet<_> = entries.iter().map(|(key, _)| key).collect();
        prop_assume!(unique.len() == entries.len());
        let mut left = Vec::new();
        let mut right = Vec::new();
        encode_value(&mut left, &Value::Map(forward));
        encode_value(&mut right, &Value::Map(backward));
        prop_assert_eq!(left, right);
    }
}
