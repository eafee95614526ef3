//! The async-std runtime shim: everything ferry-net's driver asks of a runtime.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_std::net::{TcpListener, TcpStream};
use ferry_net::driver::{BoxFuture, BoxFutureRef, BoxStream, Runtime, Secured};
use ferry_net::pki_types::ServerName;
use ferry_net::rustls;

/// async-std as a ferry-net [`Runtime`]: `async_std::task` tasks and timers, `async_std::net`
/// TCP, futures-rustls TLS.
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncStdRuntime;

impl Runtime for AsyncStdRuntime {
    type TcpListener = TcpListener;
    type Tcp = TcpStream;

    /// async-std has one global runtime: this works from any thread.
    fn current() -> Arc<Self> {
        Arc::new(AsyncStdRuntime)
    }

    fn spawn(&self, future: BoxFuture<()>) {
        async_std::task::spawn(future);
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<()> {
        Box::pin(async_std::task::sleep(duration))
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
        Box::new(tcp)
    }

    fn tls_connect(
        &self,
        config: Arc<rustls::ClientConfig>,
        name: ServerName<'static>,
        tcp: TcpStream,
    ) -> BoxFuture<io::Result<BoxStream>> {
        crate::tls::connect(config, name, tcp)
    }

    fn tls_accept(
        &self,
        config: Arc<rustls::ServerConfig>,
        tcp: TcpStream,
    ) -> BoxFuture<io::Result<Secured>> {
        crate::tls::accept(config, tcp)
    }
}
