//! Facts about task states that the master, the agent and every client need alike.

use crate::v1::TaskState;

/// States a task never leaves (Mesos's `protobuf::isTerminalState`).
pub fn is_terminal(state: TaskState) -> bool {
    matches!(
        state,
        TaskState::TaskFinished
            | TaskState::TaskFailed
            | TaskState::TaskKilled
            | TaskState::TaskLost
            | TaskState::TaskError
            | TaskState::TaskDropped
            | TaskState::TaskGone
            | TaskState::TaskGoneByOperator
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_states_are_mesoss() {
        for state in [
            TaskState::TaskFinished,
            TaskState::TaskLost,
            TaskState::TaskGoneByOperator,
        ] {
            assert!(is_terminal(state), "{state:?}");
        }
        for state in [
            TaskState::TaskStaging,
            TaskState::TaskStarting,
            TaskState::TaskRunning,
            TaskState::TaskKilling,
            TaskState::TaskUnreachable,
            TaskState::TaskUnknown,
        ] {
            assert!(!is_terminal(state), "{state:?}");
        }
    }
}
