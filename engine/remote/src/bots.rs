//! The Remote Workers API (`google.devtools.remoteworkers.v1test2`, "Bots"), the part
//! of it a worker uses: `CreateBotSession` and `UpdateBotSession`.
//!
//! No published crate carries these messages, so they are declared here with prost's
//! derive, field numbers as in the API's `bots.proto` and `worker.proto` (the ones
//! BuildGrid serves). A lease's payload is a packed `Action`; its result a packed
//! `ActionResult`; its status a `google.rpc.Status`.

use std::time::Duration;

use bazel_remote_apis::google::protobuf::{Any, Timestamp};
use bazel_remote_apis::google::rpc::Status;
use tonic::codegen::http::uri::PathAndQuery;

use crate::client::Service;

/// `BotStatus.OK`.
pub const BOT_OK: i32 = 1;
/// `LeaseState.PENDING`.
pub const LEASE_PENDING: i32 = 1;
/// `LeaseState.ACTIVE`.
pub const LEASE_ACTIVE: i32 = 2;
/// `LeaseState.COMPLETED`.
pub const LEASE_COMPLETED: i32 = 4;

/// A worker's session with the engine.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BotSession {
    /// Assigned by the server at creation; echoed in every update.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Chosen by the worker, unique among workers.
    #[prost(string, tag = "2")]
    pub bot_id: String,
    /// `BotStatus`.
    #[prost(int32, tag = "3")]
    pub status: i32,
    /// What the worker offers.
    #[prost(message, optional, tag = "4")]
    pub worker: Option<Worker>,
    /// Work assigned to it.
    #[prost(message, repeated, tag = "5")]
    pub leases: Vec<Lease>,
    /// When the server forgets the session.
    #[prost(message, optional, tag = "6")]
    pub expire_time: Option<Timestamp>,
    /// The server's revision counter: empty at creation, then echoed.
    #[prost(string, tag = "7")]
    pub version: String,
}

/// One unit of work.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Lease {
    /// Deprecated.
    #[prost(string, tag = "1")]
    pub assignment: String,
    /// `LeaseState`.
    #[prost(int32, tag = "2")]
    pub state: i32,
    /// How it ended.
    #[prost(message, optional, tag = "3")]
    pub status: Option<Status>,
    /// What a worker needs to take it.
    #[prost(message, optional, tag = "4")]
    pub requirements: Option<Worker>,
    /// When it lapses.
    #[prost(message, optional, tag = "5")]
    pub expire_time: Option<Timestamp>,
    /// Deprecated.
    #[prost(message, optional, tag = "6")]
    pub inline_assignment: Option<Any>,
    /// Its identifier.
    #[prost(string, tag = "7")]
    pub id: String,
    /// The work: a packed `Action`.
    #[prost(message, optional, tag = "8")]
    pub payload: Option<Any>,
    /// The outcome: a packed `ActionResult`.
    #[prost(message, optional, tag = "9")]
    pub result: Option<Any>,
}

/// A worker's description.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Worker {
    /// Its devices; the first one's properties are matched against actions' platforms.
    #[prost(message, repeated, tag = "1")]
    pub devices: Vec<Device>,
    /// Properties of the worker as a whole.
    #[prost(message, repeated, tag = "2")]
    pub properties: Vec<Property>,
    /// Settings, e.g. `capacity`.
    #[prost(message, repeated, tag = "3")]
    pub configs: Vec<Property>,
}

/// One device of a worker.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Device {
    /// Its name.
    #[prost(string, tag = "1")]
    pub handle: String,
    /// Its properties.
    #[prost(message, repeated, tag = "2")]
    pub properties: Vec<Property>,
}

/// A key and value (`Worker.Property`, `Worker.Config`, `Device.Property`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Property {
    /// The key.
    #[prost(string, tag = "1")]
    pub key: String,
    /// The value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `CreateBotSession`'s request.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CreateBotSessionRequest {
    /// The instance name.
    #[prost(string, tag = "1")]
    pub parent: String,
    /// The session to create.
    #[prost(message, optional, tag = "2")]
    pub bot_session: Option<BotSession>,
}

/// `UpdateBotSession`'s request.
#[derive(Clone, PartialEq, prost::Message)]
pub struct UpdateBotSessionRequest {
    /// The session's name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// The session as the worker sees it.
    #[prost(message, optional, tag = "2")]
    pub bot_session: Option<BotSession>,
}

/// Calls one Bots method; the server long-polls for work up to about 80 % of `wait`.
pub(crate) async fn call<Request: prost::Message + 'static>(
    service: Service,
    method: &'static str,
    request: Request,
    wait: Duration,
) -> Result<BotSession, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(service);
    grpc.ready()
        .await
        .map_err(|error| tonic::Status::unavailable(format!("not ready: {error}")))?;
    let codec = tonic_prost::ProstCodec::<Request, BotSession>::default();
    let mut request = tonic::Request::new(request);
    request.set_timeout(wait);
    let path = PathAndQuery::from_static(method);
    Ok(grpc.unary(request, path, codec).await?.into_inner())
}

/// `/google.devtools.remoteworkers.v1test2.Bots/CreateBotSession`.
pub(crate) const CREATE: &str = "/google.devtools.remoteworkers.v1test2.Bots/CreateBotSession";
/// `/google.devtools.remoteworkers.v1test2.Bots/UpdateBotSession`.
pub(crate) const UPDATE: &str = "/google.devtools.remoteworkers.v1test2.Bots/UpdateBotSession";

/// Packs a message into an `Any` with its type URL.
pub fn pack(type_name: &str, message: &impl prost::Message) -> Any {
    Any {
        type_url: format!("type.googleapis.com/{type_name}"),
        value: message.encode_to_vec(),
    }
}
