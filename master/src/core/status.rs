//! Task states and the status updates the master writes itself.

use ratufa_proto::v1::scheduler::{Event, event};
use ratufa_proto::v1::task_status::{Reason, Source};
use ratufa_proto::v1::{AgentId, ExecutorId, TaskId, TaskState, TaskStatus, TimeInfo};

/// A task's state as the enum, with an unknown number read as `TASK_UNKNOWN`.
pub fn task_state(value: i32) -> TaskState {
    TaskState::try_from(value).unwrap_or(TaskState::TaskUnknown)
}

/// States a task never leaves (`protobuf::isTerminalState`).
pub use ratufa_proto::task_state::is_terminal;

/// A terminal state, or UNREACHABLE: either way the task's resources are no longer
/// in use on a reachable agent and go back to the allocator.
pub fn frees_resources(state: TaskState) -> bool {
    is_terminal(state) || state == TaskState::TaskUnreachable
}

/// What a status the master generates says about its task.
#[derive(Debug, Clone)]
pub struct MasterStatus {
    pub task_id: TaskId,
    pub agent_id: Option<AgentId>,
    pub executor_id: Option<ExecutorId>,
    pub state: TaskState,
    pub reason: Reason,
    pub message: String,
    pub unreachable_time: Option<TimeInfo>,
}

impl MasterStatus {
    pub fn new(
        task_id: TaskId,
        agent_id: Option<AgentId>,
        state: TaskState,
        reason: Reason,
        message: impl Into<String>,
    ) -> MasterStatus {
        MasterStatus {
            task_id,
            agent_id,
            executor_id: None,
            state,
            reason,
            message: message.into(),
            unreachable_time: None,
        }
    }

    /// The status, from SOURCE_MASTER and without a uuid: nothing for the framework to
    /// acknowledge (an ACK of it would name no update the agent holds). `timestamp` is
    /// when the master wrote it, in seconds since the epoch, as every Mesos update
    /// carries.
    pub fn into_status(self, timestamp: f64) -> TaskStatus {
        TaskStatus {
            timestamp: Some(timestamp),
            task_id: self.task_id,
            state: self.state as i32,
            message: Some(self.message),
            source: Some(Source::Master as i32),
            reason: Some(self.reason as i32),
            agent_id: self.agent_id,
            executor_id: self.executor_id,
            unreachable_time: self.unreachable_time,
            ..TaskStatus::default()
        }
    }
}

pub fn update_event(status: TaskStatus) -> Event {
    Event {
        r#type: Some(event::Type::Update as i32),
        update: Some(event::Update { status }),
        ..Event::default()
    }
}
