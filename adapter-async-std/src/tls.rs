//! TLS over any futures-io TCP stream with futures-rustls: the part of the async-std and smol
//! runtimes that is the same for both.

use std::io;
use std::sync::Arc;

use ferry_net::driver::{BoxFuture, BoxStream, ByteStream, Secured};
use ferry_net::pki_types::ServerName;
use ferry_net::rustls;

/// The client side of a TLS handshake over `tcp`.
pub(crate) fn connect<T: ByteStream>(
    config: Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
    tcp: T,
) -> BoxFuture<io::Result<BoxStream>> {
    Box::pin(async move {
        let stream = futures_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await?;
        Ok(Box::new(stream) as BoxStream)
    })
}

/// The server side of a TLS handshake over `tcp`, with the client's certificates.
pub(crate) fn accept<T: ByteStream>(
    config: Arc<rustls::ServerConfig>,
    tcp: T,
) -> BoxFuture<io::Result<Secured>> {
    Box::pin(async move {
        let stream = futures_rustls::TlsAcceptor::from(config)
            .accept(tcp)
            .await?;
        let peer_certificates = stream.get_ref().1.peer_certificates().map(<[_]>::to_vec);
        Ok(Secured {
            stream: Box::new(stream),
            peer_certificates,
        })
    })
}
