//! Certificates for tests (the `testing` feature; nothing of it ships): a CA and one
//! certificate it signed for 127.0.0.1 and localhost, made with rcgen and written as
//! PEM files, as an operator would hand them to ratufa.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::TlsSettings;

/// The files and their contents.
pub struct TestPki {
    pub ca_file: PathBuf,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub ca: CertificateDer<'static>,
    pub cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
}

impl TestPki {
    /// Makes the CA and the certificate, and writes `ca.pem`, `cert.pem` and
    /// `key.pem` into `dir` (which must exist).
    pub fn create(dir: &Path) -> TestPki {
        TestPki::create_for(dir, &["127.0.0.1", "localhost"])
    }

    /// As [`TestPki::create`], with a certificate for `names` (host names or IP
    /// addresses).
    pub fn create_for(dir: &Path, names: &[&str]) -> TestPki {
        let ca_key = KeyPair::generate().expect("a CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).expect("a CA certificate");
        let key = KeyPair::generate().expect("a key");
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let cert = CertificateParams::new(names)
            .expect("certificate params")
            .signed_by(&key, &ca, &ca_key)
            .expect("a certificate");
        let write = |name: &str, text: String| {
            let path = dir.join(name);
            std::fs::write(&path, text).expect("write a PEM file");
            path
        };
        TestPki {
            ca_file: write("ca.pem", ca.pem()),
            cert_file: write("cert.pem", cert.pem()),
            key_file: write("key.pem", key.serialize_pem()),
            ca: ca.der().clone(),
            cert: cert.der().clone(),
            key: PrivatePkcs8KeyDer::from(key.serialize_der()),
        }
    }

    /// The certificate's private key.
    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.key.clone_key())
    }

    /// Settings presenting the certificate and trusting only the CA.
    pub fn settings(&self) -> TlsSettings {
        TlsSettings {
            cert_file: self.cert_file.clone(),
            key_file: self.key_file.clone(),
            ca_file: Some(self.ca_file.clone()),
            ca_dir: None,
            verify_server_cert: true,
            require_client_cert: false,
            support_downgrade: false,
            tls_v1_2: true,
            tls_v1_3: true,
        }
    }

    /// The LIBPROCESS_SSL_* environment of [`TestPki::settings`].
    pub fn env(&self) -> Vec<(String, String)> {
        let path = |p: &PathBuf| p.display().to_string();
        vec![
            ("LIBPROCESS_SSL_ENABLED".into(), "true".into()),
            ("LIBPROCESS_SSL_CERT_FILE".into(), path(&self.cert_file)),
            ("LIBPROCESS_SSL_KEY_FILE".into(), path(&self.key_file)),
            ("LIBPROCESS_SSL_CA_FILE".into(), path(&self.ca_file)),
        ]
    }
}
