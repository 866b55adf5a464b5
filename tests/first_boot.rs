//! The flagship end to end (slow: IMGBUILD_SLOW_TESTS=1, the real Debian archive, qemu
//! under TCG): `recipes/web.rhai` builds a web server image; `examples/fleet.rhai`
//! builds one medium of each kind (NoCloud, OpenNebula CONTEXT, OpenStack config-2) for
//! an inventory with this test's own SSH key; `imgbuild boot` boots the image with each.
//! Checked on every boot: the login prompt carries the VM's name, an SSH login with the
//! inventory's key works through a forwarded port, nginx serves the page the first-boot
//! script wrote with the VM's name. With the NoCloud medium the VM is rebooted: the
//! first-boot script ran exactly once, the every-boot script on both boots.

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{http_get, imgbuild, scratch, workspace};
use imgbuild_test_support::{require, require_network, require_slow_tests, require_tool, Missing};

/// One VM per medium kind: a static address on qemu's user network (10.0.2.15, what
/// its DHCP would give) for NoCloud and CONTEXT, DHCP for config-2. One inventory each:
/// an inventory refuses two VMs with one address.
const VMS: [(&str, &str, &str); 3] = [
    ("nocloud", "vm-nocloud", "10.0.2.15,24,10.0.2.2,10.0.2.3"),
    ("context", "vm-context", "10.0.2.15,24,10.0.2.2,10.0.2.3"),
    ("config-drive", "vm-config", ",,,"),
];

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

struct Machine {
    child: Child,
    console: PathBuf,
    ssh: u16,
    http: u16,
    key: PathBuf,
}

impl Machine {
    fn boot(directory: &Path, image: &Path, medium: &Path, name: &str, key: &Path) -> Machine {
        let (ssh, http) = (free_port(), free_port());
        let console = directory.join(format!("{name}.console"));
        let child = imgbuild(directory)
            .arg("boot")
            .arg(image)
            .arg("--medium")
            .arg(medium)
            .args(["--accel", "tcg", "--console"])
            .arg(&console)
            .args([
                "--port",
                &format!("{ssh}:22"),
                "--port",
                &format!("{http}:80"),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that dropping the machine stops qemu too.
            .process_group(0)
            .spawn()
            .expect("imgbuild boot");
        Machine {
            child,
            console,
            ssh,
            http,
            key: key.to_path_buf(),
        }
    }

    fn console(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.console).unwrap_or_default()).into_owned()
    }

    /// Waits until the console shows `pattern` `count` times.
    fn wait_for(&self, pattern: &str, count: usize) -> bool {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(600) {
            if self.console().matches(pattern).count() >= count {
                return true;
            }
            std::thread::sleep(Duration::from_secs(2));
        }
        false
    }

    /// Runs `command` over SSH as root with the inventory's key (retrying while sshd starts).
    fn ssh(&self, command: &str) -> Result<String, String> {
        let mut last = String::new();
        for _ in 0..30 {
            let output = Command::new("ssh")
                .args(["-i"])
                .arg(&self.key)
                .args([
                    "-p",
                    &self.ssh.to_string(),
                    "-o",
                    "StrictHostKeyChecking=no",
                    "-o",
                    "UserKnownHostsFile=/dev/null",
                    "-o",
                    "BatchMode=yes",
                    "-o",
                    "ConnectTimeout=10",
                    "-o",
                    "LogLevel=ERROR",
                    "root@127.0.0.1",
                    command,
                ])
                .output()
                .expect("ssh");
            if output.status.success() {
                return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
            }
            last = String::from_utf8_lossy(&output.stderr).into_owned();
            std::thread::sleep(Duration::from_secs(3));
        }
        Err(last)
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        // `imgbuild boot` and the qemu it started: the whole process group.
        let _ = Command::new("kill")
            .args(["-KILL", "--"])
            .arg(format!("-{}", self.child.id()))
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn build(directory: &Path, recipe: &Path, out: &str, extra: &[&str]) {
    let output = imgbuild(directory)
        .arg("build")
        .arg(recipe)
        .args(["--store", "store", "-o", out])
        .args(extra)
        .output()
        .expect("imgbuild build");
    assert!(
        output.status.success(),
        "{}: {}",
        recipe.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The web image's SBOM passes the SPDX validator and names what the image holds; its OCI
/// image (the same root) is read by skopeo and unpacked by umoci with the root's owners.
fn check_the_sbom_and_the_oci_image(result: &Path) {
    let sbom = result.join("web.spdx.json");
    common::check_spdx(&sbom);
    let document: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&sbom).expect("sbom")).expect("JSON");
    let packages = document["packages"].as_array().expect("packages");
    let nginx = packages
        .iter()
        .find(|package| package["name"] == "nginx")
        .expect("nginx is listed");
    assert!(
        nginx["checksums"][0]["checksumValue"]
            .as_str()
            .is_some_and(|sha| sha.len() == 64),
        "{nginx}"
    );
    assert!(packages
        .iter()
        .any(|package| package["name"] == "linux-image-cloud-amd64"));
    assert!(
        packages
            .iter()
            .filter(|package| package["licenseDeclared"] != "NOASSERTION")
            .count()
            > 50,
        "most packages declare a licence"
    );
    let files = document["files"].to_string();
    assert!(
        files.contains("./usr/lib/imgbuild/imgbuild-first-boot"),
        "the agent is listed"
    );

    let Some(skopeo) = require_tool("skopeo") else {
        return;
    };
    let Some(umoci) = require_tool("umoci") else {
        return;
    };
    let layout = result.join("web-oci");
    let reference = format!("oci:{}:latest", layout.display());
    let config = Command::new(&skopeo)
        .args(["inspect", "--config", &reference])
        .output()
        .expect("skopeo");
    assert!(
        config.status.success(),
        "{}",
        String::from_utf8_lossy(&config.stderr)
    );
    assert!(String::from_utf8_lossy(&config.stdout).contains("daemon off;"));
    if imgbuild_test_support::require_root("umoci unpack applies the layer's owners").is_none() {
        return;
    }
    let bundle = result.join("web-bundle");
    let unpacked = Command::new(&umoci)
        .arg("unpack")
        .arg("--image")
        .arg(format!("{}:latest", layout.display()))
        .arg(&bundle)
        .output()
        .expect("umoci");
    assert!(
        unpacked.status.success(),
        "{}",
        String::from_utf8_lossy(&unpacked.stderr)
    );
    use std::os::unix::fs::MetadataExt;
    let shadow = std::fs::metadata(bundle.join("rootfs/etc/shadow")).expect("/etc/shadow");
    assert_eq!(
        (shadow.uid(), shadow.gid(), shadow.mode() & 0o7777),
        (0, 42, 0o640)
    );
    let su = std::fs::metadata(bundle.join("rootfs/usr/bin/su")).expect("/usr/bin/su");
    assert_eq!(su.mode() & 0o7777, 0o4755, "setuid kept");
    std::fs::remove_dir_all(&bundle).expect("remove the bundle");
}

#[test]
fn the_web_image_configures_itself_from_each_medium() {
    require!(require_slow_tests());
    require!(require_network());
    require!(require_tool("qemu-system-x86_64"));
    require!(require_tool("ssh"));
    require!(require_tool("ssh-keygen"));
    require!(imgbuild_test_support::require(
        if Path::new("/usr/share/OVMF/OVMF_CODE_4M.fd").exists() {
            Ok(())
        } else {
            Err(Missing::new(
                "OVMF (Debian package ovmf) is not installed".to_owned(),
            ))
        }
    ));
    let work = scratch();
    let directory = work.path();
    let key = directory.join("id_ed25519");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "test@imgbuild", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen");
    assert!(made.success());
    let public = std::fs::read_to_string(directory.join("id_ed25519.pub")).expect("public key");

    let root = workspace();
    build(
        directory,
        &root.join("recipes/web.rhai"),
        "image",
        &["--arg", "oci=1"],
    );
    check_the_sbom_and_the_oci_image(&directory.join("image"));
    let image = directory.join("image/web.qcow2");
    for (format, vm, network) in VMS {
        let inventory = directory.join(format!("{format}.csv"));
        std::fs::write(
            &inventory,
            format!(
                "name,ip,prefix,gateway,dns,ssh_key,role\n{vm},{network},{},web\n",
                public.trim()
            ),
        )
        .expect("inventory");
        build(
            directory,
            &root.join("examples/fleet.rhai"),
            format,
            &[
                "--arg",
                &format!("inventory={}", inventory.display()),
                "--arg",
                &format!("format={format}"),
            ],
        );
    }

    for (format, vm, _) in VMS {
        let medium = directory.join(format!("{format}/{vm}.iso"));
        let machine = Machine::boot(directory, &image, &medium, vm, &key);
        assert!(
            machine.wait_for(&format!("{vm} login:"), 1),
            "{format}: no login prompt with the VM's name:\n{}",
            machine.console()
        );
        let hostname = machine.ssh("hostname").unwrap_or_else(|error| {
            panic!(
                "{format}: ssh with the inventory's key: {error}\n{}",
                machine.console()
            )
        });
        assert_eq!(hostname.trim(), vm, "{format}");
        let page = http_get(machine.http);
        assert!(
            page.contains(&format!("Hello from {vm}")),
            "{format}: {page}"
        );
        if format != "nocloud" {
            continue;
        }
        let before = machine.ssh("cat /var/lib/imgbuild-web/first-boot; wc -l < /var/lib/imgbuild-web/boots; cat /run/imgbuild-ready").expect("state");
        assert_eq!(
            before,
            format!("{vm}\n1\nprovisioned by imgbuild\n"),
            "first boot"
        );
        let _ = machine.ssh("systemctl reboot");
        assert!(
            machine.wait_for(&format!("{vm} login:"), 2),
            "no login prompt after the reboot:\n{}",
            machine.console()
        );
        let after = machine
            .ssh("cat /var/lib/imgbuild-web/first-boot; wc -l < /var/lib/imgbuild-web/boots")
            .expect("state");
        assert_eq!(
            after,
            format!("{vm}\n2\n"),
            "after a reboot: first-boot once, every-boot twice"
        );
    }
}
