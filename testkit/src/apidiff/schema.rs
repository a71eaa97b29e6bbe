//! Comparing two schemas in one direction: what a client sends ([`Direction::Request`]) may
//! widen, what it reads ([`Direction::Response`]) may narrow.
//!
//! Each schema is resolved first (`$ref` chains followed, `allOf` members merged) into a [`Node`]
//! with an address: the `$ref` it came from, or its place below one (`…/properties/name`). The
//! pairs of addresses being compared form a stack; a pair met again below itself is a cycle
//! (`children: [$ref: Self]`) and is not descended into a second time.

use serde_json::{Map, Value};

use super::Finding;

/// Which side of the wire a schema describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Direction {
    /// Parameters and request bodies: narrowing breaks clients.
    Request,
    /// Response bodies and headers: widening breaks clients.
    Response,
}

/// The two documents whose `$ref`s the schemas are resolved in.
#[derive(Debug, Clone, Copy)]
pub(super) struct Schemas<'a> {
    pub(super) old: &'a Value,
    pub(super) new: &'a Value,
}

impl<'a> Schemas<'a> {
    pub(super) fn new(old: &'a Value, new: &'a Value) -> Self {
        Self { old, new }
    }

    /// The findings between two schemas at `location` (`GET /x: response 200`).
    pub(super) fn compare(&self, old: &Value, new: &Value, direction: Direction, location: &str) -> Vec<Finding> {
        let mut compare = Compare { docs: *self, direction, location, stack: Vec::new(), out: Vec::new() };
        compare.schema((old, "@old".to_owned()), (new, "@new".to_owned()), "");
        compare.out
    }
}

/// A schema with its `$ref`s followed and its `allOf` merged.
struct Node {
    schema: Map<String, Value>,
    addr: String,
    /// A `$ref` that points nowhere.
    unresolved: Option<String>,
}

fn resolve(doc: &Value, schema: &Value, addr: String) -> Node {
    resolve_in(doc, schema, addr, &mut Vec::new())
}

/// `seen`: the `$ref`s followed on the way here, so that `A: {allOf: [$ref: A]}` stops.
fn resolve_in<'d>(doc: &'d Value, mut schema: &'d Value, mut addr: String, seen: &mut Vec<String>) -> Node {
    let depth = seen.len();
    while let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        if seen.iter().any(|r| r == reference) {
            seen.truncate(depth);
            return Node { schema: Map::new(), addr: reference.to_owned(), unresolved: None };
        }
        seen.push(reference.to_owned());
        let Some(target) = reference.strip_prefix('#').and_then(|pointer| doc.pointer(pointer)) else {
            seen.truncate(depth);
            return Node { schema: Map::new(), addr, unresolved: Some(reference.to_owned()) };
        };
        (schema, addr) = (target, reference.to_owned());
    }
    let mut merged = schema.as_object().cloned().unwrap_or_default();
    let mut unresolved = None;
    if let Some(Value::Array(parts)) = merged.remove("allOf") {
        for (i, part) in parts.iter().enumerate() {
            let part = resolve_in(doc, part, format!("{addr}/allOf/{i}"), seen);
            unresolved = unresolved.or(part.unresolved);
            merge(&mut merged, part.schema);
        }
    }
    seen.truncate(depth);
    Node { schema: merged, addr, unresolved }
}

/// `allOf`: properties and required names are united; any other keyword is kept from the first
/// schema that has it.
fn merge(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (key, value) in from {
        match (key.as_str(), into.get_mut(&key), value) {
            ("properties", Some(Value::Object(mine)), Value::Object(theirs)) => {
                for (name, schema) in theirs {
                    mine.entry(name).or_insert(schema);
                }
            }
            ("required", Some(Value::Array(mine)), Value::Array(theirs)) => {
                for name in theirs {
                    if !mine.contains(&name) {
                        mine.push(name);
                    }
                }
            }
            (_, Some(_), _) => {}
            (_, None, value) => {
                into.insert(key, value);
            }
        }
    }
}

/// Stands for a schema that is absent: anything goes.
const ANY: &Value = &Value::Null;

struct Compare<'a> {
    docs: Schemas<'a>,
    direction: Direction,
    location: &'a str,
    stack: Vec<(String, String)>,
    out: Vec<Finding>,
}

impl Compare<'_> {
    fn push(&mut self, breaking: bool, message: String) {
        self.out.push(Finding { location: self.location.to_owned(), message, breaking });
    }

    fn schema(&mut self, (old, old_addr): (&Value, String), (new, new_addr): (&Value, String), path: &str) {
        let old = resolve(self.docs.old, old, old_addr);
        let new = resolve(self.docs.new, new, new_addr);
        if let Some(reference) = &new.unresolved {
            self.push(true, at(path, &format!("$ref {reference} does not resolve")));
        }
        let key = (old.addr.clone(), new.addr.clone());
        if self.stack.contains(&key) {
            return;
        }
        self.stack.push(key);
        self.kind(&old.schema, &new.schema, path);
        self.enumeration(&old.schema, &new.schema, path);
        if self.direction == Direction::Request {
            self.bounds(&old.schema, &new.schema, path);
        }
        self.object(&old, &new, path);
        let (old_items, new_items) = (old.schema.get("items"), new.schema.get("items"));
        self.sub(
            (old_items, format!("{}/items", old.addr)),
            (new_items, format!("{}/items", new.addr)),
            &format!("{path}[]"),
        );
        self.variants(&old, &new, path);
        self.stack.pop();
    }

    /// A sub-schema present on one side only is compared with "anything" when that narrows a
    /// request or widens a response; otherwise it cannot break a client.
    fn sub(
        &mut self,
        (old, old_addr): (Option<&Value>, String),
        (new, new_addr): (Option<&Value>, String),
        path: &str,
    ) {
        let pair = match (old, new, self.direction) {
            (Some(old), Some(new), _) => (old, new),
            (None, Some(new), Direction::Request) => (ANY, new),
            (Some(old), None, Direction::Response) => (old, ANY),
            _ => return,
        };
        self.schema((pair.0, old_addr), (pair.1, new_addr), path);
    }

    /// `type`, `format`, `nullable`.
    fn kind(&mut self, old: &Map<String, Value>, new: &Map<String, Value>, path: &str) {
        let request = self.direction == Direction::Request;
        match (text(old, "type"), text(new, "type")) {
            (Some(a), Some(b)) if a != b => {
                // An integer is a number: integer → number widens, number → integer narrows.
                let breaking =
                    if request { !(a == "integer" && b == "number") } else { !(a == "number" && b == "integer") };
                self.push(breaking, at(path, &format!("type changed from {a} to {b}")));
            }
            (None, Some(b)) if request => self.push(true, at(path, &format!("type restricted to {b}"))),
            (Some(a), None) if !request => self.push(true, at(path, &format!("type {a} no longer declared"))),
            _ => {}
        }
        match (text(old, "format"), text(new, "format")) {
            (Some(a), Some(b)) if a != b => self.push(true, at(path, &format!("format changed from {a} to {b}"))),
            (None, Some(b)) if request => self.push(true, at(path, &format!("format {b} added"))),
            (Some(a), None) if !request => self.push(true, at(path, &format!("format {a} removed"))),
            _ => {}
        }
        let (old_null, new_null) = (flag(old, "nullable"), flag(new, "nullable"));
        if request && old_null && !new_null {
            self.push(true, at(path, "no longer nullable"));
        } else if !request && new_null && !old_null {
            self.push(true, at(path, "became nullable"));
        }
    }

    fn enumeration(&mut self, old: &Map<String, Value>, new: &Map<String, Value>, path: &str) {
        let (old_values, new_values) =
            (old.get("enum").and_then(Value::as_array), new.get("enum").and_then(Value::as_array));
        match (old_values, new_values, self.direction) {
            (Some(old_values), Some(new_values), Direction::Request) => {
                for value in old_values.iter().filter(|v| !new_values.contains(v)) {
                    self.push(true, at(path, &format!("enum value {value} removed")));
                }
            }
            (Some(old_values), Some(new_values), Direction::Response) => {
                for value in new_values.iter().filter(|v| !old_values.contains(v)) {
                    self.push(true, at(path, &format!("enum value {value} added")));
                }
            }
            (None, Some(new_values), Direction::Request) => {
                self.push(true, at(path, &format!("restricted to enum {}", Value::Array(new_values.clone()))));
            }
            (Some(_), None, Direction::Response) => self.push(true, at(path, "enum no longer declared")),
            _ => {}
        }
    }

    /// Limits on what a client sends: a lower maximum, a higher minimum, a new pattern.
    fn bounds(&mut self, old: &Map<String, Value>, new: &Map<String, Value>, path: &str) {
        let limits = [("maxLength", true), ("maximum", true), ("maxItems", true), ("maxProperties", true)]
            .into_iter()
            .chain([("minLength", false), ("minimum", false), ("minItems", false), ("minProperties", false)]);
        for (key, upper) in limits {
            match (number(old, key), number(new, key)) {
                (Some((a, shown_a)), Some((b, shown_b))) if (upper && b < a) || (!upper && b > a) => {
                    let verb = if upper { "lowered" } else { "raised" };
                    self.push(true, at(path, &format!("{key} {verb} from {shown_a} to {shown_b}")));
                }
                (None, Some((_, shown))) => self.push(true, at(path, &format!("{key} {shown} added"))),
                _ => {}
            }
        }
        for key in ["exclusiveMaximum", "exclusiveMinimum", "uniqueItems"] {
            if flag(new, key) && !flag(old, key) {
                self.push(true, at(path, &format!("{key} set")));
            }
        }
        match (text(old, "pattern"), text(new, "pattern")) {
            (old_pattern, Some(pattern)) if old_pattern != Some(pattern) => {
                self.push(true, at(path, &format!("pattern changed to {pattern}")));
            }
            _ => {}
        }
    }

    fn object(&mut self, old: &Node, new: &Node, path: &str) {
        let empty = Map::new();
        let old_props = old.schema.get("properties").and_then(Value::as_object).unwrap_or(&empty);
        let new_props = new.schema.get("properties").and_then(Value::as_object).unwrap_or(&empty);
        let (old_required, new_required) = (names(&old.schema, "required"), names(&new.schema, "required"));
        let closed = |node: &Node| node.schema.get("additionalProperties") == Some(&Value::Bool(false));
        let request = self.direction == Direction::Request;
        for (name, old_prop) in old_props {
            let child = join(path, name);
            let Some(new_prop) = new_props.get(name) else {
                match (request, closed(new)) {
                    (false, _) => self.push(true, format!("property {child} removed")),
                    (true, true) => {
                        self.push(true, format!("property {child} removed (additionalProperties is false)"));
                    }
                    (true, false) => self.push(false, format!("property {child} removed")),
                }
                continue;
            };
            let old_addr = format!("{}/properties/{}", old.addr, escape(name));
            let new_addr = format!("{}/properties/{}", new.addr, escape(name));
            self.schema((old_prop, old_addr), (new_prop, new_addr), &child);
        }
        if request {
            for name in new_required.iter().filter(|name| !old_required.contains(name)) {
                let what = if old_props.contains_key(*name) { "became required" } else { "added, required" };
                self.push(true, format!("property {} {what}", join(path, name)));
            }
        } else {
            let dropped =
                old_required.iter().filter(|name| !new_required.contains(name) && new_props.contains_key(**name));
            for name in dropped {
                self.push(true, format!("property {} no longer required", join(path, name)));
            }
        }
        for name in new_props.keys().filter(|name| !old_props.contains_key(*name)) {
            if !(request && new_required.contains(&name.as_str())) {
                self.push(false, format!("property {} added", join(path, name)));
            }
        }
        if request && closed(new) && !closed(old) {
            self.push(true, at(path, "additionalProperties closed"));
        }
        // `true` is open (anything), `false` closed (reported above): no schema to compare.
        let (old_extra, new_extra) = (extra(old), extra(new));
        let addrs = (format!("{}/additionalProperties", old.addr), format!("{}/additionalProperties", new.addr));
        self.sub((old_extra, addrs.0), (new_extra, addrs.1), &join(path, "*"));
    }

    /// `oneOf` / `anyOf`, paired by position.
    fn variants(&mut self, old: &Node, new: &Node, path: &str) {
        for key in ["oneOf", "anyOf"] {
            let list = |node: &Node| node.schema.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
            let (old_list, new_list) = (list(old), list(new));
            for i in 0..old_list.len().max(new_list.len()) {
                match (old_list.get(i), new_list.get(i)) {
                    (Some(a), Some(b)) => {
                        let addrs = (format!("{}/{key}/{i}", old.addr), format!("{}/{key}/{i}", new.addr));
                        self.schema((a, addrs.0), (b, addrs.1), path);
                    }
                    (Some(_), None) => {
                        let breaking = self.direction == Direction::Request;
                        self.push(breaking, at(path, &format!("{key} variant {i} removed")));
                    }
                    (None, Some(_)) => {
                        let breaking = self.direction == Direction::Response || old_list.is_empty();
                        self.push(breaking, at(path, &format!("{key} variant {i} added")));
                    }
                    (None, None) => {}
                }
            }
        }
    }
}

/// The schema of `additionalProperties`: `true` and `false` carry none.
fn extra(node: &Node) -> Option<&Value> {
    node.schema.get("additionalProperties").filter(|v| v.is_object())
}

fn text<'m>(schema: &'m Map<String, Value>, key: &str) -> Option<&'m str> {
    schema.get(key).and_then(Value::as_str)
}

fn flag(schema: &Map<String, Value>, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// A numeric keyword and how the document wrote it.
fn number(schema: &Map<String, Value>, key: &str) -> Option<(f64, String)> {
    let value = schema.get(key)?;
    Some((value.as_f64()?, value.to_string()))
}

fn names<'m>(schema: &'m Map<String, Value>, key: &str) -> Vec<&'m str> {
    schema
        .get(key)
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// `servers[].server` + `name`.
fn join(path: &str, name: &str) -> String {
    if path.is_empty() { name.to_owned() } else { format!("{path}.{name}") }
}

/// A message about the schema at `path` (nothing in front for the root).
fn at(path: &str, message: &str) -> String {
    if path.is_empty() { message.to_owned() } else { format!("{path}: {message}") }
}

/// A JSON pointer segment.
fn escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}
