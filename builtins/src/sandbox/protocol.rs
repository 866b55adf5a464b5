//! What the builder and the sandbox helper say to each other, one line at a time.
//!
//! Builder → helper (stdin): the [`Request`] as one JSON line; later `go` (the ids are
//! mapped) or `abort`. Helper → builder (stdout): [`UNSHARED`] once its user namespace
//! exists, then one outcome line: `done TREE FILES_READ FILES`, `failed MESSAGE` (the
//! step's fault: exit 1) or `environment MESSAGE` (the machine's: exit 3). Everything
//! else the helper and the step write goes to stderr, which is the derivation's log.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::StepOutput;

/// The helper's first line: its user namespace exists and waits for its id maps.
pub const UNSHARED: &str = "unshared";

/// One sandboxed step, as the helper receives it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    /// The store's root directory.
    pub store: PathBuf,
    /// The input tree (hex digest).
    pub tree: String,
    /// Where the checkout directory is created.
    pub scratch: PathBuf,
    /// The program and its arguments.
    pub argv: Vec<String>,
    /// The program's whole environment.
    pub env: Vec<(String, String)>,
    /// The uts namespace's host name.
    pub hostname: String,
    /// Modification times later than this are clamped.
    pub clamp_mtime: i64,
    /// Time limit in seconds.
    pub timeout_seconds: u64,
    /// Store the result owner-only.
    pub secret: bool,
}

/// How a step ended.
#[derive(Debug)]
pub enum Outcome {
    /// The result is in the store.
    Done(StepOutput),
    /// The step failed (its program, its time limit, its tree).
    Failed(String),
    /// The machine could not run it.
    Environment(String),
}

/// The request as one line.
pub fn encode_request(request: &Request) -> String {
    serde_json::to_string(request).unwrap_or_default()
}

/// A request line.
pub fn decode_request(line: &str) -> Result<Request, String> {
    serde_json::from_str(line).map_err(|error| format!("malformed sandbox request: {error}"))
}

/// An outcome line; anything unexpected (the helper died) is the machine's fault.
pub fn parse_outcome(line: &str) -> Outcome {
    let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
    match word {
        "done" => {
            let mut fields = rest.split(' ');
            let tree = fields.next().and_then(|hex| hex.parse().ok());
            let files_read = fields.next().and_then(|n| n.parse().ok());
            let files = fields.next().and_then(|n| n.parse().ok());
            match (tree, files_read, files) {
                (Some(tree), Some(files_read), Some(files)) => Outcome::Done(StepOutput {
                    tree,
                    files_read,
                    files,
                }),
                _ => Outcome::Environment(format!("malformed answer from the sandbox: {line}")),
            }
        }
        "failed" => Outcome::Failed(rest.to_owned()),
        "environment" => Outcome::Environment(rest.to_owned()),
        "" => Outcome::Environment("the sandbox helper ended without an answer".to_owned()),
        _ => Outcome::Environment(format!("unexpected answer from the sandbox: {line}")),
    }
}

/// The outcome as the helper writes it (messages on one line).
pub fn encode_outcome(outcome: &Outcome) -> String {
    let one_line = |text: &str| text.replace(['\n', '\r'], " ");
    match outcome {
        Outcome::Done(output) => format!(
            "done {} {} {}",
            output.tree.to_hex(),
            output.files_read,
            output.files
        ),
        Outcome::Failed(message) => format!("failed {}", one_line(message)),
        Outcome::Environment(message) => format!("environment {}", one_line(message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_round_trip() {
        let tree: imgbuild_store::Digest = imgbuild_store::Digest::of(b"x");
        let done = encode_outcome(&Outcome::Done(StepOutput {
            tree,
            files_read: 3,
            files: 10,
        }));
        assert!(
            matches!(parse_outcome(&done), Outcome::Done(output) if output.tree == tree && output.files == 10)
        );
        let failed = encode_outcome(&Outcome::Failed("exit\nstatus 2".to_owned()));
        assert!(matches!(parse_outcome(&failed), Outcome::Failed(text) if text == "exit status 2"));
        assert!(matches!(parse_outcome(""), Outcome::Environment(_)));
        assert!(matches!(parse_outcome("done zz"), Outcome::Environment(_)));
    }
}
