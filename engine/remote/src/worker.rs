//! `imgbuild worker`: a bot on the engine's Remote Workers API that executes imgbuild
//! actions with the same builders as a local build.
//!
//! The loop: create a bot session; long-poll for a lease; for each lease decode the
//! Action ([`crate::action`]), check that this worker's builder for the kind has the
//! version the derivation names (else refuse the lease with `FAILED_PRECONDITION` and
//! a message the client shows), fetch the inputs' outputs from the CAS into the
//! worker's own store (verified), run the builder under the store's build lock — its
//! sandboxed steps in this machine's sandbox, with this worker's settings (mirror,
//! offline) — upload the output and the log, and complete the lease with the
//! ActionResult. While a build runs the session is refreshed every two seconds, so the
//! engine can tell a live worker from a dead one and re-queue a dead one's lease.

use std::time::{Duration, Instant};

use bazel_remote_apis::build::bazel::remote::execution::v2 as reapi;
use bazel_remote_apis::google::rpc::Status;
use imgbuild_derivation::{decode_derivation, Derivation, Domain, DrvId, Identity};
use imgbuild_engine::{
    BuildConfig, BuildContext, Builders, Executor, InputOutput, LocalExecutor, NoReporter,
};
use imgbuild_store::{Digest, OutputIndex, Store};
use prost::Message;

use crate::action;
use crate::bots::{self, BotSession, CreateBotSessionRequest, UpdateBotSessionRequest};
use crate::client::Client;
use crate::digest::WireDigest;
use crate::error::RemoteError;
use crate::transfer::Transfer;

/// `google.rpc.Code.FAILED_PRECONDITION`.
const FAILED_PRECONDITION: i32 = 9;
/// How long one long-poll for work may take.
const POLL: Duration = Duration::from_secs(20);
/// How often a running lease is reported alive.
const HEARTBEAT: Duration = Duration::from_secs(2);

/// How a worker runs.
pub struct WorkerOptions<'a> {
    /// Its bot id (unique among the engine's workers).
    pub bot_id: String,
    /// Stop after this many leases (tests, benchmarks); `None` runs until killed.
    pub max_leases: Option<u64>,
    /// The version of this worker's builder for a kind, if it has one.
    pub kind_version: &'a (dyn Fn(&str) -> Option<u32> + Sync),
    /// This worker's imgbuild version, for refusals.
    pub imgbuild_version: &'a str,
    /// Progress lines (the CLI prints them).
    pub say: &'a (dyn Fn(&str) + Sync),
}

/// What the worker builds with.
pub struct Machine<'a> {
    /// The worker's own store.
    pub store: &'a Store,
    /// The builders (the builtins' registry).
    pub builders: &'a dyn Builders,
    /// This machine's settings.
    pub config: &'a BuildConfig,
}

/// Serves leases until `max_leases` or an error talking to the engine.
pub fn serve(
    client: &Client,
    machine: &Machine<'_>,
    options: &WorkerOptions<'_>,
) -> Result<(), RemoteError> {
    let mut session = create(client, options)?;
    (options.say)(&format!(
        "worker {} ready at {} (session {})",
        options.bot_id, client.endpoint, session.name
    ));
    let mut served = 0u64;
    loop {
        if options.max_leases.is_some_and(|max| served >= max) {
            return Ok(());
        }
        let lease = session.leases.iter().position(|lease| {
            lease.state == bots::LEASE_ACTIVE || lease.state == bots::LEASE_PENDING
        });
        let Some(index) = lease else {
            session.leases.clear();
            session = update_or_recreate(client, &session, POLL, options)?;
            continue;
        };
        session.leases[index].state = bots::LEASE_ACTIVE;
        let lease = session.leases[index].clone();
        let (status, result) = std::thread::scope(|scope| {
            let work = scope.spawn(|| run_lease(client, machine, options, &lease));
            // Heartbeats while the build runs; the session's version moves with them.
            let mut last = Instant::now();
            while !work.is_finished() {
                std::thread::sleep(Duration::from_millis(100));
                if last.elapsed() >= HEARTBEAT {
                    last = Instant::now();
                    if let Ok(next) = update(client, &session, Duration::from_secs(10)) {
                        session.version = next.version;
                        session.name = next.name;
                    }
                }
            }
            work.join().unwrap_or_else(|_| {
                (
                    Status {
                        code: 13,
                        message: "the worker's build thread panicked".to_owned(),
                        details: Vec::new(),
                    },
                    None,
                )
            })
        });
        served += 1;
        let mut completed = lease;
        completed.state = bots::LEASE_COMPLETED;
        completed.status = Some(status);
        completed.result = result
            .map(|result| bots::pack("build.bazel.remote.execution.v2.ActionResult", &result));
        session.leases = vec![completed];
        let wait = if options.max_leases.is_some_and(|max| served >= max) {
            Duration::from_secs(5)
        } else {
            POLL
        };
        session = update_or_recreate(client, &session, wait, options)?;
    }
}

fn create(client: &Client, options: &WorkerOptions<'_>) -> Result<BotSession, RemoteError> {
    let session = BotSession {
        bot_id: options.bot_id.clone(),
        status: bots::BOT_OK,
        worker: Some(bots::Worker {
            devices: vec![bots::Device {
                handle: "imgbuild".to_owned(),
                properties: Vec::new(),
            }],
            properties: Vec::new(),
            configs: vec![bots::Property {
                key: "capacity".to_owned(),
                value: "1".to_owned(),
            }],
        }),
        ..Default::default()
    };
    let request = CreateBotSessionRequest {
        parent: client.instance.clone(),
        bot_session: Some(session),
    };
    client
        .block_on(bots::call(client.service(), bots::CREATE, request, POLL))
        .map_err(|status| crate::error::from_status("CreateBotSession", &client.endpoint, &status))
}

/// `UpdateBotSession`, retried while the engine is busy or briefly unreachable (about
/// two minutes in all: a restarting server is waited for, a gone one is not).
fn update(
    client: &Client,
    session: &BotSession,
    wait: Duration,
) -> Result<BotSession, tonic::Status> {
    let request = UpdateBotSessionRequest {
        name: session.name.clone(),
        bot_session: Some(session.clone()),
    };
    let mut delay = Duration::from_millis(200);
    let started = Instant::now();
    loop {
        match client.block_on(bots::call(
            client.service(),
            bots::UPDATE,
            request.clone(),
            wait,
        )) {
            Err(status)
                if matches!(
                    status.code(),
                    tonic::Code::ResourceExhausted | tonic::Code::Unavailable
                ) && started.elapsed() < Duration::from_secs(120) =>
            {
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
}

/// [`update`]; a session the engine forgot (it expired while we were away) is created
/// again.
fn update_or_recreate(
    client: &Client,
    session: &BotSession,
    wait: Duration,
    options: &WorkerOptions<'_>,
) -> Result<BotSession, RemoteError> {
    match update(client, session, wait) {
        Ok(next) => Ok(next),
        Err(status) if status.code() == tonic::Code::InvalidArgument => create(client, options),
        Err(status) => Err(crate::error::from_status(
            "UpdateBotSession",
            &client.endpoint,
            &status,
        )),
    }
}

fn refuse(message: String) -> (Status, Option<reapi::ActionResult>) {
    (
        Status {
            code: FAILED_PRECONDITION,
            message,
            details: Vec::new(),
        },
        None,
    )
}

fn ok(result: reapi::ActionResult) -> (Status, Option<reapi::ActionResult>) {
    (Status::default(), Some(result))
}

/// Runs one lease: `(status, result)` for the engine.
fn run_lease(
    client: &Client,
    machine: &Machine<'_>,
    options: &WorkerOptions<'_>,
    lease: &bots::Lease,
) -> (Status, Option<reapi::ActionResult>) {
    let started = Instant::now();
    match run_action(client, machine, options, lease) {
        Ok(Outcome::Built { name, result }) => {
            (options.say)(&format!(
                "built {name} in {:.1} s",
                started.elapsed().as_secs_f64()
            ));
            ok(result)
        }
        Ok(Outcome::Failed { name, result }) => {
            (options.say)(&format!("{name} failed"));
            ok(result)
        }
        Ok(Outcome::Refused(message)) => {
            (options.say)(&format!("refused lease {}: {message}", lease.id));
            refuse(message)
        }
        Err(error) => {
            (options.say)(&format!("lease {}: {error}", lease.id));
            // UNAVAILABLE: the engine gives the action to a worker again.
            (
                Status {
                    code: 14,
                    message: format!("worker {}: {error}", options.bot_id),
                    details: Vec::new(),
                },
                None,
            )
        }
    }
}

enum Outcome {
    Built {
        name: String,
        result: reapi::ActionResult,
    },
    Failed {
        name: String,
        result: reapi::ActionResult,
    },
    Refused(String),
}

fn read(transfer: &Transfer<'_>, digest: Option<&reapi::Digest>) -> Result<Vec<u8>, RemoteError> {
    let digest = digest
        .and_then(WireDigest::from_proto)
        .ok_or_else(|| RemoteError::Missing {
            digest: "(no digest)".to_owned(),
        })?;
    transfer.read_blob(digest)
}

fn run_action(
    client: &Client,
    machine: &Machine<'_>,
    options: &WorkerOptions<'_>,
    lease: &bots::Lease,
) -> Result<Outcome, RemoteError> {
    let transfer = Transfer::new(client, machine.store);
    let Some(payload) = &lease.payload else {
        return Ok(Outcome::Refused("the lease carries no action".to_owned()));
    };
    let action = if payload
        .type_url
        .ends_with("/build.bazel.remote.execution.v2.Action")
    {
        reapi::Action::decode(payload.value.as_slice())
    } else {
        let digest = reapi::Digest::decode(payload.value.as_slice()).ok();
        let bytes = read(&transfer, digest.as_ref())?;
        reapi::Action::decode(bytes.as_slice())
    };
    let Ok(action) = action else {
        return Ok(Outcome::Refused(
            "the lease's action does not decode".to_owned(),
        ));
    };
    let command =
        reapi::Command::decode(read(&transfer, action.command_digest.as_ref())?.as_slice())
            .unwrap_or_default();
    let secret = command.arguments.get(2).map(String::as_str) == Some(action::SECRET);
    if command.arguments.get(..2) != Some(&action::ARGUMENTS.map(str::to_owned)[..])
        || command.arguments.len() > 2 + usize::from(secret)
    {
        return Ok(Outcome::Refused(format!(
            "worker {} runs imgbuild actions only; this one runs {:?}",
            options.bot_id, command.arguments
        )));
    }
    let root =
        reapi::Directory::decode(read(&transfer, action.input_root_digest.as_ref())?.as_slice())
            .unwrap_or_default();
    let derivation_file = root
        .files
        .iter()
        .find(|file| file.name == action::DERIVATION);
    let inputs_directory = root
        .directories
        .iter()
        .find(|directory| directory.name == action::INPUTS);
    let (Some(derivation_file), Some(inputs_directory)) = (derivation_file, inputs_directory)
    else {
        return Ok(Outcome::Refused(
            "the action's input root is not an imgbuild derivation".to_owned(),
        ));
    };
    let encoding = read(&transfer, derivation_file.digest.as_ref())?;
    let inputs_listing =
        reapi::Directory::decode(read(&transfer, inputs_directory.digest.as_ref())?.as_slice())
            .unwrap_or_default();
    let decoded = match decode_derivation(&encoding) {
        Ok(decoded) if decoded.domain != Domain::Recipe => decoded,
        Ok(_) => {
            return Ok(Outcome::Refused(
                "the derivation is not encoded by output digests".to_owned(),
            ))
        }
        Err(error) => return Ok(Outcome::Refused(error.to_string())),
    };
    match (options.kind_version)(&decoded.kind) {
        None => {
            return Ok(Outcome::Refused(format!(
                "worker {} (imgbuild {}) has no builder for kind `{}`",
                options.bot_id, options.imgbuild_version, decoded.kind
            )))
        }
        Some(version) if version != decoded.kind_version => {
            return Ok(Outcome::Refused(format!(
            "worker {} (imgbuild {}) builds `{}` version {version}, but `{}` needs version {}: \
                 run the same imgbuild on the client and the workers",
            options.bot_id,
            options.imgbuild_version,
            decoded.kind,
            decoded.name,
            decoded.kind_version
        )))
        }
        Some(_) => {}
    }
    if inputs_listing.files.len() != decoded.inputs.len() {
        return Ok(Outcome::Refused(
            "the action's inputs do not match its derivation".to_owned(),
        ));
    }
    let mut inputs = Vec::with_capacity(decoded.inputs.len());
    for (index, (file, expected)) in inputs_listing.files.iter().zip(&decoded.inputs).enumerate() {
        let description = file
            .digest
            .as_ref()
            .and_then(WireDigest::from_proto)
            .ok_or_else(|| RemoteError::Missing {
                digest: file.name.clone(),
            })?;
        let record = transfer.download(description)?;
        if record.digest().as_bytes() != expected {
            return Ok(Outcome::Refused(format!(
                "input {index} of `{}` is not the output its derivation names",
                decoded.name
            )));
        }
        inputs.push(InputOutput {
            name: format!("input {index}"),
            identity: Identity(*expected),
            record,
            origin: None,
        });
    }
    let derivation = Derivation {
        kind: decoded.kind.clone(),
        kind_version: decoded.kind_version,
        name: decoded.name.clone(),
        args: decoded.args,
        inputs: (0..inputs.len() as u32).map(DrvId).collect(),
        fixed: decoded.domain == Domain::Fixed,
        location: None,
        secret,
        origin: None,
    };
    (options.say)(&format!(
        "building {} ({})",
        derivation.name, derivation.kind
    ));
    let cache_key = Digest::from(blake3::hash(&encoding));
    let _lock = machine.store.lock_build(&cache_key)?;
    let found = machine
        .store
        .get_output(OutputIndex::CacheKey, &cache_key)
        .ok()
        .flatten();
    let mut context = BuildContext {
        store: machine.store,
        derivation: &derivation,
        inputs,
        log: Vec::new(),
        reporter: &NoReporter,
        config: machine.config,
        keys: None,
    };
    let built = match found {
        Some(record) => Ok(record),
        None => LocalExecutor {
            builders: machine.builders,
        }
        .execute(&mut context),
    };
    let mut log = context.log;
    match built {
        Ok(record) => {
            machine
                .store
                .put_output(OutputIndex::CacheKey, &cache_key, &record)?;
            let output = transfer.upload(&record)?;
            let log_digest = upload_log(client, &log)?;
            Ok(Outcome::Built {
                name: derivation.name,
                result: action::result(output, log_digest),
            })
        }
        Err(error) => {
            let message = imgbuild_engine::describe(&error);
            log.extend_from_slice(format!("error: {message}\n").as_bytes());
            let log_digest = upload_log(client, &log)?;
            Ok(Outcome::Failed {
                name: derivation.name,
                result: reapi::ActionResult {
                    exit_code: if error.is_environment() { 3 } else { 1 },
                    stderr_raw: message.into_bytes(),
                    stderr_digest: log_digest.map(WireDigest::to_proto),
                    ..Default::default()
                },
            })
        }
    }
}

fn upload_log(client: &Client, log: &[u8]) -> Result<Option<WireDigest>, RemoteError> {
    if log.is_empty() {
        return Ok(None);
    }
    let digest = WireDigest::of(log);
    client.upload_batch(vec![(digest, log.to_vec())])?;
    Ok(Some(digest))
}
