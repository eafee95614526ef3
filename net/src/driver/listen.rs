//! The listener: the accept loop, TLS, the WebSocket upgrade, then one pump per connection
//! feeding a passive session on the store thread.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use futures_channel::{mpsc as fmpsc, oneshot};
use futures_util::StreamExt;
use futures_util::future::{Either, select};
use http::{Response, StatusCode};

use super::config::{ListenerConfig, ListenerLimits, ListenerStatus};
use super::error::DriverError;
use super::http1;
use super::pump::{Outbound, Outgoing, PumpLimits, pump};
use super::store::{Command, ConnId, ListenerCounters, next_id};
use super::{BoxStream, Runtime};
use crate::identity::TlsIdentity;
use crate::tls::server_config;
use crate::upgrade::ServerHandshake;

/// What the accept loop and the connection tasks share.
struct Shared {
    handshake: ServerHandshake,
    limits: ListenerLimits,
    read_only: bool,
    enable_delta_sync: bool,
    tls: Option<Arc<rustls::ServerConfig>>,
    to_store: std::sync::mpsc::Sender<Command>,
    /// Open replication connections and their queues.
    connections: Mutex<BTreeMap<ConnId, Outgoing>>,
    /// Busy connections and documents moved (kept by the store thread).
    counters: Arc<ListenerCounters>,
    /// Every upgraded connection holds a clone; `None` once the listener stops, so a handshake
    /// finishing after `stop` is closed at once and `stop` need not wait for handshakes.
    alive: Mutex<Option<fmpsc::Sender<()>>>,
}

/// A running listener (the runtime-agnostic part of an adapter's `Listener`).
pub struct ListenerCore {
    shared: Arc<Shared>,
    addr: SocketAddr,
    identity: Option<TlsIdentity>,
    stop: Mutex<Option<oneshot::Sender<()>>>,
    /// Completes (yields `None`) once every upgraded connection has ended after `stop`.
    all_gone: futures_util::lock::Mutex<fmpsc::Receiver<()>>,
}

impl std::fmt::Debug for ListenerCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerCore")
            .field("addr", &self.addr)
            .field("tls", &self.identity.is_some())
            .finish_non_exhaustive()
    }
}

/// The default directory of the anonymous identity.
fn default_identity_dir() -> PathBuf {
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".ferry").join("identities"),
        None => std::env::temp_dir().join("ferry-identities"),
    }
}

/// Resolves the configured interface: an IP address, `lo`, or a name with an IPv6 address in
/// `/proc/net/if_inet6`.
fn interface_address(interface: Option<&str>) -> Result<IpAddr, DriverError> {
    let Some(name) = interface else {
        return Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    };
    if let Ok(ip) = name.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Ok(ip);
    }
    if name == "lo" {
        return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    let table = std::fs::read_to_string("/proc/net/if_inet6").unwrap_or_default();
    for line in table.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() == 6 && fields[5] == name && fields[3] == "00" {
            if let Ok(bits) = u128::from_str_radix(fields[0], 16) {
                return Ok(IpAddr::V6(Ipv6Addr::from(bits)));
            }
        }
    }
    Err(DriverError::UnknownInterface(name.to_owned()))
}

impl ListenerCore {
    /// Binds and starts accepting.
    pub async fn start<R: Runtime>(
        rt: Arc<R>,
        config: ListenerConfig,
    ) -> Result<Self, DriverError> {
        let ip = interface_address(config.network_interface.as_deref())?;
        let (identity, tls) = if config.disable_tls {
            (None, None)
        } else {
            let identity = match config.tls_identity.clone() {
                Some(identity) => identity,
                None => {
                    let dir = config
                        .identity_dir
                        .clone()
                        .unwrap_or_else(default_identity_dir);
                    TlsIdentity::anonymous(dir)?
                }
            };
            let tls = server_config(&identity, &config.authenticator)?;
            (Some(identity), Some(tls))
        };
        let addr = SocketAddr::new(ip, config.port);
        let listener = rt.bind(addr).await.map_err(|source| DriverError::Bind {
            addr: addr.to_string(),
            source,
        })?;
        let addr = rt
            .local_addr(&listener)
            .map_err(|source| DriverError::Bind {
                addr: addr.to_string(),
                source,
            })?;
        let handshake = ServerHandshake::new(
            config.database.name(),
            config.database.uuid(),
            config.authenticator.clone(),
        );
        let (alive, all_gone) = fmpsc::channel(0);
        let alive = Mutex::new(Some(alive));
        let shared = Arc::new(Shared {
            handshake,
            limits: config.limits.clone(),
            read_only: config.read_only,
            enable_delta_sync: config.enable_delta_sync,
            tls,
            to_store: config.database.tx.clone(),
            connections: Mutex::new(BTreeMap::new()),
            counters: Arc::default(),
            alive,
        });
        let (stop_tx, stop_rx) = oneshot::channel();
        tracing::info!(%addr, tls = shared.tls.is_some(), db = config.database.name(), "listener started");
        let accepting = shared.alive.lock().ok().and_then(|a| a.clone());
        let task = accept_loop(rt.clone(), listener, shared.clone(), stop_rx, accepting);
        rt.spawn(Box::pin(task));
        Ok(ListenerCore {
            shared,
            addr,
            identity,
            stop: Mutex::new(Some(stop_tx)),
            all_gone: futures_util::lock::Mutex::new(all_gone),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The TLS identity, when TLS is on.
    pub fn tls_identity(&self) -> Option<&TlsIdentity> {
        self.identity.as_ref()
    }

    /// The URLs replicators can use: `ws[s]://<address>:<port>/<db>`. A listener on every
    /// interface names `127.0.0.1` and the machine's host name is not guessed.
    pub fn urls(&self) -> Vec<String> {
        let scheme = if self.identity.is_some() { "wss" } else { "ws" };
        let db = self.shared.handshake.database();
        let port = self.addr.port();
        let ip = self.addr.ip();
        let host = if ip.is_unspecified() {
            "127.0.0.1".to_owned()
        } else if ip.is_ipv6() {
            format!("[{ip}]")
        } else {
            ip.to_string()
        };
        vec![format!("{scheme}://{host}:{port}/{db}")]
    }

    /// Connection counts.
    pub fn status(&self) -> ListenerStatus {
        let connection_count = self.shared.connections.lock().map(|c| c.len()).unwrap_or(0);
        let counters = &self.shared.counters;
        ListenerStatus {
            connection_count,
            active_connection_count: (counters.busy.load(Ordering::Acquire) as usize)
                .min(connection_count),
            documents_sent: counters.documents_sent.load(Ordering::Relaxed),
            documents_received: counters.documents_received.load(Ordering::Relaxed),
        }
    }

    /// Stops accepting and closes every connection with 1001 (going away: replicators retry);
    /// completes when every connection task has ended.
    pub async fn stop(&self) {
        if let Some(stop) = self.stop.lock().ok().and_then(|mut s| s.take()) {
            let _ = stop.send(());
        }
        // Refuse handshakes that finish from now on, then close the open connections.
        drop(self.shared.alive.lock().ok().and_then(|mut a| a.take()));
        if let Ok(connections) = self.shared.connections.lock() {
            for out in connections.values() {
                out.send(Outbound::Close(1001, "the listener stopped".into()));
            }
        }
        let mut all_gone = self.all_gone.lock().await;
        while all_gone.next().await.is_some() {}
        tracing::info!(addr = %self.addr, "listener stopped");
    }
}

async fn accept_loop<R: Runtime>(
    rt: Arc<R>,
    listener: R::TcpListener,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
    accepting: Option<fmpsc::Sender<()>>,
) {
    loop {
        let accepted = {
            let accept = rt.accept(&listener);
            match select(accept, &mut stop).await {
                Either::Left((accepted, _)) => accepted,
                Either::Right(_) => break,
            }
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                continue;
            }
        };
        let span = tracing::info_span!("listener_connection", %peer);
        let task = connection(rt.clone(), tcp, peer, shared.clone());
        rt.spawn(Box::pin(tracing::Instrument::instrument(task, span)));
    }
    // Unbind before `stop` returns, so the port can be bound again at once.
    drop(listener);
    drop(accepting);
}

/// The refusal for a listener at its connection limit.
fn busy_response() -> Response<()> {
    let mut response = Response::new(());
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    response
}

async fn connection<R: Runtime>(rt: Arc<R>, tcp: R::Tcp, peer: SocketAddr, shared: Arc<Shared>) {
    let limits = &shared.limits;
    let upgraded = super::timeout(&*rt, limits.handshake_timeout, upgrade::<R>(tcp, &shared)).await;
    let (ws, accepted) = match upgraded {
        Some(Ok(Some(upgraded))) => upgraded,
        Some(Ok(None)) => return,
        Some(Err(error)) => {
            tracing::debug!(%peer, %error, "handshake failed");
            return;
        }
        None => {
            tracing::debug!(%peer, "handshake timed out");
            return;
        }
    };
    let conn = next_id();
    let (out, outbound) = Outgoing::new();
    // Registered under the connections lock, so `stop` either sees this connection or has
    // already withdrawn `alive`.
    let _alive = {
        let Ok(mut connections) = shared.connections.lock() else {
            return;
        };
        let alive = shared.alive.lock().ok().and_then(|a| a.clone());
        if alive.is_some() {
            connections.insert(conn, out.clone());
        }
        alive
    };
    if _alive.is_none() {
        tracing::debug!(%peer, "the listener stopped during the handshake");
        let mut ws = ws;
        let _ = ws
            .close(Some(CloseFrame {
                code: CloseCode::Away,
                reason: "the listener stopped".into(),
            }))
            .await;
        return;
    }
    tracing::info!(%peer, conn, profile = ?accepted.profile, user = ?accepted.user, "replicator connected");
    let opened = shared.to_store.send(Command::OpenPassive {
        conn,
        profile: accepted.profile,
        read_only: shared.read_only,
        enable_delta_sync: shared.enable_delta_sync,
        out,
        counters: shared.counters.clone(),
    });
    if opened.is_ok() {
        pump(
            &*rt,
            ws,
            conn,
            shared.to_store.clone(),
            outbound,
            PumpLimits {
                idle_timeout: limits.idle_timeout,
                max_backlog: limits.max_backlog,
                stall_timeout: limits.stall_timeout,
            },
        )
        .await;
    }
    if let Ok(mut connections) = shared.connections.lock() {
        connections.remove(&conn);
    }
}

/// Answers a request the listener will not upgrade with `status` and a plain-text `body`.
async fn refuse(stream: &mut BoxStream, status: StatusCode, body: &str) -> std::io::Result<()> {
    let mut response = Response::new(());
    *response.status_mut() = status;
    http1::write_response(stream, &response, body.as_bytes()).await
}

/// TLS and the HTTP upgrade: `Ok(None)` when the request was refused (the answer is sent).
async fn upgrade<R: Runtime>(
    tcp: R::Tcp,
    shared: &Shared,
) -> std::io::Result<Option<(WebSocketStream<BoxStream>, crate::upgrade::Accepted)>> {
    let (mut stream, certificates) = match &shared.tls {
        Some(config) => super::tls_io::accept(config.clone(), tcp).await?,
        None => (Box::new(tcp) as BoxStream, None),
    };
    let limits = &shared.limits;
    let head = match http1::read_head(&mut stream, limits.max_request_head).await {
        Ok(head) => head,
        Err(error) if http1::HeadTooLarge::is(&error) => {
            let status = StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
            refuse(&mut stream, status, &format!("{error}\n")).await?;
            return Ok(None);
        }
        Err(error) => return Err(error),
    };
    let request = match http1::parse_request(&head) {
        Ok(request) => request,
        Err(error) => {
            let body = format!("malformed HTTP request: {error}\n");
            refuse(&mut stream, StatusCode::BAD_REQUEST, &body).await?;
            return Ok(None);
        }
    };
    let full = shared.connections.lock().map(|c| c.len()).unwrap_or(0) >= limits.max_connections;
    if full {
        let body = b"too many connections: try again later\n";
        http1::write_response(&mut stream, &busy_response(), body).await?;
        return Ok(None);
    }
    match shared.handshake.accept(&request, certificates.as_deref()) {
        Err(refusal) => {
            tracing::info!(status = refusal.status.as_u16(), reason = %refusal.reason, path = request.uri().path(), "upgrade refused");
            let answer = refusal.to_response();
            let (parts, body) = answer.into_parts();
            let response = Response::from_parts(parts, ());
            let body = body.unwrap_or_default();
            http1::write_response(&mut stream, &response, body.as_bytes()).await?;
            Ok(None)
        }
        Ok(accepted) => {
            http1::write_response(&mut stream, &accepted.response, b"").await?;
            let config = super::ws_config(limits.max_message_size);
            let ws = WebSocketStream::from_raw_socket(stream, Role::Server, Some(config)).await;
            Ok(Some((ws, accepted)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interfaces_resolve_from_addresses_and_names() {
        assert_eq!(
            interface_address(None).unwrap(),
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        );
        assert_eq!(
            interface_address(Some("127.0.0.1")).unwrap(),
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        );
        assert_eq!(
            interface_address(Some("[::1]")).unwrap(),
            IpAddr::V6(Ipv6Addr::LOCALHOST)
        );
        assert_eq!(
            interface_address(Some("lo")).unwrap(),
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        );
        assert!(matches!(
            interface_address(Some("nonexistent0")),
            Err(DriverError::UnknownInterface(_))
        ));
    }
}
