//! The bundle manifest (`airflow-metadata.yaml`, spec "airflow-metadata.yaml schema").
//!
//! YAML is read with serde-saphyr (YAML 1.2 core schema, panic-free) under a
//! budget: bounded input size, nesting depth, node count and alias expansion,
//! so a YAML bomb or a huge `metadata_len` is a clean [`ErrorKind::Manifest`].
//! The document is kept as a [`Value`] tree that preserves key order and
//! non-string keys (a `dags` key such as `1` or `true` must not break the
//! other dag_ids of the same manifest).
//!
//! Architecture Invariant: **what routes a task is read as Airflow reads it.**
//! Airflow's reader is PyYAML (`yaml.safe_load`, YAML 1.1), and it routes a
//! dag_id to a bundle when the str is a key of `dags`. So the `dags` keys,
//! the `tasks` items and `sdk.supervisor_schema_version` are decided from the
//! same events by [`crate::format::yaml11`] (a second, cheap pass over the parser's
//! events: [`Airflow`]), never by the YAML 1.2 [`Value`]: `0o17` and `1e3` are
//! dag_ids (strings in YAML 1.1), `on`, `1_000` and `2024-01-01` are not (a
//! boolean, an integer, a date). A key that YAML 1.1 and 1.2 read differently,
//! or that is not a string to Airflow, is a [`RetypedKey`]: visible, refused
//! by `pack`, and a finding of `check_manifest`. A document PyYAML cannot
//! construct (the date `2024-13-01`, a plain `=` value) is refused whole, as
//! Airflow cannot read it either.

use std::fmt;

use std::collections::HashMap;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle};
use serde_saphyr::{
    budget::Budget, options::AliasLimits, DuplicateKeyPolicy, NonFiniteFloatPolicy, Options,
};

use crate::error::ErrorKind;
use crate::format::yaml11::{self, Reading};

/// Largest manifest this reader accepts, in bytes.
pub(crate) const MAX_MANIFEST_BYTES: u64 = 16 << 20;
/// Deepest nesting of collections accepted.
pub(crate) const MAX_DEPTH: usize = 64;
/// Most YAML nodes (scalars and collections) accepted.
pub(crate) const MAX_NODES: usize = 1_000_000;
/// Most [`RetypedKey`]s kept for one manifest (the first ones in document order).
pub(crate) const MAX_RETYPED: usize = 1000;

/// A YAML value with its mapping order and key types preserved.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `null` / `~` / empty.
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer beyond `i64`.
    UInt(u64),
    /// A float.
    Float(f64),
    /// A string.
    String(String),
    /// Binary data (`!!binary`).
    Bytes(Vec<u8>),
    /// A sequence.
    Seq(Vec<Value>),
    /// A mapping, in document order.
    Map(Vec<(Value, Value)>),
}

#[cfg(test)]
impl Value {
    /// The value of string key `key` in a mapping.
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(entries) => entries.iter().rev().find_map(|(k, v)| match k {
                Value::String(s) if s == key => Some(v),
                _ => None,
            }),
            _ => None,
        }
    }
}

impl Value {
    /// A word for the type, for error messages ("a string", "a sequence").
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::UInt(_) => "an integer",
            Value::Float(_) => "a float",
            Value::String(_) => "a string",
            Value::Bytes(_) => "binary data",
            Value::Seq(_) => "a sequence",
            Value::Map(_) => "a mapping",
        }
    }

    /// In words, as [`Reading::describe`] puts the YAML 1.1 reading.
    pub(crate) fn describe(&self) -> String {
        match self {
            Value::String(s) => format!("the string {}", yaml11::python_str(s)),
            Value::Bool(b) => format!("the boolean {b}"),
            Value::Int(i) => format!("the integer {i}"),
            Value::UInt(u) => format!("the integer {u}"),
            Value::Float(f) => Reading::Float(*f).to_string(),
            other => other.kind().to_owned(),
        }
    }

    /// The kind of the first sequence or mapping used as a mapping key, if any.
    fn collection_key(&self) -> Option<&'static str> {
        match self {
            Value::Seq(items) => items.iter().find_map(Value::collection_key),
            Value::Map(entries) => entries.iter().find_map(|(k, v)| match k {
                Value::Seq(_) | Value::Map(_) => Some(k.kind()),
                _ => v.collection_key(),
            }),
            _ => None,
        }
    }

    /// The same value with every mapping sorted by key, recursively.
    ///
    /// Keys of one type sort naturally (strings byte-wise); mixed key types
    /// sort by type first, so the order is total and deterministic.
    pub(crate) fn canonical(self) -> Value {
        match self {
            Value::Seq(items) => Value::Seq(items.into_iter().map(Value::canonical).collect()),
            Value::Map(entries) => {
                let mut entries: Vec<(Value, Value)> = entries
                    .into_iter()
                    .map(|(k, v)| (k.canonical(), v.canonical()))
                    .collect();
                entries.sort_by_key(|(k, _)| k.sort_key());
                // Equal keys keep the last value, as when the mapping was loaded.
                entries.reverse();
                entries.dedup_by(|(later, _), (earlier, _)| later == earlier);
                entries.reverse();
                Value::Map(entries)
            }
            other => other,
        }
    }

    fn sort_key(&self) -> (u8, String) {
        match self {
            Value::Null => (0, String::new()),
            Value::Bool(b) => (1, b.to_string()),
            Value::Int(i) => (2, format!("{:+021}", i128::from(*i) + (1i128 << 64))),
            Value::UInt(u) => (2, format!("{:+021}", i128::from(*u) + (1i128 << 64))),
            Value::Float(f) => (3, format!("{f:e}")),
            Value::String(s) => (4, s.clone()),
            Value::Bytes(b) => (5, crate::format::digest::hex(b)),
            Value::Seq(_) | Value::Map(_) => (6, format!("{self:?}")),
        }
    }
}

/// A parsed manifest: the whole mapping and the fields the reader acts on.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    /// The top-level mapping, as loaded (YAML 1.2).
    pub value: Value,
    /// The dag_ids Airflow routes: the keys of `dags` that its YAML 1.1 reader
    /// reads as strings, in the order of the dict it builds (merged keys
    /// first). `dags` that is not a mapping declares none.
    pub dag_ids: Vec<String>,
    /// For each of [`Self::dag_ids`], the `tasks` items that YAML 1.1 reads
    /// as strings (`None`: the entry has no `tasks` list).
    pub tasks: Vec<Option<Vec<String>>>,
    /// `sdk.supervisor_schema_version` when YAML 1.1 reads it as a non-empty
    /// string (an unquoted `2026-06-16` is a date to Airflow).
    pub supervisor_schema_version: Option<String>,
    /// Dag and task keys that are not strings to Airflow, or that YAML 1.2
    /// reads as something else, in document order (at most [`MAX_RETYPED`]).
    pub retyped: Vec<RetypedKey>,
}

impl Manifest {
    /// Whether this manifest declares `dag_id`.
    pub(crate) fn declares(&self, dag_id: &str) -> bool {
        self.dag_ids.iter().any(|d| d == dag_id)
    }
}

/// A `dags` key or `tasks` item that Airflow's YAML 1.1 reader and a YAML 1.2
/// reader type differently, or that is not a string to Airflow.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RetypedKey {
    /// The dag key as written (for a task item: the key of its dag).
    pub dag: String,
    /// For a task item: its index in `tasks`.
    pub task_index: Option<usize>,
    /// The scalar as written.
    pub text: String,
    /// 1-based line of the scalar.
    pub line: usize,
    /// What Airflow's reader (YAML 1.1) makes of it, in words.
    pub yaml11: String,
    /// What a YAML 1.2 reader makes of it, in words.
    pub yaml12: String,
    /// Whether Airflow routes it: a dag key that YAML 1.1 reads as a string.
    pub routed: bool,
}

impl RetypedKey {
    /// One sentence: which key, both readings, and what follows.
    pub fn message(&self) -> String {
        let what = match self.task_index {
            None => format!("dag key {}", yaml11::python_str(&self.text)),
            Some(i) => format!(
                "task {} (tasks[{i}] of dag {})",
                yaml11::python_str(&self.text),
                yaml11::python_str(&self.dag)
            ),
        };
        let outcome = if self.routed {
            "Airflow routes it, YAML 1.2 tools do not see that string"
        } else if self.task_index.is_none() {
            "Airflow does not route this dag"
        } else {
            "it is not a task_id to Airflow"
        };
        if self.yaml11 == self.yaml12 {
            format!(
                "{what} is {} under YAML 1.1 (Airflow's reader) and YAML 1.2 alike, not a \
                 string: {outcome}; quote it",
                self.yaml11
            )
        } else {
            format!(
                "{what} reads as {} under YAML 1.1 (Airflow's reader) and as {} under YAML \
                 1.2: {outcome}; quote it",
                self.yaml11, self.yaml12
            )
        }
    }
}

fn options() -> Options {
    let mut budget = Budget::default();
    budget.max_reader_input_bytes = Some(MAX_MANIFEST_BYTES as usize);
    budget.max_depth = MAX_DEPTH;
    budget.max_nodes = MAX_NODES;
    budget.max_events = 4 * MAX_NODES;
    budget.max_total_scalar_bytes = MAX_MANIFEST_BYTES as usize;
    let mut options = Options::default();
    options.budget = Some(budget);
    let mut alias_limits = AliasLimits::default();
    alias_limits.max_total_replayed_events = 100_000;
    options.alias_limits = alias_limits;
    // PyYAML (upstream's reader) lets the last of duplicate keys win; so do we.
    options.duplicate_keys = DuplicateKeyPolicy::LastWins;
    // YAML 1.2 core schema: only true/false are booleans (yes/no/on/off/y/n
    // are strings), no legacy octal. PyYAML (YAML 1.1) differs; see README.
    options.strict_booleans = true;
    // .inf / -.inf / .nan are valid YAML 1.2 floats (PyYAML accepts them too).
    options.non_finite_float_policy = NonFiniteFloatPolicy::PassThrough;
    // Application tags (`!custom`, `!!python/object/...`) are refused, as
    // PyYAML's safe loader refuses them: a manifest is plain data.
    options.reject_unsupported_tags = true;
    options.legacy_octal_numbers = false;
    // `1_000` is a string in YAML 1.2. `0755` is 755 in YAML 1.2 and 493 in
    // YAML 1.1 (PyYAML): keep the text rather than silently pick either.
    options.underscored_numbers_as_strings = true;
    options.leading_zero_numbers_as_strings = true;
    options.with_snippet = false;
    options
}

/// Parse manifest bytes: UTF-8, one YAML document, a mapping at the top.
pub fn parse(bytes: &[u8]) -> Result<Manifest, ErrorKind> {
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(ErrorKind::Manifest(format!(
            "manifest is {} bytes, more than the {MAX_MANIFEST_BYTES}-byte limit",
            bytes.len()
        )));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        ErrorKind::Manifest(format!(
            "manifest is not valid UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        ))
    })?;
    let value = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_saphyr::from_str_with_options::<Value>(text, options())
            .map_err(|e| ErrorKind::Manifest(format!("manifest is not valid YAML: {e}")))?
    };
    if !matches!(value, Value::Map(_)) {
        return Err(ErrorKind::ManifestNotAMapping {
            found: value.kind(),
        });
    }
    if let Some(kind) = value.collection_key() {
        return Err(ErrorKind::Manifest(format!(
            "manifest uses {kind} as a mapping key, which is not plain data \
             (Python cannot hold it as a dict key)"
        )));
    }
    let airflow = Airflow::read(text)?;
    let routing = airflow.routing()?;
    Ok(Manifest {
        value,
        dag_ids: routing.dag_ids,
        tasks: routing.tasks,
        supervisor_schema_version: routing.supervisor_schema_version,
        retyped: routing.retyped,
    })
}

// --- Airflow's reading (YAML 1.1) ---------------------------------------------------------------

/// One node of the document, with what YAML 1.1 needs: scalar style and tag.
#[derive(Debug)]
enum Node {
    Scalar {
        text: String,
        /// The full tag (`tag:yaml.org,2002:str`, `!`), if one was written.
        tag: Option<String>,
        plain: bool,
        line: usize,
        /// Defined as a mapping key (where `=` is a string).
        key: bool,
    },
    Seq(Vec<usize>),
    Map(Vec<(usize, usize)>),
}

/// The document as a graph of [`Node`]s (aliases are edges, never copies),
/// built from the same parser events serde-saphyr reads.
struct Airflow {
    nodes: Vec<Node>,
    /// Pairs produced by flattening merges so far (bounded like the node count).
    flattened: std::cell::Cell<usize>,
}

/// What routing takes from [`Airflow`].
struct Routing {
    dag_ids: Vec<String>,
    tasks: Vec<Option<Vec<String>>>,
    supervisor_schema_version: Option<String>,
    retyped: Vec<RetypedKey>,
}

fn yaml11_error(line: usize, why: &str) -> ErrorKind {
    ErrorKind::Manifest(format!(
        "manifest cannot be read by Airflow's YAML 1.1 reader (PyYAML): line {line}: {why}"
    ))
}

impl Airflow {
    /// Compose the first document of `text` (already accepted by serde-saphyr
    /// under the budget, so this pass is bounded by it too).
    fn read(text: &str) -> Result<Airflow, ErrorKind> {
        let defaults = Budget::default();
        let mut options = serde_saphyr::granit_parser::Options::default();
        options.simple_key_max_lookahead = defaults.simple_key_max_lookahead;
        options.flow_nesting_limit = defaults.flow_nesting_limit;
        options.block_nesting_limit = options.block_nesting_limit.max(MAX_DEPTH + 1);
        let mut parser = Parser::new_from_str_with_options(text, options);
        let mut nodes: Vec<Node> = Vec::new();
        let mut anchors: HashMap<usize, usize> = HashMap::new();
        // Open collections: (node, pending key of a mapping).
        let mut open: Vec<(usize, Option<usize>)> = Vec::new();
        let bad = |e: &dyn std::fmt::Display| {
            ErrorKind::Manifest(format!("manifest is not valid YAML: {e}"))
        };
        while let Some(event) = parser.next_event() {
            let (event, span) = event.map_err(|e| bad(&e))?;
            let in_key_position = matches!(
                open.last().map(|&(n, k)| (&nodes[n], k)),
                Some((Node::Map(_), None))
            );
            let (id, anchor, opens) = match event {
                Event::DocumentEnd => break,
                Event::Scalar(text, style, anchor, tag) => {
                    nodes.push(Node::Scalar {
                        text: text.into_owned(),
                        tag: tag.map(|t| format!("{}{}", t.handle(), t.suffix())),
                        plain: style == ScalarStyle::Plain,
                        line: span.start.line(),
                        key: in_key_position,
                    });
                    (nodes.len() - 1, anchor, false)
                }
                Event::SequenceStart(_, anchor, _) => {
                    nodes.push(Node::Seq(Vec::new()));
                    (nodes.len() - 1, anchor, true)
                }
                Event::MappingStart(_, anchor, _) => {
                    nodes.push(Node::Map(Vec::new()));
                    (nodes.len() - 1, anchor, true)
                }
                Event::Alias(anchor) => {
                    let id = *anchors
                        .get(&anchor)
                        .ok_or_else(|| bad(&"an alias to an unknown anchor"))?;
                    (id, 0, false)
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let (done, _) = open.pop().ok_or_else(|| bad(&"unbalanced collection"))?;
                    Self::attach(&mut nodes, &mut open, done);
                    continue;
                }
                _ => continue,
            };
            if anchor != 0 {
                anchors.insert(anchor, id);
            }
            if opens {
                open.push((id, None));
            } else {
                Self::attach(&mut nodes, &mut open, id);
            }
        }
        if nodes.is_empty() {
            return Err(bad(&"empty document"));
        }
        Ok(Airflow {
            nodes,
            flattened: std::cell::Cell::new(0),
        })
    }

    /// Add finished node `id` to the collection being built, if any.
    fn attach(nodes: &mut [Node], open: &mut [(usize, Option<usize>)], id: usize) {
        let Some((parent, pending)) = open.last_mut() else {
            return;
        };
        match &mut nodes[*parent] {
            Node::Seq(items) => items.push(id),
            Node::Map(pairs) => match pending.take() {
                None => *pending = Some(id),
                Some(key) => pairs.push((key, id)),
            },
            Node::Scalar { .. } => {}
        }
    }

    /// How YAML 1.1 reads scalar node `id` (`None` for a collection).
    fn reading(&self, id: usize) -> Option<(Reading, &str, usize)> {
        match &self.nodes[id] {
            Node::Scalar {
                text,
                tag,
                plain,
                line,
                ..
            } => Some((yaml11::read(text, tag.as_deref(), *plain), text, *line)),
            _ => None,
        }
    }

    /// The pairs of mapping `id` as PyYAML's `flatten_mapping` leaves them:
    /// merged pairs first, merge keys removed.
    fn pairs(&self, id: usize, depth: usize) -> Result<Vec<(usize, usize)>, ErrorKind> {
        let Node::Map(own) = &self.nodes[id] else {
            return Ok(Vec::new());
        };
        if depth > MAX_DEPTH {
            return Err(yaml11_error(0, "merge keys nested too deeply"));
        }
        let mut merged = Vec::new();
        let mut rest = Vec::with_capacity(own.len());
        for &(k, v) in own {
            match self.reading(k) {
                Some((Reading::Merge, _, line)) => {
                    let sources = match &self.nodes[v] {
                        Node::Map(_) => vec![v],
                        Node::Seq(items) => items.clone(),
                        Node::Scalar { .. } => {
                            return Err(yaml11_error(
                                line,
                                "a merge key (<<) needs a mapping or a list of mappings",
                            ))
                        }
                    };
                    for source in sources {
                        if !matches!(self.nodes[source], Node::Map(_)) {
                            return Err(yaml11_error(
                                line,
                                "merging something that is not a mapping",
                            ));
                        }
                        merged.extend(self.pairs(source, depth + 1)?);
                    }
                }
                _ => rest.push((k, v)),
            }
        }
        merged.extend(rest);
        let total = self.flattened.get() + merged.len();
        if total > 4 * MAX_NODES {
            return Err(ErrorKind::Manifest(format!(
                "manifest merge keys expand to more than {} entries",
                4 * MAX_NODES
            )));
        }
        self.flattened.set(total);
        Ok(merged)
    }

    /// The value of the last key of mapping `id` that YAML 1.1 reads as the string `name`.
    fn get(&self, id: usize, name: &str) -> Result<Option<usize>, ErrorKind> {
        Ok(self
            .pairs(id, 0)?
            .into_iter()
            .rev()
            .find(|&(k, _)| {
                matches!(self.reading(k), Some((r, text, _)) if key_is_str(&r) && text == name)
            })
            .map(|(_, v)| v))
    }

    /// Refuse what PyYAML cannot construct: a scalar whose constructor raises,
    /// `<<` or `=` where a value is expected, a bad merge.
    fn check_constructible(&self) -> Result<(), ErrorKind> {
        for (id, node) in self.nodes.iter().enumerate() {
            match node {
                Node::Scalar { key, line, .. } => {
                    let (reading, text, _) = self.reading(id).expect("a scalar");
                    let why = match reading {
                        Reading::Unreadable(why) => why,
                        Reading::Merge if !key => {
                            format!("{} is the merge key, not a value", yaml11::python_str(text))
                        }
                        Reading::ValueKey if !key => {
                            format!("{} is the value key, not a value", yaml11::python_str(text))
                        }
                        _ => continue,
                    };
                    return Err(yaml11_error(*line, &why));
                }
                Node::Map(pairs) => {
                    for &(k, v) in pairs {
                        if let Some((Reading::Merge, _, line)) = self.reading(k) {
                            let sources = match &self.nodes[v] {
                                Node::Seq(items) => items.as_slice(),
                                _ => std::slice::from_ref(&v),
                            };
                            if !sources
                                .iter()
                                .all(|&m| matches!(self.nodes[m], Node::Map(_)))
                            {
                                return Err(yaml11_error(
                                    line,
                                    "a merge key (<<) needs a mapping or a list of mappings",
                                ));
                            }
                        }
                    }
                }
                Node::Seq(_) => {}
            }
        }
        Ok(())
    }

    /// dag_ids, tasks, schema version and retyped keys, as Airflow reads them.
    fn routing(&self) -> Result<Routing, ErrorKind> {
        self.check_constructible()?;
        let mut routing = Routing {
            dag_ids: Vec::new(),
            tasks: Vec::new(),
            supervisor_schema_version: None,
            retyped: Vec::new(),
        };
        let root = 0;
        if let Some(sdk) = self.get(root, "sdk")? {
            if let Some(version) = self.get(sdk, "supervisor_schema_version")? {
                if let Some((Reading::Str, text, _)) = self.reading(version) {
                    if !text.is_empty() {
                        routing.supervisor_schema_version = Some(text.to_owned());
                    }
                }
            }
        }
        let Some(dags) = self.get(root, "dags")? else {
            return Ok(routing);
        };
        let mut entries: Vec<(String, usize)> = Vec::new();
        let mut position: HashMap<String, usize> = HashMap::new();
        for (k, v) in self.pairs(dags, 0)? {
            // Collections as keys were refused with the YAML 1.2 reading.
            let Some((reading, text, line)) = self.reading(k) else {
                continue;
            };
            let routed = key_is_str(&reading);
            if routing.retyped.len() < MAX_RETYPED {
                if let Some(retyped) = self.retyped(&reading, k, text, line, text, None, routed) {
                    routing.retyped.push(retyped);
                }
            }
            if routed {
                // A dict keeps the first position and the last value of equal keys.
                match position.get(text) {
                    Some(&i) => entries[i].1 = v,
                    None => {
                        position.insert(text.to_owned(), entries.len());
                        entries.push((text.to_owned(), v));
                    }
                }
            }
        }
        for (dag_id, entry) in entries {
            let tasks = match self.get(entry, "tasks")?.map(|t| &self.nodes[t]) {
                Some(Node::Seq(items)) => {
                    let mut ids = Vec::with_capacity(items.len());
                    for (i, &item) in items.iter().enumerate() {
                        let Some((reading, text, line)) = self.reading(item) else {
                            continue; // a collection: the schema's business
                        };
                        if routing.retyped.len() < MAX_RETYPED {
                            if let Some(r) =
                                self.retyped(&reading, item, text, line, &dag_id, Some(i), false)
                            {
                                routing.retyped.push(r);
                            }
                        }
                        if reading.is_str() {
                            ids.push(text.to_owned());
                        }
                    }
                    Some(ids)
                }
                _ => None,
            };
            routing.dag_ids.push(dag_id);
            routing.tasks.push(tasks);
        }
        routing.retyped.sort_by_key(|r| r.line);
        Ok(routing)
    }

    /// A [`RetypedKey`] for scalar node `id` read as `yaml11`, if the two
    /// readings differ or it is no string to Airflow.
    #[allow(clippy::too_many_arguments)]
    fn retyped(
        &self,
        yaml11: &Reading,
        id: usize,
        text: &str,
        line: usize,
        dag: &str,
        task_index: Option<usize>,
        routed: bool,
    ) -> Option<RetypedKey> {
        let yaml12 = match &self.nodes[id] {
            Node::Scalar {
                plain: true,
                tag: None,
                ..
            } => yaml12_plain(text).describe(),
            // `!` makes a string in YAML 1.2; PyYAML resolves it as if plain.
            Node::Scalar { tag: Some(t), .. } if t == "!" => Reading::Str.describe(text),
            // Quoted, or an explicit tag: both readings honour it.
            _ => yaml11.describe(text),
        };
        let string = Reading::Str.describe(text);
        if key_is_str(yaml11) && yaml12 == string {
            return None;
        }
        Some(RetypedKey {
            dag: dag.to_owned(),
            task_index,
            text: text.to_owned(),
            line,
            yaml11: if key_is_str(yaml11) {
                string
            } else {
                yaml11.describe(text)
            },
            yaml12,
            routed: routed && task_index.is_none(),
        })
    }
}

/// Whether a mapping key reads as a str: `=` is one there (`flatten_mapping`).
fn key_is_str(reading: &Reading) -> bool {
    matches!(reading, Reading::Str | Reading::ValueKey)
}

/// How serde-saphyr (YAML 1.2, this reader's options) reads a plain scalar.
fn yaml12_plain(text: &str) -> Value {
    // Only these first characters can start a YAML 1.2 non-string.
    let maybe_other = text
        .chars()
        .next()
        .is_none_or(|c| "~nNtTfF.+-0123456789".contains(c));
    if !maybe_other {
        return Value::String(text.to_owned());
    }
    serde_saphyr::from_str_with_options::<Value>(text, options())
        .unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// Serialise `value` canonically: keys sorted at every level, YAML block style.
///
/// Strings a YAML 1.1 reader would take for another type (dates, `yes`/`no`,
/// octal-looking numbers) are quoted by the emitter, so YAML 1.1 and 1.2
/// readers load the same values.
pub fn dump(value: Value) -> Result<String, ErrorKind> {
    serde_saphyr::to_string(&value.canonical())
        .map_err(|e| ErrorKind::Manifest(format!("cannot serialise manifest: {e}")))
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Int(i) => serializer.serialize_i64(*i),
            Value::UInt(u) => serializer.serialize_u64(*u),
            Value::Float(f) => serializer.serialize_f64(*f),
            // What YAML 1.1 would not read back as this string is always
            // quoted (serde-saphyr quotes YAML 1.2 look-alikes by itself).
            Value::String(s) if yaml11::resolve(s) != yaml11::Implicit::Str => {
                serde_saphyr::DoubleQuoted(s.as_str()).serialize(serializer)
            }
            Value::String(s) => serializer.serialize_str(s),
            Value::Bytes(b) => serializer.serialize_bytes(b),
            Value::Seq(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Map(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::UInt(v), Value::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Bytes(v.to_vec()))
    }
    fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Value, E> {
        Ok(Value::Bytes(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries: Vec<(Value, Value)> =
            Vec::with_capacity(map.size_hint().unwrap_or(0).min(1024));
        while let Some((k, v)) = map.next_entry::<Value, Value>()? {
            entries.push((k, v));
        }
        Ok(Value::Map(entries))
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, _data: A) -> Result<Value, A::Error> {
        Err(de::Error::custom(
            "tagged enum values are not supported in a manifest",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC_EXAMPLE: &str = "airflow_bundle_metadata_version: \"1.0\"
sdk:
  language: go
  version: \"0.1.0\"
  supervisor_schema_version: \"2026-06-16\"
source: example.go
dags:
  example_dag:
    tasks: [extract, transform, load]
  another_dag:
    tasks: [run]
";

    #[test]
    fn the_spec_example_declares_its_dags_in_order() {
        let m = parse(SPEC_EXAMPLE.as_bytes()).unwrap();
        assert_eq!(m.dag_ids, ["example_dag", "another_dag"]);
        assert_eq!(m.supervisor_schema_version.as_deref(), Some("2026-06-16"));
        assert!(m.declares("another_dag"));
        assert!(!m.declares("missing"));
    }

    #[test]
    fn dag_keys_are_read_as_airflow_reads_them() {
        let m = parse(
            b"dags:\n  0o17: {}\n  1e3: {}\n  1_000: {}\n  2024-01-01: {}\n  on: {}\n  yes: {}\n  \
              y: {}\n  \"on\": {}\n  =: {}\n  ! 12: {}\n",
        )
        .unwrap();
        assert_eq!(m.dag_ids, ["0o17", "1e3", "y", "on", "="]);
        let retyped: Vec<(&str, bool, &str, &str)> = m
            .retyped
            .iter()
            .map(|r| {
                (
                    r.text.as_str(),
                    r.routed,
                    r.yaml11.as_str(),
                    r.yaml12.as_str(),
                )
            })
            .collect();
        assert_eq!(
            retyped,
            [
                ("0o17", true, "the string '0o17'", "the integer 15"),
                ("1e3", true, "the string '1e3'", "the float 1000.0"),
                ("1_000", false, "the integer 1000", "the string '1_000'"),
                (
                    "2024-01-01",
                    false,
                    "the date 2024-01-01",
                    "the string '2024-01-01'"
                ),
                ("on", false, "the boolean true", "the string 'on'"),
                ("yes", false, "the boolean true", "the string 'yes'"),
                ("12", false, "the integer 12", "the string '12'"),
            ]
        );
        assert_eq!(
            m.retyped[4].message(),
            "dag key 'on' reads as the boolean true under YAML 1.1 (Airflow's reader) and as \
             the string 'on' under YAML 1.2: Airflow does not route this dag; quote it"
        );
    }

    #[test]
    fn task_items_are_read_as_airflow_reads_them() {
        let m = parse(b"dags:\n  d:\n    tasks: [on, t, 1, '2', 0o17]\n  e: {}\n").unwrap();
        assert_eq!(m.dag_ids, ["d", "e"]);
        assert_eq!(
            m.tasks,
            [Some(vec!["t".into(), "2".into(), "0o17".into()]), None]
        );
        let items: Vec<(&str, Option<usize>)> = m
            .retyped
            .iter()
            .map(|r| (r.text.as_str(), r.task_index))
            .collect();
        assert_eq!(items, [("on", Some(0)), ("1", Some(2)), ("0o17", Some(4))]);
        assert!(m.retyped.iter().all(|r| !r.routed && r.dag == "d"));
    }

    #[test]
    fn merged_dags_come_first_and_count() {
        let m = parse(b"base: &b {a: {}, on: {}}\ndags:\n  z: {}\n  <<: *b\n  a: {}\n").unwrap();
        assert_eq!(m.dag_ids, ["a", "z"]);
        assert_eq!(m.retyped.len(), 1);
    }

    #[test]
    fn a_document_pyyaml_cannot_construct_is_refused_whole() {
        for doc in [
            "dags: {d: {}}\nx: 2024-13-01\n",
            "dags: {d: {}}\nx: =\n",
            "dags: {d: {}}\nx: [0b_]\n",
            "dags: {d: {}}\nx: <<\n",
        ] {
            let err = parse(doc.as_bytes()).unwrap_err();
            assert!(
                matches!(err, ErrorKind::Manifest(ref m) if m.contains("YAML 1.1 reader")),
                "{doc}: {err}"
            );
        }
    }

    #[test]
    fn non_string_dag_keys_match_nothing_but_keep_the_others() {
        let m = parse(b"dags:\n  1: {}\n  true: {}\n  real: {}\n").unwrap();
        assert_eq!(m.dag_ids, ["real"]);
    }

    #[test]
    fn dags_that_is_not_a_mapping_declares_nothing() {
        assert!(parse(b"dags: [a, b]\n").unwrap().dag_ids.is_empty());
    }

    #[test]
    fn an_unquoted_date_schema_version_is_a_date_to_airflow() {
        let m = parse(b"sdk: {supervisor_schema_version: 2026-06-16}\n").unwrap();
        assert_eq!(m.supervisor_schema_version, None);
        assert_eq!(
            m.value.get("sdk").unwrap().get("supervisor_schema_version"),
            Some(&Value::String("2026-06-16".into()))
        );
        let m = parse(b"sdk: {supervisor_schema_version: '2026-06-16'}\n").unwrap();
        assert_eq!(m.supervisor_schema_version.as_deref(), Some("2026-06-16"));
    }

    #[test]
    fn empty_or_non_string_schema_version_is_absent() {
        for doc in [
            "sdk: {supervisor_schema_version: ''}",
            "sdk: {supervisor_schema_version: 20260616}",
            "sdk: x",
        ] {
            assert_eq!(
                parse(doc.as_bytes()).unwrap().supervisor_schema_version,
                None,
                "{doc}"
            );
        }
    }

    #[test]
    fn top_level_must_be_a_mapping() {
        for doc in ["just-a-scalar\n", "- a\n- b\n", "", "   \n", "~\n"] {
            let err = parse(doc.as_bytes()).unwrap_err();
            assert!(
                matches!(err, ErrorKind::ManifestNotAMapping { .. })
                    && err.to_string().contains("not a YAML mapping"),
                "{doc:?}: {err}"
            );
        }
    }

    #[test]
    fn ambiguous_numbers_stay_strings() {
        let m = parse(b"a: 0755\nb: 1_000\nc: 0o17\nd: 0x1F\ne: 7\n").unwrap();
        assert_eq!(m.value.get("a"), Some(&Value::String("0755".into())));
        assert_eq!(m.value.get("b"), Some(&Value::String("1_000".into())));
        assert_eq!(m.value.get("c"), Some(&Value::Int(15)));
        assert_eq!(m.value.get("d"), Some(&Value::Int(31)));
        assert_eq!(m.value.get("e"), Some(&Value::Int(7)));
    }

    #[test]
    fn non_finite_floats_are_values() {
        let m = parse(b"a: .inf\nb: -.inf\nc: .nan\n").unwrap();
        assert_eq!(m.value.get("a"), Some(&Value::Float(f64::INFINITY)));
    }

    #[test]
    fn application_tags_are_refused() {
        for doc in [
            "a: !custom x\n",
            "a: !!python/object/apply:os.system [ls]\n",
        ] {
            assert!(
                matches!(parse(doc.as_bytes()), Err(ErrorKind::Manifest(_))),
                "{doc}"
            );
        }
        assert!(parse(b"a: !!str 1\n").is_ok());
    }

    #[test]
    fn collections_as_keys_are_refused() {
        for doc in ["? [a, b]\n: c\n", "x:\n  ? {a: 1}\n  : c\n"] {
            let err = parse(doc.as_bytes()).unwrap_err();
            assert!(
                matches!(err, ErrorKind::Manifest(ref m) if m.contains("as a mapping key")),
                "{doc}"
            );
        }
    }

    #[test]
    fn invalid_utf8_is_a_manifest_error() {
        let err = parse(b"a: \xff\n").unwrap_err();
        assert!(matches!(err, ErrorKind::Manifest(ref m) if m.contains("UTF-8")));
    }

    #[test]
    fn malformed_yaml_is_a_manifest_error() {
        let err = parse(b"key: : not: valid: yaml: [").unwrap_err();
        assert!(matches!(err, ErrorKind::Manifest(ref m) if m.contains("not valid YAML")));
    }

    #[test]
    fn duplicate_keys_let_the_last_win() {
        let m =
            parse(b"sdk: {supervisor_schema_version: a}\nsdk: {supervisor_schema_version: b}\n")
                .unwrap();
        assert_eq!(m.supervisor_schema_version.as_deref(), Some("b"));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let doc = format!("a: {}{}", "[".repeat(500), "]".repeat(500));
        assert!(matches!(parse(doc.as_bytes()), Err(ErrorKind::Manifest(_))));
    }

    #[test]
    fn billion_laughs_is_refused() {
        let mut doc = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = i - 1;
            doc.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        assert!(matches!(parse(doc.as_bytes()), Err(ErrorKind::Manifest(_))));
    }

    #[test]
    fn oversized_manifest_is_refused_before_parsing() {
        let big = vec![b' '; MAX_MANIFEST_BYTES as usize + 1];
        let err = parse(&big).unwrap_err();
        assert!(matches!(err, ErrorKind::Manifest(ref m) if m.contains("limit")));
    }

    #[test]
    fn dump_sorts_keys_and_quotes_ambiguous_scalars() {
        let m = parse(b"b: 1\na: {z: '2026-06-16', y: 'yes'}\n").unwrap();
        let out = dump(m.value).unwrap();
        assert_eq!(out, "a:\n  \"y\": \"yes\"\n  z: \"2026-06-16\"\nb: 1\n");
    }

    #[test]
    fn dump_quotes_every_key_yaml_1_1_would_retype() {
        let keys = [
            "0o17", "1e3", "1_000", "0755", "1:30", "=", "<<", "~", "", "y", "on",
        ];
        let entries = keys
            .iter()
            .map(|k| (Value::String((*k).into()), Value::String((*k).into())))
            .collect();
        let dags = Value::Map(vec![(Value::String("dags".into()), Value::Map(entries))]);
        let m = parse(dump(dags).unwrap().as_bytes()).unwrap();
        let mut sorted: Vec<&str> = keys.to_vec();
        sorted.sort_unstable();
        assert_eq!(m.dag_ids, sorted);
        assert_eq!(m.retyped, []);
    }

    #[test]
    fn dump_then_parse_round_trips() {
        let m = parse(SPEC_EXAMPLE.as_bytes()).unwrap();
        let again = parse(dump(m.value.clone()).unwrap().as_bytes()).unwrap();
        assert_eq!(again.value, m.value.canonical());
    }
}
