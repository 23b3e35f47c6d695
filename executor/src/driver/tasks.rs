//! The tasks' side of the executor: launching one task or a group, killing, and what
//! their processes and health checks report.

use std::time::Duration;

use ratufa_agent::grace_period;
use ratufa_agent::process::ProcessSpec;
use ratufa_proto::v1::{
    CheckStatusInfo, KillPolicy, TaskId, TaskInfo, TaskState, TaskStatus, framework_info,
    task_status,
};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::updates::terminal_state;
use super::{Checkers, Executor, KillCause, SHUTDOWN_MARGIN, Task};
use crate::check::{self, CheckConfig};
use crate::health::{self, HealthConfig};
use crate::task::{self, Launch, TaskEvent};

impl Executor {
    pub(super) async fn launch_group(&mut self, tasks: Vec<TaskInfo>) {
        if !self.default_executor {
            // Only the default executor runs task groups.
            for task in tasks {
                self.fail_unlaunched(
                    task.task_id,
                    "LAUNCH_GROUP is for the default executor; this is a command executor",
                )
                .await;
            }
            return;
        }
        let group = self.next_group;
        self.next_group += 1;
        for task in tasks {
            self.launch(task, Some(group)).await;
        }
    }

    pub(super) async fn launch(&mut self, info: TaskInfo, group: Option<u64>) {
        let task_id = info.task_id.value.clone();
        if self.shutting_down {
            return self
                .fail_unlaunched(info.task_id, "the executor is shutting down")
                .await;
        }
        if !self.default_executor && self.launched_any {
            return self
                .fail_unlaunched(
                    info.task_id,
                    "Attempted to run multiple tasks using a \"command\" executor",
                )
                .await;
        }
        if self.tasks.contains_key(&task_id) {
            tracing::warn!(task_id, "a LAUNCH for a task already launched; ignored");
            return;
        }
        // A live task again: the wait for the last acknowledgements starts over once
        // every task has ended.
        self.ack_deadline = None;
        self.idle_until = None;
        self.launched_any = true;
        let (kill_tx, kill_rx) = mpsc::unbounded_channel();
        self.tasks.insert(
            task_id.clone(),
            Task {
                info: info.clone(),
                group,
                kill: Some(kill_tx),
                cause: None,
                last: None,
                checkers: Checkers::default(),
            },
        );
        let prepared = self.prepare(&info).and_then(|launch| {
            let checkers = Checkers {
                health: info
                    .health_check
                    .as_ref()
                    .map(|check| HealthConfig::from_proto(check, &self.env.sandbox))
                    .transpose()?,
                check: info
                    .check
                    .as_ref()
                    .map(|check| CheckConfig::from_proto(check, &self.env.sandbox))
                    .transpose()?,
                account: launch.account.clone(),
                running: Vec::new(),
            };
            Ok((launch, checkers))
        });
        let starting = self.status(&info.task_id, TaskState::TaskStarting);
        match prepared {
            Ok((launch, checkers)) => {
                if let Some(task) = self.tasks.get_mut(&task_id) {
                    task.checkers = checkers;
                }
                // The process starts while STARTING is on its way: the round trip to
                // the agent is not on the launch's path. RUNNING still follows
                // STARTING (the runner's report is read after this returns).
                tokio::spawn(task::run(launch, kill_rx, self.events_tx.clone()));
                self.send_update(&task_id, starting).await;
            }
            Err(message) => {
                if let Some(task) = self.tasks.get_mut(&task_id) {
                    task.kill = None;
                }
                self.send_update(&task_id, starting).await;
                let mut status = self.status(&info.task_id, TaskState::TaskFailed);
                status.message = Some(message);
                self.send_update(&task_id, status).await;
                self.task_ended(&task_id, TaskState::TaskFailed).await;
            }
        }
    }

    /// What to run for `info`: its command, our environment plus its own, its user.
    pub(super) fn prepare(&self, info: &TaskInfo) -> Result<Launch, String> {
        let command = info
            .command
            .as_ref()
            .ok_or_else(|| "the task has no 'command' to run".to_string())?;
        let mut spec = ProcessSpec::from_command(command, self.env.sandbox.clone())?;
        // The task's own variables win over ours.
        let mut env = vec![("MESOS_TASK_ID".to_string(), info.task_id.value.clone())];
        if let Some(role) = info
            .resources
            .iter()
            .find_map(|r| r.allocation_info.as_ref()?.role.clone())
        {
            env.push(("MESOS_ALLOCATION_ROLE".to_string(), role));
        }
        env.append(&mut spec.env);
        spec.env = env;
        let user = command
            .user
            .clone()
            .or_else(|| self.framework.as_ref().map(|f| f.user.clone()))
            .unwrap_or_default();
        let account = self
            .accounts
            .to_switch_to(&user)
            .map_err(|message| format!("Failed to run the task as its user: {message}"))?;
        let max_completion_time = info
            .max_completion_time
            .as_ref()
            .and_then(|d| u64::try_from(d.nanoseconds).ok())
            .filter(|&ns| ns > 0)
            .map(Duration::from_nanos);
        Ok(Launch {
            task_id: info.task_id.value.clone(),
            spec,
            account,
            max_completion_time,
        })
    }

    /// TASK_FAILED for a task we do not run (not kept: it has no process).
    pub(super) async fn fail_unlaunched(&mut self, task_id: TaskId, message: &str) {
        let mut status = self.status(&task_id, TaskState::TaskFailed);
        status.message = Some(message.to_string());
        self.send_update(&task_id.value, status).await;
    }

    pub(super) async fn kill_requested(&mut self, task_id: &TaskId, policy: Option<&KillPolicy>) {
        let Some(task) = self.tasks.get(&task_id.value) else {
            tracing::warn!(task_id = %task_id.value, "KILL for a task this executor does not run");
            if !self.launched_any && !self.default_executor {
                // Mesos's command executor ends when told to kill before any launch.
                self.shutting_down = true;
            }
            return;
        };
        let grace = grace_period(policy, task.info.kill_policy.as_ref());
        self.kill(&task_id.value, KillCause::Requested, grace).await;
    }

    /// Starts (or hurries) the kill of one task: TASK_KILLING first when the framework
    /// understands it, then the grace period to the runner.
    pub(super) async fn kill(&mut self, task_id: &str, cause: KillCause, grace: Duration) {
        let Some(task) = self.tasks.get_mut(task_id) else {
            return;
        };
        if task.terminal() {
            return;
        }
        let first = task.cause.is_none();
        if first {
            task.cause = Some(cause);
            // Mesos's executors send no check or health update once a kill started.
            task.checkers.stop();
        }
        if let Some(kill) = &task.kill {
            let _ = kill.send(grace);
        }
        let healthy = task.last.as_ref().and_then(|s| s.healthy);
        if first && self.framework_has(framework_info::capability::Type::TaskKillingState) {
            let id = TaskId {
                value: task_id.to_string(),
            };
            let mut status = self.status(&id, TaskState::TaskKilling);
            status.healthy = healthy;
            self.send_update(task_id, status).await;
        }
    }

    /// Synchronous kill of every live task (no TASK_KILLING: used when the agent is
    /// gone, when no update could reach it anyway).
    pub(super) fn kill_all(&mut self, cause: KillCause, grace: Duration) {
        for task in self.tasks.values_mut() {
            if task.terminal() {
                continue;
            }
            task.cause.get_or_insert(cause);
            if let Some(kill) = &task.kill {
                let _ = kill.send(grace);
            }
        }
    }

    /// The grace period of the tasks' kill on shutdown: what the agent gives us, less
    /// a margin for the last updates to reach it.
    pub(super) fn shutdown_grace(&self) -> Duration {
        self.env
            .shutdown_grace_period
            .saturating_sub(SHUTDOWN_MARGIN)
    }

    pub(super) async fn shutdown(&mut self) {
        tracing::info!("shutting down");
        self.shutting_down = true;
        let grace = self.shutdown_grace();
        let live: Vec<String> = self
            .tasks
            .iter()
            .filter(|(_, task)| !task.terminal())
            .map(|(id, _)| id.clone())
            .collect();
        for task_id in live {
            self.kill(&task_id, KillCause::Shutdown, grace).await;
        }
    }

    pub(super) async fn handle_task_event(&mut self, event: TaskEvent) {
        match event {
            TaskEvent::Started { task_id, .. } => {
                let Some(task) = self.tasks.get(&task_id) else {
                    return;
                };
                let id = task.info.task_id.clone();
                self.send_update(&task_id, self.status(&id, TaskState::TaskRunning))
                    .await;
                self.start_checkers(&task_id);
            }
            TaskEvent::LaunchFailed { task_id, message } => {
                let Some(task) = self.tasks.get_mut(&task_id) else {
                    return;
                };
                task.kill = None;
                let id = task.info.task_id.clone();
                let mut status = self.status(&id, TaskState::TaskFailed);
                status.message = Some(message);
                self.send_update(&task_id, status).await;
                self.task_ended(&task_id, TaskState::TaskFailed).await;
            }
            TaskEvent::Exited {
                task_id,
                exit,
                timed_out,
            } => {
                let Some(task) = self.tasks.get_mut(&task_id) else {
                    return;
                };
                task.kill = None;
                task.checkers.stop();
                let cause = task.cause;
                let id = task.info.task_id.clone();
                let (state, reason) = terminal_state(&exit, cause.is_some(), timed_out);
                let mut status = self.status(&id, state);
                status.message = Some(exit.describe());
                status.reason = reason.map(|r| r as i32);
                if cause == Some(KillCause::Unhealthy) {
                    status.healthy = Some(false);
                }
                self.send_update(&task_id, status).await;
                self.task_ended(&task_id, state).await;
            }
            TaskEvent::Health {
                task_id,
                healthy,
                kill,
            } => self.health_changed(&task_id, healthy, kill).await,
            TaskEvent::Check { task_id, status } => self.check_changed(&task_id, status).await,
        }
    }

    /// The default executor's group policy, and the deadline for the last acks.
    pub(super) async fn task_ended(&mut self, task_id: &str, state: TaskState) {
        let group = self.tasks.get(task_id).and_then(|t| t.group);
        if let Some(group) = group
            && matches!(state, TaskState::TaskFailed | TaskState::TaskKilled)
        {
            let members: Vec<String> = self
                .tasks
                .iter()
                .filter(|(_, t)| t.group == Some(group) && !t.terminal())
                .map(|(id, _)| id.clone())
                .collect();
            for member in members {
                let grace = self.tasks.get(&member).map_or(Duration::ZERO, |t| {
                    grace_period(None, t.info.kill_policy.as_ref())
                });
                self.kill(&member, KillCause::GroupMember, grace).await;
            }
        }
        if self.tasks.values().all(Task::terminal) && self.ack_deadline.is_none() {
            self.ack_deadline = Some(Instant::now() + self.terminal_ack_timeout);
        }
    }

    pub(super) fn start_checkers(&mut self, task_id: &str) {
        let Some(task) = self.tasks.get_mut(task_id) else {
            return;
        };
        let checkers = &mut task.checkers;
        let account = checkers.account.clone();
        if let Some(config) = checkers.health.take() {
            let checker = health::run(
                task_id.to_string(),
                config,
                account.clone(),
                self.events_tx.clone(),
            );
            checkers.running.push(tokio::spawn(checker).abort_handle());
        }
        if let Some(config) = checkers.check.take() {
            let checker = check::run(task_id.to_string(), config, account, self.events_tx.clone());
            checkers.running.push(tokio::spawn(checker).abort_handle());
        }
    }

    /// The task's last update afresh (new uuid and time, no message), for a check or
    /// health update that changes one field of it; `None` once it ended or a kill
    /// started, when Mesos's executors send no more of those.
    fn last_again(&self, task_id: &str) -> Option<TaskStatus> {
        let task = self.tasks.get(task_id)?;
        if task.terminal() || task.cause.is_some() {
            return None;
        }
        let mut status = task.last.clone()?;
        self.stamp(&mut status);
        status.message = None;
        Some(status)
    }

    /// A check's new result: the task's last update again with it
    /// (REASON_TASK_CHECK_STATUS_UPDATED).
    pub(super) async fn check_changed(&mut self, task_id: &str, result: CheckStatusInfo) {
        let Some(mut status) = self.last_again(task_id) else {
            return;
        };
        status.check_status = Some(result);
        status.reason = Some(task_status::Reason::TaskCheckStatusUpdated as i32);
        self.send_update(task_id, status).await;
    }

    pub(super) async fn health_changed(&mut self, task_id: &str, healthy: bool, kill: bool) {
        let Some(mut status) = self.last_again(task_id) else {
            return;
        };
        let grace = self.tasks.get(task_id).map_or(Duration::ZERO, |task| {
            grace_period(None, task.info.kill_policy.as_ref())
        });
        status.healthy = Some(healthy);
        status.reason = Some(task_status::Reason::TaskHealthCheckStatusUpdated as i32);
        self.send_update(task_id, status).await;
        if kill {
            self.kill(task_id, KillCause::Unhealthy, grace).await;
        }
    }

    pub(super) fn framework_has(&self, capability: framework_info::capability::Type) -> bool {
        self.framework.as_ref().is_some_and(|f| {
            f.capabilities
                .iter()
                .any(|c| c.r#type == Some(capability as i32))
        })
    }
}
