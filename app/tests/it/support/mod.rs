//! What the in-process tests share beyond `thv_testkit`: the smallest server.json they publish.

use serde_json::Value;

/// A server.json with a name, a version and a description (no `$schema`).
pub fn server(name: &str, version: &str, description: &str) -> Value {
    serde_json::json!({"name": name, "description": description, "version": version})
}
