//! Path normalisation before routing:
//! - `/v0/…` and `/registry/{r}/v0/…` are served exactly as `/v0.1/…` (identical behaviour);
//! - a server name sent with an unencoded `/` (`/servers/io.github.x/y/versions`) is re-encoded
//!   (`io.github.x%2Fy`), since a name has exactly one `/`; same for the legacy
//!   `/api/v0/servers/{namespace}/{name}`.

use poem::http::Uri;
use poem::http::uri::PathAndQuery;
use poem::{Endpoint, Request};

/// Rewrites a raw path; `None` when it needs no change.
pub fn rewrite_path(path: &str) -> Option<String> {
    let mut segs: Vec<String> = path.split('/').map(str::to_owned).collect();
    let mut changed = false;
    // segs[0] is "" (leading slash).
    let api_at = match segs.get(1).map(String::as_str) {
        Some("v0" | "v0.1") => Some(1),
        Some("registry") if segs.len() > 3 && matches!(segs[3].as_str(), "v0" | "v0.1") => Some(3),
        _ => None,
    };
    if let Some(i) = api_at {
        if segs[i] == "v0" {
            "v0.1".clone_into(&mut segs[i]);
            changed = true;
        }
        if segs.get(i + 1).is_some_and(|s| s == "servers") {
            changed |= merge_name(&mut segs, i + 2, |rest| rest.get(2).is_some_and(|s| s == "versions"));
        }
    } else if segs.len() > 3 && segs[1] == "api" && segs[2] == "v0" && segs[3] == "servers" {
        changed |= merge_name(&mut segs, 4, |rest| rest.len() == 2);
    }
    changed.then(|| segs.join("/"))
}

/// Joins `segs[at]` and `segs[at + 1]` with `%2F` when `applies(&segs[at..])` and the first part
/// is not already an encoded full name.
fn merge_name(segs: &mut Vec<String>, at: usize, applies: impl Fn(&[String]) -> bool) -> bool {
    if segs.len() <= at + 1 || !applies(&segs[at..]) {
        return false;
    }
    let first = &segs[at];
    if first.is_empty() || first.to_ascii_lowercase().contains("%2f") {
        return false;
    }
    let joined = format!("{first}%2F{}", segs[at + 1]);
    segs.splice(at..at + 2, [joined]);
    true
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
