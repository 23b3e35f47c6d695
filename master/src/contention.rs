//! A master with `--zk`: contends for leadership and serves as leader only while
//! elected. The gateway asks [`ElectedLeadership`] on every leader-only request: 307 to
//! the leader while following, 503 while nobody is known to lead.
//!
//! Each term of leadership runs on a fresh core with a fresh master id, recovered
//! from the registry in ZooKeeper before anything is served (503 meanwhile); a
//! registry write that fails (another master wrote it) ends the term like a deposal. When this
//! master stops leading (its session suspended or lost, or its node gone), requests
//! stop being served first, then the core and everything it knew is dropped, and the
//! master contends again under a new id; so it can never act on state from before, and
//! ids it hands out (frameworks, agents, offers) never repeat an earlier term's.

use std::sync::Arc;

use ratufa_gateway::{LeaderStatus, Leadership, Tls};
use ratufa_proto::v1::MasterInfo;
use ratufa_zk::{Connector as _, Leader, ZkConnector, ZkUrl};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::registry::{SharedStore, ZkStore};
use crate::{MasterError, MasterHandle};

/// [`Leadership`] as the election last decided it.
#[derive(Debug, Clone)]
pub struct ElectedLeadership {
    status: watch::Receiver<LeaderStatus>,
}

impl Leadership for ElectedLeadership {
    fn status(&self) -> LeaderStatus {
        self.status.borrow().clone()
    }
}

/// The base URL clients are sent to for the master of `info`: its advertised hostname
/// (as Mesos's redirects use) and port, `https` when this master has TLS (MasterInfo
/// carries no scheme; a cluster's masters have TLS on or off together, as in Mesos).
pub fn base_url(info: &MasterInfo, tls: Option<&Tls>) -> String {
    let host = info
        .hostname
        .clone()
        .or_else(|| info.address.as_ref().and_then(|a| a.ip.clone()))
        .unwrap_or_else(|| std::net::Ipv4Addr::from(info.ip.to_le_bytes()).to_string());
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    let scheme = ratufa_gateway::tls::scheme(tls);
    format!("{scheme}://{host}:{}", info.port)
}

/// Starts contending in the ensemble of `url`; the returned leadership follows the
/// election (no leader until the first decision).
pub fn start(
    master: MasterHandle,
    url: ZkUrl,
    session_timeout: std::time::Duration,
) -> Arc<dyn Leadership> {
    let (status, receiver) = watch::channel(LeaderStatus::NoLeader);
    tokio::spawn(contend(master, url, session_timeout, status));
    Arc::new(ElectedLeadership { status: receiver })
}

async fn contend(
    master: MasterHandle,
    url: ZkUrl,
    session_timeout: std::time::Duration,
    status: watch::Sender<LeaderStatus>,
) {
    let mut info = master.master_info();
    loop {
        info!(master_id = %info.id, zk = %url, "contending for leadership");
        let election = ratufa_zk::contend(
            ZkConnector::new(url.clone(), session_timeout),
            url.path.clone(),
            info.clone(),
        );
        let mut leader = election.subscribe();
        // Following until elected; then the node it was elected with.
        let node = loop {
            let now = leader.borrow_and_update().clone();
            match now {
                Leader::Elected(elected) if elected.is_self => break elected.node,
                Leader::Elected(elected) => {
                    status.send_replace(LeaderStatus::Following {
                        base_url: base_url(&elected.info, master.tls()),
                    });
                }
                Leader::None | Leader::Unknown => {
                    status.send_replace(LeaderStatus::NoLeader);
                }
            }
            if leader.changed().await.is_err() {
                return;
            }
        };
        // Elected: read the registry (503 meanwhile), a fresh core recovered from
        // it, then serve until deposed or until the registry cannot be written.
        info!(master_id = %info.id, "elected");
        let term = match registry_store(&url, session_timeout).await {
            Ok(store) => {
                let check = Some(election.check(node));
                crate::term::lead(&master, info.clone(), store, &status, check).await
            }
            Err(error) => Err(error),
        };
        match term {
            Ok(mut failure) => loop {
                if !leader.borrow_and_update().is_self() {
                    break;
                }
                tokio::select! {
                    changed = leader.changed() => if changed.is_err() { break },
                    error = &mut failure => {
                        if let Ok(error) = error {
                            if error.is_fatal() {
                                status.send_replace(LeaderStatus::NoLeader);
                                master.fail(error);
                                return;
                            }
                            warn!(master_id = %info.id, %error, "registry write failed: stepping down");
                        }
                        break;
                    }
                }
            },
            Err(error) => {
                warn!(master_id = %info.id, %error, "cannot recover the registry: stepping down");
            }
        }
        // Deposed (or in doubt): stop serving at once, then forget everything.
        status.send_replace(LeaderStatus::NoLeader);
        warn!(master_id = %info.id, "no longer leading: dropping all state and contending again");
        drop(election);
        info = master.next_master_info();
        master.restart_core(info.clone()).await;
    }
}

/// The registry of the ensemble of `url`, at `<path>/registry` on a session of its
/// own (the election's session holds only the candidate node). The node's name has
/// no `_<digits>` suffix, so it is never taken for a candidate.
async fn registry_store(
    url: &ZkUrl,
    session_timeout: std::time::Duration,
) -> Result<SharedStore, MasterError> {
    let session = ZkConnector::new(url.clone(), session_timeout)
        .connect()
        .await
        .map_err(MasterError::RegistryZk)?;
    let path = format!("{}/registry", url.path.trim_end_matches('/'));
    Ok(SharedStore::new(ZkStore::new(Arc::new(session), path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_uses_the_advertised_hostname_and_port() {
        let info = MasterInfo {
            id: "x".into(),
            ip: 16_777_343,
            port: 5051,
            hostname: Some("m2.example".into()),
            ..MasterInfo::default()
        };
        assert_eq!(base_url(&info, None), "http://m2.example:5051");
        let bare = MasterInfo {
            hostname: None,
            ..info
        };
        assert_eq!(base_url(&bare, None), "http://127.0.0.1:5051");
    }
}
