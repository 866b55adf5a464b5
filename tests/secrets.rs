//! Secrets never show up where another person or a log can see them: not in error
//! messages, even when given in the wrong field.

mod common;

use std::path::Path;

use common::{build, build_here, build_recipe, scratch, write_files};

#[test]
fn a_plain_password_in_the_crypted_field_is_not_echoed() {
    let directory = scratch();
    for (name, call) in [
        (
            "seed.rhai",
            "cloud_init::seed(#{\n    hostname: \"web-1\",\n    user: #{\n        name: \"ops\",\n        crypted_password: \"correct horse battery staple\",\n    },\n})",
        ),
        (
            "context.rhai",
            "context::iso(#{\n    hostname: \"web-1\",\n    username: \"ops\",\n    crypted_password: \"correct horse battery staple\",\n})",
        ),
    ] {
        write_files(directory.path(), &[(name, &format!("#{{ medium: {call} }}\n"))]);
        let run = build(
            directory.path(),
            name,
            Path::new("store"),
            Path::new("out"),
            &["--json"],
        );
        run.expect_code(2);
        assert!(
            run.stderr.contains("not a crypt hash") && run.stderr.contains("not shown"),
            "{name}: {}",
            run.stderr
        );
        for text in [&run.stderr, &run.stdout] {
            assert!(
                !text.contains("correct horse"),
                "{name}: the password was echoed:\n{text}"
            );
        }
    }
}

#[test]
fn the_kernels_live_files_are_not_sources() {
    let directory = scratch();
    for (recipe, mentions) in [
        ("#{ env: file(\"/proc/self/environ\") }", "procfs"),
        (
            "#{ uuid: file(\"/proc/sys/kernel/random/uuid\") }",
            "procfs",
        ),
        ("#{ kernel: dir(\"/sys/kernel/mm\") }", "sysfs"),
        ("#{ random: file(\"/dev/urandom\") }", "not a regular file"),
    ] {
        let run = build_recipe(directory.path(), recipe, &[]);
        run.expect_code(2);
        assert!(run.stderr.contains(mentions), "{recipe}: {}", run.stderr);
        assert!(!directory.path().join("out").exists(), "{recipe}");
    }
}

#[test]
fn a_file_others_cannot_read_stays_owner_only() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let directory = scratch();
    write_files(
        directory.path(),
        &[
            ("key", "not for everyone\n"),
            ("recipe.rhai", "#{ key: file(\"key\") }"),
        ],
    );
    let key = directory.path().join("key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let run = build_here(directory.path(), &[]);
    run.expect_code(0);
    let result = std::fs::metadata(directory.path().join("out/key")).expect("result");
    assert_eq!(result.mode() & 0o077, 0, "result mode {:o}", result.mode());
    // Every file in the store holding those bytes is owner-only too.
    for file in common::files_below(&directory.path().join("store/objects")) {
        let mode = std::fs::metadata(&file).expect("stat").mode();
        assert_eq!(mode & 0o077, 0, "{} has mode {:o}", file.display(), mode);
    }
}
