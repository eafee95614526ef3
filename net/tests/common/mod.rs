//! Test PKI: a CA, leaves it signs, self-signed leaves, and an in-memory TLS handshake.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ferry_net::TlsIdentity;
use ferry_net::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use ferry_net::rustls::{self, ClientConfig, ClientConnection, ServerConfig, ServerConnection};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// A certificate authority that can sign leaves.
pub struct TestCa {
    pub der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).unwrap();
        TestCa {
            der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf for `names` (DNS names or IPs) with `eku`, signed by this CA: (leaf DER, key).
    pub fn sign(
        &self,
        names: &[&str],
        eku: ExtendedKeyUsagePurpose,
    ) -> (CertificateDer<'static>, KeyPair) {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, names.first().copied().unwrap_or("leaf"));
        params.distinguished_name = dn;
        params.extended_key_usages = vec![eku];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.der().clone(), key)
    }

    /// An identity whose chain is [leaf, CA].
    pub fn server_identity(&self, names: &[&str]) -> TlsIdentity {
        let (leaf, key) = self.sign(names, ExtendedKeyUsagePurpose::ServerAuth);
        TlsIdentity::from_der(vec![leaf, self.der.clone()], key_der(&key)).unwrap()
    }

    /// A client identity whose chain is [leaf, CA].
    pub fn client_identity(&self, name: &str) -> TlsIdentity {
        let (leaf, key) = self.sign(&[name], ExtendedKeyUsagePurpose::ClientAuth);
        TlsIdentity::from_der(vec![leaf, self.der.clone()], key_der(&key)).unwrap()
    }
}

pub fn key_der(key: &KeyPair) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()))
}

pub fn self_signed(cn: &str) -> TlsIdentity {
    let mut attrs = ferry_net::IdentityAttributes::new(cn);
    attrs.subject_alt_names = vec!["localhost".into()];
    TlsIdentity::create_self_signed(&attrs).unwrap()
}

/// A self-signed identity that expired a day ago.
pub fn expired_self_signed() -> TlsIdentity {
    let mut attrs = ferry_net::IdentityAttributes::new("expired");
    attrs.valid_for = Duration::from_secs(3600);
    TlsIdentity::create_self_signed_at(&attrs, SystemTime::now() - Duration::from_secs(86_400))
        .unwrap()
}

/// Which side of the handshake failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

/// Runs a complete TLS handshake between the two configurations in memory (no sockets),
/// moving bytes with `write_tls`/`read_tls`, then sends one application message each way.
pub fn handshake(
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
    server_name: &str,
) -> Result<(ClientConnection, ServerConnection), (Side, rustls::Error)> {
    let name = ServerName::try_from(server_name.to_owned()).unwrap();
    let mut client = ClientConnection::new(client, name).unwrap();
    let mut server = ServerConnection::new(server).unwrap();
    for _round in 0..32 {
        let to_server = drain(&mut client);
        feed(&mut server, &to_server).map_err(|e| (Side::Server, e))?;
        let to_client = drain(&mut server);
        feed(&mut client, &to_client).map_err(|e| (Side::Client, e))?;
        if !client.is_handshaking()
            && !server.is_handshaking()
            && to_server.is_empty()
            && to_client.is_empty()
        {
            exchange(&mut client, &mut server).map_err(|e| (Side::Server, e))?;
            return Ok((client, server));
        }
    }
    panic!("handshake did not settle in 32 rounds");
}

fn drain<C: std::ops::DerefMut<Target = rustls::ConnectionCommon<D>>, D>(conn: &mut C) -> Vec<u8> {
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).unwrap();
    }
    out
}

fn feed<C: std::ops::DerefMut<Target = rustls::ConnectionCommon<D>>, D>(
    conn: &mut C,
    mut bytes: &[u8],
) -> Result<(), rustls::Error> {
    while !bytes.is_empty() {
        conn.read_tls(&mut bytes).unwrap();
        conn.process_new_packets()?;
    }
    Ok(())
}

/// One message each way after the handshake, proving the keys agree.
fn exchange(
    client: &mut ClientConnection,
    server: &mut ServerConnection,
) -> Result<(), rustls::Error> {
    use std::io::{Read, Write};
    client.writer().write_all(b"ping").unwrap();
    let bytes = drain(client);
    feed(server, &bytes)?;
    let mut got = [0u8; 4];
    server.reader().read_exact(&mut got).unwrap();
    assert_eq!(&got, b"ping");
    server.writer().write_all(b"pong").unwrap();
    let bytes = drain(server);
    feed(client, &bytes)?;
    client.reader().read_exact(&mut got).unwrap();
    assert_eq!(&got, b"pong");
    Ok(())
}
