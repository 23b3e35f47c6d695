//! A simulated agent: what it runs, and its status updates, kept and retried the way
//! the real agent's status-update manager does (one in flight per task, resent after
//! 10 s doubling to 10 min, the next one only after an ACKNOWLEDGE).

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use ratufa_master::core::{ConnectionId, Time};
use ratufa_proto::ratufa::agentlink::{Call, call};
use ratufa_proto::resources::Resources;
use ratufa_proto::v1::{
    AgentId, AgentInfo, FrameworkId, FrameworkInfo, Task, TaskInfo, TaskState, TaskStatus,
};

pub const RETRY_MIN: Duration = Duration::from_secs(10);
pub const RETRY_MAX: Duration = Duration::from_secs(600);

/// (framework id, task id).
pub type TaskKey = (String, String);

/// A task the agent runs (or ran: it is kept until its terminal update is acked).
#[derive(Debug, Clone)]
pub struct SimTask {
    pub info: TaskInfo,
    pub state: TaskState,
}

/// One task's updates not yet acknowledged, oldest first.
#[derive(Debug, Clone, Default)]
pub struct UpdateStream {
    pub pending: VecDeque<TaskStatus>,
    /// When the head is due again, and the backoff it was sent with; `None` while the
    /// head was never sent on the current stream.
    pub in_flight: Option<(Time, Duration)>,
}

#[derive(Debug)]
pub struct SimAgent {
    pub hostname: String,
    /// Its `--resources`.
    pub resources: String,
    /// Set by the first SUBSCRIBED; kept across crashes (its checkpoint).
    pub id: Option<AgentId>,
    /// The stream it subscribed on, while it believes it has one.
    pub conn: Option<ConnectionId>,
    /// Whether SUBSCRIBED arrived on `conn` (calls before it have no agent id to carry).
    pub subscribed: bool,
    /// When a disconnected agent subscribes again.
    pub reconnect_at: Option<Time>,
    /// PINGs are ignored until then.
    pub deaf_until: Time,
    pub tasks: BTreeMap<TaskKey, SimTask>,
    pub frameworks: BTreeMap<String, FrameworkInfo>,
    pub updates: BTreeMap<TaskKey, UpdateStream>,
}

impl SimAgent {
    pub fn new(hostname: String, resources: String) -> SimAgent {
        SimAgent {
            hostname,
            resources,
            id: None,
            conn: None,
            subscribed: false,
            reconnect_at: None,
            deaf_until: Time::ZERO,
            tasks: BTreeMap::new(),
            frameworks: BTreeMap::new(),
            updates: BTreeMap::new(),
        }
    }

    pub fn total(&self) -> Resources {
        Resources::parse(&self.resources, "*").unwrap_or_default()
    }

    pub fn id_str(&self) -> &str {
        self.id.as_ref().map_or("", |id| id.value.as_str())
    }

    pub fn is_connected(&self) -> bool {
        self.conn.is_some() && self.subscribed
    }

    /// The SUBSCRIBE call: with its id, tasks and their frameworks when it has them.
    pub fn subscribe_call(&self) -> call::Subscribe {
        let agent_id = self.id.clone().unwrap_or_default();
        let mut tasks = Vec::new();
        let mut frameworks: BTreeMap<String, FrameworkInfo> = BTreeMap::new();
        for (key, task) in &self.tasks {
            let unacked = self.updates.get(key).and_then(|s| s.pending.front());
            tasks.push(Task {
                name: task.info.name.clone(),
                task_id: task.info.task_id.clone(),
                framework_id: FrameworkId {
                    value: key.0.clone(),
                },
                agent_id: agent_id.clone(),
                state: task.state as i32,
                resources: task.info.resources.clone(),
                statuses: unacked.cloned().into_iter().collect(),
                status_update_state: unacked.map(|s| s.state),
                status_update_uuid: unacked.and_then(|s| s.uuid.clone()),
                labels: task.info.labels.clone(),
                ..Task::default()
            });
            if let Some(info) = self.frameworks.get(&key.0) {
                frameworks.insert(key.0.clone(), info.clone());
            }
        }
        call::Subscribe {
            agent_info: AgentInfo {
                hostname: self.hostname.clone(),
                port: Some(5051),
                resources: self.total().into_vec(),
                id: self.id.clone(),
                ..AgentInfo::default()
            },
            tasks,
            executors: Vec::new(),
            frameworks: frameworks.into_values().collect(),
            version: Some("sim".to_string()),
            ip: None,
        }
    }

    /// Queues an update behind the task's earlier ones.
    pub fn push_update(&mut self, key: TaskKey, status: TaskStatus) {
        self.updates
            .entry(key)
            .or_default()
            .pending
            .push_back(status);
    }

    /// The updates to send at `now` (heads never sent on this stream, or whose retry
    /// is due), marked as sent.
    pub fn due_updates(&mut self, now: Time) -> Vec<Call> {
        let Some(agent_id) = self.id.clone() else {
            return Vec::new();
        };
        let mut calls = Vec::new();
        for (key, stream) in &mut self.updates {
            let Some(head) = stream.pending.front() else {
                continue;
            };
            let backoff = match stream.in_flight {
                None => RETRY_MIN,
                Some((due, backoff)) if due <= now => (backoff * 2).min(RETRY_MAX),
                Some(_) => continue,
            };
            stream.in_flight = Some((now + backoff, backoff));
            let latest_state = (stream.pending.len() > 1)
                .then(|| stream.pending.back().map(|s| s.state))
                .flatten();
            calls.push(Call {
                r#type: Some(call::Type::StatusUpdate as i32),
                agent_id: Some(agent_id.clone()),
                status_update: Some(call::StatusUpdate {
                    framework_id: FrameworkId {
                        value: key.0.clone(),
                    },
                    status: head.clone(),
                    latest_state,
                }),
                ..Call::default()
            });
        }
        calls
    }

    /// A new stream: everything in flight goes again at once.
    pub fn resend_all(&mut self) {
        for stream in self.updates.values_mut() {
            stream.in_flight = None;
        }
    }

    /// When a retry is next due, if any.
    pub fn next_retry(&self) -> Option<Time> {
        self.updates
            .values()
            .filter_map(|s| s.in_flight.map(|(due, _)| due))
            .min()
    }

    /// An ACKNOWLEDGE: pops the head if it is the update named. Returns whether it was
    /// (and so whether the update is settled), and whether that ended the task.
    pub fn acknowledge(&mut self, key: &TaskKey, uuid: &[u8]) -> Option<bool> {
        let stream = self.updates.get_mut(key)?;
        let matches = stream
            .pending
            .front()
            .is_some_and(|h| h.uuid.as_deref() == Some(uuid));
        if !matches {
            return None;
        }
        let acked = stream.pending.pop_front();
        stream.in_flight = None;
        let terminal = acked.is_some_and(|s| is_terminal(state_of(&s)));
        if terminal || stream.pending.is_empty() {
            self.updates.remove(key);
        }
        if terminal {
            self.tasks.remove(key);
        }
        Some(terminal)
    }

    /// Drops a framework's tasks and updates (SHUTDOWN_FRAMEWORK). Returns the uuids of
    /// the updates dropped.
    pub fn shutdown_framework(&mut self, framework_id: &str) -> Vec<Vec<u8>> {
        self.tasks.retain(|(f, _), _| f != framework_id);
        self.frameworks.remove(framework_id);
        let mut dropped = Vec::new();
        self.updates.retain(|(f, _), stream| {
            if f == framework_id {
                dropped.extend(stream.pending.iter().filter_map(|s| s.uuid.clone()));
                false
            } else {
                true
            }
        });
        dropped
    }

    /// Forgets everything it ran (a restart that lost its work). Returns the uuids of
    /// the updates dropped.
    pub fn lose_state(&mut self) -> Vec<Vec<u8>> {
        let dropped = self
            .updates
            .values()
            .flat_map(|s| s.pending.iter().filter_map(|u| u.uuid.clone()))
            .collect();
        self.tasks.clear();
        self.frameworks.clear();
        self.updates.clear();
        dropped
    }
}

pub fn state_of(status: &TaskStatus) -> TaskState {
    TaskState::try_from(status.state).unwrap_or(TaskState::TaskUnknown)
}

pub use ratufa_proto::task_state::is_terminal;
