//! End to end against the real binary: the agent's operator API, `POST /api/v1` with a
//! `mesos.v1.agent.Call` (issue #4 item 9), on `ratufa master` and a separate `ratufa
//! agent` with one running task (`sleeper`) and one finished (`quick`).
//!
//! Every served call — GET_HEALTH, GET_FLAGS, GET_VERSION, GET_METRICS, GET_STATE,
//! GET_CONTAINERS, GET_FRAMEWORKS, GET_EXECUTORS, GET_TASKS, GET_AGENT, LIST_FILES,
//! READ_FILE (escapes refused with 403 as on `/files/read`) — is made in JSON
//! (checked under Mesos's field names) and in protobuf (decoded as an agent `Response`
//! and found to say the same). Bad input: GET → 405, a text/plain body → 415, an
//! unknown call type → 400 naming it, GET_METRICS without `get_metrics` → 400, an
//! Accept of text/html → 406, a call ratufa does not implement → 501 naming it; the
//! agent keeps serving.

// Test scaffolding: a failure here should fail the test loudly.
#![allow(clippy::unwrap_used)]

#[path = "support/agent.rs"]
mod agent;
#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/operator.rs"]
mod operator;
mod support;

use prost::Message as _;
use ratufa_proto::v1::agent::{Call, Response, call, response};
use serde_json::{Value, json};

use agent::Agent;
use cluster::{Scheduler, command_task};
use operator::{api_request, find, metric};
use support::{FAST_HEARTBEAT, JSON, Master, PROTOBUF, Request, flags_with_heartbeat};

const API: &str = "/api/v1";

/// POSTs `call` in JSON asking for JSON; 200 expected; the parsed body.
async fn json_call(agent: &Agent, call: &Value) -> Value {
    let response = agent
        .send(api_request(API, JSON, JSON, call.to_string()))
        .await;
    assert_eq!(response.status, 200, "{call}: {response:?}");
    assert_eq!(response.header("Content-Type"), Some(JSON), "{call}");
    serde_json::from_slice(&response.body).unwrap_or_else(|e| panic!("{call}: {e}"))
}

/// POSTs a protobuf Call of `kind` asking for protobuf; 200 expected; the decoded body.
async fn proto_call(agent: &Agent, kind: call::Type) -> Response {
    let mut message = Call {
        r#type: Some(kind as i32),
        ..Call::default()
    };
    if kind == call::Type::GetMetrics {
        message.get_metrics = Some(call::GetMetrics::default());
    }
    let response = agent
        .send(api_request(
            API,
            PROTOBUF,
            PROTOBUF,
            message.encode_to_vec(),
        ))
        .await;
    assert_eq!(response.status, 200, "{kind:?}: {response:?}");
    assert_eq!(response.header("Content-Type"), Some(PROTOBUF), "{kind:?}");
    let decoded = Response::decode(response.body.as_slice())
        .unwrap_or_else(|e| panic!("{kind:?}: not a protobuf agent Response: {e}"));
    assert_eq!(
        decoded.r#type,
        Some(response_type(kind) as i32),
        "{kind:?}: {decoded:?}"
    );
    decoded
}

fn response_type(kind: call::Type) -> response::Type {
    match kind {
        call::Type::GetHealth => response::Type::GetHealth,
        call::Type::GetFlags => response::Type::GetFlags,
        call::Type::GetVersion => response::Type::GetVersion,
        call::Type::GetMetrics => response::Type::GetMetrics,
        call::Type::GetState => response::Type::GetState,
        call::Type::GetContainers => response::Type::GetContainers,
        call::Type::GetFrameworks => response::Type::GetFrameworks,
        call::Type::GetExecutors => response::Type::GetExecutors,
        call::Type::GetTasks => response::Type::GetTasks,
        call::Type::GetAgent => response::Type::GetAgent,
        other => panic!("no response type for {other:?}"),
    }
}

#[tokio::test]
async fn every_operator_call_answers_in_json_and_protobuf_and_bad_calls_are_refused() {
    let master = Master::start_with(&flags_with_heartbeat(FAST_HEARTBEAT)).await;
    let agent = Agent::start(&master, &["--resources=cpus:4;mem:2048"]).await;
    let info = json!({"user": "root", "name": "operator-api"});
    let mut scheduler = Scheduler::subscribe(&master, &info).await;
    let offer = scheduler.offers(&master).await.remove(0);
    let agent_id = offer["agent_id"].clone();
    let tasks = vec![
        command_task(
            "sleeper",
            &agent_id,
            0.5,
            64.0,
            "echo the operator reads this; sleep 120",
        ),
        command_task("quick", &agent_id, 0.5, 64.0, "true"),
    ];
    scheduler
        .launch(&master, &[&offer["id"]], tasks, 3600.0)
        .await;
    scheduler
        .await_state(&master, "quick", "TASK_FINISHED")
        .await;
    scheduler
        .await_state(&master, "sleeper", "TASK_RUNNING")
        .await;
    let framework_id = scheduler.id().to_string();
    let agent_id_text = agent_id["value"].as_str().unwrap().to_string();
    Box::pin(simple_calls(&agent)).await;
    Box::pin(state_calls(&agent, &framework_id, &agent_id_text)).await;
    Box::pin(file_calls(&agent, &framework_id)).await;
    Box::pin(bad_input(&agent)).await;
}

/// A JSON call asking for `accept`.
fn bad(body: Value, accept: &str) -> Request {
    api_request(API, JSON, accept, body.to_string())
}

// The checks come in parts, each boxed by the test: one future holding them all
// overflows a test thread's stack in a debug build.

/// GET_HEALTH, GET_FLAGS, GET_VERSION, GET_METRICS (and /metrics/snapshot).
async fn simple_calls(agent: &Agent) {
    // GET_HEALTH
    let health = json_call(agent, &json!({"type": "GET_HEALTH"})).await;
    assert_eq!(health["type"], "GET_HEALTH", "{health}");
    assert_eq!(health["get_health"]["healthy"], true, "{health}");
    let proto = proto_call(agent, call::Type::GetHealth).await;
    assert!(proto.get_health.unwrap().healthy);

    // GET_FLAGS: the flags the agent runs with, as /flags shows them.
    let flags = json_call(agent, &json!({"type": "GET_FLAGS"})).await;
    let work_dir = agent.work_dir().display().to_string();
    let listed = &flags["get_flags"]["flags"];
    let flag = find(listed, &["name"], "work_dir").unwrap_or_else(|| panic!("{flags}"));
    assert_eq!(flag["value"], work_dir.as_str(), "{flags}");
    let flags_endpoint = agent.get_json("/flags").await;
    assert_eq!(
        listed.as_array().unwrap().len(),
        flags_endpoint["flags"].as_object().unwrap().len(),
        "GET_FLAGS and /flags list different flags"
    );
    let proto = proto_call(agent, call::Type::GetFlags).await;
    assert!(
        proto
            .get_flags
            .unwrap()
            .flags
            .iter()
            .any(|f| f.name == "work_dir" && f.value.as_deref() == Some(work_dir.as_str()))
    );

    // GET_VERSION: what /version says.
    let version = json_call(agent, &json!({"type": "GET_VERSION"})).await;
    let endpoint = agent.get_json("/version").await;
    assert_eq!(
        version["get_version"]["version_info"]["version"], endpoint["version"],
        "{version}"
    );
    let proto = proto_call(agent, call::Type::GetVersion).await;
    assert_eq!(
        Some(proto.get_version.unwrap().version_info.version.as_str()),
        endpoint["version"].as_str()
    );
    // The Mesos version the agent implements, as a Mesos agent's /version says, and
    // ratufa's own beside it; /state says the same.
    assert_eq!(
        endpoint["version"],
        ratufa_gateway::version::MESOS_VERSION,
        "{endpoint}"
    );
    assert_eq!(
        endpoint["ratufa_version"],
        ratufa_gateway::version::RATUFA_VERSION,
        "{endpoint}"
    );
    assert!(endpoint["build_time"].is_number(), "{endpoint}");
    assert_eq!(
        agent.get_json("/state").await["version"],
        endpoint["version"]
    );
    // `?jsonp=<callback>`, as Mesos's web UI asks an agent: the same document, wrapped.
    let response = agent.send(Request::get("/state?jsonp=JSON_CALLBACK")).await;
    assert_eq!(
        response.jsonp_document("JSON_CALLBACK")["version"],
        endpoint["version"]
    );

    // GET_METRICS
    let metrics = json_call(agent, &json!({"type": "GET_METRICS", "get_metrics": {}})).await;
    assert_eq!(metric(&metrics, "slave/registered"), 1.0);
    assert_eq!(metric(&metrics, "slave/tasks_running"), 1.0);
    assert_eq!(metric(&metrics, "slave/cpus_total"), 4.0);
    assert_eq!(metric(&metrics, "slave/cpus_used"), 0.5);
    assert!(metric(&metrics, "system/cpus_total") >= 1.0);
    assert!(metric(&metrics, "system/load_15min") >= 0.0);
    // The same numbers as Mesos's flat /metrics/snapshot.
    let snapshot = agent.get_json("/metrics/snapshot").await;
    assert_eq!(snapshot["slave/registered"], 1.0, "{snapshot}");
    assert_eq!(snapshot["slave/cpus_used"], 0.5, "{snapshot}");
    let proto = proto_call(agent, call::Type::GetMetrics).await;
    assert!(
        proto
            .get_metrics
            .unwrap()
            .metrics
            .iter()
            .any(|m| m.name == "slave/mem_total" && m.value == Some(2048.0))
    );
}

/// GET_FRAMEWORKS, GET_EXECUTORS, GET_TASKS, GET_STATE, GET_CONTAINERS, GET_AGENT.
async fn state_calls(agent: &Agent, framework_id: &str, agent_id_text: &str) {
    // GET_FRAMEWORKS
    let frameworks = json_call(agent, &json!({"type": "GET_FRAMEWORKS"})).await;
    let framework = find(
        &frameworks["get_frameworks"]["frameworks"],
        &["framework_info", "id", "value"],
        framework_id,
    )
    .unwrap_or_else(|| panic!("{frameworks}"));
    assert_eq!(framework["framework_info"]["name"], "operator-api");
    let proto = proto_call(agent, call::Type::GetFrameworks).await;
    assert_eq!(
        ratufa_proto::json::to_value(&proto)["get_frameworks"],
        frameworks["get_frameworks"]
    );

    // GET_EXECUTORS: a command task's executor has the task's id.
    let executors = json_call(agent, &json!({"type": "GET_EXECUTORS"})).await;
    let executor = find(
        &executors["get_executors"]["executors"],
        &["executor_info", "executor_id", "value"],
        "sleeper",
    )
    .unwrap_or_else(|| panic!("{executors}"));
    assert_eq!(
        executor["executor_info"]["framework_id"]["value"],
        framework_id
    );
    let proto = proto_call(agent, call::Type::GetExecutors).await;
    assert_eq!(
        ratufa_proto::json::to_value(&proto)["get_executors"],
        executors["get_executors"]
    );

    // GET_TASKS: the running task is launched, the finished one is not.
    let tasks = json_call(agent, &json!({"type": "GET_TASKS"})).await;
    let body = &tasks["get_tasks"];
    let sleeper = find(&body["launched_tasks"], &["task_id", "value"], "sleeper")
        .unwrap_or_else(|| panic!("{tasks}"));
    assert_eq!(sleeper["state"], "TASK_RUNNING", "{sleeper}");
    let running = sleeper["statuses"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|status| status["state"] == "TASK_RUNNING")
        .unwrap_or_else(|| panic!("no TASK_RUNNING among the statuses: {sleeper}"));
    assert!(running["timestamp"].as_f64() > Some(0.0), "{running}");
    // /state lists the same statuses, in Mesos's shorter shape.
    let state = agent.get_json("/state").await;
    let executor = agent::state_executor(&state, framework_id, "sleeper")
        .unwrap_or_else(|| panic!("no sleeper in /state: {state}"));
    let listed = &executor["tasks"][0];
    assert_eq!(listed["id"], "sleeper", "{executor}");
    assert!(
        listed["statuses"]
            .as_array()
            .is_some_and(|s| s.iter().any(|status| status["state"] == "TASK_RUNNING"
                && status["timestamp"].as_f64() > Some(0.0))),
        "{listed}"
    );
    assert_eq!(sleeper["framework_id"]["value"], framework_id);
    assert_eq!(sleeper["agent_id"]["value"], agent_id_text);
    let quick = find(&body["completed_tasks"], &["task_id", "value"], "quick")
        .or_else(|| find(&body["terminated_tasks"], &["task_id", "value"], "quick"))
        .unwrap_or_else(|| panic!("{tasks}"));
    assert_eq!(quick["state"], "TASK_FINISHED", "{quick}");
    assert!(find(&body["launched_tasks"], &["task_id", "value"], "quick").is_none());
    let proto = proto_call(agent, call::Type::GetTasks).await;
    assert_eq!(
        ratufa_proto::json::to_value(&proto)["get_tasks"],
        tasks["get_tasks"]
    );

    // GET_STATE: the three above together.
    let state = json_call(agent, &json!({"type": "GET_STATE"})).await;
    let body = &state["get_state"];
    assert_eq!(body["get_tasks"], tasks["get_tasks"], "{state}");
    assert_eq!(body["get_executors"], executors["get_executors"], "{state}");
    assert_eq!(
        body["get_frameworks"], frameworks["get_frameworks"],
        "{state}"
    );
    let proto = proto_call(agent, call::Type::GetState).await;
    assert_eq!(ratufa_proto::json::to_value(&proto)["get_state"], *body);

    // GET_CONTAINERS: the running task's container, with its usage.
    let containers = json_call(agent, &json!({"type": "GET_CONTAINERS"})).await;
    let container = find(
        &containers["get_containers"]["containers"],
        &["executor_id", "value"],
        "sleeper",
    )
    .unwrap_or_else(|| panic!("{containers}"));
    assert_eq!(container["framework_id"]["value"], framework_id);
    assert!(
        container["container_id"]["value"].is_string(),
        "{container}"
    );
    assert!(
        container["resource_statistics"]["timestamp"].as_f64() > Some(0.0),
        "{container}"
    );
    let proto = proto_call(agent, call::Type::GetContainers).await;
    let ids: Vec<String> = proto
        .get_containers
        .unwrap()
        .containers
        .iter()
        .filter_map(|c| c.executor_id.as_ref().map(|e| e.value.clone()))
        .collect();
    assert!(ids.contains(&"sleeper".to_string()), "{ids:?}");

    // GET_AGENT
    let got = json_call(agent, &json!({"type": "GET_AGENT"})).await;
    let info = &got["get_agent"]["agent_info"];
    assert_eq!(info["id"]["value"], agent_id_text, "{got}");
    assert_eq!(info["hostname"], "localhost", "{got}");
    assert_eq!(info["port"], agent.port, "{got}");
    let proto = proto_call(agent, call::Type::GetAgent).await;
    assert_eq!(ratufa_proto::json::to_value(&proto), got);
}

/// LIST_FILES and READ_FILE.
async fn file_calls(agent: &Agent, framework_id: &str) {
    // LIST_FILES and READ_FILE: the sleeper's sandbox under its virtual path.
    let sandbox = format!("/frameworks/{framework_id}/executors/sleeper/runs/latest");
    let listed = json_call(
        agent,
        &json!({"type": "LIST_FILES", "list_files": {"path": sandbox}}),
    )
    .await;
    assert_eq!(listed["type"], "LIST_FILES", "{listed}");
    let stdout_path = format!("{sandbox}/stdout");
    let entry = find(&listed["list_files"]["file_infos"], &["path"], &stdout_path)
        .unwrap_or_else(|| panic!("no stdout in {listed}"));
    assert!(entry["size"].as_u64().is_some(), "{entry}");
    let read_call = json!({"type": "READ_FILE", "read_file": {"path": stdout_path, "offset": 0}});
    let read = agent::wait_for("the sleeper's line in its stdout", agent::SLOW, || async {
        let read = json_call(agent, &read_call).await;
        let data = agent::unb64(&read["read_file"]["data"]);
        String::from_utf8_lossy(&data)
            .contains("the operator reads this")
            .then_some(read)
    })
    .await;
    assert_eq!(read["type"], "READ_FILE", "{read}");
    assert!(read["read_file"]["size"].as_u64() > Some(0), "{read}");
    let message = Call {
        r#type: Some(call::Type::ReadFile as i32),
        read_file: Some(call::ReadFile {
            path: format!("{sandbox}/stdout"),
            offset: 0,
            length: None,
        }),
        ..Call::default()
    };
    let response = agent
        .send(api_request(
            API,
            PROTOBUF,
            PROTOBUF,
            message.encode_to_vec(),
        ))
        .await;
    assert_eq!(response.status, 200, "READ_FILE in protobuf: {response:?}");
    let decoded = Response::decode(response.body.as_slice()).unwrap();
    let data = decoded.read_file.unwrap().data;
    assert!(
        String::from_utf8_lossy(&data).contains("the operator reads this"),
        "{data:?}"
    );
    for (path, status) in [
        (format!("{sandbox}/../../../../../etc/passwd"), 403),
        ("/etc/passwd".to_string(), 403),
        (format!("{sandbox}/no-such-file"), 404),
    ] {
        let call = json!({"type": "READ_FILE", "read_file": {"path": path, "offset": 0}});
        let response = agent.send(bad(call, JSON)).await;
        assert_eq!(response.status, status, "READ_FILE {path}: {response:?}");
    }
}

/// Refusals; the agent serves on.
async fn bad_input(agent: &Agent) {
    // Bad input.
    let response = agent.send(Request::get(API)).await;
    assert_eq!(response.status, 405, "GET: {response:?}");
    let response = agent
        .send(
            Request::post(API)
                .header("Content-Type", "text/plain")
                .body(json!({"type": "GET_HEALTH"}).to_string()),
        )
        .await;
    assert_eq!(response.status, 415, "text/plain: {response:?}");
    let response = agent
        .send(bad(json!({"type": "GET_EVERYTHING"}), JSON))
        .await;
    assert_eq!(response.status, 400, "unknown type: {response:?}");
    assert!(response.text().contains("GET_EVERYTHING"), "{response:?}");
    let response = agent.send(bad(json!({"type": "GET_METRICS"}), JSON)).await;
    assert_eq!(response.status, 400, "GET_METRICS bare: {response:?}");
    assert!(response.text().contains("get_metrics"), "{response:?}");
    let response = agent
        .send(bad(json!({"type": "GET_HEALTH"}), "text/html"))
        .await;
    assert_eq!(response.status, 406, "Accept text/html: {response:?}");
    let response = agent.send(bad(json!({"type": "READ_FILE"}), JSON)).await;
    assert_eq!(response.status, 400, "READ_FILE bare: {response:?}");
    assert!(response.text().contains("read_file"), "{response:?}");
    let response = agent
        .send(bad(json!({"type": "GET_LOGGING_LEVEL"}), JSON))
        .await;
    assert_eq!(response.status, 501, "GET_LOGGING_LEVEL: {response:?}");
    assert!(
        response.text().contains("GET_LOGGING_LEVEL"),
        "{response:?}"
    );

    agent.assert_alive().await;
    let health = json_call(agent, &json!({"type": "GET_HEALTH"})).await;
    assert_eq!(health["get_health"]["healthy"], true);
}
