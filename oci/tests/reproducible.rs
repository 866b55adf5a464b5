//! Reproducibility and refusals: the same tar and configuration give the same bytes in
//! every compression, whatever the number of rayon threads (golden digests pin them), and
//! a bad configuration, a non-empty directory or a failing tar writer is an error that
//! names its cause.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::Path;

use common::{blob, image_config, write_in_pool, write_tar};
use imgbuild_oci::{write_layout, Compression, ImageConfig, OciError};

/// Every file of a layout with its content, sorted by path.
fn files(directory: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut found = BTreeMap::new();
    let mut pending = vec![directory.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in fs::read_dir(&current).expect("a layout directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let name = path
                    .strip_prefix(directory)
                    .expect("inside")
                    .to_string_lossy()
                    .into_owned();
                found.insert(name, fs::read(&path).expect("a layout file"));
            }
        }
    }
    found
}

/// Writes the test image with `compression` on pools of 1 and 4 threads and twice on 2;
/// all must be byte-identical, and the manifest digest must be `golden`.
fn check(compression: Compression, golden: &str) {
    let mut layouts = Vec::new();
    for threads in [1, 4, 2, 2] {
        let directory = tempfile::tempdir().expect("a temporary directory");
        let layout = write_in_pool(directory.path(), compression, threads);
        layouts.push((threads, layout, files(directory.path())));
    }
    let (_, first_layout, first_files) = &layouts[0];
    for (threads, layout, files) in &layouts[1..] {
        assert_eq!(
            layout, first_layout,
            "{compression:?}: {threads} threads against 1"
        );
        assert!(
            files == first_files,
            "{compression:?}: the files written on {threads} threads differ"
        );
    }
    let names: Vec<&str> = first_files.keys().map(String::as_str).collect();
    assert_eq!(
        names.len(),
        5,
        "{compression:?}: oci-layout, index.json and three blobs: {names:?}"
    );
    assert!(
        names.contains(&"oci-layout") && names.contains(&"index.json"),
        "{names:?}"
    );
    assert_eq!(
        first_layout.manifest.digest, golden,
        "{compression:?}: golden manifest digest"
    );
}

#[test]
fn golden_uncompressed() {
    check(
        Compression::None,
        "sha256:83fc9006dc009bdf028d089d9a4314e55cb6eef202db757d65b9a29718a2091a",
    );
}

#[test]
fn golden_gzip() {
    check(
        Compression::Gzip,
        "sha256:4f30083db2fd2916071afef1923aed815a5f452779f03d31278a470884be413f",
    );
}

#[test]
fn golden_zstd() {
    check(
        Compression::Zstd,
        "sha256:dff94b55cb1ba45eb80bec6563896a2dcd9b80073c9552f51d1470432c4e5d04",
    );
}

#[test]
fn the_json_documents_are_exactly_these() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let layout = write_in_pool(directory.path(), Compression::Gzip, 2);
    let read = |path: &Path| {
        String::from_utf8(fs::read(path).expect("a layout file")).expect("UTF-8 JSON")
    };
    assert_eq!(
        read(&directory.path().join("oci-layout")),
        r#"{"imageLayoutVersion":"1.0.0"}"#
    );
    let index = format!(
        concat!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"#,
            r#""mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":{},"#,
            r#""annotations":{{"org.opencontainers.image.ref.name":"latest"}},"#,
            r#""platform":{{"architecture":"amd64","os":"linux"}}}}]}}"#
        ),
        layout.manifest.digest, layout.manifest.size
    );
    assert_eq!(read(&directory.path().join("index.json")), index);
    let manifest = format!(
        concat!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","#,
            r#""config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"#,
            r#""layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":{}}}],"#,
            r#""annotations":{{"org.opencontainers.image.source":"imgbuild tests"}}}}"#
        ),
        layout.config.digest, layout.config.size, layout.layer.digest, layout.layer.size
    );
    assert_eq!(
        read(&blob(directory.path(), &layout.manifest.digest)),
        manifest
    );
    let config = format!(
        concat!(
            r#"{{"created":"2023-11-14T22:13:20Z","author":"imgbuild","architecture":"amd64","os":"linux","#,
            r#""config":{{"User":"1000:1000","ExposedPorts":{{"53/udp":{{}},"80/tcp":{{}}}},"#,
            r#""Env":["PATH=/usr/bin:/bin","LANG=C.UTF-8"],"Entrypoint":["/bin/hello"],"Cmd":["--loud"],"#,
            r#""Volumes":{{"/var/lib/data":{{}}}},"WorkingDir":"/home/user","#,
            r#""Labels":{{"org.example.flavour":"vanilla"}},"StopSignal":"SIGTERM"}},"#,
            r#""rootfs":{{"type":"layers","diff_ids":["{}"]}},"#,
            r#""history":[{{"created":"2023-11-14T22:13:20Z","author":"imgbuild","comment":"root filesystem"}}]}}"#
        ),
        layout.diff_id
    );
    assert_eq!(read(&blob(directory.path(), &layout.config.digest)), config);
}

#[test]
fn empty_fields_are_left_out() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let minimal = ImageConfig {
        architecture: "arm64".into(),
        os: "linux".into(),
        variant: Some("v8".into()),
        ..ImageConfig::default()
    };
    let layout = write_layout(
        directory.path(),
        &minimal,
        Compression::None,
        &mut write_tar,
    )
    .expect("written");
    let config = fs::read(blob(directory.path(), &layout.config.digest)).expect("the config blob");
    let expected = format!(
        concat!(
            r#"{{"created":"1970-01-01T00:00:00Z","architecture":"arm64","os":"linux","variant":"v8","#,
            r#""rootfs":{{"type":"layers","diff_ids":["{}"]}},"history":[{{"created":"1970-01-01T00:00:00Z"}}]}}"#
        ),
        layout.diff_id
    );
    assert_eq!(String::from_utf8_lossy(&config), expected);
    let index = fs::read_to_string(directory.path().join("index.json")).expect("index.json");
    assert!(!index.contains("annotations"), "{index}");
    assert!(
        index.contains(r#""platform":{"architecture":"arm64","os":"linux","variant":"v8"}"#),
        "{index}"
    );
}

/// `change` makes the test configuration invalid in `field`.
fn check_refused(change: impl FnOnce(&mut ImageConfig), field: &str) {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let mut config = image_config();
    change(&mut config);
    let error = write_layout(directory.path(), &config, Compression::Gzip, &mut write_tar)
        .expect_err("an invalid configuration is refused");
    let message = error.to_string();
    assert!(
        message.contains(&format!("`{field}`")),
        "{field}: {message}"
    );
    assert_eq!(
        fs::read_dir(directory.path())
            .expect("the directory")
            .count(),
        0,
        "{field}: nothing written"
    );
}

#[test]
fn invalid_configurations_are_refused() {
    check_refused(|config| config.architecture.clear(), "architecture");
    check_refused(|config| config.os.clear(), "os");
    check_refused(|config| config.env.push("NOVALUE".into()), "env");
    check_refused(|config| config.env.push("=value".into()), "env");
    check_refused(
        |config| config.exposed_ports.push("http".into()),
        "exposed_ports",
    );
    check_refused(
        |config| config.exposed_ports.push("0/tcp".into()),
        "exposed_ports",
    );
    check_refused(
        |config| config.exposed_ports.push("80/icmp".into()),
        "exposed_ports",
    );
    check_refused(
        |config| config.exposed_ports.push("80/tcp".into()),
        "exposed_ports",
    );
    check_refused(|config| config.volumes.push("relative".into()), "volumes");
    check_refused(
        |config| config.volumes.push("/var/lib/data".into()),
        "volumes",
    );
    check_refused(
        |config| _ = config.labels.insert(String::new(), "x".into()),
        "labels",
    );
    check_refused(
        |config| _ = config.annotations.insert(String::new(), "x".into()),
        "annotations",
    );
    check_refused(|config| config.ref_name = Some(String::new()), "ref_name");
    check_refused(|config| config.created = 253_402_300_800, "created");
}

#[test]
fn a_directory_with_something_in_it_is_refused() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    fs::write(directory.path().join("stale"), b"old").expect("a file");
    let error = write_layout(
        directory.path(),
        &image_config(),
        Compression::Gzip,
        &mut write_tar,
    )
    .expect_err("a non-empty directory is refused");
    assert!(
        matches!(error, OciError::DirectoryNotEmpty { .. }),
        "{error}"
    );
}

#[test]
fn a_failing_tar_writer_fails_the_layout_and_leaves_no_blob() {
    for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let directory = tempfile::tempdir().expect("a temporary directory");
        let mut failing = |output: &mut dyn Write| -> io::Result<()> {
            output.write_all(&vec![7; 3 << 20])?;
            Err(io::Error::other("the store lost a file"))
        };
        let error = write_layout(directory.path(), &image_config(), compression, &mut failing)
            .expect_err("the writer's error is returned");
        assert!(
            matches!(&error, OciError::Layer { source, .. } if source.to_string() == "the store lost a file")
        );
        let left: Vec<_> = files(directory.path()).into_keys().collect();
        assert!(left.is_empty(), "{compression:?}: {left:?}");
        assert!(!directory.path().join("index.json").exists());
    }
}
