//! The agent's tasks: the commands that start, kill and shut them down, their
//! runners' reports, and the status updates those turn into.

use std::time::Duration;

use ratufa_proto::ratufa::agentlink::command;
use ratufa_proto::v1::task_status::{Reason, Source};
use ratufa_proto::v1::{FrameworkInfo, TaskInfo, TaskState};
use tokio::sync::oneshot;
use tracing::{debug, info, warn};

use super::{Agent, TaskEntry, partition_aware};
use crate::isolator::{LimitedResource, Limits};
use crate::process::Exit;
use crate::runner::{self, Progress, Report};
use crate::status::task_status;
use crate::updates::{Acked, TaskKey, is_terminal_state};

impl Agent {
    pub(super) fn run_task(&mut self, framework: FrameworkInfo, task: TaskInfo) {
        let Some(agent_id) = self.agent_id().cloned() else {
            warn!(task_id = %task.task_id.value, "RUN_TASK before SUBSCRIBED; ignored");
            return;
        };
        let Some(framework_id) = framework.id.clone() else {
            warn!(task_id = %task.task_id.value, "RUN_TASK without a framework id; ignored");
            return;
        };
        let key = TaskKey {
            framework_id: framework_id.value.clone(),
            task_id: task.task_id.value.clone(),
        };
        if self.tasks.contains_key(&key) {
            warn!(framework_id = %key.framework_id, task_id = %key.task_id, "RUN_TASK for a task already here; ignored");
            return;
        }
        info!(framework_id = %key.framework_id, task_id = %key.task_id, "running task");
        self.frameworks
            .insert(framework_id.value.clone(), framework);
        let command = task.command.clone();
        let has_executor = task.executor.is_some();
        self.tasks.insert(
            key.clone(),
            TaskEntry {
                task,
                framework_id,
                state: TaskState::TaskStaging,
                kill: None,
                silent: false,
            },
        );

        let unsupported = if has_executor {
            Some("Custom executors are not supported by this agent yet (issue #4)".to_string())
        } else if command.is_none() {
            Some("The task has neither a command nor an executor".to_string())
        } else if !runner::safe_path_component(&key.framework_id)
            || !runner::safe_path_component(&key.task_id)
        {
            Some("The task or framework id cannot name a sandbox directory".to_string())
        } else {
            None
        };
        if let Some(message) = unsupported {
            self.update(
                &key,
                TaskState::TaskFailed,
                Source::Agent,
                Some(message),
                Some(Reason::ContainerLaunchFailed),
            );
            return;
        }

        let container_id = uuid::Uuid::new_v4().to_string();
        let sandbox = match runner::create_sandbox(
            &self.config.work_dir,
            &agent_id.value,
            &key.framework_id,
            &key.task_id,
            &container_id,
        ) {
            Ok(sandbox) => sandbox,
            Err(e) => {
                self.update(
                    &key,
                    TaskState::TaskFailed,
                    Source::Agent,
                    Some(format!("Failed to create the sandbox: {e}")),
                    Some(Reason::ContainerLaunchFailed),
                );
                return;
            }
        };
        if let (Some(framework), Some(entry)) =
            (self.frameworks.get(&key.framework_id), self.tasks.get(&key))
        {
            self.sandboxes.attach(
                framework,
                &key.task_id,
                &container_id,
                &sandbox,
                &entry.task,
            );
        }
        self.update(&key, TaskState::TaskStarting, Source::Executor, None, None);
        let env = vec![
            ("MESOS_SANDBOX".to_string(), sandbox.display().to_string()),
            ("MESOS_DIRECTORY".to_string(), sandbox.display().to_string()),
            ("MESOS_TASK_ID".to_string(), key.task_id.clone()),
            ("MESOS_EXECUTOR_ID".to_string(), key.task_id.clone()),
            ("MESOS_FRAMEWORK_ID".to_string(), key.framework_id.clone()),
            ("MESOS_AGENT_ID".to_string(), agent_id.value.clone()),
            ("MESOS_SLAVE_ID".to_string(), agent_id.value.clone()),
        ];
        let (kill_tx, kill_rx) = oneshot::channel();
        if let Some(entry) = self.tasks.get_mut(&key) {
            entry.kill = Some(kill_tx);
        }
        let container = self.container(&key, container_id);
        tokio::spawn(crate::fetcher::fetch_and_run(
            self.fetcher.clone(),
            key,
            command.unwrap_or_default(),
            sandbox,
            env,
            container,
            kill_rx,
            self.reports_tx.clone(),
        ));
    }

    /// The container a task's command runs in, held to the task's resources.
    fn container(&self, key: &TaskKey, id: String) -> runner::Container {
        let resources = self
            .tasks
            .get(key)
            .map(|entry| entry.task.resources.as_slice())
            .unwrap_or_default();
        runner::Container {
            id,
            limits: Limits::of(resources),
            isolator: self.isolator.clone(),
        }
    }

    pub(super) fn refuse_task_group(&mut self, group: command::RunTaskGroup) {
        let Some(framework_id) = group.framework.id.clone() else {
            return;
        };
        self.frameworks
            .insert(framework_id.value.clone(), group.framework);
        for task in group.task_group.tasks {
            let key = TaskKey {
                framework_id: framework_id.value.clone(),
                task_id: task.task_id.value.clone(),
            };
            if self.tasks.contains_key(&key) {
                continue;
            }
            self.tasks.insert(
                key.clone(),
                TaskEntry {
                    task,
                    framework_id: framework_id.clone(),
                    state: TaskState::TaskStaging,
                    kill: None,
                    silent: false,
                },
            );
            self.update(
                &key,
                TaskState::TaskFailed,
                Source::Agent,
                Some("Task groups are not supported by this agent yet (issue #4)".to_string()),
                Some(Reason::ContainerLaunchFailed),
            );
        }
    }

    pub(super) fn kill_task(&mut self, kill: &command::KillTask) {
        let key = TaskKey {
            framework_id: kill.framework_id.value.clone(),
            task_id: kill.task_id.value.clone(),
        };
        if !self.tasks.contains_key(&key) {
            // The master thinks it is here and it is not: tell it so, as Mesos's agent
            // does, so that the task does not stay in its books for ever.
            let Some(framework) = self.frameworks.get(&key.framework_id) else {
                info!(framework_id = %key.framework_id, task_id = %key.task_id, "KILL_TASK for an unknown task; ignored");
                return;
            };
            let state = if partition_aware(framework) {
                TaskState::TaskDropped
            } else {
                TaskState::TaskLost
            };
            self.tasks.insert(
                key.clone(),
                TaskEntry {
                    task: TaskInfo {
                        task_id: kill.task_id.clone(),
                        ..TaskInfo::default()
                    },
                    framework_id: kill.framework_id.clone(),
                    state: TaskState::TaskStaging,
                    kill: None,
                    silent: false,
                },
            );
            self.update(
                &key,
                state,
                Source::Agent,
                Some("The task is unknown to the agent".to_string()),
                Some(Reason::TaskUnknown),
            );
            return;
        }
        let grace = self.tasks.get(&key).map(|entry| {
            runner::grace_period(kill.kill_policy.as_ref(), entry.task.kill_policy.as_ref())
        });
        self.kill(&key, grace);
    }

    /// Asks the task's runner to kill it (with `grace`, else the task's own policy).
    pub(super) fn kill(&mut self, key: &TaskKey, grace: Option<Duration>) {
        let Some(entry) = self.tasks.get_mut(key) else {
            return;
        };
        let Some(kill) = entry.kill.take() else {
            // Already being killed, already ended, or never started.
            return;
        };
        let grace =
            grace.unwrap_or_else(|| runner::grace_period(None, entry.task.kill_policy.as_ref()));
        info!(framework_id = %key.framework_id, task_id = %key.task_id, ?grace, "killing task");
        let _ = kill.send(grace);
    }

    pub(super) fn shutdown_framework(&mut self, framework_id: &str) {
        info!(%framework_id, "shutting the framework down");
        let keys: Vec<TaskKey> = self
            .tasks
            .keys()
            .filter(|key| key.framework_id == framework_id)
            .cloned()
            .collect();
        for key in &keys {
            if let Some(entry) = self.tasks.get_mut(key) {
                entry.silent = true;
            }
            self.kill(key, None);
        }
        self.updates.remove_framework(framework_id);
        // Tasks already ended have nothing left to say.
        self.tasks.retain(|key, entry| {
            key.framework_id != framework_id || !is_terminal_state(entry.state as i32)
        });
        self.forget_framework_if_done(framework_id);
    }

    pub(super) fn acknowledge(&mut self, ack: command::Acknowledge) {
        let key = TaskKey {
            framework_id: ack.framework_id.value,
            task_id: ack.task_id.value,
        };
        match self.updates.acknowledge(&key, &ack.uuid) {
            Acked::Terminal => {
                debug!(framework_id = %key.framework_id, task_id = %key.task_id, "terminal update acknowledged");
                self.tasks.remove(&key);
                self.forget_framework_if_done(&key.framework_id);
            }
            Acked::Next => {}
            Acked::Ignored => {
                debug!(framework_id = %key.framework_id, task_id = %key.task_id, "acknowledgement for no update in flight")
            }
        }
    }

    pub(super) fn forget_framework_if_done(&mut self, framework_id: &str) {
        if !self
            .tasks
            .keys()
            .any(|key| key.framework_id == framework_id)
        {
            self.frameworks.remove(framework_id);
        }
    }

    // -----------------------------------------------------------------------------
    // Runners

    pub(super) fn on_report(&mut self, Report { key, progress }: Report) {
        if !matches!(progress, Progress::Running { .. })
            && let Some(sandbox) = self.sandboxes.directory(&key.framework_id, &key.task_id)
        {
            // The container ended: its sandbox goes after --gc_delay.
            self.gc.schedule(sandbox);
        }
        match progress {
            Progress::Running { pid } => {
                debug!(framework_id = %key.framework_id, task_id = %key.task_id, pid, "task running");
                self.sandboxes.set_pid(&key.framework_id, &key.task_id, pid);
                self.update(&key, TaskState::TaskRunning, Source::Executor, None, None);
            }
            Progress::LaunchFailed { message } => {
                self.update(
                    &key,
                    TaskState::TaskFailed,
                    Source::Executor,
                    Some(message),
                    Some(Reason::ContainerLaunchFailed),
                );
            }
            Progress::FetchFailed { message } => {
                // Mesos has no REASON_FETCHER_FAILED: a failed fetch fails the
                // container's launch, reported by the agent.
                warn!(framework_id = %key.framework_id, task_id = %key.task_id, %message, "fetch failed");
                self.update(
                    &key,
                    TaskState::TaskFailed,
                    Source::Agent,
                    Some(format!("Failed to launch container: {message}")),
                    Some(Reason::ContainerLaunchFailed),
                );
            }
            Progress::Limited { limitation } => {
                let reason = match limitation.resource {
                    LimitedResource::Memory => Reason::ContainerLimitationMemory,
                };
                info!(framework_id = %key.framework_id, task_id = %key.task_id, message = %limitation.message, "task's container hit a limit");
                self.update(
                    &key,
                    TaskState::TaskFailed,
                    Source::Agent,
                    Some(limitation.message),
                    Some(reason),
                );
            }
            Progress::Exited { exit, killed } => {
                info!(framework_id = %key.framework_id, task_id = %key.task_id, ?exit, killed, "task ended");
                let (state, message) = match (&exit, killed) {
                    (_, true) => (TaskState::TaskKilled, Some("Command killed".to_string())),
                    (Exit::Code(0), false) => (
                        TaskState::TaskFinished,
                        Some("Command exited with status 0".to_string()),
                    ),
                    (exit, false) => (TaskState::TaskFailed, Some(exit.describe())),
                };
                self.update(&key, state, Source::Executor, message, None);
            }
        }
    }

    /// Records the task's new state and queues the update for the master (unless the
    /// framework is gone). A task that ended and has nothing left to tell is dropped.
    pub(super) fn update(
        &mut self,
        key: &TaskKey,
        state: TaskState,
        source: Source,
        message: Option<String>,
        reason: Option<Reason>,
    ) {
        let agent_id = self.info.id.clone();
        let Some(entry) = self.tasks.get_mut(key) else {
            return;
        };
        if is_terminal_state(entry.state as i32) {
            // A terminal state never changes.
            return;
        }
        entry.state = state;
        self.sandboxes
            .task_state(&key.framework_id, &key.task_id, state);
        if is_terminal_state(state as i32) {
            entry.kill = None;
        }
        if entry.silent {
            if is_terminal_state(state as i32) {
                self.tasks.remove(key);
                self.forget_framework_if_done(&key.framework_id);
            }
            return;
        }
        let status = task_status(
            &key.task_id,
            state,
            source,
            message,
            reason,
            agent_id.as_ref(),
            &key.task_id,
        );
        self.updates.push(entry.framework_id.clone(), status);
    }
}
