//! The agent loop's side of executors: launching them into containers, serving their
//! calls (SUBSCRIBE, UPDATE, MESSAGE), delivering LAUNCH/KILL/MESSAGE/SHUTDOWN events,
//! and turning their ends (exit, limitation, registration timeout) into status updates.

use std::path::Path;
use std::time::Duration;

use ratufa_gateway::ApiError;
use ratufa_proto::ratufa::agentlink::{Call, call};
use ratufa_proto::v1::executor::{Event, event};
use ratufa_proto::v1::task_status::{Reason, Source};
use ratufa_proto::v1::{
    ContainerId, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, TaskInfo, TaskState,
    TaskStatus,
};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::{Agent, TaskEntry};
use crate::checkpoint::RunPath;
use crate::container_info;
use crate::executors::{ExecutorEntry, ExecutorKey, Failure, Phase, Queued, SHRINK_DELAY};
use crate::http::executor::ExecutorCall;
use crate::isolator::LimitedResource;
use crate::process::Exit;
use crate::runner::{self, Progress, Report};
use crate::updates::TaskKey;

/// How many executors' framework messages are held while the agent is not registered.
const MAX_HELD_MESSAGES: usize = 1024;

impl Agent {
    /// Hands `queued` (one task or a group, already in `self.tasks`) to executor `info`
    /// of `framework`, launching the executor first if it is not running.
    pub(super) fn launch_on_executor(
        &mut self,
        framework: &FrameworkInfo,
        info: ExecutorInfo,
        command: bool,
        mut queued: Queued,
    ) {
        if !self.config.switch_user {
            // --switch_user=false: no task asks its executor to switch users.
            let tasks: Vec<&mut TaskInfo> = match &mut queued {
                Queued::Task(task) => vec![task.as_mut()],
                Queued::Group(group) => group.tasks.iter_mut().collect(),
            };
            for task in tasks {
                if let Some(command) = task.command.as_mut() {
                    command.user = None;
                }
            }
        }
        let Some(framework_id) = framework.id.clone() else {
            return;
        };
        let key = ExecutorKey {
            framework_id: framework_id.value.clone(),
            executor_id: info.executor_id.value.clone(),
        };
        let task_ids = queued.task_ids();
        let resources: Vec<(String, Vec<ratufa_proto::v1::Resource>)> = match &queued {
            Queued::Task(task) => vec![(task.task_id.value.clone(), task.resources.clone())],
            Queued::Group(group) => group
                .tasks
                .iter()
                .map(|t| (t.task_id.value.clone(), t.resources.clone()))
                .collect(),
        };
        let first_task = match &queued {
            Queued::Task(task) => task.as_ref().clone(),
            Queued::Group(group) => group.tasks.first().cloned().unwrap_or_default(),
        };

        let terminating = self
            .executors
            .get(&key)
            .is_some_and(|e| e.phase == Phase::Terminating);
        if terminating {
            for task_id in &task_ids {
                self.fail_task(
                    &framework_id.value,
                    task_id,
                    "Executor terminating".to_string(),
                    Reason::ExecutorTerminated,
                );
            }
            return;
        }
        if let Some(refusal) = self.container_refusal(&key, &info, command, &queued) {
            warn!(framework_id = %key.framework_id, executor_id = %key.executor_id, message = %refusal.message, "container refused");
            for task_id in &task_ids {
                self.fail_task(
                    &framework_id.value,
                    task_id,
                    refusal.message.clone(),
                    refusal.reason,
                );
            }
            return;
        }
        if self.executors.get(&key).is_none()
            && let Err(message) = self.start_executor(&key, framework, info, command, &first_task)
        {
            for task_id in &task_ids {
                self.fail_task(
                    &framework_id.value,
                    task_id,
                    message.clone(),
                    Reason::ContainerLaunchFailed,
                );
            }
            return;
        }
        let run = self.executors.get(&key).and_then(|e| e.run.clone());
        if let Some(run) = &run {
            let tasks: Vec<TaskInfo> = match &queued {
                Queued::Task(task) => vec![task.as_ref().clone()],
                Queued::Group(group) => group.tasks.clone(),
            };
            for task in &tasks {
                self.checkpointed("task.info", self.checkpoint.write_task(run, task));
                let task_key = TaskKey {
                    framework_id: key.framework_id.clone(),
                    task_id: task.task_id.value.clone(),
                };
                if let Some(entry) = self.tasks.get_mut(&task_key) {
                    entry.run = Some(run.clone());
                }
            }
        }
        let Some(entry) = self.executors.get_mut(&key) else {
            return;
        };
        for (task_id, resources) in resources {
            entry.tasks.insert(task_id, resources);
        }
        if entry.phase == Phase::Running {
            entry.launched.extend(task_ids.iter().cloned());
            entry.send(queued.event());
            self.resize(&key);
        } else {
            entry.queued.push(queued);
        }
    }

    /// Why the ContainerInfos of this launch cannot run here, if they cannot: the
    /// executor's (when it is to be started; a command task's is the task's own) and
    /// each grouped task's (which Mesos's default executor gives its nested container).
    fn container_refusal(
        &self,
        key: &ExecutorKey,
        info: &ExecutorInfo,
        command: bool,
        queued: &Queued,
    ) -> Option<container_info::Refusal> {
        if let Queued::Group(group) = queued {
            for task in &group.tasks {
                if let Some(container) = &task.container
                    && let Err(mut refusal) = container_info::check(container, "TaskInfo.container")
                {
                    // Every task of the group fails with it: say whose it was.
                    refusal.message =
                        format!("{} (task '{}')", refusal.message, task.task_id.value);
                    return Some(refusal);
                }
            }
        }
        if self.executors.get(key).is_some() {
            return None;
        }
        let field = if command {
            "TaskInfo.container"
        } else {
            "ExecutorInfo.container"
        };
        info.container
            .as_ref()
            .and_then(|container| container_info::check(container, field).err())
    }

    /// Creates the executor's sandbox and spawns its launch (fetch, then the process in
    /// its container). Returns why it cannot start.
    fn start_executor(
        &mut self,
        key: &ExecutorKey,
        framework: &FrameworkInfo,
        info: ExecutorInfo,
        command: bool,
        first_task: &TaskInfo,
    ) -> Result<(), String> {
        let Some(agent_id) = self.agent_id().cloned() else {
            return Err("The agent has no id yet".to_string());
        };
        if !runner::safe_path_component(&key.framework_id)
            || !runner::safe_path_component(&key.executor_id)
        {
            return Err("The executor or framework id cannot name a sandbox directory".to_string());
        }
        let Some(executor_command) = info.command.clone() else {
            return Err("The executor has no command".to_string());
        };
        let container_id = uuid::Uuid::new_v4().to_string();
        let sandbox = runner::create_sandbox(
            &self.config.work_dir,
            &agent_id.value,
            &key.framework_id,
            &key.executor_id,
            &container_id,
        )
        .map_err(|e| format!("Failed to create the sandbox: {e}"))?;
        let user = executor_command
            .user
            .clone()
            .or_else(|| first_task.command.as_ref().and_then(|c| c.user.clone()))
            .or_else(|| Some(framework.user.clone()).filter(|u| !u.is_empty()));
        if self.config.switch_user
            && let Some(user) = &user
        {
            chown_to(&sandbox, user)?;
        }
        self.sandboxes.attach(
            framework,
            &key.executor_id,
            &container_id,
            &sandbox,
            first_task,
        );
        self.sandboxes
            .executor_info(&key.framework_id, &key.executor_id, &info);

        let env = self.executor_env(key, &info, framework, &sandbox, command);
        let surviving = framework.checkpoint.unwrap_or(false);
        let run = surviving.then(|| RunPath {
            agent_id: agent_id.value.clone(),
            framework_id: key.framework_id.clone(),
            executor_id: key.executor_id.clone(),
            container_id: container_id.clone(),
        });
        if run.is_some() {
            self.checkpointed(
                "framework.info",
                self.checkpoint.write_framework(&agent_id.value, framework),
            );
            self.checkpointed(
                "executor.info",
                self.checkpoint
                    .write_executor(&agent_id.value, &key.framework_id, &info),
            );
        }
        let mut entry = ExecutorEntry::new(info, container_id.clone(), sandbox.clone(), command);
        entry.run = run;
        entry.registration_deadline =
            Some(Instant::now() + self.config.executor_registration_timeout);
        let (stop_tx, stop_rx) = oneshot::channel();
        entry.stop = Some(stop_tx);
        let container = runner::Container {
            id: container_id,
            limits: entry.limits(),
            isolator: self.isolator.clone(),
            surviving,
        };
        info!(
            framework_id = %key.framework_id,
            executor_id = %key.executor_id,
            container_id = %container.id,
            sandbox = %sandbox.display(),
            "launching executor"
        );
        self.executors.insert(key.clone(), entry);
        tokio::spawn(crate::fetcher::fetch_and_run(
            self.fetcher.clone(),
            key.clone(),
            executor_command,
            sandbox,
            env,
            container,
            stop_rx,
            self.executor_reports_tx.clone(),
        ));
        Ok(())
    }

    /// The MESOS_* environment of an executor (its command's own variables are added
    /// over these by the runner).
    fn executor_env(
        &self,
        key: &ExecutorKey,
        info: &ExecutorInfo,
        framework: &FrameworkInfo,
        sandbox: &Path,
        command: bool,
    ) -> Vec<(String, String)> {
        let agent_id = self
            .agent_id()
            .map(|id| id.value.clone())
            .unwrap_or_default();
        let endpoint = self.endpoint.to_string();
        let checkpoint = if framework.checkpoint.unwrap_or(false) {
            "1"
        } else {
            "0"
        };
        let secs = |d: Duration| format!("{}secs", d.as_secs_f64());
        let mut env = vec![
            ("MESOS_FRAMEWORK_ID", key.framework_id.clone()),
            ("MESOS_EXECUTOR_ID", key.executor_id.clone()),
            ("MESOS_DIRECTORY", sandbox.display().to_string()),
            ("MESOS_SANDBOX", sandbox.display().to_string()),
            ("MESOS_SLAVE_ID", agent_id.clone()),
            ("MESOS_AGENT_ID", agent_id),
            ("MESOS_SLAVE_PID", format!("slave(1)@{endpoint}")),
            ("MESOS_AGENT_ENDPOINT", endpoint),
            ("MESOS_CHECKPOINT", checkpoint.to_string()),
            (
                "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
                secs(self.config.executor_shutdown_grace_period),
            ),
            ("MESOS_RECOVERY_TIMEOUT", "15mins".to_string()),
            ("MESOS_SUBSCRIPTION_BACKOFF_MAX", "2secs".to_string()),
        ];
        if command {
            env.push(("MESOS_HTTP_COMMAND_EXECUTOR", "1".to_string()));
        }
        let _ = info;
        env.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    /// The container follows its tasks: new limits after a task starts or ends.
    fn resize(&mut self, key: &ExecutorKey) {
        let Some(entry) = self.executors.get_mut(key) else {
            return;
        };
        // The limits written now are the live tasks': a pending shrink is done too.
        entry.shrink_at = None;
        if entry.command || entry.pid.is_none() {
            return;
        }
        if let Err(e) = self.isolator.update(&entry.container_id, &entry.limits()) {
            warn!(executor_id = %key.executor_id, error = %e, "cannot resize the executor's container");
        }
    }

    // -----------------------------------------------------------------------------
    // Calls from executors

    pub(super) fn on_executor_call(&mut self, call: ExecutorCall) {
        // The pid gate: an executor of a checkpointing framework may not subscribe or
        // send updates before its pid is on disk, or an agent dying in between would
        // restart without knowing a live executor. Mesos holds the forked child before
        // exec until then; our vfork-style spawn cannot block the child, so the agent
        // holds the child's first calls instead, which is equivalent: nothing it does
        // counts before the agent could recover it. The registration timeout bounds
        // the wait (the container is destroyed, and the held calls answered, then).
        let key = match &call {
            ExecutorCall::Subscribe { key, .. } | ExecutorCall::Update { key, .. } => Some(key),
            ExecutorCall::Message { .. } => None,
        };
        if let Some(key) = key {
            let awaits = self
                .executors
                .get(key)
                .is_some_and(|e| e.run.is_some() && e.pid.is_none() && !e.recovered);
            if awaits {
                debug!(framework_id = %key.framework_id, executor_id = %key.executor_id, "holding the executor's call until its pid is checkpointed");
                self.awaiting_pid.entry(key.clone()).or_default().push(call);
                return;
            }
        }
        match call {
            ExecutorCall::Subscribe {
                key,
                subscribe,
                events,
                reply,
            } => {
                let result = self.subscribe_executor(&key, subscribe, events);
                let _ = reply.send(result);
            }
            ExecutorCall::Update { key, status, reply } => {
                let result = self.executor_update(&key, *status);
                let _ = reply.send(result);
            }
            ExecutorCall::Message { key, data, reply } => {
                let result = self.subscribed(&key).map(|_| Call {
                    r#type: Some(call::Type::FrameworkMessage as i32),
                    framework_message: Some(call::FrameworkMessage {
                        framework_id: FrameworkId {
                            value: key.framework_id.clone(),
                        },
                        executor_id: ExecutorId {
                            value: key.executor_id.clone(),
                        },
                        data,
                    }),
                    ..Call::default()
                });
                let result = result.map(|call| self.send_or_hold(call));
                let _ = reply.send(result);
            }
        }
    }

    /// The executor's calls held until its pid was on disk (or until it was gone),
    /// handled in the order they came.
    fn release_awaiting_pid(&mut self, key: &ExecutorKey) {
        for call in self.awaiting_pid.remove(key).unwrap_or_default() {
            self.on_executor_call(call);
        }
    }

    /// A framework message goes to the master now, or once the agent is registered
    /// again (Mesos drops it; an executor that says something right after it
    /// resubscribed to a recovering agent would be lost).
    fn send_or_hold(&mut self, call: Call) {
        if self.registered() {
            self.send_call(call);
            return;
        }
        if self.held_messages.len() >= MAX_HELD_MESSAGES {
            warn!("too many framework messages held while unregistered; dropping the oldest");
            self.held_messages.pop_front();
        }
        self.held_messages.push_back(call);
    }

    /// The executor, if it is known and subscribed (400 / 403 otherwise).
    fn subscribed(&self, key: &ExecutorKey) -> Result<&ExecutorEntry, ApiError> {
        let entry = self.known_executor(key)?;
        if entry.events.is_none() {
            return Err(ApiError::forbidden("Executor is not subscribed"));
        }
        Ok(entry)
    }

    fn known_executor(&self, key: &ExecutorKey) -> Result<&ExecutorEntry, ApiError> {
        if !self.frameworks.contains_key(&key.framework_id) {
            return Err(ApiError::bad_request(format!(
                "Framework {} cannot be found",
                key.framework_id
            )));
        }
        self.executors.get(key).ok_or_else(|| {
            ApiError::bad_request(format!(
                "Executor {} of framework {} cannot be found",
                key.executor_id, key.framework_id
            ))
        })
    }

    fn subscribe_executor(
        &mut self,
        key: &ExecutorKey,
        subscribe: ratufa_proto::v1::executor::call::Subscribe,
        events: tokio::sync::mpsc::UnboundedSender<Event>,
    ) -> Result<(), ApiError> {
        self.known_executor(key)?;
        let mut framework_info = self
            .frameworks
            .get(&key.framework_id)
            .cloned()
            .unwrap_or_default();
        if !self.config.switch_user {
            // --switch_user=false: tasks run as the executor's (the agent's) user.
            framework_info.user.clear();
        }
        let agent_info = self.info.clone();
        let Some(entry) = self.executors.get_mut(key) else {
            return Err(ApiError::bad_request("Executor cannot be found"));
        };
        if entry.phase == Phase::Terminating {
            return Err(ApiError::bad_request("Executor is terminating"));
        }
        info!(
            framework_id = %key.framework_id,
            executor_id = %key.executor_id,
            resubscribed = entry.events.is_some(),
            "executor subscribed"
        );
        let subscribed = Event {
            r#type: Some(event::Type::Subscribed as i32),
            subscribed: Some(event::Subscribed {
                executor_info: entry.info.clone(),
                framework_info,
                agent_info,
                container_id: Some(ContainerId {
                    value: entry.container_id.clone(),
                    parent: None,
                }),
            }),
            ..Event::default()
        };
        // A new subscription replaces the old: dropping its sender ends that stream.
        let _ = events.send(subscribed);
        entry.events = Some(events);
        entry.phase = Phase::Running;
        entry.registration_deadline = None;
        // Tasks it was handed before but does not know (it lost them in a restart of
        // its own) cannot run: Mesos fails them.
        let known: std::collections::BTreeSet<String> = subscribe
            .unacknowledged_tasks
            .iter()
            .map(|t| t.task_id.value.clone())
            .collect();
        let lost: Vec<String> = entry
            .launched
            .iter()
            .filter(|id| !known.contains(*id))
            .cloned()
            .collect();
        for queued in std::mem::take(&mut entry.queued) {
            entry.launched.extend(queued.task_ids());
            entry.send(queued.event());
        }
        for held in std::mem::take(&mut entry.held) {
            entry.send(held);
        }
        self.resize(key);
        for task_id in lost {
            let task_key = TaskKey {
                framework_id: key.framework_id.clone(),
                task_id: task_id.clone(),
            };
            let staging = self
                .tasks
                .get(&task_key)
                .is_some_and(|t| t.state == TaskState::TaskStaging);
            if staging {
                self.fail_task(
                    &key.framework_id,
                    &task_id,
                    "Task launched during agent restart".to_string(),
                    Reason::AgentRestarted,
                );
            }
        }
        // Updates it sent that never reached us (the agent went down first) go on
        // now; those we already have are not queued twice.
        for update in subscribe.unacknowledged_updates {
            let status = update.status;
            let task_key = TaskKey {
                framework_id: key.framework_id.clone(),
                task_id: status.task_id.value.clone(),
            };
            if !self
                .updates
                .knows(&task_key, status.uuid.as_deref().unwrap_or_default())
            {
                let _ = self.take_executor_status(key, status);
            }
        }
        Ok(())
    }

    fn executor_update(&mut self, key: &ExecutorKey, status: TaskStatus) -> Result<(), ApiError> {
        self.subscribed(key)?;
        let task_id = status.task_id.clone();
        let uuid = status.uuid.clone().unwrap_or_default();
        self.take_executor_status(key, status)?;
        // Recorded (and checkpointed): the executor may forget it.
        if let Some(entry) = self.executors.get(key) {
            entry.send(Event {
                r#type: Some(event::Type::Acknowledged as i32),
                acknowledged: Some(event::Acknowledged { task_id, uuid }),
                ..Event::default()
            });
        }
        Ok(())
    }

    /// Records an executor's status update and queues it for the master.
    fn take_executor_status(
        &mut self,
        key: &ExecutorKey,
        mut status: TaskStatus,
    ) -> Result<(), ApiError> {
        let task_key = TaskKey {
            framework_id: key.framework_id.clone(),
            task_id: status.task_id.value.clone(),
        };
        if !self.tasks.contains_key(&task_key) {
            return Err(ApiError::bad_request(format!(
                "Task {} of framework {} is unknown to the agent",
                task_key.task_id, task_key.framework_id
            )));
        }
        status.agent_id = self.info.id.clone();
        status.executor_id = Some(ExecutorId {
            value: key.executor_id.clone(),
        });
        // A task the kernel OOM-killed is reported by its executor as a plain failure
        // (or a kill) before the runner's poll sees the limitation: the limitation is
        // the truth, and a container that hit one fails its tasks.
        if matches!(
            TaskState::try_from(status.state),
            Ok(TaskState::TaskFailed | TaskState::TaskKilled)
        ) && let Some(executor) = self.executors.get(key)
            && let Some(limitation) = self.isolator.limitation(&executor.container_id)
        {
            let reason = match limitation.resource {
                LimitedResource::Memory => Reason::ContainerLimitationMemory,
            };
            status.state = TaskState::TaskFailed as i32;
            status.reason = Some(reason as i32);
            status.message = Some(limitation.message);
            status.source = Some(Source::Agent as i32);
        }
        if status.timestamp.is_none() {
            status.timestamp = Some(crate::status::now_seconds());
        }
        if let Some(entry) = self.tasks.get(&task_key)
            && let Some(executor) = self.executors.get(key)
            && status.state == TaskState::TaskRunning as i32
            && let Some(pid) = executor.pid
        {
            let _ = entry;
            self.sandboxes
                .set_pid(&key.framework_id, &key.executor_id, pid);
        }
        self.record(&task_key, status);
        Ok(())
    }

    /// `state` for a task the agent itself ends (its executor is gone or never came).
    pub(super) fn fail_task(
        &mut self,
        framework_id: &str,
        task_id: &str,
        message: String,
        reason: Reason,
    ) {
        let key = TaskKey {
            framework_id: framework_id.to_string(),
            task_id: task_id.to_string(),
        };
        self.update(
            &key,
            TaskState::TaskFailed,
            Source::Agent,
            Some(message),
            Some(reason),
        );
    }

    /// A task of an executor reached a terminal state: its container shrinks.
    pub(super) fn executor_task_ended(&mut self, key: &TaskKey) {
        let Some(executor_id) = self.tasks.get(key).map(|t| t.executor_id.clone()) else {
            return;
        };
        let executor = ExecutorKey {
            framework_id: key.framework_id.clone(),
            executor_id,
        };
        if let Some(entry) = self.executors.get_mut(&executor) {
            entry.task_ended(&key.task_id);
            // Shrinking waits (SHRINK_DELAY), so tasks ending together cost one; a
            // command executor's container never follows its task (see `resize`).
            if !entry.command {
                entry
                    .shrink_at
                    .get_or_insert_with(|| Instant::now() + SHRINK_DELAY);
            }
        }
    }

    // -----------------------------------------------------------------------------
    // Commands for executors

    /// KILL_TASK for a task under an executor.
    pub(super) fn kill_on_executor(
        &mut self,
        key: &TaskKey,
        executor_id: &str,
        kill_policy: Option<ratufa_proto::v1::KillPolicy>,
    ) {
        let executor = ExecutorKey {
            framework_id: key.framework_id.clone(),
            executor_id: executor_id.to_string(),
        };
        let Some(entry) = self.executors.get_mut(&executor) else {
            return;
        };
        let unqueued = entry.unqueue(&key.task_id);
        if !unqueued.is_empty() {
            // Never handed over: the agent ends it itself, as Mesos does.
            let idle = entry.tasks.is_empty() && entry.queued.is_empty();
            for task_id in unqueued {
                let task_key = TaskKey {
                    framework_id: key.framework_id.clone(),
                    task_id,
                };
                self.update(
                    &task_key,
                    TaskState::TaskKilled,
                    Source::Agent,
                    Some("Killed before delivery to the executor".to_string()),
                    Some(Reason::TaskKilledDuringLaunch),
                );
            }
            if idle {
                self.destroy_executor(&executor, None);
            }
            return;
        }
        let kill = Event {
            r#type: Some(event::Type::Kill as i32),
            kill: Some(event::Kill {
                task_id: ratufa_proto::v1::TaskId {
                    value: key.task_id.clone(),
                },
                kill_policy,
            }),
            ..Event::default()
        };
        match entry.phase {
            Phase::Running => {
                entry.send(kill);
            }
            // A recovered executor has the task but has not subscribed again yet.
            Phase::Registering => entry.held.push(kill),
            Phase::Terminating => {}
        }
    }

    /// FRAMEWORK_MESSAGE from the master: a MESSAGE event for the executor.
    pub(super) fn message_executor(&mut self, key: &ExecutorKey, data: Vec<u8>) {
        match self.executors.get(key) {
            Some(entry) if entry.events.is_some() => {
                entry.send(Event {
                    r#type: Some(event::Type::Message as i32),
                    message: Some(event::Message { data }),
                    ..Event::default()
                });
            }
            _ => info!(
                framework_id = %key.framework_id,
                executor_id = %key.executor_id,
                bytes = data.len(),
                "dropping a framework message for an executor not subscribed here"
            ),
        }
    }

    /// SHUTDOWN to the executor; its container is destroyed after the grace period
    /// (at once when it has not subscribed).
    pub(super) fn shutdown_executor(&mut self, key: &ExecutorKey) {
        let grace = self.config.executor_shutdown_grace_period;
        let Some(entry) = self.executors.get_mut(key) else {
            return;
        };
        if entry.phase == Phase::Terminating {
            return;
        }
        info!(framework_id = %key.framework_id, executor_id = %key.executor_id, ?grace, "shutting the executor down");
        entry.phase = Phase::Terminating;
        let told = entry.send(Event {
            r#type: Some(event::Type::Shutdown as i32),
            ..Event::default()
        });
        if told {
            entry.destroy_at = Some(Instant::now() + grace);
        } else {
            self.destroy_executor(key, None);
        }
    }

    /// Kills the executor's container now. `failure` says why, for its tasks.
    pub(super) fn destroy_executor(&mut self, key: &ExecutorKey, failure: Option<Failure>) {
        let Some(entry) = self.executors.get_mut(key) else {
            return;
        };
        entry.phase = Phase::Terminating;
        entry.destroy_at = None;
        if entry.failure.is_none() {
            entry.failure = failure;
        }
        if let Some(stop) = entry.stop.take() {
            debug!(framework_id = %key.framework_id, executor_id = %key.executor_id, "destroying the executor's container");
            let _ = stop.send(Duration::ZERO);
        }
    }

    /// Registration timeouts and shutdown grace periods that are over.
    pub(super) fn executor_deadlines(&mut self) {
        let now = Instant::now();
        for key in self.executors.registration_expired(now) {
            let recovered = self.executors.get(&key).is_some_and(|e| e.recovered);
            let failure = if recovered {
                let timeout = self.config.executor_reregistration_timeout;
                Failure {
                    reason: Reason::ExecutorReregistrationTimeout,
                    message: format!(
                        "Executor did not reregister within {}secs",
                        timeout.as_secs_f64()
                    ),
                }
            } else {
                let timeout = self.config.executor_registration_timeout;
                Failure {
                    reason: Reason::ExecutorRegistrationTimeout,
                    message: format!(
                        "Executor did not register within {}secs",
                        timeout.as_secs_f64()
                    ),
                }
            };
            warn!(framework_id = %key.framework_id, executor_id = %key.executor_id, message = %failure.message, "executor did not subscribe in time");
            self.destroy_executor(&key, Some(failure));
        }
        for key in self.executors.destroy_due(now) {
            self.destroy_executor(&key, None);
        }
        for key in self.executors.shrink_due(now) {
            self.resize(&key);
        }
    }

    // -----------------------------------------------------------------------------
    // What the executors' runners report

    pub(super) fn on_executor_report(&mut self, Report { key, progress }: Report<ExecutorKey>) {
        match progress {
            Progress::Running { pid } => {
                debug!(framework_id = %key.framework_id, executor_id = %key.executor_id, pid, "executor running");
                let mut run = None;
                if let Some(entry) = self.executors.get_mut(&key) {
                    entry.pid = Some(pid);
                    run = entry.run.clone();
                }
                if let Some(run) = &run {
                    // Read now, while the executor cannot have been reaped: even one
                    // that already exited is a zombie of ours until its runner waits.
                    let started = crate::process::start_time(pid);
                    self.checkpointed("forked.pid", self.checkpoint.write_pid(run, pid, started));
                }
                self.sandboxes
                    .set_pid(&key.framework_id, &key.executor_id, pid);
                self.resize(&key);
                self.release_awaiting_pid(&key);
            }
            Progress::LaunchFailed { message } => {
                self.executor_gone(&key, Reason::ContainerLaunchFailed, message, None);
            }
            Progress::FetchFailed { message } => {
                warn!(framework_id = %key.framework_id, executor_id = %key.executor_id, %message, "fetch failed");
                self.executor_gone(
                    &key,
                    Reason::ContainerLaunchFailed,
                    format!("Failed to launch container: {message}"),
                    None,
                );
            }
            Progress::Limited { limitation } => {
                let reason = match limitation.resource {
                    LimitedResource::Memory => Reason::ContainerLimitationMemory,
                };
                info!(framework_id = %key.framework_id, executor_id = %key.executor_id, message = %limitation.message, "executor's container hit a limit");
                self.executor_gone(&key, reason, limitation.message, None);
            }
            Progress::Exited { exit, .. } => {
                info!(framework_id = %key.framework_id, executor_id = %key.executor_id, ?exit, "executor ended");
                let message = match &exit {
                    Exit::Code(code) => format!("Executor exited with status {code}"),
                    Exit::Signal(signal) => format!("Executor terminated with signal {signal}"),
                    Exit::Unknown(why) => format!("Executor terminated: {why}"),
                };
                self.executor_gone(&key, Reason::ExecutorTerminated, message, Some(exit));
            }
        }
    }

    /// The executor's container is gone: its tasks not yet terminal fail, the master
    /// learns of it, and the sandbox is scheduled for removal.
    pub(super) fn executor_gone(
        &mut self,
        key: &ExecutorKey,
        reason: Reason,
        message: String,
        exit: Option<Exit>,
    ) {
        let entry = self.executors.remove(key);
        // Calls held for its pid are answered now, as for any unknown executor.
        self.release_awaiting_pid(key);
        let Some(entry) = entry else {
            return;
        };
        let (reason, message) = match entry.failure {
            Some(failure) => (failure.reason, failure.message),
            None => (reason, message),
        };
        let mut task_ids: Vec<String> = entry.tasks.keys().cloned().collect();
        for queued in &entry.queued {
            task_ids.extend(queued.task_ids());
        }
        task_ids.sort();
        task_ids.dedup();
        for task_id in task_ids {
            self.fail_task(&key.framework_id, &task_id, message.clone(), reason);
        }
        self.sandboxes
            .executor_ended(&key.framework_id, &key.executor_id);
        self.gc.schedule(entry.sandbox.clone());
        if let Some(run) = &entry.run {
            self.checkpointed("completed", self.checkpoint.mark_completed(run));
            self.remove_run_if_done(run);
        }
        self.forget_framework_if_done(&key.framework_id);
        // The master books only the executors frameworks gave; the agent's own command
        // executors are not reported (Mesos's agent does not either, and schedulers
        // take a FAILURE event for an executor they never named as an error).
        if entry.command {
            return;
        }
        let status = match exit {
            Some(Exit::Code(code)) => Some(code << 8),
            Some(Exit::Signal(signal)) => Some(signal),
            _ => None,
        };
        self.send_call(Call {
            r#type: Some(call::Type::ExecutorExited as i32),
            executor_exited: Some(call::ExecutorExited {
                framework_id: FrameworkId {
                    value: key.framework_id.clone(),
                },
                executor_id: ExecutorId {
                    value: key.executor_id.clone(),
                },
                status,
            }),
            ..Call::default()
        });
    }

    /// A task entry for a task handed to an executor.
    pub(super) fn task_entry(
        task: TaskInfo,
        framework_id: FrameworkId,
        executor_id: &str,
    ) -> TaskEntry {
        TaskEntry {
            task,
            framework_id,
            state: TaskState::TaskStaging,
            silent: false,
            executor_id: executor_id.to_string(),
            run: None,
        }
    }

    /// A checkpoint write failed: the agent carries on (the run may not be recoverable
    /// after a restart), saying so.
    pub(super) fn checkpointed(&self, what: &str, result: Result<(), crate::AgentError>) {
        if let Err(e) = result {
            tracing::error!(what, error = %e, "checkpoint write failed");
        }
    }

    /// Forgets a run's checkpoint once its executor is gone and every update of its
    /// tasks was acknowledged.
    pub(super) fn remove_run_if_done(&self, run: &RunPath) {
        let live = self
            .executors
            .iter()
            .any(|(_, e)| e.run.as_ref() == Some(run));
        let tasks = self.tasks.values().any(|t| t.run.as_ref() == Some(run));
        if !live && !tasks {
            self.checkpointed("run removal", self.checkpoint.remove_run(run));
        }
    }
}

/// Hands `sandbox` to `user` (we are root and the task runs as that user).
fn chown_to(sandbox: &Path, user: &str) -> Result<(), String> {
    // SAFETY: geteuid and getegid read our own credentials.
    let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
    if euid != 0 {
        return Ok(());
    }
    // Root's task in a sandbox we (root, group root) made: it is root's already, and
    // the password database need not be read (the user is looked up each time
    // otherwise: accounts change while the agent runs).
    if user == "root" && egid == 0 {
        return Ok(());
    }
    let name = std::ffi::CString::new(user).map_err(|_| format!("Bad user name '{user}'"))?;
    // SAFETY: getpwnam reads the password database; the result is copied out at once
    // and the loop calls it from one thread.
    let passwd = unsafe { libc::getpwnam(name.as_ptr()) };
    if passwd.is_null() {
        return Err(format!(
            "Failed to chown the sandbox: user '{user}' does not exist"
        ));
    }
    // SAFETY: checked non-null above; getpwnam's result points to static storage.
    let (uid, gid) = unsafe { ((*passwd).pw_uid, (*passwd).pw_gid) };
    std::os::unix::fs::chown(sandbox, Some(uid), Some(gid))
        .map_err(|e| format!("Failed to chown the sandbox to '{user}': {e}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::os::unix::fs::MetadataExt;

    use super::chown_to;

    /// (The tests run as root.) Another user gets the sandbox, looked up by name; root
    /// keeps it; a user that does not exist is an error naming it.
    #[test]
    fn the_sandbox_goes_to_the_tasks_user() {
        let dir = tempfile::tempdir().unwrap();
        let owner = || {
            let meta = std::fs::metadata(dir.path()).unwrap();
            (meta.uid(), meta.gid())
        };
        chown_to(dir.path(), "nobody").unwrap();
        let nobody = c"nobody";
        // SAFETY: getpwnam reads the password database; checked non-null, read at once.
        let expected = unsafe {
            let passwd = libc::getpwnam(nobody.as_ptr());
            assert!(!passwd.is_null());
            ((*passwd).pw_uid, (*passwd).pw_gid)
        };
        assert_eq!(owner(), expected);
        std::os::unix::fs::chown(dir.path(), Some(0), Some(0)).unwrap();
        chown_to(dir.path(), "root").unwrap();
        assert_eq!(owner(), (0, 0));
        let error = chown_to(dir.path(), "no-such-user-smallfix").unwrap_err();
        assert!(
            error.contains("'no-such-user-smallfix' does not exist"),
            "{error}"
        );
    }
}
