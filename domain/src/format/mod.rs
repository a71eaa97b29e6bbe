//! Data formats a source can deliver, their detection, and conversion to server.json.
//!
//! Upstream (official) format, in any of three shapes:
//! - a registry file `{"data": {"servers": [server.json, …]}}`,
//! - a bare array of server.json documents,
//! - a `ServerListResponse` page `{"servers": [{"server": …, "_meta": …}], "metadata": …}`, whose
//!   official metadata (status, timestamps) is kept.
//!
//! ToolHive native format: `{"servers": {name: …}, "remote_servers": {name: …}}`, converted to
//! server.json by [`toolhive`].

mod stream;
pub mod toolhive;

pub use stream::parse_upstream_stream;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::entry::{OFFICIAL_META, OfficialMeta};
use crate::server_json::{ServerJson, ServerJsonError};

/// Which format a source's documents are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataFormat {
    /// The official server.json format (registry file, bare array, or API page).
    Upstream,
    /// ToolHive's native registry format.
    Toolhive,
    /// Detect from the document's shape.
    #[default]
    Auto,
}

/// Why a document could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("document is empty")]
    Empty,
    #[error("cannot read the document: {0}")]
    Read(String),
    #[error("document is not valid JSON: {0}")]
    Json(String),
    #[error(
        "document is neither an upstream registry file (`data.servers`), an array of server.json, a ServerListResponse (`servers` array), nor a ToolHive registry (`servers`/`remote_servers` maps)"
    )]
    Unrecognised,
    #[error("document is not in the {expected} format: {detail}")]
    WrongFormat { expected: &'static str, detail: String },
}

/// One server version read from a document.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedServer {
    /// Shared from here on: the entry made of it holds this same allocation.
    pub server: Arc<ServerJson>,
    /// Official metadata carried by the document (only a `ServerListResponse` has it); boxed, so
    /// a catalogue's list of parsed servers is two pointers an item while it is being read.
    pub official: Option<Box<OfficialMeta>>,
}

/// An item of a document that was skipped, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Where in the document: `data.servers[3]`, `servers.fetch`.
    pub location: String,
    pub reason: String,
}

/// The usable content of one document.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedDocument {
    pub servers: Vec<ParsedServer>,
    pub skipped: Vec<Skipped>,
}

impl ParsedDocument {
    fn push(&mut self, location: String, result: Result<ParsedServer, String>) {
        match result {
            Ok(server) => self.servers.push(server),
            Err(reason) => self.skipped.push(Skipped { location, reason }),
        }
    }

    /// A short human summary of what was skipped, for sync status messages.
    pub fn skipped_summary(&self) -> Option<String> {
        let first = self.skipped.first()?;
        Some(format!("{} item(s) skipped; first: {}: {}", self.skipped.len(), first.location, first.reason))
    }
}

/// Parses a document in the given format (or detects it with [`DataFormat::Auto`]).
///
/// Items that are not valid server.json are skipped and listed in [`ParsedDocument::skipped`];
/// only a document that cannot be read at all is an error.
///
/// # Errors
/// [`FormatError`] when the bytes are empty, not JSON, or not in the expected format.
pub fn parse_document(bytes: &[u8], format: DataFormat) -> Result<ParsedDocument, FormatError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(FormatError::Empty);
    }
    if format != DataFormat::Toolhive
        && let Some(doc) = parse_upstream_lazily(bytes)
    {
        return Ok(doc);
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| FormatError::Json(e.to_string()))?;
    parse_value(value, format)
}

/// Like [`parse_document`], for a document read from a stream that `open` starts (again) from
/// the beginning: the upstream shapes are read a server at a time, so the document is never held
/// whole; anything else (a ToolHive document, an unknown shape, invalid JSON) is then read whole
/// and given to [`parse_document`], which decides and words the error as for bytes in memory.
///
/// # Errors
/// [`FormatError::Read`] when the stream cannot be read; otherwise as [`parse_document`].
pub fn parse_stream<R: std::io::BufRead>(
    mut open: impl FnMut() -> std::io::Result<R>,
    format: DataFormat,
) -> Result<ParsedDocument, FormatError> {
    let unreadable = |e: std::io::Error| FormatError::Read(e.to_string());
    if format != DataFormat::Toolhive
        && let Some(doc) = parse_upstream_stream(open().map_err(unreadable)?).map_err(unreadable)?
    {
        return Ok(doc);
    }
    let mut bytes = Vec::new();
    open().and_then(|mut r| r.read_to_end(&mut bytes)).map_err(unreadable)?;
    parse_document(&bytes, format)
}

/// The upstream shapes, read without building a tree of the whole document: the server list is
/// split into raw items and each item is parsed on its own, so the peak memory is the document
/// plus one item rather than a `Value` of everything (several times the document's size).
/// `None` for anything else (ToolHive, unknown shapes, invalid JSON): the caller then takes the
/// general path, which also produces the error messages.
fn parse_upstream_lazily(bytes: &[u8]) -> Option<ParsedDocument> {
    use serde_json::value::RawValue;

    #[derive(Deserialize)]
    struct Top<'a> {
        #[serde(borrow)]
        data: Option<Data<'a>>,
        #[serde(borrow)]
        servers: Option<&'a RawValue>,
    }
    #[derive(Deserialize)]
    struct Data<'a> {
        #[serde(borrow)]
        servers: Option<&'a RawValue>,
    }
    let is_array = |raw: &RawValue| raw.get().starts_with('[');
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace())?;
    let (kind, list): (Upstream, &RawValue) = match first {
        b'[' => (Upstream::Array, serde_json::from_slice(bytes).ok()?),
        b'{' => {
            let top: Top<'_> = serde_json::from_slice(bytes).ok()?;
            match (top.data.and_then(|d| d.servers).filter(|s| is_array(s)), top.servers.filter(|s| is_array(s))) {
                (Some(list), _) => (Upstream::RegistryFile, list),
                (None, Some(list)) => (Upstream::ListResponse, list),
                (None, None) => return None,
            }
        }
        _ => return None,
    };
    let items: Vec<&RawValue> = serde_json::from_str(list.get()).ok()?;
    let mut doc = ParsedDocument::default();
    for (i, item) in items.into_iter().enumerate() {
        let parsed = serde_json::from_str::<Value>(item.get())
            .map_err(|e| e.to_string())
            .and_then(|item| parse_upstream_item(item, kind));
        doc.push(kind.location(i), parsed);
    }
    Some(doc)
}

/// Like [`parse_document`], for an already-parsed JSON value.
///
/// # Errors
/// [`FormatError`] when the value is not in the expected format.
pub fn parse_value(value: Value, format: DataFormat) -> Result<ParsedDocument, FormatError> {
    let shape = detect(&value);
    match (format, shape) {
        (_, Shape::Unknown) => Err(match format {
            DataFormat::Auto => FormatError::Unrecognised,
            DataFormat::Upstream => FormatError::WrongFormat {
                expected: "upstream",
                detail: "expected `data.servers`, a top-level array, or a `servers` array".into(),
            },
            DataFormat::Toolhive => FormatError::WrongFormat {
                expected: "toolhive",
                detail: "expected `servers` and/or `remote_servers` objects".into(),
            },
        }),
        (DataFormat::Upstream, Shape::Toolhive) => Err(FormatError::WrongFormat {
            expected: "upstream",
            detail: "this looks like a ToolHive native registry; set `format: toolhive`".into(),
        }),
        (DataFormat::Toolhive, Shape::Upstream(_)) => Err(FormatError::WrongFormat {
            expected: "toolhive",
            detail: "this looks like an upstream server.json document; set `format: upstream`".into(),
        }),
        (_, Shape::Toolhive) => toolhive::convert(value),
        (_, Shape::Upstream(kind)) => Ok(parse_upstream(value, kind)),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Upstream {
    RegistryFile,
    Array,
    ListResponse,
}

impl Upstream {
    /// Where the `i`th server of a document of this shape is, for skip messages.
    fn location(self, i: usize) -> String {
        match self {
            Self::Array => format!("[{i}]"),
            Self::RegistryFile => format!("data.servers[{i}]"),
            Self::ListResponse => format!("servers[{i}]"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Upstream(Upstream),
    Toolhive,
    Unknown,
}

fn detect(value: &Value) -> Shape {
    match value {
        Value::Array(_) => Shape::Upstream(Upstream::Array),
        Value::Object(obj) => {
            if obj.get("data").and_then(|d| d.get("servers")).is_some_and(Value::is_array) {
                Shape::Upstream(Upstream::RegistryFile)
            } else if obj.get("servers").is_some_and(Value::is_array) {
                Shape::Upstream(Upstream::ListResponse)
            } else if obj.get("servers").is_some_and(Value::is_object)
                || obj.get("remote_servers").is_some_and(Value::is_object)
            {
                Shape::Toolhive
            } else {
                Shape::Unknown
            }
        }
        _ => Shape::Unknown,
    }
}

fn take_array(obj: &mut Map<String, Value>, key: &str) -> Vec<Value> {
    match obj.remove(key) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    }
}

fn parse_upstream(value: Value, kind: Upstream) -> ParsedDocument {
    let items = match (kind, value) {
        (Upstream::Array, Value::Array(items)) => items,
        (Upstream::RegistryFile, Value::Object(mut obj)) => match obj.get_mut("data").and_then(Value::as_object_mut) {
            Some(data) => take_array(data, "servers"),
            None => Vec::new(),
        },
        (_, Value::Object(mut obj)) => take_array(&mut obj, "servers"),
        _ => Vec::new(),
    };
    let mut doc = ParsedDocument::default();
    for (i, item) in items.into_iter().enumerate() {
        doc.push(kind.location(i), parse_upstream_item(item, kind));
    }
    doc
}

fn parse_upstream_item(item: Value, kind: Upstream) -> Result<ParsedServer, String> {
    if kind == Upstream::ListResponse {
        parse_list_item(item)
    } else {
        ServerJson::from_value(item)
            .map(|server| ParsedServer { server: Arc::new(server), official: None })
            .map_err(|e: ServerJsonError| e.to_string())
    }
}

fn parse_list_item(item: Value) -> Result<ParsedServer, String> {
    let Value::Object(mut obj) = item else {
        return Err("list item must be an object with `server`".into());
    };
    let server = obj.remove("server").ok_or("list item has no `server`")?;
    let server = ServerJson::from_value(server).map_err(|e| e.to_string())?;
    let official = match obj.get_mut("_meta").and_then(|m| m.as_object_mut()).and_then(|m| m.remove(OFFICIAL_META)) {
        Some(meta) => Some(parse_official(meta)?),
        None => None,
    };
    Ok(ParsedServer { server: Arc::new(server), official: official.map(Box::new) })
}

/// Reads an official `_meta` block leniently: unknown keys are ignored, `statusChangedAt` defaults
/// to `updatedAt`. `isLatest` is kept as the upstream gives it (false when absent): the source
/// recomputes the flag, and where the upstream's agrees the upstream's `updatedAt` stands.
fn parse_official(meta: Value) -> Result<OfficialMeta, String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Loose {
        status: Option<crate::entry::Status>,
        #[serde(default, with = "opt_ts")]
        status_changed_at: Option<chrono::DateTime<chrono::Utc>>,
        status_message: Option<String>,
        #[serde(with = "crate::entry::rfc3339")]
        published_at: chrono::DateTime<chrono::Utc>,
        #[serde(default, with = "opt_ts")]
        updated_at: Option<chrono::DateTime<chrono::Utc>>,
        #[serde(default)]
        is_latest: bool,
    }
    mod opt_ts {
        use serde::{Deserialize, Deserializer};
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<chrono::DateTime<chrono::Utc>>, D::Error> {
            Option::<String>::deserialize(d)?
                .map(|raw| {
                    chrono::DateTime::parse_from_rfc3339(&raw)
                        .map(|t| t.with_timezone(&chrono::Utc))
                        .map_err(serde::de::Error::custom)
                })
                .transpose()
        }
    }
    let loose: Loose = serde_json::from_value(meta).map_err(|e| format!("invalid official _meta: {e}"))?;
    let updated_at = loose.updated_at.unwrap_or(loose.published_at);
    Ok(OfficialMeta {
        status: loose.status.unwrap_or(crate::entry::Status::Active),
        status_changed_at: loose.status_changed_at.unwrap_or(updated_at),
        status_message: loose.status_message,
        published_at: loose.published_at,
        updated_at,
        is_latest: loose.is_latest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn server(name: &str, version: &str) -> Value {
        json!({"name": name, "description": "d", "version": version})
    }

    #[test]
    fn all_three_upstream_shapes_are_read() {
        let array = json!([server("a/b", "1.0.0"), server("a/c", "2")]);
        let file = json!({"$schema": "x", "version": "1.0.0", "data": {"servers": [server("a/b", "1.0.0")]}});
        let page = json!({"servers": [{"server": server("a/b", "1.0.0"), "_meta": {OFFICIAL_META: {
            "status": "deprecated", "publishedAt": "2025-01-01T00:00:00Z", "updatedAt": "2025-02-01T00:00:00Z", "isLatest": true
        }}}], "metadata": {"count": 1}});
        for format in [DataFormat::Auto, DataFormat::Upstream] {
            assert_eq!(parse_value(array.clone(), format).unwrap().servers.len(), 2);
            assert_eq!(parse_value(file.clone(), format).unwrap().servers.len(), 1);
            let doc = parse_value(page.clone(), format).unwrap();
            let meta = doc.servers[0].official.clone().unwrap();
            assert_eq!(meta.status, crate::entry::Status::Deprecated);
            assert_eq!(meta.status_changed_at, meta.updated_at);
        }
    }

    #[test]
    fn the_lazy_reader_agrees_with_the_general_one() {
        let meta = json!({"io.modelcontextprotocol.registry/official": {
            "status": "deprecated", "publishedAt": "2025-01-01T00:00:00Z", "updatedAt": "2025-02-01T00:00:00Z"}});
        let docs = [
            json!([server("io.x/a", "1.0.0"), server("io.x/b", "2"), {"name": "bad"}, 7]),
            json!({"$schema": "s", "version": "1", "data": {"servers": [server("io.x/a", "1.0.0"), {"no": "name"}]}}),
            json!({"servers": [{"server": server("io.x/a", "1.0.0"), "_meta": meta}, {"nope": 1}], "metadata": {"count": 2}}),
            json!({"data": {"servers": [server("io.x/a", "1.0.0")]}, "servers": [{"server": server("io.x/b", "1")}]}),
        ];
        for doc in docs {
            let bytes = serde_json::to_vec(&doc).unwrap();
            let lazy = parse_upstream_lazily(&bytes).expect("an upstream shape");
            let general = parse_value(doc.clone(), DataFormat::Upstream).unwrap();
            assert_eq!(lazy, general, "{doc}");
            assert_eq!(parse_document(&bytes, DataFormat::Auto).unwrap(), general, "{doc}");
        }
        // Not upstream: left to the general reader.
        for other in
            [&b"{\"servers\": {}}"[..], b"{\"x\": 1}", b"\"text\"", b"[1,", b"{\"servers\": [1], \"servers\": [2]}"]
        {
            assert!(parse_upstream_lazily(other).is_none(), "{}", String::from_utf8_lossy(other));
        }
    }

    /// Reads `bytes` through [`parse_stream`] with the given buffer size.
    fn streamed(bytes: &[u8], capacity: usize, format: DataFormat) -> Result<ParsedDocument, FormatError> {
        parse_stream(|| Ok(std::io::BufReader::with_capacity(capacity, bytes)), format)
    }

    #[test]
    fn the_stream_reader_agrees_with_the_whole_document_reader() {
        let a = serde_json::to_string(&server("io.x/a", "1.0.0")).unwrap();
        let tricky = r#"{"name": "io.x/t", "description": "brackets ] } [ { and \"quotes\" \\", "version": "1"}"#;
        let meta = r#"{"io.modelcontextprotocol.registry/official": {"status": "deprecated", "publishedAt": "2025-01-01T00:00:00Z"}}"#;
        let docs: Vec<String> = vec![
            format!("[{a}, {tricky}, {{\"name\": \"bad\"}}, 7, null, \"x\"]"),
            format!(" \n[ {a} ,\t{tricky} ] \r\n"),
            "[]".into(),
            format!(
                r#"{{"$schema": "s", "version": "1", "data": {{"count": 2, "servers": [{a}, {{"no": "name"}}], "x": [1, {{"y": null}}]}}}}"#
            ),
            format!(
                r#"{{"servers": [{{"server": {tricky}, "_meta": {meta}}}, {{"nope": 1}}], "metadata": {{"count": 2, "nextCursor": null}}}}"#
            ),
            format!(r#"{{"data": {{"servers": [{a}]}}, "servers": [{{"server": {tricky}}}]}}"#),
            format!(r#"{{"servers": [{{"server": {tricky}}}], "data": {{"servers": [{a}]}}}}"#),
            format!(r#"{{"data": null, "servers": [{{"server": {a}}}], "n": -1.5e3, "t": true}}"#),
            format!(r#"{{"data": {{"servers": {{}}}}, "servers": [{{"server": {a}}}]}}"#),
            format!(r#"{{"d\u0061ta": {{"servers": [{a}]}}}}"#),
            // Not upstream, or not valid: the whole-document reader decides.
            r#"{"servers": {"fetch": {"description": "d", "image": "x"}}}"#.into(),
            r#"{"remote_servers": {}}"#.into(),
            r#"{"x": 1}"#.into(),
            "{}".into(),
            format!(r#"{{"data": 5, "servers": [{{"server": {a}}}]}}"#),
            format!(r#"{{"servers": [{{"server": {a}}}], "servers": []}}"#),
            format!(r#"{{"data": {{"servers": [], "servers": [{a}]}}}}"#),
            format!("[{a},]"),
            format!("[{a}"),
            format!("[{a}] x"),
            format!("[{a}, tru]"),
            format!(r#"{{"servers": [{{"server": {a}}}], "x": [1,]}}"#),
            format!(r#"{{"servers": [{{"server": {a}}}], "data": nul}}"#),
            "[\u{c}]".into(),
            "\"text\"".into(),
            "  \n".into(),
            String::new(),
        ];
        for doc in &docs {
            let whole = parse_document(doc.as_bytes(), DataFormat::Auto);
            for capacity in [1, 7, 64 * 1024] {
                for format in [DataFormat::Auto, DataFormat::Upstream, DataFormat::Toolhive] {
                    assert_eq!(
                        streamed(doc.as_bytes(), capacity, format),
                        parse_document(doc.as_bytes(), format),
                        "{doc} (buffer {capacity}, {format:?})"
                    );
                }
            }
            // The upstream shapes are read by the stream reader itself, not the fallback.
            let lazy = parse_upstream_lazily(doc.as_bytes());
            let stream = parse_upstream_stream(std::io::BufReader::with_capacity(3, doc.as_bytes())).unwrap();
            assert_eq!(stream, lazy, "{doc}");
            if let Some(lazy) = lazy {
                assert_eq!(Ok(lazy), whole, "{doc}");
            }
        }
    }

    #[test]
    fn a_stream_that_fails_is_a_read_error() {
        struct Failing;
        impl std::io::Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk on fire"))
            }
        }
        let failing = || -> std::io::Result<std::io::BufReader<std::io::Chain<&[u8], Failing>>> {
            Ok(std::io::BufReader::with_capacity(4, std::io::Read::chain(&b"[{\"name\": \"io.x/a\""[..], Failing)))
        };
        assert_eq!(parse_stream(failing, DataFormat::Auto), Err(FormatError::Read("disk on fire".into())));
    }

    #[test]
    fn invalid_items_are_skipped_with_their_location() {
        let doc = parse_value(json!([server("a/b", "1"), server("bad", "1"), {"x": 1}]), DataFormat::Auto).unwrap();
        assert_eq!(doc.servers.len(), 1);
        assert_eq!(doc.skipped.len(), 2);
        assert_eq!(doc.skipped[0].location, "[1]");
        assert!(doc.skipped_summary().unwrap().starts_with("2 item(s) skipped; first: [1]: invalid `name`"));
    }

    #[test]
    fn unreadable_documents_are_errors() {
        assert_eq!(parse_document(b"  \n", DataFormat::Auto), Err(FormatError::Empty));
        assert!(matches!(parse_document(b"{not json", DataFormat::Auto), Err(FormatError::Json(_))));
        assert_eq!(parse_document(b"{\"foo\": 1}", DataFormat::Auto), Err(FormatError::Unrecognised));
        assert_eq!(parse_document(b"42", DataFormat::Auto), Err(FormatError::Unrecognised));
        let native = br#"{"servers": {"fetch": {"description": "d", "image": "x"}}}"#;
        assert!(matches!(parse_document(native, DataFormat::Upstream), Err(FormatError::WrongFormat { .. })));
        assert!(matches!(parse_document(b"[]", DataFormat::Toolhive), Err(FormatError::WrongFormat { .. })));
    }
}
