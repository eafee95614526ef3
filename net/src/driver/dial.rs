//! The dialer: executes a replicator's `Connect` commands — TCP, TLS, the WebSocket upgrade —
//! then pumps the connection.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Instant;

use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::protocol::Role;
use ferry_engine::repl::{ConnectionError, Profile};
use http::StatusCode;

use super::config::{ReplicatorAuthenticator, ReplicatorConfig};
use super::error::DriverError;
use super::http1;
use super::pump::{Outgoing, PumpLimits, pump};
use super::replicator::Connector;
use super::store::{Command, ReplId, next_id};
use super::{BoxStream, Runtime};
use crate::auth::BasicCredentials;
use crate::error::ConnectError;
use crate::identity::Fingerprint;
use crate::tls::{ServerTrust, client_config};
use crate::upgrade::{ClientHandshake, Endpoint, Negotiated, http_error};

/// The largest response head or refusal body read.
const MAX_HEAD: usize = 16 << 10;

/// Dials one replicator's endpoint.
pub(crate) struct Dialer<R: Runtime> {
    rt: Arc<R>,
    id: ReplId,
    endpoint: Endpoint,
    tls: Option<Arc<rustls::ClientConfig>>,
    credentials: Option<BasicCredentials>,
    headers: Vec<(String, String)>,
    profiles: Vec<Profile>,
    max_message_size: usize,
    to_store: mpsc::Sender<Command>,
}

impl<R: Runtime> Dialer<R> {
    /// Validates the configuration: the URL, the headers, the TLS trust settings.
    pub(crate) fn new(
        rt: Arc<R>,
        config: &ReplicatorConfig,
        id: ReplId,
    ) -> Result<Self, DriverError> {
        let endpoint = Endpoint::parse(&config.endpoint)?;
        let (credentials, client_identity) = match &config.authenticator {
            None => (None, None),
            Some(ReplicatorAuthenticator::Basic(c)) => (Some(c.clone()), None),
            Some(ReplicatorAuthenticator::ClientCertificate(identity)) => {
                if !endpoint.secure {
                    return Err(ConnectError::InvalidConfig {
                        reason: "a client certificate needs a wss:// endpoint".into(),
                    }
                    .into());
                }
                (None, Some(identity))
            }
        };
        // Builds the request once to check the headers and credentials.
        ClientHandshake::new(&endpoint, credentials.as_ref(), &config.headers, [0; 16])?
            .offering(&config.profiles)?;
        let tls = if endpoint.secure {
            let pin = (config.pinned_server_certificate.as_ref())
                .map(Fingerprint::of)
                .or(config.pinned_server_fingerprint);
            let trust = if let Some(pin) = pin {
                ServerTrust::Pinned(pin)
            } else if config.accept_only_self_signed_server_certificate {
                ServerTrust::AcceptOnlySelfSigned
            } else {
                ServerTrust::TrustedRoots(config.trusted_root_certificates.clone())
            };
            Some(client_config(&trust, client_identity)?)
        } else {
            None
        };
        Ok(Dialer {
            rt,
            id,
            endpoint,
            tls,
            credentials,
            headers: config.headers.clone(),
            profiles: config.profiles.clone(),
            max_message_size: config.max_message_size,
            to_store: config.database.tx.clone(),
        })
    }

    /// The endpoint as a name, for peers that send no database UUID.
    pub(crate) fn endpoint_name(&self) -> String {
        self.endpoint.to_string()
    }

    async fn dial(
        rt: &R,
        endpoint: &Endpoint,
        tls: Option<Arc<rustls::ClientConfig>>,
        handshake: ClientHandshake,
        max_message_size: usize,
    ) -> Result<(WebSocketStream<BoxStream>, Negotiated), ConnectError> {
        let io = |e: std::io::Error| ConnectError::from_io(&e);
        let tcp = rt.connect(endpoint.authority()).await.map_err(io)?;
        let mut stream = match tls {
            Some(config) => super::tls_io::connect(config, endpoint.server_name()?, tcp)
                .await
                .map_err(io)?,
            None => Box::new(tcp),
        };
        http1::write_request(&mut stream, handshake.request())
            .await
            .map_err(io)?;
        let head = http1::read_head(&mut stream, MAX_HEAD).await.map_err(io)?;
        let response = http1::parse_response(&head).map_err(|e| ConnectError::Protocol {
            reason: format!("unreadable upgrade response: {e}"),
        })?;
        if response.status() != StatusCode::SWITCHING_PROTOCOLS {
            let body = http1::read_body(&mut stream, &response, MAX_HEAD).await;
            return Err(http_error(response.status(), Some(&body)));
        }
        let negotiated = handshake.finish(&response)?;
        let config = super::ws_config(max_message_size);
        let ws = WebSocketStream::from_raw_socket(stream, Role::Client, Some(config)).await;
        Ok((ws, negotiated))
    }
}

/// The lifecycle's view of a connection failure.
pub(crate) fn connection_error(error: ConnectError) -> ConnectionError {
    match error {
        ConnectError::Refused => ConnectionError::Refused,
        ConnectError::Reset => ConnectionError::Reset,
        ConnectError::TimedOut => ConnectionError::TimedOut,
        ConnectError::Unreachable { reason } => ConnectionError::Unreachable(reason),
        ConnectError::Http { status, .. } => ConnectionError::Http(status),
        ConnectError::TlsCertificate { reason } | ConnectError::Tls { reason } => {
            ConnectionError::Tls(reason)
        }
        ConnectError::Closed { code, reason } => ConnectionError::WebSocketClose(code, reason),
        ConnectError::Io { kind, message } => {
            let transient = ConnectError::Io {
                kind,
                message: message.clone(),
            }
            .is_transient();
            if transient {
                ConnectionError::Unreachable(message)
            } else {
                ConnectionError::Protocol(message)
            }
        }
        other => ConnectionError::Protocol(other.to_string()),
    }
}

impl<R: Runtime> Connector for Dialer<R> {
    #[allow(clippy::disallowed_methods)] // the host reads the clock
    fn connect(&self, attempt: u64, deadline: Instant) {
        let rt = self.rt.clone();
        let endpoint = self.endpoint.clone();
        let tls = self.tls.clone();
        let to_store = self.to_store.clone();
        let id = self.id;
        let max = self.max_message_size;
        let handshake = ClientHandshake::random_key().and_then(|key| {
            ClientHandshake::new(&endpoint, self.credentials.as_ref(), &self.headers, key)?
                .offering(&self.profiles)
        });
        let task = async move {
            let limit = deadline.saturating_duration_since(Instant::now());
            let result = match handshake {
                Err(e) => Err(e),
                Ok(handshake) => {
                    match super::timeout(
                        &*rt,
                        limit,
                        Self::dial(&rt, &endpoint, tls, handshake, max),
                    )
                    .await
                    {
                        Some(result) => result,
                        None => Err(ConnectError::TimedOut),
                    }
                }
            };
            match result {
                Err(error) => {
                    tracing::debug!(%endpoint, %error, "connection attempt failed");
                    let _ = to_store.send(Command::Connected {
                        id,
                        attempt,
                        result: Err(connection_error(error)),
                    });
                }
                Ok((ws, negotiated)) => {
                    let conn = next_id();
                    let (out, outbound) = Outgoing::new();
                    let _ = to_store.send(Command::Connected {
                        id,
                        attempt,
                        result: Ok((conn, negotiated, out)),
                    });
                    pump(&*rt, ws, conn, to_store, outbound, PumpLimits::REPLICATOR).await;
                }
            }
        };
        let span = tracing::info_span!("replicator_connection", replicator = id, attempt, endpoint = %self.endpoint);
        self.rt
            .spawn(Box::pin(tracing::Instrument::instrument(task, span)));
    }
}
