//! The tokio runtime shim: everything ferry-net's driver asks of a runtime.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use ferry_net::driver::{BoxFuture, BoxFutureRef, BoxStream, Runtime, Secured};
use ferry_net::pki_types::ServerName;
use ferry_net::rustls;
use tokio::net::{TcpListener, TcpStream};

/// tokio as a ferry-net [`Runtime`]: tasks on the runtime that created the listener or
/// replicator, tokio timers and TCP, tokio-rustls.
#[derive(Debug, Clone)]
pub struct TokioRuntime {
    handle: tokio::runtime::Handle,
}

/// A tokio stream seen through futures-io traits.
struct Compat<T>(T);

impl<T: tokio::io::AsyncRead + Unpin> futures_util::io::AsyncRead for Compat<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut read = tokio::io::ReadBuf::new(buf);
        match Pin::new(&mut self.0).poll_read(cx, &mut read) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(read.filled().len())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> futures_util::io::AsyncWrite for Compat<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl Runtime for TokioRuntime {
    type TcpListener = TcpListener;
    type Tcp = TcpStream;

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

    fn connect(&self, authority: String) -> BoxFuture<io::Result<TcpStream>> {
        Box::pin(async move {
            let stream = TcpStream::connect(authority).await?;
            stream.set_nodelay(true)?;
            Ok(stream)
        })
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
    ) -> BoxFutureRef<'a, io::Result<(TcpStream, SocketAddr)>> {
        Box::pin(async move {
            let (stream, peer) = listener.accept().await?;
            stream.set_nodelay(true)?;
            Ok((stream, peer))
        })
    }

    fn plain(&self, tcp: TcpStream) -> BoxStream {
        Box::new(Compat(tcp))
    }

    fn tls_connect(
        &self,
        config: Arc<rustls::ClientConfig>,
        name: ServerName<'static>,
        tcp: TcpStream,
    ) -> BoxFuture<io::Result<BoxStream>> {
        Box::pin(async move {
            let stream = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await?;
            Ok(Box::new(Compat(stream)) as BoxStream)
        })
    }

    fn tls_accept(
        &self,
        config: Arc<rustls::ServerConfig>,
        tcp: TcpStream,
    ) -> BoxFuture<io::Result<Secured>> {
        Box::pin(async move {
            let stream = tokio_rustls::TlsAcceptor::from(config).accept(tcp).await?;
            let peer_certificates = stream.get_ref().1.peer_certificates().map(<[_]>::to_vec);
            Ok(Secured {
                stream: Box::new(Compat(stream)),
                peer_certificates,
            })
        })
    }
}
