//! Derivations and the graph they form.
//!
//! A [`Graph`] is an arena of derivations: a derivation can only name inputs that were
//! added before it, so the arena order is a topological order and the graph is acyclic by
//! construction. Identical derivations (same recipe identity) are stored once. The graph
//! also records the recipe's named outputs.

use std::collections::HashMap;
use std::sync::Arc;

use crate::identity::{encode_derivation, hash_derivation, Domain, Identity};
use crate::origin::Origin;
use crate::value::Value;

/// Index of a derivation in its [`Graph`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DrvId(pub u32);

impl DrvId {
    /// The arena index.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// One build step: `{ kind, kind_version, name, args, inputs }`.
#[derive(Clone, Debug)]
pub struct Derivation {
    /// The builder that realises it (`text`, `tree`, `tar`, ...).
    pub kind: String,
    /// Bumped whenever the builder's output for the same inputs changes.
    pub kind_version: u32,
    /// A human name, used for outputs, logs and progress.
    pub name: String,
    /// Canonical arguments; [`Value::Input`] refers to `inputs`.
    pub args: Value,
    /// The derivations whose outputs this one reads.
    pub inputs: Vec<DrvId>,
    /// A fixed-output derivation promises its content in `args`; its identity does not
    /// depend on where the content is found.
    pub fixed: bool,
    /// Where a fixed output's content is found (a local path, a URL). Not hashed.
    pub location: Option<Value>,
    /// The output holds secrets: store it owner-only and never print it.
    pub secret: bool,
    /// Where the recipe constructed it (not hashed; shown in build errors).
    pub origin: Option<Arc<Origin>>,
}

impl Derivation {
    /// The bytes its cache key hashes, given its inputs' output digests: the
    /// `imgbuild-key-v1` encoding, or `imgbuild-fixed-v1` (no name, no inputs) for a
    /// fixed output. A remote action carries exactly these bytes.
    pub fn cache_key_encoding(&self, input_outputs: &[[u8; 32]]) -> Vec<u8> {
        let mut buffer = Vec::with_capacity(128);
        if self.fixed {
            encode_derivation(
                &mut buffer,
                Domain::Fixed,
                &self.kind,
                self.kind_version,
                "",
                &self.args,
                &[],
            );
        } else {
            encode_derivation(
                &mut buffer,
                Domain::CacheKey,
                &self.kind,
                self.kind_version,
                &self.name,
                &self.args,
                input_outputs,
            );
        }
        buffer
    }
}

/// A derivation with its recipe identity.
#[derive(Clone, Debug)]
pub struct Node {
    /// The derivation.
    pub derivation: Derivation,
    /// Its recipe identity.
    pub identity: Identity,
}

/// A named output of the recipe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    /// Dotted path of the output in the recipe's result map (`web`, `vms.alpha`).
    pub name: String,
    /// The derivation it names.
    pub derivation: DrvId,
}

/// The derivation graph of an evaluated recipe.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    nodes: Vec<Node>,
    by_identity: HashMap<Identity, DrvId>,
    outputs: Vec<Output>,
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a derivation (or finds the identical one already present) and returns its id.
    ///
    /// # Panics
    /// Never on user input: inputs are handles created by this graph.
    pub fn add(&mut self, derivation: Derivation) -> DrvId {
        let identity = self.recipe_identity(&derivation);
        if let Some(existing) = self.by_identity.get(&identity) {
            return *existing;
        }
        let id = DrvId(self.nodes.len() as u32);
        self.nodes.push(Node {
            derivation,
            identity,
        });
        self.by_identity.insert(identity, id);
        id
    }

    fn recipe_identity(&self, derivation: &Derivation) -> Identity {
        if derivation.fixed {
            return fixed_identity(derivation);
        }
        let inputs: Vec<[u8; 32]> = derivation
            .inputs
            .iter()
            .map(|input| self.nodes[input.index()].identity.0)
            .collect();
        hash_derivation(
            Domain::Recipe,
            &derivation.kind,
            derivation.kind_version,
            &derivation.name,
            &derivation.args,
            &inputs,
        )
    }

    /// The cache key of `id`, given the output digests of its inputs (in input order).
    pub fn cache_key(&self, id: DrvId, input_outputs: &[[u8; 32]]) -> Identity {
        let encoding = self.nodes[id.index()]
            .derivation
            .cache_key_encoding(input_outputs);
        Identity(*blake3::hash(&encoding).as_bytes())
    }

    /// The node with id `id`.
    pub fn node(&self, id: DrvId) -> &Node {
        &self.nodes[id.index()]
    }

    /// All nodes, in topological order (inputs first).
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Number of derivations.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True if there are no derivations.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Finds a derivation by recipe identity.
    pub fn find(&self, identity: &Identity) -> Option<DrvId> {
        self.by_identity.get(identity).copied()
    }

    /// The recipe's named outputs, in name order.
    pub fn outputs(&self) -> &[Output] {
        &self.outputs
    }

    /// Records a named output (call [`Graph::sort_outputs`] once all are added).
    pub fn add_output(&mut self, name: String, derivation: DrvId) {
        self.outputs.push(Output { name, derivation });
    }

    /// Puts the outputs in name order (once, after collecting them: sorting on every
    /// insertion made a 10,000-output recipe quadratic).
    pub fn sort_outputs(&mut self) {
        self.outputs
            .sort_by(|left, right| left.name.cmp(&right.name));
    }

    /// Keeps only the outputs whose name is `name` or starts with `name.`.
    pub fn select_outputs(&mut self, name: &str) -> bool {
        let prefix = format!("{name}.");
        self.outputs
            .retain(|output| output.name == name || output.name.starts_with(&prefix));
        !self.outputs.is_empty()
    }

    /// Every derivation needed to build `roots`, in topological order.
    pub fn closure(&self, roots: &[DrvId]) -> Vec<DrvId> {
        let mut needed = vec![false; self.nodes.len()];
        let mut stack: Vec<DrvId> = roots.to_vec();
        while let Some(id) = stack.pop() {
            if needed[id.index()] {
                continue;
            }
            needed[id.index()] = true;
            stack.extend(self.nodes[id.index()].derivation.inputs.iter().copied());
        }
        needed
            .iter()
            .enumerate()
            .filter(|(_, needed)| **needed)
            .map(|(index, _)| DrvId(index as u32))
            .collect()
    }

    /// The graph as a petgraph DAG (edges point from an input to its dependent).
    pub fn to_petgraph(&self) -> petgraph::graph::DiGraph<DrvId, ()> {
        let mut graph = petgraph::graph::DiGraph::with_capacity(self.nodes.len(), self.nodes.len());
        let indices: Vec<_> = (0..self.nodes.len())
            .map(|index| graph.add_node(DrvId(index as u32)))
            .collect();
        for (index, node) in self.nodes.iter().enumerate() {
            for input in &node.derivation.inputs {
                graph.add_edge(indices[input.index()], indices[index], ());
            }
        }
        graph
    }
}

fn fixed_identity(derivation: &Derivation) -> Identity {
    hash_derivation(
        Domain::Fixed,
        &derivation.kind,
        derivation.kind_version,
        "",
        &derivation.args,
        &[],
    )
}
