//! What the CLI prints when stderr is not a terminal (CI logs, a pipe to grep): one line
//! per message, never wrapped mid-sentence; names and messages from the recipe cannot
//! fake lines or send escape sequences; build-time failures point at the recipe line.

mod common;

use std::path::Path;

use common::{build_here, build_recipe, scratch, write_files};

#[test]
fn a_name_with_a_newline_and_escape_codes_cannot_fake_a_line() {
    let directory = scratch();
    let run = build_recipe(
        directory.path(),
        "#{ x: text(\"evil\\ndone: 0 built, 0 from the store, in 1ms\\x1b[2K\", \"x\\n\") }",
        &[],
    );
    run.expect_code(0);
    assert!(
        !run.stderr.contains('\u{1b}'),
        "an escape character reached stderr:\n{:?}",
        run.stderr
    );
    let done_lines = run
        .stderr
        .lines()
        .filter(|line| line.starts_with("done:"))
        .count();
    assert_eq!(done_lines, 1, "exactly one real done line:\n{}", run.stderr);
    assert!(
        run.stderr.contains("evil\\ndone: 0 built"),
        "the name is shown escaped:\n{}",
        run.stderr
    );
}

#[test]
fn long_error_messages_stay_on_one_line() {
    let directory = scratch();
    let message = (0..40)
        .map(|index| format!("word{index}"))
        .collect::<Vec<_>>()
        .join(" ");
    assert!(message.len() > 250);
    let run = build_recipe(directory.path(), &format!("throw \"{message}\";"), &[]);
    run.expect_code(2);
    assert!(
        run.stderr.lines().any(|line| line.contains(&message)),
        "the message was wrapped:\n{}",
        run.stderr
    );
}

#[test]
fn a_build_failure_points_at_the_call_that_made_the_derivation() {
    let directory = scratch();
    write_files(
        directory.path(),
        &[
            (
                "recipe.rhai",
                "import \"lib/sites\" as sites;\n#{ site: sites::site() }\n",
            ),
            (
                "lib/sites.rhai",
                "fn site() {\n    let a = tree(\"a\", #{ \"/x\": #{ text: \"1\" } });\n    let b = tree(\"b\", #{ \"/x\": #{ text: \"2\" } });\n    merge(\"site\", [a, b])\n}\n",
            ),
        ],
    );
    let run = build_here(directory.path(), &["--json"]);
    run.expect_code(1);
    let failed = common::json_lines(&run.stdout)
        .into_iter()
        .find(|event| event["event"] == "failed")
        .unwrap_or_else(|| panic!("no failed event:\n{}", run.stdout));
    let origin = failed["origin"].as_array().expect("origin chain");
    let places: Vec<String> = origin
        .iter()
        .map(|place| {
            let file = place["file"].as_str().expect("file");
            let name = Path::new(file).file_name().expect("name").to_string_lossy();
            format!("{name}:{}:{}", place["line"], place["column"])
        })
        .collect();
    assert_eq!(places, ["sites.rhai:4:5", "recipe.rhai:1:8"]);
    let error = failed["error"].as_str().expect("error");
    assert!(
        error.contains("`a` (") && error.contains("sites.rhai:2:13"),
        "the conflict names the first tree's call site: {error}"
    );
    assert!(
        error.contains("sites.rhai:3:13"),
        "and the second's: {error}"
    );

    // Without --json, the same failure in words.
    let run = build_here(directory.path(), &[]);
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("  --> lib/sites.rhai:4:5 (imported from recipe.rhai:1:8)"),
        "{}",
        run.stderr
    );
}
