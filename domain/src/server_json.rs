//! A lossless server.json document.
//!
//! The document is kept as the JSON object it arrived as (key order included), so unknown fields
//! and every `_meta` key survive a round trip. The fields the registry needs are validated once at
//! construction and exposed through typed accessors.

use std::collections::BTreeSet;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::names::{NameError, ServerName};
use crate::version::{Version, VersionError};

/// `_meta` key under which publishers put their own extension data.
pub const PUBLISHER_PROVIDED: &str = "io.modelcontextprotocol.registry/publisher-provided";

/// Why a document is not a usable server.json.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerJsonError {
    #[error("server.json must be a JSON object")]
    NotAnObject,
    #[error("server.json is missing the required string field `{0}`")]
    Missing(&'static str),
    #[error("invalid `name`: {0}")]
    Name(#[from] NameError),
    #[error("invalid `version` of {name}: {err}")]
    Version { name: String, err: VersionError },
}

/// Digest of a server.json's content (see [`ServerJson::content_hash`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ContentHash(pub String);

/// One server.json document, validated for `name`, `version` and `description`.
///
/// Held as its compact JSON text (key order and unknown fields preserved), plus the few fields
/// the registry reads, extracted once. This keeps large catalogues small in memory.
#[derive(Debug, Clone)]
pub struct ServerJson {
    name: ServerName,
    version: Version,
    description: String,
    title: Option<String>,
    tags: Vec<String>,
    hash: ContentHash,
    raw: Box<RawValue>,
}

impl PartialEq for ServerJson {
    fn eq(&self, other: &Self) -> bool {
        self.raw.get() == other.raw.get()
    }
}

impl Eq for ServerJson {}

fn required_str<'a>(doc: &'a Map<String, Value>, key: &'static str) -> Result<&'a str, ServerJsonError> {
    doc.get(key).and_then(Value::as_str).ok_or(ServerJsonError::Missing(key))
}

impl ServerJson {
    /// Validates a JSON value as server.json.
    ///
    /// # Errors
    /// [`ServerJsonError`] naming the first field that is missing or invalid.
    pub fn from_value(value: Value) -> Result<Self, ServerJsonError> {
        let Value::Object(doc) = value else {
            return Err(ServerJsonError::NotAnObject);
        };
        Self::from_map(&doc)
    }

    /// Validates a JSON object as server.json.
    ///
    /// # Errors
    /// [`ServerJsonError`] naming the first field that is missing or invalid.
    pub fn from_map(doc: &Map<String, Value>) -> Result<Self, ServerJsonError> {
        let name = ServerName::parse(required_str(doc, "name")?)?;
        let version = Version::parse(required_str(doc, "version")?)
            .map_err(|err| ServerJsonError::Version { name: name.to_string(), err })?;
        let description = required_str(doc, "description")?.to_owned();
        let title = doc.get("title").and_then(Value::as_str).map(str::to_owned);
        let raw = serde_json::value::to_raw_value(doc).map_err(|_| ServerJsonError::NotAnObject)?;
        Ok(Self { tags: collect_tags(doc), hash: hash_of(doc), name, version, description, title, raw })
    }

    pub fn name(&self) -> &ServerName {
        &self.name
    }

    pub fn version(&self) -> &Version {
        &self.version
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    pub fn title(&self) -> Option<&str> {
        self.title.as_deref()
    }

    /// The document's compact JSON text, as it arrived (key order kept).
    pub fn json(&self) -> &str {
        self.raw.get()
    }

    /// The whole document as a JSON object (parsed on demand).
    pub fn to_map(&self) -> Map<String, Value> {
        serde_json::from_str(self.raw.get()).unwrap_or_default()
    }

    /// Tags declared by the publisher: every `tags` array of strings found at
    /// `_meta["io.modelcontextprotocol.registry/publisher-provided"].<namespace>.<key>.tags`.
    pub fn tags(&self) -> BTreeSet<&str> {
        self.tags.iter().map(String::as_str).collect()
    }

    /// A stable digest of the document's content: keys sorted at every level, so a change of key
    /// order alone is not a change of content.
    pub fn content_hash(&self) -> &ContentHash {
        &self.hash
    }
}

fn collect_tags(doc: &Map<String, Value>) -> Vec<String> {
    let mut tags = BTreeSet::new();
    let provided = doc.get("_meta").and_then(|m| m.get(PUBLISHER_PROVIDED)).and_then(Value::as_object);
    for ns in provided.into_iter().flat_map(Map::values) {
        for item in ns.as_object().into_iter().flat_map(Map::values) {
            if let Some(list) = item.get("tags").and_then(Value::as_array) {
                tags.extend(list.iter().filter_map(Value::as_str));
            }
        }
    }
    tags.into_iter().map(str::to_owned).collect()
}

fn hash_of(doc: &Map<String, Value>) -> ContentHash {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    write_object(&mut hasher, doc);
    ContentHash(hex::encode(hasher.finalize()))
}

fn write_object(h: &mut impl sha2::Digest, map: &Map<String, Value>) {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    h.update(b"{");
    for (k, v) in entries {
        h.update(serde_json::to_string(k).unwrap_or_default().as_bytes());
        h.update(b":");
        write_canonical(h, v);
        h.update(b",");
    }
    h.update(b"}");
}

fn write_canonical(h: &mut impl sha2::Digest, v: &Value) {
    match v {
        Value::Object(map) => write_object(h, map),
        Value::Array(items) => {
            h.update(b"[");
            for item in items {
                write_canonical(h, item);
                h.update(b",");
            }
            h.update(b"]");
        }
        other => h.update(other.to_string().as_bytes()),
    }
}

impl Serialize for ServerJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(s)
    }
}

impl<'de> Deserialize<'de> for ServerJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = Map::<String, Value>::deserialize(d)?;
        Self::from_map(&map).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({
            "$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
            "name": "io.github.user/weather",
            "description": "Weather",
            "version": "1.0.0",
            "x-unknown": {"kept": [1, 2, 3]},
            "_meta": {
                PUBLISHER_PROVIDED: {
                    "io.github.stacklok": {"ghcr.io/x:1": {"tags": ["db", "sql"], "tier": "Official"}},
                    "com.other": {"k": {"tags": ["sql", "cloud"]}}
                },
                "com.vendor/custom": true
            }
        })
    }

    #[test]
    fn round_trip_is_lossless_and_keeps_key_order() {
        let raw = serde_json::to_string(&doc()).unwrap();
        let parsed: ServerJson = serde_json::from_str(&raw).unwrap();
        assert_eq!(serde_json::to_string(&parsed).unwrap(), raw);
        assert_eq!(parsed.name().as_str(), "io.github.user/weather");
        assert_eq!(parsed.version().as_str(), "1.0.0");
    }

    #[test]
    fn numbers_survive_being_read_again() {
        // Found by the catalogue fuzz target: without serde_json's `float_roundtrip`, the first
        // float parsed to its neighbour, so a document read back from its own JSON text (as a
        // store does) had other text and another content hash.
        let text = r#"{"name":"a/b","version":"1.0.0","description":"d","x":[4.4444044444444453e+43,0.1,1e-7]}"#;
        let first: ServerJson = serde_json::from_str(text).unwrap();
        assert_eq!(first.json(), text);
        let again: ServerJson = serde_json::from_str(first.json()).unwrap();
        assert_eq!(again.json(), first.json());
        assert_eq!(again.content_hash(), first.content_hash());
    }

    #[test]
    fn tags_come_from_every_publisher_namespace() {
        let s = ServerJson::from_value(doc()).unwrap();
        assert_eq!(s.tags().into_iter().collect::<Vec<_>>(), vec!["cloud", "db", "sql"]);
    }

    #[test]
    fn missing_or_invalid_fields_are_named() {
        let mut d = doc();
        d.as_object_mut().unwrap().remove("description");
        assert_eq!(ServerJson::from_value(d), Err(ServerJsonError::Missing("description")));
        let mut d = doc();
        d["version"] = json!("latest");
        assert!(ServerJson::from_value(d).unwrap_err().to_string().contains("latest"));
        let mut d = doc();
        d["name"] = json!("no-slash");
        assert!(matches!(ServerJson::from_value(d), Err(ServerJsonError::Name(_))));
        assert_eq!(ServerJson::from_value(json!([1])), Err(ServerJsonError::NotAnObject));
    }

    #[test]
    fn content_hash_ignores_key_order_but_not_content() {
        let a =
            ServerJson::from_value(json!({"name": "a/b", "version": "1", "description": "d", "x": {"p": 1, "q": 2}}))
                .unwrap();
        let b =
            ServerJson::from_value(json!({"x": {"q": 2, "p": 1}, "description": "d", "version": "1", "name": "a/b"}))
                .unwrap();
        let c =
            ServerJson::from_value(json!({"name": "a/b", "version": "1", "description": "e", "x": {"p": 1, "q": 2}}))
                .unwrap();
        assert_eq!(a.content_hash(), b.content_hash());
        assert_ne!(a.content_hash(), c.content_hash());
    }
}
