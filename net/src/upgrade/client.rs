//! The replicator's side of the upgrade: the endpoint URL, the request, the response.

use std::fmt;

use base64::Engine as _;
use ferry_engine::repl::{DATABASE_UUID_HEADER, Profile, RemoteIdentity};
use http::header::{self, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use rustls_pki_types::ServerName;

use super::{BLIPSYNC_SEGMENT, WEBSOCKET_VERSION, accept_key};
use crate::auth::BasicCredentials;
use crate::error::ConnectError;

/// A replication endpoint: `ws[s]://host[:port]/<db>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// `wss://` (TLS) rather than `ws://`.
    pub secure: bool,
    /// The host: a DNS name or an IP address (IPv6 without brackets).
    pub host: String,
    /// The port (default 80 for `ws`, 443 for `wss`).
    pub port: u16,
    /// The remote database's name.
    pub database: String,
}

fn invalid(reason: impl Into<String>) -> ConnectError {
    ConnectError::InvalidUrl {
        reason: reason.into(),
    }
}

/// Characters a database name may hold in a URL without escaping (RFC 3986 `pchar` less `%`
/// and `:`).
fn is_db_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~$()+,;=@!*'&".contains(c)
}

impl Endpoint {
    /// Parses `ws://host[:port]/<db>` or `wss://…` (scheme case-insensitive, a trailing `/`
    /// allowed). Refused: other schemes, user information (credentials belong in the
    /// authenticator), a query or fragment, a missing or nested database name, characters a
    /// database name cannot hold unescaped, port 0.
    pub fn parse(url: &str) -> Result<Endpoint, ConnectError> {
        let url = url.trim();
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| invalid("missing scheme: expected ws:// or wss://"))?;
        let secure = if scheme.eq_ignore_ascii_case("wss") {
            true
        } else if scheme.eq_ignore_ascii_case("ws") {
            false
        } else {
            return Err(invalid(format!(
                "unsupported scheme {:?}: expected ws or wss",
                scheme.chars().take(16).collect::<String>()
            )));
        };
        if rest.contains(['?', '#']) {
            return Err(invalid("a replication URL has no query or fragment"));
        }
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        if authority.contains('@') {
            return Err(invalid(
                "credentials in the URL are not supported: use the authenticator",
            ));
        }
        let (host, port) = split_host_port(authority)?;
        let port = match port {
            None => {
                if secure {
                    443
                } else {
                    80
                }
            }
            Some(text) => match text.parse::<u16>() {
                Ok(p) if p != 0 => p,
                _ => return Err(invalid("invalid port")),
            },
        };
        let database = path.strip_suffix('/').unwrap_or(path);
        if database.is_empty() {
            return Err(invalid(
                "missing database name: expected ws[s]://host:port/<db>",
            ));
        }
        if database.contains('/') {
            return Err(invalid(
                "the path must be the database name alone: ws[s]://host:port/<db>",
            ));
        }
        if !database.chars().all(is_db_char) {
            return Err(invalid(
                "the database name holds characters a URL cannot carry",
            ));
        }
        let endpoint = Endpoint {
            secure,
            host: host.to_owned(),
            port,
            database: database.to_owned(),
        };
        endpoint.server_name()?;
        Ok(endpoint)
    }

    /// The upgrade request's path: `/<db>/_blipsync`.
    pub fn path(&self) -> String {
        format!("/{}/{BLIPSYNC_SEGMENT}", self.database)
    }

    /// `host:port`, with brackets around an IPv6 address: the `Host` header, and what to resolve
    /// and connect to.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The TLS server name (an IP address or a DNS name).
    pub fn server_name(&self) -> Result<ServerName<'static>, ConnectError> {
        crate::tls::server_name(&self.host)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.secure { "wss" } else { "ws" };
        write!(f, "{scheme}://{}/{}", self.authority(), self.database)
    }
}

fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), ConnectError> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| invalid("unclosed '[' in the host"))?;
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(invalid("brackets must hold an IPv6 address"));
        }
        return match after {
            "" => Ok((host, None)),
            _ => after
                .strip_prefix(':')
                .map(|port| (host, Some(port)))
                .ok_or_else(|| invalid("unexpected text after ']'")),
        };
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    if host.is_empty() {
        return Err(invalid("missing host"));
    }
    if host.contains(':') {
        return Err(invalid("an IPv6 address must be written in brackets"));
    }
    Ok((host, port))
}

/// What the upgrade settled.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Negotiated {
    /// The profile the listener chose.
    pub profile: Profile,
    /// The listener's database UUID, if it sent one (Ferry listeners do; Couchbase Lite's do not).
    pub remote_uuid: Option<[u8; 16]>,
}

impl Negotiated {
    /// The identity checkpoint IDs derive from: the UUID when the listener sent one, else
    /// `fallback` (for example the database name with the server certificate's fingerprint).
    pub fn remote_identity(&self, fallback: impl FnOnce() -> String) -> RemoteIdentity {
        match self.remote_uuid {
            Some(uuid) => RemoteIdentity::Uuid(uuid),
            None => RemoteIdentity::Name(fallback()),
        }
    }
}

/// A replicator's upgrade: the request to send and how to read the answer.
#[derive(Debug, Clone)]
pub struct ClientHandshake {
    request: Request<()>,
    expected_accept: String,
    offered: Vec<Profile>,
}

impl ClientHandshake {
    /// Builds the upgrade request for `endpoint`: `GET /<db>/_blipsync`, `Host`, `Upgrade:
    /// websocket`, `Connection: Upgrade`, `Sec-WebSocket-Version: 13`, `Sec-WebSocket-Key` from
    /// `key` (16 random bytes: see [`ClientHandshake::random_key`]), `Sec-WebSocket-Protocol:
    /// BLIP_3+Ferry_1,BLIP_3+CBMobile_3`, `Authorization: Basic …` when credentials are given,
    /// and the extra headers. Extra headers may not replace the handshake's own.
    pub fn new(
        endpoint: &Endpoint,
        credentials: Option<&BasicCredentials>,
        extra_headers: &[(String, String)],
        key: [u8; 16],
    ) -> Result<ClientHandshake, ConnectError> {
        let config = |reason: String| ConnectError::InvalidConfig { reason };
        let key = base64::engine::general_purpose::STANDARD.encode(key);
        let mut builder = Request::get(endpoint.path())
            .header(header::HOST, endpoint.authority())
            .header(header::UPGRADE, "websocket")
            .header(header::CONNECTION, "Upgrade")
            .header(header::SEC_WEBSOCKET_VERSION, WEBSOCKET_VERSION)
            .header(header::SEC_WEBSOCKET_KEY, key.as_str())
            .header(header::SEC_WEBSOCKET_PROTOCOL, Profile::OFFERED.join(","));
        if let Some(credentials) = credentials {
            if credentials.username.contains(':') {
                return Err(config("a Basic user name cannot contain ':'".into()));
            }
            let mut value = HeaderValue::try_from(credentials.authorization_header())
                .map_err(|_| config("credentials cannot be sent in a header".into()))?;
            value.set_sensitive(true);
            builder = builder.header(header::AUTHORIZATION, value);
        }
        let reserved = [
            header::HOST,
            header::UPGRADE,
            header::CONNECTION,
            header::SEC_WEBSOCKET_VERSION,
            header::SEC_WEBSOCKET_KEY,
            header::SEC_WEBSOCKET_PROTOCOL,
            header::SEC_WEBSOCKET_EXTENSIONS,
        ];
        for (name, value) in extra_headers {
            let name = HeaderName::try_from(name.as_str())
                .map_err(|_| config(format!("invalid header name {name:?}")))?;
            if reserved.contains(&name) || (credentials.is_some() && name == header::AUTHORIZATION)
            {
                return Err(config(format!(
                    "header {name} is set by the handshake itself"
                )));
            }
            let value = HeaderValue::try_from(value.as_str())
                .map_err(|_| config(format!("invalid value for header {name}")))?;
            builder = builder.header(name, value);
        }
        let request = builder
            .body(())
            .map_err(|e| config(format!("cannot build the upgrade request: {e}")))?;
        Ok(ClientHandshake {
            expected_accept: accept_key(&key),
            request,
            offered: vec![Profile::Ferry1, Profile::CbMobile3],
        })
    }

    /// Offers only `profiles`, in this order of preference, instead of both (`Ferry_1`, then
    /// `CBMobile_3`): e.g. `[Profile::CbMobile3]` to speak Couchbase Lite's JSON profile with a
    /// Ferry listener. An answer choosing a profile not offered is then refused.
    pub fn offering(mut self, profiles: &[Profile]) -> Result<Self, ConnectError> {
        if profiles.is_empty() {
            return Err(ConnectError::InvalidConfig {
                reason: "a replicator must offer at least one profile".into(),
            });
        }
        let list: Vec<&str> = profiles.iter().map(|p| p.subprotocol()).collect();
        self.request.headers_mut().insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_str(&list.join(",")).expect("subprotocol names are header-safe"),
        );
        self.offered = profiles.to_vec();
        Ok(self)
    }

    /// 16 bytes from the ring provider's secure random generator, for `Sec-WebSocket-Key`.
    pub fn random_key() -> Result<[u8; 16], ConnectError> {
        let mut key = [0u8; 16];
        crate::tls::provider()
            .secure_random
            .fill(&mut key)
            .map_err(|_| ConnectError::Tls {
                reason: "no secure random source".into(),
            })?;
        Ok(key)
    }

    /// The upgrade request (all headers set; the body is empty).
    pub fn request(&self) -> &Request<()> {
        &self.request
    }

    /// Reads the listener's answer: a 101 with the right `Sec-WebSocket-Accept` and a profile
    /// Ferry offered gives [`Negotiated`]; any other status is [`ConnectError::Http`] (its
    /// transience follows the status); a broken 101 is [`ConnectError::Protocol`].
    pub fn finish<B>(&self, response: &Response<B>) -> Result<Negotiated, ConnectError> {
        let status = response.status();
        if status != StatusCode::SWITCHING_PROTOCOLS {
            return Err(http_error(status, None));
        }
        let headers = response.headers();
        let protocol = |reason: &str| ConnectError::Protocol {
            reason: reason.to_owned(),
        };
        let accept = headers
            .get(header::SEC_WEBSOCKET_ACCEPT)
            .ok_or_else(|| protocol("101 without Sec-WebSocket-Accept"))?;
        if accept.as_bytes() != self.expected_accept.as_bytes() {
            return Err(protocol("wrong Sec-WebSocket-Accept"));
        }
        let chosen = headers
            .get(header::SEC_WEBSOCKET_PROTOCOL)
            .ok_or_else(|| protocol("the listener chose no subprotocol"))?
            .to_str()
            .map_err(|_| protocol("unreadable Sec-WebSocket-Protocol"))?;
        let profile = Profile::from_subprotocol(chosen)
            .filter(|p| self.offered.contains(p))
            .ok_or_else(|| protocol("the listener chose a subprotocol that was not offered"))?;
        let remote_uuid = match headers.get(DATABASE_UUID_HEADER) {
            None => None,
            Some(value) => {
                let mut uuid = [0u8; 16];
                hex::decode_to_slice(value.as_bytes().trim_ascii(), &mut uuid)
                    .map_err(|_| protocol("malformed database UUID header"))?;
                Some(uuid)
            }
        };
        Ok(Negotiated {
            profile,
            remote_uuid,
        })
    }
}

/// The error for an HTTP answer other than 101, with the listener's body text when there is one
/// (Ferry listeners explain refusals there).
pub fn http_error(status: StatusCode, body: Option<&[u8]>) -> ConnectError {
    let reason = body
        .map(|b| {
            String::from_utf8_lossy(b)
                .trim()
                .chars()
                .take(200)
                .collect::<String>()
        })
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_owned());
    ConnectError::Http {
        status: status.as_u16(),
        reason,
    }
}
