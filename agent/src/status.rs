//! Building the TaskStatus updates the agent sends, as Mesos's command executor and
//! agent fill them.

pub use ratufa_proto::task_state::now_seconds;
use ratufa_proto::v1::task_status::{Reason, Source};
use ratufa_proto::v1::{AgentId, ExecutorId, TaskId, TaskState, TaskStatus};

/// A fresh update: a new 16-byte UUID (v4), the time, agent and executor ids.
pub fn task_status(
    task_id: &str,
    state: TaskState,
    source: Source,
    message: Option<String>,
    reason: Option<Reason>,
    agent_id: Option<&AgentId>,
    executor_id: &str,
) -> TaskStatus {
    TaskStatus {
        task_id: TaskId {
            value: task_id.to_string(),
        },
        state: state as i32,
        message,
        source: Some(source as i32),
        reason: reason.map(|r| r as i32),
        agent_id: agent_id.cloned(),
        executor_id: Some(ExecutorId {
            value: executor_id.to_string(),
        }),
        timestamp: Some(now_seconds()),
        uuid: Some(uuid::Uuid::new_v4().as_bytes().to_vec()),
        ..TaskStatus::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_update_has_its_own_v4_uuid() {
        let a = task_status(
            "t",
            TaskState::TaskRunning,
            Source::Executor,
            None,
            None,
            None,
            "t",
        );
        let b = task_status(
            "t",
            TaskState::TaskRunning,
            Source::Executor,
            None,
            None,
            None,
            "t",
        );
        let (ua, ub) = (a.uuid.unwrap_or_default(), b.uuid.unwrap_or_default());
        assert_eq!(ua.len(), 16);
        assert_ne!(ua, ub);
        assert_eq!(ua[6] >> 4, 4, "version 4");
        assert_eq!(a.source, Some(Source::Executor as i32));
        assert_eq!(a.executor_id.map(|e| e.value), Some("t".to_string()));
        assert!(a.timestamp.unwrap_or(0.0) > 1.5e9);
    }
}
