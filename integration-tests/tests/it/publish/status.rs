//! Status changes and edits, and the timestamps an incremental reader relies on: every row whose
//! `isLatest` moves gets a new `updatedAt`, so applying only what `updated_since` returns ends
//! with the flags of a full read.

use serde_json::{Value, json};
use thv_testkit::TestServer;

use super::{World, doc, official, publish, version_path};

const NAME: &str = "io.example/lifecycle";

async fn get(s: &TestServer, token: &str, path: &str) -> (u16, Value) {
    let reply = s.call("GET", path, Some(token)).await.unwrap();
    let body = if reply.body.is_empty() { Value::Null } else { reply.json().unwrap() };
    (reply.status, body)
}

/// Every row of the default registry updated strictly after `since`.
async fn since(s: &TestServer, token: &str, since: &str) -> Vec<(String, bool, String)> {
    let path = format!("/v0.1/servers?limit=100&updated_since={}", since.replace('+', "%2B"));
    let (status, body) = get(s, token, &path).await;
    assert_eq!(status, 200, "{body}");
    body["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["server"]["version"].as_str().unwrap().to_owned(),
                official(r)["isLatest"].as_bool().unwrap(),
                official(r)["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn stamp(row: &Value, key: &str) -> String {
    official(row)[key].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn deleting_the_latest_moves_it_and_incremental_readers_see_both_rows() {
    let w = World::start().await;
    let s = w.app().spawn().await.unwrap();
    s.wait_ready().await.unwrap();
    let t = w.writer();
    for v in ["1.0.0", "2.0.0"] {
        assert_eq!(publish(&s, Some(&t), &doc(NAME, v)).await.status, 200);
    }
    let (_, latest) = get(&s, &t, &version_path(NAME, "latest")).await;
    assert_eq!(latest["server"]["version"], "2.0.0");
    let before = stamp(&latest, "updatedAt");

    let deleted = s.call("DELETE", &version_path(NAME, "2.0.0"), Some(&t)).await.unwrap();
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    let deleted = deleted.json().unwrap();
    assert_eq!(official(&deleted)["status"], "deleted");
    assert_eq!(official(&deleted)["isLatest"], false);

    let (_, latest) = get(&s, &t, &version_path(NAME, "latest")).await;
    assert_eq!(latest["server"]["version"], "1.0.0", "latest moved to the next version");
    assert_eq!(official(&latest)["isLatest"], true);
    assert_eq!(get(&s, &t, &version_path(NAME, "2.0.0")).await.0, 404, "deleted versions are hidden");
    // Both rows changed, so an incremental read from just before the delete returns both.
    let rows = since(&s, &t, &before).await;
    assert_eq!(
        rows,
        [("1.0.0".to_owned(), true, "active".to_owned()), ("2.0.0".to_owned(), false, "deleted".to_owned())],
        "the deleted row and the row that became latest"
    );
    // Deleting again changes nothing: 400.
    let again = s.call("DELETE", &version_path(NAME, "2.0.0"), Some(&t)).await.unwrap();
    assert_eq!(again.status, 400, "{}", again.body);
    // A deleted version is never published again.
    assert_eq!(publish(&s, Some(&t), &doc(NAME, "2.0.0")).await.status, 400);
    // Back to active: the flag returns, the message is gone.
    let path = format!("{}/status", version_path(NAME, "2.0.0"));
    let revived = s.send("PATCH", &path, Some(&t), &json!({"status": "active"})).await.unwrap();
    assert_eq!(revived.status, 200, "{}", revived.body);
    let (_, latest) = get(&s, &t, &version_path(NAME, "latest")).await;
    assert_eq!(latest["server"]["version"], "2.0.0");
}

#[tokio::test]
async fn one_patch_deprecates_every_version_and_messages_follow_the_rules() {
    let w = World::start().await;
    let s = w.app().spawn().await.unwrap();
    s.wait_ready().await.unwrap();
    let t = w.writer();
    for v in ["1.0.0", "1.1.0", "2.0.0"] {
        assert_eq!(publish(&s, Some(&t), &doc(NAME, v)).await.status, 200);
    }
    let all = format!("/v0.1/servers/{}/status", NAME.replace('/', "%2F"));
    let body = json!({"status": "deprecated", "statusMessage": "use io.example/next"});
    let reply = s.send("PATCH", &all, Some(&t), &body).await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    let servers = reply.json().unwrap()["servers"].as_array().unwrap().clone();
    assert_eq!(servers.len(), 3);
    for row in &servers {
        assert_eq!(official(row)["status"], "deprecated", "{row}");
        assert_eq!(official(row)["statusMessage"], "use io.example/next", "{row}");
        assert_eq!(stamp(row, "statusChangedAt"), stamp(row, "updatedAt"), "{row}");
    }
    let (_, versions) = get(&s, &t, &format!("/v0.1/servers/{}/versions", NAME.replace('/', "%2F"))).await;
    assert!(versions["servers"].as_array().unwrap().iter().all(|r| official(r)["status"] == "deprecated"));
    // The same change again changes nothing.
    assert_eq!(s.send("PATCH", &all, Some(&t), &body).await.unwrap().status, 400);
    // A message goes with deprecated or deleted only.
    let bad = s.send("PATCH", &all, Some(&t), &json!({"status": "active", "statusMessage": "x"})).await.unwrap();
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.json().unwrap()["errors"][0]["location"] == "body.statusMessage");
    let bogus = s.send("PATCH", &all, Some(&t), &json!({"status": "gone"})).await.unwrap();
    assert!([400, 422].contains(&bogus.status), "{}", bogus.body);
    let missing = format!("/v0.1/servers/{}/status", "io.example%2Fnone");
    assert_eq!(s.send("PATCH", &missing, Some(&t), &body).await.unwrap().status, 404);
}

#[tokio::test]
async fn an_edit_changes_what_is_served_and_keeps_published_at() {
    let w = World::start().await;
    let s = w.app().spawn().await.unwrap();
    s.wait_ready().await.unwrap();
    let t = w.writer();
    let first = publish(&s, Some(&t), &doc(NAME, "1.0.0")).await.json().unwrap();
    let mut edited = doc(NAME, "1.0.0");
    edited["description"] = json!("a better description");
    edited["title"] = json!("Lifecycle");
    let path = version_path(NAME, "1.0.0");
    let reply = s.send("PUT", &path, Some(&t), &edited).await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    let (_, served) = get(&s, &t, &path).await;
    assert_eq!(served["server"], edited, "the edit is what is served");
    assert_eq!(stamp(&served, "publishedAt"), stamp(&first, "publishedAt"));
    assert!(stamp(&served, "updatedAt") > stamp(&first, "updatedAt"), "{served}");
    assert_eq!(stamp(&served, "statusChangedAt"), stamp(&first, "statusChangedAt"));
    assert_eq!(since(&s, &t, &stamp(&first, "updatedAt")).await.len(), 1);
    // The document must be the path's version, of a version that exists, and valid.
    let other = s.send("PUT", &path, Some(&t), &doc(NAME, "9.9.9")).await.unwrap();
    assert_eq!(other.status, 400, "{}", other.body);
    let missing = s.send("PUT", &version_path(NAME, "9.9.9"), Some(&t), &doc(NAME, "9.9.9")).await.unwrap();
    assert_eq!(missing.status, 404, "{}", missing.body);
    let mut invalid = edited.clone();
    invalid["websiteUrl"] = json!("http://insecure.example.com");
    let invalid = s.send("PUT", &path, Some(&t), &invalid).await.unwrap();
    assert_eq!(invalid.status, 422, "{}", invalid.body);
    let (_, served_after) = get(&s, &t, &path).await;
    assert_eq!(served_after, served, "refused edits change nothing");
}

#[tokio::test]
async fn registry_filters_and_precedence_refuse_what_would_be_stored_unseen() {
    let w = World::start().await;
    let app = w.app().file_source("synced", "synced.json").registry(
        thv_testkit::RegistrySpec::new("mixed", &["synced", "internal"])
            .filter(json!({"names": {"include": ["io.example/*"]}}))
            .access(json!("authenticated")),
    );
    app.write_json("synced.json", &json!([thv_testkit::server_json("io.example/taken", "1.0.0", "synced")]));
    let s = app.spawn().await.unwrap();
    s.wait_ready().await.unwrap();
    let t = w.writer();
    let to_mixed = "/registry/mixed/v0.1/publish";
    let hidden = s.send("POST", to_mixed, Some(&t), &doc("com.other/tool", "1.0.0")).await.unwrap();
    assert_eq!(hidden.status, 400, "{}", hidden.body);
    assert!(hidden.body.contains("filter"), "{}", hidden.body);
    let shadowed = s.send("POST", to_mixed, Some(&t), &doc("io.example/taken", "2.0.0")).await.unwrap();
    assert_eq!(shadowed.status, 400, "{}", shadowed.body);
    assert!(shadowed.body.contains("synced"), "names the source that serves it: {}", shadowed.body);
    let ok = s.send("POST", to_mixed, Some(&t), &doc("io.example/fresh", "1.0.0")).await.unwrap();
    assert_eq!(ok.status, 200, "{}", ok.body);
    let (_, listed) = get(&s, &w.writer(), "/registry/mixed/v0.1/servers").await;
    let names: Vec<&str> =
        listed["servers"].as_array().unwrap().iter().map(|r| r["server"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["io.example/fresh", "io.example/taken"]);
    // Managed sources are not synced.
    let ops = w.token("otto", &json!({"role": "ops"}));
    let sync = s.call("POST", "/v1/sources/internal/sync", Some(&ops)).await.unwrap();
    assert_eq!(sync.status, 409, "{}", sync.body);
}
