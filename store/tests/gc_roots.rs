//! GC with roots it cannot use. A dead root (its result manifest is gone) is removed and
//! reported, and GC collects as usual. A bad root (unreadable or malformed) might reach
//! anything: GC deletes nothing, names the root and the command that removes it; once
//! it is removed, GC collects again. Whatever a live root reaches always survives.

mod common;

use std::os::unix::fs::symlink;
use std::path::PathBuf;

use common::{object_path, pseudo_random, store};
use imgbuild_store::{
    Entry, GcReport, Metadata, ObjectKind, OutputObject, OutputRecord, Store, Tree, TreePath,
};

/// A tree output with a file of `size` bytes (chunked when large) and a small one,
/// stored; returns the record and the paths of its root directory object and blobs.
fn output(store: &Store, seed: u64, size: usize) -> (OutputRecord, Vec<PathBuf>) {
    let big = store
        .put_blob(&pseudo_random(seed, size), false)
        .expect("put big");
    let small = store.put_blob(&seed.to_le_bytes(), false).expect("put");
    let mut tree = Tree::new(Metadata::default_directory());
    for (path, blob) in [("data/big", big), ("small", small)] {
        tree.insert(
            &TreePath::parse(path).expect("path"),
            Entry::file(blob.digest, blob.size, Metadata::default_file()),
        )
        .expect("insert");
    }
    let root = store.put_tree(&tree).expect("put tree");
    let objects = vec![
        object_path(store, "trees", &root),
        object_path(store, "blobs", &big.digest),
        object_path(store, "blobs", &small.digest),
    ];
    let record = OutputRecord {
        object: OutputObject::Tree { tree: root },
        secret: false,
    };
    (record, objects)
}

/// A store with a live explicit root, a live result directory and one unrooted output.
struct Scene {
    directory: tempfile::TempDir,
    store: Store,
    /// Objects the two live roots reach.
    live: Vec<PathBuf>,
    /// The blob only the unrooted output has.
    garbage: PathBuf,
}

fn scene() -> Scene {
    let (directory, store) = store();
    let (kept, kept_objects) = output(&store, 1, 5 << 20);
    store.add_root("release", &[kept]).expect("root");
    let (result, result_objects) = output(&store, 2, 1000);
    let manifest = directory.path().join("result/.imgbuild-manifest");
    store
        .write_result_manifest(&manifest, &[("web".to_owned(), result)])
        .expect("manifest");
    // Every chunk and directory object so far belongs to one of the two live outputs.
    let mut live = kept_objects;
    live.extend(result_objects);
    live.extend(common::object_files(&store, "chunks"));
    live.extend(common::object_files(&store, "trees"));
    live.sort();
    live.dedup();
    let garbage = store.put_blob(b"nobody needs me", false).expect("put");
    Scene {
        garbage: object_path(&store, "blobs", &garbage.digest),
        directory,
        store,
        live,
    }
}

impl Scene {
    fn assert_live_objects_survive(&self, report: &GcReport) {
        let lost: Vec<&PathBuf> = self.live.iter().filter(|path| !path.exists()).collect();
        assert!(lost.is_empty(), "gc deleted {lost:?}: {report:#?}");
    }

    fn explicit(&self, name: &str) -> PathBuf {
        self.store.root().join("roots/explicit").join(name)
    }

    fn auto(&self, name: &str) -> PathBuf {
        self.store.root().join("roots/auto").join(name)
    }
}

/// Makes a bad root with `make`; GC must collect nothing, report that root (its path,
/// a problem mentioning `problem`, and `remove_command`) and keep every object; after
/// removing the root as told, GC collects the garbage and still keeps the live objects.
fn check_bad_root(make: impl FnOnce(&Scene) -> PathBuf, problem: &str, remove_command: &str) {
    let scene = scene();
    let bad = make(&scene);
    let report = scene
        .store
        .gc()
        .expect("gc must not fail because of one bad root");
    assert!(!report.collected, "{report:#?}");
    assert_eq!(report.bad_roots.len(), 1, "{report:#?}");
    let root = &report.bad_roots[0];
    assert_eq!(root.path, bad);
    assert!(
        root.problem.contains(problem),
        "`{problem}` not in `{}`",
        root.problem
    );
    let expected_command = remove_command.replace("{}", &bad.display().to_string());
    assert_eq!(root.remove_command, expected_command);
    assert_eq!(
        (
            report.removed_blobs,
            report.removed_chunks,
            report.removed_trees
        ),
        (0, 0, 0),
        "{report:#?}"
    );
    assert!(
        scene.garbage.exists(),
        "garbage collected despite a bad root"
    );
    scene.assert_live_objects_survive(&report);
    assert!(
        bad.exists() || bad.symlink_metadata().is_ok(),
        "gc removed the bad root"
    );

    if std::fs::symlink_metadata(&bad).is_ok_and(|metadata| metadata.is_dir()) {
        std::fs::remove_dir_all(&bad).expect("remove the bad root");
    } else {
        std::fs::remove_file(&bad).expect("remove the bad root");
    }
    let report = scene.store.gc().expect("gc");
    assert!(
        report.collected && report.bad_roots.is_empty(),
        "{report:#?}"
    );
    assert!(!scene.garbage.exists(), "garbage kept: {report:#?}");
    scene.assert_live_objects_survive(&report);
}

#[test]
fn an_explicit_root_that_is_a_directory_stops_collection() {
    check_bad_root(
        |scene| {
            let path = scene.explicit("directory");
            std::fs::create_dir(&path).expect("mkdir");
            path
        },
        "Is a directory",
        "rm -r {}",
    );
}

#[test]
fn a_malformed_explicit_root_stops_collection() {
    check_bad_root(
        |scene| {
            let path = scene.explicit("truncated");
            std::fs::write(&path, br#"{"version":1,"records":[{"obj"#).expect("write");
            path
        },
        "not a valid result manifest",
        "rm {}",
    );
}

#[test]
fn an_explicit_root_of_an_unknown_version_stops_collection() {
    check_bad_root(
        |scene| {
            let path = scene.explicit("future");
            std::fs::write(&path, br#"{"version":9,"records":[]}"#).expect("write");
            path
        },
        "unknown root version 9",
        "rm {}",
    );
}

#[test]
fn an_explicit_root_with_a_name_add_root_would_not_give_stops_collection() {
    check_bad_root(
        |scene| {
            let path = scene.explicit("made by hand");
            std::fs::write(&path, br#"{"version":1,"records":[]}"#).expect("write");
            path
        },
        "not a valid root name",
        "rm '{}'",
    );
}

#[test]
fn an_automatic_root_pointing_at_a_directory_stops_collection() {
    check_bad_root(
        |scene| {
            let target = scene.directory.path().join("a-directory");
            std::fs::create_dir(&target).expect("mkdir");
            let link = scene.auto("to-a-directory");
            symlink(&target, &link).expect("symlink");
            link
        },
        "Is a directory",
        "rm {}",
    );
}

/// A manifest replaced by something else used to count as dead (and its outputs were
/// collected); it might still be a result directory someone needs.
#[test]
fn an_automatic_root_whose_manifest_is_malformed_stops_collection() {
    check_bad_root(
        |scene| {
            let target = scene.directory.path().join("other/.imgbuild-manifest");
            std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
            std::fs::write(&target, b"not json").expect("write");
            let link = scene.auto("garbled");
            symlink(&target, &link).expect("symlink");
            link
        },
        "not a valid result manifest",
        "rm {}",
    );
}

#[test]
fn an_automatic_root_that_is_not_a_symlink_stops_collection() {
    check_bad_root(
        |scene| {
            let path = scene.auto("a-plain-file");
            std::fs::write(&path, b"?").expect("write");
            path
        },
        "cannot read root link",
        "rm {}",
    );
}

#[test]
fn an_automatic_root_in_a_symlink_loop_stops_collection() {
    check_bad_root(
        |scene| {
            let link = scene.auto("loop");
            symlink(&link, &link).expect("symlink");
            link
        },
        "symbolic links",
        "rm {}",
    );
}

#[test]
fn a_dead_automatic_root_is_removed_and_reported_and_gc_collects() {
    let scene = scene();
    let gone = scene
        .directory
        .path()
        .join("removed-result/.imgbuild-manifest");
    let link = scene.auto("dead");
    symlink(&gone, &link).expect("symlink");
    let report = scene.store.gc().expect("gc");
    assert!(
        report.collected && report.bad_roots.is_empty(),
        "{report:#?}"
    );
    assert_eq!(report.removed_roots, 1);
    assert_eq!(report.dead_roots.len(), 1);
    assert_eq!(report.dead_roots[0].path, link);
    assert_eq!(report.dead_roots[0].target, gone);
    assert!(
        link.symlink_metadata().is_err(),
        "the dead root is still there"
    );
    assert!(!scene.garbage.exists(), "{report:#?}");
    scene.assert_live_objects_survive(&report);
}

/// A root whose result directory was replaced by a file is dead too.
#[test]
fn an_automatic_root_below_a_file_is_dead() {
    let scene = scene();
    let file = scene.directory.path().join("was-a-directory");
    std::fs::write(&file, b"").expect("write");
    symlink(file.join(".imgbuild-manifest"), scene.auto("below-a-file")).expect("symlink");
    let report = scene.store.gc().expect("gc");
    assert!(report.collected, "{report:#?}");
    assert_eq!(report.dead_roots.len(), 1, "{report:#?}");
    scene.assert_live_objects_survive(&report);
}

/// A corrupt directory object a live root reaches hides what is below it: nothing is
/// collected until `store verify` has dealt with it.
#[test]
fn a_corrupt_object_a_root_reaches_stops_collection() {
    let scene = scene();
    let records = scene.store.explicit_roots().expect("roots");
    let Ok(records) = &records[0].1 else {
        panic!("the release root reads")
    };
    let OutputObject::Tree { tree } = records[0].object else {
        panic!("a tree")
    };
    let path = object_path(&scene.store, "trees", &tree);
    common::flip_byte(&path, 3);
    let report = scene.store.gc().expect("gc");
    assert!(!report.collected, "{report:#?}");
    assert_eq!(
        report.undecodable_objects,
        vec![(ObjectKind::Tree, tree, path)]
    );
    assert!(scene.garbage.exists());
    scene.assert_live_objects_survive(&report);
}

/// Nothing in `roots/` at all: everything is garbage.
#[test]
fn without_roots_everything_is_collected() {
    let (_directory, store) = store();
    output(&store, 3, 5 << 20);
    let report = store.gc().expect("gc");
    assert!(report.collected);
    assert!(common::object_files(&store, "blobs").is_empty());
    assert!(common::object_files(&store, "chunks").is_empty());
}
