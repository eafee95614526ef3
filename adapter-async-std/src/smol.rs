//! The smol runtime shim: the same driver on smol's global executor, `smol::Timer` and
//! `smol::net` (async-io), with the same futures-rustls TLS.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ferry_net::driver::{BoxFuture, BoxFutureRef, BoxStream, Runtime, Secured};
use ferry_net::pki_types::ServerName;
use ferry_net::rustls;
use smol::net::{TcpListener, TcpStream};

/// smol as a ferry-net [`Runtime`]: tasks on smol's global executor (`smol::spawn`), timers
/// from `smol::Timer`, TCP from `smol::net`, TLS from futures-rustls. Use it with
/// [`Listener`](crate::smol::Listener) and [`Replicator`](crate::smol::Replicator) inside
/// `smol::block_on`; async-std is not involved.
#[derive(Debug, Clone, Copy, Default)]
pub struct SmolRuntime;

/// A listener on smol.
pub type Listener = ferry_net::driver::Listener<SmolRuntime>;
/// A replicator on smol.
pub type Replicator = ferry_net::driver::Replicator<SmolRuntime>;

impl Runtime for SmolRuntime {
    type TcpListener = TcpListener;
    type Tcp = TcpStream;

    /// smol's executor is global: this works from any thread.
    fn current() -> Arc<Self> {
        Arc::new(SmolRuntime)
    }

    fn spawn(&self, future: BoxFuture<()>) {
        smol::spawn(future).detach();
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<()> {
        let timer = smol::Timer::after(duration);
        Box::pin(async move {
            timer.await;
        })
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
