//! `--remote`: the settings that reach a remote engine, resolved here at the edge
//! (URL, token file, headers, certificate authority) and never part of an identity.

use imgbuild_remote::{Client, RemoteError, Settings};

use crate::cli::RemoteArgs;
use crate::errors::Failure;

/// The settings `arguments` describe, or `None` without `--remote`.
pub fn settings(arguments: &RemoteArgs) -> Result<Option<Settings>, Failure> {
    let Some(endpoint) = &arguments.remote else {
        return Ok(None);
    };
    let mut headers = Vec::new();
    for header in &arguments.remote_header {
        let Some((name, value)) = header.split_once('=') else {
            return Err(Failure::Recipe(miette::miette!(
                "--remote-header `{name}`: expected NAME=VALUE",
                name = header.split(':').next().unwrap_or_default()
            )));
        };
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    if let Some(path) = &arguments.remote_token_file {
        let token = fs_err::read_to_string(path).map_err(Failure::environment)?;
        let token = token.trim();
        if token.is_empty() {
            return Err(Failure::environment(format!(
                "the token file {} is empty",
                path.display()
            )));
        }
        headers.push(("authorization".to_owned(), format!("Bearer {token}")));
    }
    let ca_certificate = match &arguments.remote_ca {
        Some(path) => Some(fs_err::read(path).map_err(Failure::environment)?),
        None => None,
    };
    Ok(Some(Settings {
        endpoint: endpoint.clone(),
        headers,
        ca_certificate,
        upload_secrets: false,
        need_execution: false,
    }))
}

/// Connects, or explains why not (exit 2 for a malformed endpoint, 3 otherwise).
pub fn connect(settings: &Settings) -> Result<Client, Failure> {
    Client::connect(settings).map_err(|error| match error {
        RemoteError::Endpoint { .. } => Failure::Recipe(miette::miette!("{error}")),
        RemoteError::Credentials { .. } => Failure::Environment(miette::miette!(
            help = "check --remote-token-file / --remote-header",
            "{error}"
        )),
        _ => Failure::Environment(miette::miette!("{error}")),
    })
}
