//! The agent's `/api/v1/executor` over real sockets against the real binary, with the
//! test itself playing the executor.
//!
//! A framework launches a task with a custom executor whose command (`sleep`) never
//! subscribes; the test then speaks for it: calls before SUBSCRIBE are refused with
//! 403, unknown frameworks and executors with 400, a wrong method with 405, a wrong
//! `Content-Type` with 415, a SUBSCRIBE that accepts nothing we speak with 406. Its
//! SUBSCRIBE gets SUBSCRIBED (with the container id) and the queued LAUNCH; an UPDATE
//! is answered 202 and ACKNOWLEDGED, and reaches the scheduler; a MESSAGE reaches the
//! scheduler as MESSAGE and the scheduler's MESSAGE comes back as a MESSAGE event;
//! KILL_TASK arrives as KILL. A second executor that never subscribes fails its task
//! with REASON_EXECUTOR_REGISTRATION_TIMEOUT after `--executor_registration_timeout`.
//! A checkpointing framework's update is in `task.updates` before ACKNOWLEDGED, its ACK
//! after; `--switch_user` and bad executor flags are checked too.

// Test scaffolding: a failure here should fail the test loudly.
#![allow(clippy::unwrap_used)]

#[path = "support/cluster.rs"]
mod cluster;
mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use cluster::Scheduler;
use support::{EventStream, JSON, PATIENCE, Request, open_on, send_to, start_local_with_agent};

const EXECUTOR: &str = "/api/v1/executor";

fn executor_task(id: &str, executor_id: &str, agent_id: &Value) -> Value {
    json!({
        "name": id,
        "task_id": {"value": id},
        "agent_id": agent_id,
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": 16.0}},
        ],
        "executor": {
            "type": "CUSTOM",
            "executor_id": {"value": executor_id},
            "command": {"value": "sleep 600"},
            "resources": [
                {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                {"name": "mem", "type": "SCALAR", "scalar": {"value": 16.0}},
            ],
        },
    })
}

async fn post(agent: SocketAddr, body: &Value) -> support::Response {
    send_to(
        agent,
        Request::post(EXECUTOR)
            .header("Content-Type", JSON)
            .body(body.to_string()),
    )
    .await
    .unwrap()
}

async fn next_event(stream: &mut EventStream) -> Value {
    loop {
        let record = stream.next_record_within(PATIENCE).await.unwrap();
        let event: Value = serde_json::from_slice(&record).unwrap();
        if event["type"] != "HEARTBEAT" {
            return event;
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn the_test_speaks_for_a_custom_executor() {
    let (master, agent_port) =
        start_local_with_agent(&["--executor_registration_timeout=3secs".to_string()]).await;
    let agent = SocketAddr::from((Ipv4Addr::LOCALHOST, agent_port));

    let info = json!({"user": "root", "name": "executor-api"});
    let mut scheduler = Scheduler::subscribe(&master, &info).await;
    let offer = scheduler.offers(&master).await.remove(0);
    let agent_id = offer["agent_id"].clone();
    scheduler
        .launch(
            &master,
            &[&offer["id"]],
            vec![
                executor_task("t1", "ex1", &agent_id),
                executor_task("late", "never", &agent_id),
            ],
            0.0,
        )
        .await;
    let fw = json!({"value": scheduler.id()});
    let ex = json!({"value": "ex1"});

    // Wait until the agent knows the executor: a HEARTBEAT is answered whatever the
    // state, so probe with UPDATE, which says 403 once the executor is known.
    let uuid = b64(uuid::Uuid::new_v4().as_bytes());
    let update = |state: &str, uuid: &str| {
        json!({
            "type": "UPDATE",
            "framework_id": fw,
            "executor_id": ex,
            "update": {"status": {
                "task_id": {"value": "t1"},
                "state": state,
                "source": "SOURCE_EXECUTOR",
                "uuid": uuid,
                "executor_id": ex,
            }},
        })
    };
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let response = post(agent, &update("TASK_RUNNING", &uuid)).await;
        if response.status == 403 {
            assert!(
                response.text().contains("Executor is not subscribed"),
                "{response:?}"
            );
            break;
        }
        assert_eq!(response.status, 400, "{response:?}");
        assert!(std::time::Instant::now() < deadline, "{}", master.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // What is refused before any state is looked at.
    let response = send_to(agent, Request::get(EXECUTOR)).await.unwrap();
    assert_eq!(response.status, 405, "{response:?}");
    let response = send_to(
        agent,
        Request::post(EXECUTOR)
            .header("Content-Type", "text/plain")
            .body("{}"),
    )
    .await
    .unwrap();
    assert_eq!(response.status, 415, "{response:?}");
    let mut bad = update("TASK_STAGING", &uuid);
    let response = post(agent, &bad).await;
    assert_eq!(response.status, 400, "{response:?}");
    assert!(response.text().contains("TASK_STAGING"), "{response:?}");
    bad = update("TASK_RUNNING", &b64(b"short"));
    let response = post(agent, &bad).await;
    assert_eq!(response.status, 400, "{response:?}");
    assert!(response.text().contains("uuid"), "{response:?}");
    // Unknown framework or executor.
    let mut unknown = update("TASK_RUNNING", &uuid);
    unknown["framework_id"] = json!({"value": "nope"});
    let response = post(agent, &unknown).await;
    assert_eq!(response.status, 400, "{response:?}");
    assert!(response.text().contains("nope"), "{response:?}");
    unknown = update("TASK_RUNNING", &uuid);
    unknown["executor_id"] = json!({"value": "nope"});
    unknown["update"]["status"]["executor_id"] = json!({"value": "nope"});
    let response = post(agent, &unknown).await;
    assert_eq!(response.status, 400, "{response:?}");
    let heartbeat = json!({"type": "HEARTBEAT", "framework_id": fw, "executor_id": ex});
    assert_eq!(post(agent, &heartbeat).await.status, 202);

    // SUBSCRIBE: 406 for an Accept we cannot meet, then the stream.
    let subscribe = json!({
        "type": "SUBSCRIBE",
        "framework_id": fw,
        "executor_id": ex,
        "subscribe": {},
    });
    let request = || {
        Request::post(EXECUTOR)
            .header("Content-Type", JSON)
            .body(subscribe.to_string())
    };
    let refused = open_on(agent, request().header("Accept", "text/html")).await;
    assert_eq!(refused.err().unwrap().status, 406);
    let mut stream = open_on(agent, request().header("Accept", JSON))
        .await
        .unwrap_or_else(|r| panic!("{r:?}\n{}", master.log()));
    let subscribed = next_event(&mut stream).await;
    assert_eq!(subscribed["type"], "SUBSCRIBED", "{subscribed}");
    assert_eq!(
        subscribed["subscribed"]["executor_info"]["executor_id"]["value"],
        "ex1"
    );
    assert_eq!(
        subscribed["subscribed"]["framework_info"]["id"]["value"],
        scheduler.id()
    );
    assert!(
        subscribed["subscribed"]["container_id"]["value"]
            .as_str()
            .is_some_and(|c| !c.is_empty()),
        "{subscribed}"
    );
    let launch = next_event(&mut stream).await;
    assert_eq!(launch["type"], "LAUNCH", "{launch}");
    assert_eq!(launch["launch"]["task"]["task_id"]["value"], "t1");

    // UPDATE: 202, ACKNOWLEDGED, and the scheduler sees it.
    let response = post(agent, &update("TASK_RUNNING", &uuid)).await;
    assert_eq!(response.status, 202, "{response:?}");
    let acked = next_event(&mut stream).await;
    assert_eq!(acked["type"], "ACKNOWLEDGED", "{acked}");
    assert_eq!(acked["acknowledged"]["uuid"], uuid.as_str());
    let status = scheduler.await_state(&master, "t1", "TASK_RUNNING").await;
    assert_eq!(status["source"], "SOURCE_EXECUTOR", "{status}");
    assert_eq!(status["agent_id"], agent_id, "{status}");

    // Messages both ways.
    let message = json!({
        "type": "MESSAGE",
        "framework_id": fw,
        "executor_id": ex,
        "message": {"data": b64(b"from the executor")},
    });
    assert_eq!(post(agent, &message).await.status, 202);
    let event = scheduler.expect(&master, "MESSAGE").await;
    assert_eq!(
        event["message"]["data"],
        b64(b"from the executor"),
        "{event}"
    );
    scheduler
        .call(
            &master,
            json!({
                "type": "MESSAGE",
                "framework_id": fw,
                "message": {"agent_id": agent_id, "executor_id": ex, "data": b64(b"to it")},
            }),
        )
        .await;
    let event = next_event(&mut stream).await;
    assert_eq!(event["type"], "MESSAGE", "{event}");
    assert_eq!(event["message"]["data"], b64(b"to it"));

    // KILL_TASK arrives as KILL.
    scheduler
        .call(
            &master,
            json!({
                "type": "KILL",
                "framework_id": fw,
                "kill": {"task_id": {"value": "t1"}, "agent_id": agent_id},
            }),
        )
        .await;
    let event = next_event(&mut stream).await;
    assert_eq!(event["type"], "KILL", "{event}");
    assert_eq!(event["kill"]["task_id"]["value"], "t1");

    // The executor that never subscribed is given up on.
    let status = scheduler.await_state(&master, "late", "TASK_FAILED").await;
    assert_eq!(
        status["reason"], "REASON_EXECUTOR_REGISTRATION_TIMEOUT",
        "{status}"
    );
    assert_eq!(status["source"], "SOURCE_AGENT", "{status}");

    // The executor reports the kill; the agent forwards it.
    let killed = b64(uuid::Uuid::new_v4().as_bytes());
    assert_eq!(
        post(agent, &update("TASK_KILLED", &killed)).await.status,
        202
    );
    scheduler.await_state(&master, "t1", "TASK_KILLED").await;
    master.assert_alive().await;
}

#[test]
fn bad_executor_and_recovery_flags_exit_with_1_naming_the_flag() {
    let work_dir = support::fresh_dir("executor-flags");
    for (flag, named) in [
        ("--recover=bogus", "--recover"),
        (
            "--executor_registration_timeout=0secs",
            "--executor_registration_timeout",
        ),
        (
            "--executor_shutdown_grace_period=soon",
            "--executor_shutdown_grace_period",
        ),
        (
            "--executor_reregistration_timeout=-1secs",
            "--executor_reregistration_timeout",
        ),
        ("--strict=maybe", "--strict"),
        ("--switch_user=perhaps", "--switch_user"),
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_ratufa"))
            .arg("agent")
            .arg("--master=127.0.0.1:1")
            .arg(format!("--work_dir={}", work_dir.display()))
            .arg(flag)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{flag}: {stderr}");
        assert!(stderr.contains(named), "{flag}: {stderr}");
    }
}

/// Tasks run as their framework's user when the agent is root (Mesos's
/// `--switch_user`): a user the machine does not have fails the launch, naming it;
/// with `--switch_user=false` the same task runs as the agent's user and finishes.
#[tokio::test]
async fn switch_user_decides_whether_the_framework_user_must_exist() {
    for (flags, expected) in [
        (vec![], "TASK_FAILED"),
        (vec!["--switch_user=false".to_string()], "TASK_FINISHED"),
    ] {
        let (master, _) = start_local_with_agent(&flags).await;
        let info = json!({"user": "ratufa-no-such-user", "name": "switch-user"});
        let mut scheduler = Scheduler::subscribe(&master, &info).await;
        let offer = scheduler.offers(&master).await.remove(0);
        let task = cluster::command_task("who", &offer["agent_id"], 0.1, 32.0, "true");
        scheduler
            .launch(&master, &[&offer["id"]], vec![task], 0.0)
            .await;
        let status = scheduler.await_state(&master, "who", expected).await;
        if expected == "TASK_FAILED" {
            let message = status["message"].as_str().unwrap_or_default();
            assert!(message.contains("ratufa-no-such-user"), "{status}");
        }
    }
}

/// Every file under `dir`, recursively.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() && !path.is_symlink() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// A checkpointing framework's update is on disk (task.updates under `<work_dir>/meta`,
/// Mesos's layout) by the time ACKNOWLEDGED reaches the executor, and the framework's
/// acknowledgement is recorded after it.
#[tokio::test]
async fn a_checkpointing_frameworks_update_is_on_disk_before_acknowledged() {
    let (master, agent_port) = start_local_with_agent(&[]).await;
    let agent = SocketAddr::from((Ipv4Addr::LOCALHOST, agent_port));
    let info = json!({"user": "root", "name": "checkpointed", "checkpoint": true});
    let mut scheduler = Scheduler::subscribe(&master, &info).await;
    let offer = scheduler.offers(&master).await.remove(0);
    let agent_id = offer["agent_id"].clone();
    scheduler
        .launch(
            &master,
            &[&offer["id"]],
            vec![executor_task("t1", "ex1", &agent_id)],
            0.0,
        )
        .await;
    let fw = json!({"value": scheduler.id()});
    let ex = json!({"value": "ex1"});
    let subscribe = json!({
        "type": "SUBSCRIBE", "framework_id": fw, "executor_id": ex, "subscribe": {},
    });
    let deadline = std::time::Instant::now() + PATIENCE;
    let mut stream = loop {
        let request = Request::post(EXECUTOR)
            .header("Content-Type", JSON)
            .header("Accept", JSON)
            .body(subscribe.to_string());
        match open_on(agent, request).await {
            Ok(stream) => break stream,
            Err(response) => {
                assert_eq!(response.status, 400, "{response:?}");
                assert!(std::time::Instant::now() < deadline, "{}", master.log());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert_eq!(next_event(&mut stream).await["type"], "SUBSCRIBED");

    // The agent answers an executor's SUBSCRIBE only once its pid is on disk: an
    // executor that could act first would be lost to an agent dying in between.
    // (This test subscribes in the executor's place, possibly before the `sleep`
    // standing for it is spawned: the agent holds the call until then.)
    let flags = send_to(agent, Request::get("/flags")).await.unwrap();
    let flags: Value = serde_json::from_slice(&flags.body).unwrap();
    let meta = std::path::Path::new(flags["flags"]["work_dir"].as_str().unwrap()).join("meta");
    assert!(
        files_under(&meta)
            .iter()
            .any(|p| p.ends_with("pids/forked.pid")),
        "no forked.pid under {} at SUBSCRIBED: {:?}\n{}",
        meta.display(),
        files_under(&meta),
        master.log()
    );
    assert_eq!(next_event(&mut stream).await["type"], "LAUNCH");

    let uuid = uuid::Uuid::new_v4();
    let update = json!({
        "type": "UPDATE", "framework_id": fw, "executor_id": ex,
        "update": {"status": {
            "task_id": {"value": "t1"}, "state": "TASK_RUNNING",
            "source": "SOURCE_EXECUTOR", "uuid": b64(uuid.as_bytes()),
        }},
    });
    assert_eq!(post(agent, &update).await.status, 202);
    assert_eq!(next_event(&mut stream).await["type"], "ACKNOWLEDGED");

    let files = files_under(&meta);
    let named = |name: &str| {
        files
            .iter()
            .find(|p| p.file_name().is_some_and(|n| n == name))
            .unwrap_or_else(|| panic!("no {name} under {}: {files:?}", meta.display()))
            .clone()
    };
    for name in ["slave.info", "framework.info", "executor.info", "task.info"] {
        named(name);
    }
    let updates = named("task.updates");
    assert!(
        updates.ends_with("tasks/t1/task.updates"),
        "{}",
        updates.display()
    );
    let count = |bytes: &[u8]| {
        bytes
            .windows(16)
            .filter(|w| *w == uuid.as_bytes().as_slice())
            .count()
    };
    assert_eq!(
        count(&std::fs::read(&updates).unwrap()),
        1,
        "the update, on disk"
    );

    // The scheduler acknowledges it (await_state does): the ACK follows on disk.
    scheduler.await_state(&master, "t1", "TASK_RUNNING").await;
    let deadline = std::time::Instant::now() + PATIENCE;
    while count(&std::fs::read(&updates).unwrap()) < 2 {
        assert!(std::time::Instant::now() < deadline, "no ACK record");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
