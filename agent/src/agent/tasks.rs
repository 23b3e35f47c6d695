//! The agent's tasks: the commands that start, kill and shut them down, their
//! runners' reports, and the status updates those turn into.

use ratufa_proto::ratufa::agentlink::command;
use ratufa_proto::v1::executor_info::Type as ExecutorType;
use ratufa_proto::v1::task_status::{Reason, Source};
use ratufa_proto::v1::{FrameworkInfo, TaskInfo, TaskState, TaskStatus};
use tracing::{debug, info, warn};

use super::{Agent, TaskEntry, partition_aware};
use crate::executors::{Queued, command_executor_info};
use crate::status::task_status;
use crate::updates::{Acked, TaskKey, is_terminal_state};

impl Agent {
    pub(super) fn run_task(&mut self, framework: FrameworkInfo, task: TaskInfo) {
        if self.agent_id().is_none() {
            warn!(task_id = %task.task_id.value, "RUN_TASK before SUBSCRIBED; ignored");
            return;
        }
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
            .insert(framework_id.value.clone(), framework.clone());
        let command = task.command.clone();
        if let Some(mut executor) = task.executor.clone() {
            // A custom executor: the task goes to it (launched first if need be).
            executor.framework_id = Some(framework_id.clone());
            let mut task = task;
            let executor_id = executor.executor_id.value.clone();
            self.tasks.insert(
                key.clone(),
                Agent::task_entry(task.clone(), framework_id, &executor_id),
            );
            task.executor = Some(executor.clone());
            self.launch_on_executor(&framework, executor, false, Queued::Task(Box::new(task)));
            return;
        }
        // A command task runs under the agent's command executor.
        let executor = command_executor_info(&task, &framework_id, self.executor_command.clone());
        self.tasks.insert(
            key.clone(),
            Agent::task_entry(task.clone(), framework_id, &key.task_id),
        );
        if command.is_none() {
            self.update(
                &key,
                TaskState::TaskFailed,
                Source::Agent,
                Some("The task has neither a command nor an executor".to_string()),
                Some(Reason::ContainerLaunchFailed),
            );
            return;
        }
        self.launch_on_executor(&framework, executor, true, Queued::Task(Box::new(task)));
    }

    /// RUN_TASK_GROUP: the group goes to its executor in one LAUNCH_GROUP. A DEFAULT
    /// executor is the agent's own (`ratufa executor` serves as Mesos's default
    /// executor); a CUSTOM one is the framework's command.
    pub(super) fn run_task_group(&mut self, group: command::RunTaskGroup) {
        if self.agent_id().is_none() {
            warn!("RUN_TASK_GROUP before SUBSCRIBED; ignored");
            return;
        }
        let Some(framework_id) = group.framework.id.clone() else {
            return;
        };
        self.frameworks
            .insert(framework_id.value.clone(), group.framework.clone());
        let mut executor = group.executor;
        executor.framework_id = Some(framework_id.clone());
        let default = executor.r#type != Some(ExecutorType::Custom as i32);
        if default && executor.command.is_none() {
            executor.command = Some(self.executor_command.clone());
        }
        let executor_id = executor.executor_id.value.clone();
        let mut tasks = Vec::new();
        for task in group.task_group.tasks {
            let key = TaskKey {
                framework_id: framework_id.value.clone(),
                task_id: task.task_id.value.clone(),
            };
            if self.tasks.contains_key(&key) {
                warn!(framework_id = %key.framework_id, task_id = %key.task_id, "RUN_TASK_GROUP for a task already here; ignored");
                continue;
            }
            self.tasks.insert(
                key,
                Agent::task_entry(task.clone(), framework_id.clone(), &executor_id),
            );
            tasks.push(task);
        }
        if tasks.is_empty() {
            return;
        }
        info!(framework_id = %framework_id.value, %executor_id, tasks = tasks.len(), "running task group");
        let framework = group.framework;
        self.launch_on_executor(
            &framework,
            executor,
            false,
            Queued::Group(ratufa_proto::v1::TaskGroupInfo { tasks }),
        );
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
                    silent: false,
                    executor_id: kill.task_id.value.clone(),
                    run: None,
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
        if let Some(executor_id) = self.tasks.get(&key).map(|t| t.executor_id.clone()) {
            self.kill_on_executor(&key, &executor_id, kill.kill_policy);
        }
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
        }
        for key in self.executors.of_framework(framework_id) {
            self.shutdown_executor(&key);
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
        let acked = self.updates.acknowledge(&key, &ack.uuid);
        let run = self.tasks.get(&key).and_then(|t| t.run.clone());
        if let Some(run) = &run
            && acked != Acked::Ignored
        {
            let record = crate::checkpoint::UpdateRecord::Ack {
                uuid: ack.uuid.clone(),
            };
            self.checkpointed(
                "task.updates",
                self.checkpoint.append_updates(run, &key.task_id, &[record]),
            );
        }
        match acked {
            Acked::Terminal => {
                debug!(framework_id = %key.framework_id, task_id = %key.task_id, "terminal update acknowledged");
                self.tasks.remove(&key);
                if let Some(run) = &run {
                    self.remove_run_if_done(run);
                }
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
        let Some(entry) = self.tasks.get(key) else {
            return;
        };
        let executor_id = entry.executor_id.clone();
        let status = task_status(
            &key.task_id,
            state,
            source,
            message,
            reason,
            self.info.id.as_ref(),
            &executor_id,
        );
        self.record(key, status);
    }

    /// Takes `status` as the task's new state and queues it for the master (unless
    /// the framework is gone). A task that ended and has nothing left to tell is
    /// dropped; a task of an executor that ended leaves its container smaller.
    pub(super) fn record(&mut self, key: &TaskKey, status: TaskStatus) {
        let Some(entry) = self.tasks.get_mut(key) else {
            return;
        };
        if is_terminal_state(entry.state as i32) {
            // A terminal state never changes.
            return;
        }
        let state = TaskState::try_from(status.state).unwrap_or(TaskState::TaskUnknown);
        entry.state = state;
        let executor_id = entry.executor_id.clone();
        self.sandboxes
            .task_status(&key.framework_id, &executor_id, &entry.task, &status);
        let terminal = is_terminal_state(state as i32);
        let silent = entry.silent;
        let framework_id = entry.framework_id.clone();
        if let Some(run) = entry.run.clone() {
            // On disk before the executor hears ACKNOWLEDGED (and before the master
            // hears of it): a restarted agent resends what was not acknowledged.
            let record = crate::checkpoint::UpdateRecord::Update {
                status: status.clone(),
                framework_id: framework_id.clone(),
            };
            self.checkpointed(
                "task.updates",
                self.checkpoint
                    .append_updates(&run, &key.task_id, &[record]),
            );
        }
        if terminal {
            self.executor_task_ended(key);
        }
        if silent {
            if terminal {
                self.tasks.remove(key);
                self.forget_framework_if_done(&key.framework_id);
            }
            return;
        }
        self.updates.push(framework_id, status);
    }
}
