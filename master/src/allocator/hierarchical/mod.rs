//! Weighted DRF over roles, then DRF over the frameworks of each role, incrementally.
//!
//! Shares are kept current on every change (a change touches one client and its
//! role), so a cycle never re-sorts. A cycle looks only at *dirty* agents: those whose
//! free resources grew, that were added or reactivated, or whose filters expired or
//! were revived. Only when a client newly becomes eligible (added, activated,
//! unsuppressed, subscribed to a new role) are all agents looked at again, once.
//!
//! Per agent, the clients that may be offered it are a bitset: the eligible clients
//! less those whose decline filter covers the agent's free resources. Filters that
//! refused the same resources on an agent form one group, so the common case ("every
//! framework declined everything") costs one containment check per agent, not one per
//! framework. The next client is then the lowest in DRF order among the candidates:
//! found by walking the order when most clients are candidates, and by comparing the
//! candidates directly when few are.

mod book;
mod cycle;
mod events;
mod filters;

use std::collections::{BTreeSet, HashMap};

use ratufa_proto::resources::Resources;
use ratufa_proto::v1::{AgentId, FrameworkId};

use super::bitset::BitSet;
use super::config::AllocatorConfig;
use super::state::{
    Agent, AgentIdx, Client, ClientIdx, Framework, FrameworkIdx, Kinds, Minimums, Quantities, Role,
    RoleIdx, Share, Slab,
};
use crate::core::Time;

/// Counters for tests and benchmarks: how much work cycles did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AllocatorStats {
    /// `allocate` calls.
    pub cycles: u64,
    /// Agents examined, over all cycles.
    pub agents_examined: u64,
    /// Agents examined in the last cycle.
    pub last_cycle_agents: u64,
    /// Allocations made, over all cycles.
    pub allocations: u64,
}

/// The hierarchical weighted-DRF allocator; see the module documentation.
#[derive(Debug)]
pub struct HierarchicalDrf {
    /// `--min_allocatable_resources`.
    min_allocatable: Minimums,
    weights: HashMap<String, f64>,
    kinds: Kinds,
    /// Every agent's total, active or not, as DRF's denominator.
    total: Quantities,
    frameworks: Slab<Framework>,
    framework_index: HashMap<String, FrameworkIdx>,
    roles: Slab<Role>,
    role_index: HashMap<String, RoleIdx>,
    /// Roles, lowest weighted share first.
    role_order: BTreeSet<(Share, u64, RoleIdx)>,
    clients: Slab<Client>,
    client_index: HashMap<(FrameworkIdx, RoleIdx), ClientIdx>,
    agents: Slab<Agent>,
    agent_index: HashMap<String, AgentIdx>,
    /// Clients that may be offered anything: known, active, subscribed, not suppressed.
    eligible: BitSet,
    dirty: BTreeSet<AgentIdx>,
    /// A client became eligible: every agent with free resources needs a look.
    rescan_all: bool,
    /// The cluster total or a weight changed: every share is recomputed next cycle.
    shares_stale: bool,
    expiries: BTreeSet<(Time, AgentIdx, ClientIdx)>,
    next_rank: u64,
    stats: AllocatorStats,
    /// Reused per agent, to avoid an allocation per agent per cycle.
    candidates: BitSet,
}

impl HierarchicalDrf {
    pub fn new(config: AllocatorConfig) -> HierarchicalDrf {
        HierarchicalDrf {
            min_allocatable: config
                .min_allocatable_resources
                .iter()
                .map(|alternative| {
                    alternative
                        .scalar_quantities()
                        .into_iter()
                        .map(|(name, amount)| (name.to_string(), amount))
                        .collect()
                })
                .collect(),
            weights: config
                .weights
                .into_iter()
                .filter(|(_, w)| w.is_finite() && *w > 0.0)
                .collect(),
            kinds: Kinds::default(),
            total: Quantities::default(),
            frameworks: Slab::default(),
            framework_index: HashMap::new(),
            roles: Slab::default(),
            role_index: HashMap::new(),
            role_order: BTreeSet::new(),
            clients: Slab::default(),
            client_index: HashMap::new(),
            agents: Slab::default(),
            agent_index: HashMap::new(),
            eligible: BitSet::default(),
            dirty: BTreeSet::new(),
            rescan_all: false,
            shares_stale: false,
            expiries: BTreeSet::new(),
            next_rank: 0,
            stats: AllocatorStats::default(),
            candidates: BitSet::default(),
        }
    }

    pub fn stats(&self) -> AllocatorStats {
        self.stats
    }

    /// The weighted dominant share of a role (0 when unknown).
    pub fn role_share(&mut self, role: &str) -> f64 {
        self.refresh_shares();
        self.role_index
            .get(role)
            .and_then(|&r| self.roles.get(r))
            .map_or(0.0, |r| r.share.0)
    }

    /// What is free on an agent (nothing when unknown).
    pub fn free(&self, agent: &AgentId) -> Resources {
        self.agent_index
            .get(&agent.value)
            .and_then(|&a| self.agents.get(a))
            .map(|a| a.free.clone())
            .unwrap_or_default()
    }

    /// What a framework holds on an agent, over all its roles, allocated form.
    pub fn allocated(&self, framework: &FrameworkId, agent: &AgentId) -> Resources {
        let (Some(&f), Some(&a)) = (
            self.framework_index.get(&framework.value),
            self.agent_index.get(&agent.value),
        ) else {
            return Resources::new();
        };
        let (Some(framework), Some(agent)) = (self.frameworks.get(f), self.agents.get(a)) else {
            return Resources::new();
        };
        let mut out = Resources::new();
        for c in framework.clients.values() {
            if let Some(held) = agent.allocations.get(c) {
                out += held;
            }
        }
        out
    }

    /// Checks the bookkeeping: on every agent, free plus allocations is the total, and
    /// client and role quantities match the allocations. For tests.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut client_sums: HashMap<ClientIdx, Quantities> = HashMap::new();
        let mut kinds = Kinds::default();
        // Quantities use the allocator's interned kinds; rebuild with a private table
        // on both sides so the comparison does not depend on interning order.
        for (a, agent) in self.agents.iter() {
            let mut sum = agent.free.clone();
            for (c, held) in &agent.allocations {
                if !self
                    .clients
                    .get(*c)
                    .is_some_and(|cl| cl.agents.contains(&a))
                {
                    return Err(format!(
                        "agent {} lists client {c} that doesn't list it",
                        agent.id.value
                    ));
                }
                sum += &held.unallocated();
                client_sums.entry(*c).or_default().add(&mut kinds, held, 1);
            }
            if sum != agent.total {
                return Err(format!(
                    "agent {}: free + allocated = {sum}, total = {}",
                    agent.id.value, agent.total
                ));
            }
            if !agent.total.contains(&agent.free) {
                return Err(format!("agent {}: free exceeds total", agent.id.value));
            }
        }
        for (c, client) in self.clients.iter() {
            let mut own = Quantities::default();
            for &a in &client.agents {
                if let Some(held) = self.agents.get(a).and_then(|ag| ag.allocations.get(&c)) {
                    own.add(&mut kinds, held, 1);
                }
            }
            if own != client_sums.get(&c).cloned().unwrap_or_default() {
                return Err(format!("client {c}: agent list and allocations disagree"));
            }
            if client.allocated.is_zero() != own.is_zero() {
                return Err(format!("client {c}: tracked quantities disagree"));
            }
        }
        Ok(())
    }
}
