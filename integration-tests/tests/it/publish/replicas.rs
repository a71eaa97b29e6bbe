//! Published entries are as durable as synced ones: a restart (embedded and PostgreSQL) keeps
//! every version with its timestamps, and replicas on one database serve each other's writes and
//! agree on one winner when two publish the same version at once.

use serde_json::{Value, json};
use thv_testkit::pg::TestDb;
use thv_testkit::{TestApp, TestServer, WAIT, wait_until};

use super::{World, doc, publish, version_path};

async fn everything(s: &TestServer, token: &str) -> Vec<Value> {
    let reply = s.call("GET", "/v0.1/servers?include_deleted=true&limit=100", Some(token)).await.unwrap();
    reply.json().unwrap()["servers"].as_array().unwrap().clone()
}

/// Three versions of one name, one of another, one deprecated, one deleted.
async fn write_some(s: &TestServer, t: &str) {
    for (name, v) in
        [("io.example/a", "1.0.0"), ("io.example/a", "1.1.0"), ("io.example/a", "2.0.0"), ("io.example/b", "1")]
    {
        assert_eq!(publish(s, Some(t), &doc(name, v)).await.status, 200);
    }
    let path = format!("{}/status", version_path("io.example/a", "1.0.0"));
    let dep = s.send("PATCH", &path, Some(t), &json!({"status": "deprecated", "statusMessage": "old"})).await.unwrap();
    assert_eq!(dep.status, 200, "{}", dep.body);
    assert_eq!(s.call("DELETE", &version_path("io.example/a", "2.0.0"), Some(t)).await.unwrap().status, 200);
}

async fn restart_keeps_everything(app: TestApp, w: &World) {
    let t = w.writer();
    let s = app.spawn().await.unwrap();
    s.wait_ready().await.unwrap();
    write_some(&s, &t).await;
    let before = everything(&s, &t).await;
    assert_eq!(before.len(), 4);
    let source = s.call("GET", "/v1/sources/internal", Some(&t)).await.unwrap().json().unwrap();
    s.stop().await.unwrap();

    let s = app.spawn().await.unwrap();
    assert_eq!(everything(&s, &t).await, before, "every version with its timestamps, status and flag");
    let again = s.call("GET", "/v1/sources/internal", Some(&t)).await.unwrap().json().unwrap();
    for key in ["revision", "lastSyncTime", "serverCount"] {
        assert_eq!(again["sync"][key], source["sync"][key], "{key}");
    }
    // Still one version for all time: the deleted one is not published again.
    assert_eq!(publish(&s, Some(&t), &doc("io.example/a", "2.0.0")).await.status, 400);
}

#[tokio::test]
async fn a_restart_keeps_every_published_entry_embedded() {
    let w = World::start().await;
    restart_keeps_everything(w.app(), &w).await;
}

#[tokio::test]
async fn a_restart_keeps_every_published_entry_postgres() {
    let w = World::start().await;
    let db = TestDb::create().await.unwrap();
    restart_keeps_everything(w.app().database(&db), &w).await;
}

#[tokio::test]
async fn replicas_serve_each_others_writes_and_one_duplicate_wins() {
    let w = World::start().await;
    let db = TestDb::create().await.unwrap();
    let app = w.app().database(&db);
    let a = app.spawn().await.unwrap();
    let b = app.spawn().await.unwrap();
    a.wait_ready().await.unwrap();
    b.wait_ready().await.unwrap();
    let token = w.writer();
    let t = token.as_str();

    // A publish on A is served by B (the change feed), and a delete on B moves A's latest.
    for v in ["1.0.0", "2.0.0"] {
        assert_eq!(publish(&a, Some(t), &doc("io.example/shared", v)).await.status, 200);
    }
    let latest = version_path("io.example/shared", "latest");
    wait_until("B serves A's publish", WAIT, || async {
        let reply = b.call("GET", &latest, Some(t)).await?;
        Ok((reply.status == 200 && reply.json()?["server"]["version"] == "2.0.0").then_some(()))
    })
    .await
    .unwrap();
    let deleted = b.call("DELETE", &version_path("io.example/shared", "2.0.0"), Some(t)).await.unwrap();
    assert_eq!(deleted.status, 200, "B writes on the rows A wrote: {}", deleted.body);
    wait_until("A's latest moved", WAIT, || async {
        let reply = a.call("GET", &latest, Some(t)).await?;
        Ok((reply.json()?["server"]["version"] == "1.0.0").then_some(()))
    })
    .await
    .unwrap();
    let (sa, sb) = (
        a.call("GET", "/v1/sources/internal", Some(t)).await.unwrap().json().unwrap(),
        b.call("GET", "/v1/sources/internal", Some(t)).await.unwrap().json().unwrap(),
    );
    assert_eq!(sa["sync"], sb["sync"], "both replicas report the last write");
    assert_eq!(sb["sync"]["serverCount"], 1);

    // The same version published on both at once: one 200, one 400, one row.
    for round in 0..10 {
        let name = format!("io.example/race-{round}");
        let same = doc(&name, "1.0.0");
        let (ra, rb) = tokio::join!(publish(&a, Some(t), &same), publish(&b, Some(t), &same));
        let mut statuses = [ra.status, rb.status];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 400], "round {round}: {} / {}", ra.body, rb.body);
        let refused = if ra.status == 400 { &ra } else { &rb };
        assert!(refused.body.contains("duplicate version"), "{}", refused.body);
        let versions = format!("/v0.1/servers/{}/versions", name.replace('/', "%2F"));
        for s in [&a, &b] {
            wait_until("one version on both replicas", WAIT, || async {
                let reply = s.call("GET", &versions, Some(t)).await?;
                Ok((reply.status == 200 && reply.json()?["servers"].as_array().map(Vec::len) == Some(1)).then_some(()))
            })
            .await
            .unwrap();
        }
    }
    assert_eq!(everything(&a, t).await, everything(&b, t).await);
}
