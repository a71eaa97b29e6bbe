//! The OpenAPI document as it is served (`/openapi.json`, `/openapi.yaml`, `/docs`) and committed
//! (`docs/openapi.yaml`): poem-openapi's document with one path item per path.
//!
//! poem-openapi writes a path item per API struct, so a path with operations in two of them (the
//! read API's `GET /v0.1/servers/{serverName}/versions/{version}` and the write API's `PUT` and
//! `DELETE` of the same path) came out as the same key twice. Every JSON and YAML parser keeps only
//! one of the two, and the generated clients lost the other operations. [`Document::from_poem`]
//! parses the document keeping every occurrence and merges them.
//!
//! The reads of a registry (tags `Servers`, `Legacy`, `Deployed`) declare the bearer scheme as
//! optional (`security: [{}, {bearerToken: []}]`): a public registry is read without a token, a
//! private one with it; the operations check the caller themselves, so poem-openapi does not
//! know they take one.
//!
//! A property that refers to another schema is a plain `$ref`: poem-openapi wraps a documented
//! one in `allOf: [{$ref}, {description}]`, and generators then make a second type for it
//! (openapi-python-client's `ServerResponseServer` beside `ServerDetail`), so a server published
//! and the same server read back had different types. The referenced schema keeps its own
//! description.
//!
//! Every problem response is also documented as `application/json` (same schema): a client whose
//! `Accept` asks for `application/json` and not for problem+json gets its problems so (see
//! [`super::problem::wants_problem_as_json`]), and generators that type JSON bodies by that media type only
//! (progenitor) then give typed errors.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use serde_json::{Map, Value};

/// The document in both forms, rendered once.
#[derive(Debug, Clone)]
pub struct Document {
    json: String,
    yaml: String,
}

impl Document {
    /// The document of poem-openapi's JSON output, path items merged.
    ///
    /// # Panics
    /// When `poem_json` is not a JSON object: it is poem-openapi's own output.
    #[must_use]
    #[expect(clippy::expect_used, reason = "poem-openapi's document is always a JSON object")]
    pub fn from_poem(poem_json: &str) -> Self {
        let Root(mut root) = serde_json::from_str(poem_json).expect("poem-openapi writes a JSON object");
        if let Some(Value::Object(paths)) = root.get_mut("paths") {
            document_problems_as_json_too(paths);
            document_optional_tokens_on_reads(paths);
        }
        if let Some(Value::Object(schemas)) = root.get_mut("components").and_then(|c| c.get_mut("schemas")) {
            unwrap_documented_refs(schemas);
        }
        let root = Value::Object(root);
        let json = serde_json::to_string_pretty(&root).expect("a JSON value serialises");
        let yaml = serde_norway::to_string(&root).expect("a JSON value serialises as YAML");
        Self { json, yaml }
    }

    /// The document in JSON.
    #[must_use]
    pub fn json(&self) -> &str {
        &self.json
    }

    /// The document in YAML.
    #[must_use]
    pub fn yaml(&self) -> &str {
        &self.yaml
    }
}

/// Adds `application/json` beside every `application/problem+json` response content.
fn document_problems_as_json_too(paths: &mut Map<String, Value>) {
    let operations = paths.values_mut().filter_map(Value::as_object_mut).flat_map(|item| item.values_mut());
    let responses = operations.filter_map(|op| op.get_mut("responses")).filter_map(Value::as_object_mut);
    for response in responses.flat_map(|r| r.values_mut()) {
        let Some(Value::Object(content)) = response.get_mut("content") else { continue };
        if let Some(problem) = content.get(super::problem::PROBLEM_JSON).cloned() {
            content.entry("application/json").or_insert(problem);
        }
    }
}

/// Replaces every property `{description, allOf: [{$ref: X}, {description}]}` by `{$ref: X}`.
fn unwrap_documented_refs(schemas: &mut Map<String, Value>) {
    let properties = schemas
        .values_mut()
        .filter_map(|schema| schema.get_mut("properties"))
        .filter_map(Value::as_object_mut)
        .flat_map(|props| props.values_mut());
    for property in properties {
        let Some(Value::Array(all_of)) = property.get("allOf") else { continue };
        let wrapper = property.as_object().is_some_and(|p| p.keys().all(|k| k == "allOf" || k == "description"));
        let only_described =
            all_of.iter().skip(1).all(|s| s.as_object().is_some_and(|o| o.keys().all(|k| k == "description")));
        if let (true, true, Some(target @ Value::Object(_))) = (wrapper, only_described, all_of.first())
            && target.get("$ref").is_some()
            && target.as_object().is_some_and(|o| o.len() == 1)
        {
            *property = target.clone();
        }
    }
}

/// Tags of the operations that read a registry.
const READ_TAGS: &[&str] = &["Servers", "Legacy", "Deployed"];

/// Declares the bearer scheme, optional, on every read of a registry.
fn document_optional_tokens_on_reads(paths: &mut Map<String, Value>) {
    let operations = paths.values_mut().filter_map(Value::as_object_mut).flat_map(|item| item.values_mut());
    for op in operations.filter_map(Value::as_object_mut) {
        let reads = op
            .get("tags")
            .and_then(Value::as_array)
            .is_some_and(|tags| tags.iter().any(|t| t.as_str().is_some_and(|t| READ_TAGS.contains(&t))));
        if reads && !op.contains_key("security") {
            op.insert("security".to_owned(), serde_json::json!([{}, { super::gate::SCHEME: [] }]));
        }
    }
}

/// The document's top level, with `paths` read through [`MergedPaths`].
struct Root(Map<String, Value>);

impl<'de> Deserialize<'de> for Root {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RootVisitor;
        impl<'de> Visitor<'de> for RootVisitor {
            type Value = Root;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an OpenAPI document")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Root, A::Error> {
                let mut out = Map::new();
                while let Some(key) = map.next_key::<String>()? {
                    let value = if key == "paths" {
                        Value::Object(map.next_value::<MergedPaths>()?.0)
                    } else {
                        map.next_value()?
                    };
                    out.insert(key, value);
                }
                Ok(Root(out))
            }
        }
        deserializer.deserialize_map(RootVisitor)
    }
}

/// The `paths` object, the operations of a path that occurs more than once merged into its first
/// occurrence (in document order).
struct MergedPaths(Map<String, Value>);

impl<'de> Deserialize<'de> for MergedPaths {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PathsVisitor;
        impl<'de> Visitor<'de> for PathsVisitor {
            type Value = MergedPaths;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("the paths of an OpenAPI document")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MergedPaths, A::Error> {
                let mut out = Map::new();
                while let Some(path) = map.next_key::<String>()? {
                    let Value::Object(item) = map.next_value()? else {
                        return Err(de::Error::custom(format!("the path item of {path} is not an object")));
                    };
                    match out.get_mut(&path) {
                        Some(Value::Object(first)) => {
                            for (method, operation) in item {
                                if first.contains_key(&method) {
                                    return Err(de::Error::custom(format!("{method} {path} is declared twice")));
                                }
                                first.insert(method, operation);
                            }
                        }
                        _ => {
                            out.insert(path, Value::Object(item));
                        }
                    }
                }
                Ok(MergedPaths(out))
            }
        }
        deserializer.deserialize_map(PathsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::Document;
    use serde_json::{Value, json};

    #[test]
    fn a_path_written_twice_becomes_one_item_with_every_operation() {
        let poem = r#"{"openapi":"3.0.0","paths":{"/a":{"get":{"operationId":"g"}},"/b":{"get":{}},"/a":{"put":{"operationId":"p"},"delete":{}}},"components":{}}"#;
        let doc = Document::from_poem(poem);
        let json: Value = serde_json::from_str(doc.json()).unwrap();
        assert_eq!(
            json["paths"],
            json!({"/a": {"get": {"operationId": "g"}, "put": {"operationId": "p"}, "delete": {}}, "/b": {"get": {}}})
        );
        let keys: Vec<&String> = json["paths"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["/a", "/b"], "first occurrence keeps its place");
        let yaml: Value = serde_norway::from_str(doc.yaml()).unwrap();
        assert_eq!(yaml, json);
    }

    #[test]
    fn the_served_document_has_each_path_once_with_the_read_and_write_operations() {
        let doc = crate::http::document();
        let json: Value = serde_json::from_str(doc.json()).unwrap();
        let item = &json["paths"]["/v0.1/servers/{serverName}/versions/{version}"];
        for method in ["get", "put", "delete"] {
            assert!(item[method].is_object(), "{method} missing: {item}");
        }
        assert_eq!(doc.yaml().matches("\n  /v0.1/servers/{serverName}/versions/{version}:\n").count(), 1);
        let server = &json["components"]["schemas"]["ServerResponse"]["properties"]["server"];
        assert_eq!(server, &json!({"$ref": "#/components/schemas/ServerDetail"}));
        assert!(!doc.json().contains("\"allOf\""), "no property is wrapped in allOf");
        let not_found = &item["get"]["responses"]["404"]["content"];
        assert_eq!(not_found["application/problem+json"], not_found["application/json"], "{not_found}");
        assert_eq!(not_found.as_object().unwrap().keys().next().unwrap(), "application/problem+json");
    }
}
