//! Recipe libraries from the command line: `--override NAME=PATH` builds a recipe
//! against a library checkout (the development loop), says so, and keeps the library's
//! code inside the library.

mod common;

use common::{imgbuild, scratch, unwrapped, write_files};

#[test]
fn an_overridden_library_is_imported_by_name_and_said() {
    let work = scratch();
    let directory = work.path();
    write_files(
        directory,
        &[
            ("base-os/debian.rhai", "fn motd() { text(\"motd\", \"from the library\\n\") }\nfn steal() { file(\"../secret\") }\n"),
            ("secret", "no\n"),
            ("project/recipe.rhai", "import \"base/debian\" as debian;\n#{ motd: debian::motd() }\n"),
            ("project/steal.rhai", "import \"base/debian\" as debian;\n#{ x: debian::steal() }\n"),
        ],
    );
    let output = imgbuild(directory)
        .args([
            "build",
            "project/recipe.rhai",
            "--override",
            "base=base-os",
            "--store",
            "store",
            "-o",
            "out",
        ])
        .output()
        .expect("imgbuild");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("library base overridden by base-os"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(directory.join("out/motd")).expect("motd"),
        "from the library\n"
    );
    let output = imgbuild(directory)
        .args([
            "build",
            "project/steal.rhai",
            "--override",
            "base=base-os",
            "--store",
            "store",
            "-o",
            "out",
        ])
        .output()
        .expect("imgbuild");
    let stderr = unwrapped(&String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("outside the library"), "{stderr}");
    let output = imgbuild(directory)
        .args(["build", "project/recipe.rhai", "--override", "base=missing"])
        .output()
        .expect("imgbuild");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no such directory"));
}
