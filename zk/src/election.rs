//! Mesos's leader election on ZooKeeper, and the detection that follows it.
//!
//! Every master creates an EPHEMERAL|SEQUENTIAL `<path>/json.info_<seq>` node holding
//! its MasterInfo as JSON (Mesos's mapping). The leader is the master whose node has
//! the lowest sequence among the children named `<label>_<digits>`; other children
//! (`log_replicas`, anything else) are not candidates, and a candidate whose data is
//! not a MasterInfo is skipped with a warning. Agents, schedulers and tools read the
//! same nodes, so this layout is part of the contract with existing clients.
//!
//! A session that is suspended (connection lost) makes the leader unknown at once: a
//! leader stops leading the moment it cannot be sure it still holds its node. When
//! the session does not come back within its timeout (the server expires it then), or
//! expires, a new session is started and the master contends again.
//!
//! A leader that doubts what it knows (its process was frozen, so its session may
//! have expired unnoticed) asks through a [`LeadershipCheck`]: the election task then
//! reads the candidates from the server again, and the answer holds only if that
//! round trip succeeded on the same session and the leader's node is still the lowest.

use std::convert::Infallible;
use std::time::Duration;

use ratufa_proto::v1::MasterInfo;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::ZkError;
use crate::session::{Connector, CreateMode, Session, SessionEvent, ensure_path};

/// The label of the nodes masters create (Mesos's `json.info`).
pub const MASTER_INFO_LABEL: &str = "json.info";

/// Waits between attempts to reach ZooKeeper: doubling from the first to the last.
const RETRY_FIRST: Duration = Duration::from_millis(250);
const RETRY_MOST: Duration = Duration::from_secs(5);

/// What an election says, as one master or a detector sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Leader {
    /// Not connected to ZooKeeper (or the session is in doubt): nobody may be
    /// trusted to lead, this master included.
    Unknown,
    /// Connected, and no candidate holds a readable MasterInfo.
    None,
    /// The elected master.
    Elected(Box<Elected>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Elected {
    /// The leader's node name (`json.info_0000000003`).
    pub node: String,
    pub info: MasterInfo,
    /// Whether the leader is the master that asked (always false for a detector).
    pub is_self: bool,
}

impl Leader {
    pub fn is_self(&self) -> bool {
        matches!(self, Leader::Elected(e) if e.is_self)
    }
}

/// The sequence number of a candidate's node name: `<label>_<digits>`.
pub fn sequence_of(name: &str) -> Option<u64> {
    let (label, digits) = name.rsplit_once('_')?;
    if label.is_empty() || digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The candidates among `children`, lowest sequence first.
pub fn candidates(children: &[String]) -> Vec<&str> {
    let mut numbered: Vec<(u64, &str)> = children
        .iter()
        .filter_map(|name| sequence_of(name).map(|seq| (seq, name.as_str())))
        .collect();
    numbered.sort_unstable();
    numbered.into_iter().map(|(_, name)| name).collect()
}

/// Reads the candidates in order and returns the first holding a MasterInfo.
/// `own_id` is the asking master's id (None for a detector).
pub async fn elect<S: Session>(
    session: &S,
    path: &str,
    children: &[String],
    own_id: Option<&str>,
) -> Result<Leader, ZkError> {
    for name in candidates(children) {
        let node = format!("{path}/{name}");
        let data = match session.get_data(&node).await {
            Ok((data, _)) => data,
            // Gone between the listing and the read: its watch will fire.
            Err(ZkError::NoNode(_)) => continue,
            Err(error) => return Err(error),
        };
        match ratufa_proto::json::decode::<MasterInfo>(&data) {
            Ok(info) => {
                let is_self = own_id == Some(info.id.as_str());
                return Ok(Leader::Elected(Box::new(Elected {
                    node: name.to_string(),
                    info,
                    is_self,
                })));
            }
            Err(error) => {
                warn!(znode = %node, %error, "skipping a candidate whose data is not a MasterInfo in JSON");
            }
        }
    }
    Ok(Leader::None)
}

/// A running contender or detector: the election as it stands, updated as it moves.
/// The task stops when this is dropped (a contender's node then goes with its
/// session).
pub struct Election {
    leader: watch::Receiver<Leader>,
    checks: mpsc::UnboundedSender<CheckRequest>,
    task: JoinHandle<()>,
}

/// Answered with the election as read from the server just now; dropped unanswered
/// when that read failed or the session is not the one the request was made in.
type CheckRequest = oneshot::Sender<Leader>;

/// Asks the election whether a given node still leads, by a round trip to ZooKeeper.
#[derive(Debug, Clone)]
pub struct LeadershipCheck {
    checks: mpsc::UnboundedSender<CheckRequest>,
    /// The node this master was elected with: a node of a later session (contending
    /// again after an expiry) is another term.
    node: String,
}

impl LeadershipCheck {
    /// Whether the node still leads, read from ZooKeeper now. False when the
    /// session is gone or in doubt (no answer), or when another node leads. The
    /// caller bounds how long it waits: a request waits for the server's answer.
    pub async fn still_leading(&self) -> bool {
        let (reply, answer) = oneshot::channel();
        if self.checks.send(reply).is_err() {
            return false;
        }
        matches!(answer.await, Ok(Leader::Elected(e)) if e.is_self && e.node == self.node)
    }
}

impl Election {
    /// The election now, and as it changes.
    pub fn subscribe(&self) -> watch::Receiver<Leader> {
        self.leader.clone()
    }

    pub fn current(&self) -> Leader {
        self.leader.borrow().clone()
    }

    /// A check of whether `node` (this contender's, as elected) still leads.
    pub fn check(&self, node: String) -> LeadershipCheck {
        LeadershipCheck {
            checks: self.checks.clone(),
            node,
        }
    }
}

impl Drop for Election {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Contends for leadership under `path` with `info` (this master's MasterInfo), and
/// follows the election. Must run inside a tokio runtime.
pub fn contend<C: Connector>(connector: C, path: String, info: MasterInfo) -> Election {
    spawn(connector, path, Some(info))
}

/// Follows the election under `path` without taking part (agents, tools).
pub fn detect<C: Connector>(connector: C, path: String) -> Election {
    spawn(connector, path, None)
}

fn spawn<C: Connector>(connector: C, path: String, own: Option<MasterInfo>) -> Election {
    let (sender, leader) = watch::channel(Leader::Unknown);
    let (checks, requests) = mpsc::unbounded_channel();
    let task = tokio::spawn(run(connector, path, own, sender, requests));
    Election {
        leader,
        checks,
        task,
    }
}

fn publish(sender: &watch::Sender<Leader>, leader: Leader) {
    sender.send_if_modified(|current| {
        if *current == leader {
            return false;
        }
        match &leader {
            Leader::Elected(e) => info!(
                leader = e.info.pid.as_deref().unwrap_or(&e.info.id),
                znode = %e.node,
                is_self = e.is_self,
                "elected master detected"
            ),
            Leader::None => info!("no master is elected"),
            Leader::Unknown => warn!("the leading master is unknown until ZooKeeper is back"),
        }
        *current = leader;
        true
    });
}

async fn run<C: Connector>(
    connector: C,
    path: String,
    own: Option<MasterInfo>,
    sender: watch::Sender<Leader>,
    mut checks: mpsc::UnboundedReceiver<CheckRequest>,
) {
    let mut retry = RETRY_FIRST;
    loop {
        let session = match connector.connect().await {
            Ok(session) => session,
            Err(error) => {
                publish(&sender, Leader::Unknown);
                warn!(%error, retry_in = ?retry, "ZooKeeper is unreachable; retrying");
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(RETRY_MOST);
                continue;
            }
        };
        retry = RETRY_FIRST;
        info!(path = %path, "ZooKeeper session established");
        // Asked before this session: about a term of an earlier one (or of none),
        // which this session cannot vouch for.
        while checks.try_recv().is_ok() {}
        let Err(error) = follow(
            &session,
            &path,
            own.as_ref(),
            connector.session_timeout(),
            &sender,
            &mut checks,
        )
        .await;
        publish(&sender, Leader::Unknown);
        warn!(%error, "ZooKeeper session lost; starting a new one");
    }
}

/// Within one session: take part (when `own` is given), then follow the election
/// until the session is lost.
async fn follow<S: Session>(
    session: &S,
    path: &str,
    own: Option<&MasterInfo>,
    session_timeout: Duration,
    sender: &watch::Sender<Leader>,
    checks: &mut mpsc::UnboundedReceiver<CheckRequest>,
) -> Result<Infallible, ZkError> {
    ensure_path(session, path).await?;
    let mine = match own {
        Some(info) => {
            let data = ratufa_proto::json::encode(info);
            let created = session
                .create(
                    &format!("{path}/{MASTER_INFO_LABEL}_"),
                    &data,
                    CreateMode::EphemeralSequential,
                )
                .await?;
            info!(znode = %created, "contending for leadership");
            Some(created.rsplit('/').next().unwrap_or_default().to_string())
        }
        None => None,
    };
    let own_id = own.map(|info| info.id.as_str());
    let mut events = session.events();
    // Checks asked for since the last read: answered by the next one that succeeds,
    // dropped (no answer) if it fails.
    let mut asked: Vec<CheckRequest> = Vec::new();
    loop {
        let listed = match session.get_children_watch(path).await {
            Ok(listed) => Some(listed),
            Err(ZkError::ConnectionLoss) => None,
            Err(error) => return Err(error),
        };
        if listed.is_none() {
            asked.clear();
        }
        if let Some((children, watch)) = listed {
            if let Some(mine) = &mine
                && !children.contains(mine)
            {
                // Someone removed our candidacy; only a new session can restore it.
                return Err(ZkError::NoNode(format!("{path}/{mine}")));
            }
            match elect(session, path, &children, own_id).await {
                Ok(leader) => {
                    for reply in asked.drain(..) {
                        let _ = reply.send(leader.clone());
                    }
                    publish(sender, leader);
                }
                Err(ZkError::ConnectionLoss) => asked.clear(),
                Err(error) => return Err(error),
            }
            tokio::select! {
                () = watch => continue,
                Some(reply) = checks.recv() => {
                    // Read again (a round trip) to answer it.
                    asked.push(reply);
                    continue;
                }
                changed = events.changed() => {
                    if changed.is_err() {
                        return Err(ZkError::SessionExpired);
                    }
                }
            }
        }
        let event = *events.borrow_and_update();
        match event {
            SessionEvent::Connected => {}
            SessionEvent::Expired => return Err(ZkError::SessionExpired),
            SessionEvent::Suspended => {
                // Whoever leads, we cannot know it now; a leader stops at once.
                publish(sender, Leader::Unknown);
                // The server expires the session once it has not heard from us for
                // its timeout; waiting longer would be hoping.
                let back = tokio::time::timeout(session_timeout, async {
                    loop {
                        if events.changed().await.is_err() {
                            return SessionEvent::Expired;
                        }
                        let event = *events.borrow_and_update();
                        if event != SessionEvent::Suspended {
                            return event;
                        }
                    }
                })
                .await;
                match back {
                    Ok(SessionEvent::Connected) => info!("ZooKeeper connection is back"),
                    Ok(_) | Err(_) => return Err(ZkError::SessionExpired),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::memory::MemoryZk;

    fn info(id: &str, port: u32) -> MasterInfo {
        MasterInfo {
            id: id.into(),
            ip: 16_777_343,
            port,
            pid: Some(format!("master@127.0.0.1:{port}")),
            hostname: Some("localhost".into()),
            ..MasterInfo::default()
        }
    }

    /// Waits (generously) until the election satisfies `want`.
    async fn until(election: &Election, want: impl Fn(&Leader) -> bool) -> Leader {
        let mut leader = election.subscribe();
        let found = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                let now = leader.borrow_and_update().clone();
                if want(&now) {
                    return now;
                }
                leader.changed().await.unwrap();
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("the election never got there: {:?}", election.current()))
    }

    fn elected_id(leader: &Leader) -> Option<&str> {
        match leader {
            Leader::Elected(e) => Some(e.info.id.as_str()),
            _ => None,
        }
    }

    #[test]
    fn candidates_are_numbered_children_lowest_first() {
        assert_eq!(sequence_of("json.info_0000000003"), Some(3));
        assert_eq!(sequence_of("info_12"), Some(12));
        assert_eq!(sequence_of("log_replicas"), None);
        assert_eq!(sequence_of("json.info_"), None);
        assert_eq!(sequence_of("_12"), None);
        assert_eq!(sequence_of("x_1a"), None);
        let children: Vec<String> = [
            "json.info_0000000010",
            "log_replicas",
            "info_0000000002",
            "json.info_0000000007",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            candidates(&children),
            vec![
                "info_0000000002",
                "json.info_0000000007",
                "json.info_0000000010"
            ]
        );
    }

    #[tokio::test]
    async fn the_first_contender_leads_and_the_next_takes_over_when_it_goes() {
        let zk = MemoryZk::new();
        let a = contend(zk.clone(), "/mesos".into(), info("a", 1));
        until(&a, Leader::is_self).await;
        let b = contend(zk.clone(), "/mesos".into(), info("b", 2));
        let c = contend(zk.clone(), "/mesos".into(), info("c", 3));
        let watcher = detect(zk.clone(), "/mesos".into());
        for other in [&b, &c, &watcher] {
            let seen = until(other, |l| elected_id(l) == Some("a")).await;
            assert!(!seen.is_self());
        }
        assert_eq!(
            zk.children("/mesos"),
            vec![
                "json.info_0000000000",
                "json.info_0000000001",
                "json.info_0000000002"
            ]
        );
        // The data is the MasterInfo in Mesos's JSON mapping.
        let session = zk.connect().await.unwrap();
        let (data, _) = session
            .get_data("/mesos/json.info_0000000001")
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&data).unwrap();
        assert_eq!(json["id"], "b");
        assert_eq!(json["pid"], "master@127.0.0.1:2");

        drop(a);
        until(&b, Leader::is_self).await;
        until(&c, |l| elected_id(l) == Some("b") && !l.is_self()).await;
        until(&watcher, |l| elected_id(l) == Some("b")).await;
    }

    #[tokio::test]
    async fn a_candidate_with_garbage_data_is_skipped() {
        let zk = MemoryZk::new();
        let session = zk.connect().await.unwrap();
        ensure_path(&session, "/mesos").await.unwrap();
        session
            .create(
                "/mesos/json.info_",
                b"{not json",
                CreateMode::EphemeralSequential,
            )
            .await
            .unwrap();
        session
            .create("/mesos/log_replicas", b"", CreateMode::Persistent)
            .await
            .unwrap();
        let a = contend(zk.clone(), "/mesos".into(), info("a", 1));
        let leader = until(&a, Leader::is_self).await;
        let Leader::Elected(elected) = leader else {
            unreachable!()
        };
        assert_eq!(elected.node, "json.info_0000000002");
        let watcher = detect(zk.clone(), "/mesos".into());
        until(&watcher, |l| elected_id(l) == Some("a")).await;
    }

    #[tokio::test]
    async fn a_suspended_session_stops_the_leader_at_once() {
        let zk = MemoryZk::new().with_session_timeout(Duration::from_secs(30));
        let a = contend(zk.clone(), "/mesos".into(), info("a", 1));
        until(&a, Leader::is_self).await;
        zk.suspend_all();
        until(&a, |l| *l == Leader::Unknown).await;
        // Back within the timeout: the same session, the same node, leading again.
        zk.resume_all();
        let Leader::Elected(e) = until(&a, Leader::is_self).await else {
            unreachable!()
        };
        assert_eq!(e.node, "json.info_0000000000");
    }

    #[tokio::test]
    async fn a_session_gone_too_long_is_replaced_and_contends_again() {
        let zk = MemoryZk::new().with_session_timeout(Duration::from_millis(200));
        let a = contend(zk.clone(), "/mesos".into(), info("a", 1));
        until(&a, Leader::is_self).await;
        zk.suspend_all();
        // Never resumed: after the timeout the contender starts a new session, whose
        // node is a new one.
        let Leader::Elected(e) = until(
            &a,
            |l| matches!(l, Leader::Elected(e) if e.is_self && e.node != "json.info_0000000000"),
        )
        .await
        else {
            unreachable!()
        };
        assert_eq!(e.info.id, "a");
    }

    #[tokio::test]
    async fn an_expired_session_is_replaced() {
        let zk = MemoryZk::new();
        let a = contend(zk.clone(), "/mesos".into(), info("a", 1));
        until(&a, Leader::is_self).await;
        zk.expire_all();
        until(
            &a,
            |l| matches!(l, Leader::Elected(e) if e.is_self && e.node == "json.info_0000000001"),
        )
        .await;
    }

    /// The check's answer, or a failure after a generous wait.
    async fn checked(check: &LeadershipCheck) -> bool {
        tokio::time::timeout(Duration::from_secs(20), check.still_leading())
            .await
            .expect("a check is answered")
    }

    #[tokio::test]
    async fn a_check_holds_only_for_the_node_that_still_leads_on_its_session() {
        let zk = MemoryZk::new();
        let a = contend(zk.clone(), "/mesos".into(), info("a", 1));
        let Leader::Elected(elected) = until(&a, Leader::is_self).await else {
            unreachable!()
        };
        let check = a.check(elected.node.clone());
        assert!(checked(&check).await);
        // Another contender does not lead through a's node.
        let b = contend(zk.clone(), "/mesos".into(), info("b", 2));
        until(&b, |l| elected_id(l) == Some("a")).await;
        assert!(!checked(&b.check(elected.node.clone())).await);
        // a's session expires: whoever leads now, it is not the node a was elected
        // with, even once a leads again on a new session.
        zk.expire_all();
        until(
            &a,
            |l| matches!(l, Leader::Elected(e) if e.node != elected.node),
        )
        .await;
        assert!(!checked(&check).await);
    }

    #[tokio::test]
    async fn a_check_asked_while_zookeeper_is_unreachable_gets_no_yes() {
        let zk = MemoryZk::new().with_session_timeout(Duration::from_secs(30));
        let a = contend(zk.clone(), "/mesos".into(), info("a", 1));
        let Leader::Elected(elected) = until(&a, Leader::is_self).await else {
            unreachable!()
        };
        zk.suspend_all();
        until(&a, |l| *l == Leader::Unknown).await;
        let check = a.check(elected.node.clone());
        let answer = tokio::time::timeout(Duration::from_millis(300), check.still_leading()).await;
        assert_ne!(answer, Ok(true), "a yes while the session is in doubt");
    }

    #[tokio::test]
    async fn unreachable_at_start_is_retried_until_it_appears() {
        let zk = MemoryZk::new();
        zk.set_reachable(false);
        let a = contend(zk.clone(), "/mesos".into(), info("a", 1));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(a.current(), Leader::Unknown);
        zk.set_reachable(true);
        until(&a, Leader::is_self).await;
    }

    #[tokio::test]
    async fn no_candidate_means_no_leader() {
        let zk = MemoryZk::new();
        let watcher = detect(zk.clone(), "/mesos".into());
        until(&watcher, |l| *l == Leader::None).await;
    }
}
