//! Secrets at the edge: which key seals them, and `--secret NAME` values.
//!
//! The key is `--secret-key-file` / `IMGBUILD_SECRET_KEY_FILE` when given, else the
//! store's own (created owner-only on first use). It is read only when a recipe meets
//! its first secret. Secret values come from the terminal (no echo), stdin, an
//! environment variable or a file — never from the command line itself.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use imgbuild_evaluator::SecretKeySource;
use imgbuild_store::SecretKey;

use crate::errors::Failure;

/// Purpose string of the subkey that seals secret values in identities.
const IDENTITY_PURPOSE: &str = "imgbuild 2026-12 secret identity v1";

/// The evaluation's key source: the key file if given (read now, so that a bad one is
/// an environment error before anything is evaluated), else the store's key (read when
/// the first secret is met).
pub fn key_source(
    store: Option<&Path>,
    key_file: Option<&Path>,
) -> Result<SecretKeySource, Failure> {
    if let Some(path) = key_file {
        let key = SecretKey::read(path)?.subkey(IDENTITY_PURPOSE);
        return Ok(SecretKeySource(Rc::new(move || Ok(key))));
    }
    let store: Option<PathBuf> = store.map(Path::to_path_buf);
    Ok(SecretKeySource(Rc::new(move || {
        let directory = crate::commands::store_path(store.as_deref()).map_err(|_| {
            "no store to keep the secret key in: set --store, IMGBUILD_STORE or HOME, \
             or give --secret-key-file"
                .to_owned()
        })?;
        imgbuild_store::Store::open(&directory)
            .and_then(|store| store.secret_key())
            .map(|key| key.subkey(IDENTITY_PURPOSE))
            .map_err(|error| error.to_string())
    })))
}

/// Reads the values of `--secret` options.
pub fn secret_args(specs: &[String]) -> Result<BTreeMap<String, String>, Failure> {
    let mut values = BTreeMap::new();
    for spec in specs {
        let (name, source) = match spec.split_once('=') {
            Some((name, source)) => (name, Some(source)),
            None => (spec.as_str(), None),
        };
        let valid_name = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_name {
            return Err(usage(format!(
                "--secret `{}`: the name must be letters, digits and `_`",
                crate::progress::escape(name)
            )));
        }
        let value = match source {
            None => read_interactively(name)?,
            Some(source) => match source.split_once(':') {
                Some(("env", variable)) => std::env::var(variable).map_err(|_| {
                    usage(format!("--secret {name}: the environment variable `{variable}` is not set (or not UTF-8)"))
                })?,
                Some(("file", path)) => {
                    let mut text = std::fs::read_to_string(path).map_err(|error| {
                        usage(format!("--secret {name}: cannot read `{path}`: {error}"))
                    })?;
                    if text.ends_with('\n') {
                        text.pop();
                    }
                    text
                }
                _ => {
                    // Never quote the text: it may be the secret itself.
                    return Err(Failure::Recipe(miette::miette!(
                        help = "write --secret NAME (asks), NAME=env:VAR or NAME=file:PATH; a value on the command line would be visible to every user in `ps`",
                        "--secret {name}: the source is not env:VAR or file:PATH (not shown)"
                    )));
                }
            },
        };
        if values.insert(name.to_owned(), value).is_some() {
            return Err(usage(format!("--secret {name} is given twice")));
        }
    }
    Ok(values)
}

fn usage(message: String) -> Failure {
    Failure::Recipe(miette::miette!("{message}"))
}

/// One line from the terminal with echo off, or from stdin when it is not a terminal.
fn read_interactively(name: &str) -> Result<String, Failure> {
    let stdin = std::io::stdin();
    let terminal = stdin.is_terminal();
    let mut line = String::new();
    if terminal {
        eprint!("secret {name}: ");
        let _ = std::io::stderr().flush();
        let saved = rustix::termios::tcgetattr(&stdin).map_err(Failure::environment)?;
        let mut quiet = saved.clone();
        quiet.local_modes.remove(rustix::termios::LocalModes::ECHO);
        rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Flush, &quiet)
            .map_err(Failure::environment)?;
        let read = stdin.lock().read_line(&mut line);
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Flush, &saved);
        eprintln!();
        read.map_err(Failure::environment)?;
    } else {
        stdin
            .lock()
            .read_line(&mut line)
            .map_err(Failure::environment)?;
    }
    if line.ends_with('\n') {
        line.pop();
        if line.ends_with('\r') {
            line.pop();
        }
    }
    if line.is_empty() {
        return Err(usage(format!("--secret {name}: no value was given")));
    }
    Ok(line)
}
