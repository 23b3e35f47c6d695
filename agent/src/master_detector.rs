//! `--master=zk://…`: the agent follows the leading master through ZooKeeper, reading
//! the masters' `json.info_` nodes as Mesos agents do. The link asks for the leader's
//! address on every SUBSCRIBE. The agent also watches the election
//! ([`MasterDetector::changes`]): when another master (or none) leads, it drops its
//! stream to the old one at once, even if that connection still looks alive (a frozen
//! or partitioned master), and registers with the new leader after its backoff.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ratufa_proto::v1::MasterInfo;
use ratufa_zk::{Election, Leader, ZkConnector, ZkUrl};

/// Mesos's default ZooKeeper session timeout, which agents use too.
const SESSION_TIMEOUT: Duration = Duration::from_secs(10);

/// A read-only view of the masters' election. Clones share one ZooKeeper session.
#[derive(Clone)]
pub struct MasterDetector {
    url: String,
    election: Arc<Election>,
}

impl std::fmt::Debug for MasterDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterDetector")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl MasterDetector {
    /// Starts detecting (on the current tokio runtime).
    pub fn start(url: ZkUrl) -> MasterDetector {
        let shown = url.to_string();
        let path = url.path.clone();
        let election = ratufa_zk::detect(ZkConnector::new(url, SESSION_TIMEOUT), path);
        MasterDetector::following(shown, election)
    }

    /// A detector on an election already followed (`url` is for logs).
    pub fn following(url: String, election: Election) -> MasterDetector {
        MasterDetector {
            url,
            election: Arc::new(election),
        }
    }

    /// The URL, without its password, for logs.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The leading master's address now; why there is none otherwise.
    pub fn leader(&self) -> Result<SocketAddr, String> {
        match self.election.current() {
            Leader::Elected(elected) => address_of(&elected.info).ok_or_else(|| {
                format!(
                    "the leading master {} has no usable address",
                    elected.info.id
                )
            }),
            Leader::None => Err(format!("no master is elected in {}", self.url)),
            Leader::Unknown => Err(format!("ZooKeeper at {} is not reachable yet", self.url)),
        }
    }
}

/// Who leads, as far as an agent cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detected {
    /// This agent's own ZooKeeper session is in doubt: that says nothing about the
    /// masters, so nothing is done about it.
    InDoubt,
    NoLeader,
    /// The leading master's id (a new one each term, even at the same address).
    Leader(String),
}

impl Detected {
    fn of(leader: &Leader) -> Detected {
        match leader {
            Leader::Unknown => Detected::InDoubt,
            Leader::None => Detected::NoLeader,
            Leader::Elected(elected) => Detected::Leader(elected.info.id.clone()),
        }
    }

    /// Whether an agent subscribed to the master `following` (None: not subscribed
    /// yet, so to whoever led when it tried) must drop its stream and register anew.
    pub fn deposes(&self, following: Option<&str>) -> bool {
        match self {
            Detected::InDoubt => false,
            Detected::NoLeader => true,
            Detected::Leader(id) => following != Some(id.as_str()),
        }
    }
}

/// The election's changes, as [`Detected`], each reported once.
#[derive(Debug)]
pub struct LeaderChanges {
    leader: tokio::sync::watch::Receiver<Leader>,
    last: Detected,
}

impl LeaderChanges {
    /// The next change that matters: a doubt that clears to the same leader as before
    /// is none. Pends for ever once the election has stopped.
    pub async fn next(&mut self) -> Detected {
        loop {
            if self.leader.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
            let now = Detected::of(&self.leader.borrow_and_update());
            if now == Detected::InDoubt || now == self.last {
                continue;
            }
            self.last = now.clone();
            return now;
        }
    }
}

impl MasterDetector {
    /// Who leads now.
    pub fn detected(&self) -> Detected {
        Detected::of(&self.election.current())
    }

    /// Follows the election from now on.
    pub fn changes(&self) -> LeaderChanges {
        let mut leader = self.election.subscribe();
        let last = Detected::of(&leader.borrow_and_update());
        LeaderChanges { leader, last }
    }

    /// Waits up to `within` for a leader other than `than` (any leader when None) to
    /// be elected; whether one was.
    pub async fn await_other_leader(&self, than: Option<SocketAddr>, within: Duration) -> bool {
        let mut leader = self.election.subscribe();
        let other = tokio::time::timeout(within, async {
            loop {
                let now = match &*leader.borrow_and_update() {
                    Leader::Elected(elected) => address_of(&elected.info),
                    Leader::None | Leader::Unknown => None,
                };
                if now.is_some() && now != than {
                    return true;
                }
                if leader.changed().await.is_err() {
                    return false;
                }
            }
        })
        .await;
        other.unwrap_or(false)
    }
}

/// Where to reach a master: `address.ip` when given, else the in_addr-style `ip`.
fn address_of(info: &MasterInfo) -> Option<SocketAddr> {
    let port = u16::try_from(info.port).ok().filter(|p| *p != 0)?;
    let ip = info
        .address
        .as_ref()
        .and_then(|a| a.ip.as_deref())
        .and_then(|ip| ip.parse::<IpAddr>().ok())
        .unwrap_or_else(|| IpAddr::V4(Ipv4Addr::from(info.ip.to_le_bytes())));
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratufa_zk::memory::MemoryZk;

    fn master(id: &str, port: u32) -> MasterInfo {
        MasterInfo {
            id: id.into(),
            ip: 16_777_343,
            port,
            ..MasterInfo::default()
        }
    }

    #[tokio::test]
    async fn a_new_leader_is_awaited_when_the_old_one_is_gone() {
        let zk = MemoryZk::new();
        let first = ratufa_zk::contend(zk.clone(), "/mesos".into(), master("a", 5050));
        let detector = MasterDetector::following(
            "zk://memory/mesos".into(),
            ratufa_zk::detect(zk.clone(), "/mesos".into()),
        );
        assert!(
            detector
                .await_other_leader(None, Duration::from_secs(20))
                .await
        );
        let old = detector.leader().unwrap();
        assert_eq!(old, "127.0.0.1:5050".parse().unwrap());

        // Nobody else leads yet: the wait gives up.
        assert!(
            !detector
                .await_other_leader(Some(old), Duration::from_millis(200))
                .await
        );

        let second = ratufa_zk::contend(zk.clone(), "/mesos".into(), master("b", 5051));
        drop(first);
        assert!(
            detector
                .await_other_leader(Some(old), Duration::from_secs(20))
                .await
        );
        assert_eq!(
            detector.leader().unwrap(),
            "127.0.0.1:5051".parse().unwrap()
        );
        drop(second);
    }

    #[tokio::test]
    async fn changes_report_each_new_leader_once_and_its_absence() {
        let zk = MemoryZk::new();
        let detector = MasterDetector::following(
            "zk://memory/mesos".into(),
            ratufa_zk::detect(zk.clone(), "/mesos".into()),
        );
        let mut changes = detector.changes();
        let first = ratufa_zk::contend(zk.clone(), "/mesos".into(), master("a", 5050));
        async fn next(changes: &mut LeaderChanges) -> Detected {
            tokio::time::timeout(Duration::from_secs(20), changes.next())
                .await
                .expect("no change reported")
        }
        assert_eq!(next(&mut changes).await, Detected::Leader("a".into()));
        assert_eq!(detector.detected(), Detected::Leader("a".into()));
        // A second candidate does not lead: no change to report.
        let second = ratufa_zk::contend(zk.clone(), "/mesos".into(), master("b", 5051));
        drop(first);
        assert_eq!(next(&mut changes).await, Detected::Leader("b".into()));
        drop(second);
        assert_eq!(next(&mut changes).await, Detected::NoLeader);
    }

    #[test]
    fn an_agent_leaves_a_master_that_no_longer_leads() {
        let leader = Detected::Leader("m2".into());
        assert!(!leader.deposes(Some("m2")));
        assert!(leader.deposes(Some("m1")));
        // Not subscribed yet: start over with whoever leads now.
        assert!(leader.deposes(None));
        assert!(Detected::NoLeader.deposes(Some("m2")));
        // Our own ZooKeeper trouble is no reason to leave a master.
        assert!(!Detected::InDoubt.deposes(Some("m2")));
        assert!(!Detected::InDoubt.deposes(None));
    }

    #[test]
    fn the_address_comes_from_address_ip_else_the_packed_ip() {
        let info = MasterInfo {
            id: "m".into(),
            ip: 16_777_343,
            port: 5050,
            ..MasterInfo::default()
        };
        assert_eq!(address_of(&info), Some("127.0.0.1:5050".parse().unwrap()));
        let with_address = MasterInfo {
            address: Some(ratufa_proto::v1::Address {
                ip: Some("10.1.2.3".into()),
                hostname: None,
                port: 5050,
            }),
            ..info.clone()
        };
        assert_eq!(
            address_of(&with_address),
            Some("10.1.2.3:5050".parse().unwrap())
        );
        assert_eq!(address_of(&MasterInfo { port: 0, ..info }), None);
    }
}
