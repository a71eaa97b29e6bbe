//! The one stub server of the tests: a poem app on 127.0.0.1 with a free port. Every stub (an
//! upstream registry, an `OpenID` provider, a Kubernetes API, a git HTTP server, an OTLP receiver,
//! the scenario servers of the adapter tests) binds one of these instead of its own listener.

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use anyhow::Context as _;
use tokio::io::{AsyncRead, ReadBuf};

/// A listener on 127.0.0.1 with a free port. The address is known before the app is built, so
/// the app can refer to itself (an issuer URL, a next-page link).
pub struct Loopback {
    acceptor: poem::listener::TcpAcceptor,
    pub addr: SocketAddr,
}

impl std::fmt::Debug for Loopback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loopback").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl Loopback {
    pub async fn bind() -> anyhow::Result<Self> {
        use poem::listener::{Acceptor as _, Listener as _};
        let acceptor =
            poem::listener::TcpListener::bind("127.0.0.1:0").into_acceptor().await.context("binding 127.0.0.1")?;
        let addr = acceptor
            .local_addr()
            .into_iter()
            .find_map(|a| a.as_socket_addr().copied())
            .context("the listener has no socket address")?;
        Ok(Self { acceptor, addr })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Serves `app` until the returned task is aborted (or the test's runtime ends).
    pub fn serve<E>(self, app: E) -> tokio::task::JoinHandle<()>
    where
        E: poem::IntoEndpoint + Send + 'static,
        E::Endpoint: 'static,
    {
        tokio::spawn(async move {
            let _ = poem::Server::new_with_acceptor(self.acceptor).run(app).await;
        })
    }
}

/// A response body that never yields a byte (`poem::Body::from_async_read(Stalled)`): with a
/// large `Content-Length`, a server that promises a huge body and then stalls.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stalled;

impl AsyncRead for Stalled {
    fn poll_read(self: Pin<&mut Self>, _: &mut TaskContext<'_>, _: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Poll::Pending
    }
}
