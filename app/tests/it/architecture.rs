//! The crate graph is the architecture: `domain` ← `ports` ← `adapters` ← `app`, and the core
//! crates never depend on I/O frameworks. Checked over `cargo metadata`.

#![expect(clippy::unwrap_used, reason = "test helpers fail the test on purpose")]

use std::collections::BTreeMap;
use std::process::Command;

const FRAMEWORKS: &[&str] = &["tokio", "poem", "poem-openapi", "sqlx", "gix", "reqwest", "moka", "figment", "clap"];

fn dependencies() -> BTreeMap<String, Vec<String>> {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["kind"].is_null()) // normal dependencies only
                .map(|d| d["name"].as_str().unwrap().to_owned())
                .collect();
            (p["name"].as_str().unwrap().to_owned(), deps)
        })
        .collect()
}

#[test]
fn the_dependency_rule_holds() {
    let deps = dependencies();
    let allowed_internal: &[(&str, &[&str])] = &[
        ("thv-domain", &[]),
        ("thv-ports", &["thv-domain"]),
        ("thv-adapters", &["thv-domain", "thv-ports"]),
        ("thv-app", &["thv-domain", "thv-ports", "thv-adapters"]),
    ];
    for (krate, allowed) in allowed_internal {
        let got = deps.get(*krate).unwrap_or_else(|| panic!("{krate} is not in the workspace"));
        for dep in got.iter().filter(|d| d.starts_with("thv-")) {
            assert!(allowed.contains(&dep.as_str()), "{krate} must not depend on {dep}");
        }
    }
    for krate in ["thv-domain", "thv-ports"] {
        for dep in &deps[krate] {
            assert!(
                !FRAMEWORKS.contains(&dep.as_str()),
                "{krate} must stay free of I/O frameworks, but depends on {dep}"
            );
        }
    }
}

/// The rule above reads direct dependencies only; a framework can also come in through a
/// library's features (`jsonschema`'s `resolve-http` pulls `reqwest`). `cargo tree` resolves
/// each core crate's own build for this platform, and nothing in it may be a framework.
#[test]
fn the_core_crates_pull_no_io_framework_transitively() {
    for krate in ["thv-domain", "thv-ports"] {
        let out = Command::new(env!("CARGO"))
            .args(["tree", "--offline", "-e", "normal", "--prefix", "none", "--format", "{p}", "-p", krate])
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .output()
            .unwrap();
        assert!(out.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&out.stderr));
        let tree = String::from_utf8(out.stdout).unwrap();
        let crates: std::collections::BTreeSet<&str> =
            tree.lines().filter_map(|line| line.split_whitespace().next()).collect();
        assert!(crates.contains(krate) && crates.len() > 5, "{krate}'s tree: {crates:?}");
        let frameworks: Vec<&&str> = crates.iter().filter(|c| FRAMEWORKS.contains(c)).collect();
        assert!(frameworks.is_empty(), "{krate} must stay free of I/O frameworks, but its tree has {frameworks:?}");
    }
}

/// The database driver is the postgres adapter's business: `app` fills plain settings and calls
/// adapter functions, so it names no sqlx type and does not depend on sqlx.
#[test]
fn the_app_does_not_depend_on_the_database_driver() {
    let deps = dependencies();
    let app = deps.get("thv-app").unwrap();
    assert!(app.iter().any(|d| d == "thv-adapters"), "thv-app's dependencies: {app:?}");
    assert!(!app.iter().any(|d| d == "sqlx"), "thv-app must not depend on sqlx directly: {app:?}");
}

/// The application core (`app/src/catalog/`) reaches nothing above it: not the HTTP layer,
/// telemetry, configuration parsing, the CLI or the composition root, and no adapter or
/// framework. It speaks `domain` and `ports` (plus tokio, tracing and small utility crates) and
/// reports through `CatalogEvents`.
#[test]
fn the_core_reaches_nothing_above_it() {
    const ABOVE: &[&str] = &[
        "crate::http",
        "crate::telemetry",
        "crate::config",
        "crate::cli",
        "crate::serve",
        "crate::admin",
        "crate::db",
        "super::super::",
    ];
    const FRAMEWORKS: &[&str] = &[
        "thv_adapters",
        "poem",
        "poem_openapi",
        "sqlx",
        "figment",
        "opentelemetry",
        "tracing_opentelemetry",
        "reqwest",
        "gix",
        "kube",
        "clap",
        "moka",
    ];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/catalog");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 5, "the core's files: {files:?}");
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            let words: Vec<&str> = code.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')).collect();
            let hit = ABOVE.iter().find(|a| code.contains(*a)).copied().or_else(|| {
                FRAMEWORKS.iter().copied().find(|f| words.iter().any(|w| w.starts_with(&format!("{f}::")) || *w == *f))
            });
            if let Some(what) = hit {
                found.push(format!("{}:{}: {what}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "the core reaches up or out:\n{}", found.join("\n"));
}
