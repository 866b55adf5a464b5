//! Command-line definitions (clap). Each subcommand maps to one function in `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use crate::cli_provenance::{DiffArgs, SignArgs, VerifyArgs};

/// imgbuild: reproducible operating-system images from Rhai recipes.
///
/// A recipe evaluates to a graph of derivations (files, trees, package sets, disk
/// images...). imgbuild builds them in parallel into a content-addressed store, caches
/// every node by what it depends on, and writes the outputs under ./result/.
#[derive(Debug, Parser)]
#[command(
    name = "imgbuild",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Store directory [default: $XDG_DATA_HOME/imgbuild or ~/.local/share/imgbuild]
    #[arg(long, global = true, env = "IMGBUILD_STORE", value_name = "DIR")]
    pub store: Option<PathBuf>,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build a recipe's outputs and write them under ./result/ (or -o DIR).
    ///
    /// RECIPE#NAME builds only the output NAME (or the outputs under NAME. for nested maps).
    /// Exit status: 0 built, 1 a derivation failed, 2 recipe or usage error,
    /// 3 environment error (disk, permissions, missing tool), 101 internal bug.
    Build(BuildArgs),
    /// Evaluate a recipe and show its outputs and derivations without building anything.
    Eval(EvalArgs),
    /// Print a recipe's derivation graph as DOT or JSON.
    Graph(GraphArgs),
    /// Resolve the recipe's libraries and Debian package sets and write its lock file.
    ///
    /// The lock file is the project's imgbuild.lock beside its imgbuild.toml, or
    /// RECIPE.lock next to a recipe outside any project. Libraries and sets already
    /// locked (for the same request) are kept; --update re-resolves all of them,
    /// --update NAME only the library or package set NAME. The mirror comes from --mirror or
    /// IMGBUILD_DEBIAN_MIRROR, else the recipe's `mirror`, else the host's apt sources;
    /// the lock file records no mirror.
    Lock(LockArgs),
    /// Print a project's resolved recipe libraries as a tree, like `cargo tree`.
    ///
    /// Each library with its version, commit, where it comes from and its content hash,
    /// under the project or library that requires it; a library required again is
    /// marked (*). Resolves (and locks) what the lock does not answer yet.
    Libraries(LibrariesArgs),
    /// Show the log of a derivation, by recipe identity (a unique hex prefix is enough).
    Log(LogArgs),
    /// Inspect and maintain the store.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Execute actions for a remote engine: a bot on its Remote Workers API.
    ///
    /// Takes actions `imgbuild build --remote URL --remote-exec` sent to the engine,
    /// fetches their inputs from the engine's CAS into this machine's store, runs the
    /// same builders as a local build (sandboxed steps in this machine's sandbox, with
    /// this worker's mirror and settings) and uploads the outputs. A worker whose
    /// builders differ in version from the client's refuses the action with a message.
    Worker(WorkerArgs),
    /// Boot a disk image in qemu with its serial console on this terminal.
    ///
    /// UEFI (OVMF), the image as a virtio disk, user-mode networking with forwarded
    /// ports, and each --medium (a NoCloud seed, CONTEXT ISO or config drive) as a
    /// read-only virtio disk. KVM when it works, else qemu's TCG (a KVM that fails to run
    /// the guest is detected and the machine restarted under TCG). Writes go to a
    /// throw-away overlay unless --persist. Quit with Ctrl-A X.
    Boot(BootArgs),
    /// Show what a recipe library exports: its functions, their parameters and `///` comments.
    ///
    /// TARGET is a library NAME from imgbuild.toml (a `path` library for now), one module
    /// NAME/MODULE (e.g. base/debian), or a path to a .rhai file or a library directory
    /// (an existing path wins). Exit status 2 for an unknown library or module or a module
    /// that does not parse.
    Doc(DocArgs),
    /// Sign a result directory: write imgbuild-release.json and an SSH signature.
    ///
    /// The manifest lists each output's name, format, size, SHA-256 and SHA-512, the
    /// recipe identity, the lock file's SHA-256, the SBOM's digest (an output named
    /// *.spdx.json or *.cdx.json) and source_date_epoch. The signature
    /// (imgbuild-release.json.NAME.sig) is in the format of `ssh-keygen -Y sign`, namespace
    /// imgbuild-release: `ssh-keygen -Y verify` checks it with an allowed-signers file. A
    /// second endorser signing the same outputs adds a signature beside the first.
    Sign(SignArgs),
    /// Verify a signed release against an endorsement policy.
    ///
    /// Re-hashes every output the manifest lists, checks the SBOM's digest, and checks
    /// each signature: signatures by trusted endorsers count, a signature by a banned
    /// endorser fails the release, an unknown key does not count. Exit status 0 when the
    /// release passes, 1 when it does not (each reason is printed), 2 for a bad policy.
    Verify(VerifyArgs),
    /// Compare two images: packages added, removed and upgraded, then files.
    ///
    /// A and B are results (a disk image, a root file system directory, an OCI image
    /// layout under result/) or recipe outputs (RECIPE#OUTPUT, already built). Their root
    /// trees are compared in the store, skipping every directory whose digest is equal on
    /// both sides. Exit status 0 whether or not they differ.
    Diff(DiffArgs),
}

/// `imgbuild doc`.
#[derive(Debug, Args)]
pub struct DocArgs {
    /// A library NAME, NAME/MODULE, a .rhai file or a library directory.
    #[arg(value_name = "LIBRARY[/MODULE]|PATH")]
    pub target: String,

    /// Print the modules and functions as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `imgbuild boot`.
#[derive(Debug, Args)]
pub struct BootArgs {
    /// The disk image (raw, qcow2, vmdk or vhd, from its extension).
    #[arg(value_name = "IMAGE")]
    pub image: PathBuf,

    /// A contextualization medium to attach (repeatable).
    #[arg(long = "medium", value_name = "ISO")]
    pub media: Vec<PathBuf>,

    /// Forward HOST port to GUEST port on 127.0.0.1 (repeatable) [default: 2222:22 and 8080:80].
    #[arg(long = "port", value_name = "HOST:GUEST")]
    pub ports: Vec<String>,

    /// Memory, MiB.
    #[arg(long, default_value_t = 1024)]
    pub memory: u32,

    /// Virtual CPUs.
    #[arg(long, default_value_t = 2)]
    pub cpus: u32,

    /// Accelerator: auto (KVM if it runs the guest, else TCG), kvm or tcg.
    #[arg(long, value_enum, default_value_t = Accel::Auto)]
    pub accel: Accel,

    /// Write into the image itself instead of a throw-away overlay.
    #[arg(long)]
    pub persist: bool,

    /// Write the serial console to FILE instead of this terminal (no input).
    #[arg(long, value_name = "FILE")]
    pub console: Option<PathBuf>,

    /// Print the qemu command line and exit.
    #[arg(long)]
    pub dry_run: bool,
}

/// `imgbuild boot --accel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Accel {
    /// KVM if it works here, else TCG.
    Auto,
    /// KVM only.
    Kvm,
    /// qemu's emulator.
    Tcg,
}

/// Options shared by every command that evaluates a recipe.
#[derive(Debug, Args)]
pub struct RecipeArgs {
    /// The recipe file, optionally followed by #OUTPUT to select one output.
    #[arg(value_name = "RECIPE[#OUTPUT]")]
    pub recipe: String,

    /// A value visible to the recipe as args.KEY (repeatable).
    #[arg(long = "arg", value_name = "KEY=VALUE")]
    pub args: Vec<String>,

    /// A directory searched for imported modules (repeatable; also IMGBUILD_PATH, colon-separated).
    #[arg(short = 'I', long = "include", value_name = "DIR")]
    pub include: Vec<PathBuf>,

    /// Use the directory PATH as recipe library NAME (repeatable): `import "NAME/module"`
    /// reads PATH/module.rhai, and the library's code can reach only its own files.
    /// For developing a library against the recipes that use it.
    #[arg(long = "override", value_name = "NAME=PATH")]
    pub overrides: Vec<String>,

    /// A secret visible to the recipe as args.NAME, never echoed or printed (repeatable).
    ///
    /// NAME alone reads the value from the terminal without echo (or one line from
    /// stdin when it is not a terminal); NAME=env:VAR takes it from the environment
    /// variable VAR, NAME=file:PATH from a file (one trailing newline removed). The value
    /// itself is never accepted on the command line, where `ps` would show it.
    #[arg(long = "secret", value_name = "NAME[=env:VAR|file:PATH]")]
    pub secrets: Vec<String>,

    /// The secret key that seals secrets in identities and derives password salts
    /// [default: the store's own key, STORE/secret-key]. Share one key file between
    /// machines to get byte-identical media holding secrets everywhere.
    #[arg(long, env = "IMGBUILD_SECRET_KEY_FILE", value_name = "FILE")]
    pub secret_key_file: Option<PathBuf>,
}

/// `imgbuild build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    #[command(flatten)]
    pub recipe: RecipeArgs,

    /// Directory to write outputs into.
    #[arg(
        short = 'o',
        long = "out",
        value_name = "DIR",
        default_value = "result"
    )]
    pub out: PathBuf,

    /// Derivations built at once [default: number of cores].
    #[arg(short = 'j', long = "jobs", value_name = "N")]
    pub jobs: Option<usize>,

    /// Go on building everything that does not depend on a failed derivation.
    #[arg(long)]
    pub keep_going: bool,

    /// Never use the network (builds that need it fail).
    #[arg(long)]
    pub offline: bool,

    /// Debian mirror for package sets (else IMGBUILD_DEBIAN_MIRROR or the host's apt sources).
    #[arg(long, value_name = "URL")]
    pub mirror: Option<String>,

    /// Print one JSON event per line on stdout instead of progress.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub remote: RemoteArgs,

    /// Send derivations to the remote engine's workers instead of building them here
    /// (needs --remote). `file`/`dir`, downloads and anything holding secret text still
    /// build here; outputs holding secrets stay here unless --remote-upload-secrets.
    #[arg(long)]
    pub remote_exec: bool,

    /// When the remote engine fails (unreachable, stopped mid-build), say so once and
    /// build the rest here instead of failing (also implied by --keep-going).
    #[arg(long)]
    pub remote_fallback: bool,

    /// Upload outputs that hold secrets too (never done otherwise).
    #[arg(long)]
    pub remote_upload_secrets: bool,
}

/// How to reach a remote engine (REAPI v2: BuildGrid, Buildbarn, NativeLink, ...).
#[derive(Debug, Args)]
pub struct RemoteArgs {
    /// The remote engine: grpc://HOST:PORT[/INSTANCE], or grpcs:// for TLS. Builds
    /// consult its ActionCache and CAS before building and fill them after.
    #[arg(long, value_name = "URL", env = "IMGBUILD_REMOTE")]
    pub remote: Option<String>,

    /// A file holding a token sent as `authorization: Bearer TOKEN` with every call.
    #[arg(long, value_name = "FILE", env = "IMGBUILD_REMOTE_TOKEN_FILE")]
    pub remote_token_file: Option<PathBuf>,

    /// A header sent with every call (repeatable).
    #[arg(long, value_name = "NAME=VALUE")]
    pub remote_header: Vec<String>,

    /// A PEM certificate authority to trust for grpcs:// instead of the system's.
    #[arg(long, value_name = "FILE", env = "IMGBUILD_REMOTE_CA")]
    pub remote_ca: Option<PathBuf>,

    /// Remote settings file [default: $XDG_CONFIG_HOME/imgbuild/remote.toml or
    /// ~/.config/imgbuild/remote.toml, when it exists]: `url`, `token-file`, `ca`,
    /// `headers` (a table), `exec`, `fallback`. Command-line flags win over it.
    #[arg(long, value_name = "FILE", env = "IMGBUILD_REMOTE_CONFIG")]
    pub remote_config: Option<PathBuf>,
}

/// `imgbuild worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,

    /// This worker's id among the engine's workers [default: HOSTNAME-PID].
    #[arg(long, value_name = "NAME")]
    pub id: Option<String>,

    /// Stop after this many actions (for tests and benchmarks).
    #[arg(long, value_name = "N")]
    pub max_actions: Option<u64>,

    /// Never use the network for builds (fetches fail).
    #[arg(long)]
    pub offline: bool,

    /// Debian mirror for package sets (else IMGBUILD_DEBIAN_MIRROR or the host's apt sources).
    #[arg(long, value_name = "URL")]
    pub mirror: Option<String>,
}

/// `imgbuild libraries`.
#[derive(Debug, Args)]
pub struct LibrariesArgs {
    /// A recipe or directory of the project [default: the current directory].
    #[arg(value_name = "PATH", default_value = ".")]
    pub path: PathBuf,

    /// Use the directory PATH as library NAME (repeatable), as for `build`.
    #[arg(long = "override", value_name = "NAME=PATH")]
    pub overrides: Vec<String>,

    /// Use only the lock and what is already fetched.
    #[arg(long)]
    pub offline: bool,

    /// Print JSON: one object per library.
    #[arg(long)]
    pub json: bool,
}

/// `imgbuild lock`.
#[derive(Debug, Args)]
pub struct LockArgs {
    #[command(flatten)]
    pub recipe: RecipeArgs,

    /// Re-resolve every library and package set, or only the one called NAME.
    #[arg(long, value_name = "NAME", num_args = 0..=1)]
    pub update: Option<Option<String>>,

    /// Debian mirror (else IMGBUILD_DEBIAN_MIRROR or the host's apt sources).
    #[arg(long, value_name = "URL")]
    pub mirror: Option<String>,
}

/// `imgbuild eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub recipe: RecipeArgs,

    /// Print the outputs and every derivation as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `imgbuild graph`.
#[derive(Debug, Args)]
pub struct GraphArgs {
    #[command(flatten)]
    pub recipe: RecipeArgs,

    /// Output format.
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    pub format: GraphFormat,
}

/// Graph output formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GraphFormat {
    /// Graphviz DOT.
    Dot,
    /// JSON: nodes and edges.
    Json,
}

/// `imgbuild log`.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// Recipe identity of the derivation, or a unique prefix of it.
    #[arg(value_name = "DERIVATION")]
    pub derivation: String,
}

/// `imgbuild store ...`.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Re-hash every object; report and quarantine corrupt ones (exit 1 if any).
    Verify,
    /// Delete everything no root reaches (result directories and explicit roots).
    Gc,
    /// Show what the store holds and how much space it takes.
    Info,
}
