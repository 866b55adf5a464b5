//! The SPDX 2.3 JSON document: the mapping from [`SbomInput`] is described in the crate
//! documentation; this module holds the document's shape (serde structs whose field order
//! is the output's key order) and the identifiers, namespace and timestamp rules.
//!
//! Identifiers: the image is `SPDXRef-Image`; a Debian package is
//! `SPDXRef-Package-deb-NAME-ARCH` where NAME and ARCH keep `[a-z0-9.-]` and write every
//! other byte as `X` and two uppercase hexadecimal digits (`libstdc++6` →
//! `libstdcX2BX2B6`), so distinct names never meet; two packages that still map to one
//! identifier (a name ending in `-ARCH`-like text) are an error, not a silent merge. A
//! file is `SPDXRef-File-` and the first 16 hexadecimal digits of the SHA-256 of its path.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::dpkg::{installed_packages, InstalledPackage};
use crate::license::declared_license_with_references;
use crate::{percent_encode, validate_input, Pin, SbomError, SbomInput};

const NOASSERTION: &str = "NOASSERTION";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    spdx_version: &'static str,
    data_license: &'static str,
    #[serde(rename = "SPDXID")]
    spdx_id: &'static str,
    name: String,
    document_namespace: String,
    creation_info: CreationInfo,
    packages: Vec<Package>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    files: Vec<File>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    has_extracted_licensing_infos: Vec<ExtractedLicense>,
    relationships: Vec<Relationship>,
}

#[derive(Serialize)]
struct CreationInfo {
    created: String,
    creators: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Package {
    #[serde(rename = "SPDXID")]
    spdx_id: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version_info: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    package_file_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    supplier: Option<String>,
    download_location: &'static str,
    files_analyzed: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    checksums: Vec<Checksum>,
    #[serde(skip_serializing_if = "Option::is_none")]
    homepage: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_info: Option<String>,
    license_concluded: &'static str,
    license_declared: String,
    copyright_text: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    external_refs: Vec<ExternalReference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    primary_package_purpose: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Checksum {
    algorithm: &'static str,
    checksum_value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExternalReference {
    reference_category: &'static str,
    reference_type: &'static str,
    reference_locator: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct File {
    #[serde(rename = "SPDXID")]
    spdx_id: String,
    file_name: String,
    checksums: Vec<Checksum>,
    license_concluded: &'static str,
    copyright_text: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExtractedLicense {
    license_id: String,
    name: String,
    extracted_text: String,
    comment: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Relationship {
    spdx_element_id: String,
    relationship_type: &'static str,
    related_spdx_element: String,
}

/// The SPDX 2.3 JSON document for `input`: pretty-printed, ending in a newline, the same
/// bytes for the same input.
pub fn spdx_json(input: &SbomInput) -> Result<Vec<u8>, SbomError> {
    let created = validate_input(input)?;
    let installed = installed_packages(&input.status)?;
    let pins = pins_by_package(&input.pins)?;
    let image_id = "SPDXRef-Image".to_owned();
    let mut relationships = vec![Relationship {
        spdx_element_id: "SPDXRef-DOCUMENT".to_owned(),
        relationship_type: "DESCRIBES",
        related_spdx_element: image_id.clone(),
    }];
    let mut packages = vec![Package {
        spdx_id: image_id.clone(),
        name: input.name.clone(),
        version_info: None,
        package_file_name: None,
        supplier: None,
        download_location: NOASSERTION,
        files_analyzed: !input.files.is_empty(),
        checksums: Vec::new(),
        homepage: None,
        source_info: None,
        license_concluded: NOASSERTION,
        license_declared: NOASSERTION.to_owned(),
        copyright_text: NOASSERTION,
        summary: None,
        comment: Some(format!("Root tree {}", input.subject)),
        external_refs: Vec::new(),
        primary_package_purpose: Some("OPERATING-SYSTEM"),
    }];
    let mut identifiers: BTreeMap<String, String> = BTreeMap::new();
    let mut extracted: BTreeMap<String, (String, Option<String>, BTreeSet<String>)> =
        BTreeMap::new();
    for installed in &installed {
        let identifier = package_id(installed);
        let label = format!("{}:{}", installed.name, installed.architecture);
        if let Some(first) = identifiers.insert(identifier.clone(), label.clone()) {
            return Err(SbomError::DuplicateIdentifier {
                identifier,
                first,
                second: label,
            });
        }
        let key = (
            installed.name.clone(),
            installed.architecture.clone(),
            installed.version.clone(),
        );
        let pin = pins.get(&key).copied();
        let declared = input
            .copyrights
            .get(&installed.name)
            .and_then(|text| declared_license_with_references(text));
        let license_declared = match &declared {
            Some(declared) => {
                for (id, reference) in &declared.references {
                    let entry = extracted
                        .entry(id.clone())
                        .or_insert_with(|| (reference.name.clone(), None, BTreeSet::new()));
                    if entry.1.is_none() {
                        entry.1.clone_from(&reference.text);
                    }
                    entry.2.insert(installed.name.clone());
                }
                declared.expression.clone()
            }
            None => NOASSERTION.to_owned(),
        };
        relationships.push(Relationship {
            spdx_element_id: image_id.clone(),
            relationship_type: "CONTAINS",
            related_spdx_element: identifier.clone(),
        });
        packages.push(debian_package(installed, identifier, pin, license_declared));
    }
    let mut files = Vec::new();
    let mut records: Vec<_> = input.files.iter().collect();
    records.sort_by(|left, right| left.path.cmp(&right.path));
    for record in records {
        let identifier = format!(
            "SPDXRef-File-{}",
            &hex::encode(Sha256::digest(record.path.as_bytes()))[..16]
        );
        relationships.push(Relationship {
            spdx_element_id: image_id.clone(),
            relationship_type: "CONTAINS",
            related_spdx_element: identifier.clone(),
        });
        files.push(File {
            spdx_id: identifier,
            file_name: format!(".{}", record.path),
            checksums: vec![
                Checksum {
                    algorithm: "SHA1",
                    checksum_value: record.sha1.clone(),
                },
                Checksum {
                    algorithm: "SHA256",
                    checksum_value: record.sha256.clone(),
                },
            ],
            license_concluded: NOASSERTION,
            copyright_text: NOASSERTION,
        });
    }
    let has_extracted_licensing_infos = extracted
        .into_iter()
        .map(|(license_id, (name, text, users))| ExtractedLicense {
            extracted_text: text.unwrap_or_else(|| {
                format!("The Debian copyright file names the license \"{name}\" without its text.")
            }),
            comment: format!(
                "Named in the Debian copyright files of: {}",
                users.into_iter().collect::<Vec<_>>().join(", ")
            ),
            license_id,
            name,
        })
        .collect();
    let document = Document {
        spdx_version: "SPDX-2.3",
        data_license: "CC0-1.0",
        spdx_id: "SPDXRef-DOCUMENT",
        name: input.name.clone(),
        document_namespace: format!(
            "https://imgbuild.invalid/spdx/{}/{}",
            percent_encode(&input.name),
            input.subject
        ),
        creation_info: CreationInfo {
            created,
            creators: vec![format!("Tool: {}", input.tool)],
        },
        packages,
        files,
        has_extracted_licensing_infos,
        relationships,
    };
    let mut bytes = serde_json::to_vec_pretty(&document)
        .map_err(|error| SbomError::Serialize(error.to_string()))?;
    bytes.push(b'\n');
    Ok(bytes)
}

type PinKey = (String, String, String);

/// The pins by (name, architecture, version); two pins with one key are an error.
pub(crate) fn pins_by_package(pins: &[Pin]) -> Result<BTreeMap<PinKey, &Pin>, SbomError> {
    let mut map = BTreeMap::new();
    for pin in pins {
        let key = (
            pin.name.clone(),
            pin.architecture.clone(),
            pin.version.clone(),
        );
        if map.insert(key, pin).is_some() {
            return Err(SbomError::DuplicatePin {
                package: pin.name.clone(),
                architecture: pin.architecture.clone(),
                version: pin.version.clone(),
            });
        }
    }
    Ok(map)
}

fn debian_package(
    installed: &InstalledPackage,
    identifier: String,
    pin: Option<&Pin>,
    license_declared: String,
) -> Package {
    let source_info =
        if installed.source == installed.name && installed.source_version == installed.version {
            "built from the Debian source package of the same name and version".to_owned()
        } else {
            format!(
                "built from the Debian source package {} {}",
                installed.source, installed.source_version
            )
        };
    let homepage = installed
        .homepage
        .clone()
        .filter(|homepage| is_plain_url(homepage));
    Package {
        spdx_id: identifier,
        name: installed.name.clone(),
        version_info: Some(installed.version.clone()),
        package_file_name: pin.map(|pin| {
            pin.filename
                .rsplit('/')
                .next()
                .unwrap_or(&pin.filename)
                .to_owned()
        }),
        supplier: installed.maintainer.as_deref().map(supplier),
        download_location: NOASSERTION,
        files_analyzed: false,
        checksums: pin
            .map(|pin| Checksum {
                algorithm: "SHA256",
                checksum_value: pin.sha256.clone(),
            })
            .into_iter()
            .collect(),
        homepage,
        source_info: Some(source_info),
        license_concluded: NOASSERTION,
        license_declared,
        copyright_text: NOASSERTION,
        summary: installed.summary.clone(),
        comment: pin.map(|pin| {
            format!(
                "Debian archive file {} ({} bytes) of suite {}, from any mirror of the archive",
                pin.filename, pin.size, pin.suite
            )
        }),
        external_refs: vec![ExternalReference {
            reference_category: "PACKAGE-MANAGER",
            reference_type: "purl",
            reference_locator: purl(installed),
        }],
        primary_package_purpose: None,
    }
}

/// `SPDXRef-Package-deb-NAME-ARCH` (see the module documentation).
pub(crate) fn package_id(installed: &InstalledPackage) -> String {
    format!(
        "SPDXRef-Package-deb-{}-{}",
        identifier_part(&installed.name),
        identifier_part(&installed.architecture)
    )
}

fn identifier_part(text: &str) -> String {
    let mut part = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'.' || byte == b'-' {
            part.push(char::from(byte));
        } else {
            part.push_str(&format!("X{byte:02X}"));
        }
    }
    part
}

/// `pkg:deb/debian/NAME@VERSION?arch=ARCH[&upstream=SOURCE[@SOURCE_VERSION]]`, each part
/// percent-encoded; `upstream` when the source's name or version differs from the
/// package's.
pub(crate) fn purl(installed: &InstalledPackage) -> String {
    let mut locator = format!(
        "pkg:deb/debian/{}@{}?arch={}",
        percent_encode(&installed.name),
        percent_encode(&installed.version),
        percent_encode(&installed.architecture)
    );
    if installed.source_version != installed.version {
        locator.push_str("&upstream=");
        locator.push_str(&percent_encode(&format!(
            "{}@{}",
            installed.source, installed.source_version
        )));
    } else if installed.source != installed.name {
        locator.push_str("&upstream=");
        locator.push_str(&percent_encode(&installed.source));
    }
    locator
}

/// `Name <address>` → `Organization: Name (address)`; anything else verbatim after the
/// `Organization: ` prefix.
fn supplier(maintainer: &str) -> String {
    match maintainer
        .strip_suffix('>')
        .and_then(|rest| rest.rsplit_once('<'))
    {
        Some((name, address)) => format!("Organization: {} ({})", name.trim(), address.trim()),
        None => format!("Organization: {maintainer}"),
    }
}

/// An `http`/`https` URL whose host has a dot and a top-level label starting with two
/// letters: what SPDX validators accept as a homepage. Others are left out.
fn is_plain_url(url: &str) -> bool {
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return false;
    };
    if url
        .chars()
        .any(|character| character.is_whitespace() || character.is_control())
    {
        return false;
    }
    let host = rest.split(['/', '?', '#', ':']).next().unwrap_or("");
    let labels: Vec<&str> = host.split('.').collect();
    let Some(last) = labels.last() else {
        return false;
    };
    labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
        })
        && last.bytes().take(2).filter(u8::is_ascii_alphabetic).count() == 2
}
