//! Agents: registration, refusal, the agent link's checks, disconnection, pings and
//! the unreachable transition, and coming back.

use ratufa_proto::v1::task_status::Reason;

use super::*;

#[test]
fn registration_gives_an_id_and_subscribed_first() {
    let mut h = Harness::new();
    let (conn, id) = subscribe_agent(&mut h, agent_info("h", "cpus:1;mem:64"), vec![]);
    let id = id.unwrap();
    assert_eq!(id.value, format!("{MASTER_ID}-S0"));
    let commands = commands_on(&h.outputs(), conn);
    assert_eq!(commands.len(), 1);
    let subscribed = commands[0].subscribed.as_ref().unwrap();
    assert_eq!(subscribed.agent_id, id);
    assert_eq!(subscribed.ping_interval_seconds, Some(15.0));
    assert_eq!(
        subscribed.master_info.as_ref().map(|m| m.id.as_str()),
        Some(MASTER_ID)
    );
    assert!(h.core.wants_allocation());
    let (_, second) = subscribe_agent(&mut h, agent_info("h2", "cpus:1"), vec![]);
    assert_eq!(second.unwrap().value, format!("{MASTER_ID}-S1"));
    assert_eq!(h.core.counters().slave_registrations, 2);
}

#[test]
fn invalid_resources_are_refused_with_the_fault() {
    let mut h = Harness::new();
    let mut info = agent_info("h", "cpus:1");
    info.resources[0].scalar = Some(ratufa_proto::v1::value::Scalar { value: -1.0 });
    let (conn, result) = subscribe_agent(&mut h, info, vec![]);
    let err = result.unwrap_err();
    assert_eq!(err.kind, RejectionKind::BadRequest);
    let outputs = h.outputs();
    let commands = commands_on(&outputs, conn);
    assert_eq!(command_type(&commands[0]), Some(command::Type::Error));
    let message = &commands[0].error.as_ref().unwrap().message;
    assert!(message.contains("Invalid agent resources"), "{message}");
    assert_eq!(outputs.last(), Some(&Output::Close { conn }));
    assert_eq!(h.core.agents().count(), 0);
}

#[test]
fn an_agent_cannot_claim_more_than_it_has() {
    let mut h = Harness::new();
    let mut info = agent_info("h", "cpus:1;mem:64");
    info.id = Some(AgentId {
        value: "old-S3".into(),
    });
    let task = ratufa_proto::v1::Task {
        task_id: TaskId { value: "t".into() },
        framework_id: FrameworkId { value: "fw".into() },
        agent_id: AgentId {
            value: "old-S3".into(),
        },
        state: TaskState::TaskRunning as i32,
        resources: Resources::parse("cpus:4", "*").unwrap().into_vec(),
        ..Default::default()
    };
    let (_, result) = subscribe_agent(&mut h, info, vec![task]);
    let err = result.unwrap_err();
    assert!(
        err.message.contains("more than the agent's resources"),
        "{}",
        err.message
    );
}

#[test]
fn calls_must_come_on_the_agents_stream() {
    let mut h = Harness::new();
    let agent = h.agent("h", "cpus:1");
    let pong = agentlink::Call {
        r#type: Some(agentlink::call::Type::Pong as i32),
        ..Default::default()
    };
    let err = h
        .core
        .handle_agent_call(h.now, ConnectionId(999), pong.clone())
        .unwrap_err();
    assert_eq!(err.kind, RejectionKind::Forbidden);
    let mut wrong = pong.clone();
    wrong.agent_id = Some(AgentId {
        value: "other".into(),
    });
    let err = h
        .core
        .handle_agent_call(h.now, agent.conn, wrong)
        .unwrap_err();
    assert_eq!(err.kind, RejectionKind::BadRequest);
    assert_eq!(h.agent_call(&agent, pong), Ok(Reply::Accepted));
}

#[test]
fn disconnected_agent_loses_its_offers_but_keeps_tasks() {
    let mut h = Harness::new();
    let (sub, agent, offer) = h.offered(info("f"), "cpus:2;mem:256");
    h.launched(&sub, &offer, "t", "cpus:1");
    h.advance_and_tick(Duration::from_secs(5));
    let offer = offers_on(&h.allocate(), sub.conn)
        .pop()
        .expect("the rest, offered again");

    h.core.handle_agent_stream_closed(h.now, agent.conn);
    h.check();
    let events = events_on(&h.outputs(), sub.conn);
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].rescind.as_ref().map(|r| &r.offer_id),
        Some(&offer.id)
    );
    assert!(!h.core.agent(&agent.id.value).unwrap().is_connected());
    assert!(h.core.task(&sub.framework_id().value, "t").is_some());
    assert!(offers_on(&h.allocate(), sub.conn).is_empty());
}

/// Ticks through `n` ping intervals without answering.
fn miss_pings(h: &mut Harness, n: u32) {
    for _ in 0..n {
        h.advance_and_tick(Duration::from_secs(15));
    }
}

#[test]
fn answered_pings_keep_an_agent() {
    let mut h = Harness::new();
    let agent = h.agent("h", "cpus:1");
    for _ in 0..20 {
        h.advance_and_tick(Duration::from_secs(15));
        let commands = commands_on(&h.outputs(), agent.conn);
        assert_eq!(command_type(&commands[0]), Some(command::Type::Ping));
        let pong = agentlink::Call {
            r#type: Some(agentlink::call::Type::Pong as i32),
            ..Default::default()
        };
        h.agent_call(&agent, pong).unwrap();
    }
    assert!(h.core.agent(&agent.id.value).is_some());
}

#[test]
fn silent_agent_becomes_unreachable() {
    for aware in [false, true] {
        let mut h = Harness::new();
        let base = if aware {
            partition_aware(info("f"))
        } else {
            info("f")
        };
        let (sub, agent, offer) = h.offered(base, "cpus:2;mem:256");
        h.launched(&sub, &offer, "t", "cpus:1");
        let fw = sub.framework_id();
        // PINGs at 15 s .. 75 s go unanswered; the one due at 90 s finds 5 missed.
        miss_pings(&mut h, 5);
        assert!(h.core.agent(&agent.id.value).is_some());
        h.outputs();
        miss_pings(&mut h, 1);
        h.check();
        assert!(h.core.agent(&agent.id.value).is_none());
        assert!(h.core.unreachable_agents().contains_key(&agent.id.value));

        let outputs = h.outputs();
        let updates = updates_on(&outputs, sub.conn);
        assert_eq!(updates.len(), 1);
        let expected = if aware {
            TaskState::TaskUnreachable
        } else {
            TaskState::TaskLost
        };
        assert_eq!(state_of(&updates[0]), expected);
        assert_eq!(reason_of(&updates[0]), Some(Reason::AgentRemoved));
        assert!(updates[0].uuid.is_none());
        let failures: Vec<_> = events_on(&outputs, sub.conn)
            .into_iter()
            .filter_map(|e| e.failure)
            .collect();
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].agent_id.as_ref(), Some(&agent.id));
        assert!(outputs.contains(&Output::Close { conn: agent.conn }));

        let books = h.core.framework_tasks(&fw.value).unwrap();
        assert!(books.get("t").is_none());
        assert_eq!(books.unreachable().count(), usize::from(aware));
        assert_eq!(books.completed().count(), usize::from(!aware));
        assert_eq!(h.core.counters().slave_removals, 1);
    }
}

#[test]
fn returning_unreachable_agent_kills_what_frameworks_were_told_was_lost() {
    let mut h = Harness::new();
    let (plain, aware, agent) = h.plain_and_aware_on_one_agent();
    let tasks: Vec<ratufa_proto::v1::Task> = ["p", "a"]
        .iter()
        .zip([&plain, &aware])
        .map(|(t, sub)| h.core.task(&sub.framework_id().value, t).unwrap().task())
        .collect();
    let frameworks = vec![
        h.framework(&plain.framework_id()).info().clone(),
        h.framework(&aware.framework_id()).info().clone(),
    ];
    miss_pings(&mut h, 6);
    assert!(h.core.agent(&agent.id.value).is_none());
    h.outputs();

    let conn = h.next_conn();
    let mut info = agent_info("host1", "cpus:2;mem:256");
    info.id = Some(agent.id.clone());
    h.core
        .handle_agent_subscribe(
            h.now,
            conn,
            agentlink::call::Subscribe {
                agent_info: info,
                tasks,
                frameworks,
                ..Default::default()
            },
        )
        .unwrap();
    h.check();
    let outputs = h.outputs();
    let commands = commands_on(&outputs, conn);
    assert_eq!(command_type(&commands[0]), Some(command::Type::Subscribed));
    let shutdowns: Vec<String> = commands
        .iter()
        .filter_map(|c| {
            c.shutdown_framework
                .as_ref()
                .map(|s| s.framework_id.value.clone())
        })
        .collect();
    assert_eq!(shutdowns, vec![plain.framework_id().value]);
    // The partition-aware task is back, and its framework hears so.
    assert!(h.core.task(&aware.framework_id().value, "a").is_some());
    assert!(h.core.task(&plain.framework_id().value, "p").is_none());
    let updates = updates_on(&outputs, aware.conn);
    assert_eq!(updates.len(), 1);
    assert_eq!(reason_of(&updates[0]), Some(Reason::AgentReregistered));
    assert!(updates_on(&outputs, plain.conn).is_empty());
    assert!(!h.core.unreachable_agents().contains_key(&agent.id.value));
}

#[test]
fn reregistering_agent_that_lost_a_launch_reports_it_lost() {
    let mut h = Harness::new();
    let (sub, agent, offer) = h.offered(info("f"), "cpus:2;mem:256");
    h.launched(&sub, &offer, "t", "cpus:1");
    h.core.handle_agent_stream_closed(h.now, agent.conn);
    let conn = h.next_conn();
    let mut info = agent_info("host1", "cpus:2;mem:256");
    info.id = Some(agent.id.clone());
    h.core
        .handle_agent_subscribe(
            h.now,
            conn,
            agentlink::call::Subscribe {
                agent_info: info,
                ..Default::default()
            },
        )
        .unwrap();
    h.check();
    let updates = updates_on(&h.outputs(), sub.conn);
    assert_eq!(updates.len(), 1);
    assert_eq!(state_of(&updates[0]), TaskState::TaskLost);
    assert!(h.core.task(&sub.framework_id().value, "t").is_none());
    assert!(h.core.agent(&agent.id.value).unwrap().used().is_empty());
    assert_eq!(h.core.counters().slave_reregistrations, 1);
}

#[test]
fn agent_unknown_to_this_master_brings_its_frameworks_back() {
    let mut h = Harness::new();
    let fw = FrameworkId {
        value: "earlier-0000".into(),
    };
    let mut info = agent_info("h", "cpus:2;mem:256");
    info.id = Some(AgentId {
        value: "earlier-S7".into(),
    });
    let task = ratufa_proto::v1::Task {
        name: "t".into(),
        task_id: TaskId { value: "t".into() },
        framework_id: fw.clone(),
        agent_id: AgentId {
            value: "earlier-S7".into(),
        },
        state: TaskState::TaskRunning as i32,
        resources: Resources::parse("cpus:1", "*").unwrap().into_vec(),
        ..Default::default()
    };
    let conn = h.next_conn();
    let id = h
        .core
        .handle_agent_subscribe(
            h.now,
            conn,
            agentlink::call::Subscribe {
                agent_info: info,
                tasks: vec![task],
                frameworks: vec![with_id(super::info("f"), &fw)],
                ..Default::default()
            },
        )
        .unwrap();
    h.check();
    assert_eq!(id.value, "earlier-S7");
    assert!(h.core.framework(&fw.value).is_some());
    assert!(h.core.task(&fw.value, "t").is_some());
    // The framework subscribes again and finds its task by reconciling.
    let sub = h.subscribe(with_id(super::info("f"), &fw));
    h.outputs();
    h.call_on(&sub, FrameworkCall::Reconcile(Default::default()))
        .unwrap();
    let updates = updates_on(&h.outputs(), sub.conn);
    assert_eq!(updates.len(), 1);
    assert_eq!(state_of(&updates[0]), TaskState::TaskRunning);
}
