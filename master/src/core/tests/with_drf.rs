//! The core on the real hierarchical DRF allocator: the whole offer → launch →
//! update → ack path, with the invariants checked after every step.

use crate::allocator::{AllocatorConfig, HierarchicalDrf};

use super::*;

fn harness() -> Harness {
    Harness::with_allocator(
        config(),
        Box::new(HierarchicalDrf::new(AllocatorConfig::default())),
    )
}

#[test]
fn launch_run_finish_ack_and_offer_again() {
    let mut h = harness();
    let sub = h.subscribed(info("f"));
    let agent = h.agent("h", "cpus:4;mem:1024");
    let offers = offers_on(&h.allocate(), sub.conn);
    assert_eq!(offers.len(), 1);
    let fw = sub.framework_id();

    let tasks: Vec<TaskInfo> = (0..4)
        .map(|n| command_task(&format!("t{n}"), &agent.id, "cpus:1;mem:128"))
        .collect();
    h.call_on(
        &sub,
        FrameworkCall::Accept(call::Accept {
            offer_ids: vec![offers[0].id.clone()],
            operations: vec![launch(tasks)],
            filters: Some(ratufa_proto::v1::Filters {
                refuse_seconds: Some(0.0),
            }),
        }),
    )
    .unwrap();
    h.check();
    assert_eq!(commands_on(&h.outputs(), agent.conn).len(), 4);
    // The unused memory is offered again at once (no filter asked for).
    let again = offers_on(&h.allocate(), sub.conn);
    assert_eq!(again.len(), 1);
    let rest = Resources::try_from_vec(again[0].resources.clone()).unwrap();
    assert_eq!((rest.cpus(), rest.mem()), (0.0, 512.0));
    h.call_on(
        &sub,
        FrameworkCall::Decline(call::Decline {
            offer_ids: vec![again[0].id.clone()],
            filters: None,
        }),
    )
    .unwrap();
    h.check();

    for n in 0..4u8 {
        let task = format!("t{n}");
        let u = h.agent_update(&agent, &fw, &task, TaskState::TaskFinished, n + 1);
        h.check();
        h.call_on(
            &sub,
            FrameworkCall::Acknowledge(call::Acknowledge {
                agent_id: agent.id.clone(),
                task_id: TaskId { value: task },
                uuid: u,
            }),
        )
        .unwrap();
        h.check();
    }
    h.outputs();
    assert_eq!(
        h.core
            .framework_tasks(&fw.value)
            .unwrap()
            .completed()
            .count(),
        4
    );
    // Everything is free again once the decline filter passes.
    h.advance_and_tick(Duration::from_secs(5));
    let offers = offers_on(&h.allocate(), sub.conn);
    assert_eq!(offers.len(), 1);
    let all = Resources::try_from_vec(offers[0].resources.clone()).unwrap();
    assert_eq!((all.cpus(), all.mem()), (4.0, 1024.0));
}
