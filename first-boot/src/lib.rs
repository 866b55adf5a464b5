//! The first-boot agent imgbuild installs into images (`first_boot::agent`):
//!
//! - [`model`] — what a medium asks of an instance, whichever medium it came from;
//! - [`media`] — finding media by label and reading them without mounting (NoCloud,
//!   OpenNebula CONTEXT, OpenStack config-2) into a [`model::Instance`];
//! - [`apply`] — applying an instance to a root directory (`/` on a real boot).
//!
//! [`run`] is the command line. A boot runs `imgbuild-first-boot configure` before the
//! network and logins (hostname, network, users, keys, files, host keys, machine id)
//! and `imgbuild-first-boot scripts` after the network (the medium's and the image's
//! first-boot and every-boot scripts, each with a time limit), so that no script can
//! hold up a login. Without a medium, or with one that cannot be read (reported with
//! its file and line, nothing of it applied), the image still gets its host keys and
//! machine id and runs its own scripts: the VM stays reachable.
//!
//! It links neither the recipe language nor the store: it is a small program of its own.

pub mod apply;
pub mod media;
pub mod model;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use model::Instance;

const USAGE: &str = "usage: imgbuild-first-boot configure|scripts|show [options]

  configure   apply the medium's configuration (before the network and logins)
  scripts     run the first-boot and every-boot scripts (after the network)
  show        print what the medium holds (no secrets) and apply nothing

options:
  --root DIR        the system to configure (default /; not / = not the running system)
  --sys DIR         where block devices are listed (default /sys/class/block)
  --dev DIR         where their device files are (default /dev)
  --wait SECONDS    how long configure waits for a medium to appear (default 1)
  --timeout SECONDS the time limit of one script (default 300)
";

struct Arguments {
    command: String,
    root: PathBuf,
    sys: PathBuf,
    dev: PathBuf,
    wait: Duration,
    timeout: Duration,
}

fn parse(arguments: Vec<OsString>) -> Result<Arguments, String> {
    let mut parsed = Arguments {
        command: String::new(),
        root: PathBuf::from("/"),
        sys: PathBuf::from("/sys/class/block"),
        dev: PathBuf::from("/dev"),
        wait: Duration::from_secs(1),
        timeout: Duration::from_secs(300),
    };
    let mut items = arguments.into_iter();
    while let Some(item) = items.next() {
        let text = item.to_string_lossy().into_owned();
        let mut value = || items.next().ok_or_else(|| format!("{text} needs a value"));
        let seconds = |value: OsString| {
            value
                .to_string_lossy()
                .parse::<f64>()
                .ok()
                .filter(|seconds| seconds.is_finite() && *seconds >= 0.0 && *seconds < 1e6)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| format!("{text}: not a number of seconds"))
        };
        match text.as_str() {
            "--root" => parsed.root = PathBuf::from(value()?),
            "--sys" => parsed.sys = PathBuf::from(value()?),
            "--dev" => parsed.dev = PathBuf::from(value()?),
            "--wait" => parsed.wait = seconds(value()?)?,
            "--timeout" => parsed.timeout = seconds(value()?)?,
            "-h" | "--help" => parsed.command = "help".to_owned(),
            "--version" => parsed.command = "version".to_owned(),
            "configure" | "scripts" | "show" if parsed.command.is_empty() => parsed.command = text,
            _ => return Err(format!("unknown argument `{text}`")),
        }
    }
    Ok(parsed)
}

/// Says something on the console and in the journal (the units send stdout to both).
fn say(line: &str) {
    println!("imgbuild-first-boot: {line}");
}

/// Finds the medium to apply (waiting up to `wait` for one to appear) and reads it.
/// `None` when there is none or it cannot be read (said why).
fn medium(arguments: &Arguments, wait: Duration) -> Option<Instance> {
    let started = Instant::now();
    let found = loop {
        let found = media::find(&arguments.sys, &arguments.dev);
        if !found.is_empty() || started.elapsed() >= wait {
            break found;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let Some(first) = found.first() else {
        say("no medium (cidata, config-2 or CONTEXT): nothing to configure");
        return None;
    };
    for other in &found[1..] {
        say(&format!(
            "ignoring {} (label {}): {} (label {}) comes first (NoCloud, then config-2, then CONTEXT)",
            other.device.display(),
            other.label,
            first.device.display(),
            first.label
        ));
    }
    match media::read(first) {
        Ok(instance) => {
            say(&format!(
                "{} medium on {} (label {}), instance {}",
                apply::medium_name(instance.source),
                first.device.display(),
                first.label,
                instance.instance_id
            ));
            for warning in &instance.warnings {
                say(&format!("warning: {warning}"));
            }
            Some(instance)
        }
        Err(error) => {
            say(&format!(
                "{} (label {}): {error}; nothing from it is applied",
                first.device.display(),
                first.label
            ));
            None
        }
    }
}

fn show(instance: &Instance) {
    say(&format!(
        "hostname: {}",
        instance.hostname.as_deref().unwrap_or("(not set)")
    ));
    for interface in &instance.interfaces {
        say(&format!(
            "interface {}: {}{}",
            interface
                .mac
                .as_deref()
                .or(interface.name.as_deref())
                .unwrap_or("?"),
            if interface.dhcp4 { "DHCP " } else { "" },
            interface.addresses.join(" ")
        ));
    }
    for user in &instance.users {
        say(&format!(
            "user {}: {} SSH key(s){}{}",
            user.name,
            user.ssh_keys.len(),
            if user.sudo { ", sudo" } else { "" },
            if user.password.is_some() {
                ", a password"
            } else {
                ""
            }
        ));
    }
    for file in &instance.files {
        say(&format!(
            "file {} ({} bytes, {:o})",
            file.path,
            file.content.len(),
            file.mode
        ));
    }
    for script in &instance.scripts {
        say(&format!("script {} ({:?})", script.name, script.when));
    }
}

/// The command line; returns the exit code (0 done, 1 a step failed, 2 usage).
pub fn run(arguments: Vec<OsString>) -> i32 {
    let arguments = match parse(arguments) {
        Ok(arguments) => arguments,
        Err(message) => {
            eprintln!("imgbuild-first-boot: {message}\n{USAGE}");
            return 2;
        }
    };
    let phase = match arguments.command.as_str() {
        "configure" => apply::Phase::Configure,
        "scripts" => apply::Phase::Scripts,
        "show" => {
            return match medium(&arguments, Duration::ZERO) {
                Some(instance) => {
                    show(&instance);
                    0
                }
                None => 1,
            }
        }
        "version" => {
            println!("imgbuild-first-boot {}", env!("CARGO_PKG_VERSION"));
            return 0;
        }
        "help" => {
            print!("{USAGE}");
            return 0;
        }
        _ => {
            eprint!("{USAGE}");
            return 2;
        }
    };
    let started = Instant::now();
    let wait = if phase == apply::Phase::Configure {
        arguments.wait
    } else {
        Duration::ZERO
    };
    let instance = medium(&arguments, wait).unwrap_or_else(Instance::without_medium);
    let options = apply::Options {
        live: arguments.root == std::path::Path::new("/"),
        script_timeout: arguments.timeout,
        phase,
        ..apply::Options::default()
    };
    let report = apply::apply(&arguments.root, &instance, &options);
    for line in report.lines() {
        match line.strip_prefix("imgbuild-first-boot: ") {
            Some(rest) => say(rest),
            None => say(&line),
        }
    }
    say(&format!(
        "{} done in {} ms",
        arguments.command,
        started.elapsed().as_millis()
    ));
    i32::from(report.failed())
}
