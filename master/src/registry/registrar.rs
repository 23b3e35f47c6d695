//! The typed registry on a store: recovered once when a master starts leading, then
//! changed only through compare-and-set writes. A write that fails leaves the
//! registrar as it was; a conflict means another master leads now.

use prost::Message as _;
use ratufa_proto::ratufa::registry::Registry;
use ratufa_proto::ratufa::registry::registry::{Agent, GoneAgent, UnreachableAgent, Weight};
use ratufa_proto::v1::{AgentId, AgentInfo, MasterInfo, TimeInfo};

use super::{RegistryStore, Version};
use crate::MasterError;
use crate::core::RegistryOp;

pub struct Registrar<S: RegistryStore> {
    store: S,
    registry: Registry,
    version: Option<Version>,
}

impl<S: RegistryStore> Registrar<S> {
    /// Reads the registry from `store` (empty if nothing is stored yet).
    pub async fn recover(store: S) -> Result<Registrar<S>, MasterError> {
        let (registry, version) = match store.fetch().await? {
            Some(stored) => {
                let registry = Registry::decode(stored.data.as_slice()).map_err(|e| {
                    MasterError::RegistryCorrupt {
                        store: store.name(),
                        reason: format!("not a registry: {e}"),
                    }
                })?;
                (registry, Some(stored.version))
            }
            None => (Registry::default(), None),
        };
        tracing::info!(
            store = store.name(),
            admitted = registry.admitted.len(),
            unreachable = registry.unreachable.len(),
            gone = registry.gone.len(),
            "registry recovered"
        );
        Ok(Registrar {
            store,
            registry,
            version,
        })
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Applies `change` to a copy and stores it; kept only once stored. A `change`
    /// that returns false changed nothing, and nothing is written.
    pub async fn update(
        &mut self,
        change: impl FnOnce(&mut Registry) -> bool,
    ) -> Result<bool, MasterError> {
        let mut next = self.registry.clone();
        if !change(&mut next) {
            return Ok(false);
        }
        let version = self.store.store(next.encode_to_vec(), self.version).await?;
        self.registry = next;
        self.version = Some(version);
        Ok(true)
    }

    /// Writes `master` in as the registry's leader: a term's first write, before it
    /// serves. Whoever led before, and may not know yet that it was deposed (frozen
    /// or cut off from ZooKeeper), then holds a stale version and cannot write again.
    pub async fn claim(&mut self, master: MasterInfo) -> Result<(), MasterError> {
        self.update(|registry| {
            registry.master = Some(master);
            true
        })
        .await
        .map(|_| ())
    }

    /// Admits (or re-admits with new info) an agent; it is no longer unreachable.
    /// A gone agent cannot be admitted again: false, nothing written.
    pub async fn admit(&mut self, info: AgentInfo) -> Result<bool, MasterError> {
        self.update(|registry| admit(registry, info)).await
    }

    /// Marks an admitted agent unreachable (it stays unreachable until re-admitted).
    pub async fn mark_unreachable(
        &mut self,
        id: &AgentId,
        time: TimeInfo,
    ) -> Result<bool, MasterError> {
        self.update(|registry| mark_unreachable(registry, id, time))
            .await
    }

    /// Marks an agent gone: removed for good, whatever it was.
    pub async fn mark_gone(&mut self, id: &AgentId, time: TimeInfo) -> Result<bool, MasterError> {
        self.update(|registry| mark_gone(registry, id, time)).await
    }

    /// Sets role weights (replacing those of the same roles).
    pub async fn set_weights(&mut self, weights: &[(String, f64)]) -> Result<bool, MasterError> {
        self.update(|registry| set_weights(registry, weights)).await
    }

    /// Applies every operation in order and writes the result once: operations that
    /// queued while the previous write was in flight cost one write together.
    pub async fn apply<'a>(
        &mut self,
        ops: impl IntoIterator<Item = &'a RegistryOp>,
    ) -> Result<bool, MasterError> {
        self.update(|registry| {
            ops.into_iter()
                .fold(false, |changed, op| apply(registry, op) | changed)
        })
        .await
    }

    pub fn is_admitted(&self, id: &AgentId) -> bool {
        self.registry
            .admitted
            .iter()
            .any(|a| a.info.id.as_ref() == Some(id))
    }

    pub fn is_unreachable(&self, id: &AgentId) -> bool {
        self.registry.unreachable.iter().any(|u| &u.id == id)
    }

    pub fn is_gone(&self, id: &AgentId) -> bool {
        is_gone(&self.registry, id)
    }
}

/// One operation on a registry; false when it changes nothing.
pub fn apply(registry: &mut Registry, op: &RegistryOp) -> bool {
    match op {
        RegistryOp::Admit(info) => admit(registry, info.clone()),
        RegistryOp::MarkUnreachable { agent_id, time } => {
            mark_unreachable(registry, agent_id, *time)
        }
        RegistryOp::MarkGone { agent_id, time } => mark_gone(registry, agent_id, *time),
        RegistryOp::Remove(agent_id) => remove(registry, agent_id),
        RegistryOp::SetWeights(weights) => set_weights(registry, weights),
    }
}

fn is_gone(registry: &Registry, id: &AgentId) -> bool {
    registry.gone.iter().any(|g| &g.id == id)
}

fn admit(registry: &mut Registry, info: AgentInfo) -> bool {
    let Some(id) = info.id.clone() else {
        return false;
    };
    if is_gone(registry, &id) {
        return false;
    }
    registry.unreachable.retain(|u| u.id != id);
    registry
        .admitted
        .retain(|a| a.info.id.as_ref() != Some(&id));
    registry.admitted.push(Agent { info });
    true
}

fn mark_unreachable(registry: &mut Registry, id: &AgentId, time: TimeInfo) -> bool {
    let before = registry.admitted.len();
    registry.admitted.retain(|a| a.info.id.as_ref() != Some(id));
    if registry.admitted.len() == before {
        return false;
    }
    registry.unreachable.push(UnreachableAgent {
        id: id.clone(),
        timestamp: time,
    });
    true
}

fn remove(registry: &mut Registry, id: &AgentId) -> bool {
    let before = registry.admitted.len();
    registry.admitted.retain(|a| a.info.id.as_ref() != Some(id));
    registry.admitted.len() != before
}

fn mark_gone(registry: &mut Registry, id: &AgentId, time: TimeInfo) -> bool {
    if is_gone(registry, id) {
        return false;
    }
    registry.admitted.retain(|a| a.info.id.as_ref() != Some(id));
    registry.unreachable.retain(|u| &u.id != id);
    registry.gone.push(GoneAgent {
        id: id.clone(),
        timestamp: time,
    });
    true
}

fn set_weights(registry: &mut Registry, weights: &[(String, f64)]) -> bool {
    for (role, weight) in weights {
        registry.weights.retain(|w| &w.role != role);
        registry.weights.push(Weight {
            role: role.clone(),
            weight: *weight,
        });
    }
    !weights.is_empty()
}
