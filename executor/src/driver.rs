//! The executor's loop: one subscription to the agent (re-made after a disconnect when
//! the framework checkpoints), the tasks it launches, and the status updates it owes.
//!
//! Both executors live here. The command executor (MESOS_HTTP_COMMAND_EXECUTOR=1, or
//! an ExecutorInfo without type DEFAULT) runs one task per LAUNCH and refuses a second; the default executor runs the tasks
//! of each LAUNCH_GROUP and, as Mesos's default executor, kills the rest of a group
//! when one of its tasks fails or is killed.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ratufa_agent::grace_period;
use ratufa_agent::process::{Exit, ProcessSpec};
use ratufa_proto::task_state::is_terminal;
use ratufa_proto::v1::executor::{Call, Event, call, event};
use ratufa_proto::v1::{
    AgentId, ExecutorId, FrameworkId, FrameworkInfo, KillPolicy, TaskId, TaskInfo, TaskState,
    TaskStatus, executor_info, framework_info, task_status,
};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::client::{AgentClient, EventStream};
use crate::env::ExecutorEnv;
use crate::health::{self, HealthConfig};
use crate::task::{self, Launch, TaskEvent};
use crate::user::{Account, account_to_switch_to};

/// How long the agent has to register an executor it launched (Mesos's
/// `--executor_registration_timeout`): without a checkpointing framework, the longest
/// we keep trying to reach the agent for the first time.
const REGISTRATION_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest a SUBSCRIBE may take to be answered before the attempt counts as failed.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for the acknowledgement of the last terminal update before exiting
/// anyway (Mesos's command executor waits a minute too).
const TERMINAL_ACK_TIMEOUT: Duration = Duration::from_secs(60);
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
    /// Its health check, started once it runs; the checker while it runs.
    health_check: Option<(HealthConfig, Option<Account>)>,
    health: Option<tokio::task::AbortHandle>,
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
    connected: bool,
    /// Whether a subscription ever succeeded (the first connect has its own deadline).
    subscribed_once: bool,
    default_executor: bool,
    framework: Option<FrameworkInfo>,
    agent_id: Option<AgentId>,
    tasks: BTreeMap<String, Task>,
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
}

impl Executor {
    pub fn new(env: ExecutorEnv, client: AgentClient) -> Executor {
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        Executor {
            env,
            client,
            connected: false,
            subscribed_once: false,
            default_executor: false,
            framework: None,
            agent_id: None,
            tasks: BTreeMap::new(),
            unacknowledged: Vec::new(),
            events_tx,
            events_rx,
            next_group: 0,
            shutting_down: false,
            abandoned: false,
            ack_deadline: None,
        }
    }

    /// Runs until the executor's work is done; returns the process exit status.
    pub async fn run(mut self) -> i32 {
        let start = Instant::now();
        let mut link = Link::Disconnected {
            since: start,
            retry_at: start,
        };
        let far = start + Duration::from_secs(365 * 86_400);
        loop {
            if let Some(status) = self.finished() {
                return status;
            }
            let ack_deadline = self.ack_deadline;
            match &mut link {
                Link::Connected(stream) => {
                    tokio::select! {
                        event = stream.next() => match event {
                            Ok(Some(event)) => self.handle_event(event).await,
                            Ok(None) => link = self.lost("the agent closed the event stream"),
                            Err(e) => link = self.lost(&e.to_string()),
                        },
                        Some(event) = self.events_rx.recv() => self.handle_task_event(event).await,
                        () = tokio::time::sleep_until(ack_deadline.unwrap_or(far)), if ack_deadline.is_some() => {
                            tracing::warn!("no acknowledgement of the last terminal update; exiting");
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
                    }
                }
            }
        }
    }

    /// `Some(exit status)` when there is nothing left to do.
    fn finished(&self) -> Option<i32> {
        let all_ended = self.tasks.values().all(Task::terminal);
        if self.tasks.is_empty() {
            // Nothing launched: only a shutdown or a lost agent ends us.
            return (self.shutting_down || self.abandoned).then_some(0);
        }
        if !all_ended {
            return None;
        }
        if self.abandoned {
            return Some(0);
        }
        // Every update acknowledged: the agent has them all checkpointed.
        self.unacknowledged.is_empty().then_some(0)
    }

    /// One attempt to subscribe; the link that results.
    async fn resubscribe(&mut self, since: Instant) -> Link {
        let subscribe = Call {
            executor_id: ExecutorId {
                value: self.env.executor_id.clone(),
            },
            framework_id: FrameworkId {
                value: self.env.framework_id.clone(),
            },
            r#type: Some(call::Type::Subscribe as i32),
            subscribe: Some(call::Subscribe {
                unacknowledged_tasks: self.unacknowledged_tasks(),
                unacknowledged_updates: self.unacknowledged.clone(),
            }),
            ..Call::default()
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
            self.abandon();
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
        self.abandon();
        Link::Disconnected {
            since: now,
            retry_at: now,
        }
    }

    /// The agent is gone for good: kill every task, exit once they have ended.
    fn abandon(&mut self) {
        self.abandoned = true;
        self.kill_all(KillCause::Shutdown, Duration::ZERO);
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

    async fn launch_group(&mut self, tasks: Vec<TaskInfo>) {
        if !self.default_executor {
            // Only the default executor runs task groups.
            for task in tasks {
                self.fail_unlaunched(
                    task.task_id,
                    "LAUNCH_GROUP is for the default executor; this is a command executor",
                )
                .await;
            }
            return;
        }
        let group = self.next_group;
        self.next_group += 1;
        for task in tasks {
            self.launch(task, Some(group)).await;
        }
    }

    async fn launch(&mut self, info: TaskInfo, group: Option<u64>) {
        let task_id = info.task_id.value.clone();
        if self.shutting_down {
            return self
                .fail_unlaunched(info.task_id, "the executor is shutting down")
                .await;
        }
        if !self.default_executor && !self.tasks.is_empty() {
            return self
                .fail_unlaunched(
                    info.task_id,
                    "Attempted to run multiple tasks using a \"command\" executor",
                )
                .await;
        }
        if self.tasks.contains_key(&task_id) {
            tracing::warn!(task_id, "a LAUNCH for a task already launched; ignored");
            return;
        }
        let (kill_tx, kill_rx) = mpsc::unbounded_channel();
        self.tasks.insert(
            task_id.clone(),
            Task {
                info: info.clone(),
                group,
                kill: Some(kill_tx),
                cause: None,
                last: None,
                health_check: None,
                health: None,
            },
        );
        self.send_update(
            &task_id,
            self.status(&info.task_id, TaskState::TaskStarting),
        )
        .await;
        let prepared = self.prepare(&info).and_then(|launch| {
            let check = info
                .health_check
                .as_ref()
                .map(|check| HealthConfig::from_proto(check, &self.env.sandbox))
                .transpose()?;
            Ok((launch, check))
        });
        let launch = match prepared {
            Ok((launch, check)) => {
                if let Some(task) = self.tasks.get_mut(&task_id) {
                    task.health_check = check.map(|check| (check, launch.account.clone()));
                }
                launch
            }
            Err(message) => {
                if let Some(task) = self.tasks.get_mut(&task_id) {
                    task.kill = None;
                }
                let mut status = self.status(&info.task_id, TaskState::TaskFailed);
                status.message = Some(message);
                self.send_update(&task_id, status).await;
                return self.task_ended(&task_id, TaskState::TaskFailed).await;
            }
        };
        tokio::spawn(task::run(launch, kill_rx, self.events_tx.clone()));
    }

    /// What to run for `info`: its command, our environment plus its own, its user.
    fn prepare(&self, info: &TaskInfo) -> Result<Launch, String> {
        let command = info
            .command
            .as_ref()
            .ok_or_else(|| "the task has no 'command' to run".to_string())?;
        let mut spec = ProcessSpec::from_command(command, self.env.sandbox.clone())?;
        // The task's own variables win over ours.
        let mut env = vec![("MESOS_TASK_ID".to_string(), info.task_id.value.clone())];
        if let Some(role) = info
            .resources
            .iter()
            .find_map(|r| r.allocation_info.as_ref()?.role.clone())
        {
            env.push(("MESOS_ALLOCATION_ROLE".to_string(), role));
        }
        env.append(&mut spec.env);
        spec.env = env;
        let user = command
            .user
            .clone()
            .or_else(|| self.framework.as_ref().map(|f| f.user.clone()))
            .unwrap_or_default();
        let account = account_to_switch_to(&user)
            .map_err(|message| format!("Failed to run the task as its user: {message}"))?;
        let max_completion_time = info
            .max_completion_time
            .as_ref()
            .and_then(|d| u64::try_from(d.nanoseconds).ok())
            .filter(|&ns| ns > 0)
            .map(Duration::from_nanos);
        Ok(Launch {
            task_id: info.task_id.value.clone(),
            spec,
            account,
            max_completion_time,
        })
    }

    /// TASK_FAILED for a task we do not run (not kept: it has no process).
    async fn fail_unlaunched(&mut self, task_id: TaskId, message: &str) {
        let mut status = self.status(&task_id, TaskState::TaskFailed);
        status.message = Some(message.to_string());
        self.send_update(&task_id.value, status).await;
    }

    async fn kill_requested(&mut self, task_id: &TaskId, policy: Option<&KillPolicy>) {
        let Some(task) = self.tasks.get(&task_id.value) else {
            tracing::warn!(task_id = %task_id.value, "KILL for a task this executor does not run");
            if self.tasks.is_empty() && !self.default_executor {
                // Mesos's command executor ends when told to kill before any launch.
                self.shutting_down = true;
            }
            return;
        };
        let grace = grace_period(policy, task.info.kill_policy.as_ref());
        self.kill(&task_id.value, KillCause::Requested, grace).await;
    }

    /// Starts (or hurries) the kill of one task: TASK_KILLING first when the framework
    /// understands it, then the grace period to the runner.
    async fn kill(&mut self, task_id: &str, cause: KillCause, grace: Duration) {
        let Some(task) = self.tasks.get_mut(task_id) else {
            return;
        };
        if task.terminal() {
            return;
        }
        let first = task.cause.is_none();
        if first {
            task.cause = Some(cause);
            if let Some(health) = task.health.take() {
                health.abort();
            }
        }
        if let Some(kill) = &task.kill {
            let _ = kill.send(grace);
        }
        let healthy = task.last.as_ref().and_then(|s| s.healthy);
        if first && self.framework_has(framework_info::capability::Type::TaskKillingState) {
            let id = TaskId {
                value: task_id.to_string(),
            };
            let mut status = self.status(&id, TaskState::TaskKilling);
            status.healthy = healthy;
            self.send_update(task_id, status).await;
        }
    }

    /// Synchronous kill of every live task (no TASK_KILLING: used when the agent is
    /// gone, when no update could reach it anyway).
    fn kill_all(&mut self, cause: KillCause, grace: Duration) {
        for task in self.tasks.values_mut() {
            if task.terminal() {
                continue;
            }
            task.cause.get_or_insert(cause);
            if let Some(kill) = &task.kill {
                let _ = kill.send(grace);
            }
        }
    }

    async fn shutdown(&mut self) {
        tracing::info!("shutting down");
        self.shutting_down = true;
        let grace = self
            .env
            .shutdown_grace_period
            .saturating_sub(SHUTDOWN_MARGIN);
        let live: Vec<String> = self
            .tasks
            .iter()
            .filter(|(_, task)| !task.terminal())
            .map(|(id, _)| id.clone())
            .collect();
        for task_id in live {
            self.kill(&task_id, KillCause::Shutdown, grace).await;
        }
    }

    fn acknowledged(&mut self, uuid: &[u8]) {
        let before = self.unacknowledged.len();
        self.unacknowledged
            .retain(|update| update.status.uuid.as_deref() != Some(uuid));
        if self.unacknowledged.len() == before {
            tracing::warn!("acknowledgement of an unknown status update");
        }
    }

    async fn handle_task_event(&mut self, event: TaskEvent) {
        match event {
            TaskEvent::Started { task_id, .. } => {
                let Some(task) = self.tasks.get(&task_id) else {
                    return;
                };
                let id = task.info.task_id.clone();
                self.send_update(&task_id, self.status(&id, TaskState::TaskRunning))
                    .await;
                self.start_health_check(&task_id);
            }
            TaskEvent::LaunchFailed { task_id, message } => {
                let Some(task) = self.tasks.get_mut(&task_id) else {
                    return;
                };
                task.kill = None;
                let id = task.info.task_id.clone();
                let mut status = self.status(&id, TaskState::TaskFailed);
                status.message = Some(message);
                self.send_update(&task_id, status).await;
                self.task_ended(&task_id, TaskState::TaskFailed).await;
            }
            TaskEvent::Exited {
                task_id,
                exit,
                timed_out,
            } => {
                let Some(task) = self.tasks.get_mut(&task_id) else {
                    return;
                };
                task.kill = None;
                if let Some(health) = task.health.take() {
                    health.abort();
                }
                let cause = task.cause;
                let id = task.info.task_id.clone();
                let (state, reason) = terminal_state(&exit, cause.is_some(), timed_out);
                let mut status = self.status(&id, state);
                status.message = Some(exit.describe());
                status.reason = reason.map(|r| r as i32);
                if cause == Some(KillCause::Unhealthy) {
                    status.healthy = Some(false);
                }
                self.send_update(&task_id, status).await;
                self.task_ended(&task_id, state).await;
            }
            TaskEvent::Health {
                task_id,
                healthy,
                kill,
            } => self.health_changed(&task_id, healthy, kill).await,
        }
    }

    /// The default executor's group policy, and the deadline for the last acks.
    async fn task_ended(&mut self, task_id: &str, state: TaskState) {
        let group = self.tasks.get(task_id).and_then(|t| t.group);
        if let Some(group) = group
            && matches!(state, TaskState::TaskFailed | TaskState::TaskKilled)
        {
            let members: Vec<String> = self
                .tasks
                .iter()
                .filter(|(_, t)| t.group == Some(group) && !t.terminal())
                .map(|(id, _)| id.clone())
                .collect();
            for member in members {
                let grace = self.tasks.get(&member).map_or(Duration::ZERO, |t| {
                    grace_period(None, t.info.kill_policy.as_ref())
                });
                self.kill(&member, KillCause::GroupMember, grace).await;
            }
        }
        if self.tasks.values().all(Task::terminal) && self.ack_deadline.is_none() {
            self.ack_deadline = Some(Instant::now() + TERMINAL_ACK_TIMEOUT);
        }
    }

    fn start_health_check(&mut self, task_id: &str) {
        let Some(task) = self.tasks.get_mut(task_id) else {
            return;
        };
        if let Some((config, account)) = task.health_check.take() {
            let checker = health::run(task_id.to_string(), config, account, self.events_tx.clone());
            task.health = Some(tokio::spawn(checker).abort_handle());
        }
    }

    async fn health_changed(&mut self, task_id: &str, healthy: bool, kill: bool) {
        let Some(task) = self.tasks.get(task_id) else {
            return;
        };
        if task.terminal() || task.cause.is_some() {
            return;
        }
        let Some(mut status) = task.last.clone() else {
            return;
        };
        let grace = grace_period(None, task.info.kill_policy.as_ref());
        self.stamp(&mut status);
        status.message = None;
        status.healthy = Some(healthy);
        status.reason = Some(task_status::Reason::TaskHealthCheckStatusUpdated as i32);
        self.send_update(task_id, status).await;
        if kill {
            self.kill(task_id, KillCause::Unhealthy, grace).await;
        }
    }

    fn framework_has(&self, capability: framework_info::capability::Type) -> bool {
        self.framework.as_ref().is_some_and(|f| {
            f.capabilities
                .iter()
                .any(|c| c.r#type == Some(capability as i32))
        })
    }

    /// A fresh status of `task_id`: source, ids, time and a new uuid.
    fn status(&self, task_id: &TaskId, state: TaskState) -> TaskStatus {
        let mut status = TaskStatus {
            task_id: task_id.clone(),
            state: state as i32,
            ..TaskStatus::default()
        };
        self.stamp(&mut status);
        status
    }

    fn stamp(&self, status: &mut TaskStatus) {
        status.source = Some(task_status::Source::Executor as i32);
        status.executor_id = Some(ExecutorId {
            value: self.env.executor_id.clone(),
        });
        status.agent_id.clone_from(&self.agent_id);
        status.timestamp = Some(now_seconds());
        status.uuid = Some(uuid::Uuid::new_v4().as_bytes().to_vec());
    }

    /// Sends an UPDATE (when connected) and keeps it until acknowledged; a disconnected
    /// executor hands it over with its next SUBSCRIBE.
    async fn send_update(&mut self, task_id: &str, status: TaskStatus) {
        tracing::info!(
            task_id,
            state = ?TaskState::try_from(status.state).ok(),
            message = status.message.as_deref().unwrap_or(""),
            "status update"
        );
        if let Some(task) = self.tasks.get_mut(task_id) {
            task.last = Some(status.clone());
        }
        let update = call::Update { status };
        self.unacknowledged.push(update.clone());
        if !self.connected {
            return;
        }
        let call = Call {
            executor_id: ExecutorId {
                value: self.env.executor_id.clone(),
            },
            framework_id: FrameworkId {
                value: self.env.framework_id.clone(),
            },
            r#type: Some(call::Type::Update as i32),
            update: Some(update),
            ..Call::default()
        };
        if let Err(e) = self.client.call(&call).await {
            // Kept: a resubscription hands it over again.
            tracing::warn!(task_id, error = %e, "status update not delivered");
        }
    }
}

/// The terminal state of a task whose process ended, as Mesos's command executor
/// decides it.
pub fn terminal_state(
    exit: &Exit,
    killed: bool,
    timed_out: bool,
) -> (TaskState, Option<task_status::Reason>) {
    if timed_out {
        (
            TaskState::TaskFailed,
            Some(task_status::Reason::MaxCompletionTimeReached),
        )
    } else if killed {
        (TaskState::TaskKilled, None)
    } else if *exit == Exit::Code(0) {
        (TaskState::TaskFinished, None)
    } else {
        (TaskState::TaskFailed, None)
    }
}

fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
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
    use super::*;

    #[test]
    fn terminal_states_as_mesos_decides_them() {
        use task_status::Reason;
        assert_eq!(
            terminal_state(&Exit::Code(0), false, false),
            (TaskState::TaskFinished, None)
        );
        assert_eq!(
            terminal_state(&Exit::Code(2), false, false),
            (TaskState::TaskFailed, None)
        );
        assert_eq!(
            terminal_state(&Exit::Signal(libc::SIGSEGV), false, false),
            (TaskState::TaskFailed, None)
        );
        // Killed, however it ended.
        assert_eq!(
            terminal_state(&Exit::Code(0), true, false),
            (TaskState::TaskKilled, None)
        );
        assert_eq!(
            terminal_state(&Exit::Signal(libc::SIGKILL), true, false),
            (TaskState::TaskKilled, None)
        );
        // The time limit wins over the kill it caused.
        assert_eq!(
            terminal_state(&Exit::Signal(libc::SIGTERM), true, true),
            (
                TaskState::TaskFailed,
                Some(Reason::MaxCompletionTimeReached)
            )
        );
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
