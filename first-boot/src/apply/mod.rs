//! Applying an [`Instance`] to a root directory (`/` on a real boot, a temporary
//! directory in tests): [`apply`] runs every step, never stops at a failed one, and
//! returns a [`Report`] for the caller to print.
//!
//! The steps, in order:
//!
//! | step | when | module |
//! |---|---|---|
//! | `instance`: read the state, decide | every boot | `state` |
//! | `machine-id`, `ssh-host-keys` when missing | every boot | `system` |
//! | `hostname` | per instance | `hostname` |
//! | `network` | per instance | `network` |
//! | `user <name>`, `sudo <name>`, `ssh-keys <name>` | per instance | `users` |
//! | `file <path>` | per instance | `files` |
//! | `script first-boot.d/*`, then the medium's per-instance scripts | per instance | `scripts` |
//! | `state`: record the instance id | per instance | `state` |
//! | `script every-boot.d/*`, then the medium's every-boot scripts | every boot | `scripts` |
//!
//! Per-instance steps run when the instance id differs from the one recorded in the
//! state directory (or none is); the record is written after them, so a crash midway
//! runs them again at the next boot, and each is idempotent to make that safe. Users come
//! before files so files can belong to the medium's users; scripts come last so they see
//! everything else applied.
//!
//! **Invariant:** nothing secret is left readable by anyone but root: the state
//! directory is 0700, the copied scripts 0700 in a 0700 directory (removed after their
//! run), the log 0600, and passwords reach no report, log, error or command line.
//!
//! **Invariant:** every path written is under the root: paths from the medium are
//! checked and symbolic links resolved inside the root (`root`).

mod accounts;
mod error;
mod files;
mod hostname;
mod network;
mod path;
mod program;
mod report;
mod root;
mod scripts;
mod state;
mod system;
mod users;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use error::ApplyError;
pub use report::{Outcome, Report, Step};
pub use state::DEFAULT_DIRECTORY as DEFAULT_STATE_DIRECTORY;

use crate::model::{Instance, Source, When};
use root::{Ownership, Root, TargetPath};

/// How [`apply`] runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The root is the running system (`/` at boot): also set the kernel's host name.
    /// False in tests and whenever the root is not the running system.
    pub live: bool,
    /// How long one script may run before its process group is killed.
    pub script_timeout: Duration,
    /// The shell for scripts without a `#!` line.
    pub shell: PathBuf,
    /// The state directory, as the instance sees it.
    pub state_directory: String,
    /// Which steps run.
    pub phase: Phase,
}

/// Which steps [`apply`] runs. A boot runs [`Phase::Configure`] before the network and
/// logins, and [`Phase::Scripts`] later, so that a slow or hanging script never holds up
/// a login. Each phase keeps its own record of the last instance it handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Everything, in the table's order (one record).
    All,
    /// Everything but the scripts.
    Configure,
    /// Only the scripts: per-instance ones for a new instance, every-boot ones always.
    Scripts,
}

impl Default for Options {
    /// Live, 300 s per script, `/bin/sh`, [`DEFAULT_STATE_DIRECTORY`].
    fn default() -> Options {
        Options {
            live: true,
            script_timeout: Duration::from_secs(300),
            shell: PathBuf::from("/bin/sh"),
            state_directory: state::DEFAULT_DIRECTORY.to_owned(),
            phase: Phase::All,
        }
    }
}

/// What a step did when it did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Applied {
    /// Done; the message says what.
    Done(String),
    /// Not applicable; the message says why.
    Skipped(String),
}

/// Runs `step` and records it in `report` as `name`; returns its outcome.
pub(crate) fn timed(
    report: &mut Report,
    name: String,
    step: impl FnOnce() -> Result<Applied, ApplyError>,
) -> Outcome {
    let started = Instant::now();
    let (outcome, message) = match step() {
        Ok(Applied::Done(message)) => (Outcome::Done, message),
        Ok(Applied::Skipped(message)) => (Outcome::Skipped, message),
        Err(error) => (Outcome::Failed, error.to_string()),
    };
    report.push(name, outcome, message, started.elapsed());
    outcome
}

/// The `IMGBUILD_MEDIUM` value for a source.
pub fn medium_name(source: Source) -> &'static str {
    match source {
        Source::NoCloud => "nocloud",
        Source::OpenNebula => "context",
        Source::ConfigDrive => "config-2",
        Source::None => "none",
    }
}

/// Applies `instance` to the file system at `root` (see the module documentation) and
/// reports what was done; every path written is under `root`.
pub fn apply(root: &Path, instance: &Instance, options: &Options) -> Report {
    let started = Instant::now();
    let mut report = Report::default();
    let target = match Root::open(root) {
        Ok(target) => target,
        Err(error) => {
            report.push(
                "root",
                Outcome::Failed,
                error.to_string(),
                started.elapsed(),
            );
            report.total = started.elapsed();
            return report;
        }
    };
    let state_directory = match TargetPath::new(&options.state_directory) {
        Ok(directory) => directory,
        Err(error) => {
            report.push(
                "instance",
                Outcome::Failed,
                error.to_string(),
                started.elapsed(),
            );
            report.total = started.elapsed();
            return report;
        }
    };
    let configure = options.phase != Phase::Scripts;
    let scripted = options.phase != Phase::Configure;
    let record = if options.phase == Phase::Scripts {
        state::SCRIPTED
    } else {
        state::CONFIGURED
    };
    let per_instance = gate(&target, &state_directory, record, instance, &mut report);
    if configure {
        timed(&mut report, "machine-id".to_owned(), || {
            system::machine_id(&target)
        });
        timed(&mut report, "ssh-host-keys".to_owned(), || {
            system::ssh_host_keys(&target)
        });
    }
    let context = scripts::Context {
        root: &target,
        state: &state_directory,
        instance_id: &instance.instance_id,
        medium: medium_name(instance.source),
        options,
    };
    if per_instance {
        if configure {
            timed(&mut report, "hostname".to_owned(), || {
                match &instance.hostname {
                    Some(name) => hostname::apply(&target, name, options.live),
                    None => Ok(Applied::Skipped("not in the medium".to_owned())),
                }
            });
            timed(&mut report, "network".to_owned(), || {
                network::apply(&target, instance)
            });
            users::apply(&target, &instance.users, &mut report);
            files::apply(&target, &instance.files, &mut report);
        }
        if scripted {
            run_scripts(
                &context,
                "/etc/imgbuild/first-boot.d",
                instance,
                When::PerInstance,
                &mut report,
            );
        }
        timed(&mut report, "state".to_owned(), || {
            state::record(&target, &state_directory, record, &instance.instance_id)
                .map(|()| Applied::Done(format!("recorded instance {}", instance.instance_id)))
        });
    }
    if scripted {
        run_scripts(
            &context,
            "/etc/imgbuild/every-boot.d",
            instance,
            When::EveryBoot,
            &mut report,
        );
    }
    report.total = started.elapsed();
    log_report(&target, &report);
    report
}

/// Decides whether the per-instance steps run, reporting it as the `instance` step.
fn gate(
    target: &Root,
    directory: &TargetPath,
    record: &str,
    instance: &Instance,
    report: &mut Report,
) -> bool {
    let started = Instant::now();
    let recorded =
        state::prepare(target, directory).and_then(|()| state::recorded(target, directory, record));
    let (run, outcome, message) = match recorded {
        Ok(Some(id)) if id == instance.instance_id => (
            false,
            Outcome::Skipped,
            format!("instance {id} was applied before: per-instance steps skipped"),
        ),
        Ok(Some(id)) => (
            true,
            Outcome::Done,
            format!("new instance {} (was {id})", instance.instance_id),
        ),
        Ok(None) => (
            true,
            Outcome::Done,
            format!("first boot of instance {}", instance.instance_id),
        ),
        Err(error) => (
            true,
            Outcome::Failed,
            format!("{error}; applying instance {} as new", instance.instance_id),
        ),
    };
    report.push("instance", outcome, message, started.elapsed());
    run
}

/// Runs the image's scripts in `directory`, then the medium's scripts for `when`.
fn run_scripts(
    context: &scripts::Context<'_>,
    directory: &str,
    instance: &Instance,
    when: When,
    report: &mut Report,
) {
    let mut runnable = match scripts::image_scripts(context.root, directory) {
        Ok(found) => found,
        Err(error) => {
            report.push(
                format!("scripts {directory}"),
                Outcome::Failed,
                error.to_string(),
                Duration::ZERO,
            );
            Vec::new()
        }
    };
    runnable.extend(
        instance
            .scripts
            .iter()
            .filter(|script| script.when == when)
            .map(|script| scripts::Runnable {
                name: format!("medium/{}", script.name),
                body: script.body.clone(),
            }),
    );
    scripts::run_all(context, &runnable, report);
}

/// Appends the report's lines to the log (best effort: the caller prints them anyway).
fn log_report(target: &Root, report: &Report) {
    let Ok(path) = TargetPath::new(scripts::LOG) else {
        return;
    };
    let mut text = report.lines().join("\n");
    text.push('\n');
    let _ = target.append(&path, text.as_bytes(), Ownership::root(0o600), true);
}
