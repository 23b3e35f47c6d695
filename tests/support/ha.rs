//! Helpers for the HA suites: masters started with `--zk`, and waiting for their
//! election to settle.

#![allow(dead_code)] // each test binary uses a different subset

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cluster::AgentProcess;
use crate::support::{Master, Request, default_flags};

/// The session timeout the masters here run with: short, so failover tests are quick.
pub const SESSION_TIMEOUT_SECS: u64 = 4;

/// How long an election may take to settle after a change: the session timeout (a
/// killed leader's node lives that long) plus a generous margin for a busy machine.
pub const SETTLE: Duration = Duration::from_secs(SESSION_TIMEOUT_SECS + 30);

pub fn zk_flags(url: &str) -> Vec<String> {
    let mut flags = default_flags();
    flags.push(format!("--zk={url}"));
    flags.push(format!("--zk_session_timeout={SESSION_TIMEOUT_SECS}secs"));
    flags.push("--quorum=1".into());
    flags
}

/// What a master answers for a leader-only route.
pub async fn state_status(master: &Master) -> (u16, Option<String>) {
    let response = master.send(Request::get("/master/state")).await;
    (
        response.status,
        response.header("Location").map(str::to_string),
    )
}

/// Polls until exactly one of `masters` serves `/master/state` and every other
/// redirects to it; returns the leader's index.
pub async fn await_one_leader(masters: &[&Master]) -> usize {
    let deadline = Instant::now() + SETTLE;
    loop {
        let mut answers = Vec::new();
        for master in masters {
            answers.push(state_status(master).await);
        }
        let leaders: Vec<usize> = (0..masters.len())
            .filter(|i| answers[*i].0 == 200)
            .collect();
        if let [leader] = leaders[..] {
            let leading = masters[leader];
            let expected = format!(
                "{}://localhost:{}/master/state",
                leading.scheme(),
                leading.port()
            );
            let settled = answers.iter().enumerate().all(|(i, (status, location))| {
                i == leader || (*status == 307 && location.as_deref() == Some(&expected))
            });
            if settled {
                return leader;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no single leader with followers redirecting to it: {answers:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Polls `master` until `/master/state` answers `status`.
pub async fn await_state_status(master: &Master, status: u16) {
    let deadline = Instant::now() + SETTLE;
    loop {
        let (now, _) = state_status(master).await;
        if now == status {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "/master/state never answered {status} (last {now})\n{}",
            master.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The ids of the agents `master` has registered, once its `/master/state` lists
/// `count` of them.
pub async fn await_agents(master: &Master, count: usize, agent: &AgentProcess) -> Vec<String> {
    await_agent_ids(master, count, || agent.log()).await
}

/// As [`await_agents`], for any agent: `agent_log` says what it logged, should it
/// never show up.
pub async fn await_agent_ids(
    master: &Master,
    count: usize,
    agent_log: impl Fn() -> String,
) -> Vec<String> {
    let deadline = Instant::now() + SETTLE;
    loop {
        let response = master.send(Request::get("/master/state")).await;
        if response.status == 200 {
            let state: Value = serde_json::from_slice(&response.body).unwrap();
            let ids: Vec<String> = state["slaves"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["id"].as_str().map(str::to_string))
                .collect();
            if ids.len() == count {
                return ids;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the master on {} never had {count} agent(s)\n--- agent log ---\n{}",
            master.addr,
            agent_log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
