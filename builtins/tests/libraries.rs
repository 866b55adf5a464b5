//! Recipe libraries at evaluation: `import "NAME/module"` through the libraries map, and
//! hermetic library code (its imports and `file()` paths stay inside the library).
//! Resolving, fetching and pinning libraries happen before evaluation and are tested
//! with the code that does them.

use std::collections::BTreeMap;
use std::path::Path;

use imgbuild_evaluator::{evaluate, EvalOptions};

fn write(root: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
}

/// Evaluates `recipe` (in `project/`) with libraries `base` and `other`; the error text
/// or the output names.
fn run(files: &[(&str, &str)], recipe: &str) -> Result<Vec<String>, String> {
    let directory = tempfile::tempdir().expect("tempdir");
    let root = directory.path();
    write(root, files);
    write(root, &[("project/recipe.rhai", recipe)]);
    let options = EvalOptions {
        libraries: BTreeMap::from([
            ("base".to_owned(), root.join("libs/base")),
            ("other".to_owned(), root.join("libs/other")),
        ]),
        ..EvalOptions::default()
    };
    evaluate(
        &root.join("project/recipe.rhai"),
        &options,
        &|engine, state| imgbuild_builtins::register(engine, state),
    )
    .map(|evaluation| {
        evaluation
            .graph
            .outputs()
            .iter()
            .map(|output| output.name.clone())
            .collect()
    })
    .map_err(|error| format!("{error:?}"))
}

const BASE: &[(&str, &str)] = &[
    (
        "libs/base/debian.rhai",
        "import \"other/util\" as util;\nfn motd() { text(\"motd\", util::greeting()) }\nfn asset() { file(\"files/asset.txt\") }\nfn escape() { file(\"../../secret.txt\") }\n",
    ),
    ("libs/base/files/asset.txt", "asset\n"),
    ("libs/other/util.rhai", "fn greeting() { \"hello\\n\" }\n"),
    ("secret.txt", "not for libraries\n"),
    ("project/local.rhai", "fn name() { \"local\" }\n"),
];

#[test]
fn a_library_is_imported_by_name_and_imports_another_by_name() {
    let outputs = run(
        BASE,
        "import \"base/debian\" as debian;\nimport \"local\" as local;\n#{ motd: debian::motd(), asset: debian::asset(), named: text(local::name(), \"x\") }\n",
    )
    .expect("evaluates");
    assert_eq!(outputs, ["asset", "motd", "named"]);
}

#[test]
fn library_code_cannot_read_outside_its_library() {
    let error = run(
        BASE,
        "import \"base/debian\" as debian;\n#{ x: debian::escape() }\n",
    )
    .expect_err("escapes");
    assert!(error.contains("outside the library"), "{error}");
}

#[test]
fn library_code_cannot_import_outside_its_library() {
    let mut files = BASE.to_vec();
    files.push((
        "libs/base/evil.rhai",
        "import \"../../project/local\" as local;\nfn x() { 1 }\n",
    ));
    let error = run(
        &files,
        "import \"base/evil\" as evil;\n#{ x: text(\"x\", \"x\") }\n",
    )
    .expect_err("escapes");
    assert!(error.contains("outside the library"), "{error}");
}

#[test]
fn an_unknown_library_name_gets_a_suggestion() {
    let error = run(
        BASE,
        "import \"bsae/debian\" as debian;\n#{ x: text(\"x\", \"x\") }\n",
    )
    .expect_err("unknown");
    assert!(error.contains("did you mean `base`"), "{error}");
}
