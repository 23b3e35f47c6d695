//! What the allocator remembers: frameworks, their (framework, role) clients, roles,
//! agents and their decline filters, all in slabs addressed by small indices so the
//! per-agent work in a cycle is bit operations and vector reads, not string hashing.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap, HashSet};

use ratufa_proto::resources::Resources;
use ratufa_proto::v1::{AgentId, FrameworkId};

use super::bitset::BitSet;
use crate::core::Time;

pub(crate) type FrameworkIdx = usize;
pub(crate) type RoleIdx = usize;
pub(crate) type ClientIdx = usize;
pub(crate) type AgentIdx = usize;

/// A vector of optional entries whose freed slots are reused, so indices stay small
/// and dense (they address bits in [`BitSet`]s).
#[derive(Debug)]
pub(crate) struct Slab<T> {
    entries: Vec<Option<T>>,
    free: Vec<usize>,
}

impl<T> Default for Slab<T> {
    fn default() -> Slab<T> {
        Slab {
            entries: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T> Slab<T> {
    pub(crate) fn insert(&mut self, value: T) -> usize {
        match self.free.pop() {
            Some(index) => {
                self.entries[index] = Some(value);
                index
            }
            None => {
                self.entries.push(Some(value));
                self.entries.len() - 1
            }
        }
    }

    pub(crate) fn remove(&mut self, index: usize) -> Option<T> {
        let value = self.entries.get_mut(index)?.take();
        if value.is_some() {
            self.free.push(index);
        }
        value
    }

    pub(crate) fn get(&self, index: usize) -> Option<&T> {
        self.entries.get(index)?.as_ref()
    }

    pub(crate) fn get_mut(&mut self, index: usize) -> Option<&mut T> {
        self.entries.get_mut(index)?.as_mut()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, &T)> {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.as_ref().map(|v| (i, v)))
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (usize, &mut T)> {
        self.entries
            .iter_mut()
            .enumerate()
            .filter_map(|(i, e)| e.as_mut().map(|v| (i, v)))
    }
}

/// A share, ordered totally so it can key a `BTreeSet`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Share(pub(crate) f64);

impl Eq for Share {}

impl PartialOrd for Share {
    fn partial_cmp(&self, other: &Share) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Share {
    fn cmp(&self, other: &Share) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Names of scalar resources, interned to small indices for [`Quantities`].
#[derive(Debug, Default)]
pub(crate) struct Kinds {
    names: Vec<String>,
    index: HashMap<String, usize>,
}

impl Kinds {
    pub(crate) fn intern(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        self.names.push(name.to_string());
        self.index.insert(name.to_string(), self.names.len() - 1);
        self.names.len() - 1
    }
}

/// Scalar amounts by kind, in thousandths (the resources' own fixed point), so adding
/// and removing the same resources always returns to the same figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Quantities(Vec<i64>);

impl Quantities {
    pub(crate) fn add(&mut self, kinds: &mut Kinds, resources: &Resources, sign: i64) {
        for resource in resources {
            let Some(scalar) = &resource.scalar else {
                continue;
            };
            let kind = kinds.intern(&resource.name);
            if kind >= self.0.len() {
                self.0.resize(kind + 1, 0);
            }
            // Values in `Resources` are already rounded to thousandths.
            self.0[kind] += sign * (scalar.value * 1000.0).round() as i64;
        }
    }

    /// The dominant share: the largest fraction of the cluster's total of any kind.
    pub(crate) fn dominant_share(&self, total: &Quantities) -> f64 {
        self.0
            .iter()
            .zip(&total.0)
            .filter(|(_, t)| **t > 0)
            .map(|(a, t)| *a as f64 / *t as f64)
            .fold(0.0, f64::max)
    }

    pub(crate) fn is_zero(&self) -> bool {
        self.0.iter().all(|q| *q == 0)
    }
}

/// What a framework told us in its FrameworkInfo that changes what it may be offered.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Capabilities {
    pub(crate) revocable: bool,
    pub(crate) gpu: bool,
    pub(crate) shared: bool,
    pub(crate) refinement: bool,
}

#[derive(Debug)]
pub(crate) struct Framework {
    pub(crate) id: FrameworkId,
    /// False for a framework we only know from an agent's `used` resources: its
    /// allocations count, but it is offered nothing until it is added.
    pub(crate) known: bool,
    pub(crate) active: bool,
    pub(crate) capabilities: Capabilities,
    /// The role a resource recovered without an allocation role is taken to be in.
    pub(crate) default_role: String,
    /// Its clients by role name: subscribed roles, and roles it still holds resources in.
    pub(crate) clients: HashMap<String, ClientIdx>,
    /// `FrameworkInfo.offer_filters[role].min_allocatable_resources`, for the roles
    /// that have one: replaces `--min_allocatable_resources` for that role (an empty
    /// list lets anything be offered).
    pub(crate) min_allocatable: HashMap<String, Minimums>,
}

/// Minimum offers: alternatives, each a set of scalar quantities (name, amount) that
/// an offer must all hold; an offer is allocatable when it meets any one. No
/// alternatives: anything not empty is.
pub(crate) type Minimums = Vec<Vec<(String, f64)>>;

/// A framework in one of its roles: what DRF sorts within a role, and what decline
/// filters and suppression apply to.
#[derive(Debug)]
pub(crate) struct Client {
    pub(crate) framework: FrameworkIdx,
    pub(crate) role: RoleIdx,
    /// Creation order: breaks ties between equal shares, deterministically.
    pub(crate) rank: u64,
    pub(crate) subscribed: bool,
    pub(crate) suppressed: bool,
    pub(crate) allocated: Quantities,
    pub(crate) share: Share,
    /// Agents where it holds resources.
    pub(crate) agents: HashSet<AgentIdx>,
    /// Agents where it has a decline filter.
    pub(crate) filtered_on: HashSet<AgentIdx>,
}

#[derive(Debug)]
pub(crate) struct Role {
    pub(crate) name: String,
    pub(crate) weight: f64,
    pub(crate) rank: u64,
    pub(crate) allocated: Quantities,
    /// Dominant share divided by weight.
    pub(crate) share: Share,
    /// Its clients, lowest share first.
    pub(crate) order: BTreeSet<(Share, u64, ClientIdx)>,
}

/// Declines of the same resources on one agent, by many clients: in the common case
/// (every framework declined everything) one containment check covers all of them.
#[derive(Debug)]
pub(crate) struct FilterGroup {
    /// Unallocated form.
    pub(crate) refused: Resources,
    pub(crate) members: BitSet,
    pub(crate) count: usize,
}

#[derive(Debug, Default)]
pub(crate) struct AgentFilters {
    pub(crate) groups: Slab<FilterGroup>,
    /// Each filtered client's group and expiry.
    pub(crate) member_of: HashMap<ClientIdx, (usize, Time)>,
}

#[derive(Debug)]
pub(crate) struct Agent {
    pub(crate) id: AgentId,
    pub(crate) total: Resources,
    /// `total` less everything allocated, unallocated form.
    pub(crate) free: Resources,
    /// What each client holds here, allocated form.
    pub(crate) allocations: HashMap<ClientIdx, Resources>,
    pub(crate) active: bool,
    /// Mesos offers GPU agents only to GPU_RESOURCES frameworks, so that GPUs are not
    /// tied up by frameworks that cannot use them.
    pub(crate) has_gpus: bool,
    pub(crate) filters: AgentFilters,
}
