//! Agents as the master sees them: registration, re-registration, the agent link's
//! calls, disconnection, pings and the unreachable transition.

use std::collections::{BTreeMap, BTreeSet};

use ratufa_proto::ratufa::agentlink::{self, Command, call as agent_call, command};
use ratufa_proto::resources::Resources;
use ratufa_proto::v1::scheduler::{Event, event};
use ratufa_proto::v1::task_status::Reason;
use ratufa_proto::v1::{AgentId, ExecutorInfo, FrameworkId, FrameworkInfo, Task, TaskState};
use tracing::{info, warn};

use super::agent::Agent;
use super::framework::Framework;
use super::launch_validation::allocated;
use super::status::{MasterStatus, frees_resources, is_terminal, task_state, time_info};
use super::tasks::{kill_task_command, shutdown_framework_command};
use super::validation::validate_id;
use super::{ConnectionId, MasterCore, Output, Rejection, Reply, Time, roles};

/// Sent (as ERROR) when an agent names an id this master refuses.
pub const AGENT_NOT_SUBSCRIBED: &str = "Agent is not subscribed: re-subscribe on a new stream";

/// A re-registering agent's report, checked: its tasks and executors with their
/// resources in allocated form.
struct Report {
    tasks: Vec<(Task, Resources)>,
    executors: Vec<(ExecutorInfo, Resources)>,
    frameworks: BTreeMap<String, FrameworkInfo>,
}

impl MasterCore {
    /// An agent's SUBSCRIBE, arriving on the new agent-link stream `conn`.
    ///
    /// `subscribe.agent_info.id` unset: a new agent, given the id `<masterid>-S<n>`.
    /// Set: re-registration with the tasks, executors and frameworks it runs.
    ///
    /// Either way the outcome also comes out of `poll_output` for `conn`: on success a
    /// SUBSCRIBED command first (then whatever re-registration needs: KILL_TASK,
    /// SHUTDOWN_FRAMEWORK…); on refusal (invalid resources, say) one ERROR command
    /// naming the fault, then `Output::Close { conn }`. The `Err` carries the same
    /// message; the IO layer should still send what was queued.
    ///
    /// `conn` ids share one space with framework streams: the IO layer must never give
    /// an agent stream and a framework stream the same id.
    pub fn handle_agent_subscribe(
        &mut self,
        now: Time,
        conn: ConnectionId,
        subscribe: agent_call::Subscribe,
    ) -> Result<AgentId, Rejection> {
        let agent_call::Subscribe {
            agent_info: mut info,
            tasks,
            executors,
            frameworks,
            version,
        } = subscribe;
        let reregistering = info.id.as_ref().is_some_and(|id| !id.value.is_empty());
        if reregistering {
            self.counters.messages_reregister_slave += 1;
        } else {
            self.counters.messages_register_slave += 1;
        }

        let checked = self.check_agent(&info, tasks, executors, frameworks);
        let (total, report) = match checked {
            Ok(checked) => checked,
            Err(message) => {
                warn!(hostname = %info.hostname, %conn, "refusing agent: {message}");
                self.send_agent_error(conn, &message);
                return Err(Rejection::bad_request(message));
            }
        };

        let id = if reregistering {
            info.id.clone().unwrap_or_default()
        } else {
            let id = AgentId {
                value: format!("{}-S{}", self.config.master_info.id, self.next_agent_id),
            };
            self.next_agent_id += 1;
            info.id = Some(id.clone());
            id
        };
        // SUBSCRIBED goes first on the new stream, before anything re-registration
        // sends.
        self.outputs.push_back(Output::AgentCommand {
            conn,
            command: Command {
                r#type: Some(command::Type::Subscribed as i32),
                subscribed: Some(command::Subscribed {
                    agent_id: id.clone(),
                    master_info: Some(self.config.master_info.clone()),
                    ping_interval_seconds: Some(self.config.agent_ping_timeout.as_secs_f64()),
                }),
                ..Command::default()
            },
        });

        if self.agents.contains_key(&id.value) {
            self.reregister_known_agent(now, conn, info, total, version, report);
        } else {
            let was_unreachable = self.unreachable_agents.remove(&id.value).is_some();
            if reregistering {
                self.counters.slave_reregistrations += 1;
            } else {
                self.counters.slave_registrations += 1;
            }
            info!(agent_id = %id.value, hostname = %info.hostname, %conn, reregistering, was_unreachable, "agent registered");
            let mut agent = Agent::new(info, total, conn, now);
            agent.version = version;
            if reregistering {
                agent.reregistered_time = Some(now);
            }
            self.agents.insert(id.value.clone(), agent);
            self.agent_connections.insert(conn, id.value.clone());
            self.adopt_report(now, &id.value, report, was_unreachable);
            self.add_agent_to_allocator(&id.value);
            self.schedule_ping(now, &id.value);
        }
        self.allocation_wanted = true;
        Ok(id)
    }

    /// A non-SUBSCRIBE agent-link call (STATUS_UPDATE, EXECUTOR_EXITED, PONG,
    /// FRAMEWORK_MESSAGE). `conn` is the agent stream the request's `Mesos-Stream-Id`
    /// names; `call.agent_id` must be the agent subscribed on it.
    ///
    /// `Ok(Reply::Accepted)` → 202. `Err` → the rejection's status: 400 for a malformed
    /// call or an agent id that does not match the stream, 403 when `conn` is no
    /// (longer a) subscribed agent stream — the agent should then re-subscribe.
    pub fn handle_agent_call(
        &mut self,
        now: Time,
        conn: ConnectionId,
        call: agentlink::Call,
    ) -> Result<Reply, Rejection> {
        let Some(agent_id) = self.agent_connections.get(&conn).cloned() else {
            return Err(Rejection::forbidden(AGENT_NOT_SUBSCRIBED));
        };
        let Some(call_agent) = call.agent_id.as_ref() else {
            return Err(Rejection::bad_request("Expecting 'agent_id' to be present"));
        };
        if call_agent.value != agent_id {
            return Err(Rejection::bad_request(format!(
                "Agent ID '{}' does not match the agent '{agent_id}' subscribed on this stream",
                call_agent.value
            )));
        }
        use agent_call::Type;
        let call_type = call.r#type.and_then(|t| Type::try_from(t).ok());
        match call_type {
            Some(Type::StatusUpdate) => {
                let update = call.status_update.ok_or_else(|| {
                    Rejection::bad_request("Expecting 'status_update' to be present")
                })?;
                self.agent_status_update(now, &agent_id, update)
            }
            Some(Type::ExecutorExited) => {
                let exited = call.executor_exited.ok_or_else(|| {
                    Rejection::bad_request("Expecting 'executor_exited' to be present")
                })?;
                self.executor_exited(now, &agent_id, exited);
                Ok(Reply::Accepted)
            }
            Some(Type::Pong) => {
                if let Some(agent) = self.agents.get_mut(&agent_id) {
                    agent.pong_pending = false;
                    agent.pings_missed = 0;
                }
                Ok(Reply::Accepted)
            }
            Some(Type::FrameworkMessage) => {
                let message = call.framework_message.ok_or_else(|| {
                    Rejection::bad_request("Expecting 'framework_message' to be present")
                })?;
                self.executor_message(&agent_id, message);
                Ok(Reply::Accepted)
            }
            Some(Type::Subscribe) => Err(Rejection::bad_request(
                "SUBSCRIBE opens the agent stream; it cannot be sent on one",
            )),
            Some(Type::Unknown) | None => {
                Err(Rejection::bad_request("Expecting 'type' to be present"))
            }
        }
    }

    /// The agent-link stream `conn` ended. The agent is disconnected: its offers are
    /// rescinded and nothing is offered from it, its tasks are kept; it becomes
    /// unreachable if it does not come back within the ping timeouts.
    pub fn handle_agent_stream_closed(&mut self, now: Time, conn: ConnectionId) {
        let Some(agent_id) = self.agent_connections.remove(&conn) else {
            return;
        };
        let Some(agent) = self.agents.get_mut(&agent_id) else {
            return;
        };
        if agent.conn != Some(conn) {
            return;
        }
        agent.conn = None;
        info!(agent_id = %agent_id, %conn, "agent disconnected");
        self.allocator.deactivate_agent(&AgentId {
            value: agent_id.clone(),
        });
        self.rescind_agent_offers(now, &agent_id);
    }

    /// A registered agent, connected or not.
    pub fn agent(&self, id: &str) -> Option<&Agent> {
        self.agents.get(id)
    }

    /// Registered agents, by id.
    pub fn agents(&self) -> impl Iterator<Item = &Agent> {
        self.agents.values()
    }

    /// Agents marked unreachable, with when.
    pub fn unreachable_agents(&self) -> &BTreeMap<String, Time> {
        &self.unreachable_agents
    }

    pub(super) fn send_command(&mut self, agent_id: &str, command: Command) -> bool {
        match self.agents.get(agent_id).and_then(|a| a.conn) {
            Some(conn) => {
                self.outputs
                    .push_back(Output::AgentCommand { conn, command });
                true
            }
            None => false,
        }
    }

    fn send_agent_error(&mut self, conn: ConnectionId, message: &str) {
        self.outputs.push_back(Output::AgentCommand {
            conn,
            command: Command {
                r#type: Some(command::Type::Error as i32),
                error: Some(command::Error {
                    message: message.to_string(),
                }),
                ..Command::default()
            },
        });
        self.outputs.push_back(Output::Close { conn });
    }

    /// The role resources of `framework_id` are allocated to when the agent did not
    /// say: the framework's only role.
    fn default_role(
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
    fn check_agent(
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
    fn adopt_report(&mut self, now: Time, agent_id: &str, report: Report, was_unreachable: bool) {
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
                .and_then(|t| t.active.get(&task_id))
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
                books.completed.retain(|t| t.task_id.value != task_id);
            }
            let state = task_state(task.state);
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
                self.send_update(&framework_id, status.into_status());
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
    fn recover_framework(&mut self, now: Time, info: &FrameworkInfo) {
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
        self.frameworks.insert(id, framework);
    }

    /// A known agent subscribing again (its stream broke, or it restarted with its
    /// checkpoint): its new stream replaces the old, and the master's books are made
    /// to agree with what it reports.
    fn reregister_known_agent(
        &mut self,
        now: Time,
        conn: ConnectionId,
        info: ratufa_proto::v1::AgentInfo,
        total: Resources,
        version: Option<String>,
        report: Report,
    ) {
        let Some(agent_id) = info.id.as_ref().map(|id| id.value.clone()) else {
            return;
        };
        self.counters.slave_reregistrations += 1;
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
            .map(|a| a.tasks.iter().cloned().collect())
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
                let partition_aware = self
                    .frameworks
                    .get(&framework_id)
                    .is_some_and(|f| roles::is_partition_aware(&f.info));
                let state = if partition_aware {
                    TaskState::TaskDropped
                } else {
                    TaskState::TaskLost
                };
                let mut status = MasterStatus::new(
                    entry.task.task_id.clone(),
                    Some(entry.task.agent_id.clone()),
                    state,
                    Reason::Reconciliation,
                    "Task is unknown to the agent",
                );
                status.executor_id = entry.task.executor_id.clone();
                let status = status.into_status();
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
                .is_some_and(|a| a.tasks.contains(&key));
            if booked {
                let killed = self
                    .agents
                    .get(&agent_id)
                    .is_some_and(|a| a.killed_tasks.contains(&key));
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
            agent.info = info;
            agent.total = total;
            agent.conn = Some(conn);
            agent.reregistered_time = Some(now);
            agent.version = version;
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

    fn add_agent_to_allocator(&mut self, agent_id: &str) {
        let Some(agent) = self.agents.get(agent_id) else {
            return;
        };
        let used: Vec<(FrameworkId, Resources)> = agent
            .used
            .iter()
            .map(|(f, r)| (FrameworkId { value: f.clone() }, r.clone()))
            .collect();
        let id = agent.agent_id();
        let info = agent.info.clone();
        let total = agent.total.clone();
        self.allocator.add_agent(&id, &info, total, &used);
    }

    fn agent_status_update(
        &mut self,
        now: Time,
        agent_id: &str,
        update: agent_call::StatusUpdate,
    ) -> Result<Reply, Rejection> {
        self.counters.messages_status_update += 1;
        let agent_call::StatusUpdate {
            framework_id,
            mut status,
            latest_state,
        } = update;
        let uuid_ok = status.uuid.as_ref().is_some_and(|u| u.len() == 16);
        if !uuid_ok {
            self.counters.invalid_status_updates += 1;
            return Err(Rejection::bad_request(
                "Expecting 'status_update.status.uuid' to be 16 bytes: agents' updates are \
                 acknowledged by uuid",
            ));
        }
        // The agent is the authority on where its tasks run.
        status.agent_id = Some(AgentId {
            value: agent_id.to_string(),
        });
        let framework_id = framework_id.value;
        let task_id = status.task_id.value.clone();
        let latest = latest_state.and_then(|s| TaskState::try_from(s).ok());

        let booked = self
            .task(&framework_id, &task_id)
            .is_some_and(|e| e.agent_id() == agent_id);
        // Updates nobody will ever acknowledge: the framework was removed, or the
        // master already told it this task ended (its agent was unreachable). The
        // master acknowledges them itself so that the agent stops resending.
        let settled = self.completed.contains(&framework_id)
            || (!booked
                && self
                    .tasks
                    .get(&framework_id)
                    .is_some_and(|t| t.completed_contains(&task_id)));
        if settled {
            info!(framework_id = %framework_id, task_id = %task_id, agent_id = %agent_id, "acknowledging update of a task the framework already saw end");
            self.counters.invalid_status_updates += 1;
            let uuid = status.uuid.unwrap_or_default();
            self.send_command(
                agent_id,
                Command {
                    r#type: Some(command::Type::Acknowledge as i32),
                    acknowledge: Some(command::Acknowledge {
                        framework_id: FrameworkId {
                            value: framework_id,
                        },
                        task_id: status.task_id,
                        uuid,
                    }),
                    ..Command::default()
                },
            );
            return Ok(Reply::Accepted);
        }
        if self.forward_agent_update(now, agent_id, &framework_id, status, latest) {
            self.counters.valid_status_updates += 1;
        } else {
            self.counters.invalid_status_updates += 1;
        }
        Ok(Reply::Accepted)
    }

    fn executor_exited(&mut self, now: Time, agent_id: &str, exited: agent_call::ExecutorExited) {
        self.counters.messages_exited_executor += 1;
        let framework_id = exited.framework_id.value.clone();
        info!(framework_id = %framework_id, agent_id = %agent_id, executor_id = %exited.executor_id.value, status = ?exited.status, "executor exited");
        self.remove_executor(
            now,
            &framework_id,
            agent_id,
            &exited.executor_id.value,
            true,
        );
        self.send_event(
            &framework_id,
            Event {
                r#type: Some(event::Type::Failure as i32),
                failure: Some(event::Failure {
                    agent_id: Some(AgentId {
                        value: agent_id.to_string(),
                    }),
                    executor_id: Some(exited.executor_id),
                    status: exited.status,
                }),
                ..Event::default()
            },
        );
    }

    fn executor_message(&mut self, agent_id: &str, message: agent_call::FrameworkMessage) {
        self.counters.messages_executor_to_framework += 1;
        let framework_id = message.framework_id.value.clone();
        let sent = self.send_event(
            &framework_id,
            Event {
                r#type: Some(event::Type::Message as i32),
                message: Some(event::Message {
                    agent_id: AgentId {
                        value: agent_id.to_string(),
                    },
                    executor_id: message.executor_id,
                    data: message.data,
                }),
                ..Event::default()
            },
        );
        if sent {
            self.counters.valid_executor_to_framework_messages += 1;
        } else {
            warn!(framework_id = %framework_id, agent_id = %agent_id, "dropping executor message: framework not connected");
            self.counters.invalid_executor_to_framework_messages += 1;
        }
    }

    fn schedule_ping(&mut self, now: Time, agent_id: &str) {
        let due = now + self.config.agent_ping_timeout;
        if let Some(agent) = self.agents.get_mut(agent_id) {
            agent.next_ping = due;
            self.ping_deadlines.insert((due, agent_id.to_string()));
        }
    }

    fn reschedule_ping(&mut self, now: Time, agent_id: &str) {
        if let Some(agent) = self.agents.get(agent_id) {
            self.ping_deadlines
                .remove(&(agent.next_ping, agent_id.to_string()));
        }
        self.schedule_ping(now, agent_id);
    }

    /// Pings due agents; one that missed `max_agent_ping_timeouts` pings in a row
    /// (connected or not) is marked unreachable.
    pub(super) fn ping_agents(&mut self, now: Time) {
        while let Some((due, agent_id)) = self.ping_deadlines.first().cloned() {
            if due > now {
                break;
            }
            self.ping_deadlines.remove(&(due, agent_id.clone()));
            let Some(agent) = self.agents.get_mut(&agent_id) else {
                continue;
            };
            if agent.pong_pending {
                agent.pings_missed += 1;
            }
            if agent.pings_missed >= self.config.max_agent_ping_timeouts {
                self.mark_unreachable(now, &agent_id);
                continue;
            }
            agent.pong_pending = true;
            self.send_command(
                &agent_id,
                Command {
                    r#type: Some(command::Type::Ping as i32),
                    ..Command::default()
                },
            );
            self.schedule_ping(now, &agent_id);
        }
    }

    /// The agent stopped answering pings (`Master::markUnreachable`): its offers are
    /// rescinded, its tasks become TASK_UNREACHABLE (partition-aware frameworks) or
    /// TASK_LOST, every framework gets a FAILURE naming it, and it is forgotten but for
    /// its id, which may come back.
    pub(super) fn mark_unreachable(&mut self, now: Time, agent_id: &str) {
        warn!(agent_id = %agent_id, "agent missed too many pings, marking it unreachable");
        self.counters.slave_removals += 1;
        self.counters.slave_removals_reason_unhealthy += 1;
        self.counters.slave_unreachable_completed += 1;
        self.rescind_agent_offers(now, agent_id);
        let id = AgentId {
            value: agent_id.to_string(),
        };
        let tasks: Vec<(String, String)> = self
            .agents
            .get(agent_id)
            .map(|a| a.tasks.iter().cloned().collect())
            .unwrap_or_default();
        for (framework_id, task_id) in tasks {
            let partition_aware = self
                .frameworks
                .get(&framework_id)
                .is_some_and(|f| roles::is_partition_aware(&f.info));
            let Some(entry) = self.task(&framework_id, &task_id) else {
                continue;
            };
            let state = if partition_aware {
                TaskState::TaskUnreachable
            } else {
                TaskState::TaskLost
            };
            let mut status = MasterStatus::new(
                entry.task.task_id.clone(),
                Some(id.clone()),
                state,
                Reason::AgentRemoved,
                "health check timed out",
            );
            status.executor_id = entry.task.executor_id.clone();
            status.unreachable_time = Some(time_info(now));
            let status = status.into_status();
            let was_terminal = entry.is_terminal();
            self.update_task(now, &framework_id, &task_id, &status, None, false);
            self.remove_task(
                now,
                &framework_id,
                &task_id,
                partition_aware && !was_terminal,
            );
            if !was_terminal {
                self.send_update(&framework_id, status);
            }
        }
        self.allocator.remove_agent(&id);
        let Some(agent) = self.agents.remove(agent_id) else {
            return;
        };
        self.ping_deadlines
            .remove(&(agent.next_ping, agent_id.to_string()));
        if let Some(conn) = agent.conn {
            self.agent_connections.remove(&conn);
            self.outputs.push_back(Output::Close { conn });
        }
        self.unreachable_agents.insert(agent_id.to_string(), now);
        let connected: Vec<String> = self
            .frameworks
            .values()
            .filter(|f| f.is_connected())
            .map(|f| f.id().to_string())
            .collect();
        for framework_id in connected {
            self.send_event(
                &framework_id,
                Event {
                    r#type: Some(event::Type::Failure as i32),
                    failure: Some(event::Failure {
                        agent_id: Some(id.clone()),
                        executor_id: None,
                        status: None,
                    }),
                    ..Event::default()
                },
            );
        }
    }
}
