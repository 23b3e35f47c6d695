//! The registry wired into the master, end to end with real processes (and real
//! ZooKeeper): what a master learns from the registry when its term begins, and what
//! it does with it.
//!
//! - a single master killed and restarted on its work_dir lists its agent as
//!   recovered and says nothing of a task on it until it re-registers, then RUNNING;
//! - an agent marked gone (MARK_AGENT_GONE) stays gone after the master restarts: it
//!   comes back under its old id and is refused, and its task is killed;
//! - after a failover, an agent that never comes back is marked unreachable after
//!   `--agent_reregister_timeout`; reconciliation then says TASK_UNREACHABLE to a
//!   partition-aware framework (with a wall-clock `unreachable_time`) and TASK_LOST
//!   to another, and the registry in ZooKeeper lists it unreachable;
//! - an agent marked gone (MARK_AGENT_GONE on the leader) stays gone after the
//!   leader is SIGKILLed: the new leader answers TASK_GONE_BY_OPERATOR for its task
//!   and refuses it when it comes back under its old id;
//! - another writer changing the registry under the leader (marking its agent gone)
//!   makes the leader's next write fail: it steps down, a leader recovers the
//!   registry, and the gone agent is refused: it comes back as a new agent without
//!   its task, which is killed;
//! - a master SIGKILLed while it writes agents' admissions (to its file or to
//!   ZooKeeper) comes back with a whole registry listing every agent it had answered
//!   SUBSCRIBED;
//! - an agent whose first SUBSCRIBED is lost (its stream dropped before reading it)
//!   and that registers again from the same address is one agent, not two;
//! - a master that finds more of its recovered agents missing than
//!   `--recovery_agent_removal_limit` allows exits 1 without marking them, and bad
//!   values of that flag and of `--agent_removal_rate_limit` are refused.

#![allow(clippy::unwrap_used)]

#[path = "support/agent.rs"]
mod agent;
#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/ha.rs"]
mod ha;
#[path = "support/operator.rs"]
mod operator;
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use agent::{Agent, await_gone, pid_in};
use cluster::{AgentProcess, Scheduler, command_task, get_json};
use ha::zookeeper::{self, ZooKeeper};
use ha::{SETTLE, await_agent_ids, await_agents, await_one_leader, elect_masters, zk_flags};
use operator::api_request;
use ratufa_master::registry::{Registrar, ZkStore};
use ratufa_proto::v1::{AgentId, TimeInfo};
use support::{Master, Request, default_flags, fresh_dir};

const AGENT_FLAGS: [&str; 1] = ["--resources=cpus:2;mem:1024"];
const JSON: &str = "application/json";

fn framework(name: &str, capabilities: &[&str]) -> Value {
    let capabilities: Vec<Value> = capabilities.iter().map(|c| json!({ "type": c })).collect();
    json!({
        "user": "root",
        "name": name,
        "failover_timeout": 3600.0,
        "checkpoint": true,
        "capabilities": capabilities,
    })
}

fn with_id(info: &Value, id: &str) -> Value {
    let mut info = info.clone();
    info["id"] = json!({ "value": id });
    info
}

/// Subscribes `info`, launches one long task `task_id` from its first offer, waits
/// for it to run, and declines the rest for long (leaving it to other frameworks).
async fn run_long_task(master: &Master, info: &Value, task_id: &str, command: &str) -> Scheduler {
    let mut scheduler = Scheduler::subscribe(master, info).await;
    let offers = scheduler.offers(master).await;
    let offer = &offers[0];
    let task = command_task(task_id, &offer["agent_id"], 0.1, 32.0, command);
    scheduler
        .launch(master, &[&offer["id"]], vec![task], 0.0)
        .await;
    scheduler.await_state(master, task_id, "TASK_RUNNING").await;
    // The rest comes back as another offer: refused for long, so that other
    // frameworks get it.
    let rest = scheduler.offers(master).await;
    scheduler.decline(master, &rest[0]["id"], 3600.0).await;
    scheduler
}

fn reconcile_call(framework_id: &str, task_id: &str, agent_id: &str) -> Value {
    json!({
        "type": "RECONCILE",
        "framework_id": {"value": framework_id},
        "reconcile": {"tasks": [{
            "task_id": {"value": task_id},
            "agent_id": {"value": agent_id},
        }]},
    })
}

/// The UPDATE about `task_id` among the events that come within `within`, if any.
async fn update_within(
    scheduler: &mut Scheduler,
    master: &Master,
    task_id: &str,
    within: Duration,
) -> Option<Value> {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = scheduler.next_within(master, left).await?;
        let status = &event["update"]["status"];
        if event["type"] == "UPDATE" && status["task_id"]["value"] == task_id {
            return Some(status.clone());
        }
    }
}

/// Asks about `task_id` on `agent_id` every few seconds until the master answers.
async fn reconcile_until_answered(
    scheduler: &mut Scheduler,
    master: &Master,
    task_id: &str,
    agent_id: &str,
    patience: Duration,
) -> Value {
    let deadline = Instant::now() + patience;
    loop {
        let call = reconcile_call(scheduler.id(), task_id, agent_id);
        scheduler.call(master, call).await;
        if let Some(status) =
            update_within(scheduler, master, task_id, Duration::from_secs(2)).await
        {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "no answer about {task_id} on {agent_id}\n{}",
            master.log()
        );
    }
}

/// The registry as it stands in ZooKeeper under `/mesos`.
async fn zk_registry(zk: &ZooKeeper) -> Registrar<ZkStore<ratufa_zk::ZkSession>> {
    let store = ZkStore::new(Arc::new(zk.session().await), "/mesos/registry");
    Registrar::recover(store).await.unwrap()
}

fn agent_id(value: &str) -> AgentId {
    AgentId {
        value: value.to_string(),
    }
}

#[tokio::test]
async fn a_restarted_master_waits_for_its_agents_before_answering_for_their_tasks() {
    let mut flags = default_flags();
    flags.push("--agent_reregister_timeout=15mins".into());
    let mut master = Master::start_with(&flags).await;
    for path in ["/flags", "/master/flags"] {
        let flags = get_json(&master, path).await;
        assert_eq!(
            flags["flags"]["agent_reregister_timeout"], "900secs",
            "{flags}"
        );
    }
    let agent = Agent::start(&master, &AGENT_FLAGS).await;
    let agents = await_agent_ids(&master, 1, || agent.log()).await;
    let info = framework("restart", &[]);
    let scheduler = run_long_task(&master, &info, "long", "sleep 600").await;
    let framework_id = scheduler.id().to_string();

    // The agent is frozen, so that it cannot re-register before the framework asks.
    agent.signal("STOP");
    drop(scheduler);
    master.restart(&flags).await;
    let mut scheduler = Scheduler::subscribe(&master, &with_id(&info, &framework_id)).await;
    assert_eq!(scheduler.id(), framework_id);
    let call = reconcile_call(&framework_id, "long", &agents[0]);
    scheduler.call(&master, call.clone()).await;
    let early = update_within(&mut scheduler, &master, "long", Duration::from_secs(3)).await;
    assert!(
        early.is_none(),
        "an answer while the agent is recovered but not back: {early:?}"
    );
    let state = get_json(&master, "/master/state").await;
    assert_eq!(
        state["recovered_slaves"][0]["id"],
        agents[0].as_str(),
        "{state}"
    );
    let get_agents = json!({"type": "GET_AGENTS"}).to_string();
    let response = master
        .send(api_request("/api/v1", JSON, JSON, get_agents))
        .await;
    let answer: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(
        answer["get_agents"]["recovered_agents"][0]["id"]["value"],
        agents[0].as_str(),
        "{answer}"
    );

    agent.signal("CONT");
    assert_eq!(await_agent_ids(&master, 1, || agent.log()).await, agents);
    let state = get_json(&master, "/master/state").await;
    assert_eq!(state["recovered_slaves"], json!([]), "{state}");
    scheduler.call(&master, call).await;
    let status = scheduler.await_state(&master, "long", "TASK_RUNNING").await;
    assert_eq!(status["agent_id"]["value"], agents[0].as_str(), "{status}");
    master.assert_alive().await;
}

#[tokio::test]
async fn an_agent_marked_gone_stays_out_after_the_master_restarts() {
    let flags = default_flags();
    let mut master = Master::start_with(&flags).await;
    let mut agent = Agent::start(&master, &AGENT_FLAGS).await;
    let gone = await_agent_ids(&master, 1, || agent.log()).await.remove(0);
    let dir = fresh_dir("gone-restart");
    let pid_file = dir.join("pid");
    let info = framework("aware", &["PARTITION_AWARE"]);
    let command = format!("echo $$ > {}; exec sleep 600", pid_file.display());
    let mut scheduler = run_long_task(&master, &info, "long", &command).await;
    let framework_id = scheduler.id().to_string();
    let task_pid = pid_in(&pid_file).await;

    // The agent crashes, so it never hears it is gone; the operator marks it gone.
    agent.kill();
    let call = json!({"type": "MARK_AGENT_GONE", "mark_agent_gone": {"agent_id": {"value": gone}}});
    let response = master
        .send(api_request("/api/v1", JSON, JSON, call.to_string()))
        .await;
    assert_eq!(response.status, 200, "{response:?}");
    scheduler
        .await_state(&master, "long", "TASK_GONE_BY_OPERATOR")
        .await;
    drop(scheduler);

    // The master restarts, then the agent, which re-registers under its old id with
    // its task: the registry on the work_dir says it is gone.
    master.restart(&flags).await;
    let mut scheduler = Scheduler::subscribe(&master, &with_id(&info, &framework_id)).await;
    let status = reconcile_until_answered(&mut scheduler, &master, "long", &gone, SETTLE).await;
    assert_eq!(status["state"], "TASK_GONE_BY_OPERATOR", "{status}");
    agent.restart(&AGENT_FLAGS).await;
    let agents = await_agent_ids(&master, 1, || agent.log()).await;
    assert_ne!(agents[0], gone, "{}", agent.log());
    await_gone(task_pid, "the gone agent's task").await;
    master.assert_alive().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_agent_marked_gone_stays_out_after_the_leader_fails_over() {
    if !zookeeper::require() {
        return;
    }
    let (zk, url, masters, leader) = elect_masters(ZooKeeper::standalone(), 2, &[]).await;
    let mut masters: Vec<Option<Master>> = masters.into_iter().map(Some).collect();
    let first = masters[leader].as_ref().unwrap();
    let mut agent = Agent::start_for(&url, &AGENT_FLAGS).await;
    let gone = await_agent_ids(first, 1, || agent.log()).await.remove(0);
    let dir = fresh_dir("gone-failover");
    let pid_file = dir.join("pid");
    let info = framework("aware", &["PARTITION_AWARE"]);
    let command = format!("echo $$ > {}; exec sleep 600", pid_file.display());
    let mut scheduler = run_long_task(first, &info, "long", &command).await;
    let framework_id = scheduler.id().to_string();
    let task_pid = pid_in(&pid_file).await;

    // The agent crashes (it never hears it is gone); the operator marks it gone on
    // the leader, which answers once the registry in ZooKeeper holds it.
    agent.kill();
    let call = json!({"type": "MARK_AGENT_GONE", "mark_agent_gone": {"agent_id": {"value": gone}}});
    let response = first
        .send(api_request("/api/v1", JSON, JSON, call.to_string()))
        .await;
    assert_eq!(response.status, 200, "{response:?}");
    scheduler
        .await_state(first, "long", "TASK_GONE_BY_OPERATOR")
        .await;
    drop(scheduler);
    let registry = zk_registry(&zk).await;
    assert!(registry.is_gone(&agent_id(&gone)));
    let entry = &registry.registry().gone[0];
    assert_near_now(entry.timestamp.nanoseconds, "the registry's gone time");

    // The leader is SIGKILLed; the other takes over from the registry.
    masters[leader].as_mut().unwrap().kill();
    masters[leader].take();
    let survivors: Vec<&Master> = masters.iter().flatten().collect();
    let survivor = survivors[await_one_leader(&survivors).await];
    let mut scheduler = Scheduler::subscribe(survivor, &with_id(&info, &framework_id)).await;
    let status = reconcile_until_answered(&mut scheduler, survivor, "long", &gone, SETTLE).await;
    assert_eq!(status["state"], "TASK_GONE_BY_OPERATOR", "{status}");

    // The agent comes back under its old id with its task: refused, it registers
    // anew without it, and the task is killed.
    agent.restart(&AGENT_FLAGS).await;
    let agents = await_agent_ids(survivor, 1, || agent.log()).await;
    assert_ne!(agents[0], gone, "{}", agent.log());
    await_gone(task_pid, "the gone agent's task").await;
    survivor.assert_alive().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_agent_that_never_returns_after_failover_becomes_unreachable() {
    if !zookeeper::require() {
        return;
    }
    let (zk, url, masters, leader) = elect_masters(
        ZooKeeper::standalone(),
        2,
        &["--agent_reregister_timeout=10secs"],
    )
    .await;
    let mut masters: Vec<Option<Master>> = masters.into_iter().map(Some).collect();
    let mut agent = AgentProcess::start_for(&url, &AGENT_FLAGS);
    let first = masters[leader].as_ref().unwrap();
    let agents = await_agents(first, 1, &agent).await;
    let aware_info = framework("aware", &["PARTITION_AWARE"]);
    let plain_info = framework("plain", &[]);
    let ids = [
        run_long_task(first, &aware_info, "a", "sleep 600")
            .await
            .id()
            .to_string(),
        run_long_task(first, &plain_info, "p", "sleep 600")
            .await
            .id()
            .to_string(),
    ];

    // The agent goes for good, and so does the leader.
    agent.kill();
    masters[leader].take();
    let survivors: Vec<&Master> = masters.iter().flatten().collect();
    let survivor = survivors[await_one_leader(&survivors).await];

    let patience = SETTLE + Duration::from_secs(30);
    for (info, id, task, expected) in [
        (&aware_info, &ids[0], "a", "TASK_UNREACHABLE"),
        (&plain_info, &ids[1], "p", "TASK_LOST"),
    ] {
        let mut scheduler = Scheduler::subscribe(survivor, &with_id(info, id)).await;
        let status =
            reconcile_until_answered(&mut scheduler, survivor, task, &agents[0], patience).await;
        assert_eq!(status["state"], expected, "{status}");
        assert_eq!(status["reason"], "REASON_RECONCILIATION", "{status}");
        if expected == "TASK_UNREACHABLE" {
            let nanos = &status["unreachable_time"]["nanoseconds"];
            let nanos = nanos
                .as_i64()
                .or_else(|| nanos.as_str().and_then(|n| n.parse().ok()))
                .unwrap_or_else(|| panic!("no unreachable_time: {status}"));
            assert_near_now(nanos, "the reported unreachable_time");
        }
    }
    let registry = zk_registry(&zk).await;
    assert!(registry.is_unreachable(&agent_id(&agents[0])));
    assert!(!registry.is_admitted(&agent_id(&agents[0])));
    let entry = &registry.registry().unreachable[0];
    assert_near_now(
        entry.timestamp.nanoseconds,
        "the registry's unreachable time",
    );
    survivor.assert_alive().await;
}

#[tokio::test]
async fn a_leader_whose_registry_write_conflicts_steps_down_and_a_gone_agent_stays_out() {
    if !zookeeper::require() {
        return;
    }
    let (zk, url, masters, leader) = elect_masters(ZooKeeper::standalone(), 2, &[]).await;
    let leader = &masters[leader];
    let term_before = master_id(leader).await;
    let agent = AgentProcess::start_for(&url, &AGENT_FLAGS);
    let gone = await_agents(leader, 1, &agent).await.remove(0);
    let dir = fresh_dir("gone-task");
    let pid_file = dir.join("pid");
    let info = framework("plain", &[]);
    let command = format!("echo $$ > {}; exec sleep 600", pid_file.display());
    let scheduler = run_long_task(leader, &info, "long", &command).await;
    let framework_id = scheduler.id().to_string();
    drop(scheduler);
    let task_pid = pid_in(&pid_file).await;

    // Another writer marks the agent gone in the registry, under the leader.
    let mut registry = zk_registry(&zk).await;
    assert!(registry.is_admitted(&agent_id(&gone)));
    assert!(
        registry
            .mark_gone(&agent_id(&gone), TimeInfo { nanoseconds: 1 })
            .await
            .unwrap()
    );
    // The leader's next write (admitting a second agent) conflicts: it steps down.
    let second = AgentProcess::start_for(&url, &AGENT_FLAGS);
    let (leader, term_after) = await_new_term(&masters, &term_before).await;
    assert_ne!(term_after, term_before);

    // The gone agent is refused; it comes back as a new agent, without its task.
    let agents = await_agents(leader, 2, &second).await;
    assert!(!agents.contains(&gone), "{agents:?}\n{}", agent.log());
    await_gone(task_pid, "the gone agent's task").await;
    let mut scheduler = Scheduler::subscribe(leader, &with_id(&info, &framework_id)).await;
    let status = reconcile_until_answered(&mut scheduler, leader, "long", &gone, SETTLE).await;
    assert_eq!(status["state"], "TASK_LOST", "{status}");

    let registry = zk_registry(&zk).await;
    assert!(registry.is_gone(&agent_id(&gone)));
    for id in &agents {
        assert!(registry.is_admitted(&agent_id(id)), "{id} not admitted");
    }
    leader.assert_alive().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Asserts that `nanos` (since the epoch) is within ten minutes of now: a wall-clock
/// time, not one counted from some master's start. (A correctness bound, far wider
/// than any test's run.)
fn assert_near_now(nanos: i64, what: &str) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let window = Duration::from_secs(600).as_nanos() as i64;
    assert!(
        (now - nanos).abs() < window,
        "{what} is {nanos} ns since the epoch; now is {now}"
    );
}

async fn master_id(master: &Master) -> String {
    let response = master.send(Request::get("/master/state")).await;
    assert_eq!(response.status, 200, "{response:?}");
    let state: Value = serde_json::from_slice(&response.body).unwrap();
    state["id"].as_str().unwrap().to_string()
}

/// Polls until one of `masters` leads under an id other than `before`.
async fn await_new_term<'a>(masters: &'a [Master], before: &str) -> (&'a Master, String) {
    let deadline = Instant::now() + SETTLE;
    loop {
        for master in masters {
            let response = master.send(Request::get("/master/state")).await;
            if response.status == 200 {
                let state: Value = serde_json::from_slice(&response.body).unwrap();
                if let Some(id) = state["id"].as_str()
                    && id != before
                {
                    return (master, id.to_string());
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "no master leads in a new term\n{}\n{}",
            masters[0].log(),
            masters[1].log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_master_missing_more_agents_than_the_recovery_limit_allows_exits() {
    let mut flags = default_flags();
    flags.push("--agent_reregister_timeout=10secs".into());
    flags.push("--recovery_agent_removal_limit=0%".into());
    flags.push("--agent_removal_rate_limit=1/10mins".into());
    let mut master = Master::start_with(&flags).await;
    for path in ["/flags", "/master/flags"] {
        let shown = get_json(&master, path).await;
        assert_eq!(
            shown["flags"]["recovery_agent_removal_limit"], "0%",
            "{shown}"
        );
        assert_eq!(
            shown["flags"]["agent_removal_rate_limit"], "1/10mins",
            "{shown}"
        );
    }
    let agent = Agent::start(&master, &AGENT_FLAGS).await;
    let agents = await_agent_ids(&master, 1, || agent.log()).await;

    // Frozen, the agent cannot re-register: all (one) of the recovered agents are
    // missing at --agent_reregister_timeout, more than 0% allows.
    agent.signal("STOP");
    master.restart(&flags).await;
    let code = master.await_exit(Duration::from_secs(90)).await;
    let log = master.log();
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains("--recovery_agent_removal_limit=0% exceeded"),
        "{log}"
    );

    // Nothing was written: a master with the default limit recovers it as admitted.
    let mut flags = default_flags();
    flags.push("--agent_reregister_timeout=10mins".into());
    master.restart(&flags).await;
    let state = get_json(&master, "/master/state").await;
    assert_eq!(
        state["recovered_slaves"][0]["id"],
        agents[0].as_str(),
        "{state}"
    );
    assert_eq!(state["unreachable_slaves"], 0.0, "{state}");
    assert_eq!(
        state["flags"]["recovery_agent_removal_limit"], "100%",
        "{state}"
    );
}

#[test]
fn bad_removal_limits_are_refused_naming_the_flag() {
    for (flag, value) in [
        ("--recovery_agent_removal_limit", "50"),
        ("--recovery_agent_removal_limit", "150%"),
        ("--agent_removal_rate_limit", "10mins"),
        ("--agent_removal_rate_limit", "0/10mins"),
    ] {
        let work_dir = fresh_dir("bad-removal-limit");
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_ratufa"))
            .args(["master", "--ip=127.0.0.1", "--port=0"])
            .arg(format!("--work_dir={}", work_dir.display()))
            .arg(format!("{flag}={value}"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{flag}={value}: {stderr}");
        assert!(
            stderr.contains(flag) && stderr.contains(value),
            "{flag}={value}: {stderr}"
        );
        let _ = std::fs::remove_dir_all(&work_dir);
    }
}

#[test]
fn an_agent_reregister_timeout_below_mesos_minimum_is_refused() {
    let work_dir = fresh_dir("short-reregister-timeout");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ratufa"))
        .args(["master", "--ip=127.0.0.1", "--port=0"])
        .arg(format!("--work_dir={}", work_dir.display()))
        .arg("--agent_reregister_timeout=9secs")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--agent_reregister_timeout") && stderr.contains("at least 10s"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&work_dir);
}

/// A new agent's first SUBSCRIBE as the real agent's link sends it (no id yet).
fn first_registration(index: usize) -> ratufa_proto::ratufa::agentlink::Call {
    use ratufa_proto::ratufa::agentlink::call;
    use ratufa_proto::v1::{AgentInfo, Resource, value};
    let scalar = |name: &str, amount: f64| Resource {
        name: name.into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value: amount }),
        ..Default::default()
    };
    ratufa_proto::ratufa::agentlink::Call {
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            agent_info: AgentInfo {
                hostname: format!("mid-write-{index}"),
                port: Some(5051),
                resources: vec![scalar("cpus", 1.0), scalar("mem", 128.0)],
                ..Default::default()
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// An agent (`first_registration(0)`) that registers, loses the answer, and registers
/// again from the same address until answered. Returns the id of its first
/// registration, the id it was answered with, and its stream.
async fn registered_twice(
    master: &Master,
    link: &ratufa_agent::link::MasterLink,
) -> (String, String, ratufa_agent::link::CommandStream) {
    use ratufa_proto::ratufa::agentlink::command;

    // The first SUBSCRIBE is admitted (written to the registry), but the agent drops
    // its stream without reading the answer.
    drop(link.subscribe(&first_registration(0)).await.unwrap());
    // Registered once the write is done, connected or not.
    let deadline = Instant::now() + Duration::from_secs(30);
    let first = loop {
        let state = get_json(master, "/master/state").await;
        if let Some(slave) = state["slaves"].as_array().unwrap().first() {
            break slave["id"].as_str().unwrap().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "the first registration never took"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    // It registers again from the same address, as a new agent (it has no id), until
    // answered (an attempt while the first is still being written is turned away).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(
            Instant::now() < deadline,
            "never answered\n{}",
            master.log()
        );
        if let Ok(mut stream) = link.subscribe(&first_registration(0)).await {
            while let Ok(Some(received)) = stream.next().await {
                if received.r#type() == command::Type::Subscribed {
                    let id = received.subscribed.unwrap().agent_id.value;
                    return (first, id, stream);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_agent_that_lost_its_first_answer_and_registers_again_is_one_agent() {
    let master = Master::start().await;
    let link =
        ratufa_agent::link::MasterLink::new(&format!("127.0.0.1:{}", master.port()), None).unwrap();
    let (_, id, _stream) = registered_twice(&master, &link).await;

    // One agent: the one answered, connected; no ghost holding the same resources.
    let state = get_json(&master, "/master/state").await;
    let slaves = state["slaves"].as_array().unwrap();
    assert_eq!(slaves.len(), 1, "{state}");
    assert_eq!(slaves[0]["id"], id, "{state}");
    assert_eq!(slaves[0]["active"], true, "{state}");
    assert_eq!(slaves[0]["hostname"], "mid-write-0", "{state}");
}

#[tokio::test]
async fn the_id_of_an_agent_replaced_at_its_address_is_refused_after() {
    use ratufa_proto::ratufa::agentlink::command;

    let master = Master::start().await;
    let link =
        ratufa_agent::link::MasterLink::new(&format!("127.0.0.1:{}", master.port()), None).unwrap();
    let (first, id, _stream) = registered_twice(&master, &link).await;
    assert_ne!(first, id);

    // Something comes back under the removed first id (an agent restarted on that
    // machine's old work_dir, at another port): it is told it was removed, and stays out.
    let mut back = first_registration(0);
    let subscribe = back.subscribe.as_mut().unwrap();
    subscribe.agent_info.port = Some(5052);
    subscribe.agent_info.id = Some(agent_id(&first));
    let mut stream = link.subscribe(&back).await.unwrap();
    let received = stream
        .next()
        .await
        .unwrap()
        .expect("an answer before the stream ends");
    assert_eq!(received.r#type(), command::Type::Error, "{received:?}");
    let message = received.error.unwrap().message;
    assert!(message.contains("was removed"), "{message}");
    assert!(
        matches!(stream.next().await, Ok(None) | Err(_)),
        "the stream stays open"
    );

    let state = get_json(&master, "/master/state").await;
    let slaves = state["slaves"].as_array().unwrap();
    assert_eq!(slaves.len(), 1, "{state}");
    assert_eq!(slaves[0]["id"], id, "{state}");
}

#[tokio::test]
async fn a_master_killed_mid_write_recovers_every_agent_it_answered() {
    killed_mid_write_and_restarted(default_flags()).await;
}

#[tokio::test]
async fn a_leader_killed_mid_write_to_zookeeper_recovers_every_agent_it_answered() {
    if !zookeeper::require() {
        return;
    }
    let zk = ZooKeeper::standalone();
    // The restarted master waits for its dead self's session to expire, then leads
    // again and reads the registry from ZooKeeper.
    killed_mid_write_and_restarted(zk_flags(&zk.url("/mesos"))).await;
}

/// A master started with `flags` admits new agents; it is SIGKILLed while admissions
/// are still being written and started again with the same flags and work_dir. Its
/// registry must be whole and hold every agent it had answered SUBSCRIBED (it answers
/// only after the write).
async fn killed_mid_write_and_restarted(flags: Vec<String>) {
    use ratufa_agent::link::MasterLink;
    use ratufa_proto::ratufa::agentlink::command;
    const AGENTS: usize = 400;

    let mut master = Master::start_with(&flags).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while master.send(Request::get("/master/state")).await.status != 200 {
        assert!(Instant::now() < deadline, "the master never led");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let link = MasterLink::new(&format!("127.0.0.1:{}", master.port()), None).unwrap();
    // Every id the master answered SUBSCRIBED with: it promised to have written it.
    let answered = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let agents: Vec<_> = (0..AGENTS)
        .map(|i| {
            let (link, answered) = (link.clone(), answered.clone());
            tokio::spawn(async move {
                let Ok(mut stream) = link.subscribe(&first_registration(i)).await else {
                    return;
                };
                while let Ok(Some(received)) = stream.next().await {
                    if received.r#type() == command::Type::Subscribed {
                        let id = received.subscribed.map(|s| s.agent_id.value);
                        answered.lock().unwrap().extend(id);
                    }
                }
            })
        })
        .collect();
    // SIGKILL while admissions are still being written: some agents answered, not all.
    let deadline = Instant::now() + Duration::from_secs(60);
    while answered.lock().unwrap().len() < AGENTS / 8 {
        assert!(Instant::now() < deadline, "agents were not admitted");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    master.kill();
    let before: Vec<String> = answered.lock().unwrap().clone();
    for agent in agents {
        agent.abort();
    }
    assert!(
        before.len() < AGENTS,
        "every agent was admitted before the kill: nothing was cut"
    );

    // The registry a write was cut in the middle of is whole: the master comes back
    // and lists every agent it had answered as recovered.
    master.restart(&flags).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let state = loop {
        let response = master.send(Request::get("/master/state")).await;
        if response.status == 200 {
            break serde_json::from_slice::<Value>(&response.body).unwrap();
        }
        assert!(Instant::now() < deadline, "no state: {response:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let recovered: std::collections::BTreeSet<&str> = state["recovered_slaves"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|agent| agent["id"].as_str())
        .collect();
    for id in &before {
        assert!(
            recovered.contains(id.as_str()),
            "agent {id} was answered before the kill but is not in the registry; recovered: {}",
            recovered.len()
        );
    }
    master.assert_alive().await;
}
