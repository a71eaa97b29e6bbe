use std::sync::Arc;

use chrono::{Duration, TimeZone};
use serde_json::{Value, json};

use super::*;
use crate::entry::{OfficialMeta, Status};
use crate::filter::Filter;
use crate::names::SourceName;
use crate::registry::merge;
use crate::server_json::ServerJson;

fn t(h: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap() + Duration::hours(h)
}

/// (name, version, title, description, published hour, updated hour, status)
type Spec<'a> = (&'a str, &'a str, Option<&'a str>, &'a str, i64, i64, Status);

fn snapshot(specs: &[Spec]) -> Snapshot {
    let mut entries: Vec<Entry> = specs
        .iter()
        .map(|(name, version, title, desc, p, u, status)| {
            let mut doc = json!({"name": name, "description": desc, "version": version});
            if let Some(title) = title {
                doc["title"] = json!(title);
            }
            let server = ServerJson::from_value(doc).unwrap();
            let mut official = OfficialMeta::new_active(t(*p));
            official.updated_at = t(*u);
            official.status = *status;
            Entry { server: Arc::new(server), official, source: SourceName::parse("s").unwrap() }
        })
        .collect();
    entries.sort_by(key_cmp);
    Snapshot::new(1, merge(&[&entries], &Filter::default()))
}

fn catalogue() -> Snapshot {
    use Status::{Active as A, Deleted as D, Deprecated as Dep};
    snapshot(&[
        ("io.github.acme/Weather", "1.0.0", Some("Weather Now"), "Forecasts", 0, 0, A),
        ("io.github.acme/Weather", "2.0.0", None, "Forecasts v2", 5, 6, A),
        ("io.github.acme/Weather", "3.0.0", None, "Forecasts v3", 7, 9, D),
        ("io.github.acme/db", "2021.03.05", None, "PostgreSQL access", 1, 1, A),
        ("io.github.acme/db", "2021.04.01", None, "PostgreSQL access", 3, 3, Dep),
        ("com.example/files", "0.1.0", None, "File system", 2, 8, A),
        ("com.example/old", "1.0.0", None, "Gone", 2, 10, D),
    ])
}

fn ids(rows: &[&Entry]) -> Vec<String> {
    rows.iter().map(|r| format!("{}@{}", name_of(r), version_of(r))).collect()
}

fn list(s: &Snapshot, q: ListQuery) -> Vec<String> {
    ids(&s.list(&ListQuery { limit: 100, ..q }).rows)
}

#[test]
fn list_queries_follow_the_official_semantics() {
    let s = catalogue();
    let cases: Vec<(ListQuery, Vec<&str>)> = vec![
        (
            ListQuery::default(),
            vec![
                "com.example/files@0.1.0",
                "io.github.acme/Weather@1.0.0",
                "io.github.acme/Weather@2.0.0",
                "io.github.acme/db@2021.03.05",
                "io.github.acme/db@2021.04.01",
            ],
        ),
        (
            ListQuery { include_deleted: true, ..Default::default() },
            vec![
                "com.example/files@0.1.0",
                "com.example/old@1.0.0",
                "io.github.acme/Weather@1.0.0",
                "io.github.acme/Weather@2.0.0",
                "io.github.acme/Weather@3.0.0",
                "io.github.acme/db@2021.03.05",
                "io.github.acme/db@2021.04.01",
            ],
        ),
        (
            ListQuery { version: Some(VersionSelector::Latest), ..Default::default() },
            vec!["com.example/files@0.1.0", "io.github.acme/Weather@2.0.0", "io.github.acme/db@2021.04.01"],
        ),
        (
            ListQuery { version: Some(VersionSelector::Latest), include_deleted: true, ..Default::default() },
            vec![
                "com.example/files@0.1.0",
                "com.example/old@1.0.0",
                "io.github.acme/Weather@2.0.0",
                "io.github.acme/db@2021.04.01",
            ],
        ),
        (
            ListQuery { version: Some(VersionSelector::Exact("1.0.0".into())), ..Default::default() },
            vec!["io.github.acme/Weather@1.0.0"],
        ),
        (
            ListQuery { search: Some("WEATHER".into()), ..Default::default() },
            vec!["io.github.acme/Weather@1.0.0", "io.github.acme/Weather@2.0.0"],
        ),
        (ListQuery { search: Some("weather now".into()), ..Default::default() }, vec!["io.github.acme/Weather@1.0.0"]),
        (
            ListQuery { search: Some("postgresql".into()), ..Default::default() },
            vec!["io.github.acme/db@2021.03.05", "io.github.acme/db@2021.04.01"],
        ),
        (ListQuery { search: Some("%".into()), ..Default::default() }, vec![]),
        (
            ListQuery { updated_since: Some(t(6)), ..Default::default() },
            vec!["com.example/files@0.1.0", "com.example/old@1.0.0", "io.github.acme/Weather@3.0.0"],
        ),
        (
            ListQuery { updated_since: Some(t(8)), ..Default::default() },
            vec!["com.example/old@1.0.0", "io.github.acme/Weather@3.0.0"],
        ),
        (
            ListQuery {
                search: Some("example".into()),
                version: Some(VersionSelector::Latest),
                updated_since: Some(t(0)),
                ..Default::default()
            },
            vec!["com.example/files@0.1.0", "com.example/old@1.0.0"],
        ),
    ];
    for (q, want) in cases {
        assert_eq!(list(&s, q.clone()), want, "{q:?}");
    }
}

#[test]
fn pagination_visits_every_row_once_with_a_cursor_only_when_more_follow() {
    let s = catalogue();
    for limit in 1..=6 {
        for version in [None, Some(VersionSelector::Latest)] {
            let mut seen = Vec::new();
            let mut after = None;
            loop {
                let q = ListQuery {
                    limit,
                    after: after.clone(),
                    version: version.clone(),
                    include_deleted: true,
                    ..Default::default()
                };
                let page = s.list(&q);
                assert!(page.rows.len() <= limit);
                seen.extend(ids(&page.rows));
                match page.next_cursor {
                    Some(c) => after = Some(decode_cursor(&c).unwrap()),
                    None => break,
                }
            }
            let all = list(&s, ListQuery { version: version.clone(), include_deleted: true, ..Default::default() });
            assert_eq!(seen, all, "limit {limit} {version:?}");
        }
    }
    let last = s.list(&ListQuery { limit: 7, include_deleted: true, ..Default::default() });
    assert_eq!((last.rows.len(), last.next_cursor), (7, None));
}

#[test]
fn keyset_cursor_skips_rows_behind_and_shows_rows_ahead() {
    let s = catalogue();
    let q =
        ListQuery { limit: 100, after: Some(("io.github.acme/Weather".into(), "1.5".into())), ..Default::default() };
    assert_eq!(
        ids(&s.list(&q).rows),
        vec!["io.github.acme/Weather@2.0.0", "io.github.acme/db@2021.03.05", "io.github.acme/db@2021.04.01"]
    );
}

#[test]
fn cursors_are_opaque_url_safe_and_garbage_is_rejected() {
    let c = encode_cursor("io.github.a/b", "1.0.0+build");
    assert!(c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_eq!(decode_cursor(&c).unwrap(), ("io.github.a/b".into(), "1.0.0+build".into()));
    assert_eq!(decode_cursor("io.github.a/b:1.0.0").unwrap(), ("io.github.a/b".into(), "1.0.0".into()));
    for bad in ["", "!!!", "Zm9v", "aW8uZ2l0aHViLmEvYg", "a/b", ":1", "%%%", "\u{0}"] {
        assert_eq!(decode_cursor(bad), Err(CursorError), "{bad:?}");
    }
}

#[test]
fn versions_are_newest_published_first_and_hide_deleted() {
    let s = catalogue();
    assert_eq!(
        ids(&s.versions("io.github.acme/Weather", false).unwrap()),
        vec!["io.github.acme/Weather@2.0.0", "io.github.acme/Weather@1.0.0"]
    );
    assert_eq!(ids(&s.versions("io.github.acme/Weather", true).unwrap())[0], "io.github.acme/Weather@3.0.0");
    assert!(s.versions("com.example/old", false).is_none());
    assert!(s.versions("com.example/old", true).is_some());
    assert!(s.versions("io.github.acme/weather", false).is_none(), "names are case-sensitive");
    assert!(s.versions("nope/nope", true).is_none());
}

#[test]
fn version_lookup_handles_latest_exact_and_deleted() {
    let s = catalogue();
    let v = |name: &str, sel: VersionSelector, del: bool| s.version(name, &sel, del).map(|r| version_of(r).to_owned());
    assert_eq!(v("io.github.acme/Weather", VersionSelector::Latest, false).as_deref(), Some("2.0.0"));
    assert_eq!(v("io.github.acme/Weather", VersionSelector::Exact("1.0.0".into()), false).as_deref(), Some("1.0.0"));
    assert_eq!(v("io.github.acme/Weather", VersionSelector::Exact("3.0.0".into()), false), None);
    assert_eq!(v("io.github.acme/Weather", VersionSelector::Exact("3.0.0".into()), true).as_deref(), Some("3.0.0"));
    assert_eq!(v("io.github.acme/Weather", VersionSelector::Exact("9".into()), true), None);
    assert_eq!(v("com.example/old", VersionSelector::Latest, false), None);
    assert_eq!(v("com.example/old", VersionSelector::Latest, true).as_deref(), Some("1.0.0"));
}

#[test]
fn rendered_list_is_the_official_server_list_shape() {
    let s = catalogue();
    let page = s.list(&ListQuery { limit: 2, ..Default::default() });
    let body: Value = serde_json::from_slice(&render_list(&page.rows, page.next_cursor.as_deref())).unwrap();
    assert_eq!(body["metadata"]["count"], json!(2));
    assert!(body["metadata"]["nextCursor"].is_string());
    assert_eq!(body["servers"][0]["server"]["name"], json!("com.example/files"));
    assert_eq!(body["servers"][0]["_meta"]["io.modelcontextprotocol.registry/official"]["isLatest"], json!(true));
    let empty: Value = serde_json::from_slice(&render_list(&[], None)).unwrap();
    assert_eq!(empty, json!({"servers": [], "metadata": {"count": 0}}));
}

#[test]
fn rendered_lists_are_allocated_once_at_their_exact_size() {
    // Cached pages are weighed by length: a buffer that grew would hold more than it weighs.
    let s = catalogue();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = s.list(&ListQuery { limit: 2, after: cursor.clone(), ..Default::default() });
        let body = render_list(&page.rows, page.next_cursor.as_deref());
        assert_eq!(body.capacity(), body.len(), "page {pages}");
        pages += 1;
        match page.next_cursor {
            Some(c) => cursor = Some(decode_cursor(&c).unwrap()),
            None => break,
        }
    }
    assert!(pages > 1);
    let everything = s.list(&ListQuery { limit: 100, ..Default::default() });
    let body = render_list(&everything.rows, Some("a \"quoted\" cursor"));
    assert_eq!(body.capacity(), body.len());
    let empty = render_list(&[], None);
    assert_eq!(empty.capacity(), empty.len());
}

#[test]
fn rows_render_exactly_the_entry_response() {
    let s = catalogue();
    for row in s.rows() {
        let json = row.render();
        assert_eq!(json.len(), row.json_len());
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["_meta"][crate::entry::OFFICIAL_META], serde_json::to_value(&row.official).unwrap());
        assert_eq!(v["server"], serde_json::from_str::<serde_json::Value>(row.server.json()).unwrap());
    }
}

/// The snapshot of the bundled seed (358 real servers), with a few versions added to some so
/// that paging and `version=latest` meet the index.
fn seed_snapshot() -> Snapshot {
    let text = include_str!("../../../examples/data/seed-358-servers.json");
    let docs: Vec<Value> = serde_json::from_str(text).unwrap();
    let mut entries: Vec<Entry> = Vec::new();
    for (i, doc) in docs.into_iter().enumerate() {
        let mut versions = vec![doc.clone()];
        if i % 5 == 0 {
            let mut newer = doc.clone();
            newer["version"] = json!("9.9.9");
            newer["description"] = json!(format!("{} — newer Ünïcode release", doc["description"].as_str().unwrap()));
            versions.push(newer);
        }
        for doc in versions {
            let server = ServerJson::from_value(doc).unwrap();
            let official = OfficialMeta::new_active(t(i64::try_from(i).unwrap()));
            entries.push(Entry { server: Arc::new(server), official, source: SourceName::parse("s").unwrap() });
        }
    }
    entries.sort_by(key_cmp);
    crate::latest::relatest(&[], &mut entries, t(0));
    Snapshot::new(1, merge(&[&entries], &Filter::default()))
}

/// Every page of a query, `limit` rows at a time, following the cursors.
fn walk(s: &Snapshot, q: &ListQuery, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = s.list(&ListQuery { after: after.clone(), limit, ..q.clone() });
        out.extend(ids(&page.rows));
        match page.next_cursor {
            Some(c) => after = Some(decode_cursor(&c).unwrap()),
            None => return out,
        }
    }
}

#[test]
fn indexed_search_returns_exactly_what_a_substring_scan_returns() {
    let s = seed_snapshot();
    let mut needles: Vec<String> = Vec::new();
    for r in s.rows() {
        let text = search_text_of(r).to_owned();
        needles.extend(text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_owned));
        let chars: Vec<char> = text.chars().collect();
        for (at, len) in [(0, 3), (2, 4), (5, 6), (chars.len() / 2, 5)] {
            if at + len <= chars.len() {
                needles.push(chars[at..at + len].iter().collect());
            }
        }
    }
    needles.extend(
        ["ÜNÏCODE", "ünï", "mcp", "MCP server", "a", "zz", "", "\0", "x\0y", "quasarz", "e\0"].map(str::to_owned),
    );
    needles.sort();
    needles.dedup();
    let mut indexed = 0;
    for needle in &needles {
        let lower = needle.to_lowercase();
        let scan = |latest: bool| -> Vec<String> {
            let rows: Vec<&Entry> = s
                .rows()
                .iter()
                .filter(|r| search_text_of(r).contains(&lower) && (!latest || r.official.is_latest))
                .collect();
            ids(&rows)
        };
        if s.index.candidates(&lower).is_some() {
            indexed += 1;
        }
        let all = ListQuery { search: Some(needle.clone()), ..Default::default() };
        assert_eq!(walk(&s, &all, 100), scan(false), "search {needle:?}");
        assert_eq!(walk(&s, &all, 7), scan(false), "search {needle:?}, pages of 7");
        let latest = ListQuery { version: Some(VersionSelector::Latest), ..all };
        assert_eq!(walk(&s, &latest, 7), scan(true), "search {needle:?}, latest, pages of 7");
    }
    assert!(indexed * 2 > needles.len(), "most needles go through the index: {indexed} of {}", needles.len());
}
