//! The registry as the core sees it: changes wait for their write, and a core
//! recovered from a registry knows its admitted, unreachable and gone agents.

use ratufa_proto::ratufa::registry::Registry;
use ratufa_proto::ratufa::registry::registry::{Agent as Admitted, GoneAgent, UnreachableAgent};
use ratufa_proto::v1::TimeInfo;
use ratufa_proto::v1::task_status::Reason;

use super::*;

const EARLIER_AGENT: &str = "earlier-S3";

fn earlier_agent() -> AgentInfo {
    let mut info = agent_info("h", "cpus:2;mem:256");
    info.id = Some(AgentId {
        value: EARLIER_AGENT.into(),
    });
    info
}

fn framework_id() -> FrameworkId {
    FrameworkId {
        value: "earlier-0000".into(),
    }
}

fn agent_id() -> AgentId {
    AgentId {
        value: EARLIER_AGENT.into(),
    }
}

/// A registry as an earlier leader left it, with the earlier agent `as_`.
fn registry_with(as_: &str) -> Registry {
    let mut registry = Registry::default();
    let time = TimeInfo { nanoseconds: 1 };
    match as_ {
        "admitted" => registry.admitted.push(Admitted {
            info: earlier_agent(),
        }),
        "unreachable" => registry.unreachable.push(UnreachableAgent {
            id: agent_id(),
            timestamp: time,
        }),
        "gone" => registry.gone.push(GoneAgent {
            id: agent_id(),
            timestamp: time,
        }),
        other => panic!("no such registry: {other}"),
    }
    registry
}

/// The earlier agent re-registering with its running task `t`.
fn reregister(h: &mut Harness) -> (ConnectionId, Result<AgentId, Rejection>) {
    let task = ratufa_proto::v1::Task {
        name: "t".into(),
        task_id: TaskId { value: "t".into() },
        framework_id: framework_id(),
        agent_id: agent_id(),
        state: TaskState::TaskRunning as i32,
        resources: Resources::parse("cpus:1", "*").unwrap().into_vec(),
        ..Default::default()
    };
    let conn = h.next_conn();
    let result = h.core.handle_agent_subscribe(
        h.now,
        conn,
        agentlink::call::Subscribe {
            agent_info: earlier_agent(),
            tasks: vec![task],
            frameworks: vec![with_id(info("f"), &framework_id())],
            ..Default::default()
        },
    );
    (conn, result)
}

/// The earlier framework subscribing again.
fn resubscribe(h: &mut Harness, aware: bool) -> Subscription {
    let base = with_id(info("f"), &framework_id());
    let sub = h.subscribe(if aware { partition_aware(base) } else { base });
    h.outputs();
    sub
}

/// Explicit reconciliation of task `t` on the earlier agent.
fn reconcile_t(h: &mut Harness, sub: &Subscription) -> Vec<TaskStatus> {
    let call = FrameworkCall::Reconcile(call::Reconcile {
        tasks: vec![call::reconcile::Task {
            task_id: TaskId { value: "t".into() },
            agent_id: Some(agent_id()),
        }],
    });
    assert_eq!(h.call_on(sub, call), Ok(Reply::Accepted));
    updates_on(&h.outputs(), sub.conn)
}

fn registry_ops(outputs: &[Output]) -> Vec<RegistryOp> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Registry { op, .. } => Some(op.clone()),
            _ => None,
        })
        .collect()
}

fn lists(registry: &Registry, id: &str) -> (bool, bool, bool) {
    (
        registry
            .admitted
            .iter()
            .any(|a| a.info.id.as_ref().is_some_and(|i| i.value == id)),
        registry.unreachable.iter().any(|u| u.id.value == id),
        registry.gone.iter().any(|g| g.id.value == id),
    )
}

#[test]
fn a_new_agent_hears_subscribed_only_once_admitted() {
    let mut h = Harness::recovered(Registry::default());
    h.hold_writes = true;
    let (conn, id) = subscribe_agent(&mut h, agent_info("h", "cpus:1"), vec![]);
    let id = id.unwrap();
    let outputs = h.outputs();
    assert!(commands_on(&outputs, conn).is_empty(), "{outputs:?}");
    let ops = registry_ops(&outputs);
    assert!(matches!(&ops[..], [RegistryOp::Admit(info)] if info.id.as_ref() == Some(&id)));
    assert!(h.core.agent(&id.value).is_none());

    let outputs = h.write_held();
    let commands = commands_on(&outputs, conn);
    assert_eq!(command_type(&commands[0]), Some(command::Type::Subscribed));
    assert!(h.core.agent(&id.value).is_some());
    assert_eq!(
        lists(h.registry.as_ref().unwrap(), &id.value),
        (true, false, false)
    );
    h.check();
}

#[test]
fn an_agent_whose_stream_closed_during_its_admission_comes_in_disconnected() {
    let mut h = Harness::recovered(Registry::default());
    h.hold_writes = true;
    let (conn, id) = subscribe_agent(&mut h, agent_info("h", "cpus:1"), vec![]);
    let id = id.unwrap();
    h.outputs();
    h.core.handle_agent_stream_closed(h.now, conn);
    h.write_held();
    let agent = h.core.agent(&id.value).expect("admitted");
    assert_eq!(agent.conn, None);
    h.check();
}

#[test]
fn reconcile_waits_for_a_recovered_agent_and_then_answers_running() {
    let mut h = Harness::recovered(registry_with("admitted"));
    let sub = resubscribe(&mut h, false);
    assert!(reconcile_t(&mut h, &sub).is_empty());
    assert_eq!(h.core.recovered_agents().count(), 1);

    // A recovered agent is admitted already: no write, SUBSCRIBED at once.
    let (conn, id) = reregister(&mut h);
    assert_eq!(id.unwrap(), agent_id());
    let outputs = h.outputs();
    assert!(registry_ops(&outputs).is_empty(), "{outputs:?}");
    let commands = commands_on(&outputs, conn);
    assert_eq!(command_type(&commands[0]), Some(command::Type::Subscribed));
    assert_eq!(h.core.recovered_agents().count(), 0);
    assert_eq!(h.core.poll_timeout(), Some(h.now + Duration::from_secs(15)));

    let updates = reconcile_t(&mut h, &sub);
    assert_eq!(updates.len(), 1);
    assert_eq!(state_of(&updates[0]), TaskState::TaskRunning);
    h.check();
}

#[test]
fn recovered_agents_that_do_not_come_back_become_unreachable() {
    for aware in [false, true] {
        let mut h = Harness::recovered(registry_with("admitted"));
        let sub = resubscribe(&mut h, aware);
        assert_eq!(
            h.core.poll_timeout(),
            Some(h.now + Duration::from_secs(600)),
            "Mesos's default --agent_reregister_timeout"
        );
        h.advance_and_tick(Duration::from_secs(599));
        assert!(registry_ops(&h.outputs()).is_empty());

        h.hold_writes = true;
        h.advance_and_tick(Duration::from_secs(1));
        let outputs = h.outputs();
        let ops = registry_ops(&outputs);
        assert!(
            matches!(&ops[..], [RegistryOp::MarkUnreachable { agent_id: id, .. }] if *id == agent_id())
        );
        // Not unreachable until written: reconciliation still waits.
        assert!(reconcile_t(&mut h, &sub).is_empty());

        h.write_held();
        assert_eq!(
            lists(h.registry.as_ref().unwrap(), EARLIER_AGENT),
            (false, true, false)
        );
        let updates = reconcile_t(&mut h, &sub);
        assert_eq!(updates.len(), 1);
        let expected = if aware {
            TaskState::TaskUnreachable
        } else {
            TaskState::TaskLost
        };
        assert_eq!(state_of(&updates[0]), expected);
        assert_eq!(reason_of(&updates[0]), Some(Reason::Reconciliation));
        h.check();
    }
}

#[test]
fn an_unreachable_agent_that_returns_is_marked_reachable_first() {
    let mut h = Harness::recovered(registry_with("unreachable"));
    h.hold_writes = true;
    let (conn, id) = reregister(&mut h);
    assert_eq!(id.unwrap(), agent_id());
    let outputs = h.outputs();
    assert!(commands_on(&outputs, conn).is_empty());
    assert!(matches!(
        &registry_ops(&outputs)[..],
        [RegistryOp::Admit(_)]
    ));
    let outputs = h.write_held();
    let commands = commands_on(&outputs, conn);
    assert_eq!(command_type(&commands[0]), Some(command::Type::Subscribed));
    assert_eq!(
        lists(h.registry.as_ref().unwrap(), EARLIER_AGENT),
        (true, false, false)
    );
    assert!(!h.core.unreachable_agents().contains_key(EARLIER_AGENT));
    h.check();
}

#[test]
fn a_gone_agent_is_refused_and_its_tasks_are_not_adopted() {
    for aware in [false, true] {
        let mut h = Harness::recovered(registry_with("gone"));
        let sub = resubscribe(&mut h, aware);
        let (conn, result) = reregister(&mut h);
        let rejection = result.unwrap_err();
        assert_eq!(rejection.kind, RejectionKind::Forbidden);
        let outputs = h.outputs();
        let commands = commands_on(&outputs, conn);
        assert_eq!(commands.len(), 1);
        assert_eq!(command_type(&commands[0]), Some(command::Type::Error));
        assert!(outputs.contains(&Output::Close { conn }));
        assert!(h.core.agent(EARLIER_AGENT).is_none());
        assert!(h.core.task(&framework_id().value, "t").is_none());

        let updates = reconcile_t(&mut h, &sub);
        assert_eq!(updates.len(), 1);
        let expected = if aware {
            TaskState::TaskGoneByOperator
        } else {
            TaskState::TaskLost
        };
        assert_eq!(state_of(&updates[0]), expected);
        h.check();
    }
}

#[test]
fn frameworks_hear_of_an_unreachable_agent_only_once_it_is_written() {
    let mut h = Harness::recovered(Registry::default());
    let (sub, agent, offer) = h.offered(info("f"), "cpus:2;mem:256");
    h.launched(&sub, &offer, "t", "cpus:1");
    h.hold_writes = true;
    for _ in 0..6 {
        h.advance_and_tick(Duration::from_secs(15));
    }
    let outputs = h.outputs();
    assert!(updates_on(&outputs, sub.conn).is_empty(), "{outputs:?}");
    assert!(
        matches!(&registry_ops(&outputs)[..], [RegistryOp::MarkUnreachable { agent_id, .. }] if *agent_id == agent.id)
    );

    // Coming back while the mark is written: its stream just ends (it tries again).
    let mut info = agent_info("host1", "cpus:2;mem:256");
    info.id = Some(agent.id.clone());
    let (conn, refused) = subscribe_agent(&mut h, info, vec![]);
    assert!(refused.is_err());
    assert_eq!(h.outputs(), vec![Output::Close { conn }]);

    let outputs = h.write_held();
    let updates = updates_on(&outputs, sub.conn);
    assert_eq!(updates.len(), 1);
    assert_eq!(state_of(&updates[0]), TaskState::TaskLost);
    assert!(h.core.unreachable_agents().contains_key(&agent.id.value));
    assert_eq!(
        lists(h.registry.as_ref().unwrap(), &agent.id.value),
        (false, true, false)
    );
    h.check();
}

#[test]
fn mark_agent_gone_takes_effect_once_written_and_for_good() {
    for aware in [false, true] {
        let mut h = Harness::recovered(Registry::default());
        let base = if aware {
            partition_aware(info("f"))
        } else {
            info("f")
        };
        let (sub, agent, offer) = h.offered(base, "cpus:2;mem:256");
        h.launched(&sub, &offer, "t", "cpus:1");
        h.hold_writes = true;
        assert_eq!(
            h.core.mark_agent_gone(h.now, &agent.id.value),
            Ok(Reply::Ok)
        );
        let outputs = h.outputs();
        assert!(
            matches!(&registry_ops(&outputs)[..], [RegistryOp::MarkGone { agent_id, .. }] if *agent_id == agent.id)
        );
        assert!(updates_on(&outputs, sub.conn).is_empty());
        assert!(h.core.agent(&agent.id.value).is_some());

        let outputs = h.write_held();
        let updates = updates_on(&outputs, sub.conn);
        assert_eq!(updates.len(), 1);
        let expected = if aware {
            TaskState::TaskGoneByOperator
        } else {
            TaskState::TaskLost
        };
        assert_eq!(state_of(&updates[0]), expected);
        if aware {
            assert_eq!(reason_of(&updates[0]), Some(Reason::AgentRemovedByOperator));
        }
        let commands = commands_on(&outputs, agent.conn);
        assert_eq!(command_type(&commands[0]), Some(command::Type::Error));
        assert!(outputs.contains(&Output::Close { conn: agent.conn }));
        assert_eq!(
            lists(h.registry.as_ref().unwrap(), &agent.id.value),
            (false, false, true)
        );
        // Again: nothing left to do.
        assert_eq!(
            h.core.mark_agent_gone(h.now, &agent.id.value),
            Ok(Reply::Ok)
        );
        assert!(registry_ops(&h.outputs()).is_empty());

        // A new leader recovers the registry: still gone.
        let mut next = Harness::recovered(h.registry.clone().unwrap());
        let mut info = agent_info("host1", "cpus:2;mem:256");
        info.id = Some(agent.id.clone());
        let (_, refused) = subscribe_agent(&mut next, info, vec![]);
        assert_eq!(refused.unwrap_err().kind, RejectionKind::Forbidden);
        h.check();
    }
}

#[test]
fn mark_agent_gone_of_an_unknown_agent_is_refused() {
    let mut h = Harness::recovered(Registry::default());
    let rejection = h.core.mark_agent_gone(h.now, "nobody-S0").unwrap_err();
    assert_eq!(rejection.kind, RejectionKind::NotFound);
    assert!(rejection.message.contains("nobody-S0"), "{rejection}");
    assert!(registry_ops(&h.outputs()).is_empty());
}

#[test]
fn weights_are_written_before_the_allocator_has_them() {
    let mut h = Harness::recovered(Registry::default());
    h.hold_writes = true;
    let weight = ratufa_proto::v1::WeightInfo {
        role: Some("a".into()),
        weight: 3.0,
    };
    assert_eq!(h.core.update_weights(h.now, vec![weight]), Ok(Reply::Ok));
    h.outputs();
    assert!(h.core.weights().is_empty());
    assert_eq!(h.registry.as_ref().unwrap().weights.len(), 0);
    h.write_held();
    let weights = &h.registry.as_ref().unwrap().weights;
    assert_eq!(weights.len(), 1);
    assert_eq!((weights[0].role.as_str(), weights[0].weight), ("a", 3.0));
    assert_eq!(h.core.weights().get("a"), Some(&3.0));
}

#[test]
fn a_recovered_agent_can_be_marked_gone_before_it_returns() {
    let mut h = Harness::recovered(registry_with("admitted"));
    assert_eq!(h.core.mark_agent_gone(h.now, EARLIER_AGENT), Ok(Reply::Ok));
    h.outputs();
    assert_eq!(
        lists(h.registry.as_ref().unwrap(), EARLIER_AGENT),
        (false, false, true)
    );
    assert_eq!(h.core.recovered_agents().count(), 0);
    let (_, refused) = reregister(&mut h);
    assert_eq!(refused.unwrap_err().kind, RejectionKind::Forbidden);
}

#[test]
fn without_a_registry_changes_take_effect_at_once() {
    let mut h = Harness::new();
    let agent = h.agent("h", "cpus:1");
    assert_eq!(
        h.core.mark_agent_gone(h.now, &agent.id.value),
        Ok(Reply::Ok)
    );
    assert!(h.core.agent(&agent.id.value).is_none());
    assert!(registry_ops(&h.outputs()).is_empty());
}

#[test]
fn unreachable_times_are_wall_clock_times_that_survive_a_failover() {
    // The earlier leader's mark keeps its own time, not this master's recovery time.
    let mut h = Harness::recovered(registry_with("unreachable"));
    let sub = resubscribe(&mut h, true);
    h.advance(Duration::from_secs(30));
    let updates = reconcile_t(&mut h, &sub);
    assert_eq!(state_of(&updates[0]), TaskState::TaskUnreachable);
    assert_eq!(
        updates[0].unreachable_time,
        Some(TimeInfo { nanoseconds: 1 })
    );

    // This master's own marks are on the wall clock, not counted from its origin.
    let origin = std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let mut h = Harness::new();
    h.core
        .set_wall_clock(crate::core::WallClock::with_origin_at(origin));
    h.core.recover_registry(h.now, &registry_with("admitted"));
    h.registry = Some(registry_with("admitted"));
    let sub = resubscribe(&mut h, true);
    h.hold_writes = true;
    h.advance_and_tick(Duration::from_secs(600));
    let expected = TimeInfo {
        nanoseconds: 1_800_000_600_000_000_000,
    };
    assert!(matches!(
        &registry_ops(&h.outputs())[..],
        [RegistryOp::MarkUnreachable { time, .. }] if *time == expected
    ));
    h.write_held();
    assert_eq!(
        h.registry.as_ref().unwrap().unreachable[0].timestamp,
        expected
    );
    let updates = reconcile_t(&mut h, &sub);
    assert_eq!(updates[0].unreachable_time, Some(expected));
    h.check();
}

/// A core recovered from a registry listing the earlier agent and one more, with
/// `--recovery_agent_removal_limit` at `limit`; the earlier agent comes back.
fn one_of_two_back(limit: f64) -> Harness {
    let mut registry = registry_with("admitted");
    let mut other = agent_info("h2", "cpus:2;mem:256");
    other.id = Some(AgentId {
        value: "earlier-S4".into(),
    });
    registry.admitted.push(Admitted { info: other });
    let mut h = Harness::with_config(CoreConfig {
        recovery_agent_removal_limit: limit,
        ..config()
    });
    h.core.recover_registry(h.now, &registry);
    h.registry = Some(registry);
    let (_, id) = reregister(&mut h);
    assert_eq!(id.unwrap(), agent_id());
    h.outputs();
    h
}

#[test]
fn more_recovered_agents_missing_than_the_limit_allows_ends_the_term() {
    let mut h = one_of_two_back(0.4);
    h.advance_and_tick(Duration::from_secs(600));
    let outputs = h.outputs();
    assert!(outputs.contains(&Output::RecoveryRemovalLimitExceeded {
        missing: 1,
        recovered: 2
    }));
    assert!(registry_ops(&outputs).is_empty(), "nothing is marked");
    assert!(h.core.knows_recovered("earlier-S4"));

    // At the limit exactly, the missing agent is marked unreachable as usual.
    let mut h = one_of_two_back(0.5);
    h.advance_and_tick(Duration::from_secs(600));
    let outputs = h.outputs();
    assert!(
        !outputs
            .iter()
            .any(|o| matches!(o, Output::RecoveryRemovalLimitExceeded { .. }))
    );
    assert!(matches!(
        &registry_ops(&outputs)[..],
        [RegistryOp::MarkUnreachable { agent_id, .. }] if agent_id.value == "earlier-S4"
    ));
}
