//! `--remote`: the settings that reach a remote engine, resolved here at the edge
//! (URL, token file, headers, certificate authority; flags, then environment, then the
//! settings file) and never part of an identity.
//!
//! The settings file (`--remote-config`, `IMGBUILD_REMOTE_CONFIG`, else
//! `$XDG_CONFIG_HOME/imgbuild/remote.toml` when it exists):
//!
//! ```toml
//! url = "grpcs://reapi.example.org:443/main"
//! token-file = "/home/me/.config/imgbuild/token"   # sent as `authorization: Bearer …`
//! ca = "/etc/ssl/team-ca.pem"
//! exec = true          # as --remote-exec
//! fallback = true      # as --remote-fallback
//! [headers]
//! x-team = "web"
//! ```

use std::path::{Path, PathBuf};

use imgbuild_remote::{Client, RemoteError, Settings};

use crate::cli::RemoteArgs;
use crate::errors::Failure;

/// What the settings file says.
#[derive(Debug, Default)]
struct File {
    url: Option<String>,
    token_file: Option<PathBuf>,
    ca: Option<PathBuf>,
    headers: Vec<(String, String)>,
    exec: bool,
    fallback: bool,
}

/// Remote settings resolved at the edge, with the two switches a file may set.
pub struct Resolved {
    /// How to reach the engine.
    pub settings: Settings,
    /// `exec = true` in the settings file.
    pub exec: bool,
    /// `fallback = true` in the settings file.
    pub fallback: bool,
}

fn default_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    let path = base.join("imgbuild/remote.toml");
    path.is_file().then_some(path)
}

fn read_file(path: &Path) -> Result<File, Failure> {
    let text = fs_err::read_to_string(path).map_err(Failure::environment)?;
    let bad = |message: String| Failure::Recipe(miette::miette!("{}: {message}", path.display()));
    let document: toml_edit::DocumentMut = text
        .parse()
        .map_err(|error: toml_edit::TomlError| bad(error.message().to_owned()))?;
    let relative = |value: &str| {
        let value = PathBuf::from(value);
        if value.is_absolute() {
            value
        } else {
            path.parent().unwrap_or(Path::new(".")).join(value)
        }
    };
    let mut file = File::default();
    for (key, item) in document.iter() {
        let text = || {
            item.as_str()
                .map(str::to_owned)
                .ok_or_else(|| bad(format!("`{key}` must be a string")))
        };
        let flag = || {
            item.as_bool()
                .ok_or_else(|| bad(format!("`{key}` must be true or false")))
        };
        match key {
            "url" => file.url = Some(text()?),
            "token-file" => file.token_file = Some(relative(&text()?)),
            "ca" => file.ca = Some(relative(&text()?)),
            "exec" => file.exec = flag()?,
            "fallback" => file.fallback = flag()?,
            "headers" => {
                let table = item
                    .as_table_like()
                    .ok_or_else(|| bad("`headers` must be a table".to_owned()))?;
                for (name, value) in table.iter() {
                    let value = value
                        .as_str()
                        .ok_or_else(|| bad(format!("header `{name}` must be a string")))?;
                    file.headers.push((name.to_owned(), value.to_owned()));
                }
            }
            other => {
                return Err(bad(format!(
                    "unknown key `{other}` (known: url, token-file, ca, headers, exec, fallback)"
                )))
            }
        }
    }
    Ok(file)
}

/// The settings `arguments` (and the settings file) describe, or `None` without a URL.
pub fn settings(arguments: &RemoteArgs) -> Result<Option<Resolved>, Failure> {
    let file = match arguments.remote_config.clone().or_else(default_file) {
        Some(path) => read_file(&path)?,
        None => File::default(),
    };
    let Some(endpoint) = arguments.remote.clone().or(file.url) else {
        return Ok(None);
    };
    let mut headers = file.headers;
    for header in &arguments.remote_header {
        let Some((name, value)) = header.split_once('=') else {
            return Err(Failure::Recipe(miette::miette!(
                "--remote-header `{}`: expected NAME=VALUE",
                header.split(':').next().unwrap_or_default()
            )));
        };
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    if let Some(path) = arguments
        .remote_token_file
        .as_ref()
        .or(file.token_file.as_ref())
    {
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
    let ca_certificate = match arguments.remote_ca.as_ref().or(file.ca.as_ref()) {
        Some(path) => Some(fs_err::read(path).map_err(Failure::environment)?),
        None => None,
    };
    Ok(Some(Resolved {
        settings: Settings {
            endpoint,
            headers,
            ca_certificate,
            upload_secrets: false,
            need_execution: false,
        },
        exec: file.exec,
        fallback: file.fallback,
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
