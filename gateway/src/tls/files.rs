//! Reading the PEM files the settings name: this process's certificate chain and key,
//! and the authorities it trusts. Every failure names the variable that pointed at the
//! file, and the file.

use std::path::Path;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::TlsSettings;
use crate::GatewayError;

fn error(variable: &str, path: &Path, message: impl std::fmt::Display) -> GatewayError {
    GatewayError::Tls {
        variable: variable.to_string(),
        message: format!("{}: {message}", path.display()),
    }
}

/// Every certificate in the PEM file at `path` (at least one).
pub(super) fn certificates(
    variable: &str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, GatewayError> {
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|e| error(variable, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| error(variable, path, e))?;
    if certificates.is_empty() {
        return Err(error(
            variable,
            path,
            "no PEM certificate (-----BEGIN CERTIFICATE-----) in the file",
        ));
    }
    Ok(certificates)
}

/// The first private key in the PEM file at `path`.
pub(super) fn private_key(
    variable: &str,
    path: &Path,
) -> Result<PrivateKeyDer<'static>, GatewayError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => error(
            variable,
            path,
            "no PEM private key (PKCS#8, PKCS#1 or SEC1; unencrypted) in the file",
        ),
        e => error(variable, path, e),
    })
}

/// The authorities named by the CA file and by every certificate file in the CA
/// directory (none when neither is given).
///
/// OpenSSL looks a CA directory's certificates up by subject-hash file names
/// (`c_rehash`); reading every file finds the same certificates whether or not the
/// directory was hashed.
pub(super) fn configured_roots(settings: &TlsSettings) -> Result<RootCertStore, GatewayError> {
    let mut roots = RootCertStore::empty();
    let mut add = |variable: &str, path: &Path, certificates: Vec<CertificateDer<'static>>| {
        for certificate in certificates {
            roots
                .add(certificate)
                .map_err(|e| error(variable, path, format!("not a usable CA certificate: {e}")))?;
        }
        Ok::<_, GatewayError>(())
    };
    if let Some(path) = &settings.ca_file {
        add(
            "LIBPROCESS_SSL_CA_FILE",
            path,
            certificates("LIBPROCESS_SSL_CA_FILE", path)?,
        )?;
    }
    if let Some(dir) = &settings.ca_dir {
        let variable = "LIBPROCESS_SSL_CA_DIR";
        let entries = std::fs::read_dir(dir).map_err(|e| error(variable, dir, e))?;
        let mut found = 0;
        for entry in entries {
            let path = entry.map_err(|e| error(variable, dir, e))?.path();
            // Other files (a README, CRLs, keys) may share the directory.
            match certificates(variable, &path) {
                Ok(certificates) => {
                    found += certificates.len();
                    add(variable, &path, certificates)?;
                }
                Err(e) => tracing::debug!(error = %e, "skipping a file of the CA directory"),
            }
        }
        if found == 0 {
            return Err(error(
                variable,
                dir,
                "no PEM certificate in any of its files",
            ));
        }
    }
    Ok(roots)
}

/// Adds the system's trusted authorities to `roots` (none where it has none).
pub(crate) fn add_native_roots(roots: &mut RootCertStore) {
    let native = rustls_native_certs::load_native_certs();
    for e in &native.errors {
        tracing::warn!(error = %e, "reading the system's trusted certificates");
    }
    let (added, ignored) = roots.add_parsable_certificates(native.certs);
    tracing::debug!(
        added,
        ignored,
        "trusting the system's certificate authorities"
    );
}
