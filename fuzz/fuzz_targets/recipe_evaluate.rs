//! The recipe evaluator on arbitrary recipe text, with every builtin registered and no
//! store, network or lock file: every input evaluates to a graph or a diagnostic, and
//! the diagnostic renders (spans inside the source).
//!
//! Evaluation runs as the `imgbuild` binary runs it: on a thread with the evaluator's
//! large stack (`on_large_stack`), with a global allocator that counts per thread so
//! that the memory and allocation limits apply, and with the default limits except 200,000
//! operations and 10 seconds (so that the evaluator's own limits, not libFuzzer's
//! timeout, stop a slow input).
//!
//! The recipe is written to a file in a fresh temporary directory (the evaluator reads
//! recipes from files, and relative paths resolve next to it), which also holds what the
//! seed recipes refer to: inventories, a few files, and the library `lib/site`.

#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use imgbuild_evaluator::{evaluate, AllocationCount, EvalOptions, Limits};
use libfuzzer_sys::fuzz_target;

/// The system allocator, counting what each thread allocates, like the binary's.
#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

thread_local! {
    static ALLOCATION_COUNT: Cell<AllocationCount> =
        const { Cell::new(AllocationCount { in_use: 0, allocations: 0 }) };
}

struct CountingAllocator;

fn count(grown: usize, shrunk: usize, allocations: u64) {
    ALLOCATION_COUNT.with(|cell| {
        let mut count = cell.get();
        count.in_use = count
            .in_use
            .wrapping_add(grown as u64)
            .wrapping_sub(shrunk as u64);
        count.allocations = count.allocations.wrapping_add(allocations);
        cell.set(count);
    });
}

fn allocation_count() -> AllocationCount {
    ALLOCATION_COUNT.with(Cell::get)
}

// SAFETY: every method forwards its arguments unchanged to the system allocator, whose
// contract is the same; counting touches only a constant-initialised thread-local
// without a destructor.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size(), 0, 1);
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size(), 0, 1);
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        count(0, layout.size(), 0);
        unsafe { System.dealloc(pointer, layout) }
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size, layout.size(), 1);
        unsafe { System.realloc(pointer, layout, new_size) }
    }
}

struct Fixture {
    _directory: tempfile::TempDir,
    recipe: PathBuf,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let directory = tempfile::tempdir().expect("temporary directory");
        let recipe = directory.path().join("recipe.rhai");
        for (path, contents) in [
            ("fleet.csv", include_str!("../../examples/fleet.csv")),
            (
                "fleet.json",
                include_str!("../seeds/inventory_json/fleet.json"),
            ),
            ("lib/site.rhai", include_str!("../../recipes/lib/site.rhai")),
            ("files/banner.txt", "hello\n"),
            ("files/hello.sh", "#!/bin/sh\necho hello\n"),
            ("data/run.sh", "#!/bin/sh\necho run\n"),
            ("data/readme", "data\n"),
        ] {
            let path = directory.path().join(path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("fixture directory");
            }
            std::fs::write(path, contents).expect("fixture file");
        }
        Fixture {
            _directory: directory,
            recipe,
        }
    })
}

/// The options of every evaluation: no secret key (a recipe using secrets is an
/// error), a few `--arg`s, 200,000 operations and 10 seconds at most.
fn options() -> EvalOptions {
    static FUNCTION_NAMES: OnceLock<Vec<String>> = OnceLock::new();
    EvalOptions {
        args: BTreeMap::from([
            ("n".to_owned(), "3".to_owned()),
            ("inventory".to_owned(), "fleet.csv".to_owned()),
        ]),
        limits: Limits {
            max_operations: 200_000,
            max_duration: Duration::from_secs(10),
            ..Limits::default()
        },
        function_names: FUNCTION_NAMES
            .get_or_init(imgbuild_builtins::function_names)
            .clone(),
        ..EvalOptions::default()
    }
}

/// Evaluates the recipe file; runs on the large-stack thread.
fn evaluate_recipe() {
    let register = |engine: &mut imgbuild_evaluator::rhai::Engine,
                    state: &imgbuild_evaluator::SharedState| {
        imgbuild_builtins::register(engine, state);
    };
    match evaluate(&fixture().recipe, &options(), &register) {
        Ok(evaluation) => {
            assert!(
                !evaluation.graph.outputs().is_empty(),
                "a graph without outputs"
            );
        }
        Err(diagnostic) => {
            let mut rendered = String::new();
            miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
                .render_report(&mut rendered, diagnostic.as_ref())
                .expect("render the diagnostic");
        }
    }
}

fuzz_target!(
    init: {
        imgbuild_evaluator::count_allocations_with(allocation_count);
    },
    |data: &[u8]| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        std::fs::write(&fixture().recipe, text).expect("write the recipe");
        if let Err(panic) = imgbuild_evaluator::on_large_stack(evaluate_recipe) {
            std::panic::resume_unwind(panic);
        }
    }
);
