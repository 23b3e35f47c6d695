//! The allocator interface: what the core tells the allocator, and the cycle.

use std::collections::HashMap;
use std::time::Duration;

use ratufa_proto::resources::Resources;
use ratufa_proto::v1::{AgentId, AgentInfo, FrameworkId, FrameworkInfo};
use tracing::{debug, warn};

use super::HierarchicalDrf;
use crate::allocator::state::{Agent, AgentFilters, AgentIdx, ClientIdx};
use crate::allocator::{Allocation, Allocator};
use crate::core::Time;

impl Allocator for HierarchicalDrf {
    fn add_framework(
        &mut self,
        id: &FrameworkId,
        info: &FrameworkInfo,
        suppressed_roles: &[String],
        active: bool,
        used: &[(AgentId, Resources)],
    ) {
        let f = self.ensure_framework(id);
        if let Some(framework) = self.frameworks.get_mut(f) {
            framework.active = active;
        }
        self.apply_framework_info(f, info, suppressed_roles);
        let fallback = self
            .frameworks
            .get(f)
            .map(|fw| fw.default_role.clone())
            .unwrap_or_default();
        for (agent_id, resources) in used {
            let Some(&a) = self.agent_index.get(&agent_id.value) else {
                continue; // the agent will report them when it registers
            };
            for (role, part) in Self::by_role(resources, &fallback) {
                let c = self.ensure_client(f, &role);
                let known = self
                    .agents
                    .get(a)
                    .is_some_and(|ag| ag.allocations.contains_key(&c));
                // An agent that registered first already reported these.
                if !known {
                    self.track_used(c, a, &role, &part);
                }
            }
        }
        debug!(framework_id = %id.value, active, "allocator: framework added");
    }

    fn update_framework(
        &mut self,
        id: &FrameworkId,
        info: &FrameworkInfo,
        suppressed_roles: &[String],
    ) {
        if let Some(f) = self.framework_idx(id) {
            self.apply_framework_info(f, info, suppressed_roles);
        }
    }

    fn remove_framework(&mut self, id: &FrameworkId) {
        let Some(f) = self.framework_idx(id) else {
            return;
        };
        let clients: Vec<ClientIdx> = self.clients_for(f, &[]);
        for c in clients {
            let agents: Vec<AgentIdx> = self
                .clients
                .get(c)
                .map(|cl| cl.agents.iter().copied().collect())
                .unwrap_or_default();
            for a in agents {
                let held = self
                    .agents
                    .get(a)
                    .and_then(|ag| ag.allocations.get(&c).cloned())
                    .unwrap_or_default();
                self.untrack(c, a, &held);
                self.dirty.insert(a);
            }
            if let Some(client) = self.clients.get_mut(c) {
                client.subscribed = false;
            }
            self.maybe_remove_client(c);
        }
        if let Some(framework) = self.frameworks.remove(f) {
            self.framework_index.remove(&framework.id.value);
        }
        debug!(framework_id = %id.value, "allocator: framework removed");
    }

    fn activate_framework(&mut self, id: &FrameworkId) {
        if let Some(f) = self.framework_idx(id) {
            if let Some(framework) = self.frameworks.get_mut(f) {
                framework.active = true;
            }
            self.refresh_framework_eligibility(f);
        }
    }

    fn deactivate_framework(&mut self, id: &FrameworkId) {
        if let Some(f) = self.framework_idx(id) {
            if let Some(framework) = self.frameworks.get_mut(f) {
                framework.active = false;
            }
            // As Mesos does: a framework that comes back may want what it declined.
            for c in self.clients_for(f, &[]) {
                self.clear_filters(c);
            }
            self.refresh_framework_eligibility(f);
        }
    }

    fn add_agent(
        &mut self,
        id: &AgentId,
        _info: &AgentInfo,
        total: Resources,
        used: &[(FrameworkId, Resources)],
    ) {
        if self.agent_index.contains_key(&id.value) {
            warn!(agent_id = %id.value, "allocator: agent added twice; replacing it");
            self.remove_agent(id);
        }
        let total = total.unallocated();
        self.total.add(&mut self.kinds, &total, 1);
        self.shares_stale = true;
        let a = self.agents.insert(Agent {
            id: id.clone(),
            has_gpus: total.gpus() > 0.0,
            free: total.clone(),
            total,
            allocations: HashMap::new(),
            active: true,
            filters: AgentFilters::default(),
        });
        self.agent_index.insert(id.value.clone(), a);
        for (framework_id, resources) in used {
            let f = self.ensure_framework(framework_id);
            let fallback = self
                .frameworks
                .get(f)
                .map(|fw| fw.default_role.clone())
                .unwrap_or_default();
            for (role, part) in Self::by_role(resources, &fallback) {
                let c = self.ensure_client(f, &role);
                self.track_used(c, a, &role, &part);
            }
        }
        self.dirty.insert(a);
        debug!(agent_id = %id.value, "allocator: agent added");
    }

    fn remove_agent(&mut self, id: &AgentId) {
        let Some(a) = self.agent_idx(id) else {
            return;
        };
        let filtered: Vec<ClientIdx> = self
            .agents
            .get(a)
            .map(|ag| ag.filters.member_of.keys().copied().collect())
            .unwrap_or_default();
        for c in filtered {
            self.remove_filter(c, a);
        }
        let Some(agent) = self.agents.remove(a) else {
            return;
        };
        self.agent_index.remove(&id.value);
        self.dirty.remove(&a);
        for (c, held) in &agent.allocations {
            self.account(*c, held, -1);
            if let Some(client) = self.clients.get_mut(*c) {
                client.agents.remove(&a);
            }
            self.maybe_remove_client(*c);
        }
        self.total.add(&mut self.kinds, &agent.total, -1);
        self.shares_stale = true;
        debug!(agent_id = %id.value, "allocator: agent removed");
    }

    fn activate_agent(&mut self, id: &AgentId) {
        if let Some(a) = self.agent_idx(id)
            && let Some(agent) = self.agents.get_mut(a)
        {
            agent.active = true;
            self.dirty.insert(a);
        }
    }

    fn deactivate_agent(&mut self, id: &AgentId) {
        if let Some(a) = self.agent_idx(id)
            && let Some(agent) = self.agents.get_mut(a)
        {
            agent.active = false;
        }
    }

    fn recover_resources(
        &mut self,
        framework: &FrameworkId,
        agent: &AgentId,
        resources: &Resources,
        refuse: Option<Duration>,
        now: Time,
    ) {
        let (Some(f), Some(a)) = (self.framework_idx(framework), self.agent_idx(agent)) else {
            return;
        };
        let fallback = self
            .frameworks
            .get(f)
            .map(|fw| fw.default_role.clone())
            .unwrap_or_default();
        for (role, part) in Self::by_role(resources, &fallback) {
            let Some(&c) = self
                .role_index
                .get(&role)
                .and_then(|r| self.client_index.get(&(f, *r)))
            else {
                warn!(framework_id = %framework.value, agent_id = %agent.value, role = %role, "recovering resources for a role the framework holds nothing in");
                continue;
            };
            let freed = self.untrack(c, a, &part);
            if !freed.is_empty() {
                self.dirty.insert(a);
            }
            if let Some(refuse) = refuse.filter(|d| !d.is_zero()) {
                // Refuse what came back; if nothing did (already recovered), what
                // the framework named.
                let refused = if freed.is_empty() {
                    part.unallocated()
                } else {
                    freed
                };
                self.add_filter(c, a, &refused, now + refuse);
            }
            self.maybe_remove_client(c);
        }
    }

    fn suppress(&mut self, framework: &FrameworkId, roles: &[String]) {
        let Some(f) = self.framework_idx(framework) else {
            return;
        };
        for c in self.clients_for(f, roles) {
            if let Some(client) = self.clients.get_mut(c) {
                client.suppressed = true;
            }
            self.refresh_eligibility(c);
        }
    }

    fn revive(&mut self, framework: &FrameworkId, roles: &[String]) {
        let Some(f) = self.framework_idx(framework) else {
            return;
        };
        for c in self.clients_for(f, roles) {
            self.clear_filters(c);
            if let Some(client) = self.clients.get_mut(c) {
                client.suppressed = false;
            }
            self.refresh_eligibility(c);
        }
    }

    fn update_weights(&mut self, weights: &[(String, f64)]) {
        for (role, weight) in weights {
            if !weight.is_finite() || *weight <= 0.0 {
                warn!(role = %role, weight, "ignoring a non-positive weight");
                continue;
            }
            self.weights.insert(role.clone(), *weight);
            if let Some(&r) = self.role_index.get(role)
                && let Some(entry) = self.roles.get_mut(r)
            {
                entry.weight = *weight;
            }
        }
        self.shares_stale = true;
    }

    fn allocate(&mut self, now: Time) -> Vec<Allocation> {
        self.stats.cycles += 1;
        self.stats.last_cycle_agents = 0;
        self.expire_filters(now);
        if self.rescan_all {
            self.rescan_all = false;
            self.dirty.extend(
                self.agents
                    .iter()
                    .filter(|(_, ag)| ag.active && !ag.free.is_empty())
                    .map(|(a, _)| a),
            );
        }
        if self.dirty.is_empty() {
            return Vec::new();
        }
        self.refresh_shares();
        let dirty = std::mem::take(&mut self.dirty);
        let mut out = Vec::new();
        for a in dirty {
            self.allocate_agent(a, &mut out);
        }
        out
    }

    fn next_wakeup(&self) -> Option<Time> {
        self.expiries.first().map(|(until, _, _)| *until)
    }
}
