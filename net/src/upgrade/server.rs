//! The listener's side of the upgrade: validate, authenticate, negotiate, answer.

use base64::Engine as _;
use ferry_engine::repl::{DATABASE_UUID_HEADER, Profile};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};
use rustls_pki_types::CertificateDer;

use super::{
    BASIC_CHALLENGE, BLIPSYNC_SEGMENT, WEBSOCKET_VERSION, accept_key, has_token, uuid_hex,
};
use crate::auth::{Authenticator, BasicCredentials};
use crate::identity::Fingerprint;

/// What a listener serves: one database, under its name, with its UUID and authenticator.
#[derive(Debug, Clone)]
pub struct ServerHandshake {
    database: String,
    database_uuid: [u8; 16],
    authenticator: Authenticator,
}

/// An accepted upgrade.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Accepted {
    /// The negotiated replication profile.
    pub profile: Profile,
    /// The authenticated user name (password authentication).
    pub user: Option<String>,
    /// The fingerprint of the client's certificate (client-certificate authentication, or any
    /// TLS connection where the client presented one).
    pub client_certificate: Option<Fingerprint>,
    /// The complete `101 Switching Protocols` response: `Upgrade`, `Connection`,
    /// `Sec-WebSocket-Accept`, `Sec-WebSocket-Protocol` and the database UUID header.
    pub response: Response<()>,
}

impl Accepted {
    /// Adds what Ferry decided (`Sec-WebSocket-Protocol`, the database UUID header) to a 101
    /// response someone else built, such as the one async-tungstenite passes to its handshake
    /// callback.
    pub fn apply_to<B>(&self, response: &mut Response<B>) {
        for name in [
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderName::from_static(UUID_HEADER_LOWER),
        ] {
            if let Some(value) = self.response.headers().get(&name) {
                response.headers_mut().insert(name, value.clone());
            }
        }
    }
}

/// A refused upgrade: the HTTP answer to send instead of 101.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Refusal {
    /// The status: 400, 401, 403, 404, 405 or 426.
    pub status: StatusCode,
    /// Why, in words fit for the peer (sent as the body; never echoes credentials).
    pub reason: String,
    /// Headers the status calls for (`WWW-Authenticate`, `Allow`, `Upgrade`,
    /// `Sec-WebSocket-Version`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Refusal {
    fn new(status: StatusCode, reason: impl Into<String>) -> Refusal {
        Refusal {
            status,
            reason: reason.into(),
            headers: Vec::new(),
        }
    }

    /// The value of a header of this refusal.
    pub fn header(&self, name: &HeaderName) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.to_str().ok())
    }

    fn with(mut self, name: HeaderName, value: &'static str) -> Refusal {
        self.headers.push((name, HeaderValue::from_static(value)));
        self
    }

    /// The refusal as a response with a plain-text body (async-tungstenite's `ErrorResponse`
    /// type).
    pub fn to_response(&self) -> Response<Option<String>> {
        let mut response = Response::new(Some(format!("{}\n", self.reason)));
        *response.status_mut() = self.status;
        for (name, value) in &self.headers {
            response.headers_mut().insert(name.clone(), value.clone());
        }
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        response
    }
}

/// The UUID header's name in the lower case `HeaderName` requires.
const UUID_HEADER_LOWER: &str = "ferry-database-uuid";

impl ServerHandshake {
    /// A handshake for the database served as `database` (the URL path segment) whose UUID is
    /// `database_uuid`, authenticating with `authenticator`.
    pub fn new(
        database: impl Into<String>,
        database_uuid: [u8; 16],
        authenticator: Authenticator,
    ) -> ServerHandshake {
        ServerHandshake {
            database: database.into(),
            database_uuid,
            authenticator,
        }
    }

    /// The database name in the URL path.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// The authenticator.
    pub fn authenticator(&self) -> &Authenticator {
        &self.authenticator
    }

    /// The path served: `/<db>/_blipsync`.
    pub fn path(&self) -> String {
        format!("/{}/{BLIPSYNC_SEGMENT}", self.database)
    }

    /// Decides on an upgrade request. `client_certificates` is the chain the client presented
    /// in the TLS handshake (already verified by the server configuration), `None` on plain
    /// `ws://` or when the client sent none.
    ///
    /// Checks, in order: the path (404), the method (405), HTTP/1.1 or later (400), `Upgrade:
    /// websocket` (426), `Connection: Upgrade` (400), `Sec-WebSocket-Version: 13` (400 if
    /// missing, 426 otherwise), a 16-byte `Sec-WebSocket-Key` (400), authentication (401 with a
    /// Basic challenge, or 403 without a client certificate), and a subprotocol Ferry speaks
    /// (400 naming the supported ones).
    pub fn accept<B>(
        &self,
        request: &Request<B>,
        client_certificates: Option<&[CertificateDer<'_>]>,
    ) -> Result<Accepted, Refusal> {
        self.check_path(request.uri().path())?;
        if request.method() != Method::GET {
            return Err(Refusal::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "a WebSocket upgrade must use GET",
            )
            .with(header::ALLOW, "GET"));
        }
        if request.version() < Version::HTTP_11 {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "a WebSocket upgrade needs HTTP/1.1",
            ));
        }
        let headers = request.headers();
        if !has_token(headers.get_all(header::UPGRADE), "websocket") {
            return Err(Refusal::new(
                StatusCode::UPGRADE_REQUIRED,
                "this endpoint speaks WebSocket only: send Upgrade: websocket",
            )
            .with(header::UPGRADE, "websocket")
            .with(header::CONNECTION, "Upgrade"));
        }
        if !has_token(headers.get_all(header::CONNECTION), "upgrade") {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "missing Connection: Upgrade",
            ));
        }
        match headers.get(header::SEC_WEBSOCKET_VERSION) {
            None => {
                return Err(
                    Refusal::new(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Version")
                        .with(header::SEC_WEBSOCKET_VERSION, WEBSOCKET_VERSION),
                );
            }
            Some(v) if v.as_bytes().trim_ascii() != WEBSOCKET_VERSION.as_bytes() => {
                return Err(Refusal::new(
                    StatusCode::UPGRADE_REQUIRED,
                    "unsupported WebSocket version: only 13 is spoken",
                )
                .with(header::SEC_WEBSOCKET_VERSION, WEBSOCKET_VERSION));
            }
            Some(_) => {}
        }
        let key = headers
            .get(header::SEC_WEBSOCKET_KEY)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|k| {
                base64::engine::general_purpose::STANDARD
                    .decode(k)
                    .is_ok_and(|bytes| bytes.len() == 16)
            })
            .ok_or_else(|| {
                Refusal::new(
                    StatusCode::BAD_REQUEST,
                    "missing or malformed Sec-WebSocket-Key (base64 of 16 bytes)",
                )
            })?;
        let client_certificate = client_certificates
            .and_then(|chain| chain.first())
            .map(Fingerprint::of);
        let user = self.authenticate(headers, client_certificate.is_some())?;
        let offer = headers
            .get_all(header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        let profile = Profile::negotiate(&offer).ok_or_else(|| {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "no supported WebSocket subprotocol offered; this listener speaks {}",
                    Profile::OFFERED.join(", ")
                ),
            )
        })?;

        let mut response = Response::new(());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let out = response.headers_mut();
        out.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        out.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        out.insert(
            header::SEC_WEBSOCKET_ACCEPT,
            HeaderValue::try_from(accept_key(key)).map_err(|_| {
                Refusal::new(StatusCode::BAD_REQUEST, "malformed Sec-WebSocket-Key")
            })?,
        );
        out.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(profile.subprotocol()),
        );
        out.insert(
            HeaderName::from_static(UUID_HEADER_LOWER),
            HeaderValue::try_from(uuid_hex(&self.database_uuid))
                .unwrap_or_else(|_| HeaderValue::from_static("")),
        );
        debug_assert!(DATABASE_UUID_HEADER.eq_ignore_ascii_case(UUID_HEADER_LOWER));
        tracing::debug!(db = %self.database, ?profile, user = user.as_deref(), "WebSocket upgrade accepted");
        Ok(Accepted {
            profile,
            user,
            client_certificate,
            response,
        })
    }

    fn check_path(&self, path: &str) -> Result<(), Refusal> {
        let served = path
            .strip_prefix('/')
            .and_then(|p| p.strip_suffix(BLIPSYNC_SEGMENT))
            .and_then(|p| p.strip_suffix('/'))
            .is_some_and(|db| db == self.database);
        if served {
            Ok(())
        } else {
            Err(Refusal::new(
                StatusCode::NOT_FOUND,
                format!(
                    "not found: this listener serves /{}/{BLIPSYNC_SEGMENT}",
                    self.database
                ),
            ))
        }
    }

    fn authenticate(
        &self,
        headers: &HeaderMap,
        has_client_certificate: bool,
    ) -> Result<Option<String>, Refusal> {
        let challenge = |reason: &str| {
            Refusal::new(StatusCode::UNAUTHORIZED, reason)
                .with(header::WWW_AUTHENTICATE, BASIC_CHALLENGE)
        };
        match &self.authenticator {
            Authenticator::None => Ok(None),
            Authenticator::ClientCertificate(_) => {
                if has_client_certificate {
                    Ok(None)
                } else {
                    Err(Refusal::new(
                        StatusCode::FORBIDDEN,
                        "a TLS client certificate is required",
                    ))
                }
            }
            Authenticator::Password(check) => {
                let Some(value) = headers.get(header::AUTHORIZATION) else {
                    return Err(challenge("authentication required"));
                };
                let credentials = value
                    .to_str()
                    .ok()
                    .and_then(BasicCredentials::parse_authorization)
                    .ok_or_else(|| challenge("malformed Basic credentials"))?;
                if check(&credentials.username, &credentials.password) {
                    Ok(Some(credentials.username))
                } else {
                    tracing::info!(db = %self.database, user = %credentials.username, "wrong credentials");
                    Err(challenge("invalid credentials"))
                }
            }
        }
    }
}
