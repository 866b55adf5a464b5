//! Outputs and actions against a real REAPI engine (BuildGrid, see
//! `scripts/buildgrid.sh`; skipped with a message when none is configured):
//!
//! - a tree with every kind of entry — owners, setuid, sticky, xattrs, symlink,
//!   hardlink, fifo, device, and a 9 MiB file with a run of zeros that crosses by
//!   ByteStream — goes from one fresh store to another unchanged;
//! - an output already uploaded is entirely present in the CAS, and describing it in
//!   another store gives the same description;
//! - a worker whose builder has another version refuses the action, and the client
//!   sees the worker's message.
//!
//! Every file's content names the run, so nothing the shared server already holds can
//! answer for it.

mod shared;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use bazel_remote_apis::build::bazel::remote::execution::v2::ExecuteResponse;
use imgbuild_derivation::{Derivation, Value};
use imgbuild_engine::{BuildConfig, BuildFn};
use imgbuild_remote::transfer::Transfer;
use imgbuild_remote::WorkerOptions;
use imgbuild_remote::{action, serve, Client, Machine, RemoteError, Settings, WireDigest};
use imgbuild_store::{Entry, EntryKind, Metadata, OutputObject, OutputRecord, Store, Tree};
use imgbuild_test_support::{require, require_buildgrid, skip, Missing};
use shared::{connect, path, unique};

fn open(directory: &tempfile::TempDir, name: &str) -> Store {
    Store::open(&directory.path().join(name)).unwrap_or_else(|error| panic!("open {name}: {error}"))
}

fn meta(mode: u32, uid: u32, gid: u32) -> Metadata {
    Metadata {
        mode,
        uid,
        gid,
        mtime: 1_700_000_000,
        ..Metadata::with_mode(mode)
    }
}

/// Stores `files` (path, mode, content) in `store` as one tree output, plus `extra`.
fn tree_output(
    store: &Store,
    files: &[(&str, Metadata, &[u8])],
    extra: Vec<(&str, Entry)>,
) -> OutputRecord {
    let mut tree = Tree::new(meta(0o755, 0, 0));
    for (name, metadata, content) in files {
        let info = store.put_blob(content, false).expect("store a file");
        tree.insert(
            &path(name),
            Entry::file(info.digest, info.size, metadata.clone()),
        )
        .unwrap_or_else(|error| panic!("insert {name}: {error}"));
    }
    for (name, entry) in extra {
        tree.insert(&path(name), entry)
            .unwrap_or_else(|error| panic!("insert {name}: {error}"));
    }
    let tree = store.put_tree(&tree).expect("store the tree");
    OutputRecord {
        object: OutputObject::Tree { tree },
        secret: false,
    }
}

/// Every CAS blob an output consists of: files, directory objects, the description.
fn wire_digests(
    client: &Client,
    store: &Store,
    record: &OutputRecord,
    files: &[&[u8]],
) -> Vec<WireDigest> {
    let OutputObject::Tree { tree } = &record.object else {
        panic!("a tree output")
    };
    let mut digests: Vec<WireDigest> = files.iter().map(|bytes| WireDigest::of(bytes)).collect();
    for (_, bytes) in store.tree_objects(tree).expect("the tree's objects") {
        digests.push(WireDigest::of(&bytes));
    }
    let described = Transfer::new(client, store)
        .describe(record)
        .expect("describe");
    digests.push(described.digest);
    digests.retain(|digest| digest.size > 0);
    digests
}

/// 9 MiB: 4 MiB named by the run, 2 MiB of zeros, 3 MiB named by the run.
fn big_file(tag: &str) -> Vec<u8> {
    let mut bytes = vec![0u8; 9 << 20];
    let mut output = blake3::Hasher::new().update(tag.as_bytes()).finalize_xof();
    output.fill(&mut bytes[..4 << 20]);
    output.fill(&mut bytes[6 << 20..]);
    bytes
}

#[test]
fn a_tree_with_every_kind_of_entry_goes_from_store_to_store_unchanged() {
    let endpoint = require!(require_buildgrid());
    let client = connect(&endpoint);
    let tag = unique();
    let directory = tempfile::tempdir().expect("a temporary directory");
    let (source, target) = (open(&directory, "source"), open(&directory, "target"));
    let text = |what: &str| format!("{what} of run {tag}\n").into_bytes();
    let (motd, tool, su, big) = (text("motd"), text("tool"), text("su"), big_file(&tag));
    assert!(
        !client.fits_batch(big.len() as u64),
        "the big file must be streamed"
    );
    let mut with_xattrs = meta(0o644, 0, 0);
    with_xattrs
        .xattrs
        .insert(b"user.comment".to_vec(), b"round trip".to_vec());
    with_xattrs.xattrs.insert(
        b"security.capability".to_vec(),
        vec![1, 0, 0, 2, 0, 32, 0, 0],
    );
    let files: [(&str, Metadata, &[u8]); 4] = [
        ("etc/motd", with_xattrs, &motd),
        ("bin/tool", meta(0o755, 1000, 1000), &tool),
        ("bin/su", meta(0o4755, 0, 42), &su),
        ("var/big.img", meta(0o600, 0, 0), &big),
    ];
    let device = Entry {
        kind: EntryKind::CharDevice { major: 1, minor: 3 },
        meta: meta(0o666, 0, 0),
    };
    let extra = vec![
        (
            "bin/tool-again",
            Entry::hardlink(path("bin/tool"), meta(0o755, 1000, 1000)),
        ),
        ("etc/tool", Entry::symlink("../bin/tool", meta(0o777, 0, 0))),
        ("run/pipe", Entry::fifo(meta(0o620, 0, 5))),
        ("dev/null", device),
        ("tmp", Entry::directory(meta(0o1777, 0, 0))),
    ];
    let record = tree_output(&source, &files, extra);
    let contents: Vec<&[u8]> = files.iter().map(|(_, _, content)| *content).collect();
    let wanted = wire_digests(&client, &source, &record, &contents);
    let missing = client.find_missing(&wanted).expect("FindMissingBlobs");
    assert!(
        missing.contains(&WireDigest::of(&big)) && missing.contains(&WireDigest::of(&motd)),
        "this run's files are new to the server"
    );

    let description = Transfer::new(&client, &source)
        .upload(&record)
        .expect("upload");
    let missing = client.find_missing(&wanted).expect("FindMissingBlobs");
    assert!(missing.is_empty(), "missing after the upload: {missing:?}");
    let downloaded = Transfer::new(&client, &target)
        .download(description)
        .expect("download");
    assert_eq!(downloaded, record);
    let OutputObject::Tree { tree } = &record.object else {
        unreachable!("a tree output")
    };
    assert_eq!(
        target.load_tree(tree).expect("the tree arrived"),
        source.load_tree(tree).expect("the source tree")
    );
    for (name, _, content) in &files {
        let loaded = target.load_tree(tree).expect("the tree arrived");
        let Some(EntryKind::File { blob, .. }) = loaded.get(&path(name)).map(|entry| &entry.kind)
        else {
            panic!("{name} is not a file in the downloaded tree")
        };
        let bytes = target
            .read_blob(blob)
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        assert!(bytes == *content, "{name} differs after the round trip");
    }
    // Again, with everything already here: the same record, nothing broken.
    let again = Transfer::new(&client, &target)
        .download(description)
        .expect("download again");
    assert_eq!(again, record);
}

#[test]
fn an_uploaded_output_is_whole_on_the_server_and_described_alike_everywhere() {
    let endpoint = require!(require_buildgrid());
    let client = connect(&endpoint);
    let tag = unique();
    let directory = tempfile::tempdir().expect("a temporary directory");
    let (one, other) = (open(&directory, "one"), open(&directory, "other"));
    let (first, second) = (format!("first {tag}\n"), format!("second {tag}\n"));
    let files: [(&str, Metadata, &[u8]); 2] = [
        ("a", meta(0o644, 0, 0), first.as_bytes()),
        ("b/c", meta(0o644, 0, 0), second.as_bytes()),
    ];
    let record = tree_output(&one, &files, Vec::new());
    let wanted = wire_digests(
        &client,
        &one,
        &record,
        &[first.as_bytes(), second.as_bytes()],
    );
    let before = client.find_missing(&wanted).expect("FindMissingBlobs");
    assert_eq!(
        before.len(),
        wanted.len(),
        "this run's output is new to the server"
    );

    let transfer = Transfer::new(&client, &one);
    let description = transfer.upload(&record).expect("the first upload");
    let missing = client.find_missing(&wanted).expect("FindMissingBlobs");
    assert!(missing.is_empty(), "missing after the upload: {missing:?}");
    // Nothing is missing, so the second upload has nothing to send.
    assert_eq!(
        transfer.upload(&record).expect("the second upload"),
        description
    );

    // Another store with the same output describes it with the same bytes.
    assert_eq!(tree_output(&other, &files, Vec::new()), record);
    let elsewhere = Transfer::new(&client, &other)
        .describe(&record)
        .expect("describe");
    assert_eq!(elsewhere.digest, description);
    assert_eq!(
        Transfer::new(&client, &other)
            .upload(&record)
            .expect("upload"),
        description
    );
}

/// What came back from Execute, briefly.
fn summary(answer: &Result<ExecuteResponse, RemoteError>) -> String {
    match answer {
        Ok(response) => {
            let result = response.result.clone().unwrap_or_default();
            let stderr = String::from_utf8_lossy(&result.stderr_raw).into_owned();
            format!("exit code {}: {stderr}", result.exit_code)
        }
        Err(error) => error.to_string(),
    }
}

/// Serves one lease with a worker whose builders all have version 99 and whose
/// progress lines go to `lines`.
fn spawn_worker(
    endpoint: String,
    bot_id: String,
    lines: mpsc::Sender<String>,
) -> std::thread::JoinHandle<Result<(), RemoteError>> {
    std::thread::spawn(move || {
        let directory = tempfile::tempdir().expect("a temporary directory");
        let store = open(&directory, "worker");
        let client = Client::connect(&Settings {
            endpoint,
            ..Settings::default()
        })?;
        let say = move |line: &str| {
            let _ = lines.send(line.to_owned());
        };
        let options = WorkerOptions {
            bot_id,
            max_leases: Some(1),
            kind_version: &|_: &str| Some(99),
            imgbuild_version: "test",
            say: &say,
        };
        let machine = Machine {
            store: &store,
            builders: &|_: &str| -> Option<BuildFn> { None },
            config: &BuildConfig::default(),
        };
        serve(&client, &machine, &options)
    })
}

#[test]
fn a_worker_with_another_builder_version_refuses_the_action() {
    let endpoint = require!(require_buildgrid());
    let tag = unique();
    let name = format!("refused-{tag}");
    let derivation = Derivation {
        kind: "text".to_owned(),
        kind_version: 1,
        name: name.clone(),
        args: Value::Map([("text".to_owned(), Value::String(tag.clone()))].into()),
        inputs: Vec::new(),
        fixed: false,
        location: None,
        secret: false,
        origin: None,
    };
    let prepared = action::prepare(&derivation.cache_key_encoding(&[]), &[], false);
    let digest = prepared.digest;
    let client = connect(&endpoint);
    client
        .upload_batch(prepared.blobs)
        .expect("upload the action");
    let (answer_sender, answer) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = answer_sender.send(client.execute(digest, true));
    });
    // A worker idle on this engine takes a queued action at once. If one does, this
    // test cannot tell its refusal from another's, and its own worker must not start:
    // it would refuse other people's actions.
    match answer.recv_timeout(Duration::from_secs(5)) {
        Err(_) => {}
        Ok(early @ (Ok(_) | Err(RemoteError::Execution(_)))) => {
            skip(&Missing::new(format!(
                "another worker connected to {endpoint} took the action ({})",
                summary(&early)
            )));
            return;
        }
        Ok(Err(error)) => panic!("Execute failed: {error}"),
    }

    let bot_id = format!("imgbuild-remote-test-{tag}");
    let (lines_sender, lines) = mpsc::channel::<String>();
    let worker = spawn_worker(endpoint.clone(), bot_id.clone(), lines_sender);
    let answer = answer.recv_timeout(Duration::from_secs(180));
    let said: Vec<String> = lines.try_iter().collect();
    // Whether this test's worker was given this test's action, its lines say (they
    // name the derivation).
    let ours = said.iter().any(|line| line.contains(&name));
    let message = match answer {
        Ok(Err(RemoteError::Execution(message))) if message.contains(&bot_id) => message,
        answer if ours => panic!(
            "expected the refusal of {bot_id}, got {}; the worker said {said:?}",
            answer.map_or_else(
                |_| "no answer within 180 s".to_owned(),
                |answer| summary(&answer)
            )
        ),
        Ok(other) => {
            skip(&Missing::new(format!(
                "a worker that connected to {endpoint} meanwhile took the action ({}); this \
                 test's worker said {said:?}",
                summary(&other)
            )));
            return;
        }
        Err(_) if said.iter().any(|line| line.contains("refused lease")) => {
            skip(&Missing::new(format!(
                "this test's worker was given another client's action on {endpoint}: {said:?}"
            )));
            return;
        }
        Err(_) => panic!("no answer from Execute within 180 s; the worker said {said:?}"),
    };
    for expected in [
        "version 99",
        "needs version 1",
        name.as_str(),
        "FailedPrecondition",
    ] {
        assert!(message.contains(expected), "`{expected}` in: {message}");
    }
    // The worker served its one lease and stops.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !worker.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        worker.is_finished(),
        "the worker did not stop after one lease"
    );
    match worker.join() {
        Ok(Ok(())) => {}
        Ok(Err(error)) => panic!("the worker failed: {error}"),
        Err(_) => panic!("the worker panicked"),
    }
}
