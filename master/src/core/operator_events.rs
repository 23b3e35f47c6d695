//! What the operator API's SUBSCRIBE streams: tasks added and updated, agents added
//! and removed, frameworks added, updated and removed. Queued only while someone
//! watches (the driver says so), so a master nobody watches pays nothing; the driver
//! drains them with [`MasterCore::poll_operator_event`] and fans them out.

use ratufa_proto::v1::{FrameworkInfo, Task, TaskState, TaskStatus};

use super::{AgentSnapshot, FrameworkSnapshot, MasterCore};

/// One change, with what the event about it shows (times are the core's; the HTTP
/// side turns them into wall-clock ones).
#[derive(Debug, Clone)]
pub enum OperatorEvent {
    TaskAdded(Box<Task>),
    TaskUpdated {
        framework_id: String,
        status: Box<TaskStatus>,
        /// The task's state after the update (a terminal task keeps its state).
        state: TaskState,
    },
    AgentAdded(Box<AgentSnapshot>),
    AgentRemoved(String),
    FrameworkAdded(Box<FrameworkSnapshot>),
    FrameworkUpdated(Box<FrameworkSnapshot>),
    FrameworkRemoved(Box<FrameworkInfo>),
}

impl MasterCore {
    /// Whether operator events are queued (someone is subscribed).
    pub fn set_operator_watched(&mut self, watched: bool) {
        self.operator_watched = watched;
        if !watched {
            self.operator_events.clear();
        }
    }

    /// The next operator event, oldest first.
    pub fn poll_operator_event(&mut self) -> Option<OperatorEvent> {
        self.operator_events.pop_front()
    }

    pub(super) fn notify_task_added(&mut self, framework_id: &str, task_id: &str) {
        if !self.operator_watched {
            return;
        }
        if let Some(entry) = self.task(framework_id, task_id) {
            let task = Box::new(entry.task());
            self.operator_events
                .push_back(OperatorEvent::TaskAdded(task));
        }
    }

    pub(super) fn notify_task_updated(
        &mut self,
        framework_id: &str,
        task_id: &str,
        status: &TaskStatus,
    ) {
        if !self.operator_watched {
            return;
        }
        if let Some(entry) = self.task(framework_id, task_id) {
            let state = entry.state();
            self.operator_events.push_back(OperatorEvent::TaskUpdated {
                framework_id: framework_id.to_string(),
                status: Box::new(status.clone()),
                state,
            });
        }
    }

    pub(super) fn notify_agent_added(&mut self, agent_id: &str) {
        if !self.operator_watched {
            return;
        }
        if let Some(agent) = self.agents.get(agent_id) {
            let snapshot = Box::new(self.agent_snapshot(agent));
            self.operator_events
                .push_back(OperatorEvent::AgentAdded(snapshot));
        }
    }

    pub(super) fn notify_agent_removed(&mut self, agent_id: &str) {
        if self.operator_watched {
            self.operator_events
                .push_back(OperatorEvent::AgentRemoved(agent_id.to_string()));
        }
    }

    /// FRAMEWORK_ADDED (`added`) or FRAMEWORK_UPDATED for a framework the master holds.
    pub(super) fn notify_framework(&mut self, framework_id: &str, added: bool) {
        if !self.operator_watched {
            return;
        }
        if let Some(snapshot) = self.one_framework_snapshot(framework_id).map(Box::new) {
            self.operator_events.push_back(if added {
                OperatorEvent::FrameworkAdded(snapshot)
            } else {
                OperatorEvent::FrameworkUpdated(snapshot)
            });
        }
    }

    pub(super) fn notify_framework_removed(&mut self, info: &FrameworkInfo) {
        if self.operator_watched {
            self.operator_events
                .push_back(OperatorEvent::FrameworkRemoved(Box::new(info.clone())));
        }
    }
}
