//! The operations ratufa needs from ZooKeeper, as a trait: the contender, the detector
//! and (later) the registry are written against it, so their logic is unit-tested on
//! the in-memory implementation and run on the real client.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::watch;

use crate::ZkError;

/// How a node is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateMode {
    Persistent,
    /// Deleted when the session that created it ends.
    Ephemeral,
    /// Ephemeral, with a 10-digit sequence number appended to the name.
    EphemeralSequential,
}

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEvent {
    /// Connected to a server: operations work.
    Connected,
    /// The connection is down; the session may live on (until the server expires it).
    Suspended,
    /// The session is over (expired, closed, or its credentials refused): its
    /// ephemeral nodes are gone and it will never work again.
    Expired,
}

/// Resolves once when the watched node's children may have changed, or when the
/// session is in trouble (the caller then looks at the session's events).
pub type Watch = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Makes sessions: the contender and detector start a new one after an expiry.
pub trait Connector: Send + Sync + 'static {
    type Session: Session;

    /// Establishes a session (or fails, e.g. when no server is reachable).
    fn connect(&self) -> impl Future<Output = Result<Self::Session, ZkError>> + Send;

    /// The session timeout asked of the servers.
    fn session_timeout(&self) -> Duration;
}

/// One ZooKeeper session. Paths are absolute.
pub trait Session: Send + Sync + 'static {
    /// Creates `path` holding `data`; returns the path created (with the sequence
    /// number for sequential modes).
    fn create(
        &self,
        path: &str,
        data: &[u8],
        mode: CreateMode,
    ) -> impl Future<Output = Result<String, ZkError>> + Send;

    /// The node's data and version.
    fn get_data(&self, path: &str) -> impl Future<Output = Result<(Vec<u8>, i32), ZkError>> + Send;

    /// The names of the node's children, and a watch that fires when they change.
    fn get_children_watch(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<(Vec<String>, Watch), ZkError>> + Send;

    /// Replaces the node's data if its version is `version` (any version when None);
    /// returns the new version.
    fn set_data(
        &self,
        path: &str,
        data: &[u8],
        version: Option<i32>,
    ) -> impl Future<Output = Result<i32, ZkError>> + Send;

    /// Deletes the node if its version is `version` (any version when None).
    fn delete(
        &self,
        path: &str,
        version: Option<i32>,
    ) -> impl Future<Output = Result<(), ZkError>> + Send;

    /// The session's state, now and as it changes.
    fn events(&self) -> watch::Receiver<SessionEvent>;
}

/// Creates `path` and its missing ancestors as empty persistent nodes.
pub async fn ensure_path<S: Session>(session: &S, path: &str) -> Result<(), ZkError> {
    let mut prefix = String::new();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        prefix.push('/');
        prefix.push_str(segment);
        match session.create(&prefix, &[], CreateMode::Persistent).await {
            Ok(_) | Err(ZkError::NodeExists(_)) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}
