//! What a build records about each result beside its bytes (`ResultProvenance` in the
//! result manifest): the derivation's recipe identity, the tree its content is made of,
//! the lock's SHA-256 and `source_date_epoch`. `imgbuild sign` puts them in a release
//! manifest; `imgbuild diff` compares the content trees of two results.

use std::collections::HashMap;
use std::path::Path;

use imgbuild_evaluator::{DrvId, Graph, Value};
use imgbuild_store::result_dir::ResultProvenance;
use imgbuild_store::{OutputIndex, OutputLookup, OutputObject, OutputRecord, Store};
use sha2::Digest as _;

/// SHA-256 (hex) of the lock file at `path`, if there is one.
pub fn lock_sha256(path: &Path) -> Option<String> {
    std::fs::read(path)
        .ok()
        .map(|bytes| hex::encode(sha2::Sha256::digest(bytes)))
}

/// The provenance of output `id`.
pub fn of(
    graph: &Graph,
    store: &Store,
    outputs: &HashMap<DrvId, OutputRecord>,
    id: DrvId,
    lock_sha256: Option<&str>,
) -> ResultProvenance {
    let root = imgbuild_builtins::provenance::content_root(graph, id);
    let record = outputs.get(&root).cloned().or_else(|| {
        let identity = graph.node(root).identity;
        match store.lookup_output(
            OutputIndex::Recipe,
            &imgbuild_store::Digest::from_bytes(identity.0),
        ) {
            Ok(OutputLookup::Found(record)) => Some(record),
            _ => None,
        }
    });
    let content = match record.map(|record| record.object) {
        Some(OutputObject::Tree { tree }) => Some(tree),
        _ => None,
    };
    ResultProvenance {
        recipe: graph.node(id).identity.to_string(),
        content,
        lock_sha256: lock_sha256.map(str::to_owned),
        source_date_epoch: source_date_epoch(graph, id),
    }
}

/// The derivation's own `source_date_epoch`, else the nearest input's (breadth first).
fn source_date_epoch(graph: &Graph, id: DrvId) -> Option<i64> {
    let mut queue = std::collections::VecDeque::from([id]);
    let mut seen = std::collections::HashSet::new();
    while let Some(id) = queue.pop_front() {
        if !seen.insert(id) {
            continue;
        }
        let derivation = &graph.node(id).derivation;
        if let Some(epoch) = derivation
            .args
            .get("source_date_epoch")
            .and_then(Value::as_int)
        {
            return Some(epoch);
        }
        queue.extend(derivation.inputs.iter().copied());
    }
    None
}
