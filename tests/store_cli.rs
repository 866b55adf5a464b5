//! `imgbuild store info | verify | gc` and `imgbuild graph`, against real stores built
//! from `examples/hello.rhai`: corruption is found, named and repaired by the next build;
//! garbage collection keeps what result directories reach and frees the rest.

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::{
    build, files_below, fingerprint, hello_recipe, imgbuild_run, scratch, snapshot_settings,
    store_command,
};

fn hello() -> String {
    hello_recipe().display().to_string()
}

const STORE: &str = "store";
const OUT: &str = "out";

/// Builds hello into `store` / `out` under `directory` and returns the result's fingerprint.
fn build_hello(directory: &Path) -> std::collections::BTreeMap<String, String> {
    build(directory, &hello(), Path::new(STORE), Path::new(OUT), &[]).success();
    fingerprint(&directory.join(OUT))
}

/// Every object file of one kind (`blobs`, `trees`, ...) under the store's objects/.
fn object_files(directory: &Path, kind: &str) -> Vec<PathBuf> {
    files_below(&directory.join(STORE).join("objects").join(kind))
}

/// The digest an object file is stored under: its directory's name then its own name.
fn object_digest(path: &Path) -> String {
    let name = |path: &Path| {
        path.file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    format!(
        "{}{}",
        path.parent().map(name).unwrap_or_default(),
        name(path)
    )
}

/// Flips one bit in the middle of a file (objects are read-only; make it writable first).
fn flip_a_byte(path: &Path) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
        .expect("make object writable");
    let mut bytes = std::fs::read(path).expect("read object");
    assert!(!bytes.is_empty(), "{} is empty", path.display());
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    std::fs::write(path, bytes).expect("write object");
}

fn verify_passes(directory: &Path) {
    let verify = store_command(directory, Path::new(STORE), "verify");
    verify.success();
    assert!(
        verify.stdout.contains(" 0 problem(s)"),
        "verify should report no problem:\n{}",
        verify.stdout
    );
}

/// Corrupts the first object of `kind`: `store verify` fails naming it, the next build
/// repairs the store and writes the same results, and `store verify` passes again.
fn check_verify_and_repair(kind: &str) {
    let directory = scratch();
    let directory = directory.path();
    let original = build_hello(directory);
    verify_passes(directory);

    let objects = object_files(directory, kind);
    let victim = objects
        .first()
        .unwrap_or_else(|| panic!("no {kind} objects in the store"));
    let digest = object_digest(victim);
    flip_a_byte(victim);

    let verify = store_command(directory, Path::new(STORE), "verify");
    verify.expect_code(1);
    assert!(
        verify.stderr.contains(&digest),
        "verify should name the corrupt {kind} object {digest}:\n{}",
        verify.stderr
    );
    assert!(
        !verify.stdout.contains(" 0 problem(s)"),
        "{}",
        verify.stdout
    );

    std::fs::remove_dir_all(directory.join(OUT)).expect("remove results");
    let rebuild = build(directory, &hello(), Path::new(STORE), Path::new(OUT), &[]);
    rebuild.success();
    assert!(
        rebuild.stderr.contains("built "),
        "the corrupt object's users must be rebuilt:\n{}",
        rebuild.stderr
    );
    assert_eq!(
        original,
        fingerprint(&directory.join(OUT)),
        "the repaired build must give the same results"
    );
    verify_passes(directory);
}

/// Corrupts the first object of `kind` without telling the store: the next build that
/// needs it notices, rebuilds, and writes the same results.
fn check_build_repairs_silently_corrupt_object(kind: &str) {
    let directory = scratch();
    let directory = directory.path();
    let original = build_hello(directory);
    let objects = object_files(directory, kind);
    flip_a_byte(
        objects
            .first()
            .unwrap_or_else(|| panic!("no {kind} objects in the store")),
    );
    std::fs::remove_dir_all(directory.join(OUT)).expect("remove results");
    let rebuild = build(directory, &hello(), Path::new(STORE), Path::new(OUT), &[]);
    rebuild.success();
    assert_eq!(
        original,
        fingerprint(&directory.join(OUT)),
        "results written from a corrupt store:\n{}",
        rebuild.stderr
    );
    verify_passes(directory);
}

#[test]
fn verify_names_a_corrupt_blob_and_the_next_build_repairs_it() {
    check_verify_and_repair("blobs");
}

#[test]
fn verify_names_a_corrupt_tree_and_the_next_build_repairs_it() {
    check_verify_and_repair("trees");
}

#[test]
fn build_repairs_a_corrupt_blob_it_meets() {
    check_build_repairs_silently_corrupt_object("blobs");
}

#[test]
fn build_repairs_a_corrupt_tree_it_meets() {
    check_build_repairs_silently_corrupt_object("trees");
}

#[test]
fn store_info_describes_a_fresh_store() {
    let directory = scratch();
    build_hello(directory.path());
    let info = store_command(directory.path(), Path::new(STORE), "info");
    info.success();
    let mut settings = snapshot_settings(directory.path());
    settings.add_filter(r"(?m) +\d+(\.\d+)? (B|KiB|MiB|GiB)$", " [SIZE]");
    settings.bind(|| insta::assert_snapshot!("store_info", info.stdout));
}

#[test]
fn gc_keeps_what_a_result_reaches_and_frees_the_rest() {
    let directory = scratch();
    let directory = directory.path();
    let original = build_hello(directory);
    let all_objects = |directory: &Path| -> BTreeSet<PathBuf> {
        files_below(&directory.join(STORE).join("objects"))
            .into_iter()
            .collect()
    };
    let before = all_objects(directory);
    assert!(!before.is_empty());

    let kept = store_command(directory, Path::new(STORE), "gc");
    kept.success();
    assert!(
        kept.stdout
            .contains("removed 0 blobs, 0 chunks, 0 trees, 0 outputs"),
        "gc removed reachable objects:\n{}",
        kept.stdout
    );
    assert_eq!(
        before,
        all_objects(directory),
        "gc must keep every object the result reaches"
    );
    let again = build(directory, &hello(), Path::new(STORE), Path::new(OUT), &[]);
    again.success();
    assert!(
        again.stderr.contains("0 to build"),
        "after gc the build must still be a no-op:\n{}",
        again.stderr
    );
    assert_eq!(original, fingerprint(&directory.join(OUT)));

    std::fs::remove_dir_all(directory.join(OUT)).expect("remove results");
    let freed = store_command(directory, Path::new(STORE), "gc");
    freed.success();
    assert!(
        !freed.stdout.contains("removed 0 blobs"),
        "gc without a result should free blobs:\n{}",
        freed.stdout
    );
    assert!(
        freed.stdout.contains("kept 0 blobs, 0 chunks, 0 trees"),
        "{}",
        freed.stdout
    );
    assert!(
        all_objects(directory).is_empty(),
        "objects left after gc: {:?}",
        all_objects(directory)
    );
    verify_passes(directory);

    let rebuilt = build(directory, &hello(), Path::new(STORE), Path::new(OUT), &[]);
    rebuilt.success();
    assert!(
        rebuilt.stderr.contains("6 to build"),
        "everything must be rebuilt after gc:\n{}",
        rebuilt.stderr
    );
    assert_eq!(original, fingerprint(&directory.join(OUT)));
}

#[test]
fn graph_json_lists_every_derivation() {
    let directory = scratch();
    let graph = imgbuild_run(directory.path(), &["graph", &hello(), "--format", "json"]);
    graph.success();
    let value: serde_json::Value =
        serde_json::from_str(&graph.stdout).expect("graph --format json is JSON");
    let nodes = value["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 6, "hello has 6 derivations");
    let identities: BTreeSet<&str> = nodes
        .iter()
        .filter_map(|node| node["identity"].as_str())
        .collect();
    assert_eq!(identities.len(), 6, "identities are unique");
    let kinds: BTreeSet<&str> = nodes
        .iter()
        .filter_map(|node| node["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["file", "tar", "text", "tree"].into());
    let edges = value["edges"].as_array().expect("edges");
    assert!(!edges.is_empty());
    for edge in edges {
        for end in edge.as_array().expect("an edge is a pair") {
            assert!(
                identities.contains(end.as_str().unwrap_or_default()),
                "edge end {end} is not a node"
            );
        }
    }
    for node in nodes {
        for input in node["inputs"].as_array().expect("inputs") {
            assert!(
                identities.contains(input.as_str().unwrap_or_default()),
                "input {input} is not a node"
            );
        }
    }
    let outputs: BTreeSet<&str> = value["outputs"]
        .as_object()
        .expect("outputs")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(outputs, ["greeting", "site", "site-archive"].into());
}

#[test]
fn graph_dot_is_a_digraph() {
    let directory = scratch();
    let graph = imgbuild_run(directory.path(), &["graph", &hello(), "--format", "dot"]);
    graph.success();
    assert!(graph.stdout.starts_with("digraph"), "{}", graph.stdout);
    assert!(graph.stdout.trim_end().ends_with('}'));
    let json = imgbuild_run(directory.path(), &["graph", &hello(), "--format", "json"]);
    let value: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    for node in value["nodes"].as_array().expect("nodes") {
        let short = &node["identity"].as_str().expect("identity")[..12];
        assert!(
            graph.stdout.contains(short),
            "node {short} missing from the DOT graph"
        );
    }
    let default = imgbuild_run(directory.path(), &["graph", &hello()]);
    assert_eq!(default.stdout, graph.stdout, "DOT is the default format");
}

#[test]
fn gc_says_it_waits_for_a_running_build() {
    let directory = tempfile::tempdir().expect("tempdir");
    let store = directory.path().join("store");
    let imgbuild = env!("CARGO_BIN_EXE_imgbuild");
    let info = std::process::Command::new(imgbuild)
        .arg("--store")
        .arg(&store)
        .args(["store", "info"])
        .output()
        .expect("info");
    assert!(info.status.success());
    // Hold the store's session lock shared, as a build does, for a moment.
    let mut holder = std::process::Command::new("flock")
        .arg("-s")
        .arg(store.join("locks/gc.lock"))
        .args(["sleep", "1"])
        .spawn()
        .expect("flock");
    std::thread::sleep(std::time::Duration::from_millis(200));
    let gc = std::process::Command::new(imgbuild)
        .arg("--store")
        .arg(&store)
        .args(["store", "gc"])
        .output()
        .expect("gc");
    let _ = holder.wait();
    assert!(
        gc.status.success(),
        "{}",
        String::from_utf8_lossy(&gc.stderr)
    );
    assert!(
        String::from_utf8_lossy(&gc.stderr).contains("waiting for running builds"),
        "{}",
        String::from_utf8_lossy(&gc.stderr)
    );
}
