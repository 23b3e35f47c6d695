//! A simulated scheduler: what it believes about its offers and tasks, built only from
//! the events it received.

use std::collections::BTreeMap;

use ratufa_master::core::ConnectionId;
use ratufa_proto::v1::framework_info::Capability;
use ratufa_proto::v1::framework_info::capability::Type as CapabilityType;
use ratufa_proto::v1::{AgentId, FrameworkInfo, Offer, TaskId, TaskState};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// SUBSCRIBE sent on `conn`, no SUBSCRIBED yet.
    Subscribing,
    Connected,
    Disconnected,
    /// Torn down or removed by the master; never comes back.
    Dead,
}

/// How a task id came to be in the framework's books.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Launched properly: it may run.
    Launched,
    /// Launched in a way that must fail (too big for the offer, a stale offer): only a
    /// terminal update may come, and no agent may ever run it.
    Doomed,
    /// Never launched; named in a KILL or RECONCILE to see what the master says.
    Ghost,
}

/// What the framework knows of one of its tasks.
#[derive(Debug, Clone)]
pub struct TaskView {
    /// The last state an UPDATE said; `None` until the first.
    pub state: Option<TaskState>,
    pub agent_id: Option<String>,
    pub origin: Origin,
}

/// An update to acknowledge.
#[derive(Debug, Clone)]
pub struct PendingAck {
    pub agent_id: AgentId,
    pub task_id: TaskId,
    pub uuid: Vec<u8>,
}

#[derive(Debug)]
pub struct SimFramework {
    pub name: String,
    pub info: FrameworkInfo,
    pub phase: Phase,
    pub conn: Option<ConnectionId>,
    pub stream_id: String,
    /// Outstanding offers as received (by offer id).
    pub offers: BTreeMap<String, Offer>,
    /// Ids of offers it once held, to try an ACCEPT with a stale one now and then.
    pub stale_offers: Vec<String>,
    pub tasks: BTreeMap<String, TaskView>,
    pub pending_acks: Vec<PendingAck>,
    pub next_task: u64,
}

impl SimFramework {
    pub fn new(name: String, info: FrameworkInfo) -> SimFramework {
        SimFramework {
            name,
            info,
            phase: Phase::Disconnected,
            conn: None,
            stream_id: String::new(),
            offers: BTreeMap::new(),
            stale_offers: Vec::new(),
            tasks: BTreeMap::new(),
            pending_acks: Vec::new(),
            next_task: 0,
        }
    }

    pub fn id_str(&self) -> &str {
        self.info.id.as_ref().map_or("", |id| id.value.as_str())
    }

    pub fn has(&self, capability: CapabilityType) -> bool {
        self.info
            .capabilities
            .iter()
            .any(|c| c.r#type == Some(capability as i32))
    }

    pub fn is_multi_role(&self) -> bool {
        self.has(CapabilityType::MultiRole)
    }

    pub fn is_partition_aware(&self) -> bool {
        self.has(CapabilityType::PartitionAware)
    }

    pub fn refinement(&self) -> bool {
        self.has(CapabilityType::ReservationRefinement)
    }

    /// The roles it is subscribed with.
    #[allow(deprecated)] // the single `role` field is what non-MULTI_ROLE frameworks use
    pub fn roles(&self) -> Vec<String> {
        if self.is_multi_role() {
            self.info.roles.clone()
        } else {
            vec![self.info.role.clone().unwrap_or_else(|| "*".to_string())]
        }
    }

    /// The role an offer was made for.
    pub fn offer_role(&self, offer: &Offer) -> String {
        offer
            .allocation_info
            .as_ref()
            .and_then(|a| a.role.clone())
            .unwrap_or_else(|| self.roles().into_iter().next().unwrap_or_default())
    }

    /// Forgets its offers (its stream ended or is being replaced: they are void).
    pub fn drop_offers(&mut self) {
        let ids: Vec<String> = std::mem::take(&mut self.offers).into_keys().collect();
        self.remember_stale(ids);
    }

    pub fn remember_stale(&mut self, ids: impl IntoIterator<Item = String>) {
        self.stale_offers.extend(ids);
        let excess = self.stale_offers.len().saturating_sub(16);
        self.stale_offers.drain(..excess);
    }

    /// Tasks it believes are not over yet, with where they run.
    pub fn live_tasks(&self) -> Vec<(String, Option<String>)> {
        self.tasks
            .iter()
            .filter(|(_, v)| {
                v.origin == Origin::Launched && !v.state.is_some_and(super::agent::is_terminal)
            })
            .map(|(id, v)| (id.clone(), v.agent_id.clone()))
            .collect()
    }
}

pub fn capability(kind: CapabilityType) -> Capability {
    Capability {
        r#type: Some(kind as i32),
    }
}
