//! End to end against the real binary: the agent's `/api/v1/executor` refuses bad
//! calls with the reference sheet's status codes (issue #4, "Bad input"), and serves a
//! well-formed executor afterwards.
//!
//! A framework launches a task with a custom executor that never subscribes
//! (`sleep`); the test then speaks for that executor, as any HTTP executor would:
//! - GET → 405; a Content-Type other than JSON or protobuf → 415; none → 400; a body
//!   that is not JSON → 400; a call without `executor_id` → 400 naming it;
//! - an unknown framework or executor → 400; UPDATE before SUBSCRIBE → 403;
//!   SUBSCRIBE with an Accept the agent cannot serve → 406;
//! - SUBSCRIBE → 200 with SUBSCRIBED (executor, framework, agent, container) then LAUNCH
//!   of the task; HEARTBEAT → 202; UPDATE without uuid, with TASK_STAGING, or naming
//!   another executor → 400; a good UPDATE → 202, ACKNOWLEDGED with its uuid, and the
//!   framework gets the TASK_RUNNING; the agent and the master keep serving.

// Test scaffolding: a failure here should fail the test loudly.
#![allow(clippy::unwrap_used)]

#[path = "support/agent.rs"]
mod agent;
#[path = "support/cluster.rs"]
mod cluster;
mod support;

use serde_json::{Value, json};

use agent::{Agent, Reaper, b64, parent, pid_in, resources, scratch};
use cluster::Scheduler;
use support::{FAST_HEARTBEAT, JSON, Master, Request, Response, flags_with_heartbeat, open_on};

const EXECUTOR: &str = "/api/v1/executor";

fn post(body: &Value) -> Request {
    Request::post(EXECUTOR)
        .header("Content-Type", JSON)
        .header("Accept", JSON)
        .body(body.to_string())
}

fn expect_status(response: &Response, status: u16, what: &str) {
    assert_eq!(response.status, status, "{what}: {response:?}");
}

/// A TaskStatus from the executor `executor_id` for task `task_id`.
fn status(task_id: &str, executor_id: &str, state: &str, uuid: Option<&[u8]>) -> Value {
    let mut status = json!({
        "task_id": {"value": task_id},
        "state": state,
        "source": "SOURCE_EXECUTOR",
        "executor_id": {"value": executor_id},
    });
    if let Some(uuid) = uuid {
        status["uuid"] = json!(b64(uuid));
    }
    status
}

#[tokio::test]
async fn bad_executor_calls_get_the_documented_codes_and_a_good_executor_is_served() {
    let master = Master::start_with(&flags_with_heartbeat(FAST_HEARTBEAT)).await;
    // The test subscribes in the silent executor's stead; give it time to.
    let agent = Agent::start(
        &master,
        &[
            "--resources=cpus:4;mem:2048",
            "--executor_registration_timeout=10mins",
        ],
    )
    .await;
    let mut reaper = Reaper::default();
    let info = json!({"user": "root", "name": "executor-api"});
    let mut scheduler = Scheduler::subscribe(&master, &info).await;
    let offer = scheduler.offers(&master).await.remove(0);
    let agent_id = offer["agent_id"].clone();
    let dir = scratch("executor-api");
    let executor = json!({
        "executor_id": {"value": "silent"},
        "type": "CUSTOM",
        "command": {"value": format!("echo $$ > {}/executor.pid; exec sleep 300", dir.display())},
        "resources": resources(0.1, 32.0),
    });
    let task = json!({
        "name": "t",
        "task_id": {"value": "t"},
        "agent_id": agent_id,
        "resources": resources(0.1, 32.0),
        "executor": executor,
    });
    scheduler
        .launch(&master, &[&offer["id"]], vec![task], 3600.0)
        .await;
    let sleeper = pid_in(&dir.join("executor.pid")).await;
    reaper.add(sleeper);
    if let Some(parent) = parent(sleeper) {
        // Whatever runs the executor (a launcher, a container helper), if not the agent.
        if parent != agent.pid() {
            reaper.add(parent);
        }
    }

    let framework_id = json!({"value": scheduler.id()});
    let executor_id = json!({"value": "silent"});
    let call = |kind: &str| json!({"type": kind, "framework_id": framework_id, "executor_id": executor_id});
    // UUIDs must be real ones (a version nibble of 1 to 5), as Mesos checks.
    let good_uuid = *uuid::Uuid::new_v4().as_bytes();
    let fresh = || *uuid::Uuid::new_v4().as_bytes();
    let mut update = call("UPDATE");
    update["update"] = json!({"status": status("t", "silent", "TASK_RUNNING", Some(&good_uuid))});

    // Transport-level refusals.
    let response = agent.send(Request::get(EXECUTOR)).await;
    expect_status(&response, 405, "GET");
    let response = agent
        .send(
            Request::post(EXECUTOR)
                .header("Content-Type", "text/plain")
                .body(call("HEARTBEAT").to_string()),
        )
        .await;
    expect_status(&response, 415, "text/plain body");
    let response = agent
        .send(Request::post(EXECUTOR).body(call("HEARTBEAT").to_string()))
        .await;
    expect_status(&response, 400, "no Content-Type");
    let response = agent
        .send(
            Request::post(EXECUTOR)
                .header("Content-Type", JSON)
                .body("{\"type\": \"HEARTBEAT\", "),
        )
        .await;
    expect_status(&response, 400, "truncated JSON");
    let no_executor = json!({"type": "SUBSCRIBE", "framework_id": framework_id, "subscribe": {}});
    let response = agent.send(post(&no_executor)).await;
    expect_status(&response, 400, "SUBSCRIBE without executor_id");
    assert!(
        response.text().contains("executor_id"),
        "the error should name the missing field: {response:?}"
    );

    // Who is calling. (Mesos answers a HEARTBEAT 202 before looking anyone up, so the
    // lookups are tested with MESSAGE.)
    let mut message = call("MESSAGE");
    message["message"] = json!({"data": b64(b"hello")});
    let mut unknown_framework = message.clone();
    unknown_framework["framework_id"] = json!({"value": "no-such-framework"});
    let response = agent.send(post(&unknown_framework)).await;
    expect_status(&response, 400, "unknown framework");
    let mut unknown_executor = message.clone();
    unknown_executor["executor_id"] = json!({"value": "no-such-executor"});
    let response = agent.send(post(&unknown_executor)).await;
    expect_status(&response, 400, "unknown executor");
    let response = agent.send(post(&update)).await;
    expect_status(&response, 403, "UPDATE before SUBSCRIBE");
    let mut subscribe = call("SUBSCRIBE");
    subscribe["subscribe"] = json!({});
    let response = agent
        .send(
            Request::post(EXECUTOR)
                .header("Content-Type", JSON)
                .header("Accept", "text/html")
                .body(subscribe.to_string()),
        )
        .await;
    expect_status(&response, 406, "SUBSCRIBE accepting only text/html");
    agent.assert_alive().await;

    // Now a proper executor.
    let mut events = match open_on(agent.addr(), post(&subscribe)).await {
        Ok(events) => events,
        Err(response) => panic!("SUBSCRIBE refused: {response:?}"),
    };
    assert_eq!(events.content_type(), Some(JSON));
    assert!(
        events.header("Mesos-Stream-Id").is_none(),
        "the executor API has no stream ids"
    );
    let subscribed = events.json_skipping_heartbeats().await;
    assert_eq!(subscribed["type"], "SUBSCRIBED", "{subscribed}");
    let body = &subscribed["subscribed"];
    assert_eq!(body["executor_info"]["executor_id"], executor_id, "{body}");
    assert_eq!(body["framework_info"]["id"], framework_id, "{body}");
    assert_eq!(body["agent_info"]["id"], agent_id, "{body}");
    assert!(body["container_id"]["value"].is_string(), "{body}");
    let launch = events.json_skipping_heartbeats().await;
    assert_eq!(launch["type"], "LAUNCH", "{launch}");
    assert_eq!(
        launch["launch"]["task"]["task_id"]["value"], "t",
        "{launch}"
    );

    let response = agent.send(post(&call("HEARTBEAT"))).await;
    expect_status(&response, 202, "HEARTBEAT from the subscribed executor");

    let bad_updates = [
        ("no uuid", status("t", "silent", "TASK_RUNNING", None)),
        (
            "TASK_STAGING",
            status("t", "silent", "TASK_STAGING", Some(&fresh())),
        ),
        (
            "another executor's id",
            status("t", "someone-else", "TASK_RUNNING", Some(&fresh())),
        ),
    ];
    for (what, bad) in bad_updates {
        let mut call = call("UPDATE");
        call["update"] = json!({"status": bad});
        let response = agent.send(post(&call)).await;
        expect_status(&response, 400, &format!("UPDATE with {what}"));
    }

    let response = agent.send(post(&update)).await;
    expect_status(&response, 202, "a good UPDATE");
    let acknowledged = events.json_skipping_heartbeats().await;
    assert_eq!(acknowledged["type"], "ACKNOWLEDGED", "{acknowledged}");
    assert_eq!(
        acknowledged["acknowledged"]["task_id"]["value"], "t",
        "{acknowledged}"
    );
    assert_eq!(
        acknowledged["acknowledged"]["uuid"],
        json!(b64(&good_uuid)),
        "{acknowledged}"
    );
    let running = scheduler.await_state(&master, "t", "TASK_RUNNING").await;
    assert_eq!(running["executor_id"], executor_id, "{running}");
    assert_eq!(running["source"], "SOURCE_EXECUTOR", "{running}");

    agent.assert_alive().await;
    master.assert_alive().await;
}
