//! Writes an OCI image layout (image-spec v1.1) holding one single-layer image, byte for
//! byte reproducibly: the same tar stream and [`ImageConfig`] always give the same
//! manifest digest.
//!
//! # The layout written
//!
//! ```text
//! DIRECTORY/
//!   oci-layout              {"imageLayoutVersion":"1.0.0"}
//!   index.json              one manifest, with platform and org.opencontainers.image.ref.name
//!   blobs/sha256/<layer>    the tar stream: application/vnd.oci.image.layer.v1.tar[+gzip|+zstd]
//!   blobs/sha256/<config>   application/vnd.oci.image.config.v1+json
//!   blobs/sha256/<manifest> application/vnd.oci.image.manifest.v1+json
//! ```
//!
//! `index.json` itself has media type `application/vnd.oci.image.index.v1+json`. The
//! configuration records the layer's `diff_id` (SHA-256 of the uncompressed tar), one
//! history entry, and the execution settings of [`ImageConfig`]; the manifest records the
//! config and layer descriptors and [`ImageConfig::annotations`].
//!
//! # How it is written
//!
//! The directory must exist and be empty. The caller's `write_layer` closure writes the
//! tar stream into a sink that hashes it (the `diff_id`), compresses it in fixed-size
//! blocks on the current rayon pool (see [`compress`](crate::compress) for the formats)
//! and streams the result into a temporary file in the directory while hashing that too;
//! the file is then renamed to `blobs/sha256/<digest>`. The layer is never held in memory
//! whole. Configuration and manifest follow; `index.json` is written last, so a layout
//! with an `index.json` is complete.
//!
//! # Determinism
//!
//! Nothing written depends on the clock, the host, the environment, the number of rayon
//! threads or the order compression jobs finish: timestamps come from
//! [`ImageConfig::created`]; JSON is compact `serde_json` of structs with a fixed field
//! order and sorted maps; compressed blocks have fixed sizes and are compressed by
//! compressors named in `Cargo.toml` (not chosen by feature unification) and appended in
//! order. Blob files are mode 0644.

mod compress;
mod error;
mod json;
mod layer;
mod timestamp;

use std::collections::BTreeMap;
use std::fs::{self, File, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use error::IoResultExt;
pub use error::OciError;
pub use json::{CONFIG_MEDIA_TYPE, INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE, REF_NAME_ANNOTATION};

/// What the image runs and describes itself as: the fields of the image configuration
/// (`config.json`) plus the manifest's annotations and the name in `index.json`. Empty
/// strings lists, maps and `None` are left out of the JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageConfig {
    /// CPU architecture in Go's `GOARCH` names: `amd64`, `arm64`, `riscv64`.
    pub architecture: String,
    /// Operating system in Go's `GOOS` names: `linux`.
    pub os: String,
    /// CPU variant (`v8` for `arm64`), when the architecture has several.
    pub variant: Option<String>,
    /// Seconds since 1970-01-01 UTC (`SOURCE_DATE_EPOCH`), written as RFC 3339 UTC in
    /// `created` and in the history entry.
    pub created: i64,
    /// `Entrypoint`: the command the container runs.
    pub entrypoint: Vec<String>,
    /// `Cmd`: default arguments to the entrypoint (or the command when there is none).
    pub cmd: Vec<String>,
    /// `Env`: `NAME=VALUE` entries.
    pub env: Vec<String>,
    /// `User`: a user name or id, optionally `:group`.
    pub user: Option<String>,
    /// `WorkingDir`: an absolute path.
    pub working_dir: Option<String>,
    /// `Labels` of the configuration.
    pub labels: BTreeMap<String, String>,
    /// `ExposedPorts`: `80/tcp`, `53/udp` or `8080` (tcp).
    pub exposed_ports: Vec<String>,
    /// `Volumes`: absolute paths.
    pub volumes: Vec<String>,
    /// `StopSignal`: `SIGTERM` or a number.
    pub stop_signal: Option<String>,
    /// Annotations on the manifest (`org.opencontainers.image.source`, ...).
    pub annotations: BTreeMap<String, String>,
    /// `org.opencontainers.image.ref.name` on the index entry: the `latest` that
    /// `oci:DIRECTORY:latest` selects.
    pub ref_name: Option<String>,
    /// `author` of the configuration and of its history entry.
    pub author: Option<String>,
    /// `comment` of the history entry.
    pub history_comment: Option<String>,
}

/// How the layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// The tar stream as is: `application/vnd.oci.image.layer.v1.tar`.
    None,
    /// One gzip member, compressed in parallel blocks: `...layer.v1.tar+gzip`.
    Gzip,
    /// zstd frames compressed in parallel: `...layer.v1.tar+zstd`.
    Zstd,
}

impl Compression {
    /// The layer's `mediaType` in this compression.
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }
}

/// A content descriptor: what a blob is, its digest and its size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The blob's media type.
    pub media_type: String,
    /// `sha256:` and 64 lower-case hex digits.
    pub digest: String,
    /// The blob's size in bytes.
    pub size: u64,
}

/// The descriptors of what [`write_layout`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The manifest, as listed in `index.json`.
    pub manifest: Descriptor,
    /// The image configuration.
    pub config: Descriptor,
    /// The one layer.
    pub layer: Descriptor,
    /// `sha256:` digest of the uncompressed layer (the configuration's `rootfs.diff_ids`).
    pub diff_id: String,
}

/// Writes a complete OCI image layout into the empty `directory`: the layer produced by
/// `write_layer` (a tar stream, compressed with `compression`), an image configuration
/// from `config`, a manifest and `index.json`. See the crate documentation for the
/// layout and the determinism rules.
pub fn write_layout(
    directory: &Path,
    config: &ImageConfig,
    compression: Compression,
    write_layer: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
) -> Result<Layout, OciError> {
    json::validate(config)?;
    let created = timestamp::rfc3339(config.created)?;
    let mut entries = fs::read_dir(directory).at("read the directory", directory)?;
    if entries.next().is_some() {
        return Err(OciError::DirectoryNotEmpty {
            path: directory.to_owned(),
        });
    }
    let blobs = directory.join("blobs").join("sha256");
    fs::create_dir_all(&blobs).at("create", &blobs)?;

    let (layer, diff_id) = write_layer_blob(directory, &blobs, compression, write_layer)?;
    let config_json = json::config(config, &created, &diff_id)?;
    let config_descriptor = write_blob(&blobs, CONFIG_MEDIA_TYPE, &config_json)?;
    let manifest_json = json::manifest(&config_descriptor, &layer, &config.annotations)?;
    let manifest = write_blob(&blobs, MANIFEST_MEDIA_TYPE, &manifest_json)?;

    let layout_path = directory.join("oci-layout");
    fs::write(&layout_path, json::layout()?).at("write", &layout_path)?;
    let index_path = directory.join("index.json");
    fs::write(&index_path, json::index(&manifest, config)?).at("write", &index_path)?;
    Ok(Layout {
        manifest,
        config: config_descriptor,
        layer,
        diff_id,
    })
}

/// Streams the layer into a temporary file in `directory` and renames it into `blobs`.
fn write_layer_blob(
    directory: &Path,
    blobs: &Path,
    compression: Compression,
    write_layer: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
) -> Result<(Descriptor, String), OciError> {
    let temporary = tempfile::Builder::new()
        .prefix(".layer-")
        .tempfile_in(directory)
        .at("create a temporary file in", directory)?;
    let temporary_path = temporary.path().to_owned();
    let layer_error = |source| OciError::Layer {
        path: temporary_path.clone(),
        source,
    };
    let file: &File = temporary.as_file();
    let mut sink = layer::LayerSink::new(file, compression).map_err(layer_error)?;
    write_layer(&mut sink).map_err(layer_error)?;
    let digests = sink.finish().map_err(layer_error)?;
    fs::set_permissions(&temporary_path, Permissions::from_mode(0o644))
        .at("set the mode of", &temporary_path)?;
    let target = blob_path(blobs, &digests.digest);
    temporary
        .persist(&target)
        .map_err(|error| error.error)
        .at("rename into place", &target)?;
    let descriptor = Descriptor {
        media_type: compression.media_type().to_owned(),
        digest: digests.digest,
        size: digests.size,
    };
    Ok((descriptor, digests.diff_id))
}

/// Writes a small blob and describes it.
fn write_blob(blobs: &Path, media_type: &str, bytes: &[u8]) -> Result<Descriptor, OciError> {
    let digest = layer::digest_string(Sha256::new_with_prefix(bytes));
    let path = blob_path(blobs, &digest);
    fs::write(&path, bytes).at("write", &path)?;
    Ok(Descriptor {
        media_type: media_type.to_owned(),
        digest,
        size: bytes.len() as u64,
    })
}

/// `blobs/sha256/<hex>` for a `sha256:<hex>` digest.
fn blob_path(blobs: &Path, digest: &str) -> std::path::PathBuf {
    blobs.join(digest.trim_start_matches("sha256:"))
}
