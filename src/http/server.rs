//! The HTTP server loop: hyper's HTTP/1.1 connection driver under axum's router, because
//! `axum::serve` bounds neither how long a client may take to send its request nor how many
//! connections it holds.
//!
//! - Headers must arrive within `TOKEND_HEADER_READ_TIMEOUT_SECONDS` (hyper's timer), the whole
//!   body within `TOKEND_BODY_READ_TIMEOUT_SECONDS` of the request's start ([`DeadlineBody`]), and
//!   a keep-alive connection idle for `TOKEND_IDLE_TIMEOUT_SECONDS` is closed.
//! - At most `TOKEND_MAX_CONNECTIONS` connections are served at once; the next waits in the
//!   kernel's listen backlog.
//! - On shutdown the listener closes, every connection finishes its in-flight request and closes,
//!   and whatever is still running after `TOKEND_SHUTDOWN_GRACE_SECONDS` is dropped, so a client
//!   that never finishes sending cannot keep tokend alive.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use bytes::Bytes;
use http_body::Frame;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::config::Settings;

/// The limits of one listener, from the settings.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time to send the request head.
    pub header_read: Duration,
    /// Time to send the whole body, from the start of the request.
    pub body_read: Duration,
    /// Keep-alive connections idle this long are closed.
    pub idle: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// Time in-flight requests get after shutdown begins.
    pub shutdown_grace: Duration,
}

impl Limits {
    /// The limits configured in `settings`.
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            header_read: settings.header_read_timeout,
            body_read: settings.body_read_timeout,
            idle: settings.idle_timeout,
            max_connections: settings.max_connections,
            shutdown_grace: settings.shutdown_grace,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains as described above.
pub async fn run(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (closing_tx, closing_rx) = watch::channel(false);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let app = app.clone();
        let closing = closing_rx.clone();
        connections.spawn(async move {
            serve_connection(stream, peer, app, limits, closing).await;
            drop(permit);
        });
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = closing_tx.send(true);
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            left = connections.len(),
            "shutdown grace period over; closing the remaining connections"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// When the connection last finished a request, and how many are in flight.
#[derive(Debug)]
struct Activity {
    in_flight: AtomicUsize,
    last_ms: AtomicU64,
    started: Instant,
}

impl Activity {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn idle_for(&self) -> Option<Duration> {
        (self.in_flight.load(Ordering::Acquire) == 0).then(|| {
            Duration::from_millis(
                self.now_ms()
                    .saturating_sub(self.last_ms.load(Ordering::Acquire)),
            )
        })
    }
}

/// Decrements the in-flight count however the request ends (answered, or dropped mid-way).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.last_ms.store(self.0.now_ms(), Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: Limits,
    mut closing: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity {
        in_flight: AtomicUsize::new(0),
        last_ms: AtomicU64::new(0),
        started: Instant::now(),
    });
    let tracked = activity.clone();
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        tracked.in_flight.fetch_add(1, Ordering::AcqRel);
        let guard = InFlight(tracked.clone());
        let deadline = tokio::time::Instant::now() + limits.body_read;
        let mut req = req.map(|body| Body::new(DeadlineBody::new(body, deadline)));
        req.extensions_mut().insert(ConnectInfo(peer));
        let app = app.clone();
        async move {
            let response = match app.oneshot(req).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            drop(guard);
            Ok::<_, Infallible>(response)
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read)
        .keep_alive(true);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let mut shutting_down = *closing.borrow();
    if shutting_down {
        connection.as_mut().graceful_shutdown();
    }
    let mut tick = tokio::time::interval((limits.idle / 4).max(Duration::from_millis(100)));
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
                break;
            }
            changed = closing.changed(), if !shutting_down => {
                if changed.is_err() || *closing.borrow() {
                    shutting_down = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
            _ = tick.tick(), if !shutting_down => {
                if activity.idle_for().is_some_and(|idle| idle >= limits.idle) {
                    shutting_down = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// A request body that fails once its deadline passes, however slowly the bytes trickle in.
pub struct DeadlineBody {
    inner: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl DeadlineBody {
    fn new(inner: Incoming, deadline: tokio::time::Instant) -> Self {
        Self {
            inner,
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
        }
    }
}

/// The error a [`DeadlineBody`] ends with.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimeout;

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if self.inner.is_end_stream() {
            return Poll::Ready(None);
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
