//! HTTP client plumbing shared by the adapters that speak HTTP (the http-file and api sources,
//! the OIDC verifier, the Kubernetes client): client construction, URL checks, credential-free
//! URLs for messages, bounded streaming reads and error wording.

use std::error::Error as StdError;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::{Client, Response, StatusCode};
use thv_ports::SourceError;
use url::Url;

/// Parses a configured URL and checks it is absolute http(s) with a host. `what` names the
/// setting in the message ("endpoint", "file URL").
pub(crate) fn parse_http_url(raw: &str, what: &str) -> Result<Url, SourceError> {
    let invalid = |detail: &str| {
        // The raw text may hold credentials; show it only when it does not look like it does.
        let shown = if raw.contains('@') {
            "(a URL with credentials)".to_owned()
        } else {
            format!("`{}`", thv_domain::redact::location(raw))
        };
        SourceError::NotFound(format!("{what} {shown} is not a valid http(s) URL: {detail}"))
    };
    let url = Url::parse(raw.trim()).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(&format!("the scheme is `{}`; use http:// or https://", url.scheme())));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it has no host"));
    }
    Ok(url)
}

/// The configured URL for `describe()` and messages: as written, without userinfo and with
/// query values redacted (see [`thv_domain::redact`]).
pub(crate) fn shown(raw: &str) -> String {
    thv_domain::redact::location(raw)
}

/// `url` without user name and password and with query values redacted, for messages.
pub(crate) fn redact(url: &Url) -> String {
    thv_domain::redact::location(url.as_str())
}

/// An HTTP client with a total per-request timeout (connect + headers + body) and a User-Agent.
pub(crate) fn build_client(timeout: Duration, user_agent: &str) -> Result<Client, SourceError> {
    Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(user_agent)
        .build()
        .map_err(|e| SourceError::Internal(format!("cannot build the HTTP client: {}", error_chain(&e.without_url()))))
}

/// Why a bounded body read stopped.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// The body is larger than the limit (known from `Content-Length` or seen while streaming).
    TooLarge,
    /// The transfer failed (timeout, connection reset…).
    Read(reqwest::Error),
}

/// Reads the body chunk by chunk and stops as soon as it exceeds `limit` bytes; a
/// `Content-Length` above the limit is refused before reading anything.
pub(crate) async fn read_limited(response: &mut Response, limit: u64) -> Result<Bytes, BodyError> {
    let declared = response.content_length();
    if declared.is_some_and(|len| len > limit) {
        return Err(BodyError::TooLarge);
    }
    let initial = declared.unwrap_or(0).min(limit).min(8 * 1024 * 1024);
    let mut body = BytesMut::with_capacity(usize::try_from(initial).unwrap_or(0));
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Read)? {
        let total = (body.len() as u64).saturating_add(chunk.len() as u64);
        if total > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// A failed request, in words: timeouts say how long we waited, refused connections say so.
pub(crate) fn transport_error(url: &str, timeout: Duration, error: reqwest::Error) -> SourceError {
    if error.is_timeout() {
        return SourceError::Unavailable(format!("GET {url} timed out after {}", human_duration(timeout)));
    }
    let connect = error.is_connect();
    let detail = error_chain(&error.without_url());
    if connect {
        SourceError::Unavailable(format!("cannot connect to {url}: {detail}"))
    } else {
        SourceError::Unavailable(format!("GET {url} failed: {detail}"))
    }
}

/// A non-2xx answer: the status, and the server's `detail`/`title` when it sent a JSON problem.
pub(crate) async fn status_error(url: &str, mut response: Response) -> SourceError {
    let status = response.status();
    let mut message = format!("GET {url} returned HTTP {status}");
    if let Some(detail) = problem_detail(&mut response).await {
        message.push_str(": ");
        message.push_str(&detail);
    }
    if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
        message.push_str("; the server refuses access without valid credentials");
    }
    SourceError::Unavailable(message)
}

/// The `detail` (or `title`, `message`, `error`) of a JSON problem body, cut to 200 characters;
/// `None` when the body is not one.
pub(crate) async fn problem_detail(response: &mut Response) -> Option<String> {
    let body = read_limited(response, 4096).await.ok()?;
    let problem = serde_json::from_slice::<serde_json::Value>(&body).ok()?;
    ["detail", "title", "message", "error"]
        .iter()
        .find_map(|k| problem.get(k).and_then(serde_json::Value::as_str))
        .map(|detail| truncate(detail, 200))
}

/// `d` as `30s` or `300ms`.
pub(crate) fn human_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 { format!("{}s", d.as_secs()) } else { format!("{}ms", d.as_millis()) }
}

/// At most `max` characters of `s`, with `…` when cut.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

/// An error and its causes, `: `-joined, skipping causes already spelled out by their parent.
pub(crate) fn error_chain(error: &dyn StdError) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_shown_without_credentials() {
        let url = parse_http_url("https://user:secret@example.com/r.json", "file URL").unwrap();
        assert_eq!(redact(&url), "https://example.com/r.json");
        let url = parse_http_url("https://example.com/r.json?token=s3cret&v=2", "file URL").unwrap();
        assert_eq!(redact(&url), "https://example.com/r.json?token=***&v=***");
        assert_eq!(shown(" https://u:p@example.com/r.json?sig=abc "), "https://example.com/r.json?sig=***");
        let err = parse_http_url("ftp://example.com/r.json?token=s3cret", "file URL").unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
        let err = parse_http_url("ftp://example.com/r.json", "file URL").unwrap_err();
        assert!(matches!(&err, SourceError::NotFound(m) if m.contains("not a valid http(s) URL")), "{err}");
        let err = parse_http_url("https://u:secret@", "endpoint").unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
        let err = parse_http_url("registry.example.com", "endpoint").unwrap_err();
        assert!(err.to_string().contains("`registry.example.com`"), "{err}");
    }

    #[test]
    fn durations_and_truncation_read_well() {
        assert_eq!(human_duration(Duration::from_secs(30)), "30s");
        assert_eq!(human_duration(Duration::from_millis(300)), "300ms");
        assert_eq!(truncate("abcdef", 3), "abc…");
        assert_eq!(truncate("abc", 3), "abc");
    }
}
