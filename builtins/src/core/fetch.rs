//! `fetch(#{ url, sha256 | blake3, name, executable })`: a file from the network (or a
//! `file://` URL), fixed-output.
//!
//! The promised hash *is* the identity: mirrors (`urls: [...]`) can change without
//! rebuilding anything. The content is streamed into the store while it is hashed and is
//! only published if it matches the promise; each URL is tried up to three times with
//! backoff before the next one. `--offline` builds fail here unless the output is
//! already in the store.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use imgbuild_evaluator::rhai::{Engine, EvalAltResult, Map, NativeCallContext};
use imgbuild_evaluator::{ArgMap, BuiltinError, DerivationHandle, DerivationSpec, Value};
use imgbuild_store::OutputRecord;
use sha2::Digest as _;

use imgbuild_engine::{BuildContext, BuildError};

/// The derivation kind.
pub const KIND: &str = "fetch";
const VERSION: u32 = 1;
const ATTEMPTS: u32 = 3;

pub(crate) fn register(engine: &mut Engine, registration: &crate::Registration) {
    let state = &registration.state;
    let state = state.clone();
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
                        "fetch: `{url}` is not an http, https or file URL"
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
                None => urls[0]
                    .rsplit('/')
                    .find(|part| !part.is_empty())
                    .unwrap_or("download")
                    .to_owned(),
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

enum Hasher {
    Sha256(sha2::Sha256),
    Blake3(Box<blake3::Hasher>),
}

impl Hasher {
    fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(hasher) => hasher.update(bytes),
            Hasher::Blake3(hasher) => {
                hasher.update(bytes);
            }
        }
    }

    fn finish(self) -> String {
        match self {
            Hasher::Sha256(hasher) => hex::encode(hasher.finalize()),
            Hasher::Blake3(hasher) => hasher.finalize().to_hex().to_string(),
        }
    }
}

pub(crate) fn build(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    let args = &context.derivation.args;
    let (algorithm, expected) = match (args.get("sha256"), args.get("blake3")) {
        (Some(Value::String(hash)), _) => ("sha256", hash.clone()),
        (_, Some(Value::String(hash))) => ("blake3", hash.clone()),
        _ => return Err(BuildError::Malformed("fetch without a hash".to_owned())),
    };
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
        return Err(BuildError::Failed(format!(
            "--offline: {} is not in the store and would have to be downloaded from {}",
            context.derivation.name,
            urls.join(", ")
        )));
    }
    let mut errors = Vec::new();
    for url in &urls {
        for attempt in 1..=ATTEMPTS {
            match download(context, url, algorithm, &expected) {
                Ok(info) => {
                    context.log_line(format!("fetched {url} ({} bytes)", info.size));
                    return Ok(imgbuild_engine::file_output(&info, executable, false));
                }
                Err(Attempt::Mismatch(message)) => return Err(BuildError::Failed(message)),
                Err(Attempt::Retry(message)) => {
                    context.log_line(format!("attempt {attempt} of {url} failed: {message}"));
                    errors.push(format!("{url}: {message}"));
                    if attempt < ATTEMPTS {
                        std::thread::sleep(crate::core::http::backoff(attempt));
                    }
                }
            }
        }
    }
    Err(BuildError::Failed(format!(
        "fetch of {} failed: {}",
        context.derivation.name,
        errors.join("; ")
    )))
}

enum Attempt {
    Retry(String),
    Mismatch(String),
}

fn download(
    context: &BuildContext<'_>,
    url: &str,
    algorithm: &str,
    expected: &str,
) -> Result<imgbuild_store::BlobInfo, Attempt> {
    let (mut reader, _) =
        crate::core::http::open_at(url, 0).map_err(|error| Attempt::Retry(error.reason))?;
    let mut hasher = if algorithm == "sha256" {
        Hasher::Sha256(sha2::Sha256::new())
    } else {
        Hasher::Blake3(Box::new(blake3::Hasher::new()))
    };
    let mut writer = context
        .store
        .blob_writer(false)
        .map_err(|error| Attempt::Retry(error.to_string()))?;
    let mut buffer = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let count = reader
            .read(&mut buffer)
            .map_err(|error| Attempt::Retry(format!("reading: {error}")))?;
        if count == 0 {
            break;
        }
        hasher.update(&buffer[..count]);
        writer
            .write_all(&buffer[..count])
            .map_err(|error| Attempt::Retry(format!("writing to the store: {error}")))?;
        total += count as u64;
        context.reporter.progress(total, None, "bytes");
    }
    let found = hasher.finish();
    if found != expected {
        // The writer is dropped unfinished: nothing is published.
        return Err(Attempt::Mismatch(format!(
            "{url}: {algorithm} mismatch: expected {expected}, got {found} ({total} bytes)"
        )));
    }
    writer
        .finish()
        .map_err(|error| Attempt::Retry(error.to_string()))
}
