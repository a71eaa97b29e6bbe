//! Publishing into managed registries through the real binary: the official write API and
//! `/v1/entries` (`official`), status changes and edits with the timestamps incremental readers
//! rely on (`status`), restarts and several replicas on one database (`replicas`), and a second
//! deployment mirroring a managed registry through an `api` source (`mirror`).
//!
//! The world: a local `OpenID` provider; a managed source `internal` in registry `corp` (the
//! default, readable by any authenticated caller); writers hold `manageEntries` through the claim
//! `role: writer`.

#![expect(clippy::unwrap_used, reason = "test helpers fail the test on purpose")]

mod mirror;
mod official;
mod replicas;
mod status;

use std::path::PathBuf;

use serde_json::{Value, json};
use thv_testkit::oidc::{Idp, TestKey};
use thv_testkit::{RegistrySpec, Reply, TestApp, TestServer};

/// The reference examples of the official registry.
pub fn examples_dir(which: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference/mcp-registry/examples").join(which)
}

/// Every JSON file of an examples directory, by file name, sorted.
pub fn examples(which: &str) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = std::fs::read_dir(examples_dir(which))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap())
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A minimal valid server.json.
pub fn doc(name: &str, version: &str) -> Value {
    json!({
        "$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
        "name": name,
        "description": format!("{name} for tests"),
        "version": version,
    })
}

/// The identity provider and the tokens of the test world.
pub struct World {
    pub idp: Idp,
    pub key: TestKey,
}

impl World {
    pub async fn start() -> Self {
        let key = TestKey::rsa("k1").unwrap();
        let idp = Idp::start(&[&key]).await.unwrap();
        Self { idp, key }
    }

    /// A token for `subject` with `extra` claims.
    pub fn token(&self, subject: &str, extra: &Value) -> String {
        self.key.sign(&self.idp.claims(subject, extra)).unwrap()
    }

    /// A token holding `manageEntries`.
    pub fn writer(&self) -> String {
        self.token("wanda", &json!({"role": "writer"}))
    }

    /// A valid token without a role.
    pub fn reader(&self) -> String {
        self.token("rita", &json!({}))
    }

    /// `oauth` mode with this provider; `manageEntries` for `role: writer`, `manageSources` for
    /// `role: ops`.
    pub fn app(&self) -> TestApp {
        TestApp::new()
            .managed_source("internal")
            .registry(RegistrySpec::new("corp", &["internal"]).access(json!("authenticated")))
            .default_registry("corp")
            .oauth_provider(
                self.idp.issuer(),
                json!({"manageEntries": [{"role": "writer"}], "manageSources": [{"role": "ops"}]}),
            )
    }
}

/// `POST <path>` of `body` as the writer (or `token`).
pub async fn publish(s: &TestServer, token: Option<&str>, body: &Value) -> Reply {
    s.send("POST", "/v0.1/publish", token, body).await.unwrap()
}

/// `/v0.1/servers/{name}/versions/{version}` with the name encoded.
pub fn version_path(name: &str, version: &str) -> String {
    format!("/v0.1/servers/{}/versions/{version}", name.replace('/', "%2F"))
}

/// The official `_meta` block of a `ServerResponse`.
pub fn official(row: &Value) -> &Value {
    &row["_meta"]["io.modelcontextprotocol.registry/official"]
}
