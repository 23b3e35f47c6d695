//! [`MasterHandle`]: the cheap, clonable way into a running master.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use ratufa_gateway::Tls;
use ratufa_gateway::{OperatorRealms, Realm};
use ratufa_proto::ratufa::agentlink;
use ratufa_proto::v1::scheduler::{Event, call};
use ratufa_proto::v1::{AgentId, FrameworkId, MasterInfo};
use ratufa_zk::LeadershipCheck;
use tokio::sync::mpsc::{self, UnboundedSender};
use tokio::sync::{oneshot, watch};

use crate::allocator::{AllocatorConfig, HierarchicalDrf};
use crate::core::{
    CoreConfig, FrameworkCall, MasterCore, OperatorChange, OperatorEvent, Rejection, Reply,
    StateSnapshot, SubscribeOutcome,
};
use crate::driver::{Command, Driver};
use crate::master_info;
use crate::registry::{Registrar, SharedStore};
use crate::{MasterConfig, MasterError};

/// The driver task is gone (the master is shutting down).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the master is shutting down")]
pub struct Stopped;

/// A running master. Clones share the one driver task; the task stops when the last
/// clone is dropped or [`MasterHandle::shutdown`] is called.
#[derive(Clone)]
pub struct MasterHandle {
    inner: Arc<Inner>,
}

/// One open operator SUBSCRIBE stream, counted while held
/// ([`MasterHandle::operator_subscriber_slot`]).
#[derive(Debug)]
pub struct OperatorSubscriberSlot(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for OperatorSubscriberSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

struct Inner {
    /// The core of the current term; replaced by [`MasterHandle::restart_core`].
    term: RwLock<Term>,
    /// What a fresh core is built from.
    settings: CoreSettings,
    heartbeat_interval: Duration,
    max_body_bytes: usize,
    /// Operator SUBSCRIBE streams open now, and how many may be.
    operator_subscribers: Arc<std::sync::atomic::AtomicUsize>,
    max_operator_subscribers: usize,
    leader_proxy: bool,
    tls: Option<Tls>,
    /// The scheduler API's realm, when `--authenticate_http_frameworks` is on.
    scheduler_realm: Option<Realm>,
    /// The operator endpoints' realms, each when its flag is on.
    operator_realms: OperatorRealms,
    /// When this master process started (each term's core has its own origin).
    started_at: SystemTime,
    /// The flags as `/master/state` shows them: Mesos's names, values as text.
    flags: Vec<(String, String)>,
    /// Why this master must exit, once something said so ([`MasterHandle::fail`]).
    fatal: std::sync::Mutex<Option<MasterError>>,
    fatal_said: tokio::sync::Notify,
}

struct Term {
    commands: mpsc::Sender<Command>,
    master_info: MasterInfo,
    /// Set when the term is swapped out, ahead of the Shutdown queued behind what
    /// its driver still has to handle: a driver waking from a stall reads it first.
    ended: watch::Sender<bool>,
}

struct CoreSettings {
    core: CoreConfig,
    allocator: AllocatorConfig,
    allocation_interval: Duration,
}

/// A leading term's registry, who hears if it cannot be written, and (with
/// ZooKeeper) how to ask whether the term still stands.
type Persistence = (
    Registrar<SharedStore>,
    oneshot::Sender<MasterError>,
    Option<LeadershipCheck>,
);

impl CoreSettings {
    /// A fresh core as `info`, on its own driver task; with `persistence`, recovered
    /// from its registry and writing through it.
    fn spawn_driver(
        &self,
        info: MasterInfo,
        persistence: Option<Persistence>,
    ) -> (mpsc::Sender<Command>, watch::Sender<bool>) {
        let mut allocator = self.allocator.clone();
        let mut config = CoreConfig {
            master_info: info,
            ..self.core.clone()
        };
        if let Some((registrar, _, _)) = &persistence {
            let stored = &registrar.registry().weights;
            // Weights in the registry were set through the operator API after --weights
            // first applied: they win over the flag, as in Mesos.
            if !stored.is_empty() {
                allocator.weights = stored.iter().map(|w| (w.role.clone(), w.weight)).collect();
                config.weights = allocator.weights.clone();
            }
        }
        let core = MasterCore::new(config, Box::new(HierarchicalDrf::new(allocator)));
        let (ended, ending) = watch::channel(false);
        let (mut driver, commands) = Driver::new(core, self.allocation_interval);
        driver = driver.ending_with(ending);
        if let Some((registrar, failed, check)) = persistence {
            driver = driver.with_registry(registrar, failed).checking_with(check);
        }
        tokio::spawn(driver.run());
        (commands, ended)
    }
}

impl Inner {
    // A poisoned lock only means a panic elsewhere while swapping two fields; the
    // term it holds is whole either way.
    fn read_term(&self) -> std::sync::RwLockReadGuard<'_, Term> {
        self.term
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write_term(&self) -> std::sync::RwLockWriteGuard<'_, Term> {
        self.term
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl std::fmt::Debug for MasterHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterHandle")
            .field("master_id", &self.inner.read_term().master_info.id)
            .finish_non_exhaustive()
    }
}

impl MasterHandle {
    /// Starts the master's driver task on the current tokio runtime (panics outside
    /// one, as `tokio::spawn` does). The advertised address comes from the config;
    /// use [`serve`](crate::serve) to advertise the address of a listener.
    pub fn start(config: MasterConfig) -> MasterHandle {
        Self::start_at(config, None)
    }

    pub(crate) fn start_at(config: MasterConfig, bound: Option<SocketAddr>) -> MasterHandle {
        let advertised = master_info::advertised(&config, bound);
        let info = master_info::master_info(uuid::Uuid::new_v4().to_string(), &advertised);
        let settings = CoreSettings {
            core: CoreConfig {
                master_info: info.clone(),
                heartbeat_interval: config.heartbeat_interval,
                max_completed_frameworks: config.max_completed_frameworks,
                role_whitelist: config
                    .roles
                    .as_ref()
                    .map(|roles| roles.iter().cloned().collect::<BTreeSet<_>>()),
                agent_ping_timeout: config.agent_ping_timeout,
                max_agent_ping_timeouts: config.max_agent_ping_timeouts,
                offer_timeout: config.offer_timeout,
                max_offers_per_event: config.max_offers_per_event,
                max_completed_tasks_per_framework: config.max_completed_tasks_per_framework,
                weights: config.weights.clone(),
                agent_reregister_timeout: config.agent_reregister_timeout,
                recovery_agent_removal_limit: config.recovery_agent_removal_limit.fraction(),
                agent_removal_interval: config
                    .agent_removal_rate_limit
                    .as_ref()
                    .map(crate::removal_flags::RemovalRate::interval),
            },
            allocator: AllocatorConfig {
                min_allocatable_resources: config.min_allocatable_resources.clone(),
                weights: config.weights.clone(),
            },
            allocation_interval: config.allocation_interval,
        };
        let (commands, ended) = settings.spawn_driver(info.clone(), None);
        let started_at = SystemTime::now();
        tracing::info!(
            master_id = %info.id,
            pid = info.pid.as_deref().unwrap_or(""),
            hostname = info.hostname.as_deref().unwrap_or(""),
            "master started"
        );
        MasterHandle {
            inner: Arc::new(Inner {
                term: RwLock::new(Term {
                    commands,
                    master_info: info,
                    ended,
                }),
                settings,
                heartbeat_interval: config.heartbeat_interval,
                max_body_bytes: config.max_body_bytes,
                operator_subscribers: Arc::default(),
                max_operator_subscribers: config.max_operator_event_stream_subscribers,
                leader_proxy: config.leader_proxy,
                tls: config.tls.clone(),
                scheduler_realm: config.authenticate_http_frameworks.then(|| {
                    Realm::new(
                        crate::http::SCHEDULER_REALM,
                        Arc::new(config.credentials.clone().unwrap_or_default()),
                    )
                }),
                operator_realms: OperatorRealms::new(
                    (crate::http::READONLY_REALM, crate::http::READWRITE_REALM),
                    config.authenticate_http_readonly,
                    config.authenticate_http_readwrite,
                    config.credentials.as_ref(),
                ),
                started_at,
                flags: config.flags(),
                fatal: std::sync::Mutex::new(None),
                fatal_said: tokio::sync::Notify::new(),
            }),
        }
    }

    /// A MasterInfo for a new term of this master: the same address, a new id (so
    /// that the ids it hands out can never be confused with an earlier term's).
    pub fn next_master_info(&self) -> MasterInfo {
        let mut info = self.master_info();
        info.id = uuid::Uuid::new_v4().to_string();
        info
    }

    /// Drops the core and everything it knew (every stream is closed) and starts a
    /// fresh one as `info`. A master that stops leading does this at once, and again
    /// when it starts leading, so no state of an earlier term is ever acted on.
    pub async fn restart_core(&self, info: MasterInfo) {
        let (commands, ended) = self.inner.settings.spawn_driver(info.clone(), None);
        self.swap_term(commands, ended, info).await;
    }

    /// Starts a term of leadership as `info`: reads the registry from `store`, then
    /// swaps in a fresh core recovered from it, which writes every change through it.
    /// Until this returns, the caller must not serve (Mesos's "recovering"). The
    /// receiver hears why if the registry later cannot be written: the term is then
    /// over (its core has stopped), and the master must step down. With `check`
    /// (ZooKeeper), a core waking from a stall asks it whether the term still stands.
    pub async fn lead(
        &self,
        info: MasterInfo,
        store: SharedStore,
        check: Option<LeadershipCheck>,
    ) -> Result<oneshot::Receiver<MasterError>, MasterError> {
        let mut registrar = Registrar::recover(store).await?;
        registrar.claim(info.clone()).await?;
        let (failed, failure) = oneshot::channel();
        let (commands, ended) = self
            .inner
            .settings
            .spawn_driver(info.clone(), Some((registrar, failed, check)));
        self.swap_term(commands, ended, info).await;
        Ok(failure)
    }

    async fn swap_term(
        &self,
        commands: mpsc::Sender<Command>,
        ended: watch::Sender<bool>,
        info: MasterInfo,
    ) {
        let old = {
            let mut term = self.inner.write_term();
            std::mem::replace(
                &mut *term,
                Term {
                    commands,
                    master_info: info,
                    ended,
                },
            )
        };
        // A driver waking from a stall sees this before what it had queued.
        old.ended.send_replace(true);
        // Otherwise the old driver ends after what it already had queued; its streams
        // close.
        let _ = old.commands.send(Command::Shutdown).await;
    }

    /// The MasterInfo this master advertises.
    pub fn master_info(&self) -> MasterInfo {
        self.inner.read_term().master_info.clone()
    }

    pub fn heartbeat_interval(&self) -> Duration {
        self.inner.heartbeat_interval
    }

    pub fn max_body_bytes(&self) -> usize {
        self.inner.max_body_bytes
    }

    /// A place for one more operator SUBSCRIBE stream, held until the stream ends;
    /// none when `--max_operator_event_stream_subscribers` are open already.
    pub fn operator_subscriber_slot(&self) -> Option<OperatorSubscriberSlot> {
        use std::sync::atomic::Ordering;
        let count = &self.inner.operator_subscribers;
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < self.inner.max_operator_subscribers).then_some(open + 1)
            })
            .ok()?;
        Some(OperatorSubscriberSlot(count.clone()))
    }

    /// Operator SUBSCRIBE streams open now.
    pub fn operator_subscribers(&self) -> usize {
        self.inner
            .operator_subscribers
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// `--max_operator_event_stream_subscribers`.
    pub fn max_operator_subscribers(&self) -> usize {
        self.inner.max_operator_subscribers
    }

    /// This master's TLS, when it serves https.
    pub fn tls(&self) -> Option<&Tls> {
        self.inner.tls.as_ref()
    }

    /// Where clients reach this master: its advertised `scheme://host:port`.
    pub fn base_url(&self) -> String {
        crate::contention::base_url(&self.master_info(), self.tls())
    }

    /// Whether a non-leading master forwards to the leader (`--leader_proxy`).
    pub fn leader_proxy(&self) -> bool {
        self.inner.leader_proxy
    }

    /// The scheduler API's realm, when HTTP frameworks must authenticate.
    pub(crate) fn scheduler_realm(&self) -> Option<&Realm> {
        self.inner.scheduler_realm.as_ref()
    }

    /// The realms of the operator endpoints.
    pub(crate) fn operator_realms(&self) -> &OperatorRealms {
        &self.inner.operator_realms
    }

    /// Hands a validated SUBSCRIBE to the core. Its events go to `events`; the core
    /// drops that sender when it closes the stream.
    pub async fn subscribe(
        &self,
        subscribe: call::Subscribe,
        principal: Option<String>,
        stream_id: String,
        events: UnboundedSender<Event>,
    ) -> Result<SubscribeOutcome, Stopped> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Subscribe {
            subscribe,
            principal,
            stream_id,
            events,
            reply,
        })
        .await?;
        answer.await.map_err(|_| Stopped)
    }

    /// Hands a validated non-SUBSCRIBE call to the core.
    pub async fn call(
        &self,
        framework_id: FrameworkId,
        call: FrameworkCall,
        principal: Option<String>,
        stream_id: Option<String>,
    ) -> Result<Result<Reply, Rejection>, Stopped> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Call {
            framework_id,
            call,
            principal,
            stream_id,
            reply,
        })
        .await?;
        answer.await.map_err(|_| Stopped)
    }

    /// Hands an agent's SUBSCRIBE to the core; its commands go to `commands`.
    pub async fn agent_subscribe(
        &self,
        subscribe: agentlink::call::Subscribe,
        stream_id: String,
        commands: UnboundedSender<Box<agentlink::Command>>,
    ) -> Result<Result<AgentId, Rejection>, Stopped> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::AgentSubscribe {
            subscribe: Box::new(subscribe),
            stream_id,
            commands,
            reply,
        })
        .await?;
        answer.await.map_err(|_| Stopped)
    }

    /// Hands another agent-link call, made on the stream `stream_id`, to the core.
    pub async fn agent_call(
        &self,
        call: agentlink::Call,
        stream_id: String,
    ) -> Result<Result<Reply, Rejection>, Stopped> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::AgentCall {
            call: Box::new(call),
            stream_id,
            reply,
        })
        .await?;
        answer.await.map_err(|_| Stopped)
    }

    /// Hands an operator's change (MARK_AGENT_GONE, UPDATE_WEIGHTS, TEARDOWN) to the
    /// core.
    pub async fn operator(
        &self,
        change: OperatorChange,
    ) -> Result<Result<Reply, Rejection>, Stopped> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Operator { change, reply }).await?;
        answer.await.map_err(|_| Stopped)
    }

    /// An operator's SUBSCRIBE: operator events go to `events` from the moment of the
    /// returned state on; dropping the receiver ends the subscription.
    pub async fn operator_subscribe(
        &self,
        events: UnboundedSender<OperatorEvent>,
    ) -> Result<StateSnapshot, Stopped> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::OperatorSubscribe { events, reply })
            .await?;
        answer.await.map_err(|_| Stopped)
    }

    /// A copy of the master's state, taken between two inputs.
    pub async fn snapshot(&self) -> Result<StateSnapshot, Stopped> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Snapshot { reply }).await?;
        answer.await.map_err(|_| Stopped)
    }

    /// When this master process started.
    pub fn started_at(&self) -> SystemTime {
        self.inner.started_at
    }

    /// The master's flags, by Mesos's names.
    pub fn flags(&self) -> &[(String, String)] {
        &self.inner.flags
    }

    /// Ends this master for `error` (one that [`MasterError::is_fatal`]): whoever
    /// serves it stops and returns the error.
    pub(crate) fn fail(&self, error: MasterError) {
        tracing::error!(%error, "the master must exit");
        *self
            .inner
            .fatal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(error);
        self.inner.fatal_said.notify_one();
    }

    /// Resolves once [`fail`](Self::fail) is called.
    pub(crate) async fn failed(&self) {
        self.inner.fatal_said.notified().await;
    }

    /// Why the master must exit, if it must.
    pub(crate) fn take_failure(&self) -> Option<MasterError> {
        self.inner
            .fatal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// Closes every stream and stops the driver. Calls after this get [`Stopped`].
    pub async fn shutdown(&self) {
        let _ = self.send(Command::Shutdown).await;
    }

    async fn send(&self, command: Command) -> Result<(), Stopped> {
        let commands = self.inner.read_term().commands.clone();
        commands.send(command).await.map_err(|_| Stopped)
    }
}
