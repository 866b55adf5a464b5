//! `imgbuild libraries`: the project's resolved recipe libraries as a tree, like
//! `cargo tree` — name, version, commit, source and content hash, each under the
//! project or library that requires it (a library required again is marked `(*)` and
//! not expanded twice), or as JSON with each library's importers.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use imgbuild_builtins::lock::LockFile;
use imgbuild_libraries::{Resolution, Resolved};
use serde_json::json;

use crate::cli::LibrariesArgs;
use crate::errors::Failure;
use crate::project::{Project, Settings};

/// Runs `imgbuild libraries`.
pub fn run(store: Option<&std::path::Path>, arguments: &LibrariesArgs) -> Result<(), Failure> {
    let overrides = super::overrides(&arguments.overrides)?;
    let project = Project::find(&arguments.path)?;
    let Some(manifest) = &project.manifest else {
        return Err(Failure::Recipe(miette::miette!(
            help = "a project is a directory with an imgbuild.toml naming its [libraries]",
            "no imgbuild.toml in {} or above it",
            arguments.path.display()
        )));
    };
    let mut lock = LockFile::read(&project.lock_path)
        .map_err(|error| Failure::Recipe(miette::miette!("{error}")))?;
    let libraries = crate::project::libraries(
        &project,
        &mut lock,
        &Settings {
            offline: arguments.offline,
            update: imgbuild_libraries::Update::Nothing,
            verify_tags: false,
            overrides: &overrides,
            store,
        },
    )?;
    let Some(resolution) = libraries.resolution else {
        println!("{} names no libraries", manifest.path.display());
        return Ok(());
    };
    if arguments.json {
        for (name, resolved) in &resolution.libraries {
            println!("{}", describe_json(name, resolved));
        }
        return Ok(());
    }
    let root = manifest
        .library
        .as_ref()
        .map(|library| library.name.clone())
        .unwrap_or_else(|| "(project)".to_owned());
    print!(
        "{}",
        render(&root, &manifest.path.display().to_string(), &resolution)
    );
    Ok(())
}

/// The tree as text.
pub fn render(root: &str, manifest: &str, resolution: &Resolution) -> String {
    let mut out = format!("{root} ({manifest})\n");
    let mut seen = BTreeSet::new();
    branch(&mut out, resolution, &resolution.direct, "", &mut seen);
    out
}

fn branch(
    out: &mut String,
    resolution: &Resolution,
    names: &[String],
    prefix: &str,
    seen: &mut BTreeSet<String>,
) {
    for (index, name) in names.iter().enumerate() {
        let last = index + 1 == names.len();
        let (joint, next) = if last {
            ("└── ", "    ")
        } else {
            ("├── ", "│   ")
        };
        let Some(resolved) = resolution.libraries.get(name) else {
            let _ = writeln!(out, "{prefix}{joint}{name} (unresolved)");
            continue;
        };
        let again = !seen.insert(name.clone());
        let _ = writeln!(
            out,
            "{prefix}{joint}{}{}",
            describe(name, resolved),
            if again { " (*)" } else { "" }
        );
        if !again {
            branch(
                out,
                resolution,
                &resolved.dependencies,
                &format!("{prefix}{next}"),
                seen,
            );
        }
    }
}

/// `base v1.4.2 @3f2c1e9a5b7d git+file:///…?version=^1.4 blake3:1234abcd…`.
fn describe(name: &str, resolved: &Resolved) -> String {
    let mut line = name.to_owned();
    if let Some(version) = &resolved.version {
        let _ = write!(line, " v{version}");
    }
    if let Some(commit) = &resolved.commit {
        let _ = write!(line, " @{}", &commit[..commit.len().min(12)]);
    }
    if resolved.overridden {
        let _ = write!(line, " overridden by {}", resolved.path.display());
    } else {
        let _ = write!(line, " {}", resolved.source);
    }
    let hash = resolved.hash.as_str();
    let _ = write!(line, " {}", &hash[..hash.len().min(19)]);
    line
}

fn describe_json(name: &str, resolved: &Resolved) -> serde_json::Value {
    json!({
        "name": name,
        "version": resolved.version.as_ref().map(ToString::to_string),
        "commit": resolved.commit,
        "source": resolved.source.to_string(),
        "hash": resolved.hash,
        "path": resolved.path,
        "importers": resolved.importers,
        "dependencies": resolved.dependencies,
        "overridden": resolved.overridden,
    })
}
