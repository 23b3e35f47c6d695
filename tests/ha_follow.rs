//! Following a leader change while the old leader's connections still look alive
//! (issue #5, item 4): the leader is frozen with SIGSTOP, so its TCP connections to
//! agents and frameworks stay open, and ZooKeeper elects another master once its
//! session times out. The agents must leave the frozen master on the election's word
//! alone (their silence timeout, 75 s, is far longer than the wait here) and register
//! with the new leader; the framework re-subscribes there and RECONCILE finds its task
//! RUNNING. When the old leader is resumed (SIGCONT) it must not lead: it closes its
//! streams without sending anything from its old state, answers 307/503, and the
//! task's TASK_FINISHED reaches the framework once, from the new leader.

#![allow(clippy::unwrap_used)]

#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/ha.rs"]
mod ha;
mod support;

use std::time::{Duration, Instant};

use serde_json::Value;

use cluster::{AgentProcess, Scheduler};
use ha::zookeeper::{self, ZooKeeper};
use ha::{GatedTask, SETTLE, await_agents, await_one_leader, elect_masters, state_status};
use support::{Master, StreamEnd};

#[tokio::test]
async fn agents_and_a_framework_leave_a_frozen_leader_which_does_not_lead_when_resumed() {
    if !zookeeper::require() {
        return;
    }
    let (_zk, url, masters, leader) = elect_masters(ZooKeeper::standalone(), 3, &[]).await;
    let old = &masters[leader];
    let agent_flags = [
        "--resources=cpus:2;mem:1024",
        "--registration_backoff_factor=1secs",
    ];
    let agent = AgentProcess::start_for(&url, &agent_flags);
    let _other_agent = AgentProcess::start_for(&url, &agent_flags);
    let mut agents_before = await_agents(old, 2, &agent).await;
    agents_before.sort();

    // A long task that notes each start and runs until the test lets it finish.
    let (task, mut old_scheduler) = GatedTask::launch(old, "follow").await;

    // Freeze the leader: its connections stay open, its ZooKeeper session expires.
    old.signal("STOP");
    let others: Vec<&Master> = (0..masters.len())
        .filter(|i| *i != leader)
        .map(|i| &masters[i])
        .collect();
    let new = others[await_one_leader(&others).await];

    // The agents come back to the new leader, with their ids, while the old one is
    // still frozen.
    let mut agents_after = await_agents(new, 2, &agent).await;
    agents_after.sort();
    assert_eq!(agents_after, agents_before, "{}", agent.log());
    assert!(
        agent.log().contains("another master leads"),
        "the agent did not act on the election:\n{}",
        agent.log()
    );

    // The framework re-subscribes with its id (its stream to the frozen master is
    // left open: a deposed master must not use it) and asks about its task.
    let (mut scheduler, status) = task.resubscribe_and_reconcile(new).await;
    assert!(
        agents_after
            .iter()
            .any(|id| status["agent_id"]["value"] == id.as_str()),
        "{status}"
    );

    // Resume the old leader: it steps down, closes its streams with nothing from
    // its old term on them, and sends clients to the new leader.
    old.signal("CONT");
    let on_old_stream = read_until_closed(&mut old_scheduler, old).await;
    for event in &on_old_stream {
        assert!(
            event["type"] == "HEARTBEAT",
            "the deposed master sent {event}\n--- its log ---\n{}",
            old.log()
        );
    }
    let deadline = Instant::now() + SETTLE;
    loop {
        let (status, location) = state_status(old).await;
        if status == 307 {
            let expected = format!("http://localhost:{}/master/state", new.port());
            assert_eq!(location.as_deref(), Some(expected.as_str()));
            break;
        }
        assert!(
            status == 503 && Instant::now() < deadline,
            "the resumed master answered {status}\n{}",
            old.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The new leader still leads.
    assert_eq!(state_status(new).await.0, 200);

    // Let the task finish: TASK_FINISHED reaches the framework once, from the new
    // leader, and nothing follows it; no update was lost on the way (RUNNING from
    // RECONCILE, then FINISHED; the old stream carried none), and it ran once.
    task.finish_once(&mut scheduler, new).await;
    new.assert_alive().await;
    old.assert_alive().await;
}

/// Every event on `scheduler`'s stream until the master closes it (a resumed,
/// deposed master must); fails the test if it stays open.
async fn read_until_closed(scheduler: &mut Scheduler, master: &Master) -> Vec<Value> {
    let deadline = Instant::now() + SETTLE;
    let mut events = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match scheduler.framework.stream.next_record_within(left).await {
            Ok(record) => events.push(serde_json::from_slice(&record).unwrap()),
            Err(StreamEnd::Closed | StreamEnd::Broken(_)) => return events,
            Err(StreamEnd::TimedOut) => panic!(
                "the resumed master kept the old scheduler stream open: {events:?}\n{}",
                master.log()
            ),
        }
    }
}
