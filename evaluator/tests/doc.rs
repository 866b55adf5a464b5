//! `imgbuild_evaluator::doc`: module comments, `///` comments and signatures read from
//! Rhai source; private functions left out; `fn` and `///` inside strings and comments
//! ignored; syntax errors at their line; libraries walked in order; the text rendering;
//! and the repository's own library documented in full.

use std::path::Path;

use imgbuild_evaluator::doc::{self, DocError, ModuleDoc};
use proptest::prelude::*;

/// True when this build's Rhai refuses a `///` that is not right above a function: its
/// `metadata` feature is on, as in `cargo test --workspace`, where the builtins' registry
/// test turns it on for every crate. The product is built without it, so the tests of
/// such comments run in `cargo test -p imgbuild-evaluator` (scripts/test.sh runs both).
fn stray_doc_comments_refused() -> bool {
    let refused = imgbuild_evaluator::rhai::Engine::new_raw()
        .compile("/// x\nlet a = 1;")
        .is_err();
    if refused {
        eprintln!(
            "skipped here: this build has Rhai's `metadata` feature; run `cargo test -p imgbuild-evaluator --test doc`"
        );
    }
    refused
}

fn parse(source: &str) -> ModuleDoc {
    doc::parse_module(Path::new("test.rhai"), source)
        .unwrap_or_else(|error| panic!("{error}\n{source}"))
}

/// Parses `source` and compares the module comment and each public function as
/// (signature, doc, line).
fn check(source: &str, module_doc: &str, expected: &[(&str, &str, usize)]) {
    let module = parse(source);
    assert_eq!(module.doc, module_doc, "module doc of\n{source}");
    let actual: Vec<(String, &str, usize)> = module
        .functions
        .iter()
        .map(|function| (function.signature(), function.doc.as_str(), function.line))
        .collect();
    let expected: Vec<(String, &str, usize)> = expected
        .iter()
        .map(|(signature, doc, line)| ((*signature).to_owned(), *doc, *line))
        .collect();
    assert_eq!(actual, expected, "functions of\n{source}");
}

#[test]
fn doc_comments_signatures_and_lines() {
    check(
        "/// Adds.\n/// Twice `a`.\nfn add(a, b) { a + b }\n\nfn bare() {}\n",
        "",
        &[
            ("fn add(a, b)", "Adds.\nTwice `a`.", 3),
            ("fn bare()", "", 5),
        ],
    );
    // Indentation after the one space is kept; blank `///` lines separate paragraphs.
    check(
        "/// Example:\n///\n///     f(1)\nfn f(x) { x }\n",
        "",
        &[("fn f(x)", "Example:\n\n    f(1)", 4)],
    );
    // Blank lines and ordinary comments between the comment and `fn` do not detach it.
    check(
        "/// Kept.\n\n// an aside\nfn f() {}\n",
        "",
        &[("fn f()", "Kept.", 4)],
    );
}

#[test]
fn any_other_token_detaches_a_doc_comment() {
    if stray_doc_comments_refused() {
        return;
    }
    check(
        "/// Not about g.\nlet x = 1;\nfn g() {}\n",
        "",
        &[("fn g()", "", 3)],
    );
    check(
        "fn f() {\n    /// inside a body\n    1\n}\nfn g() {}\n",
        "",
        &[("fn f()", "", 1), ("fn g()", "", 5)],
    );
    // `////` is an ordinary comment (here, the module's).
    check("//// Banner.\nfn h() {}\n", "Banner.", &[("fn h()", "", 2)]);
    check(
        "fn f() {}\n//// Not f's.\nfn h() {}\n",
        "",
        &[("fn f()", "", 1), ("fn h()", "", 3)],
    );
}

#[test]
fn private_functions_and_closures_are_left_out() {
    check(
        "/// Hidden.\nprivate fn helper(a) { a }\n/// Shown.\nfn shown() { let f = |x| x + 1; f.call(helper(1)) }\n",
        "",
        &[("fn shown()", "Shown.", 4)],
    );
}

#[test]
fn module_comments() {
    // `//!` lines, wherever they are at the top level.
    check(
        "//! The module.\n//!\n//! More.\nfn f() {}\n//! Last.\n",
        "The module.\n\nMore.\nLast.",
        &[("fn f()", "", 4)],
    );
    // Otherwise the `//` block the file opens with (after blank lines).
    check(
        "\n// Helpers.\n//\n//     import \"lib/x\" as x;\n\n// not this\n/// F.\nfn f() {}\n",
        "Helpers.\n\n    import \"lib/x\" as x;",
        &[("fn f()", "F.", 8)],
    );
    // A `///` line right at the top documents the function, not the module.
    check("/// F.\nfn f() {}\n", "", &[("fn f()", "F.", 2)]);
    check("let x = 1;\n// late\nfn f() {}\n", "", &[("fn f()", "", 3)]);
}

#[test]
fn strings_and_comments_hide_fn_and_doc_comments() {
    let source = r###"
let a = "fn fake1() {} /// no \" fn fake2() {}";
let b = "a ""quoted"" fn fake3() {";
let c = '"';
let d = '\'';
let e = `multi
fn fake4() {
/// not a doc
${ if true { "}" + `inner ${ "{" } fn fake5()` } else { "x" } } still text {
`;
let f = `a `` back-tick fn fake6() { \${ not code`;
/* a block /* nested fn fake7() { */ still comment */
let g = "continued \
fn fake8() {";
let h = #"raw "fn fake9() {" /// "#;
let i = ##"raw "# still
fn fake10() {"##;
/// Real.
fn real(x, y) { `${x}` + "}" + #"}"# }
"###;
    check(source, "", &[("fn real(x, y)", "Real.", 19)]);
    // Rhai accepts a block comment left open at the end of the file.
    check("fn f() {}\n/* fn g() {}", "", &[("fn f()", "", 1)]);
}

#[test]
fn methods_show_their_type() {
    check(
        "/// Doubles.\nfn int.double() { this * 2 }\nfn \"Thing\".name(x) { x }\n",
        "",
        &[
            ("fn int.double()", "Doubles.", 2),
            ("fn Thing.name(x)", "", 3),
        ],
    );
}

#[test]
fn a_file_that_does_not_parse_is_an_error_at_its_line() {
    let result = doc::parse_module(
        Path::new("lib/bad.rhai"),
        "fn ok() {}\n\nfn broken(a {\n}\n",
    );
    match result {
        Err(DocError::Syntax { path, line, .. }) => {
            assert_eq!(path, Path::new("lib/bad.rhai"));
            assert_eq!(line, 3);
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
    let error = doc::parse_module(Path::new("lib/bad.rhai"), "let s = \"open;\n")
        .expect_err("unterminated string");
    assert!(error.to_string().starts_with("lib/bad.rhai:1:"), "{error}");
    let error = doc::module_doc(Path::new("/nonexistent/x.rhai")).expect_err("missing file");
    assert!(error.is_environment(), "{error}");
    assert!(error.to_string().contains("/nonexistent/x.rhai"), "{error}");
}

#[test]
fn a_library_is_every_module_below_it_sorted() {
    let directory = tempfile::tempdir().expect("temporary directory");
    for (file, text) in [
        ("web.rhai", "fn w() {}\n"),
        ("net/dhcp.rhai", "// DHCP.\nfn d() {}\n"),
        ("debian.rhai", "fn d() {}\n"),
        (".git/hook.rhai", "fn hidden() {}\n"),
        (".draft.rhai", "fn hidden() {}\n"),
        ("notes.txt", "fn not_rhai() {}\n"),
    ] {
        let path = directory.path().join(file);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, text).expect("write");
    }
    let modules = doc::library_doc(directory.path()).expect("library");
    let names: Vec<&str> = modules.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["debian", "net/dhcp", "web"]);
    assert_eq!(modules[1].1.summary(), "DHCP.");
    std::fs::write(directory.path().join("zz.rhai"), "fn (\n").expect("write");
    let error = doc::library_doc(directory.path()).expect_err("a module does not parse");
    assert!(error.to_string().contains("zz.rhai:1:"), "{error}");
}

#[test]
fn rendering() {
    let module = parse(
        "// Helpers.\n//\n//     import \"lib/h\" as h;\n\n/// One.\n///\n/// Two.\nfn f(a, b) {}\nfn g() {}\n",
    );
    assert_eq!(
        doc::render_module("lib/h", "h.rhai", &module),
        "lib/h — Helpers.\n\n    import \"lib/h\" as h;\n\nfn f(a, b)\n    One.\n\n    Two.\n    (h.rhai:8)\n\nfn g()\n    (h.rhai:9)\n"
    );
    let modules = vec![("h".to_owned(), module), ("empty".to_owned(), parse(""))];
    assert_eq!(
        doc::render_library("lib", Path::new("recipes/lib"), &modules),
        "lib/h — Helpers.\n\n  fn f(a, b)\n      One.\n\n      Two.\n      (recipes/lib/h.rhai:8)\n\n  fn g()\n      (recipes/lib/h.rhai:9)\n\nlib/empty\n\n  (no public functions)\n"
    );
}

/// The repository's recipe library documents every public function and each of its
/// parameters (as `name` in back-ticks), and says what each module is for.
#[test]
fn the_recipe_library_is_documented() {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("../recipes/lib");
    let modules = doc::library_doc(&directory).expect("recipes/lib");
    assert!(modules.len() >= 4, "{modules:?}");
    let mut missing = Vec::new();
    for (name, module) in &modules {
        if module.summary().is_empty() {
            missing.push(format!("{name}: no module comment"));
        }
        for function in &module.functions {
            if function.doc.is_empty() {
                missing.push(format!("{name}: {} has no `///` comment", function.name));
            }
            for param in &function.params {
                if !function.doc.contains(&format!("`{param}`")) {
                    missing.push(format!(
                        "{name}: {} does not explain `{param}`",
                        function.name
                    ));
                }
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

proptest! {
    /// Whatever text Rhai accepts, the scan finds exactly the functions Rhai defines
    /// (no `DocError::Internal`), and nothing panics on text it refuses.
    #[test]
    fn the_scan_agrees_with_rhai(pieces in prop::collection::vec(prop::sample::select(&[
        "fn ", "private ", "f", "g", "(", ")", "a", ", ", "{", "}", "[", "]", "\"", "'", "`",
        "${", "\\", "//", "///", "//!", "/*", "*/", "\n", " ", "1", ";", "let x = ", "#{",
        "#", "##", "#\"", "\"#",
        ".", "|x| ", "\"fn h() {}\"", "`${1}`", "if true ",
    ][..]), 0..40)) {
        let text: String = pieces.concat();
        if let Err(DocError::Internal { message, .. }) =
            doc::parse_module(Path::new("p.rhai"), &text)
        {
            prop_assert!(false, "{message}\n{text}");
        }
    }
}

/// A fragment of a generated module: its text (`{n}` becomes a unique number) and what
/// it does to the documentation read.
const FRAGMENTS: &[(&str, Fragment)] = &[
    ("/// d{n}\n", Fragment::Doc),
    ("// c{n}\n", Fragment::Comment),
    ("\n", Fragment::Comment),
    ("/* fn w() { /* nested */ */\n", Fragment::Comment),
    (
        "fn f{n}(a, b) {\n    a\n}\n",
        Fragment::Function("fn f{n}(a, b)"),
    ),
    (
        "fn b{n}() {\n    /// inside\n    let s = '}';\n    s\n}\n",
        Fragment::Function("fn b{n}()"),
    ),
    (
        "fn int.m{n}(x) { x }\n",
        Fragment::Function("fn int.m{n}(x)"),
    ),
    ("private fn p{n}() { 1 }\n", Fragment::Private),
    ("let v{n} = \"fn x() {} /// y\";\n", Fragment::Other),
    (
        "let v{n} = `a\nfn q() {\n${ \"}\" + `}` } `;\n",
        Fragment::Other,
    ),
    ("let v{n} = #\"fn z() \"# + ##\"\"#\"##;\n", Fragment::Other),
];

#[derive(Clone, Copy)]
enum Fragment {
    Doc,
    Comment,
    Function(&'static str),
    Private,
    Other,
}

proptest! {
    /// Modules put together from fragments are read exactly: each public function
    /// with its signature, the `///` lines right above it, and its line.
    #[test]
    fn generated_modules_are_read_exactly(choices in prop::collection::vec(0..FRAGMENTS.len(), 0..30)) {
        if stray_doc_comments_refused() {
            return Ok(());
        }
        let mut text = String::new();
        let mut expected = Vec::new();
        let mut doc: Vec<String> = Vec::new();
        for (number, choice) in choices.iter().enumerate() {
            let (fragment, effect) = FRAGMENTS[*choice];
            let number = number.to_string();
            let line = text.matches('\n').count() + 1;
            match effect {
                Fragment::Doc => doc.push(format!("d{number}")),
                Fragment::Comment => {}
                Fragment::Function(signature) => expected.push((
                    signature.replace("{n}", &number),
                    std::mem::take(&mut doc).join("\n"),
                    line,
                )),
                Fragment::Private | Fragment::Other => doc.clear(),
            }
            text.push_str(&fragment.replace("{n}", &number));
        }
        let module = doc::parse_module(Path::new("g.rhai"), &text)
            .map_err(|error| TestCaseError::fail(format!("{error}\n{text}")))?;
        let actual: Vec<(String, String, usize)> = module
            .functions
            .iter()
            .map(|function| (function.signature(), function.doc.clone(), function.line))
            .collect();
        prop_assert_eq!(actual, expected, "{}", text);
    }
}

#[test]
fn the_summary_is_the_first_paragraph() {
    let module =
        parse("// One sentence that\n// wraps.\n//\n//   Details.\n//\n// More.\nfn f() {}\n");
    assert_eq!(module.summary(), "One sentence that wraps.");
    assert_eq!(module.details(), "  Details.\n\nMore.");
    let module = parse("//! Only.\n");
    assert_eq!((module.summary().as_str(), module.details()), ("Only.", ""));
    assert_eq!(
        (parse("").summary().as_str(), parse("").details()),
        ("", "")
    );
}
