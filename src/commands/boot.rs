//! `imgbuild boot IMAGE [--medium ISO]...`: runs a disk image in qemu the way `mkosi
//! qemu` does — UEFI firmware (OVMF) with a fresh copy of its variables, the image as a
//! virtio disk, user-mode networking with ports forwarded on 127.0.0.1, the serial
//! console on the terminal — plus contextualization media as read-only virtio disks.
//!
//! KVM is used when `/dev/kvm` can be opened; some machines offer a `/dev/kvm` whose
//! guests die at once ("KVM internal error"): with `--accel auto` that message on
//! qemu's stderr restarts the machine under TCG.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::cli::{Accel, BootArgs};
use crate::errors::Failure;

const FIRMWARE: [(&str, &str); 2] = [
    (
        "/usr/share/OVMF/OVMF_CODE_4M.fd",
        "/usr/share/OVMF/OVMF_VARS_4M.fd",
    ),
    (
        "/usr/share/OVMF/OVMF_CODE.fd",
        "/usr/share/OVMF/OVMF_VARS.fd",
    ),
];

fn usage(message: String, help: &str) -> Failure {
    Failure::Recipe(miette::miette!(help = help.to_owned(), "{message}"))
}

fn format_of(image: &Path) -> Result<&'static str, Failure> {
    match image.extension().and_then(|extension| extension.to_str()) {
        Some("raw" | "img") => Ok("raw"),
        Some("qcow2") => Ok("qcow2"),
        Some("vmdk") => Ok("vmdk"),
        Some("vhd") => Ok("vpc"),
        _ => Err(usage(
            format!(
                "{}: cannot tell the image's format from its name",
                image.display()
            ),
            "name it .raw, .qcow2, .vmdk or .vhd (what `imgbuild build` writes)",
        )),
    }
}

fn ports(arguments: &BootArgs) -> Result<Vec<(u16, u16)>, Failure> {
    if arguments.ports.is_empty() {
        return Ok(vec![(2222, 22), (8080, 80)]);
    }
    arguments
        .ports
        .iter()
        .map(|text| {
            text.split_once(':')
                .and_then(|(host, guest)| Some((host.parse().ok()?, guest.parse().ok()?)))
                .ok_or_else(|| {
                    usage(
                        format!("--port {text}: not HOST:GUEST"),
                        "e.g. --port 2222:22",
                    )
                })
        })
        .collect()
}

/// The qemu command line (without the accelerator).
fn command(
    qemu: &Path,
    arguments: &BootArgs,
    firmware: (&str, &Path),
    accel: &str,
) -> Result<Command, Failure> {
    let format = format_of(&arguments.image)?;
    let mut command = Command::new(qemu);
    command.args(["-machine", &format!("q35,accel={accel}")]);
    command.args([
        "-smp",
        &arguments.cpus.to_string(),
        "-m",
        &arguments.memory.to_string(),
    ]);
    command.args([
        "-display",
        "none",
        "-nodefaults",
        "-device",
        "virtio-rng-pci",
    ]);
    command.args([
        "-drive",
        &format!("if=pflash,format=raw,readonly=on,file={}", firmware.0),
    ]);
    command.args([
        "-drive",
        &format!("if=pflash,format=raw,file={}", firmware.1.display()),
    ]);
    command.args([
        "-drive",
        &format!(
            "file={},if=virtio,format={format}{}",
            arguments.image.display(),
            if arguments.persist {
                ""
            } else {
                ",snapshot=on"
            }
        ),
    ]);
    for medium in &arguments.media {
        if !medium.is_file() {
            return Err(usage(
                format!("--medium {}: no such file", medium.display()),
                "build one with e.g. `imgbuild build examples/fleet.rhai`",
            ));
        }
        command.args([
            "-drive",
            &format!("file={},if=virtio,format=raw,readonly=on", medium.display()),
        ]);
    }
    let forwards: Vec<String> = ports(arguments)?
        .iter()
        .map(|(host, guest)| format!(",hostfwd=tcp:127.0.0.1:{host}-:{guest}"))
        .collect();
    command.args([
        "-nic",
        &format!("user,model=virtio-net-pci{}", forwards.concat()),
    ]);
    match &arguments.console {
        Some(file) => command.args(["-serial", &format!("file:{}", file.display())]),
        None => command.args(["-serial", "mon:stdio"]),
    };
    Ok(command)
}

/// Runs `imgbuild boot`.
pub fn run(arguments: &BootArgs) -> Result<(), Failure> {
    if !arguments.image.is_file() {
        return Err(usage(
            format!("{}: no such image", arguments.image.display()),
            "build one first, e.g. `imgbuild build recipes/web.rhai` writes result/web.qcow2",
        ));
    }
    format_of(&arguments.image)?;
    ports(arguments)?;
    let qemu = find_program("qemu-system-x86_64").ok_or_else(|| {
        Failure::environment("qemu-system-x86_64 is not installed (Debian package qemu-system-x86; scripts/setup.sh installs it)")
    })?;
    let Some((code, vars)) = FIRMWARE
        .iter()
        .find(|(code, vars)| Path::new(code).exists() && Path::new(vars).exists())
    else {
        return Err(Failure::environment(
            "no UEFI firmware: install OVMF (Debian package ovmf; scripts/setup.sh installs it)",
        ));
    };
    let scratch = tempfile::Builder::new()
        .prefix("imgbuild-boot-")
        .tempdir()
        .map_err(Failure::environment)?;
    let own_vars = scratch.path().join("OVMF_VARS.fd");
    std::fs::copy(vars, &own_vars).map_err(Failure::environment)?;
    let kvm_usable = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    let mut accel = match arguments.accel {
        Accel::Tcg => "tcg",
        Accel::Kvm => "kvm",
        Accel::Auto if kvm_usable => "kvm",
        Accel::Auto => "tcg",
    };
    loop {
        let mut qemu_command = command(&qemu, arguments, (code, &own_vars), accel)?;
        if arguments.dry_run {
            println!("{qemu_command:?}");
            return Ok(());
        }
        eprintln!(
            "booting {} ({accel}{}), {}",
            arguments.image.display(),
            if arguments.persist {
                ""
            } else {
                ", writes discarded"
            },
            if arguments.console.is_some() {
                "console in the file"
            } else {
                "quit with Ctrl-A X"
            }
        );
        let mut child = qemu_command
            .stdin(if arguments.console.is_some() {
                Stdio::null()
            } else {
                Stdio::inherit()
            })
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| {
                Failure::environment(format!("cannot run {}: {error}", qemu.display()))
            })?;
        let mut kvm_failed = false;
        if let Some(stderr) = child.stderr.take() {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if accel == "kvm"
                    && arguments.accel == Accel::Auto
                    && line.contains("KVM internal error")
                {
                    kvm_failed = true;
                    let _ = child.kill();
                    break;
                }
                if !line.contains("host doesn't support requested feature") {
                    let _ = writeln!(std::io::stderr(), "{line}");
                }
            }
        }
        let status = child.wait().map_err(Failure::environment)?;
        if kvm_failed {
            eprintln!("KVM cannot run this guest here (KVM internal error): restarting under TCG");
            std::fs::copy(vars, &own_vars).map_err(Failure::environment)?;
            accel = "tcg";
            continue;
        }
        return if status.success() {
            Ok(())
        } else {
            Err(Failure::environment(format!("qemu exited with {status}")))
        };
    }
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .map(|directory| directory.join(name))
        .find(|candidate| candidate.is_file())
}
