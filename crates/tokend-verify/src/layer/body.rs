//! A request body that counts what it yields and fails past a cap, so a service token's
//! `max_request_bytes` holds for chunked bodies (no `Content-Length`) and lying clients too.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use http_body::{Frame, SizeHint};

/// The error a capped body yields once the cap is passed; the layer sees the flag and answers
/// 413 `request_too_large` whatever the handler made of the error.
#[derive(Debug, thiserror::Error)]
#[error("the request body exceeds the token's limit")]
pub(crate) struct BodyTooLarge;

/// Wraps a body with a byte budget; `exceeded` is raised when a frame would overspend it.
pub(crate) struct CappedBody {
    inner: Body,
    remaining: u64,
    exceeded: Arc<AtomicBool>,
}

impl CappedBody {
    pub(crate) fn new(inner: Body, limit: u64, exceeded: Arc<AtomicBool>) -> Self {
        Self {
            inner,
            remaining: limit,
            exceeded,
        }
    }
}

impl http_body::Body for CappedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if this.exceeded.load(Ordering::Relaxed) {
            return Poll::Ready(Some(Err(axum::Error::new(BodyTooLarge))));
        }
        let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            other => return other,
        };
        if let Some(data) = frame.data_ref() {
            let len = u64::try_from(data.len()).unwrap_or(u64::MAX);
            if len > this.remaining {
                this.exceeded.store(true, Ordering::Relaxed);
                return Poll::Ready(Some(Err(axum::Error::new(BodyTooLarge))));
            }
            this.remaining -= len;
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
