//! The world the walk runs in, as the test defines it independently of the server: the sources,
//! the registries and who may read them, and the marks a caller must never see.

use std::collections::BTreeMap;

use thv_testkit::enc;
use thv_testkit::kubernetes::KUBE_TOKEN;

pub(super) const QUERY_SECRET: &str = "S3cr3tQueryValue";
pub(super) const URL_PASSWORD: &str = "S3cr3tPassw0rd";
pub(super) const GIT_PASSWORD: &str = "S3cr3tGitPassw0rd";
/// Every configured secret: none may appear in any response, whoever asks.
pub(super) const SECRETS: &[&str] = &[QUERY_SECRET, URL_PASSWORD, GIT_PASSWORD, KUBE_TOKEN];

pub(super) const MISSING_REGISTRY: &str = "absent-reg";
pub(super) const MISSING_SOURCE: &str = "absent-src";
pub(super) const MISSING_SERVER: &str = "io.example/absent-tool";

/// A configured source: its servers and a distinctive part of its location.
pub(super) struct Source {
    pub(super) name: &'static str,
    pub(super) servers: &'static [&'static str],
    pub(super) location: &'static str,
}

pub(super) const SOURCES: &[Source] = &[
    Source { name: "pub-src", servers: &["io.example/pub-tool"], location: "pub-data.json" },
    // A file over http whose URL carries a query token and userinfo.
    Source { name: "alpha-src", servers: &["io.example/alpha-tool"], location: "/alpha-feed.json" },
    Source { name: "bravo-src", servers: &["io.example/bravo-tool"], location: "bravo-data.json" },
    // A git repository that refuses every request: its sync fails, with a password configured.
    Source { name: "bravo-git-src", servers: &[], location: "bravo-repo.git" },
    // In no registry: only a super-admin may know of it.
    Source { name: "orphan-src", servers: &["io.example/orphan-tool"], location: "orphan-data.json" },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    Public,
    Tenant(&'static str),
}

pub(super) struct Registry {
    pub(super) name: &'static str,
    pub(super) sources: &'static [&'static str],
    pub(super) access: Access,
    /// Images of the deployed servers it lists (its `deployed.namespaces` of the stub cluster).
    pub(super) deployed: &'static [&'static str],
}

/// `tenant-a-reg` is the default registry, served at the root paths too.
pub(super) const REGISTRIES: &[Registry] = &[
    Registry { name: "pub-reg", sources: &["pub-src"], access: Access::Public, deployed: &[] },
    Registry {
        name: "tenant-a-reg",
        sources: &["alpha-src", "pub-src"],
        access: Access::Tenant("a"),
        deployed: &["ghcr.io/github/github-mcp-server", "ghcr.io/stackloklabs/osv-mcp/server"],
    },
    Registry {
        name: "tenant-b-reg",
        sources: &["bravo-src", "bravo-git-src"],
        access: Access::Tenant("b"),
        deployed: &["ghcr.io/stackloklabs/gofetch/server"],
    },
];

/// A kind of caller, and what it may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Anonymous,
    Tenant(&'static str),
    SuperAdmin,
    InvalidToken,
}

impl Kind {
    pub(super) fn reads_registry(self, registry: &Registry) -> bool {
        match (self, registry.access) {
            (Self::InvalidToken, _) | (Self::Anonymous, Access::Tenant(_)) => false,
            (Self::SuperAdmin, _) | (_, Access::Public) => true,
            (Self::Tenant(mine), Access::Tenant(theirs)) => mine == theirs,
        }
    }

    pub(super) fn reads_registry_named(self, name: &str) -> bool {
        REGISTRIES.iter().any(|r| r.name == name && self.reads_registry(r))
    }

    pub(super) fn reads_source(self, name: &str) -> bool {
        self == Self::SuperAdmin || REGISTRIES.iter().any(|r| self.reads_registry(r) && r.sources.contains(&name))
    }
}

/// Text that must not reach a caller, and what it is.
pub(super) struct Mark {
    pub(super) text: String,
    pub(super) what: String,
}

/// Everything a caller of `kind` may not see: names of unreadable registries; names, servers,
/// locations and revisions of unreadable sources.
pub(super) fn hidden_marks(kind: Kind, revisions: &BTreeMap<String, String>) -> Vec<Mark> {
    let mut marks = Vec::new();
    let mut add = |text: String, what: String| marks.push(Mark { text, what });
    for r in REGISTRIES.iter().filter(|r| !kind.reads_registry(r)) {
        add(r.name.to_owned(), format!("the name of registry {}", r.name));
        for image in r.deployed {
            add((*image).to_owned(), format!("deployed server {image} of registry {}", r.name));
        }
    }
    for s in SOURCES.iter().filter(|s| !kind.reads_source(s.name)) {
        add(s.name.to_owned(), format!("the name of source {}", s.name));
        add(s.location.to_owned(), format!("the location of source {}", s.name));
        for server in s.servers {
            add((*server).to_owned(), format!("server {server} of source {}", s.name));
            add(enc(server), format!("server {server} of source {} (encoded)", s.name));
        }
        if let Some(rev) = revisions.get(s.name) {
            add(rev.clone(), format!("the revision of source {}", s.name));
        }
    }
    marks
}
