//! What the master knows about one framework, and the bounded memory of removed ones.

use std::collections::{BTreeSet, HashMap, VecDeque};

use ratufa_proto::v1::FrameworkInfo;
use ratufa_proto::v1::scheduler::OfferConstraints;

use super::roles;
use super::time::Time;

/// Identifies one SUBSCRIBE response stream, a framework's or an agent's (one id
/// space for both). The IO layer assigns it; it must never reuse one, since a late
/// "stream closed" for an old stream must not hit a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

impl std::fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "conn-{}", self.0)
    }
}

/// Whether a framework has a live event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// Subscribed on `conn`; calls must carry `stream_id` as `Mesos-Stream-Id`.
    Connected {
        conn: ConnectionId,
        stream_id: String,
    },
    /// The stream went away at `since`; the framework is removed at `failover_deadline`
    /// unless it subscribes again first.
    Disconnected {
        since: Time,
        failover_deadline: Time,
    },
    /// Just created, not yet given its stream.
    Unconnected,
    /// Removed (torn down, or its failover timeout passed): kept only as history.
    Removed { at: Time },
}

/// One framework, subscribed or waiting out its failover timeout.
#[derive(Debug, Clone)]
pub struct Framework {
    pub(super) info: FrameworkInfo,
    pub(super) connection: Connection,
    /// Whether the allocator should offer to it. Connected frameworks are active for
    /// now; the operator API's deactivation will make the two differ.
    pub(super) active: bool,
    pub(super) roles: BTreeSet<String>,
    pub(super) suppressed_roles: BTreeSet<String>,
    pub(super) offer_constraints: Option<OfferConstraints>,
    pub(super) registered_time: Time,
    pub(super) reregistered_time: Option<Time>,
    /// Ids of its outstanding offers.
    pub(super) offers: BTreeSet<String>,
}

impl Framework {
    /// A framework not yet connected; the core connects it to its stream next.
    pub(super) fn new(info: FrameworkInfo, now: Time) -> Framework {
        let roles = roles::framework_roles(&info);
        Framework {
            info,
            connection: Connection::Unconnected,
            active: false,
            roles,
            suppressed_roles: BTreeSet::new(),
            offer_constraints: None,
            registered_time: now,
            reregistered_time: None,
            offers: BTreeSet::new(),
        }
    }

    /// The framework id (`info.id`, always set for a framework the core holds).
    pub fn id(&self) -> &str {
        self.info.id.as_ref().map_or("", |id| id.value.as_str())
    }

    pub fn info(&self) -> &FrameworkInfo {
        &self.info
    }

    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    pub fn is_connected(&self) -> bool {
        matches!(self.connection, Connection::Connected { .. })
    }

    pub fn is_active(&self) -> bool {
        self.active
    }

    /// The `Mesos-Stream-Id` of the current stream, while connected.
    pub fn stream_id(&self) -> Option<&str> {
        match &self.connection {
            Connection::Connected { stream_id, .. } => Some(stream_id),
            _ => None,
        }
    }

    pub fn connection_id(&self) -> Option<ConnectionId> {
        match self.connection {
            Connection::Connected { conn, .. } => Some(conn),
            _ => None,
        }
    }

    pub fn roles(&self) -> &BTreeSet<String> {
        &self.roles
    }

    pub fn suppressed_roles(&self) -> &BTreeSet<String> {
        &self.suppressed_roles
    }

    pub fn offer_constraints(&self) -> Option<&OfferConstraints> {
        self.offer_constraints.as_ref()
    }

    pub fn registered_time(&self) -> Time {
        self.registered_time
    }

    pub fn reregistered_time(&self) -> Option<Time> {
        self.reregistered_time
    }

    pub fn offer_ids(&self) -> &BTreeSet<String> {
        &self.offers
    }
}

/// Removed frameworks, newest last, at most `capacity` of them (`--max_completed_frameworks`).
/// An id found here may not subscribe again.
#[derive(Debug, Clone)]
pub struct CompletedFrameworks {
    capacity: usize,
    order: VecDeque<String>,
    by_id: HashMap<String, Framework>,
}

impl CompletedFrameworks {
    pub fn new(capacity: usize) -> CompletedFrameworks {
        CompletedFrameworks {
            capacity,
            order: VecDeque::new(),
            by_id: HashMap::new(),
        }
    }

    pub fn insert(&mut self, framework: Framework) {
        if self.capacity == 0 {
            return;
        }
        let id = framework.id().to_string();
        if self.by_id.insert(id.clone(), framework).is_some() {
            // Same id removed twice (it was recovered after falling out of memory, or
            // similar): keep one entry, at the newest position.
            self.order.retain(|existing| *existing != id);
        }
        self.order.push_back(id);
        while self.order.len() > self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.by_id.remove(&oldest);
            }
        }
    }

    pub fn get(&self, id: &str) -> Option<&Framework> {
        self.by_id.get(id)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Framework> {
        self.order.iter().filter_map(|id| self.by_id.get(id))
    }
}
