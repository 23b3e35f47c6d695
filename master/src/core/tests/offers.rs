//! Offers: made from allocations, shaped per framework, bounded per event, ended by
//! DECLINE (with filters), timeout, disconnection.

use ratufa_proto::v1::Filters;

use super::*;

#[test]
fn offer_carries_agent_and_master_ids() {
    let mut h = Harness::new();
    let (sub, agent, offer) = h.offered(info("f"), "cpus:2;mem:1024");
    assert_eq!(offer.id.value, format!("{MASTER_ID}-O0"));
    assert_eq!(agent.id.value, format!("{MASTER_ID}-S0"));
    assert_eq!(offer.agent_id, agent.id);
    assert_eq!(offer.framework_id, sub.framework_id());
    assert_eq!(offer.hostname, "host1");
    assert_eq!(offer.url.as_ref().map(|u| u.address.port), Some(5051));
    let resources = Resources::try_from_vec(offer.resources.clone()).unwrap();
    assert_eq!(resources.cpus(), 2.0);
    assert_eq!(resources.mem(), 1024.0);
    // Not MULTI_ROLE: no allocation_info anywhere.
    assert!(offer.allocation_info.is_none());
    assert!(offer.resources.iter().all(|r| r.allocation_info.is_none()));
    assert_eq!(h.core.counters().offers_sent, 1);
}

#[test]
fn multi_role_offers_name_their_role() {
    let mut h = Harness::new();
    let (_, _, offer) = h.offered(multi_role(info("f"), &["web"]), "cpus:1;mem:64");
    assert_eq!(
        offer.allocation_info.and_then(|a| a.role).as_deref(),
        Some("web")
    );
    assert!(
        offer
            .resources
            .iter()
            .all(|r| r.allocation_info.as_ref().and_then(|a| a.role.as_deref()) == Some("web"))
    );
}

#[test]
fn offers_are_split_into_bounded_events() {
    let mut h = Harness::with_config(CoreConfig {
        max_offers_per_event: 2,
        ..config()
    });
    let sub = h.subscribed(info("f"));
    for n in 0..5 {
        h.agent(&format!("h{n}"), "cpus:1;mem:64");
    }
    let outputs = h.allocate();
    let events = events_on(&outputs, sub.conn);
    let sizes: Vec<usize> = events
        .iter()
        .map(|e| e.offers.as_ref().map_or(0, |o| o.offers.len()))
        .collect();
    assert_eq!(sizes, vec![2, 2, 1]);
}

#[test]
fn nothing_is_offered_twice() {
    let mut h = Harness::new();
    let (sub, _, _) = h.offered(info("f"), "cpus:1;mem:64");
    // The fake allocator would hand out free resources again; there are none.
    let outputs = h.allocate();
    assert!(offers_on(&outputs, sub.conn).is_empty());
    assert_eq!(h.core.offers().count(), 1);
}

fn decline(offer: &Offer, refuse_seconds: Option<f64>) -> FrameworkCall {
    FrameworkCall::Decline(call::Decline {
        offer_ids: vec![offer.id.clone()],
        filters: refuse_seconds.map(|s| Filters {
            refuse_seconds: Some(s),
        }),
    })
}

#[test]
fn decline_filters() {
    let cases = [
        (None, Some(Duration::from_secs(5))),
        (Some(30.0), Some(Duration::from_secs(30))),
        (Some(0.0), None),
        (Some(-1.0), Some(Duration::from_secs(5))),
        (Some(1e12), Some(Duration::from_secs(31_536_000))),
    ];
    for (asked, expected) in cases {
        let mut h = Harness::new();
        let (sub, _, offer) = h.offered(info("f"), "cpus:1;mem:64");
        assert_eq!(h.call_on(&sub, decline(&offer, asked)), Ok(Reply::Accepted));
        h.check();
        assert!(h.core.offer(&offer.id.value).is_none());
        let state = h.allocator.state.lock().unwrap();
        let (_, _, resources, refuse) = state.recovered.last().expect("recovered");
        assert_eq!(*refuse, expected, "{asked:?}");
        assert_eq!(resources.unallocated().cpus(), 1.0);
        drop(state);
        assert_eq!(h.core.counters().offers_declined, 1);
    }
}

#[test]
fn declined_agent_comes_back_after_the_filter_or_revive() {
    let mut h = Harness::new();
    let (sub, _, offer) = h.offered(info("f"), "cpus:1;mem:64");
    h.call_on(&sub, decline(&offer, Some(30.0))).unwrap();
    assert!(h.core.wants_allocation());
    assert!(offers_on(&h.allocate(), sub.conn).is_empty());
    // The core wakes for the filter's expiry (after the first agent PING).
    assert_eq!(h.core.poll_timeout(), Some(h.now + Duration::from_secs(15)));
    h.advance_and_tick(Duration::from_secs(15));
    assert!(!h.core.wants_allocation());
    assert_eq!(h.core.poll_timeout(), Some(h.now + Duration::from_secs(15)));
    h.advance_and_tick(Duration::from_secs(15));
    assert!(h.core.wants_allocation());
    assert_eq!(offers_on(&h.allocate(), sub.conn).len(), 1);

    let offer = h.core.offers().next().unwrap().offer().clone();
    h.call_on(&sub, decline(&offer, Some(30.0))).unwrap();
    assert!(offers_on(&h.allocate(), sub.conn).is_empty());
    h.call_on(&sub, FrameworkCall::Revive(Default::default()))
        .unwrap();
    assert_eq!(offers_on(&h.allocate(), sub.conn).len(), 1);
}

#[test]
fn decline_of_another_frameworks_offer_is_ignored() {
    let mut h = Harness::new();
    let (_, _, offer) = h.offered(info("f"), "cpus:1;mem:64");
    let other = h.subscribed(info("g"));
    h.call_on(&other, decline(&offer, Some(30.0))).unwrap();
    assert!(h.core.offer(&offer.id.value).is_some());
    h.check();
}

#[test]
fn suppress_stops_offers_and_checks_roles() {
    let mut h = Harness::new();
    let sub = h.subscribed(info("f"));
    h.call_on(&sub, FrameworkCall::Suppress(Default::default()))
        .unwrap();
    assert_eq!(
        h.framework(&sub.framework_id()).suppressed_roles(),
        &roles(&["*"])
    );
    h.agent("h", "cpus:1;mem:64");
    assert!(offers_on(&h.allocate(), sub.conn).is_empty());

    let err = h
        .call_on(
            &sub,
            FrameworkCall::Revive(call::Revive {
                roles: vec!["other".into()],
            }),
        )
        .unwrap_err();
    assert_eq!(err.kind, RejectionKind::BadRequest);
    assert!(err.message.contains("'other'"), "{}", err.message);

    h.call_on(
        &sub,
        FrameworkCall::Revive(call::Revive {
            roles: vec!["*".into()],
        }),
    )
    .unwrap();
    assert!(
        h.framework(&sub.framework_id())
            .suppressed_roles()
            .is_empty()
    );
    assert_eq!(offers_on(&h.allocate(), sub.conn).len(), 1);
}

#[test]
fn offer_timeout_rescinds() {
    let mut h = Harness::with_config(CoreConfig {
        offer_timeout: Some(Duration::from_secs(10)),
        ..config()
    });
    let (sub, _, offer) = h.offered(info("f"), "cpus:1;mem:64");
    assert_eq!(h.core.poll_timeout(), Some(h.now + Duration::from_secs(10)));
    h.advance_and_tick(Duration::from_secs(10));
    let outputs = h.outputs();
    let events = events_on(&outputs, sub.conn);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        events[0].rescind.as_ref().map(|r| r.offer_id.clone()),
        Some(offer.id.clone())
    );
    assert!(h.core.offer(&offer.id.value).is_none());
    assert_eq!(h.core.counters().offers_rescinded, 1);
    h.check();
}

#[test]
fn disconnection_ends_offers_and_reconnection_brings_new_ones() {
    let mut h = Harness::new();
    let (sub, _, offer) = h.offered(
        FrameworkInfo {
            failover_timeout: Some(60.0),
            ..info("f")
        },
        "cpus:1;mem:64",
    );
    h.close(sub.conn);
    h.check();
    assert!(h.core.offer(&offer.id.value).is_none());
    assert!(h.allocate().is_empty());

    let again = h.subscribe(with_id(
        FrameworkInfo {
            failover_timeout: Some(60.0),
            ..info("f")
        },
        &sub.framework_id(),
    ));
    h.outputs();
    let offers = offers_on(&h.allocate(), again.conn);
    assert_eq!(offers.len(), 1);
    assert_ne!(offers[0].id, offer.id);
}

#[test]
fn failover_discards_offers_of_the_old_stream() {
    let mut h = Harness::new();
    let (sub, _, offer) = h.offered(info("f"), "cpus:1;mem:64");
    let again = h.subscribe(with_id(info("f"), &sub.framework_id()));
    h.outputs();
    h.check();
    assert!(h.core.offer(&offer.id.value).is_none());
    assert_eq!(offers_on(&h.allocate(), again.conn).len(), 1);
}
