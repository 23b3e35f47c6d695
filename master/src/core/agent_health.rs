//! Agent health: PINGs every `--agent_ping_timeout`, and the unreachable transition
//! after `--max_agent_ping_timeouts` of them go unanswered.

use ratufa_proto::ratufa::agentlink::{Command, command};
use ratufa_proto::v1::scheduler::{Event, event};
use ratufa_proto::v1::task_status::Reason;
use ratufa_proto::v1::{AgentId, TaskState};
use tracing::warn;

use super::agent_addresses::address_of;
use super::status::MasterStatus;
use super::{MasterCore, Output, Time};

impl MasterCore {
    pub(super) fn schedule_ping(&mut self, now: Time, agent_id: &str) {
        let due = now + self.config.agent_ping_timeout;
        if let Some(agent) = self.agents.get_mut(agent_id) {
            agent.next_ping = due;
            self.ping_deadlines.insert((due, agent_id.to_string()));
        }
    }

    pub(super) fn reschedule_ping(&mut self, now: Time, agent_id: &str) {
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
                warn!(agent_id = %agent_id, "agent missed too many pings");
                self.schedule_unreachable(now, &agent_id);
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
        warn!(agent_id = %agent_id, "marking agent unreachable");
        self.counters.slave_removals += 1;
        self.counters.slave_removals_reason_unhealthy += 1;
        self.counters.slave_unreachable_completed += 1;
        self.remove_agent(now, agent_id, Removal::Unreachable);
        let at = self.wall_time(now);
        self.unreachable_agents.insert(agent_id.to_string(), at);
    }

    /// Takes a registered agent out of the cluster (`Master::__removeSlave`): offers
    /// rescinded, tasks ended as `how` says (partition-aware frameworks hear its own
    /// state, the others TASK_LOST), the allocator told, its stream closed (after an
    /// ERROR when it must not come back), and a FAILURE naming it to every connected
    /// framework. Where its id goes next is the caller's business.
    pub(super) fn remove_agent(&mut self, now: Time, agent_id: &str, how: Removal) {
        self.rescind_agent_offers(now, agent_id);
        let id = AgentId {
            value: agent_id.to_string(),
        };
        let tasks: Vec<(String, String)> = self
            .agents
            .get(agent_id)
            .map(|a| {
                a.tasks
                    .iter()
                    .map(|(f, t)| (f.to_string(), t.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        for (framework_id, task_id) in tasks {
            let partition_aware = self.is_partition_aware(&framework_id);
            let Some(entry) = self.task(&framework_id, &task_id) else {
                continue;
            };
            let (state, reason) = how.task_state(partition_aware);
            let mut status = MasterStatus::new(
                entry.task_id_proto(),
                Some(id.clone()),
                state,
                reason,
                how.message(),
            );
            status.executor_id = entry.executor_id();
            if how == Removal::Unreachable {
                status.unreachable_time = Some(self.wall_time(now));
            }
            let status = status.into_status(self.status_timestamp(now));
            let was_terminal = entry.is_terminal();
            self.update_task(now, &framework_id, &task_id, &status, None, false);
            self.remove_task(
                now,
                &framework_id,
                &task_id,
                state == TaskState::TaskUnreachable && !was_terminal,
            );
            if !was_terminal {
                self.send_update(&framework_id, status);
            }
        }
        self.allocator.remove_agent(&id);
        let Some(agent) = self.agents.remove(agent_id) else {
            return;
        };
        self.addresses.left(&address_of(&agent.info), agent_id);
        self.ping_deadlines
            .remove(&(agent.next_ping, agent_id.to_string()));
        self.notify_agent_removed(agent_id);
        if let Some(conn) = agent.conn {
            self.agent_connections.remove(&conn);
            match how {
                // Told why, so that it stops using an id that will be refused.
                Removal::Gone => self.send_agent_error(conn, how.message()),
                Removal::Unreachable | Removal::Replaced => {
                    self.outputs.push_back(Output::Close { conn });
                }
            }
        }
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

/// Why an agent leaves the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Removal {
    /// It missed too many pings; it may come back.
    Unreachable,
    /// An operator marked it gone (MARK_AGENT_GONE); it may never come back.
    Gone,
    /// It was disconnected and a new agent registered at its address: the same
    /// machine starting over, so what it ran is lost.
    Replaced,
}

/// What Mesos writes in the updates of a gone agent's tasks.
pub(super) const AGENT_GONE: &str = "Agent has been marked gone";

impl Removal {
    /// The state and reason its tasks get: frameworks that are not partition-aware
    /// hear TASK_LOST either way.
    pub(super) fn task_state(self, partition_aware: bool) -> (TaskState, Reason) {
        match (self, partition_aware) {
            (Removal::Unreachable, true) => (TaskState::TaskUnreachable, Reason::AgentRemoved),
            (Removal::Gone, true) => (
                TaskState::TaskGoneByOperator,
                Reason::AgentRemovedByOperator,
            ),
            (Removal::Replaced, _) | (_, false) => (TaskState::TaskLost, Reason::AgentRemoved),
        }
    }

    pub(super) fn message(self) -> &'static str {
        match self {
            Removal::Unreachable => "health check timed out",
            Removal::Gone => AGENT_GONE,
            Removal::Replaced => "a new agent registered at the same address",
        }
    }
}
