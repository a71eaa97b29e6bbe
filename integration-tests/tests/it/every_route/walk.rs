//! The calls of the walk: every operation of the served document with every filling of its path
//! parameters, and how a call looks with a hidden name swapped for a missing one.

use std::collections::BTreeSet;

use serde_json::Value;
use thv_testkit::enc;

use super::model::{Kind, MISSING_REGISTRY, MISSING_SERVER, MISSING_SOURCE, REGISTRIES, SOURCES};

/// What a path parameter was filled with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Subject {
    Registry(&'static str),
    Source(&'static str),
    /// A server, by the source it comes from.
    Server(&'static str),
    /// A name that exists nowhere: what a hidden one is compared with.
    Missing,
    Neutral,
}

#[derive(Debug, Clone)]
pub(super) struct Fill {
    pub(super) text: String,
    pub(super) subject: Subject,
    /// The `Missing` fill of the same parameter.
    pub(super) missing: &'static str,
}

impl Fill {
    pub(super) fn hidden_to(&self, kind: Kind) -> bool {
        match self.subject {
            Subject::Registry(r) => !kind.reads_registry_named(r),
            Subject::Source(s) | Subject::Server(s) => !kind.reads_source(s),
            Subject::Missing | Subject::Neutral => false,
        }
    }
}

pub(super) fn fill(text: &str, subject: Subject, missing: &'static str) -> Fill {
    Fill { text: text.to_owned(), subject, missing }
}

/// Every value a path parameter is filled with. A parameter this test does not know fails it:
/// teach it the new parameter.
pub(super) fn fills(template: &str, param: &str) -> Vec<Fill> {
    let registries = || {
        let mut v: Vec<Fill> =
            REGISTRIES.iter().map(|r| fill(r.name, Subject::Registry(r.name), MISSING_REGISTRY)).collect();
        v.push(fill(MISSING_REGISTRY, Subject::Missing, MISSING_REGISTRY));
        v
    };
    let sources = || {
        let mut v: Vec<Fill> = SOURCES.iter().map(|s| fill(s.name, Subject::Source(s.name), MISSING_SOURCE)).collect();
        v.push(fill(MISSING_SOURCE, Subject::Missing, MISSING_SOURCE));
        v
    };
    let servers = || {
        let mut v: Vec<Fill> = SOURCES
            .iter()
            .flat_map(|s| s.servers.iter().map(|n| fill(n, Subject::Server(s.name), MISSING_SERVER)))
            .collect();
        v.push(fill(MISSING_SERVER, Subject::Missing, MISSING_SERVER));
        v
    };
    match param {
        "registry" => registries(),
        "name" if template.starts_with("/v1/registries/") => registries(),
        "name" if template.starts_with("/v1/sources/") => sources(),
        // Deployed servers (the stub cluster's `MCPServer` resources): github in tenant-a-reg's
        // namespace, fetch in tenant-b-reg's (what leaks of them is checked by image).
        "name" if template.contains("/deployed/") => {
            ["github", "fetch", "absent-deployment"].into_iter().map(|n| fill(n, Subject::Neutral, n)).collect()
        }
        "name" | "serverName" => servers(),
        "version" => vec![fill("1.0.0", Subject::Neutral, "1.0.0"), fill("latest", Subject::Neutral, "latest")],
        other => panic!("path parameter `{other}` of {template}: no values for it; add them to `fills`"),
    }
}

/// A concrete request of the walk.
#[derive(Debug, Clone)]
pub(super) struct Call {
    pub(super) method: &'static str,
    pub(super) template: String,
    pub(super) fills: Vec<Fill>,
}

impl Call {
    pub(super) fn path_with(&self, fills: &[Fill]) -> String {
        let mut out = String::new();
        let mut rest = self.template.as_str();
        let mut values = fills.iter();
        while let Some(start) = rest.find('{') {
            let end = rest[start..].find('}').unwrap() + start;
            out.push_str(&rest[..start]);
            out.push_str(&enc(&values.next().unwrap().text));
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }

    pub(super) fn path(&self) -> String {
        self.path_with(&self.fills)
    }

    /// The same request with every fill hidden to `kind` replaced by a missing name.
    pub(super) fn as_missing(&self, kind: Kind) -> Option<(String, Vec<(String, String)>)> {
        let mut swaps = Vec::new();
        let fills: Vec<Fill> = self
            .fills
            .iter()
            .map(|f| {
                if f.hidden_to(kind) {
                    swaps.push((f.text.clone(), f.missing.to_owned()));
                    fill(f.missing, Subject::Missing, f.missing)
                } else {
                    f.clone()
                }
            })
            .collect();
        (!swaps.is_empty()).then(|| (self.path_with(&fills), swaps))
    }
}

/// Every call the walk makes: each operation of the document without a request body (`GET`,
/// `POST`, `DELETE`) with every filling of its path parameters (`/v0.1/…` paths also under `/v0/…`), and the routes outside the document.
pub(super) fn calls(spec: &Value) -> Vec<Call> {
    let mut templates: BTreeSet<(&'static str, String)> = BTreeSet::new();
    for (template, item) in spec["paths"].as_object().unwrap() {
        for (method, key) in [("GET", "get"), ("POST", "post"), ("DELETE", "delete")] {
            let Some(op) = item.get(key) else { continue };
            if op.get("requestBody").is_some() {
                continue;
            }
            templates.insert((method, template.clone()));
            if template.contains("/v0.1/") {
                templates.insert((method, template.replacen("/v0.1/", "/v0/", 1)));
            }
        }
    }
    for path in ["/metrics", "/docs", "/openapi.json", "/openapi.yaml", "/.well-known/oauth-protected-resource"] {
        templates.insert(("GET", path.to_owned()));
    }
    templates.insert(("GET", "/readiness".to_owned()));
    templates.insert(("GET", "/no/such/route".to_owned()));

    let mut calls = Vec::new();
    for (method, template) in templates {
        let params: Vec<&str> = template.split('{').skip(1).filter_map(|s| s.split('}').next()).collect();
        let mut product: Vec<Vec<Fill>> = vec![Vec::new()];
        for param in params {
            product = product
                .into_iter()
                .flat_map(|prefix| {
                    fills(&template, param).into_iter().map(move |f| {
                        let mut next = prefix.clone();
                        next.push(f);
                        next
                    })
                })
                .collect();
        }
        calls.extend(product.into_iter().map(|fills| Call { method, template: template.clone(), fills }));
    }
    calls
}
