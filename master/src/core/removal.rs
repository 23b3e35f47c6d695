//! Marking agents unreachable at the pace `--agent_removal_rate_limit` allows. Agents
//! that qualify (missed pings; recovered and not back by `--agent_reregister_timeout`)
//! wait their turn here; one whose reason passed meanwhile (it answered a ping, it
//! re-registered) is let go, as Mesos cancels a removal whose agent came back.

use std::collections::VecDeque;

use tracing::info;

use super::{MasterCore, Time};

/// Agents waiting for a permit, and when the next one is due.
#[derive(Debug, Default)]
pub(super) struct RemovalQueue {
    waiting: VecDeque<String>,
    /// The first permit is at once, like Mesos's rate limiter's.
    next_permit: Time,
}

impl MasterCore {
    /// `agent_id` qualifies for being marked unreachable: at once, or in its turn.
    pub(super) fn schedule_unreachable(&mut self, now: Time, agent_id: &str) {
        if self.config.agent_removal_interval.is_none() {
            self.request_unreachable(now, agent_id);
            return;
        }
        if !self.removals.waiting.iter().any(|id| id == agent_id) {
            self.removals.waiting.push_back(agent_id.to_string());
        }
        self.release_removals(now);
    }

    /// Marks as many waiting agents unreachable as the rate allows by `now`.
    pub(super) fn release_removals(&mut self, now: Time) {
        let Some(interval) = self.config.agent_removal_interval else {
            return;
        };
        while self.removals.next_permit <= now {
            let Some(agent_id) = self.removals.waiting.pop_front() else {
                break;
            };
            if !self.still_unreachable(now, &agent_id) {
                info!(agent_id = %agent_id, "agent came back while waiting to be marked unreachable");
                continue;
            }
            info!(agent_id = %agent_id, waiting = self.removals.waiting.len(), "marking agent unreachable (--agent_removal_rate_limit)");
            self.request_unreachable(now, &agent_id);
            self.removals.next_permit = now + interval;
        }
    }

    /// When the next waiting agent may be marked unreachable, if any waits.
    pub(super) fn next_removal(&self) -> Option<Time> {
        (!self.removals.waiting.is_empty()).then_some(self.removals.next_permit)
    }

    /// Whether an agent that qualified still does. A registered agent that answered
    /// a ping since is pinged again as usual.
    fn still_unreachable(&mut self, now: Time, agent_id: &str) -> bool {
        match self.agents.get(agent_id) {
            Some(agent) if agent.pings_missed >= self.config.max_agent_ping_timeouts => true,
            Some(agent) => {
                if !self
                    .ping_deadlines
                    .contains(&(agent.next_ping, agent_id.to_string()))
                {
                    self.schedule_ping(now, agent_id);
                }
                false
            }
            None => self.is_recovered_agent(agent_id),
        }
    }
}
