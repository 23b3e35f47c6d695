//! The status updates the executor owes the agent: made fresh (source, ids, time, a
//! new uuid), sent when connected, kept until acknowledged.

use ratufa_agent::process::Exit;
use ratufa_proto::task_state::now_seconds;
use ratufa_proto::v1::executor::{Call, call};
use ratufa_proto::v1::{ExecutorId, TaskId, TaskState, TaskStatus, task_status};

use super::Executor;

impl Executor {
    /// A fresh status of `task_id`: source, ids, time and a new uuid.
    pub(super) fn status(&self, task_id: &TaskId, state: TaskState) -> TaskStatus {
        // A task with a check says so in every update made afresh, with no result, as
        // Mesos's executors do; its results come in updates of their own.
        let check_status = self
            .tasks
            .get(&task_id.value)
            .and_then(|task| task.info.check.as_ref()?.r#type)
            .and_then(crate::check::empty_status);
        let mut status = TaskStatus {
            task_id: task_id.clone(),
            state: state as i32,
            check_status,
            ..TaskStatus::default()
        };
        self.stamp(&mut status);
        status
    }

    pub(super) fn stamp(&self, status: &mut TaskStatus) {
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
    pub(super) async fn send_update(&mut self, task_id: &str, status: TaskStatus) {
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
            update: Some(update),
            ..self.call(call::Type::Update)
        };
        // Not awaited: the loop goes on while the agent takes it.
        self.outbox.send(task_id, call);
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
}
