//! The agent loop: one task owns the agent's state (its id, frameworks, tasks and
//! status updates) and reacts to the master's commands, its tasks' runners, and time.
//!
//! The master link lives in a reader task per connection that forwards commands here,
//! tagged with a generation so that a late message from a dropped connection is
//! ignored. Calls to the master (PONG, STATUS_UPDATE) go out through the stream's
//! [`Outbox`], a task of its own, so a slow master never stalls the loop; a lost
//! update is resent by the status-update manager's retry timer.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ratufa_proto::ratufa::agentlink::{Call, Command, call, command};
use ratufa_proto::v1::framework_info::capability::Type as Capability;
use ratufa_proto::v1::{
    AgentId, AgentInfo, CommandInfo, FrameworkId, FrameworkInfo, Task, TaskInfo, TaskState,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::AgentConfig;
use crate::backoff::RegistrationBackoff;
use crate::executors::{ExecutorKey, Executors};
use crate::http::executor::{ExecutorApi, ExecutorCall};
use crate::isolator::{Isolator, PosixIsolator};
use crate::link::{CommandStream, MasterLink, Outbox};
use crate::master_detector::{Detected, LeaderChanges};
use crate::runner::{Progress, Report};
use crate::updates::{Outgoing, StatusUpdates, TaskKey};

mod executors;
mod recovery;
mod tasks;

/// Silence allowed before the master has told us how long it may be silent: Mesos's
/// default `--agent_ping_timeout` (15 s) × `--max_agent_ping_timeouts` (5). A
/// SUBSCRIBE unanswered for this long is given up too (a frozen master accepts
/// connections but never answers).
const DEFAULT_SILENCE: Duration = Duration::from_secs(75);

/// What reaches the loop from the link's tasks.
#[derive(Debug)]
enum LinkEvent {
    Connected {
        stream_id: String,
    },
    Command(Box<Command>),
    /// The stream ended or could not be opened.
    Lost {
        reason: String,
    },
    /// The master refused a call on this stream as not subscribed: subscribe again.
    Refused {
        reason: String,
    },
}

#[derive(Debug)]
struct Tagged {
    generation: u64,
    event: LinkEvent,
}

/// The agent's hold on one task.
#[derive(Debug)]
struct TaskEntry {
    task: TaskInfo,
    framework_id: FrameworkId,
    state: TaskState,
    /// The framework was shut down: the master wants no more of this task's updates.
    silent: bool,
    /// The executor it runs under (a command task's is the agent's command executor,
    /// whose id is the task's).
    executor_id: String,
    /// Where its updates are checkpointed (its framework checkpoints).
    run: Option<crate::checkpoint::RunPath>,
}

enum Link {
    /// Waiting to (re)connect at the instant.
    Idle { retry_at: Instant },
    /// A SUBSCRIBE is out; the reader task reports how it went.
    Connecting { reader: JoinHandle<()> },
    Connected {
        stream_id: String,
        reader: JoinHandle<()>,
        /// Sends this stream's calls; dropped (and stopped) with it.
        outbox: Outbox,
    },
}

pub(crate) struct Agent {
    config: AgentConfig,
    /// How the agent's own executor starts ([`AgentConfig::executor_command`]),
    /// resolved once at start rather than looked for in the launcher dir per launch.
    executor_command: CommandInfo,
    /// What we register with (its id set once we have one).
    info: AgentInfo,
    link: MasterLink,
    state: Link,
    generation: u64,
    backoff: RegistrationBackoff,
    /// With `--master=zk://…`: the election, to leave a master as soon as another
    /// leads (or none does), whatever its connection still looks like.
    leader_changes: Option<LeaderChanges>,
    /// The id of the master this connection is for: the leader detected when it was
    /// opened, then the one that answered SUBSCRIBED. None while no leader was known
    /// (the SUBSCRIBE then goes to whichever is elected first), or without ZooKeeper.
    master_id: Option<String>,
    link_tx: mpsc::UnboundedSender<Tagged>,
    link_rx: mpsc::UnboundedReceiver<Tagged>,
    frameworks: HashMap<String, FrameworkInfo>,
    tasks: BTreeMap<TaskKey, TaskEntry>,
    updates: StatusUpdates,
    /// What `/state` and `/files/*` see of the sandboxes.
    sandboxes: crate::files::Sandboxes,
    fetcher: std::sync::Arc<crate::fetcher::Fetcher>,
    /// Removes ended containers' sandboxes.
    gc: crate::gc::Collector,
    /// What `--isolation` holds containers to.
    isolator: Arc<dyn Isolator>,
    executors: Executors,
    executor_reports_tx: mpsc::UnboundedSender<Report<ExecutorKey>>,
    executor_reports_rx: mpsc::UnboundedReceiver<Report<ExecutorKey>>,
    /// What `/api/v1/executor` hands the loop, and the handle it serves with.
    executor_calls_rx: mpsc::UnboundedReceiver<ExecutorCall>,
    executor_api: ExecutorApi,
    /// True while the agent recovers: `/api/v1/executor` answers 503.
    recovering: tokio::sync::watch::Sender<bool>,
    /// Where executors reach this agent (MESOS_AGENT_ENDPOINT).
    endpoint: std::net::SocketAddr,
    /// `<work_dir>/meta`: what checkpointing frameworks' executors need after a restart.
    checkpoint: crate::checkpoint::Checkpoint,
    /// Until then, recovered executors may subscribe again before the agent registers.
    recovery_deadline: Option<Instant>,
    /// Executors' framework messages that came while no master listened (during
    /// recovery, or between connections), sent once registered; bounded.
    held_messages: std::collections::VecDeque<Call>,
    /// Calls from executors of checkpointing frameworks whose pid is not yet on disk,
    /// in arrival order: answered once `forked.pid` is written (or the executor is gone).
    awaiting_pid: BTreeMap<ExecutorKey, Vec<ExecutorCall>>,
    /// The master answered this connection's SUBSCRIBE.
    subscribed: bool,
}

impl Agent {
    pub(crate) fn new(
        config: AgentConfig,
        info: AgentInfo,
        link: MasterLink,
        endpoint: std::net::SocketAddr,
    ) -> Agent {
        let (link_tx, link_rx) = mpsc::unbounded_channel();
        let (executor_reports_tx, executor_reports_rx) = mpsc::unbounded_channel();
        let (executor_calls_tx, executor_calls_rx) = mpsc::unbounded_channel();
        let (recovering, recovering_rx) = tokio::sync::watch::channel(false);
        let config_work_dir = config.work_dir.clone();
        let executor_api = ExecutorApi {
            calls: executor_calls_tx,
            recovering: recovering_rx,
        };
        let backoff = RegistrationBackoff::new(config.registration_backoff_factor);
        let leader_changes = link.detector().map(|d| d.changes());
        let sandboxes = crate::files::Sandboxes::new(config.clone(), info.clone());
        let fetcher = std::sync::Arc::new(crate::fetcher::Fetcher::new(
            config.fetcher_cache_dir(),
            config.fetcher_cache_size,
            config.tls.as_ref(),
        ));
        let gc = crate::gc::spawn(
            crate::gc::GcConfig {
                work_dir: config.work_dir.clone(),
                gc_delay: config.gc_delay,
                disk_watch_interval: config.disk_watch_interval,
                gc_disk_headroom: config.gc_disk_headroom,
            },
            sandboxes.clone(),
        );
        let executor_command = config.executor_command();
        let program = executor_command.value.as_deref().unwrap_or_default();
        if std::path::Path::new(program).is_file() {
            info!(executor = program, "the command executor");
        } else {
            warn!(
                executor = program,
                "the command executor is missing: command tasks will fail to launch"
            );
        }
        Agent {
            config,
            executor_command,
            info,
            link,
            state: Link::Idle {
                retry_at: Instant::now(),
            },
            generation: 0,
            backoff,
            leader_changes,
            master_id: None,
            link_tx,
            link_rx,
            frameworks: HashMap::new(),
            tasks: BTreeMap::new(),
            updates: StatusUpdates::default(),
            sandboxes,
            fetcher,
            gc,
            isolator: Arc::new(PosixIsolator),
            executors: Executors::default(),
            executor_reports_tx,
            executor_reports_rx,
            executor_calls_rx,
            executor_api,
            recovering,
            endpoint,
            checkpoint: crate::checkpoint::Checkpoint::new(&config_work_dir),
            recovery_deadline: None,
            held_messages: std::collections::VecDeque::new(),
            awaiting_pid: BTreeMap::new(),
            subscribed: false,
        }
    }

    /// What `/api/v1/executor` serves with.
    pub(crate) fn executor_api(&self) -> ExecutorApi {
        self.executor_api.clone()
    }

    pub(crate) fn with_isolator(mut self, isolator: Arc<dyn Isolator>) -> Agent {
        self.isolator = isolator;
        self
    }

    pub(crate) fn sandboxes(&self) -> crate::files::Sandboxes {
        self.sandboxes.clone()
    }

    pub(crate) async fn run(mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            self.flush_updates();
            let wake = self.next_wake();
            tokio::select! {
                () = &mut shutdown => break,
                Some(tagged) = self.link_rx.recv() => self.on_link(tagged),
                Some(report) = self.executor_reports_rx.recv() => self.on_executor_report(report),
                Some(call) = self.executor_calls_rx.recv() => self.on_executor_call(call),
                detected = next_change(&mut self.leader_changes) => self.on_leader_change(&detected),
                () = sleep_until(wake) => {}
            }
            self.executor_deadlines();
            if self.recovery_deadline.is_some() && self.recovery_done() {
                self.recovery_deadline = None;
            }
            // A recovering agent registers once its executors had their chance to
            // come back (the master then learns what really runs).
            if let Link::Idle { retry_at } = self.state
                && retry_at <= Instant::now()
                && self.recovery_deadline.is_none()
            {
                self.connect();
            }
        }
        info!(
            tasks = self.tasks.len(),
            executors = self.executors.len(),
            "agent stopping; killing its tasks"
        );
        self.drop_link();
        // Checkpointing frameworks' executors outlive a plain agent stop (the next
        // agent recovers them); the others, and all under `ratufa local`, are killed.
        let executors: Vec<ExecutorKey> = self
            .executors
            .iter()
            .filter(|(_, e)| self.config.kill_executors_on_stop || e.run.is_none())
            .map(|(k, _)| k.clone())
            .collect();
        for key in &executors {
            self.destroy_executor(key, None);
        }
        // Give the runners a moment to destroy the containers before the runtime goes.
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut ended = 0;
        while ended < executors.len() {
            match tokio::time::timeout_at(deadline, self.executor_reports_rx.recv()).await {
                Ok(Some(Report {
                    progress: Progress::Running { .. },
                    ..
                })) => {}
                Ok(Some(_)) => ended += 1,
                Ok(None) | Err(_) => break,
            }
        }
    }

    fn next_wake(&self) -> Option<Instant> {
        let retry = self.updates.next_retry().map(Instant::from_std);
        let reconnect = match self.state {
            Link::Idle { retry_at } => Some(retry_at),
            _ => None,
        };
        let executors = self.executors.next_deadline();
        [retry, reconnect, executors, self.recovery_deadline]
            .into_iter()
            .flatten()
            .min()
    }

    // -----------------------------------------------------------------------------
    // The link

    fn connect(&mut self) {
        self.generation += 1;
        let generation = self.generation;
        let subscribe = self.subscribe_call();
        let link = self.link.clone();
        let events = self.link_tx.clone();
        info!(
            master = self.link.master(),
            agent_id = self.agent_id().map(|id| id.value.as_str()),
            tasks = self.tasks.len(),
            "subscribing to the master"
        );
        self.master_id = match self.link.detector().map(|d| d.detected()) {
            Some(Detected::Leader(id)) => Some(id),
            _ => None,
        };
        let reader = tokio::spawn(async move {
            let send = |event| {
                let _ = events.send(Tagged { generation, event });
            };
            let subscribed = tokio::time::timeout(DEFAULT_SILENCE, link.subscribe(&subscribe));
            let reason = match subscribed.await {
                Err(_) => format!("no answer to SUBSCRIBE in {DEFAULT_SILENCE:?}"),
                Ok(Err(e)) => e.to_string(),
                Ok(Ok(stream)) => {
                    send(LinkEvent::Connected {
                        stream_id: stream.stream_id.clone(),
                    });
                    read_commands(stream, &send).await
                }
            };
            send(LinkEvent::Lost { reason });
        });
        self.state = Link::Connecting { reader };
    }

    fn subscribe_call(&self) -> Call {
        let mut frameworks: Vec<FrameworkInfo> = Vec::new();
        let mut tasks = Vec::new();
        for (key, entry) in &self.tasks {
            if entry.silent {
                continue;
            }
            if let Some(info) = self.frameworks.get(&key.framework_id)
                && !frameworks.iter().any(|f| f.id == info.id)
            {
                frameworks.push(info.clone());
            }
            tasks.push(self.task_of(key, entry));
        }
        // The master books the executors frameworks gave, not the agent's own command
        // executors.
        let mut executors = Vec::new();
        for (key, entry) in self.executors.iter() {
            if entry.command {
                continue;
            }
            if let Some(info) = self.frameworks.get(&key.framework_id)
                && !frameworks.iter().any(|f| f.id == info.id)
            {
                frameworks.push(info.clone());
            }
            executors.push(entry.info.clone());
        }
        Call {
            r#type: Some(call::Type::Subscribe as i32),
            subscribe: Some(call::Subscribe {
                agent_info: self.info.clone(),
                tasks,
                executors,
                frameworks,
                version: Some(ratufa_gateway::version::MESOS_VERSION.to_string()),
                ip: self.config.advertise_ip.map(|ip| ip.to_string()),
            }),
            ..Call::default()
        }
    }

    /// A task as re-registration reports it: its latest state, and the oldest update
    /// the framework has not acknowledged.
    fn task_of(&self, key: &TaskKey, entry: &TaskEntry) -> Task {
        let unacked = self.updates.oldest_unacknowledged(key);
        Task {
            name: entry.task.name.clone(),
            task_id: entry.task.task_id.clone(),
            framework_id: entry.framework_id.clone(),
            executor_id: Some(ratufa_proto::v1::ExecutorId {
                value: entry.executor_id.clone(),
            }),
            agent_id: self.agent_id().cloned().unwrap_or_default(),
            state: entry.state as i32,
            resources: entry.task.resources.clone(),
            statuses: unacked.cloned().into_iter().collect(),
            status_update_state: unacked.map(|s| s.state),
            status_update_uuid: unacked.and_then(|s| s.uuid.clone()),
            labels: entry.task.labels.clone(),
            discovery: entry.task.discovery.clone(),
            container: entry.task.container.clone(),
            health_check: entry.task.health_check.clone(),
            kill_policy: entry.task.kill_policy,
            user: None,
            limits: entry.task.limits.clone(),
        }
    }

    fn on_link(&mut self, tagged: Tagged) {
        if tagged.generation != self.generation {
            return;
        }
        match tagged.event {
            LinkEvent::Connected { stream_id } => {
                if let Link::Connecting { reader } = std::mem::replace(&mut self.state, idle_now())
                {
                    debug!(%stream_id, "agent link stream open");
                    let events = self.link_tx.clone();
                    let generation = self.generation;
                    let refused = move |body| {
                        let _ = events.send(Tagged {
                            generation,
                            event: LinkEvent::Refused { reason: body },
                        });
                    };
                    let outbox = Outbox::start(self.link.clone(), stream_id.clone(), refused);
                    self.state = Link::Connected {
                        stream_id,
                        reader,
                        outbox,
                    };
                }
            }
            LinkEvent::Command(command) => self.on_command(*command),
            LinkEvent::Lost { reason } | LinkEvent::Refused { reason } => {
                self.reconnect_later();
                if let Link::Idle { retry_at } = self.state {
                    let retry_in = retry_at.saturating_duration_since(Instant::now());
                    warn!(master = self.link.master(), %reason, ?retry_in, "lost the master");
                }
            }
        }
    }

    /// Drops the current stream and schedules the next SUBSCRIBE after the backoff:
    /// random, within a bound that doubles up to a minute (Mesos's registration
    /// backoff).
    fn reconnect_later(&mut self) {
        self.drop_link();
        self.state = Link::Idle {
            retry_at: Instant::now() + self.backoff.next(random_fraction()),
        };
    }

    /// The election moved. Leaving the old master at once matters even when its
    /// stream looks alive: a frozen or partitioned master holds its connections open,
    /// and once deposed it must get nothing more from us (nor we from it).
    fn on_leader_change(&mut self, detected: &Detected) {
        // A SUBSCRIBE sent while no leader was known waited for the first one: it
        // went (or goes) to this one by itself.
        if let (false, None, Detected::Leader(id)) = (
            matches!(self.state, Link::Idle { .. }),
            &self.master_id,
            detected,
        ) {
            self.master_id = Some(id.clone());
            return;
        }
        if !detected.deposes(self.master_id.as_deref()) {
            return;
        }
        match detected {
            Detected::Leader(leader) => info!(
                leader = %leader,
                old = self.master_id.as_deref(),
                "another master leads: registering with it"
            ),
            _ => warn!(
                old = self.master_id.as_deref(),
                "no master leads: dropping the link until one does"
            ),
        }
        // As after Mesos's detection of a new master: the first attempt within
        // [0, factor], doubling from there.
        self.backoff.reset();
        self.reconnect_later();
    }

    fn drop_link(&mut self) {
        self.generation += 1;
        self.subscribed = false;
        self.master_id = None;
        match std::mem::replace(&mut self.state, idle_now()) {
            Link::Connecting { reader } | Link::Connected { reader, .. } => reader.abort(),
            Link::Idle { .. } => {}
        }
    }

    /// Registered with the master on the current connection.
    fn registered(&self) -> bool {
        self.subscribed && self.stream_id().is_some()
    }

    fn stream_id(&self) -> Option<&str> {
        match &self.state {
            Link::Connected { stream_id, .. } => Some(stream_id),
            _ => None,
        }
    }

    fn agent_id(&self) -> Option<&AgentId> {
        self.info.id.as_ref()
    }

    /// Sends a call on the current stream through its outbox; a 403 (the master no
    /// longer takes this stream) makes the agent subscribe again.
    fn send_call(&self, mut call: Call) {
        let Link::Connected { outbox, .. } = &self.state else {
            return;
        };
        call.agent_id = self.agent_id().cloned();
        outbox.send(call);
    }

    fn flush_updates(&mut self) {
        if self.stream_id().is_none() || self.agent_id().is_none() {
            return;
        }
        for Outgoing {
            framework_id,
            status,
            latest_state,
        } in self.updates.due(Instant::now().into_std())
        {
            debug!(
                framework_id = %framework_id.value,
                task_id = %status.task_id.value,
                state = state_name(status.state),
                "sending status update"
            );
            self.send_call(Call {
                r#type: Some(call::Type::StatusUpdate as i32),
                status_update: Some(call::StatusUpdate {
                    framework_id,
                    status,
                    latest_state,
                }),
                ..Call::default()
            });
        }
    }

    // -----------------------------------------------------------------------------
    // Commands

    fn on_command(&mut self, command: Command) {
        let kind = command
            .r#type
            .and_then(|t| command::Type::try_from(t).ok())
            .unwrap_or(command::Type::Unknown);
        match kind {
            command::Type::Subscribed => self.on_subscribed(command.subscribed),
            command::Type::Ping => self.send_call(Call {
                r#type: Some(call::Type::Pong as i32),
                ..Call::default()
            }),
            command::Type::RunTask => {
                if let Some(run) = command.run_task {
                    self.run_task(run.framework, run.task);
                }
            }
            command::Type::RunTaskGroup => {
                if let Some(group) = command.run_task_group {
                    self.run_task_group(group);
                }
            }
            command::Type::KillTask => {
                if let Some(kill) = command.kill_task {
                    self.kill_task(&kill);
                }
            }
            command::Type::ShutdownExecutor => {
                if let Some(shutdown) = command.shutdown_executor {
                    let key = ExecutorKey {
                        framework_id: shutdown.framework_id.value,
                        executor_id: shutdown.executor_id.value,
                    };
                    self.shutdown_executor(&key);
                }
            }
            command::Type::ShutdownFramework => {
                if let Some(shutdown) = command.shutdown_framework {
                    self.shutdown_framework(&shutdown.framework_id.value);
                }
            }
            command::Type::Acknowledge => {
                if let Some(ack) = command.acknowledge {
                    self.acknowledge(ack);
                }
            }
            command::Type::FrameworkMessage => {
                if let Some(message) = command.framework_message {
                    let key = ExecutorKey {
                        framework_id: message.framework_id.value,
                        executor_id: message.executor_id.value,
                    };
                    self.message_executor(&key, message.data);
                }
            }
            command::Type::UpdateFramework => {
                if let Some(update) = command.update_framework
                    && let Some(id) = update.framework.id.as_ref()
                {
                    self.frameworks
                        .insert(id.value.clone(), update.framework.clone());
                }
            }
            command::Type::Error => {
                let message = command.error.map(|e| e.message).unwrap_or_default();
                self.on_refused(&message);
            }
            command::Type::Unknown => warn!("ignoring a command of unknown type"),
        }
    }

    fn on_subscribed(&mut self, subscribed: Option<command::Subscribed>) {
        let Some(subscribed) = subscribed else {
            warn!("SUBSCRIBED without its agent id; ignored");
            return;
        };
        let reregistered = self.agent_id() == Some(&subscribed.agent_id);
        let master_id = subscribed.master_info.as_ref().map(|m| m.id.clone());
        // The election moved while we registered: this master no longer leads.
        if let (Some(detector), Some(id)) = (self.link.detector(), &master_id)
            && detector.detected().deposes(Some(id))
        {
            warn!(master_id = %id, "subscribed to a master that no longer leads; registering again");
            self.backoff.reset();
            self.reconnect_later();
            return;
        }
        self.master_id = master_id;
        info!(
            agent_id = %subscribed.agent_id.value,
            reregistered,
            master = self.link.master(),
            "subscribed to the master"
        );
        self.sandboxes.set_agent_id(&subscribed.agent_id.value);
        self.info.id = Some(subscribed.agent_id);
        // Who we are, for the next agent on this work dir (Mesos checkpoints its
        // AgentInfo whatever the frameworks ask).
        self.checkpointed("slave.info", self.checkpoint.write_agent(&self.info));
        self.backoff.reset();
        // Whatever was in flight went to a master that may never have seen it.
        self.updates.resend_all();
        self.subscribed = true;
        for call in std::mem::take(&mut self.held_messages) {
            self.send_call(call);
        }
    }

    /// The master refused our registration. An agent id it will not take back is of no
    /// more use, nor are the tasks under it (Mesos's agent shuts down here): start over
    /// as a new agent.
    fn on_refused(&mut self, message: &str) {
        warn!(
            agent_id = self.agent_id().map(|id| id.value.as_str()),
            %message,
            "the master refused this agent"
        );
        if self.info.id.take().is_some() {
            for entry in self.tasks.values_mut() {
                entry.silent = true;
            }
            for key in self.executors.keys() {
                self.destroy_executor(&key, None);
            }
            self.updates = StatusUpdates::default();
        }
        self.reconnect_later();
    }
}

/// Reads commands off `stream` and forwards them until it ends; returns why it ended.
/// Silence longer than the master's ping timeout × its missed-ping limit counts as the
/// end (Mesos's agent re-detects then): a master that stopped pinging has forgotten
/// us, cannot reach us, or is frozen.
async fn read_commands(mut stream: CommandStream, send: &impl Fn(LinkEvent)) -> String {
    let mut silence = DEFAULT_SILENCE;
    loop {
        match tokio::time::timeout(silence, stream.next()).await {
            Err(_) => return format!("no word from the master in {silence:?}"),
            Ok(Ok(None)) => return "the master closed the stream".to_string(),
            Ok(Err(e)) => return e.to_string(),
            Ok(Ok(Some(command))) => {
                if let Some(total) = command.subscribed.as_ref().and_then(allowed_silence) {
                    silence = total;
                }
                send(LinkEvent::Command(Box::new(command)));
            }
        }
    }
}

/// How long the master that sent `subscribed` may be silent: its total ping timeout.
fn allowed_silence(subscribed: &command::Subscribed) -> Option<Duration> {
    subscribed
        .total_ping_timeout_seconds
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .filter(|d| !d.is_zero())
}

/// The next change of leader, for an agent following the election; never otherwise.
async fn next_change(changes: &mut Option<LeaderChanges>) -> Detected {
    match changes {
        Some(changes) => changes.next().await,
        None => std::future::pending().await,
    }
}

fn partition_aware(framework: &FrameworkInfo) -> bool {
    framework
        .capabilities
        .iter()
        .any(|c| c.r#type == Some(Capability::PartitionAware as i32))
}

fn state_name(state: i32) -> &'static str {
    TaskState::try_from(state).map_or("UNKNOWN", |s| s.as_str_name())
}

fn idle_now() -> Link {
    Link::Idle {
        retry_at: Instant::now(),
    }
}

/// A number in [0, 1) from a fresh UUID: good enough to spread reconnections.
fn random_fraction() -> f64 {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    f64::from(u16::from_le_bytes([bytes[0], bytes[1]])) / 65536.0
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
