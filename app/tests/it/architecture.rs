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
