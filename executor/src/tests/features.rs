//! Health checks, max_completion_time and task groups (the default executor), through
//! the protocol.

use std::collections::BTreeMap;
use std::time::Duration;

use ratufa_proto::v1::task_status::Reason;
use ratufa_proto::v1::{
    CheckInfo, DurationInfo, HealthCheck, TaskState, TaskStatus, check_info, executor_info,
    health_check,
};

use super::fake_agent::{WAIT, shell_task};
use super::protocol::{Harness, wait_for_file};

#[tokio::test]
async fn a_failing_health_check_reports_unhealthy_and_kills_the_task() {
    let mut h = Harness::start(&[], false).await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut task = shell_task("t1", "exec sleep 1000");
    task.health_check = Some(HealthCheck {
        r#type: Some(health_check::Type::Tcp as i32),
        tcp: Some(health_check::TcpCheckInfo {
            port: u32::from(closed),
            ..Default::default()
        }),
        delay_seconds: Some(0.0),
        grace_period_seconds: Some(0.0),
        consecutive_failures: Some(1),
        ..HealthCheck::default()
    });
    h.agent.launch(task);
    let statuses = h
        .expect_acked(&[
            TaskState::TaskStarting,
            TaskState::TaskRunning,
            TaskState::TaskRunning,
            TaskState::TaskKilled,
        ])
        .await;
    assert_eq!(statuses[1].healthy, None);
    assert_eq!(statuses[2].healthy, Some(false));
    assert_eq!(
        statuses[2].reason,
        Some(Reason::TaskHealthCheckStatusUpdated as i32)
    );
    assert_eq!(statuses[3].healthy, Some(false), "as Mesos marks it");
    assert_eq!(h.exit_status().await, 0);
}

#[tokio::test]
async fn a_passing_health_check_reports_healthy_once() {
    let mut h = Harness::start(&[], false).await;
    let mut task = shell_task("t1", "while [ ! -e go ]; do sleep 0.05; done");
    task.health_check = Some(HealthCheck {
        r#type: Some(health_check::Type::Command as i32),
        command: Some(ratufa_proto::v1::CommandInfo {
            value: Some("touch checked; true".into()),
            ..Default::default()
        }),
        delay_seconds: Some(0.0),
        interval_seconds: Some(0.05),
        ..HealthCheck::default()
    });
    h.agent.launch(task);
    let statuses = h
        .expect_acked(&[
            TaskState::TaskStarting,
            TaskState::TaskRunning,
            TaskState::TaskRunning,
        ])
        .await;
    assert_eq!(statuses[2].healthy, Some(true));
    // Let several more checks pass: none of them is news.
    for _ in 0..3 {
        let checked = h.dir.path().join("checked");
        wait_for_file(&checked).await;
        std::fs::remove_file(&checked).unwrap();
    }
    std::fs::write(h.dir.path().join("go"), "").unwrap();
    let finished = h.expect_acked(&[TaskState::TaskFinished]).await;
    assert_eq!(finished[0].healthy, None);
    assert_eq!(h.exit_status().await, 0);
}

/// A generic check: every update says the task has a COMMAND check, with no result,
/// until a result comes in an update of its own; each new result again; a failing
/// check kills nothing.
#[tokio::test]
async fn a_check_reports_each_new_result_and_kills_nothing() {
    let mut h = Harness::start(&[], false).await;
    let mut task = shell_task("t1", "while [ ! -e go ]; do sleep 0.05; done");
    task.check = Some(CheckInfo {
        r#type: Some(check_info::Type::Command as i32),
        command: Some(check_info::Command {
            command: ratufa_proto::v1::CommandInfo {
                value: Some("test -e flag".into()),
                ..Default::default()
            },
        }),
        delay_seconds: Some(0.0),
        interval_seconds: Some(0.05),
        ..CheckInfo::default()
    });
    h.agent.launch(task);
    let statuses = h
        .expect_acked(&[
            TaskState::TaskStarting,
            TaskState::TaskRunning,
            TaskState::TaskRunning,
        ])
        .await;
    let empty = crate::check::empty_status(check_info::Type::Command as i32);
    for status in &statuses[..2] {
        assert_eq!(status.check_status, empty, "{status:?}");
        assert_eq!(status.reason, None);
    }
    let exit_code = |status: &TaskStatus| {
        status
            .check_status
            .as_ref()
            .and_then(|c| c.command.as_ref())
            .and_then(|c| c.exit_code)
    };
    assert_eq!(
        statuses[2].reason,
        Some(Reason::TaskCheckStatusUpdated as i32)
    );
    assert_eq!(exit_code(&statuses[2]), Some(1));
    std::fs::write(h.dir.path().join("flag"), "").unwrap();
    let passed = h.expect_acked(&[TaskState::TaskRunning]).await;
    assert_eq!(exit_code(&passed[0]), Some(0));
    std::fs::write(h.dir.path().join("go"), "").unwrap();
    let finished = h.expect_acked(&[TaskState::TaskFinished]).await;
    assert_eq!(finished[0].check_status, empty);
    assert_eq!(h.exit_status().await, 0);
}

/// A check the executor cannot run (a port that is no port): the task fails at
/// launch, naming the field, as for a bad health check.
#[tokio::test]
async fn a_bad_check_fails_the_task_naming_the_field() {
    let mut h = Harness::start(&[], false).await;
    let mut task = shell_task("t1", "exec sleep 1000");
    task.check = Some(CheckInfo {
        r#type: Some(check_info::Type::Tcp as i32),
        tcp: Some(check_info::Tcp { port: 70_000 }),
        ..CheckInfo::default()
    });
    h.agent.launch(task);
    let statuses = h
        .expect_acked(&[TaskState::TaskStarting, TaskState::TaskFailed])
        .await;
    let message = statuses[1].message.clone().unwrap_or_default();
    assert!(message.contains("check.tcp.port"), "{message}");
    assert_eq!(h.exit_status().await, 0);
}

#[tokio::test]
async fn max_completion_time_fails_the_task() {
    let mut h = Harness::start(&[], false).await;
    let mut task = shell_task("t1", "exec sleep 1000");
    task.max_completion_time = Some(DurationInfo {
        nanoseconds: 200_000_000,
    });
    h.agent.launch(task);
    let statuses = h
        .expect_acked(&[
            TaskState::TaskStarting,
            TaskState::TaskRunning,
            TaskState::TaskFailed,
        ])
        .await;
    assert_eq!(
        statuses[2].reason,
        Some(Reason::MaxCompletionTimeReached as i32)
    );
    assert_eq!(h.exit_status().await, 0);
}

/// Reads updates (acknowledging each) until every task in `ids` has a terminal one;
/// returns each task's states in order.
async fn group_states(h: &mut Harness, ids: &[&str]) -> BTreeMap<String, Vec<TaskState>> {
    let mut states: BTreeMap<String, Vec<TaskState>> = BTreeMap::new();
    let terminal = |states: &BTreeMap<String, Vec<TaskState>>| {
        ids.iter().all(|id| {
            states.get(*id).is_some_and(|s| {
                s.last()
                    .copied()
                    .is_some_and(ratufa_proto::task_state::is_terminal)
            })
        })
    };
    while !terminal(&states) {
        let call = h.agent.next_call().await;
        let status = call.update.expect("an UPDATE").status;
        super::fake_agent::assert_valid_update(&status);
        h.agent.ack(&status);
        states
            .entry(status.task_id.value.clone())
            .or_default()
            .push(TaskState::try_from(status.state).unwrap());
    }
    states
}

#[tokio::test]
async fn a_failed_task_takes_its_group_down() {
    let mut h = Harness::start_as(&[], false, executor_info::Type::Default).await;
    h.agent.launch_group(vec![
        shell_task("worker", "exec sleep 1000"),
        shell_task("sidecar", "exec sleep 1000"),
        shell_task(
            "failing",
            "while [ ! -e fail ]; do sleep 0.05; done; exit 2",
        ),
    ]);
    // All three run before one fails.
    let mut running = 0;
    while running < 3 {
        let status = h.agent.next_call().await.update.unwrap().status;
        h.agent.ack(&status);
        if status.state == TaskState::TaskRunning as i32 {
            running += 1;
        }
    }
    std::fs::write(h.dir.path().join("fail"), "").unwrap();
    let states = group_states(&mut h, &["worker", "sidecar", "failing"]).await;
    assert_eq!(states["failing"].last(), Some(&TaskState::TaskFailed));
    assert_eq!(states["worker"].last(), Some(&TaskState::TaskKilled));
    assert_eq!(states["sidecar"].last(), Some(&TaskState::TaskKilled));
    assert_eq!(h.exit_status().await, 0);
}

#[tokio::test]
async fn finished_tasks_leave_their_group_running_and_groups_are_independent() {
    let mut h = Harness::start_as(&[], false, executor_info::Type::Default).await;
    h.agent.launch_group(vec![
        shell_task("quick", "true"),
        shell_task("slow", "while [ ! -e go ]; do sleep 0.05; done"),
    ]);
    let states = group_states(&mut h, &["quick"]).await;
    assert_eq!(states["quick"].last(), Some(&TaskState::TaskFinished));
    h.agent
        .launch_group(vec![shell_task("other", "exec sleep 1000")]);
    // Killing the second group's task leaves the first group's task alone.
    let mut other_running = false;
    while !other_running {
        let status = h.agent.next_call().await.update.unwrap().status;
        h.agent.ack(&status);
        other_running =
            status.task_id.value == "other" && status.state == TaskState::TaskRunning as i32;
    }
    h.agent.kill("other", Some(Duration::from_secs(5)));
    let states = group_states(&mut h, &["other"]).await;
    assert_eq!(states["other"].last(), Some(&TaskState::TaskKilled));
    assert!(
        !states.contains_key("slow") || states["slow"].iter().all(|s| *s == TaskState::TaskRunning)
    );
    // "slow" was not killed with "other": it finishes when told to.
    std::fs::write(h.dir.path().join("go"), "").unwrap();
    let states = group_states(&mut h, &["slow"]).await;
    assert_eq!(states["slow"].last(), Some(&TaskState::TaskFinished));
    assert_eq!(h.exit_status().await, 0);
}

#[tokio::test]
async fn tasks_run_as_their_user() {
    let mut h = Harness::start(&[], false).await;
    // The sandbox must be usable by the task's user, as the agent makes it.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(h.dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut task = shell_task("t1", "id -un > who");
    task.command.as_mut().unwrap().user = Some("nobody".into());
    h.agent.launch(task);
    h.expect_acked(&[
        TaskState::TaskStarting,
        TaskState::TaskRunning,
        TaskState::TaskFinished,
    ])
    .await;
    assert_eq!(
        std::fs::read_to_string(h.dir.path().join("who")).unwrap(),
        "nobody\n"
    );
    assert_eq!(h.exit_status().await, 0);
}

#[tokio::test]
async fn an_unknown_user_fails_the_task_naming_it() {
    let mut h = Harness::start(&[], false).await;
    let mut task = shell_task("t1", "true");
    task.command.as_mut().unwrap().user = Some("ratufa-no-such-user".into());
    h.agent.launch(task);
    let statuses = h
        .expect_acked(&[TaskState::TaskStarting, TaskState::TaskFailed])
        .await;
    let message = statuses[1].message.clone().unwrap();
    assert!(message.contains("'ratufa-no-such-user'"), "{message}");
    assert_eq!(h.exit_status().await, 0);
}

#[tokio::test]
async fn a_command_executor_refuses_task_groups() {
    let mut h = Harness::start(&[], false).await;
    h.agent
        .launch_group(vec![shell_task("a", "true"), shell_task("b", "true")]);
    let statuses = h
        .expect_acked(&[TaskState::TaskFailed, TaskState::TaskFailed])
        .await;
    for status in statuses {
        let message = status.message.unwrap();
        assert!(message.contains("default executor"), "{message}");
    }
    h.agent.shutdown();
    assert_eq!(h.exit_status().await, 0);
}

/// Set in the process `sigterm_is_a_graceful_shutdown` starts for its other half.
const SIGTERM_CHILD: &str = "RATUFA_EXECUTOR_SIGTERM_TEST";

/// SIGTERM reaches a whole process, so the executor that gets it runs in a process of
/// its own: this test binary again, running only `sigterm_child`.
#[tokio::test]
async fn sigterm_is_a_graceful_shutdown() {
    let output = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "tests::features::sigterm_child",
            "--include-ignored",
            "--test-threads=1",
        ])
        .env(SIGTERM_CHILD, "1")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "the SIGTERMed executor's test failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
#[ignore = "run by sigterm_is_a_graceful_shutdown, in a process of its own"]
async fn sigterm_child() {
    assert!(
        std::env::var_os(SIGTERM_CHILD).is_some(),
        "only for sigterm_is_a_graceful_shutdown: SIGTERM goes to the whole process"
    );
    let mut h = Harness::start(&[], false).await;
    h.agent
        .launch(shell_task("t1", super::protocol::TRAPS_TERM));
    h.expect_acked(&[TaskState::TaskStarting, TaskState::TaskRunning])
        .await;
    wait_for_file(&h.dir.path().join("pid")).await;
    // SAFETY: kill with our own pid and a signal number touches no memory.
    assert_eq!(unsafe { libc::kill(libc::getpid(), libc::SIGTERM) }, 0);
    // The executor, not the kernel, ends the task: SIGTERM to it first, then TASK_KILLED.
    h.expect_acked(&[TaskState::TaskKilled]).await;
    assert!(h.dir.path().join("got-term").exists());
    assert_eq!(h.exit_status().await, 0);
}

#[tokio::test]
async fn without_the_last_acknowledgement_the_executor_exits_after_a_bounded_wait() {
    let mut h =
        Harness::start_with_ack_timeout(executor_info::Type::Custom, Duration::from_millis(200))
            .await;
    h.agent.launch(shell_task("t1", "true"));
    h.expect_acked(&[TaskState::TaskStarting, TaskState::TaskRunning])
        .await;
    // FINISHED is never acknowledged.
    h.agent.update(TaskState::TaskFinished).await;
    assert_eq!(h.exit_status().await, 0);
}

#[tokio::test]
async fn a_group_launched_after_the_others_ended_is_not_cut_short_by_their_wait() {
    let mut h =
        Harness::start_with_ack_timeout(executor_info::Type::Default, Duration::from_millis(200))
            .await;
    h.agent.launch_group(vec![shell_task("first", "true")]);
    h.expect_acked(&[TaskState::TaskStarting, TaskState::TaskRunning])
        .await;
    // Its FINISHED unacknowledged, the executor waits (200 ms) for it…
    let finished = h.agent.update(TaskState::TaskFinished).await;
    // …when a new group arrives: its task runs past that wait.
    h.agent.launch_group(vec![shell_task(
        "second",
        "while [ ! -e go ]; do sleep 0.05; done",
    )]);
    h.expect_acked(&[TaskState::TaskStarting, TaskState::TaskRunning])
        .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        !h.executor_ended(),
        "the executor left a running task behind"
    );
    h.agent.ack(&finished);
    std::fs::write(h.dir.path().join("go"), "").unwrap();
    h.expect_acked(&[TaskState::TaskFinished]).await;
    assert_eq!(h.exit_status().await, 0);
}

#[tokio::test]
async fn an_unanswered_update_holds_back_its_task_only() {
    let mut h = Harness::start_as(&[], false, executor_info::Type::Default).await;
    let gate = h.agent.hold_updates_of("slow");
    h.agent.launch_group(vec![
        shell_task("slow", "true"),
        shell_task("quick", "true"),
    ]);
    // "slow"'s STARTING waits for its answer; "quick" reports all it has meanwhile,
    // and "slow" nothing more: its RUNNING may not overtake its STARTING.
    let mut seen: BTreeMap<String, Vec<TaskState>> = BTreeMap::new();
    let quick_done = |seen: &BTreeMap<String, Vec<TaskState>>| {
        seen.get("quick").and_then(|s| s.last()) == Some(&TaskState::TaskFinished)
    };
    while !quick_done(&seen) || !seen.contains_key("slow") {
        let status = h.agent.next_call().await.update.expect("an UPDATE").status;
        h.agent.ack(&status);
        seen.entry(status.task_id.value.clone())
            .or_default()
            .push(TaskState::try_from(status.state).unwrap());
    }
    assert_eq!(
        seen["quick"],
        [
            TaskState::TaskStarting,
            TaskState::TaskRunning,
            TaskState::TaskFinished
        ]
    );
    assert_eq!(seen["slow"], [TaskState::TaskStarting]);
    // Answered, "slow"'s other updates follow, in order.
    gate.send(true).unwrap();
    h.expect_acked(&[TaskState::TaskRunning, TaskState::TaskFinished])
        .await;
    assert_eq!(h.exit_status().await, 0);
}

#[tokio::test]
async fn an_idle_default_executor_takes_a_group_launched_after_its_last_task_ended() {
    // Idle for longer than any test takes: the next group always finds it.
    let mut h = Harness::start_lingering(WAIT).await;
    h.agent.launch_group(vec![shell_task("first", "true")]);
    h.expect_acked(&[
        TaskState::TaskStarting,
        TaskState::TaskRunning,
        TaskState::TaskFinished,
    ])
    .await;
    // Everything ended and acknowledged: a group the framework launches now runs.
    h.agent.launch_group(vec![shell_task("second", "true")]);
    h.expect_acked(&[
        TaskState::TaskStarting,
        TaskState::TaskRunning,
        TaskState::TaskFinished,
    ])
    .await;
    assert!(!h.executor_ended());
    // A SHUTDOWN ends the wait.
    h.agent.shutdown();
    assert_eq!(h.exit_status().await, 0);
}

#[tokio::test]
async fn an_idle_default_executor_exits_when_no_group_comes() {
    let mut h = Harness::start_lingering(Duration::from_millis(100)).await;
    h.agent.launch_group(vec![shell_task("only", "true")]);
    h.expect_acked(&[
        TaskState::TaskStarting,
        TaskState::TaskRunning,
        TaskState::TaskFinished,
    ])
    .await;
    assert_eq!(h.exit_status().await, 0);
}
