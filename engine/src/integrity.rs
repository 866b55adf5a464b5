//! Deep completeness checks of outputs, used when recovering from a corrupt or missing
//! object: an output counts as present only if every object it reaches exists.

use imgbuild_store::{EntryKind, OutputObject, OutputRecord, Store};

/// True when every object `record` reaches is in the store.
pub fn is_complete(store: &Store, record: &OutputRecord) -> bool {
    match &record.object {
        OutputObject::File { blob, .. } => store.has_blob(blob),
        OutputObject::Tree { tree } => match store.load_tree(tree) {
            Ok(tree) => tree.walk().all(|(_, entry)| match &entry.kind {
                EntryKind::File { blob, .. } => store.has_blob(blob),
                _ => true,
            }),
            Err(_) => false,
        },
    }
}
