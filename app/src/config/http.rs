//! The `http` section: limits and timeouts of the HTTP server, applied to every request (body and
//! header sizes, handler time) and every connection (time to send a request head, keep-alive idle
//! time, stalled writes, how many at once). Absent keys take the defaults of
//! [`HttpLimits::default`].

use std::time::Duration;

use super::duration;
use super::raw::RawHttp;

/// Smallest accepted `maxHeaderBytes`: less would refuse ordinary browser requests.
pub const MIN_HEADER_BYTES: usize = 1024;
/// Largest accepted `maxHeaderBytes`: the connection buffers a few times this per client.
pub const MAX_HEADER_BYTES: usize = 1024 * 1024;

/// Largest accepted `maxConnections`: each connection costs a file descriptor and a task.
pub const MAX_CONNECTIONS: usize = 1_000_000;

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
    /// Longest time sending a response may make no progress (the client taking none of it)
    /// before the connection is reset; also bounds a graceful close that cannot be sent.
    pub write_timeout: Duration,
    /// Most connections open at once on one listener; beyond it new ones are closed at once.
    pub max_connections: usize,
    /// Most bytes of rendered listing pages kept in memory (their length plus their key and
    /// `ETag`); 0: no page cache, every listing is rendered per request.
    pub page_cache_bytes: u64,
    /// `max-age` of the `Cache-Control: public, max-age=N` that reads of public registries carry
    /// (registries behind a token send `private`).
    pub cache_max_age: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            max_header_bytes: 32 * 1024,
            request_timeout: Duration::from_secs(30),
            read_header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(30),
            max_connections: 10_000,
            page_cache_bytes: 64 * 1024 * 1024,
            cache_max_age: Duration::from_secs(30),
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
    let max_connections = match raw.max_connections.map(usize::try_from) {
        None => d.max_connections,
        Some(Ok(n)) if (1..=MAX_CONNECTIONS).contains(&n) => n,
        Some(_) => {
            problems.push(format!(
                "`http.maxConnections`: must be from 1 to {MAX_CONNECTIONS}; the default is {}",
                d.max_connections
            ));
            d.max_connections
        }
    };
    let timeout = |raw: &Option<String>, default, key, problems: &mut Vec<String>| {
        duration::positive_setting(raw.as_deref(), default, duration::MAX_TIMEOUT, key, problems)
    };
    HttpLimits {
        max_body_bytes,
        max_header_bytes,
        request_timeout: timeout(&raw.request_timeout, d.request_timeout, "http.requestTimeout", problems),
        read_header_timeout: timeout(
            &raw.read_header_timeout,
            d.read_header_timeout,
            "http.readHeaderTimeout",
            problems,
        ),
        idle_timeout: timeout(&raw.idle_timeout, d.idle_timeout, "http.idleTimeout", problems),
        write_timeout: timeout(&raw.write_timeout, d.write_timeout, "http.writeTimeout", problems),
        max_connections,
        page_cache_bytes: raw.page_cache_bytes.unwrap_or(d.page_cache_bytes),
        cache_max_age: duration::setting(
            raw.cache_max_age.as_deref(),
            d.cache_max_age,
            MAX_CACHE_MAX_AGE,
            "http.cacheMaxAge",
            problems,
        ),
    }
}

/// Largest accepted `cacheMaxAge`: a day (clients would keep stale catalogues longer).
pub const MAX_CACHE_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

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
        assert_eq!((d.write_timeout, d.max_connections), (Duration::from_secs(30), 10_000));
        assert_eq!(d.page_cache_bytes, 64 * 1024 * 1024);
        assert_eq!(d.cache_max_age, Duration::from_secs(30));
        assert_eq!(load("http: {}\n", &[]).unwrap(), d);
    }

    #[test]
    fn every_key_is_read() {
        let c = load(
            "http:\n  maxBodyBytes: 2048\n  maxHeaderBytes: 4096\n  requestTimeout: 1500ms\n  readHeaderTimeout: 2s\n  idleTimeout: 2m\n  writeTimeout: 5s\n  maxConnections: 7\n  pageCacheBytes: 0\n  cacheMaxAge: 0s\n",
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
                write_timeout: Duration::from_secs(5),
                max_connections: 7,
                page_cache_bytes: 0,
                cache_max_age: Duration::ZERO,
            }
        );
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let c = load(
            "http: {maxBodyBytes: 10}\n",
            &[
                ("THV_REGISTRY_HTTP__MAX_BODY_BYTES", "2048"),
                ("THV_REGISTRY_HTTP__IDLE_TIMEOUT", "5s"),
                ("THV_REGISTRY_HTTP__MAX_CONNECTIONS", "3"),
            ],
        )
        .unwrap();
        assert_eq!((c.max_body_bytes, c.idle_timeout, c.max_connections), (2048, Duration::from_secs(5), 3));
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
            ("http: {writeTimeout: \"0s\"}\n", "`http.writeTimeout`: must be more than 0; the default is 30s"),
            ("http: {maxConnections: 0}\n", "`http.maxConnections`: must be from 1 to 1000000; the default is 10000"),
            ("http: {maxConnections: 2000000}\n", "`http.maxConnections`: must be from 1"),
            ("http: {maxConnections: -1}\n", "`http.maxConnections`"),
            ("http: {maxBodySize: 1}\n", "`http.maxBodySize`: unknown key; valid keys here are `maxBodyBytes`"),
        ];
        for (yaml, want) in cases {
            let msg = load(yaml, &[]).unwrap_err();
            assert!(msg.contains(want), "{yaml}: {msg}");
        }
    }
}
