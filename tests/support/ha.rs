//! Helpers for the HA suites: masters started with `--zk`, and waiting for their
//! election to settle. The ZooKeeper servers come with them ([`zookeeper`]), so a
//! suite including this file has them without including zookeeper.rs itself.

#![allow(dead_code)] // each test binary uses a different subset

#[path = "zookeeper.rs"]
pub mod zookeeper;

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cluster::{AgentProcess, Scheduler, command_task};
use crate::support::{Master, Request, default_flags};
use zookeeper::ZooKeeper;

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

/// Starts `n` masters with [`zk_flags`] for `/mesos` on `zk` (plus `extra`) and waits
/// until exactly one leads. Returns `zk` (keep it: the masters lose their sessions when
/// it goes), the election's `zk://` URL, the masters, and which of them leads.
pub async fn elect_masters(
    zk: ZooKeeper,
    n: usize,
    extra: &[&str],
) -> (ZooKeeper, String, Vec<Master>, usize) {
    let url = zk.url("/mesos");
    let mut flags = zk_flags(&url);
    flags.extend(extra.iter().map(|flag| flag.to_string()));
    let mut masters = Vec::with_capacity(n);
    for _ in 0..n {
        masters.push(Master::start_with(&flags).await);
    }
    let leader = await_one_leader(&masters.iter().collect::<Vec<_>>()).await;
    (zk, url, masters, leader)
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

/// A task that appends "ran" to a file each time it starts and then runs until the
/// test lets it finish, so a failover test can tell whether it ran twice and whether
/// its TASK_FINISHED arrives exactly once.
pub struct GatedTask {
    dir: std::path::PathBuf,
    runs: std::path::PathBuf,
    go: std::path::PathBuf,
    /// The framework's info, for re-subscribing with its id.
    pub info: Value,
    pub framework_id: String,
}

impl GatedTask {
    /// Subscribes a checkpointing framework named `name` to `master` and launches the
    /// task "long" on its first offer; returns once the task is RUNNING.
    pub async fn launch(master: &Master, name: &str) -> (GatedTask, Scheduler) {
        let dir = crate::support::fresh_dir(&format!("{name}-task"));
        let runs = dir.join("runs");
        let go = dir.join("go");
        let info = json!({
            "user": "root",
            "name": name,
            "failover_timeout": 3600.0,
            "checkpoint": true,
        });
        let mut scheduler = Scheduler::subscribe(master, &info).await;
        let framework_id = scheduler.id().to_string();
        let offers = scheduler.offers(master).await;
        let offer = &offers[0];
        let task = command_task(
            "long",
            &offer["agent_id"],
            0.1,
            32.0,
            &format!(
                "echo ran >> {runs}; while [ ! -e {go} ]; do sleep 0.1; done",
                runs = runs.display(),
                go = go.display()
            ),
        );
        scheduler
            .launch(master, &[&offer["id"]], vec![task], 0.0)
            .await;
        scheduler.await_state(master, "long", "TASK_RUNNING").await;
        let task = GatedTask {
            dir,
            runs,
            go,
            info,
            framework_id,
        };
        (task, scheduler)
    }

    /// The framework re-subscribes to `master` with its id and reconciles the task;
    /// returns its scheduler and the TASK_RUNNING status the master answered with.
    pub async fn resubscribe_and_reconcile(&self, master: &Master) -> (Scheduler, Value) {
        let mut info = self.info.clone();
        info["id"] = json!({ "value": self.framework_id });
        let mut scheduler = Scheduler::subscribe(master, &info).await;
        assert_eq!(scheduler.id(), self.framework_id);
        scheduler
            .call(
                master,
                json!({
                    "type": "RECONCILE",
                    "framework_id": {"value": self.framework_id},
                    "reconcile": {"tasks": [{"task_id": {"value": "long"}}]},
                }),
            )
            .await;
        let status = scheduler.await_state(master, "long", "TASK_RUNNING").await;
        (scheduler, status)
    }

    /// Lets the task finish and checks that TASK_FINISHED reached `scheduler` exactly
    /// once, with no update after it, and that the task ran once.
    pub async fn finish_once(self, scheduler: &mut Scheduler, master: &Master) {
        std::fs::write(&self.go, b"").unwrap();
        scheduler.await_state(master, "long", "TASK_FINISHED").await;
        while let Some(event) = scheduler.next_within(master, Duration::from_secs(2)).await {
            assert_ne!(
                event["type"], "UPDATE",
                "an update after TASK_FINISHED: {event}"
            );
        }
        let finished = scheduler
            .updates
            .iter()
            .filter(|u| u["update"]["status"]["state"] == "TASK_FINISHED")
            .count();
        assert_eq!(finished, 1, "{:?}", scheduler.updates);
        assert_eq!(std::fs::read_to_string(&self.runs).unwrap(), "ran\n");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
