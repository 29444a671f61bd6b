//! The HTTP server's accept loop, with the limits a public server needs and `axum::serve`
//! does not offer: a deadline for a request's headers (a client sending them a byte a
//! minute is cut off: slowloris), a deadline for its body, and a cap on the connections
//! served at once. Over the cap, new connections wait in the listen backlog until one
//! closes: refusing them would only make clients retry at once, and waiting is what the
//! kernel's backlog is for; a client that cannot wait has its own connect timeout.
//! Each request carries `ConnectInfo<SocketAddr>` (the per-IP rate limits read it).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::Service;

/// The server's limits (from `PAYGATE_HEADER_TIMEOUT`, `PAYGATE_BODY_TIMEOUT`,
/// `PAYGATE_MAX_CONNECTIONS`).
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    /// Time from the connection's first byte (or the end of the previous request) to the
    /// end of a request's headers.
    pub header_timeout: Duration,
    /// Time from the end of the headers to the end of the body.
    pub body_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

/// How long the loop pauses after a failed accept (out of file descriptors, mostly) so it
/// does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Serves `router` on `listener` until `stop`, then lets the connections under way finish
/// their requests (idle ones are closed at once).
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: ServerLimits,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    // HTTP/1 only, as `axum::serve` with axum's default features served: the header
    // deadline covers the wait for a connection's first request and between keep-alive
    // requests too, so an idle connection is closed after it.
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    loop {
        // The permit first: over the cap, connections stay in the backlog, not accepted.
        let permit = tokio::select! {
            _ = stop.cancelled() => break,
            p = permits.clone().acquire_owned() => p.map_err(std::io::Error::other)?,
        };
        let (stream, remote) = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed; pausing");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let router = router.clone();
        let body_timeout = limits.body_timeout;
        let service =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(remote));
                let req = req.map(|b| Body::new(DeadlineBody::new(b, body_timeout)));
                let mut router = router.clone();
                async move { router.call(req).await }
            });
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%remote, error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    graceful.shutdown().await;
    Ok(())
}

/// A request body that fails once its deadline passes, however the bytes trickle in.
struct DeadlineBody {
    inner: hyper::body::Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl DeadlineBody {
    fn new(inner: hyper::body::Incoming, timeout: Duration) -> DeadlineBody {
        DeadlineBody {
            inner,
            deadline: Box::pin(tokio::time::sleep(timeout)),
        }
    }
}

/// The error of a body that took too long.
#[derive(Debug, thiserror::Error)]
#[error("the request body took longer than PAYGATE_BODY_TIMEOUT")]
pub struct BodyTimeout;

impl hyper::body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}
