//! A store that lost or damaged an object heals itself on the next build that needs it.
//!
//! Each test builds a recipe, then damages the store by hand the way a user or a disk
//! can — a blob, a chunk or a directory object deleted, a blob flipped, an output record
//! copied over another — and builds again: the build must succeed, write the same
//! results as before, say in a `warning:` line what was wrong and for which derivation,
//! and leave a store that `imgbuild store verify` accepts.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::{build_here, build_recipe, files_below, fingerprint, scratch, store_command};
use imgbuild_store::Digest;

/// A tree of text files: two from `text()` derivations (their blobs are written by those
/// derivations), two inline (their blobs are written by the tree's own builder), one in
/// a subdirectory (its own directory object).
const SITE: &str = r#"
let alpha = text("alpha", "alpha\n");
let bravo = text("bravo", "bravo\n");
let site = tree("site", #{
    "/alpha.txt": alpha,
    "/bravo.txt": bravo,
    "/charlie.txt": #{ text: "charlie\n" },
    "/sub/delta.txt": #{ text: "delta\n" },
});
"#;

/// `SITE` with only the tree as an output.
fn site_only() -> String {
    format!("{SITE}\n#{{ site: site }}\n")
}

/// `SITE` with a tar of the tree as a second output: building it reads the tree.
fn site_and_archive() -> String {
    format!("{SITE}\n#{{ site: site, archive: tar(site) }}\n")
}

/// A tree holding one large local file (larger than the single-blob limit, so it is
/// stored as chunks) next to a small text.
const LARGE: &str = r#"
let site = tree("large", #{
    "/big.bin": file("big.bin"),
    "/small.txt": #{ text: "small\n" },
});
#{ large: site }
"#;

/// Where the store keeps the object `kind` (`blobs`, `chunks`, `trees`) named `digest`.
fn object_path(directory: &Path, kind: &str, digest: &str) -> PathBuf {
    directory
        .join("store/objects")
        .join(kind)
        .join(&digest[..1])
        .join(&digest[1..])
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

/// The blob digest of `content`, as the store names it.
fn blob_of(content: &str) -> String {
    Digest::of(content.as_bytes()).to_hex()
}

/// Builds in `directory` (expecting success) and returns the results' fingerprint.
fn build_ok(directory: &Path, recipe: &str) -> std::collections::BTreeMap<String, String> {
    let run = build_recipe(directory, recipe, &[]);
    run.expect_code(0);
    fingerprint(&directory.join("out"))
}

/// Builds again after the store was damaged: exit 0, the same results as `expected`, a
/// warning that names `damaged` (an object digest or a derivation name) and every word
/// of `mentions`; then `store verify` finds nothing wrong.
fn check_healed(
    directory: &Path,
    expected: &std::collections::BTreeMap<String, String>,
    damaged: &str,
    mentions: &[&str],
) -> common::Run {
    let run = build_here(directory, &[]);
    assert_eq!(
        run.code,
        Some(0),
        "the build must heal the store\n--- stderr ---\n{}",
        run.stderr
    );
    assert_eq!(
        &fingerprint(&directory.join("out")),
        expected,
        "the healed build wrote other results:\n{}",
        run.stderr
    );
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|line| line.starts_with("warning:"))
        .collect();
    assert!(
        warnings.iter().any(|line| line.contains(damaged)),
        "no warning names `{damaged}`:\n{}",
        run.stderr
    );
    for word in mentions {
        assert!(
            warnings.iter().any(|line| line.contains(word)),
            "no warning mentions `{word}`:\n{}",
            run.stderr
        );
    }
    let verify = store_command(directory, Path::new("store"), "verify");
    assert_eq!(
        verify.code,
        Some(0),
        "the store is still damaged:\n{}{}",
        verify.stdout,
        verify.stderr
    );
    run
}

fn remove(path: &Path) {
    std::fs::remove_file(path)
        .unwrap_or_else(|error| panic!("cannot remove {}: {error}", path.display()));
}

/// The result directory is removed, so the next build must write the tree again from
/// the store and meets the damage there (the outputs are found by recipe identity).
fn check_missing_blob_of_a_result(content: &str, derivation: &str) {
    let directory = scratch();
    let directory = directory.path();
    let expected = build_ok(directory, &site_only());
    let blob = blob_of(content);
    remove(&object_path(directory, "blobs", &blob));
    std::fs::remove_dir_all(directory.join("out")).expect("remove results");
    check_healed(directory, &expected, &blob, &[derivation, "missing"]);
}

#[test]
fn a_missing_blob_written_by_an_input_is_rebuilt_when_the_result_is_written() {
    check_missing_blob_of_a_result("alpha\n", "site");
}

#[test]
fn a_missing_blob_written_by_the_tree_itself_is_rebuilt_when_the_result_is_written() {
    check_missing_blob_of_a_result("charlie\n", "site");
}

#[test]
fn a_missing_subdirectory_is_rebuilt_when_the_result_is_written() {
    let directory = scratch();
    let directory = directory.path();
    let expected = build_ok(directory, &site_only());
    let manifest =
        std::fs::read_to_string(directory.join("out/.imgbuild-manifest")).expect("result manifest");
    let trees = files_below(&directory.join("store/objects/trees"));
    // The root directory object is named in the manifest; the other one is `sub/`.
    let subdirectory = trees
        .iter()
        .find(|path| !manifest.contains(&object_digest(path)))
        .expect("a subdirectory object");
    let digest = object_digest(subdirectory);
    remove(subdirectory);
    std::fs::remove_dir_all(directory.join("out")).expect("remove results");
    check_healed(directory, &expected, &digest, &["site", "missing"]);
}

#[test]
fn a_missing_chunk_of_a_large_file_is_rebuilt_when_the_result_is_written() {
    let directory = scratch();
    let directory = directory.path();
    // 5 MiB of pseudo-random bytes: above the single-blob limit, and no zero runs.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut big = Vec::with_capacity(5 << 20);
    while big.len() < 5 << 20 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        big.extend_from_slice(&state.to_le_bytes());
    }
    assert!(big.len() > imgbuild_store::SINGLE_BLOB_LIMIT);
    std::fs::write(directory.join("big.bin"), &big).expect("write big.bin");
    let expected = build_ok(directory, LARGE);
    let chunks = files_below(&directory.join("store/objects/chunks"));
    assert!(chunks.len() > 10, "the large file was not chunked");
    let chunk = &chunks[chunks.len() / 2];
    let digest = object_digest(chunk);
    remove(chunk);
    std::fs::remove_dir_all(directory.join("out")).expect("remove results");
    check_healed(directory, &expected, &digest, &["large", "missing"]);
}

/// The tree is found by recipe identity (so it is not rebuilt by itself), but a new
/// derivation reads it: the damage is met inside that derivation's builder.
#[test]
fn a_missing_blob_of_an_input_is_rebuilt_for_the_derivation_that_reads_it() {
    let directory = scratch();
    let directory = directory.path();
    build_ok(directory, &site_only());
    let blob = blob_of("bravo\n");
    remove(&object_path(directory, "blobs", &blob));

    let reference = scratch();
    let expected = build_ok(reference.path(), &site_and_archive());
    common::write_files(directory, &[("recipe.rhai", &site_and_archive())]);
    check_healed(directory, &expected, &blob, &["site", "missing"]);
}

/// The same for a blob whose bytes were damaged rather than deleted.
#[test]
fn a_corrupt_blob_of_an_input_is_rebuilt_for_the_derivation_that_reads_it() {
    let directory = scratch();
    let directory = directory.path();
    build_ok(directory, &site_only());
    let path = object_path(directory, "blobs", &blob_of("delta\n"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let mut bytes = std::fs::read(&path).expect("read blob");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&path, bytes).expect("write blob");

    let reference = scratch();
    let expected = build_ok(reference.path(), &site_and_archive());
    common::write_files(directory, &[("recipe.rhai", &site_and_archive())]);
    check_healed(directory, &expected, &blob_of("delta\n"), &["site"]);
}

/// With its results in place, a no-op build does not read the store's objects (it must
/// stay a handful of lookups), so it succeeds without noticing; the next build that
/// needs the objects heals the store.
#[test]
fn a_no_op_build_leaves_the_results_alone_and_the_next_one_that_needs_them_heals() {
    let directory = scratch();
    let directory = directory.path();
    let expected = build_ok(directory, &site_only());
    let blob = blob_of("alpha\n");
    remove(&object_path(directory, "blobs", &blob));
    let no_op = build_here(directory, &[]);
    no_op.expect_code(0);
    assert_eq!(fingerprint(&directory.join("out")), expected);
    std::fs::remove_dir_all(directory.join("out")).expect("remove results");
    check_healed(directory, &expected, &blob, &["site"]);
}

/// An output record copied over another one's (both valid records of this store) is
/// refused: it is not what the key it sits under says, so the output is rebuilt.
#[test]
fn an_output_record_copied_over_another_is_refused_and_rebuilt() {
    let directory = scratch();
    let directory = directory.path();
    let expected = build_ok(directory, &site_only());
    let records = files_below(&directory.join("store/outputs/recipe"));
    assert!(records.len() >= 2, "{records:?}");
    // Each record under the recipe index is replaced by the next one's (valid, from
    // this store, but about another derivation).
    let contents: Vec<Vec<u8>> = records
        .iter()
        .map(|record| std::fs::read(record).expect("read record"))
        .collect();
    for (index, record) in records.iter().enumerate() {
        std::fs::remove_file(record).expect("remove record");
        std::fs::write(record, &contents[(index + 1) % records.len()]).expect("copy record");
    }
    std::fs::remove_dir_all(directory.join("out")).expect("remove results");
    check_healed(directory, &expected, "record", &["rejected"]);
}

/// `store gc` with a root it cannot read deletes nothing, names the root with the
/// command that removes it and exits 1; once the root is gone, it collects again.
#[test]
fn gc_with_an_unreadable_root_keeps_everything_and_says_how_to_fix_it() {
    let directory = scratch();
    let directory = directory.path();
    let expected = build_ok(directory, &site_only());
    std::fs::remove_dir_all(directory.join("out")).expect("remove results");
    let bad = directory.join("store/roots/explicit/by-hand");
    std::fs::write(&bad, "{ not json").expect("write root");
    let objects = files_below(&directory.join("store/objects"));

    let gc = store_command(directory, Path::new("store"), "gc");
    assert_eq!(gc.code, Some(1), "{}{}", gc.stdout, gc.stderr);
    let bad = bad.canonicalize().expect("canonical");
    assert!(
        gc.stderr.contains(&format!("rm {}", bad.display())),
        "{}",
        gc.stderr
    );
    assert!(gc.stderr.contains("nothing was collected"), "{}", gc.stderr);
    assert_eq!(files_below(&directory.join("store/objects")), objects);

    std::fs::remove_file(&bad).expect("remove the root as told");
    let gc = store_command(directory, Path::new("store"), "gc");
    assert_eq!(gc.code, Some(0), "{}{}", gc.stdout, gc.stderr);
    assert!(files_below(&directory.join("store/objects")).is_empty());
    let rebuilt = build_here(directory, &[]);
    rebuilt.expect_code(0);
    assert_eq!(fingerprint(&directory.join("out")), expected);
}
