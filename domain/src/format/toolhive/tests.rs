//! The ToolHive conversion on the bundled native and upstream samples and on hand-made entries.

use super::*;

const NATIVE: &str = include_str!("../../../tests/data/toolhive-registry.json");
const UPSTREAM: &str = include_str!("../../../tests/data/upstream-registry.json");

/// The converted document, through `ServerJson`'s own serialisation.
fn doc_of(server: &ServerJson) -> Value {
    serde_json::to_value(server).unwrap()
}

fn extension_of(server: &ServerJson, key: &str) -> Value {
    doc_of(server)["_meta"][PUBLISHER_PROVIDED][NAMESPACE][key].clone()
}

fn convert_one(kind: Kind, key: &str, entry: &Value) -> ServerJson {
    let doc = convert(json!({ kind.section(): { key: entry } })).unwrap();
    assert_eq!(doc.skipped, Vec::new());
    assert_eq!(doc.servers.len(), 1);
    (*doc.servers.into_iter().next().unwrap().server).clone()
}

#[test]
fn reference_registry_converts_exactly_to_the_upstream_one() {
    let native: Value = serde_json::from_str(NATIVE).unwrap();
    let upstream: Value = serde_json::from_str(UPSTREAM).unwrap();
    let expected = upstream["data"]["servers"].as_array().unwrap();

    let doc = convert(native).unwrap();

    assert_eq!(doc.skipped, Vec::new());
    assert_eq!(doc.servers.len(), expected.len());
    for (parsed, want) in doc.servers.iter().zip(expected) {
        let got = doc_of(&parsed.server);
        assert_eq!(&got, want, "{}", parsed.server.name());
        // Same content and same key order, at every level.
        assert_eq!(
            serde_json::to_string(&parsed.server).unwrap(),
            serde_json::to_string(want).unwrap(),
            "{}",
            parsed.server.name()
        );
        assert!(parsed.official.is_none());
    }
}

#[test]
fn remote_servers_become_remotes_with_extension_keyed_by_url() {
    let url = "https://mcp.example.com/mcp";
    let server = convert_one(
        Kind::Remote,
        "example-remote",
        &json!({
            "description": "An example remote server",
            "tier": "Community",
            "status": "Active",
            "transport": "streamable-http",
            "url": url,
            "tools": ["search"],
            "tags": ["search", "remote"],
            "repository_url": "https://github.com/example/remote",
            "headers": [
                {"name": "X-API-Key", "description": "API key", "required": true, "secret": true},
                {"name": "X-Region", "description": "Region", "required": false, "default": "eu", "choices": ["eu", "us"]}
            ],
            "oauth_config": {"issuer": "https://auth.example.com", "scopes": ["read"]},
            "env_vars": [{"name": "TOKEN", "description": "Token", "required": false}],
            "custom_metadata": {},
            "proxy_port": 8080
        }),
    );

    assert_eq!(server.name().as_str(), "io.github.stacklok/example-remote");
    assert_eq!(server.title().as_deref(), Some("example-remote"));
    let doc = doc_of(&server);
    assert!(doc.get("packages").is_none());
    assert_eq!(
        doc["remotes"],
        json!([{
            "type": "streamable-http",
            "url": url,
            "headers": [
                {"description": "API key", "isRequired": true, "isSecret": true, "name": "X-API-Key"},
                {"description": "Region", "default": "eu", "choices": ["eu", "us"], "name": "X-Region"}
            ]
        }])
    );
    assert_eq!(
        extension_of(&server, url),
        json!({
            "env_vars": [{"name": "TOKEN", "description": "Token", "required": false}],
            "oauth_config": {"issuer": "https://auth.example.com", "scopes": ["read"]},
            "status": "Active",
            "tags": ["search", "remote"],
            "tier": "Community",
            "tools": ["search"]
        })
    );
    assert_eq!(server.tags().into_iter().collect::<Vec<_>>(), vec!["remote", "search"]);
}

#[test]
fn bad_entries_are_skipped_with_their_location() {
    let doc = convert(json!({
        "servers": {
            "good": {"description": "Good", "image": "ghcr.io/x/good:1"},
            "no-description": {"image": "ghcr.io/x/bad:1"},
            "no-image": {"description": "No image"},
            "bad-env": {"description": "d", "image": "x:1", "env_vars": [{"description": "no name"}]},
            "not-an-object": 42
        },
        "remote_servers": {
            "no-url": {"description": "d", "transport": "sse"},
            "remote": {"description": "d", "transport": "sse", "url": "https://r.example.com/sse"}
        }
    }))
    .unwrap();

    let names: Vec<&str> = doc.servers.iter().map(|s| s.server.name().as_str()).collect();
    assert_eq!(names, ["io.github.stacklok/good", "io.github.stacklok/remote"]);
    let skipped: Vec<(&str, &str)> = doc.skipped.iter().map(|s| (s.location.as_str(), s.reason.as_str())).collect();
    assert_eq!(
        skipped,
        [
            ("servers.no-description", "server.json is missing the required string field `description`"),
            ("servers.no-image", "container server has no `image`"),
            ("servers.bad-env", "`env_vars[0]` has no `name`"),
            ("servers.not-an-object", "server entry must be a JSON object"),
            ("remote_servers.no-url", "remote server has no `url`"),
        ]
    );
}

#[test]
fn a_section_that_is_not_a_map_is_skipped() {
    let doc = convert(json!({"servers": {}, "remote_servers": [1]})).unwrap();
    assert!(doc.servers.is_empty());
    assert_eq!(doc.skipped[0].location, "remote_servers");
}

#[test]
fn documents_without_either_map_are_the_wrong_format() {
    for value in
        [json!({"version": "1.0.0"}), json!({"servers": [], "remote_servers": null}), json!([]), json!("servers")]
    {
        assert!(
            matches!(convert(value.clone()), Err(FormatError::WrongFormat { expected: "toolhive", .. })),
            "{value}"
        );
    }
}

#[test]
fn names_get_the_stacklok_prefix_unless_they_have_a_slash() {
    let entry = json!({"description": "d", "image": "x:1"});
    let short = convert_one(Kind::Container, "fetch", &entry);
    assert_eq!(short.name().as_str(), "io.github.stacklok/fetch");

    let full = convert_one(Kind::Container, "io.github.acme/fetch", &entry);
    assert_eq!(full.name().as_str(), "io.github.acme/fetch");
    assert_eq!(full.title().as_deref(), Some("io.github.acme/fetch"));

    let named = json!({"name": "com.example/tool", "title": "Tool", "description": "d", "image": "x:1"});
    let named = convert_one(Kind::Container, "tool", &named);
    assert_eq!(named.name().as_str(), "com.example/tool");
    assert_eq!(named.title().as_deref(), Some("Tool"));

    let renamed = json!({"name": "other", "description": "d", "image": "x:1"});
    let renamed = convert_one(Kind::Container, "tool", &renamed);
    assert_eq!(renamed.name().as_str(), "io.github.stacklok/other");
}

#[test]
fn container_defaults_and_http_transports() {
    let stdio = convert_one(Kind::Container, "a", &json!({"description": "d", "image": "x:1"}));
    let doc = doc_of(&stdio);
    assert_eq!(doc["packages"], json!([{"registryType": "oci", "identifier": "x:1", "transport": {"type": "stdio"}}]));
    assert!(doc.get("repository").is_none());
    assert_eq!(extension_of(&stdio, "x:1"), json!({"status": "active"}));

    let sse = convert_one(Kind::Container, "b", &json!({"description": "d", "image": "x:1", "transport": "sse"}));
    assert_eq!(doc_of(&sse)["packages"][0]["transport"], json!({"type": "sse", "url": "http://localhost"}));

    let http = json!({"description": "d", "image": "x:1", "transport": "streamable-http", "target_port": 9090});
    let http = convert_one(Kind::Container, "c", &http);
    assert_eq!(
        doc_of(&http)["packages"][0]["transport"],
        json!({"type": "streamable-http", "url": "http://localhost:9090"})
    );
}

#[test]
fn container_extension_keeps_toolhive_fields_only() {
    let entry = json!({
        "description": "d",
        "image": "x:1",
        "target_port": 8080,
        "env_vars": [{"name": "A", "description": "a", "required": true}],
        "overview": "# Overview",
        "tool_definitions": [{"name": "t"}],
        "custom_metadata": {"team": "x"},
        "docker_tags": ["1", "latest"],
        "proxy_port": 9000,
        "args": [],
        "tier": ""
    });
    let server = convert_one(Kind::Container, "a", &entry);
    assert_eq!(
        extension_of(&server, "x:1"),
        json!({
            "custom_metadata": {"team": "x"},
            "docker_tags": ["1", "latest"],
            "overview": "# Overview",
            "proxy_port": 9000,
            "status": "active",
            "tool_definitions": [{"name": "t"}]
        })
    );
}

#[test]
fn extension_field_lists_are_sorted() {
    for fields in [CONTAINER_EXTENSIONS, REMOTE_EXTENSIONS] {
        assert!(fields.is_sorted());
    }
}
