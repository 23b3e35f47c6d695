//! The one error type of this crate.

/// What can go wrong talking to ZooKeeper or reading what is in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZkError {
    /// A `zk://` URL that cannot be used; `reason` names the part at fault.
    #[error("invalid ZooKeeper URL '{url}': {reason}")]
    BadUrl { url: String, reason: String },
    /// No server of the ensemble could be reached (or none established a session).
    #[error("cannot connect to ZooKeeper at {servers}: {reason}")]
    Unreachable { servers: String, reason: String },
    /// The session expired (or was closed): ephemeral nodes are gone.
    #[error("ZooKeeper session expired")]
    SessionExpired,
    /// The connection is down for now; the session may still live.
    #[error("ZooKeeper connection lost")]
    ConnectionLoss,
    #[error("no znode at {0}")]
    NoNode(String),
    #[error("znode {0} exists already")]
    NodeExists(String),
    /// A compare-and-set whose expected version was not the node's.
    #[error("znode {0} has another version than expected")]
    BadVersion(String),
    #[error("znode {0} has children")]
    NotEmpty(String),
    /// ZooKeeper refused the credentials, or they do not allow the operation.
    #[error("ZooKeeper refused access to {0}")]
    NoAuth(String),
    /// Anything else the server or client library reported.
    #[error("ZooKeeper operation on {path} failed: {reason}")]
    Other { path: String, reason: String },
}
