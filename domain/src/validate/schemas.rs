//! The released server.json schemas, embedded, each compiled once on first use.
//!
//! They are draft-07 documents (their own `$schema` says so, and the `jsonschema` crate picks
//! the draft from it) whose `$ref`s all point inside the document, so nothing is fetched. Format
//! checks (`format: uri`) are switched on explicitly. A JSON Schema error becomes an [`Issue`]
//! at the `body.` location of the instance path, with a message written for people.

use std::collections::BTreeSet;
use std::sync::{LazyLock, OnceLock};

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::paths::{Location, LocationSegment};
use jsonschema::{ValidationError, Validator};
use serde_json::Value;

use super::{Issue, Keys, Loc};

/// Released schema ids, oldest first; `TEXTS` holds the schema of each, in the same order.
pub(super) static IDS: [&str; 6] = [
    "https://static.modelcontextprotocol.io/schemas/2025-07-09/server.schema.json",
    "https://static.modelcontextprotocol.io/schemas/2025-09-16/server.schema.json",
    "https://static.modelcontextprotocol.io/schemas/2025-09-29/server.schema.json",
    "https://static.modelcontextprotocol.io/schemas/2025-10-11/server.schema.json",
    "https://static.modelcontextprotocol.io/schemas/2025-10-17/server.schema.json",
    "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
];

pub(super) const TEXTS: [&str; IDS.len()] = [
    include_str!("../../schemas/2025-07-09.server.schema.json"),
    include_str!("../../schemas/2025-09-16.server.schema.json"),
    include_str!("../../schemas/2025-09-29.server.schema.json"),
    include_str!("../../schemas/2025-10-11.server.schema.json"),
    include_str!("../../schemas/2025-10-17.server.schema.json"),
    include_str!("../../schemas/2025-12-11.server.schema.json"),
];

/// One released schema: its id, parsed document, top-level fields and compiled validator.
#[derive(Debug)]
pub(super) struct Schema {
    pub id: &'static str,
    pub keys: Keys,
    pub fields: BTreeSet<String>,
    document: Result<Value, String>,
    validator: OnceLock<Result<Validator, String>>,
}

impl Schema {
    fn load(id: &'static str, text: &str) -> Self {
        let document = serde_json::from_str::<Value>(text).map_err(|e| e.to_string());
        let mut fields = BTreeSet::new();
        if let Ok(root) = &document {
            collect_properties(root, root, 0, &mut fields);
        }
        let keys = if fields.contains("website_url") { Keys::Snake } else { Keys::Camel };
        Self { id, keys, fields, document, validator: OnceLock::new() }
    }

    /// The compiled validator (compiled on the first call).
    pub fn validator(&self) -> Result<&Validator, &str> {
        let compiled = self.validator.get_or_init(|| {
            let document = self.document.as_ref().map_err(Clone::clone)?;
            jsonschema::options().should_validate_formats(true).build(document).map_err(|e| e.to_string())
        });
        compiled.as_ref().map_err(String::as_str)
    }

    /// The issues of `doc` against this schema.
    pub fn issues(&self, doc: &Value) -> Result<Vec<Issue>, &str> {
        let root = self.document.as_ref().map_err(String::as_str)?;
        Ok(self.validator()?.iter_errors(doc).map(|e| issue(root, &e)).collect())
    }
}

static RELEASED: LazyLock<[Schema; IDS.len()]> =
    LazyLock::new(|| std::array::from_fn(|i| Schema::load(IDS[i], TEXTS[i])));

/// The released schema with this id.
pub(super) fn find(id: &str) -> Option<&'static Schema> {
    RELEASED.iter().find(|s| s.id == id)
}

/// The newest released schema.
pub(super) fn newest() -> &'static Schema {
    &RELEASED[IDS.len() - 1]
}

/// Every top-level field of any released schema.
pub(super) fn known_fields() -> &'static BTreeSet<String> {
    static KNOWN: LazyLock<BTreeSet<String>> =
        LazyLock::new(|| RELEASED.iter().flat_map(|s| s.fields.iter().cloned()).collect());
    &KNOWN
}

/// The property names `schema` allows, through local `$ref`s, `allOf` and `anyOf`.
fn collect_properties(root: &Value, schema: &Value, depth: usize, out: &mut BTreeSet<String>) {
    if depth > 16 {
        return;
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        out.extend(props.keys().cloned());
    }
    if let Some(target) = schema.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix('#'))
        && let Some(target) = root.pointer(target)
    {
        collect_properties(root, target, depth + 1, out);
    }
    for key in ["allOf", "anyOf"] {
        for sub in schema.get(key).and_then(Value::as_array).into_iter().flatten() {
            collect_properties(root, sub, depth + 1, out);
        }
    }
}

/// The schema value at an evaluation path (`/$ref/properties/name/pattern`), through `$ref`s.
fn schema_at<'a>(root: &'a Value, path: &Location) -> Option<&'a Value> {
    let mut node = root;
    for segment in path {
        node = match segment {
            LocationSegment::Property(key) if key == "$ref" => {
                root.pointer(node.get("$ref")?.as_str()?.strip_prefix('#')?)?
            }
            LocationSegment::Property(key) => node.get(key.as_ref())?,
            LocationSegment::Index(index) => node.get(index)?,
        };
    }
    Some(node)
}

fn location(path: &Location) -> Loc {
    path.into_iter().fold(Loc::body(), |loc, segment| match segment {
        LocationSegment::Property(key) => loc.key(&key),
        LocationSegment::Index(index) => loc.index(index),
    })
}

/// `root` is the schema document, for the original text of a `pattern`.
fn issue(root: &Value, error: &ValidationError<'_>) -> Issue {
    let at = location(&error.instance_path);
    match &error.kind {
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().map_or_else(|| property.to_string(), str::to_owned);
            at.key(&name).issue(format!("`{name}` is required"))
        }
        _ => at.issue(message(root, error)),
    }
}

/// A message for people: what the value must be, without echoing the value itself.
fn message(root: &Value, error: &ValidationError<'_>) -> String {
    match &error.kind {
        ValidationErrorKind::Type { kind: TypeKind::Single(kind) } => format!("must be of type {kind}"),
        ValidationErrorKind::MinLength { limit: 1 } => "must not be empty".to_owned(),
        ValidationErrorKind::MinLength { limit } => format!("must be at least {limit} characters long"),
        ValidationErrorKind::MaxLength { limit } => {
            let got = error.instance.as_str().map_or(0, |s| s.chars().count());
            format!("must be at most {limit} characters long, got {got}: shorten it")
        }
        ValidationErrorKind::Pattern { pattern } => {
            // The error holds the pattern as translated from ECMA syntax (`\s` spelled out).
            let original = schema_at(root, &error.schema_path).and_then(Value::as_str);
            format!(
                "must match the pattern `{}`",
                original.map_or_else(|| pattern.escape_debug().to_string(), str::to_owned)
            )
        }
        ValidationErrorKind::Enum { .. } | ValidationErrorKind::Constant { .. } => {
            format!("must be {}", one_of(&choices(error).unwrap_or_default()))
        }
        ValidationErrorKind::Format { format } => format!("must be a valid `{format}`"),
        ValidationErrorKind::Not { schema } => match schema.get("const") {
            Some(forbidden) => format!("must not be {forbidden}"),
            None => format!("must not match {schema}"),
        },
        ValidationErrorKind::AnyOf { context } => any_of(root, context),
        _ => error.masked_with("the value").to_string(),
    }
}

/// The values an `enum` or `const` error allows.
fn choices(error: &ValidationError<'_>) -> Option<Vec<Value>> {
    match &error.kind {
        ValidationErrorKind::Enum { options } => {
            Some(options.as_array().cloned().unwrap_or_else(|| vec![options.clone()]))
        }
        ValidationErrorKind::Constant { expected_value } => Some(vec![expected_value.clone()]),
        _ => None,
    }
}

/// `` `a` ``, `` `a` or `b` ``, `` `a`, `b` or `c` ``.
fn one_of(values: &[Value]) -> String {
    let mut shown: Vec<String> = Vec::new();
    for value in values {
        let text = value.as_str().map_or_else(|| format!("`{value}`"), |s| format!("`{s}`"));
        if !shown.contains(&text) {
            shown.push(text);
        }
    }
    match shown.split_last() {
        None => "one of no values".to_owned(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("one of {} or {last}", rest.join(", ")),
    }
}

/// A value that matches none of the alternatives. When every alternative refuses the same
/// field's value (the `type` of a transport), the message lists what that field may be;
/// otherwise it shows why the closest alternative (fewest refused values, then fewest errors)
/// fails.
fn any_of(root: &Value, branches: &[Vec<ValidationError<'static>>]) -> String {
    if let Some((path, allowed)) = common_choice(branches) {
        return format!("matches none of the allowed forms: {} must be {}", location(path).0, one_of(&allowed));
    }
    let closest = branches
        .iter()
        .filter(|branch| !branch.is_empty())
        .min_by_key(|branch| (branch.iter().filter(|e| choices(e).is_some()).count(), branch.len()));
    let Some(branch) = closest else { return "matches none of the allowed forms".to_owned() };
    let reasons: Vec<String> = branch
        .iter()
        .map(|e| {
            let i = issue(root, e);
            format!("{}: {}", i.location, i.message)
        })
        .collect();
    format!("matches none of the allowed forms; the closest fails with {}", reasons.join("; "))
}

/// The field every branch refuses by `enum`/`const`, and all the values they allow.
fn common_choice<'a>(branches: &'a [Vec<ValidationError<'static>>]) -> Option<(&'a Location, Vec<Value>)> {
    let mut common: Option<(&'a Location, Vec<Value>)> = None;
    for branch in branches {
        let (path, values) = branch.iter().find_map(|e| choices(e).map(|values| (&e.instance_path, values)))?;
        match &mut common {
            None => common = Some((path, values)),
            Some((field, all)) if field.as_str() == path.as_str() => all.extend(values),
            Some(_) => return None,
        }
    }
    common
}
