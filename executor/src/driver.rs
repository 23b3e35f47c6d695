//! The executor's loop: one subscription to the agent (re-made after a disconnect when
//! the framework checkpoints), the tasks it launches, and the status updates it owes.
//!
//! Both executors live here. The command executor (MESOS_HTTP_COMMAND_EXECUTOR=1, or
//! an ExecutorInfo without type DEFAULT) runs one task per LAUNCH and refuses a second;
//! the default executor runs the tasks of each LAUNCH_GROUP and, as Mesos's default
//! executor, kills the rest of a group when one of its tasks fails or is killed.
//!
//! - this module: the subscription, its loss and renewal, and the events;
//! - `tasks`: launching, killing, and what tasks and their health checks report;
//! - `updates`: the status updates, kept until acknowledged;
//! - `outbox`: the updates on their way to the agent, a few at once, a task's in order.

use std::collections::BTreeMap;
use std::time::Duration;

use ratufa_proto::task_state::is_terminal;
use ratufa_proto::v1::executor::{Call, Event, call, event};
use ratufa_proto::v1::{
    AgentId, ExecutorId, FrameworkId, FrameworkInfo, TaskInfo, TaskState, TaskStatus, executor_info,
};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::check::CheckConfig;
use crate::client::{AgentClient, EventStream};
use crate::env::ExecutorEnv;
use crate::health::HealthConfig;
use crate::task::TaskEvent;
use crate::user::{Account, Accounts};

mod outbox;
mod tasks;
mod updates;

use outbox::Outbox;

pub use updates::terminal_state;

/// How long the agent has to register an executor it launched (Mesos's
/// `--executor_registration_timeout`): without a checkpointing framework, the longest
/// we keep trying to reach the agent for the first time.
const REGISTRATION_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest a SUBSCRIBE may take to be answered before the attempt counts as failed.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for the acknowledgement of the last terminal update before exiting
/// anyway (Mesos's command executor waits a minute too).
const TERMINAL_ACK_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the default executor stays, idle, once its last task ended and the agent
/// acknowledged everything, for a group the framework may be launching on it now.
/// Mesos's default executor exits at once, and a group the agent hands it as it exits
/// is lost (its tasks fail with REASON_EXECUTOR_TERMINATED): a framework taking the
/// resources its tasks just freed for the next group on the same executor races the
/// exit. Ratufa's master offers freed resources at once, so such a group follows the
/// last task's end by milliseconds; one allocation interval covers it.
pub const IDLE_LINGER: Duration = Duration::from_secs(1);
/// What Mesos keeps back from the shutdown grace period so that TASK_KILLED reaches
/// the agent before it destroys the container.
const SHUTDOWN_MARGIN: Duration = Duration::from_secs(2);

/// Why the executor is killing a task; it decides the terminal update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KillCause {
    /// A KILL event (the scheduler asked).
    Requested,
    /// SHUTDOWN, or the agent is gone for good.
    Shutdown,
    /// Its health check failed too often.
    Unhealthy,
    /// Another task of its group failed or was killed.
    GroupMember,
}

#[derive(Debug)]
struct Task {
    info: TaskInfo,
    /// The LAUNCH_GROUP it came in (default executor), for the group kill policy.
    group: Option<u64>,
    /// Grace periods for its runner; `None` once it has ended.
    kill: Option<mpsc::UnboundedSender<Duration>>,
    cause: Option<KillCause>,
    /// The last update sent, for health updates that repeat it.
    last: Option<TaskStatus>,
    /// Its health check and check, started once it runs.
    checkers: Checkers,
}

/// A task's health check and generic check: read at launch, started once it runs,
/// stopped when it is killed or ends.
#[derive(Debug, Default)]
struct Checkers {
    health: Option<HealthConfig>,
    check: Option<CheckConfig>,
    /// Whom the command probes run as (the task's user).
    account: Option<Account>,
    running: Vec<tokio::task::AbortHandle>,
}

impl Checkers {
    fn stop(&mut self) {
        for checker in self.running.drain(..) {
            checker.abort();
        }
    }
}

impl Task {
    fn terminal(&self) -> bool {
        self.last
            .as_ref()
            .and_then(|s| TaskState::try_from(s.state).ok())
            .is_some_and(is_terminal)
    }
}

/// The state of the link to the agent.
enum Link {
    Connected(EventStream),
    /// Not subscribed since `since`; the next attempt is at `retry_at`.
    Disconnected {
        since: Instant,
        retry_at: Instant,
    },
}

/// The executor: what the agent told us, the tasks, the updates not yet acknowledged.
pub struct Executor {
    env: ExecutorEnv,
    client: AgentClient,
    /// The UPDATEs being sent.
    outbox: Outbox,
    connected: bool,
    /// Whether a subscription ever succeeded (the first connect has its own deadline).
    subscribed_once: bool,
    default_executor: bool,
    framework: Option<FrameworkInfo>,
    agent_id: Option<AgentId>,
    /// The users tasks ran as, looked up once each.
    accounts: Accounts,
    /// The tasks running, and those ended whose updates are not all acknowledged yet
    /// (a resubscription names them); a task leaves once the agent has them all.
    tasks: BTreeMap<String, Task>,
    /// Whether any task was launched (an executor that ran tasks ends with the last).
    launched_any: bool,
    /// In the order sent: resubscription replays them in that order.
    unacknowledged: Vec<call::Update>,
    events_tx: mpsc::UnboundedSender<TaskEvent>,
    events_rx: mpsc::UnboundedReceiver<TaskEvent>,
    next_group: u64,
    shutting_down: bool,
    /// The agent is gone for good: end the tasks and exit without waiting for acks.
    abandoned: bool,
    /// When every task ended: the time limit for the last acknowledgements.
    ack_deadline: Option<Instant>,
    /// How long that limit is.
    terminal_ack_timeout: Duration,
    /// The default executor with nothing left to do: when it exits unless a task
    /// arrives first.
    idle_until: Option<Instant>,
    /// How long it waits so (IDLE_LINGER).
    idle_linger: Duration,
}

impl Executor {
    pub fn new(env: ExecutorEnv, client: AgentClient) -> Executor {
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        Executor {
            env,
            outbox: Outbox::new(client.clone()),
            client,
            connected: false,
            subscribed_once: false,
            default_executor: false,
            framework: None,
            agent_id: None,
            tasks: BTreeMap::new(),
            launched_any: false,
            unacknowledged: Vec::new(),
            events_tx,
            events_rx,
            next_group: 0,
            shutting_down: false,
            abandoned: false,
            ack_deadline: None,
            terminal_ack_timeout: TERMINAL_ACK_TIMEOUT,
            idle_until: None,
            accounts: Accounts::default(),
            idle_linger: IDLE_LINGER,
        }
    }

    /// How long to wait for the acknowledgement of the last updates once every task
    /// has ended (a minute by default) before exiting anyway.
    pub fn with_terminal_ack_timeout(mut self, timeout: Duration) -> Executor {
        self.terminal_ack_timeout = timeout;
        self
    }

    /// How long the default executor waits, idle, for another group before it exits
    /// (IDLE_LINGER by default).
    pub fn with_idle_linger(mut self, linger: Duration) -> Executor {
        self.idle_linger = linger;
        self
    }

    /// Runs until the executor's work is done; returns the process exit status.
    pub async fn run(mut self) -> i32 {
        let start = Instant::now();
        let far = start + Duration::from_secs(365 * 86_400);
        // SIGTERM (the agent destroying the container, or an operator) is a shutdown:
        // the tasks get their grace period and their last updates go out, instead of
        // the kernel killing them with us.
        let mut sigterm = signal(SignalKind::terminate())
            .inspect_err(|e| tracing::warn!(error = %e, "SIGTERM will not be handled"))
            .ok();
        // The first SUBSCRIBE at once: a timer due now would still wait for the
        // timer's next millisecond tick, on every task's launch path.
        let mut link = self.resubscribe(start).await;
        loop {
            if let Some(status) = self.finished() {
                if !self.lingers() {
                    return status;
                }
                self.idle_until
                    .get_or_insert_with(|| Instant::now() + self.idle_linger);
            }
            let ack_deadline = self.ack_deadline;
            let idle_until = self.idle_until;
            match &mut link {
                Link::Connected(stream) => {
                    tokio::select! {
                        event = stream.next() => match event {
                            Ok(Some(event)) => self.handle_event(event).await,
                            Ok(None) => link = self.lost("the agent closed the event stream"),
                            Err(e) => link = self.lost(&e.to_string()),
                        },
                        Some(event) = self.events_rx.recv() => self.handle_task_event(event).await,
                        () = self.outbox.answered() => {}
                        () = terminated(&mut sigterm), if !self.shutting_down => {
                            tracing::info!("SIGTERM");
                            self.shutdown().await;
                        }
                        () = tokio::time::sleep_until(ack_deadline.unwrap_or(far)), if ack_deadline.is_some() => {
                            tracing::warn!("no acknowledgement of the last terminal update; exiting");
                            return 0;
                        }
                        () = tokio::time::sleep_until(idle_until.unwrap_or(far)), if idle_until.is_some() => {
                            tracing::info!("no task left and none launched; exiting");
                            return 0;
                        }
                    }
                }
                Link::Disconnected { since, retry_at } => {
                    let (since, retry_at) = (*since, *retry_at);
                    tokio::select! {
                        () = tokio::time::sleep_until(retry_at), if !self.abandoned => {
                            link = self.resubscribe(since).await;
                        }
                        Some(event) = self.events_rx.recv() => self.handle_task_event(event).await,
                        () = terminated(&mut sigterm), if !self.abandoned => {
                            tracing::info!("SIGTERM while disconnected from the agent");
                            self.abandon(self.shutdown_grace());
                        }
                    }
                }
            }
        }
    }

    /// A call of `kind` from this executor, its fields still to fill.
    fn call(&self, kind: call::Type) -> Call {
        Call {
            executor_id: ExecutorId {
                value: self.env.executor_id.clone(),
            },
            framework_id: FrameworkId {
                value: self.env.framework_id.clone(),
            },
            r#type: Some(kind as i32),
            ..Call::default()
        }
    }

    /// `Some(exit status)` when there is nothing left to do.
    fn finished(&self) -> Option<i32> {
        if !self.launched_any {
            // Nothing launched: only a shutdown or a lost agent ends us.
            return (self.shutting_down || self.abandoned).then_some(0);
        }
        if !self.tasks.values().all(Task::terminal) {
            return None;
        }
        if self.abandoned {
            return Some(0);
        }
        // Every update acknowledged: the agent has them all checkpointed.
        self.unacknowledged.is_empty().then_some(0)
    }

    /// Whether an executor done with its work waits for more (IDLE_LINGER): the
    /// default executor, connected, not told to shut down, after it ran tasks. A
    /// lost agent or a SHUTDOWN still ends it at once.
    fn lingers(&self) -> bool {
        self.default_executor
            && self.connected
            && !self.shutting_down
            && !self.abandoned
            && self.launched_any
            && !self.idle_linger.is_zero()
    }

    /// One attempt to subscribe; the link that results.
    async fn resubscribe(&mut self, since: Instant) -> Link {
        let subscribe = Call {
            subscribe: Some(call::Subscribe {
                unacknowledged_tasks: self.unacknowledged_tasks(),
                unacknowledged_updates: self.unacknowledged.clone(),
            }),
            ..self.call(call::Type::Subscribe)
        };
        let attempt = tokio::time::timeout(SUBSCRIBE_TIMEOUT, self.client.subscribe(&subscribe));
        let error = match attempt.await {
            Ok(Ok(stream)) => {
                tracing::info!(agent = %self.client.endpoint(), "subscribed to the agent");
                self.connected = true;
                self.subscribed_once = true;
                return Link::Connected(stream);
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer to SUBSCRIBE within {SUBSCRIBE_TIMEOUT:?}"),
        };
        let limit = if self.subscribed_once && !self.env.checkpoint {
            Duration::ZERO
        } else if self.env.checkpoint {
            self.env.recovery_timeout
        } else {
            REGISTRATION_TIMEOUT
        };
        if since.elapsed() >= limit {
            tracing::error!(%error, ?limit, "cannot subscribe to the agent; giving up");
            self.abandon(Duration::ZERO);
            return Link::Disconnected {
                since,
                retry_at: since,
            };
        }
        let backoff = random_up_to(self.env.subscription_backoff_max);
        tracing::warn!(%error, ?backoff, "cannot subscribe to the agent; retrying");
        Link::Disconnected {
            since,
            retry_at: Instant::now() + backoff,
        }
    }

    /// The stream broke: wait for the agent to come back when the framework
    /// checkpoints (the agent may be restarting), else end the tasks and exit.
    fn lost(&mut self, why: &str) -> Link {
        self.connected = false;
        self.outbox.clear();
        let now = Instant::now();
        if self.env.checkpoint {
            let backoff = random_up_to(self.env.subscription_backoff_max);
            tracing::warn!(why, ?backoff, "disconnected from the agent; resubscribing");
            return Link::Disconnected {
                since: now,
                retry_at: now + backoff,
            };
        }
        tracing::warn!(
            why,
            "disconnected from the agent and the framework does not checkpoint; \
             ending the tasks"
        );
        self.abandon(Duration::ZERO);
        Link::Disconnected {
            since: now,
            retry_at: now,
        }
    }

    /// The agent is gone for good: kill every task, exit once they have ended.
    fn abandon(&mut self, grace: Duration) {
        self.abandoned = true;
        self.kill_all(KillCause::Shutdown, grace);
    }

    /// Tasks some update of which the agent has not acknowledged: it may never have
    /// heard of them (its checkpoint of the launch may be lost).
    fn unacknowledged_tasks(&self) -> Vec<TaskInfo> {
        self.tasks
            .values()
            .filter(|task| {
                self.unacknowledged
                    .iter()
                    .any(|u| u.status.task_id == task.info.task_id)
            })
            .map(|task| task.info.clone())
            .collect()
    }

    async fn handle_event(&mut self, event: Event) {
        let kind = event.r#type.and_then(|t| event::Type::try_from(t).ok());
        tracing::debug!(?kind, "event");
        match kind {
            Some(event::Type::Subscribed) => {
                if let Some(subscribed) = event.subscribed {
                    // The agent marks its command executors with
                    // MESOS_HTTP_COMMAND_EXECUTOR, whatever their ExecutorInfo says.
                    self.default_executor = !self.env.http_command_executor
                        && subscribed.executor_info.r#type
                            == Some(executor_info::Type::Default as i32);
                    self.agent_id = subscribed.agent_info.id.clone();
                    self.framework = Some(subscribed.framework_info);
                }
            }
            Some(event::Type::Launch) => {
                if let Some(launch) = event.launch {
                    self.launch(launch.task, None).await;
                }
            }
            Some(event::Type::LaunchGroup) => {
                if let Some(group) = event.launch_group {
                    self.launch_group(group.task_group.tasks).await;
                }
            }
            Some(event::Type::Kill) => {
                if let Some(kill) = event.kill {
                    self.kill_requested(&kill.task_id, kill.kill_policy.as_ref())
                        .await;
                }
            }
            Some(event::Type::Acknowledged) => {
                if let Some(ack) = event.acknowledged {
                    self.acknowledged(&ack.uuid);
                }
            }
            Some(event::Type::Shutdown) => self.shutdown().await,
            Some(event::Type::Error) => {
                let message = event.error.map(|e| e.message).unwrap_or_default();
                tracing::error!(message, "the agent sent an error");
            }
            Some(event::Type::Message | event::Type::Heartbeat) => {}
            Some(event::Type::Unknown) | None => {
                tracing::warn!(r#type = ?event.r#type, "ignoring an event of unknown type");
            }
        }
    }

    fn acknowledged(&mut self, uuid: &[u8]) {
        let Some(at) = self
            .unacknowledged
            .iter()
            .position(|update| update.status.uuid.as_deref() == Some(uuid))
        else {
            tracing::warn!("acknowledgement of an unknown status update");
            return;
        };
        let task_id = self.unacknowledged.remove(at).status.task_id.value;
        // An ended task the agent has every update of is done with (Mesos's default
        // executor forgets a task's container when it ends): an executor taking group
        // after group keeps only the tasks that still need it.
        let done = self.tasks.get(&task_id).is_some_and(Task::terminal)
            && !self
                .unacknowledged
                .iter()
                .any(|update| update.status.task_id.value == task_id);
        if done {
            self.tasks.remove(&task_id);
        }
    }
}

/// Resolves when SIGTERM arrives; never without a handler.
async fn terminated(sigterm: &mut Option<Signal>) {
    match sigterm {
        Some(sigterm) => {
            if sigterm.recv().await.is_none() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

/// A random duration in [0, max]: resubscribing executors spread out instead of all
/// hitting a restarted agent at once.
fn random_up_to(max: Duration) -> Duration {
    let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return Duration::ZERO;
    }
    let random = uuid::Uuid::new_v4().as_u128() as u64;
    Duration::from_nanos(random % (nanos + 1))
}

#[cfg(test)]
mod tests {
    use ratufa_agent::process::Exit;

    use super::*;

    fn executor() -> Executor {
        let env = ExecutorEnv {
            framework_id: "fw-1".into(),
            executor_id: "ex-1".into(),
            agent_endpoint: "127.0.0.1:1".into(),
            directory: "/tmp".into(),
            sandbox: "/tmp".into(),
            checkpoint: false,
            recovery_timeout: Duration::from_secs(60),
            subscription_backoff_max: Duration::from_secs(1),
            shutdown_grace_period: Duration::from_secs(5),
            http_command_executor: false,
            tls: None,
        };
        let client = AgentClient::new(&env.agent_endpoint, None).unwrap();
        Executor::new(env, client)
    }

    /// A task of `executor` in `state`, with its update of that state unacknowledged.
    fn task_with_update(executor: &mut Executor, id: &str, state: TaskState) -> Vec<u8> {
        let task_id = ratufa_proto::v1::TaskId { value: id.into() };
        let status = executor.status(&task_id, state);
        executor.tasks.insert(
            id.into(),
            Task {
                info: TaskInfo {
                    task_id,
                    ..TaskInfo::default()
                },
                group: Some(0),
                kill: None,
                cause: None,
                last: Some(status.clone()),
                checkers: Checkers::default(),
            },
        );
        let uuid = status.uuid.clone().unwrap();
        executor.unacknowledged.push(call::Update { status });
        uuid
    }

    #[test]
    fn an_ended_task_is_forgotten_once_the_agent_has_all_its_updates() {
        let mut executor = executor();
        let running = task_with_update(&mut executor, "running", TaskState::TaskRunning);
        let ended = task_with_update(&mut executor, "ended", TaskState::TaskFinished);
        // A second update of the ended task, still unacknowledged after the first.
        let task_id = ratufa_proto::v1::TaskId {
            value: "ended".into(),
        };
        let mut again = executor.status(&task_id, TaskState::TaskFinished);
        again.uuid = Some(uuid::Uuid::new_v4().as_bytes().to_vec());
        let again_uuid = again.uuid.clone().unwrap();
        executor.unacknowledged.push(call::Update { status: again });

        executor.acknowledged(&running);
        assert!(executor.tasks.contains_key("running"), "it still runs");
        executor.acknowledged(&ended);
        assert!(
            executor.tasks.contains_key("ended"),
            "one of its updates is not acknowledged yet"
        );
        executor.acknowledged(&again_uuid);
        assert!(!executor.tasks.contains_key("ended"));
        assert!(executor.unacknowledged.is_empty());
        // Not done while a task runs; done once it has ended and been acknowledged.
        executor.launched_any = true;
        assert_eq!(executor.finished(), None);
    }

    #[test]
    fn random_backoff_stays_within_its_bound() {
        assert_eq!(random_up_to(Duration::ZERO), Duration::ZERO);
        for _ in 0..100 {
            assert!(random_up_to(Duration::from_millis(5)) <= Duration::from_millis(5));
        }
    }

    #[test]
    fn exit_texts_are_mesos_texts() {
        assert_eq!(Exit::Code(3).describe(), "Command exited with status 3");
        assert_eq!(
            Exit::Signal(libc::SIGTERM).describe(),
            "Command terminated with signal Terminated"
        );
    }
}
