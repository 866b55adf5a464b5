//! A failure the recipe caused is exit 1 (a derivation failed) or 2 (recipe error),
//! never 3 ("the machine's fault"), which CI systems retry forever.

mod common;

use common::{build_recipe, scratch};

fn check(recipe: &str, code: i32, mentions: &str) {
    let directory = scratch();
    let run = build_recipe(directory.path(), recipe, &[]);
    run.expect_code(code);
    assert!(run.stderr.contains(mentions), "{recipe}:\n{}", run.stderr);
}

#[test]
fn a_hard_link_to_nothing_is_the_recipes_fault() {
    check(
        "#{ t: tree(\"t\", #{ \"/usr/bin/b\": #{ hardlink: \"/usr/bin/missing\" } }) }",
        1,
        "hardlink",
    );
}

#[test]
fn a_merge_conflict_is_the_recipes_fault() {
    check(
        "let a = tree(\"a\", #{ \"/x\": #{ text: \"1\" } });\nlet b = tree(\"b\", #{ \"/x\": #{ text: \"2\" } });\n#{ m: merge(\"m\", [a, b]) }",
        1,
        "conflict at `/x`",
    );
}
