//! The JSON documents of an image layout — image configuration, manifest, index and
//! `oci-layout` — as serde structs, so the key order is the field order below (that of the
//! image specification's own examples) and the output is compact `serde_json` with no
//! whitespace at all. Maps are `BTreeMap`s (sorted keys); empty and absent fields are
//! omitted, as docker and buildah omit them. The rules an [`ImageConfig`] must follow are
//! checked here too, before anything is written.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::{Descriptor, ImageConfig, OciError};

/// `mediaType` of the image configuration blob.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// `mediaType` of the manifest blob.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// `mediaType` of `index.json`.
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
/// The annotation naming an image in `index.json` (the `latest` of `oci:DIR:latest`).
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// The value `{}` that the specification uses as the set element of `ExposedPorts` and
/// `Volumes`.
#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
struct ConfigDocument<'a> {
    created: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    author: Option<&'a str>,
    architecture: &'a str,
    os: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<&'a str>,
    #[serde(skip_serializing_if = "ExecutionConfig::is_empty")]
    config: ExecutionConfig<'a>,
    rootfs: RootFilesystem<'a>,
    history: [History<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ExecutionConfig<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    exposed_ports: BTreeMap<&'a str, Empty>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    env: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    entrypoint: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    cmd: &'a [String],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    volumes: BTreeMap<&'a str, Empty>,
    #[serde(skip_serializing_if = "Option::is_none")]
    working_dir: Option<&'a str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    labels: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop_signal: Option<&'a str>,
}

impl ExecutionConfig<'_> {
    fn is_empty(&self) -> bool {
        self.user.is_none()
            && self.exposed_ports.is_empty()
            && self.env.is_empty()
            && self.entrypoint.is_empty()
            && self.cmd.is_empty()
            && self.volumes.is_empty()
            && self.working_dir.is_none()
            && self.labels.is_empty()
            && self.stop_signal.is_none()
    }
}

#[derive(Serialize)]
struct RootFilesystem<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    diff_ids: [&'a str; 1],
}

#[derive(Serialize)]
struct History<'a> {
    created: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    author: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ManifestDocument<'a> {
    schema_version: u32,
    media_type: &'static str,
    config: &'a Descriptor,
    layers: [&'a Descriptor; 1],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IndexDocument<'a> {
    schema_version: u32,
    media_type: &'static str,
    manifests: [IndexEntry<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IndexEntry<'a> {
    media_type: &'a str,
    digest: &'a str,
    size: u64,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<&'static str, &'a str>,
    platform: Platform<'a>,
}

#[derive(Serialize)]
struct Platform<'a> {
    architecture: &'a str,
    os: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LayoutDocument {
    image_layout_version: &'static str,
}

/// The image configuration blob for a single layer whose uncompressed digest is `diff_id`.
pub(crate) fn config(
    image: &ImageConfig,
    created: &str,
    diff_id: &str,
) -> Result<Vec<u8>, OciError> {
    let document = ConfigDocument {
        created,
        author: image.author.as_deref(),
        architecture: &image.architecture,
        os: &image.os,
        variant: image.variant.as_deref(),
        config: ExecutionConfig {
            user: image.user.as_deref(),
            exposed_ports: set(&image.exposed_ports),
            env: &image.env,
            entrypoint: &image.entrypoint,
            cmd: &image.cmd,
            volumes: set(&image.volumes),
            working_dir: image.working_dir.as_deref(),
            labels: &image.labels,
            stop_signal: image.stop_signal.as_deref(),
        },
        rootfs: RootFilesystem {
            kind: "layers",
            diff_ids: [diff_id],
        },
        history: [History {
            created,
            author: image.author.as_deref(),
            comment: image.history_comment.as_deref(),
        }],
    };
    to_json("image configuration", &document)
}

/// The manifest blob.
pub(crate) fn manifest(
    config: &Descriptor,
    layer: &Descriptor,
    annotations: &BTreeMap<String, String>,
) -> Result<Vec<u8>, OciError> {
    let document = ManifestDocument {
        schema_version: 2,
        media_type: MANIFEST_MEDIA_TYPE,
        config,
        layers: [layer],
        annotations,
    };
    to_json("manifest", &document)
}

/// `index.json`, pointing at the manifest.
pub(crate) fn index(manifest: &Descriptor, image: &ImageConfig) -> Result<Vec<u8>, OciError> {
    let mut annotations = BTreeMap::new();
    if let Some(name) = &image.ref_name {
        annotations.insert(REF_NAME_ANNOTATION, name.as_str());
    }
    let document = IndexDocument {
        schema_version: 2,
        media_type: INDEX_MEDIA_TYPE,
        manifests: [IndexEntry {
            media_type: &manifest.media_type,
            digest: &manifest.digest,
            size: manifest.size,
            annotations,
            platform: Platform {
                architecture: &image.architecture,
                os: &image.os,
                variant: image.variant.as_deref(),
            },
        }],
    };
    to_json("index.json", &document)
}

/// The `oci-layout` file.
pub(crate) fn layout() -> Result<Vec<u8>, OciError> {
    to_json(
        "oci-layout",
        &LayoutDocument {
            image_layout_version: "1.0.0",
        },
    )
}

/// The strings of `items` as the keys of a JSON set.
fn set(items: &[String]) -> BTreeMap<&str, Empty> {
    items.iter().map(|item| (item.as_str(), Empty {})).collect()
}

/// Compact JSON of one of the documents above (named `name` in the error). Their
/// serialisation cannot fail in practice (string keys, no floats, no custom `Serialize`).
fn to_json(name: &'static str, document: &impl Serialize) -> Result<Vec<u8>, OciError> {
    serde_json::to_vec(document).map_err(|source| OciError::Json {
        document: name,
        source,
    })
}

/// Checks the rules of the image specification that [`ImageConfig`] fields must follow.
pub(crate) fn validate(image: &ImageConfig) -> Result<(), OciError> {
    let invalid =
        |field: &'static str, value: &str, reason: &'static str| OciError::InvalidConfig {
            field,
            value: value.to_owned(),
            reason,
        };
    if image.architecture.is_empty() {
        return Err(invalid(
            "architecture",
            "",
            "an image names its architecture (\"amd64\")",
        ));
    }
    if image.os.is_empty() {
        return Err(invalid(
            "os",
            "",
            "an image names its operating system (\"linux\")",
        ));
    }
    for variable in &image.env {
        if variable
            .split_once('=')
            .is_none_or(|(name, _)| name.is_empty())
        {
            return Err(invalid(
                "env",
                variable,
                "an entry is NAME=VALUE with a non-empty name",
            ));
        }
    }
    for port in &image.exposed_ports {
        let (number, protocol) = port.split_once('/').unwrap_or((port, "tcp"));
        if !matches!(number.parse::<u16>(), Ok(1..)) || !matches!(protocol, "tcp" | "udp" | "sctp")
        {
            return Err(invalid(
                "exposed_ports",
                port,
                "a port is PORT, PORT/tcp, PORT/udp or PORT/sctp",
            ));
        }
    }
    check_unique("exposed_ports", &image.exposed_ports)?;
    for volume in &image.volumes {
        if !volume.starts_with('/') {
            return Err(invalid("volumes", volume, "a volume is an absolute path"));
        }
    }
    check_unique("volumes", &image.volumes)?;
    for (field, map) in [
        ("labels", &image.labels),
        ("annotations", &image.annotations),
    ] {
        if map.contains_key("") {
            return Err(invalid(field, "", "keys are not empty"));
        }
    }
    if image.ref_name.as_deref() == Some("") {
        return Err(invalid("ref_name", "", "a reference name is not empty"));
    }
    Ok(())
}

/// Refuses a repeated entry in a list that becomes a JSON set (it would vanish silently).
fn check_unique(field: &'static str, items: &[String]) -> Result<(), OciError> {
    let mut seen = std::collections::BTreeSet::new();
    for item in items {
        if !seen.insert(item) {
            return Err(OciError::InvalidConfig {
                field,
                value: item.clone(),
                reason: "an entry appears twice",
            });
        }
    }
    Ok(())
}
