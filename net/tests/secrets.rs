//! Secrets never reach logs or error messages: the `Debug` forms of every configuration that
//! holds a password or a private key, and the errors of a refused connection, leave them out.

use ferry_engine::db::{Database as Db, DatabaseConfig};
use ferry_net::api::{
    Authenticator, Database, IdentityAttributes, ListenerConfig, ReplicatorAuthenticator,
    ReplicatorConfig, TlsIdentity,
};
use ferry_store_memory::MemoryStore;

const PASSWORD: &str = "hunter2-correct-horse";

fn handle() -> Database {
    let db = Db::open(MemoryStore::new(), DatabaseConfig::with_uuid_seed(7)).unwrap();
    Database::open("db", db)
}

/// Every way a secret could be spelled in a debug string.
fn assert_no_secret(text: &str, identity: &TlsIdentity) {
    use base64::Engine as _;
    assert!(!text.contains(PASSWORD), "{text}");
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("user:{PASSWORD}"));
    assert!(!text.contains(&basic), "{text}");
    let pem = TlsIdentity::certificate_chain_pem(identity);
    assert!(!text.contains("PRIVATE KEY"), "{text}");
    // The certificate is public, but the debug form has no reason to dump it either.
    assert!(!text.contains(&pem[30..60]), "{text}");
}

#[test]
fn configurations_do_not_show_passwords_or_keys() {
    let identity =
        TlsIdentity::create_self_signed(&IdentityAttributes::new("secret-test")).unwrap();
    let replicator = ReplicatorConfig::new(handle(), "wss://127.0.0.1:4984/db")
        .authenticator(ReplicatorAuthenticator::basic("user", PASSWORD));
    assert_no_secret(&format!("{replicator:?}"), &identity);
    assert!(
        format!("{replicator:?}").contains("user"),
        "the user name is shown"
    );

    let replicator = ReplicatorConfig::new(handle(), "wss://127.0.0.1:4984/db")
        .authenticator(ReplicatorAuthenticator::ClientCertificate(identity.clone()));
    assert_no_secret(&format!("{replicator:?}"), &identity);

    let listener = ListenerConfig::new(handle())
        .tls_identity(identity.clone())
        .authenticator(Authenticator::password(|_, p| p == PASSWORD));
    assert_no_secret(&format!("{listener:?}"), &identity);
    assert_no_secret(&format!("{identity:?}"), &identity);
}
