//! Tests of server.json validation, against the reference examples in `shared/reference/` and
//! table-driven cases for each rule.

mod examples;
mod rules;
mod schema;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::{Issue, Keys, released_schema_ids, validate};

/// A file or directory of the official registry's reference material.
fn reference(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference/mcp-registry").join(rel)
}

/// Every `*.json` of a reference directory, by file name, sorted.
fn json_files(rel: &str) -> Vec<(String, Value)> {
    let dir = reference(rel);
    let mut files: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let doc = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path.file_name().unwrap().to_string_lossy().into_owned(), doc)
        })
        .collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!files.is_empty(), "no examples in {}", dir.display());
    files
}

fn locations(issues: &[Issue]) -> Vec<&str> {
    issues.iter().map(|i| i.location.as_str()).collect()
}

fn newest_id() -> &'static str {
    released_schema_ids().last().unwrap()
}

/// A valid document of the newest schema.
fn minimal() -> Value {
    json!({
        "$schema": newest_id(),
        "name": "io.github.user/weather",
        "description": "MCP server providing weather data.",
        "version": "1.0.0",
    })
}

/// [`minimal`] with the top-level fields of `patch` set (a `null` removes the field).
fn with(patch: Value) -> Value {
    let mut doc = minimal();
    let map = doc.as_object_mut().unwrap();
    let Value::Object(patch) = patch else { panic!("a patch is an object") };
    for (key, value) in patch {
        if value.is_null() {
            map.remove(&key);
        } else {
            map.insert(key, value);
        }
    }
    doc
}

/// A valid stdio npm package with the fields of `patch` set.
fn package(patch: Value) -> Value {
    let mut package = json!({
        "registryType": "npm",
        "identifier": "@example/weather",
        "version": "1.0.0",
        "transport": {"type": "stdio"},
    });
    let Value::Object(patch) = patch else { panic!("a patch is an object") };
    package.as_object_mut().unwrap().extend(patch);
    package
}

/// The semantic issues alone (no schema), for a camel-case document.
fn semantic(doc: &Value) -> Vec<Issue> {
    super::rules::check(doc.as_object().unwrap(), Keys::Camel)
}

#[test]
fn the_minimal_document_is_valid() {
    assert_eq!(validate(&minimal()), []);
    assert_eq!(super::check_shape(&minimal()), []);
}
