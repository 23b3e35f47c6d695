//! Decline filters: grouped per agent by what was refused, expiring in time order.

use ratufa_proto::resources::Resources;

use super::HierarchicalDrf;
use crate::allocator::bitset::BitSet;
use crate::allocator::state::{AgentIdx, ClientIdx, FilterGroup};
use crate::core::Time;

impl HierarchicalDrf {
    pub(super) fn add_filter(
        &mut self,
        c: ClientIdx,
        a: AgentIdx,
        refused: &Resources,
        until: Time,
    ) {
        self.remove_filter(c, a);
        let Some(agent) = self.agents.get_mut(a) else {
            return;
        };
        let filters = &mut agent.filters;
        let existing = filters
            .groups
            .iter()
            .find(|(_, g)| g.refused == *refused)
            .map(|(slot, _)| slot);
        let slot = existing.unwrap_or_else(|| {
            filters.groups.insert(FilterGroup {
                refused: refused.clone(),
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
    pub(super) fn remove_filter(&mut self, c: ClientIdx, a: AgentIdx) -> bool {
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
    pub(super) fn clear_filters(&mut self, c: ClientIdx) {
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

    pub(super) fn expire_filters(&mut self, now: Time) {
        while let Some(&(until, a, c)) = self.expiries.first() {
            if until > now {
                break;
            }
            self.remove_filter(c, a);
            self.dirty.insert(a);
        }
    }
}
