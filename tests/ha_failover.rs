//! Issue #5's failover, end to end against real ZooKeeper and real processes (three
//! masters, two agents, all following the election through ZooKeeper): a framework
//! launches a long task through the leader, the leader is killed with
//! SIGKILL, a new leader is elected, the agent re-registers with the task, the framework
//! re-subscribes with its id, RECONCILE reports the task RUNNING, and its TASK_FINISHED
//! reaches that framework once. The task ran once.

#![allow(clippy::unwrap_used)]

#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/ha.rs"]
mod ha;
mod support;
#[path = "support/zookeeper.rs"]
mod zookeeper;

use std::time::Duration;

use serde_json::json;

use cluster::{AgentProcess, Scheduler, command_task};
use ha::{await_agents, await_one_leader, zk_flags};
use support::{Master, fresh_dir};
use zookeeper::ZooKeeper;

#[tokio::test]
async fn a_framework_and_its_task_survive_the_leader_being_killed() {
    if !zookeeper::require() {
        return;
    }
    let zk = ZooKeeper::standalone();
    let url = zk.url("/mesos");
    let flags = zk_flags(&url);
    let mut masters = [
        Some(Master::start_with(&flags).await),
        Some(Master::start_with(&flags).await),
        Some(Master::start_with(&flags).await),
    ];
    let leader = {
        let all: Vec<&Master> = masters.iter().flatten().collect();
        await_one_leader(&all).await
    };
    let agent_flags = ["--resources=cpus:2;mem:1024"];
    let agent = AgentProcess::start_for(&url, &agent_flags);
    let _other_agent = AgentProcess::start_for(&url, &agent_flags);
    let first = masters[leader].as_ref().unwrap();
    let mut agents_before = await_agents(first, 2, &agent).await;
    agents_before.sort();

    // A long task: it notes each start, then runs until the test lets it finish.
    let dir = fresh_dir("failover-task");
    let runs = dir.join("runs");
    let go = dir.join("go");
    let info = json!({
        "user": "root",
        "name": "failover",
        "failover_timeout": 3600.0,
        "checkpoint": true,
    });
    let mut scheduler = Scheduler::subscribe(first, &info).await;
    let framework_id = scheduler.id().to_string();
    let offers = scheduler.offers(first).await;
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
        .launch(first, &[&offer["id"]], vec![task], 0.0)
        .await;
    scheduler.await_state(first, "long", "TASK_RUNNING").await;

    // SIGKILL the leader.
    masters[leader].take();
    drop(scheduler);
    let survivors: Vec<&Master> = masters.iter().flatten().collect();
    let survivor = survivors[await_one_leader(&survivors).await];

    // The agents come back with their ids (one with the task).
    let mut agents_after = await_agents(survivor, 2, &agent).await;
    agents_after.sort();
    assert_eq!(agents_after, agents_before);

    // The framework re-subscribes with its id and asks about its task.
    let mut info = info;
    info["id"] = json!({ "value": framework_id });
    let mut scheduler = Scheduler::subscribe(survivor, &info).await;
    assert_eq!(scheduler.id(), framework_id);
    scheduler
        .call(
            survivor,
            json!({
                "type": "RECONCILE",
                "framework_id": {"value": framework_id},
                "reconcile": {"tasks": [{"task_id": {"value": "long"}}]},
            }),
        )
        .await;
    let status = scheduler
        .await_state(survivor, "long", "TASK_RUNNING")
        .await;
    assert_eq!(
        status["agent_id"]["value"],
        agents_after[0].as_str(),
        "{status}"
    );

    // Let it finish: the new leader delivers TASK_FINISHED to this framework.
    std::fs::write(&go, b"").unwrap();
    scheduler
        .await_state(survivor, "long", "TASK_FINISHED")
        .await;
    // Nothing more about the task comes (the update is not delivered twice).
    while let Some(event) = scheduler
        .next_within(survivor, Duration::from_secs(2))
        .await
    {
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
    // The task ran once.
    assert_eq!(std::fs::read_to_string(&runs).unwrap(), "ran\n");
    survivor.assert_alive().await;
    let _ = std::fs::remove_dir_all(&dir);
}
