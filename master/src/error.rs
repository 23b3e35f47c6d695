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
    /// Another master wrote the registry since this one read it: this master no
    /// longer leads, and must not act on what it knows.
    #[error(
        "the registry in the {store} store was written by another master since this one \
         read it: this master is no longer the leader"
    )]
    RegistryConflict { store: &'static str },
    #[error("registry file {path}: {source}")]
    RegistryIo {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("the registry in the {store} store is unreadable: {reason}")]
    RegistryCorrupt { store: &'static str, reason: String },
    #[error("the registry in ZooKeeper: {0}")]
    RegistryZk(ratufa_zk::ZkError),
    /// Two masters on one `--work_dir` would overwrite each other's registry.
    #[error(
        "--work_dir={}: another master is using this directory (its registry.lock is \
         held); give each master its own work_dir",
        path.display()
    )]
    WorkDirInUse { path: std::path::PathBuf },
    /// `--scheduler_heartbeat_interval` of zero would announce a heartbeat never sent.
    #[error("--scheduler_heartbeat_interval must be greater than zero")]
    ZeroHeartbeatInterval,
}
