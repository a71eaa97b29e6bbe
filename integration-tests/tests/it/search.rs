//! Indexed search returns exactly what a substring scan returns, on the benchmark's generated
//! catalogue (`bench/generate.py`): common words, rare ones, parts of words, names, nothing.

#![expect(clippy::unwrap_used, reason = "test set-up fails the test on purpose")]

use std::path::Path;

use serde_json::Value;
use thv_testkit::{RegistrySpec, SourceSpec, TestApp, workspace_root};

/// What substring search over name, title and description must return, in (name, version) order.
fn expected(catalogue: &[Value], needle: &str, latest: Option<&[(String, String)]>) -> Vec<(String, String)> {
    let needle = needle.to_lowercase();
    let mut rows: Vec<(String, String)> = catalogue
        .iter()
        .filter(|d| {
            let text = format!(
                "{}\0{}\0{}",
                d["name"].as_str().unwrap(),
                d["title"].as_str().unwrap_or_default(),
                d["description"].as_str().unwrap()
            );
            text.to_lowercase().contains(&needle)
        })
        .map(|d| (d["name"].as_str().unwrap().to_owned(), d["version"].as_str().unwrap().to_owned()))
        .filter(|row| latest.is_none_or(|l| l.contains(row)))
        .collect();
    rows.sort();
    rows
}

fn ids(rows: &[Value]) -> Vec<(String, String)> {
    rows.iter()
        .map(|r| {
            (r["server"]["name"].as_str().unwrap().to_owned(), r["server"]["version"].as_str().unwrap().to_owned())
        })
        .collect()
}

#[tokio::test]
async fn indexed_search_returns_what_substring_search_returns_on_the_bench_catalogue() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("catalogue.json");
    let out = std::process::Command::new("python3")
        .arg(workspace_root().join("bench/generate.py"))
        .args(["--servers", "400", "--versions", "2", "--out"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "bench/generate.py: {}", String::from_utf8_lossy(&out.stderr));
    let catalogue: Vec<Value> = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(catalogue.len(), 800);

    let srv = TestApp::new()
        .source(SourceSpec::file("bench", Path::new(&file)).format("upstream"))
        .registry(RegistrySpec::new("bench", &["bench"]).public())
        .spawn()
        .await
        .unwrap();
    srv.wait_ready().await.unwrap();
    let latest = ids(&srv.list_all("/v0.1/servers", &[("version", "latest")], 100).await.unwrap());

    let mut needles = vec![
        "server",
        "quasar",
        "QUASAR",
        "kubernetes",
        "terraform",
        "postgres",
        "weather",
        "fast",
        "mcp",
        "io.github",
        "r1",
        "-r2/",
        "/",
        "sea",
        "ab",
        "z",
        "nothing-like-this",
        "ünïcode",
        "database search",
    ];
    // Words of a few descriptions, as they come (common and rare ones).
    let words: Vec<String> = catalogue
        .iter()
        .step_by(131)
        .flat_map(|d| d["description"].as_str().unwrap().split(' ').take(4).map(str::to_owned).collect::<Vec<_>>())
        .filter(|w| w.len() >= 3)
        .collect();
    let fixed = needles.len();
    needles.extend(words.iter().map(String::as_str));
    for (n, needle) in needles.into_iter().enumerate() {
        // Small pages and `version=latest` for the fixed needles; one walk for the others.
        let walks: &[(Option<&str>, usize)] =
            if n < fixed { &[(None, 100), (None, 9), (Some("latest"), 30)] } else { &[(None, 100)] };
        for &(version, limit) in walks {
            let mut params = vec![("search", needle)];
            if let Some(v) = version {
                params.push(("version", v));
            }
            let got = ids(&srv.list_all("/v0.1/servers", &params, limit).await.unwrap());
            let want = expected(&catalogue, needle, version.map(|_| latest.as_slice()));
            assert_eq!(got, want, "search {needle:?} version {version:?} limit {limit}");
        }
    }
}
