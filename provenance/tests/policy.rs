//! The TOML endorsement policy: the documented example, and errors at file:line.

mod common;

use std::path::Path;

use imgbuild_provenance::{public_key_line, Policy, ProvenanceError};

fn key_line(name: &str) -> String {
    public_key_line(&common::public(name))
}

/// The policy with `{alice}`, `{bob}` and `{mallory}` replaced by those public keys.
fn policy_text(template: &str) -> String {
    template
        .replace("{alice}", &key_line("alice"))
        .replace("{bob}", &key_line("bob"))
        .replace("{mallory}", &key_line("mallory"))
}

#[test]
fn the_documented_example_parses() {
    let text = policy_text(
        r#"required = 2                      # signatures by distinct trusted endorsers needed (default 1)

[[trusted]]
name = "alice@example.org"
key = "{alice} alice"     # an OpenSSH public key line

[[trusted]]
name = "bob@example.org"
key = "{bob}"

[[banned]]
name = "mallory@example.org"
key = "{mallory}"
"#,
    );
    let policy =
        Policy::parse(&text, Path::new("policy.toml")).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(
        policy,
        common::policy(2, &["alice", "bob"], &["mallory"]).with_comment_of(&policy)
    );
    assert_eq!(
        policy.trusted_name(&common::public("alice")),
        Some("alice@example.org")
    );
    assert_eq!(
        policy.banned_name(&common::public("mallory")),
        Some("mallory@example.org")
    );
    assert_eq!(policy.trusted_name(&common::public("mallory")), None);
}

/// Compares policies without key comments.
trait WithComment {
    fn with_comment_of(self, other: &Policy) -> Policy;
}

impl WithComment for Policy {
    fn with_comment_of(mut self, other: &Policy) -> Policy {
        for (mine, theirs) in self
            .trusted
            .iter_mut()
            .chain(self.banned.iter_mut())
            .zip(other.trusted.iter().chain(other.banned.iter()))
        {
            mine.key.set_comment(theirs.key.comment());
        }
        self
    }
}

#[test]
fn required_defaults_to_one_and_inline_tables_work() {
    let text = policy_text(r#"trusted = [{ name = "alice", key = "{alice}" }]"#);
    let policy =
        Policy::parse(&text, Path::new("p.toml")).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(
        (policy.required, policy.trusted.len(), policy.banned.len()),
        (1, 1, 0)
    );
}

/// Expects `Policy::parse` to refuse `template` with `p.toml:LINE: MESSAGE...`.
fn check_error(template: &str, line: usize, message: &str) {
    let text = policy_text(template);
    match Policy::parse(&text, Path::new("p.toml")) {
        Err(ProvenanceError::Policy {
            path,
            line: found_line,
            message: found,
        }) => {
            assert_eq!(path, Path::new("p.toml"));
            assert!(
                found.contains(message),
                "{found:?} lacks {message:?}\n{text}"
            );
            assert_eq!(found_line, line, "{found}\n{text}");
        }
        other => panic!("{other:?}\n{text}"),
    }
}

#[test]
fn errors_point_at_the_line() {
    const ALICE: &str = "[[trusted]]\nname = \"alice\"\nkey = \"{alice}\"\n";
    check_error(
        &format!("{ALICE}\nrequire = 1\n"),
        5,
        "unknown key `require`",
    );
    check_error(
        &format!("required = 0\n{ALICE}"),
        1,
        "`required` must be at least 1, not 0",
    );
    check_error(
        &format!("required = \"two\"\n{ALICE}"),
        1,
        "`required` must be an integer",
    );
    check_error(
        &format!("\nrequired = 2\n{ALICE}"),
        2,
        "requires 2 trusted endorsers but lists 1",
    );
    check_error(
        &format!("required = 2\n{ALICE}[[trusted]]\nname = \"alice\"\nkey = \"{{bob}}\"\n"),
        1,
        "requires 2 trusted endorsers but lists 1",
    );
    check_error(&format!("required = 2\n{ALICE}[[trusted]]\nname = \"bob\"\nkey = \"{{bob}}\"\n[[banned]]\nname = \"b\"\nkey = \"{{bob}}\"\n"), 1, "(not counting banned keys)");
    check_error(
        &format!("{ALICE}[[trusted]]\nname = \"bob\"\nkey = \"ssh-ed25519 AAAAnotbase64!\"\n"),
        6,
        "`trusted.key` is not an OpenSSH public key line",
    );
    check_error(
        &format!("{ALICE}[[banned]]\nname = \"bob\"\nkey = \"{{bob}}\"\nexpires = 2027\n"),
        7,
        "unknown key `expires` in `[[banned]]`",
    );
    check_error(
        &format!("{ALICE}\n[[banned]]\nkey = \"{{bob}}\"\n"),
        5,
        "a `[[banned]]` entry has no `name`",
    );
    check_error(
        &format!("{ALICE}[[banned]]\nname = \"bob\"\n"),
        4,
        "a `[[banned]]` entry has no `key`",
    );
    check_error(
        &format!("{ALICE}[[banned]]\nname = \"bob smith\"\nkey = \"{{bob}}\"\n"),
        5,
        "endorser name \"bob smith\" must not contain whitespace",
    );
    check_error(
        &format!("{ALICE}[[banned]]\nname = \"*\"\nkey = \"{{bob}}\"\n"),
        5,
        "must not contain",
    );
    check_error(
        &format!("{ALICE}[[banned]]\nname = \"!bob\"\nkey = \"{{bob}}\"\n"),
        5,
        "must not start with `!` or `.`",
    );
    check_error(
        &format!("{ALICE}[[banned]]\nname = 7\nkey = \"{{bob}}\"\n"),
        5,
        "`banned.name` must be a string",
    );
    check_error(
        &format!("banned = \"bob\"\n{ALICE}"),
        1,
        "`banned` must be an array of tables",
    );
    check_error(
        &format!("\nbanned = [\"bob\"]\n{ALICE}"),
        2,
        "`banned` entries must be tables",
    );
    check_error(&format!("{ALICE}\n\nrequired = = 2\n"), 6, "invalid TOML");
    check_error("", 1, "requires 1 trusted endorsers but lists 0");
}

#[test]
fn read_names_a_missing_file() {
    let error = Policy::read(Path::new("/nonexistent/policy.toml"))
        .map(|_| ())
        .map_err(|error| error.to_string());
    assert!(
        error
            .as_ref()
            .is_err_and(|message| message.starts_with("cannot read /nonexistent/policy.toml")),
        "{error:?}"
    );
}
