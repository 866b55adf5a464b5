//! The core builtins: `text`, `file`, `dir`, `tree`, `merge`, `tar`, `fetch`, `secret`, `run` (a
//! program in the sandbox), the one
//! HTTP download path they and the Debian builtins share, and checks on names and
//! in-tree paths.

pub mod fetch;
pub mod http;
pub mod local;
pub mod merge;
pub mod paths;
pub mod run;
pub mod secret;
pub mod tar;
pub mod text;
pub mod tree;

use imgbuild_evaluator::rhai::{Dynamic, EvalAltResult, NativeCallContext};
use imgbuild_evaluator::BuiltinError;

/// A constructor's error, placed at the call (Rhai leaves module-qualified calls without
/// a position).
pub(crate) fn at_call(context: &NativeCallContext, error: BuiltinError) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(
        Dynamic::from(error),
        context.call_position(),
    ))
}
