//! The runtime shims: one ferry-net [`Runtime`] over futures-io TCP (async-net, on the
//! async-io reactor that async-std and smol both run on), parameterised by the only thing
//! that differs between the two — the [`Executor`]: where tasks run, and timers.

use std::io;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_net::{TcpListener, TcpStream};
use ferry_net::driver::{BoxFuture, BoxFutureRef, Runtime};

/// Where tasks run and how to wait: the part of a futures-io runtime that is its own.
pub trait Executor: Send + Sync + 'static {
    /// Runs a task in the background, detached.
    fn spawn(future: BoxFuture<()>);
    /// Completes after `duration`.
    fn sleep(duration: Duration) -> BoxFuture<()>;
}

/// async-std's global executor (`async_std::task::spawn`) and timers
/// (`async_std::task::sleep`).
#[derive(Debug, Clone, Copy)]
pub struct AsyncStd;

impl Executor for AsyncStd {
    fn spawn(future: BoxFuture<()>) {
        async_std::task::spawn(future);
    }

    fn sleep(duration: Duration) -> BoxFuture<()> {
        Box::pin(async_std::task::sleep(duration))
    }
}

/// smol's global executor (`smol::spawn`) and timers (`smol::Timer`).
#[cfg(feature = "smol")]
#[derive(Debug, Clone, Copy)]
pub struct Smol;

#[cfg(feature = "smol")]
impl Executor for Smol {
    fn spawn(future: BoxFuture<()>) {
        smol::spawn(future).detach();
    }

    fn sleep(duration: Duration) -> BoxFuture<()> {
        let timer = smol::Timer::after(duration);
        Box::pin(async move {
            timer.await;
        })
    }
}

/// A ferry-net [`Runtime`] on futures-io: tasks and timers from executor `E`, TCP from
/// async-net (`TCP_NODELAY` set). TLS, the WebSocket upgrade and the driver are ferry-net's.
#[derive(Debug)]
pub struct FuturesIoRuntime<E>(PhantomData<fn() -> E>);

/// async-std as a [`Runtime`].
pub type AsyncStdRuntime = FuturesIoRuntime<AsyncStd>;

/// smol as a [`Runtime`] (no async-std involved).
#[cfg(feature = "smol")]
pub type SmolRuntime = FuturesIoRuntime<Smol>;

impl<E: Executor> Runtime for FuturesIoRuntime<E> {
    type TcpListener = TcpListener;
    type Tcp = TcpStream;

    /// The executor is global: this works from any thread.
    fn current() -> Arc<Self> {
        Arc::new(FuturesIoRuntime(PhantomData))
    }

    fn spawn(&self, future: BoxFuture<()>) {
        E::spawn(future);
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<()> {
        E::sleep(duration)
    }

    fn connect(&self, authority: String) -> BoxFuture<io::Result<TcpStream>> {
        Box::pin(async move {
            let stream = TcpStream::connect(authority.as_str()).await?;
            stream.set_nodelay(true).map(|()| stream)
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
            stream.set_nodelay(true).map(|()| (stream, peer))
        })
    }
}
