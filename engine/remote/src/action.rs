//! A derivation as a REAPI Action.
//!
//! ```text
//! Action  { command: Command, input_root, salt: "imgbuild-action-v1" }   no platform
//! Command { arguments: ["imgbuild-action", "v1"] (+ "--secret"), output_paths: ["output"] }
//! input root/
//!   derivation         the bytes the derivation's cache key hashes
//!                      (`Derivation::cache_key_encoding`: kind, version, name, args,
//!                      the inputs' output digests)
//!   inputs/000000 ...  each input's output description (see `transfer`), in input order
//! ```
//!
//! Everything in the Action is a function of the cache key (the descriptions are
//! functions of the inputs' outputs), so equal cache keys give equal Action digests
//! and the engine's ActionCache is keyed like the store: early cutoff carries over.
//! `--secret` says the derivation's output holds secrets (builders write such media
//! owner-only); the flag follows from its arguments, so it adds nothing to the key.
//! The ActionResult names one output file, `output`: the output's description. Its
//! stderr is the derivation's log.

use bazel_remote_apis::build::bazel::remote::execution::v2 as reapi;
use prost::Message;

use crate::digest::WireDigest;

/// The Action's salt: bump when this layout changes.
pub const SALT: &[u8] = b"imgbuild-action-v1";
/// The Command's arguments (a worker checks them).
pub const ARGUMENTS: [&str; 2] = ["imgbuild-action", "v1"];
/// The argument that marks a derivation whose output holds secrets.
pub const SECRET: &str = "--secret";
/// The one output file: the output's description.
pub const OUTPUT: &str = "output";
/// The input root's file holding the derivation's encoding.
pub const DERIVATION: &str = "derivation";
/// The input root's directory of input descriptions.
pub const INPUTS: &str = "inputs";

/// An Action and every blob it consists of.
pub struct Prepared {
    /// The Action's digest: the ActionCache key.
    pub digest: WireDigest,
    /// The Action, Command, directories and the derivation's encoding.
    pub blobs: Vec<(WireDigest, Vec<u8>)>,
}

fn blob(message: &impl Message, blobs: &mut Vec<(WireDigest, Vec<u8>)>) -> WireDigest {
    let bytes = message.encode_to_vec();
    let digest = WireDigest::of(&bytes);
    blobs.push((digest, bytes));
    digest
}

/// The name of input number `index` in the input root (sorted like the input order).
pub fn input_name(index: usize) -> String {
    format!("{index:06}")
}

/// The Action of a derivation with this cache-key encoding and these inputs' output
/// descriptions (in input order).
pub fn prepare(encoding: &[u8], inputs: &[WireDigest], secret: bool) -> Prepared {
    let mut blobs = Vec::new();
    let derivation = WireDigest::of(encoding);
    blobs.push((derivation, encoding.to_vec()));
    let inputs_directory = reapi::Directory {
        files: inputs
            .iter()
            .enumerate()
            .map(|(index, digest)| reapi::FileNode {
                name: input_name(index),
                digest: Some(digest.to_proto()),
                is_executable: false,
                node_properties: None,
            })
            .collect(),
        ..Default::default()
    };
    let inputs_digest = blob(&inputs_directory, &mut blobs);
    let root = reapi::Directory {
        files: vec![reapi::FileNode {
            name: DERIVATION.to_owned(),
            digest: Some(derivation.to_proto()),
            is_executable: false,
            node_properties: None,
        }],
        directories: vec![reapi::DirectoryNode {
            name: INPUTS.to_owned(),
            digest: Some(inputs_digest.to_proto()),
        }],
        ..Default::default()
    };
    let root_digest = blob(&root, &mut blobs);
    let command = reapi::Command {
        arguments: ARGUMENTS
            .iter()
            .chain(secret.then_some(&SECRET))
            .map(|argument| (*argument).to_owned())
            .collect(),
        output_paths: vec![OUTPUT.to_owned()],
        ..Default::default()
    };
    let command_digest = blob(&command, &mut blobs);
    let action = reapi::Action {
        command_digest: Some(command_digest.to_proto()),
        input_root_digest: Some(root_digest.to_proto()),
        salt: SALT.to_vec(),
        ..Default::default()
    };
    let digest = blob(&action, &mut blobs);
    Prepared { digest, blobs }
}

/// The ActionResult of an output whose description is `output`, with the log's digest.
pub fn result(output: WireDigest, log: Option<WireDigest>) -> reapi::ActionResult {
    reapi::ActionResult {
        output_files: vec![reapi::OutputFile {
            path: OUTPUT.to_owned(),
            digest: Some(output.to_proto()),
            ..Default::default()
        }],
        exit_code: 0,
        stderr_digest: log.map(WireDigest::to_proto),
        ..Default::default()
    }
}

/// The output description an ActionResult names, if it is one of ours.
pub fn output_of(result: &reapi::ActionResult) -> Option<WireDigest> {
    if result.exit_code != 0 {
        return None;
    }
    result
        .output_files
        .iter()
        .find(|file| file.path == OUTPUT)
        .and_then(|file| file.digest.as_ref())
        .and_then(WireDigest::from_proto)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_action_is_a_function_of_its_encoding_and_inputs() {
        let one = prepare(b"imgbuild-key-v1\0abc", &[WireDigest::of(b"x")], false);
        let again = prepare(b"imgbuild-key-v1\0abc", &[WireDigest::of(b"x")], false);
        let other = prepare(b"imgbuild-key-v1\0abc", &[WireDigest::of(b"y")], false);
        assert_eq!(one.digest, again.digest);
        assert_ne!(one.digest, other.digest);
        // Golden: a change to the layout changes every action key (bump SALT).
        assert_eq!(
            prepare(b"imgbuild-key-v1\0", &[], false).digest.to_text(),
            "42275e50aaa3900cc32717a9ac04c5b9fbf259acc965e1afd83ee8e6f604650e/161"
        );
    }
}
