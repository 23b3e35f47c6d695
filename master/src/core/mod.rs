//! The master as a pure state machine: frameworks and their streams.
//!
//! No sockets, timers, threads or clocks here. Inputs arrive through `handle_*` methods,
//! each given the current [`Time`]; what must happen on streams comes out of
//! [`MasterCore::poll_output`], and the next moment the core wants a
//! [`MasterCore::handle_tick`] from [`MasterCore::poll_timeout`]. HTTP answers are the
//! methods' return values. This is what lets every ordering of subscribes, disconnects,
//! failovers and timeouts be tested deterministically.
//!
//! Agents, offers, tasks and executors live here too; the allocator is a
//! [`Allocator`] the core owns and calls synchronously. After a batch of inputs the
//! driver asks [`MasterCore::wants_allocation`] and calls [`MasterCore::allocate`]
//! (and does so every `--allocation_interval` regardless).

mod accept;
mod agent;
mod agent_addresses;
mod agent_health;
mod agent_reregistration;
mod agents;
mod framework;
mod frameworks;
mod invariants;
pub mod launch_validation;
mod null_allocator;
mod offers;
mod operator;
mod operator_events;
mod output;
mod reconcile;
mod registry;
mod removal;
mod removed_agents;
pub mod roles;
mod snapshot;
pub mod status;
mod task;
mod task_fields;
mod tasks;
mod time;
pub mod validation;

#[cfg(test)]
pub(crate) mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use ratufa_proto::v1::scheduler::{Event, OfferConstraints, call};
use ratufa_proto::v1::{FrameworkId, FrameworkInfo, MasterInfo, TimeInfo};
use tracing::{debug, info, warn};

pub use crate::allocator::{Allocation, Allocator};
pub use agent::{Agent, ExecutorEntry, ExecutorKey, TaskKey};
pub use agents::{AGENT_NOT_SUBSCRIBED, AGENT_REMOVED};
pub use framework::{CompletedFrameworks, Connection, ConnectionId, Framework};
pub use null_allocator::NoAllocator;
pub use offers::{DEFAULT_REFUSE_SECONDS, MAX_REFUSE_SECONDS, OfferEntry, refuse_filter};
pub use operator::OperatorChange;
pub use operator_events::OperatorEvent;
pub use output::{
    Output, Rejection, RejectionKind, Reply, SubscribeOutcome, error_event, heartbeat_event,
    subscribed_event,
};
pub use registry::{RegistryOp, RegistryOpId};
pub use snapshot::{AgentSnapshot, Counters, FrameworkSnapshot, StateSnapshot};
pub use task::{FrameworkTasks, TaskEntry};
pub use time::{Time, WallClock, seconds_to_duration};
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
    /// `--agent_ping_timeout`: how often agents are pinged, and how long a PONG may
    /// take.
    pub agent_ping_timeout: Duration,
    /// `--max_agent_ping_timeouts`: missed PONGs in a row before an agent is
    /// unreachable.
    pub max_agent_ping_timeouts: u32,
    /// `--offer_timeout`: offers outstanding this long are rescinded; `None`, never.
    pub offer_timeout: Option<Duration>,
    /// Most offers in one OFFERS event (ratufa's; Mesos sends them all at once).
    pub max_offers_per_event: usize,
    /// `--max_completed_tasks_per_framework`; also bounds unreachable tasks kept.
    pub max_completed_tasks_per_framework: usize,
    /// `--weights`: the role weights the master starts with (the allocator is given
    /// the same); UPDATE_WEIGHTS changes them.
    pub weights: Vec<(String, f64)>,
    /// `--agent_reregister_timeout`: how long agents recovered from the registry have
    /// to re-register before they are marked unreachable.
    pub agent_reregister_timeout: Duration,
    /// `--recovery_agent_removal_limit` as a fraction: more of the recovered agents
    /// missing at `agent_reregister_timeout` than this, and the core gives up its term
    /// ([`Output::RecoveryRemovalLimitExceeded`]) instead of marking them unreachable.
    pub recovery_agent_removal_limit: f64,
    /// `--agent_removal_rate_limit` as the least time between two agents being
    /// marked unreachable; `None` for no limit.
    pub agent_removal_interval: Option<Duration>,
}

/// Mesos's `--agent_ping_timeout` default.
pub const DEFAULT_AGENT_PING_TIMEOUT: Duration = Duration::from_secs(15);
/// Mesos's `--max_agent_ping_timeouts` default.
pub const DEFAULT_MAX_AGENT_PING_TIMEOUTS: u32 = 5;
pub const DEFAULT_MAX_OFFERS_PER_EVENT: usize = 100;
/// Mesos's `--max_completed_tasks_per_framework` default.
pub const DEFAULT_MAX_COMPLETED_TASKS_PER_FRAMEWORK: usize = 1000;
/// Mesos's `--agent_reregister_timeout` default.
pub const DEFAULT_AGENT_REREGISTER_TIMEOUT: Duration = Duration::from_secs(600);

impl Default for CoreConfig {
    /// Mesos's defaults, with an empty MasterInfo (callers set `master_info`).
    fn default() -> Self {
        CoreConfig {
            master_info: MasterInfo::default(),
            heartbeat_interval: Duration::from_secs(15),
            max_completed_frameworks: 50,
            role_whitelist: None,
            agent_ping_timeout: DEFAULT_AGENT_PING_TIMEOUT,
            max_agent_ping_timeouts: DEFAULT_MAX_AGENT_PING_TIMEOUTS,
            offer_timeout: None,
            max_offers_per_event: DEFAULT_MAX_OFFERS_PER_EVENT,
            max_completed_tasks_per_framework: DEFAULT_MAX_COMPLETED_TASKS_PER_FRAMEWORK,
            weights: Vec::new(),
            agent_reregister_timeout: DEFAULT_AGENT_REREGISTER_TIMEOUT,
            recovery_agent_removal_limit: 1.0,
            agent_removal_interval: None,
        }
    }
}

/// The master's state machine.
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
    allocator: Box<dyn Allocator>,
    /// Set by whatever may make new offers possible; cleared by `allocate`.
    allocation_wanted: bool,
    /// Registered agents (connected or not), by id.
    agents: BTreeMap<String, Agent>,
    /// Which agent each open agent-link stream belongs to.
    agent_connections: HashMap<ConnectionId, String>,
    /// Registered and registering agents by address, to know a new agent that is
    /// one already held trying again.
    addresses: agent_addresses::AddressBook,
    /// Agents marked unreachable, with when (on the wall clock: the registry's time,
    /// for agents marked by an earlier leader).
    unreachable_agents: BTreeMap<String, TimeInfo>,
    /// Agents an operator marked gone (MARK_AGENT_GONE), with when (wall clock):
    /// refused forever.
    gone_agents: BTreeMap<String, TimeInfo>,
    /// Agents removed because a new agent registered at their address: refused too,
    /// as long as they are remembered.
    removed_agents: removed_agents::RemovedAgents,
    /// Role weights from `--weights` and UPDATE_WEIGHTS; roles not here weigh 1.
    weights: BTreeMap<String, f64>,
    /// Whether an operator is subscribed: only then are `operator_events` queued.
    operator_watched: bool,
    operator_events: VecDeque<OperatorEvent>,
    next_agent_id: u64,
    /// Agents by when their next PING is due.
    ping_deadlines: BTreeSet<(Time, String)>,
    offers: HashMap<String, OfferEntry>,
    next_offer_id: u64,
    /// Offers by `--offer_timeout` expiry.
    offer_deadlines: BTreeSet<(Time, String)>,
    /// Tasks by framework (including frameworks only agents told of).
    tasks: task::TaskBooks,
    counters: Counters,
    /// What the registry holds and which writes are in flight.
    registry: registry::RegistryBooks,
    /// Where `Time`'s origin is on the wall clock, for the times that leave the core.
    clock: WallClock,
    /// Agents waiting for `--agent_removal_rate_limit` to let them be marked unreachable.
    removals: removal::RemovalQueue,
}

impl std::fmt::Debug for MasterCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterCore")
            .field("master_id", &self.config.master_info.id)
            .field("frameworks", &self.frameworks.len())
            .field("agents", &self.agents.len())
            .field("offers", &self.offers.len())
            .finish_non_exhaustive()
    }
}

impl MasterCore {
    /// A core with no frameworks or agents, offering through `allocator`.
    pub fn new(mut config: CoreConfig, allocator: Box<dyn Allocator>) -> MasterCore {
        if let Some(whitelist) = &mut config.role_whitelist {
            // The default role is always allowed, whatever --roles says.
            whitelist.insert(roles::DEFAULT_ROLE.to_string());
        }
        let completed = CompletedFrameworks::new(config.max_completed_frameworks);
        let weights = config.weights.iter().cloned().collect();
        MasterCore {
            config,
            next_framework_id: 0,
            frameworks: BTreeMap::new(),
            completed,
            connections: HashMap::new(),
            failover_deadlines: BTreeSet::new(),
            outputs: VecDeque::new(),
            allocator,
            allocation_wanted: false,
            agents: BTreeMap::new(),
            agent_connections: HashMap::new(),
            addresses: agent_addresses::AddressBook::default(),
            unreachable_agents: BTreeMap::new(),
            gone_agents: BTreeMap::new(),
            removed_agents: removed_agents::RemovedAgents::default(),
            weights,
            operator_watched: false,
            operator_events: VecDeque::new(),
            next_agent_id: 0,
            ping_deadlines: BTreeSet::new(),
            offers: HashMap::new(),
            next_offer_id: 0,
            offer_deadlines: BTreeSet::new(),
            tasks: task::TaskBooks::new(),
            counters: Counters::default(),
            registry: registry::RegistryBooks::default(),
            clock: WallClock::default(),
            removals: removal::RemovalQueue::default(),
        }
    }

    /// Tells the core where its `Time` origin falls on the wall clock (the driver
    /// does, when it picks the origin): statuses, the registry and snapshots then
    /// carry wall-clock times.
    pub fn set_wall_clock(&mut self, clock: WallClock) {
        self.clock = clock;
    }

    /// `now` on the wall clock, as Mesos's statuses and registry carry times.
    pub(crate) fn wall_time(&self, now: Time) -> TimeInfo {
        self.clock.time_info(now)
    }

    /// `now` as the `timestamp` of a status the master writes: seconds since the epoch.
    pub(crate) fn status_timestamp(&self, now: Time) -> f64 {
        self.clock.seconds(now)
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

    /// When the core next wants [`handle_tick`](Self::handle_tick), if ever: a
    /// failover timeout, a PING, an offer timeout, a decline filter expiring, or
    /// `--agent_reregister_timeout` after recovery.
    pub fn poll_timeout(&self) -> Option<Time> {
        [
            self.failover_deadlines.first().map(|(t, _)| *t),
            self.ping_deadlines.first().map(|(t, _)| *t),
            self.offer_deadlines.first().map(|(t, _)| *t),
            self.allocator.next_wakeup(),
            self.reregister_deadline(),
            self.next_removal(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Sends an event to a framework if it is connected; returns whether it was.
    pub(crate) fn send_event(&mut self, framework_id: &str, event: Event) -> bool {
        match self
            .frameworks
            .get(framework_id)
            .and_then(|f| f.connection_id())
        {
            Some(conn) => {
                self.outputs.push_back(Output::Event { conn, event });
                true
            }
            None => false,
        }
    }

    pub fn framework(&self, id: &str) -> Option<&Framework> {
        self.frameworks.get(id)
    }

    /// Whether a known framework has PARTITION_AWARE (unknown ones have not): decides
    /// between LOST and UNREACHABLE/DROPPED/GONE in the updates the master writes.
    pub(crate) fn is_partition_aware(&self, framework_id: &str) -> bool {
        self.frameworks
            .get(framework_id)
            .is_some_and(|f| roles::is_partition_aware(&f.info))
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
        let added = id.is_empty() || !self.frameworks.contains_key(&id);
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
        self.notify_framework(&framework_id.value, added);
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
            FrameworkCall::UpdateFramework(update) => self.update_framework(now, id, update),
            FrameworkCall::Accept(accept) => self.accept(now, id, accept),
            FrameworkCall::Decline(decline) => Ok(self.decline(now, id, decline)),
            FrameworkCall::Revive(revive) => self.revive_or_suppress(id, revive.roles, true),
            FrameworkCall::Suppress(suppress) => self.revive_or_suppress(id, suppress.roles, false),
            FrameworkCall::Kill(kill) => Ok(self.kill(now, id, kill)),
            FrameworkCall::Shutdown(shutdown) => Ok(self.shutdown_executor(id, shutdown)),
            FrameworkCall::Acknowledge(ack) => {
                self.counters.messages_status_update_acknowledgement += 1;
                Ok(self.acknowledge(now, id, ack))
            }
            FrameworkCall::Reconcile(reconcile) => Ok(self.reconcile(now, id, reconcile)),
            FrameworkCall::Message(message) => Ok(self.framework_message(id, message)),
            FrameworkCall::Request(request) => {
                // Mesos passes requests to an allocator that ignores them.
                self.counters.messages_resource_request += 1;
                info!(framework_id = %id, requests = request.requests.len(), "ignoring resource request");
                Ok(Reply::Accepted)
            }
            // There are no inverse offers (maintenance comes later): every id is
            // invalid, which Mesos answers by dropping the call.
            FrameworkCall::AcceptInverseOffers(_) | FrameworkCall::DeclineInverseOffers(_) => {
                warn!(framework_id = %id, "ignoring inverse offer call: no inverse offers are outstanding");
                Ok(Reply::Accepted)
            }
            FrameworkCall::Unknown => Err(Rejection::not_implemented(
                "Call type 'UNKNOWN' is not implemented: set 'type' to a call type",
            )),
            other @ (FrameworkCall::AcknowledgeOperationStatus(_)
            | FrameworkCall::ReconcileOperations(_)) => Err(Rejection::not_implemented(format!(
                "'{}' calls are not implemented yet: this master has no offer operations \
                 other than LAUNCH and LAUNCH_GROUP",
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
        framework.active = false;
        self.failover_deadlines
            .insert((failover_deadline, id.clone()));
        info!(framework_id = %id, %conn, failover_timeout = ?timeout, "framework disconnected");
        self.allocator
            .deactivate_framework(&FrameworkId { value: id.clone() });
        self.rescind_framework_offers(now, &id);
        self.notify_framework(&id, false);
    }

    /// Time passed: remove frameworks whose failover timeout ran out, ping agents
    /// (marking those that stopped answering unreachable), rescind timed-out offers,
    /// and note expired decline filters as a reason to allocate.
    pub fn handle_tick(&mut self, now: Time) {
        while let Some((deadline, id)) = self.failover_deadlines.first().cloned() {
            if deadline > now {
                break;
            }
            self.failover_deadlines.remove(&(deadline, id.clone()));
            info!(framework_id = %id, "framework failover timeout, removing framework");
            self.remove_framework(now, &id);
        }
        self.ping_agents(now);
        self.expire_recovered_agents(now);
        self.release_removals(now);
        self.expire_offers(now);
        if self.allocator.next_wakeup().is_some_and(|t| t <= now) {
            self.allocation_wanted = true;
        }
    }

    /// REVIVE (`revive`) or SUPPRESS: the roles must be the framework's; none means
    /// all of them.
    fn revive_or_suppress(
        &mut self,
        id: &str,
        asked: Vec<String>,
        revive: bool,
    ) -> Result<Reply, Rejection> {
        let verb = if revive { "revive" } else { "suppression" };
        let Some(framework) = self.frameworks.get_mut(id) else {
            return Err(Rejection::bad_request(FRAMEWORK_NOT_FOUND));
        };
        // Mesos drops such a call after answering 202; a 400 says what is wrong.
        for role in &asked {
            roles::validate_role(role).map_err(|e| {
                Rejection::bad_request(format!("{verb} role '{role}' is invalid: {e}"))
            })?;
            if !framework.roles.contains(role) {
                return Err(Rejection::bad_request(format!(
                    "{verb} role '{role}' is not one of the framework's subscribed roles"
                )));
            }
        }
        let affected: Vec<String> = if asked.is_empty() {
            framework.roles.iter().cloned().collect()
        } else {
            asked.clone()
        };
        let framework_id = FrameworkId {
            value: id.to_string(),
        };
        if revive {
            self.counters.messages_revive_offers += 1;
            for role in &affected {
                framework.suppressed_roles.remove(role);
            }
            self.allocator.revive(&framework_id, &asked);
            self.allocation_wanted = true;
        } else {
            self.counters.messages_suppress_offers += 1;
            framework.suppressed_roles.extend(affected);
            self.allocator.suppress(&framework_id, &asked);
        }
        info!(framework_id = %id, roles = ?asked, revive, "offers {}", if revive { "revived" } else { "suppressed" });
        Ok(Reply::Accepted)
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
