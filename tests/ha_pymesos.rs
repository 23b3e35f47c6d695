//! pymesos, unchanged, given `zk://…` as its master: its detector (kazoo) reads the
//! masters' `json.info_` znodes in ZooKeeper, finds the leader among two ratufa
//! masters, and its tasks run on an agent that found the same leader the same way
//! (issue #5: "the znodes are json.info_… with MasterInfo JSON readable by kazoo").
//!
//! Needs `.venv` with pymesos and kazoo (`scripts/setup-python.sh`) and ZooKeeper
//! (`scripts/setup-zookeeper.sh`); skipped without them, or failed under
//! RATUFA_REQUIRE_CLIENTS=1.

#![allow(clippy::unwrap_used)]

#[path = "support/cluster.rs"]
mod cluster;
#[path = "clients/harness.rs"]
mod harness;
mod support;
#[path = "support/zookeeper.rs"]
mod zookeeper;

use std::time::{Duration, Instant};

use cluster::AgentProcess;
use harness::Ending;
use support::{Master, Request, flags_with_heartbeat};
use zookeeper::ZooKeeper;

const TASKS: usize = 4;

#[tokio::test]
async fn pymesos_finds_the_leader_through_zookeeper_and_runs_its_tasks() {
    let python = harness::repo().join(".venv/bin/python");
    let missing = harness::probe(&python, &["-c", "import pymesos, addict, kazoo"]).await;
    if !harness::should_run(
        "ha_pymesos",
        missing.map(|why| format!("pymesos or kazoo is not in .venv ({why})")),
    ) || !zookeeper::require()
    {
        return;
    }
    let zk = ZooKeeper::standalone();
    let url = zk.url("/mesos");
    let mut flags = flags_with_heartbeat(Duration::from_secs(1));
    flags.push(format!("--zk={url}"));
    flags.push("--zk_session_timeout=4secs".into());
    let masters = [
        Master::start_with(&flags).await,
        Master::start_with(&flags).await,
    ];

    // Whichever leads serves; the other redirects to it.
    let deadline = Instant::now() + Duration::from_secs(40);
    let (first, follower) = loop {
        let a = masters[0].send(Request::get("/master/state")).await.status;
        let b = masters[1].send(Request::get("/master/state")).await.status;
        match (a, b) {
            (200, 307) => break (&masters[0], &masters[1]),
            (307, 200) => break (&masters[1], &masters[0]),
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "no leader:\n{}",
            masters[0].log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let redirected = follower.send(Request::get("/master/state")).await;
    assert_eq!(
        redirected.header("Location"),
        Some(format!("http://localhost:{}/master/state", first.port()).as_str())
    );

    let _agent = AgentProcess::start_for(&url, &["--resources=cpus:4;mem:2048"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let metrics = cluster::get_json(first, "/metrics/snapshot").await;
        if metrics["master/slaves_active"] == 1.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the agent never registered: {metrics}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut command = tokio::process::Command::new(&python);
    command
        .arg("tests/clients/pymesos_scheduler.py")
        .arg(&url)
        .args(["--tasks", &TASKS.to_string(), "--timeout", "40"])
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let output = harness::run(command, Duration::from_secs(60)).await;
    harness::assert_success("the pymesos scheduler (zk://)", &output, first);
    harness::assert_reported_finished(&output, TASKS);
    harness::assert_finished_and_acknowledged(first, TASKS, "pymesos-hello", Ending::TornDown)
        .await;
}
