//! Whether a submitted server.json may be published: the pure checks of the write API.
//!
//! The publish order (`reference/mcp-registry/PUBLISH.md`) runs [`check_shape`] first (step 1:
//! a JSON object with only known top-level fields), then authorisation, then [`validate`]
//! (step 3: a released `$schema`, the document valid against that schema, and the semantic
//! rules the schema cannot express). Both return every [`Issue`] found; empty means ok.
//!
//! - `schemas`: the released schemas, embedded from `domain/schemas/` and compiled once.
//! - `rules`: top-level semantic rules (name, version, repository, URLs, title, icons).
//! - `packages`, `remotes`: the rules of `packages[]` and `remotes[]`.
//! - `url`: the little URL reading those rules need (template URLs are not parseable URLs).
//!
//! Adding a released schema: copy it into `domain/schemas/`, add its id and `include_str!` to
//! `schemas::RELEASED` (oldest first). Adding a rule: a function in `rules`, `packages` or
//! `remotes` that pushes an issue at the field's location, with a passing and a failing test.

mod packages;
mod remotes;
mod rules;
mod schemas;
mod url;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use serde_json::Value;

/// One problem with a submitted document: `location` like `body.remotes[0].url`,
/// `body.$schema`, `body.name`; `message` says what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Issue {
    pub location: String,
    pub message: String,
}

/// Step 1 of the publish order: the body is a JSON object whose top-level keys are all known
/// server.json fields (the union of the properties of every released schema). Returns the
/// issues (empty = ok). Unknown top-level key -> issue at `body.<key>`.
pub fn check_shape(doc: &serde_json::Value) -> Vec<Issue> {
    let Value::Object(map) = doc else { return vec![not_an_object()] };
    let known = schemas::known_fields();
    map.keys()
        .filter(|key| !known.contains(key.as_str()))
        .map(|key| {
            Loc::body().key(key).issue(format!(
                "`{key}` is not a server.json field: remove it, or put extension data under `_meta.{}`",
                crate::server_json::PUBLISHER_PROVIDED
            ))
        })
        .collect()
}

/// Step 3: `$schema` present and one of the released schema ids (any released one, not only
/// the newest), the document valid against THAT schema (JSON Schema errors become issues with
/// `body.`-prefixed locations built from the instance path, e.g. `body.packages[0].version`),
/// then the semantic rules of PUBLISH.md. Returns every issue found (empty = valid).
///
/// A document without a usable `$schema` gets that issue and is checked against the newest
/// schema anyway, so one round trip shows every problem. Where a semantic rule and the schema
/// flag the same location, only the semantic rule's message (which says how to fix it) is kept.
pub fn validate(doc: &serde_json::Value) -> Vec<Issue> {
    let Value::Object(map) = doc else { return vec![not_an_object()] };
    let mut own = Vec::new();
    let at_schema = Loc::body().key("$schema");
    let schema = match map.get("$schema") {
        Some(Value::String(id)) => schemas::find(id).unwrap_or_else(|| {
            own.push(at_schema.issue(format!("`{id}` is not a released server.json schema id: {}", schema_hint())));
            schemas::newest()
        }),
        Some(_) => {
            own.push(at_schema.issue(format!("`$schema` must be a string: {}", schema_hint())));
            schemas::newest()
        }
        None => {
            own.push(at_schema.issue(format!("`$schema` is required: {}", schema_hint())));
            schemas::newest()
        }
    };
    let from_schema = match schema.issues(doc) {
        Ok(issues) => issues,
        Err(cause) => {
            own.push(
                at_schema
                    .issue(format!("the schema `{}` could not be loaded ({cause}); this is a registry bug", schema.id)),
            );
            Vec::new()
        }
    };
    own.extend(rules::check(map, schema.keys));
    merge(from_schema, own)
}

/// The released schema ids, oldest first.
pub fn released_schema_ids() -> &'static [&'static str] {
    &schemas::IDS
}

fn schema_hint() -> String {
    let dates: Vec<&str> = schemas::IDS.iter().filter_map(|id| id.split('/').rev().nth(1)).collect();
    format!(
        "set it to `{}`; the ids of the older releases ({}) are accepted too",
        schemas::newest().id,
        dates[..dates.len().saturating_sub(1)].join(", ")
    )
}

fn not_an_object() -> Issue {
    Loc::body().issue("the body must be a JSON object: a server.json document")
}

/// Schema issues first, without those at a location a semantic rule already speaks for, then
/// the semantic issues; exact duplicates once.
fn merge(from_schema: Vec<Issue>, own: Vec<Issue>) -> Vec<Issue> {
    let spoken_for: BTreeSet<String> = own.iter().map(|i| i.location.clone()).collect();
    let mut seen = BTreeSet::new();
    from_schema
        .into_iter()
        .filter(|i| !spoken_for.contains(&i.location))
        .chain(own)
        .filter(|i| seen.insert((i.location.clone(), i.message.clone())))
        .collect()
}

/// Where in the body an issue is: `body`, `.key` for a property, `[n]` for an array item.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Loc(String);

impl Loc {
    fn body() -> Self {
        Self("body".to_owned())
    }

    fn key(&self, key: &str) -> Self {
        Self(format!("{}.{key}", self.0))
    }

    fn index(&self, index: usize) -> Self {
        Self(format!("{}[{index}]", self.0))
    }

    fn issue(&self, message: impl Into<String>) -> Issue {
        Issue { location: self.0.clone(), message: message.into() }
    }
}

/// How a schema spells its multi-word fields: the 2025-07-09 schema used snake case
/// (`website_url`, `package_arguments`), every later one camel case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keys {
    Camel,
    Snake,
}

impl Keys {
    /// The document's spelling of the field whose camel-case name is `camel`.
    fn of(self, camel: &'static str) -> &'static str {
        match self {
            Self::Camel => camel,
            Self::Snake => match camel {
                "websiteUrl" => "website_url",
                "environmentVariables" => "environment_variables",
                "packageArguments" => "package_arguments",
                "runtimeArguments" => "runtime_arguments",
                "valueHint" => "value_hint",
                other => other,
            },
        }
    }
}
