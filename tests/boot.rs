//! `imgbuild boot`: the qemu command line it would run (`--dry-run`), and its errors.
//! The real boots are in tests/disk.rs and tests/first_boot.rs (slow).

mod common;

use common::{imgbuild, scratch, unwrapped};
use imgbuild_test_support::{require, require_tool};

#[test]
fn the_command_line_has_firmware_disk_media_and_ports() {
    require!(require_tool("qemu-system-x86_64"));
    let work = scratch();
    let directory = work.path();
    std::fs::write(directory.join("web.qcow2"), b"").expect("image");
    std::fs::write(directory.join("seed.iso"), b"").expect("medium");
    let output = imgbuild(directory)
        .args([
            "boot",
            "web.qcow2",
            "--medium",
            "seed.iso",
            "--accel",
            "tcg",
            "--port",
            "2200:22",
            "--dry-run",
        ])
        .output()
        .expect("imgbuild boot");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for part in [
        "q35,accel=tcg",
        "if=pflash,format=raw,readonly=on",
        "file=web.qcow2,if=virtio,format=qcow2,snapshot=on",
        "file=seed.iso,if=virtio,format=raw,readonly=on",
        "hostfwd=tcp:127.0.0.1:2200-:22",
        "mon:stdio",
    ] {
        assert!(text.contains(part), "{part} not in {text}");
    }
}

#[test]
fn a_missing_image_or_an_unknown_format_is_a_usage_error() {
    let work = scratch();
    let directory = work.path();
    let output = imgbuild(directory)
        .args(["boot", "nothing.qcow2"])
        .output()
        .expect("imgbuild boot");
    assert_eq!(output.status.code(), Some(2));
    assert!(unwrapped(&String::from_utf8_lossy(&output.stderr))
        .contains("nothing.qcow2: no such image"));
    std::fs::write(directory.join("disk.bin"), b"").expect("image");
    let output = imgbuild(directory)
        .args(["boot", "disk.bin", "--dry-run"])
        .output()
        .expect("imgbuild boot");
    let stderr = unwrapped(&String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot tell the image's format"),
        "{stderr}"
    );
}
