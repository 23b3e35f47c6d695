//! Ids of agents removed while away because a new agent registered at their address.
//! Frameworks were told their tasks were lost, so such an id must not come back with
//! those tasks: its agent is refused and starts over under a new id. Mesos keeps the
//! same memory (`slaves.removed`) in a bounded cache, in memory only; so do we, with
//! its bound, [`MAX_REMOVED_AGENTS`]: the oldest ids are forgotten first.

use std::collections::{HashSet, VecDeque};

/// How many removed ids are remembered (Mesos's `MAX_REMOVED_SLAVES`); some 10 MB at
/// the most.
pub(super) const MAX_REMOVED_AGENTS: usize = 100_000;

#[derive(Debug)]
pub(super) struct RemovedAgents {
    capacity: usize,
    /// Oldest first: the next to be forgotten.
    order: VecDeque<String>,
    ids: HashSet<String>,
}

impl Default for RemovedAgents {
    fn default() -> RemovedAgents {
        RemovedAgents::with_capacity(MAX_REMOVED_AGENTS)
    }
}

impl RemovedAgents {
    pub(super) fn with_capacity(capacity: usize) -> RemovedAgents {
        RemovedAgents {
            capacity,
            order: VecDeque::new(),
            ids: HashSet::new(),
        }
    }

    pub(super) fn insert(&mut self, agent_id: &str) {
        if self.capacity == 0 || !self.ids.insert(agent_id.to_string()) {
            return;
        }
        self.order.push_back(agent_id.to_string());
        while self.order.len() > self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.ids.remove(&oldest);
            }
        }
    }

    pub(super) fn contains(&self, agent_id: &str) -> bool {
        self.ids.contains(agent_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_ids_are_forgotten_past_the_bound() {
        let mut removed = RemovedAgents::with_capacity(2);
        removed.insert("a");
        removed.insert("b");
        removed.insert("a"); // Already there: still the oldest.
        removed.insert("c");
        assert!(!removed.contains("a"));
        assert!(removed.contains("b") && removed.contains("c"));
        assert_eq!(removed.order.len(), 2);
        assert_eq!(removed.ids.len(), 2);
    }

    #[test]
    fn the_bound_is_mesoss() {
        assert_eq!(RemovedAgents::default().capacity, 100_000);
    }
}
