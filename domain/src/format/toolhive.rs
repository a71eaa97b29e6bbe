//! `ToolHive` native registry format → server.json.
//!
//! A native document holds two maps, `servers` (container servers) and `remote_servers`; every
//! entry becomes one server.json document, following `ToolHive`'s own converter:
//!
//! - `name`: the entry's `name`, else its map key; without a `/` it gets the `io.github.stacklok/`
//!   prefix, with one it is kept as is.
//! - `title`: the entry's `title`, else its map key (`ToolHive` used the short name as the title).
//! - `description` is copied, `version` is always `1.0.0` (the native format has none), and
//!   `repository_url` becomes `repository{url, source: "github"}`.
//! - A container server becomes one OCI package: `identifier` is the `image`, the transport type
//!   is `transport` (default `stdio`), and `sse`/`streamable-http` also get
//!   `url: http://localhost[:<target_port>]`. `env_vars` become `environmentVariables`.
//! - A remote server becomes one remote `{type: <transport>, url, headers}`.
//! - Every `ToolHive`-specific field goes to
//!   `_meta[PUBLISHER_PROVIDED]["io.github.stacklok"][<image or remote url>]`, keys sorted (as Go
//!   writes a map). Empty values (`null`, `""`, `[]`, `{}`, `0`) are left out, `status` defaults
//!   to `active`, and the keys of `metadata` are sorted too.
//!
//! The output matches `ToolHive`'s reference conversion (`tests/data/upstream-registry.json`)
//! exactly, key order included.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::{FormatError, ParsedDocument, ParsedServer, Skipped};
use crate::server_json::{PUBLISHER_PROVIDED, ServerJson};

/// `$schema` of every converted document.
const SCHEMA_URL: &str = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json";
/// `ToolHive`'s publisher namespace: name prefix and extension key.
const NAMESPACE: &str = "io.github.stacklok";
/// The native format has no versions; `ToolHive` publishes every entry as this one.
const VERSION: &str = "1.0.0";
/// `status` in the extension block when the entry has none.
const DEFAULT_STATUS: &str = "active";

/// Native fields of a container server kept in the extension block, in output (sorted) order.
const CONTAINER_EXTENSIONS: &[&str] = &[
    "args",
    "custom_metadata",
    "docker_tags",
    "metadata",
    "overview",
    "permissions",
    "provenance",
    "proxy_port",
    "status",
    "tags",
    "tier",
    "tool_definitions",
    "tools",
];

/// Native fields of a remote server kept in the extension block, in output (sorted) order.
const REMOTE_EXTENSIONS: &[&str] = &[
    "custom_metadata",
    "env_vars",
    "metadata",
    "oauth_config",
    "overview",
    "status",
    "tags",
    "tier",
    "tool_definitions",
    "tools",
];

/// The two kinds of native entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Container,
    Remote,
}

impl Kind {
    /// The top-level map holding entries of this kind.
    fn section(self) -> &'static str {
        match self {
            Self::Container => "servers",
            Self::Remote => "remote_servers",
        }
    }

    fn extension_fields(self) -> &'static [&'static str] {
        match self {
            Self::Container => CONTAINER_EXTENSIONS,
            Self::Remote => REMOTE_EXTENSIONS,
        }
    }
}

/// Converts a `ToolHive` native registry document to server.json documents.
///
/// Container servers come first, in map order, then remote servers. An entry that cannot be
/// converted or is not valid server.json is listed in [`ParsedDocument::skipped`] as
/// `servers.<key>` / `remote_servers.<key>`; it never fails the whole document.
///
/// # Errors
/// [`FormatError::WrongFormat`] when the document is not a native registry.
pub fn convert(value: Value) -> Result<ParsedDocument, FormatError> {
    let Value::Object(mut root) = value else {
        return Err(wrong_format("expected a JSON object"));
    };
    let containers = root.remove(Kind::Container.section());
    let remotes = root.remove(Kind::Remote.section());
    if !containers.as_ref().is_some_and(Value::is_object) && !remotes.as_ref().is_some_and(Value::is_object) {
        return Err(wrong_format("expected `servers` and/or `remote_servers` objects"));
    }
    let mut doc = ParsedDocument::default();
    convert_section(&mut doc, Kind::Container, containers);
    convert_section(&mut doc, Kind::Remote, remotes);
    Ok(doc)
}

fn wrong_format(detail: &str) -> FormatError {
    FormatError::WrongFormat { expected: "toolhive", detail: detail.to_owned() }
}

fn convert_section(doc: &mut ParsedDocument, kind: Kind, section: Option<Value>) {
    let section_name = kind.section();
    match section {
        None | Some(Value::Null) => {}
        Some(Value::Object(entries)) => {
            for (key, entry) in entries {
                let location = format!("{section_name}.{key}");
                doc.push(location, convert_entry(kind, &key, entry));
            }
        }
        Some(_) => doc.skipped.push(Skipped {
            location: section_name.to_owned(),
            reason: format!("`{section_name}` must be an object of servers by name"),
        }),
    }
}

fn convert_entry(kind: Kind, key: &str, entry: Value) -> Result<ParsedServer, String> {
    let Value::Object(entry) = entry else {
        return Err("server entry must be a JSON object".to_owned());
    };
    let doc = match kind {
        Kind::Container => container_json(key, &entry)?,
        Kind::Remote => remote_json(key, &entry)?,
    };
    let server = ServerJson::from_value(Value::Object(doc)).map_err(|e| e.to_string())?;
    Ok(ParsedServer { server: Arc::new(server), official: None })
}

fn container_json(key: &str, entry: &Map<String, Value>) -> Result<Map<String, Value>, String> {
    let image = non_empty_str(entry, "image").ok_or("container server has no `image`")?;
    let mut doc = common_fields(key, entry);
    doc.insert("packages".to_owned(), json!([oci_package(image, entry)?]));
    doc.insert("_meta".to_owned(), meta(image, extension(Kind::Container, entry)));
    Ok(doc)
}

fn remote_json(key: &str, entry: &Map<String, Value>) -> Result<Map<String, Value>, String> {
    let url = non_empty_str(entry, "url").ok_or("remote server has no `url`")?;
    let mut doc = common_fields(key, entry);
    doc.insert("remotes".to_owned(), json!([remote(url, entry)?]));
    doc.insert("_meta".to_owned(), meta(url, extension(Kind::Remote, entry)));
    Ok(doc)
}

/// `$schema`, `name`, `description`, `title`, `repository` and `version`, in that order.
fn common_fields(key: &str, entry: &Map<String, Value>) -> Map<String, Value> {
    let mut doc = Map::new();
    doc.insert("$schema".to_owned(), json!(SCHEMA_URL));
    doc.insert("name".to_owned(), json!(server_name(key, entry)));
    if let Some(description) = entry.get("description").filter(|d| d.is_string()) {
        doc.insert("description".to_owned(), description.clone());
    }
    let title = non_empty_str(entry, "title").unwrap_or(key);
    doc.insert("title".to_owned(), json!(title));
    if let Some(url) = non_empty_str(entry, "repository_url") {
        doc.insert("repository".to_owned(), json!({"url": url, "source": "github"}));
    }
    doc.insert("version".to_owned(), json!(VERSION));
    doc
}

/// The entry's `name` (else its map key), prefixed with the `ToolHive` namespace unless it already
/// has a `/`.
fn server_name(key: &str, entry: &Map<String, Value>) -> String {
    let raw = non_empty_str(entry, "name").unwrap_or(key);
    if raw.contains('/') { raw.to_owned() } else { format!("{NAMESPACE}/{raw}") }
}

fn oci_package(image: &str, entry: &Map<String, Value>) -> Result<Value, String> {
    let mut package = Map::new();
    package.insert("registryType".to_owned(), json!("oci"));
    package.insert("identifier".to_owned(), json!(image));
    package.insert("transport".to_owned(), container_transport(entry));
    let env = key_value_inputs(entry, "env_vars")?;
    if !env.is_empty() {
        package.insert("environmentVariables".to_owned(), Value::Array(env));
    }
    Ok(Value::Object(package))
}

/// `{type}`, plus `url` on localhost (at `target_port` when set) for HTTP transports.
fn container_transport(entry: &Map<String, Value>) -> Value {
    let kind = non_empty_str(entry, "transport").unwrap_or("stdio");
    if kind != "sse" && kind != "streamable-http" {
        return json!({"type": kind});
    }
    let url = match entry.get("target_port").and_then(Value::as_u64).filter(|p| *p > 0) {
        Some(port) => format!("http://localhost:{port}"),
        None => "http://localhost".to_owned(),
    };
    json!({"type": kind, "url": url})
}

fn remote(url: &str, entry: &Map<String, Value>) -> Result<Value, String> {
    let kind = non_empty_str(entry, "transport").ok_or("remote server has no `transport`")?;
    let mut remote = Map::new();
    remote.insert("type".to_owned(), json!(kind));
    remote.insert("url".to_owned(), json!(url));
    let headers = key_value_inputs(entry, "headers")?;
    if !headers.is_empty() {
        remote.insert("headers".to_owned(), Value::Array(headers));
    }
    Ok(Value::Object(remote))
}

/// Converts a native `env_vars`/`headers` list to server.json key-value inputs.
fn key_value_inputs(entry: &Map<String, Value>, field: &str) -> Result<Vec<Value>, String> {
    match entry.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| key_value_input(item).map_err(|e| format!("`{field}[{i}]` {e}")))
            .collect(),
        Some(_) => Err(format!("`{field}` must be an array")),
    }
}

/// One input, with server.json's key order: `description`, `isRequired`, `isSecret`, `default`,
/// `choices`, `name`. Flags are written only when true, strings and lists only when non-empty.
fn key_value_input(item: &Value) -> Result<Value, String> {
    let input = item.as_object().ok_or("must be an object")?;
    let name = non_empty_str(input, "name").ok_or("has no `name`")?;
    let mut out = Map::new();
    if let Some(description) = non_empty_str(input, "description") {
        out.insert("description".to_owned(), json!(description));
    }
    for (native, official) in [("required", "isRequired"), ("secret", "isSecret")] {
        if input.get(native).and_then(Value::as_bool) == Some(true) {
            out.insert(official.to_owned(), Value::Bool(true));
        }
    }
    if let Some(default) = non_empty_str(input, "default") {
        out.insert("default".to_owned(), json!(default));
    }
    if let Some(choices) = input.get("choices").filter(|c| !is_empty(c)) {
        out.insert("choices".to_owned(), choices.clone());
    }
    out.insert("name".to_owned(), json!(name));
    Ok(Value::Object(out))
}

/// The `ToolHive`-specific fields of an entry, for the publisher-provided block.
fn extension(kind: Kind, entry: &Map<String, Value>) -> Map<String, Value> {
    let mut ext = Map::new();
    for &field in kind.extension_fields() {
        match entry.get(field).filter(|v| !is_empty(v)) {
            Some(Value::Object(metadata)) if field == "metadata" => {
                ext.insert(field.to_owned(), Value::Object(sorted(metadata)));
            }
            Some(value) => {
                ext.insert(field.to_owned(), value.clone());
            }
            None if field == "status" => {
                ext.insert(field.to_owned(), json!(DEFAULT_STATUS));
            }
            None => {}
        }
    }
    ext
}

/// `_meta` with the extension block under the `ToolHive` namespace, keyed by image or remote URL.
fn meta(key: &str, extension: Map<String, Value>) -> Value {
    let nest = |k: &str, v: Value| Value::Object(Map::from_iter([(k.to_owned(), v)]));
    nest(PUBLISHER_PROVIDED, nest(NAMESPACE, nest(key, Value::Object(extension))))
}

fn sorted(map: &Map<String, Value>) -> Map<String, Value> {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries.into_iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Values Go's converter leaves out: `null`, `""`, `[]`, `{}` and `0`.
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Bool(_) => false,
    }
}

fn non_empty_str<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    map.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests;
