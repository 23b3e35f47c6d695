//! An in-memory ZooKeeper behind the same traits, for unit tests of the logic written
//! on them (election, detection): sessions, ephemeral and sequential nodes, versions,
//! child watches, and the faults tests need to cause (a session suspended or expired,
//! the ensemble unreachable).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{oneshot, watch};

use crate::ZkError;
use crate::session::{Connector, CreateMode, Session, SessionEvent, Watch};

/// The whole ensemble: clones share it.
#[derive(Clone)]
pub struct MemoryZk {
    tree: Arc<Mutex<Tree>>,
    session_timeout: Duration,
}

struct Node {
    data: Vec<u8>,
    version: i32,
    owner: Option<u64>,
    /// Children created so far: the next sequence number.
    next_sequence: u64,
}

struct Tree {
    nodes: BTreeMap<String, Node>,
    sessions: HashMap<u64, watch::Sender<SessionEvent>>,
    next_session: u64,
    /// Child watches by watched path: the session that set each, and its trigger.
    child_watches: HashMap<String, Vec<(u64, oneshot::Sender<()>)>>,
    reachable: bool,
}

impl Default for MemoryZk {
    fn default() -> Self {
        MemoryZk::new()
    }
}

impl MemoryZk {
    pub fn new() -> MemoryZk {
        let mut nodes = BTreeMap::new();
        nodes.insert(
            "/".to_string(),
            Node {
                data: Vec::new(),
                version: 0,
                owner: None,
                next_sequence: 0,
            },
        );
        MemoryZk {
            tree: Arc::new(Mutex::new(Tree {
                nodes,
                sessions: HashMap::new(),
                next_session: 1,
                child_watches: HashMap::new(),
                reachable: true,
            })),
            session_timeout: Duration::from_secs(10),
        }
    }

    /// The same ensemble, handing out sessions with another timeout.
    pub fn with_session_timeout(mut self, timeout: Duration) -> MemoryZk {
        self.session_timeout = timeout;
        self
    }

    fn tree(&self) -> MutexGuard<'_, Tree> {
        lock(&self.tree)
    }

    /// Whether new sessions can be established.
    pub fn set_reachable(&self, reachable: bool) {
        self.tree().reachable = reachable;
    }

    /// Ends every live session as the server would on expiry: their ephemeral nodes go
    /// and their watches fire.
    pub fn expire_all(&self) {
        let ids: Vec<u64> = self.tree().sessions.keys().copied().collect();
        for id in ids {
            self.tree().expire(id);
        }
    }

    /// Every live session loses its connection (but lives on).
    pub fn suspend_all(&self) {
        for events in self.tree().sessions.values() {
            events.send_replace(SessionEvent::Suspended);
        }
    }

    /// Every suspended session is connected again.
    pub fn resume_all(&self) {
        for events in self.tree().sessions.values() {
            events.send_if_modified(|event| {
                let was = *event == SessionEvent::Suspended;
                if was {
                    *event = SessionEvent::Connected;
                }
                was
            });
        }
    }

    /// The children of `path`, sorted, outside any session (for assertions).
    pub fn children(&self, path: &str) -> Vec<String> {
        self.tree().children_of(path)
    }
}

fn lock(tree: &Mutex<Tree>) -> MutexGuard<'_, Tree> {
    // A panic while holding the lock leaves a tree no worse than any other state.
    tree.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => "/",
    }
}

impl Tree {
    fn children_of(&self, path: &str) -> Vec<String> {
        let prefix = if path == "/" {
            "/".to_string()
        } else {
            format!("{path}/")
        };
        self.nodes
            .keys()
            .filter_map(|key| key.strip_prefix(&prefix))
            .filter(|rest| !rest.is_empty() && !rest.contains('/'))
            .map(str::to_string)
            .collect()
    }

    fn fire_child_watches(&mut self, parent: &str) {
        for (_, trigger) in self.child_watches.remove(parent).unwrap_or_default() {
            let _ = trigger.send(());
        }
    }

    fn expire(&mut self, id: u64) {
        let Some(events) = self.sessions.remove(&id) else {
            return;
        };
        let owned: Vec<String> = self
            .nodes
            .iter()
            .filter(|(_, node)| node.owner == Some(id))
            .map(|(path, _)| path.clone())
            .collect();
        for path in owned {
            self.nodes.remove(&path);
            self.fire_child_watches(parent_of(&path));
        }
        for watches in self.child_watches.values_mut() {
            watches.retain(|(session, _)| *session != id);
        }
        events.send_replace(SessionEvent::Expired);
    }

    /// Fails operations of a session that is not connected.
    fn check(&self, id: u64) -> Result<(), ZkError> {
        match self.sessions.get(&id).map(|events| *events.borrow()) {
            Some(SessionEvent::Connected) => Ok(()),
            Some(SessionEvent::Suspended) => Err(ZkError::ConnectionLoss),
            Some(SessionEvent::Expired) | None => Err(ZkError::SessionExpired),
        }
    }
}

impl Connector for MemoryZk {
    type Session = MemorySession;

    async fn connect(&self) -> Result<MemorySession, ZkError> {
        let mut tree = self.tree();
        if !tree.reachable {
            return Err(ZkError::Unreachable {
                servers: "memory".into(),
                reason: "the in-memory ensemble is set unreachable".into(),
            });
        }
        let id = tree.next_session;
        tree.next_session += 1;
        let (events, receiver) = watch::channel(SessionEvent::Connected);
        tree.sessions.insert(id, events);
        Ok(MemorySession {
            id,
            tree: self.tree.clone(),
            events: receiver,
        })
    }

    fn session_timeout(&self) -> Duration {
        self.session_timeout
    }
}

/// One session of a [`MemoryZk`]; ends (as on expiry) when dropped.
pub struct MemorySession {
    id: u64,
    tree: Arc<Mutex<Tree>>,
    events: watch::Receiver<SessionEvent>,
}

impl MemorySession {
    /// Ends this session as the server would on expiry.
    pub fn expire(&self) {
        lock(&self.tree).expire(self.id);
    }
}

impl Drop for MemorySession {
    fn drop(&mut self) {
        lock(&self.tree).expire(self.id);
    }
}

impl Session for MemorySession {
    async fn create(&self, path: &str, data: &[u8], mode: CreateMode) -> Result<String, ZkError> {
        let mut tree = lock(&self.tree);
        tree.check(self.id)?;
        let parent = parent_of(path).to_string();
        let parent_node = tree
            .nodes
            .get_mut(&parent)
            .ok_or_else(|| ZkError::NoNode(parent.clone()))?;
        if parent_node.owner.is_some() {
            return Err(ZkError::Other {
                path: path.to_string(),
                reason: "ephemeral nodes cannot have children".into(),
            });
        }
        let sequence = parent_node.next_sequence;
        parent_node.next_sequence += 1;
        let created = match mode {
            CreateMode::EphemeralSequential => format!("{path}{sequence:010}"),
            CreateMode::Persistent | CreateMode::Ephemeral => path.to_string(),
        };
        if tree.nodes.contains_key(&created) {
            return Err(ZkError::NodeExists(created));
        }
        let owner = (mode != CreateMode::Persistent).then_some(self.id);
        tree.nodes.insert(
            created.clone(),
            Node {
                data: data.to_vec(),
                version: 0,
                owner,
                next_sequence: 0,
            },
        );
        tree.fire_child_watches(&parent);
        Ok(created)
    }

    async fn get_data(&self, path: &str) -> Result<(Vec<u8>, i32), ZkError> {
        let tree = lock(&self.tree);
        tree.check(self.id)?;
        let node = tree
            .nodes
            .get(path)
            .ok_or_else(|| ZkError::NoNode(path.to_string()))?;
        Ok((node.data.clone(), node.version))
    }

    async fn get_children_watch(&self, path: &str) -> Result<(Vec<String>, Watch), ZkError> {
        let mut tree = lock(&self.tree);
        tree.check(self.id)?;
        if !tree.nodes.contains_key(path) {
            return Err(ZkError::NoNode(path.to_string()));
        }
        let children = tree.children_of(path);
        let (trigger, fired) = oneshot::channel();
        tree.child_watches
            .entry(path.to_string())
            .or_default()
            .push((self.id, trigger));
        let watch: Watch = Box::pin(async move {
            let _ = fired.await;
        });
        Ok((children, watch))
    }

    async fn set_data(
        &self,
        path: &str,
        data: &[u8],
        version: Option<i32>,
    ) -> Result<i32, ZkError> {
        let mut tree = lock(&self.tree);
        tree.check(self.id)?;
        let node = tree
            .nodes
            .get_mut(path)
            .ok_or_else(|| ZkError::NoNode(path.to_string()))?;
        if version.is_some_and(|v| v != node.version) {
            return Err(ZkError::BadVersion(path.to_string()));
        }
        node.data = data.to_vec();
        node.version += 1;
        Ok(node.version)
    }

    async fn delete(&self, path: &str, version: Option<i32>) -> Result<(), ZkError> {
        let mut tree = lock(&self.tree);
        tree.check(self.id)?;
        let node = tree
            .nodes
            .get(path)
            .ok_or_else(|| ZkError::NoNode(path.to_string()))?;
        if version.is_some_and(|v| v != node.version) {
            return Err(ZkError::BadVersion(path.to_string()));
        }
        if !tree.children_of(path).is_empty() {
            return Err(ZkError::NotEmpty(path.to_string()));
        }
        tree.nodes.remove(path);
        tree.fire_child_watches(parent_of(path));
        Ok(())
    }

    fn events(&self) -> watch::Receiver<SessionEvent> {
        self.events.clone()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::session::ensure_path;

    #[tokio::test]
    async fn nodes_versions_and_sequences() {
        let zk = MemoryZk::new();
        let session = zk.connect().await.unwrap();
        ensure_path(&session, "/a/b").await.unwrap();
        ensure_path(&session, "/a/b").await.unwrap();
        let first = session
            .create("/a/b/n_", b"1", CreateMode::EphemeralSequential)
            .await
            .unwrap();
        let second = session
            .create("/a/b/n_", b"2", CreateMode::EphemeralSequential)
            .await
            .unwrap();
        assert_eq!(first, "/a/b/n_0000000000");
        assert_eq!(second, "/a/b/n_0000000001");
        assert_eq!(session.get_data(&second).await.unwrap(), (b"2".to_vec(), 0));
        assert_eq!(session.set_data(&first, b"x", Some(0)).await.unwrap(), 1);
        assert_eq!(
            session.set_data(&first, b"y", Some(0)).await,
            Err(ZkError::BadVersion(first.clone()))
        );
        assert_eq!(
            session.delete("/a/b", None).await,
            Err(ZkError::NotEmpty("/a/b".into()))
        );
        assert_eq!(
            session.create("/nope/x", b"", CreateMode::Persistent).await,
            Err(ZkError::NoNode("/nope".into()))
        );
    }

    #[tokio::test]
    async fn expiry_removes_ephemerals_and_fires_watches() {
        let zk = MemoryZk::new();
        let owner = zk.connect().await.unwrap();
        let watcher = zk.connect().await.unwrap();
        ensure_path(&owner, "/m").await.unwrap();
        owner
            .create("/m/e_", b"", CreateMode::EphemeralSequential)
            .await
            .unwrap();
        let (children, watch) = watcher.get_children_watch("/m").await.unwrap();
        assert_eq!(children, vec!["e_0000000000".to_string()]);
        owner.expire();
        watch.await;
        assert!(zk.children("/m").is_empty());
        assert_eq!(*owner.events().borrow(), SessionEvent::Expired);
        assert_eq!(owner.get_data("/m").await, Err(ZkError::SessionExpired));

        zk.suspend_all();
        assert_eq!(watcher.get_data("/m").await, Err(ZkError::ConnectionLoss));
        zk.resume_all();
        assert!(watcher.get_data("/m").await.is_ok());

        zk.set_reachable(false);
        assert!(matches!(
            zk.connect().await,
            Err(ZkError::Unreachable { .. })
        ));
    }
}
