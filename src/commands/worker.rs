//! `imgbuild worker`: serve a remote engine's actions with this machine's builders.

use std::path::Path;

use imgbuild_remote::{Machine, WorkerOptions};

use crate::cli::WorkerArgs;
use crate::errors::Failure;

/// Runs `imgbuild worker`.
pub fn run(store_dir: Option<&Path>, arguments: &WorkerArgs) -> Result<(), Failure> {
    let Some(super::remote::Resolved { mut settings, .. }) =
        super::remote::settings(&arguments.remote)?
    else {
        return Err(Failure::Recipe(miette::miette!(
            help = "e.g. imgbuild worker --remote grpc://127.0.0.1:50051",
            "imgbuild worker needs --remote URL"
        )));
    };
    settings.need_execution = true;
    let client = super::remote::connect(&settings)?;
    let config = crate::settings::build_config(arguments.offline, arguments.mirror.as_deref());
    let store = super::open_store(store_dir)?;
    let _session = store.build_session()?;
    let bot_id = arguments.id.clone().unwrap_or_else(|| {
        let host = rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned();
        format!("{host}-{}", std::process::id())
    });
    let builders = imgbuild_builtins::builder;
    let machine = Machine {
        store: &store,
        builders: &builders,
        config: &config,
    };
    let say = |line: &str| eprintln!("{line}");
    let options = WorkerOptions {
        bot_id,
        max_leases: arguments.max_actions,
        kind_version: &imgbuild_builtins::kind_version,
        imgbuild_version: env!("CARGO_PKG_VERSION"),
        say: &say,
    };
    imgbuild_remote::serve(&client, &machine, &options)
        .map_err(|error| Failure::Environment(miette::miette!("{error}")))
}
