//! RECONCILE: implicit and explicit, per case, per PARTITION_AWARE.

use ratufa_proto::v1::task_status::{Reason, Source};

use super::*;

fn explicit(tasks: &[(&str, Option<&AgentId>)]) -> FrameworkCall {
    FrameworkCall::Reconcile(call::Reconcile {
        tasks: tasks
            .iter()
            .map(|(t, a)| call::reconcile::Task {
                task_id: TaskId { value: (*t).into() },
                agent_id: a.cloned(),
            })
            .collect(),
    })
}

#[test]
fn implicit_reports_every_task_from_the_master() {
    let mut h = Harness::new();
    let (sub, agent, offer) = h.offered(info("f"), "cpus:2;mem:256");
    let tasks = vec![
        command_task("a", &agent.id, "cpus:0.5"),
        command_task("b", &agent.id, "cpus:0.5"),
    ];
    h.call_on(&sub, accept(&[&offer], vec![launch(tasks)]))
        .unwrap();
    h.agent_update(&agent, &sub.framework_id(), "a", TaskState::TaskRunning, 1);
    h.outputs();
    h.call_on(&sub, FrameworkCall::Reconcile(Default::default()))
        .unwrap();
    let updates = updates_on(&h.outputs(), sub.conn);
    let got: Vec<(&str, TaskState)> = updates
        .iter()
        .map(|s| (s.task_id.value.as_str(), state_of(s)))
        .collect();
    assert_eq!(
        got,
        vec![("a", TaskState::TaskRunning), ("b", TaskState::TaskStaging)]
    );
    for s in &updates {
        assert_eq!(s.source, Some(Source::Master as i32));
        assert_eq!(reason_of(s), Some(Reason::Reconciliation));
        assert!(s.uuid.is_none());
        assert_eq!(s.message(), "Reconciliation: Latest task state");
    }
}

#[test]
fn explicit_answers_per_case() {
    for aware in [false, true] {
        let mut h = Harness::new();
        let base = if aware {
            partition_aware(info("f"))
        } else {
            info("f")
        };
        let (sub, agent, offer) = h.offered(base, "cpus:2;mem:256");
        h.launched(&sub, &offer, "known", "cpus:1");
        // A second agent that goes unreachable.
        let gone = h.agent("h2", "cpus:1");
        let pong = agentlink::Call {
            r#type: Some(agentlink::call::Type::Pong as i32),
            ..Default::default()
        };
        for _ in 0..6 {
            h.advance_and_tick(Duration::from_secs(15));
            h.agent_call(&agent, pong.clone()).unwrap();
        }
        assert!(h.core.unreachable_agents().contains_key(&gone.id.value));
        h.outputs();
        let stranger = AgentId {
            value: "nobody".into(),
        };
        h.call_on(
            &sub,
            explicit(&[
                ("known", None),
                ("x", Some(&agent.id)),
                ("y", Some(&gone.id)),
                ("z", Some(&stranger)),
                ("w", None),
            ]),
        )
        .unwrap();
        let updates = updates_on(&h.outputs(), sub.conn);
        let got: Vec<TaskState> = updates.iter().map(state_of).collect();
        let lost = TaskState::TaskLost;
        let expected = if aware {
            vec![
                TaskState::TaskStaging,
                TaskState::TaskGone,
                TaskState::TaskUnreachable,
                TaskState::TaskUnknown,
                TaskState::TaskUnknown,
            ]
        } else {
            vec![TaskState::TaskStaging, lost, lost, lost, lost]
        };
        assert_eq!(got, expected, "aware: {aware}");
        assert!(updates.iter().all(|s| s.uuid.is_none()));
        assert!(
            updates
                .iter()
                .all(|s| reason_of(s) == Some(Reason::Reconciliation))
        );
        assert!(updates[2].unreachable_time.is_some());
        assert_eq!(updates[3].agent_id.as_ref(), Some(&stranger));
    }
}
