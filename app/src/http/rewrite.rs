//! Path normalisation before routing:
//! - `/v0/…` and `/registry/{r}/v0/…` are served exactly as `/v0.1/…` (identical behaviour);
//! - a server name sent with an unencoded `/` (`/servers/io.github.x/y/versions`,
//!   `/servers/io.github.x/y/status`, `/servers/io.github.x/y`) is re-encoded (`io.github.x%2Fy`),
//!   since a name has exactly one `/`; same for the legacy `/api/v0/servers/{namespace}/{name}`.

use poem::http::Uri;
use poem::http::uri::PathAndQuery;
use poem::{Endpoint, Request};

/// Rewrites a raw path; `None` when it needs no change. This runs on every request: segments
/// are borrowed, and a new string is built only when something changes.
pub fn rewrite_path(path: &str) -> Option<String> {
    let mut segs: Vec<&str> = path.split('/').collect();
    // segs[0] is "" (leading slash).
    let api_at = match segs.get(1).copied() {
        Some("v0" | "v0.1") => Some(1),
        Some("registry") if segs.len() > 3 && matches!(segs[3], "v0" | "v0.1") => Some(3),
        _ => None,
    };
    let mut changed = false;
    let mut name_at = None;
    if let Some(i) = api_at {
        if segs[i] == "v0" {
            segs[i] = "v0.1";
            changed = true;
        }
        // `{ns}/{name}` followed by `versions` or `status`, or alone (the latest version) unless
        // the second part reads as the sub-resource (`{name}/versions` lists versions of a name
        // sent encoded; a server literally named `ns/versions` is reached encoded).
        let named = |rest: &[&str]| {
            matches!(rest.get(2), Some(&"versions" | &"status"))
                || (rest.len() == 2 && !matches!(rest[1], "versions" | "status"))
        };
        if segs.get(i + 1) == Some(&"servers") && splits_name(&segs, i + 2, named) {
            name_at = Some(i + 2);
        }
    } else if segs.len() > 3 && segs[1..4] == ["api", "v0", "servers"] && splits_name(&segs, 4, |rest| rest.len() == 2)
    {
        name_at = Some(4);
    }
    let joined;
    if let Some(at) = name_at {
        joined = format!("{}%2F{}", segs[at], segs[at + 1]);
        segs.splice(at..at + 2, [joined.as_str()]);
        changed = true;
    }
    changed.then(|| segs.join("/"))
}

/// Whether `segs[at]` and `segs[at + 1]` are the two halves of a server name sent with an
/// unencoded `/`: `applies(&segs[at..])` holds and the first part is not already a whole
/// (encoded) name.
fn splits_name(segs: &[&str], at: usize, applies: impl Fn(&[&str]) -> bool) -> bool {
    segs.len() > at + 1
        && applies(&segs[at..])
        && !segs[at].is_empty()
        && !segs[at].to_ascii_lowercase().contains("%2f")
}

/// Applies [`rewrite_path`] to the request URI.
pub async fn rewrite_middleware<E: Endpoint>(next: E, mut req: Request) -> poem::Result<E::Output> {
    if let Some(new_path) = rewrite_path(req.uri().path()) {
        let pq = match req.uri().query() {
            Some(q) => format!("{new_path}?{q}"),
            None => new_path,
        };
        if let Ok(pq) = pq.parse::<PathAndQuery>() {
            let mut parts = req.uri().clone().into_parts();
            parts.path_and_query = Some(pq);
            if let Ok(uri) = Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    next.call(req).await
}

#[cfg(test)]
mod tests {
    use super::rewrite_path;

    #[test]
    fn paths_are_normalised() {
        let cases = [
            ("/v0/servers", Some("/v0.1/servers")),
            ("/v0.1/servers", None),
            ("/registry/a/v0/servers", Some("/registry/a/v0.1/servers")),
            ("/v0/servers/io.x%2Fy/versions", Some("/v0.1/servers/io.x%2Fy/versions")),
            ("/v0.1/servers/io.x/y/versions", Some("/v0.1/servers/io.x%2Fy/versions")),
            ("/v0.1/servers/io.x/y/versions/1.0.0", Some("/v0.1/servers/io.x%2Fy/versions/1.0.0")),
            (
                "/registry/r/v0.1/servers/io.x/y/versions/latest",
                Some("/registry/r/v0.1/servers/io.x%2Fy/versions/latest"),
            ),
            ("/v0.1/servers/io.x%2Fy/versions/versions", None),
            ("/v0.1/servers/ns/versions/versions/1", Some("/v0.1/servers/ns%2Fversions/versions/1")),
            ("/v0.1/servers/io.x/y", Some("/v0.1/servers/io.x%2Fy")),
            ("/v0/servers/io.x/y", Some("/v0.1/servers/io.x%2Fy")),
            ("/v0.1/servers/io.x%2Fy", None),
            ("/v0.1/servers/no-slash/versions", None),
            ("/registry/r/v0.1/servers/io.x/y", Some("/registry/r/v0.1/servers/io.x%2Fy")),
            ("/v0.1/servers/io.x/y/status", Some("/v0.1/servers/io.x%2Fy/status")),
            ("/v0.1/servers/io.x/y/versions/1.0.0/status", Some("/v0.1/servers/io.x%2Fy/versions/1.0.0/status")),
            ("/api/v0/servers/io.x/y", Some("/api/v0/servers/io.x%2Fy")),
            ("/api/v0/servers/io.x%2Fy", None),
            ("/api/v0/servers", None),
            ("/v01/servers", None),
            ("/health", None),
            ("/", None),
        ];
        for (input, want) in cases {
            assert_eq!(rewrite_path(input).as_deref(), want, "{input}");
        }
    }
}
