//! The core's side of the registry. The core does no IO: a change that must outlive
//! this master (an agent admitted, marked unreachable or gone; role weights) comes out
//! as [`Output::Registry`], and takes effect only when the driver reports it written
//! through [`MasterCore::handle_registry_written`]. So an agent hears SUBSCRIBED only
//! once it is admitted, and frameworks hear of an unreachable or gone agent's tasks
//! only once that is durable, as with Mesos's registrar.
//!
//! A core that was never given a registry ([`MasterCore::recover_registry`]) applies
//! every change at once: tests of other behaviour, and the simulation, need no store.
//!
//! After recovery the core knows the registry's admitted agents as "recovered": not
//! re-registered yet. RECONCILE says nothing of their tasks, and those still missing
//! after `--agent_reregister_timeout` are marked unreachable.

use std::collections::{BTreeMap, BTreeSet};

use ratufa_proto::ratufa::registry::Registry;
use ratufa_proto::resources::Resources;
use ratufa_proto::v1::{AgentId, AgentInfo, TimeInfo};
use tracing::{error, info, warn};

use super::agent_health::Removal;

use super::agent_reregistration::Report;
use super::{ConnectionId, MasterCore, Output, Rejection, Time};

/// Names one registry operation, so that its completion finds what waited on it.
pub type RegistryOpId = u64;

/// A change to the registry.
#[derive(Debug, Clone, PartialEq)]
pub enum RegistryOp {
    /// Admit an agent: a new one, or one re-registering that the registry does not
    /// list as admitted (this marks an unreachable agent reachable again).
    Admit(AgentInfo),
    MarkUnreachable {
        agent_id: AgentId,
        time: TimeInfo,
    },
    MarkGone {
        agent_id: AgentId,
        time: TimeInfo,
    },
    /// Forget an admitted agent that a new agent at its address replaced (neither
    /// unreachable nor gone: its id is simply no longer admitted).
    Remove(AgentId),
    SetWeights(Vec<(String, f64)>),
}

/// What the core keeps of the registry and of the writes in flight.
#[derive(Debug, Default)]
pub(super) struct RegistryBooks {
    /// Whether changes wait for their write (set by recovery).
    persistent: bool,
    next_op: RegistryOpId,
    pending: BTreeMap<RegistryOpId, Pending>,
    /// Admitted agents that have not re-registered with this master yet.
    recovered: BTreeMap<String, AgentInfo>,
    /// When recovered agents that are still missing are marked unreachable.
    reregister_deadline: Option<Time>,
    /// How many agents recovery found admitted (and not gone): the base of
    /// `--recovery_agent_removal_limit`.
    recovered_at_start: usize,
    /// Agents being marked unreachable or gone: their re-registration must wait.
    removing: BTreeSet<String>,
    /// Agent streams whose admission is being written, and whether they closed since.
    admitting: BTreeMap<ConnectionId, bool>,
}

#[derive(Debug)]
enum Pending {
    Admission(Box<Admission>),
    Unreachable { agent_id: String },
    Gone { agent_id: String },
    Replaced { agent_id: String },
    Weights(Vec<(String, f64)>),
}

/// What an agent says of itself beside its AgentInfo.
#[derive(Debug, Clone, Default)]
pub(super) struct Reported {
    /// The Mesos version it implements.
    pub(super) version: Option<String>,
    /// The IP address it is reached at.
    pub(super) ip: Option<String>,
}

/// An agent's SUBSCRIBE, checked, waiting for its admission to be written.
#[derive(Debug)]
pub(super) struct Admission {
    pub(super) conn: ConnectionId,
    pub(super) info: AgentInfo,
    pub(super) total: Resources,
    pub(super) reported: Reported,
    pub(super) report: Report,
    pub(super) reregistering: bool,
}

impl MasterCore {
    /// Starts this core's term from what the registry holds; from now on every change
    /// to it waits for its write. Admitted agents are expected back within
    /// `--agent_reregister_timeout`.
    pub fn recover_registry(&mut self, now: Time, registry: &Registry) {
        self.registry.persistent = true;
        for gone in &registry.gone {
            self.gone_agents
                .insert(gone.id.value.clone(), gone.timestamp);
        }
        for admitted in &registry.admitted {
            if let Some(id) = admitted.info.id.as_ref()
                && !self.gone_agents.contains_key(&id.value)
            {
                self.registry
                    .recovered
                    .insert(id.value.clone(), admitted.info.clone());
            }
        }
        // The registry's times are wall-clock times, good across masters.
        for unreachable in &registry.unreachable {
            self.unreachable_agents
                .insert(unreachable.id.value.clone(), unreachable.timestamp);
        }
        self.registry.recovered_at_start = self.registry.recovered.len();
        if !self.registry.recovered.is_empty() {
            self.registry.reregister_deadline = Some(now + self.config.agent_reregister_timeout);
        }
        info!(
            recovered = self.registry.recovered.len(),
            unreachable = registry.unreachable.len(),
            gone = self.gone_agents.len(),
            "recovered the registry"
        );
    }

    /// The registry wrote the operations `ids` (in one write or several): what
    /// waited on them takes effect.
    pub fn handle_registry_written(&mut self, now: Time, ids: &[RegistryOpId]) {
        for id in ids {
            if let Some(pending) = self.registry.pending.remove(id) {
                self.complete(now, pending);
            }
        }
    }

    /// Admitted agents that have not re-registered since recovery.
    pub fn recovered_agents(&self) -> impl Iterator<Item = &AgentInfo> {
        self.registry.recovered.values()
    }

    /// How many registry operations this core has asked for so far: a call that
    /// raised it is done once the last of them is written.
    pub fn registry_ops_requested(&self) -> RegistryOpId {
        self.registry.next_op
    }

    pub(super) fn is_recovered_agent(&self, agent_id: &str) -> bool {
        self.registry.recovered.contains_key(agent_id)
    }

    pub(super) fn reregister_deadline(&self) -> Option<Time> {
        self.registry.reregister_deadline
    }

    /// Writes `agent_id` gone; [`apply_agent_gone`](Self::apply_agent_gone) once
    /// written. Meanwhile the agent cannot re-register.
    pub(super) fn request_gone(&mut self, now: Time, agent_id: &str) {
        self.registry.removing.insert(agent_id.to_string());
        let op = RegistryOp::MarkGone {
            agent_id: AgentId {
                value: agent_id.to_string(),
            },
            time: self.wall_time(now),
        };
        self.request(
            now,
            op,
            Pending::Gone {
                agent_id: agent_id.to_string(),
            },
        );
    }

    /// Removes the disconnected agent `agent_id` that a new agent at its address
    /// replaces: out of the registry first, then out of the cluster (its tasks
    /// TASK_LOST, frameworks told it is lost). Meanwhile its id cannot re-register.
    pub(super) fn request_replaced_removal(&mut self, now: Time, agent_id: &str) {
        info!(agent_id = %agent_id, "removing a disconnected agent: a new agent registered at its address");
        self.registry.removing.insert(agent_id.to_string());
        self.request(
            now,
            RegistryOp::Remove(AgentId {
                value: agent_id.to_string(),
            }),
            Pending::Replaced {
                agent_id: agent_id.to_string(),
            },
        );
    }

    /// The registry no longer lists the replaced agent `agent_id`.
    fn remove_replaced_agent(&mut self, now: Time, agent_id: &str) {
        self.registry.removing.remove(agent_id);
        self.removed_agents.insert(agent_id);
        if !self.agents.contains_key(agent_id) {
            return;
        }
        self.counters.slave_removals += 1;
        self.counters.slave_removals_reason_registered += 1;
        self.remove_agent(now, agent_id, Removal::Replaced);
    }

    /// Whether `agent_id` is being marked unreachable or gone, or removed.
    pub(super) fn is_being_removed(&self, agent_id: &str) -> bool {
        self.registry.removing.contains(agent_id)
    }

    /// Writes role weights (checked); [`apply_weights`](Self::apply_weights) once
    /// written.
    pub(super) fn request_weights(&mut self, now: Time, weights: Vec<(String, f64)>) {
        let op = RegistryOp::SetWeights(weights.clone());
        self.request(now, op, Pending::Weights(weights));
    }

    /// Whether the registry lists `agent_id` as admitted but it has not re-registered.
    pub(super) fn knows_recovered(&self, agent_id: &str) -> bool {
        self.registry.recovered.contains_key(agent_id)
    }

    /// Asks for an operation; without a registry it takes effect at once.
    fn request(&mut self, now: Time, op: RegistryOp, pending: Pending) -> RegistryOpId {
        let id = self.registry.next_op;
        self.registry.next_op += 1;
        if self.registry.persistent {
            self.registry.pending.insert(id, pending);
            self.outputs.push_back(Output::Registry { id, op });
        } else {
            self.complete(now, pending);
        }
        id
    }

    fn complete(&mut self, now: Time, pending: Pending) {
        match pending {
            Pending::Admission(admission) => {
                let closed = self
                    .registry
                    .admitting
                    .remove(&admission.conn)
                    .unwrap_or(false);
                let conn = admission.conn;
                self.addresses.registration_done(&admission.info, conn);
                self.admit_agent(now, *admission);
                if closed {
                    self.handle_agent_stream_closed(now, conn);
                }
            }
            Pending::Unreachable { agent_id } => {
                self.registry.removing.remove(&agent_id);
                self.registry.recovered.remove(&agent_id);
                if self.agents.contains_key(&agent_id) {
                    self.mark_unreachable(now, &agent_id);
                } else {
                    // A recovered agent that never came back: there is nothing of it
                    // here but its id; frameworks learn of its tasks by reconciling.
                    info!(agent_id = %agent_id, "recovered agent did not re-register: unreachable");
                    self.counters.slave_unreachable_completed += 1;
                    let at = self.wall_time(now);
                    self.unreachable_agents.insert(agent_id, at);
                }
            }
            Pending::Gone { agent_id } => {
                self.registry.removing.remove(&agent_id);
                self.registry.recovered.remove(&agent_id);
                self.apply_agent_gone(now, &agent_id);
            }
            Pending::Replaced { agent_id } => self.remove_replaced_agent(now, &agent_id),
            Pending::Weights(weights) => self.apply_weights(now, &weights),
        }
    }

    /// An agent's SUBSCRIBE past its checks (a gone agent is refused before them), by
    /// what the registry says of it: put off if it is being removed; taken at once if
    /// this master knows it or recovered it; otherwise admitted first.
    pub(super) fn register_agent(
        &mut self,
        now: Time,
        admission: Admission,
    ) -> Result<(), Rejection> {
        let id = admission
            .info
            .id
            .as_ref()
            .map(|id| id.value.clone())
            .unwrap_or_default();
        if self.registry.removing.contains(&id) {
            // No ERROR (the agent would give up its id): the stream ends and the agent
            // tries again, by when the removal is written.
            info!(agent_id = %id, "agent re-registering while being removed: try again");
            self.outputs.push_back(Output::Close {
                conn: admission.conn,
            });
            return Err(Rejection::forbidden(format!(
                "Agent {id} is being removed; re-register later"
            )));
        }
        if self.agents.contains_key(&id) || self.registry.recovered.remove(&id).is_some() {
            if self.registry.recovered.is_empty() {
                self.registry.reregister_deadline = None;
            }
            self.admit_agent(now, admission);
            return Ok(());
        }
        let conn = admission.conn;
        let op = RegistryOp::Admit(admission.info.clone());
        if self.registry.persistent {
            self.registry.admitting.insert(conn, false);
            self.addresses.registering(&admission.info, conn);
        }
        self.request(now, op, Pending::Admission(Box::new(admission)));
        Ok(())
    }

    /// An agent stream closed before its admission was written: noted, so that the
    /// agent is taken in disconnected. Returns whether `conn` was one.
    pub(super) fn admission_stream_closed(&mut self, conn: ConnectionId) -> bool {
        match self.registry.admitting.get_mut(&conn) {
            Some(closed) => {
                *closed = true;
                true
            }
            None => false,
        }
    }

    /// Marks a registered or recovered agent unreachable, once written.
    pub(super) fn request_unreachable(&mut self, now: Time, agent_id: &str) {
        if !self.registry.removing.insert(agent_id.to_string()) {
            return;
        }
        let op = RegistryOp::MarkUnreachable {
            agent_id: AgentId {
                value: agent_id.to_string(),
            },
            time: self.wall_time(now),
        };
        self.request(
            now,
            op,
            Pending::Unreachable {
                agent_id: agent_id.to_string(),
            },
        );
    }

    /// `--agent_reregister_timeout` passed: recovered agents still missing are marked
    /// unreachable, at the pace of `--agent_removal_rate_limit`; unless more of them
    /// are missing than `--recovery_agent_removal_limit` allows, when this core gives
    /// up instead: so many gone at once more likely means trouble on this master's
    /// side (its network) than theirs.
    pub(super) fn expire_recovered_agents(&mut self, now: Time) {
        if self.registry.reregister_deadline.is_none_or(|t| t > now) {
            return;
        }
        self.registry.reregister_deadline = None;
        let missing = self.registry.recovered.len();
        let recovered = self.registry.recovered_at_start;
        #[allow(clippy::cast_precision_loss)] // agent counts are far below 2^52
        let fraction = missing as f64 / recovered.max(1) as f64;
        if fraction > self.config.recovery_agent_removal_limit {
            error!(
                missing,
                recovered,
                limit = self.config.recovery_agent_removal_limit,
                "more recovered agents did not re-register than --recovery_agent_removal_limit allows: failing over instead of marking them unreachable"
            );
            self.outputs
                .push_back(Output::RecoveryRemovalLimitExceeded { missing, recovered });
            return;
        }
        // They stay recovered (reconciliation still waits on them) until written.
        let missing: Vec<String> = self.registry.recovered.keys().cloned().collect();
        warn!(
            agents = missing.len(),
            "agents did not re-register within --agent_reregister_timeout: marking them unreachable"
        );
        for agent_id in missing {
            self.schedule_unreachable(now, &agent_id);
        }
    }
}
