//! Published entries are as durable as synced ones: a restart (embedded and PostgreSQL) keeps
//! every version with its timestamps; replicas on one database serve each other's writes, agree
//! on one winner when two publish the same version at once, and lose nothing when they write
//! different names at once.

use chrono::{DateTime, FixedOffset};
use serde_json::{Value, json};
use thv_testkit::pg::TestDb;
use thv_testkit::{TestApp, TestServer, WAIT, enc, wait_until};

use super::{World, doc, official, publish, version_path};

/// Every row of `/v0.1/servers?include_deleted=true`, following `nextCursor` (two rows a page, so
/// a handful of versions already spans pages).
async fn everything(s: &TestServer, token: &str) -> anyhow::Result<Vec<Value>> {
    let mut rows = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let after = cursor.as_deref().map(|c| format!("&cursor={}", enc(c))).unwrap_or_default();
        let path = format!("/v0.1/servers?include_deleted=true&limit=2{after}");
        let reply = s.call("GET", &path, Some(token)).await?;
        anyhow::ensure!(reply.status == 200, "GET {path}: {} {}", reply.status, reply.body);
        let body = reply.json()?;
        rows.extend(body["servers"].as_array().cloned().unwrap_or_default());
        match body["metadata"]["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return Ok(rows),
        }
    }
}

/// `(name, version, status, isLatest)` of each row.
fn summary(rows: &[Value]) -> Vec<(String, String, String, bool)> {
    rows.iter()
        .map(|r| {
            let o = official(r);
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (text(&r["server"]["name"]), text(&r["server"]["version"]), text(&o["status"]), o["isLatest"] == true)
        })
        .collect()
}

fn time(v: &Value) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_default()).unwrap_or_else(|e| panic!("{v} is not a time: {e}"))
}

async fn source(s: &TestServer, token: &str) -> Value {
    let reply = s.call("GET", "/v1/sources/internal", Some(token)).await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json().unwrap()
}

/// Three versions of one name, one of another, one deprecated, one deleted.
async fn write_some(s: &TestServer, t: &str) {
    for (name, v) in
        [("io.example/a", "1.0.0"), ("io.example/a", "1.1.0"), ("io.example/a", "2.0.0"), ("io.example/b", "1")]
    {
        let reply = publish(s, Some(t), &doc(name, v)).await;
        assert_eq!(reply.status, 200, "{name} {v}: {}", reply.body);
    }
    let path = format!("{}/status", version_path("io.example/a", "1.0.0"));
    let dep = s.send("PATCH", &path, Some(t), &json!({"status": "deprecated", "statusMessage": "old"})).await.unwrap();
    assert_eq!(dep.status, 200, "{}", dep.body);
    let del = s.call("DELETE", &version_path("io.example/a", "2.0.0"), Some(t)).await.unwrap();
    assert_eq!(del.status, 200, "{}", del.body);
}

async fn restart_keeps_everything(app: TestApp, w: &World) {
    let t = w.writer();
    let s = app.spawn().await.unwrap();
    s.wait_ready().await.unwrap();
    write_some(&s, &t).await;
    let before = everything(&s, &t).await.unwrap();
    let row = |n: &str, v: &str, status: &str, latest: bool| (n.to_owned(), v.to_owned(), status.to_owned(), latest);
    assert_eq!(
        summary(&before),
        [
            row("io.example/a", "1.0.0", "deprecated", false),
            row("io.example/a", "1.1.0", "active", true),
            row("io.example/a", "2.0.0", "deleted", false),
            row("io.example/b", "1", "active", true),
        ],
        "the rows written"
    );
    let sync = source(&s, &t).await["sync"].clone();
    s.stop().await.unwrap();

    // The new process answers from what it loaded, before anything is written to it.
    let s = app.spawn().await.unwrap();
    let after = everything(&s, &t).await.unwrap();
    assert_eq!(after, before, "every version with its timestamps, status, message and flag");
    let again = source(&s, &t).await;
    for key in ["revision", "lastSyncTime", "serverCount"] {
        assert_eq!(again["sync"][key], sync[key], "{key}");
    }
    // Still one version for all time: the deleted one is not published again.
    let dup = publish(&s, Some(&t), &doc("io.example/a", "2.0.0")).await;
    assert_eq!(dup.status, 400, "{}", dup.body);
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

/// Two servers with the same configuration on one fresh database, both ready.
async fn two_replicas(w: &World, db: &TestDb) -> (TestServer, TestServer) {
    let app = w.app().database(db);
    let a = app.spawn().await.unwrap();
    let b = app.spawn().await.unwrap();
    a.wait_ready().await.unwrap();
    b.wait_ready().await.unwrap();
    (a, b)
}

/// Waits until `s` answers `path` with `status`; returns the body.
async fn wait_status(s: &TestServer, what: &str, path: &str, t: &str, status: u16) -> Value {
    wait_until(what, WAIT, || async {
        let reply = s.call("GET", path, Some(t)).await?;
        Ok((reply.status == status).then_some(reply.json()?))
    })
    .await
    .unwrap_or_else(|e| panic!("{e:#}\nserver output:\n{}", s.stderr()))
}

#[tokio::test]
async fn replicas_serve_each_others_writes() {
    let w = World::start().await;
    let db = TestDb::create().await.unwrap();
    let (a, b) = two_replicas(&w, &db).await;
    let token = w.writer();
    let t = token.as_str();
    let name = "io.example/shared";

    // A publish on A is served by B.
    for v in ["1.0.0", "2.0.0"] {
        let reply = publish(&a, Some(t), &doc(name, v)).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let on_b = wait_status(&b, "B serves A's publish", &version_path(name, "2.0.0"), t, 200).await;
    assert_eq!(official(&on_b)["isLatest"], true, "{on_b}");
    let older = b.call("GET", &version_path(name, "1.0.0"), Some(t)).await.unwrap();
    assert_eq!(older.status, 200, "both of A's versions: {}", older.body);

    // A delete on B moves A's latest.
    let deleted = b.call("DELETE", &version_path(name, "2.0.0"), Some(t)).await.unwrap();
    assert_eq!(deleted.status, 200, "B writes on the rows A wrote: {}", deleted.body);
    let latest = version_path(name, "latest");
    wait_until("A's latest moved", WAIT, || async {
        let reply = a.call("GET", &latest, Some(t)).await?;
        Ok((reply.status == 200 && reply.json()?["server"]["version"] == "1.0.0").then_some(()))
    })
    .await
    .unwrap_or_else(|e| panic!("{e:#}\nA's output:\n{}", a.stderr()));
    let gone = a.call("GET", &version_path(name, "2.0.0"), Some(t)).await.unwrap();
    assert_eq!(gone.status, 404, "A hides the version B deleted: {}", gone.body);

    // B's source reports the delete: its time and one live server; A reports the same.
    let written = time(&official(&deleted.json().unwrap())["updatedAt"]);
    let sb = source(&b, t).await;
    assert_eq!(sb["sync"]["serverCount"], 1, "{sb}");
    assert_eq!(time(&sb["sync"]["lastSyncTime"]), written, "{sb}");
    assert_eq!(source(&a, t).await["sync"], sb["sync"], "both replicas report the last write");
}

#[tokio::test]
async fn of_two_concurrent_duplicate_publishes_exactly_one_wins() {
    let w = World::start().await;
    let db = TestDb::create().await.unwrap();
    let (a, b) = two_replicas(&w, &db).await;
    let token = w.writer();
    let t = token.as_str();

    for round in 0..10 {
        let name = format!("io.example/race-{round}");
        let same = doc(&name, "1.0.0");
        let (ra, rb) = tokio::join!(publish(&a, Some(t), &same), publish(&b, Some(t), &same));
        let mut statuses = [ra.status, rb.status];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 400], "round {round}: {} / {}", ra.body, rb.body);
        let refused = if ra.status == 400 { &ra } else { &rb };
        assert!(refused.body.contains("duplicate version"), "round {round}: {}", refused.body);
        let versions = format!("/v0.1/servers/{}/versions", enc(&name));
        for (s, which) in [(&a, "A"), (&b, "B")] {
            let body = wait_status(s, &format!("{which} serves {name}"), &versions, t, 200).await;
            assert_eq!(body["servers"].as_array().map(Vec::len), Some(1), "round {round} on {which}: {body}");
        }
    }
    let (ea, eb) = (everything(&a, t).await.unwrap(), everything(&b, t).await.unwrap());
    assert_eq!(ea.len(), 10);
    assert_eq!(ea, eb, "both replicas serve the same rows");
}

/// Rounds of two writes at once, one on each replica.
const ROUNDS: usize = 50;

#[tokio::test]
async fn replicas_writing_different_names_at_once_lose_nothing() {
    let w = World::start().await;
    let db = TestDb::create().await.unwrap();
    let (a, b) = two_replicas(&w, &db).await;
    let token = w.writer();
    let t = token.as_str();

    for round in 0..ROUNDS {
        let (left, right) =
            (doc(&format!("io.example/left-{round}"), "1"), doc(&format!("io.example/right-{round}"), "1"));
        let (ra, rb) = tokio::join!(publish(&a, Some(t), &left), publish(&b, Some(t), &right));
        assert_eq!((ra.status, rb.status), (200, 200), "round {round}: {} / {}", ra.body, rb.body);
    }
    // Each replica ends with both replicas' writes, and the stored status counts all of them.
    for (server, which) in [(&a, "A"), (&b, "B")] {
        wait_until(&format!("{which} serves all names"), WAIT, || async {
            let rows = everything(server, t).await?.len();
            anyhow::ensure!(rows == 2 * ROUNDS, "{which} serves {rows} of {} rows", 2 * ROUNDS);
            Ok(Some(()))
        })
        .await
        .unwrap_or_else(|e| panic!("{e:#}\n{which}'s output:\n{}", server.stderr()));
    }
    assert_eq!(everything(&a, t).await.unwrap(), everything(&b, t).await.unwrap());
    let (sa, sb) = (source(&a, t).await, source(&b, t).await);
    assert_eq!(sa["sync"], sb["sync"], "one status for both");
    assert_eq!(sa["sync"]["serverCount"], 2 * ROUNDS, "{sa}");
}
