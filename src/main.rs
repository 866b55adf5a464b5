//! The `imgbuild` command: a thin CLI over the evaluator, engine, store and builtins
//! crates.
//!
//! Only this crate knows about terminals, JSON output and exit codes.

mod cli;
mod commands;
mod errors;
mod progress;
mod secrets;
mod settings;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::errors::Failure;

/// mimalloc: evaluating a large recipe allocates and frees millions of small values;
/// glibc's allocator spends a quarter of the time in bookkeeping there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    errors::install_report_handler();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        eprintln!("error: internal bug in imgbuild (exit status 101); please report it with the lines below");
        default_hook(info);
    }));
    install_tracing();
    let cli = Cli::parse();
    let store = cli.store.as_deref();
    let result = match &cli.command {
        Command::Build(arguments) => commands::build::run(store, arguments),
        Command::Eval(arguments) => commands::eval::run(store, arguments),
        Command::Graph(arguments) => commands::graph::run(store, arguments),
        Command::Lock(arguments) => commands::lock::run(store, arguments),
        Command::Log(arguments) => commands::log::run(store, arguments),
        Command::Store(command) => commands::store::run(store, command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if let Failure::Recipe(report)
            | Failure::Environment(report)
            | Failure::Internal(report) = &failure
            {
                errors::render(report);
            }
            failure.exit_code()
        }
    }
}

/// Structured logs on stderr when `IMGBUILD_LOG` is set (e.g. `IMGBUILD_LOG=debug`): each
/// derivation's build runs in a span carrying its name, kind, identity and cache key.
fn install_tracing() {
    let Ok(filter) = std::env::var("IMGBUILD_LOG") else {
        return;
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
