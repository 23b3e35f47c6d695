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

use cluster::AgentProcess;
use ha::zookeeper::{self, ZooKeeper};
use ha::{GatedTask, await_agents, await_one_leader, elect_masters};
use support::Master;

#[tokio::test]
async fn a_framework_and_its_task_survive_the_leader_being_killed() {
    if !zookeeper::require() {
        return;
    }
    let (_zk, url, masters, leader) = elect_masters(ZooKeeper::standalone(), 3, &[]).await;
    let mut masters: Vec<Option<Master>> = masters.into_iter().map(Some).collect();
    let agent_flags = ["--resources=cpus:2;mem:1024"];
    let agent = AgentProcess::start_for(&url, &agent_flags);
    let _other_agent = AgentProcess::start_for(&url, &agent_flags);
    let first = masters[leader].as_ref().unwrap();
    let mut agents_before = await_agents(first, 2, &agent).await;
    agents_before.sort();

    // A long task: it notes each start, then runs until the test lets it finish.
    let (task, scheduler) = GatedTask::launch(first, "failover").await;

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
    let (mut scheduler, status) = task.resubscribe_and_reconcile(survivor).await;
    assert_eq!(
        status["agent_id"]["value"],
        agents_after[0].as_str(),
        "{status}"
    );

    // Let it finish: the new leader delivers TASK_FINISHED to this framework once,
    // and the task ran once.
    task.finish_once(&mut scheduler, survivor).await;
    survivor.assert_alive().await;
}
