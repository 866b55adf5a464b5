//! Damage in the store, as the scheduler meets it: a missing or corrupt object below an
//! output, or an output record that is not authentic.
//!
//! A build can meet damage in three places, and each ends the same way — the damaged
//! output reads as absent and its derivation is rebuilt, which writes the missing
//! objects again:
//!
//! - a record found by recipe identity or cache key is not authentic (edited or copied
//!   by hand): the store says [`OutputLookup::Rejected`]; it is ignored and reported;
//! - a builder fails on a missing or corrupt object of an input
//!   ([`StoreError::damaged_object`]): the step is listed in [`Outcome::damaged`] and
//!   [`Outcome::saw_corruption`] is set, and the caller builds again with
//!   [`Options::deep_check`];
//! - with `deep_check`, every output found in the store is re-checked in full by
//!   [`Store::repair_output`], which clears the way for its rebuild when something
//!   below it is missing or corrupt.
//!
//! (The CLI handles the fourth place, writing results, with
//! [`Store::invalidate_object`].) Each case is one [`Damage`] with a sentence naming
//! the object, which the CLI shows as a warning.
//!
//! [`Outcome::damaged`]: crate::Outcome::damaged
//! [`Outcome::saw_corruption`]: crate::Outcome::saw_corruption
//! [`Options::deep_check`]: crate::Options::deep_check

use imgbuild_derivation::DrvId;
use imgbuild_store::{Digest, OutputIndex, OutputLookup, OutputRecord, Store, StoreError};

use crate::error::BuildError;

/// Damage met while building one derivation, and what is done about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The derivation whose output was damaged, or whose step met the damage.
    pub id: DrvId,
    /// What was wrong and what happens now, as a sentence without the derivation's name
    /// (`its output was damaged in the store: blob …: missing from the store (needed by
    /// `a.txt`); rebuilding it`).
    pub description: String,
}

/// At most this many problems are spelled out per output.
const SHOWN_PROBLEMS: usize = 3;

/// Looks `key` up in `index`. With `deep_check`, a record found is checked in full and
/// its output repaired when damaged (it then counts as absent). Returns the usable
/// record, if any, and what was wrong, if anything.
pub(crate) fn lookup(
    store: &Store,
    index: OutputIndex,
    key: &Digest,
    deep_check: bool,
) -> Result<(Option<OutputRecord>, Option<String>), StoreError> {
    let record = match store.lookup_output(index, key)? {
        OutputLookup::Found(record) => record,
        OutputLookup::Absent => return Ok((None, None)),
        OutputLookup::Rejected { path, reason } => {
            let description = format!(
                "its output record `{}` was rejected ({reason}); it is not used",
                path.display()
            );
            return Ok((None, Some(description)));
        }
    };
    if !deep_check {
        return Ok((Some(record), None));
    }
    let problems = store.repair_output(&record)?;
    if problems.is_empty() {
        return Ok((Some(record), None));
    }
    let mut shown: Vec<String> = problems
        .iter()
        .take(SHOWN_PROBLEMS)
        .map(ToString::to_string)
        .collect();
    if problems.len() > SHOWN_PROBLEMS {
        shown.push(format!("and {} more", problems.len() - SHOWN_PROBLEMS));
    }
    let description = format!(
        "its output was damaged in the store: {}; rebuilding it",
        shown.join("; ")
    );
    Ok((None, Some(description)))
}

/// When a step failed because an object it read is missing or corrupt: what to tell.
pub(crate) fn damage_in(error: &BuildError) -> Option<String> {
    let BuildError::Store(error) = error else {
        return None;
    };
    error.damaged_object()?;
    Some(format!(
        "{}; checking what it reads and rebuilding what is damaged",
        crate::error::describe(error)
    ))
}
