//! What the LIBPROCESS_SSL_* environment asks for, as Mesos reads it: the whole
//! process's TLS is switched by environment variables, not flags, so that a framework,
//! an executor and a master configure it the same way. The older `SSL_*` names are
//! read too; a `LIBPROCESS_SSL_*` variable wins over its `SSL_*` twin, as in Mesos.
//!
//! Nothing is loaded here (see [`Tls::load`](super::Tls::load)); this only reads
//! text, so that every variable's mistake is reported with the variable's name.

use std::path::PathBuf;

use crate::GatewayError;

/// The two prefixes, the newer first: it wins.
const PREFIXES: [&str; 2] = ["LIBPROCESS_SSL_", "SSL_"];

/// Variables Mesos reads that have no rustls counterpart: set, they are reported and
/// otherwise ignored (rustls picks its own cipher suites and curves, checks chains of
/// any depth its limits allow, and always checks the name or IP address a client
/// connects to against the certificate).
const IGNORED: [&str; 5] = [
    "CIPHERS",
    "ECDH_CURVE",
    "VERIFY_DEPTH",
    "VERIFY_IPADD",
    "HOSTNAME_VALIDATION_SCHEME",
];

/// Protocols Mesos can be told to enable that rustls does not implement: asking for
/// one is an error rather than a silent refusal later, at the first old client.
const UNSUPPORTED_PROTOCOLS: [&str; 3] = ["ENABLE_SSL_V3", "ENABLE_TLS_V1_0", "ENABLE_TLS_V1_1"];

/// The TLS settings of this process, read from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// `LIBPROCESS_SSL_CERT_FILE`: the PEM certificate chain this process presents, as
    /// a server and (as Mesos does) as a client.
    pub cert_file: PathBuf,
    /// `LIBPROCESS_SSL_KEY_FILE`: its PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// `LIBPROCESS_SSL_CA_FILE`: PEM certificates of the authorities to trust.
    pub ca_file: Option<PathBuf>,
    /// `LIBPROCESS_SSL_CA_DIR`: a directory whose files hold PEM certificates to trust.
    pub ca_dir: Option<PathBuf>,
    /// `LIBPROCESS_SSL_VERIFY_SERVER_CERT` (alias `VERIFY_CERT`): a client checks the
    /// server's certificate. On unless set false: ratufa's default, unlike Mesos's.
    pub verify_server_cert: bool,
    /// `LIBPROCESS_SSL_REQUIRE_CLIENT_CERT` (alias `REQUIRE_CERT`): a server accepts
    /// only clients presenting a certificate from a trusted authority.
    pub require_client_cert: bool,
    /// `LIBPROCESS_SSL_SUPPORT_DOWNGRADE`: a server also answers plain HTTP on its port,
    /// and a client retries in plain HTTP when a TLS handshake fails.
    pub support_downgrade: bool,
    /// `LIBPROCESS_SSL_ENABLE_TLS_V1_2`.
    pub tls_v1_2: bool,
    /// `LIBPROCESS_SSL_ENABLE_TLS_V1_3`.
    pub tls_v1_3: bool,
}

impl TlsSettings {
    /// Reads this process's environment; `None` when TLS is not enabled.
    pub fn from_env() -> Result<Option<TlsSettings>, GatewayError> {
        TlsSettings::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the variables through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<TlsSettings>, GatewayError> {
        let env = Env { lookup: &lookup };
        if !env.flag("ENABLED")?.unwrap_or(false) {
            return Ok(None);
        }
        for name in UNSUPPORTED_PROTOCOLS {
            if env.flag(name)? == Some(true) {
                return Err(GatewayError::Tls {
                    variable: env.name_of(name),
                    message: "rustls speaks only TLS 1.2 and 1.3; older protocols cannot \
                              be enabled"
                        .into(),
                });
            }
        }
        for name in IGNORED {
            if let Some((variable, _)) = env.get(name) {
                tracing::warn!(%variable, "ignored: rustls has no such setting");
            }
        }
        let cert_file = env.required_path("CERT_FILE")?;
        let key_file = env.required_path("KEY_FILE")?;
        let require_client_cert = env.flag_or_alias("REQUIRE_CLIENT_CERT", "REQUIRE_CERT")?;
        // Mesos turns server verification on whenever client certificates are
        // required; ratufa verifies by default and only an explicit false stops it.
        let verify = env.flag_or_alias("VERIFY_SERVER_CERT", "VERIFY_CERT")?;
        let verify_server_cert = require_client_cert == Some(true) || verify != Some(false);
        let tls_v1_2 = env.flag("ENABLE_TLS_V1_2")?.unwrap_or(true);
        let tls_v1_3 = env.flag("ENABLE_TLS_V1_3")?.unwrap_or(true);
        if !tls_v1_2 && !tls_v1_3 {
            return Err(GatewayError::Tls {
                variable: env.name_of("ENABLE_TLS_V1_3"),
                message: "TLS 1.2 and TLS 1.3 are both disabled; nothing is left to speak".into(),
            });
        }
        Ok(Some(TlsSettings {
            cert_file,
            key_file,
            ca_file: env.path("CA_FILE")?,
            ca_dir: env.path("CA_DIR")?,
            verify_server_cert,
            require_client_cert: require_client_cert.unwrap_or(false),
            support_downgrade: env.flag("SUPPORT_DOWNGRADE")?.unwrap_or(false),
            tls_v1_2,
            tls_v1_3,
        }))
    }
}

/// The environment seen through both prefixes.
struct Env<'a, F: Fn(&str) -> Option<String>> {
    lookup: &'a F,
}

impl<F: Fn(&str) -> Option<String>> Env<'_, F> {
    /// The variable's value and the full name it was found under.
    fn get(&self, name: &str) -> Option<(String, String)> {
        PREFIXES.iter().find_map(|prefix| {
            let variable = format!("{prefix}{name}");
            (self.lookup)(&variable).map(|value| (variable, value))
        })
    }

    /// The name to report for `name`: the one set, or the newer one.
    fn name_of(&self, name: &str) -> String {
        self.get(name).map_or_else(
            || format!("{}{name}", PREFIXES[0]),
            |(variable, _)| variable,
        )
    }

    /// `true|1` or `false|0` (any case), as Mesos's flags take booleans.
    fn flag(&self, name: &str) -> Result<Option<bool>, GatewayError> {
        let Some((variable, value)) = self.get(name) else {
            return Ok(None);
        };
        match value.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(Some(true)),
            "false" | "0" => Ok(Some(false)),
            _ => Err(GatewayError::Tls {
                variable,
                message: format!("'{value}' is not one of true, false, 1, 0"),
            }),
        }
    }

    /// `name`, or its legacy alias when `name` is not set.
    fn flag_or_alias(&self, name: &str, alias: &str) -> Result<Option<bool>, GatewayError> {
        match self.flag(name)? {
            Some(value) => Ok(Some(value)),
            None => self.flag(alias),
        }
    }

    fn path(&self, name: &str) -> Result<Option<PathBuf>, GatewayError> {
        match self.get(name) {
            None => Ok(None),
            Some((variable, value)) if value.trim().is_empty() => Err(GatewayError::Tls {
                variable,
                message: "set but empty".into(),
            }),
            Some((_, value)) => Ok(Some(PathBuf::from(value))),
        }
    }

    fn required_path(&self, name: &str) -> Result<PathBuf, GatewayError> {
        self.path(name)?.ok_or_else(|| GatewayError::Tls {
            variable: self.name_of(name),
            message: format!("required when {}ENABLED is true", PREFIXES[0]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(vars: &[(&str, &str)]) -> Result<Option<TlsSettings>, GatewayError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        TlsSettings::from_lookup(|name| vars.get(name).cloned())
    }

    const BASE: [(&str, &str); 3] = [
        ("LIBPROCESS_SSL_ENABLED", "true"),
        ("LIBPROCESS_SSL_CERT_FILE", "/c.pem"),
        ("LIBPROCESS_SSL_KEY_FILE", "/k.pem"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        BASE.iter().chain(extra).copied().collect()
    }

    fn error_of(vars: &[(&str, &str)]) -> (String, String) {
        match read(vars) {
            Err(GatewayError::Tls { variable, message }) => (variable, message),
            other => panic!("expected a TLS error, got {other:?}"),
        }
    }

    #[test]
    fn disabled_unless_enabled() {
        assert_eq!(read(&[]).unwrap(), None);
        assert_eq!(read(&[("LIBPROCESS_SSL_ENABLED", "false")]).unwrap(), None);
        assert_eq!(read(&[("LIBPROCESS_SSL_ENABLED", "0")]).unwrap(), None);
        // Nothing else is looked at while disabled.
        assert_eq!(read(&[("LIBPROCESS_SSL_CIPHERS", "x")]).unwrap(), None);
    }

    #[test]
    fn defaults_when_enabled() {
        let settings = read(&BASE).unwrap().unwrap();
        assert_eq!(settings.cert_file, PathBuf::from("/c.pem"));
        assert_eq!(settings.key_file, PathBuf::from("/k.pem"));
        assert_eq!(settings.ca_file, None);
        assert!(settings.verify_server_cert);
        assert!(!settings.require_client_cert);
        assert!(!settings.support_downgrade);
        assert!(settings.tls_v1_2 && settings.tls_v1_3);
    }

    #[test]
    fn the_old_prefix_works_and_the_new_one_wins() {
        let old = read(&[
            ("SSL_ENABLED", "1"),
            ("SSL_CERT_FILE", "/old.pem"),
            ("SSL_KEY_FILE", "/k.pem"),
            ("SSL_SUPPORT_DOWNGRADE", "TRUE"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(old.cert_file, PathBuf::from("/old.pem"));
        assert!(old.support_downgrade);
        let both = read(&with(&[("SSL_CERT_FILE", "/old.pem")]))
            .unwrap()
            .unwrap();
        assert_eq!(both.cert_file, PathBuf::from("/c.pem"));
    }

    #[test]
    fn a_missing_cert_or_key_names_its_variable() {
        let (variable, message) = error_of(&[("LIBPROCESS_SSL_ENABLED", "true")]);
        assert_eq!(variable, "LIBPROCESS_SSL_CERT_FILE");
        assert!(message.contains("required"), "{message}");
        let (variable, _) = error_of(&BASE[..2]);
        assert_eq!(variable, "LIBPROCESS_SSL_KEY_FILE");
        let (variable, _) = error_of(&with(&[("LIBPROCESS_SSL_CA_FILE", " ")]));
        assert_eq!(variable, "LIBPROCESS_SSL_CA_FILE");
    }

    #[test]
    fn a_bad_boolean_names_its_variable() {
        let (variable, message) = error_of(&[("SSL_ENABLED", "yes please")]);
        assert_eq!(variable, "SSL_ENABLED");
        assert!(message.contains("yes please"), "{message}");
        let (variable, _) = error_of(&with(&[("LIBPROCESS_SSL_VERIFY_CERT", "maybe")]));
        assert_eq!(variable, "LIBPROCESS_SSL_VERIFY_CERT");
    }

    #[test]
    fn verification_is_off_only_when_asked_and_no_client_cert_is_required() {
        let off = read(&with(&[("LIBPROCESS_SSL_VERIFY_CERT", "false")]))
            .unwrap()
            .unwrap();
        assert!(!off.verify_server_cert);
        // The newer name wins over its legacy alias.
        let on = read(&with(&[
            ("LIBPROCESS_SSL_VERIFY_CERT", "false"),
            ("LIBPROCESS_SSL_VERIFY_SERVER_CERT", "true"),
        ]))
        .unwrap()
        .unwrap();
        assert!(on.verify_server_cert);
        let required = read(&with(&[
            ("LIBPROCESS_SSL_VERIFY_SERVER_CERT", "false"),
            ("LIBPROCESS_SSL_REQUIRE_CERT", "true"),
        ]))
        .unwrap()
        .unwrap();
        assert!(required.require_client_cert);
        assert!(required.verify_server_cert);
    }

    #[test]
    fn protocols_rustls_lacks_are_refused() {
        let (variable, message) = error_of(&with(&[("LIBPROCESS_SSL_ENABLE_TLS_V1_1", "true")]));
        assert_eq!(variable, "LIBPROCESS_SSL_ENABLE_TLS_V1_1");
        assert!(message.contains("1.2"), "{message}");
        // Disabled is what they are anyway.
        assert!(
            read(&with(&[("LIBPROCESS_SSL_ENABLE_SSL_V3", "false")]))
                .unwrap()
                .is_some()
        );
        let (variable, _) = error_of(&with(&[
            ("LIBPROCESS_SSL_ENABLE_TLS_V1_2", "false"),
            ("LIBPROCESS_SSL_ENABLE_TLS_V1_3", "false"),
        ]));
        assert_eq!(variable, "LIBPROCESS_SSL_ENABLE_TLS_V1_3");
        let only_13 = read(&with(&[("LIBPROCESS_SSL_ENABLE_TLS_V1_2", "false")]))
            .unwrap()
            .unwrap();
        assert!(!only_13.tls_v1_2 && only_13.tls_v1_3);
    }
}
