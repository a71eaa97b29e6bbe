//! The official write API and `/v1/entries`: what is accepted, what is refused (and that nothing
//! is stored then), who may write, and the audit trail.

use serde_json::{Value, json};
use thv_testkit::RegistrySpec;

use super::{World, doc, examples, official, publish, version_path};

/// Every published version of the default registry, deleted ones included.
async fn stored(s: &thv_testkit::TestServer, token: &str) -> Vec<Value> {
    let reply = s.call("GET", "/v0.1/servers?include_deleted=true&limit=100", Some(token)).await.unwrap();
    reply.json().unwrap()["servers"].as_array().unwrap().clone()
}

#[tokio::test]
async fn every_documented_example_publishes_and_reads_back_unchanged() {
    let w = World::start().await;
    let s = w.app().spawn().await.unwrap();
    s.wait_ready().await.unwrap();
    let writer = w.writer();
    let docs = examples("doc-examples");
    assert_eq!(docs.len(), 15, "the reference holds 15 documented examples");
    // Several examples share a name: each (name, version) once, in file order.
    let mut published = Vec::new();
    for (file, example) in &docs {
        let key = (example["name"].clone(), example["version"].clone());
        if published.contains(&key) {
            continue;
        }
        let reply = publish(&s, Some(&writer), example).await;
        assert_eq!(reply.status, 200, "{file}: {}", reply.body);
        let body = reply.json().unwrap();
        assert_eq!(body["server"], *example, "{file}: the response holds the document as published");
        assert_eq!(official(&body)["status"], "active", "{file}");
        published.push(key);
    }
    for (file, example) in &docs {
        let path = version_path(example["name"].as_str().unwrap(), example["version"].as_str().unwrap());
        let reply = s.call("GET", &path, Some(&writer)).await.unwrap();
        assert_eq!(reply.status, 200, "{file}: {}", reply.body);
        let row = reply.json().unwrap();
        // The first file of a (name, version) is the one stored.
        let first = docs.iter().find(|(_, d)| d["name"] == example["name"] && d["version"] == example["version"]);
        assert_eq!(row["server"], first.unwrap().1, "{file}: read back unchanged");
    }
    assert_eq!(stored(&s, &writer).await.len(), published.len());
    let source = s.call("GET", "/v1/sources/internal", Some(&writer)).await.unwrap().json().unwrap();
    assert_eq!(source["type"], "managed", "{source}");
    assert_eq!(source["sync"]["phase"], "synced", "{source}");
    assert!(source["sync"]["lastSyncTime"].is_string(), "the time of the last write: {source}");
    assert_eq!(source["entryCount"], json!(published.len()), "{source}");
}

#[tokio::test]
async fn invalid_documents_and_broken_rules_are_refused_and_nothing_is_stored() {
    let w = World::start().await;
    let s = w.app().spawn().await.unwrap();
    s.wait_ready().await.unwrap();
    let writer = w.writer();
    let schema = doc("io.example/x", "1")["$schema"].clone();
    for (file, mut example) in examples("schema-examples-pr1380/invalid") {
        for with_schema in [false, true] {
            if with_schema {
                example["$schema"] = schema.clone();
            }
            let reply = publish(&s, Some(&writer), &example).await;
            assert!([400, 422].contains(&reply.status), "{file}: {} {}", reply.status, reply.body);
            assert!(reply.content_type().starts_with("application/problem+json"), "{file}");
            let problem = reply.json().unwrap();
            assert!(!problem["errors"].as_array().unwrap().is_empty(), "{file}: errors name the fields: {problem}");
        }
    }
    assert!(stored(&s, &writer).await.is_empty(), "nothing was stored");

    // Every `valid` example is accepted.
    for (file, example) in examples("schema-examples-pr1380/valid") {
        let reply = publish(&s, Some(&writer), &example).await;
        assert_eq!(reply.status, 200, "{file}: {}", reply.body);
    }
    let before = stored(&s, &writer).await;

    let refused = |reply: &thv_testkit::Reply, status: u16, what: &str, needle: &str| {
        assert_eq!(reply.status, status, "{what}: {}", reply.body);
        let problem = reply.json().unwrap();
        let first = problem["errors"][0]["message"].as_str().unwrap_or_default().to_owned();
        assert!(first.contains(needle), "{what}: errors[0].message = {first:?}");
    };
    let one = doc("io.example/one", "1.0.0");
    assert_eq!(publish(&s, Some(&writer), &one).await.status, 200);
    refused(&publish(&s, Some(&writer), &one).await, 400, "duplicate", "duplicate version");
    refused(&publish(&s, Some(&writer), &doc("io.example/one", "latest")).await, 422, "version latest", "latest");
    let mut remote = doc("io.example/remote-a", "1.0.0");
    remote["remotes"] = json!([{"type": "streamable-http", "url": "https://mcp.example.com/a"}]);
    assert_eq!(publish(&s, Some(&writer), &remote).await.status, 200);
    remote["name"] = json!("io.example/remote-b");
    refused(&publish(&s, Some(&writer), &remote).await, 400, "remote of another name", "already used");
    let mut unknown = doc("io.example/two", "1.0.0");
    unknown["surprise"] = json!(true);
    refused(&publish(&s, Some(&writer), &unknown).await, 422, "unknown top-level field", "surprise");
    let not_json = s.send("POST", "/v0.1/publish", Some(&writer), &json!("text")).await.unwrap();
    assert_eq!(not_json.status, 422, "{}", not_json.body);
    let mut unchanged = stored(&s, &writer).await;
    unchanged.retain(|r| !before.contains(r));
    let added: Vec<&Value> = unchanged.iter().map(|r| &r["server"]["name"]).collect();
    assert_eq!(added, [&json!("io.example/one"), &json!("io.example/remote-a")], "only the accepted ones");

    // Validate says the same without storing anything.
    let v = s.send("POST", "/v0.1/validate", None, &doc("io.example/three", "latest")).await.unwrap();
    assert_eq!(v.status, 200);
    let v = v.json().unwrap();
    assert_eq!(v["valid"], false, "{v}");
    assert!(v["issues"][0]["location"].as_str().unwrap().starts_with("body.version"), "{v}");
    let ok = s.send("POST", "/v0.1/validate", None, &doc("io.example/three", "1")).await.unwrap().json().unwrap();
    assert_eq!(ok, json!({"valid": true, "issues": []}));
}

#[tokio::test]
async fn writes_need_a_token_with_manage_entries_and_a_readable_registry() {
    let w = World::start().await;
    let app = w
        .app()
        .managed_source("team-b-src")
        .registry(RegistrySpec::new("team-b", &["team-b-src"]).access(json!({"tenant": "b"})));
    let s = app.spawn().await.unwrap();
    s.wait_ready().await.unwrap();
    let d = doc("io.example/guarded", "1.0.0");

    let none = publish(&s, None, &d).await;
    assert_eq!(none.status, 401, "{}", none.body);
    assert!(none.headers.contains_key("www-authenticate"));
    let reader = publish(&s, Some(&w.reader()), &d).await;
    assert_eq!(reader.status, 403, "{}", reader.body);
    assert!(reader.body.contains("manageEntries"), "{}", reader.body);
    // A writer of another tenant: the registry it may not read does not exist for it.
    let hidden = s.send("POST", "/registry/team-b/v0.1/publish", Some(&w.writer()), &d).await.unwrap();
    let missing = s.send("POST", "/registry/nope/v0.1/publish", Some(&w.writer()), &d).await.unwrap();
    assert_eq!(
        (hidden.status, hidden.json().unwrap()["detail"].as_str().map(|d| d.replace("team-b", "nope"))),
        (404, missing.json().unwrap()["detail"].as_str().map(str::to_owned))
    );
    for (method, path) in [
        ("PATCH", format!("{}/status", version_path("io.example/guarded", "1.0.0"))),
        ("DELETE", version_path("io.example/guarded", "1.0.0")),
        ("PUT", version_path("io.example/guarded", "1.0.0")),
    ] {
        let body = if method == "PATCH" { json!({"status": "deprecated"}) } else { d.clone() };
        assert_eq!(s.send(method, &path, None, &body).await.unwrap().status, 401, "{method} {path}");
        assert_eq!(s.send(method, &path, Some(&w.reader()), &body).await.unwrap().status, 403, "{method} {path}");
    }
    assert_eq!(
        s.call("DELETE", "/v1/entries/server/io.example%2Fguarded/versions/1.0.0", None).await.unwrap().status,
        401
    );

    // The same writer with the tenant claim writes there; nothing of the refusals was stored.
    let tenant_writer = w.token("wanda", &json!({"role": "writer", "tenant": "b"}));
    let ok = s.send("POST", "/registry/team-b/v0.1/publish", Some(&tenant_writer), &d).await.unwrap();
    assert_eq!(ok.status, 200, "{}", ok.body);
    let listed = s.call("GET", "/registry/team-b/v0.1/servers", Some(&tenant_writer)).await.unwrap().json().unwrap();
    assert_eq!(listed["metadata"]["count"], 1, "{listed}");
    let corp = s.call("GET", "/v0.1/servers", Some(&w.writer())).await.unwrap().json().unwrap();
    assert_eq!(corp["metadata"]["count"], 0, "{corp}");

    // The audit trail: one event per write, with the caller and the outcome, never the token.
    let events = s.log_events("audit");
    let outcomes: Vec<(String, String, u64)> = events
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["outcome"].as_str().unwrap().to_owned(),
                e["http.status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(outcomes.contains(&("publish".into(), "denied".into(), 401)), "{outcomes:?}");
    assert!(outcomes.contains(&("publish".into(), "denied".into(), 403)), "{outcomes:?}");
    assert!(outcomes.contains(&("status".into(), "denied".into(), 403)), "{outcomes:?}");
    assert!(outcomes.contains(&("delete".into(), "denied".into(), 403)), "{outcomes:?}");
    assert!(outcomes.contains(&("edit".into(), "denied".into(), 403)), "{outcomes:?}");
    let success = events.iter().find(|e| e["outcome"] == "success").unwrap();
    assert_eq!(success["iss"], json!(w.idp.issuer()), "{success}");
    assert_eq!(success["sub"], "wanda", "{success}");
    assert_eq!(success["registry"], "team-b", "{success}");
    assert_eq!(success["source.name"], "team-b-src", "{success}");
    assert_eq!(success["server.name"], "io.example/guarded", "{success}");
    assert_eq!(success["server.version"], "1.0.0", "{success}");
    let output = s.stderr();
    for token in [w.writer(), tenant_writer] {
        let signature = token.rsplit('.').next().unwrap();
        assert!(!output.contains(signature), "a token reached the log");
    }
    let metrics = s.call("GET", "/metrics", None).await.unwrap();
    assert_eq!(metrics.status, 401, "the public listener's metrics need superAdmin");
}

#[tokio::test]
async fn anonymous_mode_refuses_writes_unless_the_managed_source_opts_in() {
    let closed =
        thv_testkit::TestApp::new().managed_source("internal").registry(RegistrySpec::new("corp", &["internal"]));
    let s = closed.spawn().await.unwrap();
    s.wait_ready().await.unwrap();
    let reply = publish(&s, None, &doc("io.example/dev", "1")).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert!(reply.body.contains("allowAnonymousWrites"), "the hint names the opt-in: {}", reply.body);

    let open = thv_testkit::TestApp::new()
        .source(thv_testkit::SourceSpec::managed("internal").kind_setting("allowAnonymousWrites", json!(true)))
        .registry(RegistrySpec::new("corp", &["internal"]));
    let out = std::process::Command::new(thv_testkit::binary().unwrap())
        .args(["config", "check", "--config"])
        .arg(open.write_config())
        .output()
        .unwrap();
    let check = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(check.contains("warning") && check.contains("allowAnonymousWrites"), "config check warns: {check}");
    let s = open.spawn().await.unwrap();
    s.wait_ready().await.unwrap();
    assert_eq!(publish(&s, None, &doc("io.example/dev", "1")).await.status, 200);
    // `/metrics` (open in anonymous mode) counts writes by action and outcome.
    let metrics = s.get("/metrics").await.unwrap().body;
    assert!(metrics.contains(r#"registry_writes_total{action="publish",outcome="success"} 1"#), "{metrics}");

    // A registry without a managed source does not take publishes.
    let read_only = thv_testkit::TestApp::new().file_source("f", "f.json").registry(RegistrySpec::new("r", &["f"]));
    read_only.write_json("f.json", &json!([]));
    let s = read_only.spawn().await.unwrap();
    s.wait_ready().await.unwrap();
    assert_eq!(publish(&s, None, &doc("io.example/dev", "1")).await.status, 501);
}

#[tokio::test]
async fn entries_api_creates_and_deletes_as_the_go_server_does() {
    let w = World::start().await;
    let s = w.app().spawn().await.unwrap();
    s.wait_ready().await.unwrap();
    let writer = w.writer();
    let d = doc("io.example/entry", "1.0.0");
    let created = s.send("POST", "/v1/entries", Some(&writer), &json!({"server": d})).await.unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.json().unwrap()["server"], d);
    let again = s.send("POST", "/v1/entries", Some(&writer), &json!({"server": d})).await.unwrap();
    assert_eq!(again.status, 409, "a duplicate is a conflict here: {}", again.body);
    let bad = s.send("POST", "/v1/entries", Some(&writer), &json!({"skill": {}})).await.unwrap();
    assert_eq!(bad.status, 422, "{}", bad.body);
    let deleted =
        s.call("DELETE", "/v1/entries/server/io.example%2Fentry/versions/1.0.0", Some(&writer)).await.unwrap();
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    assert_eq!(s.call("GET", &version_path("io.example/entry", "1.0.0"), Some(&writer)).await.unwrap().status, 404);
    let kept = format!("{}?include_deleted=true", version_path("io.example/entry", "1.0.0"));
    let kept = s.call("GET", &kept, Some(&writer)).await.unwrap().json().unwrap();
    assert_eq!(official(&kept)["status"], "deleted");
    let missing = s.call("DELETE", "/v1/entries/server/io.example%2Fnone/versions/1.0.0", Some(&writer)).await.unwrap();
    assert_eq!(missing.status, 404, "{}", missing.body);
}
