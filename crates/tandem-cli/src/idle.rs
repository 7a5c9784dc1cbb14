//! Closing idle keep-alive connections. hyper's header-read timeout covers a
//! request that has begun, not the wait between requests (hyper#3828), so a
//! connection that finished one request could hold its slot (one of
//! `--max-connections`) forever. [`Watched`] records when bytes last moved;
//! the server shuts a connection down gracefully once none have for the idle
//! timeout (a request still running finishes first).

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection that records when bytes last moved either way.
pub(crate) struct Watched<S> {
    inner: S,
    last: Rc<Cell<Instant>>,
}

impl<S> Watched<S> {
    /// Wraps `inner`; `last` is updated on every read or write.
    pub(crate) fn new(inner: S, last: Rc<Cell<Instant>>) -> Self {
        last.set(Instant::now());
        Self { inner, last }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.last.set(Instant::now());
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.last.set(Instant::now());
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
