//! The breaking-change check of `docs/openapi.yaml`: the checker (`thv_testkit::apidiff`) on
//! the committed document and edits of it, and `scripts/api-compat` end to end in temporary git
//! repositories, running the `openapi-diff` binary named by `THV_OPENAPI_DIFF_BIN`.
#![expect(clippy::unwrap_used, clippy::expect_used, reason = "test helpers fail the test on purpose")]

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::{Value, json};
use thv_testkit::apidiff::{diff, parse_document};
use thv_testkit::git::Repo;
use thv_testkit::workspace_root;

fn committed_text() -> String {
    std::fs::read_to_string(workspace_root().join("docs/openapi.yaml")).expect("reading docs/openapi.yaml")
}

fn committed() -> Value {
    parse_document(&committed_text()).expect("parsing docs/openapi.yaml")
}

/// The breaking findings of `edit` applied to the committed document, as printed.
fn breaking_after(edit: impl FnOnce(&mut Value)) -> Vec<String> {
    let old = committed();
    let mut new = old.clone();
    edit(&mut new);
    diff(&old, &new).into_iter().filter(|f| f.breaking).map(|f| f.to_string()).collect()
}

/// The node at a JSON pointer whose segments are written plainly: `["paths", "/v0.1/servers"]`.
fn node<'a>(doc: &'a mut Value, segments: &[&str]) -> &'a mut Value {
    let pointer: String =
        segments.iter().flat_map(|s| ["/".to_owned(), s.replace('~', "~0").replace('/', "~1")]).collect();
    doc.pointer_mut(&pointer).unwrap_or_else(|| panic!("no {pointer} in docs/openapi.yaml"))
}

fn schema<'a>(doc: &'a mut Value, name: &str) -> &'a mut Value {
    node(doc, &["components", "schemas", name])
}

fn list_servers_parameters(doc: &mut Value) -> &mut Vec<Value> {
    node(doc, &["paths", "/v0.1/servers", "get", "parameters"]).as_array_mut().expect("parameters is a list")
}

#[track_caller]
fn assert_has(found: &[String], expected: &str) {
    assert!(found.iter().any(|f| f == expected), "expected {expected:?} among the breaking findings: {found:#?}");
}

#[test]
fn the_committed_document_against_itself_finds_nothing() {
    let doc = committed();
    assert!(doc["paths"].as_object().is_some_and(|paths| paths.len() > 20), "the document has its paths");
    assert_eq!(diff(&doc, &doc), Vec::new());
}

#[test]
fn a_removed_response_property_is_breaking_where_it_is_read() {
    let found = breaking_after(|doc| {
        let props = schema(doc, "ServerDetail")["properties"].as_object_mut().unwrap();
        props.remove("name").expect("ServerDetail has a name");
    });
    assert_has(&found, "GET /v0.1/servers/{serverName}/versions: response 200: property servers[].server.name removed");
    assert_has(&found, "GET /v0.1/servers: response 200: property servers[].server.name removed");
    // A request property removed from an open object is not breaking: the publish body sends it.
    assert!(found.iter().all(|f| !f.contains("request body")), "{found:#?}");

    let found = breaking_after(|doc| {
        schema(doc, "ServerResponse")["properties"].as_object_mut().unwrap().remove("_meta");
    });
    assert_has(&found, "GET /v0.1/servers: response 200: property servers[]._meta removed");
}

#[test]
fn a_response_property_no_longer_required_is_breaking() {
    let found = breaking_after(|doc| {
        let required = schema(doc, "ServerList")["required"].as_array_mut().unwrap();
        required.retain(|name| name != "metadata");
    });
    assert_has(&found, "GET /v0.1/servers: response 200: property metadata no longer required");
}

#[test]
fn a_removed_operation_path_or_success_response_is_breaking() {
    let found = breaking_after(|doc| {
        node(doc, &["paths", "/v0.1/servers"]).as_object_mut().unwrap().remove("get");
        node(doc, &["paths"]).as_object_mut().unwrap().remove("/v1/sources");
        node(doc, &["paths", "/v0.1/servers/{serverName}/versions", "get", "responses"])
            .as_object_mut()
            .unwrap()
            .remove("200");
    });
    assert_has(&found, "GET /v0.1/servers: operation removed");
    assert_has(&found, "GET /v1/sources: operation removed (path removed)");
    assert_has(&found, "GET /v0.1/servers/{serverName}/versions: response 200: removed");
}

#[test]
fn a_removed_or_newly_required_parameter_is_breaking() {
    let found = breaking_after(|doc| {
        let params = list_servers_parameters(doc);
        params.retain(|p| p["name"] != "search");
        params.iter_mut().find(|p| p["name"] == "cursor").unwrap()["required"] = json!(true);
        params.push(json!({"name": "tenant", "in": "query", "required": true, "schema": {"type": "string"}}));
    });
    assert_has(&found, "GET /v0.1/servers: parameter search (query): removed");
    assert_has(&found, "GET /v0.1/servers: parameter cursor (query): became required");
    assert_has(&found, "GET /v0.1/servers: parameter tenant (query): new required parameter");
}

#[test]
fn a_narrowed_parameter_or_request_body_is_breaking() {
    let found = breaking_after(|doc| {
        let params = list_servers_parameters(doc);
        params.iter_mut().find(|p| p["name"] == "limit").unwrap()["schema"]["maximum"] = json!(50.0);
        params.iter_mut().find(|p| p["name"] == "search").unwrap()["schema"] = json!({"type": "integer"});
        let request = schema(doc, "StatusUpdateRequest");
        request["additionalProperties"] = json!(false);
        // The status enum loses a value (a request enum may only grow).
        let statuses = schema(doc, "NewStatus")["enum"].as_array_mut().unwrap();
        statuses.retain(|s| s != "deleted");
    });
    assert_has(&found, "GET /v0.1/servers: parameter limit (query): maximum lowered from 100.0 to 50.0");
    assert_has(&found, "GET /v0.1/servers: parameter search (query): type changed from string to integer");
    let status = "PATCH /v0.1/servers/{serverName}/versions/{version}/status: request body";
    assert_has(&found, &format!("{status}: additionalProperties closed"));
    assert_has(&found, &format!("{status}: status: enum value \"deleted\" removed"));
}

#[test]
fn a_new_required_request_property_or_a_required_body_is_breaking() {
    let found = breaking_after(|doc| {
        let request = schema(doc, "StatusUpdateRequest");
        request["properties"]["reason"] = json!({"type": "string"});
        request["required"].as_array_mut().unwrap().push(json!("reason"));
    });
    assert_has(
        &found,
        "PATCH /v0.1/servers/{serverName}/versions/{version}/status: request body: property reason added, required",
    );

    // /v0.1/validate takes a required body of any JSON: optional before, required now breaks;
    // a type where there was none narrows it.
    let mut old = committed();
    node(&mut old, &["paths", "/v0.1/validate", "post", "requestBody"])["required"] = json!(false);
    let mut new = committed();
    node(&mut new, &["paths", "/v0.1/validate", "post", "requestBody", "content", "application/json"])["schema"] =
        json!({"type": "object"});
    let found: Vec<String> = diff(&old, &new).into_iter().filter(|f| f.breaking).map(|f| f.to_string()).collect();
    assert_has(&found, "POST /v0.1/validate: request body: became required");
    assert_has(&found, "POST /v0.1/validate: request body: type restricted to object");
    // The reverse is harmless: a body that became optional and accepts anything again.
    assert!(diff(&new, &old).iter().all(|f| !f.breaking), "{:#?}", diff(&new, &old));
}

#[test]
fn a_response_enum_value_added_or_a_changed_response_type_is_breaking() {
    let found = breaking_after(|doc| {
        schema(doc, "Phase")["enum"].as_array_mut().unwrap().push(json!("paused"));
        schema(doc, "ServerDetail")["properties"]["version"] = json!({"type": "integer", "format": "int64"});
    });
    assert!(
        found
            .iter()
            .any(|f| f.starts_with("GET /v1/sources: response 200: ") && f.ends_with(": enum value \"paused\" added")),
        "{found:#?}"
    );
    assert_has(
        &found,
        "GET /v0.1/servers: response 200: servers[].server.version: type changed from string to integer",
    );
}

#[test]
fn a_removed_success_content_type_is_breaking() {
    let found = breaking_after(|doc| {
        let content = node(doc, &["paths", "/v0.1/servers", "get", "responses", "200", "content"]);
        let content = content.as_object_mut().unwrap();
        let json_schema = content.remove("application/json").unwrap();
        content.insert("application/x-ndjson".into(), json_schema);
    });
    assert_has(&found, "GET /v0.1/servers: response 200: content type application/json removed");
}

#[test]
fn harmless_additions_are_compatible() {
    let old = committed();
    let mut new = old.clone();
    list_servers_parameters(&mut new)
        .push(json!({"name": "tag", "in": "query", "required": false, "schema": {"type": "string"}}));
    schema(&mut new, "ServerResponse")["properties"]["score"] = json!({"type": "number"});
    schema(&mut new, "StatusUpdateRequest")["properties"]["note"] = json!({"type": "string"});
    schema(&mut new, "NewStatus")["enum"].as_array_mut().unwrap().push(json!("archived"));
    node(&mut new, &["paths", "/v0.1/servers", "get"])["description"] = json!("Reworded.");
    let ping = node(&mut new, &["paths", "/ping"]).clone();
    node(&mut new, &["paths"]).as_object_mut().unwrap().insert("/v0.1/ping".into(), ping);
    // Same limit, written the other way, and a wider one.
    let params = list_servers_parameters(&mut new);
    params.iter_mut().find(|p| p["name"] == "limit").unwrap()["schema"]["maximum"] = json!(200);

    let findings = diff(&old, &new);
    let breaking: Vec<String> = findings.iter().filter(|f| f.breaking).map(ToString::to_string).collect();
    assert_eq!(breaking, Vec::<String>::new());
    let compatible: Vec<String> = findings.iter().map(ToString::to_string).collect();
    for expected in [
        "GET /v0.1/servers: parameter tag (query): new optional parameter",
        "GET /v0.1/servers: response 200: property servers[].score added",
        "GET /v0.1/ping: operation added",
    ] {
        assert!(compatible.iter().any(|f| f == expected), "expected {expected:?} among {compatible:#?}");
    }
}

#[test]
fn a_schema_that_refers_to_itself_is_compared_without_looping() {
    let mut old = committed();
    schema(&mut old, "ServerDetail")["properties"]["children"] =
        json!({"type": "array", "items": {"$ref": "#/components/schemas/ServerDetail"}});
    let mut new = old.clone();
    assert_eq!(diff(&old, &new), Vec::new());
    schema(&mut new, "ServerDetail")["properties"].as_object_mut().unwrap().remove("title");
    let found: Vec<String> = diff(&old, &new).into_iter().filter(|f| f.breaking).map(|f| f.to_string()).collect();
    // Reported where the schema is first met; its recursion is not walked again.
    assert_has(&found, "GET /v0.1/servers: response 200: property servers[].server.title removed");
    assert!(!found.iter().any(|f| f.contains("children[].children[]")), "{found:#?}");
}

// --- scripts/api-compat, end to end --------------------------------------------------------------

fn checker() -> PathBuf {
    std::env::var_os("THV_OPENAPI_DIFF_BIN").map_or_else(|| {
        panic!(
            "THV_OPENAPI_DIFF_BIN is not set: build the checker with `cargo build -p thv-testkit --bin openapi-diff` \
             and export THV_OPENAPI_DIFF_BIN=$CARGO_TARGET_DIR/debug/openapi-diff (scripts/test does both)"
        )
    }, PathBuf::from)
}

/// A repository holding a copy of `scripts/api-compat`, whose commits change docs/openapi.yaml.
fn repo() -> Repo {
    let repo = Repo::init();
    std::fs::create_dir_all(repo.path.join("scripts")).unwrap();
    std::fs::copy(workspace_root().join("scripts/api-compat"), repo.path.join("scripts/api-compat")).unwrap();
    repo
}

fn commit(repo: &Repo, doc: &Value, message: &str) {
    let yaml = serde_norway::to_string(doc).unwrap();
    std::fs::create_dir_all(repo.path.join("docs")).unwrap();
    std::fs::write(repo.path.join("docs/openapi.yaml"), yaml).unwrap();
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", message]);
}

/// Runs the script in `dir`; returns whether it passed and what it printed (stdout and stderr).
fn api_compat(dir: &std::path::Path) -> (bool, String) {
    let Output { status, stdout, stderr } = Command::new(dir.join("scripts/api-compat"))
        .current_dir(dir)
        .env("THV_OPENAPI_DIFF_BIN", checker())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("running scripts/api-compat");
    (status.success(), format!("{}{}", String::from_utf8_lossy(&stdout), String::from_utf8_lossy(&stderr)))
}

fn without_meta(doc: &Value) -> Value {
    let mut doc = doc.clone();
    schema(&mut doc, "ServerResponse")["properties"].as_object_mut().unwrap().remove("_meta");
    doc
}

#[test]
fn the_script_passes_with_a_message_when_there_is_no_baseline() {
    let repo = repo();
    commit(&repo, &committed(), "first");
    let (passed, output) = api_compat(&repo.path);
    assert!(passed, "{output}");
    assert!(output.contains("no baseline"), "{output}");

    // A shallow clone without the parent commit: no baseline either.
    commit(&repo, &without_meta(&committed()), "second");
    let clone = tempfile::tempdir().unwrap();
    let url = repo.url();
    thv_testkit::git::git(clone.path(), &["clone", "-q", "--depth", "1", &url, "shallow"]);
    let (passed, output) = api_compat(&clone.path().join("shallow"));
    assert!(passed, "{output}");
    assert!(output.contains("no baseline"), "{output}");
}

#[test]
fn the_script_fails_on_a_break_until_a_commit_marks_it() {
    let repo = repo();
    let doc = committed();
    commit(&repo, &doc, "first");
    commit(&repo, &without_meta(&doc), "drop _meta from the listing");
    let (passed, output) = api_compat(&repo.path);
    assert!(!passed, "{output}");
    assert!(output.contains("GET /v0.1/servers: response 200: property servers[]._meta removed"), "{output}");
    assert!(output.contains("API-Break: <reason>"), "it says how to mark an intended break: {output}");

    repo.git(&[
        "commit",
        "-q",
        "--amend",
        "-m",
        "drop _meta from the listing\n\nAPI-Break: clients read _meta from the detail",
    ]);
    let (passed, output) = api_compat(&repo.path);
    assert!(passed, "{output}");
    assert!(output.contains("clients read _meta from the detail"), "it prints the reason: {output}");
}

#[test]
fn the_script_passes_compatible_changes_and_compares_with_the_last_release_tag() {
    let repo = repo();
    let doc = committed();
    commit(&repo, &doc, "first");
    let mut added = doc.clone();
    let ping = node(&mut added, &["paths", "/ping"]).clone();
    node(&mut added, &["paths"]).as_object_mut().unwrap().insert("/v0.1/ping".into(), ping);
    commit(&repo, &added, "add /v0.1/ping");
    let (passed, output) = api_compat(&repo.path);
    assert!(passed, "{output}");

    // With a release tag, every commit since it counts: a break two commits ago is still seen.
    repo.git(&["tag", "v0.1.0"]);
    commit(&repo, &without_meta(&added), "drop _meta");
    let mut reworded = without_meta(&added);
    node(&mut reworded, &["paths", "/v0.1/servers", "get"])["description"] = json!("Reworded.");
    commit(&repo, &reworded, "reword");
    let (passed, output) = api_compat(&repo.path);
    assert!(!passed, "{output}");
    assert!(output.contains("v0.1.0"), "it names the baseline: {output}");
    assert!(output.contains("property servers[]._meta removed"), "{output}");

    repo.git(&["commit", "-q", "--amend", "-m", "reword\n\nAPI-Break: _meta moves to the detail"]);
    let (passed, output) = api_compat(&repo.path);
    assert!(passed, "{output}");
    assert!(output.contains("_meta moves to the detail"), "{output}");
}
