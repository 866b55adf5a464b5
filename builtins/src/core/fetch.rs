//! `fetch(#{ url, sha256 | blake3, name, executable })`: a file from the network (or a
//! `file://` URL), fixed-output.
//!
//! The promised hash *is* the identity: mirrors (`urls: [...]`) can change without
//! rebuilding anything. Downloading is [`http::download`]'s: streamed into the store
//! while hashed, published only if it matches the promise, transient failures retried
//! and resumed, permanent ones (404, a mismatch, a bad redirect) sending it to the next
//! URL. A mismatch is the recipe's error (exit 1), a network that cannot deliver the
//! environment's (exit 3). Credentials in a URL (`https://user:token@host/x`) are used
//! but never shown: messages and the log carry [`http::redact`]ed URLs. `--offline`
//! builds fail here unless the output is already in the store.

use std::collections::BTreeMap;

use imgbuild_evaluator::rhai::{Engine, EvalAltResult, Map, NativeCallContext};
use imgbuild_evaluator::{ArgMap, BuiltinError, DerivationHandle, DerivationSpec, Value};
use imgbuild_store::OutputRecord;

use crate::core::http::{self, ExpectedHash, HashAlgorithm};
use imgbuild_engine::{BuildContext, BuildError};

/// The derivation kind.
pub const KIND: &str = "fetch";
pub(crate) const VERSION: u32 = 1;

pub(crate) fn register(engine: &mut Engine, registration: &crate::Registration) {
    let state = registration.state.clone();
    engine.register_fn(
        "fetch",
        move |context: NativeCallContext,
              arguments: Map|
              -> Result<DerivationHandle, Box<EvalAltResult>> {
            let arguments = ArgMap::new(
                "fetch",
                arguments,
                &["url", "urls", "sha256", "blake3", "name", "executable"],
            )?;
            let mut urls = Vec::new();
            if let Some(url) = arguments.optional_string("url")? {
                urls.push(url);
            }
            urls.extend(arguments.string_list("urls")?);
            if urls.is_empty() {
                return Err(
                    BuiltinError::new("fetch: missing required key `url` (or `urls`)").into(),
                );
            }
            for url in &urls {
                if !(url.starts_with("http://")
                    || url.starts_with("https://")
                    || url.starts_with("file://"))
                {
                    return Err(BuiltinError::new(format!(
                        "fetch: `{}` is not an http, https or file URL",
                        http::redact(url)
                    ))
                    .into());
                }
            }
            let mut args = BTreeMap::new();
            match (
                arguments.optional_string("sha256")?,
                arguments.optional_string("blake3")?,
            ) {
                (Some(hash), None) => args.insert(
                    "sha256".to_owned(),
                    Value::String(check_hash("sha256", &hash)?),
                ),
                (None, Some(hash)) => args.insert(
                    "blake3".to_owned(),
                    Value::String(check_hash("blake3", &hash)?),
                ),
                _ => return Err(BuiltinError::new(
                    "fetch: give exactly one of `sha256` and `blake3`",
                )
                .with_help(
                    "the expected hash is the fetch's identity; compute it with sha256sum or b3sum",
                )
                .into()),
            };
            args.insert(
                "executable".to_owned(),
                Value::Bool(arguments.optional_bool("executable")?.unwrap_or(false)),
            );
            let name = match arguments.optional_string("name")? {
                Some(name) => name,
                None => default_name(&urls[0]),
            };
            crate::core::paths::check_name("fetch", &name)?;
            Ok(state.add(
                &context,
                DerivationSpec::fixed(
                    KIND,
                    VERSION,
                    name,
                    args,
                    Value::List(urls.into_iter().map(Value::String).collect()),
                ),
            ))
        },
    );
}

fn check_hash(algorithm: &str, hash: &str) -> Result<String, BuiltinError> {
    let hash = hash.to_ascii_lowercase();
    if hash.len() != 64 || !hash.chars().all(|character| character.is_ascii_hexdigit()) {
        return Err(BuiltinError::new(format!(
            "fetch: `{algorithm}` must be 64 hexadecimal characters"
        )));
    }
    Ok(hash)
}

/// The last path segment of `url`, without query, fragment or credentials (the name
/// shows up in progress lines, events and logs).
fn default_name(url: &str) -> String {
    let url = http::redact(url);
    let url = url.split(['?', '#']).next().unwrap_or_default();
    let path = url.split_once("://").map_or(url, |(_, rest)| rest);
    path.rsplit('/')
        .find(|part| !part.is_empty() && !part.contains('@'))
        .filter(|_| path.contains('/'))
        .unwrap_or("download")
        .to_owned()
}

pub(crate) fn build(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    let args = &context.derivation.args;
    let (algorithm, expected) = match (args.get("sha256"), args.get("blake3")) {
        (Some(Value::String(hash)), _) => (HashAlgorithm::Sha256, hash),
        (_, Some(Value::String(hash))) => (HashAlgorithm::Blake3, hash),
        _ => return Err(BuildError::Malformed("fetch without a hash".to_owned())),
    };
    let mut digest = [0u8; 32];
    hex::decode_to_slice(expected, &mut digest)
        .map_err(|_| BuildError::Malformed(format!("fetch: `{expected}` is not a hash")))?;
    let expected = ExpectedHash { algorithm, digest };
    let executable = args
        .get("executable")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let urls: Vec<String> = context
        .derivation
        .location
        .as_ref()
        .and_then(Value::as_list)
        .unwrap_or_default()
        .iter()
        .filter_map(|url| url.as_str().map(str::to_owned))
        .collect();
    if context.config.offline {
        let shown: Vec<String> = urls.iter().map(|url| http::redact(url)).collect();
        return Err(BuildError::Failed(format!(
            "--offline: {} is not in the store and would have to be downloaded from {}",
            context.derivation.name,
            shown.join(", ")
        )));
    }
    let store = context.store;
    let reporter = context.reporter;
    let mut notes = Vec::new();
    let result = http::download(&urls, expected, None, store, &mut |event| match event {
        http::Event::Progress { received, total } => reporter.progress(received, total, "bytes"),
        http::Event::Note(note) => notes.push(note.to_owned()),
    });
    for note in notes {
        context.log_line(note);
    }
    match result {
        Ok(downloaded) => {
            context.log_line(format!(
                "fetched {} ({} bytes)",
                downloaded.url, downloaded.info.size
            ));
            Ok(imgbuild_engine::file_output(
                &downloaded.info,
                executable,
                false,
            ))
        }
        Err(error) => Err(error.into_build_error(&format!("fetch of {}", context.derivation.name))),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn default_names_carry_no_credentials_or_query() {
        for (url, expected) in [
            ("https://host/dir/file.tar.gz", "file.tar.gz"),
            ("https://host/dir/", "dir"),
            ("https://user:token@host/file?signature=abc#x", "file"),
            ("https://user:token@host", "download"),
            ("https://user:token@host/", "download"),
            ("file:///srv/x.iso", "x.iso"),
        ] {
            assert_eq!(super::default_name(url), expected, "{url}");
        }
    }
}
