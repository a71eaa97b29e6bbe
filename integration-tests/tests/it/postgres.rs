//! PostgreSQL end to end through the binary: migrations, prime-db, restarts, replicas sharing one
//! database. Each test gets a fresh database from `DATABASE_URL`.

#![expect(clippy::unwrap_used, reason = "test helpers fail the test on purpose")]

use std::process::Stdio;

use serde_json::{Value, json};
use sqlx::Row as _;
use thv_testkit::pg::TestDb;
use thv_testkit::{SourceSpec, TestApp, TestServer, WAIT, binary, server_json, wait_until, workspace_root};
use tokio::io::AsyncWriteExt as _;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs the binary with `args`, feeding `stdin` (stdin is never a terminal here).
async fn run(args: &[&str], stdin: Option<&str>) -> Run {
    let mut child = tokio::process::Command::new(binary().unwrap())
        .args(args)
        .current_dir(workspace_root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).await.unwrap();
    }
    drop(input);
    let out = child.wait_with_output().await.unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Registry `pg` over one upstream-format file source, `pg`, reading `servers.json` of the app's
/// directory every 300 ms, stored in `db`.
fn pg_app(db: &TestDb) -> TestApp {
    let app = TestApp::new();
    let data = app.path("servers.json");
    app.source(SourceSpec::file("pg", &data).format("upstream").interval("300ms")).database(db)
}

/// Writes the servers `pg_app` reads.
fn write(app: &TestApp, servers: &Value) {
    app.write_json("servers.json", servers);
}

async fn tables(db: &TestDb) -> Vec<String> {
    let pool = db.pool().await.unwrap();
    let rows = sqlx::query(
        "SELECT table_name::text AS t FROM information_schema.tables WHERE table_schema = 'public' AND table_name NOT LIKE '\\_sqlx%' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    rows.iter().map(|r| r.get::<String, _>("t")).collect()
}

#[tokio::test]
async fn migrations_round_trip_through_the_cli() {
    let db = TestDb::create().await.unwrap();
    let app = pg_app(&db);
    let cfg = app.write_config();
    let cfg = cfg.to_str().unwrap();

    let up = run(&["migrate", "up", "--config", cfg, "--yes"], None).await;
    assert_eq!(up.code, 0, "{}{}", up.stdout, up.stderr);
    assert!(up.stdout.contains("applied 1 migration(s): 1"), "{}", up.stdout);
    let created = tables(&db).await;
    assert!(!created.is_empty());

    let again = run(&["migrate", "up", "--config", cfg, "--yes"], None).await;
    assert!(again.stdout.contains("up to date"), "{}", again.stdout);

    let down = run(&["migrate", "down", "--config", cfg, "--num-steps", "1", "--yes"], None).await;
    assert_eq!(down.code, 0, "{}{}", down.stdout, down.stderr);
    assert!(down.stderr.contains("WARNING") && down.stderr.contains("DROPPED"), "{}", down.stderr);
    assert!(down.stdout.contains("undid 1 migration(s): 1"), "{}", down.stdout);
    assert!(tables(&db).await.is_empty(), "down removes what up created");

    let up = run(&["migrate", "up", "--config", cfg, "--yes"], None).await;
    assert_eq!(up.code, 0, "{}", up.stderr);
    assert_eq!(tables(&db).await, created);

    let no_steps = run(&["migrate", "down", "--config", cfg, "--yes"], None).await;
    assert_ne!(no_steps.code, 0);
    assert!(no_steps.stderr.contains("--num-steps"), "{}", no_steps.stderr);
    let no_yes = run(&["migrate", "down", "--config", cfg, "--num-steps", "1"], None).await;
    assert_ne!(no_yes.code, 0);
    assert!(no_yes.stderr.contains("not a terminal") && no_yes.stderr.contains("--yes"), "{}", no_yes.stderr);
    assert_eq!(tables(&db).await, created, "a refused command changes nothing");
}

#[tokio::test]
async fn prime_db_dry_run_prints_masked_sql_without_connecting() {
    let app = TestApp::new()
        .file_source("x", "x.json")
        .set("database", json!({"host": "203.0.113.1", "port": 1, "user": "thv_app", "database": "registry"}));
    let cfg = app.write_config();
    let out = run(&["prime-db", "--config", cfg.to_str().unwrap(), "--dry-run"], Some("should-not-be-read")).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("toolhive_registry_server") && out.stdout.contains("thv_app"), "{}", out.stdout);
    assert!(out.stdout.contains("********"), "{}", out.stdout);
    assert!(!out.stdout.contains("should-not-be-read"));
}

#[tokio::test]
async fn prime_db_creates_a_user_who_can_read_and_write() {
    let db = TestDb::create().await.unwrap();
    let user = TestDb::unique_role("thv_app");
    // The configured user is the new one; the migration user (the superuser) runs prime-db.
    let app = TestApp::new()
        .file_source("x", "x.json")
        .database(&db)
        .database_setting("user", json!(user))
        .database_setting("migrationUser", json!(db.user));
    let cfg = app.write_config();
    let cfg = cfg.to_str().unwrap();
    assert_eq!(run(&["migrate", "up", "--config", cfg, "--yes"], None).await.code, 0);

    let password = "it's a \"quoted\" \\ back\\\\slash $$ %s ' OR 1=1 --";
    let out = run(&["prime-db", "--config", cfg], Some(&format!("{password}\n"))).await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(!out.stdout.contains(password) && !out.stderr.contains(password));

    let pool = db.pool().await.unwrap();
    let role = sqlx::query(
        "SELECT r.rolcanlogin, r.rolpassword IS NOT NULL AS has_password,
                pg_has_role(r.rolname, 'toolhive_registry_server', 'MEMBER') AS member
         FROM pg_authid r WHERE r.rolname = $1",
    )
    .bind(&user)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(role.get::<bool, _>("rolcanlogin") && role.get::<bool, _>("has_password") && role.get::<bool, _>("member"));

    // The disposable test server uses trust authentication, so logging in proves the grants
    // (the password itself is checked by the server in real deployments).
    let mut conn = sqlx::ConnectOptions::connect(&db.options_as(&user, password)).await.unwrap();
    for table in tables(&db).await {
        let q = format!("SELECT count(*) FROM {table}");
        sqlx::query(sqlx::AssertSqlSafe(q)).fetch_one(&mut conn).await.unwrap_or_else(|e| panic!("{table}: {e}"));
    }
    // And the new user can run the server (read and write through the app).
    let serve = pg_app(&db).database_setting("user", json!(user));
    write(&serve, &json!([server_json("io.pg/one", "1.0.0", "d")]));
    let server = serve.spawn_with(&[("THV_DATABASE_PASSWORD", password)], &[]).await.unwrap();
    server.wait_ready().await.unwrap();
    assert_eq!(server.list_all("/v0.1/servers", &[], 100).await.unwrap().len(), 1);
}

async fn everything(server: &TestServer) -> Vec<Value> {
    server.list_all("/v0.1/servers", &[("include_deleted", "true")], 100).await.unwrap()
}

#[tokio::test]
async fn a_restart_keeps_every_entry_timestamp_and_status() {
    let db = TestDb::create().await.unwrap();
    let app = pg_app(&db);
    write(
        &app,
        &json!([
            server_json("io.pg/a", "1.0.0", "a"),
            server_json("io.pg/a", "2.0.0", "a2"),
            server_json("io.pg/b", "1", "b")
        ]),
    );
    let server = app.spawn().await.unwrap();
    server.wait_ready().await.unwrap();
    let first = server.source("pg").await.unwrap()["sync"]["revision"].clone();
    write(&app, &json!([server_json("io.pg/a", "1.0.0", "a"), server_json("io.pg/b", "1", "b, edited")]));
    server.wait_named_source("pg", "the edit is synced", |s| s["sync"]["revision"] != first).await.unwrap();
    let before = everything(&server).await;
    assert_eq!(before.len(), 3, "the removed version stays as a tombstone");
    let status = server.source("pg").await.unwrap();
    server.stop().await.unwrap();

    std::fs::remove_file(app.path("servers.json")).unwrap();
    let server = app.spawn().await.unwrap();
    let after = everything(&server).await;
    assert_eq!(after, before, "entries and timestamps survive the restart, served before any sync");
    let restarted = server.source("pg").await.unwrap();
    for key in ["revision", "lastSyncTime", "serverCount"] {
        assert_eq!(restarted["sync"][key], status["sync"][key], "{key}");
    }
    server.wait_named_source("pg", "the missing file is reported", |s| s["sync"]["phase"] == "failed").await.unwrap();
    assert_eq!(everything(&server).await, before);
}

#[tokio::test]
async fn replicas_on_one_database_serve_the_same_data() {
    let db = TestDb::create().await.unwrap();
    let app = pg_app(&db);
    write(&app, &json!([server_json("io.pg/a", "1.0.0", "a")]));
    let a = app.spawn().await.unwrap();
    let b = app.spawn().await.unwrap();
    a.wait_ready().await.unwrap();
    b.wait_ready().await.unwrap();
    for round in 0..3 {
        let mut servers = vec![server_json("io.pg/a", "1.0.0", "a")];
        for i in 0..=round {
            servers.push(server_json("io.pg/n", &format!("{i}.0.0"), &format!("round {round}")));
        }
        write(&app, &Value::Array(servers));
        wait_until("both replicas converge", WAIT, || async {
            let (ra, rb) = (everything(&a).await, everything(&b).await);
            Ok((ra == rb && ra.len() == round + 2).then_some(()))
        })
        .await
        .unwrap();
    }
    let (sa, sb) = (a.source("pg").await.unwrap(), b.source("pg").await.unwrap());
    assert_eq!(sa["sync"]["revision"], sb["sync"]["revision"]);
}

/// A PostgreSQL server of this test's own, which the test can stop and start again.
struct OwnServer {
    root: tempfile::TempDir,
}

impl OwnServer {
    fn script(&self, cmd: &str) -> String {
        let out = std::process::Command::new(workspace_root().join("scripts/pg"))
            .arg(cmd)
            .env("PGROOT", self.root.path().join("pg"))
            .output()
            .unwrap();
        assert!(out.status.success(), "scripts/pg {cmd}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = std::process::Command::new(workspace_root().join("scripts/pg"))
            .arg("stop")
            .env("PGROOT", self.root.path().join("pg"))
            .output();
    }
}

#[tokio::test]
async fn a_database_outage_degrades_reads_continue_and_everything_recovers() {
    let own = OwnServer { root: tempfile::tempdir().unwrap() };
    // Let the postgres user (when running as root) reach the directory.
    std::fs::set_permissions(
        own.root.path(),
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755),
    )
    .unwrap();
    let url = own.script("start");
    let port: u16 = url.rsplit(':').next().unwrap().split('/').next().unwrap().parse().unwrap();
    let app = TestApp::new();
    let data = app.path("servers.json");
    write(&app, &json!([server_json("io.pg/a", "1.0.0", "a")]));
    let database =
        json!({"host": "127.0.0.1", "port": port, "user": "postgres", "database": "postgres", "sslMode": "disable"});
    let app = app.source(SourceSpec::file("pg", &data).interval("300ms")).set("database", database);
    let server = app.spawn().await.unwrap();
    server.wait_ready().await.unwrap();
    let before = everything(&server).await;

    own.script("pause");
    write(&app, &json!([server_json("io.pg/a", "1.0.0", "a"), server_json("io.pg/b", "1", "b")]));
    let (status, body) = wait_until("readiness says degraded", WAIT, || async {
        let (status, body) = server.readiness().await?;
        Ok((body["status"] == "degraded").then_some((status, body)))
    })
    .await
    .unwrap();
    assert_eq!(status, 200, "still serving: {body}");
    assert!(body["message"].as_str().unwrap().contains("database"), "{body}");
    assert_eq!(everything(&server).await, before, "reads continue from memory");
    let failed = server.wait_named_source("pg", "the sync fails", |s| s["sync"]["phase"] == "failed").await.unwrap();
    assert!(failed["sync"]["message"].as_str().unwrap().contains("unavailable"), "{failed}");
    assert_eq!(everything(&server).await, before, "a failed sync keeps the data");

    own.script("resume");
    wait_until("recovered", WAIT, || async {
        let (_, body) = server.readiness().await?;
        let rows = everything(&server).await;
        Ok((body["status"] == "ready" && rows.len() == 2).then_some(()))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\nserver output:\n{}", server.stderr()));
    assert_eq!(server.source("pg").await.unwrap()["sync"]["phase"], json!("synced"));
}

#[tokio::test]
async fn a_starting_replica_leaves_a_live_sync_of_another_replica_alone() {
    use thv_ports::EntryStore as _;
    let db = TestDb::create().await.unwrap();
    let app = pg_app(&db);
    write(&app, &json!([server_json("io.pg/a", "1.0.0", "a")]));
    let first = app.spawn().await.unwrap();
    first.wait_ready().await.unwrap();
    first.stop().await.unwrap();

    // Another replica is syncing `pg` right now: it holds the lease and recorded `syncing`.
    let store = thv_adapters::store::postgres::PostgresStore::new(db.pool().await.unwrap());
    let source = thv_domain::SourceName::parse("pg").unwrap();
    let lease = store.try_lease(&source).await.unwrap().expect("the lease is free");
    let mut live = store.load_status(&source).await.unwrap().unwrap();
    live.phase = thv_domain::SyncPhase::Syncing;
    store.write_status(&source, &live).await.unwrap();

    // A replica starting now must not call that sync interrupted, nor write anything else.
    let second = app.spawn().await.unwrap();
    second.wait_ready().await.unwrap();
    assert_eq!(store.load_status(&source).await.unwrap().unwrap(), live);
    // Once the other replica lets go, this one syncs the source itself.
    lease.release().await.unwrap();
    second.wait_named_source("pg", "this replica's own sync", |s| s["sync"]["phase"] == "synced").await.unwrap();
}
