//! The read operations over a registry's snapshot: one page of a listing (through the page
//! cache), the versions of a server, one version; with their `ETag`s and `If-None-Match`.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use poem::Request;
use poem::http::StatusCode;
use thv_domain::ServerName;
use thv_domain::snapshot::{ListQuery, VersionSelector, decode_cursor, render_list};

use super::ServersApi;
use crate::catalog::{Catalog, ReadRefusal, RegistrySlot, RegistrySnapshot};
use crate::http::auth::{caller, registry_not_found, token_missing};
use crate::http::encoding::{Coding, Rendered, negotiate};
use crate::http::problem::Problem;

/// A body as sent: the representation's bytes, `ETag` and coding, and the `Cache-Control`.
pub(super) struct Reply {
    pub(super) body: Bytes,
    pub(super) etag: String,
    pub(super) cache: String,
    pub(super) coding: Coding,
}

/// What a handler produced, before it is shaped into one operation's response enum.
pub(super) enum Outcome {
    Body(Reply),
    /// The representation's `ETag` and the `Cache-Control`.
    NotModified(String, String),
    /// The caller may not read the registry (or it does not exist).
    Refused(Problem, Refused),
    BadRequest(Problem),
    NotFound(Problem),
    Unprocessable(Problem),
}

/// How a refused read is answered.
#[derive(Clone, Copy)]
pub(super) enum Refused {
    TokenRequired,
    NotFound,
}

impl Outcome {
    fn refused(refusal: &ReadRefusal<'_>) -> Self {
        let how = match refusal {
            ReadRefusal::TokenRequired => Refused::TokenRequired,
            ReadRefusal::NotFound { .. } | ReadRefusal::NoDefault { .. } => Refused::NotFound,
        };
        Self::Refused(refusal_problem(refusal), how)
    }
}

/// The list query as received.
pub(super) struct ListParams {
    pub(super) cursor: Option<String>,
    pub(super) limit: Option<i64>,
    pub(super) search: Option<String>,
    pub(super) updated_since: Option<DateTime<Utc>>,
    pub(super) version: Option<String>,
    pub(super) include_deleted: Option<bool>,
}

const DEFAULT_LIMIT: i64 = 30;
const MAX_LIMIT: i64 = 100;

impl ServersApi {
    /// The registry a request addresses (the default one at the root paths), when the caller may
    /// read it. A registry the caller may not read gets the same answer as a missing one.
    fn registry(&self, req: &Request, registry: Option<&str>) -> Result<(Arc<RegistrySnapshot>, String), Outcome> {
        let slot = readable_registry(&self.catalog, req, registry).map_err(|r| Outcome::refused(&r))?;
        Ok((slot.snapshot(), self.cache_control(slot)))
    }

    /// `public, max-age=N` for a public registry; `private` for one behind a token (a shared
    /// cache must not hand it to another caller).
    fn cache_control(&self, slot: &RegistrySlot) -> String {
        if slot.config.access == thv_domain::access::AccessPolicy::Public {
            self.public_cache.clone()
        } else {
            super::PRIVATE_CACHE.to_owned()
        }
    }

    pub(super) fn list(
        &self,
        req: &Request,
        registry: Option<&str>,
        p: ListParams,
        default_version: Option<&str>,
    ) -> Outcome {
        let (reg, cache) = match self.registry(req, registry) {
            Ok(r) => r,
            Err(refused) => return refused,
        };
        let query = match list_query(p, default_version) {
            Ok(q) => q,
            Err(bad) => return bad,
        };
        // The page and its ETag come from the cache (computed on a miss), so a hit costs neither
        // a render nor a digest.
        let rendered = self.rendered(req, &reg.digest, || {
            let page = reg.snapshot.list(&query);
            Some(Bytes::from(render_list(&page.rows, page.next_cursor.as_deref())))
        });
        match rendered {
            Some(rendered) => respond(req, &rendered, cache),
            None => Outcome::NotFound(Problem::new(StatusCode::NOT_FOUND, "no such page")),
        }
    }

    /// The rendered response of `req` on the snapshot of `digest`: from the page cache, or
    /// rendered by `render` (and kept); `None` when `render` finds nothing.
    fn rendered(
        &self,
        req: &Request,
        digest: &Arc<str>,
        render: impl FnOnce() -> Option<Bytes>,
    ) -> Option<Arc<Rendered>> {
        let make = || render().map(|body| Arc::new(Rendered::new(body, etag(digest, req))));
        match &self.pages {
            Some(pages) => pages.get_or_render(
                (digest.clone(), req.uri().path_and_query().map_or_else(String::new, ToString::to_string)),
                make,
            ),
            None => make(),
        }
    }

    pub(super) fn versions(&self, req: &Request, registry: Option<&str>, name: &str, include_deleted: bool) -> Outcome {
        let (reg, cache) = match self.registry(req, registry) {
            Ok(r) => r,
            Err(refused) => return refused,
        };
        if let Err(p) = server_name(name) {
            return Outcome::BadRequest(p);
        }
        // Looked up before `If-None-Match`: `*` matches only what exists (RFC 9110 13.1.2).
        let rendered = self.rendered(req, &reg.digest, || {
            reg.snapshot.versions(name, include_deleted).map(|rows| Bytes::from(render_list(&rows, None)))
        });
        let Some(rendered) = rendered else {
            return Outcome::NotFound(Problem::new(StatusCode::NOT_FOUND, "Server not found"));
        };
        respond(req, &rendered, cache)
    }

    pub(super) fn version(
        &self,
        req: &Request,
        registry: Option<&str>,
        name: &str,
        version: &str,
        include_deleted: bool,
    ) -> Outcome {
        let (reg, cache) = match self.registry(req, registry) {
            Ok(r) => r,
            Err(refused) => return refused,
        };
        if let Err(p) = server_name(name) {
            return Outcome::BadRequest(p);
        }
        let selector =
            if version == "latest" { VersionSelector::Latest } else { VersionSelector::Exact(version.to_owned()) };
        // Looked up before `If-None-Match`: `*` matches only what exists (RFC 9110 13.1.2).
        let rendered = self.rendered(req, &reg.digest, || {
            reg.snapshot.version(name, &selector, include_deleted).map(|e| Bytes::from(e.render()))
        });
        let Some(rendered) = rendered else {
            let missing = if reg.snapshot.versions(name, include_deleted).is_some() {
                "Server version not found"
            } else {
                "Server not found"
            };
            return Outcome::NotFound(Problem::new(StatusCode::NOT_FOUND, missing));
        };
        respond(req, &rendered, cache)
    }
}

/// The representation of `rendered` that `req` accepts (`Accept-Encoding`), or a 304 when
/// `If-None-Match` names that representation's `ETag`.
fn respond(req: &Request, rendered: &Rendered, cache: String) -> Outcome {
    let wanted = negotiate(req.headers().get(poem::http::header::ACCEPT_ENCODING));
    let (coding, body, etag) = rendered.representation(wanted);
    if not_modified(req, etag) {
        return Outcome::NotModified(etag.to_owned(), cache);
    }
    Outcome::Body(Reply { body, etag: etag.to_owned(), cache, coding })
}

/// The registry a request addresses — named, or the default one at the root paths — when the
/// caller may read it ([`Catalog::resolve_read`] decides).
pub fn readable_registry<'a>(
    catalog: &'a Catalog,
    req: &'a Request,
    registry: Option<&'a str>,
) -> Result<&'a RegistrySlot, ReadRefusal<'a>> {
    catalog.resolve_read(registry, caller(req))
}

/// What a refused read is told.
pub fn refusal_problem(refusal: &ReadRefusal<'_>) -> Problem {
    match refusal {
        ReadRefusal::TokenRequired => token_missing(),
        ReadRefusal::NotFound { registry } => registry_not_found(registry),
        ReadRefusal::NoDefault { readable } => Problem::new(
            StatusCode::NOT_FOUND,
            format!(
                "no default registry is configured; use /registry/{{name}}/v0.1/servers with one of: {}",
                readable.join(", ")
            ),
        ),
    }
}

fn server_name(name: &str) -> Result<ServerName, Problem> {
    ServerName::parse(name)
        .map_err(|e| Problem::invalid(StatusCode::BAD_REQUEST, "path.serverName", e.to_string(), Some(name)))
}

fn list_query(p: ListParams, default_version: Option<&str>) -> Result<ListQuery, Outcome> {
    let limit = p.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Outcome::Unprocessable(Problem::invalid(
            StatusCode::UNPROCESSABLE_ENTITY,
            "query.limit",
            "must be between 1 and 100",
            Some(&limit.to_string()),
        )));
    }
    if p.updated_since.is_some() && p.include_deleted == Some(false) {
        return Err(Outcome::BadRequest(Problem::invalid(
            StatusCode::BAD_REQUEST,
            "query.include_deleted",
            "cannot be false together with updated_since: incremental reads always include deleted versions",
            Some("false"),
        )));
    }
    let after = match p.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(decode_cursor(c).map_err(|e| {
            Outcome::BadRequest(Problem::invalid(StatusCode::BAD_REQUEST, "query.cursor", e.to_string(), Some(c)))
        })?),
    };
    let version = match p.version.as_deref().or(default_version) {
        None | Some("") => None,
        Some("latest") => Some(VersionSelector::Latest),
        Some(v) => Some(VersionSelector::Exact(v.to_owned())),
    };
    Ok(ListQuery {
        after,
        limit: usize::try_from(limit).unwrap_or(30),
        search: p.search.filter(|s| !s.is_empty()),
        updated_since: p.updated_since,
        version,
        include_deleted: p.include_deleted.unwrap_or(false),
    })
}

/// A strong `ETag` for this request on this snapshot: the snapshot's content digest and the
/// request's path and query.
fn etag(digest: &str, req: &Request) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(digest.as_bytes());
    h.update(req.uri().path().as_bytes());
    h.update(b"?");
    h.update(req.uri().query().unwrap_or_default().as_bytes());
    format!("\"{}\"", hex::encode(&h.finalize()[..16]))
}

fn not_modified(req: &Request, etag: &str) -> bool {
    req.headers()
        .get_all(poem::http::header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|v| v == "*" || v == etag || v.strip_prefix("W/") == Some(etag))
}
