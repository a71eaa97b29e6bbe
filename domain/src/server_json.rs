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

/// Digest of a server.json's content (see [`ServerJson::content_hash`]): SHA-256, held as its
/// 32 bytes (written as 64 hex digits).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentHash([u8; 32]);

impl ContentHash {
    /// The digest's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The digest in lower-case hex, as stores keep it.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl std::fmt::Display for ContentHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl std::fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ContentHash({self})")
    }
}

/// One server.json document, validated for `name`, `version` and `description`.
///
/// Held as its compact JSON text (key order and unknown fields preserved), plus the few fields
/// the registry reads, extracted once: name, version, tags, the content digest, and the
/// lower-cased text that `search` looks in. `description` and `title` are read from the text
/// when asked for (only `search` needs them on the read path, and it has its own copy). This
/// keeps large catalogues small in memory.
#[derive(Debug, Clone)]
pub struct ServerJson {
    name: ServerName,
    version: Version,
    search: Box<str>,
    tags: Box<[String]>,
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
        let description = required_str(doc, "description")?;
        let title = doc.get("title").and_then(Value::as_str).unwrap_or_default();
        let search = search_text(name.as_str(), title, description);
        let raw = serde_json::value::to_raw_value(doc).map_err(|_| ServerJsonError::NotAnObject)?;
        Ok(Self { tags: collect_tags(doc), hash: hash_of(doc), name, version, search, raw })
    }

    pub fn name(&self) -> &ServerName {
        &self.name
    }

    pub fn version(&self) -> &Version {
        &self.version
    }

    /// The `description` (read from the document's text).
    pub fn description(&self) -> String {
        self.text_fields().description
    }

    /// The `title`, when there is one (read from the document's text).
    pub fn title(&self) -> Option<String> {
        self.text_fields().title
    }

    fn text_fields(&self) -> TextFields {
        serde_json::from_str(self.raw.get()).unwrap_or_default()
    }

    /// `name`, `title` and `description`, lower-cased and separated by NUL: what `search`
    /// matches a needle against (a case-insensitive substring of any of the three).
    pub fn search_text(&self) -> &str {
        &self.search
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

fn collect_tags(doc: &Map<String, Value>) -> Box<[String]> {
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

/// The fields read from the text on demand.
#[derive(Default, Deserialize)]
struct TextFields {
    #[serde(default)]
    description: String,
    #[serde(default)]
    title: Option<String>,
}

/// What [`ServerJson::search_text`] returns.
fn search_text(name: &str, title: &str, description: &str) -> Box<str> {
    let mut text = String::with_capacity(name.len() + title.len() + description.len() + 2);
    for (i, part) in [name, title, description].into_iter().enumerate() {
        if i > 0 {
            text.push('\0');
        }
        if part.is_ascii() {
            text.extend(part.chars().map(|c| c.to_ascii_lowercase()));
        } else {
            text.push_str(&part.to_lowercase());
        }
    }
    text.into_boxed_str()
}

fn hash_of(doc: &Map<String, Value>) -> ContentHash {
    use sha2::{Digest, Sha256};
    let mut hasher = Canonical(Sha256::new());
    hasher.object(doc);
    ContentHash(hasher.0.finalize().into())
}

/// Feeds a value's canonical text (keys sorted at every level) to a digest, written straight
/// into it rather than through a string per key and scalar.
struct Canonical<D>(D);

impl<D: sha2::Digest> std::io::Write for Canonical<D> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<D: sha2::Digest> Canonical<D> {
    fn object(&mut self, map: &Map<String, Value>) {
        let mut entries: Vec<(&String, &Value)> = map.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        self.0.update(b"{");
        for (k, v) in entries {
            // Writing into a digest cannot fail.
            let _ = serde_json::to_writer(&mut *self, k);
            self.0.update(b":");
            self.value(v);
            self.0.update(b",");
        }
        self.0.update(b"}");
    }

    fn value(&mut self, v: &Value) {
        match v {
            Value::Object(map) => self.object(map),
            Value::Array(items) => {
                self.0.update(b"[");
                for item in items {
                    self.value(item);
                    self.0.update(b",");
                }
                self.0.update(b"]");
            }
            other => {
                let _ = serde_json::to_writer(&mut *self, other);
            }
        }
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

    /// Every entry holds one: the extracted fields stay boxed, without spare capacity.
    #[test]
    fn a_server_json_stays_small() {
        assert!(std::mem::size_of::<ServerJson>() <= 112, "{} bytes", std::mem::size_of::<ServerJson>());
    }

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
    fn search_text_is_name_title_and_description_lower_cased() {
        let s = ServerJson::from_value(json!({
            "name": "io.github.Acme/Weather", "version": "1", "title": "ÜBER Wetter ΣΟΦΟΣ",
            "description": "Forecasts \u{c9}T\u{c9} and \"More\""
        }))
        .unwrap();
        let expected = format!("{}\0{}\0{}", s.name(), s.title().unwrap(), s.description()).to_lowercase();
        assert_eq!(s.search_text(), expected);
        assert_eq!(s.search_text(), "io.github.acme/weather\0über wetter σοφος\0forecasts été and \"more\"");
        let untitled = ServerJson::from_value(json!({"name": "a/B", "version": "1", "description": "D"})).unwrap();
        assert_eq!(untitled.search_text(), "a/b\0\0d");
        assert_eq!(untitled.title(), None);
        assert_eq!(untitled.description(), "D");
    }

    #[test]
    fn content_hash_is_32_bytes_written_as_hex() {
        let a = ServerJson::from_value(json!({"name": "a/b", "version": "1", "description": "d"})).unwrap();
        let hex = a.content_hash().to_hex();
        assert_eq!(hex.len(), 64);
        assert_eq!(a.content_hash().to_string(), hex);
        assert_eq!(hex::decode(&hex).unwrap(), a.content_hash().as_bytes());
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
