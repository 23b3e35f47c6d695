//! TLS for every server and client of a ratufa process, switched on by the
//! LIBPROCESS_SSL_* environment as in Mesos (docs/COMPATIBILITY.md says which
//! variables are honoured):
//!
//! - [`settings`]: reading the environment;
//! - `files`: reading the certificate, key and trusted authorities;
//! - `verify`: how a client checks a server's certificate;
//! - [`listener`]: serving https (and, with downgrade, plain HTTP) on one port;
//! - the clients' side is [`crate::tcp::http_client`], given a [`Tls`].
//!
//! The process presents one certificate both as a server and as a client, as
//! libprocess does, so that a master requiring client certificates accepts its agents.

pub(crate) mod files;
pub mod listener;
pub mod settings;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub(crate) mod verify;

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, ServerConfig, SupportedProtocolVersion};

pub use listener::{Listener, Stream, listener};
pub use settings::TlsSettings;

use crate::GatewayError;

/// The loaded TLS configuration of this process. Cheap to clone.
#[derive(Clone)]
pub struct Tls {
    settings: TlsSettings,
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
    /// The authorities of CA_FILE and CA_DIR (empty without them).
    configured_roots: Arc<rustls::RootCertStore>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Tls {
    fn eq(&self, other: &Tls) -> bool {
        self.settings == other.settings
    }
}

/// The only provider ratufa uses, named rather than left to the process default so
/// that a dependency enabling another one cannot make the choice ambiguous.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl Tls {
    /// Reads and loads this process's TLS from its environment; `None` when
    /// LIBPROCESS_SSL_ENABLED is not true.
    pub fn from_env() -> Result<Option<Tls>, GatewayError> {
        TlsSettings::from_env()?.map(Tls::load).transpose()
    }

    /// Reads the certificate, the key and the trusted authorities `settings` name.
    pub fn load(settings: TlsSettings) -> Result<Tls, GatewayError> {
        let chain = files::certificates("LIBPROCESS_SSL_CERT_FILE", &settings.cert_file)?;
        let key = files::private_key("LIBPROCESS_SSL_KEY_FILE", &settings.key_file)?;
        let configured_roots = Arc::new(files::configured_roots(&settings)?);
        let needs_roots = settings.verify_server_cert || settings.require_client_cert;
        // Without a CA file or directory, the system's authorities are trusted.
        let roots = if needs_roots && configured_roots.is_empty() {
            let mut native = rustls::RootCertStore::empty();
            files::add_native_roots(&mut native);
            Arc::new(native)
        } else {
            configured_roots.clone()
        };
        let provider = provider();
        let versions = versions(&settings);
        let bad_pair = |e: rustls::Error| GatewayError::Tls {
            variable: "LIBPROCESS_SSL_KEY_FILE".into(),
            message: format!(
                "{} with the certificate of {}: {e}",
                settings.key_file.display(),
                settings.cert_file.display()
            ),
        };
        let config_error = |e: rustls::Error| GatewayError::Tls {
            variable: "LIBPROCESS_SSL_ENABLED".into(),
            message: format!("cannot configure TLS: {e}"),
        };

        let server = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(config_error)?;
        let server = if settings.require_client_cert {
            let verifier =
                WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
                    .build()
                    .map_err(|e| GatewayError::Tls {
                        variable: "LIBPROCESS_SSL_REQUIRE_CLIENT_CERT".into(),
                        message: format!(
                            "no authority to check client certificates against \
                             (LIBPROCESS_SSL_CA_FILE, LIBPROCESS_SSL_CA_DIR): {e}"
                        ),
                    })?;
            server.with_client_cert_verifier(verifier)
        } else {
            server.with_no_client_auth()
        };
        let mut server = server
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(bad_pair)?;
        server.alpn_protocols = vec![b"http/1.1".to_vec()];

        let client = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(config_error)?;
        let client = if settings.verify_server_cert {
            let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
                roots,
                provider.clone(),
            )
            .build()
            .map_err(|e| GatewayError::Tls {
                variable: "LIBPROCESS_SSL_VERIFY_SERVER_CERT".into(),
                message: format!(
                    "no authority to check servers' certificates against \
                     (LIBPROCESS_SSL_CA_FILE, LIBPROCESS_SSL_CA_DIR, or the system's): {e}"
                ),
            })?;
            client
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verify::TrustedChain { inner }))
        } else {
            client
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verify::AnyServerCert { provider }))
        };
        let client = client.with_client_auth_cert(chain, key).map_err(bad_pair)?;

        Ok(Tls {
            settings,
            server: Arc::new(server),
            client: Arc::new(client),
            configured_roots,
        })
    }

    pub fn settings(&self) -> &TlsSettings {
        &self.settings
    }

    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.server.clone()
    }

    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.client.clone()
    }

    /// The authorities of LIBPROCESS_SSL_CA_FILE and CA_DIR (empty without them).
    pub fn configured_roots(&self) -> &rustls::RootCertStore {
        &self.configured_roots
    }
}

/// `https` with TLS, `http` without: the scheme of every URL ratufa builds for a peer
/// of the same cluster (a whole cluster has TLS on or off, as in Mesos).
pub fn scheme(tls: Option<&Tls>) -> &'static str {
    if tls.is_some() { "https" } else { "http" }
}

fn versions(settings: &TlsSettings) -> Vec<&'static SupportedProtocolVersion> {
    let mut versions = Vec::new();
    if settings.tls_v1_3 {
        versions.push(&rustls::version::TLS13);
    }
    if settings.tls_v1_2 {
        versions.push(&rustls::version::TLS12);
    }
    versions
}

#[cfg(test)]
mod tests;
