//! The tokio runtime shim: tasks, timers and TCP — everything ferry-net's driver asks of a
//! runtime (TLS and the rest are the driver's, over futures-io).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use ferry_net::driver::{BoxFuture, BoxFutureRef, Runtime};
use tokio::net::{TcpListener, TcpStream};

/// tokio as a ferry-net [`Runtime`]: tasks on the runtime that created the listener or
/// replicator, tokio timers and TCP.
#[derive(Debug, Clone)]
pub struct TokioRuntime {
    handle: tokio::runtime::Handle,
}

/// A tokio TCP stream seen through futures-io traits (with `TCP_NODELAY` set).
#[derive(Debug)]
pub struct TokioTcp(TcpStream);

impl TokioTcp {
    fn new(stream: TcpStream) -> io::Result<Self> {
        stream.set_nodelay(true)?;
        Ok(TokioTcp(stream))
    }
}

impl futures_util::io::AsyncRead for TokioTcp {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut read = tokio::io::ReadBuf::new(buf);
        match tokio::io::AsyncRead::poll_read(Pin::new(&mut self.0), cx, &mut read) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(read.filled().len())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl futures_util::io::AsyncWrite for TokioTcp {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        tokio::io::AsyncWrite::poll_write(Pin::new(&mut self.0), cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::io::AsyncWrite::poll_flush(Pin::new(&mut self.0), cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::io::AsyncWrite::poll_shutdown(Pin::new(&mut self.0), cx)
    }
}

impl Runtime for TokioRuntime {
    type TcpListener = TcpListener;
    type Tcp = TokioTcp;

    /// The runtime of the calling task. Panics outside a tokio runtime, as `tokio::spawn` does.
    fn current() -> Arc<Self> {
        Arc::new(TokioRuntime {
            handle: tokio::runtime::Handle::current(),
        })
    }

    fn spawn(&self, future: BoxFuture<()>) {
        self.handle.spawn(future);
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<()> {
        Box::pin(tokio::time::sleep(duration))
    }

    fn connect(&self, authority: String) -> BoxFuture<io::Result<TokioTcp>> {
        Box::pin(async move { TokioTcp::new(TcpStream::connect(authority).await?) })
    }

    fn bind(&self, addr: SocketAddr) -> BoxFuture<io::Result<TcpListener>> {
        Box::pin(TcpListener::bind(addr))
    }

    fn local_addr(&self, listener: &TcpListener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }

    fn accept<'a>(
        &self,
        listener: &'a TcpListener,
    ) -> BoxFutureRef<'a, io::Result<(TokioTcp, SocketAddr)>> {
        Box::pin(async move {
            let (stream, peer) = listener.accept().await?;
            Ok((TokioTcp::new(stream)?, peer))
        })
    }
}
