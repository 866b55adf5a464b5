//! Command-line definitions of the provenance commands: `sign`, `verify`, `diff`.

use std::path::PathBuf;

use clap::Args;

/// `imgbuild sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The result directory to sign (what `imgbuild build` wrote, e.g. ./result).
    #[arg(value_name = "RESULT")]
    pub result: PathBuf,
    /// The endorser's OpenSSH private key (not encrypted: use a key kept for signing
    /// releases, on the machine that signs). Read once, never printed.
    #[arg(long, value_name = "KEY")]
    pub key: PathBuf,
    /// The endorser's name, as sites list it in their policy (e.g. an e-mail address);
    /// also the signature's file name: imgbuild-release.json.NAME.sig.
    #[arg(long, value_name = "NAME")]
    pub name: String,
    /// Sign only these outputs (file names in RESULT) [default: every output the
    /// result directory's manifest lists].
    #[arg(long = "output", value_name = "FILE")]
    pub outputs: Vec<String>,
    /// The release's name in the manifest [default: the result directory's name].
    #[arg(long, value_name = "NAME")]
    pub release: Option<String>,
}

/// `imgbuild verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A signed release directory (with imgbuild-release.json), or its tar (what an
    /// ordinary user's `imgbuild build` writes for a release made by `sign()`).
    #[arg(value_name = "RESULT")]
    pub result: PathBuf,
    /// The endorsement policy (TOML): trusted endorsers with their keys, banned
    /// endorsers, and how many signatures are required.
    #[arg(long, value_name = "FILE")]
    pub policy: PathBuf,
    /// One JSON object on stdout instead of lines.
    #[arg(long)]
    pub json: bool,
}

/// `imgbuild diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The older side: a result (result/web.qcow2, result/web-root, result/web-oci) or a
    /// recipe output, RECIPE#OUTPUT.
    #[arg(value_name = "A")]
    pub before: String,
    /// The newer side, like A.
    #[arg(value_name = "B")]
    pub after: String,
    /// Also list entries whose only difference is their modification time.
    #[arg(long)]
    pub mtime: bool,
    /// One JSON object on stdout: packages, files, statistics.
    #[arg(long)]
    pub json: bool,
}
