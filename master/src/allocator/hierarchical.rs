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

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use ratufa_proto::resources::{Resources, is_allocatable_to};
use ratufa_proto::v1::framework_info::capability::Type as Capability;
use ratufa_proto::v1::{AgentId, AgentInfo, FrameworkId, FrameworkInfo, Resource};
use tracing::{debug, warn};

use super::bitset::BitSet;
use super::config::AllocatorConfig;
use super::state::{
    Agent, AgentFilters, AgentIdx, Capabilities, Client, ClientIdx, FilterGroup, Framework,
    FrameworkIdx, Kinds, Quantities, Role, RoleIdx, Share, Slab,
};
use super::{Allocation, Allocator};
use crate::core::Time;
use crate::core::roles::{framework_roles, has_capability, is_multi_role, legacy_role};

/// With this many candidates or fewer, pick the lowest directly rather than walking the
/// whole DRF order past clients that are not candidates.
const DIRECT_PICK_LIMIT: usize = 16;

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
    min_allocatable: Vec<Resources>,
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
            min_allocatable: config.min_allocatable_resources,
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

    // ---- roles and clients ----

    fn rank(&mut self) -> u64 {
        self.next_rank += 1;
        self.next_rank
    }

    fn ensure_role(&mut self, name: &str) -> RoleIdx {
        if let Some(&r) = self.role_index.get(name) {
            return r;
        }
        let rank = self.rank();
        let weight = self.weights.get(name).copied().unwrap_or(1.0);
        let r = self.roles.insert(Role {
            name: name.to_string(),
            weight,
            rank,
            allocated: Quantities::default(),
            share: Share(0.0),
            order: BTreeSet::new(),
        });
        self.role_index.insert(name.to_string(), r);
        self.role_order.insert((Share(0.0), rank, r));
        r
    }

    fn ensure_client(&mut self, f: FrameworkIdx, role_name: &str) -> ClientIdx {
        let r = self.ensure_role(role_name);
        if let Some(&c) = self.client_index.get(&(f, r)) {
            return c;
        }
        let rank = self.rank();
        let c = self.clients.insert(Client {
            framework: f,
            role: r,
            rank,
            subscribed: false,
            suppressed: false,
            allocated: Quantities::default(),
            share: Share(0.0),
            agents: Default::default(),
            filtered_on: Default::default(),
        });
        self.client_index.insert((f, r), c);
        if let Some(role) = self.roles.get_mut(r) {
            role.order.insert((Share(0.0), rank, c));
        }
        if let Some(framework) = self.frameworks.get_mut(f) {
            framework.clients.insert(role_name.to_string(), c);
        }
        c
    }

    /// Removes a client that is neither subscribed nor holding anything.
    fn maybe_remove_client(&mut self, c: ClientIdx) {
        let removable = self
            .clients
            .get(c)
            .is_some_and(|cl| !cl.subscribed && cl.agents.is_empty());
        if !removable {
            return;
        }
        self.clear_filters(c);
        self.eligible.remove(c);
        let Some(client) = self.clients.remove(c) else {
            return;
        };
        self.client_index.remove(&(client.framework, client.role));
        let mut role_empty = false;
        if let Some(role) = self.roles.get_mut(client.role) {
            role.order.remove(&(client.share, client.rank, c));
            role_empty = role.order.is_empty();
            if let Some(framework) = self.frameworks.get_mut(client.framework) {
                framework.clients.remove(&role.name);
            }
        }
        if role_empty && let Some(role) = self.roles.remove(client.role) {
            self.role_index.remove(&role.name);
            self.role_order
                .remove(&(role.share, role.rank, client.role));
        }
    }

    /// Recomputes whether a client may be offered anything; a client that becomes
    /// eligible makes every agent worth a look.
    fn refresh_eligibility(&mut self, c: ClientIdx) {
        let Some(client) = self.clients.get(c) else {
            return;
        };
        let framework_ok = self
            .frameworks
            .get(client.framework)
            .is_some_and(|f| f.known && f.active);
        let eligible = framework_ok && client.subscribed && !client.suppressed;
        let was = self.eligible.contains(c);
        if eligible && !was {
            self.eligible.insert(c);
            self.rescan_all = true;
        } else if !eligible && was {
            self.eligible.remove(c);
        }
    }

    fn refresh_framework_eligibility(&mut self, f: FrameworkIdx) {
        let clients: Vec<ClientIdx> = self
            .frameworks
            .get(f)
            .map(|fw| fw.clients.values().copied().collect())
            .unwrap_or_default();
        for c in clients {
            self.refresh_eligibility(c);
        }
    }

    // ---- shares ----

    fn client_share(&self, client: &Client) -> Share {
        Share(client.allocated.dominant_share(&self.total))
    }

    fn weighted_role_share(&self, role: &Role) -> Share {
        Share(role.allocated.dominant_share(&self.total) / role.weight)
    }

    /// Adds (`sign` 1) or removes (-1) resources to a client's and its role's figures
    /// and moves both to their new places in the DRF order.
    fn account(&mut self, c: ClientIdx, resources: &Resources, sign: i64) {
        let Some(client) = self.clients.get_mut(c) else {
            return;
        };
        client.allocated.add(&mut self.kinds, resources, sign);
        let r = client.role;
        if let Some(role) = self.roles.get_mut(r) {
            role.allocated.add(&mut self.kinds, resources, sign);
        }
        if self.shares_stale {
            return; // the next cycle recomputes every share and order
        }
        let (Some(client), Some(role)) = (self.clients.get(c), self.roles.get(r)) else {
            return;
        };
        let (old_client, new_client) = (client.share, self.client_share(client));
        let (old_role, new_role) = (role.share, self.weighted_role_share(role));
        let (client_rank, role_rank) = (client.rank, role.rank);
        if let Some(client) = self.clients.get_mut(c) {
            client.share = new_client;
        }
        if let Some(role) = self.roles.get_mut(r) {
            role.share = new_role;
            if old_client != new_client {
                role.order.remove(&(old_client, client_rank, c));
                role.order.insert((new_client, client_rank, c));
            }
        }
        if old_role != new_role {
            self.role_order.remove(&(old_role, role_rank, r));
            self.role_order.insert((new_role, role_rank, r));
        }
    }

    /// After the cluster total or a weight changed: every share, every order.
    fn refresh_shares(&mut self) {
        if !self.shares_stale {
            return;
        }
        self.shares_stale = false;
        let total = std::mem::take(&mut self.total);
        for (_, client) in self.clients.iter_mut() {
            client.share = Share(client.allocated.dominant_share(&total));
        }
        self.role_order.clear();
        let clients = &self.clients;
        for (r, role) in self.roles.iter_mut() {
            role.share = Share(role.allocated.dominant_share(&total) / role.weight);
            role.order = role
                .order
                .iter()
                .filter_map(|&(_, rank, c)| clients.get(c).map(|cl| (cl.share, rank, c)))
                .collect();
            self.role_order.insert((role.share, role.rank, r));
        }
        self.total = total;
    }

    // ---- allocations on agents ----

    /// Records `resources` (allocated form, role set) as held by client `c` on agent
    /// `a`, taking them out of the agent's free pool.
    fn track(&mut self, c: ClientIdx, a: AgentIdx, resources: Resources) {
        let Some(agent) = self.agents.get_mut(a) else {
            return;
        };
        agent.free -= &resources.unallocated();
        self.account(c, &resources, 1);
        let Some(agent) = self.agents.get_mut(a) else {
            return;
        };
        match agent.allocations.get_mut(&c) {
            Some(held) => *held += &resources,
            None => {
                agent.allocations.insert(c, resources);
            }
        }
        if let Some(client) = self.clients.get_mut(c) {
            client.agents.insert(a);
        }
    }

    /// Returns to agent `a`'s free pool what of `resources` client `c` holds there,
    /// and says what that was (unallocated form).
    fn untrack(&mut self, c: ClientIdx, a: AgentIdx, resources: &Resources) -> Resources {
        let Some(agent) = self.agents.get_mut(a) else {
            return Resources::new();
        };
        let Some(held) = agent.allocations.get_mut(&c) else {
            return Resources::new();
        };
        let taken = if held.contains(resources) {
            resources.clone()
        } else {
            // Give back only what is really held, whatever the caller claims.
            let rest = &*held - resources;
            &*held - &rest
        };
        *held -= &taken;
        let emptied = held.is_empty();
        if emptied {
            agent.allocations.remove(&c);
        }
        let freed = taken.unallocated();
        agent.free += &freed;
        if emptied && let Some(client) = self.clients.get_mut(c) {
            client.agents.remove(&a);
        }
        self.account(c, &taken, -1);
        freed
    }

    /// Takes `resources` for a client out of an agent's free pool, as much as is free
    /// (used resources reported by an agent or framework on registration).
    fn track_used(&mut self, c: ClientIdx, a: AgentIdx, role: &str, resources: &Resources) {
        let Some(agent) = self.agents.get(a) else {
            return;
        };
        let wanted = resources.unallocated();
        let take = if agent.free.contains(&wanted) {
            wanted
        } else {
            warn!(agent_id = %agent.id.value, "used resources exceed the agent's free resources; tracking what is free");
            let rest = &agent.free - &wanted;
            &agent.free - &rest
        };
        if take.is_empty() {
            return;
        }
        let mut take = take;
        take.allocate(role);
        self.track(c, a, take);
    }

    // ---- filters ----

    fn add_filter(&mut self, c: ClientIdx, a: AgentIdx, refused: Resources, until: Time) {
        self.remove_filter(c, a);
        let Some(agent) = self.agents.get_mut(a) else {
            return;
        };
        let filters = &mut agent.filters;
        let existing = filters
            .groups
            .iter()
            .find(|(_, g)| g.refused == refused)
            .map(|(slot, _)| slot);
        let slot = existing.unwrap_or_else(|| {
            filters.groups.insert(FilterGroup {
                refused,
                members: BitSet::default(),
                count: 0,
            })
        });
        if let Some(group) = filters.groups.get_mut(slot) {
            group.members.insert(c);
            group.count += 1;
        }
        filters.member_of.insert(c, (slot, until));
        self.expiries.insert((until, a, c));
        if let Some(client) = self.clients.get_mut(c) {
            client.filtered_on.insert(a);
        }
    }

    /// Drops client `c`'s filter on agent `a`; says whether there was one.
    fn remove_filter(&mut self, c: ClientIdx, a: AgentIdx) -> bool {
        let Some(agent) = self.agents.get_mut(a) else {
            return false;
        };
        let Some((slot, until)) = agent.filters.member_of.remove(&c) else {
            return false;
        };
        let mut emptied = false;
        if let Some(group) = agent.filters.groups.get_mut(slot) {
            group.members.remove(c);
            group.count -= 1;
            emptied = group.count == 0;
        }
        if emptied {
            agent.filters.groups.remove(slot);
        }
        self.expiries.remove(&(until, a, c));
        if let Some(client) = self.clients.get_mut(c) {
            client.filtered_on.remove(&a);
        }
        true
    }

    /// Drops all of a client's filters, marking those agents for a look.
    fn clear_filters(&mut self, c: ClientIdx) {
        let agents: Vec<AgentIdx> = self
            .clients
            .get(c)
            .map(|cl| cl.filtered_on.iter().copied().collect())
            .unwrap_or_default();
        for a in agents {
            if self.remove_filter(c, a) {
                self.dirty.insert(a);
            }
        }
    }

    fn expire_filters(&mut self, now: Time) {
        while let Some(&(until, a, c)) = self.expiries.first() {
            if until > now {
                break;
            }
            self.remove_filter(c, a);
            self.dirty.insert(a);
        }
    }

    // ---- the cycle ----

    /// Whether an offer meets `--min_allocatable_resources`.
    fn allocatable(&self, offer: &Resources) -> bool {
        if offer.is_empty() {
            return false;
        }
        if self.min_allocatable.is_empty() {
            return true;
        }
        self.min_allocatable.iter().any(|minimum| {
            minimum
                .scalar_quantities()
                .iter()
                .all(|(name, amount)| offer.scalar(name) >= *amount)
        })
    }

    /// The lowest candidate in DRF order: role by weighted share, then client by share.
    fn pick(&self, candidates: &BitSet) -> Option<ClientIdx> {
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
    fn offer_for(&self, c: ClientIdx, a: AgentIdx) -> Option<(String, Resources)> {
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
        if !self.allocatable(&offer) {
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

    fn allocate_agent(&mut self, a: AgentIdx, out: &mut Vec<Allocation>) {
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
            let Some((role, offer)) = self.offer_for(c, a) else {
                continue;
            };
            let mut offer = offer;
            offer.allocate(&role);
            self.track(c, a, offer.clone());
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

    fn framework_idx(&self, id: &FrameworkId) -> Option<FrameworkIdx> {
        let found = self.framework_index.get(&id.value).copied();
        if found.is_none() {
            debug!(framework_id = %id.value, "allocator: unknown framework");
        }
        found
    }

    fn agent_idx(&self, id: &AgentId) -> Option<AgentIdx> {
        let found = self.agent_index.get(&id.value).copied();
        if found.is_none() {
            debug!(agent_id = %id.value, "allocator: unknown agent");
        }
        found
    }

    /// Creates (or finds) a framework entry; unknown ones come from agents' `used`.
    fn ensure_framework(&mut self, id: &FrameworkId) -> FrameworkIdx {
        if let Some(&f) = self.framework_index.get(&id.value) {
            return f;
        }
        let f = self.frameworks.insert(Framework {
            id: id.clone(),
            known: false,
            active: false,
            capabilities: Capabilities::default(),
            default_role: crate::core::roles::DEFAULT_ROLE.to_string(),
            clients: HashMap::new(),
        });
        self.framework_index.insert(id.value.clone(), f);
        f
    }

    /// Splits resources by allocation role; entries without one go to `fallback`.
    fn by_role(resources: &Resources, fallback: &str) -> Vec<(String, Resources)> {
        fn role_of<'a>(r: &'a Resource, fallback: &'a str) -> &'a str {
            r.allocation_info
                .as_ref()
                .and_then(|i| i.role.as_deref())
                .unwrap_or(fallback)
        }
        let mut roles: Vec<&str> = Vec::new();
        for resource in resources {
            let role = role_of(resource, fallback);
            if !roles.contains(&role) {
                roles.push(role);
            }
        }
        if let [role] = roles.as_slice()
            && resources.iter().all(|r| r.allocation_info.is_some())
        {
            // The usual case: one role, already in allocated form.
            return vec![(role.to_string(), resources.clone())];
        }
        roles
            .into_iter()
            .map(|role| {
                let mut part = resources.filter(|r| role_of(r, fallback) == role);
                part.allocate(role);
                (role.to_string(), part)
            })
            .collect()
    }

    /// Sets a framework's capabilities, roles and suppression from its info.
    fn apply_framework_info(
        &mut self,
        f: FrameworkIdx,
        info: &FrameworkInfo,
        suppressed: &[String],
    ) {
        let roles = framework_roles(info);
        let capabilities = Capabilities {
            revocable: has_capability(info, Capability::RevocableResources),
            gpu: has_capability(info, Capability::GpuResources),
            shared: has_capability(info, Capability::SharedResources),
            refinement: has_capability(info, Capability::ReservationRefinement),
        };
        let default_role = if is_multi_role(info) {
            roles
                .iter()
                .next()
                .cloned()
                .unwrap_or_else(|| legacy_role(info).to_string())
        } else {
            legacy_role(info).to_string()
        };
        let old_roles: Vec<(String, ClientIdx)> = match self.frameworks.get_mut(f) {
            Some(framework) => {
                framework.known = true;
                framework.capabilities = capabilities;
                framework.default_role = default_role;
                framework
                    .clients
                    .iter()
                    .map(|(r, c)| (r.clone(), *c))
                    .collect()
            }
            None => return,
        };
        for (role, c) in old_roles {
            if !roles.contains(&role)
                && let Some(client) = self.clients.get_mut(c)
            {
                client.subscribed = false;
                self.refresh_eligibility(c);
                self.maybe_remove_client(c);
            }
        }
        for role in &roles {
            let c = self.ensure_client(f, role);
            if let Some(client) = self.clients.get_mut(c) {
                client.subscribed = true;
                client.suppressed = suppressed.contains(role);
            }
        }
        self.refresh_framework_eligibility(f);
    }

    /// The clients of a framework for the given roles (all of them when empty).
    fn clients_for(&self, f: FrameworkIdx, roles: &[String]) -> Vec<ClientIdx> {
        let Some(framework) = self.frameworks.get(f) else {
            return Vec::new();
        };
        if roles.is_empty() {
            framework.clients.values().copied().collect()
        } else {
            roles
                .iter()
                .filter_map(|r| framework.clients.get(r).copied())
                .collect()
        }
    }
}

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
                self.add_filter(c, a, part.unallocated(), now + refuse);
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
