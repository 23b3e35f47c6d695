use thiserror::Error;

impl MasterError {
    /// Whether this error must end the master process, not just its term.
    pub fn is_fatal(&self) -> bool {
        matches!(self, MasterError::RecoveryRemovalLimit { .. })
    }
}

/// What can stop the master from starting or serving.
#[derive(Debug, Error)]
pub enum MasterError {
    #[error("failed to serve HTTP: {0}")]
    Io(#[from] std::io::Error),
    /// `--authenticate_http_frameworks`, `--authenticate_http_readonly` or
    /// `--authenticate_http_readwrite` without `--credentials`: every request it guards
    /// would be refused, which is never what the operator meant (Mesos refuses it too).
    #[error("--{flag} is set but no --credentials were given: nobody could authenticate")]
    MissingCredentials { flag: &'static str },
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
    /// After a failover, more of the agents in the registry failed to re-register
    /// than `--recovery_agent_removal_limit` allows. Mesos's master exits then: so
    /// many missing at once more likely means trouble on this master's side, and
    /// another master taking over is safer than marking them all unreachable.
    #[error(
        "--recovery_agent_removal_limit={limit_percent}% exceeded: {missing} of the \
         {recovered} agents recovered from the registry did not re-register within \
         --agent_reregister_timeout; exiting so that another master takes over"
    )]
    RecoveryRemovalLimit {
        missing: usize,
        recovered: usize,
        limit_percent: f64,
    },
    /// `--scheduler_heartbeat_interval` of zero would announce a heartbeat never sent.
    #[error("--scheduler_heartbeat_interval must be greater than zero")]
    ZeroHeartbeatInterval,
}
