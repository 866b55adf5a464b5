//! `imgbuild.toml`: the issue's example parses; every mistake is an error at
//! `file:line`; the manifest is found by walking up from a recipe.

use std::path::Path;

use imgbuild_libraries::{LibraryError, Manifest, Selector, Source};
use semver::VersionReq;

const EXAMPLE: &str = r#"[library]
name = "web"
version = "1.0.0"

[libraries]
base = { git = "https://git.example.org/platform/base-os.git", version = "^1.4" }
tools = { git = "ssh://git@git.example.org/ops/tools.git", rev = "3f2c1e9" }
site = { path = "../site-lib" }
net = { url = "https://files.example.org/net-lib-2.1.tar.gz", sha256 = "0000000000000000000000000000000000000000000000000000000000000000" }

[patch]
base = { path = "../base-os" }
"#;

#[test]
fn the_example_parses() {
    let manifest = Manifest::parse(Path::new("/p/imgbuild.toml"), EXAMPLE).expect("parses");
    let library = manifest.library.as_ref().expect("fixture");
    assert_eq!(library.name, "web");
    assert_eq!(
        library.version.as_ref().expect("present").to_string(),
        "1.0.0"
    );
    assert_eq!(
        manifest.libraries["base"].source,
        Source::Git {
            url: "https://git.example.org/platform/base-os.git".into(),
            selector: Selector::Version(VersionReq::parse("^1.4").expect("parses")),
        }
    );
    assert_eq!(manifest.libraries["base"].line, 6);
    assert_eq!(
        manifest.libraries["tools"].source.to_string(),
        "git+ssh://git@git.example.org/ops/tools.git?rev=3f2c1e9"
    );
    assert_eq!(
        manifest.libraries["site"].source,
        Source::Path("../site-lib".into())
    );
    assert!(matches!(
        manifest.libraries["net"].source,
        Source::Archive { .. }
    ));
    assert_eq!(
        manifest.patches["base"].source.to_string(),
        "path+../base-os"
    );
    assert_eq!(manifest.directory(), Path::new("/p"));
}

/// `text` fails to parse with an error on `line` mentioning `mention`.
fn check(text: &str, line: usize, mention: &str) {
    let error = Manifest::parse(Path::new("/p/imgbuild.toml"), text).expect_err(text);
    let LibraryError::Manifest { line: found, .. } = &error else {
        panic!("not a manifest error: {error}");
    };
    let message = error.to_string();
    assert_eq!(*found, line, "{message}");
    assert!(
        message.starts_with(&format!("/p/imgbuild.toml:{line}: ")),
        "{message}"
    );
    assert!(message.contains(mention), "`{mention}` not in: {message}");
    assert!(!error.is_environment());
}

#[test]
fn mistakes_are_errors_at_their_line() {
    check(
        "[libraries]\nbase = { git = \"u\", verison = \"^1\" }\n",
        2,
        "unknown key `verison`",
    );
    check("[libary]\nname = \"x\"\n", 1, "unknown key `libary`");
    check(
        "[library]\nname = \"x\"\nowner = \"y\"\n",
        3,
        "unknown key `library.owner`",
    );
    check(
        "\n[libraries]\nbase = { git = \"u\", version = \"^1.x.y.z\" }\n",
        3,
        "bad version range `^1.x.y.z`",
    );
    check(
        "[libraries]\nbase = { git = \"u\", tag = \"v1\", rev = \"abcdef0\" }\n",
        2,
        "exactly one of `version`, `tag`, `rev` or `branch`",
    );
    check(
        "[libraries]\nbase = { git = \"u\" }\n",
        2,
        "exactly one of `version`",
    );
    check(
        "[libraries]\nbase = { git = \"u\", path = \"p\" }\n",
        2,
        "exactly one of `git`, `path` or `url`",
    );
    check(
        "[libraries]\nbase = { path = \"p\", tag = \"v1\" }\n",
        2,
        "`tag` does not go with `path`",
    );
    check(
        "[libraries]\nbase = { git = \"u\", rev = \"xyz\" }\n",
        2,
        "not 4 to 40 hexadecimal digits",
    );
    check(
        "[libraries]\nbase = { git = \"--upload-pack=evil\", tag = \"v1\" }\n",
        2,
        "must not start with `-`",
    );
    check(
        "[libraries]\nbase = { git = \"u\", tag = \"-v1\" }\n",
        2,
        "must not start with `-`",
    );
    check(
        "[libraries]\nBase = { path = \"p\" }\n",
        2,
        "not a valid library name",
    );
    check("[libraries]\nbase = \"^1.4\"\n", 2, "must be a table");
    check(
        "[libraries]\nnet = { url = \"u\" }\n",
        2,
        "needs a `sha256`",
    );
    check(
        "[libraries]\nbase = { git = \"u\", version = 1 }\n",
        2,
        "must be a string",
    );
    check("[library]\nversion = \"1.0.0\"\n", 1, "has no `name`");
    check(
        "[library]\nname = \"x\"\nversion = \"one\"\n",
        3,
        "bad version `one`",
    );
    check("[libraries]\nbase = { git = \"u\",\n", 2, "invalid TOML");
}

#[test]
fn a_table_per_library_works_too() {
    let text = "[libraries.base]\ngit = \"https://git.example.org/base.git\"\nbranch = \"main\"\n";
    let manifest = Manifest::parse(Path::new("imgbuild.toml"), text).expect("parses");
    assert_eq!(
        manifest.libraries["base"].source.to_string(),
        "git+https://git.example.org/base.git?branch=main"
    );
    assert_eq!(manifest.libraries["base"].line, 1);
}

#[test]
fn find_walks_up_from_the_recipe() {
    let temp = tempfile::tempdir().expect("temporary directory");
    let project = temp.path().join("project");
    std::fs::create_dir_all(project.join("recipes/web")).expect("filesystem fixture");
    std::fs::write(project.join("imgbuild.toml"), "[libraries]\n").expect("filesystem fixture");
    let recipe = project.join("recipes/web/web.rhai");
    std::fs::write(&recipe, "").expect("filesystem fixture");
    let (path, manifest) = Manifest::find(&recipe).expect("parses").expect("parses");
    assert_eq!(path, project.join("imgbuild.toml"));
    assert!(manifest.libraries.is_empty());
    assert_eq!(
        Manifest::find(&project.join("recipes"))
            .expect("parses")
            .expect("parses")
            .0,
        path
    );

    let lonely = tempfile::tempdir().expect("temporary directory");
    // Nothing above a temporary directory is expected to hold an imgbuild.toml.
    if Manifest::find(lonely.path()).expect("parses").is_none() {
        std::fs::write(lonely.path().join("imgbuild.toml"), "[oops]\n")
            .expect("filesystem fixture");
        let error = Manifest::find(lonely.path()).expect_err("fails");
        assert!(
            error
                .to_string()
                .contains("imgbuild.toml:1: unknown key `oops`"),
            "{error}"
        );
    }
}
