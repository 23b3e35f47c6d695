//! End to end against the real binary: the master's operator API, `POST /api/v1` with a
//! `mesos.v1.master.Call`, and partition awareness (issue #5 item 5), on `ratufa
//! master` with separate `ratufa agent` processes.
//!
//! - every served call (GET_HEALTH, GET_FLAGS, GET_VERSION, GET_METRICS, GET_STATE,
//!   GET_AGENTS, GET_FRAMEWORKS, GET_EXECUTORS, GET_TASKS, GET_ROLES, GET_WEIGHTS,
//!   UPDATE_WEIGHTS, GET_MASTER, TEARDOWN) answers in JSON (checked under Mesos's
//!   field names) and in protobuf (decoded as a master `Response`); bad input is
//!   refused with the right status and a message naming the fault;
//! - MARK_AGENT_GONE on an agent running a task of a PARTITION_AWARE framework and one
//!   of another: TASK_GONE_BY_OPERATOR and TASK_LOST; the agent is refused under its
//!   old id (it kills its tasks and starts over as a new agent); RECONCILE says the
//!   same; marking it again is 200, an unknown agent 404;
//! - an agent stopped with SIGSTOP becomes unreachable: TASK_UNREACHABLE to the
//!   partition-aware framework, TASK_LOST to the other; after SIGCONT it comes back,
//!   the partition-aware task is RUNNING again and the other is killed.

// Test scaffolding: a failure here should fail the test loudly.
#![allow(clippy::unwrap_used)]

#[path = "support/agent.rs"]
mod agent;
#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/operator.rs"]
mod operator;
mod support;

use std::time::Duration;

use prost::Message as _;
use ratufa_proto::v1::master::{Call, Response, call, response};
use serde_json::{Value, json};

use agent::{Agent, wait_for};
use cluster::{Scheduler, command_task, get_json};
use operator::{api_request, find, metric};
use support::{FAST_HEARTBEAT, JSON, Master, PATIENCE, PROTOBUF, Request, flags_with_heartbeat};

const API: &str = "/api/v1";

/// POSTs `call` in JSON asking for JSON; 200 expected; the parsed body (null if none).
async fn json_call(master: &Master, call: &Value) -> Value {
    let response = master
        .send(api_request(API, JSON, JSON, call.to_string()))
        .await;
    assert_eq!(response.status, 200, "{call}: {response:?}");
    if response.body.is_empty() {
        return Value::Null;
    }
    assert_eq!(response.header("Content-Type"), Some(JSON), "{call}");
    serde_json::from_slice(&response.body).unwrap_or_else(|e| panic!("{call}: {e}"))
}

/// POSTs a protobuf Call asking for protobuf; 200 expected; the decoded body.
async fn proto_call(master: &Master, message: Call) -> Response {
    let kind = message.r#type;
    let response = master
        .send(api_request(
            "/master/api/v1",
            PROTOBUF,
            PROTOBUF,
            message.encode_to_vec(),
        ))
        .await;
    assert_eq!(response.status, 200, "{kind:?}: {response:?}");
    assert_eq!(response.header("Content-Type"), Some(PROTOBUF), "{kind:?}");
    Response::decode(response.body.as_slice())
        .unwrap_or_else(|e| panic!("{kind:?}: not a protobuf master Response: {e}"))
}

fn bare(kind: call::Type) -> Call {
    Call {
        r#type: Some(kind as i32),
        ..Call::default()
    }
}

fn framework(name: &str, capabilities: &[&str]) -> Value {
    let capabilities: Vec<Value> = capabilities.iter().map(|c| json!({"type": c})).collect();
    json!({"user": "root", "name": name, "role": "ops", "capabilities": capabilities})
}

/// A master that notices a silent agent within seconds.
async fn master() -> Master {
    let mut flags = flags_with_heartbeat(FAST_HEARTBEAT);
    flags.push("--agent_ping_timeout=1secs".to_string());
    flags.push("--max_agent_ping_timeouts=2".to_string());
    flags.push("--weights=ops=2".to_string());
    Master::start_with(&flags).await
}

/// Subscribes `name` and runs one `sleep` task named `task` on the agent; the agent id.
async fn running_task(
    master: &Master,
    name: &str,
    capabilities: &[&str],
    task: &str,
) -> (Scheduler, Value) {
    let mut scheduler = Scheduler::subscribe(master, &framework(name, capabilities)).await;
    let offer = scheduler.offers(master).await.remove(0);
    // As Mesos: the agent's name, and the address it is reached at.
    let address = &offer["url"]["address"];
    assert_eq!(address["hostname"], "localhost", "{offer}");
    assert_eq!(address["ip"], "127.0.0.1", "{offer}");
    let agent_id = offer["agent_id"].clone();
    scheduler
        .launch(
            master,
            &[&offer["id"]],
            vec![command_task(task, &agent_id, 0.5, 32.0, "sleep 300")],
            3600.0,
        )
        .await;
    scheduler.await_state(master, task, "TASK_RUNNING").await;
    (scheduler, agent_id)
}

#[tokio::test]
async fn every_operator_call_answers_in_json_and_protobuf_and_bad_calls_are_refused() {
    let master = master().await;
    let agent = Agent::start(&master, &["--resources=cpus:4;mem:2048"]).await;
    let (scheduler, agent_id) = running_task(&master, "operator-api", &[], "sleeper").await;
    let framework_id = scheduler.id().to_string();
    let agent_id = agent_id["value"].as_str().unwrap().to_string();
    Box::pin(simple_calls(&master)).await;
    Box::pin(state_calls(&master, &framework_id, &agent_id)).await;
    Box::pin(weights(&master, &framework_id)).await;
    Box::pin(bad_input(&master)).await;
    Box::pin(teardown(&master, &agent, &framework_id)).await;
}

/// GET_HEALTH, GET_FLAGS, GET_VERSION, GET_METRICS, GET_MASTER.
async fn simple_calls(master: &Master) {
    let health = json_call(master, &json!({"type": "GET_HEALTH"})).await;
    assert_eq!(health["type"], "GET_HEALTH", "{health}");
    assert_eq!(health["get_health"]["healthy"], true, "{health}");
    let proto = proto_call(master, bare(call::Type::GetHealth)).await;
    assert_eq!(proto.r#type, Some(response::Type::GetHealth as i32));
    assert!(proto.get_health.unwrap().healthy);

    let flags = json_call(master, &json!({"type": "GET_FLAGS"})).await;
    let flag = find(
        &flags["get_flags"]["flags"],
        &["name"],
        "agent_ping_timeout",
    )
    .unwrap_or_else(|| panic!("{flags}"));
    let state = get_json(master, "/master/state").await;
    assert_eq!(
        flag["value"], state["flags"]["agent_ping_timeout"],
        "{flags}"
    );
    let proto = proto_call(master, bare(call::Type::GetFlags)).await;
    assert!(
        proto
            .get_flags
            .unwrap()
            .flags
            .iter()
            .any(|f| f.name == "max_agent_ping_timeouts" && f.value.as_deref() == Some("2"))
    );

    let version = json_call(master, &json!({"type": "GET_VERSION"})).await;
    let endpoint = get_json(master, "/version").await;
    assert_eq!(
        version["get_version"]["version_info"]["version"], endpoint["version"],
        "{version}"
    );
    let proto = proto_call(master, bare(call::Type::GetVersion)).await;
    assert_eq!(
        Some(proto.get_version.unwrap().version_info.version.as_str()),
        endpoint["version"].as_str()
    );

    let metrics = json_call(master, &json!({"type": "GET_METRICS", "get_metrics": {}})).await;
    assert_eq!(metric(&metrics, "master/slaves_active"), 1.0);
    assert_eq!(metric(&metrics, "master/tasks_running"), 1.0);
    assert_eq!(metric(&metrics, "master/elected"), 1.0);
    // The host's, as every Mesos daemon reports them.
    assert!(metric(&metrics, "system/cpus_total") >= 1.0);
    assert!(metric(&metrics, "system/mem_total_bytes") > 0.0);
    assert!(metric(&metrics, "system/load_1min") >= 0.0);
    let snapshot = get_json(master, "/metrics/snapshot").await;
    assert!(
        snapshot["system/mem_free_bytes"].as_f64() > Some(0.0),
        "{snapshot}"
    );
    let mut call = bare(call::Type::GetMetrics);
    call.get_metrics = Some(Default::default());
    let proto = proto_call(master, call).await;
    assert!(
        proto
            .get_metrics
            .unwrap()
            .metrics
            .iter()
            .any(|m| m.name == "master/frameworks_active" && m.value == Some(1.0))
    );

    let got = json_call(master, &json!({"type": "GET_MASTER"})).await;
    let info = &got["get_master"]["master_info"];
    assert_eq!(info["id"], state["id"], "{got}");
    assert_eq!(info["port"], master.port(), "{got}");
    assert!(
        got["get_master"]["start_time"].as_f64().unwrap() > 1.0e9,
        "{got}"
    );
    let proto = proto_call(master, bare(call::Type::GetMaster)).await;
    assert_eq!(
        proto.get_master.unwrap().master_info.unwrap().id,
        state["id"].as_str().unwrap()
    );
}

/// GET_AGENTS, GET_FRAMEWORKS, GET_EXECUTORS, GET_TASKS, GET_STATE.
async fn state_calls(master: &Master, framework_id: &str, agent_id: &str) {
    let agents = json_call(master, &json!({"type": "GET_AGENTS"})).await;
    let listed = &agents["get_agents"]["agents"];
    let agent = find(listed, &["agent_info", "id", "value"], agent_id)
        .unwrap_or_else(|| panic!("{agents}"));
    assert_eq!(agent["active"], true, "{agent}");
    let total = find(&agent["total_resources"], &["name"], "cpus").unwrap();
    assert_eq!(total["scalar"]["value"], 4.0, "{agent}");
    let allocated = find(&agent["allocated_resources"], &["name"], "cpus").unwrap();
    assert_eq!(allocated["scalar"]["value"], 0.5, "{agent}");
    assert!(agent["registered_time"]["nanoseconds"].as_i64().unwrap() > 0);
    // An agent reports the Mesos version it implements, as the master does (tools
    // compare the two), not ratufa's own.
    let master_version = get_json(master, "/version").await["version"].clone();
    assert_eq!(agent["version"], master_version, "{agent}");
    let slaves = get_json(master, "/master/slaves").await;
    assert_eq!(slaves["slaves"][0]["version"], master_version, "{slaves}");
    let proto = proto_call(master, bare(call::Type::GetAgents)).await;
    let agents = proto.get_agents.unwrap().agents;
    assert_eq!(agents.len(), 1);
    assert_eq!(agents[0].agent_info.hostname, "localhost");

    let frameworks = json_call(master, &json!({"type": "GET_FRAMEWORKS"})).await;
    let entry = find(
        &frameworks["get_frameworks"]["frameworks"],
        &["framework_info", "id", "value"],
        framework_id,
    )
    .unwrap_or_else(|| panic!("{frameworks}"));
    assert_eq!(entry["connected"], true, "{entry}");
    assert_eq!(entry["framework_info"]["name"], "operator-api", "{entry}");
    let proto = proto_call(master, bare(call::Type::GetFrameworks)).await;
    assert_eq!(proto.get_frameworks.unwrap().frameworks.len(), 1);

    // A command task's executor is the agent's own: like Mesos's master, ours lists
    // only executors frameworks gave (the custom-executor suites launch those).
    let executors = json_call(master, &json!({"type": "GET_EXECUTORS"})).await;
    assert_eq!(
        executors,
        json!({"type": "GET_EXECUTORS", "get_executors": {}}),
        "{executors}"
    );
    let proto = proto_call(master, bare(call::Type::GetExecutors)).await;
    assert_eq!(proto.r#type, Some(response::Type::GetExecutors as i32));
    assert!(proto.get_executors.unwrap().executors.is_empty());

    let tasks = json_call(master, &json!({"type": "GET_TASKS"})).await;
    let task = find(
        &tasks["get_tasks"]["tasks"],
        &["task_id", "value"],
        "sleeper",
    )
    .unwrap_or_else(|| panic!("{tasks}"));
    assert_eq!(task["state"], "TASK_RUNNING", "{task}");
    assert_eq!(task["agent_id"]["value"], agent_id, "{task}");
    let proto = proto_call(master, bare(call::Type::GetTasks)).await;
    let tasks = proto.get_tasks.unwrap().tasks;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].task_id.value, "sleeper");

    let state = json_call(master, &json!({"type": "GET_STATE"})).await;
    let state = &state["get_state"];
    assert!(
        find(
            &state["get_tasks"]["tasks"],
            &["task_id", "value"],
            "sleeper"
        )
        .is_some()
    );
    assert_eq!(state["get_agents"]["agents"].as_array().unwrap().len(), 1);
    assert_eq!(
        state["get_frameworks"]["frameworks"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let proto = proto_call(master, bare(call::Type::GetState)).await;
    assert_eq!(proto.get_state.unwrap().get_agents.unwrap().agents.len(), 1);
}

/// GET_WEIGHTS, UPDATE_WEIGHTS, `/weights`, GET_ROLES.
async fn weights(master: &Master, framework_id: &str) {
    let got = json_call(master, &json!({"type": "GET_WEIGHTS"})).await;
    assert_eq!(
        got["get_weights"]["weight_infos"],
        json!([{"role": "ops", "weight": 2.0}]),
        "{got}"
    );
    let updated = json_call(
        master,
        &json!({"type": "UPDATE_WEIGHTS", "update_weights": {"weight_infos": [
            {"role": "ops", "weight": 3.5}, {"role": "dev", "weight": 0.5}]}}),
    )
    .await;
    assert_eq!(
        updated,
        Value::Null,
        "UPDATE_WEIGHTS answers 200 with no body"
    );
    let proto = proto_call(master, bare(call::Type::GetWeights)).await;
    let mut weights: Vec<(String, f64)> = proto
        .get_weights
        .unwrap()
        .weight_infos
        .into_iter()
        .map(|w| (w.role.unwrap_or_default(), w.weight))
        .collect();
    weights.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(weights, vec![("dev".into(), 0.5), ("ops".into(), 3.5)]);
    let endpoint = get_json(master, "/weights").await;
    assert!(
        endpoint
            .as_array()
            .unwrap()
            .contains(&json!({"role": "ops", "weight": 3.5})),
        "{endpoint}"
    );

    let roles = json_call(master, &json!({"type": "GET_ROLES"})).await;
    let listed = &roles["get_roles"]["roles"];
    let ops = find(listed, &["name"], "ops").unwrap_or_else(|| panic!("{roles}"));
    assert_eq!(ops["weight"], 3.5, "{roles}");
    assert_eq!(
        ops["frameworks"],
        json!([{"value": framework_id}]),
        "{roles}"
    );
    let cpus = find(&ops["resources"], &["name"], "cpus").unwrap_or_else(|| panic!("{roles}"));
    assert!(cpus["scalar"]["value"].as_f64().unwrap() >= 0.5, "{roles}");
    let dev = find(listed, &["name"], "dev").unwrap_or_else(|| panic!("{roles}"));
    assert_eq!(dev["weight"], 0.5, "{roles}");
    let proto = proto_call(master, bare(call::Type::GetRoles)).await;
    assert!(
        proto
            .get_roles
            .unwrap()
            .roles
            .iter()
            .any(|r| r.name == "ops" && r.weight == 3.5)
    );
}

/// A JSON call asking for `accept`.
fn bad(body: Value, accept: &str) -> Request {
    api_request(API, JSON, accept, body.to_string())
}

async fn bad_input(master: &Master) {
    let refused = |status: u16, needle: &'static str| {
        move |response: support::Response| {
            assert_eq!(response.status, status, "{needle}: {response:?}");
            assert!(response.text().contains(needle), "{needle}: {response:?}");
        }
    };
    let response = master.send(Request::get(API)).await;
    assert_eq!(response.status, 405, "GET: {response:?}");
    let response = master
        .send(
            Request::post(API)
                .header("Content-Type", "text/plain")
                .body(json!({"type": "GET_HEALTH"}).to_string()),
        )
        .await;
    assert_eq!(response.status, 415, "text/plain: {response:?}");
    refused(400, "GET_EVERYTHING")(
        master
            .send(bad(json!({"type": "GET_EVERYTHING"}), JSON))
            .await,
    );
    refused(400, "'type'")(master.send(bad(json!({}), JSON)).await);
    refused(400, "Failed to parse")(
        master
            .send(api_request(API, JSON, JSON, "{\"type\": \"GET_HEALTH\""))
            .await,
    );
    refused(400, "get_metrics")(master.send(bad(json!({"type": "GET_METRICS"}), JSON)).await);
    refused(400, "update_weights")(
        master
            .send(bad(json!({"type": "UPDATE_WEIGHTS"}), JSON))
            .await,
    );
    refused(400, "mark_agent_gone")(
        master
            .send(bad(json!({"type": "MARK_AGENT_GONE"}), JSON))
            .await,
    );
    refused(400, "teardown")(master.send(bad(json!({"type": "TEARDOWN"}), JSON)).await);
    // A required field missing inside the call's message: the decoder names it.
    refused(400, "agent_id")(
        master
            .send(bad(
                json!({"type": "MARK_AGENT_GONE", "mark_agent_gone": {}}),
                JSON,
            ))
            .await,
    );
    refused(400, "Weights must be positive")(
        master
            .send(bad(
                json!({"type": "UPDATE_WEIGHTS", "update_weights": {"weight_infos": [
                    {"role": "ops", "weight": 0}]}}),
                JSON,
            ))
            .await,
    );
    refused(400, "Invalid role")(
        master
            .send(bad(
                json!({"type": "UPDATE_WEIGHTS", "update_weights": {"weight_infos": [
                    {"role": "/bad", "weight": 1}]}}),
                JSON,
            ))
            .await,
    );
    refused(404, "not found")(
        master
            .send(bad(
                json!({"type": "MARK_AGENT_GONE", "mark_agent_gone": {"agent_id": {"value": "nobody"}}}),
                JSON,
            ))
            .await,
    );
    refused(400, "No framework found")(
        master
            .send(bad(
                json!({"type": "TEARDOWN", "teardown": {"framework_id": {"value": "nobody"}}}),
                JSON,
            ))
            .await,
    );
    let response = master
        .send(bad(json!({"type": "GET_HEALTH"}), "text/html"))
        .await;
    assert_eq!(response.status, 406, "Accept text/html: {response:?}");
    refused(501, "GET_QUOTA")(master.send(bad(json!({"type": "GET_QUOTA"}), JSON)).await);
    // A refused weight changed nothing.
    let got = json_call(master, &json!({"type": "GET_WEIGHTS"})).await;
    let ops = find(&got["get_weights"]["weight_infos"], &["role"], "ops").unwrap();
    assert_eq!(ops["weight"], 3.5, "{got}");
    master.assert_alive().await;
}

/// TEARDOWN: the framework is removed and its task killed on the agent.
async fn teardown(master: &Master, agent: &Agent, framework_id: &str) {
    let answer = json_call(
        master,
        &json!({"type": "TEARDOWN", "teardown": {"framework_id": {"value": framework_id}}}),
    )
    .await;
    assert_eq!(answer, Value::Null);
    let frameworks = json_call(master, &json!({"type": "GET_FRAMEWORKS"})).await;
    let frameworks = &frameworks["get_frameworks"];
    assert!(
        frameworks["frameworks"]
            .as_array()
            .is_none_or(|list| list.is_empty()),
        "{frameworks}"
    );
    assert!(
        find(
            &frameworks["completed_frameworks"],
            &["framework_info", "id", "value"],
            framework_id
        )
        .is_some(),
        "{frameworks}"
    );
    wait_for(
        "the torn-down framework's task to end",
        PATIENCE,
        || async {
            (!runs_executors(&agent.get_json("/state").await, Some(framework_id))).then_some(())
        },
    )
    .await;
}

/// Whether an agent's `/state` shows a live executor (of `framework_id`, if given).
fn runs_executors(state: &Value, framework_id: Option<&str>) -> bool {
    state["frameworks"].as_array().is_some_and(|frameworks| {
        frameworks.iter().any(|f| {
            framework_id.is_none_or(|id| f["id"] == id)
                && f["executors"].as_array().is_some_and(|e| !e.is_empty())
        })
    })
}

/// RECONCILE of one task on `agent_id`; the state the answer gives.
async fn reconcile(
    master: &Master,
    scheduler: &mut Scheduler,
    task: &str,
    agent_id: &Value,
) -> String {
    scheduler
        .call(
            master,
            json!({"type": "RECONCILE", "framework_id": {"value": scheduler.id()},
                   "reconcile": {"tasks": [{"task_id": {"value": task}, "agent_id": agent_id}]}}),
        )
        .await;
    loop {
        let update = scheduler.expect(master, "UPDATE").await;
        let status = &update["update"]["status"];
        if status["reason"] == "REASON_RECONCILIATION" && status["task_id"]["value"] == task {
            return status["state"].as_str().unwrap().to_string();
        }
    }
}

#[tokio::test]
async fn mark_agent_gone_ends_its_tasks_and_refuses_the_agent() {
    let master = master().await;
    let agent = Agent::start(&master, &["--resources=cpus:4;mem:2048"]).await;
    let (mut aware, agent_id) =
        running_task(&master, "aware", &["PARTITION_AWARE"], "aware-task").await;
    let (mut plain, _) = running_task(&master, "plain", &[], "plain-task").await;
    let gone = json!({"type": "MARK_AGENT_GONE", "mark_agent_gone": {"agent_id": agent_id}});
    assert_eq!(json_call(&master, &gone).await, Value::Null);

    let status = aware
        .await_state(&master, "aware-task", "TASK_GONE_BY_OPERATOR")
        .await;
    assert_eq!(
        status["reason"], "REASON_AGENT_REMOVED_BY_OPERATOR",
        "{status}"
    );
    assert_eq!(status["source"], "SOURCE_MASTER", "{status}");
    let status = plain.await_state(&master, "plain-task", "TASK_LOST").await;
    assert_eq!(status["reason"], "REASON_AGENT_REMOVED", "{status}");
    let failure = plain.expect(&master, "FAILURE").await;
    assert_eq!(failure["failure"]["agent_id"], agent_id, "{failure}");

    // Marking it again changes nothing and is no error.
    assert_eq!(json_call(&master, &gone).await, Value::Null);
    // Reconciliation knows the agent is gone.
    assert_eq!(
        reconcile(&master, &mut aware, "aware-task", &agent_id).await,
        "TASK_GONE_BY_OPERATOR"
    );
    assert_eq!(
        reconcile(&master, &mut plain, "plain-task", &agent_id).await,
        "TASK_LOST"
    );

    // The agent was refused under its old id: it killed what it ran and came back as
    // a new agent; the old id is never listed again.
    let old_id = agent_id["value"].as_str().unwrap().to_string();
    let new_id = wait_for("the agent to register under a new id", PATIENCE, || async {
        let id = agent.id().await;
        (!id.is_empty() && id != old_id).then_some(id)
    })
    .await;
    let agents = json_call(&master, &json!({"type": "GET_AGENTS"})).await;
    let listed = &agents["get_agents"]["agents"];
    assert!(
        find(listed, &["agent_info", "id", "value"], &old_id).is_none(),
        "{agents}"
    );
    assert!(
        find(listed, &["agent_info", "id", "value"], &new_id).is_some(),
        "{agents}"
    );
    let log = agent.log();
    assert!(log.contains("Agent has been marked gone"), "{log}");
    wait_for("the gone agent's tasks to be killed", PATIENCE, || async {
        (!runs_executors(&agent.get_json("/state").await, None)).then_some(())
    })
    .await;
    let metrics = get_json(&master, "/metrics/snapshot").await;
    assert_eq!(metrics["master/tasks_gone_by_operator"], 1.0, "{metrics}");
    master.assert_alive().await;
}

#[tokio::test]
async fn an_unreachable_agent_that_returns_keeps_partition_aware_tasks_only() {
    let master = master().await;
    let agent = Agent::start(&master, &["--resources=cpus:4;mem:2048"]).await;
    let (mut aware, agent_id) =
        running_task(&master, "aware", &["PARTITION_AWARE"], "aware-task").await;
    let (mut plain, _) = running_task(&master, "plain", &[], "plain-task").await;

    agent.signal("STOP");
    let status = aware
        .await_state(&master, "aware-task", "TASK_UNREACHABLE")
        .await;
    assert_eq!(status["reason"], "REASON_AGENT_REMOVED", "{status}");
    assert!(
        status["unreachable_time"]["nanoseconds"].as_i64().is_some(),
        "{status}"
    );
    plain.await_state(&master, "plain-task", "TASK_LOST").await;
    let tasks = json_call(&master, &json!({"type": "GET_TASKS"})).await;
    assert!(
        find(
            &tasks["get_tasks"]["unreachable_tasks"],
            &["task_id", "value"],
            "aware-task"
        )
        .is_some(),
        "{tasks}"
    );

    agent.signal("CONT");
    let status = aware
        .await_state(&master, "aware-task", "TASK_RUNNING")
        .await;
    assert_eq!(status["reason"], "REASON_AGENT_REREGISTERED", "{status}");
    assert_eq!(agent.id().await, agent_id["value"].as_str().unwrap());
    // The task the plain framework was told is lost does not run on.
    wait_for(
        "the plain framework's task to be killed",
        PATIENCE,
        || async {
            (!runs_executors(&agent.get_json("/state").await, Some(plain.id()))).then_some(())
        },
    )
    .await;
    assert!(runs_executors(
        &agent.get_json("/state").await,
        Some(aware.id())
    ));
    let tasks = json_call(&master, &json!({"type": "GET_TASKS"})).await;
    let task = find(
        &tasks["get_tasks"]["tasks"],
        &["task_id", "value"],
        "aware-task",
    )
    .unwrap_or_else(|| panic!("{tasks}"));
    assert_eq!(task["state"], "TASK_RUNNING", "{task}");
    assert!(
        find(
            &tasks["get_tasks"]["tasks"],
            &["task_id", "value"],
            "plain-task"
        )
        .is_none(),
        "{tasks}"
    );
    // Still running a while later: whatever else comes for it (an update the agent
    // resends, never having seen its acknowledgement) says RUNNING.
    while let Some(event) = aware.next_within(&master, Duration::from_secs(2)).await {
        let status = &event["update"]["status"];
        if status["task_id"]["value"] == "aware-task" {
            assert_eq!(status["state"], "TASK_RUNNING", "{event}");
        }
    }
    master.assert_alive().await;
}

/// Reads the operator stream until an event of `kind` for which `matches` holds;
/// returns it. Whatever comes before is passed over (HEARTBEATs among it).
async fn until(
    stream: &mut support::EventStream,
    kind: &str,
    matches: impl Fn(&Value) -> bool,
) -> Value {
    loop {
        let event = stream.json().await;
        if event["type"] == kind && matches(&event) {
            return event;
        }
    }
}

#[tokio::test]
async fn subscribe_streams_the_state_then_every_change() {
    let master = master().await;
    let agent = Agent::start(&master, &["--resources=cpus:4;mem:2048"]).await;
    // Registered before the stream opens, so SUBSCRIBED lists it.
    assert!(!agent.id().await.is_empty());
    let subscribe = json!({"type": "SUBSCRIBE"}).to_string();
    let mut stream = master
        .open(api_request(API, JSON, JSON, subscribe.clone()))
        .await
        .unwrap_or_else(|refused| panic!("SUBSCRIBE: {refused:?}"));
    assert_eq!(stream.content_type(), Some(JSON));
    let subscribed = stream.json().await;
    assert_eq!(subscribed["type"], "SUBSCRIBED", "{subscribed}");
    let state = &subscribed["subscribed"]["get_state"];
    let agents = state["get_agents"]["agents"].as_array().unwrap();
    assert_eq!(agents.len(), 1, "{subscribed}");
    let agent_id = agents[0]["agent_info"]["id"].clone();
    assert!(
        subscribed["subscribed"]["heartbeat_interval_seconds"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    // The same in protobuf.
    let mut proto_stream = master
        .open(api_request(API, JSON, PROTOBUF, subscribe))
        .await
        .unwrap_or_else(|refused| panic!("SUBSCRIBE: {refused:?}"));
    let first = ratufa_proto::v1::master::Event::decode(proto_stream.record().await.as_slice())
        .expect("a protobuf master Event");
    assert_eq!(
        first.r#type,
        Some(ratufa_proto::v1::master::event::Type::Subscribed as i32)
    );
    let agents = first
        .subscribed
        .unwrap()
        .get_state
        .unwrap()
        .get_agents
        .unwrap();
    assert_eq!(agents.agents.len(), 1);
    drop(proto_stream);

    let (mut scheduler, _) = running_task(&master, "watched", &[], "watched-task").await;
    let added = until(&mut stream, "FRAMEWORK_ADDED", |_| true).await;
    let framework = &added["framework_added"]["framework"];
    assert_eq!(framework["framework_info"]["name"], "watched", "{added}");
    assert_eq!(framework["connected"], true, "{added}");
    let task = until(&mut stream, "TASK_ADDED", |_| true).await;
    assert_eq!(
        task["task_added"]["task"]["task_id"]["value"], "watched-task",
        "{task}"
    );
    assert_eq!(
        task["task_added"]["task"]["state"], "TASK_STAGING",
        "{task}"
    );
    let running = until(&mut stream, "TASK_UPDATED", |e| {
        e["task_updated"]["state"] == "TASK_RUNNING"
    })
    .await;
    assert_eq!(
        running["task_updated"]["status"]["task_id"]["value"], "watched-task",
        "{running}"
    );
    assert_eq!(
        running["task_updated"]["framework_id"]["value"],
        scheduler.id(),
        "{running}"
    );

    // Gone: the agent is removed, its task lost; it comes back as a new agent.
    let gone = json!({"type": "MARK_AGENT_GONE", "mark_agent_gone": {"agent_id": agent_id}});
    json_call(&master, &gone).await;
    let lost = until(&mut stream, "TASK_UPDATED", |e| {
        e["task_updated"]["state"] == "TASK_LOST"
    })
    .await;
    assert_eq!(
        lost["task_updated"]["status"]["reason"], "REASON_AGENT_REMOVED",
        "{lost}"
    );
    let removed = until(&mut stream, "AGENT_REMOVED", |_| true).await;
    assert_eq!(removed["agent_removed"]["agent_id"], agent_id, "{removed}");
    let back = until(&mut stream, "AGENT_ADDED", |_| true).await;
    assert_ne!(
        back["agent_added"]["agent"]["agent_info"]["id"], agent_id,
        "{back}"
    );
    assert_eq!(
        back["agent_added"]["agent"]["agent_info"]["hostname"], "localhost",
        "{back}"
    );
    scheduler
        .await_state(&master, "watched-task", "TASK_LOST")
        .await;

    json_call(
        &master,
        &json!({"type": "TEARDOWN", "teardown": {"framework_id": {"value": scheduler.id()}}}),
    )
    .await;
    let removed = until(&mut stream, "FRAMEWORK_REMOVED", |_| true).await;
    assert_eq!(
        removed["framework_removed"]["framework_info"]["id"]["value"],
        scheduler.id(),
        "{removed}"
    );
    // A quiet stream carries heartbeats.
    until(&mut stream, "HEARTBEAT", |_| true).await;
    drop(agent);
    master.assert_alive().await;
}

/// The task ids a `/master/tasks` document lists, in its order.
async fn listed_tasks(master: &Master, query: &str) -> Vec<String> {
    let tasks = get_json(master, &format!("/master/tasks{query}")).await;
    tasks["tasks"]
        .as_array()
        .unwrap_or_else(|| panic!("{query}: {tasks}"))
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect()
}

/// The ids under `list` in a `/master/frameworks` or `/master/slaves` document.
fn ids(document: &Value, list: &str) -> Vec<String> {
    document[list]
        .as_array()
        .unwrap_or_else(|| panic!("{list}: {document}"))
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_string())
        .collect()
}

/// Mesos's older endpoints as operators' tools use them: `/master/tasks` pages by
/// `limit` (100 unless given) and `offset`, newest first unless `order=asc`, and
/// selects by `framework_id` and `task_id`; `/master/frameworks` by `framework_id`;
/// `/master/slaves` by `slave_id`; `/master/roles` and `/master/state-summary` are
/// in Mesos's shape; `?jsonp=` wraps documents;
/// `POST /master/teardown` with `frameworkId=` tears a framework down.
#[tokio::test]
async fn the_older_endpoints_take_mesos_query_parameters_and_teardown_forms() {
    let master = master().await;
    let _agent = Agent::start(&master, &["--resources=cpus:4;mem:2048"]).await;
    // One after the other, so that their first statuses come in this order.
    let (first, agent_id) = running_task(&master, "first", &[], "task-1").await;
    let (second, _) = running_task(&master, "second", &[], "task-2").await;
    let (third, _) = running_task(&master, "third", &[], "task-3").await;
    let agent_id = agent_id["value"].as_str().unwrap();

    assert_eq!(
        listed_tasks(&master, "").await,
        ["task-3", "task-2", "task-1"]
    );
    assert_eq!(
        listed_tasks(&master, "?order=asc").await,
        ["task-1", "task-2", "task-3"]
    );
    assert_eq!(listed_tasks(&master, "?limit=1").await, ["task-3"]);
    assert_eq!(
        listed_tasks(&master, "?order=asc&limit=1&offset=1").await,
        ["task-2"]
    );
    assert!(listed_tasks(&master, "?offset=3").await.is_empty());
    assert_eq!(listed_tasks(&master, "?task_id=task-2").await, ["task-2"]);
    assert_eq!(
        listed_tasks(&master, &format!("?framework_id={}", first.id())).await,
        ["task-1"]
    );
    assert!(
        listed_tasks(
            &master,
            &format!("?framework_id={}&task_id=task-2", first.id())
        )
        .await
        .is_empty()
    );

    let frameworks = get_json(
        &master,
        &format!("/master/frameworks?framework_id={}", second.id()),
    )
    .await;
    assert_eq!(ids(&frameworks, "frameworks"), [second.id()]);
    let slaves = get_json(&master, &format!("/master/slaves?slave_id={agent_id}")).await;
    assert_eq!(ids(&slaves, "slaves"), [agent_id]);
    // The pid tools parse for the agent's address: its IP, not its --hostname.
    let port = slaves["slaves"][0]["port"].as_i64().unwrap();
    assert_eq!(
        slaves["slaves"][0]["pid"],
        format!("slave(1)@127.0.0.1:{port}"),
        "{slaves}"
    );
    let slaves = get_json(&master, "/master/slaves?slave_id=no-such-agent").await;
    assert!(ids(&slaves, "slaves").is_empty(), "{slaves}");

    // `/master/roles`: the role all three run in, its weight, frameworks and what
    // their tasks hold (0.5 cpus and 32 MB each).
    let roles = get_json(&master, "/master/roles").await;
    let ops = find(&roles["roles"], &["name"], "ops").unwrap_or_else(|| panic!("{roles}"));
    assert_eq!(ops["weight"], 2.0, "{ops}");
    let mut frameworks: Vec<&str> = ops["frameworks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap())
        .collect();
    frameworks.sort_unstable();
    let mut expected = [first.id(), second.id(), third.id()];
    expected.sort_unstable();
    assert_eq!(frameworks, expected, "{ops}");
    assert_eq!(ops["allocated"]["cpus"], 1.5, "{ops}");
    assert_eq!(ops["allocated"]["mem"], 96.0, "{ops}");
    let offered_cpus = ops["offered"]["cpus"].as_f64().unwrap_or(0.0);
    assert_eq!(ops["resources"]["cpus"], 1.5 + offered_cpus, "{ops}");
    assert_eq!(ops["quota"]["role"], "ops", "{ops}");
    assert_eq!(ops["reserved"], json!({}), "{ops}");
    let roles = get_json(&master, "/roles").await;
    assert!(find(&roles["roles"], &["name"], "ops").is_some(), "{roles}");

    // `/master/state-summary`: per agent and per framework, tasks by state and where
    // they run.
    let summary = get_json(&master, "/master/state-summary").await;
    assert_eq!(summary["hostname"], "localhost", "{summary}");
    let slave = find(&summary["slaves"], &["id"], agent_id).unwrap_or_else(|| panic!("{summary}"));
    assert_eq!(slave["TASK_RUNNING"], 3, "{slave}");
    assert_eq!(slave["TASK_FINISHED"], 0, "{slave}");
    assert_eq!(slave["resources"]["cpus"], 4.0, "{slave}");
    let mut on_agent: Vec<&str> = slave["framework_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap())
        .collect();
    on_agent.sort_unstable();
    assert_eq!(on_agent, expected, "{slave}");
    let entry =
        find(&summary["frameworks"], &["id"], second.id()).unwrap_or_else(|| panic!("{summary}"));
    assert_eq!(entry["name"], "second", "{entry}");
    assert_eq!(entry["TASK_RUNNING"], 1, "{entry}");
    assert_eq!(entry["slave_ids"], json!([agent_id]), "{entry}");
    assert!(
        entry.get("tasks").is_none(),
        "a summary lists no tasks: {entry}"
    );

    // `?jsonp=<callback>`, as Mesos's web UI asks: the same documents, wrapped.
    let response = master
        .send(Request::get("/master/state?jsonp=JSON_CALLBACK"))
        .await;
    let state = response.jsonp_document("JSON_CALLBACK");
    assert_eq!(state["id"], get_json(&master, "/master/state").await["id"]);
    // Its build fields are those /version shows.
    let version = get_json(&master, "/version").await;
    for field in ["build_date", "build_time", "build_user"] {
        assert_eq!(state[field], version[field], "{field}");
    }
    let response = master
        .send(Request::get("/metrics/snapshot?jsonp=angular.callbacks._1"))
        .await;
    assert_eq!(
        response.jsonp_document("angular.callbacks._1")["master/elected"],
        1.0
    );
    let response = master
        .send(Request::get("/master/roles?jsonp=alert(1)"))
        .await;
    assert_eq!(response.status, 400, "{response:?}");
    assert!(response.text().contains("'jsonp'"), "{response:?}");

    // `/master/teardown`: a form body, as `curl -d frameworkId=…` sends it.
    let form = |body: String| {
        Request::post("/master/teardown")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
    };
    let response = master
        .send(form(format!("frameworkId={}", third.id())))
        .await;
    assert_eq!(response.status, 200, "{response:?}");
    let frameworks = get_json(&master, "/master/frameworks").await;
    assert!(
        !ids(&frameworks, "frameworks").contains(&third.id().to_string()),
        "{frameworks}"
    );
    assert!(
        ids(&frameworks, "completed_frameworks").contains(&third.id().to_string()),
        "{frameworks}"
    );
    for (body, why) in [
        (format!("frameworkId={}", third.id()), "No framework found"),
        ("framework_id=x".to_string(), "frameworkId"),
    ] {
        let response = master.send(form(body.clone())).await;
        let message = String::from_utf8_lossy(&response.body);
        assert_eq!(response.status, 400, "{body}: {response:?}");
        assert!(message.contains(why), "{body}: {message}");
    }
    let response = master.send(Request::get("/master/teardown")).await;
    assert_eq!(response.status, 405, "{response:?}");

    // Mesos's endpoints for what ratufa lacks say so (501), not 404.
    for (request, names) in [
        (Request::get("/master/maintenance/schedule"), "maintenance"),
        (Request::post("/machine/down"), "maintenance"),
        (Request::get("/master/quota"), "quota"),
        (Request::post("/master/reserve"), "reservations"),
        (Request::post("/create-volumes"), "volumes"),
    ] {
        let what = format!("{} {}", request.method, request.path);
        let response = master.send(request).await;
        assert_eq!(response.status, 501, "{what}: {response:?}");
        assert!(response.text().contains(names), "{what}: {response:?}");
    }
}

/// As Mesos: at most `--max_operator_event_stream_subscribers` operator SUBSCRIBE
/// streams at once (503 beyond, naming the flag); the count is a metric, and a place
/// frees when its client goes away.
#[tokio::test]
async fn operator_event_streams_are_bounded() {
    let mut flags = flags_with_heartbeat(FAST_HEARTBEAT);
    flags.push("--max_operator_event_stream_subscribers=1".to_string());
    let master = Master::start_with(&flags).await;
    let subscribe = || api_request(API, JSON, JSON, json!({"type": "SUBSCRIBE"}).to_string());
    let mut first = master
        .open(subscribe())
        .await
        .unwrap_or_else(|refused| panic!("SUBSCRIBE: {refused:?}"));
    assert_eq!(first.json().await["type"], "SUBSCRIBED");
    let refused = master
        .open(subscribe())
        .await
        .err()
        .expect("a second stream is refused");
    assert_eq!(refused.status, 503, "{refused:?}");
    assert!(
        refused
            .text()
            .contains("max_operator_event_stream_subscribers"),
        "{refused:?}"
    );
    let metrics = get_json(&master, "/metrics/snapshot").await;
    assert_eq!(
        metrics["master/operator_event_stream_subscribers"], 1.0,
        "{metrics}"
    );
    drop(first);
    wait_for("the first stream's place to be free", PATIENCE, || async {
        master.open(subscribe()).await.ok()
    })
    .await;
}
