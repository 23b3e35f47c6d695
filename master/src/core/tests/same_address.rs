//! A new agent (no id) registering from the address of an agent the master holds:
//! the same agent trying again (its first SUBSCRIBED lost), never a second agent.

use ratufa_proto::ratufa::registry::Registry;
use ratufa_proto::v1::task_status::Reason;

use super::*;

fn registry_ops(outputs: &[Output]) -> Vec<RegistryOp> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Registry { op, .. } => Some(op.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn again_while_connected_it_gets_its_id_on_the_new_stream() {
    let mut h = Harness::new();
    let first = h.agent("h", "cpus:2;mem:256");
    let (conn, id) = subscribe_agent(&mut h, agent_info("h", "cpus:2;mem:256"), vec![]);
    assert_eq!(id.unwrap(), first.id);
    let outputs = h.outputs();
    let commands = commands_on(&outputs, conn);
    assert_eq!(command_type(&commands[0]), Some(command::Type::Subscribed));
    assert_eq!(commands[0].subscribed.as_ref().unwrap().agent_id, first.id);
    // The stream it no longer reads is closed.
    assert!(
        outputs.contains(&Output::Close { conn: first.conn }),
        "{outputs:?}"
    );
    assert_eq!(h.core.agents().count(), 1);
    assert_eq!(
        h.core.agent(&first.id.value).unwrap().connection_id(),
        Some(conn)
    );
    // Neither a registration nor a re-registration: the same one answered again.
    assert_eq!(h.core.counters().slave_registrations, 1);
    assert_eq!(h.core.counters().slave_reregistrations, 0);
    h.check();
}

#[test]
fn again_while_disconnected_it_replaces_the_old_agent_whose_tasks_are_lost() {
    let mut h = Harness::new();
    // Partition-aware: still TASK_LOST, as Mesos says of a removed agent's tasks.
    let (sub, old, offer) = h.offered(partition_aware(info("f")), "cpus:2;mem:256");
    let task = command_task("t", &old.id, "cpus:1;mem:32");
    assert_eq!(
        h.call_on(&sub, accept(&[&offer], vec![launch(vec![task])])),
        Ok(Reply::Accepted)
    );
    h.outputs();
    h.core.handle_agent_stream_closed(h.now, old.conn);
    h.outputs();

    let (conn, id) = subscribe_agent(&mut h, agent_info("host1", "cpus:2;mem:256"), vec![]);
    let new = id.unwrap();
    assert_ne!(new, old.id);
    let outputs = h.outputs();
    assert_eq!(
        command_type(&commands_on(&outputs, conn)[0]),
        Some(command::Type::Subscribed)
    );
    assert!(h.core.agent(&old.id.value).is_none());
    assert_eq!(h.core.agents().count(), 1);
    let updates = updates_on(&outputs, sub.conn);
    assert_eq!(updates.len(), 1, "{outputs:?}");
    assert_eq!(state_of(&updates[0]), TaskState::TaskLost);
    assert_eq!(reason_of(&updates[0]), Some(Reason::AgentRemoved));
    assert!(
        events_on(&outputs, sub.conn).iter().any(|e| e
            .failure
            .as_ref()
            .and_then(|f| f.agent_id.as_ref())
            == Some(&old.id)),
        "{outputs:?}"
    );
    let counters = h.core.counters();
    assert_eq!(counters.slave_removals, 1);
    assert_eq!(counters.slave_removals_reason_registered, 1);
    assert_eq!(counters.slave_registrations, 2);
    h.check();
}

#[test]
fn the_replaced_agent_leaves_the_registry_before_the_new_one_is_answered() {
    let mut h = Harness::recovered(Registry::default());
    let (old_conn, old) = subscribe_agent(&mut h, agent_info("h", "cpus:1"), vec![]);
    let old = old.unwrap();
    h.outputs();
    h.core.handle_agent_stream_closed(h.now, old_conn);
    h.outputs();

    h.hold_writes = true;
    let (conn, new) = subscribe_agent(&mut h, agent_info("h", "cpus:1"), vec![]);
    let new = new.unwrap();
    let outputs = h.outputs();
    assert_eq!(
        registry_ops(&outputs),
        vec![
            RegistryOp::Remove(old.clone()),
            RegistryOp::Admit({
                let mut info = agent_info("h", "cpus:1");
                info.id = Some(new.clone());
                info
            }),
        ]
    );
    assert!(commands_on(&outputs, conn).is_empty(), "{outputs:?}");
    // Until written, the old agent is still there, and cannot come back by its id.
    assert!(h.core.agent(&old.value).is_some());
    let mut back = agent_info("h", "cpus:1");
    back.id = Some(old.clone());
    let (_, refused) = subscribe_agent(&mut h, back, vec![]);
    assert_eq!(refused.unwrap_err().kind, RejectionKind::Forbidden);

    let outputs = h.write_held();
    assert_eq!(
        command_type(&commands_on(&outputs, conn)[0]),
        Some(command::Type::Subscribed)
    );
    let registry = h.registry.as_ref().unwrap();
    let admitted: Vec<_> = registry
        .admitted
        .iter()
        .map(|a| a.info.id.clone())
        .collect();
    assert_eq!(admitted, vec![Some(new.clone())]);
    assert!(registry.unreachable.is_empty() && registry.gone.is_empty());
    assert_eq!(
        h.core.agents().map(|a| a.agent_id()).collect::<Vec<_>>(),
        vec![new]
    );
    h.check();
}

#[test]
fn again_while_the_first_registration_is_written_it_is_turned_away() {
    let mut h = Harness::recovered(Registry::default());
    h.hold_writes = true;
    let (first_conn, first) = subscribe_agent(&mut h, agent_info("h", "cpus:1"), vec![]);
    let first = first.unwrap();
    h.outputs();
    // Its stream breaks before the answer; it tries again at once.
    h.core.handle_agent_stream_closed(h.now, first_conn);
    let (conn, again) = subscribe_agent(&mut h, agent_info("h", "cpus:1"), vec![]);
    assert_eq!(again.unwrap_err().kind, RejectionKind::Forbidden);
    let outputs = h.outputs();
    assert_eq!(outputs, vec![Output::Close { conn }]);

    // Once written, the first is held disconnected; the next attempt replaces it.
    h.write_held();
    assert!(!h.core.agent(&first.value).unwrap().is_connected());
    h.hold_writes = false;
    let (_, third) = subscribe_agent(&mut h, agent_info("h", "cpus:1"), vec![]);
    let third = third.unwrap();
    h.outputs();
    assert_eq!(
        h.core.agents().map(|a| a.agent_id()).collect::<Vec<_>>(),
        vec![third]
    );
    h.check();
}

#[test]
fn agents_at_other_addresses_are_other_agents() {
    let mut h = Harness::new();
    let a = h.agent("h", "cpus:1");
    let mut other_port = agent_info("h", "cpus:1");
    other_port.port = Some(5052);
    let (_, b) = subscribe_agent(&mut h, other_port, vec![]);
    let c = h.agent("h2", "cpus:1");
    assert_ne!(b.as_ref().unwrap(), &a.id);
    assert_ne!(c.id, a.id);
    assert_eq!(h.core.agents().count(), 3);
    h.check();
}

#[test]
fn the_replaced_agents_id_is_refused_and_its_tasks_stay_lost() {
    let mut h = Harness::new();
    let (sub, old, offer) = h.offered(info("f"), "cpus:2;mem:256");
    let task = command_task("t", &old.id, "cpus:1;mem:32");
    assert_eq!(
        h.call_on(&sub, accept(&[&offer], vec![launch(vec![task])])),
        Ok(Reply::Accepted)
    );
    h.core.handle_agent_stream_closed(h.now, old.conn);
    let (_, new) = subscribe_agent(&mut h, agent_info("host1", "cpus:2;mem:256"), vec![]);
    let new = new.unwrap();
    h.outputs();

    // The old agent comes back (from another port) under its old id, still running
    // the task that frameworks heard was lost.
    let mut back = agent_info("host1", "cpus:2;mem:256");
    back.port = Some(5052);
    back.id = Some(old.id.clone());
    let running = ratufa_proto::v1::Task {
        task_id: ratufa_proto::v1::TaskId { value: "t".into() },
        framework_id: sub.framework_id(),
        agent_id: old.id.clone(),
        state: TaskState::TaskRunning as i32,
        resources: Resources::parse("cpus:1;mem:32", "*").unwrap().into_vec(),
        ..Default::default()
    };
    let (conn, refused) = subscribe_agent(&mut h, back, vec![running]);
    assert_eq!(refused.unwrap_err().kind, RejectionKind::Forbidden);
    let outputs = h.outputs();
    // Told why (so it starts over as a new agent), and nothing else: no update of the
    // lost task, no new agent.
    let commands = commands_on(&outputs, conn);
    assert_eq!(commands.len(), 1, "{outputs:?}");
    assert_eq!(command_type(&commands[0]), Some(command::Type::Error));
    assert_eq!(
        commands[0].error.as_ref().map(|e| e.message.as_str()),
        Some(AGENT_REMOVED)
    );
    assert_eq!(outputs.len(), 2, "{outputs:?}");
    assert_eq!(outputs[1], Output::Close { conn });
    assert_eq!(
        h.core.agents().map(|a| a.agent_id()).collect::<Vec<_>>(),
        vec![new]
    );
    assert!(h.core.agent(&old.id.value).is_none());
    h.check();
}
