//! `imgbuild log DERIVATION`: print a derivation's build log.

use std::io::Write;

use crate::cli::LogArgs;
use crate::errors::Failure;

/// Runs `imgbuild log`.
pub fn run(store: Option<&std::path::Path>, arguments: &LogArgs) -> Result<(), Failure> {
    let prefix = arguments.derivation.to_ascii_lowercase();
    if prefix.is_empty()
        || prefix.len() > 64
        || !prefix
            .chars()
            .all(|character| character.is_ascii_hexdigit())
    {
        return Err(Failure::Recipe(miette::miette!(
            help = "pass the derivation's recipe identity as shown by `imgbuild eval` or in a failure message",
            "`{}` is not a derivation identity (at most 64 hexadecimal digits)",
            arguments.derivation
        )));
    }
    let path = super::store_path(store)?;
    if !path.exists() {
        // A read-only command does not create a store.
        return Err(Failure::Recipe(miette::miette!(
            help = "build something first, or pass the store it was built in with --store",
            "no log for derivation {prefix}: there is no store at {}",
            path.display()
        )));
    }
    let store = super::open_store(Some(&path))?;
    let logs = store.find_logs(&prefix)?;
    match logs.as_slice() {
        [] => Err(Failure::Recipe(miette::miette!(
            help = "a derivation has a log once it was built here and its builder wrote something",
            "no log for derivation {prefix}"
        ))),
        [(_, path)] => {
            let bytes = fs_err::read(path).map_err(Failure::environment)?;
            std::io::stdout()
                .write_all(&bytes)
                .map_err(Failure::environment)
        }
        several => {
            let names: Vec<String> = several
                .iter()
                .map(|(digest, _)| digest.to_string())
                .collect();
            Err(Failure::Recipe(miette::miette!(
                help = format!("candidates: {}", names.join(", ")),
                "`{prefix}` matches {} logs; give more characters",
                several.len()
            )))
        }
    }
}
