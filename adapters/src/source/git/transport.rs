//! The HTTP(S) transport git fetches run on: gix's smart-HTTP protocol over async reqwest,
//! driven on a runtime of the fetch's own, with every wait racing the fetch's [`Stop`].
//!
//! gix's bundled reqwest backend reads responses in blocking calls that nothing can interrupt: a
//! server that goes silent keeps the thread (and the clone directory) until reqwest's own timeout.
//! Here a stopped fetch (its sync timed out, or its pack outgrew the bound) ends the request at
//! once and closes its connection. Requests are sent when gix first reads their answer, after it
//! wrote (and dropped) the request body, which is small (wants and haves).

use std::io::{self, BufRead, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use gix::protocol::transport::client::AuthenticationRequired;
use gix::protocol::transport::client::blocking_io::http::{GetResponse, Http, PostBodyDataKind, PostResponse};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode, Url};

use super::limits::Stop;

/// How long establishing a connection may take (as gix's own backend).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// Redirects followed for the ref advertisement, as git (curl) does.
const MAX_REDIRECTS: usize = 50;

/// An [`Http`] implementation for gix whose requests end as soon as the fetch is stopped.
pub(super) struct StoppableHttp {
    runtime: Arc<tokio::runtime::Runtime>,
    client: reqwest::Client,
    stop: Arc<Stop>,
    /// Extra header lines (`Name: value`) sent with every request: the configured credentials.
    extra_headers: Vec<String>,
    /// Whether the next request may follow redirects: only the ref advertisement does.
    follow_redirects: Arc<AtomicBool>,
    redirected_base_url: Option<String>,
}

impl StoppableHttp {
    /// `extra_headers`: `Name: value` lines added to every request (e.g. `Authorization`).
    pub(super) fn new(stop: Arc<Stop>, extra_headers: Vec<String>) -> io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let follow_redirects = Arc::new(AtomicBool::new(false));
        let policy = redirect_policy(Arc::clone(&follow_redirects), !extra_headers.is_empty());
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(policy)
            .build()
            .map_err(io::Error::other)?;
        Ok(Self {
            runtime: Arc::new(runtime),
            client,
            stop,
            extra_headers,
            follow_redirects,
            redirected_base_url: None,
        })
    }

    fn exchange(&self, method: Method, url: &str, headers: impl IntoIterator<Item = impl AsRef<str>>) -> Exchange {
        let mut map = HeaderMap::new();
        for line in headers.into_iter().map(|h| h.as_ref().to_owned()).chain(self.extra_headers.iter().cloned()) {
            if let Some((name, value)) = line.split_once(':')
                && let (Ok(name), Ok(value)) = (HeaderName::try_from(name.trim()), HeaderValue::try_from(value.trim()))
            {
                map.append(name, value);
            }
        }
        let body = Arc::new(Mutex::new(Vec::new()));
        let request = self.client.request(method, url).headers(map);
        let state = State::Pending { request, body: Arc::clone(&body) };
        Exchange {
            shared: Arc::new(Shared {
                runtime: Arc::clone(&self.runtime),
                stop: Arc::clone(&self.stop),
                state: Mutex::new(state),
            }),
            body,
        }
    }
}

impl Http for StoppableHttp {
    type Headers = Headers;
    type ResponseBody = Body;
    type PostBody = PostBody;

    fn get(
        &mut self,
        url: &str,
        base_url: &str,
        headers: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> gix::Result<GetResponse<Headers, Body>> {
        self.follow_redirects.store(true, Ordering::SeqCst);
        let exchange = self.exchange(Method::GET, url, headers);
        // Sent now rather than when read, so a redirect is known before gix asks for it.
        let (headers, final_url) = match exchange.shared.send() {
            Ok((lines, final_url)) => (Headers::ready(lines), Some(final_url)),
            Err(e) => (Headers::failed(e), None),
        };
        self.follow_redirects.store(false, Ordering::SeqCst);
        if let Some(final_url) = final_url.filter(|u| u != url)
            && let Some(tail) = url.strip_prefix(base_url)
            && let Some(base) = final_url.strip_suffix(tail)
        {
            self.redirected_base_url = Some(base.to_owned());
        }
        Ok(GetResponse { headers, body: Body::new(&exchange.shared) })
    }

    fn post(
        &mut self,
        url: &str,
        _base_url: &str,
        headers: impl IntoIterator<Item = impl AsRef<str>>,
        _body: PostBodyDataKind,
    ) -> gix::Result<PostResponse<Headers, Body, PostBody>> {
        let exchange = self.exchange(Method::POST, url, headers);
        Ok(PostResponse {
            post_body: PostBody(exchange.body),
            headers: Headers::lazy(&exchange.shared),
            body: Body::new(&exchange.shared),
        })
    }

    fn configure(&mut self, _config: &dyn std::any::Any) -> gix::Result {
        Ok(())
    }

    fn redirected_base_url(&self) -> Option<String> {
        self.redirected_base_url.clone()
    }
}

/// Follows redirects of the ref advertisement only (a redirected POST would turn into a GET),
/// never from https to http, and, with credentials configured, never to another origin (the
/// credentials would follow to the requests after it).
fn redirect_policy(follow: Arc<AtomicBool>, with_credentials: bool) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        let Some(previous) = attempt.previous().last().cloned() else { return attempt.follow() };
        let next = attempt.url().clone();
        if !follow.load(Ordering::SeqCst) {
            attempt.stop()
        } else if attempt.previous().len() >= MAX_REDIRECTS {
            attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
        } else if previous.scheme() == "https" && next.scheme() != "https" {
            attempt.error(format!("refusing to follow a redirect from https to {next}"))
        } else if with_credentials && origin(&previous) != origin(&next) {
            attempt.error(format!("refusing to follow a redirect to {} with the configured credentials", origin(&next)))
        } else {
            attempt.follow()
        }
    })
}

fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// One request and its response, shared by the header and body readers gix is handed.
struct Shared {
    runtime: Arc<tokio::runtime::Runtime>,
    stop: Arc<Stop>,
    state: Mutex<State>,
}

enum State {
    Pending { request: reqwest::RequestBuilder, body: Arc<Mutex<Vec<u8>>> },
    Open(reqwest::Response),
    Done,
}

struct Exchange {
    shared: Arc<Shared>,
    body: Arc<Mutex<Vec<u8>>>,
}

impl Shared {
    /// Runs `fut` unless or until the fetch is stopped.
    fn run<T>(&self, fut: impl Future<Output = io::Result<T>>) -> io::Result<T> {
        self.runtime.block_on(async {
            tokio::select! {
                biased;
                () = self.stop.stopped() => Err(io::Error::new(io::ErrorKind::Interrupted, "the fetch was stopped")),
                result = fut => result,
            }
        })
    }

    /// Sends a pending request and returns its header lines and final URL; `Ok` with no lines
    /// when it was sent already.
    fn send(&self) -> io::Result<(Vec<u8>, String)> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let State::Pending { request, body } = std::mem::replace(&mut *state, State::Done) else {
            return Ok((Vec::new(), String::new()));
        };
        let body = std::mem::take(&mut *body.lock().unwrap_or_else(PoisonError::into_inner));
        let request = if body.is_empty() { request } else { request.body(body) };
        let response = self.run(async { request.send().await.map_err(transfer_error) })?;
        let status = response.status();
        if !status.is_success() {
            return Err(status_error(status, response.headers()));
        }
        let mut lines = Vec::new();
        for (name, value) in response.headers() {
            lines.extend_from_slice(name.as_str().as_bytes());
            lines.push(b':');
            lines.extend_from_slice(value.as_bytes());
            lines.push(b'\n');
        }
        let final_url = response.url().to_string();
        *state = State::Open(response);
        Ok((lines, final_url))
    }

    /// The next piece of the response body; `None` at its end.
    fn next_chunk(&self) -> io::Result<Option<Bytes>> {
        if matches!(*self.state.lock().unwrap_or_else(PoisonError::into_inner), State::Pending { .. }) {
            self.send()?;
        }
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let State::Open(response) = &mut *state else { return Ok(None) };
        let chunk = self.run(async { response.chunk().await.map_err(transfer_error) });
        if !matches!(chunk, Ok(Some(_))) {
            *state = State::Done;
        }
        chunk
    }
}

fn transfer_error(err: reqwest::Error) -> io::Error {
    let kind = if err.is_timeout() { io::ErrorKind::TimedOut } else { io::ErrorKind::Other };
    io::Error::new(kind, err)
}

/// As gix's own backends report statuses: 401 as an authentication challenge, 403 as refused.
fn status_error(status: StatusCode, headers: &HeaderMap) -> io::Error {
    let message = format!("Received HTTP status {}", status.as_str());
    match status {
        StatusCode::UNAUTHORIZED => {
            let www_authenticate = headers.get_all(WWW_AUTHENTICATE).iter().map(|v| v.as_bytes().into()).collect();
            io::Error::new(io::ErrorKind::PermissionDenied, AuthenticationRequired { www_authenticate })
        }
        StatusCode::FORBIDDEN => io::Error::new(io::ErrorKind::PermissionDenied, message),
        s if s.is_server_error() => io::Error::new(io::ErrorKind::ConnectionAborted, message),
        _ => io::Error::other(message),
    }
}

/// The request body gix writes; sent when the response is first read.
pub(super) struct PostBody(Arc<Mutex<Vec<u8>>>);

impl Write for PostBody {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The response headers, one `name:value` line each, or the error that stands in for them.
pub(super) struct Headers {
    pending: Option<Arc<Shared>>,
    lines: io::Cursor<Vec<u8>>,
    error: Option<io::Error>,
}

impl Headers {
    fn ready(lines: Vec<u8>) -> Self {
        Self { pending: None, lines: io::Cursor::new(lines), error: None }
    }

    fn failed(error: io::Error) -> Self {
        Self { pending: None, lines: io::Cursor::default(), error: Some(error) }
    }

    fn lazy(shared: &Arc<Shared>) -> Self {
        Self { pending: Some(Arc::clone(shared)), lines: io::Cursor::default(), error: None }
    }
}

impl Read for Headers {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.fill_buf()?.read(buf)?;
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Headers {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if let Some(shared) = self.pending.take() {
            match shared.send() {
                Ok((lines, _)) => self.lines = io::Cursor::new(lines),
                Err(e) => self.error = Some(e),
            }
        }
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.lines.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        self.lines.consume(amt);
    }
}

/// The response body, read chunk by chunk.
pub(super) struct Body {
    shared: Arc<Shared>,
    chunk: Bytes,
}

impl Body {
    fn new(shared: &Arc<Shared>) -> Self {
        Self { shared: Arc::clone(shared), chunk: Bytes::new() }
    }
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.fill_buf()?.read(buf)?;
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Body {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.chunk.is_empty() {
            match self.shared.next_chunk()? {
                Some(chunk) => self.chunk = chunk,
                None => break,
            }
        }
        Ok(&self.chunk)
    }

    fn consume(&mut self, amt: usize) {
        let _ = self.chunk.split_to(amt.min(self.chunk.len()));
    }
}
