//! Registry semantics over HTTP: latest-version selection, filters, ordering, deletions.

// Test helpers panic on failure, like the tests calling them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, FixedOffset};
use serde_json::{Value, json};
use thv_testkit::{Fixture, SERVER_SCHEMA, TestServer, WAIT, enc, name_version, official, server_json, wait_until};

const ALPHA: &str = "io.github.Acme/Alpha-Tool";
const CALENDAR: &str = "com.example/calendar";
const ZETA: &str = "io.github.acme/zeta";
const NIGHTLY: &str = "org.example/nightly";
const RC: &str = "org.example/rc-server";
const BUILD: &str = "org.example/build";

type Key = (String, String);

fn entry(name: &str, version: &str) -> Value {
    let (title, description) = match name {
        ALPHA => ("Alpha Tool", "Does ALPHA things"),
        CALENDAR => ("Calendar", "Keeps dates for the Quokka colony"),
        ZETA => ("Zebra Crossing", "Counts stripes_and_more"),
        NIGHTLY => ("Nightly", "Built every night"),
        BUILD => ("Build Metadata", "Versions with build metadata"),
        _ => ("Release Candidates", "Ships RCs"),
    };
    json!({"$schema": SERVER_SCHEMA, "name": name, "title": title, "description": description, "version": version})
}

fn catalogue(versions: &[(&str, &str)]) -> Value {
    Value::Array(versions.iter().map(|(n, v)| entry(n, v)).collect())
}

const SYNC1: &[(&str, &str)] = &[
    (ALPHA, "1.0.0"),
    (ALPHA, "1.10.0"),
    (ALPHA, "2.0.0-beta.1"),
    (ALPHA, "snapshot"),
    (CALENDAR, "2021.04.01"),
    (ZETA, "1.9.0"),
    (ZETA, "1.10.0"),
    (NIGHTLY, "nightly-1"),
    (RC, "2.0.0-rc.1"),
    (RC, "2.0.0"),
    (RC, "v1.9.9"),
    (RC, "1.0"),
    (BUILD, "0.9.0"),
    (BUILD, "1.0.0+build.5"),
];
/// Added by the second sync (published later).
const ADDED: &[(&str, &str)] = &[(ALPHA, "1.5.0"), (ALPHA, "nightly"), (CALENDAR, "2021.03.05")];
/// Removed by the third sync (the latest of `CALENDAR`, and every version of `NIGHTLY`).
const REMOVED: &[(&str, &str)] = &[(ALPHA, "1.0.0"), (CALENDAR, "2021.03.05"), (NIGHTLY, "nightly-1")];

fn key(name: &str, version: &str) -> Key {
    (name.to_owned(), version.to_owned())
}

fn ts(v: &Value) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a timestamp: {v}")))
        .unwrap_or_else(|e| panic!("not RFC 3339: {v}: {e}"))
}

async fn all_rows(srv: &TestServer, params: &[(&str, &str)]) -> Vec<Value> {
    srv.list_all("/v0.1/servers", params, 4).await.unwrap()
}

fn by_key(rows: &[Value]) -> BTreeMap<Key, Value> {
    let map: BTreeMap<Key, Value> = rows.iter().map(|r| (name_version(r), r.clone())).collect();
    assert_eq!(map.len(), rows.len(), "duplicate (name, version) rows");
    map
}

fn keys(rows: &[Value]) -> Vec<Key> {
    rows.iter().map(name_version).collect()
}

fn key_set(pairs: &[(&str, &str)]) -> BTreeSet<Key> {
    pairs.iter().map(|(n, v)| key(n, v)).collect()
}

async fn versions(srv: &TestServer, name: &str) -> Vec<Value> {
    let body = srv.get_json(&format!("/v0.1/servers/{}/versions", enc(name))).await.unwrap();
    body["servers"].as_array().unwrap().clone()
}

async fn latest_version(srv: &TestServer, name: &str) -> String {
    let body = srv.get_json(&format!("/v0.1/servers/{}/versions/latest", enc(name))).await.unwrap();
    assert_eq!(official(&body)["isLatest"], true, "{body}");
    name_version(&body).1
}

/// Searches and returns the set of names of the matching rows.
async fn search(srv: &TestServer, term: &str) -> BTreeSet<String> {
    all_rows(srv, &[("search", term)]).await.iter().map(|r| name_version(r).0).collect()
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// The versions endpoint lists newest `publishedAt` first.
fn assert_newest_first(rows: &[Value], what: &str) {
    for pair in rows.windows(2) {
        let (a, b) = (ts(&official(&pair[0])["publishedAt"]), ts(&official(&pair[1])["publishedAt"]));
        assert!(
            a >= b,
            "{what}: {:?} published {a} listed before {:?} published {b}",
            name_version(&pair[0]),
            name_version(&pair[1])
        );
    }
}

/// Exactly one row flagged latest per server, and it is `expected[name]`.
fn assert_latest(rows: &[Value], expected: &[(&str, &str)]) {
    let flagged: BTreeSet<Key> = rows.iter().filter(|r| official(r)["isLatest"] == true).map(name_version).collect();
    assert_eq!(flagged, key_set(expected), "rows flagged isLatest");
}

async fn wait_versions(srv: &TestServer, name: &str, count: usize) {
    wait_until(&format!("{name} to have {count} versions"), WAIT, || async {
        let body = srv.get_json(&format!("/v0.1/servers/{}/versions", enc(name))).await?;
        Ok((body["servers"].as_array().map(Vec::len) == Some(count)).then_some(()))
    })
    .await
    .unwrap_or_else(|e| panic!("{e:#}\nserver output:\n{}", srv.stderr()));
}

#[tokio::test]
#[allow(clippy::too_many_lines)]
async fn latest_filters_ordering_and_deletions() {
    let fixture = Fixture::new("test", "200ms", &catalogue(SYNC1)).unwrap();
    let srv = fixture.start().await.unwrap();
    srv.wait_ready().await.unwrap();

    // --- First sync.
    let rows1 = all_rows(&srv, &[]).await;
    assert_eq!(keys(&rows1).into_iter().collect::<BTreeSet<_>>(), key_set(SYNC1));
    assert_latest(
        &rows1,
        &[
            (ALPHA, "2.0.0-beta.1"),
            (CALENDAR, "2021.04.01"),
            (ZETA, "1.10.0"),
            (NIGHTLY, "nightly-1"),
            (RC, "2.0.0"),
            (BUILD, "1.0.0+build.5"),
        ],
    );
    for row in &rows1 {
        assert_eq!(row["server"], entry(&name_version(row).0, &name_version(row).1), "served as written");
        assert_eq!(official(row)["status"], "active");
    }
    assert_eq!(latest_version(&srv, CALENDAR).await, "2021.04.01");

    // --- Second sync: versions published later.
    let sync2: Vec<(&str, &str)> = SYNC1.iter().chain(ADDED).copied().collect();
    fixture.write_data(&catalogue(&sync2)).unwrap();
    wait_versions(&srv, CALENDAR, 2).await;
    wait_versions(&srv, ALPHA, 6).await;

    let rows2 = all_rows(&srv, &[]).await;
    assert_eq!(keys(&rows2).into_iter().collect::<BTreeSet<_>>(), key_set(&sync2));
    // Ordered by (name, version) byte-wise, across pages.
    let mut sorted = keys(&rows2);
    sorted.sort();
    assert_eq!(keys(&rows2), sorted, "rows are not ordered by (name, version) byte-wise");
    // Semver beats non-semver (even newer ones); semver precedence; non-semver: newest publishedAt.
    let latest2 = [
        (ALPHA, "2.0.0-beta.1"),
        (CALENDAR, "2021.03.05"),
        (ZETA, "1.10.0"),
        (NIGHTLY, "nightly-1"),
        (RC, "2.0.0"),
        (BUILD, "1.0.0+build.5"),
    ];
    assert_latest(&rows2, &latest2);
    for (name, version) in latest2 {
        assert_eq!(latest_version(&srv, name).await, version, "{name} versions/latest");
    }
    let detail = srv.get_json(&format!("/v0.1/servers/{}/versions/2021.04.01", enc(CALENDAR))).await.unwrap();
    assert_eq!(official(&detail)["isLatest"], false, "{detail}");
    let detail = srv.get_json(&format!("/v0.1/servers/{}/versions/v1.9.9", enc(RC))).await.unwrap();
    assert_eq!(detail["server"], entry(RC, "v1.9.9"));

    // version=latest: one row per server; version=X: exact match.
    let latest_rows = all_rows(&srv, &[("version", "latest")]).await;
    assert_eq!(keys(&latest_rows).into_iter().collect::<BTreeSet<_>>(), key_set(&latest2));
    assert_eq!(keys(&all_rows(&srv, &[("version", "1.10.0")]).await), vec![key(ALPHA, "1.10.0"), key(ZETA, "1.10.0")]);
    assert_eq!(keys(&all_rows(&srv, &[("version", "2.0.0")]).await), vec![key(RC, "2.0.0")]);
    assert_eq!(keys(&all_rows(&srv, &[("version", "1.0.0+build.5")]).await), vec![key(BUILD, "1.0.0+build.5")]);
    assert_eq!(
        keys(&all_rows(&srv, &[("version", "1.0.0")]).await),
        vec![key(ALPHA, "1.0.0")],
        "build metadata is part of the version string"
    );
    // `+` travels as `%2B` in a path.
    let detail = srv.get_json(&format!("/v0.1/servers/{}/versions/1.0.0%2Bbuild.5", enc(BUILD))).await.unwrap();
    assert_eq!(detail["server"], entry(BUILD, "1.0.0+build.5"));
    assert_eq!(official(&detail)["isLatest"], true);
    // Names are case-sensitive.
    for tail in ["versions", "versions/latest"] {
        let path = format!("/v0.1/servers/{}/{tail}", enc(&ALPHA.to_lowercase()));
        let reply = srv.get(&path).await.unwrap();
        assert_eq!(reply.status, 404, "GET {path}: {}", reply.body);
    }
    assert_eq!(keys(&all_rows(&srv, &[("version", "v1.9.9")]).await), vec![key(RC, "v1.9.9")]);
    assert!(all_rows(&srv, &[("version", "1.9")]).await.is_empty(), "version= is not an exact match");

    // The legacy API lists latest versions by default; its detail is the latest version.
    let legacy = srv.get_json("/api/v0/servers?limit=100").await.unwrap();
    assert_eq!(keys(legacy["servers"].as_array().unwrap()), keys(&latest_rows), "/api/v0/servers");
    for (name, version) in latest2 {
        let detail = srv.get_json(&format!("/api/v0/servers/{}", enc(name))).await.unwrap();
        assert_eq!(detail["server"], entry(name, version), "/api/v0/servers/{name}");
    }
    // The per-registry routes serve the same.
    for query in ["?limit=100", "?version=latest", "?search=acme&limit=2", "?version=1.10.0"] {
        let root = srv.get_json(&format!("/v0.1/servers{query}")).await.unwrap();
        for prefix in ["/v0", "/registry/test/v0.1", "/registry/test/v0"] {
            assert_eq!(
                srv.get_json(&format!("{prefix}/servers{query}")).await.unwrap(),
                root,
                "{prefix}/servers{query}"
            );
        }
    }
    let root = srv.get_json(&format!("/v0.1/servers/{}/versions", enc(ALPHA))).await.unwrap();
    for path in [
        format!("/registry/test/v0/servers/{}/versions", enc(ALPHA)),
        format!("/registry/test/v0.1/servers/{ALPHA}/versions"),
        format!("/v0/servers/{ALPHA}/versions"),
    ] {
        assert_eq!(srv.get_json(&path).await.unwrap(), root, "{path}");
    }

    // search: case-insensitive substring of name (namespace included), title or description.
    assert_eq!(search(&srv, "alpha").await, names(&[ALPHA]));
    assert_eq!(search(&srv, "ALPHA-tool").await, names(&[ALPHA]));
    assert_eq!(search(&srv, "ACME").await, names(&[ALPHA, ZETA]));
    assert_eq!(search(&srv, "GitHub").await, names(&[ALPHA, ZETA]));
    assert_eq!(search(&srv, "zebra CROSSING").await, names(&[ZETA]), "title");
    assert_eq!(search(&srv, "quokka").await, names(&[CALENDAR]), "description");
    assert_eq!(search(&srv, "_").await, names(&[ZETA]), "`_` is literal");
    assert_eq!(search(&srv, "%").await, names(&[]), "`%` is literal");
    assert_eq!(search(&srv, "no-such-server").await, names(&[]));
    let searched = all_rows(&srv, &[("search", "acme"), ("version", "latest")]).await;
    assert_eq!(keys(&searched), vec![key(ALPHA, "2.0.0-beta.1"), key(ZETA, "1.10.0")], "search + version=latest");

    // Versions: every version, newest publishedAt first; the later sync is newer.
    let by1 = by_key(&rows1);
    let first_published = rows1.iter().map(|r| ts(&official(r)["publishedAt"])).max().unwrap();
    for row in &rows2 {
        let k = name_version(row);
        let published = ts(&official(row)["publishedAt"]);
        match by1.get(&k) {
            Some(old) => {
                assert_eq!(official(row)["publishedAt"], official(old)["publishedAt"], "{k:?} publishedAt changed");
                if official(row)["isLatest"] == official(old)["isLatest"] {
                    assert_eq!(
                        official(row)["updatedAt"],
                        official(old)["updatedAt"],
                        "{k:?} untouched but updatedAt changed"
                    );
                }
            }
            None => {
                assert!(
                    published > first_published,
                    "{k:?} added later but published {published} <= {first_published}"
                );
            }
        }
    }
    let cal = versions(&srv, CALENDAR).await;
    assert_eq!(keys(&cal), vec![key(CALENDAR, "2021.03.05"), key(CALENDAR, "2021.04.01")], "newest publishedAt first");
    for name in [ALPHA, CALENDAR, ZETA, NIGHTLY, RC, BUILD] {
        let list = versions(&srv, name).await;
        assert_newest_first(&list, name);
        let expected: BTreeSet<Key> = sync2.iter().filter(|(n, _)| *n == name).map(|(n, v)| key(n, v)).collect();
        assert_eq!(keys(&list).into_iter().collect::<BTreeSet<_>>(), expected, "{name} versions");
        let by2 = by_key(&rows2);
        for row in &list {
            assert_eq!(Some(row), by2.get(&name_version(row)), "versions row differs from the list row");
        }
    }
    let alpha = versions(&srv, ALPHA).await;
    let newest_two: BTreeSet<Key> = keys(&alpha[..2]).into_iter().collect();
    assert_eq!(newest_two, key_set(&[(ALPHA, "1.5.0"), (ALPHA, "nightly")]), "the added versions come first");

    // --- Third sync: two versions removed (one of them the latest of its server).
    let before = all_rows(&srv, &[("include_deleted", "true")]).await;
    assert_eq!(keys(&before), keys(&rows2), "nothing is deleted yet");
    let threshold = before.iter().map(|r| official(r)["updatedAt"].clone()).max_by_key(ts).unwrap();
    let threshold = threshold.as_str().unwrap().to_owned();
    let sync3: Vec<(&str, &str)> = sync2.iter().filter(|p| !REMOVED.contains(p)).copied().collect();
    fixture.write_data(&catalogue(&sync3)).unwrap();
    wait_versions(&srv, CALENDAR, 1).await;
    wait_versions(&srv, ALPHA, 5).await;

    let rows3 = all_rows(&srv, &[]).await;
    assert_eq!(keys(&rows3).into_iter().collect::<BTreeSet<_>>(), key_set(&sync3), "deleted rows are hidden");
    let latest3 =
        [(ALPHA, "2.0.0-beta.1"), (CALENDAR, "2021.04.01"), (ZETA, "1.10.0"), (RC, "2.0.0"), (BUILD, "1.0.0+build.5")];
    assert_latest(&rows3, &latest3);
    let latest_rows = all_rows(&srv, &[("version", "latest")]).await;
    assert_eq!(keys(&latest_rows).into_iter().collect::<BTreeSet<_>>(), key_set(&latest3), "version=latest");
    assert_eq!(latest_version(&srv, CALENDAR).await, "2021.04.01", "latest recomputed after deleting the latest");
    assert!(!keys(&versions(&srv, ALPHA).await).contains(&key(ALPHA, "1.0.0")));
    assert_eq!(keys(&versions(&srv, CALENDAR).await), vec![key(CALENDAR, "2021.04.01")]);
    for (name, version) in REMOVED {
        let path = format!("/v0.1/servers/{}/versions/{}", enc(name), enc(version));
        let reply = srv.get(&path).await.unwrap();
        assert_eq!(reply.status, 404, "GET {path} (deleted): {}", reply.body);
        // ...but visible on request.
        let shown = srv.get_json(&format!("{path}?include_deleted=true")).await.unwrap();
        assert_eq!(shown["server"], entry(name, version), "{shown}");
        assert_eq!(official(&shown)["status"], "deleted", "{shown}");
    }
    let cal = srv.get_json(&format!("/v0.1/servers/{}/versions?include_deleted=true", enc(CALENDAR))).await.unwrap();
    assert_eq!(
        keys(cal["servers"].as_array().unwrap()),
        vec![key(CALENDAR, "2021.03.05"), key(CALENDAR, "2021.04.01")],
        "versions?include_deleted=true"
    );
    // A server whose every version is deleted is gone.
    for tail in ["versions", "versions/latest"] {
        let path = format!("/v0.1/servers/{}/{tail}", enc(NIGHTLY));
        let reply = srv.get(&path).await.unwrap();
        assert_eq!(reply.status, 404, "GET {path} (every version deleted): {}", reply.body);
    }
    let reply = srv.get(&format!("/api/v0/servers/{}", enc(NIGHTLY))).await.unwrap();
    assert_eq!(reply.status, 404, "legacy detail of a deleted server: {}", reply.body);
    let with_deleted = all_rows(&srv, &[("include_deleted", "true")]).await;
    assert_eq!(keys(&with_deleted).into_iter().collect::<BTreeSet<_>>(), key_set(&sync2));
    let threshold_ts = ts(&json!(threshold));
    for row in &with_deleted {
        let k = name_version(row);
        let meta = official(row);
        if REMOVED.contains(&(k.0.as_str(), k.1.as_str())) {
            assert_eq!(meta["status"], "deleted", "{row}");
            if k.0 != NIGHTLY {
                assert_eq!(meta["isLatest"], false, "a deleted version is latest while others exist: {row}");
            }
            assert!(ts(&meta["updatedAt"]) > threshold_ts, "{row}");
            assert!(ts(&meta["statusChangedAt"]) > threshold_ts, "{row}");
        } else {
            assert_eq!(meta["status"], "active", "{row}");
        }
    }

    // updated_since: strictly later rows, tombstones included; untouched rows keep updatedAt.
    let since = all_rows(&srv, &[("updated_since", &threshold)]).await;
    let since_keys: BTreeSet<Key> = keys(&since).into_iter().collect();
    assert!(since_keys.is_superset(&key_set(REMOVED)), "updated_since misses the deletions: {since_keys:?}");
    let by_before = by_key(&before);
    for row in &since {
        assert!(ts(&official(row)["updatedAt"]) > threshold_ts, "updated_since={threshold} returned {row}");
    }
    for row in &with_deleted {
        let k = name_version(row);
        if REMOVED.contains(&(k.0.as_str(), k.1.as_str())) {
            continue;
        }
        let old = &by_before[&k];
        assert_eq!(official(row)["publishedAt"], official(old)["publishedAt"], "{k:?} publishedAt changed");
        if official(row)["isLatest"] == official(old)["isLatest"] {
            assert_eq!(official(row)["updatedAt"], official(old)["updatedAt"], "{k:?} untouched but updatedAt changed");
            assert!(!since_keys.contains(&k), "untouched {k:?} returned by updated_since");
        }
    }
    let since_all = all_rows(&srv, &[("updated_since", &threshold), ("include_deleted", "true")]).await;
    assert_eq!(since_all, since, "updated_since includes deleted rows by itself");
}

/// Keyset pagination: a cursor stays valid while the data changes; rows inserted behind it are
/// skipped, rows ahead of it appear, rows deleted ahead of it do not.
#[tokio::test]
async fn pagination_is_keyset() {
    let names: Vec<String> = (b'b'..=b'k').map(|c| format!("io.github.page/{}", char::from(c))).collect();
    let data = |extra: &[&str], skip: &str| -> Value {
        let mut all: Vec<&str> = names.iter().map(String::as_str).chain(extra.iter().copied()).collect();
        all.retain(|n| *n != skip);
        Value::Array(all.iter().map(|n| server_json(n, "1.0.0", "paged")).collect())
    };
    let fixture = Fixture::new("test", "200ms", &data(&[], "")).unwrap();
    let srv = fixture.start().await.unwrap();
    srv.wait_ready().await.unwrap();

    let first = srv.get_json("/v0.1/servers?limit=3").await.unwrap();
    let first_names: Vec<String> = first["servers"].as_array().unwrap().iter().map(|r| name_version(r).0).collect();
    assert_eq!(first_names, names[..3].to_vec());
    let cursor = first["metadata"]["nextCursor"].as_str().expect("a next cursor").to_owned();

    // Insert one row behind the cursor (`a`), one ahead (`z`); delete one ahead (`h`).
    fixture.write_data(&data(&["io.github.page/a", "io.github.page/z"], "io.github.page/h")).unwrap();
    wait_until("the re-read", WAIT, || async {
        let body = srv.get_json("/v0.1/servers?search=page%2Fz").await?;
        Ok((body["metadata"]["count"] == 1).then_some(()))
    })
    .await
    .unwrap_or_else(|e| panic!("{e:#}\nserver output:\n{}", srv.stderr()));

    let mut rest = Vec::new();
    let mut cursor = Some(cursor);
    while let Some(c) = cursor {
        let body = srv.get_json_query("/v0.1/servers", &[("limit", "3"), ("cursor", &c)]).await.unwrap();
        rest.extend(body["servers"].as_array().unwrap().iter().map(|r| name_version(r).0));
        cursor = body["metadata"]["nextCursor"].as_str().map(str::to_owned);
    }
    let expected: Vec<String> = names[3..]
        .iter()
        .filter(|n| n.as_str() != "io.github.page/h")
        .cloned()
        .chain(["io.github.page/z".to_owned()])
        .collect();
    assert_eq!(rest, expected, "the pages after the cursor");

    // An unescaped cursor (as some clients send it) works too.
    let raw = srv.get_json("/v0.1/servers?limit=4").await.unwrap();
    let c = raw["metadata"]["nextCursor"].as_str().unwrap();
    let next = srv.get_json(&format!("/v0.1/servers?limit=4&cursor={c}")).await.unwrap();
    let escaped = srv.get_json_query("/v0.1/servers", &[("limit", "4"), ("cursor", c)]).await.unwrap();
    assert_eq!(next, escaped);
}
