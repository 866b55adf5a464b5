//! `imgbuild graph`: the derivation graph as DOT or JSON.

use std::io::Write;

use imgbuild_evaluator::{Graph, Node};
use petgraph::visit::EdgeRef;
use serde_json::json;

use crate::cli::{GraphArgs, GraphFormat};
use crate::errors::Failure;

/// A derivation as JSON (shared with `eval --json`).
pub fn node_json(graph: &Graph, node: &Node) -> serde_json::Value {
    let derivation = &node.derivation;
    json!({
        "identity": node.identity.to_hex(),
        "kind": derivation.kind,
        "kind_version": derivation.kind_version,
        "name": derivation.name,
        "fixed": derivation.fixed,
        "secret": derivation.secret,
        "args": derivation.args.to_display_json(),
        "inputs": derivation.inputs.iter().map(|input| graph.node(*input).identity.to_hex()).collect::<Vec<_>>(),
    })
}

/// Runs `imgbuild graph`.
pub fn run(store: Option<&std::path::Path>, arguments: &GraphArgs) -> Result<(), Failure> {
    let (evaluation, _) = super::load(store, &arguments.recipe)?;
    let graph = &evaluation.graph;
    let dag = graph.to_petgraph();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let result = match arguments.format {
        GraphFormat::Json => {
            let nodes: Vec<_> = graph
                .nodes()
                .iter()
                .map(|node| node_json(graph, node))
                .collect();
            let edges: Vec<_> = dag
                .edge_references()
                .map(|edge| {
                    json!([
                        graph.node(dag[edge.source()]).identity.to_hex(),
                        graph.node(dag[edge.target()]).identity.to_hex()
                    ])
                })
                .collect();
            let outputs: serde_json::Map<String, serde_json::Value> = graph
                .outputs()
                .iter()
                .map(|output| {
                    (
                        output.name.clone(),
                        json!(graph.node(output.derivation).identity.to_hex()),
                    )
                })
                .collect();
            serde_json::to_writer(
                &mut out,
                &json!({ "nodes": nodes, "edges": edges, "outputs": outputs }),
            )
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out))
        }
        GraphFormat::Dot => write_dot(&mut out, graph, &dag),
    };
    result
        .and_then(|()| out.flush())
        .map_err(Failure::environment)
}

fn write_dot(
    out: &mut impl Write,
    graph: &Graph,
    dag: &petgraph::graph::DiGraph<imgbuild_evaluator::DrvId, ()>,
) -> std::io::Result<()> {
    writeln!(out, "digraph imgbuild {{")?;
    writeln!(out, "  rankdir=LR;")?;
    writeln!(out, "  node [shape=box, fontname=monospace];")?;
    for node in graph.nodes() {
        writeln!(
            out,
            "  \"{}\" [label=\"{}\\n{} {}\"];",
            node.identity.short(),
            escape(&node.derivation.name),
            node.derivation.kind,
            node.identity.short()
        )?;
    }
    for edge in dag.edge_references() {
        writeln!(
            out,
            "  \"{}\" -> \"{}\";",
            graph.node(dag[edge.source()]).identity.short(),
            graph.node(dag[edge.target()]).identity.short()
        )?;
    }
    for output in graph.outputs() {
        writeln!(
            out,
            "  \"output:{}\" [shape=oval, label=\"{}\"];",
            escape(&output.name),
            escape(&output.name)
        )?;
        writeln!(
            out,
            "  \"{}\" -> \"output:{}\";",
            graph.node(output.derivation).identity.short(),
            escape(&output.name)
        )?;
    }
    writeln!(out, "}}")
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}
