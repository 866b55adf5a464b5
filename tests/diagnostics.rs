//! Recipe and usage errors as the user sees them.
//!
//! Every case writes a small recipe (and the modules it imports) into a scratch
//! directory, runs `imgbuild build` there (so paths in reports are relative), and checks
//! that the command exits with 2, prints nothing on stdout, says the essential words on
//! stderr, and renders exactly as the snapshot under `tests/snapshots/` records.

mod common;

use std::time::{Duration, Instant};

use common::{imgbuild, run, scratch, snapshot_settings, unwrapped, write_files, Run};

/// Runs `imgbuild build RECIPE ARGS...` on `files` in a scratch directory and checks the
/// diagnostic: exit code 2, nothing on stdout, each of `mentions` on stderr, and the
/// snapshot `name`.
fn check(
    name: &str,
    files: &[(&str, &str)],
    recipe: &str,
    arguments: &[&str],
    mentions: &[&str],
) -> Run {
    check_pointing_at(name, files, recipe, arguments, mentions, None)
}

/// [`check`], and when `caret` is `Some((line, token))`, also that the report underlines
/// `token` on the quoted source line `line` (checked before the snapshot).
fn check_pointing_at(
    name: &str,
    files: &[(&str, &str)],
    recipe: &str,
    arguments: &[&str],
    mentions: &[&str],
    caret: Option<(usize, &str)>,
) -> Run {
    let directory = scratch();
    write_files(directory.path(), files);
    let outcome = run(imgbuild(directory.path())
        .args(["build", recipe, "--store", "store", "-o", "out"])
        .args(arguments));
    outcome.expect_code(2);
    assert_eq!(outcome.stdout, "", "a diagnostic belongs on stderr");
    let report = unwrapped(&outcome.stderr);
    for mention in mentions {
        assert!(
            report.contains(&unwrapped(mention)),
            "the report for {name} should mention {mention:?}:\n{}",
            outcome.stderr
        );
    }
    assert!(
        !directory.path().join("out").exists(),
        "{name}: a failed evaluation must not write results"
    );
    if let Some((line, token)) = caret {
        check_underline(&outcome.stderr, line, token);
    }
    snapshot_settings(directory.path()).bind(|| {
        insta::assert_snapshot!(
            name,
            format!(
                "exit code: {}\n{}",
                outcome.code.unwrap_or(-1),
                outcome.stderr
            )
        );
    });
    outcome
}

#[test]
fn syntax_error() {
    check(
        "syntax_error",
        &[(
            "recipe.rhai",
            "let greeting = text(\"greeting\", \"hello\\n\";\ngreeting\n",
        )],
        "recipe.rhai",
        &[],
        &["syntax error", "recipe.rhai:1:"],
    );
}

#[test]
fn unknown_builtin_function() {
    check(
        "unknown_builtin_function",
        &[(
            "recipe.rhai",
            "let greeting = txet(\"greeting\", \"hello\\n\");\ngreeting\n",
        )],
        "recipe.rhai",
        &[],
        &["txet", "did you mean `text`?"],
    );
}

#[test]
fn unknown_key_in_tree_entry() {
    check(
        "unknown_key_in_tree_entry",
        &[(
            "recipe.rhai",
            "tree(\"site\", #{\n    \"/etc/motd\": #{ text: \"hello\\n\", moed: 0o644 },\n})\n",
        )],
        "recipe.rhai",
        &[],
        &["unknown key `moed`", "did you mean `mode`?"],
    );
}

#[test]
fn wrong_argument_type() {
    check(
        "wrong_argument_type",
        &[(
            "recipe.rhai",
            "tree(\"site\", #{\n    \"/etc/motd\": #{ text: \"hello\\n\", mode: \"0644\" },\n})\n",
        )],
        "recipe.rhai",
        &[],
        &["`mode` must be an integer, not a string"],
    );
}

/// A helper that forgot to return its value hands `()` to `source:`. That must be an
/// error naming `source`, not silently an (empty, setuid) directory.
#[test]
fn missing_required_key() {
    check(
        "missing_required_key",
        &[
            ("tool.sh", "#!/bin/sh\necho tool\n"),
            (
                "recipe.rhai",
                "fn tool() {\n    let script = file(\"tool.sh\");\n}\n\
                 tree(\"site\", #{\n    \"/usr/bin/tool\": #{ source: tool(), mode: 0o4755 },\n})\n",
            ),
        ],
        "recipe.rhai",
        &[],
        &["`source`"],
    );
}

#[test]
fn import_of_a_missing_module() {
    check(
        "import_of_a_missing_module",
        &[(
            "recipe.rhai",
            "import \"lib/nothere\" as nothere;\ntext(\"a\", \"x\")\n",
        )],
        "recipe.rhai",
        &[],
        &["cannot find module `lib/nothere`", "recipe.rhai:1:"],
    );
}

#[test]
fn import_cycle() {
    check(
        "import_cycle",
        &[
            ("recipe.rhai", "import \"lib/a\" as a;\na::thing()\n"),
            (
                "lib/a.rhai",
                "import \"b\" as b;\nfn thing() { text(\"a\", \"x\") }\n",
            ),
            ("lib/b.rhai", "import \"a\" as a;\nfn other() { 1 }\n"),
        ],
        "recipe.rhai",
        &[],
        &[
            "import cycle",
            "a.rhai → ",
            "b.rhai → ",
            "while importing lib/a.rhai",
        ],
    );
}

/// An error raised while a module two imports deep is loaded: the report points into that
/// module and lists each import statement that led there.
#[test]
fn error_while_loading_an_imported_module() {
    check(
        "error_while_loading_an_imported_module",
        &[
            ("recipe.rhai", "import \"lib/outer\" as outer;\nouter::site()\n"),
            ("lib/outer.rhai", "// The outer library.\nimport \"inner\" as inner;\nfn site() { tree(\"site\", #{}) }\n"),
            (
                "lib/inner.rhai",
                "// The inner library: its top level runs at import.\nlet base = text(\"base\", \"x\\n\");\n\
                 let site = tree(\"site\", #{ \"/etc/motd\": #{ txt: \"hi\\n\" } });\n",
            ),
        ],
        "recipe.rhai",
        &[],
        &[
            "unknown key `txt`",
            "lib/inner.rhai:3:",
            "while importing lib/inner.rhai",
            "lib/outer.rhai:2:",
            "while importing lib/outer.rhai",
            "recipe.rhai:1:",
        ],
    );
}

/// A runtime error in a function of an imported module: the report points into the
/// module's file and shows each call on the way.
#[test]
fn runtime_error_in_a_module_function() {
    check(
        "runtime_error_in_a_module_function",
        &[
            ("recipe.rhai", "import \"lib/web\" as web;\n#{ site: web::site() }\n"),
            (
                "lib/web.rhai",
                "// The web library.\nimport \"base\" as base;\n\nfn site() {\n    tree(\"site\", #{ \"/etc/motd\": base::motd() })\n}\n",
            ),
            ("lib/base.rhai", "// The base library.\nfn motd() {\n    let parts = [\"hello\", 42];\n    parts.len() / 0\n}\n"),
        ],
        "recipe.rhai",
        &[],
        &["lib/base.rhai:4:", "in the call to `motd`", "lib/web.rhai:5:", "in the call to `site`", "recipe.rhai:2:"],
    );
}

#[test]
fn endless_loop() {
    let started = Instant::now();
    check(
        "endless_loop",
        &[(
            "recipe.rhai",
            "let count = 0;\nloop {\n    count += 1;\n}\n",
        )],
        "recipe.rhai",
        &[],
        &["ran too long", "recipe.rhai:"],
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "an endless loop took {:?} to stop",
        started.elapsed()
    );
}

#[test]
fn runaway_recursion() {
    let started = Instant::now();
    check(
        "runaway_recursion",
        &[(
            "recipe.rhai",
            "fn down(depth) {\n    down(depth + 1)\n}\ndown(0)\n",
        )],
        "recipe.rhai",
        &[],
        &["nested too deeply", "recursion"],
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "a runaway recursion took {:?} to stop",
        started.elapsed()
    );
}

#[test]
fn missing_local_file() {
    check(
        "missing_local_file",
        &[(
            "recipe.rhai",
            "let banner = file(\"does-not-exist\");\nbanner\n",
        )],
        "recipe.rhai",
        &[],
        &["does-not-exist", "recipe.rhai:1:"],
    );
}

#[test]
fn output_that_is_not_a_derivation() {
    check(
        "output_that_is_not_a_derivation",
        &[("recipe.rhai", "#{ a: 1 }\n")],
        "recipe.rhai",
        &[],
        &["`a`", "not a derivation"],
    );
}

#[test]
fn recipe_that_evaluates_to_a_number() {
    check(
        "recipe_that_evaluates_to_a_number",
        &[("recipe.rhai", "let n = 40;\nn + 2\n")],
        "recipe.rhai",
        &[],
        &["not a derivation"],
    );
}

#[test]
fn missing_recipe_file() {
    check(
        "missing_recipe_file",
        &[],
        "nothere.rhai",
        &[],
        &["nothere.rhai"],
    );
}

#[test]
fn arg_without_equals() {
    check(
        "arg_without_equals",
        &[("recipe.rhai", "text(\"a\", args.who)\n")],
        "recipe.rhai",
        &["--arg", "who"],
        &["--arg `who`", "KEY=VALUE"],
    );
}

#[test]
fn unknown_output() {
    let files = [(
        "recipe.rhai",
        "#{ greeting: text(\"greeting\", \"hi\\n\"), motd: text(\"motd\", \"hi\\n\") }\n",
    )];
    check(
        "unknown_output",
        &files,
        "recipe.rhai#nosuch",
        &[],
        &["no output `nosuch`", "greeting", "motd"],
    );
    check(
        "unknown_output_near_miss",
        &files,
        "recipe.rhai#greting",
        &[],
        &["no output `greting`", "did you mean `greeting`?"],
    );
}

/// The underline in a rendered report starts at the same character column as `token` on
/// the quoted source line, and is as wide as `token`. Columns are counted in characters,
/// so a multi-byte character before the token must not shift the caret.
fn check_underline(report: &str, line_number: usize, token: &str) {
    let rows: Vec<&str> = report.lines().collect();
    let prefix = format!(" {line_number} │ ");
    let source_row = rows
        .iter()
        .position(|row| row.starts_with(&prefix))
        .unwrap_or_else(|| panic!("line {line_number} is not quoted:\n{report}"));
    let source = rows[source_row];
    let byte = source
        .find(token)
        .unwrap_or_else(|| panic!("{token:?} is not on the quoted line {source:?}"));
    let token_column = source[..byte].chars().count();
    let underline = rows.get(source_row + 1).copied().unwrap_or_default();
    let marks: Vec<(usize, char)> = underline
        .chars()
        .enumerate()
        .filter(|(_, character)| matches!(character, '─' | '┬' | '^'))
        .collect();
    let first = marks.first().map(|(column, _)| *column);
    assert_eq!(
        first,
        Some(token_column),
        "the underline does not start under {token:?}:\n{source}\n{underline}"
    );
    assert_eq!(
        marks.len(),
        token.chars().count(),
        "the underline is not as wide as {token:?}:\n{source}\n{underline}"
    );
}

const NON_ASCII_BEFORE: &str = "// Grüße aus Köln — ☃ ✓ 日本語\nlet motd = text(\"motd\", \"Grüße — ☃\\n\");\nlet site = txet(\"site\", \"x\");\n";
const NON_ASCII_SAME_LINE: &str = "let motd = \"Grüße — ☃\"; let site = txet(\"site\", motd);\n";

#[test]
fn non_ascii_lines_before_the_error() {
    check_pointing_at(
        "non_ascii_lines_before_the_error",
        &[("recipe.rhai", NON_ASCII_BEFORE)],
        "recipe.rhai",
        &[],
        &["txet", "recipe.rhai:3:12"],
        Some((3, "txet")),
    );
}

#[test]
fn non_ascii_text_before_the_error_on_its_line() {
    check_pointing_at(
        "non_ascii_text_before_the_error_on_its_line",
        &[("recipe.rhai", NON_ASCII_SAME_LINE)],
        "recipe.rhai",
        &[],
        &["txet"],
        Some((1, "txet")),
    );
}

/// The `file:line:column` header counts columns in characters, as editors do: `txet`
/// is the 36th character of its line (but starts at byte 42).
#[test]
fn non_ascii_header_column_counts_characters() {
    let directory = scratch();
    write_files(directory.path(), &[("recipe.rhai", NON_ASCII_SAME_LINE)]);
    let outcome = run(imgbuild(directory.path()).args(["eval", "recipe.rhai"]));
    outcome.expect_code(2);
    let column = NON_ASCII_SAME_LINE
        .find("txet")
        .map(|byte| NON_ASCII_SAME_LINE[..byte].chars().count() + 1);
    assert_eq!(column, Some(36));
    assert!(
        outcome.stderr.contains("[recipe.rhai:1:36]"),
        "the location should read recipe.rhai:1:36 (characters), not a byte offset:\n{}",
        outcome.stderr
    );
}
