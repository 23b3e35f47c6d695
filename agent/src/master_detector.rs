//! `--master=zk://…`: the agent follows the leading master through ZooKeeper, reading
//! the masters' `json.info_` nodes as Mesos agents do. The link asks for the leader's
//! address on every SUBSCRIBE; when the leader changes, the old stream ends (the old
//! leader is gone or has dropped its state) and the agent's reconnection, with its
//! backoff, finds the new one here.

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

impl MasterDetector {
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
