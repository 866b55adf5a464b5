//! Builders against a temporary store: each recipe is evaluated with the real
//! constructors, then built by the engine's scheduler (offline, one job at a time).

use std::collections::HashMap;

use imgbuild_engine::{BuildConfig, Event, EventSink, Graph, LocalExecutor, Options};
use imgbuild_evaluator::{evaluate, EvalOptions, Evaluation};
use imgbuild_store::{EntryKind, OutputObject, OutputRecord, Store, TreePath};

struct Built {
    store: Store,
    evaluation: Evaluation,
    outputs: HashMap<String, Result<OutputRecord, String>>,
    _directory: tempfile::TempDir,
}

/// Keeps nothing: the outcome carries what the tests look at.
struct Quiet;

impl EventSink for Quiet {
    fn event(&self, _graph: &Graph, _event: &Event) {}
}

fn build(recipe: &str) -> Built {
    let directory = tempfile::tempdir().expect("tempdir");
    let path = directory.path().join("recipe.rhai");
    std::fs::write(&path, recipe).expect("write recipe");
    let evaluation = evaluate(&path, &EvalOptions::default(), &|engine, state| {
        imgbuild_builtins::register(engine, state)
    })
    .unwrap_or_else(|error| panic!("evaluation failed: {error}"));
    let store = Store::open(&directory.path().join("store")).expect("store");
    let graph = &evaluation.graph;
    let targets: Vec<_> = graph
        .outputs()
        .iter()
        .map(|output| output.derivation)
        .collect();
    let builders = imgbuild_builtins::builder;
    let executor = LocalExecutor {
        builders: &builders,
    };
    let config = BuildConfig {
        offline: true,
        ..BuildConfig::default()
    };
    let options = Options {
        jobs: 1,
        keep_going: true,
        deep_check: false,
    };
    let outcome = imgbuild_engine::build(
        graph, &targets, &store, &executor, &config, &options, &Quiet,
    )
    .expect("the store works");
    let errors: HashMap<_, _> = outcome
        .failed
        .iter()
        .map(|(id, message, _)| (*id, message.clone()))
        .collect();
    let outputs = graph
        .outputs()
        .iter()
        .map(|output| {
            let result = match outcome.outputs.get(&output.derivation) {
                Some(record) => Ok(record.clone()),
                None => Err(errors
                    .get(&output.derivation)
                    .cloned()
                    .unwrap_or_else(|| "an input failed".to_owned())),
            };
            (output.name.clone(), result)
        })
        .collect();
    Built {
        store,
        evaluation,
        outputs,
        _directory: directory,
    }
}

impl Built {
    fn record(&self, name: &str) -> &OutputRecord {
        match &self.outputs[name] {
            Ok(record) => record,
            Err(error) => panic!("{name} failed: {error}"),
        }
    }

    fn file(&self, name: &str) -> Vec<u8> {
        match &self.record(name).object {
            OutputObject::File { blob, .. } => self.store.read_blob(blob).expect("blob"),
            OutputObject::Tree { .. } => panic!("{name} is a tree"),
        }
    }

    fn tree(&self, name: &str) -> imgbuild_store::Tree {
        match &self.record(name).object {
            OutputObject::Tree { tree } => self.store.load_tree(tree).expect("tree"),
            OutputObject::File { .. } => panic!("{name} is a file"),
        }
    }
}

#[test]
fn text_concatenates_strings_and_input_files() {
    let built = build("let a = text(\"a\", \"first\\n\"); #{ b: text(\"b\", [\"got: \", a, 42]) }");
    assert_eq!(built.file("b"), b"got: first\n42");
    assert_eq!(built.evaluation.graph.len(), 2);
}

#[test]
fn tree_applies_metadata_and_grafts_trees() {
    let built = build(
        "let inner = tree(\"inner\", #{ \"x\": text(\"x\\n\") });
         #{ t: tree(\"t\", #{
             \"/etc/shadow\": #{ text: \"\", mode: 0o640, gid: 42 },
             \"/usr/bin/su\": #{ text: \"#!/bin/sh\\n\", mode: 0o4755 },
             \"/opt/inner\": inner,
             \"/dev/null\": #{ char_device: [1, 3], mode: 0o666 },
             \"/tmp\": #{ directory: true, mode: 0o1777 },
         }) }",
    );
    let tree = built.tree("t");
    let meta = |path: &str| {
        tree.get(&TreePath::parse(path).expect("path"))
            .map(|entry| entry.meta.clone())
            .expect(path)
    };
    assert_eq!(
        (meta("etc/shadow").mode, meta("etc/shadow").gid),
        (0o640, 42)
    );
    assert_eq!(meta("usr/bin/su").mode, 0o4755);
    assert_eq!(meta("tmp").mode, 0o1777);
    assert!(tree
        .get(&TreePath::parse("opt/inner/x").expect("path"))
        .is_some());
    assert!(matches!(
        tree.get(&TreePath::parse("dev/null").expect("path"))
            .map(|entry| &entry.kind),
        Some(EntryKind::CharDevice { major: 1, minor: 3 })
    ));
}

#[test]
fn merge_conflicts_name_both_sources() {
    let built = build(
        "let left = tree(\"left\", #{ \"/etc/x\": text(\"one\") });
         let right = tree(\"right\", #{ \"/etc/x\": text(\"two\") });
         let same = tree(\"same\", #{ \"/etc/x\": text(\"one\"), \"/etc/y\": text(\"y\") });
         #{ bad: merge([left, right]), good: merge([left, same]) }",
    );
    let error = built.outputs["bad"].clone().expect_err("conflict");
    assert!(
        error.contains("/etc/x") && error.contains("left") && error.contains("right"),
        "{error}"
    );
    let good = built.tree("good");
    assert!(good.get(&TreePath::parse("etc/y").expect("path")).is_some());
}

#[test]
fn tar_is_deterministic() {
    let recipe = "let t = tree(\"t\", #{ \"/a\": text(\"a\"), \"/b/c\": #{ symlink: \"../a\" } }); #{ archive: tar(t) }";
    let first = build(recipe).file("archive");
    let second = build(recipe).file("archive");
    assert_eq!(first, second);
    assert_eq!(first.len() % 512, 0);
}

#[test]
fn a_local_file_that_changed_since_evaluation_is_refused() {
    let directory = tempfile::tempdir().expect("tempdir");
    let path = directory.path().join("recipe.rhai");
    std::fs::write(directory.path().join("data.txt"), "before").expect("write");
    std::fs::write(&path, "#{ data: file(\"data.txt\") }").expect("write");
    let evaluation = evaluate(&path, &EvalOptions::default(), &|engine, state| {
        imgbuild_builtins::register(engine, state)
    })
    .expect("evaluates");
    std::fs::write(directory.path().join("data.txt"), "after").expect("write");
    let store = Store::open(&directory.path().join("store")).expect("store");
    let node = &evaluation.graph.nodes()[0];
    let config = BuildConfig::default();
    let mut context = imgbuild_engine::BuildContext {
        store: &store,
        derivation: &node.derivation,
        inputs: Vec::new(),
        log: Vec::new(),
        reporter: &imgbuild_engine::NoReporter,
        config: &config,
        keys: None,
    };
    let builder = imgbuild_builtins::builder("file").expect("builder");
    assert!(matches!(
        builder(&mut context),
        Err(imgbuild_engine::BuildError::SourceChanged { .. })
    ));
}

#[test]
fn a_disk_image_without_mke2fs_names_the_package() {
    // BuildConfig::default() has no host tools: the CLI finds them on PATH.
    let built = build(
        "let root = tree(\"r\", #{ \"/etc/motd\": text(\"m\", \"hi\") });\n\
         #{ disk: disk::image(#{ root: root, boot: \"none\" }) }\n",
    );
    let Err(error) = &built.outputs["disk"] else {
        panic!("built without mke2fs");
    };
    assert!(
        error.contains("`mke2fs` is not installed (Debian package e2fsprogs"),
        "{error}"
    );
}

/// The golden output of `first_boot_agent` (listed in golden.rs as covered here): the
/// agent's own bytes change with its code, so the digest is taken with the agent file
/// set aside; its bytes are checked against the embedded agent instead.
#[test]
fn the_first_boot_agent_is_installed_with_its_units_and_scripts() {
    let built = build(
        "let root = tree(\"r\", #{ \"/etc/motd\": text(\"m\", \"hi\\n\"), \"/usr/lib/systemd/system\": #{ directory: true } });\n\
         #{ image: first_boot::agent(#{ root: root, source_date_epoch: 1700000000, scripts: [\n\
             #{ name: \"page\", when: \"first-boot\", script: \"hostname > /srv/page\" },\n\
             #{ name: \"count\", when: \"every-boot\", script: \"#!/bin/sh\\necho boot >> /srv/boots\\n\" },\n\
         ] }) }\n",
    );
    let mut tree = built.tree("image");
    let path = |text: &str| TreePath::parse(text).expect("path");
    let agent = tree
        .remove(&path(imgbuild_builtins::first_boot::AGENT_PATH))
        .expect("the agent is installed");
    match &agent.kind {
        EntryKind::File { blob, .. } => assert_eq!(
            built.store.read_blob(blob).expect("agent"),
            imgbuild_builtins::first_boot::AGENT
        ),
        other => panic!("the agent is a {other:?}"),
    }
    assert_eq!(agent.meta.mode, 0o755);
    for (file, mode) in [
        ("etc/imgbuild/first-boot.d/01-page", 0o700),
        ("etc/imgbuild/every-boot.d/02-count", 0o700),
        ("usr/lib/systemd/system/imgbuild-first-boot.service", 0o644),
        (
            "usr/lib/systemd/system/imgbuild-first-boot-scripts.service",
            0o644,
        ),
    ] {
        let entry = tree.get(&path(file)).unwrap_or_else(|| panic!("{file}"));
        assert_eq!(entry.meta.mode, mode, "{file}");
    }
    for link in [
        "etc/systemd/system/sysinit.target.wants/imgbuild-first-boot.service",
        "etc/systemd/system/multi-user.target.wants/imgbuild-first-boot-scripts.service",
    ] {
        assert!(
            matches!(
                tree.get(&path(link)).map(|entry| &entry.kind),
                Some(EntryKind::Symlink { .. })
            ),
            "{link} enables the unit"
        );
    }
    let digest = built.store.put_tree(&tree).expect("tree");
    assert_eq!(
        digest.to_hex(),
        "0ae4d37ec374101e86bb0e18e3681fccb76351dbc047ad5e70608f3502a62d7f",
        "first_boot_agent's output (without the agent's bytes) changed: bump its version"
    );
}
