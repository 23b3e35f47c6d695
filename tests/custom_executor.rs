//! End to end against the real binary: custom executors (issue #4 item 6), with
//! `ratufa master` and a separate `ratufa agent`.
//!
//! - a Python custom executor (tests/clients/custom_executor.py: stdlib only, the v1
//!   executor API in JSON with RecordIO framing) launched from ExecutorInfo.command runs
//!   two tasks in one container: both tasks' updates name the same executor, both task
//!   processes are children of the one executor process; a framework message goes
//!   scheduler → executor and the executor's answer comes back to the scheduler with its
//!   bytes intact; both tasks finish; the agent's operator API lists both tasks under
//!   the executor, and the executor with its ExecutorInfo;
//! - an executor that never subscribes, with `--executor_registration_timeout=3secs`:
//!   its task ends TASK_FAILED with REASON_EXECUTOR_REGISTRATION_TIMEOUT and the
//!   executor's process is gone;
//! - LAUNCH_GROUP with a DEFAULT executor: two tasks, both TASK_FINISHED under it;
//! - a framework message to a command task's executor is dropped without harm.

// Test scaffolding: a failure here should fail the test loudly.
#![allow(clippy::unwrap_used)]

#[path = "support/agent.rs"]
mod agent;
#[path = "support/cluster.rs"]
mod cluster;
mod support;

use serde_json::{Value, json};

use agent::{
    Agent, EXECUTOR_SCRIPT, Reaper, await_gone, await_status, cmdline, custom_executor,
    executor_task, kill_task, parent, pid_in, scratch, send_message, terminal_states, unb64,
};
use cluster::{Scheduler, command_task};
use support::{FAST_HEARTBEAT, JSON, Master, Request, flags_with_heartbeat};

async fn cluster(agent_flags: &[&str]) -> (Master, Agent) {
    let master = Master::start_with(&flags_with_heartbeat(FAST_HEARTBEAT)).await;
    let agent = Agent::start(&master, agent_flags).await;
    (master, agent)
}

/// A call of `kind` to the agent's operator API, in JSON.
async fn operator_call(agent: &Agent, kind: &str) -> Value {
    let response = agent
        .send(
            Request::post("/api/v1")
                .header("Content-Type", JSON)
                .header("Accept", JSON)
                .body(json!({"type": kind}).to_string()),
        )
        .await;
    assert_eq!(response.status, 200, "{kind}: {response:?}");
    serde_json::from_slice(&response.body).unwrap()
}

#[tokio::test]
async fn a_python_executor_runs_two_tasks_in_one_container_and_exchanges_messages() {
    let (master, agent) = cluster(&["--resources=cpus:4;mem:2048"]).await;
    let mut reaper = Reaper::default();
    let info = json!({"user": "root", "name": "custom-executor"});
    let mut scheduler = Scheduler::subscribe(&master, &info).await;
    let offer = scheduler.offers(&master).await.remove(0);
    let agent_id = offer["agent_id"].clone();

    let executor = custom_executor("pyexec", &format!("python3 {EXECUTOR_SCRIPT}"));
    let dir = scratch("custom-executor");
    let d = dir.display();
    // Each task waits for the `finish` file the executor creates on a "finish" message.
    let task = |id: &str| {
        let command = format!(
            "echo $$ > {d}/{id}.pid; while [ ! -e finish ]; do sleep 0.1; done; echo {id} done"
        );
        executor_task(id, &agent_id, &executor, &command)
    };
    scheduler
        .launch(
            &master,
            &[&offer["id"]],
            vec![task("first"), task("second")],
            3600.0,
        )
        .await;

    // Both run, under the same executor, reported by the same executor process.
    let mut executor_pids = Vec::new();
    let mut offers = Vec::new();
    for id in ["first", "second"] {
        // Slower than a command task: a Python interpreter starts and subscribes first.
        let running = await_status(
            &master,
            &mut scheduler,
            id,
            "TASK_RUNNING",
            &mut offers,
            |s| s["state"] == "TASK_RUNNING",
        )
        .await;
        assert_eq!(running["executor_id"]["value"], "pyexec", "{running}");
        assert_eq!(running["source"], "SOURCE_EXECUTOR", "{running}");
        let report: Value = serde_json::from_slice(&unb64(&running["data"])).unwrap();
        let executor_pid = u32::try_from(report["executor_pid"].as_u64().unwrap()).unwrap();
        let task_pid = pid_in(&dir.join(format!("{id}.pid"))).await;
        reaper.add(task_pid);
        assert_eq!(
            parent(task_pid),
            Some(executor_pid),
            "task {id} (pid {task_pid}) is not a child of the executor"
        );
        executor_pids.push(executor_pid);
    }
    assert_eq!(
        executor_pids[0], executor_pids[1],
        "two executor processes for one executor id"
    );
    let executor_pid = executor_pids[0];
    reaper.add(executor_pid);
    let argv = cmdline(executor_pid);
    assert!(
        argv.iter().any(|a| a.ends_with("custom_executor.py")),
        "the executor process is not the Python executor: {argv:?}"
    );

    // The agent's operator API sees both tasks under the framework's executor.
    let tasks = operator_call(&agent, "GET_TASKS").await;
    for id in ["first", "second"] {
        let task = tasks["get_tasks"]["launched_tasks"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["task_id"]["value"] == id)
            .unwrap_or_else(|| panic!("{id} not among the launched tasks: {tasks}"));
        assert_eq!(task["executor_id"]["value"], "pyexec", "{task}");
        assert_eq!(task["state"], "TASK_RUNNING", "{task}");
    }
    let executors = operator_call(&agent, "GET_EXECUTORS").await;
    let info = executors["get_executors"]["executors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| &e["executor_info"])
        .find(|i| i["executor_id"]["value"] == "pyexec")
        .unwrap_or_else(|| panic!("no pyexec in {executors}"));
    assert_eq!(info["type"], "CUSTOM", "{info}");
    assert_eq!(
        info["command"]["value"], executor["command"]["value"],
        "{info}"
    );

    // So does /state, under the executor's name.
    let state = agent.get_json("/state").await;
    let listed = agent::state_executor(&state, scheduler.id(), "pyexec")
        .unwrap_or_else(|| panic!("no pyexec in /state: {state}"));
    assert_eq!(listed["name"], "pyexec (end-to-end test)", "{listed}");
    let mut ids: Vec<&str> = listed["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["executor_id"] == "pyexec")
        .filter_map(|t| t["id"].as_str())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, ["first", "second"], "{listed}");

    // Scheduler → executor → scheduler, bytes intact (not valid UTF-8 on purpose).
    let payload: Vec<u8> = b"ping \x00\xff\xfe end".to_vec();
    send_message(&master, &scheduler, &agent_id, "pyexec", &payload).await;
    let event = scheduler.expect(&master, "MESSAGE").await;
    let message = &event["message"];
    assert_eq!(message["executor_id"]["value"], "pyexec", "{event}");
    assert_eq!(message["agent_id"], agent_id, "{event}");
    let mut expected = b"echo:".to_vec();
    expected.extend_from_slice(&payload);
    assert_eq!(unb64(&message["data"]), expected, "{event}");

    // "finish" ends both tasks; the executor answers before they end.
    send_message(&master, &scheduler, &agent_id, "pyexec", b"finish").await;
    let event = scheduler.expect(&master, "MESSAGE").await;
    assert_eq!(unb64(&event["message"]["data"]), b"finishing", "{event}");
    let done = terminal_states(
        &master,
        &mut scheduler,
        &["first", "second"],
        &mut Vec::new(),
    )
    .await;
    for id in ["first", "second"] {
        assert_eq!(done[id]["state"], "TASK_FINISHED", "{}", done[id]);
        assert_eq!(done[id]["executor_id"]["value"], "pyexec", "{}", done[id]);
    }
    // The tasks wrote to the executor's one sandbox.
    let directory = agent.sandbox(scheduler.id(), "pyexec").await;
    let stdout = agent.read_file(&directory, "stdout").await;
    for id in ["first", "second"] {
        assert!(
            stdout.contains(&format!("{id} done")),
            "stdout of the executor's sandbox: {stdout:?}"
        );
    }
    // Having acknowledged terminal updates for all it ran, the executor exits.
    await_gone(executor_pid, "the Python executor").await;
    agent.assert_alive().await;
}

#[tokio::test]
async fn an_executor_that_never_subscribes_fails_its_task_after_the_timeout() {
    let (master, agent) = cluster(&[
        "--resources=cpus:4;mem:2048",
        "--executor_registration_timeout=3secs",
    ])
    .await;
    let mut reaper = Reaper::default();
    let info = json!({"user": "root", "name": "silent-executor"});
    let mut scheduler = Scheduler::subscribe(&master, &info).await;
    let offer = scheduler.offers(&master).await.remove(0);
    let agent_id = offer["agent_id"].clone();
    let dir = scratch("silent-executor");
    let executor = custom_executor(
        "silent",
        &format!("echo $$ > {}/executor.pid; exec sleep 120", dir.display()),
    );
    let task = executor_task("waits", &agent_id, &executor, "true");
    scheduler
        .launch(&master, &[&offer["id"]], vec![task], 3600.0)
        .await;
    let executor_pid = pid_in(&dir.join("executor.pid")).await;
    reaper.add(executor_pid);

    let done = terminal_states(&master, &mut scheduler, &["waits"], &mut Vec::new()).await;
    let status = &done["waits"];
    assert_eq!(status["state"], "TASK_FAILED", "{status}");
    assert_eq!(
        status["reason"], "REASON_EXECUTOR_REGISTRATION_TIMEOUT",
        "{status}"
    );
    // The container is destroyed with it.
    await_gone(executor_pid, "the executor that never subscribed").await;
    agent.assert_alive().await;
}

#[tokio::test]
async fn launch_group_runs_a_task_group_under_the_default_executor() {
    let (master, agent) = cluster(&["--resources=cpus:4;mem:2048"]).await;
    let info = json!({"user": "root", "name": "task-group"});
    let mut scheduler = Scheduler::subscribe(&master, &info).await;
    let offer = scheduler.offers(&master).await.remove(0);
    let agent_id = offer["agent_id"].clone();
    let task = |id: &str| command_task(id, &agent_id, 0.1, 32.0, &format!("echo {id} ran"));
    let executor = scheduler.default_executor("group");
    scheduler
        .launch_group(
            &master,
            &[&offer["id"]],
            executor,
            vec![task("alpha"), task("beta")],
            3600.0,
        )
        .await;
    let done = terminal_states(&master, &mut scheduler, &["alpha", "beta"], &mut Vec::new()).await;
    for id in ["alpha", "beta"] {
        assert_eq!(done[id]["state"], "TASK_FINISHED", "{}", done[id]);
        assert_eq!(done[id]["executor_id"]["value"], "group", "{}", done[id]);
    }
    agent.assert_alive().await;
    master.assert_alive().await;
}

#[tokio::test]
async fn a_framework_message_to_a_command_task_is_dropped_without_harm() {
    let (master, agent) = cluster(&["--resources=cpus:4;mem:2048"]).await;
    let info = json!({"user": "root", "name": "message-to-command"});
    let mut scheduler = Scheduler::subscribe(&master, &info).await;
    let offer = scheduler.offers(&master).await.remove(0);
    let agent_id = offer["agent_id"].clone();
    let task = command_task("sleeper", &agent_id, 0.1, 32.0, "sleep 120");
    scheduler
        .launch(&master, &[&offer["id"]], vec![task], 3600.0)
        .await;
    scheduler
        .await_state(&master, "sleeper", "TASK_RUNNING")
        .await;

    // To the command executor (executor id = task id), and to no executor at all.
    send_message(&master, &scheduler, &agent_id, "sleeper", b"hello?").await;
    send_message(
        &master,
        &scheduler,
        &agent_id,
        "no-such-executor",
        b"anyone?",
    )
    .await;

    // The task is unharmed and the agent still acts on it.
    agent.assert_alive().await;
    kill_task(&master, &scheduler, "sleeper", &agent_id).await;
    let done = terminal_states(&master, &mut scheduler, &["sleeper"], &mut Vec::new()).await;
    assert_eq!(
        done["sleeper"]["state"], "TASK_KILLED",
        "{}",
        done["sleeper"]
    );
    let states = agent::states_of(&scheduler, "sleeper");
    assert_eq!(
        states
            .iter()
            .filter(|s| s.as_str() == "TASK_KILLED")
            .count(),
        1,
        "{states:?}"
    );
    agent.assert_alive().await;
    master.assert_alive().await;
}
