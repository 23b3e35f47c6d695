//! The agent's book of executors: which executor each task runs under, what is queued
//! for an executor that has not subscribed yet, and what its container is held to.
//!
//! Pure data (no processes, no IO): the agent loop decides, this module remembers and
//! answers. Every task runs under an executor: command tasks under the agent's own
//! command executor (`ratufa executor`, executor id = task id), others under the
//! ExecutorInfo their framework gave.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use ratufa_proto::resources::Resources;
use ratufa_proto::v1::executor::Event;
use ratufa_proto::v1::executor_info::Type as ExecutorType;
use ratufa_proto::v1::{
    CommandInfo, ExecutorId, ExecutorInfo, FrameworkId, Resource, TaskGroupInfo, TaskInfo,
};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::isolator::Limits;

/// Mesos's allowance for the command executor itself, on top of its task's resources.
pub const COMMAND_EXECUTOR_CPUS: f64 = 0.1;
pub const COMMAND_EXECUTOR_MEM_MB: f64 = 32.0;

/// An executor, as the agent keys it (executor ids are unique within a framework).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExecutorKey {
    pub framework_id: String,
    pub executor_id: String,
}

/// Where an executor is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Launched (or being fetched for); has not subscribed yet.
    Registering,
    /// Subscribed: its event stream is open.
    Running,
    /// Told to shut down (or being destroyed): it gets nothing new.
    Terminating,
}

/// Something to hand the executor once it subscribes.
#[derive(Debug, Clone, PartialEq)]
pub enum Queued {
    Task(Box<TaskInfo>),
    Group(TaskGroupInfo),
}

impl Queued {
    pub fn task_ids(&self) -> Vec<String> {
        match self {
            Queued::Task(task) => vec![task.task_id.value.clone()],
            Queued::Group(group) => group
                .tasks
                .iter()
                .map(|t| t.task_id.value.clone())
                .collect(),
        }
    }

    /// The LAUNCH or LAUNCH_GROUP event that delivers it.
    pub fn event(&self) -> Event {
        use ratufa_proto::v1::executor::event;
        match self {
            Queued::Task(task) => Event {
                r#type: Some(event::Type::Launch as i32),
                launch: Some(event::Launch {
                    task: task.as_ref().clone(),
                }),
                ..Event::default()
            },
            Queued::Group(group) => Event {
                r#type: Some(event::Type::LaunchGroup as i32),
                launch_group: Some(event::LaunchGroup {
                    task_group: group.clone(),
                }),
                ..Event::default()
            },
        }
    }
}

/// Why the agent destroyed an executor, to tell its tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub reason: ratufa_proto::v1::task_status::Reason,
    pub message: String,
}

/// One executor and its container.
#[derive(Debug)]
pub struct ExecutorEntry {
    pub info: ExecutorInfo,
    pub container_id: String,
    pub sandbox: PathBuf,
    /// The agent's command executor: `info.resources` already include its task's.
    pub command: bool,
    pub phase: Phase,
    /// The subscription's event stream, once subscribed.
    pub events: Option<mpsc::UnboundedSender<Event>>,
    /// Launches waiting for the subscription.
    pub queued: Vec<Queued>,
    /// Other events (KILL) for tasks it already has, waiting for it to subscribe again
    /// (a recovered executor).
    pub held: Vec<Event>,
    /// Its tasks not yet terminal, queued or launched, with their resources.
    pub tasks: BTreeMap<String, Vec<Resource>>,
    /// Tasks handed to the executor (LAUNCH sent), for reconciliation on resubscription.
    pub launched: BTreeSet<String>,
    /// The executor's pid (its session and process group) once it runs.
    pub pid: Option<i32>,
    /// Asks its runner to kill it; gone once used.
    pub stop: Option<oneshot::Sender<std::time::Duration>>,
    /// When it must have subscribed by.
    pub registration_deadline: Option<Instant>,
    /// When a SHUTDOWN's grace period ends and the container is destroyed.
    pub destroy_at: Option<Instant>,
    /// Why the agent is destroying it, if it is.
    pub failure: Option<Failure>,
    /// Where it is checkpointed (its framework checkpoints).
    pub run: Option<crate::checkpoint::RunPath>,
    /// Found again after an agent restart (not our child): it must subscribe again
    /// within `--executor_reregistration_timeout`.
    pub recovered: bool,
    /// When the container shrinks to the tasks it still has (some ended); see
    /// [`SHRINK_DELAY`].
    pub shrink_at: Option<Instant>,
}

/// How long a container keeps the resources of tasks that ended before it shrinks to
/// the live ones. A default executor's tasks end hundreds of times a second; written
/// at each end, its cgroups took about 5 opens and writes per task (cpu.shares, the
/// memory limits, a read of the usage), ~16 system calls of the agent's. Growing is
/// never delayed: a task's resources are in its container before it starts. Keeping
/// an ended task's share a moment longer takes nothing from anyone: cpu shares are
/// relative, and memory limits are ceilings of one container each.
pub const SHRINK_DELAY: std::time::Duration = std::time::Duration::from_millis(100);

impl ExecutorEntry {
    pub fn new(info: ExecutorInfo, container_id: String, sandbox: PathBuf, command: bool) -> Self {
        ExecutorEntry {
            info,
            container_id,
            sandbox,
            command,
            phase: Phase::Registering,
            events: None,
            queued: Vec::new(),
            held: Vec::new(),
            tasks: BTreeMap::new(),
            launched: BTreeSet::new(),
            pid: None,
            stop: None,
            registration_deadline: None,
            destroy_at: None,
            failure: None,
            run: None,
            recovered: false,
            shrink_at: None,
        }
    }

    /// What its container may use: the executor's own resources plus its live tasks'
    /// (a command executor's resources already hold its task's).
    pub fn limits(&self) -> Limits {
        let tasks = self.tasks.values().filter(|_| !self.command).flatten();
        Limits::of(self.info.resources.iter().chain(tasks))
    }

    /// Sends `event` on the subscription; false when there is none (or it closed).
    pub fn send(&self, event: Event) -> bool {
        self.events
            .as_ref()
            .is_some_and(|events| events.send(event).is_ok())
    }

    /// The task is terminal: it no longer counts towards the container.
    pub fn task_ended(&mut self, task_id: &str) {
        self.tasks.remove(task_id);
    }

    /// Takes a queued task out (a kill before the executor subscribed). A task of a
    /// queued group takes its whole group out, as the group launches together or not
    /// at all; returns the ids that left the queue.
    pub fn unqueue(&mut self, task_id: &str) -> Vec<String> {
        let Some(at) = self
            .queued
            .iter()
            .position(|q| q.task_ids().iter().any(|id| id == task_id))
        else {
            return Vec::new();
        };
        let ids = self.queued.remove(at).task_ids();
        for id in &ids {
            self.tasks.remove(id);
        }
        ids
    }
}

// `source` is deprecated, but Mesos still sets it to the task id for its command
// executors, and `/state` and `/monitor/statistics` show it.
#[allow(deprecated)]
/// The ExecutorInfo of the agent's command executor for `task`: executor id = task id,
/// `executor` (the agent's executor command, [`crate::AgentConfig::executor_command`])
/// with the task's URIs (fetched into the sandbox before it starts) and user, and the
/// task's resources plus Mesos's allowance.
pub fn command_executor_info(
    task: &TaskInfo,
    framework_id: &FrameworkId,
    executor: CommandInfo,
) -> ExecutorInfo {
    let task_command = task.command.clone().unwrap_or_default();
    let mut resources = Resources::try_from_vec(task.resources.clone()).unwrap_or_default();
    if let Ok(mut allowance) = Resources::parse(
        &format!("cpus:{COMMAND_EXECUTOR_CPUS};mem:{COMMAND_EXECUTOR_MEM_MB}"),
        "*",
    ) {
        // Counted against the same role as the task's resources.
        if let Some(role) = resources.allocation_role().map(str::to_string) {
            allowance.allocate(&role);
        }
        resources += &allowance;
    }
    let shown = task_command.value.clone().unwrap_or_default();
    ExecutorInfo {
        r#type: Some(ExecutorType::Default as i32),
        executor_id: ExecutorId {
            value: task.task_id.value.clone(),
        },
        framework_id: Some(framework_id.clone()),
        command: Some(CommandInfo {
            uris: task_command.uris.clone(),
            user: task_command.user.clone(),
            ..executor
        }),
        resources: resources.into_vec(),
        name: Some(format!(
            "Command Executor (Task: {}) (Command: sh -c '{}')",
            task.task_id.value,
            shown.chars().take(80).collect::<String>()
        )),
        source: Some(task.task_id.value.clone()),
        // As Mesos's agent: checkpointed with the executor, it says how the task's
        // container was made.
        container: task.container.clone(),
        ..ExecutorInfo::default()
    }
}

/// The book itself.
#[derive(Debug, Default)]
pub struct Executors {
    entries: BTreeMap<ExecutorKey, ExecutorEntry>,
}

impl Executors {
    pub fn get(&self, key: &ExecutorKey) -> Option<&ExecutorEntry> {
        self.entries.get(key)
    }

    pub fn get_mut(&mut self, key: &ExecutorKey) -> Option<&mut ExecutorEntry> {
        self.entries.get_mut(key)
    }

    pub fn insert(&mut self, key: ExecutorKey, entry: ExecutorEntry) {
        self.entries.insert(key, entry);
    }

    pub fn remove(&mut self, key: &ExecutorKey) -> Option<ExecutorEntry> {
        self.entries.remove(key)
    }

    pub fn keys(&self) -> Vec<ExecutorKey> {
        self.entries.keys().cloned().collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&ExecutorKey, &ExecutorEntry)> {
        self.entries.iter()
    }

    pub fn of_framework(&self, framework_id: &str) -> Vec<ExecutorKey> {
        self.entries
            .keys()
            .filter(|k| k.framework_id == framework_id)
            .cloned()
            .collect()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The earliest deadline (registration, shutdown grace, a shrink) of any executor.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.entries
            .values()
            .flat_map(|e| {
                let registration = (e.phase == Phase::Registering)
                    .then_some(e.registration_deadline)
                    .flatten();
                [registration, e.destroy_at, e.shrink_at]
            })
            .flatten()
            .min()
    }

    /// Executors that did not subscribe in time (at `now`), not yet being destroyed.
    pub fn registration_expired(&self, now: Instant) -> Vec<ExecutorKey> {
        self.entries
            .iter()
            .filter(|(_, e)| {
                e.phase == Phase::Registering
                    && e.failure.is_none()
                    && e.registration_deadline.is_some_and(|d| d <= now)
            })
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Executors whose shutdown grace period is over.
    pub fn destroy_due(&self, now: Instant) -> Vec<ExecutorKey> {
        self.due(now, |e| e.destroy_at)
    }

    /// Executors whose container is due to shrink (at `now`).
    pub fn shrink_due(&self, now: Instant) -> Vec<ExecutorKey> {
        self.due(now, |e| e.shrink_at)
    }

    /// Executors whose time `at` has come (at `now`).
    fn due(
        &self,
        now: Instant,
        at: impl Fn(&ExecutorEntry) -> Option<Instant>,
    ) -> Vec<ExecutorKey> {
        self.entries
            .iter()
            .filter(|(_, e)| at(e).is_some_and(|d| d <= now))
            .map(|(k, _)| k.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use ratufa_proto::v1::TaskId;
    use std::time::Duration;

    fn task(id: &str, resources: &str) -> TaskInfo {
        TaskInfo {
            task_id: TaskId { value: id.into() },
            resources: Resources::parse(resources, "*").unwrap().into_vec(),
            command: Some(CommandInfo {
                value: Some("sleep 1".into()),
                ..CommandInfo::default()
            }),
            ..TaskInfo::default()
        }
    }

    fn framework_id() -> FrameworkId {
        FrameworkId { value: "F".into() }
    }

    #[test]
    fn the_command_executor_is_named_for_its_task_with_an_allowance() {
        let mut config = crate::AgentConfig::new("m:5050", "/w");
        // No `ratufa-executor` there: the big binary's subcommand.
        config.launcher_dir = Some("/nonexistent/bin".into());
        let info = command_executor_info(
            &task("t1", "cpus:1;mem:64"),
            &framework_id(),
            config.executor_command(),
        );
        assert_eq!(info.executor_id.value, "t1");
        let command = info.command.unwrap();
        assert_eq!(command.value.as_deref(), Some("/nonexistent/bin/ratufa"));
        assert_eq!(command.arguments, vec!["ratufa", "executor"]);
        assert_eq!(command.shell, Some(false));
        let limits = Limits::of(&info.resources);
        assert!((limits.cpus - 1.1).abs() < 1e-9, "{limits:?}");
        assert!((limits.mem_mb - 96.0).abs() < 1e-9, "{limits:?}");
    }

    #[test]
    fn the_executor_only_binary_is_preferred_where_the_launcher_dir_has_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ratufa-executor"), "").unwrap();
        let mut config = crate::AgentConfig::new("m:5050", "/w");
        config.launcher_dir = Some(dir.path().to_path_buf());
        let command = config.executor_command();
        let expected = dir.path().join("ratufa-executor");
        assert_eq!(command.value.as_deref(), expected.to_str());
        assert_eq!(command.arguments, vec!["ratufa-executor"]);
        assert_eq!(command.shell, Some(false));
    }

    #[test]
    fn a_pending_shrink_is_a_deadline_and_comes_due_at_its_time() {
        let mut executors = Executors::default();
        let key = ExecutorKey {
            framework_id: "F".into(),
            executor_id: "E".into(),
        };
        let entry = ExecutorEntry::new(ExecutorInfo::default(), "c".into(), "/s".into(), false);
        executors.insert(key.clone(), entry);
        assert_eq!(executors.next_deadline(), None);
        let now = Instant::now();
        executors.get_mut(&key).unwrap().shrink_at = Some(now + SHRINK_DELAY);
        assert_eq!(executors.next_deadline(), Some(now + SHRINK_DELAY));
        assert!(executors.shrink_due(now).is_empty());
        assert_eq!(executors.shrink_due(now + SHRINK_DELAY), vec![key]);
    }

    #[test]
    fn a_custom_container_grows_and_shrinks_with_its_tasks() {
        let info = ExecutorInfo {
            resources: Resources::parse("cpus:0.1;mem:32", "*").unwrap().into_vec(),
            ..ExecutorInfo::default()
        };
        let mut entry = ExecutorEntry::new(info, "c".into(), PathBuf::from("/s"), false);
        entry
            .tasks
            .insert("a".into(), task("a", "cpus:1;mem:100").resources);
        entry
            .tasks
            .insert("b".into(), task("b", "cpus:2;mem:200").resources);
        assert!((entry.limits().mem_mb - 332.0).abs() < 1e-9);
        entry.task_ended("a");
        assert!((entry.limits().mem_mb - 232.0).abs() < 1e-9);
        assert!((entry.limits().cpus - 2.1).abs() < 1e-9);
    }

    #[test]
    fn a_kill_before_subscription_takes_the_whole_group_out_of_the_queue() {
        let mut entry =
            ExecutorEntry::new(ExecutorInfo::default(), "c".into(), PathBuf::new(), false);
        let group = TaskGroupInfo {
            tasks: vec![task("g1", "cpus:1"), task("g2", "cpus:1")],
        };
        entry
            .queued
            .push(Queued::Task(Box::new(task("a", "cpus:1"))));
        entry.queued.push(Queued::Group(group));
        for id in ["a", "g1", "g2"] {
            entry.tasks.insert(id.into(), vec![]);
        }
        assert_eq!(entry.unqueue("g2"), vec!["g1", "g2"]);
        assert_eq!(entry.queued.len(), 1);
        assert_eq!(entry.tasks.keys().collect::<Vec<_>>(), vec!["a"]);
        assert!(entry.unqueue("zzz").is_empty());
    }

    #[test]
    fn deadlines_of_registration_and_shutdown() {
        let now = Instant::now();
        let mut book = Executors::default();
        let key = |id: &str| ExecutorKey {
            framework_id: "F".into(),
            executor_id: id.into(),
        };
        let mut late =
            ExecutorEntry::new(ExecutorInfo::default(), "1".into(), PathBuf::new(), true);
        late.registration_deadline = Some(now + Duration::from_secs(60));
        let mut dying =
            ExecutorEntry::new(ExecutorInfo::default(), "2".into(), PathBuf::new(), true);
        dying.phase = Phase::Terminating;
        dying.registration_deadline = Some(now);
        dying.destroy_at = Some(now + Duration::from_secs(5));
        book.insert(key("late"), late);
        book.insert(key("dying"), dying);
        assert_eq!(book.next_deadline(), Some(now + Duration::from_secs(5)));
        assert!(book.registration_expired(now).is_empty());
        assert_eq!(
            book.registration_expired(now + Duration::from_secs(61)),
            vec![key("late")]
        );
        assert_eq!(
            book.destroy_due(now + Duration::from_secs(5)),
            vec![key("dying")]
        );
    }
}
