// Test scaffolding: a failure here should fail the test loudly.
#![allow(clippy::unwrap_used)]

use super::*;
use ratufa_proto::v1::TaskId;

fn status(task: &str, state: TaskState, uuid: u8) -> TaskStatus {
    TaskStatus {
        task_id: TaskId {
            value: task.to_string(),
        },
        state: state as i32,
        uuid: Some(vec![uuid; 16]),
        ..TaskStatus::default()
    }
}

fn fw() -> FrameworkId {
    FrameworkId {
        value: "fw".to_string(),
    }
}

fn key(task: &str) -> TaskKey {
    TaskKey {
        framework_id: "fw".to_string(),
        task_id: task.to_string(),
    }
}

fn states(out: &[Outgoing]) -> Vec<(String, i32)> {
    out.iter()
        .map(|o| (o.status.task_id.value.clone(), o.status.state))
        .collect()
}

const S: Duration = Duration::from_secs(1);

#[test]
fn one_update_in_flight_per_task_and_the_next_only_after_the_ack() {
    let t0 = Instant::now();
    let mut updates = StatusUpdates::default();
    updates.push(fw(), status("a", TaskState::TaskStarting, 1));
    updates.push(fw(), status("a", TaskState::TaskRunning, 2));
    updates.push(fw(), status("b", TaskState::TaskStarting, 3));

    let sent = updates.due(t0);
    assert_eq!(
        states(&sent),
        vec![
            ("a".to_string(), TaskState::TaskStarting as i32),
            ("b".to_string(), TaskState::TaskStarting as i32)
        ]
    );
    // a's STARTING is told with RUNNING queued behind it; b has nothing behind.
    assert_eq!(sent[0].latest_state, Some(TaskState::TaskRunning as i32));
    assert_eq!(sent[1].latest_state, None);
    // Nothing more until a retry is due or an ack arrives.
    assert!(updates.due(t0 + 9 * S).is_empty());

    // An ack for something not in flight changes nothing.
    assert_eq!(updates.acknowledge(&key("a"), &[2; 16]), Acked::Ignored);
    assert_eq!(updates.acknowledge(&key("zz"), &[1; 16]), Acked::Ignored);
    assert!(updates.due(t0 + S).is_empty());

    assert_eq!(updates.acknowledge(&key("a"), &[1; 16]), Acked::Next);
    let sent = updates.due(t0 + S);
    assert_eq!(
        states(&sent),
        vec![("a".to_string(), TaskState::TaskRunning as i32)]
    );
    assert_eq!(sent[0].latest_state, None);
    // A repeated ack of the old uuid is ignored and does not skip RUNNING.
    assert_eq!(updates.acknowledge(&key("a"), &[1; 16]), Acked::Ignored);
    assert!(updates.has_pending(&key("a")));
}

#[test]
fn retries_after_ten_seconds_doubling_up_to_ten_minutes() {
    let t0 = Instant::now();
    let mut updates = StatusUpdates::default();
    updates.push(fw(), status("a", TaskState::TaskRunning, 1));

    let mut now = t0;
    assert_eq!(updates.due(now).len(), 1);
    let mut gaps = Vec::new();
    for _ in 0..10 {
        let next = updates.next_retry().unwrap();
        assert!(updates.due(next - Duration::from_millis(1)).is_empty());
        gaps.push((next - now).as_secs());
        now = next;
        let sent = updates.due(now);
        assert_eq!(sent.len(), 1, "the same update is resent");
        assert_eq!(sent[0].status.uuid, Some(vec![1; 16]));
    }
    assert_eq!(gaps, vec![10, 20, 40, 80, 160, 320, 600, 600, 600, 600]);
}

#[test]
fn acking_the_terminal_update_ends_the_stream() {
    let t0 = Instant::now();
    let mut updates = StatusUpdates::default();
    updates.push(fw(), status("a", TaskState::TaskFinished, 7));
    updates.due(t0);
    assert!(updates.has_pending(&key("a")));
    assert_eq!(updates.acknowledge(&key("a"), &[7; 16]), Acked::Terminal);
    assert!(!updates.has_pending(&key("a")));
    assert!(updates.is_empty());
    assert_eq!(updates.next_retry(), None);
    assert!(updates.due(t0 + 1000 * S).is_empty());
}

#[test]
fn a_reconnection_resends_what_was_in_flight_at_once() {
    let t0 = Instant::now();
    let mut updates = StatusUpdates::default();
    updates.push(fw(), status("a", TaskState::TaskRunning, 1));
    updates.due(t0);
    // Several retries later the backoff is long...
    for _ in 0..4 {
        let next = updates.next_retry().unwrap();
        updates.due(next);
    }
    let t1 = updates.next_retry().unwrap();
    updates.resend_all();
    // ...but after a reconnection the update goes again now, and the backoff restarts.
    let resent = updates.due(t1 - 100 * S);
    assert_eq!(resent.len(), 1);
    assert_eq!(updates.next_retry(), Some(t1 - 100 * S + 10 * S));
}

#[test]
fn an_acked_uuid_must_match_the_head_not_a_later_update() {
    let t0 = Instant::now();
    let mut updates = StatusUpdates::default();
    updates.push(fw(), status("a", TaskState::TaskStarting, 1));
    updates.push(fw(), status("a", TaskState::TaskFailed, 2));
    updates.due(t0);
    assert_eq!(updates.acknowledge(&key("a"), &[2; 16]), Acked::Ignored);
    assert_eq!(updates.len(), 2);
    assert_eq!(updates.acknowledge(&key("a"), &[1; 16]), Acked::Next);
    updates.due(t0);
    assert_eq!(updates.acknowledge(&key("a"), &[2; 16]), Acked::Terminal);
}

#[test]
fn an_update_never_sent_cannot_be_acked() {
    // The master can only relay an ack for an update it saw; one for a queued update
    // the agent never sent is a confusion to ignore, not a reason to skip it.
    let mut updates = StatusUpdates::default();
    updates.push(fw(), status("a", TaskState::TaskRunning, 1));
    assert_eq!(updates.acknowledge(&key("a"), &[1; 16]), Acked::Ignored);
    assert_eq!(updates.due(Instant::now()).len(), 1);
}

#[test]
fn a_shut_down_framework_takes_its_streams_along() {
    let mut updates = StatusUpdates::default();
    updates.push(fw(), status("a", TaskState::TaskRunning, 1));
    updates.push(
        FrameworkId {
            value: "other".to_string(),
        },
        status("a", TaskState::TaskRunning, 2),
    );
    updates.remove_framework("fw");
    let sent = updates.due(Instant::now());
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].framework_id.value, "other");
}

#[test]
fn an_update_resent_by_an_executor_is_known_until_acknowledged() {
    let mut updates = StatusUpdates::new(S, 10 * S);
    updates.push(fw(), status("t", TaskState::TaskRunning, 1));
    updates.push(fw(), status("t", TaskState::TaskFinished, 2));
    assert!(updates.knows(&key("t"), &[1; 16]));
    assert!(updates.knows(&key("t"), &[2; 16]));
    assert!(!updates.knows(&key("t"), &[3; 16]));
    assert!(!updates.knows(&key("other"), &[1; 16]));
    updates.due(Instant::now());
    assert_eq!(updates.acknowledge(&key("t"), &[1; 16]), Acked::Next);
    assert!(!updates.knows(&key("t"), &[1; 16]));
    assert!(updates.knows(&key("t"), &[2; 16]));
}
