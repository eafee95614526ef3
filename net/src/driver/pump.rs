//! The connection pump: one task per WebSocket connection moving binary messages between the
//! socket and the store thread.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use ferry_engine::repl::ConnectionError;
use futures_channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use futures_util::future::{Either, select};
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

/// The store thread's side of a connection: where to queue what it writes.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing(UnboundedSender<Outbound>);

impl Outgoing {
    /// A connection's queue and its receiving end (for the pump).
    pub(crate) fn new() -> (Outgoing, UnboundedReceiver<Outbound>) {
        let (tx, rx) = unbounded();
        (Outgoing(tx), rx)
    }

    /// Queues `item`; a connection already gone drops it.
    pub(crate) fn send(&self, item: Outbound) {
        let _ = self.0.unbounded_send(item);
    }
}

/// How long to wait for the peer's close frame after sending ours.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Pumps one connection until it ends, then reports [`Command::Closed`] to the store thread.
/// `idle_timeout` closes a connection on which nothing arrived for that long (1001).
#[allow(clippy::disallowed_methods)] // the host reads the clock for the idle timeout
pub(crate) async fn pump<R: Runtime + ?Sized>(
    rt: &R,
    ws: WebSocketStream<BoxStream>,
    conn: ConnId,
    to_store: mpsc::Sender<Command>,
    mut outbound: UnboundedReceiver<Outbound>,
    idle_timeout: Option<Duration>,
) {
    let (mut sink, mut stream) = ws.split();
    let store = to_store.clone();
    let reader = async {
        // One idle timer, re-armed only when it fires early (not one per message).
        let mut idle = idle_timeout.map(|limit| rt.sleep(limit));
        let mut last_message = Instant::now();
        loop {
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
                    if store
                        .send(Command::Frame {
                            conn,
                            data: data.into(),
                        })
                        .is_err()
                    {
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
                    return (ConnectionError::WebSocketClose(1006, e.to_string()), None);
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
                    Outbound::Frame(data) => Message::Binary(data.into()),
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
    if let Some((code, reason)) = reply {
        let _ = sink
            .send(Message::Close(Some(CloseFrame {
                code: CloseCode::from(code),
                reason: reason.into(),
            })))
            .await;
    }
    tracing::debug!(conn, %error, "connection ended");
    let _ = to_store.send(Command::Closed { conn, error });
}
