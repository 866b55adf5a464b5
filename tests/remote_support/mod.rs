//! What the remote tests share: one test at a time, nonces, workers as child processes,
//! builds in the background, a cuttable TCP proxy, and where BuildGrid keeps a blob.

#![allow(dead_code)]

use std::io::Read;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::common;

/// Holds the lock that runs the remote tests one at a time.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Text unique to this run (content that no earlier run put in the remote cache).
pub fn nonce() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |time| time.as_nanos());
    format!("{}-{nanos}", std::process::id())
}

/// Where the BuildGrid that `scripts/buildgrid.sh` runs keeps the blob with these bytes.
pub fn cas_object(bytes: &[u8]) -> Result<PathBuf, imgbuild_test_support::Missing> {
    use sha2::Digest;
    let hash = hex::encode(sha2::Sha256::digest(bytes));
    let directory = std::env::var_os("IMGBUILD_BUILDGRID_DIR").map_or_else(
        || common::workspace().join("target/buildgrid"),
        PathBuf::from,
    );
    let path = directory
        .join("cas/cas/objects")
        .join(&hash[..2])
        .join(&hash[2..]);
    if path.is_file() {
        Ok(path)
    } else {
        Err(imgbuild_test_support::Missing::new(format!(
            "the blob is not at {} (is the server the one scripts/buildgrid.sh runs?)",
            path.display()
        )))
    }
}

/// An `imgbuild worker` child process with its own store, logging to a file.
pub struct Worker {
    child: Child,
    log: PathBuf,
}

impl Worker {
    /// Starts a worker with id `id` (and a nonce) in `directory`.
    pub fn start(directory: &Path, endpoint: &str, id: &str) -> Worker {
        let log = directory.join(format!("worker-{id}.log"));
        let file = std::fs::File::create(&log).expect("worker log");
        let child = common::imgbuild(directory)
            .args(["worker", "--remote", endpoint, "--id"])
            .arg(format!("{id}-{}", super::remote_support::nonce()))
            .arg("--store")
            .arg(format!("worker-{id}-store"))
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("start a worker");
        let worker = Worker { child, log };
        assert!(
            worker.wait_for("ready", Duration::from_secs(30)),
            "worker {id} did not start:\n{}",
            worker.log()
        );
        worker
    }

    /// What it printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until its log contains `text`.
    pub fn wait_for(&self, text: &str, limit: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < limit {
            if self.log().contains(text) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Kills it at once (SIGKILL), as a crash would.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops it and returns its log.
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.log()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `imgbuild build recipe.rhai --store store -o out ARGS` in the background.
pub fn spawn_build(directory: &Path, arguments: &[&str]) -> Child {
    common::imgbuild(directory)
        .args(["build", "recipe.rhai", "--store", "store", "-o", "out"])
        .args(arguments)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start a build")
}

/// Waits for a background build (at most five minutes).
pub fn finish(mut child: Child) -> common::Run {
    let started = Instant::now();
    loop {
        if child.try_wait().expect("wait for the build").is_some() {
            break;
        }
        if started.elapsed() > Duration::from_secs(300) {
            let _ = child.kill();
            panic!("the build did not finish in five minutes");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stdout.take() {
        let _ = pipe.read_to_string(&mut stdout);
    }
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    let code = child.wait().expect("wait for the build").code();
    common::Run {
        code,
        stdout,
        stderr,
    }
}

/// An endpoint nothing listens on.
pub fn closed_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    drop(listener);
    format!("grpc://127.0.0.1:{port}")
}

/// A TCP proxy in front of the server that can be cut: listener closed and every
/// connection shut down, as if the server had stopped.
pub struct Proxy {
    port: u16,
    cut: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    /// Starts a proxy to `endpoint` (`grpc://HOST:PORT`).
    pub fn start(endpoint: &str) -> Proxy {
        let target = endpoint
            .trim_start_matches("grpc://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("address").port();
        let cut = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let (flag, open) = (cut.clone(), connections.clone());
        std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        let Ok(server) = TcpStream::connect(&target) else {
                            continue;
                        };
                        let pairs = [
                            (client.try_clone(), server.try_clone()),
                            (server.try_clone(), client.try_clone()),
                        ];
                        let mut list = open.lock().unwrap_or_else(PoisonError::into_inner);
                        list.push(client);
                        list.push(server);
                        for (from, to) in pairs {
                            if let (Ok(mut from), Ok(mut to)) = (from, to) {
                                std::thread::spawn(move || {
                                    let _ = std::io::copy(&mut from, &mut to);
                                    let _ = to.shutdown(Shutdown::Both);
                                });
                            }
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Proxy {
            port,
            cut,
            connections,
        }
    }

    /// The proxy's endpoint.
    pub fn endpoint(&self) -> String {
        format!("grpc://127.0.0.1:{}", self.port)
    }

    /// Stops accepting and shuts every connection down.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for stream in self
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}
