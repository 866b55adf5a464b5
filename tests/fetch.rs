//! `fetch`: fixed-output downloads from local HTTP servers on 127.0.0.1, end to end
//! through the binary: the hash check, `--offline`, and the shared download path's rules
//! (`builtins/src/core/http.rs`): which failures are retried on the same URL, which send
//! the download to the next mirror, resuming with a range request, redirects, exit codes
//! (1 for content that is not the promised one, 3 for the network), and credentials in
//! URLs never shown.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use common::{http_server, Reply};

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

/// Nothing listens on the port: retried, then an environment error (exit 3) naming the
/// URL.
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
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains(&url), "{stderr}");
    assert!(stderr.contains("after 4 attempts"), "{stderr}");
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

/// A recipe fetching `urls` (in order) with the given promise.
fn recipe_for(urls: &[String], algorithm: &str, hash: &str) -> String {
    let urls: Vec<String> = urls.iter().map(|url| format!("\"{url}\"")).collect();
    format!(
        "#{{ payload: fetch(#{{ urls: [{}], {algorithm}: \"{hash}\" }}) }}",
        urls.join(", ")
    )
}

/// Fetches `urls` in a fresh directory promising `body` (by `algorithm`: sha256 or
/// blake3), and checks the build succeeded and wrote exactly `body`.
fn fetch_expecting(urls: &[String], algorithm: &str, body: &[u8]) {
    let directory = tempfile::tempdir().expect("tempdir");
    let hash = match algorithm {
        "blake3" => imgbuild_store::Digest::of(body).to_hex(),
        _ => sha256_hex(body),
    };
    let output = build(directory.path(), &recipe_for(urls, algorithm, &hash), &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        std::fs::read(directory.path().join("out/payload")).expect("output"),
        body
    );
}

/// A body large enough to arrive in several reads, and not all alike.
fn large_body() -> Vec<u8> {
    (0..300_000u32)
        .map(|index| (index.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_404_is_not_retried_and_the_next_mirror_is_used() {
    let server = http_server(|request, _| match request.path.as_str() {
        "/payload.txt" => Reply::ok(BODY),
        _ => Reply::status(404),
    });
    let urls = [server.url("/missing.txt"), server.url("/payload.txt")];
    fetch_expecting(&urls, "sha256", BODY);
    assert_eq!(
        server.requests_to("/missing.txt").len(),
        1,
        "a 404 is final"
    );
    assert_eq!(server.requests_to("/payload.txt").len(), 1);
}

#[test]
fn a_404_everywhere_is_an_environment_error_naming_each_url() {
    let server = http_server(|request, _| match request.path.as_str() {
        "/forbidden" => Reply::status(403),
        _ => Reply::status(404),
    });
    let directory = tempfile::tempdir().expect("tempdir");
    let urls = [server.url("/missing"), server.url("/forbidden")];
    let output = build(
        directory.path(),
        &recipe_for(&urls, "sha256", &sha256_hex(BODY)),
        &[],
    );
    let stderr = common::unwrapped(&text(&output.stderr));
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!("{}: HTTP 404 (not found)", urls[0]))
            && stderr.contains(&format!("{}: HTTP 403 (forbidden)", urls[1])),
        "{stderr}"
    );
    assert_eq!(server.requests().len(), 2, "neither is retried");
}

#[test]
fn a_server_error_is_retried_on_the_same_url() {
    let server = http_server(|_, earlier| match earlier {
        0 => Reply::status(500),
        1 => Reply::status(503).with_header("Retry-After", "0"),
        _ => Reply::ok(BODY),
    });
    let urls = [server.url("/payload.txt")];
    fetch_expecting(&urls, "sha256", BODY);
    assert_eq!(server.requests_to("/payload.txt").len(), 3);
}

#[test]
fn a_connection_cut_mid_body_resumes_with_a_range_request() {
    let body = large_body();
    let served = body.clone();
    let server = http_server(move |request, earlier| match earlier {
        0 => Reply::ok(&served).cut_after(100_000),
        _ => Reply::ranged(request, &served),
    });
    let urls = [server.url("/large.bin")];
    // A BLAKE3 promise: its hash state carries over the resumption like SHA-256's.
    fetch_expecting(&urls, "blake3", &body);
    let requests = server.requests_to("/large.bin");
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[0].header("range"), None);
    assert_eq!(requests[1].header("range"), Some("bytes=100000-"));
}

#[test]
fn a_server_that_ignores_the_range_makes_the_download_start_over() {
    let body = large_body();
    let served = body.clone();
    // Always the whole file with 200, but the first answer stops early.
    let server = http_server(move |_, earlier| match earlier {
        0 => Reply::ok(&served).cut_after(50_000),
        _ => Reply::ok(&served),
    });
    let urls = [server.url("/large.bin")];
    // The output equals the body: the first 50,000 bytes were not kept twice.
    fetch_expecting(&urls, "sha256", &body);
    let requests = server.requests_to("/large.bin");
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[1].header("range"), Some("bytes=50000-"));
}

#[test]
fn a_resumption_answered_with_another_range_starts_over() {
    let body = large_body();
    let served = body.clone();
    let server = http_server(move |_, earlier| match earlier {
        0 => Reply::ok(&served).cut_after(70_000),
        // 206, but from byte 0 rather than the byte asked for.
        1 => Reply::status(206)
            .with_header(
                "Content-Range",
                &format!("bytes 0-{}/{}", served.len() - 1, served.len()),
            )
            .with_body(&served),
        _ => Reply::ok(&served),
    });
    let urls = [server.url("/large.bin")];
    fetch_expecting(&urls, "sha256", &body);
    let ranges: Vec<_> = server
        .requests_to("/large.bin")
        .iter()
        .map(|request| request.header("range").map(str::to_owned))
        .collect();
    assert_eq!(ranges, [None, Some("bytes=70000-".to_owned()), None]);
}

#[test]
fn a_hash_mismatch_is_a_recipe_error_naming_the_url_and_both_hashes() {
    let server = http_server(|_, _| Reply::ok(BODY));
    let directory = tempfile::tempdir().expect("tempdir");
    let url = format!(
        "http://mirror-user:mismatch-token@127.0.0.1:{}/payload.txt",
        server.port
    );
    let wrong = "0".repeat(64);
    let output = build(
        directory.path(),
        &recipe_for(std::slice::from_ref(&url), "sha256", &wrong),
        &[],
    );
    let stderr = common::unwrapped(&text(&output.stderr));
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let shown = format!("http://***@127.0.0.1:{}/payload.txt", server.port);
    assert!(
        stderr.contains(&format!(
            "{shown}: sha256 mismatch: expected {wrong}, got {}",
            sha256_hex(BODY)
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("mismatch-token"), "{stderr}");
    assert_eq!(server.requests().len(), 1, "a mismatch is not retried");
    assert!(!directory.path().join("out/payload").exists());
}

#[test]
fn a_mirror_serving_other_content_is_skipped_for_the_next() {
    let server = http_server(|request, _| match request.path.as_str() {
        "/tampered.txt" => Reply::ok(b"something else\n"),
        _ => Reply::ok(BODY),
    });
    let urls = [server.url("/tampered.txt"), server.url("/payload.txt")];
    fetch_expecting(&urls, "sha256", BODY);
    assert_eq!(server.requests_to("/tampered.txt").len(), 1);
}

/// ureq's own redirect handling panicked on a `Location` without a host (exit 101).
#[test]
fn redirects_to_file_and_data_urls_are_clear_errors() {
    for (location, scheme) in [
        ("file:///etc/passwd", "file:"),
        ("data:text/plain;base64,cm9vdDp4OjA6MA==", "data:"),
    ] {
        let server = http_server(move |_, _| Reply::redirect(location));
        let directory = tempfile::tempdir().expect("tempdir");
        let urls = [server.url("/payload.txt")];
        let output = build(
            directory.path(),
            &recipe_for(&urls, "sha256", &sha256_hex(BODY)),
            &[],
        );
        let stderr = common::unwrapped(&text(&output.stderr));
        assert_eq!(output.status.code(), Some(3), "{location}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "{}: redirected to `{location}`: only http and https redirects are followed, not `{scheme}`",
                urls[0]
            )),
            "{location}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(server.requests().len(), 1, "not retried");
    }
}

#[test]
fn relative_redirects_are_followed_and_loops_are_cut() {
    let server = http_server(|request, _| match request.path.as_str() {
        "/old/payload.txt" => Reply::redirect("../new/payload.txt"),
        "/new/payload.txt" => Reply::status(301).with_header("Location", "/final/payload.txt"),
        "/final/payload.txt" => Reply::ok(BODY),
        _ => Reply::redirect("/loop"),
    });
    let directory = tempfile::tempdir().expect("tempdir");
    let urls = [server.url("/old/payload.txt")];
    let output = build(
        directory.path(),
        &recipe_for(&urls, "sha256", &sha256_hex(BODY)),
        &[],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(server.requests_to("/final/payload.txt").len(), 1);

    let directory = tempfile::tempdir().expect("tempdir");
    let urls = [server.url("/loop")];
    let output = build(
        directory.path(),
        &recipe_for(&urls, "sha256", &sha256_hex(BODY)),
        &[],
    );
    let stderr = common::unwrapped(&text(&output.stderr));
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("more than 5 redirects"), "{stderr}");
    assert_eq!(
        server.requests_to("/loop").len(),
        6,
        "the request and 5 redirects"
    );
}

const SECRET: &str = "s3cret-t0ken";

/// Credentials in a URL are sent (basic authentication, to that origin only) and appear
/// nowhere: not on stderr, not in `--json` events, not in the derivation's log; neither
/// when the download fails (exit 3) nor when it succeeds.
#[test]
fn credentials_in_a_url_are_sent_but_never_shown() {
    // base64("ci:s3cret-t0ken")
    let expected = "Basic Y2k6czNjcmV0LXQwa2Vu";
    let server = http_server(move |request, _| {
        let port = request
            .header("host")
            .unwrap_or_default()
            .rsplit(':')
            .next()
            .unwrap_or_default()
            .to_owned();
        match request.path.as_str() {
            "/missing" => Reply::status(404),
            "/broken" => Reply::status(500),
            "/elsewhere" => Reply::redirect(&format!("http://localhost:{port}/public")),
            "/public" => Reply::ok(BODY),
            "/moved" => Reply::redirect("/payload.txt"),
            "/payload.txt" if request.header("authorization") == Some(expected) => Reply::ok(BODY),
            _ => Reply::status(401),
        }
    });
    let with_credentials =
        |path: &str| format!("http://ci:{SECRET}@127.0.0.1:{}{path}", server.port);
    let check_hidden = |directory: &Path, output: &std::process::Output, outcome: &str| {
        let stdout = text(&output.stdout);
        let stderr = text(&output.stderr);
        for (stream, content) in [("stdout", &stdout), ("stderr", &stderr)] {
            assert!(!content.contains(SECRET), "{outcome}: {stream}: {content}");
            assert!(!content.contains("ci:"), "{outcome}: {stream}: {content}");
        }
        let events = common::json_lines(&stdout);
        let derivation = events
            .iter()
            .find_map(|event| event.get("derivation").and_then(|id| id.as_str()))
            .expect("an event names the derivation");
        let log = common::imgbuild_run(directory, &["--store", "store", "log", derivation]);
        log.success();
        assert!(
            !log.stdout.contains(SECRET),
            "{outcome}: log: {}",
            log.stdout
        );
        assert!(
            log.stdout.contains("http://***@127.0.0.1:"),
            "{outcome}: log: {}",
            log.stdout
        );
        format!("{stdout}{stderr}")
    };

    // Every URL fails: a 404, and a 500 (retried, the retries logged).
    let directory = tempfile::tempdir().expect("tempdir");
    let urls = [with_credentials("/missing"), with_credentials("/broken")];
    let output = build(
        directory.path(),
        &recipe_for(&urls, "sha256", &sha256_hex(BODY)),
        &["--json"],
    );
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    // With --json, the error is in the `failed` event on stdout.
    let shown = check_hidden(directory.path(), &output, "failure");
    assert!(
        shown.contains(&format!(
            "http://***@127.0.0.1:{}/broken: HTTP 500 (internal server error) (after 4 attempts)",
            server.port
        )),
        "{shown}"
    );

    // Success after a same-origin redirect (credentials kept) and a 404.
    let directory = tempfile::tempdir().expect("tempdir");
    let urls = [with_credentials("/missing"), with_credentials("/moved")];
    let output = build(
        directory.path(),
        &recipe_for(&urls, "sha256", &sha256_hex(BODY)),
        &["--json"],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    check_hidden(directory.path(), &output, "success");
    let sent: Vec<_> = server
        .requests_to("/payload.txt")
        .iter()
        .map(|request| request.header("authorization").map(str::to_owned))
        .collect();
    assert_eq!(sent, [Some(expected.to_owned())]);

    // A redirect to another origin drops them.
    let directory = tempfile::tempdir().expect("tempdir");
    let urls = [with_credentials("/elsewhere")];
    let output = build(
        directory.path(),
        &recipe_for(&urls, "sha256", &sha256_hex(BODY)),
        &["--json"],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    check_hidden(directory.path(), &output, "redirected");
    let public = server.requests_to("/public");
    assert_eq!(public.len(), 1);
    assert_eq!(public[0].header("authorization"), None);
    assert_eq!(
        server.requests_to("/elsewhere")[0].header("authorization"),
        Some(expected)
    );
}

/// The message does not repeat the credentials (the report's source excerpt is the
/// recipe's own text, which does show them).
#[test]
fn an_evaluation_error_does_not_show_credentials_either() {
    let directory = tempfile::tempdir().expect("tempdir");
    let recipe = format!(
        "fetch(#{{ url: \"ftp://ci:{SECRET}@host/x\", sha256: \"{}\" }})",
        "a".repeat(64)
    );
    let output = build(directory.path(), &recipe, &[]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let message = stderr
        .lines()
        .find(|line| line.contains("error:"))
        .unwrap_or_default();
    assert!(
        message.contains("fetch: `ftp://***@host/x` is not an http, https or file URL"),
        "{stderr}"
    );
    assert!(!message.contains(SECRET), "{stderr}");
}
