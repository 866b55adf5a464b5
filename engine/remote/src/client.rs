//! The REAPI client: one connection to an engine, used synchronously by the scheduler's
//! worker threads (each call runs on a small tokio runtime the client owns).
//!
//! What it speaks: `Capabilities` (checked once at connection: SHA-256 must be offered,
//! execution when asked for), CAS `FindMissingBlobs`, `BatchUpdateBlobs` and
//! `BatchReadBlobs` for blobs that fit the server's batch limit and ByteStream `Write` /
//! `Read` for larger ones (`bytestream.rs`), `GetActionResult` / `UpdateActionResult`,
//! and `Execute` (`execute.rs`).
//! Every blob read is checked against its SHA-256 and size before it is returned; the
//! endpoint's headers (an authorization token) go with every call and never into a
//! message.

use std::collections::HashSet;
use std::time::Duration;

use bazel_remote_apis::build::bazel::remote::execution::v2 as reapi;
use reapi::action_cache_client::ActionCacheClient;
use reapi::capabilities_client::CapabilitiesClient;
use reapi::content_addressable_storage_client::ContentAddressableStorageClient;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use crate::digest::WireDigest;
use crate::error::{from_status, RemoteError};

/// REAPI's `DigestFunction.SHA256`.
pub(crate) const SHA256: i32 = 1;
/// What one blob adds to a batch request besides its bytes: its digest (64 hex
/// digits, a size), a status, field tags and lengths, with room to spare.
const BLOB_OVERHEAD: u64 = 128;
/// Largest gRPC message we accept (batch reads answer up to the batch limit).
pub(crate) const MAX_MESSAGE: usize = 64 << 20;

/// How to reach an engine: resolved at the CLI edge, never part of an identity.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// `grpc://HOST:PORT[/INSTANCE]` (or `http://`), `grpcs://` / `https://` for TLS.
    pub endpoint: String,
    /// Headers sent with every call, e.g. `authorization: Bearer …`.
    pub headers: Vec<(String, String)>,
    /// A PEM certificate authority to trust instead of the system's (TLS only).
    pub ca_certificate: Option<Vec<u8>>,
    /// Upload outputs that hold secrets too (off unless asked explicitly).
    pub upload_secrets: bool,
    /// Whether the engine must offer remote execution.
    pub need_execution: bool,
}

#[derive(Clone)]
pub(crate) struct Headers(std::sync::Arc<Vec<(AsciiMetadataKey, AsciiMetadataValue)>>);

impl tonic::service::Interceptor for Headers {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        for (key, value) in self.0.iter() {
            request.metadata_mut().insert(key.clone(), value.clone());
        }
        Ok(request)
    }
}

pub(crate) type Service = InterceptedService<Channel, Headers>;

/// A connection to one engine instance.
pub struct Client {
    runtime: tokio::runtime::Runtime,
    channel: Channel,
    headers: Headers,
    /// The REAPI instance name (the endpoint's path).
    pub(crate) instance: String,
    /// The endpoint as messages show it.
    pub(crate) endpoint: String,
    /// Largest total of one batch request.
    max_batch: u64,
    /// Whether the server executes actions.
    pub(crate) execution: bool,
    pub(crate) settings: Settings,
}

/// Splits `scheme://host:port/instance` into the URI tonic connects to, whether it is
/// TLS, and the instance name.
fn parse_endpoint(endpoint: &str) -> Result<(String, bool, String), RemoteError> {
    let bad = |reason: &str| RemoteError::Endpoint {
        endpoint: endpoint.to_owned(),
        reason: reason.to_owned(),
    };
    let (scheme, rest) = endpoint
        .split_once("://")
        .ok_or_else(|| bad("expected grpc://HOST:PORT, grpcs://HOST:PORT, http:// or https://"))?;
    let tls = match scheme {
        "grpc" | "http" => false,
        "grpcs" | "https" => true,
        _ => return Err(bad("the scheme must be grpc, grpcs, http or https")),
    };
    let (authority, instance) = rest.split_once('/').unwrap_or((rest, ""));
    if authority.is_empty() {
        return Err(bad("no host"));
    }
    if let Some((_, host)) = authority.rsplit_once('@') {
        // What precedes the `@` is a password: never echo it.
        return Err(RemoteError::Endpoint {
            endpoint: format!("{scheme}://…@{host}"),
            reason: "credentials go in --remote-header, not in the URL".to_owned(),
        });
    }
    let uri = format!("{}://{authority}", if tls { "https" } else { "http" });
    Ok((uri, tls, instance.trim_end_matches('/').to_owned()))
}

impl Client {
    /// Connects and checks the server's capabilities.
    pub fn connect(settings: &Settings) -> Result<Client, RemoteError> {
        let (uri, tls, instance) = parse_endpoint(&settings.endpoint)?;
        let shown = settings.endpoint.clone();
        let mut headers = Vec::new();
        for (key, value) in &settings.headers {
            let bad = |reason: &str| RemoteError::Endpoint {
                endpoint: shown.clone(),
                reason: format!("header `{key}`: {reason}"),
            };
            let key: AsciiMetadataKey = key
                .to_ascii_lowercase()
                .parse()
                .map_err(|_| bad("not a header name"))?;
            let value: AsciiMetadataValue = value.parse().map_err(|_| bad("not a header value"))?;
            headers.push((key, value));
        }
        let headers = Headers(std::sync::Arc::new(headers));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("imgbuild-remote")
            .enable_all()
            .build()
            .map_err(|error| RemoteError::Unreachable {
                endpoint: shown.clone(),
                message: format!("cannot start the network runtime: {error}"),
            })?;
        let unreachable = |message: String| RemoteError::Unreachable {
            endpoint: shown.clone(),
            message,
        };
        let mut endpoint = Endpoint::from_shared(uri)
            .map_err(|error| RemoteError::Endpoint {
                endpoint: shown.clone(),
                reason: error.to_string(),
            })?
            .connect_timeout(Duration::from_secs(10))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30));
        if tls {
            let mut config = ClientTlsConfig::new().with_native_roots();
            if let Some(pem) = &settings.ca_certificate {
                config = config.ca_certificate(Certificate::from_pem(pem));
            }
            endpoint = endpoint.tls_config(config).map_err(|error| {
                unreachable(format!("TLS: {}", imgbuild_engine::describe(&error)))
            })?;
        }
        let channel = runtime
            .block_on(endpoint.connect())
            .map_err(|error| unreachable(imgbuild_engine::describe(&error)))?;
        let mut client = Client {
            runtime,
            channel,
            headers,
            instance,
            endpoint: shown,
            max_batch: 0,
            execution: false,
            settings: settings.clone(),
        };
        client.check_capabilities()?;
        Ok(client)
    }

    fn check_capabilities(&mut self) -> Result<(), RemoteError> {
        let request = reapi::GetCapabilitiesRequest {
            instance_name: self.instance.clone(),
        };
        let mut capabilities =
            CapabilitiesClient::with_interceptor(self.channel.clone(), self.headers.clone());
        let answer = self
            .runtime
            .block_on(capabilities.get_capabilities(request))
            .map_err(|status| from_status("GetCapabilities", &self.endpoint, &status))?
            .into_inner();
        let cache = answer.cache_capabilities.unwrap_or_default();
        if !cache.digest_functions.contains(&SHA256) {
            let offered: Vec<String> = cache
                .digest_functions
                .iter()
                .map(|function| {
                    reapi::digest_function::Value::try_from(*function).map_or_else(
                        |_| function.to_string(),
                        |value| value.as_str_name().to_owned(),
                    )
                })
                .collect();
            return Err(RemoteError::DigestFunction {
                endpoint: self.endpoint.clone(),
                offered: offered.join(", "),
            });
        }
        // Leave room for the request's own framing.
        let limit = u64::try_from(cache.max_batch_total_size_bytes).unwrap_or(0);
        self.max_batch = if limit == 0 {
            4 << 20
        } else {
            limit.min(4 << 20)
        }
        .saturating_sub(64 << 10);
        let execution = answer.execution_capabilities.unwrap_or_default();
        self.execution = execution.exec_enabled
            && (execution.digest_function == SHA256
                || execution.digest_functions.contains(&SHA256));
        if self.settings.need_execution && !self.execution {
            return Err(RemoteError::ExecutionDisabled {
                endpoint: self.endpoint.clone(),
            });
        }
        Ok(())
    }

    pub(crate) fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// One unary call, retried with backoff while the server is busy
    /// (`RESOURCE_EXHAUSTED`, e.g. BuildGrid's concurrent-RPC limit) or briefly
    /// unavailable: about half a minute in all before giving up.
    fn call<T, F, Fut>(&self, operation: &'static str, mut make: F) -> Result<T, RemoteError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let mut delay = Duration::from_millis(50);
        let mut attempts = 0;
        loop {
            match self.block_on(make()) {
                Ok(response) => return Ok(response.into_inner()),
                // A message over the size limit is RESOURCE_EXHAUSTED too, and final.
                Err(status)
                    if attempts < 10
                        && matches!(
                            status.code(),
                            tonic::Code::ResourceExhausted | tonic::Code::Unavailable
                        )
                        && !status.message().contains("larger than max") =>
                {
                    attempts += 1;
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(status) => return Err(self.status(operation, &status)),
            }
        }
    }

    pub(crate) fn service(&self) -> Service {
        InterceptedService::new(self.channel.clone(), self.headers.clone())
    }

    fn cas(&self) -> ContentAddressableStorageClient<Service> {
        ContentAddressableStorageClient::new(self.service()).max_decoding_message_size(MAX_MESSAGE)
    }

    pub(crate) fn status(&self, operation: &'static str, status: &tonic::Status) -> RemoteError {
        from_status(operation, &self.endpoint, status)
    }

    /// Whether a blob of `size` bytes travels in a batch (else by ByteStream).
    pub fn fits_batch(&self, size: u64) -> bool {
        size <= self.max_batch / 2
    }

    /// The digests among `digests` the server does not have.
    pub fn find_missing(&self, digests: &[WireDigest]) -> Result<HashSet<WireDigest>, RemoteError> {
        let mut missing = HashSet::new();
        let cas = self.cas();
        for batch in digests.chunks(8192) {
            let request = reapi::FindMissingBlobsRequest {
                instance_name: self.instance.clone(),
                blob_digests: batch.iter().map(|digest| digest.to_proto()).collect(),
                digest_function: SHA256,
            };
            let answer = self.call("FindMissingBlobs", || {
                let mut cas = cas.clone();
                let request = request.clone();
                async move { cas.find_missing_blobs(request).await }
            })?;
            for digest in &answer.missing_blob_digests {
                if let Some(digest) = WireDigest::from_proto(digest) {
                    missing.insert(digest);
                }
            }
        }
        Ok(missing)
    }

    /// Uploads small blobs in as few batches as the server's limit allows.
    pub fn upload_batch(&self, blobs: Vec<(WireDigest, Vec<u8>)>) -> Result<(), RemoteError> {
        let cas = self.cas();
        let mut pending = blobs.into_iter().peekable();
        while pending.peek().is_some() {
            let mut requests = Vec::new();
            let mut total = 0u64;
            while let Some((digest, _)) = pending.peek() {
                if !requests.is_empty() && total + digest.size + BLOB_OVERHEAD > self.max_batch {
                    break;
                }
                total += digest.size + BLOB_OVERHEAD;
                let Some((digest, data)) = pending.next() else {
                    break;
                };
                requests.push(reapi::batch_update_blobs_request::Request {
                    digest: Some(digest.to_proto()),
                    data,
                    compressor: 0,
                });
            }
            let request = reapi::BatchUpdateBlobsRequest {
                instance_name: self.instance.clone(),
                requests,
                digest_function: SHA256,
            };
            let answer = self.call("BatchUpdateBlobs", || {
                let mut cas = cas.clone();
                let request = request.clone();
                async move { cas.batch_update_blobs(request).await }
            })?;
            for response in answer.responses {
                let status = response.status.unwrap_or_default();
                if status.code != 0 {
                    return Err(RemoteError::Status {
                        operation: "BatchUpdateBlobs",
                        endpoint: self.endpoint.clone(),
                        code: format!("{:?}", tonic::Code::from(status.code)),
                        message: format!(
                            "{}: {}",
                            response
                                .digest
                                .map(|d| format!("{}/{}", d.hash, d.size_bytes))
                                .unwrap_or_default(),
                            status.message
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    pub(crate) fn prefix(&self) -> String {
        if self.instance.is_empty() {
            String::new()
        } else {
            format!("{}/", self.instance)
        }
    }

    /// Reads small blobs in batches; each is verified against its digest. A blob the
    /// server lacks is [`RemoteError::Missing`].
    pub fn read_batch(
        &self,
        digests: &[WireDigest],
    ) -> Result<Vec<(WireDigest, Vec<u8>)>, RemoteError> {
        let cas = self.cas();
        let mut out = Vec::with_capacity(digests.len());
        let mut start = 0;
        while start < digests.len() {
            let mut end = start;
            let mut total = 0u64;
            while end < digests.len()
                && (end == start || total + digests[end].size + BLOB_OVERHEAD <= self.max_batch)
            {
                total += digests[end].size + BLOB_OVERHEAD;
                end += 1;
            }
            let request = reapi::BatchReadBlobsRequest {
                instance_name: self.instance.clone(),
                digests: digests[start..end]
                    .iter()
                    .map(|digest| digest.to_proto())
                    .collect(),
                acceptable_compressors: Vec::new(),
                digest_function: SHA256,
            };
            let answer = self.call("BatchReadBlobs", || {
                let mut cas = cas.clone();
                let request = request.clone();
                async move { cas.batch_read_blobs(request).await }
            })?;
            for response in answer.responses {
                let Some(digest) = response.digest.as_ref().and_then(WireDigest::from_proto) else {
                    continue;
                };
                let status = response.status.unwrap_or_default();
                if status.code == tonic::Code::NotFound as i32 {
                    return Err(RemoteError::Missing {
                        digest: digest.to_text(),
                    });
                }
                if status.code != 0 {
                    return Err(RemoteError::Status {
                        operation: "BatchReadBlobs",
                        endpoint: self.endpoint.clone(),
                        code: format!("{:?}", tonic::Code::from(status.code)),
                        message: status.message,
                    });
                }
                verify(digest, &response.data)?;
                out.push((digest, response.data));
            }
            start = end;
        }
        let got: HashSet<WireDigest> = out.iter().map(|(digest, _)| *digest).collect();
        if let Some(absent) = digests.iter().find(|digest| !got.contains(digest)) {
            return Err(RemoteError::Missing {
                digest: absent.to_text(),
            });
        }
        Ok(out)
    }

    /// The cached result of an action, if the server has one.
    pub fn get_action_result(
        &self,
        action: WireDigest,
    ) -> Result<Option<reapi::ActionResult>, RemoteError> {
        let request = reapi::GetActionResultRequest {
            instance_name: self.instance.clone(),
            action_digest: Some(action.to_proto()),
            inline_stdout: false,
            inline_stderr: false,
            inline_output_files: Vec::new(),
            digest_function: SHA256,
        };
        let mut cache =
            ActionCacheClient::new(self.service()).max_decoding_message_size(MAX_MESSAGE);
        match self.block_on(cache.get_action_result(request)) {
            Ok(answer) => Ok(Some(answer.into_inner())),
            Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
            Err(status) => Err(self.status("GetActionResult", &status)),
        }
    }

    /// Records `result` as the result of `action`.
    pub fn update_action_result(
        &self,
        action: WireDigest,
        result: reapi::ActionResult,
    ) -> Result<(), RemoteError> {
        let request = reapi::UpdateActionResultRequest {
            instance_name: self.instance.clone(),
            action_digest: Some(action.to_proto()),
            action_result: Some(result),
            results_cache_policy: None,
            digest_function: SHA256,
        };
        let cache = ActionCacheClient::new(self.service());
        self.call("UpdateActionResult", || {
            let mut cache = cache.clone();
            let request = request.clone();
            async move { cache.update_action_result(request).await }
        })?;
        Ok(())
    }
}

/// Checks bytes against their digest.
pub(crate) fn verify(digest: WireDigest, data: &[u8]) -> Result<(), RemoteError> {
    let found = WireDigest::of(data);
    if found != digest {
        return Err(RemoteError::Corrupt {
            digest: digest.to_text(),
            found: found.to_text(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_endpoint;

    #[test]
    fn endpoints() {
        assert_eq!(
            parse_endpoint("grpc://127.0.0.1:50051").ok(),
            Some(("http://127.0.0.1:50051".to_owned(), false, String::new()))
        );
        assert_eq!(
            parse_endpoint("grpcs://cache.example:443/main/").ok(),
            Some((
                "https://cache.example:443".to_owned(),
                true,
                "main".to_owned()
            ))
        );
        for bad in [
            "127.0.0.1:50051",
            "ftp://x",
            "grpc://",
            "grpc://user:pw@host:1",
        ] {
            assert!(parse_endpoint(bad).is_err(), "{bad}");
        }
    }
}
