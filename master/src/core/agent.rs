//! What the master knows about one registered agent.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use ratufa_proto::resources::Resources;
use ratufa_proto::v1::{AgentId, AgentInfo, ExecutorInfo};

use super::framework::ConnectionId;
use super::time::Time;

/// (framework id, task id): how agents index the tasks they run. Shared with the
/// task's record (a task costs the index two pointers, not two strings).
pub type TaskKey = (Arc<str>, Arc<str>);

/// A key for looking a task up in an agent's index.
pub fn task_key(framework_id: &str, task_id: &str) -> TaskKey {
    (Arc::from(framework_id), Arc::from(task_id))
}
/// (framework id, executor id).
pub type ExecutorKey = (String, String);

/// An executor running on an agent, with what it holds there (allocated form).
#[derive(Debug, Clone)]
pub struct ExecutorEntry {
    pub(super) info: ExecutorInfo,
    pub(super) resources: Resources,
}

impl ExecutorEntry {
    pub fn info(&self) -> &ExecutorInfo {
        &self.info
    }

    pub fn resources(&self) -> &Resources {
        &self.resources
    }
}

/// A registered agent, connected or not. Unreachable agents are not `Agent`s: they are
/// removed and only their id and the time they went are remembered.
#[derive(Debug, Clone)]
pub struct Agent {
    /// Shared with state snapshots, as is `total`.
    pub(super) info: Arc<AgentInfo>,
    /// Its id, shared by the records of its tasks.
    pub(super) interned_id: Arc<str>,
    pub(super) total: Arc<Resources>,
    /// The agent-link stream, while connected.
    pub(super) conn: Option<ConnectionId>,
    pub(super) registered_time: Time,
    pub(super) reregistered_time: Option<Time>,
    pub(super) version: Option<String>,
    /// The IP address it said it is reached at.
    pub(super) ip: Option<String>,
    /// Resources of tasks (not yet terminal) and executors, per framework, in
    /// allocated form (`allocation_info` set). A list: an agent runs tasks of a few
    /// frameworks, and a map's first node alone would take half a kilobyte.
    /// Each shared with state snapshots, changed through `Arc::make_mut`.
    pub(super) used: Vec<(Arc<str>, Arc<Resources>)>,
    /// Outstanding offers of this agent's resources.
    pub(super) offers: BTreeSet<String>,
    pub(super) tasks: BTreeSet<TaskKey>,
    pub(super) executors: BTreeMap<ExecutorKey, ExecutorEntry>,
    /// Tasks a framework asked to kill while the agent was away: killed again if the
    /// agent comes back still running them.
    pub(super) killed_tasks: BTreeSet<TaskKey>,
    /// Whether the last PING is still unanswered.
    pub(super) pong_pending: bool,
    /// Consecutive PINGs that went unanswered.
    pub(super) pings_missed: u32,
    /// When the next PING is due (also the key in the core's ping deadlines).
    pub(super) next_ping: Time,
}

impl Agent {
    pub(super) fn new(info: AgentInfo, total: Resources, conn: ConnectionId, now: Time) -> Agent {
        let interned_id = Arc::from(info.id.as_ref().map_or("", |id| id.value.as_str()));
        Agent {
            info: Arc::new(info),
            interned_id,
            total: Arc::new(total),
            conn: Some(conn),
            registered_time: now,
            reregistered_time: None,
            version: None,
            ip: None,
            used: Vec::new(),
            offers: BTreeSet::new(),
            tasks: BTreeSet::new(),
            executors: BTreeMap::new(),
            killed_tasks: BTreeSet::new(),
            pong_pending: false,
            pings_missed: 0,
            next_ping: now,
        }
    }

    pub fn id(&self) -> &str {
        self.info.id.as_ref().map_or("", |id| id.value.as_str())
    }

    pub fn agent_id(&self) -> AgentId {
        AgentId {
            value: self.id().to_string(),
        }
    }

    pub fn info(&self) -> &AgentInfo {
        &self.info
    }

    pub fn total(&self) -> &Resources {
        &self.total
    }

    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    pub fn connection_id(&self) -> Option<ConnectionId> {
        self.conn
    }

    pub fn registered_time(&self) -> Time {
        self.registered_time
    }

    pub fn reregistered_time(&self) -> Option<Time> {
        self.reregistered_time
    }

    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// Resources in use by tasks and executors, all frameworks together.
    pub fn used(&self) -> Resources {
        let mut total = Resources::new();
        for (_, resources) in &self.used {
            total += resources;
        }
        total
    }

    /// Resources in use, per framework id.
    pub fn used_by(&self) -> &[(Arc<str>, Arc<Resources>)] {
        &self.used
    }

    pub fn offer_ids(&self) -> &BTreeSet<String> {
        &self.offers
    }

    pub fn tasks(&self) -> &BTreeSet<TaskKey> {
        &self.tasks
    }

    pub fn executors(&self) -> &BTreeMap<ExecutorKey, ExecutorEntry> {
        &self.executors
    }

    pub fn has_executor(&self, framework_id: &str, executor_id: &str) -> bool {
        self.executors
            .contains_key(&(framework_id.to_string(), executor_id.to_string()))
    }

    pub(super) fn add_used(&mut self, framework_id: &str, resources: &Resources) {
        match self.used.iter_mut().find(|(f, _)| **f == *framework_id) {
            Some((_, used)) => *Arc::make_mut(used) += resources,
            // A clone is allocated to fit; adding to an empty `Resources` would
            // reserve room for four 280-byte resources.
            None => {
                self.used.reserve_exact(1);
                self.used
                    .push((Arc::from(framework_id), Arc::new(resources.clone())));
            }
        }
    }

    pub(super) fn remove_used(&mut self, framework_id: &str, resources: &Resources) {
        if let Some(index) = self.used.iter().position(|(f, _)| **f == *framework_id) {
            let used = Arc::make_mut(&mut self.used[index].1);
            *used -= resources;
            if used.is_empty() {
                self.used.swap_remove(index);
            }
        }
    }

    /// Whether the agent counts resources in use by this framework.
    pub(super) fn uses(&self, framework_id: &str) -> bool {
        self.used.iter().any(|(f, _)| **f == *framework_id)
    }
}
