//! Evaluation limits: a runaway or hostile recipe ends with a recipe error (exit 2) that
//! names the limit and the line — within seconds, in bounded memory, never with an abort
//! or a stack overflow. Each case runs `imgbuild eval` with its address space capped at
//! 6 GiB (so a missing limit fails the test instead of the machine) and one case at a
//! time (the memory cases each use up to about 2.5 GiB).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use common::{run, scratch, unwrapped, write_files, Run, BINARY};

/// Generous for a debug build on a busy machine; the release binary needs a few seconds.
const DEADLINE: Duration = Duration::from_secs(30);

/// The address space a case may use, in KiB (the evaluation limit is 1 GiB in use).
const ADDRESS_SPACE_KIB: u64 = 6 << 20;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// `imgbuild eval recipe.rhai` under the address-space cap, in `directory`.
fn eval_capped(directory: &Path) -> Run {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!(
            "ulimit -v {ADDRESS_SPACE_KIB} && exec \"$0\" eval recipe.rhai"
        ))
        .arg(BINARY)
        .current_dir(directory)
        .env("NO_COLOR", "1")
        .env_remove("IMGBUILD_PATH")
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null());
    run(&mut command)
}

/// Evaluates `recipe`; expects exit 2 within [`DEADLINE`], a report at `recipe.rhai:LINE:`
/// (`line` 0: no position expected) and every one of `mentions` in it.
fn check(recipe: &str, line: usize, mentions: &[&str]) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let directory = scratch();
    write_files(directory.path(), &[("recipe.rhai", recipe)]);
    let started = Instant::now();
    let outcome = eval_capped(directory.path());
    let elapsed = started.elapsed();
    outcome.expect_code(2);
    let report = unwrapped(&outcome.stderr);
    if line > 0 {
        let place = format!("recipe.rhai:{line}:");
        assert!(
            report.contains(&place),
            "no {place} in:\n{}",
            outcome.stderr
        );
    }
    for mention in mentions {
        assert!(
            report.contains(mention),
            "`{mention}` not in:\n{}",
            outcome.stderr
        );
    }
    assert!(elapsed < DEADLINE, "took {elapsed:?}:\n{}", outcome.stderr);
}

#[test]
fn a_string_doubled_in_a_loop_stops_at_the_memory_limit() {
    check(
        "let s = \"x\";\nloop { s += s; }\n",
        2,
        &["more than 1 GiB of memory", "doubling"],
    );
}

#[test]
fn an_array_doubled_in_a_loop_stops_at_the_memory_limit() {
    check(
        "let a = [1];\nloop { a += a; }\n",
        2,
        &["more than 1 GiB of memory"],
    );
}

#[test]
fn an_array_pushed_to_forever_stops_at_the_memory_limit() {
    check(
        "let a = [];\nloop { a.push([1, 2, 3, 4, 5, 6, 7, 8]); }\n",
        2,
        &["more than 1 GiB of memory"],
    );
}

#[test]
fn maps_nested_60000_deep_in_the_source_stop_at_the_parser() {
    let recipe = format!(
        "let m = {}1{};\n#{{ t: text(\"t\", \"x\") }}\n",
        "#{a: ".repeat(60_000),
        "}".repeat(60_000)
    );
    check(&recipe, 1, &["nest at most 128 levels"]);
}

#[test]
fn maps_nested_60000_deep_by_a_loop_stop_at_the_allocation_limit() {
    check(
        "let m = #{};\nfor i in 0..60000 { m = #{ a: m }; }\n#{ t: text(\"t\", \"x\"), deep: m }\n",
        2,
        &["copied values too often", "50000000 allocations"],
    );
}

#[test]
fn a_runaway_recursion_through_closures_stops_at_the_call_limit() {
    check(
        "fn down(n) { [n].map(|x| down(x + 1)) }\ndown(0)\n",
        1,
        &["nested too deeply"],
    );
}

#[test]
fn a_derivation_argument_nested_too_deeply_is_refused() {
    check(
        "let m = \"leaf\";\nfor i in 0..5000 { m = [m.take()]; }\n#{ t: tree(\"t\", #{ \"/x\": #{ text: \"x\", xattrs: #{ \"user.deep\": m } } }) }\n",
        3,
        &["xattrs.user.deep[0][0]", "more than 128 levels deep"],
    );
}

#[test]
fn an_outputs_map_nested_too_deeply_is_refused() {
    check(
        "let m = text(\"t\", \"x\");\nfor i in 0..5000 { m = #{ a: m.take() }; }\nm\n",
        0,
        &["outputs map", "more than 128 levels deep"],
    );
}

#[test]
fn printing_a_value_nested_10000_deep_does_not_overflow_the_stack() {
    check(
        "let m = #{};\nfor i in 0..10000 { m = #{ a: m.take() }; }\nprint(`${m}`);\nlet same = m == m;\n#{ t: tree(\"t\", #{ \"/x\": #{ text: \"x\", xattrs: m } }) }\n",
        5,
        &["more than 128 levels deep"],
    );
}

#[test]
fn a_terabyte_blob_is_refused_before_it_is_allocated() {
    check(
        "let b = blob(1 << 40);\n",
        1,
        &["1024 GiB at once", "at most 1 GiB"],
    );
}

#[test]
fn padding_an_array_to_a_trillion_items_is_refused_before_it_is_allocated() {
    check(
        "let a = [];\na.pad(1 << 40, 0);\n",
        2,
        &["padding the array", "at most 1 GiB"],
    );
}

#[test]
fn padding_a_string_to_a_terabyte_is_refused_before_it_is_allocated() {
    check(
        "let s = \"\";\ns.pad(1 << 40, \"x\");\n",
        2,
        &["padding the string", "at most 1 GiB"],
    );
}
