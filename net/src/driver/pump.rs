//! The connection pump: one task per WebSocket connection moving binary messages between the
//! socket and the store thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::task::Poll;
use std::time::{Duration, Instant};

use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::error::ProtocolError as WsProtocolError;
use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::{Error as WsError, Message};
use ferry_engine::repl::ConnectionError;
use futures_channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use futures_util::future::{Either, poll_fn, select};
use futures_util::task::AtomicWaker;
use futures_util::{SinkExt, StreamExt};

use super::store::{Command, ConnId};
use super::{BoxStream, Runtime};

/// What the store thread asks a connection to write.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// One BLIP frame, as one binary message.
    Frame(Vec<u8>),
    /// A heartbeat ping.
    Ping,
    /// Close with this code and reason.
    Close(u16, String),
}

/// The bytes of one connection in flight between its socket and the store thread, both ways:
/// frames read but not yet handled, and frames queued but not yet written. The pump stops
/// reading while either is over its bound, so a peer that floods requests without reading the
/// replies gets TCP back-pressure instead of growing this process's memory.
#[derive(Debug, Default)]
pub(crate) struct Backlog {
    inbound: AtomicUsize,
    outbound: AtomicUsize,
    /// The pump's reader, waiting for the backlog to shrink.
    reader: AtomicWaker,
}

impl Backlog {
    fn shrink(counter: &AtomicUsize, waker: &AtomicWaker, bytes: usize) {
        counter.fetch_sub(bytes, Ordering::AcqRel);
        waker.wake();
    }

    /// The larger of the two directions' bytes in flight.
    fn bytes(&self) -> usize {
        self.inbound
            .load(Ordering::Acquire)
            .max(self.outbound.load(Ordering::Acquire))
    }

    /// Whether the outbound side alone is over `limit` (the peer is not reading).
    fn peer_not_reading(&self, limit: usize) -> bool {
        self.outbound.load(Ordering::Acquire) > limit
    }
}

/// A frame read from the socket and not yet handled by the store thread: dropping it (once
/// handled, or with the command if the store thread is gone) releases its bytes.
#[derive(Debug)]
pub(crate) struct Received {
    pub(crate) data: Vec<u8>,
    backlog: Arc<Backlog>,
}

impl Drop for Received {
    fn drop(&mut self) {
        Backlog::shrink(&self.backlog.inbound, &self.backlog.reader, self.data.len());
    }
}

/// The store thread's side of a connection: where to queue what it writes.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    tx: UnboundedSender<Outbound>,
    backlog: Arc<Backlog>,
}

/// The pump's side of a connection: what the store thread queued, and the shared backlog.
#[derive(Debug)]
pub(crate) struct Queued {
    rx: UnboundedReceiver<Outbound>,
    backlog: Arc<Backlog>,
}

impl Outgoing {
    /// A connection's queue and its receiving end (for the pump).
    pub(crate) fn new() -> (Outgoing, Queued) {
        let (tx, rx) = unbounded();
        let backlog = Arc::new(Backlog::default());
        (
            Outgoing {
                tx,
                backlog: backlog.clone(),
            },
            Queued { rx, backlog },
        )
    }

    /// Queues `item`; a connection already gone drops it.
    pub(crate) fn send(&self, item: Outbound) {
        let bytes = match &item {
            Outbound::Frame(data) => data.len(),
            _ => 0,
        };
        self.backlog.outbound.fetch_add(bytes, Ordering::AcqRel);
        if self.tx.unbounded_send(item).is_err() {
            Backlog::shrink(&self.backlog.outbound, &self.backlog.reader, bytes);
        }
    }
}

/// A connection's limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PumpLimits {
    /// Close (1001) a connection on which nothing arrived for this long.
    pub(crate) idle_timeout: Option<Duration>,
    /// Stop reading while more than this many bytes are in flight either way.
    pub(crate) max_backlog: usize,
    /// Close (1008) a connection whose peer has not read what it was sent for this long
    /// while the backlog is full.
    pub(crate) stall_timeout: Duration,
}

impl PumpLimits {
    /// A replicator's connection: no idle timeout (its heartbeat detects a dead peer).
    pub(crate) const REPLICATOR: PumpLimits = PumpLimits {
        idle_timeout: None,
        max_backlog: 16 << 20,
        stall_timeout: Duration::from_secs(60),
    };
}

/// How long to wait for the peer's close frame after sending ours.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Pumps one connection until it ends, then reports [`Command::Closed`] to the store thread.
#[allow(clippy::disallowed_methods)] // the host reads the clock for the idle timeout
pub(crate) async fn pump<R: Runtime + ?Sized>(
    rt: &R,
    ws: WebSocketStream<BoxStream>,
    conn: ConnId,
    to_store: mpsc::Sender<Command>,
    queued: Queued,
    limits: PumpLimits,
) {
    let (mut sink, mut stream) = ws.split();
    let store = to_store.clone();
    let Queued {
        rx: mut outbound,
        backlog,
    } = queued;
    let idle_timeout = limits.idle_timeout;
    let reader = async {
        // One idle timer, re-armed only when it fires early (not one per message).
        let mut idle = idle_timeout.map(|limit| rt.sleep(limit));
        let mut last_message = Instant::now();
        loop {
            if backlog.bytes() > limits.max_backlog {
                let drained = poll_fn(|cx| {
                    backlog.reader.register(cx.waker());
                    if backlog.bytes() > limits.max_backlog {
                        Poll::Pending
                    } else {
                        Poll::Ready(())
                    }
                });
                let stalled = super::timeout(rt, limits.stall_timeout, drained).await;
                if stalled.is_none() && backlog.peer_not_reading(limits.max_backlog) {
                    let reason = "the peer does not read what it is sent";
                    return (
                        ConnectionError::Protocol(reason.into()),
                        Some((1008, reason.to_owned())),
                    );
                }
                continue;
            }
            let next = match (&mut idle, idle_timeout) {
                (Some(timer), Some(limit)) => match select(stream.next(), timer.as_mut()).await {
                    Either::Left((next, _)) => {
                        last_message = Instant::now();
                        next
                    }
                    Either::Right(((), _)) => {
                        let quiet = last_message.elapsed();
                        if quiet >= limit {
                            return (
                                ConnectionError::WebSocketClose(1001, "idle timeout".into()),
                                Some((1001, "idle timeout".to_owned())),
                            );
                        }
                        idle = Some(rt.sleep(limit - quiet));
                        continue;
                    }
                },
                _ => stream.next().await,
            };
            match next {
                Some(Ok(Message::Binary(data))) => {
                    let data: Vec<u8> = data.into();
                    backlog.inbound.fetch_add(data.len(), Ordering::AcqRel);
                    let frame = Received {
                        data,
                        backlog: backlog.clone(),
                    };
                    if store.send(Command::Frame { conn, frame }).is_err() {
                        return (
                            ConnectionError::WebSocketClose(1001, "database closed".into()),
                            Some((1001, "the database closed".to_owned())),
                        );
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {
                    let _ = store.send(Command::Activity { conn });
                }
                Some(Ok(Message::Text(_))) => {
                    let reason = "text messages are not part of the replication protocol";
                    return (
                        ConnectionError::Protocol(reason.into()),
                        Some((1002, reason.to_owned())),
                    );
                }
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) = match frame {
                        Some(f) => (u16::from(f.code), f.reason.to_string()),
                        None => (1005, "closed without a status".to_owned()),
                    };
                    return (ConnectionError::WebSocketClose(code, reason), None);
                }
                Some(Ok(Message::Frame(_))) => {}
                Some(Err(e)) => {
                    // A peer breaking the WebSocket protocol is told why, as RFC 6455 asks.
                    let code = match &e {
                        // The peer vanished: a transport failure (transient), not a violation.
                        WsError::Protocol(WsProtocolError::ResetWithoutClosingHandshake) => None,
                        WsError::Protocol(_) | WsError::Utf8(_) => Some(1002),
                        WsError::Capacity(_) => Some(1009),
                        _ => None,
                    };
                    let reason = e.to_string();
                    return match code {
                        Some(code) => (
                            ConnectionError::Protocol(reason.clone()),
                            Some((code, reason)),
                        ),
                        None => (ConnectionError::WebSocketClose(1006, reason), None),
                    };
                }
                None => {
                    return (
                        ConnectionError::WebSocketClose(1006, "connection lost".into()),
                        None,
                    );
                }
            }
        }
    };
    let writer = async {
        while let Some(mut item) = outbound.next().await {
            // Write everything queued, then flush once.
            loop {
                let message = match item {
                    Outbound::Frame(data) => {
                        Backlog::shrink(&backlog.outbound, &backlog.reader, data.len());
                        Message::Binary(data.into())
                    }
                    Outbound::Ping => Message::Ping(Vec::new().into()),
                    Outbound::Close(code, reason) => {
                        let _ = sink
                            .send(Message::Close(Some(CloseFrame {
                                code: CloseCode::from(code),
                                reason: reason.into(),
                            })))
                            .await;
                        return true;
                    }
                };
                if sink.feed(message).await.is_err() {
                    return false;
                }
                match outbound.try_recv() {
                    Ok(next) => item = next,
                    _ => break,
                }
            }
            if sink.flush().await.is_err() {
                return false;
            }
        }
        // The store thread dropped the connection.
        let _ = sink
            .send(Message::Close(Some(CloseFrame {
                code: CloseCode::Away,
                reason: "going away".into(),
            })))
            .await;
        true
    };
    let (error, reply) = {
        let reader = std::pin::pin!(reader);
        let writer = std::pin::pin!(writer);
        match select(reader, writer).await {
            Either::Left((ended, _)) => ended,
            Either::Right((closed_by_us, reader)) => {
                if closed_by_us {
                    // Let the peer answer our close frame (tungstenite completes the handshake).
                    let _ = super::timeout(rt, CLOSE_GRACE, reader).await;
                }
                (
                    ConnectionError::WebSocketClose(1000, "closed locally".into()),
                    None,
                )
            }
        }
    };
    if let Some((code, mut reason)) = reply {
        // A close frame's reason holds at most 123 bytes.
        let mut end = reason.len().min(123);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
        // A peer that reads nothing must not hold this task: the close is best effort.
        let close = sink.send(Message::Close(Some(CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        })));
        let _ = super::timeout(rt, CLOSE_GRACE, close).await;
    }
    tracing::debug!(conn, %error, "connection ended");
    let _ = to_store.send(Command::Closed { conn, error });
}
