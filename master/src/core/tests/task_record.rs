//! The compact task record gives back the `Task` it was built from, field for field.

use std::sync::Arc;

use ratufa_proto::resources::Resources;
use ratufa_proto::v1::task_status::{Reason, Source};
use ratufa_proto::v1::{
    AgentId, ExecutorId, FrameworkId, Label, Labels, Task, TaskId, TaskState, TaskStatus,
};

use super::super::task::TaskEntry;

fn status(task_id: &str, agent_id: Option<&str>, state: TaskState, uuid: &[u8]) -> TaskStatus {
    TaskStatus {
        task_id: TaskId {
            value: task_id.to_string(),
        },
        agent_id: agent_id.map(|a| AgentId {
            value: a.to_string(),
        }),
        state: state as i32,
        source: Some(Source::Executor as i32),
        reason: Some(Reason::CommandExecutorFailed as i32),
        message: Some("ünïcode".to_string()),
        uuid: Some(uuid.to_vec()),
        timestamp: Some(12.5),
        healthy: Some(true),
        ..TaskStatus::default()
    }
}

fn task() -> Task {
    let resources = Resources::parse("cpus:0.5;mem:32", "*").unwrap();
    Task {
        name: "name".to_string(),
        task_id: TaskId {
            value: "t".to_string(),
        },
        framework_id: FrameworkId {
            value: "f".to_string(),
        },
        executor_id: Some(ExecutorId {
            value: "e".to_string(),
        }),
        agent_id: AgentId {
            value: "a".to_string(),
        },
        state: TaskState::TaskRunning as i32,
        resources: resources.into_vec(),
        statuses: vec![
            status("t", Some("a"), TaskState::TaskStarting, &[7; 16]),
            // Ids other than the task's own, and a uuid of another length, are kept.
            status("other", Some("b"), TaskState::TaskRunning, &[1, 2, 3]),
            status("t", None, TaskState::TaskRunning, &[]),
        ],
        status_update_state: Some(TaskState::TaskStarting as i32),
        status_update_uuid: Some(vec![7; 16]),
        labels: Some(Labels {
            labels: vec![Label {
                key: "k".to_string(),
                value: Some("v".to_string()),
            }],
        }),
        user: Some("nobody".to_string()),
        ..Task::default()
    }
}

#[test]
fn record_gives_back_the_task() {
    let original = task();
    let resources = Resources::try_from_vec(original.resources.clone()).unwrap();
    let entry = TaskEntry::new(
        original.clone(),
        resources.clone(),
        &Arc::from("f"),
        &Arc::from("other agent"),
    );
    assert_eq!(entry.task(), original);
    assert_eq!(entry.resources(), resources);
    assert_eq!(entry.executor_id(), original.executor_id);
    assert_eq!(entry.latest_status().as_ref(), original.statuses.last());
    assert_eq!(entry.status_update_uuid(), Some(&[7u8; 16][..]));
    assert_eq!(entry.reported_state(), TaskState::TaskStarting);
}

#[test]
fn statuses_are_deduplicated_by_state_and_bounded() {
    let mut original = task();
    original.statuses.clear();
    original.status_update_state = None;
    original.status_update_uuid = None;
    let resources = Resources::try_from_vec(original.resources.clone()).unwrap();
    let mut entry = TaskEntry::new(original, resources, &Arc::from("f"), &Arc::from("a"));
    assert_eq!(entry.latest_status(), None);
    assert_eq!(entry.reported_state(), TaskState::TaskRunning);
    let states = [
        TaskState::TaskStarting,
        TaskState::TaskRunning,
        TaskState::TaskRunning,
        TaskState::TaskKilling,
        TaskState::TaskKilled,
    ];
    for (n, state) in states.into_iter().enumerate() {
        entry.push_status(status("t", Some("a"), state, &[n as u8; 16]), 3);
    }
    let kept: Vec<(i32, Vec<u8>)> = entry
        .task()
        .statuses
        .into_iter()
        .map(|s| (s.state, s.uuid.unwrap_or_default()))
        .collect();
    assert_eq!(
        kept,
        vec![
            (TaskState::TaskRunning as i32, vec![2; 16]),
            (TaskState::TaskKilling as i32, vec![3; 16]),
            (TaskState::TaskKilled as i32, vec![4; 16]),
        ]
    );
    assert_eq!(entry.reported_state(), TaskState::TaskKilled);
    entry.set_forwarded(TaskState::TaskKilling as i32, Some(&[1, 2]));
    assert_eq!(entry.status_update_state(), Some(TaskState::TaskKilling));
    assert_eq!(entry.status_update_uuid(), Some(&[1u8, 2][..]));
    assert_eq!(entry.reported_state(), TaskState::TaskKilling);
}
