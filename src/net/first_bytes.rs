//! FirstBytes: a connection must send its first 24 bytes (an HTTP/1 request
//! line, or the HTTP/2 preface) within the header timeout. hyper's header
//! timeout only starts once it knows the protocol, and telling HTTP/1 from
//! HTTP/2 waits for those bytes without a deadline, so a client that
//! connects and sends nothing would otherwise hold its connection forever.
//! HTTP/2 without TLS (h2c) is refused: it has no header timeout at all.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The HTTP/2 connection preface (RFC 9113 §3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Wraps another acceptor's streams in [`FirstBytes`].
#[derive(Debug, Clone)]
pub struct FirstBytesAcceptor<A> {
    inner: A,
    timeout: Duration,
}

impl<A> FirstBytesAcceptor<A> {
    /// `inner`'s streams must send 24 bytes within `timeout`.
    pub fn new(inner: A, timeout: Duration) -> Self {
        Self { inner, timeout }
    }
}

impl<A, I, S> Accept<I, S> for FirstBytesAcceptor<A>
where
    A: Accept<I, S>,
    A::Future: Send + 'static,
{
    type Stream = FirstBytes<A::Stream>;
    type Service = A::Service;
    type Future = Pin<Box<dyn Future<Output = io::Result<(Self::Stream, Self::Service)>> + Send>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let accepted = self.inner.accept(stream, service);
        let timeout = self.timeout;
        Box::pin(async move {
            let (stream, service) = accepted.await?;
            Ok((FirstBytes::new(stream, timeout), service))
        })
    }
}

/// A stream that fails its reads if its first 24 bytes do not arrive before
/// a deadline, or if they are the HTTP/2 preface.
pub struct FirstBytes<S> {
    inner: S,
    deadline: Pin<Box<tokio::time::Sleep>>,
    first: [u8; 24],
    seen: usize,
}

impl<S> FirstBytes<S> {
    fn new(inner: S, timeout: Duration) -> Self {
        Self {
            inner,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            first: [0; 24],
            seen: 0,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for FirstBytes<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.seen == PREFACE.len() {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no request within the header timeout",
            )));
        }
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result {
            let fresh = &buf.filled()[before..];
            let take = fresh.len().min(PREFACE.len() - this.seen);
            this.first[this.seen..this.seen + take].copy_from_slice(&fresh[..take]);
            this.seen += take;
            if this.seen == PREFACE.len() && &this.first == PREFACE {
                buf.set_filled(before);
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "HTTP/2 without TLS is not served",
                )));
            }
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FirstBytes<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, bytes)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
