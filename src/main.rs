//! The `imgbuild` command: a thin CLI over the evaluator, engine, store and builtins
//! crates.
//!
//! Only this crate knows about terminals, JSON output and exit codes.

mod cli;
mod cli_provenance;
mod commands;
mod errors;
mod progress;
mod project;
mod sandbox_settings;
mod secrets;
mod settings;

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::process::ExitCode;

use clap::Parser;
use imgbuild_evaluator::AllocationCount;
use mimalloc::MiMalloc;

use crate::cli::{Cli, Command};
use crate::errors::Failure;

/// mimalloc: evaluating a large recipe allocates and frees millions of small values;
/// glibc's allocator spends a quarter of the time in bookkeeping there. Counted per
/// thread for the evaluator's memory and allocation limits.
#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

thread_local! {
    static ALLOCATION_COUNT: Cell<AllocationCount> =
        const { Cell::new(AllocationCount { in_use: 0, allocations: 0 }) };
}

/// mimalloc, counting what each thread allocates (see [`AllocationCount`]).
struct CountingAllocator;

fn count_allocation(grown: usize, shrunk: usize) {
    ALLOCATION_COUNT.with(|cell| {
        let mut count = cell.get();
        count.in_use = count
            .in_use
            .wrapping_add(grown as u64)
            .wrapping_sub(shrunk as u64);
        count.allocations = count.allocations.wrapping_add(1);
        cell.set(count);
    });
}

fn count_free(size: usize) {
    ALLOCATION_COUNT.with(|cell| {
        let mut count = cell.get();
        count.in_use = count.in_use.wrapping_sub(size as u64);
        cell.set(count);
    });
}

/// What this thread has allocated so far.
fn allocation_count() -> AllocationCount {
    ALLOCATION_COUNT.with(Cell::get)
}

// SAFETY: every method passes its arguments unchanged to mimalloc, whose contract is
// the same; counting touches only a constant-initialised thread-local without a
// destructor, which neither allocates nor fails.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_allocation(layout.size(), 0);
        // SAFETY: the caller upholds `alloc`'s contract; forwarded unchanged.
        unsafe { MiMalloc.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_allocation(layout.size(), 0);
        // SAFETY: as for `alloc`.
        unsafe { MiMalloc.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        count_free(layout.size());
        // SAFETY: `pointer` came from this allocator, i.e. from mimalloc, with `layout`.
        unsafe { MiMalloc.dealloc(pointer, layout) }
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_allocation(new_size, layout.size());
        // SAFETY: as for `dealloc`; `new_size` is the caller's, forwarded unchanged.
        unsafe { MiMalloc.realloc(pointer, layout, new_size) }
    }
}

/// Runs the command on a thread with a large stack, whose use evaluation limits: Rhai
/// walks recipe values recursively. A panic (already reported by the hook) is exit 101.
fn main() -> ExitCode {
    // The sandbox's helper and init are this binary too; the helper must start before
    // any thread does (a multi-threaded process cannot enter a new user namespace).
    let mut arguments = std::env::args_os().skip(1);
    match arguments.next() {
        Some(first) if first == imgbuild_builtins::sandbox::helper::ARGUMENT => {
            std::process::exit(imgbuild_builtins::sandbox::helper::main())
        }
        Some(first) if first == imgbuild_builtins::sandbox::init::ARGUMENT => {
            std::process::exit(imgbuild_builtins::sandbox::init::main(arguments.collect()))
        }
        _ => {}
    }
    imgbuild_evaluator::count_allocations_with(allocation_count);
    imgbuild_evaluator::on_large_stack(run).unwrap_or(ExitCode::from(101))
}

fn run() -> ExitCode {
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
        Command::Libraries(arguments) => commands::libraries::run(store, arguments),
        Command::Log(arguments) => commands::log::run(store, arguments),
        Command::Store(command) => commands::store::run(store, command),
        Command::Boot(arguments) => commands::boot::run(arguments),
        Command::Worker(arguments) => commands::worker::run(store, arguments),
        Command::Doc(arguments) => commands::doc::run(store, arguments),
        Command::Sign(arguments) => commands::sign::run(store, arguments),
        Command::Verify(arguments) => commands::sign::verify(arguments),
        Command::Diff(arguments) => commands::diff::run(store, arguments),
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
