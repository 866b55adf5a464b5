//! Outputs that would land on the same path under `result/` are errors naming both, at
//! evaluation (`eval` reports them too) or before anything is built — never a silent overwrite with exit 0.

mod common;

use common::{build_recipe, imgbuild_run, scratch};

fn check(recipe: &str, mentions: &[&str]) {
    let directory = scratch();
    let run = build_recipe(directory.path(), recipe, &[]);
    run.expect_code(2);
    for mention in mentions {
        assert!(
            run.stderr.contains(mention),
            "stderr should mention {mention:?}:\n{}",
            run.stderr
        );
    }
    assert!(
        !directory.path().join("out").exists(),
        "nothing is written:\n{}",
        run.stderr
    );
    // `eval` says so too, before anyone builds.
    let evaluated = imgbuild_run(directory.path(), &["eval", "recipe.rhai"]);
    evaluated.expect_code(2);
    assert!(
        evaluated.stderr.contains(mentions[0]),
        "{}",
        evaluated.stderr
    );
}

#[test]
fn a_dotted_key_and_a_nested_map_cannot_share_a_name() {
    check(
        "#{ a: #{ b: text(\"x\", \"1\") }, \"a.b\": text(\"y\", \"2\") }",
        &["two outputs are both called `a.b`"],
    );
}

#[test]
fn an_output_cannot_take_the_name_another_gets_with_its_extension() {
    check(
        "let t = tree(\"t\", #{ \"/x\": #{ text: \"1\" } });\n#{ web: iso::image(#{ label: \"web\", tree: t }), \"web.iso\": text(\"x\", \"2\") }",
        &["`web`", "`web.iso`", "result/web.iso"],
    );
}

#[test]
fn an_output_cannot_take_the_name_of_another_trees_tar_fallback() {
    check(
        "let t = tree(\"t\", #{ \"/x\": #{ text: \"1\" } });\n#{ root: t, \"root.tar\": text(\"x\", \"2\") }",
        &["`root`", "`root.tar`", "result/root.tar"],
    );
}

#[test]
fn distinct_names_still_build() {
    let directory = scratch();
    let run = build_recipe(directory.path(), "let t = tree(\"t\", #{ \"/x\": #{ text: \"1\" } });\n#{ root: t, archive: tar(t), a: #{ b: text(\"x\", \"1\") }, c: text(\"y\", \"2\") }", &[]);
    run.expect_code(0);
    assert!(directory.path().join("out/archive.tar").is_file());
    assert!(directory.path().join("out/a.b").is_file());
}
