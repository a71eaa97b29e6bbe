//! Request hardening, for every request before routing: a strict path check, header and body
//! size limits, a time limit on handlers, CORS for reads, and security headers on every response.
//!
//! It runs inside the observation middleware, so every rejection is logged and counted like any
//! other request, and outside the problem middleware, so a handler's error has become problem+json
//! before the limits look at it. Connection-level limits (time to send a request head, idle
//! keep-alive connections, absurd heads) are the listener's, in [`super::listen`].
//!
//! CORS follows the official MCP registry: reads (`GET`, `HEAD`) may be made from any origin and
//! their preflights are answered; writes get no CORS headers at all, so browsers refuse them
//! cross-origin. Credentials are never allowed.

use std::fmt;

use poem::error::ReadBodyError;
use poem::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use poem::http::{Method, StatusCode, Version};
use poem::{Body, Endpoint, IntoResponse, Request, Response};
use tokio::time::Instant;

use super::is_docs;
use super::problem::Problem;
use crate::config::duration;
use crate::config::http::HttpLimits;

/// The middleware; `limits` come from the `http` section.
pub async fn harden<E: Endpoint>(next: E, req: Request, limits: HttpLimits) -> poem::Result<Response> {
    let cors = Cors::of(&req);
    // The Swagger UI page carries inline scripts and styles (its own CSP).
    let docs = is_docs(req.uri().path());
    let mut resp = guard(&next, req, &limits, cors).await;
    cors.apply(resp.headers_mut());
    security_headers(resp.headers_mut(), docs);
    Ok(resp)
}

/// The checks, then the handler within `requestTimeout`.
async fn guard<E: Endpoint>(next: &E, mut req: Request, limits: &HttpLimits, cors: Cors) -> Response {
    let header_bytes: usize = req.headers().iter().map(|(k, v)| k.as_str().len() + v.len()).sum();
    if header_bytes > limits.max_header_bytes {
        let detail = format!(
            "the request headers total {header_bytes} bytes; this server accepts at most {}",
            limits.max_header_bytes
        );
        return Problem::new(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, detail).into_poem();
    }
    // The path as received; and as normalised, when that differs (in-process requests carry only
    // the latter).
    let (raw, normalised) = (req.original_uri().path(), req.uri().path());
    let checked = check_path(raw).map_err(|f| (f, raw)).and_then(|()| match normalised {
        p if p == raw => Ok(()),
        p => check_path(p).map_err(|f| (f, p)),
    });
    if let Err((fault, path)) = checked {
        return Problem::invalid(StatusCode::BAD_REQUEST, "path", fault.to_string(), Some(path)).into_poem();
    }
    if cors == Cors::ReadPreflight {
        return Response::builder().status(StatusCode::NO_CONTENT).finish();
    }
    let deadline = Instant::now() + limits.request_timeout;
    if let Err(resp) = limit_body(&mut req, limits, deadline).await {
        return *resp;
    }
    match tokio::time::timeout_at(deadline, next.call(req)).await {
        Ok(Ok(resp)) => resp.into_response(),
        Ok(Err(err)) => err.into_response(),
        Err(_) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("request timed out: it took longer than {}", duration::format(limits.request_timeout)),
        )
        .into_poem(),
    }
}

/// Enforces `maxBodyBytes`: a declared `Content-Length` is checked before anything is read; a
/// body of unknown length (chunked) is read here, up to the limit and before `deadline`, so the
/// handler sees it whole or not at all.
async fn limit_body(req: &mut Request, limits: &HttpLimits, deadline: Instant) -> Result<(), Box<Response>> {
    let body = req.take_body();
    if body.is_empty() {
        req.set_body(body);
        return Ok(());
    }
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let too_large = || {
        let detail = format!("the request body is larger than this server accepts ({} bytes)", limits.max_body_bytes);
        let mut resp = Problem::new(StatusCode::PAYLOAD_TOO_LARGE, detail).into_poem();
        // The unread rest of the body makes the connection unusable for another request.
        if req.version() < Version::HTTP_2 {
            resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        Box::new(resp)
    };
    match declared {
        Some(n) if usize::try_from(n).map_or(true, |n| n > limits.max_body_bytes) => Err(too_large()),
        Some(_) => {
            req.set_body(body);
            Ok(())
        }
        None => match tokio::time::timeout_at(deadline, body.into_bytes_limit(limits.max_body_bytes)).await {
            Ok(Ok(bytes)) => {
                req.set_body(Body::from_bytes(bytes));
                Ok(())
            }
            Ok(Err(ReadBodyError::PayloadTooLarge)) => Err(too_large()),
            Ok(Err(_)) => {
                Err(Box::new(Problem::new(StatusCode::BAD_REQUEST, "the request body could not be read").into_poem()))
            }
            Err(_) => Err(Box::new(
                Problem::new(
                    StatusCode::REQUEST_TIMEOUT,
                    format!("the request body was not received within {}", duration::format(limits.request_timeout)),
                )
                .into_poem(),
            )),
        },
    }
}

/// Why a path is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathFault {
    /// A `.` or `..` segment, plain or percent-encoded (also inside an encoded `%2F`).
    DotSegment,
    /// A NUL or another control character, plain or percent-encoded.
    Control,
    /// A backslash, plain or `%5C`.
    Backslash,
    /// A `%XX` that appears once decoded: `%25` followed by two hex digits (`%252F`).
    DoubleEncoded,
    /// A `%` not followed by two hex digits.
    BadEncoding,
    /// Bytes that are not UTF-8 once decoded.
    NotUtf8,
}

impl fmt::Display for PathFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::DotSegment => "`.` and `..` segments are not allowed, encoded or not",
            Self::Control => "control characters (NUL included) are not allowed, encoded or not",
            Self::Backslash => "backslashes are not allowed, encoded or not",
            Self::DoubleEncoded => "the path is percent-encoded twice (`%25` followed by hex digits)",
            Self::BadEncoding => "`%` must be followed by two hex digits",
            Self::NotUtf8 => "the path is not UTF-8 once decoded",
        })
    }
}

/// Checks a raw (still percent-encoded) request path, segment by segment. An encoded `/` (`%2F`)
/// inside a segment is accepted: server names travel that way (`io.github.x%2Fy`); the parts it
/// separates are checked like segments. Allocates only for a segment with non-ASCII bytes.
///
/// # Errors
/// The first fault found.
pub fn check_path(path: &str) -> Result<(), PathFault> {
    path.split('/').try_for_each(check_segment)
}

fn check_segment(raw: &str) -> Result<(), PathFault> {
    let bytes = raw.as_bytes();
    let mut i = 0;
    let mut non_ascii = false;
    // The last two decoded bytes, to find a `%XX` that appears only once decoded.
    let mut prev = [0u8; 2];
    // The current part (between decoded slashes): its length and whether it is all dots.
    let (mut part_len, mut dots_only) = (0usize, true);
    while i < bytes.len() {
        let b = if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(PathFault::BadEncoding)?;
            let (Some(hi), Some(lo)) = (hex_value(hex[0]), hex_value(hex[1])) else {
                return Err(PathFault::BadEncoding);
            };
            i += 3;
            hi << 4 | lo
        } else {
            i += 1;
            bytes[i - 1]
        };
        if b.is_ascii_control() {
            return Err(PathFault::Control);
        }
        if b == b'\\' {
            return Err(PathFault::Backslash);
        }
        if prev[0] == b'%' && hex_value(prev[1]).is_some() && hex_value(b).is_some() {
            return Err(PathFault::DoubleEncoded);
        }
        if b == b'/' {
            if dots_only && (1..=2).contains(&part_len) {
                return Err(PathFault::DotSegment);
            }
            (part_len, dots_only) = (0, true);
        } else {
            part_len += 1;
            dots_only &= b == b'.';
        }
        non_ascii |= !b.is_ascii();
        prev = [prev[1], b];
    }
    if dots_only && (1..=2).contains(&part_len) {
        return Err(PathFault::DotSegment);
    }
    if non_ascii {
        let decoded: Vec<u8> = percent_encoding::percent_decode_str(raw).collect();
        let text = std::str::from_utf8(&decoded).map_err(|_| PathFault::NotUtf8)?;
        if text.chars().any(char::is_control) {
            return Err(PathFault::Control);
        }
    }
    Ok(())
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The methods a cross-origin read may use.
const READ_METHODS: &str = "GET, OPTIONS";
/// The request headers a cross-origin read may send.
const READ_HEADERS: &str = "Authorization, Content-Type, If-None-Match";

/// What CORS makes of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cors {
    /// Not a cross-origin read: no CORS headers.
    None,
    /// A read (`GET`, `HEAD`) with an `Origin`: allowed from anywhere.
    Read,
    /// A read without an `Origin`: only `Vary: Origin`, for caches.
    SameOrigin,
    /// A preflight asking for a read: answered here with the allowances.
    ReadPreflight,
}

impl Cors {
    fn of(req: &Request) -> Self {
        let origin = req.headers().contains_key(header::ORIGIN);
        match *req.method() {
            Method::GET | Method::HEAD if origin => Self::Read,
            Method::GET | Method::HEAD => Self::SameOrigin,
            Method::OPTIONS if origin => {
                let asked = req.headers().get(header::ACCESS_CONTROL_REQUEST_METHOD).map(HeaderValue::as_bytes);
                if matches!(asked, Some(b"GET" | b"HEAD")) { Self::ReadPreflight } else { Self::None }
            }
            _ => Self::None,
        }
    }

    fn apply(self, headers: &mut HeaderMap) {
        let set = |headers: &mut HeaderMap, name: HeaderName, value: &'static str| {
            headers.insert(name, HeaderValue::from_static(value));
        };
        match self {
            Self::None => {}
            Self::SameOrigin => {
                headers.append(header::VARY, HeaderValue::from_static("Origin"));
            }
            Self::Read => {
                headers.append(header::VARY, HeaderValue::from_static("Origin"));
                set(headers, header::ACCESS_CONTROL_ALLOW_ORIGIN, "*");
                set(headers, header::ACCESS_CONTROL_EXPOSE_HEADERS, "ETag, WWW-Authenticate");
                // Browsers read these on preflights only; GitHub's guide for a private MCP
                // registry asks for them on every response of the read routes.
                set(headers, header::ACCESS_CONTROL_ALLOW_METHODS, READ_METHODS);
                set(headers, header::ACCESS_CONTROL_ALLOW_HEADERS, READ_HEADERS);
            }
            Self::ReadPreflight => {
                set(headers, header::ACCESS_CONTROL_ALLOW_ORIGIN, "*");
                set(headers, header::ACCESS_CONTROL_ALLOW_METHODS, READ_METHODS);
                set(headers, header::ACCESS_CONTROL_ALLOW_HEADERS, READ_HEADERS);
                set(headers, header::ACCESS_CONTROL_MAX_AGE, "86400");
            }
        }
    }
}

/// The API serves JSON only: no content sniffing, no framing, no referrer, and a policy that lets
/// a response run nothing. The Swagger UI page gets a policy that lets its own inline code run
/// and call this origin. No HSTS: TLS is terminated in front of this server.
fn security_headers(headers: &mut HeaderMap, docs: bool) {
    let csp = if docs {
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; \
         font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    } else {
        "default-src 'none'; frame-ancestors 'none'"
    };
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CONTENT_SECURITY_POLICY, csp),
        (HeaderName::from_static("cross-origin-resource-policy"), "cross-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

#[cfg(test)]
mod tests;
