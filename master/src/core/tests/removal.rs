//! `--agent_removal_rate_limit`: agents that qualify for being marked unreachable
//! wait their turn, and one that answers meanwhile stays.

use super::*;

const INTERVAL: Duration = Duration::from_secs(600);

fn rate_limited() -> Harness {
    Harness::with_config(CoreConfig {
        agent_removal_interval: Some(INTERVAL),
        ..config()
    })
}

fn pong() -> agentlink::Call {
    agentlink::Call {
        r#type: Some(agentlink::call::Type::Pong as i32),
        ..Default::default()
    }
}

/// Lets every agent miss `max_agent_ping_timeouts` pings (15 s apart): the tick at
/// 90 s finds them all qualifying at once.
fn silence(h: &mut Harness) {
    for _ in 0..6 {
        h.advance_and_tick(Duration::from_secs(15));
    }
}

fn registered(h: &Harness, agents: &[TestAgent]) -> Vec<bool> {
    agents
        .iter()
        .map(|a| h.core.agent(&a.id.value).is_some())
        .collect()
}

#[test]
fn silent_agents_are_marked_unreachable_one_per_interval() {
    let mut h = rate_limited();
    let agents: Vec<TestAgent> = (0..3)
        .map(|i| h.agent(&format!("h{i}"), "cpus:1"))
        .collect();
    silence(&mut h);
    // The first permit is at once; the others wait.
    assert_eq!(registered(&h, &agents), [false, true, true]);
    assert_eq!(h.core.unreachable_agents().len(), 1);
    assert_eq!(h.core.poll_timeout(), Some(h.now + INTERVAL));

    h.advance_and_tick(INTERVAL - Duration::from_secs(1));
    assert_eq!(h.core.unreachable_agents().len(), 1);
    h.advance_and_tick(Duration::from_secs(1));
    assert_eq!(registered(&h, &agents), [false, false, true]);
    h.advance_and_tick(INTERVAL);
    assert_eq!(registered(&h, &agents), [false, false, false]);
    assert_eq!(h.core.unreachable_agents().len(), 3);
    h.check();
}

#[test]
fn an_agent_that_answers_while_waiting_its_turn_stays() {
    let mut h = rate_limited();
    let first = h.agent("h0", "cpus:1");
    let second = h.agent("h1", "cpus:1");
    silence(&mut h);
    assert_eq!(registered(&h, &[first, second.clone()]), [false, true]);
    h.agent_call(&second, pong()).unwrap();
    h.outputs();

    h.advance_and_tick(INTERVAL);
    assert!(h.core.agent(&second.id.value).is_some());
    assert!(!h.core.unreachable_agents().contains_key(&second.id.value));
    // And it is pinged again as before.
    h.advance_and_tick(Duration::from_secs(15));
    let commands = commands_on(&h.outputs(), second.conn);
    assert_eq!(command_type(&commands[0]), Some(command::Type::Ping));
    h.check();
}

#[test]
fn without_a_rate_limit_all_go_at_once() {
    let mut h = Harness::new();
    let agents: Vec<TestAgent> = (0..3)
        .map(|i| h.agent(&format!("h{i}"), "cpus:1"))
        .collect();
    silence(&mut h);
    assert_eq!(registered(&h, &agents), [false, false, false]);
}
