//! What a (re-)registering agent reports: checked, then reconciled with the master's
//! books (tasks lost in flight, kills to repeat, frameworks to shut down, frameworks
//! to recover after a master failover).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use ratufa_proto::resources::Resources;
use ratufa_proto::v1::task_status::Reason;
use ratufa_proto::v1::{AgentId, ExecutorInfo, FrameworkId, FrameworkInfo, Task, TaskState};
use tracing::{info, warn};

use super::agent::task_key;
use super::agent_addresses::address_of;
use super::framework::Framework;
use super::launch_validation::allocated;
use super::registry::Reported;
use super::status::{MasterStatus, frees_resources, is_terminal, task_state};
use super::tasks::{kill_task_command, shutdown_framework_command};
use super::validation::validate_id;
use super::{ConnectionId, MasterCore, Output, Time, roles};

/// A re-registering agent's report, checked: its tasks and executors with their
/// resources in allocated form.
#[derive(Debug)]
pub(super) struct Report {
    pub(super) tasks: Vec<(Task, Resources)>,
    pub(super) executors: Vec<(ExecutorInfo, Resources)>,
    pub(super) frameworks: BTreeMap<String, FrameworkInfo>,
}

impl MasterCore {
    /// The role resources of `framework_id` are allocated to when the agent did not
    /// say: the framework's only role.
    pub(super) fn default_role(
        &self,
        framework_id: &str,
        frameworks: &BTreeMap<String, FrameworkInfo>,
    ) -> String {
        let info = self
            .frameworks
            .get(framework_id)
            .map(|f| &f.info)
            .or_else(|| frameworks.get(framework_id));
        info.and_then(|info| roles::framework_roles(info).into_iter().next())
            .unwrap_or_else(|| roles::DEFAULT_ROLE.to_string())
    }

    /// Validates what an agent claims: its resources, and that what its tasks and
    /// executors use fits in them.
    pub(super) fn check_agent(
        &self,
        info: &ratufa_proto::v1::AgentInfo,
        tasks: Vec<Task>,
        executors: Vec<ExecutorInfo>,
        frameworks: Vec<FrameworkInfo>,
    ) -> Result<(Resources, Report), String> {
        if let Some(id) = info.id.as_ref().filter(|id| !id.value.is_empty()) {
            validate_id(&id.value).map_err(|e| format!("Invalid agent ID: {e}"))?;
        }
        if info.hostname.is_empty() {
            return Err("'AgentInfo.hostname' must be set".to_string());
        }
        let total = Resources::try_from_vec(info.resources.clone())
            .map_err(|e| format!("Invalid agent resources: {e}"))?;
        if total.iter().any(|r| r.allocation_info.is_some()) {
            return Err("Invalid agent resources: 'allocation_info' must not be set".to_string());
        }

        let frameworks: BTreeMap<String, FrameworkInfo> = frameworks
            .into_iter()
            .filter_map(|f| f.id.clone().map(|id| (id.value, f)))
            .collect();
        let mut used = Resources::new();
        let mut report = Report {
            tasks: Vec::with_capacity(tasks.len()),
            executors: Vec::with_capacity(executors.len()),
            frameworks: BTreeMap::new(),
        };
        let mut seen = BTreeSet::new();
        for task in tasks {
            let framework_id = task.framework_id.value.clone();
            validate_id(&task.task_id.value)
                .map_err(|e| format!("Task '{}' has an invalid ID: {e}", task.task_id.value))?;
            if !seen.insert((framework_id.clone(), task.task_id.value.clone())) {
                return Err(format!(
                    "Task '{}' of framework {framework_id} is reported twice",
                    task.task_id.value
                ));
            }
            let role = self.default_role(&framework_id, &frameworks);
            let resources = allocated(&task.resources, &role).map_err(|e| {
                format!("Task '{}' uses invalid resources: {e}", task.task_id.value)
            })?;
            if !frees_resources(task_state(task.state)) {
                used += &resources.unallocated();
            }
            report.tasks.push((task, resources));
        }
        for executor in executors {
            let Some(framework_id) = executor.framework_id.as_ref().map(|f| f.value.clone()) else {
                return Err(format!(
                    "Executor '{}' has no 'framework_id'",
                    executor.executor_id.value
                ));
            };
            let role = self.default_role(&framework_id, &frameworks);
            let resources = allocated(&executor.resources, &role).map_err(|e| {
                format!(
                    "Executor '{}' uses invalid resources: {e}",
                    executor.executor_id.value
                )
            })?;
            used += &resources.unallocated();
            report.executors.push((executor, resources));
        }
        if !total.contains(&used) {
            return Err(format!(
                "Tasks and executors use {used}, more than the agent's resources {total}"
            ));
        }
        report.frameworks = frameworks;
        Ok((total, report))
    }

    /// Takes in what a (re-)registering agent that the master does not hold runs.
    /// After an agent was unreachable, the master already told frameworks that are
    /// not partition-aware that its tasks were lost: those frameworks are shut down on
    /// the agent instead of coming back.
    pub(super) fn adopt_report(
        &mut self,
        now: Time,
        agent_id: &str,
        report: Report,
        was_unreachable: bool,
    ) {
        let mut shutdown: BTreeSet<String> = BTreeSet::new();
        let known_info = |core: &MasterCore, id: &str| -> Option<FrameworkInfo> {
            core.frameworks
                .get(id)
                .map(|f| f.info.clone())
                .or_else(|| report.frameworks.get(id).cloned())
        };
        for (task, resources) in report.tasks {
            let framework_id = task.framework_id.value.clone();
            let task_id = task.task_id.value.clone();
            if self.completed.contains(&framework_id) {
                shutdown.insert(framework_id);
                continue;
            }
            let info = known_info(self, &framework_id);
            let partition_aware = info.as_ref().is_some_and(roles::is_partition_aware);
            if was_unreachable && !partition_aware {
                shutdown.insert(framework_id);
                continue;
            }
            // The task may be booked elsewhere (an id reused across agents would be a
            // framework bug); the agent's report wins for this agent only.
            if self
                .tasks
                .get(&framework_id)
                .and_then(|t| t.get(&task_id))
                .is_some()
            {
                warn!(framework_id = %framework_id, task_id = %task_id, agent_id = %agent_id, "task reported by an agent is already booked; keeping the booked one");
                continue;
            }
            if let Some(info) = &info {
                self.recover_framework(now, info);
            }
            if let Some(books) = self.tasks.get_mut(&framework_id) {
                books.take_unreachable(&task_id);
                books.completed.retain(|t| t.task_id() != task_id);
            }
            // The state the framework hears next from the agent: its oldest update
            // not yet acknowledged, if any. Mesos sends the latest state here, which a
            // framework then sees followed by older updates (a terminal task coming
            // back as RUNNING).
            let state = task_state(task.status_update_state.unwrap_or(task.state));
            let executor_id = task.executor_id.clone();
            self.insert_task(&framework_id, agent_id, task, resources);
            if was_unreachable {
                let mut status = MasterStatus::new(
                    ratufa_proto::v1::TaskId { value: task_id },
                    Some(AgentId {
                        value: agent_id.to_string(),
                    }),
                    state,
                    Reason::AgentReregistered,
                    "Unreachable agent re-reregistered",
                );
                status.executor_id = executor_id;
                self.send_update(
                    &framework_id,
                    status.into_status(self.status_timestamp(now)),
                );
            }
        }
        for (executor, resources) in report.executors {
            let framework_id = executor
                .framework_id
                .as_ref()
                .map(|f| f.value.clone())
                .unwrap_or_default();
            if shutdown.contains(&framework_id) || self.completed.contains(&framework_id) {
                shutdown.insert(framework_id);
                continue;
            }
            if let Some(info) = known_info(self, &framework_id) {
                self.recover_framework(now, &info);
            }
            self.add_executor(&framework_id, agent_id, executor, &resources);
        }
        for framework_id in shutdown {
            info!(framework_id = %framework_id, agent_id = %agent_id, "shutting down framework on returning agent");
            self.send_command(agent_id, shutdown_framework_command(&framework_id));
        }
    }

    /// A framework the master learns of from an agent (after a master failover): held,
    /// not connected, until it subscribes again.
    pub(super) fn recover_framework(&mut self, now: Time, info: &FrameworkInfo) {
        let Some(id) = info.id.as_ref().map(|id| id.value.clone()) else {
            return;
        };
        if self.frameworks.contains_key(&id) || self.completed.contains(&id) {
            return;
        }
        info!(framework_id = %id, "recovering framework from an agent's report");
        let framework = Framework::new(info.clone(), now);
        let suppressed: Vec<String> = Vec::new();
        self.allocator.add_framework(
            &FrameworkId { value: id.clone() },
            info,
            &suppressed,
            false,
            &[],
        );
        self.frameworks.insert(id.clone(), framework);
        self.notify_framework(&id, true);
    }

    /// A known agent subscribing again (its stream broke, or it restarted with its
    /// checkpoint; or, without its id, its first answer was lost): its new stream
    /// replaces the old, and the master's books are made to agree with what it
    /// reports. The caller counts it.
    pub(super) fn reregister_known_agent(
        &mut self,
        now: Time,
        conn: ConnectionId,
        info: ratufa_proto::v1::AgentInfo,
        total: Resources,
        said: Reported,
        report: Report,
    ) {
        let Some(agent_id) = info.id.as_ref().map(|id| id.value.clone()) else {
            return;
        };
        info!(agent_id = %agent_id, %conn, "agent re-registered");
        self.rescind_agent_offers(now, &agent_id);
        if let Some(old) = self.agents.get(&agent_id).and_then(|a| a.conn)
            && old != conn
        {
            self.agent_connections.remove(&old);
            self.outputs.push_back(Output::Close { conn: old });
        }
        // The allocator forgets the agent and learns it again with the books as they
        // stand after reconciling, rather than patching allocations piecemeal.
        self.allocator.remove_agent(&AgentId {
            value: agent_id.clone(),
        });

        let reported: BTreeSet<(String, String)> = report
            .tasks
            .iter()
            .map(|(t, _)| (t.framework_id.value.clone(), t.task_id.value.clone()))
            .collect();
        let booked: Vec<(String, String)> = self
            .agents
            .get(&agent_id)
            .map(|a| {
                a.tasks
                    .iter()
                    .map(|(f, t)| (f.to_string(), t.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        for key in booked {
            if reported.contains(&key) {
                continue;
            }
            let (framework_id, task_id) = key;
            let Some(entry) = self.task(&framework_id, &task_id) else {
                continue;
            };
            if !is_terminal(entry.state()) {
                // Launched but never reached the agent (its stream broke first).
                let partition_aware = self.is_partition_aware(&framework_id);
                let state = if partition_aware {
                    TaskState::TaskDropped
                } else {
                    TaskState::TaskLost
                };
                let mut status = MasterStatus::new(
                    entry.task_id_proto(),
                    Some(entry.agent_id_proto()),
                    state,
                    Reason::Reconciliation,
                    "Task is unknown to the agent",
                );
                status.executor_id = entry.executor_id();
                let status = status.into_status(self.status_timestamp(now));
                self.update_task(now, &framework_id, &task_id, &status, None, false);
                self.send_update(&framework_id, status);
            }
            self.remove_task(now, &framework_id, &task_id, false);
        }
        let reported_executors: BTreeSet<(String, String)> = report
            .executors
            .iter()
            .map(|(e, _)| {
                (
                    e.framework_id
                        .as_ref()
                        .map(|f| f.value.clone())
                        .unwrap_or_default(),
                    e.executor_id.value.clone(),
                )
            })
            .collect();
        let booked_executors: Vec<(String, String)> = self
            .agents
            .get(&agent_id)
            .map(|a| a.executors.keys().cloned().collect())
            .unwrap_or_default();
        for (framework_id, executor_id) in booked_executors {
            if !reported_executors.contains(&(framework_id.clone(), executor_id.clone())) {
                self.remove_executor(now, &framework_id, &agent_id, &executor_id, false);
            }
        }

        let mut kills = Vec::new();
        let mut shutdown = BTreeSet::new();
        let mut new_tasks = Vec::new();
        for (task, resources) in report.tasks {
            let key = (task.framework_id.value.clone(), task.task_id.value.clone());
            if self.completed.contains(&key.0) {
                shutdown.insert(key.0);
                continue;
            }
            let booked = self
                .agents
                .get(&agent_id)
                .is_some_and(|a| a.tasks.contains(&task_key(&key.0, &key.1)));
            if booked {
                let killed = self
                    .agents
                    .get(&agent_id)
                    .is_some_and(|a| a.killed_tasks.contains(&task_key(&key.0, &key.1)));
                if killed && !is_terminal(task_state(task.state)) {
                    kills.push((key.0, task.task_id));
                }
            } else {
                new_tasks.push((task, resources));
            }
        }
        let mut new_executors = Vec::new();
        for (executor, resources) in report.executors {
            let framework_id = executor
                .framework_id
                .as_ref()
                .map(|f| f.value.clone())
                .unwrap_or_default();
            if self.completed.contains(&framework_id) {
                shutdown.insert(framework_id);
                continue;
            }
            let known = self
                .agents
                .get(&agent_id)
                .is_some_and(|a| a.has_executor(&framework_id, &executor.executor_id.value));
            if !known {
                new_executors.push((executor, resources));
            }
        }

        if let Some(agent) = self.agents.get_mut(&agent_id) {
            self.addresses.left(&address_of(&agent.info), &agent_id);
            self.addresses.registered(&info, &agent_id);
            agent.info = Arc::new(info);
            agent.total = Arc::new(total);
            agent.conn = Some(conn);
            agent.reregistered_time = Some(now);
            agent.version = said.version;
            agent.ip = said.ip;
            agent.pong_pending = false;
            agent.pings_missed = 0;
        }
        self.agent_connections.insert(conn, agent_id.clone());
        self.adopt_report(
            now,
            &agent_id,
            Report {
                tasks: new_tasks,
                executors: new_executors,
                frameworks: report.frameworks,
            },
            false,
        );
        for (framework_id, task_id) in kills {
            warn!(framework_id = %framework_id, task_id = %task_id.value, agent_id = %agent_id, "agent still runs a task that was killed; killing it again");
            self.send_command(&agent_id, kill_task_command(&framework_id, task_id, None));
        }
        for framework_id in shutdown {
            self.send_command(&agent_id, shutdown_framework_command(&framework_id));
        }
        self.add_agent_to_allocator(&agent_id);
        self.reschedule_ping(now, &agent_id);
    }
}
