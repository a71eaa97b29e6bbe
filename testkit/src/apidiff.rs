//! Breaking changes between two OpenAPI 3.0 documents, for the CI check that the committed
//! `docs/openapi.yaml` does not break clients (`scripts/api-compat`, through the `openapi-diff`
//! binary of this crate).
//!
//! [`diff`] walks the operations of both documents (paths × methods), their parameters, request
//! bodies and responses, and compares schemas with `$ref`s resolved (any local `#/…` pointer,
//! `#/components/schemas` in practice) and `allOf` merged; a schema that refers back to itself is
//! compared once per pair of places. Each [`Finding`] names where it is and whether it breaks a
//! client:
//!
//! - **what a client sends** (parameters, request bodies) may widen, not narrow: a removed
//!   parameter, a new required parameter or property, a changed type or format, a removed enum
//!   value, a lowered maximum or raised minimum, `additionalProperties` closed are breaking;
//! - **what a client reads** (responses) may narrow, not widen: a removed property, a property
//!   no longer required, a changed type or format, an enum value *added* (generated clients
//!   reject unknown variants), a removed 2xx response or content type are breaking;
//! - additions (operations, optional parameters and properties, response properties, response
//!   codes) are reported as compatible; descriptions and examples are ignored.
//!
//! `oneOf`/`anyOf` variants are paired by position. Adding a rule: a check in [`schema`] (for a
//! schema keyword) or here (for an operation-level one), and a case in
//! `integration-tests/tests/it/api_compat.rs`.

mod schema;

use std::fmt;

use serde_json::{Map, Value};

use schema::{Direction, Schemas};

/// One difference between the old and the new document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Where: `GET /v0.1/servers: response 200`, `GET /v0.1/servers: parameter limit (query)`.
    pub location: String,
    /// What: `property servers[].server.name removed`.
    pub message: String,
    /// Whether a client written against the old document can fail against the new one.
    pub breaking: bool,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Parses an OpenAPI document written in YAML (or JSON). Mapping keys that YAML reads as numbers
/// or booleans (an unquoted `200:` response code) become strings.
pub fn parse_document(text: &str) -> Result<Value, serde_norway::Error> {
    serde_norway::from_str::<serde_norway::Value>(text).map(to_json)
}

/// Every difference between `old` and `new` that this checker knows, breaking or not, in
/// document order of `old` (then what `new` adds).
pub fn diff(old: &Value, new: &Value) -> Vec<Finding> {
    let mut walk = Walk { schemas: Schemas::new(old, new), out: Vec::new() };
    let empty = Map::new();
    let old_paths = old.get("paths").and_then(Value::as_object).unwrap_or(&empty);
    let new_paths = new.get("paths").and_then(Value::as_object).unwrap_or(&empty);
    for (path, old_item) in old_paths {
        for method in METHODS {
            let Some(old_op) = old_item.get(method) else { continue };
            let location = format!("{} {path}", method.to_uppercase());
            match new_paths.get(path) {
                None => walk.push(true, location, "operation removed (path removed)".into()),
                Some(new_item) => match new_item.get(method) {
                    Some(new_op) => walk.operation(&location, (old_item, old_op), (new_item, new_op)),
                    None => walk.push(true, location, "operation removed".into()),
                },
            }
        }
    }
    for (path, new_item) in new_paths {
        let old_item = old_paths.get(path);
        for method in METHODS {
            if new_item.get(method).is_some() && old_item.and_then(|item| item.get(method)).is_none() {
                walk.push(false, format!("{} {path}", method.to_uppercase()), "operation added".into());
            }
        }
    }
    walk.out
}

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

struct Walk<'a> {
    schemas: Schemas<'a>,
    out: Vec<Finding>,
}

impl Walk<'_> {
    fn push(&mut self, breaking: bool, location: String, message: String) {
        self.out.push(Finding { location, message, breaking });
    }

    fn operation(
        &mut self,
        location: &str,
        (old_item, old_op): (&Value, &Value),
        (new_item, new_op): (&Value, &Value),
    ) {
        let (old_id, new_id) = (old_op.get("operationId"), new_op.get("operationId"));
        if old_id.is_some() && old_id != new_id {
            let shown = |id: Option<&Value>| id.map_or_else(|| "none".to_owned(), ToString::to_string);
            let message = format!("operationId changed from {} to {}", shown(old_id), shown(new_id));
            self.push(true, location.to_owned(), message);
        }
        let (old_security, new_security) = (self.security(old_op, true), self.security(new_op, false));
        if old_security.is_empty() && !new_security.is_empty() {
            self.push(true, location.to_owned(), format!("now requires authentication ({})", new_security.join(", ")));
        }
        self.parameters(location, (old_item, old_op), (new_item, new_op));
        self.request_body(location, old_op.get("requestBody"), new_op.get("requestBody"));
        self.responses(location, old_op, new_op);
    }

    /// The names of the security schemes an operation requires (its own, else the document's);
    /// empty when it can be called without credentials.
    fn security(&self, op: &Value, old: bool) -> Vec<String> {
        let doc = if old { self.schemas.old } else { self.schemas.new };
        let requirements = op.get("security").or_else(|| doc.get("security")).and_then(Value::as_array);
        let requirements = requirements.map(Vec::as_slice).unwrap_or_default();
        // `{}` among the alternatives makes authentication optional.
        if requirements.iter().any(|r| r.as_object().is_some_and(Map::is_empty)) {
            return Vec::new();
        }
        requirements.iter().filter_map(Value::as_object).flat_map(|r| r.keys().cloned()).collect()
    }

    fn parameters(&mut self, location: &str, old: (&Value, &Value), new: (&Value, &Value)) {
        let old_params = parameters(self.schemas.old, old);
        let new_params = parameters(self.schemas.new, new);
        for ((name, place), old_param) in &old_params {
            let here = format!("{location}: parameter {name} ({place})");
            let Some((_, new_param)) = new_params.iter().find(|(key, _)| key == &(name.clone(), place.clone())) else {
                self.push(true, here, "removed".into());
                continue;
            };
            let (old_required, new_required) = (required(old_param), required(new_param));
            if new_required && !old_required {
                self.push(true, here.clone(), "became required".into());
            }
            if serialization(old_param, place) != serialization(new_param, place) {
                self.push(true, here.clone(), "serialization (style/explode) changed".into());
            }
            if let (Some(old_schema), Some(new_schema)) = (old_param.get("schema"), new_param.get("schema")) {
                self.out.extend(self.schemas.compare(old_schema, new_schema, Direction::Request, &here));
            }
        }
        for ((name, place), new_param) in &new_params {
            if !old_params.iter().any(|(key, _)| key == &(name.clone(), place.clone())) {
                let here = format!("{location}: parameter {name} ({place})");
                if required(new_param) {
                    self.push(true, here, "new required parameter".into());
                } else {
                    self.push(false, here, "new optional parameter".into());
                }
            }
        }
    }

    fn request_body(&mut self, location: &str, old: Option<&Value>, new: Option<&Value>) {
        let here = format!("{location}: request body");
        let old = old.map(|body| deref(self.schemas.old, body));
        let new = new.map(|body| deref(self.schemas.new, body));
        match (old, new) {
            (None, None) => {}
            (Some(_), None) => self.push(true, here, "removed".into()),
            (None, Some(new)) if required(new) => self.push(true, here, "added, required".into()),
            (None, Some(_)) => self.push(false, here, "added, optional".into()),
            (Some(old), Some(new)) => {
                if required(new) && !required(old) {
                    self.push(true, here.clone(), "became required".into());
                }
                self.contents(&here, old, new, Direction::Request, true);
            }
        }
    }

    fn responses(&mut self, location: &str, old_op: &Value, new_op: &Value) {
        let empty = Map::new();
        let old_responses = old_op.get("responses").and_then(Value::as_object).unwrap_or(&empty);
        let new_responses = new_op.get("responses").and_then(Value::as_object).unwrap_or(&empty);
        for (code, old_response) in old_responses {
            let here = format!("{location}: response {code}");
            let success = code.starts_with('2');
            let Some(new_response) = new_responses.get(code) else {
                self.push(success, here, "removed".into());
                continue;
            };
            let old_response = deref(self.schemas.old, old_response);
            let new_response = deref(self.schemas.new, new_response);
            self.contents(&here, old_response, new_response, Direction::Response, success);
            self.headers(&here, old_response, new_response, success);
        }
        for code in new_responses.keys().filter(|code| !old_responses.contains_key(*code)) {
            self.push(false, format!("{location}: response {code}"), "added".into());
        }
    }

    /// The media types of a request body or a response: one removed is breaking when
    /// `removal_breaks` (a request, a 2xx response); the schemas of the ones kept are compared.
    fn contents(&mut self, here: &str, old: &Value, new: &Value, direction: Direction, removal_breaks: bool) {
        let empty = Map::new();
        let old_content = old.get("content").and_then(Value::as_object).unwrap_or(&empty);
        let new_content = new.get("content").and_then(Value::as_object).unwrap_or(&empty);
        let several = old_content.len().max(new_content.len()) > 1;
        for (media, old_media) in old_content {
            let Some(new_media) = new_content.get(media) else {
                self.push(removal_breaks, here.to_owned(), format!("content type {media} removed"));
                continue;
            };
            let place = if several { format!("{here} ({media})") } else { here.to_owned() };
            let schemas = (old_media.get("schema"), new_media.get("schema"));
            if let (Some(old_schema), Some(new_schema)) = schemas {
                self.out.extend(self.schemas.compare(old_schema, new_schema, direction, &place));
            }
        }
        for media in new_content.keys().filter(|media| !old_content.contains_key(*media)) {
            self.push(false, here.to_owned(), format!("content type {media} added"));
        }
    }

    fn headers(&mut self, here: &str, old: &Value, new: &Value, success: bool) {
        let empty = Map::new();
        let old_headers = old.get("headers").and_then(Value::as_object).unwrap_or(&empty);
        let new_headers = new.get("headers").and_then(Value::as_object).unwrap_or(&empty);
        for (name, old_header) in old_headers {
            let place = format!("{here}: header {name}");
            let Some(new_header) = new_headers.get(name) else {
                self.push(success, place, "removed".into());
                continue;
            };
            let old_header = deref(self.schemas.old, old_header);
            let new_header = deref(self.schemas.new, new_header);
            if let (Some(old_schema), Some(new_schema)) = (old_header.get("schema"), new_header.get("schema")) {
                self.out.extend(self.schemas.compare(old_schema, new_schema, Direction::Response, &place));
            }
        }
    }
}

/// The parameters of an operation, keyed by (name, in): the path item's, overridden by the
/// operation's own.
fn parameters<'a>(doc: &'a Value, (item, op): (&'a Value, &'a Value)) -> Vec<((String, String), &'a Value)> {
    let mut all: Vec<((String, String), &Value)> = Vec::new();
    let lists = [item.get("parameters"), op.get("parameters")];
    for param in lists.into_iter().flatten().filter_map(Value::as_array).flatten() {
        let param = deref(doc, param);
        let field = |key: &str| param.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
        let key = (field("name"), field("in"));
        all.retain(|(existing, _)| existing != &key);
        all.push((key, param));
    }
    all
}

fn required(value: &Value) -> bool {
    value.get("required").and_then(Value::as_bool).unwrap_or(false)
}

/// A parameter's (style, explode), with the defaults of its location.
fn serialization(param: &Value, place: &str) -> (String, bool) {
    let default_style = if matches!(place, "query" | "cookie") { "form" } else { "simple" };
    let style = param.get("style").and_then(Value::as_str).unwrap_or(default_style).to_owned();
    let explode = param.get("explode").and_then(Value::as_bool).unwrap_or(style == "form");
    (style, explode)
}

/// Follows a chain of local `$ref`s (a parameter, a request body, a response, a header); stops at
/// a `$ref` that does not resolve or that loops.
fn deref<'a>(doc: &'a Value, mut value: &'a Value) -> &'a Value {
    for _ in 0..32 {
        let target = value.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix('#'));
        match target.and_then(|pointer| doc.pointer(pointer)) {
            Some(target) => value = target,
            None => break,
        }
    }
    value
}

fn to_json(value: serde_norway::Value) -> Value {
    use serde_norway::Value as Yaml;
    match value {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64().and_then(serde_json::Number::from_f64).map_or(Value::Null, Value::Number)
            }
        }
        Yaml::String(s) => Value::String(s),
        Yaml::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Yaml::Mapping(map) => Value::Object(map.into_iter().map(|(k, v)| (key_string(k), to_json(v))).collect()),
        Yaml::Tagged(tagged) => to_json(tagged.value),
    }
}

fn key_string(key: serde_norway::Value) -> String {
    match to_json(key) {
        Value::String(s) => s,
        other => other.to_string(),
    }
}
