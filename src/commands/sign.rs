//! `imgbuild sign RESULT --key KEY --name NAME` and `imgbuild verify RESULT --policy FILE`:
//! a signed release manifest over a result directory, and its check against an
//! endorsement policy (`imgbuild-provenance` does the work; this is the edge).

use std::path::Path;

use serde_json::json;

use crate::cli::{SignArgs, VerifyArgs};
use crate::errors::Failure;

/// Runs `imgbuild sign`.
pub fn run(_store: Option<&Path>, arguments: &SignArgs) -> Result<(), Failure> {
    let directory = &arguments.result;
    let manifest_path = directory.join(super::build::MANIFEST);
    if !manifest_path.is_file() {
        return Err(Failure::Recipe(miette::miette!(
            help = "sign the directory `imgbuild build` wrote its outputs to (./result, or -o DIR)",
            "{} is not a result directory: it has no {}",
            directory.display(),
            super::build::MANIFEST
        )));
    }
    let entries = imgbuild_store::read_result_manifest(&manifest_path).map_err(|error| {
        Failure::Recipe(miette::miette!("{}: {error}", manifest_path.display()))
    })?;
    let chosen: Vec<_> = if arguments.outputs.is_empty() {
        entries.iter().collect()
    } else {
        let mut chosen = Vec::new();
        for name in &arguments.outputs {
            match entries.iter().find(|entry| &entry.name == name) {
                Some(entry) => chosen.push(entry),
                None => {
                    let names: Vec<&str> =
                        entries.iter().map(|entry| entry.name.as_str()).collect();
                    return Err(Failure::Recipe(miette::miette!(
                        help = format!(
                            "the outputs in {}: {}",
                            directory.display(),
                            names.join(", ")
                        ),
                        "--output {name}: no such output in {}",
                        directory.display()
                    )));
                }
            }
        }
        chosen
    };
    if chosen.is_empty() {
        return Err(Failure::Recipe(miette::miette!(
            "{} holds no outputs to sign",
            directory.display()
        )));
    }
    imgbuild_provenance::check_principal(&arguments.name)
        .map_err(|error| Failure::Recipe(miette::miette!("--name: {error}")))?;
    let key = imgbuild_provenance::load_signing_key(&arguments.key)
        .map_err(|error| Failure::Recipe(miette::miette!("--key: {error}")))?;
    let mut outputs = Vec::new();
    for entry in &chosen {
        let path = placed(directory, entry);
        // Where it is: `NAME`, or `NAME.tar` where an ordinary user got a tar.
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| entry.name.clone());
        eprintln!("hashing {}", path.display());
        let described = imgbuild_provenance::describe_output(&path, &name)
            .map_err(|error| Failure::Environment(miette::miette!("{error}")))?;
        outputs.push(described);
    }
    let provenance =
        |pick: &dyn Fn(&imgbuild_store::result_dir::ResultProvenance) -> Option<String>| {
            chosen
                .iter()
                .filter_map(|entry| entry.provenance.as_ref().and_then(pick))
                .next()
        };
    let sbom = outputs
        .iter()
        .find(|output| output.name.ends_with(".spdx.json") || output.name.ends_with(".cdx.json"))
        .map(|output| imgbuild_provenance::SbomReference {
            name: output.name.clone(),
            sha256: output.sha256.clone(),
        });
    // The recipe identity of the image itself, not of its SBOM.
    let recipe = chosen
        .iter()
        .filter(|entry| Some(&entry.name) != sbom.as_ref().map(|sbom| &sbom.name))
        .find_map(|entry| {
            entry
                .provenance
                .as_ref()
                .map(|provenance| provenance.recipe.clone())
        });
    let release = match &arguments.release {
        Some(release) => release.clone(),
        None => std::fs::canonicalize(directory)
            .ok()
            .and_then(|path| {
                path.file_name()
                    .map(|name| name.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| "release".to_owned()),
    };
    let manifest = imgbuild_provenance::Manifest {
        format: imgbuild_provenance::FORMAT.to_owned(),
        name: release,
        outputs,
        recipe,
        lock_sha256: provenance(&|provenance| provenance.lock_sha256.clone()),
        sbom,
        source_date_epoch: chosen.iter().find_map(|entry| {
            entry
                .provenance
                .as_ref()
                .and_then(|provenance| provenance.source_date_epoch)
        }),
        tool: format!("imgbuild {}", env!("CARGO_PKG_VERSION")),
    };
    let signature = imgbuild_provenance::sign_directory(directory, &manifest, &key, &arguments.name)
        .map_err(|error| match error {
            imgbuild_provenance::ProvenanceError::ManifestDiffers { .. } => Failure::Recipe(miette::miette!(
                help = "the outputs changed since the first endorser signed: sign a fresh result directory, or remove the old manifest and its signatures",
                "{error}"
            )),
            other => Failure::Environment(miette::miette!("{other}")),
        })?;
    eprintln!(
        "signed {} output(s) of {} as `{}`: {}",
        manifest.outputs.len(),
        directory.display(),
        arguments.name,
        signature.display()
    );
    Ok(())
}

/// Where a result entry is on disk: `NAME`, or `NAME.tar` for a tar fallback.
fn placed(directory: &Path, entry: &imgbuild_store::result_dir::ResultEntry) -> std::path::PathBuf {
    let path = directory.join(&entry.name);
    match &entry.written {
        Some(written) if written.placement == imgbuild_store::result_dir::Placement::Tar => {
            directory.join(format!("{}.tar", entry.name))
        }
        _ => path,
    }
}

/// Unpacks a release tar (`result/NAME.tar`) without its owners into a temporary
/// directory; entries that would land outside it are refused by the tar reader.
fn unpack_release(path: &Path) -> Result<tempfile::TempDir, Failure> {
    let file = std::fs::File::open(path)
        .map_err(|error| Failure::Recipe(miette::miette!("{}: {error}", path.display())))?;
    let directory = tempfile::tempdir().map_err(Failure::environment)?;
    let mut archive = tar::Archive::new(file);
    archive.set_preserve_ownerships(false);
    archive.set_preserve_permissions(false);
    archive.unpack(directory.path()).map_err(|error| {
        Failure::Recipe(miette::miette!(
            "{} is neither a release directory nor a release tar: {error}",
            path.display()
        ))
    })?;
    Ok(directory)
}

/// Runs `imgbuild verify`.
pub fn verify(arguments: &VerifyArgs) -> Result<(), Failure> {
    let text = std::fs::read_to_string(&arguments.policy).map_err(|error| {
        Failure::Recipe(miette::miette!(
            "--policy {}: {error}",
            arguments.policy.display()
        ))
    })?;
    let policy = imgbuild_provenance::Policy::parse(&text, &arguments.policy)
        .map_err(|error| Failure::Recipe(miette::miette!("{error}")))?;
    // A release written by an ordinary user is a tar (its tree is owned by root): check
    // its contents unpacked into a private directory.
    let unpacked;
    let release = if arguments.result.is_file() {
        unpacked = unpack_release(&arguments.result)?;
        unpacked.path().to_path_buf()
    } else {
        arguments.result.clone()
    };
    if !release.join(imgbuild_provenance::MANIFEST_FILE).is_file() {
        return Err(Failure::Recipe(miette::miette!(
            help = "sign it first: imgbuild sign DIR --key KEY --name NAME",
            "{} is not a signed release: it has no {}",
            arguments.result.display(),
            imgbuild_provenance::MANIFEST_FILE
        )));
    }
    let verification = imgbuild_provenance::verify_directory(&release, &policy)
        .map_err(|error| Failure::Environment(miette::miette!("{error}")))?;
    let passed = verification.passed();
    if arguments.json {
        let problems: Vec<_> = verification
            .problems
            .iter()
            .map(|problem| json!({ "subject": problem.subject, "reason": problem.reason }))
            .collect();
        println!(
            "{}",
            json!({ "passed": passed, "endorsed_by": verification.accepted, "problems": problems })
        );
    } else {
        for problem in &verification.problems {
            println!("refused: {}: {}", problem.subject, problem.reason);
        }
        if passed {
            println!(
                "verified: {} endorsed by {}",
                arguments.result.display(),
                verification.accepted.join(", ")
            );
        } else {
            println!(
                "error: {} does not pass the policy",
                arguments.result.display()
            );
        }
    }
    if passed {
        Ok(())
    } else {
        Err(Failure::Verify)
    }
}
