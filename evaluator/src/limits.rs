//! Evaluation limits: what stops a broken or hostile recipe before it stops the machine.
//!
//! A recipe is a program, so its evaluation must end, and end with a recipe error that
//! names the limit and the line, never with an abort. Rhai bounds operations (an endless
//! loop), nested calls (a runaway recursion) and nesting in the source text (the parser).
//! That is not enough, because Rhai works on whole values in one operation: `s += s`
//! doubles a string, and Rhai clones, compares, prints and drops maps and arrays
//! recursively, so a value nested 60,000 levels deep takes quadratic time to build and
//! overflows the stack when walked. Rhai's own size limits would catch part of this, but
//! with any of them set Rhai re-measures every array and map after each change (a
//! 100,000-node graph took 3 s instead of 0.4 s). So evaluation adds limits of its own,
//! checked where they cost next to nothing — at every operation, in Rhai's progress
//! callback:
//!
//! - **Memory** in use by the evaluating thread (1 GiB) and **allocations** made
//!   (50 million: the copying that Rhai's operation counter does not see, such as a loop
//!   `m = #{ a: m }` copying the whole value on every turn). The binary's global
//!   allocator counts both per thread and hands evaluation a reader with
//!   [`count_allocations_with`]; without one these two limits do nothing.
//! - **Stack**: [`on_large_stack`] runs the command on a thread with a 1 GiB stack
//!   (reserved; pages are committed only when touched), and evaluation stops when three
//!   quarters of it are in use (printing or comparing a deeply nested value, imports
//!   chained thousands deep).
//! - **Time** (60 s): the backstop for work no counter sees, such as Rhai walking a
//!   deep value again at each assignment.
//! - **Value depth** ([`MAX_VALUE_DEPTH`]): derivation arguments and the outputs map
//!   nest at most 128 maps and arrays, so the canonical encoding and everything after it
//!   recurse at most that deep.
//! - Operations that would allocate past the memory limit at once (`blob(n)`, `pad`)
//!   are refused before they allocate.
//!
//! The recipe cannot catch a limit with `try`/`catch`: evaluation ends there.

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rhai::{Array, Blob, Dynamic, Engine, EvalAltResult, ImmutableString, INT};

use crate::args::BuiltinError;

/// How deep maps and arrays may nest in derivation arguments and in the outputs map.
pub const MAX_VALUE_DEPTH: usize = 128;

/// The stack [`on_large_stack`] reserves for the command's thread.
pub const STACK_SIZE: usize = 1 << 30;

/// Resource limits of one evaluation.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Maximum Rhai operations (an endless loop stops here).
    pub max_operations: u64,
    /// Maximum function call depth (runaway recursion stops here).
    pub max_call_levels: usize,
    /// Maximum nesting of expressions, blocks, maps and arrays in the source text.
    pub max_expression_depth: usize,
    /// The same inside function bodies.
    pub max_function_expression_depth: usize,
    /// Maximum bytes in use by the evaluating thread (needs [`count_allocations_with`]).
    pub max_memory: u64,
    /// Maximum allocations the evaluating thread makes (needs [`count_allocations_with`]).
    pub max_allocations: u64,
    /// Maximum wall time of the evaluation.
    pub max_duration: Duration,
    /// Maximum length of one string, in bytes (0: unlimited). Setting any of Rhai's
    /// data size limits makes it re-measure every array and map (recursively) after each
    /// change, which turns building a large graph quadratic; so by default the memory
    /// limit bounds growth instead.
    pub max_string_size: usize,
    /// Maximum number of items in one array (0: unlimited; same reason).
    pub max_array_size: usize,
    /// Maximum number of entries in one map (0: unlimited; same reason).
    pub max_map_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_operations: 100_000_000,
            max_call_levels: 48,
            max_expression_depth: 128,
            max_function_expression_depth: 64,
            max_memory: 1 << 30,
            max_allocations: 50_000_000,
            max_duration: Duration::from_secs(60),
            max_string_size: 0,
            max_array_size: 0,
            max_map_size: 0,
        }
    }
}

thread_local! {
    /// Where the stack of a thread started by [`on_large_stack`] begins.
    static STACK_TOP: Cell<usize> = const { Cell::new(0) };
}

/// What a counting global allocator has seen on the current thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AllocationCount {
    /// Bytes allocated minus bytes freed (wrapping: a thread may free what another
    /// allocated).
    pub in_use: u64,
    /// Allocations and reallocations made.
    pub allocations: u64,
}

static ALLOCATION_COUNTER: OnceLock<fn() -> AllocationCount> = OnceLock::new();

/// Tells evaluation how to read the current thread's [`AllocationCount`]; the binary
/// passes its global allocator's counter. (The counter lives in the binary so that
/// counting inlines into every allocation: a thread-local of this crate costs the
/// allocator two function calls each time, 3% of a large evaluation.)
pub fn count_allocations_with(counter: fn() -> AllocationCount) {
    // A second call changes nothing: one process, one allocator.
    let _ = ALLOCATION_COUNTER.set(counter);
}

fn not_counted() -> AllocationCount {
    AllocationCount::default()
}

fn allocation_counter() -> fn() -> AllocationCount {
    ALLOCATION_COUNTER
        .get()
        .copied()
        .unwrap_or(not_counted as fn() -> AllocationCount)
}

/// The address of a local of the calling frame: how deep the stack is.
#[inline(always)]
fn stack_address() -> usize {
    let marker = 0_u8;
    std::hint::black_box(std::ptr::addr_of!(marker)) as usize
}

/// Runs `work` on a thread with a [`STACK_SIZE`] stack, whose use evaluation then
/// limits; if no such thread can be made (address space limited), runs it here, where
/// the stack limit is not checked. A panic in `work` comes back as the `Err`.
pub fn on_large_stack<R: Send + 'static>(work: fn() -> R) -> std::thread::Result<R> {
    let spawned = std::thread::Builder::new()
        .name("main".to_owned())
        .stack_size(STACK_SIZE)
        .spawn(move || {
            STACK_TOP.with(|cell| cell.set(stack_address()));
            work()
        });
    match spawned {
        Ok(thread) => thread.join(),
        Err(_) => Ok(work()),
    }
}

/// The memory an evaluation started with, to measure what it holds now.
#[derive(Clone, Copy, Debug)]
struct Budget {
    counter: fn() -> AllocationCount,
    in_use_at_start: u64,
    max_memory: u64,
}

impl Budget {
    fn in_use(self) -> u64 {
        let in_use = (self.counter)().in_use.wrapping_sub(self.in_use_at_start);
        // Below the start (memory of others freed here) wraps to a huge value.
        if in_use > u64::MAX / 2 {
            0
        } else {
            in_use
        }
    }

    /// Refuses to allocate `bytes` more at once if that would pass the memory limit.
    fn reserve(self, bytes: u64, what: &str) -> Result<(), BuiltinError> {
        if self.in_use().saturating_add(bytes) > self.max_memory {
            let help = if bytes == 0 {
                format!("{what} used it up;")
            } else {
                format!("{what} needs {} at once;", size(bytes))
            };
            return Err(memory_error(self.max_memory, &help));
        }
        Ok(())
    }
}

/// What the progress callback checks.
#[derive(Debug)]
struct Meter {
    budget: Budget,
    allocations_at_start: u64,
    max_allocations: u64,
    started: Instant,
    max_duration: Duration,
    /// The lowest stack address evaluation may reach (0: the stack is not known).
    stack_floor: usize,
}

impl Meter {
    fn start(limits: &Limits, budget: Budget) -> Self {
        let top = STACK_TOP.with(Cell::get);
        Meter {
            budget,
            allocations_at_start: (budget.counter)().allocations,
            max_allocations: limits.max_allocations,
            started: Instant::now(),
            max_duration: limits.max_duration,
            stack_floor: if top == 0 {
                0
            } else {
                top.saturating_sub(STACK_SIZE / 4 * 3)
            },
        }
    }

    /// Called at every operation (`operations` is Rhai's count): memory each time (a
    /// string doubles in one operation), the rest every 256 operations (the stack has a
    /// quarter of its size to spare for that). The common case is two comparisons.
    #[inline]
    fn check(&self, operations: u64) -> Option<BuiltinError> {
        if self.budget.in_use() > self.budget.max_memory || operations.is_multiple_of(256) {
            return self.check_all(operations);
        }
        None
    }

    #[cold]
    #[inline(never)]
    fn check_all(&self, operations: u64) -> Option<BuiltinError> {
        if self.budget.in_use() > self.budget.max_memory {
            return Some(memory_error(
                self.budget.max_memory,
                "is a string or an array doubling in a loop?",
            ));
        }
        if stack_address() < self.stack_floor {
            return Some(BuiltinError::new("the recipe nests too deeply for the stack").with_help(format!(
                "a value nested many thousands of levels deep (printed or compared), or imports chained thousands deep? evaluation may use {} of stack",
                size((STACK_SIZE / 4 * 3) as u64)
            )));
        }
        let allocations = (self.budget.counter)()
            .allocations
            .wrapping_sub(self.allocations_at_start);
        if allocations > self.max_allocations {
            return Some(
                BuiltinError::new(format!(
                    "the recipe copied values too often: more than {} allocations",
                    self.max_allocations
                ))
                .with_help(
                    "Rhai copies a map or an array each time it is read: does a loop wrap a value in itself, as in `m = #{ a: m }`?",
                ),
            );
        }
        if operations.is_multiple_of(4096) && self.started.elapsed() > self.max_duration {
            return Some(BuiltinError::new(format!(
                "evaluation took longer than {} s and was stopped",
                self.max_duration.as_secs()
            )).with_help("is a loop doing far more work than intended? a recipe should evaluate in well under a second"));
        }
        None
    }
}

fn memory_error(max_memory: u64, help: &str) -> BuiltinError {
    BuiltinError::new(format!(
        "the recipe uses more than {} of memory",
        size(max_memory)
    ))
    .with_help(format!(
        "{help} evaluation may hold at most {}",
        size(max_memory)
    ))
}

fn size(bytes: u64) -> String {
    if bytes >= 1 << 30 && bytes.is_multiple_of(1 << 30) {
        format!("{} GiB", bytes >> 30)
    } else if bytes >= 1 << 20 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// Applies `limits` to `engine`: Rhai's own limits, the progress callback, and checked
/// versions of the functions that allocate in one go.
pub(crate) fn install(engine: &mut Engine, limits: &Limits) {
    engine
        .set_max_operations(limits.max_operations)
        .set_max_call_levels(limits.max_call_levels)
        .set_max_string_size(limits.max_string_size)
        .set_max_array_size(limits.max_array_size)
        .set_max_map_size(limits.max_map_size)
        .set_max_expr_depths(
            limits.max_expression_depth,
            limits.max_function_expression_depth,
        );
    let counter = allocation_counter();
    let budget = Budget {
        counter,
        in_use_at_start: counter().in_use,
        max_memory: limits.max_memory,
    };
    let meter = Meter::start(limits, budget);
    engine.on_progress(move |operations| meter.check(operations).map(Dynamic::from));
    register_checked_allocations(engine, budget);
}

/// Rhai's `blob(n)` and `pad` allocate what they are asked for at once (an abort for
/// `blob(1 << 40)`); these versions, registered over them, check the memory limit first.
/// They behave as Rhai's otherwise.
fn register_checked_allocations(engine: &mut Engine, budget: Budget) {
    let blob = move |len: INT, value: INT| -> Result<Blob, Box<EvalAltResult>> {
        let len = usize::try_from(len).unwrap_or(0);
        budget.reserve(len as u64, "the blob")?;
        Ok(vec![(value & 0xff) as u8; len])
    };
    engine
        .register_fn("blob", move |len: INT| blob(len, 0))
        .register_fn("blob", blob)
        .register_fn(
            "pad",
            move |blob: &mut Blob, len: INT, value: INT| -> Result<(), Box<EvalAltResult>> {
                let len = usize::try_from(len).unwrap_or(0);
                if len > blob.len() {
                    budget.reserve((len - blob.len()) as u64, "padding the blob")?;
                    blob.resize(len, (value & 0xff) as u8);
                }
                Ok(())
            },
        )
        .register_fn(
            "pad",
            move |array: &mut Array, len: INT, item: Dynamic| -> Result<(), Box<EvalAltResult>> {
                let len = usize::try_from(len).unwrap_or(0);
                if len <= array.len() {
                    return Ok(());
                }
                let slots = (len - array.len()) as u64;
                budget.reserve(
                    slots.saturating_mul(size_of::<Dynamic>() as u64),
                    "padding the array",
                )?;
                array.reserve(len - array.len());
                while array.len() < len {
                    // Each copy of `item` may be large itself.
                    budget.reserve(0, "padding the array")?;
                    array.push(item.clone());
                }
                Ok(())
            },
        )
        .register_fn(
            "pad",
            move |string: &mut ImmutableString, len: INT, character: char| {
                pad_string(budget, string, len, &character.to_string())
            },
        )
        .register_fn(
            "pad",
            move |string: &mut ImmutableString, len: INT, padding: &str| {
                pad_string(budget, string, len, padding)
            },
        );
}

/// Pads `string` to `len` characters with copies of `padding` (the last one cut short).
fn pad_string(
    budget: Budget,
    string: &mut ImmutableString,
    len: INT,
    padding: &str,
) -> Result<(), Box<EvalAltResult>> {
    let len = usize::try_from(len).unwrap_or(0);
    let current = string.chars().count();
    if len <= current || padding.is_empty() {
        return Ok(());
    }
    let widest = padding.chars().map(char::len_utf8).max().unwrap_or(1);
    budget.reserve(
        ((len - current) as u64).saturating_mul(widest as u64),
        "padding the string",
    )?;
    let text = string.make_mut();
    text.extend(padding.chars().cycle().take(len - current));
    Ok(())
}

/// The error for a value nested deeper than [`MAX_VALUE_DEPTH`]; `what` names it.
pub(crate) fn value_too_deep(what: &str) -> BuiltinError {
    let mut shown: String = what.chars().take(60).collect();
    if shown.len() < what.len() {
        shown.push('…');
    }
    BuiltinError::new(format!(
        "{shown} nests maps and arrays more than {MAX_VALUE_DEPTH} levels deep"
    ))
    .with_help(format!(
        "derivation arguments and the outputs map may nest at most {MAX_VALUE_DEPTH} levels"
    ))
}

/// Turns a limit hit in the progress callback (Rhai's "script terminated" with our
/// error as its token) into the error itself, so it is reported like a builtin's.
pub(crate) fn explain(error: EvalAltResult) -> EvalAltResult {
    match error {
        EvalAltResult::ErrorTerminated(token, position) => {
            EvalAltResult::ErrorRuntime(token, position)
        }
        EvalAltResult::ErrorInFunctionCall(name, source, inner, position) => {
            EvalAltResult::ErrorInFunctionCall(name, source, Box::new(explain(*inner)), position)
        }
        EvalAltResult::ErrorInModule(name, inner, position) => {
            EvalAltResult::ErrorInModule(name, Box::new(explain(*inner)), position)
        }
        other => other,
    }
}

/// The hint for a syntax error from the parser's nesting limit.
pub(crate) fn nesting_help(error: &rhai::ParseError, limits: &Limits) -> Option<String> {
    matches!(error.err_type(), rhai::ParseErrorType::ExprTooDeep).then(|| {
        format!(
            "expressions, blocks, maps and arrays may nest at most {} levels ({} inside a function)",
            limits.max_expression_depth, limits.max_function_expression_depth
        )
    })
}
