//! End to end against the real binary: checkpointing and agent recovery (issue #4 items
//! 7 and 8). `ratufa master` and `ratufa agent --port=<fixed> --work_dir=<dir>` run as
//! separate processes; the agent is killed with SIGKILL and started again on the same
//! port and work dir, as an operator's supervisor would.
//!
//! - a framework with `checkpoint: true` keeps its task through the crash: the task's
//!   process lives on while the agent is down, the agent comes back under the same id
//!   (in the master's `/state` too), the task's TASK_FINISHED reaches the framework
//!   exactly once, and the task ran once; a non-checkpointing framework's task on the
//!   same agent dies with the agent (its executor ends when the agent is gone);
//! - a checkpointing framework's Python custom executor (tests/clients/custom_executor.py)
//!   and its task outlive the crash; the executor subscribes to the restarted agent,
//!   framework messages reach it again, and its task finishes, having run once;
//! - a task that ends while its agent is down: its TASK_FINISHED, held by its executor,
//!   reaches the framework once the agent is back, exactly once;
//! - `--recover=cleanup` on restart kills the checkpointed task;
//! - an executor that died while the agent was down, its pid since given to another
//!   process: that process is left alone and the task fails as the executor's death
//!   makes it (the start time kept beside `forked.pid` tells them apart);
//! - a task.updates checkpoint cut in half (as by a crash mid-write) is survived: the
//!   agent recovers, serves `/health`, and still acts on the task;
//! - `--strict` with a framework.info of garbage: the agent exits non-zero naming the
//!   file. The layout is Mesos's: `<work_dir>/meta/slaves/<agent>/frameworks/<fw>/
//!   framework.info`, `…/executors/<ex>/runs/<container>/tasks/<task>/task.updates`.

// Test scaffolding: a failure here should fail the test loudly.
#![allow(clippy::unwrap_used)]

#[path = "support/agent.rs"]
mod agent;
#[path = "support/cluster.rs"]
mod cluster;
mod support;

use std::time::Duration;

use serde_json::{Value, json};

use agent::{
    Agent, EXECUTOR_SCRIPT, Reaper, SLOW, alive, await_gone, await_status, custom_executor,
    drain_for, executor_task, find_files, kill_task, master_agent, parent, pid_in, scratch,
    send_message, states_of, terminal_states, touch, unb64, wait_for,
};
use cluster::{Scheduler, command_task};
use support::{FAST_HEARTBEAT, Master, flags_with_heartbeat};

const RESOURCES: &str = "--resources=cpus:4;mem:2048";

async fn cluster() -> (Master, Agent) {
    let master = Master::start_with(&flags_with_heartbeat(FAST_HEARTBEAT)).await;
    let agent = Agent::start(&master, &[RESOURCES]).await;
    (master, agent)
}

fn checkpointing(name: &str) -> Value {
    json!({"user": "root", "name": name, "checkpoint": true, "failover_timeout": 3600.0})
}

/// Subscribes `info`, takes the next offer and launches one command task `id` running
/// `command`, refusing the rest of the offer for an hour; waits for TASK_RUNNING.
/// Returns the scheduler and the agent id.
async fn launch_one(master: &Master, info: &Value, id: &str, command: &str) -> (Scheduler, Value) {
    launch_with(master, info, id, command, json!({})).await
}

/// As [`launch_one`], the task also taking the fields of the object `fields`.
async fn launch_with(
    master: &Master,
    info: &Value,
    id: &str,
    command: &str,
    fields: Value,
) -> (Scheduler, Value) {
    let mut scheduler = Scheduler::subscribe(master, info).await;
    let offer = scheduler.offers(master).await.remove(0);
    let agent_id = offer["agent_id"].clone();
    let mut task = command_task(id, &agent_id, 0.5, 64.0, command);
    for (field, value) in fields.as_object().into_iter().flatten() {
        task[field] = value.clone();
    }
    scheduler
        .launch(master, &[&offer["id"]], vec![task], 3600.0)
        .await;
    scheduler.await_state(master, id, "TASK_RUNNING").await;
    (scheduler, agent_id)
}

/// A checkpointing framework `name` with a task `task_id` that sleeps; returns (with
/// the processes to reap should the test fail) the scheduler, the agent id and the
/// task's pid.
async fn sleeper(master: &Master, name: &str, task_id: &str) -> (Reaper, Scheduler, Value, u32) {
    let mut reaper = Reaper::default();
    let dir = scratch(name);
    let command = format!("echo $$ > {}/task.pid; exec sleep 120", dir.display());
    let (scheduler, agent_id) = launch_one(master, &checkpointing(name), task_id, &command).await;
    let task = pid_in(&dir.join("task.pid")).await;
    reaper.add(task);
    if let Some(executor) = parent(task) {
        reaper.add(executor);
    }
    (reaper, scheduler, agent_id, task)
}

/// `task_id` ends TASK_FINISHED, and no second TASK_FINISHED follows within a status
/// update retry's interval (10 s); the task, which appends a line to `dir/runs` when
/// it starts, ran once.
async fn finished_once_having_run_once(
    master: &Master,
    scheduler: &mut Scheduler,
    task_id: &str,
    dir: &std::path::Path,
) {
    let done = terminal_states(master, scheduler, &[task_id], &mut Vec::new()).await;
    assert_eq!(done[task_id]["state"], "TASK_FINISHED", "{}", done[task_id]);
    drain_for(master, scheduler, Duration::from_secs(15)).await;
    let states = states_of(scheduler, task_id);
    let finished = states
        .iter()
        .filter(|s| s.as_str() == "TASK_FINISHED")
        .count();
    assert_eq!(
        finished, 1,
        "TASK_FINISHED should reach the framework exactly once: {states:?}"
    );
    let runs = std::fs::read_to_string(dir.join("runs")).unwrap();
    assert_eq!(
        runs.lines().count(),
        1,
        "the task ran more than once: {runs:?}"
    );
}

/// The master lists agent `agent_id` as active.
async fn await_active_in_master(master: &Master, agent_id: &str) {
    wait_for(
        &format!("agent {agent_id} active in the master's /state"),
        SLOW,
        || async {
            master_agent(master, agent_id)
                .await
                .filter(|agent| agent["active"] == true)
        },
    )
    .await;
}

#[tokio::test]
async fn a_checkpointed_task_survives_an_agent_crash_and_a_plain_one_does_not() {
    let (master, mut agent) = cluster().await;
    let mut reaper = Reaper::default();

    let dir = scratch("recovery");
    let d = dir.display();
    // Runs once (one line in `runs`), then waits for the gate the test opens after the
    // agent is back.
    let command = format!(
        "echo ran >> {d}/runs; echo $$ > {d}/survivor.pid; \
         while [ ! -e {d}/gate ]; do sleep 0.2; done"
    );
    let (mut scheduler, agent_id) = launch_one(
        &master,
        &checkpointing("checkpointing"),
        "survivor",
        &command,
    )
    .await;
    let survivor = pid_in(&dir.join("survivor.pid")).await;
    reaper.add(survivor);

    let plain_info = json!({"user": "root", "name": "not-checkpointing"});
    let plain_command = format!("echo $$ > {d}/plain.pid; exec sleep 120");
    let (_plain, _) = launch_one(&master, &plain_info, "plain", &plain_command).await;
    let plain = pid_in(&dir.join("plain.pid")).await;
    reaper.add(plain);
    if let Some(executor) = parent(plain) {
        reaper.add(executor);
    }

    let agent_id_text = agent_id["value"].as_str().unwrap().to_string();
    assert_eq!(agent.id().await, agent_id_text);

    agent.kill();
    // The non-checkpointing framework's task goes with its agent…
    await_gone(plain, "the non-checkpointing framework's task").await;
    // …the checkpointing one's lives on (it has seen the plain one go: it was up then).
    assert!(alive(survivor), "the checkpointed task died with the agent");

    agent.restart(&[RESOURCES]).await;
    assert!(alive(survivor), "the checkpointed task died on recovery");
    assert_eq!(
        agent.id().await,
        agent_id_text,
        "the agent came back under another id"
    );
    await_active_in_master(&master, &agent_id_text).await;

    touch(&dir.join("gate"));
    finished_once_having_run_once(&master, &mut scheduler, "survivor", &dir).await;
    await_gone(survivor, "the finished task").await;
    agent.assert_alive().await;
}

#[tokio::test]
async fn recover_cleanup_kills_the_checkpointed_tasks() {
    let (master, mut agent) = cluster().await;
    let (_reaper, _scheduler, _agent_id, task) = sleeper(&master, "cleanup", "doomed").await;

    agent.kill();
    // Time for a task that goes with its agent to go, so that the cleanup is what ends it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(alive(task), "the checkpointed task died with the agent");
    // Mesos's agent exits once the cleanup is done; whether ratufa's does or stays up,
    // the task must be gone.
    agent.respawn(&[RESOURCES, "--recover=cleanup"]);
    await_gone(task, "the checkpointed task under --recover=cleanup").await;
    master.assert_alive().await;
}

#[tokio::test]
async fn a_task_updates_file_cut_in_half_is_survived() {
    let (master, mut agent) = cluster().await;
    let (_reaper, mut scheduler, agent_id, task) = sleeper(&master, "torn", "torn").await;
    let agent_id_text = agent_id["value"].as_str().unwrap().to_string();

    agent.kill();
    let meta = agent.work_dir().join("meta");
    let updates = find_files(&meta, "task.updates");
    assert!(
        !updates.is_empty(),
        "no task.updates checkpoint under {}",
        meta.display()
    );
    for file in &updates {
        let len = std::fs::metadata(file).unwrap().len();
        assert!(len > 1, "{} is empty", file.display());
        let handle = std::fs::OpenOptions::new().write(true).open(file).unwrap();
        handle.set_len(len / 2).unwrap();
    }

    agent.restart(&[RESOURCES]).await;
    agent.assert_alive().await;
    await_active_in_master(&master, &agent_id_text).await;
    assert_eq!(agent.id().await, agent_id_text);

    // The agent still acts on the task it recovered.
    kill_task(&master, &scheduler, "torn", &agent_id).await;
    let done = terminal_states(&master, &mut scheduler, &["torn"], &mut Vec::new()).await;
    assert_eq!(done["torn"]["state"], "TASK_KILLED", "{}", done["torn"]);
    await_gone(task, "the killed task").await;
    agent.assert_alive().await;
}

#[tokio::test]
async fn strict_recovery_refuses_a_garbage_framework_info_naming_the_file() {
    let (master, mut agent) = cluster().await;
    let (_reaper, _scheduler, _agent_id, _task) = sleeper(&master, "strict", "strict").await;

    agent.kill();
    let meta = agent.work_dir().join("meta");
    let infos = find_files(&meta, "framework.info");
    assert_eq!(
        infos.len(),
        1,
        "one framework.info checkpoint under {}: {infos:?}",
        meta.display()
    );
    // An unterminated varint: no protobuf decoder accepts it.
    std::fs::write(
        &infos[0],
        b"\xff\xff\xff\xff\xff garbage, not a FrameworkInfo",
    )
    .unwrap();

    let (status, output) = agent.run_to_exit(&[RESOURCES, "--strict=true"]);
    assert!(
        !status.success(),
        "the agent recovered from a garbage framework.info under --strict: {output}"
    );
    assert!(
        output.contains("framework.info"),
        "the agent's error should name the file: {output}"
    );
    master.assert_alive().await;
}

#[tokio::test]
async fn a_custom_executor_reconnects_to_the_restarted_agent() {
    let (master, mut agent) = cluster().await;
    let mut reaper = Reaper::default();
    let mut scheduler = Scheduler::subscribe(&master, &checkpointing("custom-recovery")).await;
    let offer = scheduler.offers(&master).await.remove(0);
    let agent_id = offer["agent_id"].clone();
    let agent_id_text = agent_id["value"].as_str().unwrap().to_string();
    let dir = scratch("custom-recovery");
    let d = dir.display();
    let executor = custom_executor("pyexec", &format!("python3 {EXECUTOR_SCRIPT}"));
    // Waits for the `finish` file the executor creates on a "finish" message.
    let command = format!(
        "echo ran >> {d}/runs; echo $$ > {d}/task.pid; \
         while [ ! -e finish ]; do sleep 0.1; done"
    );
    let task = executor_task("waiter", &agent_id, &executor, &command);
    scheduler
        .launch(&master, &[&offer["id"]], vec![task], 3600.0)
        .await;
    let running = await_status(
        &master,
        &mut scheduler,
        "waiter",
        "TASK_RUNNING",
        &mut Vec::new(),
        |s| s["state"] == "TASK_RUNNING",
    )
    .await;
    let report: Value = serde_json::from_slice(&unb64(&running["data"])).unwrap();
    let executor_pid = u32::try_from(report["executor_pid"].as_u64().unwrap()).unwrap();
    reaper.add(executor_pid);
    let task_pid = pid_in(&dir.join("task.pid")).await;
    reaper.add(task_pid);

    agent.kill();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        alive(executor_pid),
        "the checkpointing framework's executor died with the agent"
    );
    assert!(alive(task_pid), "its task died with the agent");

    agent.restart(&[RESOURCES]).await;
    await_active_in_master(&master, &agent_id_text).await;

    // Messages reach the executor once it has subscribed to the new agent: ping until
    // one is answered.
    let deadline = std::time::Instant::now() + SLOW;
    loop {
        send_message(&master, &scheduler, &agent_id, "pyexec", b"ping").await;
        let answer = scheduler.next_within(&master, Duration::from_secs(2)).await;
        if answer.as_ref().is_some_and(|event| {
            event["type"] == "MESSAGE" && unb64(&event["message"]["data"]) == b"echo:ping"
        }) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the executor never answered through the restarted agent\n{}",
            agent.log()
        );
    }
    send_message(&master, &scheduler, &agent_id, "pyexec", b"finish").await;
    let done = terminal_states(&master, &mut scheduler, &["waiter"], &mut Vec::new()).await;
    assert_eq!(
        done["waiter"]["state"], "TASK_FINISHED",
        "{}",
        done["waiter"]
    );
    assert_eq!(done["waiter"]["executor_id"]["value"], "pyexec");
    let runs = std::fs::read_to_string(dir.join("runs")).unwrap();
    assert_eq!(
        runs.lines().count(),
        1,
        "the task ran more than once: {runs:?}"
    );
    await_gone(executor_pid, "the executor, its task done").await;
    agent.assert_alive().await;
}

#[tokio::test]
async fn an_update_made_while_the_agent_is_down_arrives_once_it_is_back() {
    let (master, mut agent) = cluster().await;
    let mut reaper = Reaper::default();
    let dir = scratch("update-while-down");
    let d = dir.display();
    let command = format!(
        "echo ran >> {d}/runs; echo $$ > {d}/task.pid; \
         while [ ! -e {d}/gate ]; do sleep 0.2; done"
    );
    let (mut scheduler, agent_id) =
        launch_one(&master, &checkpointing("while-down"), "late", &command).await;
    let task = pid_in(&dir.join("task.pid")).await;
    reaper.add(task);
    if let Some(executor) = parent(task) {
        reaper.add(executor);
    }
    let agent_id_text = agent_id["value"].as_str().unwrap().to_string();

    agent.kill();
    // The task ends while no agent is there to hear of it: its executor keeps the
    // update until it has subscribed to the agent again.
    touch(&dir.join("gate"));
    await_gone(task, "the task").await;
    agent.restart(&[RESOURCES]).await;
    await_active_in_master(&master, &agent_id_text).await;

    finished_once_having_run_once(&master, &mut scheduler, "late", &dir).await;
    agent.assert_alive().await;
}

/// An executor that died while the agent was down, whose pid now names another process
/// (the test writes a `sleep` of its own into forked.pid, as if the pid had been
/// reused): the restarted agent tells them apart by the start time it recorded beside
/// the pid, leaves the `sleep` alone (it neither waits for it to subscribe nor kills
/// it), and fails the task as for any executor that died meanwhile.
#[tokio::test]
async fn a_reused_executor_pid_is_not_taken_for_the_executor() {
    let (master, mut agent) = cluster().await;
    let (mut reaper, mut scheduler, agent_id, task) = sleeper(&master, "reused", "reused").await;
    let executor = parent(task).unwrap();
    let agent_id_text = agent_id["value"].as_str().unwrap().to_string();

    agent.kill();
    for pid in [executor, task] {
        support::send_signal(pid, "KILL");
    }
    await_gone(executor, "the executor").await;
    await_gone(task, "the task").await;
    let mut stranger = std::process::Command::new("sleep")
        .arg("300")
        .spawn()
        .unwrap();
    reaper.add(stranger.id());
    let pid_files = find_files(&agent.work_dir().join("meta"), "forked.pid");
    assert_eq!(pid_files.len(), 1, "{pid_files:?}");
    std::fs::write(&pid_files[0], stranger.id().to_string()).unwrap();

    agent.restart(&[RESOURCES]).await;
    let done = terminal_states(&master, &mut scheduler, &["reused"], &mut Vec::new()).await;
    let status = &done["reused"];
    assert_eq!(status["state"], "TASK_FAILED", "{status}");
    assert_eq!(status["reason"], "REASON_EXECUTOR_TERMINATED", "{status}");
    assert_eq!(
        status["message"], "Executor terminated while the agent was down",
        "{status}"
    );
    await_active_in_master(&master, &agent_id_text).await;
    assert!(
        stranger.try_wait().unwrap().is_none(),
        "the agent ended a process that only had the executor's pid"
    );
    stranger.kill().unwrap();
    stranger.wait().unwrap();
    agent.assert_alive().await;
}

/// A check's command (health or generic) goes with its executor: with the agent down
/// (a live agent would end what the executor's session left), an executor SIGKILLed
/// while its task's checks run a long `sleep` takes both sleeps with it, as it takes
/// its task: the kernel's death signal, set for each process the executor starts.
#[tokio::test]
async fn check_commands_die_with_their_executor() {
    let (master, mut agent) = cluster().await;
    let mut reaper = Reaper::default();
    let dir = scratch("checked");
    let d = dir.display();
    let command = format!("echo $$ > {d}/task.pid; exec sleep 300");
    let sleeper =
        |name: &str| json!({"value": format!("echo $$ > {d}/{name}.pid; exec sleep 300")});
    // No timeout (0): nothing but the executor's end could stop them.
    let checks = json!({
        "health_check": {
            "type": "COMMAND",
            "command": sleeper("health"),
            "delay_seconds": 0.0,
            "timeout_seconds": 0.0,
            "grace_period_seconds": 3600.0,
        },
        "check": {
            "type": "COMMAND",
            "command": {"command": sleeper("check")},
            "delay_seconds": 0.0,
            "timeout_seconds": 0.0,
        },
    });
    let _scheduler = launch_with(
        &master,
        &checkpointing("checked"),
        "checked",
        &command,
        checks,
    )
    .await;
    let task = pid_in(&dir.join("task.pid")).await;
    let health = pid_in(&dir.join("health.pid")).await;
    let check = pid_in(&dir.join("check.pid")).await;
    for pid in [task, health, check] {
        reaper.add(pid);
    }
    let executor = parent(task).unwrap();
    reaper.add(executor);
    for pid in [health, check] {
        assert_eq!(parent(pid), Some(executor), "the executor runs the checks");
    }

    agent.kill();
    assert!(
        alive(executor),
        "a checkpointing framework's executor survives the agent"
    );
    support::send_signal(executor, "KILL");
    await_gone(executor, "the executor").await;
    await_gone(task, "the task").await;
    await_gone(health, "the health check's command").await;
    await_gone(check, "the generic check's command").await;
    master.assert_alive().await;
}
