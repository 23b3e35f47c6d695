//! The command executor's protocol: updates and their uuids, acknowledgements, kills
//! and their grace, resubscription, and what a lost agent means.

use std::path::Path;
use std::time::Duration;

use ratufa_proto::v1::framework_info::capability::Type as Capability;
use ratufa_proto::v1::{CommandInfo, TaskState, TaskStatus, executor_info};
use tempfile::TempDir;
use tokio::task::JoinHandle;

use super::fake_agent::{FakeAgent, WAIT, framework, shell_task};

pub struct Harness {
    pub agent: FakeAgent,
    pub dir: TempDir,
    executor: JoinHandle<i32>,
}

impl Harness {
    pub async fn start(capabilities: &[Capability], checkpoint: bool) -> Harness {
        Harness::start_as(capabilities, checkpoint, executor_info::Type::Custom).await
    }

    /// A default executor (ExecutorInfo type DEFAULT) when `kind` says so.
    pub async fn start_as(
        capabilities: &[Capability],
        checkpoint: bool,
        kind: executor_info::Type,
    ) -> Harness {
        Harness::start_tuned(capabilities, kind, |env| env.checkpoint = checkpoint).await
    }

    /// An executor whose environment `tune` adjusts.
    pub async fn start_tuned(
        capabilities: &[Capability],
        kind: executor_info::Type,
        tune: impl FnOnce(&mut crate::ExecutorEnv),
    ) -> Harness {
        let agent = FakeAgent::start(framework(capabilities), kind).await;
        let dir = tempfile::tempdir().unwrap();
        let mut env = agent.env(dir.path(), false);
        tune(&mut env);
        Harness::subscribed(agent, dir, tokio::spawn(crate::run(env))).await
    }

    /// A command executor that waits only `timeout` for its last acknowledgements.
    pub async fn start_with_ack_timeout(kind: executor_info::Type, timeout: Duration) -> Harness {
        let agent = FakeAgent::start(framework(&[]), kind).await;
        let dir = tempfile::tempdir().unwrap();
        let env = agent.env(dir.path(), false);
        let client = crate::client::AgentClient::new(&env.agent_endpoint, None).unwrap();
        let executor = crate::Executor::new(env, client).with_terminal_ack_timeout(timeout);
        Harness::subscribed(agent, dir, tokio::spawn(executor.run())).await
    }

    /// A default executor that waits `linger` for more work once it has none.
    pub async fn start_lingering(linger: Duration) -> Harness {
        let agent = FakeAgent::start(framework(&[]), executor_info::Type::Default).await;
        let dir = tempfile::tempdir().unwrap();
        let env = agent.env(dir.path(), false);
        let client = crate::client::AgentClient::new(&env.agent_endpoint, None).unwrap();
        let executor = crate::Executor::new(env, client).with_idle_linger(linger);
        Harness::subscribed(agent, dir, tokio::spawn(executor.run())).await
    }

    async fn subscribed(mut agent: FakeAgent, dir: TempDir, executor: JoinHandle<i32>) -> Harness {
        let subscribe = agent.subscribe().await;
        assert!(subscribe.unacknowledged_updates.is_empty());
        assert!(subscribe.unacknowledged_tasks.is_empty());
        Harness {
            agent,
            dir,
            executor,
        }
    }

    /// Acknowledges what arrives, in order, checking each update's state.
    pub async fn expect_acked(&mut self, states: &[TaskState]) -> Vec<TaskStatus> {
        let mut statuses = Vec::new();
        for state in states {
            let status = self.agent.update(*state).await;
            self.agent.ack(&status);
            statuses.push(status);
        }
        statuses
    }

    /// Launches a task that sleeps, sees it RUNNING; its pid.
    async fn running_sleeper(&mut self) -> i32 {
        self.agent
            .launch(shell_task("t1", "echo $$ > pid; exec sleep 1000"));
        self.expect_acked(&[TaskState::TaskStarting, TaskState::TaskRunning])
            .await;
        let file = self.dir.path().join("pid");
        // Polled until whole: the shell creates the file before it writes to it.
        tokio::time::timeout(WAIT, async {
            loop {
                let text = std::fs::read_to_string(&file).unwrap_or_default();
                if let Some(pid) = text.strip_suffix('\n').and_then(|t| t.parse().ok()) {
                    return pid;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the task never wrote its pid")
    }

    pub fn executor_ended(&self) -> bool {
        self.executor.is_finished()
    }

    pub async fn exit_status(self) -> i32 {
        tokio::time::timeout(WAIT, self.executor)
            .await
            .expect("the executor did not exit")
            .unwrap()
    }
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

pub async fn wait_for_file(path: &Path) {
    tokio::time::timeout(WAIT, async {
        while !path.exists() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{} never appeared", path.display()));
}

#[tokio::test]
async fn a_finished_command_reports_starting_running_finished_then_exits() {
    let mut h = Harness::start(&[], false).await;
    h.agent
        .launch(shell_task("t1", "echo \"$MESOS_TASK_ID\" > out; exit 0"));
    let statuses = h
        .expect_acked(&[
            TaskState::TaskStarting,
            TaskState::TaskRunning,
            TaskState::TaskFinished,
        ])
        .await;
    assert_eq!(
        statuses[2].message.as_deref(),
        Some("Command exited with status 0")
    );
    let mut uuids: Vec<_> = statuses.iter().map(|s| s.uuid.clone()).collect();
    uuids.dedup();
    assert_eq!(uuids.len(), 3, "every update has its own uuid");
    assert_eq!(
        std::fs::read_to_string(h.dir.path().join("out")).unwrap(),
        "t1\n",
        "the task runs in the sandbox with MESOS_TASK_ID set"
    );
    assert_eq!(h.exit_status().await, 0);
}

#[tokio::test]
async fn a_failing_command_reports_its_exit_status() {
    let mut h = Harness::start(&[], false).await;
    h.agent.launch(shell_task("t1", "exit 3"));
    let statuses = h
        .expect_acked(&[
            TaskState::TaskStarting,
            TaskState::TaskRunning,
            TaskState::TaskFailed,
        ])
        .await;
    assert_eq!(
        statuses[2].message.as_deref(),
        Some("Command exited with status 3")
    );
    assert_eq!(h.exit_status().await, 0);
}

#[tokio::test]
async fn the_executor_waits_for_the_terminal_acknowledgement() {
    let mut h = Harness::start(&[], false).await;
    h.agent.launch(shell_task("t1", "true"));
    h.expect_acked(&[TaskState::TaskStarting, TaskState::TaskRunning])
        .await;
    let finished = h.agent.update(TaskState::TaskFinished).await;
    // A heartbeat does not end it; the acknowledgement does.
    h.agent.send(ratufa_proto::v1::executor::Event {
        r#type: Some(ratufa_proto::v1::executor::event::Type::Heartbeat as i32),
        ..Default::default()
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!h.executor.is_finished());
    h.agent.ack(&finished);
    assert_eq!(h.exit_status().await, 0);
}

#[tokio::test]
async fn a_missing_program_fails_the_task_naming_it() {
    let mut h = Harness::start(&[], false).await;
    let mut task = shell_task("t1", "/no/such/program");
    task.command = Some(CommandInfo {
        shell: Some(false),
        value: Some("/no/such/program".into()),
        arguments: vec!["program".into()],
        ..CommandInfo::default()
    });
    h.agent.launch(task);
    let statuses = h
        .expect_acked(&[TaskState::TaskStarting, TaskState::TaskFailed])
        .await;
    let message = statuses[1].message.clone().unwrap();
    assert!(message.contains("/no/such/program"), "{message}");
    assert_eq!(h.exit_status().await, 0);
}

#[tokio::test]
async fn a_second_launch_fails_that_task() {
    let mut h = Harness::start(&[], false).await;
    let go = h.dir.path().join("go");
    h.agent
        .launch(shell_task("t1", "while [ ! -e go ]; do sleep 0.05; done"));
    h.expect_acked(&[TaskState::TaskStarting, TaskState::TaskRunning])
        .await;
    h.agent.launch(shell_task("t2", "true"));
    let failed = h.agent.update(TaskState::TaskFailed).await;
    assert_eq!(failed.task_id.value, "t2");
    let message = failed.message.clone().unwrap();
    assert!(
        message.contains("multiple tasks"),
        "as Mesos's command executor says: {message}"
    );
    h.agent.ack(&failed);
    std::fs::write(&go, "").unwrap();
    h.expect_acked(&[TaskState::TaskFinished]).await;
    assert_eq!(h.exit_status().await, 0);
}

/// A task that notes SIGTERM in a file and exits 0 when it gets it.
pub const TRAPS_TERM: &str = "trap 'echo term > got-term; exit 0' TERM; echo $$ > pid; \
                          while true; do sleep 0.05; done";

#[tokio::test]
async fn a_kill_sends_sigterm_first_and_reports_killed() {
    let mut h = Harness::start(&[Capability::TaskKillingState], false).await;
    h.agent.launch(shell_task("t1", TRAPS_TERM));
    h.expect_acked(&[TaskState::TaskStarting, TaskState::TaskRunning])
        .await;
    wait_for_file(&h.dir.path().join("pid")).await;
    // A grace period long enough that only SIGTERM can end the task.
    h.agent.kill("t1", Some(Duration::from_secs(600)));
    let statuses = h
        .expect_acked(&[TaskState::TaskKilling, TaskState::TaskKilled])
        .await;
    assert_eq!(
        statuses[1].message.as_deref(),
        Some("Command exited with status 0")
    );
    assert!(h.dir.path().join("got-term").exists());
    assert_eq!(h.exit_status().await, 0);
}

#[tokio::test]
async fn a_task_ignoring_sigterm_is_killed_after_the_grace_period() {
    // No TASK_KILLING_STATE: no TASK_KILLING update.
    let mut h = Harness::start(&[], false).await;
    h.agent.launch(shell_task(
        "t1",
        "trap '' TERM; echo $$ > pid; while true; do sleep 0.05; done",
    ));
    h.expect_acked(&[TaskState::TaskStarting, TaskState::TaskRunning])
        .await;
    wait_for_file(&h.dir.path().join("pid")).await;
    h.agent.kill("t1", Some(Duration::from_millis(200)));
    let statuses = h.expect_acked(&[TaskState::TaskKilled]).await;
    assert_eq!(
        statuses[0].message.as_deref(),
        Some("Command terminated with signal Killed")
    );
    assert_eq!(h.exit_status().await, 0);
}

#[tokio::test]
async fn shutdown_kills_the_task_and_exits() {
    let mut h = Harness::start(&[], false).await;
    h.agent.launch(shell_task("t1", TRAPS_TERM));
    h.expect_acked(&[TaskState::TaskStarting, TaskState::TaskRunning])
        .await;
    wait_for_file(&h.dir.path().join("pid")).await;
    h.agent.shutdown();
    h.expect_acked(&[TaskState::TaskKilled]).await;
    assert!(h.dir.path().join("got-term").exists());
    assert_eq!(h.exit_status().await, 0);
}

#[tokio::test]
async fn shutdown_before_any_launch_exits_at_once() {
    let h = Harness::start(&[], false).await;
    h.agent.shutdown();
    assert_eq!(h.exit_status().await, 0);
}

#[tokio::test]
async fn a_checkpointing_executor_resubscribes_with_what_is_unacknowledged() {
    let mut h = Harness::start(&[], true).await;
    h.agent
        .launch(shell_task("t1", "while [ ! -e go ]; do sleep 0.05; done"));
    let starting = h.agent.update(TaskState::TaskStarting).await;
    h.agent.ack(&starting);
    // RUNNING is never acknowledged before the agent goes away.
    let running = h.agent.update(TaskState::TaskRunning).await;
    h.agent.drop_stream();
    let subscribe = h.agent.subscribe().await;
    let resent: Vec<_> = subscribe
        .unacknowledged_updates
        .iter()
        .map(|u| u.status.uuid.clone())
        .collect();
    assert_eq!(resent, vec![running.uuid.clone()]);
    let tasks: Vec<_> = subscribe
        .unacknowledged_tasks
        .iter()
        .map(|t| t.task_id.value.clone())
        .collect();
    assert_eq!(tasks, vec!["t1".to_string()]);
    // The task kept running through the disconnection.
    h.agent.ack(&running);
    std::fs::write(h.dir.path().join("go"), "").unwrap();
    h.expect_acked(&[TaskState::TaskFinished]).await;
    assert_eq!(h.exit_status().await, 0);
}

#[tokio::test]
async fn updates_made_while_disconnected_go_with_the_next_subscribe() {
    let mut h = Harness::start(&[], true).await;
    h.agent
        .launch(shell_task("t1", "while [ ! -e go ]; do sleep 0.05; done"));
    h.expect_acked(&[TaskState::TaskStarting, TaskState::TaskRunning])
        .await;
    h.agent.drop_stream();
    // The task ends while the executor may be disconnected; whichever way the race
    // goes, FINISHED reaches the agent and, once acknowledged, the executor ends. The
    // acknowledgement needs the new subscription's stream: FINISHED may come first, as
    // an UPDATE on the old connection before the executor noticed the drop.
    std::fs::write(h.dir.path().join("go"), "").unwrap();
    let mut finished = None;
    let mut resubscribed = false;
    while finished.is_none() || !resubscribed {
        let call = h.agent.next_call().await;
        if let Some(subscribe) = call.subscribe {
            resubscribed = true;
            if let Some(update) = subscribe.unacknowledged_updates.first() {
                finished = Some(update.status.clone());
            }
        } else if let Some(update) = call.update {
            // Sent on a connection (the old one, before the executor noticed, or the
            // new one, after it resubscribed).
            finished = Some(update.status);
        }
    }
    let finished = finished.unwrap();
    assert_eq!(
        TaskState::try_from(finished.state),
        Ok(TaskState::TaskFinished)
    );
    h.agent.ack(&finished);
    assert_eq!(h.exit_status().await, 0);
}

#[tokio::test]
async fn without_checkpointing_a_lost_agent_ends_the_task_and_the_executor() {
    let mut h = Harness::start(&[], false).await;
    let pid = h.running_sleeper().await;
    h.agent.drop_stream();
    assert_eq!(h.exit_status().await, 0);
    assert!(!alive(pid), "the task outlived its executor");
}

#[tokio::test]
async fn a_checkpointing_executor_gives_up_after_the_recovery_timeout() {
    let mut h = Harness::start_tuned(&[], executor_info::Type::Custom, |env| {
        env.checkpoint = true;
        env.recovery_timeout = Duration::from_millis(300);
    })
    .await;
    let pid = h.running_sleeper().await;
    // The agent goes and, while it "recovers", refuses every SUBSCRIBE.
    h.agent.refuse_subscriptions();
    h.agent.drop_stream();
    let retry = h.agent.subscribe().await;
    assert!(retry.unacknowledged_updates.is_empty());
    assert_eq!(h.exit_status().await, 0);
    assert!(!alive(pid), "the task outlived the executor that gave up");
}
