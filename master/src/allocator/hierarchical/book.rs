//! Bookkeeping: frameworks, roles and clients, their shares, and what each holds
//! on each agent.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};

use ratufa_proto::resources::Resources;
use ratufa_proto::v1::framework_info::capability::Type as Capability;
use ratufa_proto::v1::{AgentId, FrameworkId, FrameworkInfo, Resource};
use tracing::{debug, warn};

use super::HierarchicalDrf;
use crate::allocator::state::{
    AgentIdx, Capabilities, Client, ClientIdx, Framework, FrameworkIdx, Minimums, Quantities, Role,
    RoleIdx, Share,
};
use crate::core::roles::{framework_roles, has_capability, is_multi_role, legacy_role};

impl HierarchicalDrf {
    pub(super) fn rank(&mut self) -> u64 {
        self.next_rank += 1;
        self.next_rank
    }

    pub(super) fn ensure_role(&mut self, name: &str) -> RoleIdx {
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

    pub(super) fn ensure_client(&mut self, f: FrameworkIdx, role_name: &str) -> ClientIdx {
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
    pub(super) fn maybe_remove_client(&mut self, c: ClientIdx) {
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
    pub(super) fn refresh_eligibility(&mut self, c: ClientIdx) {
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

    pub(super) fn refresh_framework_eligibility(&mut self, f: FrameworkIdx) {
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

    pub(super) fn client_share(&self, client: &Client) -> Share {
        Share(client.allocated.dominant_share(&self.total))
    }

    pub(super) fn weighted_role_share(&self, role: &Role) -> Share {
        Share(role.allocated.dominant_share(&self.total) / role.weight)
    }

    /// Adds (`sign` 1) or removes (-1) resources to a client's and its role's figures
    /// and moves both to their new places in the DRF order.
    pub(super) fn account(&mut self, c: ClientIdx, resources: &Resources, sign: i64) {
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
    pub(super) fn refresh_shares(&mut self) {
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

    /// Records `allocated` (allocation role set) as held by client `c` on agent `a`,
    /// taking `unallocated` (the same resources without the role) out of its free pool.
    pub(super) fn track(
        &mut self,
        c: ClientIdx,
        a: AgentIdx,
        allocated: &Resources,
        unallocated: &Resources,
    ) {
        let Some(agent) = self.agents.get_mut(a) else {
            return;
        };
        if agent.free.len() == unallocated.len() && unallocated.contains(&agent.free) {
            // All of it goes (the usual case): no arithmetic needed.
            agent.free = Resources::new();
        } else {
            agent.free -= unallocated;
        }
        match agent.allocations.get_mut(&c) {
            Some(held) => *held += allocated,
            None => {
                agent.allocations.insert(c, allocated.clone());
            }
        }
        if let Some(client) = self.clients.get_mut(c) {
            client.agents.insert(a);
        }
        self.account(c, allocated, 1);
    }

    /// Returns to agent `a`'s free pool what of `resources` client `c` holds there,
    /// and says what that was (unallocated form).
    pub(super) fn untrack(
        &mut self,
        c: ClientIdx,
        a: AgentIdx,
        resources: &Resources,
    ) -> Resources {
        let Some(agent) = self.agents.get_mut(a) else {
            return Resources::new();
        };
        let Some(held) = agent.allocations.get_mut(&c) else {
            return Resources::new();
        };
        let taken = if held.contains(resources) {
            Cow::Borrowed(resources)
        } else {
            // Give back only what is really held, whatever the caller claims.
            let rest = &*held - resources;
            Cow::Owned(&*held - &rest)
        };
        let emptied = held.len() == taken.len() && taken.contains(held);
        if emptied {
            agent.allocations.remove(&c);
        } else {
            *held -= &taken;
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
    pub(super) fn track_used(
        &mut self,
        c: ClientIdx,
        a: AgentIdx,
        role: &str,
        resources: &Resources,
    ) {
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
        let mut allocated = take.clone();
        allocated.allocate(role);
        self.track(c, a, &allocated, &take);
    }

    pub(super) fn framework_idx(&self, id: &FrameworkId) -> Option<FrameworkIdx> {
        let found = self.framework_index.get(&id.value).copied();
        if found.is_none() {
            debug!(framework_id = %id.value, "allocator: unknown framework");
        }
        found
    }

    pub(super) fn agent_idx(&self, id: &AgentId) -> Option<AgentIdx> {
        let found = self.agent_index.get(&id.value).copied();
        if found.is_none() {
            debug!(agent_id = %id.value, "allocator: unknown agent");
        }
        found
    }

    /// Creates (or finds) a framework entry; unknown ones come from agents' `used`.
    pub(super) fn ensure_framework(&mut self, id: &FrameworkId) -> FrameworkIdx {
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
            min_allocatable: HashMap::new(),
        });
        self.framework_index.insert(id.value.clone(), f);
        f
    }

    /// Splits resources by allocation role; entries without one go to `fallback`.
    pub(super) fn by_role(resources: &Resources, fallback: &str) -> Vec<(String, Resources)> {
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
    pub(super) fn apply_framework_info(
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
        let min_allocatable = offer_filter_minimums(info);
        let old_roles: Vec<(String, ClientIdx)> = match self.frameworks.get_mut(f) {
            Some(framework) => {
                framework.known = true;
                framework.capabilities = capabilities;
                framework.default_role = default_role;
                if framework.min_allocatable != min_allocatable {
                    framework.min_allocatable = min_allocatable;
                    // A lower minimum may make leftovers offerable that were not.
                    self.rescan_all = true;
                }
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
    pub(super) fn clients_for(&self, f: FrameworkIdx, roles: &[String]) -> Vec<ClientIdx> {
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

/// The minimum offers a framework asked for per role in `FrameworkInfo.offer_filters`
/// (validated by the core before it gets here).
fn offer_filter_minimums(info: &FrameworkInfo) -> HashMap<String, Minimums> {
    info.offer_filters
        .iter()
        .filter_map(|(role, filters)| {
            let min = filters.min_allocatable_resources.as_ref()?;
            let alternatives = min
                .quantities
                .iter()
                .map(|q| {
                    let mut amounts: Vec<(String, f64)> = q
                        .quantities
                        .iter()
                        .map(|(name, scalar)| (name.clone(), scalar.value))
                        .collect();
                    // Sorted, so that an unchanged filter compares equal.
                    amounts.sort_by(|a, b| a.0.cmp(&b.0));
                    amounts
                })
                .collect();
            Some((role.clone(), alternatives))
        })
        .collect()
}
