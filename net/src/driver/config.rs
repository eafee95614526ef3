//! The configuration objects of listeners and replicators, mirroring Couchbase Lite's
//! `URLEndpointListenerConfiguration` and `ReplicatorConfiguration`.

use ferry_engine::repl::{ConflictResolver, ReplicationFilter};
use std::path::PathBuf;
use std::time::Duration;

use ferry_engine::repl::{ActivityLevel, ConnectionError, Direction, Profile, Progress};
use rustls_pki_types::CertificateDer;

use super::store::DatabaseHandle;
use crate::auth::{Authenticator, BasicCredentials};
use crate::identity::{Fingerprint, TlsIdentity};

/// Limits a listener enforces.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListenerLimits {
    /// Open connections at once; more are answered `503 Service Unavailable` (which
    /// replicators retry). Default 64.
    pub max_connections: usize,
    /// How long a client may take for TLS and the HTTP upgrade (default 10 s).
    pub handshake_timeout: Duration,
    /// A connection on which nothing arrives for this long is closed with 1001 (replicators
    /// retry); `None` disables it. Default 10 minutes (replicators ping every 5 minutes).
    pub idle_timeout: Option<Duration>,
    /// The largest WebSocket message accepted, in bytes (default 16 MiB; BLIP frames are at
    /// most 16 KiB).
    pub max_message_size: usize,
    /// The largest HTTP upgrade request head accepted, in bytes (default 16 KiB).
    pub max_request_head: usize,
    /// Bytes of one connection in flight between its socket and the database, either way
    /// (requests read but not yet handled, replies queued but not yet written), past which
    /// the listener stops reading from that peer (default 16 MiB).
    pub max_backlog: usize,
    /// A peer that leaves the backlog full for this long — it sends requests and does not
    /// read the replies — is closed with 1008 (default 60 s).
    pub stall_timeout: Duration,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        ListenerLimits {
            max_connections: 64,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Some(Duration::from_secs(600)),
            max_message_size: 16 << 20,
            max_request_head: 16 << 10,
            max_backlog: 16 << 20,
            stall_timeout: Duration::from_secs(60),
        }
    }
}

/// A listener's settings (Couchbase Lite's `URLEndpointListenerConfiguration`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ListenerConfig {
    /// The database served, at `/<name>/_blipsync` where `name` is the handle's name.
    pub database: DatabaseHandle,
    /// The TCP port; 0 picks a free one (read it back with `port()`).
    pub port: u16,
    /// The network interface to listen on: an IP address (`"127.0.0.1"`, `"::1"`) or an
    /// interface name (`"lo"`; other names are looked up among the interface's IPv6 addresses
    /// in `/proc/net/if_inet6`). `None` listens on every IPv4 interface (`0.0.0.0`).
    pub network_interface: Option<String>,
    /// Serve `ws://` instead of `wss://`.
    pub disable_tls: bool,
    /// The TLS identity; `None` uses the anonymous self-signed identity kept in
    /// `identity_dir` (created on first use, reused afterwards).
    pub tls_identity: Option<TlsIdentity>,
    /// Where the anonymous identity is kept (default `$HOME/.ferry/identities`, else the
    /// temporary directory).
    pub identity_dir: Option<PathBuf>,
    /// How replicators authenticate.
    pub authenticator: Authenticator,
    /// Refuse pushes (pullers are served).
    pub read_only: bool,
    /// Offer delta sync to replicators (default `false`, as Couchbase Lite's listener):
    /// revisions then travel as JSON deltas against a base the peer has, when that is clearly
    /// smaller than the body.
    pub enable_delta_sync: bool,
    /// Limits.
    pub limits: ListenerLimits,
}

impl ListenerConfig {
    /// A TLS listener on an automatic port with the anonymous identity and no authentication.
    pub fn new(database: DatabaseHandle) -> Self {
        ListenerConfig {
            database,
            port: 0,
            network_interface: None,
            disable_tls: false,
            tls_identity: None,
            identity_dir: None,
            authenticator: Authenticator::None,
            read_only: false,
            enable_delta_sync: false,
            limits: ListenerLimits::default(),
        }
    }

    /// Sets the port (0: automatic).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Sets the network interface (IP address or name).
    pub fn network_interface(mut self, interface: impl Into<String>) -> Self {
        self.network_interface = Some(interface.into());
        self
    }

    /// Serves plain `ws://`.
    pub fn disable_tls(mut self, disable: bool) -> Self {
        self.disable_tls = disable;
        self
    }

    /// Uses this TLS identity.
    pub fn tls_identity(mut self, identity: TlsIdentity) -> Self {
        self.tls_identity = Some(identity);
        self
    }

    /// Keeps the anonymous identity in this directory.
    pub fn identity_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.identity_dir = Some(dir.into());
        self
    }

    /// Sets the authenticator.
    pub fn authenticator(mut self, authenticator: Authenticator) -> Self {
        self.authenticator = authenticator;
        self
    }

    /// Refuses pushes.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// Offers delta sync.
    pub fn enable_delta_sync(mut self, enable: bool) -> Self {
        self.enable_delta_sync = enable;
        self
    }
}

/// A listener's connection counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListenerStatus {
    /// Open replication connections.
    pub connection_count: usize,
    /// Of those, connections moving documents right now.
    pub active_connection_count: usize,
    /// Revisions served to pullers (and acknowledged by them) since the listener started.
    pub documents_sent: u64,
    /// Revisions pushed by replicators and stored since the listener started.
    pub documents_received: u64,
}

/// How a replicator authenticates to the listener.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ReplicatorAuthenticator {
    /// HTTP Basic credentials in the upgrade request.
    Basic(BasicCredentials),
    /// A TLS client certificate (needs `wss://`).
    ClientCertificate(TlsIdentity),
}

impl ReplicatorAuthenticator {
    /// Basic credentials.
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Self {
        ReplicatorAuthenticator::Basic(BasicCredentials::new(username, password))
    }
}

/// A replicator's settings (Couchbase Lite's `ReplicatorConfiguration`). Push and pull filters
/// and custom conflict resolvers are not offered yet (the engine's sessions do not take them);
/// conflicts are resolved by the default rule.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReplicatorConfig {
    /// The local database.
    pub database: DatabaseHandle,
    /// `ws://host:port/<db>` or `wss://…`.
    pub endpoint: String,
    /// Push, pull or both.
    pub replicator_type: Direction,
    /// Keep replicating live changes after catching up.
    pub continuous: bool,
    /// Credentials, if the listener wants them.
    pub authenticator: Option<ReplicatorAuthenticator>,
    /// Trust exactly this server certificate (its SHA-256 fingerprint is compared).
    pub pinned_server_certificate: Option<CertificateDer<'static>>,
    /// Trust exactly the server certificate with this SHA-256 fingerprint: pinning when only
    /// the fingerprint is known (as a listener prints it). `pinned_server_certificate` wins
    /// when both are set.
    pub pinned_server_fingerprint: Option<Fingerprint>,
    /// Trust a self-signed server certificate and refuse CA-signed ones.
    pub accept_only_self_signed_server_certificate: bool,
    /// Roots for standard certificate validation (Ferry bundles no system roots): used when
    /// neither pinning nor accept-only-self-signed is set.
    pub trusted_root_certificates: Vec<CertificateDer<'static>>,
    /// Extra headers sent with the upgrade request.
    pub headers: Vec<(String, String)>,
    /// Ping interval; `None` disables the heartbeat (default 300 s).
    pub heartbeat: Option<Duration>,
    /// Failed attempts after which the replicator stops; `None`: 10 one-shot, unlimited
    /// continuous.
    pub max_attempts: Option<u32>,
    /// The longest wait between attempts (default 300 s).
    pub max_attempt_wait: Duration,
    /// How long one connection attempt may take (default 15 s).
    pub connect_timeout: Duration,
    /// Replicate only these documents.
    pub document_ids: Option<Vec<String>>,
    /// Decides which local changes are pushed (all by default).
    pub push_filter: Option<ReplicationFilter>,
    /// Decides which pulled changes are stored (all by default).
    pub pull_filter: Option<ReplicationFilter>,
    /// Decides pulled conflicts (default: Couchbase Lite's: a deletion wins, else the higher
    /// generation, else the higher revision ID).
    pub conflict_resolver: ConflictResolver,
    /// Send and accept deltas when the listener enables them too (default `true`).
    pub enable_delta_sync: bool,
    /// The largest WebSocket message accepted (default 16 MiB).
    pub max_message_size: usize,
    /// The profiles offered in the upgrade, in order of preference (default `Ferry_1`, then
    /// `CBMobile_3`: a Ferry listener picks `Ferry_1`, a Couchbase Lite one `CBMobile_3`).
    pub profiles: Vec<Profile>,
}

impl ReplicatorConfig {
    /// A one-shot push-and-pull replicator of `database` with `endpoint`.
    pub fn new(database: DatabaseHandle, endpoint: impl Into<String>) -> Self {
        ReplicatorConfig {
            database,
            endpoint: endpoint.into(),
            replicator_type: Direction::PushAndPull,
            continuous: false,
            authenticator: None,
            pinned_server_certificate: None,
            pinned_server_fingerprint: None,
            accept_only_self_signed_server_certificate: false,
            trusted_root_certificates: Vec::new(),
            headers: Vec::new(),
            heartbeat: Some(Duration::from_secs(300)),
            max_attempts: None,
            max_attempt_wait: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(15),
            document_ids: None,
            push_filter: None,
            pull_filter: None,
            conflict_resolver: ConflictResolver::default(),
            enable_delta_sync: true,
            max_message_size: 16 << 20,
            profiles: vec![Profile::Ferry1, Profile::CbMobile3],
        }
    }

    /// Sets the push filter.
    pub fn push_filter(mut self, filter: ReplicationFilter) -> Self {
        self.push_filter = Some(filter);
        self
    }

    /// Sets the pull filter.
    pub fn pull_filter(mut self, filter: ReplicationFilter) -> Self {
        self.pull_filter = Some(filter);
        self
    }

    /// Sets the conflict resolver.
    pub fn conflict_resolver(mut self, resolver: ConflictResolver) -> Self {
        self.conflict_resolver = resolver;
        self
    }

    /// Sets push, pull or both.
    pub fn replicator_type(mut self, direction: Direction) -> Self {
        self.replicator_type = direction;
        self
    }

    /// Sets continuous mode.
    pub fn continuous(mut self, continuous: bool) -> Self {
        self.continuous = continuous;
        self
    }

    /// Sets the authenticator.
    pub fn authenticator(mut self, authenticator: ReplicatorAuthenticator) -> Self {
        self.authenticator = Some(authenticator);
        self
    }

    /// Trusts only self-signed server certificates.
    pub fn accept_only_self_signed_server_certificate(mut self, accept: bool) -> Self {
        self.accept_only_self_signed_server_certificate = accept;
        self
    }

    /// Pins the server certificate.
    pub fn pinned_server_certificate(mut self, certificate: CertificateDer<'static>) -> Self {
        self.pinned_server_certificate = Some(certificate);
        self
    }

    /// Pins the server certificate by its SHA-256 fingerprint.
    pub fn pinned_server_fingerprint(mut self, fingerprint: Fingerprint) -> Self {
        self.pinned_server_fingerprint = Some(fingerprint);
        self
    }

    /// Sets the document IDs to replicate (all when never set).
    pub fn document_ids(mut self, ids: Vec<String>) -> Self {
        self.document_ids = Some(ids);
        self
    }

    /// Trusts these roots.
    pub fn trusted_root_certificates(mut self, roots: Vec<CertificateDer<'static>>) -> Self {
        self.trusted_root_certificates = roots;
        self
    }

    /// Sets the maximum number of attempts.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// Sets the longest wait between attempts.
    pub fn max_attempt_wait(mut self, wait: Duration) -> Self {
        self.max_attempt_wait = wait;
        self
    }

    /// Offers only these profiles, in this order of preference (e.g. `[Profile::CbMobile3]`
    /// for Couchbase Lite's JSON bodies with a Ferry listener). Empty is refused when the
    /// replicator is created.
    pub fn profiles(mut self, profiles: Vec<Profile>) -> Self {
        self.profiles = profiles;
        self
    }
}

/// A replicator's status.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ReplicatorStatus {
    /// Stopped, offline, connecting, idle or busy.
    pub activity: ActivityLevel,
    /// Documents completed out of documents known (of the current or last connection).
    pub progress: Progress,
    /// The error that interrupted (offline, retrying) or stopped the replicator.
    pub error: Option<ConnectionError>,
    /// Connection attempts made since `start` (the first one included).
    pub attempts: u32,
}

impl ReplicatorStatus {
    /// A stopped replicator that has done nothing.
    pub fn stopped() -> Self {
        ReplicatorStatus {
            activity: ActivityLevel::Stopped,
            progress: Progress::default(),
            error: None,
            attempts: 0,
        }
    }
}
