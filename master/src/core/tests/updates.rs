//! Status updates, acknowledgements, KILL, SHUTDOWN, MESSAGE, executors exiting and
//! teardown.

use ratufa_proto::v1::task_status::Reason;
use ratufa_proto::v1::{ExecutorId, KillPolicy};

use super::*;

fn running(h: &mut Harness) -> (Subscription, TestAgent, FrameworkId) {
    let (sub, agent, offer) = h.offered(info("f"), "cpus:2;mem:256");
    h.launched(&sub, &offer, "t", "cpus:1;mem:128");
    let id = sub.framework_id();
    (sub, agent, id)
}

fn ack(h: &mut Harness, sub: &Subscription, agent: &TestAgent, task: &str, uuid: Vec<u8>) {
    let call = FrameworkCall::Acknowledge(call::Acknowledge {
        agent_id: agent.id.clone(),
        task_id: TaskId { value: task.into() },
        uuid,
    });
    assert_eq!(h.call_on(sub, call), Ok(Reply::Accepted));
    h.check();
}

#[test]
fn updates_are_forwarded_with_the_agents_uuid_and_acks_go_back() {
    let mut h = Harness::new();
    let (sub, agent, fw) = running(&mut h);
    let u = h.agent_update(&agent, &fw, "t", TaskState::TaskRunning, 1);
    let outputs = h.outputs();
    let updates = updates_on(&outputs, sub.conn);
    assert_eq!(updates.len(), 1);
    assert_eq!(state_of(&updates[0]), TaskState::TaskRunning);
    assert_eq!(updates[0].uuid.as_deref(), Some(&u[..]));
    assert_eq!(updates[0].agent_id.as_ref(), Some(&agent.id));
    assert_eq!(
        h.core.task(&fw.value, "t").unwrap().state(),
        TaskState::TaskRunning
    );

    ack(&mut h, &sub, &agent, "t", u.clone());
    let commands = commands_on(&h.outputs(), agent.conn);
    assert_eq!(commands.len(), 1);
    let acked = commands[0].acknowledge.as_ref().unwrap();
    assert_eq!((acked.task_id.value.as_str(), &acked.uuid), ("t", &u));
    assert!(h.core.task(&fw.value, "t").is_some());
}

#[test]
fn terminal_update_frees_resources_and_its_ack_removes_the_task() {
    let mut h = Harness::new();
    let (sub, agent, fw) = running(&mut h);
    h.agent_update(&agent, &fw, "t", TaskState::TaskRunning, 1);
    let u = h.agent_update(&agent, &fw, "t", TaskState::TaskFinished, 2);
    h.check();
    h.outputs();
    // Freed at the terminal update, as Mesos does, so offers can follow at once.
    assert!(h.core.agent(&agent.id.value).unwrap().used().is_empty());
    assert!(h.core.wants_allocation());
    assert_eq!(h.core.counters().tasks_finished, 1);

    // An ACK of an older uuid does not remove it.
    ack(&mut h, &sub, &agent, "t", uuid(1));
    assert!(h.core.task(&fw.value, "t").is_some());
    ack(&mut h, &sub, &agent, "t", u);
    assert!(h.core.task(&fw.value, "t").is_none());
    let books = h.core.framework_tasks(&fw.value).unwrap();
    let completed: Vec<&str> = books.completed().map(|t| t.task_id()).collect();
    assert_eq!(completed, vec!["t"]);
}

#[test]
fn a_terminal_task_never_changes_state() {
    let mut h = Harness::new();
    let (_, agent, fw) = running(&mut h);
    h.agent_update(&agent, &fw, "t", TaskState::TaskFailed, 1);
    h.agent_update(&agent, &fw, "t", TaskState::TaskRunning, 2);
    h.check();
    assert_eq!(
        h.core.task(&fw.value, "t").unwrap().state(),
        TaskState::TaskFailed
    );
    // Counted once.
    assert_eq!(h.core.counters().tasks_failed, 1);
}

#[test]
fn updates_for_a_disconnected_framework_wait_for_the_agent_to_resend() {
    let mut h = Harness::new();
    let (sub, agent, offer) = h.offered(
        FrameworkInfo {
            failover_timeout: Some(600.0),
            ..info("f")
        },
        "cpus:2;mem:256",
    );
    h.launched(&sub, &offer, "t", "cpus:1");
    let fw = sub.framework_id();
    h.close(sub.conn);
    h.agent_update(&agent, &fw, "t", TaskState::TaskRunning, 1);
    assert!(
        h.outputs()
            .iter()
            .all(|o| !matches!(o, Output::Event { .. }))
    );
    // Booked all the same.
    assert_eq!(
        h.core.task(&fw.value, "t").unwrap().state(),
        TaskState::TaskRunning
    );

    let again = h.subscribe(with_id(
        FrameworkInfo {
            failover_timeout: Some(600.0),
            ..info("f")
        },
        &fw,
    ));
    h.outputs();
    let u = h.agent_update(&agent, &fw, "t", TaskState::TaskRunning, 1);
    let updates = updates_on(&h.outputs(), again.conn);
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].uuid.as_deref(), Some(&u[..]));
}

#[test]
fn agent_updates_need_a_uuid() {
    let mut h = Harness::new();
    let (_, agent, fw) = running(&mut h);
    let call = agentlink::Call {
        r#type: Some(agentlink::call::Type::StatusUpdate as i32),
        status_update: Some(agentlink::call::StatusUpdate {
            framework_id: fw,
            status: TaskStatus {
                task_id: TaskId { value: "t".into() },
                state: TaskState::TaskRunning as i32,
                ..TaskStatus::default()
            },
            latest_state: None,
        }),
        ..Default::default()
    };
    let err = h.agent_call(&agent, call).unwrap_err();
    assert_eq!(err.kind, RejectionKind::BadRequest);
    assert!(err.message.contains("uuid"), "{}", err.message);
}

fn batched(fw: &FrameworkId, updates: &[(&str, TaskState, Option<Vec<u8>>)]) -> agentlink::Call {
    agentlink::Call {
        r#type: Some(agentlink::call::Type::StatusUpdates as i32),
        status_updates: updates
            .iter()
            .map(|(task, state, uuid)| agentlink::call::StatusUpdate {
                framework_id: fw.clone(),
                status: TaskStatus {
                    task_id: TaskId {
                        value: (*task).into(),
                    },
                    state: *state as i32,
                    source: Some(ratufa_proto::v1::task_status::Source::Executor as i32),
                    uuid: uuid.clone(),
                    ..TaskStatus::default()
                },
                latest_state: None,
            })
            .collect(),
        ..Default::default()
    }
}

/// Two tasks running on one agent of framework "f".
fn two_running(h: &mut Harness) -> (Subscription, TestAgent, FrameworkId) {
    let (sub, agent, offer) = h.offered(info("f"), "cpus:2;mem:256");
    let tasks = ["a", "b"].map(|t| command_task(t, &offer.agent_id, "cpus:1;mem:128"));
    assert_eq!(
        h.call_on(&sub, accept(&[&offer], vec![launch(tasks.to_vec())])),
        Ok(Reply::Accepted)
    );
    h.check();
    h.outputs();
    let fw = sub.framework_id();
    (sub, agent, fw)
}

#[test]
fn a_batch_of_updates_is_forwarded_in_its_order() {
    let mut h = Harness::new();
    let (sub, agent, fw) = two_running(&mut h);
    let call = batched(
        &fw,
        &[
            ("b", TaskState::TaskRunning, Some(uuid(1))),
            ("a", TaskState::TaskRunning, Some(uuid(2))),
            ("b", TaskState::TaskFinished, Some(uuid(3))),
        ],
    );
    assert_eq!(h.agent_call(&agent, call), Ok(Reply::Accepted));
    h.check();
    let updates = updates_on(&h.outputs(), sub.conn);
    let seen: Vec<(&str, TaskState, Option<&[u8]>)> = updates
        .iter()
        .map(|u| (u.task_id.value.as_str(), state_of(u), u.uuid.as_deref()))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("b", TaskState::TaskRunning, Some(&uuid(1)[..])),
            ("a", TaskState::TaskRunning, Some(&uuid(2)[..])),
            ("b", TaskState::TaskFinished, Some(&uuid(3)[..])),
        ]
    );
    assert_eq!(h.core.counters().valid_status_updates, 3);
    // Each update is acknowledged on its own, as if it had come alone.
    ack(&mut h, &sub, &agent, "a", uuid(2));
    let commands = commands_on(&h.outputs(), agent.conn);
    let acked = commands[0].acknowledge.as_ref().unwrap();
    assert_eq!((acked.task_id.value.as_str(), &acked.uuid), ("a", &uuid(2)));
}

#[test]
fn a_batch_with_an_update_lacking_its_uuid_is_refused_whole() {
    let mut h = Harness::new();
    let (sub, agent, fw) = two_running(&mut h);
    let call = batched(
        &fw,
        &[
            ("a", TaskState::TaskRunning, Some(uuid(1))),
            ("b", TaskState::TaskRunning, None),
        ],
    );
    let err = h.agent_call(&agent, call).unwrap_err();
    assert_eq!(err.kind, RejectionKind::BadRequest);
    assert!(
        err.message.contains("'status_updates[1].status.uuid'"),
        "{}",
        err.message
    );
    // Not even the good one went: the agent resends the whole call.
    assert!(updates_on(&h.outputs(), sub.conn).is_empty());
    assert_eq!(
        h.core.task(&fw.value, "a").unwrap().state(),
        TaskState::TaskStaging
    );
    let empty = batched(&fw, &[]);
    let err = h.agent_call(&agent, empty).unwrap_err();
    assert!(err.message.contains("'status_updates'"), "{}", err.message);
}

#[test]
fn kill_of_known_task_goes_to_its_agent() {
    let mut h = Harness::new();
    let (sub, agent, _) = running(&mut h);
    let policy = KillPolicy::default();
    h.call_on(
        &sub,
        FrameworkCall::Kill(call::Kill {
            task_id: TaskId { value: "t".into() },
            agent_id: None,
            kill_policy: Some(policy),
        }),
    )
    .unwrap();
    let commands = commands_on(&h.outputs(), agent.conn);
    assert_eq!(command_type(&commands[0]), Some(command::Type::KillTask));
    let kill = commands[0].kill_task.as_ref().unwrap();
    assert_eq!(kill.task_id.value, "t");
    assert_eq!(kill.kill_policy, Some(policy));
}

#[test]
fn kill_of_unknown_task_is_answered_by_reconciliation() {
    for aware in [false, true] {
        let mut h = Harness::new();
        let base = if aware {
            partition_aware(info("f"))
        } else {
            info("f")
        };
        let sub = h.subscribed(base);
        h.call_on(
            &sub,
            FrameworkCall::Kill(call::Kill {
                task_id: TaskId {
                    value: "ghost".into(),
                },
                ..Default::default()
            }),
        )
        .unwrap();
        let updates = updates_on(&h.outputs(), sub.conn);
        assert_eq!(updates.len(), 1);
        let expected = if aware {
            TaskState::TaskUnknown
        } else {
            TaskState::TaskLost
        };
        assert_eq!(state_of(&updates[0]), expected);
        assert_eq!(reason_of(&updates[0]), Some(Reason::Reconciliation));
        assert!(updates[0].uuid.is_none());
    }
}

#[test]
fn kill_while_agent_is_away_is_repeated_when_it_returns() {
    let mut h = Harness::new();
    let (sub, agent, fw) = running(&mut h);
    h.agent_update(&agent, &fw, "t", TaskState::TaskRunning, 1);
    h.core.handle_agent_stream_closed(h.now, agent.conn);
    h.call_on(
        &sub,
        FrameworkCall::Kill(call::Kill {
            task_id: TaskId { value: "t".into() },
            ..Default::default()
        }),
    )
    .unwrap();
    assert!(commands_on(&h.outputs(), agent.conn).is_empty());

    let task = h.core.task(&fw.value, "t").unwrap().task();
    let conn = h.next_conn();
    let mut info = agent_info("host1", "cpus:2;mem:256");
    info.id = Some(agent.id.clone());
    h.core
        .handle_agent_subscribe(
            h.now,
            conn,
            agentlink::call::Subscribe {
                agent_info: info,
                tasks: vec![task],
                ..Default::default()
            },
        )
        .unwrap();
    h.check();
    let commands = commands_on(&h.outputs(), conn);
    let types: Vec<_> = commands.iter().map(command_type).collect();
    assert_eq!(
        types,
        vec![
            Some(command::Type::Subscribed),
            Some(command::Type::KillTask)
        ]
    );
}

#[test]
fn messages_both_ways_and_executor_exit() {
    let mut h = Harness::new();
    let (sub, agent, fw) = running(&mut h);
    h.call_on(
        &sub,
        FrameworkCall::Message(call::Message {
            agent_id: agent.id.clone(),
            executor_id: ExecutorId { value: "e".into() },
            data: b"hi".to_vec(),
        }),
    )
    .unwrap();
    let commands = commands_on(&h.outputs(), agent.conn);
    assert_eq!(
        commands[0]
            .framework_message
            .as_ref()
            .map(|m| m.data.clone()),
        Some(b"hi".to_vec())
    );

    h.agent_call(
        &agent,
        agentlink::Call {
            r#type: Some(agentlink::call::Type::FrameworkMessage as i32),
            framework_message: Some(agentlink::call::FrameworkMessage {
                framework_id: fw.clone(),
                executor_id: ExecutorId { value: "e".into() },
                data: b"yo".to_vec(),
            }),
            ..Default::default()
        },
    )
    .unwrap();
    let events = events_on(&h.outputs(), sub.conn);
    let message = events[0].message.as_ref().unwrap();
    assert_eq!(
        (message.data.as_slice(), &message.agent_id),
        (&b"yo"[..], &agent.id)
    );

    h.agent_call(
        &agent,
        agentlink::Call {
            r#type: Some(agentlink::call::Type::ExecutorExited as i32),
            executor_exited: Some(agentlink::call::ExecutorExited {
                framework_id: fw,
                executor_id: ExecutorId { value: "e".into() },
                status: Some(256),
            }),
            ..Default::default()
        },
    )
    .unwrap();
    let events = events_on(&h.outputs(), sub.conn);
    let failure = events[0].failure.as_ref().unwrap();
    assert_eq!(failure.status, Some(256));
    assert_eq!(failure.agent_id.as_ref(), Some(&agent.id));
}

#[test]
fn teardown_shuts_the_framework_down_on_its_agents() {
    let mut h = Harness::new();
    let (sub, agent, fw) = running(&mut h);
    h.call_on(&sub, FrameworkCall::Teardown).unwrap();
    h.check();
    let outputs = h.outputs();
    let commands = commands_on(&outputs, agent.conn);
    assert_eq!(
        command_type(&commands[0]),
        Some(command::Type::ShutdownFramework)
    );
    assert!(h.core.framework_tasks(&fw.value).is_none());
    assert!(h.core.agent(&agent.id.value).unwrap().used().is_empty());
    assert_eq!(h.core.counters().tasks_killed, 1);

    // Late updates for it are acknowledged by the master, never forwarded.
    h.agent_update(&agent, &fw, "t", TaskState::TaskKilled, 3);
    let commands = commands_on(&h.outputs(), agent.conn);
    assert_eq!(command_type(&commands[0]), Some(command::Type::Acknowledge));
}

#[test]
fn update_framework_reaches_agents_running_its_tasks() {
    let mut h = Harness::new();
    let (sub, agent, fw) = running(&mut h);
    let new_info = FrameworkInfo {
        name: "renamed".into(),
        ..with_id(info("f"), &fw)
    };
    h.call_on(
        &sub,
        FrameworkCall::UpdateFramework(call::UpdateFramework {
            framework_info: new_info,
            ..Default::default()
        }),
    )
    .unwrap();
    let commands = commands_on(&h.outputs(), agent.conn);
    let update = commands[0].update_framework.as_ref().unwrap();
    assert_eq!(update.framework.name, "renamed");
}

#[test]
fn snapshot_and_metrics_reflect_the_books() {
    let mut h = Harness::new();
    let (sub, agent, fw) = running(&mut h);
    h.agent_update(&agent, &fw, "t", TaskState::TaskRunning, 1);
    let snapshot = h.core.state_snapshot();
    assert_eq!(snapshot.frameworks.len(), 1);
    let framework = &snapshot.frameworks[0];
    assert_eq!(framework.tasks.len(), 1);
    assert_eq!(framework.tasks[0].state(), TaskState::TaskRunning);
    assert_eq!(framework.used_resources().cpus(), 1.0);
    assert_eq!(snapshot.agents.len(), 1);
    assert_eq!(snapshot.agents[0].used().cpus(), 1.0);
    assert_eq!(snapshot.agents[0].total.cpus(), 2.0);

    let metrics: std::collections::BTreeMap<String, f64> = snapshot.metrics().into_iter().collect();
    for (name, value) in [
        ("master/frameworks_active", 1.0),
        ("master/slaves_active", 1.0),
        ("master/tasks_running", 1.0),
        ("master/tasks_staging", 0.0),
        ("master/outstanding_offers", 0.0),
        ("master/offers_sent", 1.0),
        ("master/offers_accepted", 1.0),
        ("master/cpus_total", 2.0),
        ("master/cpus_used", 1.0),
        ("master/valid_status_updates", 1.0),
    ] {
        assert_eq!(metrics.get(name), Some(&value), "{name}");
    }
    drop(sub);
}
