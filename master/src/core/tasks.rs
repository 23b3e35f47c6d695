//! Tasks and executors in the master's books: launching, state changes, removal,
//! and the scheduler calls about them (KILL, SHUTDOWN, ACKNOWLEDGE, MESSAGE).

use ratufa_proto::ratufa::agentlink::{Command, command};
use ratufa_proto::resources::Resources;
use ratufa_proto::v1::scheduler::call;
use ratufa_proto::v1::{
    ExecutorInfo, FrameworkId, FrameworkInfo, Task, TaskInfo, TaskState, TaskStatus,
};
use std::sync::Arc;

use tracing::{debug, info, warn};

use super::agent::{ExecutorEntry, task_key};
use super::status::{frees_resources, is_terminal, task_state, update_event};
use super::task::{FrameworkTasks, TaskEntry};
use super::{MasterCore, Reply, Time};

/// How many statuses a task keeps (the latest, deduplicated by state): enough for
/// state endpoints, bounded so a chatty task cannot grow the master.
pub(super) const MAX_STATUSES_PER_TASK: usize = 8;

impl MasterCore {
    /// Sends an UPDATE to a framework if it is connected (else it is dropped, as
    /// Mesos does: agents resend theirs, and master-made ones are found again by
    /// reconciliation).
    pub(super) fn send_update(&mut self, framework_id: &str, status: TaskStatus) -> bool {
        self.send_event(framework_id, update_event(status))
    }

    pub(super) fn count_terminal(&mut self, state: TaskState) {
        let c = &mut self.counters;
        match state {
            TaskState::TaskFinished => c.tasks_finished += 1,
            TaskState::TaskFailed => c.tasks_failed += 1,
            TaskState::TaskKilled => c.tasks_killed += 1,
            TaskState::TaskLost => c.tasks_lost += 1,
            TaskState::TaskError => c.tasks_error += 1,
            TaskState::TaskDropped => c.tasks_dropped += 1,
            TaskState::TaskGone => c.tasks_gone += 1,
            TaskState::TaskGoneByOperator => c.tasks_gone_by_operator += 1,
            _ => {}
        }
    }

    /// The FrameworkInfo agents get with a task (with its id).
    pub(super) fn framework_info_for_agent(&self, framework_id: &str) -> FrameworkInfo {
        self.frameworks
            .get(framework_id)
            .map(|f| f.info.clone())
            .unwrap_or_else(|| FrameworkInfo {
                id: Some(FrameworkId {
                    value: framework_id.to_string(),
                }),
                ..FrameworkInfo::default()
            })
    }

    /// Books a task as STAGING on `agent_id`, holding `resources` there.
    pub(super) fn add_task(
        &mut self,
        framework_id: &str,
        agent_id: &str,
        info: &TaskInfo,
        resources: Resources,
    ) {
        let task = Task {
            name: info.name.clone(),
            task_id: info.task_id.clone(),
            framework_id: FrameworkId {
                value: framework_id.to_string(),
            },
            executor_id: info.executor.as_ref().map(|e| e.executor_id.clone()),
            agent_id: info.agent_id.clone(),
            state: TaskState::TaskStaging as i32,
            // Kept once: the record's resources are these, in allocated form.
            resources: resources.as_slice().to_vec(),
            labels: info.labels.clone(),
            discovery: info.discovery.clone(),
            container: info.container.clone(),
            health_check: info.health_check.clone(),
            kill_policy: info.kill_policy,
            limits: info.limits.clone(),
            user: info
                .command
                .as_ref()
                .and_then(|c| c.user.clone())
                .or_else(|| {
                    self.frameworks
                        .get(framework_id)
                        .map(|f| f.info.user.clone())
                }),
            ..Task::default()
        };
        self.insert_task(framework_id, agent_id, task, resources);
    }

    /// Books a task the master did not launch (an agent reported it), or re-books one.
    pub(super) fn insert_task(
        &mut self,
        framework_id: &str,
        agent_id: &str,
        task: Task,
        resources: Resources,
    ) {
        let state = task_state(task.state);
        let books = self.tasks.entry(framework_id.to_string()).or_default();
        let interned_framework = books.intern_id(framework_id);
        let agent = self.agents.get_mut(agent_id);
        let interned_agent = agent
            .as_ref()
            .map_or_else(|| Arc::from(agent_id), |a| a.interned_id.clone());
        if let Some(agent) = agent
            && !frees_resources(state)
        {
            agent.add_used(framework_id, &resources);
        }
        let entry = TaskEntry::new(task, resources, &interned_framework, &interned_agent);
        let task_id = entry.task_id_arc().clone();
        if let Some(agent) = self.agents.get_mut(agent_id) {
            agent.tasks.insert((interned_framework, task_id.clone()));
        }
        books.active.insert(task_id.clone(), Arc::new(entry));
        self.notify_task_added(framework_id, &task_id);
    }

    pub(super) fn add_executor(
        &mut self,
        framework_id: &str,
        agent_id: &str,
        executor: ExecutorInfo,
        resources: &Resources,
    ) {
        if let Some(agent) = self.agents.get_mut(agent_id) {
            agent.add_used(framework_id, resources);
            agent.executors.insert(
                (framework_id.to_string(), executor.executor_id.value.clone()),
                ExecutorEntry {
                    info: executor,
                    resources: resources.clone(),
                },
            );
        }
    }

    /// Forgets an executor and gives its resources back.
    pub(super) fn remove_executor(
        &mut self,
        now: Time,
        framework_id: &str,
        agent_id: &str,
        executor_id: &str,
        recover: bool,
    ) {
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return;
        };
        let Some(ExecutorEntry { resources, .. }) = agent
            .executors
            .remove(&(framework_id.to_string(), executor_id.to_string()))
        else {
            return;
        };
        agent.remove_used(framework_id, &resources);
        debug!(framework_id = %framework_id, agent_id = %agent_id, executor_id = %executor_id, "removed executor");
        if recover {
            self.recover(now, framework_id, agent_id, &resources, None);
        }
    }

    /// Applies a status to a booked task (`Master::updateTask`): a terminal state is
    /// never left; turning terminal or unreachable frees the task's resources.
    /// `latest` is the state the agent says the task is in now, when `status` is an
    /// older update being retried.
    pub(super) fn update_task(
        &mut self,
        now: Time,
        framework_id: &str,
        task_id: &str,
        status: &TaskStatus,
        latest: Option<TaskState>,
        recover: bool,
    ) {
        let Some(entry) = self
            .tasks
            .get_mut(framework_id)
            .and_then(|t| t.get_mut(task_id))
        else {
            return;
        };
        let old = entry.state();
        let new = latest.unwrap_or_else(|| task_state(status.state));
        if is_terminal(old) {
            debug!(framework_id = %framework_id, task_id = %task_id, state = ?old, "task already terminal; state kept");
        } else {
            entry.set_state(new);
        }
        let mut kept = status.clone();
        // Task data can be large and the framework already got it.
        kept.data = None;
        entry.push_status(kept, MAX_STATUSES_PER_TASK);

        if !frees_resources(old) && frees_resources(new) {
            let resources = entry.resources();
            let agent_id = entry.agent_id().to_string();
            // Counted by the state the task ended in: with `latest` set, `status` is an
            // older, non-terminal update being retried.
            if is_terminal(new) {
                self.count_terminal(new);
            }
            if let Some(agent) = self.agents.get_mut(&agent_id) {
                agent.remove_used(framework_id, &resources);
            }
            if recover {
                self.recover(now, framework_id, &agent_id, &resources, None);
            }
        }
        self.notify_task_updated(framework_id, task_id, status);
    }

    /// Takes a task out of the active books: into the completed list, or (a
    /// partition-aware framework's task on an unreachable agent) the unreachable one.
    /// Resources of a task that is neither terminal nor unreachable are given back.
    pub(super) fn remove_task(
        &mut self,
        now: Time,
        framework_id: &str,
        task_id: &str,
        unreachable: bool,
    ) {
        let capacity = self.config.max_completed_tasks_per_framework;
        let Some(books) = self.tasks.get_mut(framework_id) else {
            return;
        };
        let Some(entry) = books.active.remove(task_id) else {
            return;
        };
        let agent_id = entry.agent_id().to_string();
        let still_held = !frees_resources(entry.state());
        let resources = if still_held {
            entry.resources()
        } else {
            Resources::new()
        };
        if unreachable {
            books.push_unreachable(entry, capacity);
        } else {
            books.push_completed(entry, capacity);
        }
        if let Some(agent) = self.agents.get_mut(&agent_id) {
            let key = task_key(framework_id, task_id);
            agent.tasks.remove(&key);
            agent.killed_tasks.remove(&key);
            if still_held {
                agent.remove_used(framework_id, &resources);
            }
        }
        if still_held {
            self.recover(now, framework_id, &agent_id, &resources, None);
        }
    }

    /// An UPDATE the agent sent: books it, then forwards it (with the agent's uuid)
    /// if the framework is connected. Returns whether it was forwarded.
    pub(super) fn forward_agent_update(
        &mut self,
        now: Time,
        agent_id: &str,
        framework_id: &str,
        status: TaskStatus,
        latest: Option<TaskState>,
    ) -> bool {
        let task_id = status.task_id.value.clone();
        let known = self
            .tasks
            .get(framework_id)
            .and_then(|t| t.get(&task_id))
            .is_some_and(|e| e.agent_id() == agent_id);
        let connected = self
            .frameworks
            .get(framework_id)
            .is_some_and(|f| f.is_connected());
        if known {
            self.update_task(now, framework_id, &task_id, &status, latest, true);
        }
        if !connected {
            warn!(framework_id = %framework_id, agent_id = %agent_id, task_id = %task_id, "status update for a framework that is not connected; the agent will resend it");
            return false;
        }
        if known
            && let Some(entry) = self
                .tasks
                .get_mut(framework_id)
                .and_then(|t| t.get_mut(&task_id))
        {
            entry.set_forwarded(status.state, status.uuid.as_deref());
        }
        self.send_update(framework_id, status)
    }

    /// ACKNOWLEDGE (`Master::acknowledge`): dropped when the agent is not registered
    /// or not connected; removes the task when it acknowledges the terminal update
    /// last sent; otherwise passed on to the agent, even for a task the master does
    /// not know (the agent may still hold the update).
    pub(super) fn acknowledge(
        &mut self,
        now: Time,
        framework_id: &str,
        ack: call::Acknowledge,
    ) -> Reply {
        let agent_id = ack.agent_id.value.clone();
        let task_id = ack.task_id.value.clone();
        let connected = self.agents.get(&agent_id).map(|a| a.is_connected());
        if connected != Some(true) {
            warn!(framework_id = %framework_id, agent_id = %agent_id, task_id = %task_id, "dropping acknowledgement: agent is {}", if connected.is_none() { "not registered" } else { "disconnected" });
            self.counters.invalid_status_update_acknowledgements += 1;
            return Reply::Accepted;
        }
        let entry = self
            .tasks
            .get(framework_id)
            .and_then(|t| t.get(&task_id))
            .filter(|e| e.agent_id() == agent_id);
        if let Some(entry) = entry {
            let Some(acked_state) = entry.status_update_state() else {
                warn!(framework_id = %framework_id, task_id = %task_id, "ignoring acknowledgement of an update this master did not send");
                self.counters.invalid_status_update_acknowledgements += 1;
                return Reply::Accepted;
            };
            if is_terminal(acked_state) && entry.status_update_uuid() == Some(&ack.uuid[..]) {
                self.remove_task(now, framework_id, &task_id, false);
            }
        }
        self.counters.valid_status_update_acknowledgements += 1;
        self.send_command(
            &agent_id,
            Command {
                r#type: Some(command::Type::Acknowledge as i32),
                acknowledge: Some(command::Acknowledge {
                    framework_id: FrameworkId {
                        value: framework_id.to_string(),
                    },
                    task_id: ack.task_id,
                    uuid: ack.uuid,
                }),
                ..Command::default()
            },
        );
        Reply::Accepted
    }

    /// KILL: a known task's agent is told to kill it (or will be when it comes back);
    /// an unknown task is answered by explicit reconciliation.
    pub(super) fn kill(&mut self, now: Time, framework_id: &str, kill: call::Kill) -> Reply {
        self.counters.messages_kill_task += 1;
        let task_id = kill.task_id.value.clone();
        let agent_of_task = self
            .tasks
            .get(framework_id)
            .and_then(|t| t.get(&task_id))
            .map(|e| e.agent_id().to_string());
        let Some(agent_id) = agent_of_task else {
            info!(framework_id = %framework_id, task_id = %task_id, "cannot kill unknown task; reconciling it");
            self.reconcile(
                now,
                framework_id,
                call::Reconcile {
                    tasks: vec![call::reconcile::Task {
                        task_id: kill.task_id,
                        agent_id: kill.agent_id,
                    }],
                },
            );
            return Reply::Accepted;
        };
        if let Some(asked) = &kill.agent_id
            && asked.value != agent_id
        {
            warn!(framework_id = %framework_id, task_id = %task_id, agent_id = %asked.value, "cannot kill task: it runs on a different agent");
            return Reply::Accepted;
        }
        let Some(agent) = self.agents.get_mut(&agent_id) else {
            return Reply::Accepted;
        };
        agent.killed_tasks.insert(task_key(framework_id, &task_id));
        if !agent.is_connected() {
            info!(framework_id = %framework_id, task_id = %task_id, agent_id = %agent_id, "agent disconnected; the kill is retried when it comes back");
            return Reply::Accepted;
        }
        info!(framework_id = %framework_id, task_id = %task_id, agent_id = %agent_id, "telling agent to kill task");
        self.send_command(
            &agent_id,
            kill_task_command(framework_id, kill.task_id, kill.kill_policy),
        );
        Reply::Accepted
    }

    /// SHUTDOWN: the agent is told to shut the executor down.
    pub(super) fn shutdown_executor(
        &mut self,
        framework_id: &str,
        shutdown: call::Shutdown,
    ) -> Reply {
        let agent_id = shutdown.agent_id.value;
        if !self.agents.contains_key(&agent_id) {
            warn!(framework_id = %framework_id, agent_id = %agent_id, "cannot shut down executor: agent not registered");
            return Reply::Accepted;
        }
        info!(framework_id = %framework_id, agent_id = %agent_id, executor_id = %shutdown.executor_id.value, "telling agent to shut down executor");
        self.send_command(
            &agent_id,
            Command {
                r#type: Some(command::Type::ShutdownExecutor as i32),
                shutdown_executor: Some(command::ShutdownExecutor {
                    framework_id: FrameworkId {
                        value: framework_id.to_string(),
                    },
                    executor_id: shutdown.executor_id,
                }),
                ..Command::default()
            },
        );
        Reply::Accepted
    }

    /// MESSAGE from a scheduler to one of its executors.
    pub(super) fn framework_message(
        &mut self,
        framework_id: &str,
        message: call::Message,
    ) -> Reply {
        self.counters.messages_framework_to_executor += 1;
        let agent_id = message.agent_id.value;
        if !self.agents.get(&agent_id).is_some_and(|a| a.is_connected()) {
            warn!(framework_id = %framework_id, agent_id = %agent_id, "dropping framework message: agent not connected");
            self.counters.invalid_framework_to_executor_messages += 1;
            return Reply::Accepted;
        }
        self.counters.valid_framework_to_executor_messages += 1;
        self.send_command(
            &agent_id,
            Command {
                r#type: Some(command::Type::FrameworkMessage as i32),
                framework_message: Some(command::FrameworkMessage {
                    framework_id: FrameworkId {
                        value: framework_id.to_string(),
                    },
                    executor_id: message.executor_id,
                    data: message.data,
                }),
                ..Command::default()
            },
        );
        Reply::Accepted
    }

    /// A framework's tasks, if the master has any books for it.
    pub fn framework_tasks(&self, framework_id: &str) -> Option<&FrameworkTasks> {
        self.tasks.get(framework_id)
    }

    /// A task in the active books.
    pub fn task(&self, framework_id: &str, task_id: &str) -> Option<&TaskEntry> {
        self.tasks.get(framework_id)?.get(task_id)
    }
}

pub(super) fn kill_task_command(
    framework_id: &str,
    task_id: ratufa_proto::v1::TaskId,
    kill_policy: Option<ratufa_proto::v1::KillPolicy>,
) -> Command {
    Command {
        r#type: Some(command::Type::KillTask as i32),
        kill_task: Some(command::KillTask {
            framework_id: FrameworkId {
                value: framework_id.to_string(),
            },
            task_id,
            kill_policy,
        }),
        ..Command::default()
    }
}

pub(super) fn shutdown_framework_command(framework_id: &str) -> Command {
    Command {
        r#type: Some(command::Type::ShutdownFramework as i32),
        shutdown_framework: Some(command::ShutdownFramework {
            framework_id: FrameworkId {
                value: framework_id.to_string(),
            },
        }),
        ..Command::default()
    }
}
