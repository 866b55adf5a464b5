//! Archive sources: a `.tar.gz` served over HTTP on 127.0.0.1 (and from `file://`),
//! checked against its SHA-256, unpacked with its single top-level directory as the
//! library root, locked by tree hash, and used offline from the cache.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use imgbuild_libraries::{resolve, LibraryError, LockSection, Mode, Update};
use sha2::{Digest, Sha256};

/// A gzip-compressed tar of `net-lib-2.1/{imgbuild.toml,net.rhai}`; returns its SHA-256.
fn make_archive(path: &Path) -> String {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    for (name, contents) in [
        (
            "net-lib-2.1/imgbuild.toml",
            "[library]\nname = \"net\"\nversion = \"2.1.0\"\n",
        ),
        ("net-lib-2.1/net.rhai", "// net\n"),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, name, contents.as_bytes())
            .expect("archive fixture");
    }
    let bytes = builder
        .into_inner()
        .expect("archive fixture")
        .finish()
        .expect("archive fixture");
    std::fs::create_dir_all(path.parent().expect("parent")).expect("filesystem fixture");
    std::fs::write(path, &bytes).expect("filesystem fixture");
    Sha256::digest(&bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[test]
fn an_archive_over_http_is_checked_unpacked_locked_and_used_offline() {
    let temp = tempfile::tempdir().expect("temporary directory");
    let served = temp.path().join("served");
    let sha256 = make_archive(&served.join("files/net-lib-2.1.tar.gz"));
    let server = common::http::serve(&served);
    let url = format!("{server}/files/net-lib-2.1.tar.gz");
    let manifest = project(
        &temp.path().join("web"),
        &format!("[libraries]\nnet = {{ url = \"{url}\", sha256 = \"{sha256}\" }}\n"),
    );
    let cache = temp.path().join("cache");
    let resolution = resolve_fresh(&manifest, &cache).expect("resolution succeeds");
    let net = &resolution.libraries["net"];
    assert_eq!(net.version.as_ref().expect("present").to_string(), "2.1.0");
    assert_eq!(net.commit, None);
    assert_eq!(net.path, cache.join("archives").join(&sha256));
    assert_eq!(
        std::fs::read_to_string(net.path.join("net.rhai")).expect("filesystem fixture"),
        "// net\n"
    );
    let lock = LockSection::from_resolution(&resolution, None);
    assert!(lock.matches_manifest(&manifest));

    // Offline: from the cache, even with the server's file gone.
    std::fs::remove_file(served.join("files/net-lib-2.1.tar.gz")).expect("filesystem fixture");
    let offline =
        resolve_locked(&manifest, &cache, &lock, Mode::Offline).expect("resolution succeeds");
    assert_eq!(offline.libraries["net"].hash, net.hash);
    let error = resolve_locked(&manifest, &temp.path().join("empty"), &lock, Mode::Offline)
        .expect_err("resolution fails");
    assert!(
        error.is_environment() && error.to_string().contains(&sha256),
        "{error}"
    );

    // Changed content in the cache is refused against the lock.
    std::fs::write(net.path.join("net.rhai"), "// tampered\n").expect("filesystem fixture");
    let error =
        resolve_locked(&manifest, &cache, &lock, Mode::Online).expect_err("resolution fails");
    assert!(
        matches!(error, LibraryError::HashMismatch { .. }),
        "{error}"
    );

    // A missing file on the server is an environment error naming the URL.
    let error =
        resolve_fresh(&manifest, &temp.path().join("cache2")).expect_err("resolution fails");
    assert!(
        error.is_environment() && error.to_string().contains("404"),
        "{error}"
    );
}

#[test]
fn a_wrong_sha256_is_refused_naming_both() {
    let temp = tempfile::tempdir().expect("temporary directory");
    let archive = temp.path().join("files/net.tar.gz");
    let sha256 = make_archive(&archive);
    let wrong = "0".repeat(64);
    let manifest = project(
        &temp.path().join("web"),
        &format!(
            "[libraries]\nnet = {{ url = \"file://{}\", sha256 = \"{wrong}\" }}\n",
            archive.display()
        ),
    );
    let error = resolve_fresh(&manifest, &temp.path().join("cache")).expect_err("resolution fails");
    let message = error.to_string();
    assert!(
        matches!(error, LibraryError::HashMismatch { .. }),
        "{message}"
    );
    assert!(
        message.contains(&sha256) && message.contains(&wrong),
        "{message}"
    );
    assert!(
        !temp.path().join("cache/archives").join(&wrong).exists(),
        "nothing unpacked"
    );
}

/// Two requirements with the same SHA-256 and different URLs are one library.
#[test]
fn the_sha256_is_the_identity_not_the_url() {
    let temp = tempfile::tempdir().expect("temporary directory");
    let archive = temp.path().join("files/net.tar.gz");
    let sha256 = make_archive(&archive);
    let mirror = temp.path().join("mirror/net.tar.gz");
    std::fs::create_dir_all(mirror.parent().expect("parent")).expect("filesystem fixture");
    std::fs::copy(&archive, &mirror).expect("filesystem fixture");
    path_library(
        &temp.path().join("tools"),
        "tools",
        "1.0.0",
        &format!(
            "net = {{ url = \"file://{}\", sha256 = \"{sha256}\" }}\n",
            mirror.display()
        ),
    );
    let manifest = project(
        &temp.path().join("web"),
        &format!(
            "[libraries]\nnet = {{ url = \"file://{}\", sha256 = \"{sha256}\" }}\ntools = {{ path = \"../tools\" }}\n",
            archive.display()
        ),
    );
    let resolution = resolve(
        &manifest,
        &temp.path().join("cache"),
        None,
        Mode::Online,
        &Update::Nothing,
        &BTreeMap::new(),
        &Fetcher,
    )
    .expect("resolution succeeds");
    assert_eq!(resolution.libraries["net"].importers, ["tools", "web"]);
}
