//! End to end: media made by imgbuild's own generators (examples/fleet.rhai, built by
//! the `imgbuild` binary) are found by label in a fake `/sys/class/block` and read back
//! with everything the recipe put in: host names, addresses or DHCP, keys, users,
//! write_files, runcmd and START_SCRIPT.
//!
//! The binary is `IMGBUILD_BIN`, else `imgbuild` next to this test's directory
//! (`target/debug/imgbuild`, built by `cargo test --workspace` or `cargo build`).
//! Without it the test is skipped with a message, and fails when `CI` is set.

use std::path::{Path, PathBuf};
use std::process::Command;

use imgbuild_first_boot::media::{self, Filesystem, MediaError};
use imgbuild_first_boot::model::{Instance, Source, When};
use imgbuild_test_support::{require, Missing};

const KEY_WEB: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIfyhm6lbcFhh6fuPYv76s7QQEFtaWtD79Tl4BgtgJgT ops@example";

fn imgbuild() -> Result<PathBuf, Missing> {
    if let Some(path) = std::env::var_os("IMGBUILD_BIN") {
        return Ok(PathBuf::from(path));
    }
    let executable = std::env::current_exe().map_err(|error| Missing::new(error.to_string()))?;
    let candidate = executable
        .parent()
        .and_then(Path::parent)
        .map(|directory| directory.join("imgbuild"))
        .filter(|path| path.is_file());
    candidate.ok_or_else(|| {
        Missing::new("the imgbuild binary: set IMGBUILD_BIN or run `cargo build -p imgbuild`")
    })
}

/// Builds the fleet's media in `format`; returns the result directory.
fn fleet(binary: &Path, format: &str, directory: &Path) -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let result = directory.join(format!("result-{format}"));
    let output = Command::new(binary)
        .current_dir(&workspace)
        .args(["build", "examples/fleet.rhai", "--arg"])
        .arg(format!("format={format}"))
        .arg("-o")
        .arg(&result)
        .arg("--store")
        .arg(directory.join("store"))
        .output()
        .expect("run imgbuild");
    assert!(
        output.status.success(),
        "imgbuild build: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    result
}

/// A fake `/sys/class/block` and `/dev` holding `media` as `(device, image)`.
fn devices(directory: &Path, media: &[(&str, &Path)]) -> (PathBuf, PathBuf) {
    let sys = directory.join("sys");
    let dev = directory.join("dev");
    std::fs::create_dir_all(&dev).expect("dev");
    for (name, image) in media {
        std::fs::create_dir_all(sys.join(name)).expect("sys");
        let size = std::fs::metadata(image).expect("image").len() / 512;
        std::fs::write(sys.join(name).join("size"), format!("{size}\n")).expect("size");
        std::fs::copy(image, dev.join(name)).expect("copy");
    }
    (sys, dev)
}

fn read(image: &Path, kind: Source) -> Instance {
    let directory = tempfile::tempdir().expect("tempdir");
    let (sys, dev) = devices(directory.path(), &[("sr0", image)]);
    let found = media::find(&sys, &dev);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].kind, kind);
    media::read(&found[0]).expect("reads")
}

#[test]
fn fleet_media_read_back() {
    let binary = require!(imgbuild_test_support::require(imgbuild()));
    let directory = tempfile::tempdir().expect("tempdir");

    let nocloud = fleet(&binary, "nocloud", directory.path());
    let web = read(&nocloud.join("web-1.iso"), Source::NoCloud);
    assert!(web.instance_id.starts_with("iid-"), "{}", web.instance_id);
    assert_eq!(web.hostname.as_deref(), Some("web-1"));
    assert_eq!(web.interfaces.len(), 1);
    assert_eq!(web.interfaces[0].addresses, ["192.168.10.11/24"]);
    assert_eq!(web.interfaces[0].gateway4.as_deref(), Some("192.168.10.1"));
    assert_eq!(web.interfaces[0].nameservers, ["192.168.10.1", "9.9.9.9"]);
    assert_eq!(web.users[0].name, "root");
    assert_eq!(web.users[0].ssh_keys, [KEY_WEB]);
    assert_eq!(web.files[0].path, "/etc/imgbuild/role");
    assert_eq!(web.files[0].content, b"web\n");
    assert_eq!(web.files[0].mode, 0o644);
    assert_eq!(web.scripts.len(), 1);
    assert_eq!(web.scripts[0].name, "runcmd");
    assert_eq!(
        String::from_utf8_lossy(&web.scripts[0].body),
        "#!/bin/sh\nsh -c 'echo provisioned by imgbuild > /run/imgbuild-ready'\n"
    );
    assert!(web.warnings.is_empty(), "{:?}", web.warnings);
    let build = read(&nocloud.join("build-1.iso"), Source::NoCloud);
    assert!(build.interfaces.is_empty(), "DHCP: the image's own network");
    assert_ne!(build.instance_id, web.instance_id);

    let context = fleet(&binary, "context", directory.path());
    let web = read(&context.join("web-1.iso"), Source::OpenNebula);
    assert_eq!(web.instance_id.len(), 64);
    assert_eq!(web.hostname.as_deref(), Some("web-1"));
    assert_eq!(web.interfaces[0].addresses, ["192.168.10.11/24"]);
    assert_eq!(web.interfaces[0].mac.as_deref(), Some("02:00:c0:a8:0a:0b"));
    assert_eq!(web.interfaces[0].gateway4.as_deref(), Some("192.168.10.1"));
    assert_eq!(web.users[0].name, "root");
    assert_eq!(web.users[0].ssh_keys, [KEY_WEB]);
    assert_eq!(web.scripts[0].name, "START_SCRIPT");
    assert_eq!(web.scripts[0].when, When::PerInstance);
    assert_eq!(
        web.scripts[0].body,
        b"#!/bin/sh\necho provisioned by imgbuild > /run/imgbuild-ready\n"
    );
    let build = read(&context.join("build-1.iso"), Source::OpenNebula);
    assert!(build.interfaces[0].dhcp4);

    let drive = fleet(&binary, "config-drive", directory.path());
    let db = read(&drive.join("db-1.iso"), Source::ConfigDrive);
    assert_eq!(db.instance_id.len(), 36);
    assert_eq!(db.hostname.as_deref(), Some("db-1"));
    assert_eq!(db.interfaces[0].addresses, ["192.168.10.21/24"]);
    assert_eq!(db.interfaces[0].gateway4.as_deref(), Some("192.168.10.1"));
    assert_eq!(db.users.len(), 1);
    assert_eq!(db.users[0].ssh_keys.len(), 1);
    assert!(db.users[0].ssh_keys[0].ends_with("deploy@example"));
    assert_eq!(db.files[0].path, "/etc/imgbuild/role");
    assert_eq!(db.files[0].content, b"db\n");

    // All three at once, plus devices that are not media: precedence order.
    let scratch = tempfile::tempdir().expect("tempdir");
    let not_media = scratch.path().join("zeros");
    std::fs::write(&not_media, vec![0u8; 64 << 10]).expect("write");
    let (sys, dev) = devices(
        scratch.path(),
        &[
            ("sr0", &context.join("web-1.iso")),
            ("sr1", &drive.join("web-1.iso")),
            ("vdb", &nocloud.join("web-1.iso")),
            ("vdc", &not_media),
            ("loop0", &nocloud.join("web-2.iso")),
        ],
    );
    let found = media::find(&sys, &dev);
    let order: Vec<(Source, String)> = found
        .iter()
        .map(|found| {
            (
                found.kind,
                found
                    .device
                    .file_name()
                    .expect("name")
                    .to_string_lossy()
                    .into_owned(),
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            (Source::NoCloud, "vdb".to_owned()),
            (Source::ConfigDrive, "sr1".to_owned()),
            (Source::OpenNebula, "sr0".to_owned()),
        ]
    );
}

#[test]
fn vfat_media_are_found_but_not_read() {
    let directory = tempfile::tempdir().expect("tempdir");
    let image = directory.path().join("fat.img");
    let mut bytes = vec![0u8; 128 << 10];
    bytes[38] = 0x29;
    bytes[43..54].copy_from_slice(b"cidata     ");
    bytes[54..62].copy_from_slice(b"FAT12   ");
    bytes[510] = 0x55;
    bytes[511] = 0xAA;
    std::fs::write(&image, &bytes).expect("write");
    let huge = directory.path().join("huge");
    std::fs::write(&huge, &bytes).expect("write");
    let (sys, dev) = devices(directory.path(), &[("vda1", &image), ("sda", &huge)]);
    std::fs::write(sys.join("sda/size"), "4294967296\n").expect("size");
    let found = media::find(&sys, &dev);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].filesystem, Filesystem::Vfat);
    assert_eq!(found[0].label, "cidata");
    let error = media::read(&found[0]).expect_err("vfat");
    assert!(matches!(error, MediaError::VfatUnsupported { .. }));
    assert!(error
        .to_string()
        .contains("vfat NoCloud/config-2 media are not supported"));
}
