//! The master as a pure state machine: frameworks and their streams.
//!
//! No sockets, timers, threads or clocks here. Inputs arrive through `handle_*` methods,
//! each given the current [`Time`]; what must happen on streams comes out of
//! [`MasterCore::poll_output`], and the next moment the core wants a
//! [`MasterCore::handle_tick`] from [`MasterCore::poll_timeout`]. HTTP answers are the
//! methods' return values. This is what lets every ordering of subscribes, disconnects,
//! failovers and timeouts be tested deterministically.
//!
//! Offers, tasks and agents are not here yet; the places they hook in are marked
//! "seam" (deactivation rescinds offers, failover discards them, removal kills tasks).

mod agents;
mod framework;
mod output;
pub mod roles;
mod time;
pub mod validation;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use ratufa_proto::v1::scheduler::{OfferConstraints, call};
use ratufa_proto::v1::{FrameworkId, FrameworkInfo, MasterInfo};
use tracing::{debug, info, warn};

pub use framework::{CompletedFrameworks, Connection, ConnectionId, Framework};
pub use output::{
    Output, Rejection, RejectionKind, Reply, SubscribeOutcome, error_event, heartbeat_event,
    subscribed_event,
};
pub use time::{Time, seconds_to_duration};
pub use validation::{CallValidationError, FrameworkCall, ValidCall, validate_call};

/// Sent to the old stream when a framework subscribes again on a new one.
pub const FRAMEWORK_FAILED_OVER: &str = "Framework failed over";
/// Sent (as ERROR) to a SUBSCRIBE naming a framework that was removed.
pub const FRAMEWORK_REMOVED: &str = "Framework has been removed";
pub const FRAMEWORK_NOT_FOUND: &str = "Framework cannot be found";
pub const FRAMEWORK_NOT_SUBSCRIBED: &str = "Framework is not subscribed";
pub const MISSING_STREAM_ID: &str =
    "All non-subscribe calls should include the 'Mesos-Stream-Id' header";

/// What the core needs to know about its master and its flags.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Sent in every SUBSCRIBED; its `id` prefixes framework ids.
    pub master_info: MasterInfo,
    /// Announced in SUBSCRIBED; the IO layer sends the heartbeats.
    pub heartbeat_interval: Duration,
    /// How many removed frameworks are remembered (and refused if they come back).
    pub max_completed_frameworks: usize,
    /// `--roles`: when set, the only roles frameworks may use (`*` is always allowed).
    pub role_whitelist: Option<BTreeSet<String>>,
}

/// The master's state machine.
#[derive(Debug)]
pub struct MasterCore {
    config: CoreConfig,
    next_framework_id: u64,
    /// Subscribed and disconnected frameworks, by id. Ordered so that anything iterating
    /// them (ticks, state snapshots) does so deterministically.
    frameworks: BTreeMap<String, Framework>,
    completed: CompletedFrameworks,
    /// Which framework each open stream belongs to.
    connections: HashMap<ConnectionId, String>,
    /// Disconnected frameworks by failover deadline, so a tick touches only the expired.
    failover_deadlines: BTreeSet<(Time, String)>,
    outputs: VecDeque<Output>,
}

impl MasterCore {
    pub fn new(mut config: CoreConfig) -> MasterCore {
        if let Some(whitelist) = &mut config.role_whitelist {
            // The default role is always allowed, whatever --roles says.
            whitelist.insert(roles::DEFAULT_ROLE.to_string());
        }
        let completed = CompletedFrameworks::new(config.max_completed_frameworks);
        MasterCore {
            config,
            next_framework_id: 0,
            frameworks: BTreeMap::new(),
            completed,
            connections: HashMap::new(),
            failover_deadlines: BTreeSet::new(),
            outputs: VecDeque::new(),
        }
    }

    pub fn master_info(&self) -> &MasterInfo {
        &self.config.master_info
    }

    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    /// The next thing to do on a stream, oldest first.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When the core next wants [`handle_tick`](Self::handle_tick), if ever.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.failover_deadlines
            .first()
            .map(|(deadline, _)| *deadline)
    }

    pub fn framework(&self, id: &str) -> Option<&Framework> {
        self.frameworks.get(id)
    }

    /// Subscribed and disconnected frameworks, by id.
    pub fn frameworks(&self) -> impl Iterator<Item = &Framework> {
        self.frameworks.values()
    }

    pub fn completed_frameworks(&self) -> &CompletedFrameworks {
        &self.completed
    }

    /// A SUBSCRIBE that passed [`validate_call`], arriving on the new stream `conn`
    /// whose `Mesos-Stream-Id` is `stream_id`. `principal` is the authenticated one.
    pub fn handle_subscribe(
        &mut self,
        now: Time,
        conn: ConnectionId,
        stream_id: String,
        principal: Option<&str>,
        subscribe: call::Subscribe,
    ) -> SubscribeOutcome {
        let call::Subscribe {
            framework_info: mut info,
            suppressed_roles,
            offer_constraints,
        } = subscribe;

        // An authenticated framework may leave the principal out; it then is the one it
        // authenticated as.
        if let (Some(principal), None) = (principal, &info.principal) {
            info.principal = Some(principal.to_string());
        }

        if let Err(message) = self.validate_framework(&info) {
            return self.refuse(conn, &info, message);
        }
        let roles = roles::framework_roles(&info);
        let suppressed_roles: BTreeSet<String> = suppressed_roles.into_iter().collect();
        if let Err(message) =
            validate_allocation_options(&roles, &suppressed_roles, offer_constraints.as_ref())
        {
            return self.refuse(conn, &info, message);
        }

        let id = info
            .id
            .as_ref()
            .map(|id| id.value.clone())
            .unwrap_or_default();
        let framework_id = if id.is_empty() {
            let framework_id = self.new_framework_id();
            info.id = Some(framework_id.clone());
            info!(framework_id = %framework_id.value, %conn, "framework subscribed");
            self.add_framework(now, info, suppressed_roles, offer_constraints);
            framework_id
        } else if !self.frameworks.contains_key(&id) {
            // Not known here, yet not removed: a framework that subscribed to an earlier
            // leader. Take it back as it describes itself.
            info!(framework_id = %id, %conn, "recovering framework unknown to this master");
            self.add_framework(now, info, suppressed_roles, offer_constraints);
            FrameworkId { value: id }
        } else {
            let update = FrameworkUpdate {
                info,
                roles,
                suppressed_roles,
                offer_constraints,
            };
            if let Err(message) = self.resubscribe(now, conn, &id, update) {
                return SubscribeOutcome::Refused { message };
            }
            FrameworkId { value: id }
        };

        self.connect(conn, stream_id, &framework_id.value);
        self.outputs.push_back(Output::Event {
            conn,
            event: subscribed_event(
                framework_id.clone(),
                self.config.heartbeat_interval.as_secs_f64(),
                self.config.master_info.clone(),
            ),
        });
        SubscribeOutcome::Subscribed { framework_id }
    }

    /// A non-SUBSCRIBE call that passed [`validate_call`]. `stream_id` is the request's
    /// `Mesos-Stream-Id`, if it had one.
    pub fn handle_call(
        &mut self,
        now: Time,
        framework_id: &FrameworkId,
        call: FrameworkCall,
        principal: Option<&str>,
        stream_id: Option<&str>,
    ) -> Result<Reply, Rejection> {
        let id = framework_id.value.as_str();
        let Some(framework) = self.frameworks.get(id) else {
            if self.completed.contains(id) {
                return Err(Rejection::bad_request(format!(
                    "{FRAMEWORK_NOT_FOUND}: framework '{id}' has been removed"
                )));
            }
            return Err(Rejection::bad_request(FRAMEWORK_NOT_FOUND));
        };

        let declared = framework.info.principal.as_deref();
        if let Some(principal) = principal
            && Some(principal) != declared
        {
            return Err(Rejection::bad_request(validation::principal_mismatch(
                principal,
                declared.unwrap_or(""),
            )));
        }

        let Some(current) = framework.stream_id() else {
            return Err(Rejection::forbidden(FRAMEWORK_NOT_SUBSCRIBED));
        };
        let Some(stream_id) = stream_id else {
            return Err(Rejection::bad_request(MISSING_STREAM_ID));
        };
        if stream_id != current {
            return Err(Rejection::bad_request(format!(
                "The stream ID '{stream_id}' included in this request didn't match the \
                 stream ID currently associated with framework ID {id}"
            )));
        }

        match call {
            FrameworkCall::Teardown => {
                info!(framework_id = %id, "framework asked to be torn down");
                self.remove_framework(now, id);
                Ok(Reply::Accepted)
            }
            FrameworkCall::UpdateFramework(update) => self.update_framework(id, update),
            FrameworkCall::Unknown => Err(Rejection::not_implemented(
                "Call type 'UNKNOWN' is not implemented: set 'type' to a call type",
            )),
            // Seam: the offer and task calls arrive with the allocator and agents.
            other => Err(Rejection::not_implemented(format!(
                "'{}' calls are not implemented yet: this master has no offers, tasks or \
                 agents",
                other.type_name()
            ))),
        }
    }

    /// The stream `conn` ended (client went away or the connection broke).
    pub fn handle_stream_closed(&mut self, now: Time, conn: ConnectionId) {
        // Streams the core closed itself (failover, teardown, refusals) are already
        // forgotten; a late report of their closing changes nothing.
        let Some(id) = self.connections.remove(&conn) else {
            debug!(%conn, "closed stream belonged to no framework");
            return;
        };
        let Some(framework) = self.frameworks.get_mut(&id) else {
            return;
        };
        if framework.connection_id() != Some(conn) {
            return;
        }
        let timeout = seconds_to_duration(framework.info.failover_timeout.unwrap_or(0.0));
        let failover_deadline = now + timeout;
        framework.connection = Connection::Disconnected {
            since: now,
            failover_deadline,
        };
        // Seam: deactivation rescinds the framework's offers.
        framework.active = false;
        self.failover_deadlines
            .insert((failover_deadline, id.clone()));
        info!(framework_id = %id, %conn, failover_timeout = ?timeout, "framework disconnected");
    }

    /// Time passed: remove frameworks whose failover timeout ran out.
    pub fn handle_tick(&mut self, now: Time) {
        while let Some((deadline, id)) = self.failover_deadlines.first().cloned() {
            if deadline > now {
                break;
            }
            self.failover_deadlines.remove(&(deadline, id.clone()));
            info!(framework_id = %id, "framework failover timeout, removing framework");
            self.remove_framework(now, &id);
        }
    }

    fn add_framework(
        &mut self,
        now: Time,
        info: FrameworkInfo,
        suppressed_roles: BTreeSet<String>,
        offer_constraints: Option<OfferConstraints>,
    ) {
        let mut framework = Framework::new(info, now);
        framework.suppressed_roles = suppressed_roles;
        framework.offer_constraints = offer_constraints;
        self.frameworks
            .insert(framework.id().to_string(), framework);
    }

    /// A SUBSCRIBE naming a framework we hold: checks what may not change, takes the
    /// new info, and fails the old stream over if it is still open. The caller connects
    /// `conn` on success; on refusal the ERROR is already queued on `conn`.
    fn resubscribe(
        &mut self,
        now: Time,
        conn: ConnectionId,
        id: &str,
        update: FrameworkUpdate,
    ) -> Result<(), String> {
        let FrameworkUpdate {
            mut info,
            roles,
            suppressed_roles,
            offer_constraints,
        } = update;
        let Some(framework) = self.frameworks.get_mut(id) else {
            return Err(FRAMEWORK_NOT_FOUND.to_string());
        };

        // user and checkpoint cannot change on re-subscription; Mesos keeps the old
        // values silently rather than refusing (MESOS-703).
        info.user = framework.info.user.clone();
        info.checkpoint = framework.info.checkpoint;
        if let Err(message) = validation::validate_update(&framework.info, &info) {
            warn!(
                framework_id = %id,
                old_principal = ?framework.info.principal,
                new_principal = ?info.principal,
                "refusing re-subscription: {message}"
            );
            self.refuse(conn, &info, message.clone());
            return Err(message);
        }

        framework.roles = roles;
        framework.info = info;
        framework.suppressed_roles = suppressed_roles;
        framework.offer_constraints = offer_constraints;
        framework.reregistered_time = Some(now);

        match framework.connection.clone() {
            // One stream per framework: the old one learns why it is being closed.
            Connection::Connected { conn: old, .. } => {
                info!(framework_id = %id, old_conn = %old, new_conn = %conn, "framework failed over");
                self.connections.remove(&old);
                self.outputs.push_back(Output::Event {
                    conn: old,
                    event: error_event(FRAMEWORK_FAILED_OVER),
                });
                self.outputs.push_back(Output::Close { conn: old });
            }
            Connection::Disconnected {
                failover_deadline, ..
            } => {
                info!(framework_id = %id, %conn, "framework re-subscribed");
                self.failover_deadlines
                    .remove(&(failover_deadline, id.to_string()));
            }
            Connection::Unconnected | Connection::Removed { .. } => {}
        }
        // Seam: outstanding offers and inverse offers are discarded here.
        Ok(())
    }

    fn new_framework_id(&mut self) -> FrameworkId {
        let value = format!(
            "{}-{:04}",
            self.config.master_info.id, self.next_framework_id
        );
        self.next_framework_id += 1;
        FrameworkId { value }
    }

    fn connect(&mut self, conn: ConnectionId, stream_id: String, id: &str) {
        if let Some(framework) = self.frameworks.get_mut(id) {
            framework.connection = Connection::Connected { conn, stream_id };
            // Seam: the allocator learns of (re)activation here.
            framework.active = true;
            self.connections.insert(conn, id.to_string());
        }
    }

    fn refuse(
        &mut self,
        conn: ConnectionId,
        info: &FrameworkInfo,
        message: String,
    ) -> SubscribeOutcome {
        info!(framework = %info.name, %conn, "refusing subscription: {message}");
        self.outputs.push_back(Output::Event {
            conn,
            event: error_event(message.clone()),
        });
        self.outputs.push_back(Output::Close { conn });
        SubscribeOutcome::Refused { message }
    }

    /// `Master::validateFramework`: the stateless checks, then the ones that need the
    /// master: the `--roles` whitelist and the list of removed frameworks.
    fn validate_framework(&self, info: &FrameworkInfo) -> Result<(), String> {
        validation::validate_framework_info(info)?;
        if let Some(whitelist) = &self.config.role_whitelist {
            let refused: BTreeSet<String> = roles::framework_roles(info)
                .into_iter()
                .filter(|role| !whitelist.contains(role))
                .collect();
            if !refused.is_empty() {
                return Err(format!(
                    "Roles {} are not present in the master's --roles",
                    roles::format_set(&refused)
                ));
            }
        }
        if let Some(id) = &info.id
            && self.completed.contains(&id.value)
        {
            return Err(FRAMEWORK_REMOVED.to_string());
        }
        Ok(())
    }

    fn update_framework(
        &mut self,
        id: &str,
        update: call::UpdateFramework,
    ) -> Result<Reply, Rejection> {
        let call::UpdateFramework {
            framework_info: info,
            suppressed_roles,
            offer_constraints,
        } = update;
        self.validate_framework(&info).map_err(|e| {
            Rejection::bad_request(format!("Supplied FrameworkInfo is not valid: {e}"))
        })?;
        let Some(framework) = self.frameworks.get_mut(id) else {
            return Err(Rejection::bad_request(FRAMEWORK_NOT_FOUND));
        };
        validation::validate_update(&framework.info, &info).map_err(|e| {
            Rejection::bad_request(format!("FrameworkInfo update is not valid: {e}"))
        })?;
        let roles = roles::framework_roles(&info);
        let suppressed_roles: BTreeSet<String> = suppressed_roles.into_iter().collect();
        validate_allocation_options(&roles, &suppressed_roles, offer_constraints.as_ref())
            .map_err(|e| {
                Rejection::bad_request(format!("'UpdateFramework' call is not valid: {e}"))
            })?;

        // Seam: offers for roles the framework left are rescinded here.
        framework.info = info;
        framework.roles = roles;
        framework.suppressed_roles = suppressed_roles;
        framework.offer_constraints = offer_constraints;
        info!(framework_id = %id, roles = ?framework.roles, "framework updated");
        Ok(Reply::Ok)
    }

    /// Removes a framework for good: closes its stream, remembers it as completed.
    fn remove_framework(&mut self, now: Time, id: &str) {
        let Some(mut framework) = self.frameworks.remove(id) else {
            return;
        };
        match framework.connection {
            Connection::Connected { conn, .. } => {
                self.connections.remove(&conn);
                self.outputs.push_back(Output::Close { conn });
            }
            Connection::Disconnected {
                failover_deadline, ..
            } => {
                self.failover_deadlines
                    .remove(&(failover_deadline, id.to_string()));
            }
            Connection::Unconnected | Connection::Removed { .. } => {}
        }
        // Seam: agents are told to shut the framework's executors down here.
        framework.connection = Connection::Removed { at: now };
        framework.active = false;
        info!(framework_id = %id, "framework removed");
        self.completed.insert(framework);
    }
}

/// A validated FrameworkInfo with what is derived from it, on its way into a framework.
struct FrameworkUpdate {
    info: FrameworkInfo,
    roles: BTreeSet<String>,
    suppressed_roles: BTreeSet<String>,
    offer_constraints: Option<OfferConstraints>,
}

/// The suppressed roles and offer constraints must only name roles the framework is in
/// (`createAllocatorFrameworkOptions`).
fn validate_allocation_options(
    roles: &BTreeSet<String>,
    suppressed_roles: &BTreeSet<String>,
    offer_constraints: Option<&OfferConstraints>,
) -> Result<(), String> {
    let unknown: BTreeSet<String> = suppressed_roles.difference(roles).cloned().collect();
    if !unknown.is_empty() {
        return Err(format!(
            "Suppressed roles {} are not contained in the set of roles",
            roles::format_set(&unknown)
        ));
    }
    if let Some(constraints) = offer_constraints {
        let mut constrained: Vec<&String> = constraints.role_constraints.keys().collect();
        constrained.sort();
        if let Some(role) = constrained.into_iter().find(|role| !roles.contains(*role)) {
            return Err(format!(
                "Offer constraints specify `role_constraints` for a role '{role}' not \
                 contained in the set of roles"
            ));
        }
    }
    Ok(())
}
