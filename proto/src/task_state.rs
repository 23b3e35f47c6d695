//! Facts about task states that the master, the agent and every client need alike.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::v1::TaskState;

/// Seconds since the epoch, as TaskStatus.timestamp carries them.
pub fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

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

/// Why `bytes` is not a status-update UUID as Mesos accepts one (16 bytes whose
/// version nibble is one of RFC 4122's versions 1-5, what boost's `uuid::version()`
/// recognises), or `Ok` when it is one.
pub fn check_update_uuid(bytes: &[u8]) -> Result<(), String> {
    if bytes.len() != 16 {
        return Err(format!("expecting 16 bytes, got {}", bytes.len()));
    }
    let version = bytes[6] >> 4;
    if !(1..=5).contains(&version) {
        return Err(format!("unknown UUID version {version}"));
    }
    Ok(())
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
