//! Secrets are sealed with a secret key: identities, salts and printed graphs give no
//! offline oracle, two keys give different bytes, one shared key file gives the same
//! bytes everywhere, and whatever holds a secret is owner-only.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use common::{build_here, imgbuild, imgbuild_run, run, scratch, write_files};

const SEED: &str = r#"#{ seed: cloud_init::seed(#{
    hostname: "web-1",
    user: #{ name: "ops", password: "hunter2" },
}) }"#;

/// `imgbuild eval RECIPE --store STORE EXTRA...`: the seed's identity.
fn identity(directory: &Path, store: &str, extra: &[&str]) -> String {
    let eval = imgbuild_run(
        directory,
        &[&["eval", "recipe.rhai", "--store", store], extra].concat(),
    );
    eval.expect_code(0);
    eval.stdout.lines().next().unwrap_or_default().to_owned()
}

/// `imgbuild graph recipe.rhai --store store --format json`, which must succeed.
fn graph_json(directory: &Path) -> common::Run {
    let graph = imgbuild_run(
        directory,
        &[
            "graph",
            "recipe.rhai",
            "--store",
            "store",
            "--format",
            "json",
        ],
    );
    graph.expect_code(0);
    graph
}

/// The salt of the first SHA-512 crypt hash in `bytes`.
fn salt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let start = text
        .find("$6$")
        .expect("a SHA-512 crypt hash on the medium")
        + 3;
    let rest = text[start..].trim_start_matches("rounds=5000$");
    rest.split('$').next().unwrap_or_default().to_owned()
}

fn build_with(directory: &Path, store: &str, out: &str, extra: &[&str]) -> Vec<u8> {
    let built = imgbuild_run(
        directory,
        &[
            &["build", "recipe.rhai", "--store", store, "-o", out],
            extra,
        ]
        .concat(),
    );
    built.expect_code(0);
    std::fs::read(directory.join(out).join("seed.iso")).expect("seed")
}

#[test]
fn two_keys_give_different_identities_and_salts_one_key_file_the_same_bytes() {
    let directory = scratch();
    write_files(directory.path(), &[("recipe.rhai", SEED)]);
    let first = identity(directory.path(), "one", &[]);
    let second = identity(directory.path(), "two", &[]);
    assert_ne!(
        first, second,
        "stores with different keys give different identities"
    );
    let one = build_with(directory.path(), "one", "out-one", &[]);
    let two = build_with(directory.path(), "two", "out-two", &[]);
    assert_ne!(
        salt(&one),
        salt(&two),
        "different keys give different salts"
    );
    assert!(!String::from_utf8_lossy(&one).contains("hunter2"));
    let key = std::fs::metadata(directory.path().join("one/secret-key")).expect("store key");
    assert_eq!(key.mode() & 0o777, 0o600, "the store's key is owner-only");

    // One key file shared by two stores (two machines): identical identities and bytes.
    std::fs::copy(
        directory.path().join("one/secret-key"),
        directory.path().join("team.key"),
    )
    .expect("copy the key");
    let shared = ["--secret-key-file", "team.key"];
    assert_eq!(
        identity(directory.path(), "three", &shared),
        identity(directory.path(), "four", &shared)
    );
    let three = build_with(directory.path(), "three", "out-three", &shared);
    let four = build_with(directory.path(), "four", "out-four", &shared);
    assert_eq!(three, four, "the same key file gives the same medium");
    assert_eq!(
        three, one,
        "the same key as store one's gives store one's bytes"
    );

    // A key file others can read is refused, naming it and the fix.
    let team = directory.path().join("team.key");
    std::fs::set_permissions(&team, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let refused = imgbuild_run(
        directory.path(),
        &[
            "eval",
            "recipe.rhai",
            "--store",
            "one",
            "--secret-key-file",
            "team.key",
        ],
    );
    refused.expect_code(3);
    assert!(refused.stderr.contains("chmod 600"), "{}", refused.stderr);
}

#[test]
fn secret_marks_any_value_and_everything_built_from_it() {
    let directory = scratch();
    write_files(
        directory.path(),
        &[(
            "recipe.rhai",
            r#"
let medium = context::iso(#{ hostname: "db-1", variables: #{ ROOT_PW: secret("hunter2") } });
let plain = context::iso(#{ hostname: "db-2", variables: #{ ROOT_PW: "not-secret" } });
let token = text("token", secret("s3cr3t-token"));
print(secret("hunter2"));
#{ medium: medium, plain: plain, bundle: tree("bundle", #{ "/ctx.iso": medium }),
   packed: tar(tree("packed", #{ "/token": token })) }
"#,
        )],
    );
    let graph = graph_json(directory.path());
    for text in [&graph.stdout, &graph.stderr] {
        assert!(
            !text.contains("hunter2") && !text.contains("s3cr3t"),
            "{text}"
        );
    }
    assert!(graph.stdout.contains("<secret>"), "{}", graph.stdout);
    assert!(
        graph.stderr.contains("<secret>"),
        "print shows <secret>: {}",
        graph.stderr
    );

    build_here(directory.path(), &[]).expect_code(0);
    let mode = |name: &str| {
        std::fs::metadata(directory.path().join("out").join(name))
            .expect(name)
            .mode()
            & 0o777
    };
    assert_eq!(
        mode("medium.iso"),
        0o600,
        "a medium holding secret() is owner-only"
    );
    assert_eq!(mode("plain.iso") & 0o044, 0o044, "a plain medium is not");
    assert_eq!(
        mode("bundle") & 0o077,
        0,
        "a tree holding a secret medium is owner-only"
    );
    assert_eq!(
        mode("packed.tar"),
        0o600,
        "a tar of a tree holding a secret too"
    );
    assert_eq!(
        mode(".imgbuild-manifest"),
        0o600,
        "the manifest names every result's content digest"
    );
}

#[test]
fn secret_arguments_come_from_the_environment_a_file_or_stdin_never_the_command_line() {
    let directory = scratch();
    write_files(
        directory.path(),
        &[
            (
                "recipe.rhai",
                "#{ seed: cloud_init::seed(#{ hostname: \"web-1\", user: #{ name: \"ops\", password: args.pw } }) }",
            ),
            ("pw.txt", "from-a-file\n"),
        ],
    );
    for source in ["pw=env:ROOT_PASSWORD", "pw=file:pw.txt", "pw"] {
        let mut command = imgbuild(directory.path());
        command
            .args([
                "graph",
                "recipe.rhai",
                "--store",
                "store",
                "--format",
                "json",
                "--secret",
                source,
            ])
            .env("ROOT_PASSWORD", "from-the-environment");
        let graph = if source == "pw" {
            use std::io::Write;
            let mut child = command
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn");
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(b"from-stdin\n")
                .expect("write");
            let output = child.wait_with_output().expect("wait");
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8_lossy(&output.stdout).into_owned()
        } else {
            let graph = run(&mut command);
            graph.expect_code(0);
            graph.stdout
        };
        assert!(!graph.contains("from-"), "{source}: {graph}");
        assert!(graph.contains("<secret>"), "{source}: {graph}");
    }
    let literal = imgbuild_run(
        directory.path(),
        &[
            "eval",
            "recipe.rhai",
            "--store",
            "store",
            "--secret",
            "pw=hunter2",
        ],
    );
    literal.expect_code(2);
    assert!(!literal.stderr.contains("hunter2"), "{}", literal.stderr);
    assert!(literal.stderr.contains("env:VAR"), "{}", literal.stderr);
}

#[test]
fn private_local_files_are_sealed_in_identities() {
    let directory = scratch();
    write_files(
        directory.path(),
        &[
            ("secrets/key", "guessable\n"),
            (
                "recipe.rhai",
                "#{ key: file(\"secrets/key\"), all: dir(\"secrets\") }",
            ),
        ],
    );
    let key = directory.path().join("secrets/key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let identities = |store: &str| {
        let eval = imgbuild_run(directory.path(), &["eval", "recipe.rhai", "--store", store]);
        eval.expect_code(0);
        eval.stdout
    };
    assert_ne!(
        identities("one"),
        identities("two"),
        "the content hash is keyed"
    );
    let built = imgbuild_run(
        directory.path(),
        &["build", "recipe.rhai", "--store", "one", "-o", "out"],
    );
    built.expect_code(0);
    let all = std::fs::metadata(directory.path().join("out/all")).expect("dir result");
    assert_eq!(
        all.mode() & 0o077,
        0,
        "a directory holding a private file is owner-only"
    );
}

#[test]
fn credential_columns_of_an_inventory_are_secret() {
    let directory = scratch();
    write_files(
        directory.path(),
        &[
            ("vms.csv", "name,root_password\ndb-1,hunter2\n"),
            (
                "recipe.rhai",
                "let vm = inventory::csv(\"vms.csv\")[0];\n\
                 #{ medium: context::iso(#{ hostname: vm.name, variables: #{ ROOT_PW: vm.root_password } }) }",
            ),
        ],
    );
    let graph = graph_json(directory.path());
    assert!(!graph.stdout.contains("hunter2"), "{}", graph.stdout);
    build_here(directory.path(), &[]).expect_code(0);
    let medium = std::fs::metadata(directory.path().join("out/medium.iso")).expect("medium");
    assert_eq!(medium.mode() & 0o777, 0o600);
}

/// An output digest is an unkeyed hash of the content: for a secret it would let a
/// reader of `--json` output or debug logs check guesses. Neither shows it.
#[test]
fn secret_outputs_digests_are_not_printed_or_logged() {
    let directory = scratch();
    write_files(
        directory.path(),
        &[(
            "recipe.rhai",
            "#{ open: text(\"open\", \"guessable\"), hidden: text(\"hidden\", secret(\"guessable\")) }",
        )],
    );
    let mut command = imgbuild(directory.path());
    command
        .args([
            "build",
            "recipe.rhai",
            "--store",
            "store",
            "-o",
            "out",
            "--json",
        ])
        .env("IMGBUILD_LOG", "debug");
    let built = run(&mut command);
    built.expect_code(0);
    let outputs: Vec<serde_json::Value> = built
        .events()
        .into_iter()
        .filter(|event| event["event"] == "output")
        .collect();
    let public = outputs
        .iter()
        .find(|event| event["name"] == "open")
        .and_then(|event| event["output"].as_str())
        .expect("the public output's digest")
        .to_owned();
    let hidden = outputs
        .iter()
        .find(|event| event["name"] == "hidden")
        .expect("the hidden output");
    assert!(hidden["output"].is_null(), "{hidden}");
    assert_eq!(hidden["secret"], true);
    // Same content, same digest: it may show up for the public output only.
    let short = &public[..12];
    assert!(
        built.stderr.contains(short),
        "the debug log shows the public output's digest:\n{}",
        built.stderr
    );
    let everything = format!("{}{}", built.stdout, built.stderr);
    assert_eq!(
        everything.matches(short).count(),
        everything.matches(&public).count() + 1,
        "the digest appears for the public output only:\n{everything}"
    );
}
