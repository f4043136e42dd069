//! The bundle manifest (`airflow-metadata.yaml`, spec "airflow-metadata.yaml schema").
//!
//! YAML is read with serde-saphyr (YAML 1.2 core schema, panic-free) under a
//! budget: bounded input size, nesting depth, node count and alias expansion,
//! so a YAML bomb or a huge `metadata_len` is a clean [`ErrorKind::Manifest`].
//! The document is kept as a [`Value`] tree that preserves key order and
//! non-string keys (a `dags` key such as `1` or `true` must not break the
//! other dag_ids of the same manifest).

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_saphyr::{
    budget::Budget, options::AliasLimits, DuplicateKeyPolicy, NonFiniteFloatPolicy, Options,
};

use crate::error::ErrorKind;

/// Largest manifest this reader accepts, in bytes.
pub const MAX_MANIFEST_BYTES: u64 = 16 << 20;
/// Deepest nesting of collections accepted.
pub const MAX_DEPTH: usize = 64;
/// Most YAML nodes (scalars and collections) accepted.
pub const MAX_NODES: usize = 1_000_000;

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

impl Value {
    /// The value of string key `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(entries) => entries.iter().rev().find_map(|(k, v)| match k {
                Value::String(s) if s == key => Some(v),
                _ => None,
            }),
            _ => None,
        }
    }

    /// A word for the type, for error messages ("a string", "a sequence").
    pub fn kind(&self) -> &'static str {
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
    pub fn canonical(self) -> Value {
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
            Value::Bytes(b) => (5, crate::trailer::hex(b)),
            Value::Seq(_) | Value::Map(_) => (6, format!("{self:?}")),
        }
    }
}

/// A parsed manifest: the whole mapping and the fields the reader acts on.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    /// The top-level mapping, as loaded.
    pub value: Value,
    /// String keys of `dags`, in document order. Non-string keys match no
    /// dag_id; `dags` that is not a mapping declares none.
    pub dag_ids: Vec<String>,
    /// `sdk.supervisor_schema_version` when it is a non-empty string.
    pub supervisor_schema_version: Option<String>,
}

impl Manifest {
    /// Whether this manifest declares `dag_id`.
    pub fn declares(&self, dag_id: &str) -> bool {
        self.dag_ids.iter().any(|d| d == dag_id)
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
    let dag_ids = match value.get("dags") {
        Some(Value::Map(entries)) => entries
            .iter()
            .filter_map(|(k, _)| match k {
                Value::String(s) => Some(s.clone()),
                _ => None,
            })
            .fold(Vec::new(), |mut ids, id| {
                if !ids.contains(&id) {
                    ids.push(id);
                }
                ids
            }),
        _ => Vec::new(),
    };
    let supervisor_schema_version = match value
        .get("sdk")
        .and_then(|s| s.get("supervisor_schema_version"))
    {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    Ok(Manifest {
        value,
        dag_ids,
        supervisor_schema_version,
    })
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
    fn yaml_1_1_booleans_are_strings() {
        let m = parse(b"dags:\n  y: {}\n  yes: {}\n  on: {}\n  off: {}\n").unwrap();
        assert_eq!(m.dag_ids, ["y", "yes", "on", "off"]);
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
    fn unquoted_date_is_a_string_under_yaml_1_2() {
        let m = parse(b"sdk: {supervisor_schema_version: 2026-06-16}\n").unwrap();
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
    fn dump_then_parse_round_trips() {
        let m = parse(SPEC_EXAMPLE.as_bytes()).unwrap();
        let again = parse(dump(m.value.clone()).unwrap().as_bytes()).unwrap();
        assert_eq!(again.value, m.value.canonical());
    }
}
