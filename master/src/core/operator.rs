//! What operators change through `/api/v1`: MARK_AGENT_GONE, UPDATE_WEIGHTS and
//! TEARDOWN. Reads (GET_*) are served from [`StateSnapshot`](super::StateSnapshot)s.
//!
//! `mark_agent_gone` and `update_weights` check the call, then ask the registry
//! (super::registry) to persist the change; it takes effect in `apply_agent_gone` and
//! `apply_weights` once written (at once for a core without a registry).

use std::collections::BTreeSet;
use std::sync::Arc;

use ratufa_proto::v1::{TimeInfo, WeightInfo};
use tracing::{info, warn};

use super::agent_health::Removal;
use super::status::MasterStatus;
use super::tasks::MAX_STATUSES_PER_TASK;
use super::{MasterCore, Rejection, Reply, Time, roles};

/// An operator's call that changes the master.
#[derive(Debug, Clone, PartialEq)]
pub enum OperatorChange {
    /// MARK_AGENT_GONE, by agent id.
    MarkAgentGone(String),
    UpdateWeights(Vec<WeightInfo>),
    /// TEARDOWN, by framework id.
    Teardown(String),
}

impl MasterCore {
    /// One of the operator's changes, as the driver hands it over.
    pub fn handle_operator(
        &mut self,
        now: Time,
        change: OperatorChange,
    ) -> Result<Reply, Rejection> {
        match change {
            OperatorChange::MarkAgentGone(agent_id) => self.mark_agent_gone(now, &agent_id),
            OperatorChange::UpdateWeights(weights) => self.update_weights(now, weights),
            OperatorChange::Teardown(framework_id) => self.teardown_framework(now, &framework_id),
        }
    }

    /// MARK_AGENT_GONE (`Master::markGone`): a registered agent is removed (its tasks
    /// TASK_GONE_BY_OPERATOR for partition-aware frameworks, TASK_LOST for the others;
    /// it is told to stop), an unreachable agent's tasks held as unreachable end the
    /// same way. Either way its id is refused from now on. An agent already gone is
    /// `Ok` (Mesos answers 200); one the master never knew is 404.
    ///
    /// With a registry, none of this happens until the registry holds the agent as
    /// gone (the driver answers the call then); an agent recovered from the registry
    /// that has not re-registered can be marked gone too.
    pub fn mark_agent_gone(&mut self, now: Time, agent_id: &str) -> Result<Reply, Rejection> {
        if self.gone_agents.contains_key(agent_id) {
            info!(agent_id = %agent_id, "agent is already marked gone");
            return Ok(Reply::Ok);
        }
        let known = self.agents.contains_key(agent_id)
            || self.unreachable_agents.contains_key(agent_id)
            || self.knows_recovered(agent_id);
        if !known {
            return Err(Rejection::not_found(format!(
                "Agent '{agent_id}' not found"
            )));
        }
        self.request_gone(now, agent_id);
        Ok(Reply::Ok)
    }

    /// What marking `agent_id` gone does, once the registry holds it.
    pub(super) fn apply_agent_gone(&mut self, now: Time, agent_id: &str) {
        if self.gone_agents.contains_key(agent_id) {
            return;
        }
        if self.agents.contains_key(agent_id) {
            warn!(agent_id = %agent_id, "operator marked a registered agent gone");
            self.counters.slave_removals += 1;
            self.remove_agent(now, agent_id, Removal::Gone);
        } else if self.unreachable_agents.remove(agent_id).is_some() {
            warn!(agent_id = %agent_id, "operator marked an unreachable agent gone");
            self.end_unreachable_tasks(now, agent_id);
        } else {
            warn!(agent_id = %agent_id, "operator marked an agent gone that has not re-registered");
        }
        let at = self.wall_time(now);
        self.gone_agents.insert(agent_id.to_string(), at);
    }

    /// Agents marked gone, with when (wall clock).
    pub fn gone_agents(&self) -> &std::collections::BTreeMap<String, TimeInfo> {
        &self.gone_agents
    }

    /// The tasks of partition-aware frameworks held as unreachable on a gone agent:
    /// TASK_GONE_BY_OPERATOR, moved to the completed tasks.
    fn end_unreachable_tasks(&mut self, now: Time, agent_id: &str) {
        let capacity = self.config.max_completed_tasks_per_framework;
        let held: Vec<(String, String)> = self
            .tasks
            .iter()
            .flat_map(|(framework_id, books)| {
                books
                    .unreachable()
                    .filter(|t| t.agent_id() == agent_id)
                    .map(|t| (framework_id.clone(), t.task_id().to_string()))
                    .collect::<Vec<_>>()
            })
            .collect();
        for (framework_id, task_id) in held {
            let partition_aware = self.is_partition_aware(&framework_id);
            let Some(mut entry) = self
                .tasks
                .get_mut(&framework_id)
                .and_then(|books| books.take_unreachable(&task_id))
            else {
                continue;
            };
            let (state, reason) = Removal::Gone.task_state(partition_aware);
            let mut status = MasterStatus::new(
                entry.task_id_proto(),
                Some(entry.agent_id_proto()),
                state,
                reason,
                Removal::Gone.message(),
            );
            status.executor_id = entry.executor_id();
            let status = status.into_status(self.status_timestamp(now));
            let task = Arc::make_mut(&mut entry);
            task.set_state(state);
            task.push_status(status.clone(), MAX_STATUSES_PER_TASK);
            self.count_terminal(state);
            if let Some(books) = self.tasks.get_mut(&framework_id) {
                books.push_completed(entry, capacity);
            }
            self.send_update(&framework_id, status);
        }
    }

    /// UPDATE_WEIGHTS: every entry is checked before any is applied (a bad one
    /// changes nothing); roles not named keep their weight. Outstanding offers to the
    /// roles whose weight changed are rescinded, so that the next allocation uses
    /// the new weights, as Mesos does. With a registry, once it holds them.
    pub fn update_weights(
        &mut self,
        now: Time,
        weights: Vec<WeightInfo>,
    ) -> Result<Reply, Rejection> {
        let mut checked: Vec<(String, f64)> = Vec::with_capacity(weights.len());
        for weight_info in weights {
            let role = weight_info.role.as_deref().unwrap_or("").trim().to_string();
            let invalid = |why: String| {
                Rejection::bad_request(format!("Failed to validate update weights request: {why}"))
            };
            roles::validate_role(&role)
                .map_err(|e| invalid(format!("Invalid role '{role}': {e}")))?;
            if let Some(whitelist) = &self.config.role_whitelist
                && !whitelist.contains(&role)
            {
                return Err(invalid(format!("Unknown role '{role}'")));
            }
            let weight = weight_info.weight;
            if !weight.is_finite() || weight <= 0.0 {
                return Err(invalid(format!(
                    "Invalid weight '{weight}' for role '{role}': Weights must be positive"
                )));
            }
            checked.push((role, weight));
        }
        self.request_weights(now, checked);
        Ok(Reply::Ok)
    }

    /// What UPDATE_WEIGHTS does, once the registry holds the weights.
    pub(super) fn apply_weights(&mut self, now: Time, checked: &[(String, f64)]) {
        info!(weights = ?checked, "updating role weights");
        for (role, weight) in checked {
            self.weights.insert(role.clone(), *weight);
        }
        self.allocator.update_weights(checked);
        let roles: BTreeSet<&str> = checked.iter().map(|(role, _)| role.as_str()).collect();
        let offers: Vec<String> = self
            .offers
            .iter()
            .filter(|(_, offer)| roles.contains(offer.role()))
            .map(|(id, _)| id.clone())
            .collect();
        for offer_id in offers {
            self.rescind_offer(now, &offer_id);
        }
        self.allocation_wanted = true;
    }

    /// Role weights set by `--weights` or UPDATE_WEIGHTS (roles not listed weigh 1).
    pub fn weights(&self) -> &std::collections::BTreeMap<String, f64> {
        &self.weights
    }

    /// The operator's TEARDOWN: the framework is removed as by its own TEARDOWN.
    pub fn teardown_framework(
        &mut self,
        now: Time,
        framework_id: &str,
    ) -> Result<Reply, Rejection> {
        if !self.frameworks.contains_key(framework_id) {
            return Err(Rejection::bad_request(format!(
                "No framework found with specified ID '{framework_id}'"
            )));
        }
        info!(framework_id = %framework_id, "operator tore the framework down");
        self.remove_framework(now, framework_id);
        Ok(Reply::Ok)
    }
}
