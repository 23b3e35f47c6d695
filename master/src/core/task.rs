//! The master's books of tasks, per framework: active (not yet acknowledged as
//! terminal), unreachable, and a bounded history of completed ones.

use std::collections::{BTreeMap, HashMap, VecDeque};

use ratufa_proto::resources::Resources;
use ratufa_proto::v1::{Task, TaskState};

use super::status::{is_terminal, task_state};

/// One task the master tracks on a registered agent.
#[derive(Debug, Clone)]
pub struct TaskEntry {
    /// Its state, latest statuses (data stripped), and the state and uuid of the last
    /// update forwarded to the framework (what an ACK is checked against).
    ///
    /// Boxed: a `Task` is 1.4 KB inline, mostly optional fields left empty, and the
    /// books' hash table keeps up to twice as many slots as entries.
    pub(super) task: Box<Task>,
    /// What the task holds on its agent, in allocated form. Given back to the
    /// allocator when the task turns terminal or unreachable.
    pub(super) resources: Resources,
}

impl TaskEntry {
    pub fn task(&self) -> &Task {
        &self.task
    }

    pub fn state(&self) -> TaskState {
        task_state(self.task.state)
    }

    pub fn is_terminal(&self) -> bool {
        is_terminal(self.state())
    }

    pub fn resources(&self) -> &Resources {
        &self.resources
    }

    pub fn agent_id(&self) -> &str {
        &self.task.agent_id.value
    }

    /// The state reconciliation reports: that of the last update sent, if any; else
    /// that of the last update the agent sent, which it is still trying to deliver.
    ///
    /// Not `state()`: a retried update carries the agent's latest state along, and a
    /// framework told that (TASK_FAILED, say) before the retried TASK_RUNNING reaches
    /// it would see a terminal task come back to life. Mesos reports `state()` here.
    pub fn reported_state(&self) -> TaskState {
        if let Some(state) = self.task.status_update_state {
            return task_state(state);
        }
        self.task
            .statuses
            .last()
            .map_or_else(|| self.state(), |status| task_state(status.state))
    }
}

/// All a framework's tasks. Exists for frameworks the master holds and for frameworks
/// it only learned of from re-registering agents.
#[derive(Debug, Clone, Default)]
pub struct FrameworkTasks {
    pub(super) active: HashMap<String, TaskEntry>,
    /// Tasks of partition-aware frameworks on unreachable agents, by id, oldest first
    /// in `unreachable_order`; their ids may not be reused.
    pub(super) unreachable: HashMap<String, Task>,
    pub(super) unreachable_order: VecDeque<String>,
    /// Terminal tasks whose last update was acknowledged (or that the master ended
    /// itself), newest last.
    pub(super) completed: VecDeque<Task>,
}

impl FrameworkTasks {
    pub fn active(&self) -> impl Iterator<Item = &TaskEntry> {
        self.active.values()
    }

    pub fn get(&self, task_id: &str) -> Option<&TaskEntry> {
        self.active.get(task_id)
    }

    pub fn unreachable(&self) -> impl Iterator<Item = &Task> {
        self.unreachable_order
            .iter()
            .filter_map(|id| self.unreachable.get(id))
    }

    pub fn completed(&self) -> impl Iterator<Item = &Task> {
        self.completed.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.active.is_empty() && self.unreachable.is_empty() && self.completed.is_empty()
    }

    pub(super) fn push_completed(&mut self, task: Task, capacity: usize) {
        // A task reported again (an agent coming back) must not be listed twice.
        self.completed
            .retain(|existing| existing.task_id != task.task_id);
        if capacity == 0 {
            return;
        }
        self.completed.push_back(task);
        while self.completed.len() > capacity {
            self.completed.pop_front();
        }
    }

    pub(super) fn push_unreachable(&mut self, task: Task, capacity: usize) {
        let id = task.task_id.value.clone();
        if self.unreachable.insert(id.clone(), task).is_some() {
            self.unreachable_order.retain(|existing| *existing != id);
        }
        self.unreachable_order.push_back(id);
        while self.unreachable_order.len() > capacity {
            if let Some(oldest) = self.unreachable_order.pop_front() {
                self.unreachable.remove(&oldest);
            }
        }
    }

    pub(super) fn take_unreachable(&mut self, task_id: &str) -> Option<Task> {
        let task = self.unreachable.remove(task_id)?;
        self.unreachable_order
            .retain(|existing| existing != task_id);
        Some(task)
    }

    /// Whether the master already told the framework this task ended.
    pub(super) fn completed_contains(&self, task_id: &str) -> bool {
        self.completed.iter().any(|t| t.task_id.value == task_id)
    }
}

/// Frameworks' tasks by framework id.
pub type TaskBooks = BTreeMap<String, FrameworkTasks>;
