//! `import "base/debian"` → the file in the resolved library, hermetically: the
//! project imports what its manifest names, a library itself and what its own
//! manifest names.

mod common;

use common::*;
use imgbuild_libraries::Resolution;

fn graph(root: &std::path::Path) -> Resolution {
    path_library(&root.join("base"), "base", "1.0.0", "");
    path_library(&root.join("net"), "net", "1.0.0", "");
    path_library(
        &root.join("tools"),
        "tools",
        "1.0.0",
        "net = { path = \"../net\" }\n",
    );
    let manifest = project(
        &root.join("web"),
        "[libraries]\nbase = { path = \"../base\" }\ntools = { path = \"../tools\" }\n",
    );
    resolve_fresh(&manifest, &root.join("cache")).expect("resolution succeeds")
}

#[test]
fn imports_map_to_files_of_declared_libraries() {
    let temp = tempfile::tempdir().expect("temporary directory");
    let resolution = graph(temp.path());
    assert_eq!(resolution.direct, ["base", "tools"]);
    assert_eq!(resolution.libraries["tools"].dependencies, ["net"]);
    assert!(resolution.libraries["net"].dependencies.is_empty());
    let base = resolution.libraries["base"].path.clone();
    for (from, import, expected) in [
        (None, "base/debian", base.join("debian.rhai")),
        (None, "base/lib/net.v2", base.join("lib/net.v2.rhai")),
        (None, "base/lib/x.rhai", base.join("lib/x.rhai")),
        (
            Some("tools"),
            "net/x",
            resolution.libraries["net"].path.join("x.rhai"),
        ),
        (
            Some("tools"),
            "tools/own",
            resolution.libraries["tools"].path.join("own.rhai"),
        ),
    ] {
        assert_eq!(
            resolution.import(from, import).expect("import allowed"),
            expected,
            "{import}"
        );
    }
}

#[test]
fn imports_outside_the_manifest_or_the_library_are_refused() {
    let temp = tempfile::tempdir().expect("temporary directory");
    let resolution = graph(temp.path());
    for (from, import, mention) in [
        (None, "net/x", "only through other libraries"),
        (
            Some("net"),
            "base/debian",
            "not a library this manifest names",
        ),
        (None, "absent/x", "`absent` is not a library"),
        (None, "base", "LIBRARY/FILE"),
        (None, "base/../../etc/passwd", "`..` is not allowed"),
        (None, "base//x", "`` is not allowed"),
        (Some("absent"), "base/x", "there is no library `absent`"),
    ] {
        let error = resolution.import(from, import).expect_err("import refused");
        let message = error.to_string();
        assert!(
            message.contains(mention) && message.contains(import),
            "{message}"
        );
        assert!(!error.is_environment());
    }
}
