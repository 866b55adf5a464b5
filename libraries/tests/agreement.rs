//! When two requirements on one library agree: `web` requires `base` one way and
//! `web → tools` another. Data-driven through one `check`.

mod common;

use common::*;

enum Expected<'a> {
    /// One copy, at this tag's commit.
    Tag(&'a str),
    /// An error mentioning all of these.
    Error(&'a [&'a str]),
}

/// `root_selector` and `tools_selector` are the inside of `base = { git = URL, ... }`;
/// `URL` in either is replaced by the base repository's URL, `REV` by the first
/// seven digits of v1.4.0's commit.
fn check(root_selector: &str, tools_selector: &str, expected: Expected<'_>) {
    if !git_ready() {
        return;
    }
    let temp = tempfile::tempdir().expect("temporary directory");
    let (base, commits) = base_repo(temp.path());
    path_library(&temp.path().join("elsewhere"), "base", "9.0.0", "");
    let url = base.url();
    let rev = &commits["v1.4.0"][..7];
    let (tools, _) = Repo::library(
        &temp.path().join("tools"),
        "tools",
        &["1.0.0"],
        &format!(
            "base = {{ {} }}\n",
            tools_selector.replace("URL", &url).replace("REV", rev)
        ),
    );
    let manifest = project(
        &temp.path().join("web"),
        &format!(
            "[libraries]\nbase = {{ {} }}\ntools = {{ git = \"{}\", version = \"1\" }}\n",
            root_selector.replace("URL", &url).replace("REV", rev),
            tools.url()
        ),
    );
    let result = resolve_fresh(&manifest, &temp.path().join("cache"));
    match expected {
        Expected::Tag(tag) => {
            let resolution = result.expect("resolution succeeds");
            assert_eq!(
                resolution.libraries["base"].commit.as_deref(),
                Some(commits[tag].as_str()),
                "{root_selector} / {tools_selector}"
            );
        }
        Expected::Error(mentions) => {
            assert_error_mentions(result, mentions);
        }
    }
}

#[test]
fn ranges_intersect() {
    check(
        "git = \"URL\", version = \"^1.4\"",
        "git = \"URL\", version = \"^1.5\"",
        Expected::Tag("v1.5.2"),
    );
    check(
        "git = \"URL\", version = \">=1\"",
        "git = \"URL\", version = \"<2\"",
        Expected::Tag("v1.5.2"),
    );
    check(
        "git = \"URL\", version = \"*\"",
        "git = \"URL\", version = \"=1.4.0\"",
        Expected::Tag("v1.4.0"),
    );
}

#[test]
fn a_tag_pin_must_satisfy_the_ranges() {
    check(
        "git = \"URL\", tag = \"v1.4.0\"",
        "git = \"URL\", version = \"^1.4\"",
        Expected::Tag("v1.4.0"),
    );
    check(
        "git = \"URL\", tag = \"v1.4.0\"",
        "git = \"URL\", version = \"^2\"",
        Expected::Error(&[
            "conflicting",
            "web → base tag v1.4.0",
            "web → tools → base ^2",
        ]),
    );
}

#[test]
fn pins_must_be_identical() {
    check(
        "git = \"URL\", tag = \"v1.4.0\"",
        "git = \"URL\", tag = \"v1.4.0\"",
        Expected::Tag("v1.4.0"),
    );
    check(
        "git = \"URL\", tag = \"v1.4.0\"",
        "git = \"URL\", branch = \"main\"",
        Expected::Error(&["web → base tag v1.4.0", "web → tools → base branch main"]),
    );
    check(
        "git = \"URL\", rev = \"REV\"",
        "git = \"URL\", version = \"^1\"",
        Expected::Error(&["web → base rev ", "web → tools → base ^1"]),
    );
}

#[test]
fn different_places_conflict() {
    check(
        "git = \"URL\", version = \"^1\"",
        "git = \"URL-other\", version = \"^1\"",
        Expected::Error(&[
            "conflicting requirements on library `base`",
            "imgbuild.toml:2)",
            "imgbuild.toml:6 of tools)",
        ]),
    );
    check(
        "path = \"../elsewhere\"",
        "git = \"URL\", version = \"^1\"",
        Expected::Error(&["web → base path ../elsewhere", "web → tools → base ^1"]),
    );
}
