//! The IO around the core: one tokio task owns the [`MasterCore`] and is the only
//! thing that touches it. HTTP handlers send it [`Command`]s and await a oneshot
//! reply; it turns the core's outputs into events (scheduler streams) and commands
//! (agent-link streams) on each stream's sender, notices streams whose client went
//! away, ticks the core when it asks for it, and runs the allocator: after every batch
//! of inputs that changed something (so offers go out as soon as resources free up)
//! and every `--allocation_interval` as a backstop.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::time::Duration;

use ratufa_proto::ratufa::agentlink;
use ratufa_proto::v1::scheduler::{Event, call};
use ratufa_proto::v1::{AgentId, FrameworkId};
use ratufa_zk::LeadershipCheck;
use tokio::sync::mpsc::{self, UnboundedSender, WeakSender};
use tokio::sync::{oneshot, watch};
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tracing::{debug, info, warn};

use crate::MasterError;
use crate::core::{
    ConnectionId, FrameworkCall, MasterCore, OperatorChange, OperatorEvent, Output, RegistryOp,
    RegistryOpId, Rejection, Reply, StateSnapshot, SubscribeOutcome, Time, WallClock,
};
use crate::registry::{Registrar, SharedStore};
use crate::stall::{self, StallWatch};

/// How many commands may wait for the driver before handlers wait to send. Each HTTP
/// request holds at most one, so this bounds memory, not concurrency.
pub const COMMAND_QUEUE: usize = 4096;

/// The most commands handled before the driver allocates and flushes: large enough
/// that a burst of calls (an ACCEPT storm, many status updates) costs one allocation
/// cycle, small enough that streams are not starved while a queue drains.
const BATCH: usize = 1024;

/// A request to the driver task.
#[derive(Debug)]
pub enum Command {
    Subscribe {
        subscribe: call::Subscribe,
        principal: Option<String>,
        stream_id: String,
        /// The stream's sender; dropping it ends the response body.
        events: UnboundedSender<Event>,
        reply: oneshot::Sender<SubscribeOutcome>,
    },
    Call {
        framework_id: FrameworkId,
        call: FrameworkCall,
        principal: Option<String>,
        stream_id: Option<String>,
        reply: oneshot::Sender<Result<Reply, Rejection>>,
    },
    /// An agent's SUBSCRIBE on the agent link; `commands` carries its stream.
    AgentSubscribe {
        subscribe: Box<agentlink::call::Subscribe>,
        stream_id: String,
        commands: UnboundedSender<Box<agentlink::Command>>,
        reply: oneshot::Sender<Result<AgentId, Rejection>>,
    },
    /// Any other agent-link call, on the stream named by `stream_id`.
    AgentCall {
        call: Box<agentlink::Call>,
        stream_id: String,
        reply: oneshot::Sender<Result<Reply, Rejection>>,
    },
    /// An operator's change (`/api/v1`).
    Operator {
        change: OperatorChange,
        reply: oneshot::Sender<Result<Reply, Rejection>>,
    },
    /// An operator's SUBSCRIBE: `events` gets every operator event from now on; the
    /// reply is the state they start from.
    OperatorSubscribe {
        events: UnboundedSender<OperatorEvent>,
        reply: oneshot::Sender<StateSnapshot>,
    },
    /// A copy of the state for the read-only endpoints.
    Snapshot {
        reply: oneshot::Sender<StateSnapshot>,
    },
    /// The client of stream `ConnectionId` went away (sent by the stream's watcher).
    StreamClosed(ConnectionId),
    /// The registry writer wrote these operations (from the writer task).
    RegistryWritten(Vec<RegistryOpId>),
    /// The registry could not be written: this master must stop acting as leader.
    RegistryFailed(MasterError),
    /// Close every stream and stop.
    Shutdown,
}

/// An open stream: its sender, and the handle that stops its watcher. Dropping this
/// drops both, which is what closes the stream.
struct Stream {
    sink: Sink,
    _stop_watcher: oneshot::Sender<()>,
}

/// Where a stream's messages go: a scheduler's events or an agent's commands.
enum Sink {
    Scheduler(UnboundedSender<Event>),
    Agent {
        commands: UnboundedSender<Box<agentlink::Command>>,
        stream_id: String,
    },
}

impl Sink {
    fn is_agent(&self) -> bool {
        matches!(self, Sink::Agent { .. })
    }
}

pub struct Driver {
    core: MasterCore,
    commands: mpsc::Receiver<Command>,
    /// Given to watchers so that they can report closed streams without keeping the
    /// command channel (and so the driver) alive.
    weak_commands: WeakSender<Command>,
    streams: HashMap<ConnectionId, Stream>,
    /// Agent-link streams by their `Mesos-Stream-Id`, which the agent's calls carry.
    agent_streams: HashMap<String, ConnectionId>,
    next_conn: u64,
    /// The origin of the core's [`Time`].
    origin: Instant,
    allocation_interval: Duration,
    /// Operator API subscribers (SUBSCRIBE on `/api/v1`).
    operator_streams: Vec<UnboundedSender<OperatorEvent>>,
    /// Where the core's registry operations go, when this core persists them.
    registry: Option<UnboundedSender<(RegistryOpId, RegistryOp)>>,
    /// Told why, if the registry cannot be written (the term is then over).
    registry_failed: Option<oneshot::Sender<MasterError>>,
    /// Operator calls answered once their (last) registry operation is written.
    waiting: HashMap<RegistryOpId, oneshot::Sender<Result<Reply, Rejection>>>,
    /// Turns true when this driver's term is over (another term swapped in): checked
    /// after a stall, before acting on anything from before it.
    ended: Option<watch::Receiver<bool>>,
    /// With ZooKeeper: asks it whether this term's node still leads (after a stall).
    check: Option<LeadershipCheck>,
}

/// After a stall, whether the term is still on: ZooKeeper says so when there is a
/// `check`; otherwise the rest of the process is given time to catch up with what
/// happened meanwhile (a deposal ends the term from outside).
async fn still_on_after_stall(
    master_id: String,
    ended: Option<watch::Receiver<bool>>,
    check: Option<LeadershipCheck>,
) -> bool {
    let confirmed = match check {
        Some(check) => {
            warn!(
                %master_id,
                "this process did not run for a while: asking ZooKeeper whether this term still stands before acting"
            );
            let answer = tokio::time::timeout(stall::CHECK_LIMIT, check.still_leading()).await;
            if answer.is_err() {
                warn!(%master_id, limit = ?stall::CHECK_LIMIT, "no word from ZooKeeper in time");
            }
            answer.unwrap_or(false)
        }
        None => {
            warn!(
                %master_id,
                settle = ?stall::SETTLE,
                "this process did not run for a while: checking the term is still on before acting"
            );
            tokio::time::sleep(stall::SETTLE).await;
            true
        }
    };
    let ended = ended.is_some_and(|e| *e.borrow());
    if ended || !confirmed {
        warn!(%master_id, "the term ended during the stall: stopping without acting");
    }
    confirmed && !ended
}

/// What woke the driver. Lives on the stack for one step: boxing the command would
/// cost an allocation per command for nothing.
#[allow(clippy::large_enum_variant)]
enum Wake {
    Command(Option<Command>),
    Tick,
    Backstop,
}

impl Driver {
    /// A driver for `core`, and the sender that feeds it.
    pub fn new(
        mut core: MasterCore,
        allocation_interval: Duration,
    ) -> (Driver, mpsc::Sender<Command>) {
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        let origin = Instant::now();
        // Read together, so that the core's times and the wall clock agree.
        core.set_wall_clock(WallClock::with_origin_at(std::time::SystemTime::now()));
        let driver = Driver {
            core,
            commands: rx,
            weak_commands: tx.downgrade(),
            streams: HashMap::new(),
            agent_streams: HashMap::new(),
            next_conn: 0,
            origin,
            allocation_interval,
            operator_streams: Vec::new(),
            registry: None,
            registry_failed: None,
            waiting: HashMap::new(),
            ended: None,
            check: None,
        };
        (driver, tx)
    }

    /// Makes this driver stop, rather than act, when it wakes from a stall to find
    /// `ended` true: its term was ended meanwhile (a frozen leader was deposed).
    pub fn ending_with(mut self, ended: watch::Receiver<bool>) -> Driver {
        self.ended = Some(ended);
        self
    }

    /// Makes this driver ask ZooKeeper through `check`, when it wakes from a stall,
    /// whether its term still stands; it stops, rather than act, if not.
    pub fn checking_with(mut self, check: Option<LeadershipCheck>) -> Driver {
        self.check = check;
        self
    }

    /// Makes this driver's core persist through `registrar`, recovering the core from
    /// it first. `failed` hears why if a write fails, after which the driver stops.
    pub fn with_registry(
        mut self,
        registrar: Registrar<SharedStore>,
        failed: oneshot::Sender<MasterError>,
    ) -> Driver {
        let now = self.now();
        self.core.recover_registry(now, registrar.registry());
        self.registry = Some(crate::registry::writer::spawn(
            registrar,
            self.weak_commands.clone(),
        ));
        self.registry_failed = Some(failed);
        self
    }

    fn now(&self) -> Time {
        Time::from_origin(Instant::now().saturating_duration_since(self.origin))
    }

    fn instant(&self, time: Time) -> Option<Instant> {
        self.origin.checked_add(time.since_origin())
    }

    /// Runs until [`Command::Shutdown`] or until every sender is gone.
    pub async fn run(mut self) {
        info!(master_id = %self.core.master_info().id, "master driver started");
        let mut backstop = allocation_ticker(self.allocation_interval);
        let mut stalls = StallWatch::start();
        'run: loop {
            let wake = self.core.poll_timeout().and_then(|t| self.instant(t));
            let woke = tokio::select! {
                command = self.commands.recv() => Wake::Command(command),
                () = sleep_until(wake) => Wake::Tick,
                _ = backstop.tick() => Wake::Backstop,
            };
            if stalls.stalled() {
                let master_id = self.core.master_info().id.clone();
                if !still_on_after_stall(master_id, self.ended.clone(), self.check.clone()).await {
                    break;
                }
            }
            match woke {
                Wake::Command(command) => {
                    let Some(command) = command else { break };
                    if self.handle(command).is_break() {
                        break;
                    }
                    // Whatever else is already queued joins this batch.
                    for _ in 1..BATCH {
                        let Ok(command) = self.commands.try_recv() else {
                            break;
                        };
                        if self.handle(command).is_break() {
                            break 'run;
                        }
                    }
                }
                Wake::Tick => {
                    let now = self.now();
                    self.core.handle_tick(now);
                }
                Wake::Backstop => {
                    let now = self.now();
                    self.core.allocate(now);
                }
            }
            if self.core.wants_allocation() {
                let now = self.now();
                self.core.allocate(now);
            }
            if self.flush().is_break() {
                break;
            }
        }
        // Dropping the streams ends every response body, so a graceful HTTP shutdown
        // is not held up by subscriptions that would otherwise never finish.
        info!(streams = self.streams.len(), "master driver stopping");
        self.streams.clear();
        self.agent_streams.clear();
    }

    /// Hands one command to the core; `Break` when the driver must stop.
    fn handle(&mut self, command: Command) -> ControlFlow<()> {
        let now = self.now();
        match command {
            Command::Subscribe {
                subscribe,
                principal,
                stream_id,
                events,
                reply,
            } => {
                let conn = self.new_conn();
                self.open_stream(conn, Sink::Scheduler(events));
                let outcome = self.core.handle_subscribe(
                    now,
                    conn,
                    stream_id,
                    principal.as_deref(),
                    subscribe,
                );
                // The handler may have given up (client gone); the stream's watcher
                // reports that on its own.
                let _ = reply.send(outcome);
            }
            Command::Call {
                framework_id,
                call,
                principal,
                stream_id,
                reply,
            } => {
                debug!(framework_id = %framework_id.value, call = call.type_name(), "call");
                let result = self.core.handle_call(
                    now,
                    &framework_id,
                    call,
                    principal.as_deref(),
                    stream_id.as_deref(),
                );
                let _ = reply.send(result);
            }
            Command::AgentSubscribe {
                subscribe,
                stream_id,
                commands,
                reply,
            } => {
                let conn = self.new_conn();
                self.agent_streams.insert(stream_id.clone(), conn);
                self.open_stream(
                    conn,
                    Sink::Agent {
                        commands,
                        stream_id,
                    },
                );
                let result = self.core.handle_agent_subscribe(now, conn, *subscribe);
                let _ = reply.send(result);
            }
            Command::AgentCall {
                call,
                stream_id,
                reply,
            } => {
                let result = match self.agent_streams.get(&stream_id) {
                    Some(conn) => self.core.handle_agent_call(now, *conn, *call),
                    // Not a stream of ours (any more): the agent must subscribe again.
                    None => Err(Rejection::forbidden(format!(
                        "Agent is not subscribed: no agent-link stream '{stream_id}'"
                    ))),
                };
                let _ = reply.send(result);
            }
            Command::Operator { change, reply } => {
                let before = self.core.registry_ops_requested();
                let result = self.core.handle_operator(now, change);
                let after = self.core.registry_ops_requested();
                // A change that must be persisted is answered once written: ops are
                // written in order, so once its last one is, all of them are.
                match (&self.registry, result) {
                    (Some(_), Ok(_)) if after > before => {
                        self.waiting.insert(after - 1, reply);
                    }
                    (_, result) => {
                        let _ = reply.send(result);
                    }
                }
            }
            Command::OperatorSubscribe { events, reply } => {
                self.operator_streams.push(events);
                self.core.set_operator_watched(true);
                let _ = reply.send(self.core.state_snapshot());
            }
            Command::Snapshot { reply } => {
                let _ = reply.send(self.core.state_snapshot());
            }
            Command::StreamClosed(conn) => {
                if let Some(stream) = self.close_stream(conn) {
                    if stream.sink.is_agent() {
                        debug!(%conn, "agent went away");
                        self.core.handle_agent_stream_closed(now, conn);
                    } else {
                        debug!(%conn, "subscriber went away");
                        self.core.handle_stream_closed(now, conn);
                    }
                }
            }
            Command::RegistryWritten(ids) => {
                self.core.handle_registry_written(now, &ids);
                for id in ids {
                    if let Some(reply) = self.waiting.remove(&id) {
                        let _ = reply.send(Ok(Reply::Ok));
                    }
                }
            }
            Command::RegistryFailed(error) => {
                // Acting on state that cannot be persisted could contradict what
                // the next leader reads: stop here; whoever runs the term steps down.
                tracing::error!(%error, "the registry cannot be written: this master stops leading");
                if let Some(failed) = self.registry_failed.take() {
                    let _ = failed.send(error);
                }
                return ControlFlow::Break(());
            }
            Command::Shutdown => return ControlFlow::Break(()),
        }
        ControlFlow::Continue(())
    }

    /// Framework and agent streams share one id space (the core relies on it).
    fn new_conn(&mut self) -> ConnectionId {
        let conn = ConnectionId(self.next_conn);
        self.next_conn += 1;
        conn
    }

    /// Forgets a stream, which ends it once what was sent on it is written.
    fn close_stream(&mut self, conn: ConnectionId) -> Option<Stream> {
        let stream = self.streams.remove(&conn)?;
        if let Sink::Agent { stream_id, .. } = &stream.sink {
            self.agent_streams.remove(stream_id);
        }
        Some(stream)
    }

    /// Registers a stream and starts its watcher, which reports the client leaving.
    fn open_stream(&mut self, conn: ConnectionId, sink: Sink) {
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let closed: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> = match &sink {
            Sink::Scheduler(events) => {
                let watched = events.clone();
                Box::pin(async move { watched.closed().await })
            }
            Sink::Agent { commands, .. } => {
                let watched = commands.clone();
                Box::pin(async move { watched.closed().await })
            }
        };
        let commands = self.weak_commands.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = closed => {
                    if let Some(commands) = commands.upgrade() {
                        let _ = commands.send(Command::StreamClosed(conn)).await;
                    }
                }
                // The driver closed the stream (or stopped): nothing to report. Either
                // way `watched` is dropped here, which the stream needs to end.
                _ = stop_rx => {}
            }
        });
        self.streams.insert(
            conn,
            Stream {
                sink,
                _stop_watcher: stop_tx,
            },
        );
    }

    /// Carries out everything the core asked for; `Break` when the core gave up its
    /// term.
    fn flush(&mut self) -> ControlFlow<()> {
        self.flush_operator_events();
        while let Some(output) = self.core.poll_output() {
            match output {
                // A failed send means the client is gone; the watcher reports it.
                Output::Event { conn, event } => {
                    if let Some(Stream {
                        sink: Sink::Scheduler(events),
                        ..
                    }) = self.streams.get(&conn)
                    {
                        let _ = events.send(event);
                    }
                }
                Output::AgentCommand { conn, command } => {
                    if let Some(Stream {
                        sink: Sink::Agent { commands, .. },
                        ..
                    }) = self.streams.get(&conn)
                    {
                        let _ = commands.send(Box::new(command));
                    }
                }
                Output::Close { conn } => {
                    self.close_stream(conn);
                }
                Output::Registry { id, op } => match &self.registry {
                    // A closed writer has failed, and said so on the command channel.
                    Some(writer) => {
                        let _ = writer.send((id, op));
                    }
                    None => {
                        tracing::error!(?op, "registry operation without a registry; dropped");
                    }
                },
                Output::RecoveryRemovalLimitExceeded { missing, recovered } => {
                    let error = MasterError::RecoveryRemovalLimit {
                        missing,
                        recovered,
                        limit_percent: self.core.config().recovery_agent_removal_limit * 100.0,
                    };
                    tracing::error!(%error, "this master stops leading");
                    if let Some(failed) = self.registry_failed.take() {
                        let _ = failed.send(error);
                    }
                    return ControlFlow::Break(());
                }
            }
        }
        ControlFlow::Continue(())
    }
}

impl Driver {
    /// Hands every queued operator event to every operator subscriber; forgets those
    /// that went away, and tells the core when nobody watches any more.
    fn flush_operator_events(&mut self) {
        if self.operator_streams.is_empty() {
            return;
        }
        while let Some(event) = self.core.poll_operator_event() {
            for stream in &self.operator_streams {
                let _ = stream.send(event.clone());
            }
        }
        self.operator_streams.retain(|stream| !stream.is_closed());
        if self.operator_streams.is_empty() {
            debug!("no operator subscribers left");
            self.core.set_operator_watched(false);
        }
    }
}

/// The backstop allocation timer. Its first tick is one interval from now, and a late
/// tick is not made up with a burst.
fn allocation_ticker(interval: Duration) -> Interval {
    // A zero interval is refused at start-up; guard anyway, tokio panics on zero.
    let interval = interval.max(Duration::from_millis(1));
    let mut ticker = tokio::time::interval_at(Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticker
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
