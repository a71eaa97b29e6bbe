//! A source that reads a registry file over HTTP(S), revalidated with `ETag`.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{ACCEPT, ETAG, IF_NONE_MATCH};
use reqwest::{Client, StatusCode};
use sha2::{Digest, Sha256};
use thv_domain::Revision;
use thv_ports::{Document, Fetched, Source, SourceError};
use url::Url;

use crate::http::{BodyError, build_client, parse_http_url, read_limited, shown, status_error, transport_error};

/// Prefix of a revision taken from the server's `ETag` header: `etag:"abc"`.
pub const ETAG_PREFIX: &str = "etag:";
/// Prefix of a revision computed from the body: `sha256:<hex>`.
pub const SHA256_PREFIX: &str = "sha256:";

/// Reads one file over HTTP(S). Its revision is `etag:<ETag header value>` when the server sends
/// an `ETag` (revalidated with `If-None-Match`, so an unchanged file costs a 304), otherwise
/// `sha256:<hex of the body>`.
pub struct HttpFileSource {
    url: Url,
    /// `url` without credentials, for messages.
    shown: String,
    timeout: Duration,
    max_bytes: u64,
    client: Client,
}

/// Shows the URL without its credentials and with query values redacted, never the URL itself.
impl std::fmt::Debug for HttpFileSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpFileSource")
            .field("url", &self.shown)
            .field("timeout", &self.timeout)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

impl HttpFileSource {
    /// # Errors
    /// - [`SourceError::NotFound`] when `url` is not an absolute http(s) URL;
    /// - [`SourceError::Internal`] when the HTTP client cannot be built (e.g. the user agent is
    ///   not a valid header value).
    #[expect(clippy::needless_pass_by_value, reason = "the constructor's signature takes owned settings")]
    pub fn new(url: String, timeout: Duration, user_agent: String, max_bytes: u64) -> Result<Self, SourceError> {
        let parsed = parse_http_url(&url, "file URL")?;
        let client = build_client(timeout, &user_agent)?;
        let shown = shown(&url);
        let url = parsed;
        Ok(Self { url, shown, timeout, max_bytes, client })
    }
}

#[async_trait]
impl Source for HttpFileSource {
    async fn fetch(&self, since: Option<&Revision>) -> Result<Fetched, SourceError> {
        let url = &self.shown;
        let etag_since = since.and_then(|r| r.0.strip_prefix(ETAG_PREFIX));
        let mut request = self.client.get(self.url.clone()).header(ACCEPT, "application/json, */*;q=0.5");
        if let Some(etag) = etag_since {
            request = request.header(IF_NONE_MATCH, etag);
        }
        let mut response = request.send().await.map_err(|e| transport_error(url, self.timeout, e))?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED && etag_since.is_some() {
            return Ok(Fetched::Unchanged);
        }
        if status == StatusCode::NOT_FOUND {
            return Err(SourceError::NotFound(format!("{url} does not exist (HTTP {status}); check the URL")));
        }
        if !status.is_success() {
            return Err(status_error(url, response).await);
        }
        let etag = response.headers().get(ETAG).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = read_limited(&mut response, self.max_bytes).await.map_err(|e| match e {
            BodyError::TooLarge => {
                SourceError::TooLarge(format!("{url} is larger than the limit of {} bytes", self.max_bytes))
            }
            BodyError::Read(e) => transport_error(url, self.timeout, e),
        })?;
        let revision = Revision(match etag {
            Some(etag) if !etag.is_empty() => format!("{ETAG_PREFIX}{etag}"),
            _ => format!("{SHA256_PREFIX}{}", hex::encode(Sha256::digest(&body))),
        });
        if since == Some(&revision) {
            return Ok(Fetched::Unchanged);
        }
        Ok(Fetched::Documents { revision, documents: vec![Document::from_bytes(body)], complete: true })
    }

    fn describe(&self) -> String {
        format!("file {}", self.shown)
    }
}
