//! Agents as the master sees them: registration, re-registration, the agent link's
//! calls, disconnection, pings and the unreachable transition.

use std::collections::BTreeMap;

use ratufa_proto::ratufa::agentlink::{self, Command, call as agent_call, command};
use ratufa_proto::resources::Resources;
use ratufa_proto::v1::scheduler::{Event, event};
use ratufa_proto::v1::{AgentId, FrameworkId, TaskState, TimeInfo};
use tracing::{info, warn};

use super::agent::Agent;
use super::agent_addresses::{AtAddress, address_of};
use super::registry::{Admission, Reported};
use super::{ConnectionId, MasterCore, Output, Rejection, Reply, Time};

/// Sent (as ERROR) when an agent names an id this master refuses.
pub const AGENT_NOT_SUBSCRIBED: &str = "Agent is not subscribed: re-subscribe on a new stream";

/// Sent (as ERROR) to an agent re-registering under an id removed when a new agent
/// registered at its address: its tasks were reported lost.
pub const AGENT_REMOVED: &str =
    "Agent was removed (a new agent registered at its address); register as a new agent";

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
            ip,
        } = subscribe;
        let reregistering = info.id.as_ref().is_some_and(|id| !id.value.is_empty());
        if reregistering {
            self.counters.messages_reregister_slave += 1;
        } else {
            self.counters.messages_register_slave += 1;
        }

        if let Some((id, why)) = info
            .id
            .as_ref()
            .and_then(|id| Some((id, self.refused_agent_id(&id.value)?)))
        {
            // Mesos tells such an agent to shut down; ours starts over as a new agent.
            warn!(agent_id = %id.value, %conn, why, "refusing an agent id that may not come back");
            self.send_agent_error(conn, why);
            return Err(Rejection::forbidden(why));
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

        let at_address = if reregistering {
            AtAddress::Nobody
        } else {
            self.agent_at_address(&info)
        };
        let id = if reregistering {
            info.id.clone().unwrap_or_default()
        } else if let AtAddress::Registering(first) = at_address {
            // Mesos ignores such an attempt; here its stream ends, and the agent tries
            // again once the first registration is written.
            let (hostname, port) = address_of(&info);
            info!(hostname = %hostname, port, %conn, first = %first, "an agent at this address is already registering: try again");
            self.outputs.push_back(Output::Close { conn });
            return Err(Rejection::forbidden(format!(
                "An agent at {hostname}:{port} is already registering; register again later"
            )));
        } else if let AtAddress::Connected(known) = at_address {
            // The same agent again: its SUBSCRIBED was lost. It gets its id, on its
            // new stream.
            info!(agent_id = %known, hostname = %info.hostname, %conn, "agent registered again from the same address: answering with its id");
            let id = AgentId { value: known };
            info.id = Some(id.clone());
            id
        } else {
            if let AtAddress::Disconnected(old) = &at_address {
                self.request_replaced_removal(now, old);
            }
            let id = AgentId {
                value: format!("{}-S{}", self.config.master_info.id, self.next_agent_id),
            };
            self.next_agent_id += 1;
            info.id = Some(id.clone());
            id
        };
        self.register_agent(
            now,
            Admission {
                conn,
                info,
                total,
                reported: Reported { version, ip },
                report,
                reregistering,
            },
        )?;
        Ok(id)
    }

    /// Takes in an agent whose registration may go ahead (admitted, or known):
    /// SUBSCRIBED first on its stream, then whatever re-registration needs.
    pub(super) fn admit_agent(&mut self, now: Time, admission: Admission) {
        let Admission {
            conn,
            info,
            total,
            reported,
            report,
            reregistering,
        } = admission;
        let id = info.id.clone().unwrap_or_default();
        self.outputs.push_back(Output::AgentCommand {
            conn,
            command: Command {
                r#type: Some(command::Type::Subscribed as i32),
                subscribed: Some(command::Subscribed {
                    agent_id: id.clone(),
                    master_info: Some(self.config.master_info.clone()),
                    ping_interval_seconds: Some(self.config.agent_ping_timeout.as_secs_f64()),
                    total_ping_timeout_seconds: Some(
                        self.config
                            .agent_ping_timeout
                            .saturating_mul(self.config.max_agent_ping_timeouts)
                            .as_secs_f64(),
                    ),
                }),
                ..Command::default()
            },
        });

        if self.agents.contains_key(&id.value) {
            if reregistering {
                self.counters.slave_reregistrations += 1;
            }
            self.reregister_known_agent(now, conn, info, total, reported, report);
        } else {
            let was_unreachable = self.unreachable_agents.remove(&id.value).is_some();
            if reregistering {
                self.counters.slave_reregistrations += 1;
            } else {
                self.counters.slave_registrations += 1;
            }
            info!(agent_id = %id.value, hostname = %info.hostname, %conn, reregistering, was_unreachable, "agent registered");
            self.addresses.registered(&info, &id.value);
            let mut agent = Agent::new(info, total, conn, now);
            agent.version = reported.version;
            agent.ip = reported.ip;
            if reregistering {
                agent.reregistered_time = Some(now);
            }
            self.agents.insert(id.value.clone(), agent);
            self.agent_connections.insert(conn, id.value.clone());
            self.adopt_report(now, &id.value, report, was_unreachable);
            self.add_agent_to_allocator(&id.value);
            self.schedule_ping(now, &id.value);
            self.notify_agent_added(&id.value);
        }
        self.allocation_wanted = true;
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
                self.check_update_uuid(&update, "status_update")?;
                self.agent_status_update(now, &agent_id, update);
                Ok(Reply::Accepted)
            }
            Some(Type::StatusUpdates) => {
                if call.status_updates.is_empty() {
                    return Err(Rejection::bad_request(
                        "Expecting 'status_updates' to hold at least one update",
                    ));
                }
                // All or nothing: the agent resends the whole call, so a rejected
                // call must not have forwarded any of its updates.
                for (i, update) in call.status_updates.iter().enumerate() {
                    self.check_update_uuid(update, &format!("status_updates[{i}]"))?;
                }
                for update in call.status_updates {
                    self.agent_status_update(now, &agent_id, update);
                }
                Ok(Reply::Accepted)
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
        if self.admission_stream_closed(conn) {
            return;
        }
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

    /// Agents marked unreachable, with when (wall clock).
    pub fn unreachable_agents(&self) -> &BTreeMap<String, TimeInfo> {
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

    /// Why an agent may not re-register under `agent_id`, if it may not: an operator
    /// marked it gone, or it was removed (its tasks reported lost) when a new agent
    /// registered at its address.
    fn refused_agent_id(&self, agent_id: &str) -> Option<&'static str> {
        if self.gone_agents.contains_key(agent_id) {
            Some(super::agent_health::AGENT_GONE)
        } else if self.removed_agents.contains(agent_id) {
            Some(AGENT_REMOVED)
        } else {
            None
        }
    }

    pub(super) fn send_agent_error(&mut self, conn: ConnectionId, message: &str) {
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

    pub(super) fn add_agent_to_allocator(&mut self, agent_id: &str) {
        let Some(agent) = self.agents.get(agent_id) else {
            return;
        };
        let used: Vec<(FrameworkId, Resources)> = agent
            .used
            .iter()
            .map(|(f, r)| {
                (
                    FrameworkId {
                        value: f.to_string(),
                    },
                    Resources::clone(r),
                )
            })
            .collect();
        let id = agent.agent_id();
        let info = agent.info.clone();
        let total = Resources::clone(&agent.total);
        self.allocator.add_agent(&id, &info, total, &used);
    }

    fn agent_status_update(&mut self, now: Time, agent_id: &str, update: agent_call::StatusUpdate) {
        self.counters.messages_status_update += 1;
        let agent_call::StatusUpdate {
            framework_id,
            mut status,
            latest_state,
        } = update;
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
            return;
        }
        if self.forward_agent_update(now, agent_id, &framework_id, status, latest) {
            self.counters.valid_status_updates += 1;
        } else {
            self.counters.invalid_status_updates += 1;
        }
    }

    /// Agents' updates are acknowledged by uuid: one without a 16-byte uuid is
    /// refused (and counted as received and invalid). `field` names it in the
    /// message.
    fn check_update_uuid(
        &mut self,
        update: &agent_call::StatusUpdate,
        field: &str,
    ) -> Result<(), Rejection> {
        if update.status.uuid.as_ref().is_some_and(|u| u.len() == 16) {
            return Ok(());
        }
        self.counters.messages_status_update += 1;
        self.counters.invalid_status_updates += 1;
        Err(Rejection::bad_request(format!(
            "Expecting '{field}.status.uuid' to be 16 bytes: agents' updates are \
             acknowledged by uuid"
        )))
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
}
