//! TLS over any runtime's TCP stream (futures-io) with futures-rustls: written once for every
//! adapter, with the configurations of [`crate::tls`] (ring provider only).

use std::io;
use std::sync::Arc;

use rustls_pki_types::{CertificateDer, ServerName};

use super::{BoxStream, ByteStream};

/// The client side of a TLS handshake over `tcp`.
pub(crate) async fn connect<T: ByteStream>(
    config: Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
    tcp: T,
) -> io::Result<BoxStream> {
    let stream = futures_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await?;
    Ok(Box::new(stream))
}

/// The server side of a TLS handshake over `tcp`: the stream, and the client's certificate
/// chain (leaf first, already verified by `config`) if it presented one.
pub(crate) async fn accept<T: ByteStream>(
    config: Arc<rustls::ServerConfig>,
    tcp: T,
) -> io::Result<(BoxStream, Option<Vec<CertificateDer<'static>>>)> {
    let stream = futures_rustls::TlsAcceptor::from(config)
        .accept(tcp)
        .await?;
    let peer_certificates = stream.get_ref().1.peer_certificates().map(<[_]>::to_vec);
    Ok((Box::new(stream), peer_certificates))
}
