//! The `http` section: limits and timeouts of the HTTP server, applied to every request (body and
//! header sizes, handler time) and every connection (time to send a request head, keep-alive idle
//! time). Absent keys take the defaults of [`HttpLimits::default`].

use std::time::Duration;

use super::duration;
use super::raw::RawHttp;

/// Smallest accepted `maxHeaderBytes`: less would refuse ordinary browser requests.
pub const MIN_HEADER_BYTES: usize = 1024;
/// Largest accepted `maxHeaderBytes`: the connection buffers a few times this per client.
pub const MAX_HEADER_BYTES: usize = 1024 * 1024;

/// A validated `http` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Largest request body; more is a 413.
    pub max_body_bytes: usize,
    /// Largest total of header names and values; more is a 431.
    pub max_header_bytes: usize,
    /// Longest time a handler may take (reading the request body included, streaming the
    /// response excluded); longer is a 503.
    pub request_timeout: Duration,
    /// Longest time a client may take to send a whole request head, from its first byte (from
    /// accepting the connection, for the first request); the connection is closed after it.
    pub read_header_timeout: Duration,
    /// Longest time a keep-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// Most bytes of rendered listing pages kept in memory (their length plus their key and
    /// `ETag`); 0: no page cache, every listing is rendered per request.
    pub page_cache_bytes: u64,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            max_header_bytes: 32 * 1024,
            request_timeout: Duration::from_secs(30),
            read_header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            page_cache_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Validates the section.
pub fn normalize(raw: &RawHttp, problems: &mut Vec<String>) -> HttpLimits {
    let d = HttpLimits::default();
    let max_body_bytes = match raw.max_body_bytes.map(usize::try_from) {
        None => d.max_body_bytes,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            problems.push("`http.maxBodyBytes`: is too large for this platform; use at most a few MiB".to_owned());
            d.max_body_bytes
        }
    };
    let max_header_bytes = match raw.max_header_bytes.map(usize::try_from) {
        None => d.max_header_bytes,
        Some(Ok(n)) if (MIN_HEADER_BYTES..=MAX_HEADER_BYTES).contains(&n) => n,
        Some(_) => {
            problems.push(format!(
                "`http.maxHeaderBytes`: must be from {MIN_HEADER_BYTES} to {MAX_HEADER_BYTES} (1 MiB); the default is {}",
                d.max_header_bytes
            ));
            d.max_header_bytes
        }
    };
    HttpLimits {
        max_body_bytes,
        max_header_bytes,
        request_timeout: duration::positive_setting(
            raw.request_timeout.as_deref(),
            d.request_timeout,
            duration::MAX_TIMEOUT,
            "http.requestTimeout",
            problems,
        ),
        read_header_timeout: duration::positive_setting(
            raw.read_header_timeout.as_deref(),
            d.read_header_timeout,
            duration::MAX_TIMEOUT,
            "http.readHeaderTimeout",
            problems,
        ),
        idle_timeout: duration::positive_setting(
            raw.idle_timeout.as_deref(),
            d.idle_timeout,
            duration::MAX_TIMEOUT,
            "http.idleTimeout",
            problems,
        ),
        page_cache_bytes: raw.page_cache_bytes.unwrap_or(d.page_cache_bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str, env: &[(&str, &str)]) -> Result<HttpLimits, String> {
        use std::io::Write as _;
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(format!("source:\n  file: {{path: a}}\n{yaml}").as_bytes()).unwrap();
        super::super::Config::load_with_env(f.path(), env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())))
            .map(|c| c.http)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn absent_section_gives_the_defaults() {
        let d = load("", &[]).unwrap();
        assert_eq!(d, HttpLimits::default());
        assert_eq!((d.max_body_bytes, d.max_header_bytes), (1_048_576, 32_768));
        assert_eq!(
            (d.request_timeout, d.read_header_timeout, d.idle_timeout),
            (Duration::from_secs(30), Duration::from_secs(10), Duration::from_secs(60))
        );
        assert_eq!(d.page_cache_bytes, 64 * 1024 * 1024);
        assert_eq!(load("http: {}\n", &[]).unwrap(), d);
    }

    #[test]
    fn every_key_is_read() {
        let c = load(
            "http:\n  maxBodyBytes: 2048\n  maxHeaderBytes: 4096\n  requestTimeout: 1500ms\n  readHeaderTimeout: 2s\n  idleTimeout: 2m\n  pageCacheBytes: 0\n",
            &[],
        )
        .unwrap();
        assert_eq!(
            c,
            HttpLimits {
                max_body_bytes: 2048,
                max_header_bytes: 4096,
                request_timeout: Duration::from_millis(1500),
                read_header_timeout: Duration::from_secs(2),
                idle_timeout: Duration::from_secs(120),
                page_cache_bytes: 0,
            }
        );
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let c = load(
            "http: {maxBodyBytes: 10}\n",
            &[("THV_REGISTRY_HTTP__MAX_BODY_BYTES", "2048"), ("THV_REGISTRY_HTTP__IDLE_TIMEOUT", "5s")],
        )
        .unwrap();
        assert_eq!((c.max_body_bytes, c.idle_timeout), (2048, Duration::from_secs(5)));
    }

    #[test]
    fn bad_values_name_the_key_and_the_fix() {
        let cases = [
            ("http: {maxHeaderBytes: 100}\n", "`http.maxHeaderBytes`: must be from 1024 to 1048576"),
            ("http: {maxHeaderBytes: 2000000}\n", "`http.maxHeaderBytes`: must be from 1024"),
            ("http: {maxBodyBytes: -1}\n", "`http.maxBodyBytes`"),
            ("http: {requestTimeout: \"0\"}\n", "`http.requestTimeout`: must be more than 0; the default is 30s"),
            ("http: {readHeaderTimeout: 10}\n", "`http.readHeaderTimeout`"),
            ("http: {idleTimeout: soon}\n", "`http.idleTimeout`: `soon` is not a duration; use"),
            ("http: {idleTimeout: 25h}\n", "`http.idleTimeout`: `25h` is longer than the maximum, 24h0m0s"),
            ("http: {maxBodySize: 1}\n", "`http.maxBodySize`: unknown key; valid keys here are `maxBodyBytes`"),
        ];
        for (yaml, want) in cases {
            let msg = load(yaml, &[]).unwrap_err();
            assert!(msg.contains(want), "{yaml}: {msg}");
        }
    }
}
