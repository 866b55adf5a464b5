//! The resolver against real git repositories made by the test and fetched over
//! `file://`: version selection, one shared copy, conflicts with both chains, cycles,
//! tags that match nothing, path sources, `[patch]`, overrides. The lock and offline
//! mode are in `locked.rs`.

mod common;

use std::collections::BTreeMap;

use common::*;
use imgbuild_libraries::{resolve, tree_hash, LockSection, Mode, Selector, Source, Update};

#[test]
fn semver_range_selects_the_highest_tag_in_range() {
    if !git_ready() {
        return;
    }
    let temp = tempfile::tempdir().expect("temporary directory");
    let (base, commits) = base_repo(temp.path());
    let manifest = project(
        &temp.path().join("web"),
        &format!(
            "[libraries]\nbase = {{ git = \"{}\", version = \"^1.4\" }}\n",
            base.url()
        ),
    );
    let resolution =
        resolve_fresh(&manifest, &temp.path().join("cache")).expect("resolution succeeds");
    let resolved = &resolution.libraries["base"];
    assert_eq!(
        resolved
            .version
            .as_ref()
            .expect("resolution succeeds")
            .to_string(),
        "1.5.2"
    );
    assert_eq!(resolved.commit.as_deref(), Some(commits["v1.5.2"].as_str()));
    assert_eq!(resolved.importers, ["web"]);
    assert!(
        !resolved.path.join(".git").exists(),
        "a plain tree, no .git"
    );
    let text =
        std::fs::read_to_string(resolved.path.join("debian.rhai")).expect("resolution succeeds");
    assert_eq!(text, "// base 1.5.2\n");
    assert_eq!(
        resolved.hash,
        tree_hash(&resolved.path).expect("resolution succeeds")
    );
}

#[test]
fn tag_branch_and_abbreviated_revision_selectors() {
    if !git_ready() {
        return;
    }
    let temp = tempfile::tempdir().expect("temporary directory");
    let (base, commits) = base_repo(temp.path());
    let short = &commits["v1.4.0"][..9];
    for (selector, expected) in [
        ("tag = \"v1.4.0\"", commits["v1.4.0"].clone()),
        ("branch = \"main\"", commits["v2.0.0"].clone()),
        (&format!("rev = \"{short}\"")[..], commits["v1.4.0"].clone()),
    ] {
        let manifest = project(
            &temp.path().join("web"),
            &format!(
                "[libraries]\nbase = {{ git = \"{}\", {selector} }}\n",
                base.url()
            ),
        );
        let resolution =
            resolve_fresh(&manifest, &temp.path().join("cache")).expect("resolution succeeds");
        assert_eq!(
            resolution.libraries["base"].commit.as_deref(),
            Some(expected.as_str()),
            "{selector}"
        );
    }
}

/// web → base ^1.4 and web → tools → base ^1.5: one copy, v1.5.2.
#[test]
fn transitive_requirements_share_one_copy() {
    if !git_ready() {
        return;
    }
    let temp = tempfile::tempdir().expect("temporary directory");
    let (base, commits) = base_repo(temp.path());
    let (tools, _) = Repo::library(
        &temp.path().join("tools"),
        "tools",
        &["1.0.0"],
        &format!(
            "base = {{ git = \"{}\", version = \"^1.5\" }}\n",
            base.url()
        ),
    );
    let manifest = project(
        &temp.path().join("web"),
        &format!(
            "[libraries]\nbase = {{ git = \"{}\", version = \"^1.4\" }}\ntools = {{ git = \"{}\", version = \"1\" }}\n",
            base.url(),
            tools.url()
        ),
    );
    let resolution =
        resolve_fresh(&manifest, &temp.path().join("cache")).expect("resolution succeeds");
    assert_eq!(resolution.libraries.len(), 2);
    let base = &resolution.libraries["base"];
    assert_eq!(base.commit.as_deref(), Some(commits["v1.5.2"].as_str()));
    assert_eq!(base.importers, ["tools", "web"]);
}

/// A range found late (below another library) can lower an earlier choice.
#[test]
fn a_tighter_range_found_late_changes_the_choice() {
    if !git_ready() {
        return;
    }
    let temp = tempfile::tempdir().expect("temporary directory");
    let (base, commits) = base_repo(temp.path());
    let (tools, _) = Repo::library(
        &temp.path().join("tools"),
        "tools",
        &["1.0.0"],
        &format!(
            "base = {{ git = \"{}\", version = \"~1.4\" }}\n",
            base.url()
        ),
    );
    let manifest = project(
        &temp.path().join("web"),
        &format!(
            "[libraries]\nbase = {{ git = \"{}\", version = \"^1.4\" }}\ntools = {{ git = \"{}\", version = \"1\" }}\n",
            base.url(),
            tools.url()
        ),
    );
    let resolution =
        resolve_fresh(&manifest, &temp.path().join("cache")).expect("resolution succeeds");
    assert_eq!(
        resolution.libraries["base"].commit.as_deref(),
        Some(commits["v1.4.0"].as_str())
    );
}

#[test]
fn incompatible_ranges_name_both_requirement_chains() {
    if !git_ready() {
        return;
    }
    let temp = tempfile::tempdir().expect("temporary directory");
    let (base, _) = base_repo(temp.path());
    let (tools, _) = Repo::library(
        &temp.path().join("tools"),
        "tools",
        &["1.0.0"],
        &format!("base = {{ git = \"{}\", version = \"^2\" }}\n", base.url()),
    );
    let manifest = project(
        &temp.path().join("web"),
        &format!(
            "[libraries]\nbase = {{ git = \"{}\", version = \"^1.4\" }}\ntools = {{ git = \"{}\", version = \"1\" }}\n",
            base.url(),
            tools.url()
        ),
    );
    let error = assert_error_mentions(
        resolve_fresh(&manifest, &temp.path().join("cache")),
        &[
            "library `base`",
            "web → base ^1.4",
            "web → tools → base ^2",
            "[patch]",
        ],
    );
    assert!(!error.is_environment());
}

#[test]
fn a_cycle_is_named() {
    if !git_ready() {
        return;
    }
    let temp = tempfile::tempdir().expect("temporary directory");
    path_library(
        &temp.path().join("a"),
        "a",
        "1.0.0",
        "b = { path = \"../b\" }\n",
    );
    path_library(
        &temp.path().join("b"),
        "b",
        "1.0.0",
        "a = { path = \"../a\" }\n",
    );
    let manifest = project(
        &temp.path().join("web"),
        "[libraries]\na = { path = \"../a\" }\n",
    );
    assert_error_mentions(
        resolve_fresh(&manifest, &temp.path().join("cache")),
        &["cycle", "a → b → a"],
    );
}

#[test]
fn a_range_that_matches_nothing_lists_the_tags() {
    if !git_ready() {
        return;
    }
    let temp = tempfile::tempdir().expect("temporary directory");
    let (base, _) = base_repo(temp.path());
    for selector in ["version = \"^3\"", "tag = \"v9.9.9\""] {
        let manifest = project(
            &temp.path().join("web"),
            &format!(
                "[libraries]\nbase = {{ git = \"{}\", {selector} }}\n",
                base.url()
            ),
        );
        assert_error_mentions(
            resolve_fresh(&manifest, &temp.path().join("cache")),
            &["web → base", "v1.4.0, v1.5.2, v2.0.0"],
        );
    }
}

#[test]
fn an_unreachable_repository_is_an_environment_error() {
    if !git_ready() {
        return;
    }
    let temp = tempfile::tempdir().expect("temporary directory");
    let missing = format!("file://{}/nothing-here", temp.path().display());
    let manifest = project(
        &temp.path().join("web"),
        &format!("[libraries]\nbase = {{ git = \"{missing}\", version = \"^1\" }}\n"),
    );
    let error = assert_error_mentions(
        resolve_fresh(&manifest, &temp.path().join("cache")),
        &["cannot reach", "nothing-here"],
    );
    assert!(error.is_environment());
}

#[test]
fn a_path_source_is_relative_to_its_manifest() {
    if !git_ready() {
        return;
    }
    let temp = tempfile::tempdir().expect("temporary directory");
    path_library(&temp.path().join("site-lib"), "site", "0.3.0", "");
    let manifest = project(
        &temp.path().join("web"),
        "[libraries]\nsite = { path = \"../site-lib\" }\n",
    );
    let resolution =
        resolve_fresh(&manifest, &temp.path().join("cache")).expect("resolution succeeds");
    let site = &resolution.libraries["site"];
    assert_eq!(
        site.path,
        temp.path()
            .join("site-lib")
            .canonicalize()
            .expect("fixture")
    );
    assert_eq!(site.commit, None);
    assert_eq!(site.version.as_ref().expect("present").to_string(), "0.3.0");
    assert_eq!(site.source, Source::Path("../site-lib".into()));
    let lock = LockSection::from_resolution(&resolution, None);
    assert_eq!(
        lock.get("site").expect("present").source,
        "path+../site-lib"
    );
    assert!(lock.matches_manifest(&manifest));
}

/// The root's `[patch]` forces a source everywhere, resolving a conflict; an override
/// does the same without touching the lock.
#[test]
fn patch_and_override_force_a_source() {
    if !git_ready() {
        return;
    }
    let temp = tempfile::tempdir().expect("temporary directory");
    let (base, _) = base_repo(temp.path());
    let (tools, _) = Repo::library(
        &temp.path().join("tools"),
        "tools",
        &["1.0.0"],
        &format!("base = {{ git = \"{}\", version = \"^2\" }}\n", base.url()),
    );
    path_library(&temp.path().join("base-local"), "base", "1.9.0", "");
    let requirements = format!(
        "[libraries]\nbase = {{ git = \"{}\", version = \"^1.4\" }}\ntools = {{ git = \"{}\", version = \"1\" }}\n",
        base.url(),
        tools.url()
    );
    let patched = project(
        &temp.path().join("web"),
        &format!("{requirements}\n[patch]\nbase = {{ path = \"../base-local\" }}\n"),
    );
    let resolution =
        resolve_fresh(&patched, &temp.path().join("cache")).expect("resolution succeeds");
    let base_resolved = &resolution.libraries["base"];
    assert_eq!(base_resolved.source, Source::Path("../base-local".into()));
    assert_eq!(base_resolved.importers, ["tools", "web"]);
    let lock = LockSection::from_resolution(&resolution, None);
    assert_eq!(
        lock.get("base").expect("present").source,
        "path+../base-local"
    );

    // An override: the previous lock entry for `base` is kept as it was.
    let plain = project(
        &temp.path().join("web2"),
        &format!(
            "[libraries]\nbase = {{ git = \"{}\", version = \"^1.4\" }}\n",
            base.url()
        ),
    );
    let first = resolve_fresh(&plain, &temp.path().join("cache")).expect("resolution succeeds");
    let previous = LockSection::from_resolution(&first, None);
    let overrides = BTreeMap::from([("base".to_owned(), temp.path().join("base-local"))]);
    let overridden = resolve(
        &plain,
        &temp.path().join("cache"),
        Some(&previous),
        Mode::Online,
        &Update::Nothing,
        &overrides,
        &Fetcher,
    )
    .expect("fixture");
    assert!(overridden.libraries["base"].overridden);
    assert_eq!(
        overridden.libraries["base"]
            .version
            .as_ref()
            .expect("fixture")
            .to_string(),
        "1.9.0"
    );
    assert_eq!(
        LockSection::from_resolution(&overridden, Some(&previous)),
        previous
    );
}

#[test]
fn a_git_library_cannot_reach_outside_itself_by_path() {
    if !git_ready() {
        return;
    }
    let temp = tempfile::tempdir().expect("temporary directory");
    let (evil, _) = Repo::library(
        &temp.path().join("evil"),
        "evil",
        &["1.0.0"],
        "secret = { path = \"../../../etc\" }\n",
    );
    let manifest = project(
        &temp.path().join("web"),
        &format!(
            "[libraries]\nevil = {{ git = \"{}\", version = \"1\" }}\n",
            evil.url()
        ),
    );
    assert_error_mentions(
        resolve_fresh(&manifest, &temp.path().join("cache")),
        &["leaves the fetched library"],
    );
}

#[test]
fn selectors_display_as_in_chains() {
    assert_eq!(Selector::Tag("v1".into()).to_string(), "tag v1");
    assert_eq!(Selector::Branch("main".into()).to_string(), "branch main");
}

/// The fetched tree is the commit's files exactly: executable bits and symbolic links
/// kept, no `.git`, nothing added by `git archive`.
#[test]
fn a_fetched_tree_hashes_like_the_work_tree() {
    if !git_ready() {
        return;
    }
    let temp = tempfile::tempdir().expect("temporary directory");
    let (base, _) = base_repo(temp.path());
    let manifest = project(
        &temp.path().join("web"),
        &format!(
            "[libraries]\nbase = {{ git = \"{}\", tag = \"v2.0.0\" }}\n",
            base.url()
        ),
    );
    let resolution =
        resolve_fresh(&manifest, &temp.path().join("cache")).expect("resolution succeeds");
    let resolved = &resolution.libraries["base"];
    let mut names: Vec<String> = std::fs::read_dir(&resolved.path)
        .expect("filesystem fixture")
        .map(|entry| {
            entry
                .expect("filesystem fixture")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["current.rhai", "debian.rhai", "hooks", "imgbuild.toml"]
    );
    assert_eq!(resolved.hash, tree_hash(&base.dir).expect("tree hashes"));
}

/// The root's name only matters when it declares one: a project in a directory named
/// `base` may use a library `base`; a library requiring the named root is a cycle.
#[test]
fn the_root_takes_part_in_the_graph_only_by_its_declared_name() {
    if !git_ready() {
        return;
    }
    let temp = tempfile::tempdir().expect("temporary directory");
    path_library(&temp.path().join("lib-base"), "base", "1.0.0", "");
    let manifest = project(
        &temp.path().join("base"),
        "[libraries]\nbase = { path = \"../lib-base\" }\n",
    );
    let resolution =
        resolve_fresh(&manifest, &temp.path().join("cache")).expect("resolution succeeds");
    assert_eq!(resolution.libraries["base"].importers, ["base"]);

    path_library(
        &temp.path().join("a"),
        "a",
        "1.0.0",
        "web = { path = \"../web\" }\n",
    );
    let manifest = project(
        &temp.path().join("web"),
        "[library]\nname = \"web\"\n\n[libraries]\na = { path = \"../a\" }\n",
    );
    assert_error_mentions(
        resolve_fresh(&manifest, &temp.path().join("cache")),
        &["web → a → web"],
    );
}
