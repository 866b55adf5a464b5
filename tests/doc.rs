//! `imgbuild doc`: a module or a library's functions with their signatures and `///`
//! comments, by path or by a library name from `imgbuild.toml`; `--json`; unknown
//! libraries and modules with "did you mean" and exit 2; a module that does not parse
//! named at its line.

mod common;

use common::{imgbuild_run, scratch, snapshot_settings, unwrapped, workspace, write_files};

/// The 1-based line of `needle` in the file `path`.
fn line_of(path: &std::path::Path, needle: &str) -> usize {
    let text = std::fs::read_to_string(path).expect("read");
    text.lines()
        .position(|line| line.starts_with(needle))
        .map(|index| index + 1)
        .unwrap_or_else(|| panic!("{needle} not in {}", path.display()))
}

#[test]
fn a_module_file_of_the_recipe_library() {
    let run = imgbuild_run(&workspace(), &["doc", "recipes/lib/debian.rhai"]);
    run.success();
    let line = line_of(
        &workspace().join("recipes/lib/debian.rhai"),
        "fn server_packages(",
    );
    let stdout = &run.stdout;
    assert!(
        stdout
            .starts_with("debian — Debian helpers built on debian::packages and debian::rootfs.\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "\nfn server_packages(name, suite, extra)\n    A minbase package set for a server: [`server_base`] plus `extra`.\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("    (recipes/lib/debian.rhai:{line})\n")),
        "{stdout}"
    );
    // The module comment's example, indented as written.
    assert!(
        stdout.contains("\n    import \"lib/debian\" as debian_lib;"),
        "{stdout}"
    );
}

#[test]
fn the_recipe_library_by_directory() {
    let run = imgbuild_run(&workspace(), &["doc", "recipes/lib"]);
    run.success();
    for expected in [
        "lib/debian — Debian helpers",
        "lib/first_boot — How an image configures itself at first boot",
        "\n  fn contextualize(root, agent, scripts)\n",
        "(recipes/lib/site.rhai:",
        "lib/web — ",
    ] {
        assert!(run.stdout.contains(expected), "{expected}\n{}", run.stdout);
    }
}

/// A project whose `imgbuild.toml` names `base` by path and `tools` by git.
fn project() -> tempfile::TempDir {
    let work = scratch();
    write_files(
        work.path(),
        &[
            (
                "base-os/debian.rhai",
                "//! Debian for the platform team.\n//!\n//! Import it as `base/debian`.\n\n/// A package set.\n///\n/// - `name`: its name.\n/// - `extra`: more packages.\nfn packages(name, extra) {\n    debian::packages(#{ name: name, include: extra + helper() })\n}\n\nprivate fn helper() { [\"fn not_this() {}\"] }\n\nfn undocumented() { 1 }\n",
            ),
            (
                "base-os/net/dhcp.rhai",
                "// DHCP everywhere.\n\n/// The tree.\nfn tree() { 1 }\n",
            ),
            (
                "project/imgbuild.toml",
                "[libraries]\nbase = { path = \"../base-os\" }\n",
            ),
            ("base-os/imgbuild.toml", "[library]\nname = \"base\"\n"),
            ("project/recipes/.keep", ""),
        ],
    );
    work
}

/// `imgbuild doc ARGS` in `here`, a directory of the [`project`], with the store in the
/// scratch directory (names are resolved as a build would, through the store).
fn in_project(here: &std::path::Path, arguments: &[&str]) -> common::Run {
    let store = here.join("../store");
    let store = store.to_str().expect("UTF-8 path");
    let mut all = arguments.to_vec();
    all.extend(["--store", store]);
    imgbuild_run(here, &all)
}

#[test]
fn a_path_library_named_in_the_manifest() {
    let work = project();
    let here = work.path().join("project/recipes");
    let run = in_project(&here, &["doc", "base/debian"]);
    run.success();
    snapshot_settings(work.path()).bind(|| {
        insta::assert_snapshot!("doc_module_of_a_path_library", run.stdout);
    });

    let run = in_project(&here, &["doc", "base"]);
    run.success();
    assert_eq!(
        run.stdout,
        "base/debian — Debian for the platform team.\n\n  fn packages(name, extra)\n      A package set.\n\n      - `name`: its name.\n      - `extra`: more packages.\n      (debian.rhai:9)\n\n  fn undocumented()\n      (debian.rhai:15)\n\nbase/net/dhcp — DHCP everywhere.\n\n  fn tree()\n      The tree.\n      (net/dhcp.rhai:4)\n"
    );

    let run = in_project(&here, &["doc", "base/net/dhcp.rhai", "--json"]);
    run.success();
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(json["module"], "base/net/dhcp");
    assert_eq!(json["file"], "net/dhcp.rhai");
    assert_eq!(json["doc"], "DHCP everywhere.");
    assert_eq!(json["summary"], "DHCP everywhere.");
    assert_eq!(json["functions"][0]["signature"], "fn tree()");
    assert_eq!(json["functions"][0]["line"], 4);

    let run = in_project(&here, &["doc", "base", "--json"]);
    run.success();
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(json["library"], "base");
    let names: Vec<&str> = json["modules"]
        .as_array()
        .expect("modules")
        .iter()
        .filter_map(|module| module["module"].as_str())
        .collect();
    assert_eq!(names, ["base/debian", "base/net/dhcp"]);
    assert_eq!(json["modules"][0]["functions"][0]["params"][1], "extra");
}

#[test]
fn unknown_libraries_and_modules_are_usage_errors() {
    let work = project();
    let here = work.path().join("project");
    for (arguments, mentions) in [
        (
            &["doc", "base/debain"][..],
            "library `base` has no module `debain`",
        ),
        (&["doc", "base/debain"][..], "did you mean `base/debian`?"),
        (&["doc", "base/nothing"][..], "modules: debian, net/dhcp"),
        (&["doc", "bsae"][..], "did you mean `base`?"),
        (&["doc", "missing.rhai"][..], "no such file or directory"),
    ] {
        let run = in_project(&here, arguments);
        let stderr = unwrapped(&run.stderr);
        assert_eq!(run.code, Some(2), "{arguments:?}: {stderr}");
        assert!(run.stdout.is_empty(), "{arguments:?}: {}", run.stdout);
        assert!(stderr.contains(mentions), "{arguments:?}: {stderr}");
    }

    // Outside any project: the name cannot be resolved.
    let outside = scratch();
    let run = imgbuild_run(outside.path(), &["doc", "base"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        unwrapped(&run.stderr).contains("there is no imgbuild.toml"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_module_that_does_not_parse_is_named_at_its_line() {
    let work = project();
    write_files(
        work.path(),
        &[("base-os/broken.rhai", "fn fine() {}\n\nfn broken(a {\n}\n")],
    );
    let here = work.path().join("project");
    for target in ["base/broken", "base"] {
        let run = in_project(&here, &["doc", target]);
        let stderr = unwrapped(&run.stderr);
        assert_eq!(run.code, Some(2), "{target}: {stderr}");
        assert!(stderr.contains("broken.rhai:3:"), "{target}: {stderr}");
    }
}
