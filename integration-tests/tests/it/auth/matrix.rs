//! The tenant isolation matrix: every kind of caller against every registry and source surface.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use thv_testkit::oidc::{Idp, TestKey};
use thv_testkit::{TestServer, enc};

use super::{A_TOOL, B_TOOL, PUBLIC_TOOL, assert_challenge, start};

/// Who may read which registry.
#[derive(Debug, Clone, Copy)]
struct Who {
    name: &'static str,
    reads: &'static [&'static str],
    /// Sources it sees in `/v1`.
    sources: &'static [&'static str],
    /// Sources it may sync (needs manageSources).
    syncs: &'static [&'static str],
    roles: &'static [&'static str],
}

const REGISTRIES: &[(&str, &str)] =
    &[("public", PUBLIC_TOOL), ("team-a", A_TOOL), ("team-b", B_TOOL), ("members", PUBLIC_TOOL), ("nope", A_TOOL)];
const SOURCES: &[&str] = &["pub-src", "a-src", "b-src", "no-src"];

#[tokio::test]
async fn tenant_isolation_matrix() {
    let key = TestKey::ec("k1").unwrap();
    let idp = Idp::start(&[&key]).await.unwrap();
    let env = start(&idp, None, "30s").await;
    let s = &env.server;
    let token = |extra: Value| Some(key.sign(&idp.claims("user", &extra)).unwrap());
    let all_roles: &[&str] = &["superAdmin", "manageSources", "manageRegistries", "manageEntries"];
    let callers: Vec<(Who, Option<String>)> = vec![
        (Who { name: "no token", reads: &["public"], sources: &[], syncs: &[], roles: &[] }, None),
        (
            Who {
                name: "tenant A",
                reads: &["public", "team-a", "members"],
                sources: &["pub-src", "a-src"],
                syncs: &[],
                roles: &[],
            },
            token(json!({"tenant": "a"})),
        ),
        (
            Who {
                name: "tenant B",
                reads: &["public", "team-b", "members"],
                sources: &["pub-src", "b-src"],
                syncs: &[],
                roles: &[],
            },
            token(json!({"tenant": ["x", "b"]})),
        ),
        (
            Who {
                name: "tenant A operator",
                reads: &["public", "team-a", "members"],
                sources: &["pub-src", "a-src"],
                syncs: &["pub-src", "a-src"],
                roles: &["manageSources"],
            },
            token(json!({"tenant": "a", "role": "ops"})),
        ),
        (
            Who {
                name: "admin",
                reads: &["public", "team-a", "team-b", "members"],
                sources: &["pub-src", "a-src", "b-src"],
                syncs: &["pub-src", "a-src", "b-src"],
                roles: all_roles,
            },
            token(json!({"role": "admin"})),
        ),
    ];
    let mut cells = 0;
    for (who, token) in &callers {
        let token = token.as_deref();
        cells += registry_cells(s, who, token).await;
        cells += default_registry_cells(s, who, token).await;
        cells += list_cells(s, who, token).await;
        cells += source_cells(s, who, token).await;
        cells += me_cell(s, who, token).await;
    }
    assert!(cells > 200, "{cells} cells");
}

async fn registry_cells(s: &TestServer, who: &Who, token: Option<&str>) -> usize {
    let anonymous = token.is_none();
    let mut cells = 0;
    // Registry surfaces: the MCP API (both versions), deployed servers, /v1 details.
    for (registry, tool) in REGISTRIES {
        let visible = who.reads.contains(registry);
        let name = enc(tool);
        for path in [
            format!("/registry/{registry}/v0.1/servers"),
            format!("/registry/{registry}/v0/servers?version=latest"),
            format!("/registry/{registry}/v0.1/servers/{name}/versions"),
            format!("/registry/{registry}/v0.1/servers/{name}/versions/latest"),
            format!("/registry/{registry}/v0/servers/{name}/versions/1.0.0"),
            format!("/registry/{registry}/v0.1/x/dev.toolhive/deployed"),
            format!("/v1/registries/{registry}"),
        ] {
            let reply = s.call("GET", &path, token).await.unwrap();
            let v1 = path.starts_with("/v1/");
            let want = match (visible, anonymous) {
                (_, true) if v1 => 401,
                (true, _) if path.contains("/deployed") => 501,
                (true, _) => 200,
                (false, true) => 401,
                (false, false) => 404,
            };
            assert_eq!(reply.status, want, "{}: GET {path}: {}", who.name, reply.body);
            if want == 401 {
                assert_challenge(&reply, &path, None);
            }
            if want == 404 {
                // Indistinguishable from a registry that does not exist.
                let missing = s.call("GET", &path.replace(registry, "nope"), token).await.unwrap();
                assert_eq!(missing.status, 404);
                assert_eq!(reply.body.replace(registry, "nope"), missing.body, "{}: {path}", who.name);
            }
            if want == 200 && path.contains("/servers") {
                assert!(reply.body.contains(tool), "{}: {path}", who.name);
            }
            cells += 1;
        }
    }
    cells
}

async fn default_registry_cells(s: &TestServer, who: &Who, token: Option<&str>) -> usize {
    let anonymous = token.is_none();
    let mut cells = 0;
    // The default registry (team-a) at the root paths.
    for path in [
        "/v0.1/servers".to_owned(),
        "/v0/servers".to_owned(),
        format!("/v0.1/servers/{}/versions", enc(A_TOOL)),
        format!("/v0.1/servers/{}/versions/latest", enc(A_TOOL)),
        "/api/v0/servers".to_owned(),
        format!("/api/v0/servers/{}", enc(A_TOOL)),
    ] {
        let reply = s.call("GET", &path, token).await.unwrap();
        let want = if anonymous {
            401
        } else if who.reads.contains(&"team-a") {
            200
        } else {
            404
        };
        assert_eq!(reply.status, want, "{}: GET {path}: {}", who.name, reply.body);
        if want == 404 {
            assert!(!reply.body.contains("team-a"), "{}: {path} names the hidden default: {}", who.name, reply.body);
        }
        cells += 1;
    }
    cells
}

async fn list_cells(s: &TestServer, who: &Who, token: Option<&str>) -> usize {
    let anonymous = token.is_none();
    let mut cells = 0;
    // /v1 lists show only what the caller can see.
    let lists = [("/v1/registries", "registries", who.reads), ("/v1/sources", "sources", who.sources)];
    for (path, key, want) in lists {
        let reply = s.call("GET", path, token).await.unwrap();
        if anonymous {
            assert_challenge(&reply, path, None);
        } else {
            assert_eq!(reply.status, 200, "{}: {path}", who.name);
            let body: Value = serde_json::from_str(&reply.body).unwrap();
            let names: BTreeSet<&str> =
                body[key].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
            assert_eq!(names, want.iter().copied().collect(), "{}: {path}", who.name);
            if key == "sources" {
                for src in body[key].as_array().unwrap() {
                    for r in src["registries"].as_array().unwrap() {
                        assert!(
                            who.reads.contains(&r.as_str().unwrap()),
                            "{}: {src} names a hidden registry",
                            who.name
                        );
                    }
                }
            }
        }
        cells += 1;
    }
    cells
}

async fn source_cells(s: &TestServer, who: &Who, token: Option<&str>) -> usize {
    let anonymous = token.is_none();
    let mut cells = 0;
    // Sources: details and the sync trigger.
    for source in SOURCES {
        let visible = who.sources.contains(source);
        let reply = s.call("GET", &format!("/v1/sources/{source}"), token).await.unwrap();
        let want = match (anonymous, visible) {
            (true, _) => 401,
            (false, true) => 200,
            (false, false) => 404,
        };
        assert_eq!(reply.status, want, "{}: GET /v1/sources/{source}: {}", who.name, reply.body);
        let path = format!("/v1/sources/{source}/sync");
        let reply = s.call("POST", &path, token).await.unwrap();
        let allowed: &[u16] = match (anonymous, visible, who.syncs.contains(source)) {
            (true, _, _) => &[401],
            (false, false, _) => &[404],
            (false, true, false) => &[403],
            (false, true, true) => &[202, 409],
        };
        assert!(allowed.contains(&reply.status), "{}: POST {path}: {} {}", who.name, reply.status, reply.body);
        assert!(reply.content_type().starts_with("application/problem+json") || reply.status == 202);
        cells += 2;
    }
    cells
}

async fn me_cell(s: &TestServer, who: &Who, token: Option<&str>) -> usize {
    let anonymous = token.is_none();
    let mut cells = 0;
    // Who am I.
    let reply = s.call("GET", "/v1/me", token).await.unwrap();
    if anonymous {
        assert_challenge(&reply, "/v1/me", None);
    } else {
        let me: Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(me["subject"], "user");
        let roles: Vec<&str> = me["roles"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
        assert_eq!(roles, who.roles, "{}", who.name);
        let regs: BTreeSet<&str> = me["registries"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
        assert_eq!(regs, who.reads.iter().copied().collect(), "{}", who.name);
    }
    cells += 1;
    cells
}
