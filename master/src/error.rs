use thiserror::Error;

/// What can stop the master from starting or serving.
#[derive(Debug, Error)]
pub enum MasterError {
    #[error("failed to serve HTTP: {0}")]
    Io(#[from] std::io::Error),
    /// `--authenticate_http_frameworks` without `--credentials`: every framework would be
    /// refused, which is never what the operator meant.
    #[error(
        "--authenticate_http_frameworks is set but no --credentials were given: no framework \
         could authenticate"
    )]
    MissingCredentials,
    /// A `--roles` entry that no framework could ever use.
    #[error("invalid role '{role}' in --roles: {reason}")]
    InvalidRole { role: String, reason: String },
    /// A flag whose value does not parse or makes no sense.
    #[error("{flag}={given}: {reason}")]
    BadFlag {
        flag: &'static str,
        given: String,
        reason: String,
    },
    /// `--scheduler_heartbeat_interval` of zero would announce a heartbeat never sent.
    #[error("--scheduler_heartbeat_interval must be greater than zero")]
    ZeroHeartbeatInterval,
}
