//! A framework hears of a task's states in the order the task went through them, even
//! when the master reports a state itself (reconciliation, an agent coming back) while
//! the agent is still delivering older updates. Found by the simulation
//! (tests/simulation.rs): reporting the agent's latest state there made a terminal task
//! come back as RUNNING once the older update arrived.

use super::*;

fn status_update(
    task: &str,
    framework: &FrameworkId,
    state: TaskState,
    latest: Option<TaskState>,
    n: u8,
) -> agentlink::Call {
    agentlink::Call {
        r#type: Some(agentlink::call::Type::StatusUpdate as i32),
        status_update: Some(agentlink::call::StatusUpdate {
            framework_id: framework.clone(),
            status: TaskStatus {
                task_id: TaskId { value: task.into() },
                state: state as i32,
                source: Some(ratufa_proto::v1::task_status::Source::Executor as i32),
                uuid: Some(uuid(n)),
                ..TaskStatus::default()
            },
            latest_state: latest.map(|s| s as i32),
        }),
        ..Default::default()
    }
}

#[test]
fn reconciliation_reports_the_update_still_being_delivered_not_the_latest_state() {
    let mut h = Harness::new();
    let base = info("f");
    let (sub, agent, offer) = h.offered(base.clone(), "cpus:2;mem:256");
    h.launched(&sub, &offer, "t", "cpus:1");
    let fw = sub.framework_id();
    h.close(sub.conn);
    // RUNNING, then FAILED, while the framework is away: the agent holds both and keeps
    // resending RUNNING, saying FAILED is the latest.
    let call = status_update("t", &fw, TaskState::TaskRunning, None, 1);
    h.agent_call(&agent, call).unwrap();
    let call = status_update(
        "t",
        &fw,
        TaskState::TaskRunning,
        Some(TaskState::TaskFailed),
        1,
    );
    h.agent_call(&agent, call).unwrap();
    h.check();
    assert_eq!(
        h.core.task(&fw.value, "t").unwrap().state(),
        TaskState::TaskFailed
    );

    let back = h.subscribe(with_id(base, &fw));
    h.outputs();
    h.call_on(
        &back,
        FrameworkCall::Reconcile(call::Reconcile { tasks: vec![] }),
    )
    .unwrap();
    let updates = updates_on(&h.outputs(), back.conn);
    assert_eq!(updates.len(), 1);
    // FAILED here would be followed by the retried RUNNING.
    assert_eq!(state_of(&updates[0]), TaskState::TaskRunning);
}

#[test]
fn returning_agent_is_reported_with_its_oldest_unacknowledged_state() {
    let mut h = Harness::new();
    let base = partition_aware(info("f"));
    let (sub, agent, offer) = h.offered(base, "cpus:2;mem:256");
    h.launched(&sub, &offer, "t", "cpus:1");
    let fw = sub.framework_id();
    let mut task = h.core.task(&fw.value, "t").unwrap().task();
    let framework = h.framework(&fw).info().clone();
    for _ in 0..6 {
        h.advance_and_tick(Duration::from_secs(15));
    }
    assert!(h.core.agent(&agent.id.value).is_none());
    h.outputs();

    // Killed while away; the agent still holds the unacknowledged STARTING in front
    // of the KILLED.
    let starting = TaskStatus {
        task_id: task.task_id.clone(),
        state: TaskState::TaskStarting as i32,
        uuid: Some(uuid(2)),
        ..TaskStatus::default()
    };
    task.state = TaskState::TaskKilled as i32;
    task.status_update_state = Some(starting.state);
    task.status_update_uuid = starting.uuid.clone();
    task.statuses = vec![starting];
    let conn = h.next_conn();
    let mut agent_info = agent_info("host1", "cpus:2;mem:256");
    agent_info.id = Some(agent.id.clone());
    h.core
        .handle_agent_subscribe(
            h.now,
            conn,
            agentlink::call::Subscribe {
                agent_info,
                tasks: vec![task],
                frameworks: vec![framework],
                ..Default::default()
            },
        )
        .unwrap();
    h.check();
    let updates = updates_on(&h.outputs(), sub.conn);
    assert_eq!(updates.len(), 1);
    assert_eq!(
        reason_of(&updates[0]),
        Some(ratufa_proto::v1::task_status::Reason::AgentReregistered)
    );
    // KILLED here would be followed by the agent's STARTING.
    assert_eq!(state_of(&updates[0]), TaskState::TaskStarting);
}
