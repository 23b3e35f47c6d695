use std::collections::HashMap;
use std::time::Duration;

use ratufa_proto::resources::Resources;
use ratufa_proto::v1::framework_info::Capability;
use ratufa_proto::v1::framework_info::capability::Type as CapabilityType;
use ratufa_proto::v1::resource::RevocableInfo;
use ratufa_proto::v1::{AgentId, AgentInfo, FrameworkId, FrameworkInfo};

use super::*;

fn fid(id: &str) -> FrameworkId {
    FrameworkId { value: id.into() }
}

fn aid(id: &str) -> AgentId {
    AgentId { value: id.into() }
}

fn res(text: &str) -> Resources {
    Resources::parse(text, "*").unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn at(seconds: u64) -> Time {
    Time::from_origin(Duration::from_secs(seconds))
}

#[allow(deprecated)]
fn framework(role: &str, capabilities: &[CapabilityType]) -> FrameworkInfo {
    FrameworkInfo {
        user: "u".into(),
        name: "f".into(),
        role: Some(role.into()),
        capabilities: capabilities
            .iter()
            .map(|c| Capability {
                r#type: Some(*c as i32),
            })
            .collect(),
        ..FrameworkInfo::default()
    }
}

fn multi_role(roles: &[&str]) -> FrameworkInfo {
    FrameworkInfo {
        roles: roles.iter().map(|r| r.to_string()).collect(),
        ..framework("*", &[CapabilityType::MultiRole])
    }
}

fn agent_info(host: &str) -> AgentInfo {
    AgentInfo {
        hostname: host.into(),
        ..AgentInfo::default()
    }
}

fn no_minimum() -> HierarchicalDrf {
    HierarchicalDrf::new(AllocatorConfig {
        min_allocatable_resources: Vec::new(),
        weights: Vec::new(),
    })
}

fn add_agent(alloc: &mut HierarchicalDrf, id: &str, resources: &str) {
    alloc.add_agent(&aid(id), &agent_info(id), res(resources), &[]);
}

fn add_framework(alloc: &mut HierarchicalDrf, id: &str, info: &FrameworkInfo) {
    alloc.add_framework(&fid(id), info, &[], true, &[]);
}

/// Allocations as (framework, agent, role, resources text), in order.
fn summary(allocations: &[Allocation]) -> Vec<(String, String, String, String)> {
    allocations
        .iter()
        .map(|a| {
            (
                a.framework_id.value.clone(),
                a.agent_id.value.clone(),
                a.role.clone(),
                a.resources.unallocated().to_string(),
            )
        })
        .collect()
}

fn decline(alloc: &mut HierarchicalDrf, a: &Allocation, refuse: Option<Duration>, now: Time) {
    alloc.recover_resources(&a.framework_id, &a.agent_id, &a.resources, refuse, now);
}

#[test]
fn one_framework_gets_a_whole_agent_once() {
    let mut alloc = HierarchicalDrf::new(AllocatorConfig::default());
    add_framework(&mut alloc, "f1", &framework("*", &[]));
    add_agent(&mut alloc, "a1", "cpus:4;mem:1024;ports:[31000-32000]");
    let out = alloc.allocate(at(0));
    assert_eq!(
        summary(&out),
        vec![(
            "f1".into(),
            "a1".into(),
            "*".into(),
            "cpus:4; mem:1024; ports:[31000-32000]".into()
        )]
    );
    assert_eq!(out[0].resources.allocation_role(), Some("*"));
    assert!(alloc.free(&aid("a1")).is_empty());
    // Nothing changed: the next cycle looks at nothing.
    assert!(alloc.allocate(at(1)).is_empty());
    assert_eq!(alloc.stats().last_cycle_agents, 0);
    alloc.check_invariants().expect("consistent");
}

#[test]
fn weights_one_and_three_share_one_to_three() {
    let mut alloc = HierarchicalDrf::new(AllocatorConfig {
        min_allocatable_resources: Vec::new(),
        weights: vec![("heavy".into(), 3.0)],
    });
    add_framework(&mut alloc, "light", &framework("light", &[]));
    add_framework(&mut alloc, "heavy", &framework("heavy", &[]));
    for i in 0..400 {
        add_agent(&mut alloc, &format!("a{i}"), "cpus:4;mem:1024");
    }
    let out = alloc.allocate(at(0));
    assert_eq!(out.len(), 400);
    let count = |f: &str| out.iter().filter(|a| a.framework_id.value == f).count();
    assert_eq!((count("light"), count("heavy")), (100, 300));
    // Weighted shares end equal.
    let light = alloc.role_share("light");
    let heavy = alloc.role_share("heavy");
    assert!((light - heavy).abs() < 1e-9, "{light} vs {heavy}");
    alloc.check_invariants().expect("consistent");
}

#[test]
fn weights_can_change_later() {
    let mut alloc = no_minimum();
    add_framework(&mut alloc, "x", &framework("x", &[]));
    add_framework(&mut alloc, "y", &framework("y", &[]));
    for i in 0..10 {
        add_agent(&mut alloc, &format!("a{i}"), "cpus:1");
    }
    let first = alloc.allocate(at(0));
    assert_eq!(first.len(), 10);
    for a in &first {
        decline(&mut alloc, a, None, at(0));
    }
    alloc.update_weights(&[("y".into(), 4.0)]);
    let out = alloc.allocate(at(1));
    let y = out.iter().filter(|a| a.framework_id.value == "y").count();
    assert_eq!(y, 8);
}

#[test]
fn frameworks_in_one_role_share_by_drf() {
    let mut alloc = no_minimum();
    add_framework(&mut alloc, "f1", &framework("r", &[]));
    add_framework(&mut alloc, "f2", &framework("r", &[]));
    // f1 already uses a lot on a1, so f2 gets the other agents first.
    alloc.add_agent(
        &aid("a0"),
        &agent_info("a0"),
        res("cpus:8"),
        &[(fid("f1"), res("cpus:8"))],
    );
    for i in 1..=4 {
        add_agent(&mut alloc, &format!("a{i}"), "cpus:2");
    }
    let out = alloc.allocate(at(0));
    let f2 = out.iter().filter(|a| a.framework_id.value == "f2").count();
    assert_eq!(f2, 4, "{:?}", summary(&out));
}

#[test]
fn static_reservations_only_to_their_role_and_subroles() {
    let mut alloc = no_minimum();
    add_framework(&mut alloc, "dev", &framework("dev", &[]));
    add_agent(&mut alloc, "a1", "cpus:2;cpus(prod):3;mem(prod):100");
    let out = alloc.allocate(at(0));
    assert_eq!(
        summary(&out),
        vec![("dev".into(), "a1".into(), "dev".into(), "cpus:2".into())]
    );
    assert_eq!(alloc.free(&aid("a1")).reserved_to("prod").cpus(), 3.0);

    // A framework in a subrole of prod may use prod's reservation.
    add_framework(&mut alloc, "sub", &framework("prod/batch", &[]));
    let out = alloc.allocate(at(1));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].framework_id.value, "sub");
    assert_eq!(out[0].resources.cpus(), 3.0);
    assert_eq!(out[0].resources.mem(), 100.0);
    assert!(alloc.free(&aid("a1")).is_empty());
    alloc.check_invariants().expect("consistent");
}

#[test]
fn reservations_go_to_their_role_with_unreserved() {
    let mut alloc = no_minimum();
    add_framework(&mut alloc, "p", &framework("prod", &[]));
    add_framework(&mut alloc, "d", &framework("dev", &[]));
    add_agent(&mut alloc, "a1", "cpus:2;cpus(prod):3");
    let out = alloc.allocate(at(0));
    // prod ranks first (added first, equal shares) and takes both kinds; dev gets none.
    assert_eq!(summary(&out).len(), 1);
    assert_eq!(out[0].framework_id.value, "p");
    assert_eq!(out[0].resources.cpus(), 5.0);
}

#[test]
fn decline_filters_hold_until_expiry() {
    let mut alloc = no_minimum();
    add_framework(&mut alloc, "f", &framework("*", &[]));
    add_agent(&mut alloc, "a1", "cpus:2;mem:64");
    let out = alloc.allocate(at(0));
    assert_eq!(out.len(), 1);
    decline(&mut alloc, &out[0], Some(Duration::from_secs(30)), at(0));
    assert_eq!(alloc.next_wakeup(), Some(at(30)));
    assert!(alloc.allocate(at(0)).is_empty());
    assert!(alloc.allocate(at(29)).is_empty());
    let out = alloc.allocate(at(30));
    assert_eq!(out.len(), 1, "filter expired");
    assert_eq!(alloc.next_wakeup(), None);

    // Declined without a filter: offered again straight away.
    decline(&mut alloc, &out[0], None, at(31));
    assert_eq!(alloc.allocate(at(31)).len(), 1);
}

#[test]
fn filters_are_per_framework_and_agent() {
    let mut alloc = no_minimum();
    add_framework(&mut alloc, "f1", &framework("*", &[]));
    add_framework(&mut alloc, "f2", &framework("*", &[]));
    add_agent(&mut alloc, "a1", "cpus:1");
    add_agent(&mut alloc, "a2", "cpus:1");
    let out = alloc.allocate(at(0));
    assert_eq!(out.len(), 2);
    let f1_offer = out
        .iter()
        .find(|a| a.framework_id.value == "f1")
        .expect("f1 offer")
        .clone();
    decline(&mut alloc, &f1_offer, Some(Duration::from_secs(100)), at(0));
    // The declined agent goes to f2 instead.
    let out = alloc.allocate(at(1));
    assert_eq!(summary(&out).len(), 1);
    assert_eq!(out[0].framework_id.value, "f2");
    assert_eq!(out[0].agent_id, f1_offer.agent_id);
}

#[test]
fn a_filter_covers_only_what_was_refused() {
    let mut alloc = no_minimum();
    add_framework(&mut alloc, "f", &framework("*", &[]));
    alloc.add_agent(
        &aid("a1"),
        &agent_info("a1"),
        res("cpus:4"),
        &[(fid("f"), res("cpus:2"))],
    );
    let out = alloc.allocate(at(0));
    assert_eq!(out[0].resources.cpus(), 2.0);
    decline(&mut alloc, &out[0], Some(Duration::from_secs(100)), at(0));
    assert!(alloc.allocate(at(1)).is_empty());
    // A task ends: more is free than was refused, so the filter no longer applies.
    let mut task = res("cpus:2");
    task.allocate("*");
    alloc.recover_resources(&fid("f"), &aid("a1"), &task, None, at(2));
    let out = alloc.allocate(at(2));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].resources.cpus(), 4.0);
}

#[test]
fn revive_clears_filters() {
    let mut alloc = no_minimum();
    add_framework(&mut alloc, "f", &framework("*", &[]));
    add_agent(&mut alloc, "a1", "cpus:2");
    let out = alloc.allocate(at(0));
    decline(&mut alloc, &out[0], Some(Duration::from_secs(1000)), at(0));
    assert!(alloc.allocate(at(1)).is_empty());
    alloc.revive(&fid("f"), &[]);
    assert_eq!(alloc.next_wakeup(), None);
    assert_eq!(alloc.allocate(at(2)).len(), 1);
}

#[test]
fn deactivation_clears_filters() {
    let mut alloc = no_minimum();
    add_framework(&mut alloc, "f", &framework("*", &[]));
    add_agent(&mut alloc, "a1", "cpus:2");
    let out = alloc.allocate(at(0));
    decline(&mut alloc, &out[0], Some(Duration::from_secs(1000)), at(0));
    alloc.deactivate_framework(&fid("f"));
    assert_eq!(alloc.next_wakeup(), None);
    assert!(alloc.allocate(at(1)).is_empty());
    alloc.activate_framework(&fid("f"));
    assert_eq!(alloc.allocate(at(2)).len(), 1);
}

#[test]
fn suppress_stops_and_revive_restarts() {
    let mut alloc = no_minimum();
    add_framework(&mut alloc, "f", &multi_role(&["a", "b"]));
    add_agent(&mut alloc, "a1", "cpus:2");
    alloc.suppress(&fid("f"), &[]);
    assert!(alloc.allocate(at(0)).is_empty());
    alloc.revive(&fid("f"), &["b".to_string()]);
    let out = alloc.allocate(at(1));
    assert_eq!(
        summary(&out),
        vec![("f".into(), "a1".into(), "b".into(), "cpus:2".into())]
    );
    // Suppressing b again, and giving the resources back: a stays suppressed.
    alloc.suppress(&fid("f"), &["b".to_string()]);
    decline(&mut alloc, &out[0], None, at(2));
    assert!(alloc.allocate(at(2)).is_empty());
    alloc.revive(&fid("f"), &["a".to_string()]);
    let out = alloc.allocate(at(3));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].role, "a");
}

#[test]
fn suppressed_at_subscription() {
    let mut alloc = no_minimum();
    alloc.add_framework(
        &fid("f"),
        &framework("*", &[]),
        &["*".to_string()],
        true,
        &[],
    );
    add_agent(&mut alloc, "a1", "cpus:2");
    assert!(alloc.allocate(at(0)).is_empty());
    alloc.update_framework(&fid("f"), &framework("*", &[]), &[]);
    assert_eq!(alloc.allocate(at(1)).len(), 1);
}

#[test]
fn deactivated_frameworks_and_agents_get_nothing() {
    let mut alloc = no_minimum();
    alloc.add_framework(&fid("f"), &framework("*", &[]), &[], false, &[]);
    add_agent(&mut alloc, "a1", "cpus:2");
    assert!(alloc.allocate(at(0)).is_empty());
    alloc.deactivate_agent(&aid("a1"));
    alloc.activate_framework(&fid("f"));
    assert!(alloc.allocate(at(1)).is_empty(), "agent is deactivated");
    alloc.activate_agent(&aid("a1"));
    let out = alloc.allocate(at(2));
    assert_eq!(out.len(), 1);
    decline(&mut alloc, &out[0], None, at(3));
    alloc.deactivate_framework(&fid("f"));
    assert!(alloc.allocate(at(3)).is_empty());
    alloc.activate_framework(&fid("f"));
    assert_eq!(alloc.allocate(at(4)).len(), 1);
}

#[test]
fn min_allocatable_resources() {
    let mut alloc = HierarchicalDrf::new(AllocatorConfig::default());
    add_framework(&mut alloc, "f", &framework("*", &[]));
    add_agent(&mut alloc, "tiny", "cpus:0.005;mem:31");
    add_agent(&mut alloc, "memory", "mem:32");
    add_agent(&mut alloc, "cpu", "cpus:0.01");
    let out = alloc.allocate(at(0));
    let mut agents: Vec<String> = out.iter().map(|a| a.agent_id.value.clone()).collect();
    agents.sort();
    assert_eq!(agents, vec!["cpu".to_string(), "memory".to_string()]);

    // Custom thresholds: both of cpus:1 and mem:100 needed.
    let mut alloc = HierarchicalDrf::new(AllocatorConfig {
        min_allocatable_resources: vec![res("cpus:1;mem:100")],
        weights: Vec::new(),
    });
    add_framework(&mut alloc, "f", &framework("*", &[]));
    add_agent(&mut alloc, "a", "cpus:4;mem:50");
    add_agent(&mut alloc, "b", "cpus:1;mem:100");
    let out = alloc.allocate(at(0));
    assert_eq!(summary(&out).len(), 1);
    assert_eq!(out[0].agent_id.value, "b");
}

/// `info` with `offer_filters[role].min_allocatable_resources` set to `alternatives`,
/// each a list of (name, amount).
fn with_offer_filter(
    mut info: FrameworkInfo,
    role: &str,
    alternatives: &[&[(&str, f64)]],
) -> FrameworkInfo {
    use ratufa_proto::v1::{OfferFilters, offer_filters, value};
    let quantities = alternatives
        .iter()
        .map(|alternative| offer_filters::ResourceQuantities {
            quantities: alternative
                .iter()
                .map(|(name, amount)| (name.to_string(), value::Scalar { value: *amount }))
                .collect(),
        })
        .collect();
    info.offer_filters.insert(
        role.to_string(),
        OfferFilters {
            min_allocatable_resources: Some(offer_filters::MinAllocatableResources { quantities }),
        },
    );
    info
}

/// The agents of `allocations`, in order.
fn agents_offered(allocations: &[Allocation]) -> Vec<&str> {
    allocations
        .iter()
        .map(|a| a.agent_id.value.as_str())
        .collect()
}

#[test]
fn a_frameworks_offer_filters_replace_the_masters_minimum_for_its_role() {
    // The master's minimum (cpus:0.01|mem:32) would offer both agents.
    let mut alloc = HierarchicalDrf::new(AllocatorConfig::default());
    let picky = with_offer_filter(
        framework("*", &[]),
        "*",
        &[&[("cpus", 2.0), ("mem", 256.0)]],
    );
    add_framework(&mut alloc, "picky", &picky);
    add_agent(&mut alloc, "small", "cpus:1;mem:512");
    add_agent(&mut alloc, "big", "cpus:2;mem:256");
    assert_eq!(agents_offered(&alloc.allocate(at(0))), vec!["big"]);

    // A framework without filters keeps the master's minimum; an empty list of
    // alternatives lets it have anything (the master's minimum would refuse mem:16).
    let mut alloc = HierarchicalDrf::new(AllocatorConfig::default());
    add_framework(&mut alloc, "plain", &framework("*", &[]));
    add_agent(&mut alloc, "crumb", "mem:16");
    assert!(alloc.allocate(at(0)).is_empty());
    let mut alloc = HierarchicalDrf::new(AllocatorConfig::default());
    add_framework(
        &mut alloc,
        "any",
        &with_offer_filter(framework("*", &[]), "*", &[]),
    );
    add_agent(&mut alloc, "crumb", "mem:16");
    assert_eq!(alloc.allocate(at(0)).len(), 1);
}

#[test]
fn offer_filters_apply_per_role_and_follow_update_framework() {
    let mut alloc = no_minimum();
    // Role a wants whole cpus; role b takes anything.
    let info = with_offer_filter(multi_role(&["a", "b"]), "a", &[&[("cpus", 1.0)]]);
    add_framework(&mut alloc, "f", &info);
    add_agent(&mut alloc, "a1", "cpus(a):0.5;cpus(b):0.5");
    let roles = |out: &[Allocation]| -> Vec<(String, f64)> {
        out.iter()
            .map(|a| (a.role.clone(), a.resources.scalar("cpus")))
            .collect()
    };
    let out = alloc.allocate(at(0));
    assert_eq!(roles(&out), vec![("b".to_string(), 0.5)]);

    // UPDATE_FRAMEWORK drops the filter: role a's leftovers are offered now, without
    // anything else changing on the agent.
    alloc.update_framework(&fid("f"), &multi_role(&["a", "b"]), &[]);
    let out = alloc.allocate(at(1));
    assert_eq!(roles(&out), vec![("a".to_string(), 0.5)]);

    // And a filter set by an update is honoured from then on.
    let mut alloc = no_minimum();
    add_framework(&mut alloc, "g", &framework("*", &[]));
    alloc.update_framework(
        &fid("g"),
        &with_offer_filter(
            framework("*", &[]),
            "*",
            &[&[("mem", 1024.0)], &[("gpus", 1.0)]],
        ),
        &[],
    );
    add_agent(&mut alloc, "small", "cpus:8;mem:512");
    add_agent(&mut alloc, "large", "cpus:1;mem:1024");
    assert_eq!(agents_offered(&alloc.allocate(at(0))), vec!["large"]);
    alloc.check_invariants().expect("consistent");
}

#[test]
fn multi_role_frameworks_get_one_allocation_per_role() {
    let mut alloc = no_minimum();
    add_framework(&mut alloc, "f", &multi_role(&["a", "b"]));
    add_agent(&mut alloc, "a1", "cpus:1;cpus(a):2;cpus(b):4");
    let out = alloc.allocate(at(0));
    assert_eq!(out.len(), 2, "{:?}", summary(&out));
    let by_role: HashMap<&str, &Allocation> = out.iter().map(|a| (a.role.as_str(), a)).collect();
    // Role a ranks first (equal shares, created first): unreserved plus a's own.
    assert_eq!(by_role["a"].resources.cpus(), 3.0);
    assert_eq!(by_role["b"].resources.cpus(), 4.0);
    for a in &out {
        assert!(a.resources.iter().all(|r| {
            r.allocation_info.as_ref().and_then(|i| i.role.as_deref()) == Some(a.role.as_str())
        }));
    }
    // Recovering role b's part brings back only that.
    decline(&mut alloc, by_role["b"], None, at(1));
    assert_eq!(alloc.free(&aid("a1")).cpus(), 4.0);
    alloc.check_invariants().expect("consistent");
}

#[test]
fn revocable_only_to_capable_frameworks() {
    let mut alloc = no_minimum();
    add_framework(&mut alloc, "plain", &framework("*", &[]));
    let mut revocable = res("cpus:3");
    revocable = Resources::try_from_vec(
        revocable
            .into_vec()
            .into_iter()
            .map(|mut r| {
                r.revocable = Some(RevocableInfo {});
                r
            })
            .collect(),
    )
    .expect("valid");
    let total = &res("cpus:1") + &revocable;
    alloc.add_agent(&aid("a1"), &agent_info("a1"), total, &[]);
    let out = alloc.allocate(at(0));
    assert_eq!(out.len(), 1);
    assert!(out[0].resources.revocable().is_empty());
    add_framework(
        &mut alloc,
        "rev",
        &framework("*", &[CapabilityType::RevocableResources]),
    );
    let out = alloc.allocate(at(1));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].framework_id.value, "rev");
    assert_eq!(out[0].resources.revocable().cpus(), 3.0);
}

#[test]
fn gpu_agents_only_to_gpu_frameworks() {
    let mut alloc = no_minimum();
    add_framework(&mut alloc, "plain", &framework("*", &[]));
    add_agent(&mut alloc, "gpu", "cpus:4;gpus:1");
    add_agent(&mut alloc, "cpu", "cpus:4");
    let out = alloc.allocate(at(0));
    assert_eq!(summary(&out).len(), 1);
    assert_eq!(out[0].agent_id.value, "cpu");
    add_framework(
        &mut alloc,
        "ml",
        &framework("*", &[CapabilityType::GpuResources]),
    );
    let out = alloc.allocate(at(1));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].agent_id.value, "gpu");
    assert_eq!(out[0].resources.gpus(), 1.0);
}

#[test]
fn a_recover_touches_only_that_agent() {
    let mut alloc = no_minimum();
    for f in 0..10 {
        add_framework(&mut alloc, &format!("f{f}"), &framework("*", &[]));
    }
    for i in 0..500 {
        add_agent(&mut alloc, &format!("a{i}"), "cpus:1");
    }
    let out = alloc.allocate(at(0));
    assert_eq!(out.len(), 500);
    assert_eq!(alloc.stats().last_cycle_agents, 500);
    decline(&mut alloc, &out[7], Some(Duration::from_secs(10)), at(0));
    let again = alloc.allocate(at(1));
    assert_eq!(alloc.stats().last_cycle_agents, 1);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].agent_id, out[7].agent_id);
    assert_ne!(again[0].framework_id, out[7].framework_id);
    // Expiry marks only the filtered agent.
    decline(&mut alloc, &again[0], Some(Duration::from_secs(5)), at(1));
    alloc.allocate(at(2));
    alloc.allocate(at(11));
    assert!(alloc.stats().last_cycle_agents <= 1);
}

#[test]
fn used_resources_are_counted_once() {
    let mut alloc = no_minimum();
    let mut used = res("cpus:3");
    used.allocate("*");
    // The agent registers first and reports the task, then the framework comes back
    // and reports it too.
    alloc.add_agent(
        &aid("a1"),
        &agent_info("a1"),
        res("cpus:4"),
        &[(fid("f"), used.clone())],
    );
    alloc.add_framework(
        &fid("f"),
        &framework("*", &[]),
        &[],
        true,
        &[(aid("a1"), used.clone())],
    );
    assert_eq!(alloc.free(&aid("a1")).cpus(), 1.0);
    assert_eq!(alloc.allocated(&fid("f"), &aid("a1")).cpus(), 3.0);
    // Used beyond the agent's total is capped at what is free.
    alloc.add_agent(
        &aid("a2"),
        &agent_info("a2"),
        res("cpus:1"),
        &[(fid("f"), used)],
    );
    assert!(alloc.free(&aid("a2")).is_empty());
    alloc.check_invariants().expect("consistent");
}

#[test]
fn removing_a_framework_frees_its_resources() {
    let mut alloc = no_minimum();
    add_framework(&mut alloc, "f1", &framework("*", &[]));
    add_agent(&mut alloc, "a1", "cpus:2");
    assert_eq!(alloc.allocate(at(0)).len(), 1);
    add_framework(&mut alloc, "f2", &framework("*", &[]));
    assert!(alloc.allocate(at(1)).is_empty());
    alloc.remove_framework(&fid("f1"));
    let out = alloc.allocate(at(2));
    assert_eq!(
        summary(&out),
        vec![("f2".into(), "a1".into(), "*".into(), "cpus:2".into())]
    );
    alloc.check_invariants().expect("consistent");
}

#[test]
fn removing_an_agent_drops_its_allocations_and_filters() {
    let mut alloc = no_minimum();
    add_framework(&mut alloc, "f", &framework("*", &[]));
    add_agent(&mut alloc, "a1", "cpus:2");
    add_agent(&mut alloc, "a2", "cpus:2");
    let out = alloc.allocate(at(0));
    decline(&mut alloc, &out[0], Some(Duration::from_secs(50)), at(0));
    alloc.remove_agent(&out[0].agent_id);
    alloc.remove_agent(&out[1].agent_id);
    assert_eq!(alloc.next_wakeup(), None);
    assert!(alloc.allocated(&fid("f"), &out[1].agent_id).is_empty());
    // Recovering for a removed agent is ignored.
    decline(&mut alloc, &out[1], None, at(1));
    assert!(alloc.allocate(at(1)).is_empty());
    alloc.check_invariants().expect("consistent");
}

#[test]
fn recovering_more_than_held_gives_back_only_what_is_held() {
    let mut alloc = no_minimum();
    add_framework(&mut alloc, "f", &framework("*", &[]));
    add_agent(&mut alloc, "a1", "cpus:2;ports:[1-10]");
    let out = alloc.allocate(at(0));
    assert_eq!(out.len(), 1);
    let mut claim = res("cpus:5;ports:[5-20];mem:7");
    claim.allocate("*");
    alloc.recover_resources(&fid("f"), &aid("a1"), &claim, None, at(1));
    assert_eq!(alloc.free(&aid("a1")), res("cpus:2;ports:[5-10]"));
    alloc.check_invariants().expect("consistent");
    // Twice: nothing more comes back.
    alloc.recover_resources(&fid("f"), &aid("a1"), &claim, None, at(1));
    assert_eq!(alloc.free(&aid("a1")), res("cpus:2;ports:[5-10]"));
}

#[test]
fn roles_changed_by_update_framework() {
    let mut alloc = no_minimum();
    add_framework(&mut alloc, "f", &multi_role(&["a"]));
    add_agent(&mut alloc, "a1", "cpus:1;cpus(b):1");
    let out = alloc.allocate(at(0));
    assert_eq!(out.len(), 1);
    alloc.update_framework(&fid("f"), &multi_role(&["b"]), &[]);
    let out2 = alloc.allocate(at(1));
    assert_eq!(
        summary(&out2),
        vec![(
            "f".into(),
            "a1".into(),
            "b".into(),
            "cpus(reservations: [(STATIC,b)]):1".into()
        )]
    );
    // Resources held in the old role can still be given back.
    decline(&mut alloc, &out[0], None, at(2));
    let out3 = alloc.allocate(at(2));
    assert_eq!(out3.len(), 1);
    assert_eq!(out3[0].role, "b");
    alloc.check_invariants().expect("consistent");
}

/// A small deterministic generator (xorshift), so the randomized test replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn randomized_nothing_allocated_twice() {
    for seed in 1..=20u64 {
        run_random(seed, 400);
    }
}

fn run_random(seed: u64, steps: usize) {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut alloc = HierarchicalDrf::new(AllocatorConfig {
        min_allocatable_resources: vec![res("cpus:0.5")],
        weights: vec![("r1".into(), 2.0)],
    });
    let roles = ["*", "r1", "r2", "r2/x"];
    let agent_specs = [
        "cpus:4;mem:1024;ports:[1-100]",
        "cpus:2;cpus(r1):2;mem:512",
        "cpus(r2):3;gpus:1;mem:10",
        "cpus:8;ports:[10-20,30-40]",
    ];
    // What the test believes is out: (framework, agent) -> allocated resources.
    let mut outstanding: HashMap<(String, String), Resources> = HashMap::new();
    let mut totals: HashMap<String, Resources> = HashMap::new();
    let mut now = 0u64;
    for step in 0..steps {
        let ctx = format!("seed {seed} step {step}");
        match rng.below(10) {
            0 => {
                let f = format!("f{}", rng.below(6));
                let info = if rng.below(2) == 0 {
                    framework(roles[rng.below(4) as usize], &[])
                } else {
                    multi_role(&[roles[rng.below(4) as usize], roles[rng.below(4) as usize]])
                };
                alloc.add_framework(&fid(&f), &info, &[], true, &[]);
            }
            1 => {
                let a = format!("a{}", rng.below(8));
                if let std::collections::hash_map::Entry::Vacant(slot) = totals.entry(a.clone()) {
                    let spec = agent_specs[rng.below(4) as usize];
                    add_agent(&mut alloc, &a, spec);
                    slot.insert(res(spec));
                }
            }
            2 => {
                // Give something back, sometimes with a filter, sometimes only part.
                if let Some(key) = pick_key(&mut rng, &outstanding) {
                    let held = outstanding.remove(&key).unwrap_or_default();
                    let back = if rng.below(3) == 0 {
                        let part = held.filter(|r| r.name == "cpus");
                        let rest = &held - &part;
                        if !rest.is_empty() {
                            outstanding.insert(key.clone(), rest);
                        }
                        part
                    } else {
                        held
                    };
                    let refuse = match rng.below(3) {
                        0 => None,
                        _ => Some(Duration::from_secs(rng.below(20) + 1)),
                    };
                    alloc.recover_resources(&fid(&key.0), &aid(&key.1), &back, refuse, at(now));
                }
            }
            3 => {
                let f = format!("f{}", rng.below(6));
                match rng.below(4) {
                    0 => alloc.suppress(&fid(&f), &[]),
                    1 => alloc.revive(&fid(&f), &[]),
                    2 => alloc.deactivate_framework(&fid(&f)),
                    _ => alloc.activate_framework(&fid(&f)),
                }
            }
            4 => {
                let a = format!("a{}", rng.below(8));
                match rng.below(5) {
                    0 => {
                        alloc.remove_agent(&aid(&a));
                        totals.remove(&a);
                        outstanding.retain(|(_, agent), _| *agent != a);
                    }
                    1 | 2 => alloc.deactivate_agent(&aid(&a)),
                    _ => alloc.activate_agent(&aid(&a)),
                }
            }
            5 => {
                if rng.below(4) == 0 {
                    let f = format!("f{}", rng.below(6));
                    alloc.remove_framework(&fid(&f));
                    outstanding.retain(|(framework, _), _| *framework != f);
                }
            }
            6 => now += rng.below(10),
            _ => {
                for a in alloc.allocate(at(now)) {
                    assert!(!a.resources.is_empty(), "{ctx}: empty allocation");
                    assert_eq!(
                        a.resources.allocation_role(),
                        Some(a.role.as_str()),
                        "{ctx}"
                    );
                    let key = (a.framework_id.value.clone(), a.agent_id.value.clone());
                    let entry = outstanding.entry(key).or_default();
                    *entry += &a.resources;
                }
            }
        }
        alloc
            .check_invariants()
            .unwrap_or_else(|e| panic!("{ctx}: {e}"));
        // Everything the test holds from an agent fits within it, together.
        for (agent, total) in &totals {
            let mut sum = Resources::new();
            for ((_, a), held) in &outstanding {
                if a == agent {
                    sum += &held.unallocated();
                }
            }
            assert!(
                total.contains(&sum),
                "{ctx}: agent {agent} handed out {sum} of {total}"
            );
            let free = alloc.free(&aid(agent));
            assert!(
                total.contains(&(&free + &sum)),
                "{ctx}: {agent} free {free} + out {sum} exceed {total}"
            );
        }
    }
    // The run must have exercised allocation, or it proves nothing.
    assert!(
        alloc.stats().allocations >= 20,
        "seed {seed}: only {} allocations",
        alloc.stats().allocations
    );
}

fn pick_key(rng: &mut Rng, map: &HashMap<(String, String), Resources>) -> Option<(String, String)> {
    if map.is_empty() {
        return None;
    }
    let mut keys: Vec<&(String, String)> = map.keys().collect();
    keys.sort();
    Some(keys[rng.below(keys.len() as u64) as usize].clone())
}
