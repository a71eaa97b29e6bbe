//! `$schema`, the embedded schemas, schema-error locations and the top-level shape.

use serde_json::json;

use super::{locations, minimal, newest_id, package, reference, with};
use crate::validate::schemas::{self, IDS, TEXTS};
use crate::validate::{Keys, check_shape, released_schema_ids, validate};

#[test]
fn the_embedded_schemas_are_the_released_ones_oldest_first() {
    let dir = reference("server-json-schema/released");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    files.sort();
    assert_eq!(files.len(), IDS.len(), "{files:?}");
    for ((file, id), text) in files.iter().zip(released_schema_ids()).zip(TEXTS) {
        let on_disk = std::fs::read_to_string(dir.join(file)).unwrap();
        assert_eq!(text, on_disk, "domain/schemas/{} differs from the reference", file.to_string_lossy());
        let schema: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(schema["$id"], *id, "{}", file.to_string_lossy());
        assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
        let date = file.to_string_lossy().split('.').next().unwrap().to_owned();
        assert!(id.contains(&format!("/{date}/")), "{id} is not {date}");
        let compiled = schemas::find(id).unwrap();
        assert!(compiled.validator().is_ok(), "{id}: {:?}", compiled.validator().err());
    }
    assert!(released_schema_ids().is_sorted(), "oldest first");
}

#[test]
fn an_older_released_schema_is_accepted() {
    for id in &released_schema_ids()[1..] {
        let doc = with(json!({"$schema": id, "websiteUrl": "https://example.com"}));
        assert_eq!(validate(&doc), [], "{id}");
    }
    // The first release spelled its fields in snake case; its rules read them so.
    let first = released_schema_ids()[0];
    assert_eq!(schemas::find(first).unwrap().keys, Keys::Snake);
    let doc = with(json!({
        "$schema": first,
        "website_url": "https://example.com",
        "packages": [{
            "registry_type": "npm",
            "identifier": "@example/weather",
            "version": "1.0.0",
            "transport": {"type": "streamable-http", "url": "http://localhost:{--port}/mcp"},
            "package_arguments": [{"type": "named", "name": "--port", "default": "3000"}],
        }],
    }));
    assert_eq!(validate(&doc), []);
    let doc = with(json!({"$schema": first, "website_url": "http://example.com"}));
    assert_eq!(locations(&validate(&doc)), ["body.website_url"]);
}

#[test]
fn schema_must_be_a_released_id() {
    for (label, schema) in [
        ("unknown", json!("https://static.modelcontextprotocol.io/schemas/2099-01-01/server.schema.json")),
        ("draft", json!("https://static.modelcontextprotocol.io/schemas/draft/server.schema.json")),
        ("not a string", json!(7)),
        ("missing", serde_json::Value::Null),
    ] {
        let issues = validate(&with(json!({"$schema": schema})));
        assert_eq!(locations(&issues), ["body.$schema"], "{label}: {issues:?}");
        assert!(issues[0].message.contains(newest_id()), "{label}: the fix names the newest id: {issues:?}");
    }
}

#[test]
fn schema_errors_are_located_in_the_body() {
    let cases = [
        ("wrong type", with(json!({"packages": [package(json!({"version": 1}))]})), "body.packages[0].version"),
        (
            "missing nested field",
            with(json!({"packages": [{"registryType": "npm", "identifier": "x", "version": "1.0.0"}]})),
            "body.packages[0].transport",
        ),
        ("missing top-level field", with(json!({"description": null})), "body.description"),
        ("too long", with(json!({"title": "t".repeat(101)})), "body.title"),
        (
            "bad icon mime type",
            with(json!({"icons": [{"src": "https://e.com/i", "mimeType": "text/html"}]})),
            "body.icons[0].mimeType",
        ),
        ("bad sha", with(json!({"packages": [package(json!({"fileSha256": "xyz"}))]})), "body.packages[0].fileSha256"),
    ];
    for (label, doc, location) in cases {
        let issues = validate(&doc);
        assert_eq!(locations(&issues), [location], "{label}: {issues:?}");
        assert!(!issues[0].message.contains("{\""), "{label}: the message does not dump the value: {issues:?}");
    }
    let issues = validate(&with(json!({"description": null})));
    assert_eq!(issues[0].message, "`description` is required");

    // A pattern is quoted as the schema writes it, not as the validator translated it.
    let issues = validate(&with(json!({"icons": [{"src": "https://e.com/i", "sizes": ["big"]}]})));
    assert_eq!(locations(&issues), ["body.icons[0].sizes[0]"]);
    assert_eq!(issues[0].message, r"must match the pattern `^(\d+x\d+|any)$`");
}

#[test]
fn an_unmatched_alternative_names_what_would_match() {
    // Every alternative refuses the `type`: the message lists the allowed types.
    let doc = with(json!({"packages": [package(json!({"transport": {"type": "websocket"}}))]}));
    let issues = validate(&doc);
    assert_eq!(locations(&issues), ["body.packages[0].transport"], "{issues:?}");
    let want = "body.packages[0].transport.type must be one of `stdio`, `streamable-http` or `sse`";
    assert!(issues[0].message.contains(want), "{issues:?}");

    // One alternative accepts the `type`: the message says why that one still fails.
    let doc = with(json!({"packages": [package(json!({"transport": {"type": "sse", "url": "ftp://example.com"}}))]}));
    let issues = validate(&doc);
    assert_eq!(locations(&issues), ["body.packages[0].transport", "body.packages[0].transport.url"], "{issues:?}");
    assert!(issues[0].message.contains("closest fails with body.packages[0].transport.url: must match"), "{issues:?}");
}

#[test]
fn a_body_that_is_not_an_object_is_refused() {
    for doc in [json!([]), json!("server"), json!(null)] {
        assert_eq!(locations(&validate(&doc)), ["body"]);
        assert_eq!(locations(&check_shape(&doc)), ["body"]);
    }
}

#[test]
fn shape_allows_the_fields_of_every_released_schema_only() {
    let doc = with(json!({
        "_meta": {"io.modelcontextprotocol.registry/publisher-provided": {"tool": "x"}},
        "title": "Weather",
        "icons": [],
        "websiteUrl": "https://example.com",
        "repository": {"url": "https://github.com/o/r", "source": "github"},
        "packages": [],
        "remotes": [],
    }));
    assert_eq!(check_shape(&doc), []);
    // Fields only an older release had are known too.
    assert_eq!(check_shape(&json!({"status": "active", "website_url": "https://example.com"})), []);

    let doc = with(json!({"foo": 1, "Name": "x"}));
    let issues = check_shape(&doc);
    assert_eq!(locations(&issues), ["body.foo", "body.Name"]);
    assert!(issues[0].message.contains("_meta"), "{issues:?}");
    assert_eq!(check_shape(&minimal()), []);
}
