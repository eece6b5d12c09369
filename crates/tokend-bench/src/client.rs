//! The HTTP client: one keep-alive HTTP/1.1 connection per task, hyper's low-level connection
//! API, no pool, no TLS, so the client costs as little as possible next to the server.

use std::net::SocketAddr;

use anyhow::{anyhow, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// A status and a whole body.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// The body, read to the end.
    pub body: Bytes,
}

/// One connection to the server; reconnects on the next request after a failure.
pub struct Client {
    addr: SocketAddr,
    host: HeaderValue,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Client {
    /// A client for `addr`; the connection is opened by the first request.
    pub fn new(addr: SocketAddr) -> anyhow::Result<Self> {
        Ok(Self {
            addr,
            host: HeaderValue::from_str(&addr.to_string())?,
            sender: None,
        })
    }

    /// Opens the connection now (so connecting is not inside the first measured request).
    pub async fn connect(&mut self) -> anyhow::Result<()> {
        if self.sender.as_ref().is_some_and(|s| !s.is_closed()) {
            return Ok(());
        }
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .with_context(|| format!("connecting to {}", self.addr))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP/1.1 handshake")?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        self.sender = Some(sender);
        Ok(())
    }

    /// Sends a request built by [`request`] and reads the whole answer. On any failure the
    /// connection is dropped; the next call opens a new one.
    pub async fn send(&mut self, request: Request<Full<Bytes>>) -> anyhow::Result<Reply> {
        let result = self.send_inner(request).await;
        if result.is_err() {
            self.sender = None;
        }
        result
    }

    async fn send_inner(&mut self, mut request: Request<Full<Bytes>>) -> anyhow::Result<Reply> {
        self.connect().await?;
        let sender = self
            .sender
            .as_mut()
            .ok_or_else(|| anyhow!("not connected"))?;
        sender.ready().await?;
        request.headers_mut().insert(HOST, self.host.clone());
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Reply { status, body })
    }

    /// A JSON request for provisioning: `bearer` goes into `Authorization`, the answer is parsed
    /// (an empty body is `null`).
    pub async fn json(
        &mut self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<&Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let auth = bearer.map(|b| format!("Bearer {b}"));
        let mut headers = Vec::new();
        if let Some(auth) = &auth {
            headers.push((AUTHORIZATION.as_str(), auth.as_str()));
        }
        let body = body
            .map(|b| -> anyhow::Result<_> { Ok(("application/json", serde_json::to_vec(b)?)) })
            .transpose()?;
        let reply = self
            .send(request(method, path, &headers, body)?)
            .await
            .with_context(|| path.to_string())?;
        let value = if reply.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&reply.body).unwrap_or(Value::Null)
        };
        Ok((reply.status, value))
    }
}

/// Builds a request: extra headers as (name, value), an optional (content type, body).
pub fn request(
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<(&'static str, Vec<u8>)>,
) -> anyhow::Result<Request<Full<Bytes>>> {
    let mut builder = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let body = match body {
        Some((content_type, bytes)) => {
            builder = builder.header(CONTENT_TYPE, content_type);
            Full::new(Bytes::from(bytes))
        }
        None => Full::new(Bytes::new()),
    };
    Ok(builder.body(body)?)
}

/// Fails with the status and body unless the answer has the expected status.
pub fn expect_status(what: &str, want: u16, got: (u16, Value)) -> anyhow::Result<Value> {
    if got.0 == want {
        Ok(got.1)
    } else {
        Err(anyhow!("{what}: expected {want}, got {}: {}", got.0, got.1))
    }
}
