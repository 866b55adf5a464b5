//! Release provenance for imgbuild results: a manifest of what a release holds, SSH
//! signatures of it by endorsers, and a site policy deciding which endorsements count.
//!
//! A platform team publishes a result directory (`web.qcow2`, `web.spdx.json`,
//! `web-oci/`) with [`MANIFEST_FILE`] listing each output's size, SHA-256 and SHA-512
//! ([`describe_output`], [`Manifest`]), and one `imgbuild-release.json.<principal>.sig`
//! per endorser ([`sign_directory`]). The signatures are OpenSSH SSHSIG signatures in
//! the namespace [`NAMESPACE`], the format of `ssh-keygen -Y sign` (as git uses), so
//! anyone can check a release with OpenSSH alone:
//!
//! ```sh
//! ssh-keygen -Y verify -f allowed_signers -I alice@example.org -n imgbuild-release \
//!     -s imgbuild-release.json.alice@example.org.sig < imgbuild-release.json
//! ```
//!
//! where `allowed_signers` is [`Policy::allowed_signers`]. A site keeps a [`Policy`]
//! of trusted and banned endorsers (in the manner of the EGI image endorsement
//! policy); [`verify_directory`] re-hashes the outputs and checks the signatures against
//! it, reporting every [`Problem`] found.
//!
//! Modules: [`manifest`] (the JSON format), [`describe`] (hashing outputs), [`signing`]
//! (keys, signatures, writing a release), [`policy`] (the TOML policy), [`verify`]
//! (checking a release).

pub mod describe;
pub mod error;
pub mod manifest;
pub mod policy;
pub mod signing;
pub mod verify;

pub use describe::{describe_output, directory_listing};
pub use error::ProvenanceError;
pub use manifest::{FileEntry, Manifest, OutputEntry, SbomReference, DIRECTORY_FORMAT, FORMAT};
pub use policy::{public_key_line, Endorser, Policy};
pub use signing::{
    check_principal, load_signing_key, sign, sign_directory, signature_file_name, SigningKey,
};
pub use ssh_key::PublicKey;
pub use verify::{check_outputs, verify_directory, Problem, ProblemKind, Verification};

/// The manifest's file name in a release directory.
pub const MANIFEST_FILE: &str = "imgbuild-release.json";

/// The SSHSIG namespace of release signatures (`ssh-keygen -Y … -n imgbuild-release`).
pub const NAMESPACE: &str = "imgbuild-release";
