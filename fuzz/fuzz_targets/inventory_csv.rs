//! The CSV inventory reader (`inventory::csv`) on arbitrary file contents: every
//! input is rows or an error, and every row has a non-empty `name`.

#![no_main]

use imgbuild_builtins::media::inventory::fuzzing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(rows) = fuzzing::csv(data) {
        for row in rows {
            let row = row.cast::<imgbuild_evaluator::rhai::Map>();
            let name = row
                .get("name")
                .map(|name| name.to_string())
                .unwrap_or_default();
            assert!(!name.trim().is_empty(), "a row without a name was accepted");
        }
    }
});
