//! Helpers shared by the fuzz targets in `fuzz_targets/`: turning fuzz input into an
//! ISO volume ([`iso_volume`]) and an independent ISO 9660 reader that reads a written
//! image back and checks its structure ([`iso_reader`]).
//!
//! Every target is a `fuzz_target!` over bytes; a panic, an abort, a timeout or running
//! out of memory is a finding. Library code must answer bad input with a typed error.

pub mod iso_reader;
pub mod iso_volume;
