//! One allocation cycle's work on one agent: which clients may have it, in DRF
//! order, and what each is offered.

use ratufa_proto::resources::{Resources, is_allocatable_to};
use tracing::debug;

use super::HierarchicalDrf;
use crate::allocator::Allocation;
use crate::allocator::bitset::BitSet;
use crate::allocator::state::{AgentIdx, ClientIdx, Framework};

/// With this many candidates or fewer, pick the lowest directly rather than walking the
/// whole DRF order past clients that are not candidates.
const DIRECT_PICK_LIMIT: usize = 16;

impl HierarchicalDrf {
    /// Whether an offer to `framework` in `role` meets the framework's
    /// `offer_filters` for the role, or `--min_allocatable_resources` when it has none
    /// (as Mesos's allocator: the framework's replace the master's).
    pub(super) fn allocatable(&self, offer: &Resources, framework: &Framework, role: &str) -> bool {
        if offer.is_empty() {
            return false;
        }
        let minimums = framework
            .min_allocatable
            .get(role)
            .unwrap_or(&self.min_allocatable);
        minimums.is_empty()
            || minimums.iter().any(|minimum| {
                minimum
                    .iter()
                    .all(|(name, amount)| offer.scalar(name) >= *amount)
            })
    }

    /// The lowest candidate in DRF order: role by weighted share, then client by share.
    pub(super) fn pick(&self, candidates: &BitSet) -> Option<ClientIdx> {
        if candidates.len() <= DIRECT_PICK_LIMIT {
            return candidates
                .iter()
                .filter_map(|c| {
                    let client = self.clients.get(c)?;
                    let role = self.roles.get(client.role)?;
                    Some(((role.share, role.rank, client.share, client.rank), c))
                })
                .min()
                .map(|(_, c)| c);
        }
        for &(_, _, r) in &self.role_order {
            let Some(role) = self.roles.get(r) else {
                continue;
            };
            if let Some(&(_, _, c)) = role.order.iter().find(|(_, _, c)| candidates.contains(*c)) {
                return Some(c);
            }
        }
        None
    }

    /// What of agent `a`'s free resources client `c` may be offered, if anything.
    pub(super) fn offer_for(&self, c: ClientIdx, a: AgentIdx) -> Option<(String, Resources)> {
        let client = self.clients.get(c)?;
        let framework = self.frameworks.get(client.framework)?;
        let role = self.roles.get(client.role)?;
        let agent = self.agents.get(a)?;
        let caps = framework.capabilities;
        if agent.has_gpus && !caps.gpu {
            return None;
        }
        let offer = agent.free.filter(|r| {
            is_allocatable_to(r, &role.name)
                && (caps.revocable || r.revocable.is_none())
                && (caps.shared || r.shared.is_none())
                && (caps.refinement || r.reservations.len() <= 1)
        });
        if !self.allocatable(&offer, framework, &role.name) {
            return None;
        }
        // A filter whose refused resources did not cover the whole free pool (or it
        // would have removed the client from the candidates) may still cover this.
        if let Some((slot, _)) = agent.filters.member_of.get(&c)
            && agent
                .filters
                .groups
                .get(*slot)
                .is_some_and(|g| g.refused.contains(&offer))
        {
            return None;
        }
        Some((role.name.clone(), offer))
    }

    pub(super) fn allocate_agent(&mut self, a: AgentIdx, out: &mut Vec<Allocation>) {
        let Some(agent) = self.agents.get(a) else {
            return;
        };
        if !agent.active || agent.free.is_empty() {
            return;
        }
        self.stats.agents_examined += 1;
        self.stats.last_cycle_agents += 1;
        let mut candidates = std::mem::take(&mut self.candidates);
        candidates.copy_from(&self.eligible);
        for (_, group) in agent.filters.groups.iter() {
            if group.refused.contains(&agent.free) {
                candidates.subtract(&group.members);
            }
        }
        while !candidates.is_empty() {
            let Some(c) = self.pick(&candidates) else {
                break;
            };
            candidates.remove(c);
            let Some((role, unallocated)) = self.offer_for(c, a) else {
                continue;
            };
            let mut offer = unallocated.clone();
            offer.allocate(&role);
            self.track(c, a, &offer, &unallocated);
            let (Some(client), Some(agent)) = (self.clients.get(c), self.agents.get(a)) else {
                break;
            };
            let Some(framework) = self.frameworks.get(client.framework) else {
                break;
            };
            debug!(framework_id = %framework.id.value, agent_id = %agent.id.value, role = %role, resources = %offer, "allocated");
            out.push(Allocation {
                framework_id: framework.id.clone(),
                agent_id: agent.id.clone(),
                role,
                resources: offer,
            });
            self.stats.allocations += 1;
            if agent.free.is_empty() {
                break;
            }
        }
        self.candidates = candidates;
    }
}
