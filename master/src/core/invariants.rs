//! Consistency checks of the master's books, for tests and the simulation to run
//! after every step. Cost is linear in the state; never called on the serving path.

use std::collections::BTreeSet;

use ratufa_proto::resources::Resources;

use super::MasterCore;
use super::status::frees_resources;

impl MasterCore {
    /// Checks that:
    /// - every offer is indexed by its agent and framework, and nothing else is;
    /// - offers are only of connected agents, to connected, active frameworks;
    /// - per agent, what tasks and executors hold plus what is offered fits in its
    ///   total (so nothing is offered or allocated twice);
    /// - every task an agent lists is booked on that agent and vice versa, and no
    ///   task id is both active and unreachable;
    /// - what an agent counts as used is exactly its live tasks and executors;
    /// - the address book names only registered agents, at their addresses.
    ///
    /// Returns the first violation found.
    pub fn debug_check_invariants(&self) -> Result<(), String> {
        self.addresses.check(&self.agents)?;
        for (id, offer) in &self.offers {
            let agent = self
                .agents
                .get(&offer.agent_id)
                .ok_or_else(|| format!("offer {id} of unknown agent {}", offer.agent_id))?;
            if !agent.offers.contains(id) {
                return Err(format!(
                    "offer {id} not indexed by agent {}",
                    offer.agent_id
                ));
            }
            if !agent.is_connected() {
                return Err(format!(
                    "offer {id} of disconnected agent {}",
                    offer.agent_id
                ));
            }
            let framework = self
                .frameworks
                .get(&offer.framework_id)
                .ok_or_else(|| format!("offer {id} to unknown framework {}", offer.framework_id))?;
            if !framework.offers.contains(id) {
                return Err(format!(
                    "offer {id} not indexed by framework {}",
                    offer.framework_id
                ));
            }
            if !framework.is_connected() || !framework.is_active() {
                return Err(format!(
                    "offer {id} to inactive framework {}",
                    offer.framework_id
                ));
            }
        }
        for framework in self.frameworks.values() {
            for id in &framework.offers {
                if !self.offers.contains_key(id) {
                    return Err(format!(
                        "framework {} indexes missing offer {id}",
                        framework.id()
                    ));
                }
            }
        }

        for (agent_id, agent) in &self.agents {
            let mut held = Resources::new();
            let mut expected_used = Resources::new();
            for id in &agent.offers {
                let offer = self
                    .offers
                    .get(id)
                    .ok_or_else(|| format!("agent {agent_id} indexes missing offer {id}"))?;
                held += &offer.resources.unallocated();
            }
            for (framework_id, task_id) in &agent.tasks {
                let entry = self
                    .tasks
                    .get(&**framework_id)
                    .and_then(|t| t.get(task_id))
                    .ok_or_else(|| {
                        format!(
                            "agent {agent_id} lists task {task_id} of {framework_id}, not booked"
                        )
                    })?;
                if entry.agent_id() != agent_id {
                    return Err(format!(
                        "task {task_id} listed by {agent_id}, booked elsewhere"
                    ));
                }
                if !frees_resources(entry.state()) {
                    expected_used += &entry.resources().unallocated();
                }
            }
            for executor in agent.executors.values() {
                expected_used += &executor.resources.unallocated();
            }
            let used = agent.used().unallocated();
            if used != expected_used {
                return Err(format!(
                    "agent {agent_id} counts {used} used, its tasks and executors hold {expected_used}"
                ));
            }
            held += &used;
            if !agent.total.contains(&held) {
                return Err(format!(
                    "agent {agent_id}: used and offered {held} exceed its total {}",
                    agent.total
                ));
            }
        }

        for (framework_id, books) in &self.tasks {
            for (task_id, entry) in &books.active {
                let agent_id = entry.agent_id();
                if entry.task_id() != &**task_id || entry.framework_id() != framework_id {
                    return Err(format!(
                        "task {task_id} of {framework_id} booked under another id"
                    ));
                }
                let key = (entry.framework_id_arc().clone(), task_id.clone());
                let listed = self
                    .agents
                    .get(agent_id)
                    .is_some_and(|a| a.tasks.contains(&key));
                if !listed {
                    return Err(format!(
                        "task {task_id} of {framework_id} booked on {agent_id}, which does not list it"
                    ));
                }
                if books.unreachable.contains_key(&**task_id) {
                    return Err(format!(
                        "task {task_id} of {framework_id} both active and unreachable"
                    ));
                }
            }
            let order: BTreeSet<&String> = books.unreachable_order.iter().collect();
            if order.len() != books.unreachable.len() {
                return Err(format!(
                    "unreachable task index of {framework_id} out of step"
                ));
            }
        }
        Ok(())
    }
}
