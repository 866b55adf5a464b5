//! The document for THIS machine's Debian installation (its dpkg status file and every
//! `/usr/share/doc/PACKAGE/copyright`), checked by the SPDX project's reference validator
//! `pyspdxtools` (spdx-tools, installed by `scripts/spdx-tools.sh` into a virtual
//! environment); and a broken document, which the validator must reject — so the check
//! can fail.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use imgbuild_sbom::{installed_packages, spdx_json, FileRecord, Pin, SbomInput};
use imgbuild_test_support::{require, require_spdx_validator, Missing};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// Runs `pyspdxtools -i` on `document`: (success, everything it printed).
fn validate(tool: &Path, name: &str, document: &[u8]) -> (bool, String) {
    let directory = tempfile::tempdir().expect("temporary directory");
    let path = directory.path().join(format!("{name}.spdx.json"));
    std::fs::write(&path, document).expect("write the document");
    let output = Command::new(tool)
        .arg("-i")
        .arg(&path)
        .output()
        .expect("run pyspdxtools");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), printed)
}

fn file_record(path: &str) -> FileRecord {
    let bytes = std::fs::read(path).expect("read a host file");
    FileRecord {
        path: path.to_owned(),
        size: bytes.len() as u64,
        sha1: hex::encode(Sha1::digest(&bytes)),
        sha256: hex::encode(Sha256::digest(&bytes)),
    }
}

/// The input a builder would make from this machine's root tree.
fn host_input() -> Option<SbomInput> {
    let status = match std::fs::read_to_string("/var/lib/dpkg/status") {
        Ok(status) => status,
        Err(error) => {
            require::<()>(Err(Missing::new(format!(
                "this machine has no dpkg database: /var/lib/dpkg/status: {error}"
            ))));
            return None;
        }
    };
    let packages = installed_packages(&status).expect("the host's status file parses");
    assert!(
        packages.len() > 20,
        "a Debian system has more than 20 packages"
    );
    let mut copyrights = BTreeMap::new();
    for package in &packages {
        let path = format!("/usr/share/doc/{}/copyright", package.name);
        if let Ok(text) = std::fs::read_to_string(&path) {
            copyrights.insert(package.name.clone(), text);
        }
    }
    // Pins for the first few packages (the archive's checksums are not on the machine, so
    // these digests are made up; the validator checks their form, not the .deb files).
    let pins = packages
        .iter()
        .take(5)
        .map(|package| Pin {
            name: package.name.clone(),
            version: package.version.clone(),
            architecture: package.architecture.clone(),
            sha256: hex::encode(Sha256::digest(package.name.as_bytes())),
            size: 1000,
            filename: format!(
                "pool/main/x/{0}/{0}_{1}.deb",
                package.name, package.architecture
            ),
            suite: "bookworm".to_owned(),
        })
        .collect();
    Some(SbomInput {
        name: "host".to_owned(),
        subject: hex::encode(Sha256::digest(status.as_bytes())),
        source_date_epoch: 1_700_000_000,
        tool: "imgbuild-0.1.0".to_owned(),
        status,
        pins,
        copyrights,
        files: vec![
            file_record("/etc/debian_version"),
            file_record("/etc/os-release"),
        ],
    })
}

#[test]
fn the_host_installation_gives_a_valid_document_and_a_broken_one_is_rejected() {
    let Some(input) = host_input() else { return };
    let Some(tool) = require_spdx_validator() else {
        return;
    };
    let document = spdx_json(&input).expect("the host's input makes a document");
    let (valid, printed) = validate(&tool, "host", &document);
    assert!(
        valid,
        "pyspdxtools rejected the host's document:\n{printed}"
    );
    assert!(
        !printed.contains("invalid"),
        "pyspdxtools printed:\n{printed}"
    );

    let parsed: serde_json::Value = serde_json::from_slice(&document).expect("JSON");
    let packages = parsed["packages"].as_array().expect("packages");
    let declared = packages
        .iter()
        .filter(|package| package["licenseDeclared"] != "NOASSERTION")
        .count();
    assert!(
        declared > 10,
        "only {declared} packages have a declared license"
    );
    let references = parsed["hasExtractedLicensingInfos"]
        .as_array()
        .map_or(0, Vec::len);
    assert!(
        references > 0,
        "the host's copyright files use no LicenseRef"
    );
    eprintln!(
        "validated: {} packages, {declared} with a declared license, {references} license references",
        packages.len() - 1
    );

    // The same document with a relationship to an SPDX identifier it does not define.
    let mut broken: serde_json::Value = serde_json::from_slice(&document).expect("JSON");
    broken["relationships"][1]["relatedSpdxElement"] =
        serde_json::Value::from("SPDXRef-Package-deb-missing-amd64");
    let broken = serde_json::to_vec_pretty(&broken).expect("JSON");
    let (valid, printed) = validate(&tool, "broken", &broken);
    assert!(!valid, "pyspdxtools accepted a broken document:\n{printed}");
    assert!(
        printed.contains("The document is invalid")
            && printed.contains("SPDXRef-Package-deb-missing-amd64"),
        "pyspdxtools did not name the missing identifier:\n{printed}"
    );
}
