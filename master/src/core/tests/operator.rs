//! The operator's changes: MARK_AGENT_GONE (registered and unreachable agents,
//! twice, unknown), UPDATE_WEIGHTS and the operator's TEARDOWN.

use ratufa_proto::v1::WeightInfo;
use ratufa_proto::v1::task_status::Reason;

use super::*;

fn resubscribe(h: &mut Harness, agent: &TestAgent) -> (ConnectionId, Result<AgentId, Rejection>) {
    let conn = h.next_conn();
    let mut info = agent_info("host1", "cpus:2;mem:256");
    info.id = Some(agent.id.clone());
    let result = h.core.handle_agent_subscribe(
        h.now,
        conn,
        agentlink::call::Subscribe {
            agent_info: info,
            ..Default::default()
        },
    );
    (conn, result)
}

/// The agent stream `on` got one ERROR saying the agent is gone, then was closed.
fn assert_told_gone(outputs: &[Output], on: ConnectionId) {
    let on_stream: Vec<&Output> = outputs
        .iter()
        .filter(|o| match o {
            Output::AgentCommand { conn, .. } | Output::Close { conn } => *conn == on,
            Output::Event { .. }
            | Output::Registry { .. }
            | Output::RecoveryRemovalLimitExceeded { .. } => false,
        })
        .collect();
    match on_stream.as_slice() {
        [Output::AgentCommand { command, .. }, Output::Close { .. }] => {
            assert_eq!(command_type(command), Some(command::Type::Error));
            assert_eq!(
                command.error.as_ref().map(|e| e.message.as_str()),
                Some("Agent has been marked gone")
            );
        }
        other => panic!("expected ERROR then close on {on}: {other:?}"),
    }
}

#[test]
fn a_registered_agent_marked_gone_ends_its_tasks_and_is_refused_after() {
    let mut h = Harness::new();
    let (plain, aware, agent) = h.plain_and_aware_on_one_agent();
    assert_eq!(
        h.core.mark_agent_gone(h.now, &agent.id.value),
        Ok(Reply::Ok)
    );
    h.check();
    let outputs = h.outputs();

    let aware_updates = updates_on(&outputs, aware.conn);
    assert_eq!(aware_updates.len(), 1);
    assert_eq!(state_of(&aware_updates[0]), TaskState::TaskGoneByOperator);
    assert_eq!(
        reason_of(&aware_updates[0]),
        Some(Reason::AgentRemovedByOperator)
    );
    let plain_updates = updates_on(&outputs, plain.conn);
    assert_eq!(plain_updates.len(), 1);
    assert_eq!(state_of(&plain_updates[0]), TaskState::TaskLost);
    assert_eq!(reason_of(&plain_updates[0]), Some(Reason::AgentRemoved));
    // The agent is told why, then its stream ends.
    assert_told_gone(&outputs, agent.conn);
    assert!(h.core.agent(&agent.id.value).is_none());
    assert!(!h.core.unreachable_agents().contains_key(&agent.id.value));
    assert!(h.core.gone_agents().contains_key(&agent.id.value));
    let books = h.core.framework_tasks(&aware.framework_id().value).unwrap();
    assert_eq!(books.unreachable().count(), 0);
    assert_eq!(books.completed().count(), 1);
    assert_eq!(h.core.counters().tasks_gone_by_operator, 1);

    // Again: nothing more happens.
    assert_eq!(
        h.core.mark_agent_gone(h.now, &agent.id.value),
        Ok(Reply::Ok)
    );
    assert!(h.outputs().is_empty());

    // It may not come back under that id.
    let (conn, result) = resubscribe(&mut h, &agent);
    assert_eq!(
        result.unwrap_err().kind,
        RejectionKind::Forbidden,
        "a gone agent is refused"
    );
    assert_told_gone(&h.outputs(), conn);
    assert!(h.core.agent(&agent.id.value).is_none());
}

#[test]
fn an_unreachable_agent_marked_gone_ends_the_tasks_held_as_unreachable() {
    let mut h = Harness::new();
    let (plain, aware, agent) = h.plain_and_aware_on_one_agent();
    for _ in 0..6 {
        h.advance_and_tick(Duration::from_secs(15));
    }
    assert!(h.core.unreachable_agents().contains_key(&agent.id.value));
    h.outputs();

    assert_eq!(
        h.core.mark_agent_gone(h.now, &agent.id.value),
        Ok(Reply::Ok)
    );
    h.check();
    let outputs = h.outputs();
    let updates = updates_on(&outputs, aware.conn);
    assert_eq!(updates.len(), 1);
    assert_eq!(state_of(&updates[0]), TaskState::TaskGoneByOperator);
    // The plain framework heard TASK_LOST when the agent became unreachable.
    assert!(updates_on(&outputs, plain.conn).is_empty());
    let books = h.core.framework_tasks(&aware.framework_id().value).unwrap();
    assert_eq!(books.unreachable().count(), 0);
    assert_eq!(
        books.completed().map(|t| t.state()).collect::<Vec<_>>(),
        vec![TaskState::TaskGoneByOperator]
    );
    assert!(!h.core.unreachable_agents().contains_key(&agent.id.value));
    assert!(h.core.gone_agents().contains_key(&agent.id.value));

    // Reconciliation says gone (LOST to the framework that is not partition-aware).
    let reconcile = |task: &str| {
        FrameworkCall::Reconcile(call::Reconcile {
            tasks: vec![call::reconcile::Task {
                task_id: TaskId { value: task.into() },
                agent_id: Some(agent.id.clone()),
            }],
        })
    };
    h.call_on(&aware, reconcile("a")).unwrap();
    h.call_on(&plain, reconcile("p")).unwrap();
    let outputs = h.outputs();
    let aware_answer = updates_on(&outputs, aware.conn);
    assert_eq!(state_of(&aware_answer[0]), TaskState::TaskGoneByOperator);
    assert_eq!(reason_of(&aware_answer[0]), Some(Reason::Reconciliation));
    assert_eq!(
        state_of(&updates_on(&outputs, plain.conn)[0]),
        TaskState::TaskLost
    );
}

#[test]
fn an_unknown_agent_cannot_be_marked_gone() {
    let mut h = Harness::new();
    let refused = h.core.mark_agent_gone(h.now, "nobody").unwrap_err();
    assert_eq!(refused.kind, RejectionKind::NotFound);
    assert!(refused.message.contains("nobody"), "{refused}");
    assert!(h.core.gone_agents().is_empty());
}

fn weight(role: &str, weight: f64) -> WeightInfo {
    WeightInfo {
        weight,
        role: Some(role.into()),
    }
}

#[test]
fn weights_change_at_runtime_and_a_bad_entry_changes_nothing() {
    let mut h = Harness::with_config(CoreConfig {
        weights: vec![("a".into(), 2.0)],
        ..config()
    });
    assert_eq!(h.core.weights().get("a"), Some(&2.0));
    assert_eq!(
        h.core
            .update_weights(h.now, vec![weight("a", 3.0), weight(" b ", 0.5)]),
        Ok(Reply::Ok)
    );
    assert_eq!(
        h.core.weights().clone().into_iter().collect::<Vec<_>>(),
        vec![("a".to_string(), 3.0), ("b".to_string(), 0.5)]
    );
    for bad in [
        weight("c", 0.0),
        weight("c", -1.0),
        weight("/c", 1.0),
        weight("c", f64::NAN),
    ] {
        let refused = h
            .core
            .update_weights(h.now, vec![weight("a", 9.0), bad.clone()])
            .unwrap_err();
        assert_eq!(refused.kind, RejectionKind::BadRequest, "{bad:?}");
    }
    assert_eq!(h.core.weights().get("a"), Some(&3.0));
    assert!(h.core.weights().get("c").is_none());
}

#[test]
fn weights_are_refused_for_roles_off_the_whitelist() {
    let mut h = Harness::with_config(CoreConfig {
        role_whitelist: Some(roles(&["a"])),
        ..config()
    });
    assert_eq!(
        h.core.update_weights(h.now, vec![weight("a", 2.0)]),
        Ok(Reply::Ok)
    );
    let refused = h
        .core
        .update_weights(h.now, vec![weight("b", 2.0)])
        .unwrap_err();
    assert!(refused.message.contains("Unknown role 'b'"), "{refused}");
}

#[test]
fn new_weights_rescind_the_roles_offers() {
    let mut h = Harness::new();
    let (sub, _agent, offer) = h.offered(info("f"), "cpus:2;mem:256");
    assert_eq!(
        h.core.update_weights(h.now, vec![weight("*", 2.0)]),
        Ok(Reply::Ok)
    );
    h.check();
    let rescinds: Vec<_> = events_on(&h.outputs(), sub.conn)
        .into_iter()
        .filter_map(|e| e.rescind)
        .collect();
    assert_eq!(rescinds.len(), 1);
    assert_eq!(rescinds[0].offer_id, offer.id);
    assert!(h.core.offer(&offer.id.value).is_none());
}

#[test]
fn the_operator_tears_a_framework_down() {
    let mut h = Harness::new();
    let sub = h.subscribed(info("f"));
    let id = sub.framework_id();
    assert_eq!(h.core.teardown_framework(h.now, &id.value), Ok(Reply::Ok));
    assert!(h.core.framework(&id.value).is_none());
    assert!(h.core.completed_frameworks().contains(&id.value));
    let refused = h.core.teardown_framework(h.now, &id.value).unwrap_err();
    assert_eq!(refused.kind, RejectionKind::BadRequest);
    assert!(refused.message.contains("No framework found"), "{refused}");
}

fn drain_operator_events(h: &mut Harness) -> Vec<OperatorEvent> {
    std::iter::from_fn(|| h.core.poll_operator_event()).collect()
}

#[test]
fn operator_events_are_queued_only_while_watched() {
    let mut h = Harness::new();
    let (sub, agent, offer) = h.offered(info("f"), "cpus:2;mem:256");
    assert!(drain_operator_events(&mut h).is_empty());

    h.core.set_operator_watched(true);
    h.launched(&sub, &offer, "t", "cpus:1");
    h.agent_update(&agent, &sub.framework_id(), "t", TaskState::TaskRunning, 1);
    assert_eq!(
        h.core.mark_agent_gone(h.now, &agent.id.value),
        Ok(Reply::Ok)
    );
    h.core
        .teardown_framework(h.now, &sub.framework_id().value)
        .unwrap();
    let kinds: Vec<String> = drain_operator_events(&mut h)
        .iter()
        .map(|event| match event {
            OperatorEvent::TaskAdded(task) => format!("added {}", task.task_id.value),
            OperatorEvent::TaskUpdated { state, .. } => format!("updated {state:?}"),
            OperatorEvent::AgentAdded(_) => "agent added".into(),
            OperatorEvent::AgentRemoved(id) => format!("agent removed {}", id == &agent.id.value),
            OperatorEvent::FrameworkAdded(_) => "framework added".into(),
            OperatorEvent::FrameworkUpdated(_) => "framework updated".into(),
            OperatorEvent::FrameworkRemoved(info) => {
                format!("framework removed {}", info.name)
            }
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            "added t",
            "updated TaskRunning",
            "updated TaskLost",
            "agent removed true",
            "framework removed f",
        ]
    );

    h.core.set_operator_watched(false);
    h.outputs();
    h.subscribed(info("g"));
    assert!(drain_operator_events(&mut h).is_empty());
}
