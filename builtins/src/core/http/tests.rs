//! Unit tests of the download path: redaction, classification, redirects, ranges.

use imgbuild_engine::BuildError;

use super::failure::*;
use super::transfer::*;
use super::url::*;
use super::*;

#[test]
fn credentials_are_redacted() {
    for (url, expected) in [
        ("https://user:token@host/x", "https://***@host/x"),
        (
            "https://token@host:8443/x?y=1",
            "https://***@host:8443/x?y=1",
        ),
        ("http://user:p%40ss@host", "http://***@host"),
        ("http://a:b@c@host/d@e", "http://***@host/d@e"),
        ("https://host/path@with-at", "https://host/path@with-at"),
        ("https://host/x", "https://host/x"),
        ("file:///srv/repo", "file:///srv/repo"),
        ("data:text/plain,a@b", "data:text/plain,a@b"),
        ("not a url", "not a url"),
    ] {
        assert_eq!(redact(url), expected, "{url}");
    }
}

#[test]
fn userinfo_becomes_basic_authorization() {
    assert_eq!(
        split_userinfo("https://user:token@host/x"),
        ("https://host/x".to_owned(), Some("user:token".to_owned()))
    );
    // base64("user:token")
    assert_eq!(basic_authorization("user:token"), "Basic dXNlcjp0b2tlbg==");
    // base64("u@x:p w")
    assert_eq!(basic_authorization("u%40x:p%20w"), "Basic dUB4OnAgdw==");
    assert_eq!(percent_decode("100%"), b"100%");
    assert_eq!(percent_decode("%zz%41"), b"%zzA");
}

fn status(status: u16) -> Failure {
    Failure::Status {
        status,
        retry_after: None,
    }
}

#[test]
fn failures_are_classified() {
    use Blame::{Environment, Recipe};
    let mismatch = Failure::HashMismatch {
        algorithm: HashAlgorithm::Sha256,
        expected: [0; 32],
        actual: [1; 32],
        size: 3,
    };
    let cut = Failure::Cut {
        received: 5,
        detail: "reset".to_owned(),
    };
    let redirect = Failure::Redirect {
        location: "file:///etc/passwd".to_owned(),
        reason: "no".to_owned(),
    };
    // failure, retried on the same URL, blame
    for (failure, transient, blame) in [
        (status(500), true, Environment),
        (status(503), true, Environment),
        (status(408), true, Environment),
        (status(429), true, Environment),
        (Failure::Connection("refused".to_owned()), true, Environment),
        (cut, true, Environment),
        (status(404), false, Environment),
        (status(403), false, Environment),
        (status(401), false, Environment),
        (status(410), false, Environment),
        (redirect, false, Environment),
        (Failure::TooManyRedirects, false, Environment),
        (Failure::Local("missing".to_owned()), false, Environment),
        (Failure::TooLarge { limit: 1 }, false, Environment),
        (mismatch, false, Recipe),
        (Failure::TooLong { expected: 1 }, false, Recipe),
        (
            Failure::Truncated {
                received: 1,
                expected: 2,
            },
            false,
            Recipe,
        ),
        (Failure::InvalidUrl("no host".to_owned()), false, Recipe),
    ] {
        assert_eq!(failure.is_transient(), transient, "{failure}");
        assert_eq!(failure.blame(), blame, "{failure}");
    }
}

fn failed(failures: Vec<Failure>) -> DownloadError {
    DownloadError::Failed(
        failures
            .into_iter()
            .map(|failure| UrlFailure {
                url: "https://***@host/x".to_owned(),
                attempts: 1,
                failure,
            })
            .collect(),
    )
}

#[test]
fn a_download_is_the_recipes_fault_only_if_some_content_differed() {
    let network = failed(vec![status(404), Failure::Connection("refused".to_owned())]);
    assert_eq!(network.blame(), Blame::Environment);
    assert!(matches!(
        network.into_build_error("fetch of x"),
        BuildError::Network(message) if message.starts_with("fetch of x failed: all 2 URLs failed:\n  https://***@host/x: HTTP 404 (not found)\n  ")
    ));
    let mixed = failed(vec![status(503), Failure::TooLong { expected: 3 }]);
    assert_eq!(mixed.blame(), Blame::Recipe);
    assert!(matches!(
        mixed.into_build_error("fetch of x"),
        BuildError::Failed(_)
    ));
    assert!(BuildError::Network(String::new()).is_environment());
    assert_eq!(DownloadError::NoUrls.blame(), Blame::Recipe);
}

#[test]
fn retries_wait_longer_and_honour_retry_after_up_to_a_limit() {
    assert_eq!(status(500).pause(1), Duration::from_millis(250));
    assert_eq!(status(500).pause(3), Duration::from_millis(2250));
    let later = |seconds| Failure::Status {
        status: 429,
        retry_after: Some(Duration::from_secs(seconds)),
    };
    assert_eq!(later(5).pause(1), Duration::from_secs(5));
    assert_eq!(later(3600).pause(1), MAX_RETRY_AFTER);
}

#[test]
fn redirects_go_to_http_and_https_only() {
    let base = "http://127.0.0.1:1/a/b";
    assert_eq!(
        follow(base, "/c").expect("absolute path"),
        ("http://127.0.0.1:1/c".to_owned(), true)
    );
    assert_eq!(
        follow(base, "c?d=1").expect("relative"),
        ("http://127.0.0.1:1/a/c?d=1".to_owned(), true)
    );
    assert_eq!(
        follow(base, "https://mirror.invalid/x").expect("absolute"),
        ("https://mirror.invalid/x".to_owned(), false)
    );
    assert_eq!(
        follow(base, "//other.invalid/x").expect("scheme-relative"),
        ("http://other.invalid/x".to_owned(), false)
    );
    for location in [
        "file:///etc/passwd",
        "data:text/plain,hello",
        "ftp://host/x",
        "javascript:alert(1)",
    ] {
        let failure = follow(base, location).expect_err(location);
        assert!(
            matches!(&failure, Failure::Redirect { reason, .. } if reason.contains("only http and https")),
            "{location}: {failure}"
        );
        assert!(!failure.is_transient());
    }
    let secret = follow(base, "file://user:token@host/x").expect_err("file");
    assert!(!secret.to_string().contains("token"), "{secret}");
    assert!(matches!(
        follow(base, "http://"),
        Err(Failure::Redirect { .. })
    ));
}

#[test]
fn content_ranges_are_read() {
    assert_eq!(content_range_start("bytes 100-199/200"), Some(100));
    assert_eq!(content_range_start("bytes 0-0/*"), Some(0));
    assert_eq!(content_range_start("bytes */200"), None);
    assert_eq!(content_range_start("items 1-2/3"), None);
}

#[test]
fn urls_without_a_host_are_refused_not_requested() {
    for url in ["http://", "http://:8080/x", "https://user:token@:8080/x"] {
        let failure = Source::parse(url).err();
        assert!(
            matches!(&failure, Some(Failure::InvalidUrl(_))),
            "{url}: {failure:?}"
        );
        assert!(!format!("{failure:?}").contains("token"), "{failure:?}");
    }
    assert!(matches!(
        Source::parse("https://user:token@host/x"),
        Ok(Source::Remote { url, authorization: Some(_) }) if url == "https://host/x"
    ));
    assert!(matches!(Source::parse("file:///x"), Ok(Source::Local(path)) if path == "/x"));
}

#[test]
fn messages_name_what_happened() {
    assert_eq!(
        UrlFailure {
            url: "https://***@host/x".to_owned(),
            attempts: 4,
            failure: status(503),
        }
        .to_string(),
        "https://***@host/x: HTTP 503 (service unavailable) (after 4 attempts)"
    );
    let mismatch = Failure::HashMismatch {
        algorithm: HashAlgorithm::Blake3,
        expected: [0; 32],
        actual: [0xff; 32],
        size: 7,
    };
    assert_eq!(
        mismatch.to_string(),
        format!(
            "blake3 mismatch: expected {}, got {} (7 bytes)",
            "00".repeat(32),
            "ff".repeat(32)
        )
    );
}
