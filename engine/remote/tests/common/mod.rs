//! In-process fake REAPI servers for the fault tests: a tonic server on a `127.0.0.1:0`
//! listener, run on a tokio runtime in a background thread, serving what a test puts
//! together — a Capabilities service that offers chosen digest functions and records
//! the `authorization` header it receives, and an in-memory CAS (with ByteStream) whose
//! stored bytes a test may replace to serve a blob that does not match its digest.
//!
//! A real engine verifies what it stores and serves; these fakes deliberately do not,
//! so the client's own checks are what the tests exercise.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bazel_remote_apis::build::bazel::remote::execution::v2 as reapi;
use bazel_remote_apis::google::bytestream::{
    byte_stream_server::ByteStream, QueryWriteStatusRequest, QueryWriteStatusResponse, ReadRequest,
    ReadResponse, WriteRequest, WriteResponse,
};
use bazel_remote_apis::google::rpc::Status as RpcStatus;
use reapi::capabilities_server::Capabilities;
use reapi::content_addressable_storage_server::ContentAddressableStorage;
use tonic::{Request, Response, Status, Streaming};

/// `DigestFunction.SHA256`.
pub const SHA256: i32 = 1;
/// `DigestFunction.BLAKE3`.
pub const BLAKE3: i32 = 9;

/// A running fake server; dropping it asks the server to stop.
pub struct FakeServer {
    /// `grpc://127.0.0.1:PORT`.
    pub endpoint: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Serves `routes` on a fresh port of 127.0.0.1 until the returned server is dropped.
pub fn serve(routes: tonic::service::Routes) -> FakeServer {
    let (address_sender, address_receiver) = std::sync::mpsc::channel();
    let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("fake-reapi".to_owned())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a tokio runtime for the fake server");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind the fake server to 127.0.0.1:0");
                let address = listener.local_addr().expect("the fake server's address");
                let _ = address_sender.send(address);
                let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
                let _ = tonic::transport::Server::builder()
                    .add_routes(routes)
                    .serve_with_incoming_shutdown(incoming, async {
                        let _ = stop.await;
                    })
                    .await;
            });
        })
        .expect("spawn the fake server's thread");
    let address = address_receiver
        .recv_timeout(Duration::from_secs(10))
        .expect("the fake server starts listening within 10 s");
    FakeServer {
        endpoint: format!("grpc://{address}"),
        shutdown: Some(shutdown),
    }
}

/// Capabilities offering `digest_functions`; records every `authorization` header.
#[derive(Clone, Default)]
pub struct FakeCapabilities {
    /// What `cache_capabilities.digest_functions` lists.
    pub digest_functions: Vec<i32>,
    /// `cache_capabilities.max_batch_total_size_bytes` (0: no limit stated).
    pub max_batch_total_size_bytes: i64,
    /// The `authorization` values received, in order.
    pub authorization: Arc<Mutex<Vec<String>>>,
}

impl FakeCapabilities {
    /// A server that speaks SHA-256, like BuildGrid.
    pub fn sha256() -> FakeCapabilities {
        FakeCapabilities {
            digest_functions: vec![SHA256],
            ..FakeCapabilities::default()
        }
    }
}

#[tonic::async_trait]
impl Capabilities for FakeCapabilities {
    async fn get_capabilities(
        &self,
        request: Request<reapi::GetCapabilitiesRequest>,
    ) -> Result<Response<reapi::ServerCapabilities>, Status> {
        if let Some(value) = request.metadata().get("authorization") {
            let value = value.to_str().unwrap_or("(not ASCII)").to_owned();
            self.authorization
                .lock()
                .expect("the header log is not poisoned")
                .push(value);
        }
        Ok(Response::new(reapi::ServerCapabilities {
            cache_capabilities: Some(reapi::CacheCapabilities {
                digest_functions: self.digest_functions.clone(),
                max_batch_total_size_bytes: self.max_batch_total_size_bytes,
                ..Default::default()
            }),
            ..Default::default()
        }))
    }
}

/// An in-memory CAS and ByteStream: blobs keyed by `hash/size`, stored and served
/// without any check.
#[derive(Clone, Default)]
pub struct MemoryCas {
    /// The bytes served for each `hash/size` (a test may replace them).
    pub blobs: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    /// How many blobs BatchUpdateBlobs and ByteStream.Write received.
    pub received: Arc<AtomicUsize>,
}

impl MemoryCas {
    /// Serves `bytes` for the digest `hash/size`.
    pub fn insert(&self, key: String, bytes: Vec<u8>) {
        self.blobs
            .lock()
            .expect("the blob map is not poisoned")
            .insert(key, bytes);
    }

    fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.blobs
            .lock()
            .expect("the blob map is not poisoned")
            .get(key)
            .cloned()
    }
}

fn key(digest: &reapi::Digest) -> String {
    format!("{}/{}", digest.hash, digest.size_bytes)
}

fn unimplemented<T>(method: &str) -> Result<T, Status> {
    Err(Status::unimplemented(format!(
        "the fake CAS has no {method}"
    )))
}

#[tonic::async_trait]
impl ContentAddressableStorage for MemoryCas {
    async fn find_missing_blobs(
        &self,
        request: Request<reapi::FindMissingBlobsRequest>,
    ) -> Result<Response<reapi::FindMissingBlobsResponse>, Status> {
        let missing_blob_digests = request
            .into_inner()
            .blob_digests
            .into_iter()
            .filter(|digest| self.get(&key(digest)).is_none())
            .collect();
        Ok(Response::new(reapi::FindMissingBlobsResponse {
            missing_blob_digests,
        }))
    }

    async fn batch_update_blobs(
        &self,
        request: Request<reapi::BatchUpdateBlobsRequest>,
    ) -> Result<Response<reapi::BatchUpdateBlobsResponse>, Status> {
        let mut responses = Vec::new();
        for update in request.into_inner().requests {
            let digest = update.digest.unwrap_or_default();
            self.insert(key(&digest), update.data);
            self.received.fetch_add(1, Ordering::SeqCst);
            responses.push(reapi::batch_update_blobs_response::Response {
                digest: Some(digest),
                status: Some(RpcStatus::default()),
            });
        }
        Ok(Response::new(reapi::BatchUpdateBlobsResponse { responses }))
    }

    async fn batch_read_blobs(
        &self,
        request: Request<reapi::BatchReadBlobsRequest>,
    ) -> Result<Response<reapi::BatchReadBlobsResponse>, Status> {
        let responses = request
            .into_inner()
            .digests
            .into_iter()
            .map(|digest| {
                let (data, code) = match self.get(&key(&digest)) {
                    Some(data) => (data, 0),
                    None => (Vec::new(), tonic::Code::NotFound as i32),
                };
                reapi::batch_read_blobs_response::Response {
                    digest: Some(digest),
                    data,
                    compressor: 0,
                    status: Some(RpcStatus {
                        code,
                        ..Default::default()
                    }),
                }
            })
            .collect();
        Ok(Response::new(reapi::BatchReadBlobsResponse { responses }))
    }

    type GetTreeStream = tokio_stream::Empty<Result<reapi::GetTreeResponse, Status>>;

    async fn get_tree(
        &self,
        _: Request<reapi::GetTreeRequest>,
    ) -> Result<Response<Self::GetTreeStream>, Status> {
        unimplemented("GetTree")
    }

    async fn split_blob(
        &self,
        _: Request<reapi::SplitBlobRequest>,
    ) -> Result<Response<reapi::SplitBlobResponse>, Status> {
        unimplemented("SplitBlob")
    }

    type GetChunkMappingStream =
        tokio_stream::Empty<Result<reapi::GetChunkMappingResponse, Status>>;

    async fn get_chunk_mapping(
        &self,
        _: Request<reapi::GetChunkMappingRequest>,
    ) -> Result<Response<Self::GetChunkMappingStream>, Status> {
        unimplemented("GetChunkMapping")
    }

    async fn splice_blob(
        &self,
        _: Request<reapi::SpliceBlobRequest>,
    ) -> Result<Response<reapi::SpliceBlobResponse>, Status> {
        unimplemented("SpliceBlob")
    }

    async fn register_chunk_mapping(
        &self,
        _: Request<Streaming<reapi::RegisterChunkMappingRequest>>,
    ) -> Result<Response<reapi::RegisterChunkMappingResponse>, Status> {
        unimplemented("RegisterChunkMapping")
    }
}

/// The `hash/size` a ByteStream resource name ends with.
fn resource_key(resource: &str) -> Option<String> {
    let (_, digest) = resource.rsplit_once("blobs/")?;
    Some(digest.to_owned())
}

#[tonic::async_trait]
impl ByteStream for MemoryCas {
    type ReadStream = tokio_stream::Iter<std::vec::IntoIter<Result<ReadResponse, Status>>>;

    async fn read(
        &self,
        request: Request<ReadRequest>,
    ) -> Result<Response<Self::ReadStream>, Status> {
        let resource = request.into_inner().resource_name;
        let data = resource_key(&resource)
            .and_then(|key| self.get(&key))
            .ok_or_else(|| Status::not_found(format!("no blob {resource}")))?;
        let chunks: Vec<Result<ReadResponse, Status>> = data
            .chunks(64 << 10)
            .map(|chunk| {
                Ok(ReadResponse {
                    data: chunk.to_vec(),
                })
            })
            .collect();
        Ok(Response::new(tokio_stream::iter(chunks)))
    }

    async fn write(
        &self,
        request: Request<Streaming<WriteRequest>>,
    ) -> Result<Response<WriteResponse>, Status> {
        let mut stream = request.into_inner();
        let mut resource = String::new();
        let mut data = Vec::new();
        while let Some(message) = stream.message().await? {
            if resource.is_empty() {
                resource = message.resource_name;
            }
            data.extend_from_slice(&message.data);
            if message.finish_write {
                break;
            }
        }
        let key = resource_key(&resource)
            .ok_or_else(|| Status::invalid_argument(format!("bad resource `{resource}`")))?;
        let committed_size = data.len() as i64;
        self.insert(key, data);
        self.received.fetch_add(1, Ordering::SeqCst);
        Ok(Response::new(WriteResponse { committed_size }))
    }

    async fn query_write_status(
        &self,
        _: Request<QueryWriteStatusRequest>,
    ) -> Result<Response<QueryWriteStatusResponse>, Status> {
        unimplemented("QueryWriteStatus")
    }
}
