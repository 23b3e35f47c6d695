//! End to end over real sockets against the real binary: offers, tasks and agents
//! (issue #3's "Done when").
//!
//! - a scheduler on `ratufa local --num_agents 2` is offered both agents, launches 100
//!   tasks in two ACCEPTs and sees STARTING/RUNNING/FINISHED with uuids, acking them;
//!   `/master/state` and `/metrics/snapshot` show what happened;
//! - a failing command gives TASK_FAILED "Command exited with status 3"; KILL gives
//!   TASK_KILLED;
//! - DECLINE with refuse_seconds 30 keeps that agent's offers away until REVIVE;
//!   SUPPRESS stops offers;
//! - a `ratufa agent` process killed with SIGKILL makes its tasks TASK_LOST, or
//!   TASK_UNREACHABLE for a PARTITION_AWARE framework;
//! - implicit and explicit RECONCILE answer per case;
//! - every update the master writes itself (LOST, UNREACHABLE, reconciliation
//!   answers, TASK_ERROR, TASK_DROPPED) carries the wall-clock time it was written;
//! - two frameworks in roles weighted 1 and 3 share the cluster 1:3;
//! - a framework's `offer_filters` keep offers below its minimum away (another
//!   framework gets them) until UPDATE_FRAMEWORK lowers it; bad filters refuse SUBSCRIBE.
//!
//! Waits are bounded by deadlines; windows in which nothing may happen are a couple of
//! allocation intervals, so the suite takes seconds.

// Test scaffolding: a failure here should fail the test loudly.
#![allow(clippy::unwrap_used)]

#[path = "support/cluster.rs"]
mod cluster;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Value, json};

use cluster::{
    AgentProcess, Scheduler, assert_stamped_since, command_task, get_json, offered, wall_seconds,
};
use support::{FAST_HEARTBEAT, Master, flags_with_heartbeat};

/// Two allocation intervals and some: long enough that an offer that was going to
/// come would have.
const QUIET: Duration = Duration::from_millis(2500);

fn local_flags(agents: u32, extra: &[&str]) -> Vec<String> {
    let mut flags = flags_with_heartbeat(FAST_HEARTBEAT);
    flags.push(format!("--num_agents={agents}"));
    flags.push("--resources=cpus:4;mem:1024".to_string());
    flags.extend(extra.iter().map(|s| s.to_string()));
    flags
}

async fn local(agents: u32, extra: &[&str]) -> Master {
    Master::start_as("local", &local_flags(agents, extra)).await
}

fn framework(name: &str, capabilities: &[&str]) -> Value {
    let capabilities: Vec<Value> = capabilities.iter().map(|c| json!({"type": c})).collect();
    json!({"user": "root", "name": name, "capabilities": capabilities})
}

/// Reads OFFERS until offers from `agents` distinct agents are held; returns them by
/// agent id (the latest offer of each).
async fn offers_from(
    master: &Master,
    scheduler: &mut Scheduler,
    agents: usize,
) -> BTreeMap<String, Value> {
    let mut by_agent = BTreeMap::new();
    while by_agent.len() < agents {
        for offer in scheduler.offers(master).await {
            let agent = offer["agent_id"]["value"].as_str().unwrap().to_string();
            by_agent.insert(agent, offer);
        }
    }
    by_agent
}

/// Offers that arrive within `within`, by agent id (declined at once with `refuse`).
async fn offers_during(
    master: &Master,
    scheduler: &mut Scheduler,
    within: Duration,
    refuse: f64,
) -> BTreeSet<String> {
    let deadline = std::time::Instant::now() + within;
    let mut agents = BTreeSet::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return agents;
        }
        let Some(event) = scheduler.next_within(master, left).await else {
            return agents;
        };
        if event["type"] != "OFFERS" {
            continue;
        }
        for offer in event["offers"]["offers"].as_array().unwrap() {
            agents.insert(offer["agent_id"]["value"].as_str().unwrap().to_string());
            scheduler.decline(master, &offer["id"], refuse).await;
        }
    }
}

#[tokio::test]
async fn a_hundred_tasks_on_two_agents_run_to_completion() {
    let master = local(2, &[]).await;
    let mut scheduler = Scheduler::subscribe(&master, &framework("hundred", &[])).await;
    let offers = offers_from(&master, &mut scheduler, 2).await;
    assert_eq!(offers.len(), 2, "offers from both agents: {offers:?}");
    for offer in offers.values() {
        assert_eq!(offered(offer, "cpus"), 4.0, "{offer}");
        assert_eq!(offered(offer, "mem"), 1024.0, "{offer}");
        assert_eq!(offer["framework_id"]["value"], scheduler.id());
    }

    // Fifty tasks per agent, one ACCEPT each.
    let mut expected = BTreeSet::new();
    for (n, offer) in offers.values().enumerate() {
        let tasks: Vec<Value> = (0..50)
            .map(|i| {
                let id = format!("task-{n}-{i}");
                expected.insert(id.clone());
                let command = if i % 2 == 0 { "true" } else { "sleep 0.1" };
                command_task(&id, &offer["agent_id"], 0.05, 8.0, command)
            })
            .collect();
        scheduler
            .launch(&master, &[&offer["id"]], tasks, 30.0)
            .await;
    }

    // Every task goes STARTING → RUNNING → FINISHED, each update with its own uuid.
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut uuids = BTreeSet::new();
    let mut finished = 0;
    while finished < expected.len() {
        let event = scheduler.next(&master).await;
        if event["type"] != "UPDATE" {
            continue;
        }
        let status = &event["update"]["status"];
        let task = status["task_id"]["value"].as_str().unwrap().to_string();
        let state = status["state"].as_str().unwrap().to_string();
        assert!(
            expected.contains(&task),
            "update for an unknown task: {event}"
        );
        let uuid = status["uuid"]
            .as_str()
            .unwrap_or_else(|| panic!("no uuid: {event}"));
        assert!(uuids.insert(uuid.to_string()), "a uuid used twice: {event}");
        assert_eq!(status["source"], "SOURCE_EXECUTOR", "{event}");
        assert!(status["agent_id"]["value"].is_string(), "{event}");
        if state == "TASK_FINISHED" {
            finished += 1;
        }
        seen.entry(task).or_default().push(state);
    }
    for (task, states) in &seen {
        assert_eq!(
            states,
            &["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"],
            "{task}"
        );
    }

    // The master's books agree once the last acknowledgement is in.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let metrics = loop {
        let metrics = get_json(&master, "/metrics/snapshot").await;
        if metrics["master/tasks_finished"] == 100.0 && metrics["master/tasks_running"] == 0.0 {
            break metrics;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "metrics never showed 100 finished tasks: {metrics}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(metrics["master/slave_registrations"], 2.0);
    assert_eq!(metrics["master/frameworks_active"], 1.0);
    assert!(metrics["master/offers_sent"].as_f64().unwrap() >= 2.0);
    let state = get_json(&master, "/master/state").await;
    assert_eq!(state["activated_slaves"], 2.0);
    let framework = &state["frameworks"][0];
    assert_eq!(framework["id"], scheduler.id());
    let completed = framework["completed_tasks"].as_array().unwrap();
    assert_eq!(completed.len(), 100, "{framework}");
    assert!(
        completed.iter().all(|t| t["state"] == "TASK_FINISHED"),
        "{completed:?}"
    );
    assert_eq!(framework["tasks"].as_array().unwrap().len(), 0);
    master.assert_alive().await;
}

#[tokio::test]
async fn a_failing_command_fails_and_a_kill_kills() {
    let master = local(1, &[]).await;
    let mut scheduler = Scheduler::subscribe(&master, &framework("fail-kill", &[])).await;
    let offer = scheduler.offers(&master).await.remove(0);
    let tasks = vec![
        command_task("fails", &offer["agent_id"], 0.1, 32.0, "exit 3"),
        command_task("sleeps", &offer["agent_id"], 0.1, 32.0, "sleep 100"),
    ];
    scheduler
        .launch(&master, &[&offer["id"]], tasks, 30.0)
        .await;

    let failed = scheduler.await_state(&master, "fails", "TASK_FAILED").await;
    assert_eq!(
        failed["message"], "Command exited with status 3",
        "{failed}"
    );

    scheduler
        .await_state(&master, "sleeps", "TASK_RUNNING")
        .await;
    let kill = json!({
        "type": "KILL",
        "framework_id": {"value": scheduler.id()},
        "kill": {"task_id": {"value": "sleeps"}, "agent_id": offer["agent_id"]},
    });
    scheduler.call(&master, kill).await;
    let killed = scheduler
        .await_state(&master, "sleeps", "TASK_KILLED")
        .await;
    assert_eq!(killed["source"], "SOURCE_EXECUTOR", "{killed}");

    // The sandbox kept what the failing command wrote (and the layout Mesos uses).
    let state = get_json(&master, "/master/state").await;
    let completed = state["frameworks"][0]["completed_tasks"]
        .as_array()
        .unwrap();
    let states: BTreeSet<&str> = completed
        .iter()
        .map(|t| t["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, BTreeSet::from(["TASK_FAILED", "TASK_KILLED"]));
    let metrics = get_json(&master, "/metrics/snapshot").await;
    assert_eq!(metrics["master/tasks_failed"], 1.0);
    assert_eq!(metrics["master/tasks_killed"], 1.0);
    master.assert_alive().await;
}

#[tokio::test]
async fn a_decline_filter_keeps_an_agent_away_until_revive() {
    let master = local(2, &[]).await;
    let mut scheduler = Scheduler::subscribe(&master, &framework("decliner", &[])).await;
    let offers = offers_from(&master, &mut scheduler, 2).await;
    let mut agents = offers.keys();
    let (filtered, other) = (
        agents.next().unwrap().clone(),
        agents.next().unwrap().clone(),
    );
    scheduler
        .decline(&master, &offers[&filtered]["id"], 30.0)
        .await;
    scheduler.decline(&master, &offers[&other]["id"], 1.0).await;

    // The other agent comes back after its one-second filter; the filtered one not.
    let seen = offers_during(&master, &mut scheduler, QUIET, 1.0).await;
    assert!(
        seen.contains(&other),
        "the 1 s filter should expire: {seen:?}"
    );
    assert!(
        !seen.contains(&filtered),
        "offered despite a 30 s filter: {seen:?}"
    );

    // REVIVE clears the filter.
    scheduler.bare(&master, "REVIVE").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let offers = scheduler.offers(&master).await;
        if offers
            .iter()
            .any(|o| o["agent_id"]["value"] == filtered.as_str())
        {
            break;
        }
        for offer in &offers {
            scheduler.decline(&master, &offer["id"], 1.0).await;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "REVIVE brought nothing back"
        );
    }
    let metrics = get_json(&master, "/metrics/snapshot").await;
    assert!(
        metrics["master/offers_declined"].as_f64().unwrap() >= 2.0,
        "{metrics}"
    );
    assert!(metrics["master/messages_revive_offers"].as_f64().unwrap() >= 1.0);
}

#[tokio::test]
async fn suppress_stops_offers_and_revive_resumes_them() {
    let master = local(1, &[]).await;
    let mut scheduler = Scheduler::subscribe(&master, &framework("suppressor", &[])).await;
    let offer = scheduler.offers(&master).await.remove(0);
    scheduler.bare(&master, "SUPPRESS").await;
    // Declined with no filter at all: only the suppression keeps it from coming back.
    scheduler.decline(&master, &offer["id"], 0.0).await;
    let seen = offers_during(&master, &mut scheduler, QUIET, 0.0).await;
    assert!(seen.is_empty(), "offers while suppressed: {seen:?}");

    scheduler.bare(&master, "REVIVE").await;
    let offers = scheduler.offers(&master).await;
    assert_eq!(offers[0]["agent_id"], offer["agent_id"]);
    let metrics = get_json(&master, "/metrics/snapshot").await;
    assert_eq!(metrics["master/messages_suppress_offers"], 1.0);
}

#[tokio::test]
async fn a_killed_agent_loses_its_tasks_per_partition_awareness() {
    let mut flags = flags_with_heartbeat(FAST_HEARTBEAT);
    flags.push("--agent_ping_timeout=1secs".to_string());
    flags.push("--max_agent_ping_timeouts=2".to_string());
    let master = Master::start_with(&flags).await;
    let mut agent = AgentProcess::start(&master, &["--resources=cpus:2;mem:256"]);

    // Each framework in turn takes a slice of the one agent.
    let mut plain = Scheduler::subscribe(&master, &framework("plain", &[])).await;
    let offer = plain.offers(&master).await.remove(0);
    let agent_id = offer["agent_id"].clone();
    plain
        .launch(
            &master,
            &[&offer["id"]],
            vec![command_task(
                "plain-task",
                &agent_id,
                0.5,
                32.0,
                "sleep 100",
            )],
            60.0,
        )
        .await;
    plain
        .await_state(&master, "plain-task", "TASK_RUNNING")
        .await;

    let mut aware = Scheduler::subscribe(&master, &framework("aware", &["PARTITION_AWARE"])).await;
    let offer = aware.offers(&master).await.remove(0);
    assert_eq!(offer["agent_id"], agent_id);
    aware
        .launch(
            &master,
            &[&offer["id"]],
            vec![command_task(
                "aware-task",
                &agent_id,
                0.5,
                32.0,
                "sleep 100",
            )],
            60.0,
        )
        .await;
    aware
        .await_state(&master, "aware-task", "TASK_RUNNING")
        .await;

    let killed_at = wall_seconds();
    agent.kill();

    let lost = plain.await_state(&master, "plain-task", "TASK_LOST").await;
    assert_eq!(lost["source"], "SOURCE_MASTER", "{lost}");
    assert_stamped_since(&lost, killed_at);
    assert!(
        lost.get("uuid").is_none(),
        "master updates carry no uuid: {lost}"
    );
    let unreachable = aware
        .await_state(&master, "aware-task", "TASK_UNREACHABLE")
        .await;
    assert_eq!(unreachable["source"], "SOURCE_MASTER", "{unreachable}");
    assert_stamped_since(&unreachable, killed_at);
    // The time the agent was marked unreachable is the update's own.
    let marked = unreachable["unreachable_time"]["nanoseconds"]
        .as_f64()
        .unwrap()
        / 1e9;
    assert!(
        (marked - unreachable["timestamp"].as_f64().unwrap()).abs() < 1e-3,
        "{unreachable}"
    );
    // And the framework is told the agent is gone.
    let failure = plain.expect(&master, "FAILURE").await;
    assert_eq!(failure["failure"]["agent_id"], agent_id, "{failure}");

    let metrics = get_json(&master, "/metrics/snapshot").await;
    assert_eq!(metrics["master/slaves_unreachable"], 1.0, "{metrics}");
    assert_eq!(metrics["master/tasks_lost"], 1.0, "{metrics}");
    assert_eq!(metrics["master/tasks_unreachable"], 1.0, "{metrics}");
    master.assert_alive().await;
}

#[tokio::test]
async fn reconciliation_answers_per_case() {
    let master = local(1, &[]).await;
    let mut scheduler =
        Scheduler::subscribe(&master, &framework("reconciler", &["PARTITION_AWARE"])).await;
    let offer = scheduler.offers(&master).await.remove(0);
    let agent_id = offer["agent_id"].clone();
    scheduler
        .launch(
            &master,
            &[&offer["id"]],
            vec![command_task("known", &agent_id, 0.1, 32.0, "sleep 100")],
            60.0,
        )
        .await;
    scheduler
        .await_state(&master, "known", "TASK_RUNNING")
        .await;

    let framework_id = scheduler.id().to_string();
    let reconcile = |tasks: Value| {
        json!({"type": "RECONCILE", "framework_id": {"value": framework_id},
               "reconcile": {"tasks": tasks}})
    };
    // Implicit: the latest state of every task the master knows, stamped with the
    // time of the answer (as Mesos does), not that of the state it repeats.
    let asked_at = wall_seconds();
    scheduler.call(&master, reconcile(json!([]))).await;
    let update = scheduler.expect(&master, "UPDATE").await;
    let status = &update["update"]["status"];
    assert_eq!(status["task_id"]["value"], "known");
    assert_eq!(status["state"], "TASK_RUNNING");
    assert_eq!(status["reason"], "REASON_RECONCILIATION");
    assert_eq!(status["source"], "SOURCE_MASTER");
    assert!(status.get("uuid").is_none(), "{status}");
    assert_stamped_since(status, asked_at);

    // Explicit: known → its state; unknown on a registered agent → TASK_GONE; unknown
    // with no agent → TASK_UNKNOWN (partition-aware framework: no TASK_LOST).
    let asked_at = wall_seconds();
    scheduler
        .call(
            &master,
            reconcile(json!([
                {"task_id": {"value": "known"}},
                {"task_id": {"value": "ghost"}, "agent_id": agent_id},
                {"task_id": {"value": "nowhere"}},
            ])),
        )
        .await;
    let mut answers = BTreeMap::new();
    while answers.len() < 3 {
        let update = scheduler.expect(&master, "UPDATE").await;
        let status = &update["update"]["status"];
        assert_eq!(status["reason"], "REASON_RECONCILIATION", "{status}");
        assert_stamped_since(status, asked_at);
        answers.insert(
            status["task_id"]["value"].as_str().unwrap().to_string(),
            status["state"].as_str().unwrap().to_string(),
        );
    }
    assert_eq!(answers["known"], "TASK_RUNNING");
    assert_eq!(answers["ghost"], "TASK_GONE");
    assert_eq!(answers["nowhere"], "TASK_UNKNOWN");

    // A framework that is not partition-aware hears TASK_LOST for the unknowns.
    let mut plain = Scheduler::subscribe(&master, &framework("plain", &[])).await;
    let asked_at = wall_seconds();
    plain
        .call(
            &master,
            json!({"type": "RECONCILE", "framework_id": {"value": plain.id()},
                   "reconcile": {"tasks": [{"task_id": {"value": "ghost"}, "agent_id": agent_id}]}}),
        )
        .await;
    let update = plain.expect(&master, "UPDATE").await;
    assert_eq!(update["update"]["status"]["state"], "TASK_LOST", "{update}");
    assert_stamped_since(&update["update"]["status"], asked_at);
}

#[tokio::test]
async fn updates_the_master_writes_for_refused_launches_and_kills_carry_their_time() {
    let master = local(1, &[]).await;
    let mut scheduler =
        Scheduler::subscribe(&master, &framework("stamped", &["PARTITION_AWARE"])).await;
    let offer = scheduler.offers(&master).await.remove(0);
    let agent_id = offer["agent_id"].clone();

    // More than offered: TASK_ERROR from validation.
    let asked_at = wall_seconds();
    scheduler
        .launch(
            &master,
            &[&offer["id"]],
            vec![command_task("greedy", &agent_id, 400.0, 32.0, "true")],
            0.0,
        )
        .await;
    let error = scheduler.await_state(&master, "greedy", "TASK_ERROR").await;
    assert_eq!(error["source"], "SOURCE_MASTER", "{error}");
    assert_stamped_since(&error, asked_at);

    // An offer id the master never made: TASK_DROPPED (partition-aware), invalid offers.
    let asked_at = wall_seconds();
    scheduler
        .launch(
            &master,
            &[&json!({"value": "no-such-offer"})],
            vec![command_task("orphan", &agent_id, 0.1, 32.0, "true")],
            0.0,
        )
        .await;
    let dropped = scheduler
        .await_state(&master, "orphan", "TASK_DROPPED")
        .await;
    assert_eq!(dropped["reason"], "REASON_INVALID_OFFERS", "{dropped}");
    assert_stamped_since(&dropped, asked_at);

    // KILL of a task the master does not know: answered by reconciliation.
    let asked_at = wall_seconds();
    scheduler
        .call(
            &master,
            json!({"type": "KILL", "framework_id": {"value": scheduler.id()},
                   "kill": {"task_id": {"value": "never-launched"}}}),
        )
        .await;
    let unknown = scheduler
        .await_state(&master, "never-launched", "TASK_UNKNOWN")
        .await;
    assert_eq!(unknown["reason"], "REASON_RECONCILIATION", "{unknown}");
    assert_stamped_since(&unknown, asked_at);
}

#[tokio::test]
async fn roles_weighted_one_and_three_share_the_cluster_one_to_three() {
    let master = local(2, &["--weights=light=1,heavy=3"]).await;
    let info = |name: &str, role: &str| {
        let mut info = framework(name, &[]);
        info["role"] = json!(role);
        info
    };
    let mut light = Scheduler::subscribe(&master, &info("light", "light")).await;
    let mut heavy = Scheduler::subscribe(&master, &info("heavy", "heavy")).await;

    // Each framework takes one task of 0.25 cpus per offer and hands the rest back at
    // once, so every allocation decides afresh who is furthest below its share. Tasks
    // hold their cpus (they sleep) until the cluster's 8 cpus are used.
    let mut launched = BTreeMap::from([("light", 0u32), ("heavy", 0u32)]);
    let mut n = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while launched.values().sum::<u32>() < 32 {
        assert!(
            std::time::Instant::now() < deadline,
            "the cluster never filled up: {launched:?}"
        );
        for (name, scheduler) in [("light", &mut light), ("heavy", &mut heavy)] {
            let Some(event) = scheduler
                .next_within(&master, Duration::from_millis(20))
                .await
            else {
                continue;
            };
            if event["type"] != "OFFERS" {
                continue;
            }
            for offer in event["offers"]["offers"].as_array().unwrap() {
                if offered(offer, "cpus") >= 0.25 && offered(offer, "mem") >= 16.0 {
                    n += 1;
                    let task = command_task(
                        &format!("{name}-{n}"),
                        &offer["agent_id"],
                        0.25,
                        16.0,
                        "sleep 100",
                    );
                    scheduler
                        .launch(&master, &[&offer["id"]], vec![task], 0.0)
                        .await;
                    *launched.get_mut(name).unwrap() += 1;
                } else {
                    // Memory left over on a full agent: not wanted again.
                    scheduler.decline(&master, &offer["id"], 60.0).await;
                }
            }
        }
    }
    // 8 cpus split 1:3 is 2 and 6: 8 tasks and 24, give or take the last tie.
    let (light_tasks, heavy_tasks) = (launched["light"], launched["heavy"]);
    assert!(
        (7..=9).contains(&light_tasks) && (23..=25).contains(&heavy_tasks),
        "light {light_tasks}, heavy {heavy_tasks}: not 1:3"
    );
}

#[test]
fn bad_flags_exit_with_1_and_say_what_is_wrong() {
    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_ratufa"))
            .args(args)
            .output()
            .expect("run ratufa");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    for (args, says) in [
        (&["agent", "--work_dir=/tmp/x"][..], "--master"),
        (
            &["agent", "--master=localhost", "--work_dir=/tmp/x"][..],
            "host:port",
        ),
        (&["master", "--weights=a=x"][..], "--weights"),
        (
            &["master", "--min_allocatable_resources=cpus:x"][..],
            "--min_allocatable_resources",
        ),
        (&["master", "--agent_ping_timeout=15"][..], "unit"),
        (&["local", "--num_agents=lots"][..], "--num_agents"),
        (
            &[
                "local",
                "--num_agents=1",
                "--resources=cpus:lots",
                "--port=0",
                "--ip=127.0.0.1",
            ][..],
            "--resources",
        ),
    ] {
        let (code, stderr) = run(args);
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains(says),
            "{args:?} should mention {says}: {stderr}"
        );
    }
    let (code, stdout) = {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_ratufa"))
            .args(["agent", "--help"])
            .output()
            .expect("run ratufa");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    assert_eq!(code, Some(0));
    for flag in [
        "--master",
        "--work_dir",
        "--resources",
        "--attributes",
        "--default_role",
    ] {
        assert!(stdout.contains(flag), "agent --help lacks {flag}");
    }
}

/// `offer_filters` asking for at least `cpus` in role `*`.
fn min_cpus(cpus: f64) -> Value {
    json!({"*": {"min_allocatable_resources": {"quantities": [{"quantities": {"cpus": {"value": cpus}}}]}}})
}

#[tokio::test]
async fn a_frameworks_offer_filters_keep_smaller_offers_away_until_it_updates_them() {
    let master = local(1, &[]).await; // one agent: cpus:4;mem:1024

    // Refused at SUBSCRIBE, naming the field: an alternative without quantities.
    let mut bad = framework("bad", &[]);
    bad["offer_filters"] =
        json!({"*": {"min_allocatable_resources": {"quantities": [{"quantities": {}}]}}});
    let mut stream = master
        .open(support::subscribe_request(&support::subscribe_call(&bad)))
        .await
        .unwrap_or_else(|r| panic!("the refusal comes on the stream: {r:?}"));
    let error = stream.json().await;
    assert_eq!(error["type"], "ERROR", "{error}");
    let message = error["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("'FrameworkInfo.offer_filters' for role '*'"),
        "{error}"
    );

    // `picky` subscribes first, so it would be first in DRF order; it wants 8 cpus,
    // more than the agent has, and so the agent goes to `plain`.
    let mut picky_info = framework("picky", &[]);
    picky_info["offer_filters"] = min_cpus(8.0);
    let mut picky = Scheduler::subscribe(&master, &picky_info).await;
    let mut plain = Scheduler::subscribe(&master, &framework("plain", &[])).await;
    let offers = plain.offers(&master).await;
    assert_eq!(offers.len(), 1, "{offers:?}");
    assert!(
        picky.next_within(&master, QUIET).await.is_none(),
        "picky was offered less than it asked for"
    );

    // UPDATE_FRAMEWORK lowers picky's minimum; the agent, declined by plain, goes to
    // picky now.
    let mut info = picky.framework.info.clone();
    info["offer_filters"] = min_cpus(1.0);
    let update = json!({"type": "UPDATE_FRAMEWORK", "framework_id": {"value": picky.id()},
                        "update_framework": {"framework_info": info}});
    let response = picky.framework.call(&master, &update).await;
    assert_eq!(response.status, 200, "UPDATE_FRAMEWORK: {response:?}");
    plain.decline(&master, &offers[0]["id"], 3600.0).await;
    let offers = picky.offers(&master).await;
    assert_eq!(offers.len(), 1, "{offers:?}");
}

/// LIBPROCESS_NUM_WORKER_THREADS sizes the worker pool as it sizes libprocess's: 1 to
/// 1024 is taken; anything else is ignored with a warning naming it, as Mesos does.
#[tokio::test]
async fn libprocess_num_worker_threads_sizes_the_worker_pool() {
    let start = |value: &str| {
        let env = [(
            "LIBPROCESS_NUM_WORKER_THREADS".to_string(),
            value.to_string(),
        )];
        async move { Master::launch("local", &local_flags(1, &[]), &env, None).await }
    };
    let one = start("1").await;
    assert!(
        one.log().contains("runtime started workers=1"),
        "{}",
        one.log()
    );
    drop(one);
    let three = start("3").await;
    assert!(three.log().contains("runtime started workers=3"));
    drop(three);
    let cores = std::thread::available_parallelism().unwrap().get();
    let bad = start("0").await;
    let log = bad.log();
    assert!(
        log.contains("Ignoring invalid value '0' for LIBPROCESS_NUM_WORKER_THREADS"),
        "{log}"
    );
    assert!(
        log.contains(&format!("runtime started workers={cores}")),
        "{log}"
    );
}
