//! Evaluator behaviour without any builtins but a tiny test constructor: outputs,
//! `args`, imports, limits and spans.

use imgbuild_evaluator::rhai::{Engine, ImmutableString, NativeCallContext};
use imgbuild_evaluator::{
    evaluate, span_at, DerivationHandle, DerivationSpec, EvalOptions, Evaluation, RecipeDiagnostic,
    SharedState, Value,
};

fn register(engine: &mut Engine, state: &SharedState) {
    let state = state.clone();
    engine.register_fn(
        "node",
        move |context: NativeCallContext, name: ImmutableString| -> DerivationHandle {
            state.add(
                &context,
                DerivationSpec {
                    kind: "test",
                    kind_version: 1,
                    name: name.to_string(),
                    args: Value::Null,
                    inputs: Vec::new(),
                    fixed: false,
                    location: None,
                    secret: false,
                },
            )
        },
    );
}

#[test]
fn derivations_remember_their_call_site_and_import_chain() {
    let evaluation = run(
        &[
            (
                "web.rhai",
                "import \"lib/base\" as base;\n#{ a: base::make(), b: node(\"b\") }",
            ),
            (
                "lib/base.rhai",
                "import \"net\" as net;\nfn make() {\n    net::make()\n}",
            ),
            (
                "lib/net.rhai",
                "// net\nfn make() {\n    let x = 1;\n    node(\"a\")\n}",
            ),
        ],
        EvalOptions::default(),
    )
    .expect("evaluates");
    let origin = |name: &str| {
        let node = evaluation
            .graph
            .nodes()
            .iter()
            .find(|node| node.derivation.name == name)
            .expect("node");
        node.derivation.origin.clone().expect("origin")
    };
    let b = origin("b");
    assert!(b.file.ends_with("web.rhai"), "{b}");
    assert_eq!((b.line, b.column), (2, 24));
    assert!(b.imported_from.is_none());
    let a = origin("a");
    let chain: Vec<String> = a
        .chain()
        .map(|place| {
            let file = std::path::Path::new(&*place.file);
            format!(
                "{}:{}:{}",
                file.file_name().expect("name").to_string_lossy(),
                place.line,
                place.column
            )
        })
        .collect();
    assert_eq!(chain, ["net.rhai:4:5", "base.rhai:1:8", "web.rhai:1:8"]);
}

fn run(files: &[(&str, &str)], options: EvalOptions) -> Result<Evaluation, Box<RecipeDiagnostic>> {
    let directory = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        let path = directory.path().join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    evaluate(&directory.path().join(files[0].0), &options, &register)
}

fn outputs(evaluation: &Evaluation) -> Vec<(String, String)> {
    evaluation
        .graph
        .outputs()
        .iter()
        .map(|output| {
            (
                output.name.clone(),
                evaluation
                    .graph
                    .node(output.derivation)
                    .derivation
                    .name
                    .clone(),
            )
        })
        .collect()
}

fn check_error(files: &[(&str, &str)], expected_message: &str) {
    match run(files, EvalOptions::default()) {
        Ok(_) => panic!("expected an error containing {expected_message:?}"),
        Err(diagnostic) => assert!(
            diagnostic.message.contains(expected_message),
            "{:?} does not contain {expected_message:?}",
            diagnostic.message
        ),
    }
}

#[test]
fn nested_maps_become_dotted_outputs() {
    let evaluation = run(
        &[("main.rhai", "#{ a: node(\"x\"), vms: #{ b: node(\"y\") } }")],
        EvalOptions::default(),
    )
    .expect("evaluates");
    assert_eq!(
        outputs(&evaluation),
        vec![("a".into(), "x".into()), ("vms.b".into(), "y".into())]
    );
}

#[test]
fn a_single_derivation_is_named_after_the_recipe() {
    let evaluation =
        run(&[("web.rhai", "node(\"x\")")], EvalOptions::default()).expect("evaluates");
    assert_eq!(outputs(&evaluation), vec![("web".into(), "x".into())]);
}

#[test]
fn args_are_visible() {
    let mut options = EvalOptions::default();
    options.args.insert("who".into(), "world".into());
    let evaluation = run(&[("main.rhai", "#{ a: node(args.who) }")], options).expect("evaluates");
    assert_eq!(outputs(&evaluation), vec![("a".into(), "world".into())]);
}

#[test]
fn imports_resolve_relative_to_the_importer_and_along_the_search_path() {
    let evaluation = run(
        &[
            ("main.rhai", "import \"lib/a\" as a; #{ x: a::make() }"),
            ("lib/a.rhai", "import \"b\" as b; fn make() { b::make() }"),
            ("lib/b.rhai", "fn make() { node(\"from-b\") }"),
        ],
        EvalOptions::default(),
    )
    .expect("evaluates");
    assert_eq!(outputs(&evaluation), vec![("x".into(), "from-b".into())]);

    let library = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        library.path().join("shared.rhai"),
        "fn make() { node(\"shared\") }",
    )
    .expect("write");
    let options = EvalOptions {
        search_path: vec![library.path().to_path_buf()],
        ..EvalOptions::default()
    };
    let evaluation = run(
        &[("main.rhai", "import \"shared\" as s; #{ x: s::make() }")],
        options,
    )
    .expect("evaluates");
    assert_eq!(outputs(&evaluation), vec![("x".into(), "shared".into())]);
}

#[test]
fn bad_recipes_are_errors() {
    check_error(&[("main.rhai", "let x = ;")], "syntax error");
    check_error(&[("main.rhai", "#{ a: 1 }")], "output `a` is an integer");
    check_error(&[("main.rhai", "42")], "not a derivation");
    check_error(&[("main.rhai", "#{}")], "no outputs");
    check_error(
        &[("main.rhai", "import \"nope\" as n; #{}")],
        "cannot find module `nope`",
    );
    check_error(
        &[
            ("main.rhai", "import \"a\" as a; #{}"),
            ("a.rhai", "import \"b\" as b;"),
            ("b.rhai", "import \"a\" as a;"),
        ],
        "import cycle",
    );
    check_error(&[("main.rhai", "loop {}")], "ran too long");
    check_error(
        &[("main.rhai", "fn f(x) { f(x + 1) } f(0)")],
        "nested too deeply",
    );
    check_error(&[("main.rhai", "#{ \"../x\": node(\"x\") }")], "not usable");
}

#[test]
fn errors_in_modules_point_into_the_module_with_the_chain() {
    let diagnostic = run(
        &[
            ("main.rhai", "import \"lib\" as lib;\n#{ x: lib::broken() }"),
            ("lib.rhai", "fn broken() {\n    no_such_function(1)\n}"),
        ],
        EvalOptions::default(),
    )
    .expect_err("fails");
    let location = diagnostic.location.as_ref().expect("located");
    assert!(location.file.ends_with("lib.rhai"), "{}", location.file);
    assert_eq!((location.line, location.column), (2, 5));
    assert_eq!(diagnostic.related.len(), 1, "the call site in main.rhai");
    let call = diagnostic.related[0].location.as_ref().expect("call site");
    assert!(call.file.ends_with("main.rhai"));
}

#[test]
fn spans_count_characters_not_bytes() {
    let text = "// ünïcödé\nlet é = \"ß\"; oops\n";
    let span = span_at(text, 2, 14);
    assert_eq!(&text[span.offset()..span.offset() + span.len()], "oops");
}
