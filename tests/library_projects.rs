//! Recipe libraries in a project, end to end through the binary: `examples/libraries`
//! (two teams on one base-OS library at different versions, with a transitive
//! dependency, served from local git repositories that its `setup.sh` makes) builds
//! with its committed `imgbuild.lock` unchanged; `imgbuild libraries` shows the tree;
//! `--offline` works once fetched; `lock --update` moves a library; and every kind of
//! bad input gets its error and exit code.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{imgbuild, run, unwrapped, workspace, write_files, Run};

/// The example copied to a scratch directory with its repositories made, or `None`
/// (skipped, failing under CI) without git.
fn example() -> Option<(tempfile::TempDir, PathBuf)> {
    imgbuild_test_support::require_tool("git")?;
    let scratch = common::scratch();
    let copy = scratch.path().join("libraries");
    let status = Command::new("cp")
        .args(["-R"])
        .arg(workspace().join("examples/libraries"))
        .arg(&copy)
        .status()
        .expect("cp");
    assert!(status.success());
    for stale in ["repos", "web-team/result", "data-team/result"] {
        let _ = std::fs::remove_dir_all(copy.join(stale));
    }
    let setup = Command::new("sh")
        .arg(copy.join("setup.sh"))
        .output()
        .expect("setup.sh");
    assert!(
        setup.status.success(),
        "{}",
        String::from_utf8_lossy(&setup.stderr)
    );
    Some((scratch, copy))
}

/// `imgbuild ARGS` in `directory` with the store `store` and git isolated from the
/// host's configuration.
fn cli(directory: &Path, store: &Path, arguments: &[&str]) -> Run {
    let mut command = imgbuild(directory);
    command
        .args(arguments)
        .arg("--store")
        .arg(store)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1");
    let mut result = run(&mut command);
    result.stderr = unwrapped(&result.stderr);
    result
}

fn git(repository: &Path, arguments: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(repository)
        .args(arguments)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Platform Team")
        .env("GIT_AUTHOR_EMAIL", "platform@example.org")
        .env("GIT_COMMITTER_NAME", "Platform Team")
        .env("GIT_COMMITTER_EMAIL", "platform@example.org")
        .output()
        .expect("git");
    assert!(
        output.status.success(),
        "git {arguments:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Commits `files` on top of `tag`'s commit in the bare repository `bare` and tags the
/// result `new_tag` (moving it with `force`); returns the new commit.
fn release(bare: &Path, from: &str, files: &[(&str, &str)], new_tag: &str, force: bool) -> String {
    let work = bare.with_extension("work");
    let _ = std::fs::remove_dir_all(&work);
    let output = Command::new("git")
        .args(["clone", "-q"])
        .arg(bare)
        .arg(&work)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("git clone");
    assert!(output.status.success());
    git(&work, &["checkout", "-q", from]);
    write_files(&work, files);
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", new_tag]);
    let mut tag = vec!["tag"];
    if force {
        tag.push("-f");
    }
    tag.push(new_tag);
    git(&work, &tag);
    let mut push = vec!["push", "-q", "origin", new_tag];
    if force {
        push.insert(2, "-f");
    }
    git(&work, &push);
    git(&work, &["rev-parse", "HEAD"])
}

#[test]
fn the_example_builds_with_its_committed_lock_at_two_versions() {
    let Some((scratch, example)) = example() else {
        return;
    };
    let store = scratch.path().join("store");
    let committed = |team: &str| {
        std::fs::read(workspace().join(format!("examples/libraries/{team}/imgbuild.lock")))
            .expect("committed lock")
    };
    for (team, recipe, release) in [
        ("web-team", "web.rhai", "1.0.0"),
        ("data-team", "data.rhai", "1.1.0"),
    ] {
        let directory = example.join(team);
        cli(&directory, &store, &["build", recipe]).success();
        assert_eq!(
            std::fs::read(directory.join("imgbuild.lock")).expect("lock"),
            committed(team),
            "{team}: the build changed the committed lock"
        );
        let motd =
            std::fs::read_to_string(directory.join("result/base-files/etc/motd")).expect("motd");
        assert!(motd.contains(&format!("Base OS {release}")), "{motd}");
        // The library's file("files/issue") is read from the library, not the project.
        assert!(directory.join("result/base-files/etc/issue").is_file());
        let tree = cli(&directory, &store, &["libraries"]);
        tree.success();
        assert!(
            tree.stdout.contains(&format!("└── base v{release} @")),
            "{}",
            tree.stdout
        );
        assert!(
            tree.stdout.contains("    └── tools v0.1.0 @"),
            "{}",
            tree.stdout
        );
    }
    // Once fetched, --offline works, even with the repositories gone; a store that has
    // never fetched them cannot.
    std::fs::rename(example.join("repos"), example.join("repos.away")).expect("rename");
    let web = example.join("web-team");
    cli(&web, &store, &["build", "web.rhai", "--offline"]).success();
    let fresh = scratch.path().join("fresh-store");
    let offline = cli(&web, &fresh, &["build", "web.rhai", "--offline"]);
    offline.expect_code(3);
    assert!(offline.stderr.contains("base"), "{}", offline.stderr);
    // Online, an unreachable repository is the machine's problem: exit 3.
    let unreachable = cli(&web, &fresh, &["build", "web.rhai"]);
    unreachable.expect_code(3);
    assert!(
        unreachable.stderr.contains("base-os.git"),
        "{}",
        unreachable.stderr
    );
}

#[test]
fn update_moves_a_library_and_moved_tags_are_refused() {
    let Some((scratch, example)) = example() else {
        return;
    };
    let store = scratch.path().join("store");
    let web = example.join("web-team");
    let bare = example.join("repos/base-os.git");
    cli(&web, &store, &["build", "web.rhai"]).success();
    let before = std::fs::read_to_string(web.join("imgbuild.lock")).expect("lock");
    // A new 1.0.x release: builds stay on the locked one until `lock --update base`.
    let patch = release(
        &bare,
        "v1.0.0",
        &[("NEWS", "1.0.1: fixes\n")],
        "v1.0.1",
        false,
    );
    cli(&web, &store, &["build", "web.rhai"]).success();
    assert_eq!(
        std::fs::read_to_string(web.join("imgbuild.lock")).expect("lock"),
        before
    );
    cli(&web, &store, &["lock", "web.rhai", "--update", "base"]).success();
    let after = std::fs::read_to_string(web.join("imgbuild.lock")).expect("lock");
    assert!(after.contains(&patch), "{after}");
    assert!(after.contains("\"version\": \"1.0.1\""), "{after}");
    // `--update NAME` with a name that is neither a library nor a package set.
    let unknown = cli(&web, &store, &["lock", "web.rhai", "--update", "bsae"]);
    unknown.expect_code(2);
    assert!(
        unknown.stderr.contains("did you mean `base`"),
        "{}",
        unknown.stderr
    );
    // Force-push v1.0.1 elsewhere: `lock` refuses, naming both commits.
    let moved = release(
        &bare,
        "v1.0.0",
        &[("NEWS", "1.0.1: rewritten\n")],
        "v1.0.1",
        true,
    );
    let refused = cli(&web, &store, &["lock", "web.rhai"]);
    refused.expect_code(2);
    assert!(
        refused.stderr.contains(&patch) && refused.stderr.contains(&moved),
        "{}",
        refused.stderr
    );
}

#[test]
fn an_override_builds_against_a_checkout_without_touching_the_lock() {
    let Some((scratch, example)) = example() else {
        return;
    };
    let store = scratch.path().join("store");
    let web = example.join("web-team");
    cli(&web, &store, &["build", "web.rhai"]).success();
    let before = std::fs::read_to_string(web.join("imgbuild.lock")).expect("lock");
    let checkout = example.join("sources/base-os-1.1");
    let checkout_arg = format!("base={}", checkout.display());
    let built = cli(
        &web,
        &store,
        &["build", "web.rhai", "--override", &checkout_arg],
    );
    built.success();
    assert!(
        built.stderr.contains("library base overridden by"),
        "{}",
        built.stderr
    );
    let motd = std::fs::read_to_string(web.join("result/base-files/etc/motd")).expect("motd");
    assert!(motd.contains("Base OS 1.1.0"), "{motd}");
    assert_eq!(
        std::fs::read_to_string(web.join("imgbuild.lock")).expect("lock"),
        before
    );
}

/// What is wrong, the files that make it so, the command, its exit code and what its
/// message must mention.
type Case<'a> = (
    &'a str,
    &'a [(&'a str, &'a str)],
    &'a [&'a str],
    i32,
    &'a [&'a str],
);

#[test]
fn bad_projects_get_located_errors() {
    let Some((scratch, example)) = example() else {
        return;
    };
    let store = scratch.path().join("store");
    let web = example.join("web-team");
    cli(&web, &store, &["build", "web.rhai"]).success();
    let cases: &[Case] = &[
        (
            "unknown library in an import",
            &[("typo.rhai", "import \"bsae/seed\" as base;\n#{}\n")],
            &["build", "typo.rhai"],
            2,
            &["typo.rhai:1", "did you mean `base`"],
        ),
        (
            "a library only in the graph through another",
            &[(
                "transitive.rhai",
                "import \"tools/motd\" as motd;\n#{ m: text(\"m\", motd::banner(\"x\", \"y\")) }\n",
            )],
            &["build", "transitive.rhai"],
            2,
            &["does not declare library `tools`", "imgbuild.toml"],
        ),
    ];
    for (what, files, arguments, code, needles) in cases {
        write_files(&web, files);
        let result = cli(&web, &store, arguments);
        result.expect_code(*code);
        for needle in *needles {
            assert!(
                result.stderr.contains(needle),
                "{what}: no {needle:?} in\n{}",
                result.stderr
            );
        }
    }
    // A range no tag satisfies: the available tags are shown, at the manifest line.
    let manifest = web.join("imgbuild.toml");
    let original = std::fs::read_to_string(&manifest).expect("manifest");
    std::fs::write(&manifest, original.replace("~1.0", "^7")).expect("write");
    let nothing = cli(&web, &store, &["lock", "web.rhai"]);
    nothing.expect_code(2);
    for needle in ["v1.0.0", "v1.1.0", "imgbuild.toml:4"] {
        assert!(
            nothing.stderr.contains(needle),
            "no {needle}: {}",
            nothing.stderr
        );
    }
    // The manifest changed after locking: --offline says so at the manifest line.
    std::fs::write(&manifest, original.replace("~1.0", "^1.1")).expect("write");
    let stale = cli(&web, &store, &["build", "web.rhai", "--offline"]);
    stale.expect_code(2);
    assert!(
        stale.stderr.contains("imgbuild.toml:4") && stale.stderr.contains("imgbuild lock"),
        "{}",
        stale.stderr
    );
    // A cycle between libraries.
    let cycle = example.join("cycle");
    write_files(
        &cycle,
        &[
            ("imgbuild.toml", "[libraries]\na = { path = \"a\" }\n"),
            (
                "a/imgbuild.toml",
                "[library]\nname = \"a\"\n[libraries]\nb = { path = \"../b\" }\n",
            ),
            (
                "b/imgbuild.toml",
                "[library]\nname = \"b\"\n[libraries]\na = { path = \"../a\" }\n",
            ),
            ("recipe.rhai", "#{}\n"),
        ],
    );
    let cyclic = cli(&cycle, &store, &["build", "recipe.rhai"]);
    cyclic.expect_code(2);
    assert!(cyclic.stderr.contains("a → b → a"), "{}", cyclic.stderr);
    // `imgbuild libraries` outside any project.
    let lonely = scratch.path().join("lonely");
    std::fs::create_dir_all(&lonely).expect("mkdir");
    let none = cli(&lonely, &store, &["libraries"]);
    none.expect_code(2);
    assert!(none.stderr.contains("no imgbuild.toml"), "{}", none.stderr);
}

#[test]
fn an_archive_library_is_checked_and_imported() {
    let Some((scratch, example)) = example() else {
        return;
    };
    let store = scratch.path().join("store");
    let archive = scratch.path().join("tools-0.1.0.tar.gz");
    let status = Command::new("tar")
        .arg("-czf")
        .arg(&archive)
        .arg("-C")
        .arg(example.join("sources"))
        .arg("tools")
        .status()
        .expect("tar");
    assert!(status.success());
    let output = Command::new("sha256sum")
        .arg(&archive)
        .output()
        .expect("sha256sum");
    let sha256 = String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .expect("a digest")
        .to_owned();
    let project = example.join("archive-user");
    let manifest = |sha: &str| {
        format!(
            "[libraries]\nnet = {{ url = \"file://{}\", sha256 = \"{sha}\" }}\n",
            archive.display()
        )
    };
    write_files(
        &project,
        &[
            ("imgbuild.toml", &manifest(&sha256)),
            (
                "recipe.rhai",
                "import \"net/motd\" as motd;\n#{ motd: text(\"motd\", motd::banner(\"ops\", \"x\")) }\n",
            ),
        ],
    );
    cli(&project, &store, &["build", "recipe.rhai"]).success();
    let motd = std::fs::read_to_string(project.join("result/motd")).expect("motd");
    assert!(motd.contains("the ops team"), "{motd}");
    let lock = std::fs::read_to_string(project.join("imgbuild.lock")).expect("lock");
    assert!(lock.contains(&format!("#sha256={sha256}")), "{lock}");
    // A promise the archive does not keep: both hashes named, the project's fault.
    let wrong = "0".repeat(64);
    write_files(&project, &[("imgbuild.toml", &manifest(&wrong))]);
    let refused = cli(&project, &store, &["lock", "recipe.rhai"]);
    refused.expect_code(2);
    assert!(
        refused.stderr.contains(&sha256) && refused.stderr.contains(&wrong),
        "{}",
        refused.stderr
    );
}
