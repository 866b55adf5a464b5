//! `fetch`: fixed-output downloads from a local HTTP server on 127.0.0.1.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

const BODY: &[u8] = b"payload served by the test\n";

/// Serves `BODY` to at most `requests` connections, then stops.
fn serve(requests: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let address = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 2048];
            let _ = stream.read(&mut request);
            let header = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                BODY.len()
            );
            let _ = stream.write_all(header.as_bytes());
            let _ = stream.write_all(BODY);
        }
    });
    format!("http://{address}/payload.txt")
}

fn sha256_hex(bytes: &[u8]) -> String {
    let output = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child.stdin.take().expect("stdin").write_all(bytes)?;
            child.wait_with_output()
        })
        .expect("sha256sum");
    String::from_utf8_lossy(&output.stdout)[..64].to_owned()
}

fn build(directory: &Path, recipe: &str, extra: &[&str]) -> std::process::Output {
    std::fs::write(directory.join("fetch.rhai"), recipe).expect("write recipe");
    Command::new(env!("CARGO_BIN_EXE_imgbuild"))
        .current_dir(directory)
        .args(["--store", "store", "build", "fetch.rhai", "-o", "out"])
        .args(extra)
        .env("NO_COLOR", "1")
        .output()
        .expect("run imgbuild")
}

#[test]
fn fetch_checks_the_hash_and_then_works_offline() {
    let directory = tempfile::tempdir().expect("tempdir");
    let url = serve(4);
    let recipe = format!(
        "#{{ payload: fetch(#{{ url: \"{url}\", sha256: \"{}\" }}) }}",
        sha256_hex(BODY)
    );
    let output = build(directory.path(), &recipe, &[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        std::fs::read(directory.path().join("out/payload")).expect("output"),
        BODY
    );
    // Same recipe, offline: served from the store.
    let output = build(directory.path(), &recipe, &["--offline"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn fetch_with_a_wrong_hash_fails_and_publishes_nothing() {
    let directory = tempfile::tempdir().expect("tempdir");
    let url = serve(4);
    let wrong = "0".repeat(64);
    let recipe = format!("#{{ payload: fetch(#{{ url: \"{url}\", sha256: \"{wrong}\" }}) }}");
    let output = build(directory.path(), &recipe, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("sha256 mismatch"), "{stderr}");
    assert!(!directory.path().join("out/payload").exists());
    let verify = Command::new(env!("CARGO_BIN_EXE_imgbuild"))
        .current_dir(directory.path())
        .args(["--store", "store", "store", "info"])
        .output()
        .expect("store info");
    let info = String::from_utf8_lossy(&verify.stdout);
    let blobs_line = info
        .lines()
        .find(|line| line.starts_with("blobs"))
        .unwrap_or_default()
        .to_owned();
    assert!(
        blobs_line.split_whitespace().nth(1) == Some("0"),
        "a blob was published: {info}"
    );
}

#[test]
fn fetch_from_a_server_that_is_down_names_the_url() {
    let directory = tempfile::tempdir().expect("tempdir");
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port();
    let url = format!("http://127.0.0.1:{port}/gone.txt");
    let recipe = format!(
        "#{{ payload: fetch(#{{ url: \"{url}\", sha256: \"{}\" }}) }}",
        "a".repeat(64)
    );
    let output = build(directory.path(), &recipe, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&url), "{stderr}");
}

#[test]
fn fetch_offline_without_the_file_is_a_clear_error() {
    let directory = tempfile::tempdir().expect("tempdir");
    let recipe = format!(
        "#{{ payload: fetch(#{{ url: \"http://127.0.0.1:9/x\", sha256: \"{}\" }}) }}",
        "b".repeat(64)
    );
    let output = build(directory.path(), &recipe, &["--offline"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--offline"), "{stderr}");
}

#[test]
fn fetch_rejects_bad_arguments_at_evaluation() {
    let directory = tempfile::tempdir().expect("tempdir");
    for (recipe, expected) in [
        (
            "fetch(#{ url: \"ftp://x/y\", sha256: \"00\" })",
            "not an http, https or file URL",
        ),
        (
            "fetch(#{ url: \"http://x/y\", sha256: \"00\" })",
            "64 hexadecimal characters",
        ),
        (
            "fetch(#{ url: \"http://x/y\" })",
            "exactly one of `sha256` and `blake3`",
        ),
        ("fetch(#{ ur: \"http://x/y\" })", "did you mean `url`?"),
    ] {
        let output = build(directory.path(), recipe, &[]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{recipe}: {stderr}");
        assert!(stderr.contains(expected), "{recipe}: {stderr}");
    }
}
