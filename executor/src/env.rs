//! The MESOS_* environment the agent gives an executor (reference sheet section 2):
//! who we are, where the agent is, and how long to keep trying when it goes away.

use std::path::PathBuf;
use std::time::Duration;

use ratufa_proto::duration;

use crate::ExecutorError;

/// Mesos's defaults for the optional variables.
pub const DEFAULT_RECOVERY_TIMEOUT: Duration = Duration::from_secs(15 * 60);
pub const DEFAULT_SUBSCRIPTION_BACKOFF_MAX: Duration = Duration::from_secs(2);
pub const DEFAULT_SHUTDOWN_GRACE_PERIOD: Duration = Duration::from_secs(5);

/// The executor's configuration, read once at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutorEnv {
    pub framework_id: String,
    pub executor_id: String,
    /// The agent's `ip:port`.
    pub agent_endpoint: String,
    /// The sandbox as the agent sees it.
    pub directory: PathBuf,
    /// The sandbox as the executor sees it (the same path without a container image).
    pub sandbox: PathBuf,
    /// Whether the framework checkpoints: only then does the executor outlive a lost
    /// agent, waiting for it to come back.
    pub checkpoint: bool,
    pub recovery_timeout: Duration,
    pub subscription_backoff_max: Duration,
    pub shutdown_grace_period: Duration,
    pub http_command_executor: bool,
    /// TLS as the LIBPROCESS_SSL_* variables inherited from the agent say: with it,
    /// the agent is reached over https (MESOS_AGENT_ENDPOINT stays `ip:port`).
    pub tls: Option<ratufa_gateway::TlsSettings>,
}

impl ExecutorEnv {
    /// Reads the process's environment.
    pub fn from_process() -> Result<ExecutorEnv, ExecutorError> {
        ExecutorEnv::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the variables through `lookup` (the process environment, or a map in
    /// tests).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<ExecutorEnv, ExecutorError> {
        let required = |variable: &'static str| {
            lookup(variable)
                .filter(|value| !value.is_empty())
                .ok_or_else(|| ExecutorError::Env {
                    variable,
                    message: "missing; the agent sets it when it launches an executor".into(),
                })
        };
        let duration = |variable: &'static str, default: Duration| match lookup(variable) {
            None => Ok(default),
            Some(value) => duration::parse(&value).map_err(|e| ExecutorError::Env {
                variable,
                message: e.to_string(),
            }),
        };
        let flag = |variable: &'static str| match lookup(variable).as_deref() {
            None | Some("0") | Some("false") => Ok(false),
            Some("1") | Some("true") => Ok(true),
            Some(other) => Err(ExecutorError::Env {
                variable,
                message: format!("'{other}' is not one of 1, 0, true, false"),
            }),
        };
        let framework_id = required("MESOS_FRAMEWORK_ID")?;
        let executor_id = required("MESOS_EXECUTOR_ID")?;
        let agent_endpoint = required("MESOS_AGENT_ENDPOINT")?;
        check_endpoint(&agent_endpoint)?;
        let directory = PathBuf::from(required("MESOS_DIRECTORY")?);
        // Without a container image the sandbox is where the agent made it.
        let sandbox = lookup("MESOS_SANDBOX")
            .filter(|value| !value.is_empty())
            .map_or_else(|| directory.clone(), PathBuf::from);
        Ok(ExecutorEnv {
            framework_id,
            executor_id,
            agent_endpoint,
            directory,
            sandbox,
            checkpoint: flag("MESOS_CHECKPOINT")?,
            recovery_timeout: duration("MESOS_RECOVERY_TIMEOUT", DEFAULT_RECOVERY_TIMEOUT)?,
            subscription_backoff_max: duration(
                "MESOS_SUBSCRIPTION_BACKOFF_MAX",
                DEFAULT_SUBSCRIPTION_BACKOFF_MAX,
            )?,
            shutdown_grace_period: duration(
                "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
                DEFAULT_SHUTDOWN_GRACE_PERIOD,
            )?,
            http_command_executor: flag("MESOS_HTTP_COMMAND_EXECUTOR")?,
            tls: ratufa_gateway::TlsSettings::from_lookup(&lookup)?,
        })
    }
}

/// `ip:port` (or `host:port`): a URI authority with a numeric port.
fn check_endpoint(endpoint: &str) -> Result<(), ExecutorError> {
    let bad = |message: &str| ExecutorError::Env {
        variable: "MESOS_AGENT_ENDPOINT",
        message: format!("'{endpoint}' {message}; expected ip:port"),
    };
    let (host, port) = endpoint
        .rsplit_once(':')
        .ok_or_else(|| bad("has no port"))?;
    if host.is_empty() || host.contains('/') {
        return Err(bad("has no host"));
    }
    port.parse::<u16>()
        .map_err(|_| bad("does not end in a port number"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Result<ExecutorEnv, ExecutorError> {
        let mut map: HashMap<String, String> = [
            ("MESOS_FRAMEWORK_ID", "fw-1"),
            ("MESOS_EXECUTOR_ID", "ex-1"),
            ("MESOS_AGENT_ENDPOINT", "127.0.0.1:5051"),
            ("MESOS_DIRECTORY", "/var/sandbox"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in pairs {
            if v.is_empty() {
                map.remove(*k);
            } else {
                map.insert(k.to_string(), v.to_string());
            }
        }
        ExecutorEnv::from_lookup(|name| map.get(name).cloned())
    }

    fn error_of(pairs: &[(&str, &str)]) -> String {
        env(pairs).unwrap_err().to_string()
    }

    #[test]
    fn defaults_are_mesos_defaults() {
        let env = env(&[]).unwrap();
        assert_eq!(env.framework_id, "fw-1");
        assert_eq!(env.executor_id, "ex-1");
        assert_eq!(env.agent_endpoint, "127.0.0.1:5051");
        assert_eq!(env.sandbox, PathBuf::from("/var/sandbox"));
        assert!(!env.checkpoint);
        assert!(!env.http_command_executor);
        assert_eq!(env.tls, None);
        assert_eq!(env.recovery_timeout, Duration::from_secs(900));
        assert_eq!(env.subscription_backoff_max, Duration::from_secs(2));
        assert_eq!(env.shutdown_grace_period, Duration::from_secs(5));
    }

    #[test]
    fn given_values_are_read() {
        let env = env(&[
            ("MESOS_SANDBOX", "/mnt/mesos/sandbox"),
            ("MESOS_CHECKPOINT", "1"),
            ("MESOS_HTTP_COMMAND_EXECUTOR", "1"),
            ("MESOS_RECOVERY_TIMEOUT", "15mins"),
            ("MESOS_SUBSCRIPTION_BACKOFF_MAX", "500ms"),
            ("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "10secs"),
        ])
        .unwrap();
        assert_eq!(env.sandbox, PathBuf::from("/mnt/mesos/sandbox"));
        assert_eq!(env.directory, PathBuf::from("/var/sandbox"));
        assert!(env.checkpoint);
        assert!(env.http_command_executor);
        assert_eq!(env.recovery_timeout, Duration::from_secs(900));
        assert_eq!(env.subscription_backoff_max, Duration::from_millis(500));
        assert_eq!(env.shutdown_grace_period, Duration::from_secs(10));
    }

    #[test]
    fn errors_name_the_variable() {
        for missing in [
            "MESOS_FRAMEWORK_ID",
            "MESOS_EXECUTOR_ID",
            "MESOS_AGENT_ENDPOINT",
            "MESOS_DIRECTORY",
        ] {
            let message = error_of(&[(missing, "")]);
            assert!(message.contains(missing), "{message}");
            assert!(message.contains("missing"), "{message}");
        }
        let message = error_of(&[("MESOS_RECOVERY_TIMEOUT", "15minutes")]);
        assert!(message.contains("MESOS_RECOVERY_TIMEOUT"), "{message}");
        assert!(message.contains("unknown unit"), "{message}");
        let message = error_of(&[("LIBPROCESS_SSL_ENABLED", "true")]);
        assert!(message.contains("LIBPROCESS_SSL_CERT_FILE"), "{message}");
        let message = error_of(&[("MESOS_CHECKPOINT", "yes")]);
        assert!(message.contains("MESOS_CHECKPOINT"), "{message}");
        for bad in ["127.0.0.1", "127.0.0.1:http", ":5051", "http://a:1/"] {
            let message = error_of(&[("MESOS_AGENT_ENDPOINT", bad)]);
            assert!(message.contains("MESOS_AGENT_ENDPOINT"), "{message}");
        }
    }
}
