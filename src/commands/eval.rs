//! `imgbuild eval`: outputs and derivations, nothing built.

use std::io::Write;

use serde_json::json;

use crate::cli::EvalArgs;
use crate::errors::Failure;

/// Runs `imgbuild eval`.
pub fn run(store: Option<&std::path::Path>, arguments: &EvalArgs) -> Result<(), Failure> {
    let (evaluation, _) = super::load(store, &arguments.recipe)?;
    let graph = &evaluation.graph;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let written = if arguments.json {
        let outputs: Vec<_> = graph
            .outputs()
            .iter()
            .map(|output| {
                let node = graph.node(output.derivation);
                json!({ "name": output.name, "derivation": node.identity.to_hex(), "kind": node.derivation.kind })
            })
            .collect();
        let derivations: Vec<_> = graph
            .nodes()
            .iter()
            .map(|node| super::graph::node_json(graph, node))
            .collect();
        // Requests the lock file does not answer yet (`imgbuild lock` resolves them).
        let pending: Vec<_> = evaluation
            .pending
            .iter()
            .map(|request| {
                let origin = request.origin.as_ref().map(|origin| {
                    json!({ "file": &*origin.file, "line": origin.line, "column": origin.column })
                });
                json!({ "section": request.section, "name": request.name, "origin": origin })
            })
            .collect();
        serde_json::to_writer(
            &mut out,
            &json!({ "outputs": outputs, "derivations": derivations, "pending": pending }),
        )
        .map_err(std::io::Error::from)
        .and_then(|()| writeln!(out))
    } else {
        let mut result = Ok(());
        for output in graph.outputs() {
            let node = graph.node(output.derivation);
            result = result.and_then(|()| {
                writeln!(
                    out,
                    "{}\t{}\t{}",
                    output.name, node.derivation.kind, node.identity
                )
            });
        }
        result.and_then(|()| writeln!(out, "{} derivations", graph.len()))
    };
    written
        .and_then(|()| out.flush())
        .map_err(Failure::environment)
}
