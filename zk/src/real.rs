//! [`Connector`] and [`Session`] on the `zookeeper-client` crate: a real ZooKeeper
//! ensemble over TCP.

use std::time::Duration;

use tokio::sync::watch;
use zookeeper_client as zkc;

use crate::session::{Connector, CreateMode, Session, SessionEvent, Watch};
use crate::{ZkError, ZkUrl};

/// Connects to the ensemble of a `zk://` URL, with its credentials (ZooKeeper's
/// `digest` scheme, as Mesos uses them).
#[derive(Debug, Clone)]
pub struct ZkConnector {
    url: ZkUrl,
    session_timeout: Duration,
}

impl ZkConnector {
    pub fn new(url: ZkUrl, session_timeout: Duration) -> ZkConnector {
        ZkConnector {
            url,
            session_timeout,
        }
    }
}

impl Connector for ZkConnector {
    type Session = ZkSession;

    async fn connect(&self) -> Result<ZkSession, ZkError> {
        let servers = self.url.connect_string();
        let mut connector = zkc::Client::connector()
            .with_session_timeout(self.session_timeout)
            .with_connection_timeout(self.session_timeout.min(Duration::from_secs(5)))
            // One pass over the servers, then an error: the caller logs and retries,
            // rather than hanging for a session timeout without a word.
            .with_fail_eagerly();
        if let Some((user, pass)) = &self.url.auth {
            connector = connector.with_auth("digest", format!("{user}:{pass}").as_bytes());
        }
        let client = connector
            .connect(&servers)
            .await
            .map_err(|error| ZkError::Unreachable {
                servers: servers.clone(),
                reason: error.to_string(),
            })?;
        let (events, receiver) = watch::channel(SessionEvent::Connected);
        let mut states = client.state_watcher();
        tokio::spawn(async move {
            loop {
                let state = states.changed().await;
                let event = event_of(state);
                if events.send(event).is_err() {
                    return;
                }
                if event == SessionEvent::Expired {
                    return;
                }
            }
        });
        Ok(ZkSession {
            authenticated: self.url.auth.is_some(),
            client,
            events: receiver,
        })
    }

    fn session_timeout(&self) -> Duration {
        self.session_timeout
    }
}

fn event_of(state: zkc::SessionState) -> SessionEvent {
    match state {
        zkc::SessionState::SyncConnected | zkc::SessionState::ConnectedReadOnly => {
            SessionEvent::Connected
        }
        zkc::SessionState::Disconnected => SessionEvent::Suspended,
        zkc::SessionState::Expired | zkc::SessionState::Closed | zkc::SessionState::AuthFailed => {
            SessionEvent::Expired
        }
    }
}

/// A live session with a ZooKeeper ensemble; closed when dropped.
#[derive(Debug)]
pub struct ZkSession {
    client: zkc::Client,
    authenticated: bool,
    events: watch::Receiver<SessionEvent>,
}

/// Everyone may read (detectors such as pymesos's read without credentials); only the
/// creator's identity may change. What Mesos uses when given credentials.
static READ_ANYONE_ALL_CREATOR: [zkc::Acl; 2] = [
    zkc::Acl::new_const(zkc::Permission::READ, "world", "anyone"),
    zkc::Acl::new_const(zkc::Permission::ALL, "auth", ""),
];

fn error_at(path: &str, error: zkc::Error) -> ZkError {
    match error {
        zkc::Error::NoNode => ZkError::NoNode(path.to_string()),
        zkc::Error::NodeExists => ZkError::NodeExists(path.to_string()),
        zkc::Error::BadVersion => ZkError::BadVersion(path.to_string()),
        zkc::Error::NotEmpty => ZkError::NotEmpty(path.to_string()),
        zkc::Error::NoAuth | zkc::Error::AuthFailed => ZkError::NoAuth(path.to_string()),
        zkc::Error::SessionExpired | zkc::Error::ClientClosed => ZkError::SessionExpired,
        zkc::Error::ConnectionLoss | zkc::Error::Timeout => ZkError::ConnectionLoss,
        other => ZkError::Other {
            path: path.to_string(),
            reason: other.to_string(),
        },
    }
}

impl Session for ZkSession {
    async fn create(&self, path: &str, data: &[u8], mode: CreateMode) -> Result<String, ZkError> {
        let mode = match mode {
            CreateMode::Persistent => zkc::CreateMode::Persistent,
            CreateMode::Ephemeral => zkc::CreateMode::Ephemeral,
            CreateMode::EphemeralSequential => zkc::CreateMode::EphemeralSequential,
        };
        let acls = if self.authenticated {
            zkc::Acls::new(&READ_ANYONE_ALL_CREATOR)
        } else {
            zkc::Acls::anyone_all()
        };
        let options = mode.with_acls(acls);
        let (_, sequence) = self
            .client
            .create(path, data, &options)
            .await
            .map_err(|e| error_at(path, e))?;
        Ok(if mode == zkc::CreateMode::EphemeralSequential {
            // ZooKeeper's own format: ten digits, zero-padded.
            format!("{path}{sequence}")
        } else {
            path.to_string()
        })
    }

    async fn get_data(&self, path: &str) -> Result<(Vec<u8>, i32), ZkError> {
        let (data, stat) = self
            .client
            .get_data(path)
            .await
            .map_err(|e| error_at(path, e))?;
        Ok((data, stat.version))
    }

    async fn get_children_watch(&self, path: &str) -> Result<(Vec<String>, Watch), ZkError> {
        let (children, _, watcher) = self
            .client
            .get_and_watch_children(path)
            .await
            .map_err(|e| error_at(path, e))?;
        let watch: Watch = Box::pin(async move {
            let _ = watcher.changed().await;
        });
        Ok((children, watch))
    }

    async fn set_data(
        &self,
        path: &str,
        data: &[u8],
        version: Option<i32>,
    ) -> Result<i32, ZkError> {
        let stat = self
            .client
            .set_data(path, data, version)
            .await
            .map_err(|e| error_at(path, e))?;
        Ok(stat.version)
    }

    async fn delete(&self, path: &str, version: Option<i32>) -> Result<(), ZkError> {
        self.client
            .delete(path, version)
            .await
            .map_err(|e| error_at(path, e))
    }

    fn events(&self) -> watch::Receiver<SessionEvent> {
        self.events.clone()
    }
}
