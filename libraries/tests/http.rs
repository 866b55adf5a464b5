//! The resolver over git's smart-HTTP protocol: `git http-backend` run as CGI by a
//! tiny server on 127.0.0.1 (`common/http.rs`). Covers range selection, a transitive
//! shared copy, a moved tag and an unreachable server.

mod common;

use std::path::Path;

use common::*;
use imgbuild_libraries::{LibraryError, LockSection, Mode};

/// A bare copy of `repo` under `served/NAME.git`.
fn publish(repo: &Repo, served: &Path, name: &str) -> Repo {
    let bare = served.join(format!("{name}.git"));
    repo.git(&[
        "clone",
        "--quiet",
        "--bare",
        ".",
        bare.to_str().expect("fixture"),
    ]);
    Repo { dir: bare }
}

#[test]
fn libraries_resolve_over_smart_http() {
    if !git_ready() {
        return;
    }
    let temp = tempfile::tempdir().expect("temporary directory");
    let served = temp.path().join("served");
    std::fs::create_dir_all(&served).expect("filesystem fixture");
    let server = common::http::serve(&served);
    let (base, commits) = base_repo(temp.path());
    let base_bare = publish(&base, &served, "base");
    let base_url = format!("{server}/base.git");
    let (tools, _) = Repo::library(
        &temp.path().join("tools"),
        "tools",
        &["1.0.0"],
        &format!("base = {{ git = \"{base_url}\", version = \"^1.5\" }}\n"),
    );
    publish(&tools, &served, "tools");
    let manifest = project(
        &temp.path().join("web"),
        &format!(
            "[libraries]\nbase = {{ git = \"{base_url}\", version = \"^1.4\" }}\ntools = {{ git = \"{server}/tools.git\", version = \"1\" }}\n"
        ),
    );
    let cache = temp.path().join("cache");
    let resolution = resolve_fresh(&manifest, &cache).expect("resolution succeeds");
    let resolved = &resolution.libraries["base"];
    assert_eq!(resolved.commit.as_deref(), Some(commits["v1.5.2"].as_str()));
    assert_eq!(resolved.importers, ["tools", "web"]);
    assert_eq!(
        std::fs::read_to_string(resolved.path.join("debian.rhai")).expect("resolution succeeds"),
        "// base 1.5.2\n"
    );

    // Force-push a moved tag to the served repository: the lock refuses it.
    let lock = LockSection::from_resolution(&resolution, None);
    base.write("debian.rhai", "// rewritten\n");
    let moved = base.commit("rewrite");
    base.move_tag("v1.5.2");
    base.git(&[
        "push",
        "--quiet",
        "--force",
        base_bare.dir.to_str().expect("fixture"),
        "refs/tags/v1.5.2",
    ]);
    let error =
        resolve_locked(&manifest, &cache, &lock, Mode::Online).expect_err("resolution fails");
    assert!(matches!(error, LibraryError::TagMoved { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains(&commits["v1.5.2"]) && message.contains(&moved),
        "{message}"
    );
}

#[test]
fn a_missing_repository_over_http_is_an_environment_error() {
    if !git_ready() {
        return;
    }
    let temp = tempfile::tempdir().expect("temporary directory");
    let served = temp.path().join("served");
    std::fs::create_dir_all(&served).expect("filesystem fixture");
    let server = common::http::serve(&served);
    let manifest = project(
        &temp.path().join("web"),
        &format!("[libraries]\nbase = {{ git = \"{server}/absent.git\", version = \"^1\" }}\n"),
    );
    let error = resolve_fresh(&manifest, &temp.path().join("cache")).expect_err("resolution fails");
    assert!(error.is_environment(), "{error}");
    assert!(error.to_string().contains("absent.git"), "{error}");
}
