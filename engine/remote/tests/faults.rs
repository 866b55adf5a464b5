//! Faults a real engine would hardly produce, injected by the in-process fake servers
//! of `common`: a server that hashes with BLAKE3 only, one that rejects every
//! credential, one that records the headers it receives, an endpoint nobody listens
//! on, malformed endpoints and headers, and a CAS that serves bytes which do not match
//! their digest (in a batch and in a ByteStream) — which must fail as
//! [`RemoteError::Corrupt`] and leave nothing in the store. Also: an upload sends only
//! what the CAS reports missing.

mod common;

use std::sync::atomic::Ordering;

use bazel_remote_apis::build::bazel::remote::execution::v2 as reapi;
use bazel_remote_apis::google::bytestream::byte_stream_server::ByteStreamServer;
use common::{serve, FakeCapabilities, FakeServer, MemoryCas, BLAKE3};
use imgbuild_remote::transfer::Transfer;
use imgbuild_remote::{Client, RemoteError, Settings, WireDigest};
use imgbuild_store::{Digest, Entry, Metadata, OutputObject, OutputRecord, Store, Tree, TreePath};
use reapi::capabilities_server::CapabilitiesServer;
use reapi::content_addressable_storage_server::ContentAddressableStorageServer;
use tonic::service::Routes;

const TOKEN: &str = "Bearer s3cret-token";

fn settings(endpoint: &str) -> Settings {
    Settings {
        endpoint: endpoint.to_owned(),
        headers: vec![("authorization".to_owned(), TOKEN.to_owned())],
        ..Settings::default()
    }
}

/// The error connecting with `settings` fails with.
fn refused(settings: &Settings) -> RemoteError {
    match Client::connect(settings) {
        Ok(_) => panic!("connecting to {} succeeded", settings.endpoint),
        Err(error) => error,
    }
}

fn connect(endpoint: &str) -> Client {
    Client::connect(&settings(endpoint))
        .unwrap_or_else(|error| panic!("connect to the fake server {endpoint}: {error}"))
}

/// Capabilities (SHA-256, with this batch limit) and an in-memory CAS with ByteStream.
fn cas_server(max_batch_total_size_bytes: i64) -> (FakeServer, MemoryCas) {
    let cas = MemoryCas::default();
    let capabilities = FakeCapabilities {
        max_batch_total_size_bytes,
        ..FakeCapabilities::sha256()
    };
    let server = serve(
        Routes::new(CapabilitiesServer::new(capabilities))
            .add_service(ContentAddressableStorageServer::new(cas.clone()))
            .add_service(ByteStreamServer::new(cas.clone())),
    );
    (server, cas)
}

#[test]
fn a_server_without_sha256_is_refused_naming_what_it_offers() {
    let server = serve(Routes::new(CapabilitiesServer::new(FakeCapabilities {
        digest_functions: vec![BLAKE3],
        ..FakeCapabilities::default()
    })));
    let error = refused(&settings(&server.endpoint));
    assert!(
        matches!(error, RemoteError::DigestFunction { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    for expected in ["BLAKE3", "SHA256", server.endpoint.as_str()] {
        assert!(message.contains(expected), "`{expected}` in: {message}");
    }
    assert!(error.is_environment());
}

fn reject(_: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
    Err(tonic::Status::unauthenticated("bad token"))
}

#[test]
fn rejected_credentials_are_reported_without_the_token() {
    let server = serve(
        Routes::new(CapabilitiesServer::with_interceptor(
            FakeCapabilities::sha256(),
            reject,
        ))
        .add_service(ContentAddressableStorageServer::with_interceptor(
            MemoryCas::default(),
            reject,
        )),
    );
    let error = refused(&settings(&server.endpoint));
    assert!(
        matches!(error, RemoteError::Credentials { .. }),
        "{error:?}"
    );
    assert!(error.is_environment());
    let message = error.to_string();
    assert!(message.contains("bad token"), "{message}");
    assert!(message.contains(&server.endpoint), "{message}");
    assert!(
        !message.contains(TOKEN) && !message.contains("s3cret"),
        "the token leaked: {message}"
    );
}

#[test]
fn headers_go_with_the_calls() {
    let capabilities = FakeCapabilities::sha256();
    let seen = capabilities.authorization.clone();
    let server = serve(Routes::new(CapabilitiesServer::new(capabilities)));
    let _client = connect(&server.endpoint);
    let seen = seen.lock().expect("the header log is not poisoned").clone();
    assert_eq!(seen, vec![TOKEN.to_owned()]);
}

#[test]
fn a_port_nobody_listens_on_is_unreachable() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .local_addr()
            .expect("the listener's address")
            .port()
    };
    let endpoint = format!("grpc://127.0.0.1:{port}");
    let error = refused(&settings(&endpoint));
    assert!(
        matches!(error, RemoteError::Unreachable { .. }),
        "{error:?}"
    );
    assert!(error.is_environment());
    assert!(error.to_string().contains(&endpoint), "{error}");
}

#[test]
fn malformed_endpoints_are_refused_before_any_connection() {
    for endpoint in ["127.0.0.1:1", "ftp://x", "grpc://user:pw@h:1", "grpc://"] {
        let error = refused(&settings(endpoint));
        assert!(
            matches!(error, RemoteError::Endpoint { .. }),
            "{endpoint}: {error:?}"
        );
        assert!(
            error.to_string().contains("is not a remote endpoint"),
            "{endpoint}: {error}"
        );
    }
}

#[test]
fn credentials_in_an_endpoint_are_not_echoed() {
    let error = refused(&settings("grpc://user:hunter2-s3cret@cache.example:1"));
    assert!(matches!(error, RemoteError::Endpoint { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("--remote-header"), "{message}");
    assert!(
        !message.contains("hunter2"),
        "the password leaked: {message}"
    );
}

#[test]
fn a_header_that_cannot_be_sent_is_refused_without_its_value() {
    let mut settings = settings("grpc://127.0.0.1:1");
    settings.headers = vec![("authorization".to_owned(), "s3cret\ntoken".to_owned())];
    let error = refused(&settings);
    assert!(matches!(error, RemoteError::Endpoint { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("authorization"), "{message}");
    assert!(!message.contains("s3cret"), "the value leaked: {message}");
}

/// A store holding a tree output with one file, and an empty store to download into.
struct Fixture {
    _directory: tempfile::TempDir,
    source: Store,
    target: Store,
    record: OutputRecord,
    tree: Digest,
    blob: Digest,
    /// The file's wire digest.
    wire: WireDigest,
    content: Vec<u8>,
}

fn fixture(size: usize) -> Fixture {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let source = Store::open(&directory.path().join("source")).expect("open the source store");
    let target = Store::open(&directory.path().join("target")).expect("open the target store");
    let content: Vec<u8> = (0..size).map(|index| (index % 251) as u8).collect();
    let info = source.put_blob(&content, false).expect("store the file");
    let mut tree = Tree::new(Metadata::default_directory());
    let path = TreePath::parse("data").expect("a valid path");
    tree.insert(
        &path,
        Entry::file(info.digest, info.size, Metadata::default_file()),
    )
    .expect("insert the file");
    let tree = source.put_tree(&tree).expect("store the tree");
    Fixture {
        _directory: directory,
        source,
        target,
        record: OutputRecord {
            object: OutputObject::Tree { tree },
            secret: false,
        },
        tree,
        blob: info.digest,
        wire: WireDigest::of(&content),
        content,
    }
}

/// Downloads the fixture's output into its target store, expecting `Corrupt` naming
/// `digest`, and checks that nothing of the output was kept.
fn expect_corrupt(client: &Client, fixture: &Fixture, description: WireDigest, digest: WireDigest) {
    match Transfer::new(client, &fixture.target).download(description) {
        Err(error @ RemoteError::Corrupt { .. }) => {
            assert!(error.is_bad_data());
            assert!(error.to_string().contains(&digest.to_text()), "{error}");
        }
        Err(error) => panic!("expected a corrupt blob, got {error:?}"),
        Ok(record) => panic!("downloaded {record:?} from a corrupt CAS"),
    }
    assert!(!fixture.target.has_blob(&fixture.blob), "the blob was kept");
    assert!(!fixture.target.has_tree(&fixture.tree), "the tree was kept");
}

/// After a fault is repaired the same download succeeds (so the fault alone failed it).
fn expect_download(client: &Client, fixture: &Fixture, description: WireDigest) {
    let record = Transfer::new(client, &fixture.target)
        .download(description)
        .expect("download from the repaired CAS");
    assert_eq!(record, fixture.record);
    let bytes = fixture
        .target
        .read_blob(&fixture.blob)
        .expect("the blob arrived");
    assert_eq!(bytes, fixture.content);
}

#[test]
fn a_batch_read_that_does_not_match_its_digest_is_corrupt() {
    let (server, cas) = cas_server(0);
    let client = connect(&server.endpoint);
    let digest = WireDigest::of(b"the right bytes");
    cas.insert(digest.to_text(), b"the wrong bytes".to_vec());
    match client.read_batch(&[digest]) {
        Err(RemoteError::Corrupt { digest: named, .. }) => assert_eq!(named, digest.to_text()),
        Err(error) => panic!("expected a corrupt blob, got {error:?}"),
        Ok(blobs) => panic!("read {} mismatching blobs", blobs.len()),
    }
    cas.insert(digest.to_text(), b"the right bytes".to_vec());
    let blobs = client.read_batch(&[digest]).expect("read the right bytes");
    assert_eq!(blobs, vec![(digest, b"the right bytes".to_vec())]);
}

#[test]
fn a_tampered_file_in_a_batch_leaves_nothing_in_the_store() {
    let (server, cas) = cas_server(0);
    let client = connect(&server.endpoint);
    let fixture = fixture(10_000);
    assert!(client.fits_batch(fixture.wire.size));
    let description = Transfer::new(&client, &fixture.source)
        .upload(&fixture.record)
        .expect("upload to the fake CAS");
    let mut tampered = fixture.content.clone();
    tampered[5_000] ^= 1;
    cas.insert(fixture.wire.to_text(), tampered);
    expect_corrupt(&client, &fixture, description, fixture.wire);
    cas.insert(fixture.wire.to_text(), fixture.content.clone());
    expect_download(&client, &fixture, description);
}

#[test]
fn a_tampered_description_leaves_nothing_in_the_store() {
    let (server, cas) = cas_server(0);
    let client = connect(&server.endpoint);
    let fixture = fixture(1_000);
    let description = Transfer::new(&client, &fixture.source)
        .upload(&fixture.record)
        .expect("upload to the fake CAS");
    let right = cas.blobs.lock().expect("not poisoned")[&description.to_text()].clone();
    let wrong = String::from_utf8_lossy(&right).replace("\"secret\":false", "\"secret\":true ");
    assert_eq!(wrong.len(), right.len(), "the tampering keeps the size");
    cas.insert(description.to_text(), wrong.into_bytes());
    expect_corrupt(&client, &fixture, description, description);
    cas.insert(description.to_text(), right);
    expect_download(&client, &fixture, description);
}

#[test]
fn a_tampered_or_overlong_stream_leaves_nothing_in_the_store() {
    // A 256 KiB batch limit: the 300 KiB file crosses by ByteStream both ways.
    let (server, cas) = cas_server(256 << 10);
    let client = connect(&server.endpoint);
    let fixture = fixture(300 << 10);
    assert!(!client.fits_batch(fixture.wire.size));
    let description = Transfer::new(&client, &fixture.source)
        .upload(&fixture.record)
        .expect("upload to the fake CAS");
    let mut tampered = fixture.content.clone();
    tampered[200 << 10] ^= 1;
    cas.insert(fixture.wire.to_text(), tampered);
    expect_corrupt(&client, &fixture, description, fixture.wire);
    let mut overlong = fixture.content.clone();
    overlong.extend_from_slice(&[0; 100 << 10]);
    cas.insert(fixture.wire.to_text(), overlong);
    expect_corrupt(&client, &fixture, description, fixture.wire);
    cas.insert(fixture.wire.to_text(), fixture.content.clone());
    expect_download(&client, &fixture, description);
}

#[test]
fn an_upload_sends_only_what_the_cas_lacks() {
    let (server, cas) = cas_server(256 << 10);
    let client = connect(&server.endpoint);
    // One streamed file, one directory object, one description.
    let fixture = fixture(300 << 10);
    let transfer = Transfer::new(&client, &fixture.source);
    let first = transfer.upload(&fixture.record).expect("the first upload");
    assert_eq!(cas.received.load(Ordering::SeqCst), 3);
    let second = transfer.upload(&fixture.record).expect("the second upload");
    assert_eq!(first, second);
    assert_eq!(
        cas.received.load(Ordering::SeqCst),
        3,
        "the second upload sent blobs"
    );
    cas.blobs
        .lock()
        .expect("not poisoned")
        .remove(&fixture.wire.to_text());
    transfer.upload(&fixture.record).expect("the third upload");
    assert_eq!(
        cas.received.load(Ordering::SeqCst),
        4,
        "only the lost file is sent again"
    );
    assert_eq!(
        cas.blobs
            .lock()
            .expect("not poisoned")
            .get(&fixture.wire.to_text()),
        Some(&fixture.content)
    );
}

#[test]
fn many_small_blobs_are_split_into_requests_that_fit() {
    // A server that takes messages of up to 4 MiB, gRPC's default and BuildGrid's.
    let cas = MemoryCas::default();
    let server = serve(
        Routes::new(CapabilitiesServer::new(FakeCapabilities::sha256())).add_service(
            ContentAddressableStorageServer::new(cas.clone()).max_decoding_message_size(4 << 20),
        ),
    );
    let client = connect(&server.endpoint);
    // 50 000 blobs of 16 bytes: 800 kB of data, but each travels with its digest (64
    // hex digits and a size): about 5 MB of requests in all.
    let blobs: Vec<(WireDigest, Vec<u8>)> = (0..50_000u32)
        .map(|index| {
            let bytes = format!("{index:016}").into_bytes();
            (WireDigest::of(&bytes), bytes)
        })
        .collect();
    client
        .upload_batch(blobs)
        .unwrap_or_else(|error| panic!("upload 50 000 small blobs: {error}"));
    assert_eq!(cas.received.load(Ordering::SeqCst), 50_000);
}
