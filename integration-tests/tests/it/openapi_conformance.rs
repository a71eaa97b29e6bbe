//! Every 200 response of the read endpoints matches the official OpenAPI spec: the envelope
//! strictly, server.json loosely (real catalogues break newer content limits).

// Test helpers panic on failure, like the tests calling them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use jsonschema::Validator;
use serde_json::{Value, json};
use thv_testkit::{OFFICIAL, TestServer, enc, name_version, workspace_root};

/// The official spec, copied from the reference.
const OFFICIAL_SPEC: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/data/official-openapi.yaml"));

struct Schemas {
    list: Validator,
    response: Validator,
}

/// The spec's components, with the envelope made strict and `ServerDetail` made loose.
fn components() -> Value {
    let spec: Value = serde_norway::from_str(OFFICIAL_SPEC).expect("the spec is YAML");
    let mut components = spec["components"].clone();
    let schemas = &mut components["schemas"];
    assert!(schemas["ServerDetail"].is_object() && schemas["ServerList"].is_object(), "unexpected spec layout");

    schemas["ServerDetail"] = json!({
        "type": "object",
        "required": ["name", "description", "version"],
        "properties": {
            "name": {"type": "string"},
            "version": {"type": "string"},
            "description": {"type": "string"}
        }
    });

    let list = &mut schemas["ServerList"];
    list["additionalProperties"] = json!(false);
    list["required"] = json!(["servers", "metadata"]);
    let metadata = &mut list["properties"]["metadata"];
    assert!(metadata.is_object(), "ServerList.metadata missing in the spec");
    metadata["additionalProperties"] = json!(false);
    metadata["required"] = json!(["count"]);

    let response = &mut schemas["ServerResponse"];
    response["additionalProperties"] = json!(false);
    response["required"] = json!(["server", "_meta"]);
    let meta = &mut response["properties"]["_meta"];
    meta["required"] = json!([OFFICIAL]);
    let official = &mut meta["properties"][OFFICIAL];
    assert_eq!(official["additionalProperties"], json!(false), "the spec's official _meta is closed");
    official["properties"]["statusChangedAt"] = json!({"type": "string", "format": "date-time"});
    official["required"] = json!(["status", "statusChangedAt", "publishedAt", "updatedAt", "isLatest"]);
    components
}

fn validator(schema_name: &str, components: &Value) -> Validator {
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": format!("#/components/schemas/{schema_name}"),
        "components": components,
    });
    jsonschema::draft202012::options().should_validate_formats(true).build(&root).expect("the schema compiles")
}

fn schemas() -> Schemas {
    let components = components();
    Schemas { list: validator("ServerList", &components), response: validator("ServerResponse", &components) }
}

#[track_caller]
fn assert_valid(v: &Validator, body: &Value, what: &str) {
    let errors: Vec<String> = v.iter_errors(body).map(|e| format!("{} at {}", e, e.instance_path)).collect();
    assert!(errors.is_empty(), "{what} does not match the spec:\n{}\nbody: {body}", errors.join("\n"));
}

/// Validates the list, versions and version responses of a running server.
async fn check_server(srv: &TestServer, search: &str) {
    let s = schemas();
    let mut names = Vec::new();
    for query in [
        String::new(),
        "?limit=1".to_owned(),
        format!("?search={search}"),
        "?version=latest".to_owned(),
        "?include_deleted=true".to_owned(),
        "?updated_since=2000-01-01T00:00:00Z".to_owned(),
    ] {
        for prefix in ["/v0.1", "/v0"] {
            let path = format!("{prefix}/servers{query}");
            let body = srv.get_json(&path).await.unwrap();
            assert_valid(&s.list, &body, &path);
            assert!(!body["servers"].as_array().unwrap().is_empty(), "{path}: no rows");
        }
    }

    // Every page of the whole catalogue.
    let mut cursor: Option<String> = None;
    loop {
        let mut params = vec![("limit", "100".to_owned())];
        if let Some(c) = &cursor {
            params.push(("cursor", c.clone()));
        }
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let reply = srv.get_query("/v0.1/servers", &params).await.unwrap();
        assert_eq!(reply.status, 200, "{}", reply.body);
        let body = reply.json().unwrap();
        assert_valid(&s.list, &body, &format!("page after cursor {cursor:?}"));
        names.extend(body["servers"].as_array().unwrap().iter().map(name_version));
        match body["metadata"]["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert!(!names.is_empty());

    // Versions and version endpoints of a spread of servers.
    let step = (names.len() / 12).max(1);
    for (name, version) in names.iter().step_by(step) {
        let base = format!("/v0.1/servers/{}/versions", enc(name));
        let body = srv.get_json(&base).await.unwrap();
        assert_valid(&s.list, &body, &base);
        for v in ["latest", version.as_str()] {
            let path = format!("{base}/{}", enc(v));
            let body = srv.get_json(&path).await.unwrap();
            assert_valid(&s.response, &body, &path);
        }
    }
}

#[tokio::test]
async fn seed_example_conforms() {
    let srv = TestServer::start(&workspace_root().join("examples/config-file.yaml"), &[]).await.unwrap();
    srv.wait_ready().await.unwrap();
    check_server(&srv, "github").await;
}

#[tokio::test]
async fn toolhive_example_conforms() {
    let srv = TestServer::start(&workspace_root().join("examples/config-toolhive.yaml"), &[]).await.unwrap();
    srv.wait_ready().await.unwrap();
    check_server(&srv, "fetch").await;
}

/// The schemas reject wrong bodies, so the tests above can fail.
#[test]
fn schemas_reject_wrong_bodies() {
    assert!(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/official-openapi.yaml").is_file());
    let s = schemas();
    let row = json!({
        "server": {"name": "io.github.a/b", "description": "d", "version": "1.0.0"},
        "_meta": {OFFICIAL: {
            "status": "active",
            "statusChangedAt": "2025-01-01T00:00:00.123456789Z",
            "publishedAt": "2025-01-01T00:00:00Z",
            "updatedAt": "2025-01-01T00:00:00Z",
            "isLatest": true
        }}
    });
    let good = json!({"servers": [row.clone()], "metadata": {"count": 1, "nextCursor": "x"}});
    assert_valid(&s.list, &good, "the good list");
    assert_valid(&s.response, &row, "the good row");

    let mut bad_lists: Vec<(&str, Value)> = Vec::new();
    let mut b = good.clone();
    b.as_object_mut().unwrap().remove("servers");
    bad_lists.push(("servers missing", b));
    let mut b = good.clone();
    b["extra"] = json!(1);
    bad_lists.push(("extra top-level key", b));
    let mut b = good.clone();
    b.as_object_mut().unwrap().remove("metadata");
    bad_lists.push(("metadata missing", b));
    let mut b = good.clone();
    b["metadata"] = json!({"nextCursor": "x"});
    bad_lists.push(("count missing", b));
    let mut b = good.clone();
    b["metadata"]["count"] = json!("1");
    bad_lists.push(("count a string", b));
    let mut b = good.clone();
    b["metadata"]["total"] = json!(1);
    bad_lists.push(("extra metadata key", b));
    let mut b = good.clone();
    b["metadata"]["nextCursor"] = Value::Null;
    bad_lists.push(("nextCursor null", b));
    let mut b = good.clone();
    b["servers"][0]["server"].as_object_mut().unwrap().remove("description");
    bad_lists.push(("server.json without description", b));
    let mut b = good.clone();
    b["servers"][0]["_meta"][OFFICIAL]["foo"] = json!(1);
    bad_lists.push(("extra official _meta key", b));
    let mut b = good.clone();
    b["servers"][0]["_meta"][OFFICIAL]["status"] = json!("gone");
    bad_lists.push(("unknown status", b));
    let mut b = good.clone();
    b["servers"][0]["_meta"][OFFICIAL]["publishedAt"] = json!("yesterday");
    bad_lists.push(("publishedAt not a date-time", b));
    let mut b = good.clone();
    b["servers"][0]["_meta"][OFFICIAL]["statusChangedAt"] = json!("2025-13-01");
    bad_lists.push(("statusChangedAt not a date-time", b));
    let mut b = good.clone();
    b["servers"][0]["_meta"][OFFICIAL].as_object_mut().unwrap().remove("isLatest");
    bad_lists.push(("isLatest missing", b));
    let mut b = good.clone();
    b["servers"][0]["extra"] = json!(1);
    bad_lists.push(("extra row key", b));
    for (what, body) in &bad_lists {
        assert!(!s.list.is_valid(body), "the list schema accepts a body with {what}: {body}");
    }

    let mut b = row.clone();
    b["extra"] = json!(1);
    assert!(!s.response.is_valid(&b), "the response schema accepts an extra key");
    let mut b = row.clone();
    b.as_object_mut().unwrap().remove("_meta");
    assert!(!s.response.is_valid(&b), "the response schema accepts a row without _meta");
    assert!(!s.response.is_valid(&good), "the response schema accepts a list");
}

/// The service endpoints: health, version, the server's own spec and its UI.
#[tokio::test]
async fn service_endpoints() {
    let srv = TestServer::start(&workspace_root().join("examples/config-toolhive.yaml"), &[]).await.unwrap();
    srv.wait_ready().await.unwrap();

    assert_eq!(srv.get_json("/health").await.unwrap(), json!({"status": "ok"}));
    assert_eq!(srv.get_json("/ping").await.unwrap(), json!({"pong": true}));
    let version = srv.get_json("/version").await.unwrap();
    for key in ["version", "git_commit", "build_time"] {
        assert!(version[key].is_string(), "/version has no {key}: {version}");
    }

    let spec = srv.get_json("/openapi.json").await.unwrap();
    assert!(spec["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{}", spec["openapi"]);
    for path in
        ["/v0.1/servers", "/v0.1/servers/{serverName}/versions", "/v0.1/servers/{serverName}/versions/{version}"]
    {
        assert!(spec["paths"][path].is_object(), "/openapi.json lacks {path}");
    }
    let yaml = srv.get("/openapi.yaml").await.unwrap();
    assert_eq!(yaml.status, 200);
    let yaml: Value = serde_norway::from_str(&yaml.body).unwrap();
    assert_eq!(yaml, spec, "/openapi.yaml and /openapi.json differ");

    let docs = srv.get("/docs").await.unwrap();
    assert_eq!(docs.status, 200);
    assert!(docs.content_type().starts_with("text/html"), "{}", docs.content_type());
}

/// The committed document and the served one validate as the OpenAPI version they declare
/// (`openapi-spec-validator` from `PyPI`, pinned in `scripts/python-tools`), and each path is one key:
/// a path written twice loses operations in every parser.
#[tokio::test]
async fn the_document_validates_as_the_openapi_version_it_declares() {
    let validator = crate::schemathesis::python_tool("openapi-spec-validator");
    let committed = workspace_root().join("docs/openapi.yaml");
    let text = std::fs::read_to_string(&committed).unwrap();
    let doc: Value = serde_norway::from_str(&text).unwrap();
    assert_eq!(doc["openapi"], "3.0.0");
    let paths = doc["paths"].as_object().unwrap();
    let keys: Vec<&str> = text.lines().filter(|l| l.starts_with("  /") && l.ends_with(':')).collect();
    assert_eq!(keys.len(), paths.len(), "a path is written more than once in docs/openapi.yaml");

    let srv = TestServer::start(&workspace_root().join("examples/config-file.yaml"), &[]).await.unwrap();
    let served = srv.get("/openapi.json").await.unwrap();
    assert_eq!(served.status, 200);
    let dir = tempfile::tempdir().unwrap();
    let served_file = dir.path().join("openapi.json");
    std::fs::write(&served_file, &served.body).unwrap();
    for file in [committed, served_file] {
        let out = std::process::Command::new(&validator).arg(&file).output().unwrap();
        assert!(
            out.status.success(),
            "openapi-spec-validator rejects {}:\n{}{}",
            file.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
