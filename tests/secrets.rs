//! Secrets never show up where another person or a log can see them: not in error
//! messages, even when given in the wrong field.

mod common;

use std::path::Path;

use common::{build, scratch, write_files};

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
