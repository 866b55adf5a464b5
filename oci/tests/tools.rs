//! The layouts we write, read by the real tools: `skopeo` (manifest, configuration, digest
//! verification on copy), `umoci` (unpacking to a root filesystem whose files must match
//! the tar), `gzip` and `zstd` (the layer decompresses to the tar stream, whose SHA-256 is
//! the `diff_id`).

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{blob, entries, tar_bytes, write_in_pool, Kind, ALL_COMPRESSIONS};
use imgbuild_oci::Compression;
use imgbuild_test_support::{require_root, require_tool};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

fn run(tool: &Path, arguments: &[&str]) -> Output {
    Command::new(tool)
        .args(arguments)
        .output()
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", tool.display()))
}

fn run_ok(tool: &Path, arguments: &[&str]) -> Vec<u8> {
    let output = run(tool, arguments);
    assert!(
        output.status.success(),
        "{} {arguments:?} failed: {}",
        tool.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn reference(directory: &Path) -> String {
    format!("oci:{}:latest", directory.display())
}

#[test]
fn skopeo_reads_our_manifest_and_configuration() {
    let Some(skopeo) = require_tool("skopeo") else {
        return;
    };
    for compression in ALL_COMPRESSIONS {
        let directory = tempfile::tempdir().expect("a temporary directory");
        let layout = write_in_pool(directory.path(), compression, 2);
        let image = reference(directory.path());

        let raw = run_ok(&skopeo, &["inspect", "--raw", &image]);
        let ours =
            fs::read(blob(directory.path(), &layout.manifest.digest)).expect("the manifest blob");
        assert_eq!(raw, ours, "{compression:?}: skopeo's raw manifest is ours");
        let manifest: Value = serde_json::from_slice(&raw).expect("the manifest is JSON");
        assert_eq!(manifest["layers"][0]["mediaType"], compression.media_type());
        assert_eq!(
            manifest["layers"][0]["digest"],
            layout.layer.digest.as_str()
        );
        assert_eq!(
            manifest["annotations"]["org.opencontainers.image.source"],
            "imgbuild tests"
        );

        let config: Value =
            serde_json::from_slice(&run_ok(&skopeo, &["inspect", "--config", &image]))
                .expect("the configuration is JSON");
        let expected = json!({
            "created": "2023-11-14T22:13:20Z",
            "author": "imgbuild",
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "User": "1000:1000",
                "ExposedPorts": {"53/udp": {}, "80/tcp": {}},
                "Env": ["PATH=/usr/bin:/bin", "LANG=C.UTF-8"],
                "Entrypoint": ["/bin/hello"],
                "Cmd": ["--loud"],
                "Volumes": {"/var/lib/data": {}},
                "WorkingDir": "/home/user",
                "Labels": {"org.example.flavour": "vanilla"},
                "StopSignal": "SIGTERM"
            },
            "rootfs": {"type": "layers", "diff_ids": [layout.diff_id]},
            "history": [{"created": "2023-11-14T22:13:20Z", "author": "imgbuild", "comment": "root filesystem"}]
        });
        assert_eq!(config, expected, "{compression:?}");
    }
}

#[test]
fn skopeo_copies_the_image_and_refuses_a_corrupt_blob() {
    let Some(skopeo) = require_tool("skopeo") else {
        return;
    };
    for compression in ALL_COMPRESSIONS {
        let directory = tempfile::tempdir().expect("a temporary directory");
        let layout = write_in_pool(directory.path(), compression, 2);
        let copy = tempfile::tempdir().expect("a temporary directory");
        let target = format!("dir:{}", copy.path().join("out").display());
        run_ok(&skopeo, &["copy", &reference(directory.path()), &target]);
        let copied_layer = copy
            .path()
            .join("out")
            .join(layout.layer.digest.trim_start_matches("sha256:"));
        assert!(
            copied_layer.exists(),
            "{compression:?}: skopeo copied the layer blob"
        );

        // Flip one byte in the middle of the layer, keeping its size.
        let layer_path = blob(directory.path(), &layout.layer.digest);
        let mut bytes = fs::read(&layer_path).expect("the layer blob");
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x55;
        fs::write(&layer_path, &bytes).expect("the layer blob is rewritten");
        let target = format!("dir:{}", copy.path().join("corrupt").display());
        let output = run(&skopeo, &["copy", &reference(directory.path()), &target]);
        assert!(
            !output.status.success(),
            "{compression:?}: skopeo copied a corrupt layer"
        );
        let message = String::from_utf8_lossy(&output.stderr);
        assert!(
            message.to_lowercase().contains("digest did not match"),
            "{compression:?}: {message}"
        );
    }
}

#[test]
fn the_layer_decompresses_to_the_tar_and_its_digest_is_the_diff_id() {
    let tar = tar_bytes();
    let diff_id = format!("sha256:{}", hex::encode(Sha256::digest(&tar)));
    for (compression, tool, arguments) in [
        (Compression::Gzip, "gzip", ["-d", "-c"]),
        (Compression::Zstd, "zstd", ["-d", "-c"]),
    ] {
        let Some(tool) = require_tool(tool) else {
            return;
        };
        let directory = tempfile::tempdir().expect("a temporary directory");
        let layout = write_in_pool(directory.path(), compression, 3);
        assert_eq!(layout.diff_id, diff_id);
        let layer = blob(directory.path(), &layout.layer.digest);
        let layer = layer.to_str().expect("a UTF-8 temporary path");
        let decompressed = run_ok(&tool, &[arguments[0], arguments[1], layer]);
        assert!(
            decompressed == tar,
            "{compression:?}: the layer decompresses to the tar"
        );
    }
    // One gzip member: a single-member reader sees the whole stream.
    let directory = tempfile::tempdir().expect("a temporary directory");
    let layout = write_in_pool(directory.path(), Compression::Gzip, 2);
    let compressed =
        fs::read(blob(directory.path(), &layout.layer.digest)).expect("the layer blob");
    let mut single_member = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(compressed.as_slice()),
        &mut single_member,
    )
    .expect("the gzip stream decodes");
    assert!(
        single_member == tar,
        "the gzip layer is one member holding the whole tar"
    );
    // Uncompressed: the blob is the tar.
    let directory = tempfile::tempdir().expect("a temporary directory");
    let layout = write_in_pool(directory.path(), Compression::None, 2);
    assert_eq!(layout.layer.digest, diff_id);
    assert!(fs::read(blob(directory.path(), &layout.layer.digest)).expect("the layer blob") == tar);
}

#[test]
fn umoci_unpacks_what_the_tar_says() {
    let Some(umoci) = require_tool("umoci") else {
        return;
    };
    let Some(()) = require_root("umoci unpack keeps ownership only as root") else {
        return;
    };
    // Debian 12's umoci 0.4.7 predates zstd layers.
    for compression in [Compression::None, Compression::Gzip] {
        let directory = tempfile::tempdir().expect("a temporary directory");
        let image = directory.path().join("image");
        fs::create_dir(&image).expect("the image directory");
        write_in_pool(&image, compression, 2);
        let bundle = directory.path().join("bundle");
        let image_argument = format!("{}:latest", image.display());
        let bundle_argument = bundle.to_str().expect("a UTF-8 temporary path");
        run_ok(
            &umoci,
            &["unpack", "--image", &image_argument, bundle_argument],
        );
        check_root_filesystem(&bundle.join("rootfs"), compression);
        let listing = String::from_utf8_lossy(&run_ok(
            &umoci,
            &["ls", "--layout", &image.to_string_lossy()],
        ))
        .into_owned();
        assert_eq!(listing.trim(), "latest", "{compression:?}");
    }
}

/// Every entry of the test tar exists in `root` with its content, mode, owner and group.
fn check_root_filesystem(root: &Path, compression: Compression) {
    for entry in entries() {
        let path: PathBuf = root.join(entry.path.trim_start_matches("./"));
        let metadata = fs::symlink_metadata(&path)
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        let context = format!("{compression:?}: {}", entry.path);
        match &entry.kind {
            Kind::Directory => assert!(metadata.is_dir(), "{context} is a directory"),
            Kind::File(content) => {
                assert!(metadata.is_file(), "{context} is a file");
                assert!(
                    &fs::read(&path).expect("a file") == content,
                    "{context}: content"
                );
            }
            Kind::Symlink(target) => {
                assert!(
                    metadata.file_type().is_symlink(),
                    "{context} is a symbolic link"
                );
                assert_eq!(
                    fs::read_link(&path).expect("a link"),
                    Path::new(target),
                    "{context}"
                );
            }
            Kind::Hardlink(target) => {
                let original = fs::metadata(root.join(target.trim_start_matches("./")))
                    .expect("the link target");
                assert_eq!(
                    metadata.ino(),
                    original.ino(),
                    "{context} is a hard link to {target}"
                );
            }
        }
        if !matches!(entry.kind, Kind::Symlink(_)) {
            assert_eq!(
                metadata.permissions().mode() & 0o7777,
                entry.mode,
                "{context}: mode"
            );
        }
        assert_eq!(u64::from(metadata.uid()), entry.uid, "{context}: owner");
        assert_eq!(u64::from(metadata.gid()), entry.gid, "{context}: group");
    }
}
