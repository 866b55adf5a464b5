//! Evaluation state shared by the engine and the builtins' constructors.
//!
//! Rhai copies arrays and maps by value, so derivations never live in Rhai values: a
//! recipe holds a [`DerivationHandle`], a small copyable index into the [`Graph`] kept
//! here. Builtin constructors convert their Rhai arguments to canonical [`Value`]s with
//! [`EvalState::to_value`], which turns every handle it meets into an input reference.

use std::cell::{Ref, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use rhai::{Dynamic, EvalAltResult, NativeCallContext, Position};

use crate::args::BuiltinError;
use crate::limits::{value_too_deep, MAX_VALUE_DEPTH};
use imgbuild_derivation::{Derivation, DrvId, Graph, Origin};
use imgbuild_derivation::{Sealed, Value};

/// The recipe-side value standing for one derivation (shown as `Derivation` in Rhai).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DerivationHandle {
    /// The derivation in the evaluation's graph.
    pub id: DrvId,
}

/// Everything one evaluation accumulates.
#[derive(Debug, Default)]
pub struct EvalState {
    graph: RefCell<Graph>,
    sources: RefCell<BTreeMap<String, Rc<str>>>,
    messages: RefCell<Vec<String>>,
    pub(crate) search_path: Vec<PathBuf>,
    pub(crate) libraries: crate::libraries::Libraries,
    pub(crate) import_stack: RefCell<Vec<PathBuf>>,
    pub(crate) module_cache: RefCell<BTreeMap<PathBuf, rhai::Shared<rhai::Module>>>,
    read_files: RefCell<Vec<PathBuf>>,
    pending: RefCell<Vec<PendingRequest>>,
    /// Per source file: its name as origins carry it, and the `import` that loaded it.
    files: RefCell<HashMap<String, SourceFile>>,
    secret_key: Option<SecretKeySource>,
    sealing_key: std::cell::OnceCell<[u8; 32]>,
}

/// Where the key that seals secrets comes from (the secret-identity subkey of the
/// store's or the team's secret key). Asked at most once, when the first secret is met,
/// so recipes without secrets never touch a key file.
#[derive(Clone)]
pub struct SecretKeySource(pub Rc<dyn Fn() -> Result<[u8; 32], String>>);

impl std::fmt::Debug for SecretKeySource {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("SecretKeySource")
    }
}

/// Argument keys whose text is a credential: a string given under one of them (at any
/// depth of a derivation's arguments) is sealed as if wrapped in `secret(...)`.
/// Public SSH keys are not credentials; media holding them are still stored owner-only.
pub fn is_secret_field(key: &str) -> bool {
    const FIELDS: &[&str] = &[
        "passwd",
        "hashed_passwd",
        "plain_text_passwd",
        "chpasswd",
        "token",
        "private_key",
        "secret_key",
    ];
    // No allocation: this runs for every map key a recipe hands to a builtin.
    FIELDS.iter().any(|field| field.eq_ignore_ascii_case(key))
        || key
            .as_bytes()
            .windows(8)
            .any(|window| window.eq_ignore_ascii_case(b"password"))
}

/// A source file as origins name it: its shared name and the `import` that loaded it.
type SourceFile = (Arc<str>, Option<Arc<Origin>>);

/// Something the recipe asks for that evaluation cannot answer by itself — a Debian
/// package set the lock file does not pin yet. The caller resolves it (network),
/// writes the lock file and evaluates again; see [`crate::Evaluation::pending`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingRequest {
    /// The resolver that answers it, which is also its lock file section (`debian`).
    pub section: String,
    /// Its name within the section (a package set's `name`).
    pub name: String,
    /// The request, as canonical data the section's resolver reads back.
    pub request: Value,
    /// Where the recipe made it.
    pub origin: Option<Arc<Origin>>,
}

/// Shared handle to the evaluation state (the engine is single-threaded).
pub type SharedState = Rc<EvalState>;

/// A derivation as a builtin constructor describes it, inputs still as handles.
#[derive(Clone, Debug)]
pub struct DerivationSpec {
    /// Builder kind.
    pub kind: &'static str,
    /// Builder version.
    pub kind_version: u32,
    /// Human name.
    pub name: String,
    /// Canonical arguments (inputs as [`Value::Input`] indices into `inputs`).
    pub args: Value,
    /// Inputs collected while converting the arguments.
    pub inputs: Vec<DrvId>,
    /// Fixed output (identity is the promised content).
    pub fixed: bool,
    /// Location of a fixed output's content (not hashed).
    pub location: Option<Value>,
    /// The output holds secrets.
    pub secret: bool,
}

impl DerivationSpec {
    /// A derivation computed from its inputs (`args` is a map of named arguments).
    pub fn derived(
        kind: &'static str,
        kind_version: u32,
        name: String,
        args: BTreeMap<String, Value>,
        inputs: Inputs,
    ) -> Self {
        DerivationSpec {
            kind,
            kind_version,
            name,
            args: Value::Map(args),
            inputs: inputs.into_list(),
            fixed: false,
            location: None,
            secret: false,
        }
    }

    /// A fixed-output derivation: `args` promise the content, `location` says where
    /// it is found (not hashed).
    pub fn fixed(
        kind: &'static str,
        kind_version: u32,
        name: String,
        args: BTreeMap<String, Value>,
        location: Value,
    ) -> Self {
        DerivationSpec {
            kind,
            kind_version,
            name,
            args: Value::Map(args),
            inputs: Vec::new(),
            fixed: true,
            location: Some(location),
            secret: false,
        }
    }
}

impl EvalState {
    pub(crate) fn new(
        search_path: Vec<PathBuf>,
        libraries: crate::libraries::Libraries,
        secret_key: Option<SecretKeySource>,
    ) -> Self {
        EvalState {
            search_path,
            libraries,
            secret_key,
            ..Default::default()
        }
    }

    /// Seals secret text with the evaluation's secret key (loaded on first use).
    pub fn seal(&self, text: String) -> Result<Sealed, BuiltinError> {
        if let Some(key) = self.sealing_key.get() {
            return Ok(Sealed::new(key, text));
        }
        let source = self.secret_key.as_ref().ok_or_else(|| {
            BuiltinError::new("this evaluation has no secret key to seal secrets with")
        })?;
        let key = (source.0)().map_err(BuiltinError::new)?;
        Ok(Sealed::new(self.sealing_key.get_or_init(|| key), text))
    }

    /// Adds a derivation made by the call in `context` and returns the handle a recipe
    /// holds. The call's place in the recipe becomes the derivation's origin.
    pub fn add(&self, context: &NativeCallContext, spec: DerivationSpec) -> DerivationHandle {
        let origin = self.origin(context.call_source(), context.call_position());
        self.add_at(origin, spec)
    }

    /// Adds a derivation with an explicit origin (or none).
    ///
    /// A derivation is secret when its constructor says so, when its arguments hold
    /// secret text, or when any of its inputs is secret (a tree or an ISO holding a
    /// secret file holds the secret too).
    pub fn add_at(&self, origin: Option<Arc<Origin>>, spec: DerivationSpec) -> DerivationHandle {
        let secret = spec.secret
            || spec.args.holds_secret()
            || spec
                .inputs
                .iter()
                .any(|input| self.graph.borrow().node(*input).derivation.secret);
        let id = self.graph.borrow_mut().add(Derivation {
            kind: spec.kind.to_owned(),
            kind_version: spec.kind_version,
            name: spec.name,
            args: spec.args,
            inputs: spec.inputs,
            fixed: spec.fixed,
            location: spec.location,
            secret,
            origin,
        });
        DerivationHandle { id }
    }

    /// The origin of a call at `position` in the file named `source`.
    pub fn origin(&self, source: Option<&str>, position: Position) -> Option<Arc<Origin>> {
        let source = source?;
        let line = u32::try_from(position.line()?).ok()?;
        let column = position
            .position()
            .and_then(|column| u32::try_from(column).ok())
            .unwrap_or(1);
        let mut files = self.files.borrow_mut();
        // Looked up before inserting: one derivation per call, no allocation per lookup.
        if !files.contains_key(source) {
            files.insert(source.to_owned(), (Arc::from(source), None));
        }
        let (file, imported_from) = files.get(source)?;
        Some(Arc::new(Origin {
            file: file.clone(),
            line,
            column,
            imported_from: imported_from.clone(),
        }))
    }

    /// Records that the module file `module` was loaded by the `import` at `position`
    /// in `importer` (the first import of a module is the one origins name).
    pub(crate) fn record_import(&self, module: &str, importer: Option<&str>, position: Position) {
        let import = self.origin(importer, position);
        self.files
            .borrow_mut()
            .entry(module.to_owned())
            .or_insert_with(|| (Arc::from(module), import));
    }

    /// Records a request the caller must resolve before the graph is final.
    pub fn add_pending(&self, request: PendingRequest) {
        self.pending.borrow_mut().push(request);
    }

    pub(crate) fn take_pending(&self) -> Vec<PendingRequest> {
        self.pending.take()
    }

    /// Read access to the graph built so far.
    pub fn graph(&self) -> Ref<'_, Graph> {
        self.graph.borrow()
    }

    pub(crate) fn take_graph(&self) -> Graph {
        self.graph.take()
    }

    pub(crate) fn add_output(&self, name: String, id: DrvId) {
        self.graph.borrow_mut().add_output(name, id);
    }

    /// The name of a derivation.
    pub fn derivation_name(&self, handle: DerivationHandle) -> String {
        self.graph.borrow().node(handle.id).derivation.name.clone()
    }

    /// The kind of a derivation.
    pub fn derivation_kind(&self, handle: DerivationHandle) -> String {
        self.graph.borrow().node(handle.id).derivation.kind.clone()
    }

    /// The recipe identity of a derivation, as hex.
    pub fn derivation_identity(&self, handle: DerivationHandle) -> String {
        self.graph.borrow().node(handle.id).identity.to_hex()
    }

    /// Converts a Rhai value to a canonical value; derivation handles become input
    /// references, appended to `inputs` on first sight.
    pub fn to_value(
        &self,
        value: &Dynamic,
        inputs: &mut Inputs,
        what: &str,
    ) -> Result<Value, Box<EvalAltResult>> {
        self.to_value_at(value, inputs, what, 0)
    }

    /// [`Self::to_value`] of a value inside `depth` maps and arrays; refuses to go deeper
    /// than [`MAX_VALUE_DEPTH`], so no later step recurses further.
    fn to_value_at(
        &self,
        value: &Dynamic,
        inputs: &mut Inputs,
        what: &str,
        depth: usize,
    ) -> Result<Value, Box<EvalAltResult>> {
        if value.is_unit() {
            return Ok(Value::Null);
        }
        if let Some(flag) = value.clone().try_cast::<bool>() {
            return Ok(Value::Bool(flag));
        }
        if let Ok(number) = value.as_int() {
            return Ok(Value::Int(number));
        }
        if value.is_string() {
            return Ok(Value::String(value.to_string()));
        }
        if let Some(sealed) = value.read_lock::<Sealed>() {
            return Ok(Value::Secret(sealed.clone()));
        }
        if let Some(handle) = value.read_lock::<DerivationHandle>() {
            return Ok(inputs.reference(handle.id));
        }
        if let Some(array) = value.read_lock::<rhai::Array>() {
            if depth >= MAX_VALUE_DEPTH {
                return Err(value_too_deep(what).into());
            }
            let mut items = Vec::with_capacity(array.len());
            for (index, item) in array.iter().enumerate() {
                let path = format!("{what}[{index}]");
                items.push(self.to_value_at(item, inputs, &path, depth + 1)?);
            }
            return Ok(Value::List(items));
        }
        if let Some(map) = value.read_lock::<rhai::Map>() {
            if depth >= MAX_VALUE_DEPTH {
                return Err(value_too_deep(what).into());
            }
            let mut entries = BTreeMap::new();
            for (key, item) in map.iter() {
                let path = format!("{what}.{key}");
                let mut item = self.to_value_at(item, inputs, &path, depth + 1)?;
                if is_secret_field(key) {
                    item = self.seal_strings(item)?;
                }
                entries.insert(key.to_string(), item);
            }
            return Ok(Value::Map(entries));
        }
        if let Some(blob) = value.read_lock::<rhai::Blob>() {
            return Ok(Value::Bytes(blob.clone()));
        }
        Err(BuiltinError::new(format!(
            "{what} is a {}, which cannot be part of a derivation",
            value.type_name()
        ))
        .with_help("use strings, integers, booleans, arrays, maps or derivations")
        .into())
    }

    /// Seals every string in `value` (lists and maps are walked; other values are kept).
    pub fn seal_strings(&self, value: Value) -> Result<Value, BuiltinError> {
        Ok(match value {
            Value::String(text) => Value::Secret(self.seal(text)?),
            Value::List(items) => Value::List(
                items
                    .into_iter()
                    .map(|item| self.seal_strings(item))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Map(map) => Value::Map(
                map.into_iter()
                    .map(|(key, item)| Ok((key, self.seal_strings(item)?)))
                    .collect::<Result<_, BuiltinError>>()?,
            ),
            other => other,
        })
    }

    /// Resolves `path` relative to the directory of the file making the call and records
    /// that the evaluation read it. Code in a library cannot reach outside the library
    /// (see [`crate::libraries`]).
    pub fn local_path(
        &self,
        context: &NativeCallContext,
        path: &str,
    ) -> Result<PathBuf, BuiltinError> {
        let source = context.call_source().map(Path::new);
        let base = source
            .and_then(|source| source.parent().map(Path::to_path_buf))
            .unwrap_or_default();
        let resolved = base.join(path);
        if let Some((name, root)) = source.and_then(|source| self.libraries.owner(source)) {
            crate::libraries::check_inside(name, root, path, &resolved)?;
        }
        self.read_files.borrow_mut().push(resolved.clone());
        Ok(resolved)
    }

    /// Files read by builtins during evaluation.
    pub fn read_files(&self) -> Vec<PathBuf> {
        self.read_files.borrow().clone()
    }

    pub(crate) fn add_source(&self, name: &str, text: Rc<str>) {
        self.sources.borrow_mut().insert(name.to_owned(), text);
    }

    pub(crate) fn source(&self, name: &str) -> Option<Rc<str>> {
        self.sources.borrow().get(name).cloned()
    }

    pub(crate) fn push_message(&self, message: String) {
        self.messages.borrow_mut().push(message);
    }

    pub(crate) fn take_messages(&self) -> Vec<String> {
        self.messages.take()
    }
}

/// The inputs a constructor collects while converting its arguments: each derivation
/// once, in order of first appearance.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    list: Vec<DrvId>,
    index: std::collections::HashMap<DrvId, u32>,
}

impl Inputs {
    /// No inputs yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `id` (once) and returns the value referring to it.
    pub fn reference(&mut self, id: DrvId) -> Value {
        let next = self.list.len() as u32;
        let index = *self.index.entry(id).or_insert(next);
        if index == next {
            self.list.push(id);
        }
        Value::Input(index)
    }

    /// The collected inputs, in input order.
    pub fn into_list(self) -> Vec<DrvId> {
        self.list
    }
}
