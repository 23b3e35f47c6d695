//! Disconnection, failover timeouts, teardown, and the memory of removed frameworks.

use super::*;

fn with_timeout(secs: f64) -> FrameworkInfo {
    FrameworkInfo {
        failover_timeout: Some(secs),
        ..info("f")
    }
}

#[test]
fn stream_loss_deactivates_and_starts_the_failover_timer() {
    let mut h = Harness::new();
    let sub = h.subscribed(with_timeout(60.0));
    let id = sub.framework_id();
    assert_eq!(h.core.poll_timeout(), None);

    h.advance(Duration::from_secs(5));
    h.close(sub.conn);
    let framework = h.framework(&id);
    assert!(!framework.is_connected());
    assert!(!framework.is_active());
    let deadline = h.now + Duration::from_secs(60);
    assert_eq!(
        framework.connection(),
        &Connection::Disconnected {
            since: h.now,
            failover_deadline: deadline
        }
    );
    assert_eq!(h.core.poll_timeout(), Some(deadline));
    // Closing the stream is the client's doing: nothing to send.
    assert!(h.outputs().is_empty());

    // A tick before the deadline changes nothing.
    h.advance_and_tick(Duration::from_secs(59));
    assert!(h.core.framework(&id.value).is_some());

    h.advance_and_tick(Duration::from_secs(1));
    assert!(h.core.framework(&id.value).is_none());
    assert!(h.core.completed_frameworks().contains(&id.value));
    assert_eq!(h.core.poll_timeout(), None);
}

#[test]
fn default_failover_timeout_removes_at_the_next_tick() {
    let mut h = Harness::new();
    let sub = h.subscribed(info("f"));
    let id = sub.framework_id();
    h.close(sub.conn);
    assert_eq!(h.core.poll_timeout(), Some(h.now));
    assert!(h.core.framework(&id.value).is_some());
    h.core.handle_tick(h.now);
    assert!(h.core.framework(&id.value).is_none());
    assert!(h.outputs().is_empty());
}

#[test]
fn resubscribe_before_the_timeout_reactivates() {
    let mut h = Harness::new();
    let sub = h.subscribed(with_timeout(30.0));
    let id = sub.framework_id();
    h.close(sub.conn);
    h.advance_and_tick(Duration::from_secs(10));

    let again = h.subscribe(with_id(with_timeout(30.0), &id));
    assert_eq!(again.framework_id(), id);
    // Only SUBSCRIBED: the old stream is already gone, nobody to tell of a failover.
    let outputs = h.outputs();
    assert_eq!(outputs.len(), 1, "{outputs:?}");
    assert!(is_subscribed(&outputs[0], again.conn));
    assert!(h.framework(&id).is_active());
    assert_eq!(h.core.poll_timeout(), None);

    // The old deadline passing does not remove the re-subscribed framework.
    h.advance_and_tick(Duration::from_secs(3600));
    assert!(h.framework(&id).is_connected());
}

#[test]
fn resubscribe_after_the_timeout_is_refused_as_removed() {
    let mut h = Harness::new();
    let sub = h.subscribed(with_timeout(30.0));
    let id = sub.framework_id();
    h.close(sub.conn);
    h.advance_and_tick(Duration::from_secs(31));

    let late = h.subscribe(with_id(with_timeout(30.0), &id));
    assert_eq!(
        late.outcome,
        SubscribeOutcome::Refused {
            message: FRAMEWORK_REMOVED.into()
        }
    );
    assert_error_then_close(&h.outputs(), late.conn, FRAMEWORK_REMOVED);
    assert!(h.core.framework(&id.value).is_none());
}

#[test]
fn disconnect_resubscribe_disconnect_uses_the_new_timeout() {
    let mut h = Harness::new();
    let sub = h.subscribed(with_timeout(10.0));
    let id = sub.framework_id();
    h.close(sub.conn);
    h.advance(Duration::from_secs(5));
    let again = h.subscribe(with_id(with_timeout(100.0), &id));
    h.outputs();
    h.advance(Duration::from_secs(1));
    h.close(again.conn);
    assert_eq!(
        h.core.poll_timeout(),
        Some(h.now + Duration::from_secs(100))
    );
    h.advance_and_tick(Duration::from_secs(99));
    assert!(h.core.framework(&id.value).is_some());
    h.advance_and_tick(Duration::from_secs(1));
    assert!(h.core.framework(&id.value).is_none());
}

#[test]
fn teardown_closes_the_stream_and_remembers_the_framework() {
    let mut h = Harness::new();
    let sub = h.subscribed(with_timeout(3600.0));
    let id = sub.framework_id();
    assert_eq!(
        h.call_on(&sub, FrameworkCall::Teardown),
        Ok(Reply::Accepted)
    );
    // Closed without an ERROR: the framework asked for it.
    assert_eq!(h.outputs(), vec![Output::Close { conn: sub.conn }]);
    assert!(h.core.framework(&id.value).is_none());
    let completed = h.core.completed_frameworks().get(&id.value).unwrap();
    assert_eq!(completed.connection(), &Connection::Removed { at: h.now });

    // The stream's close, reported after, changes nothing.
    h.close(sub.conn);
    assert!(h.outputs().is_empty());

    let back = h.subscribe(with_id(info("f"), &id));
    assert_error_then_close(&h.outputs(), back.conn, FRAMEWORK_REMOVED);
}

#[test]
fn teardown_while_disconnected_is_not_subscribed() {
    let mut h = Harness::new();
    let sub = h.subscribed(with_timeout(60.0));
    let id = sub.framework_id();
    h.close(sub.conn);
    let result = h.call(&id, FrameworkCall::Teardown, None, Some(&sub.stream_id));
    assert_eq!(result, Err(Rejection::forbidden(FRAMEWORK_NOT_SUBSCRIBED)));
    assert!(h.core.framework(&id.value).is_some());
    // The timer still runs.
    h.advance_and_tick(Duration::from_secs(60));
    assert!(h.core.framework(&id.value).is_none());
}

#[test]
fn failover_then_teardown_on_the_new_stream() {
    let mut h = Harness::new();
    let first = h.subscribed(info("f"));
    let id = first.framework_id();
    let second = h.subscribe(with_id(info("f"), &id));
    h.outputs();
    assert_eq!(
        h.call_on(&second, FrameworkCall::Teardown),
        Ok(Reply::Accepted)
    );
    assert_eq!(h.outputs(), vec![Output::Close { conn: second.conn }]);
    // Both streams' late closes are harmless.
    h.close(first.conn);
    h.close(second.conn);
    assert!(h.outputs().is_empty());
    assert_eq!(h.core.completed_frameworks().len(), 1);
}

#[test]
fn completed_frameworks_are_bounded() {
    let mut h = Harness::with_config(CoreConfig {
        max_completed_frameworks: 2,
        ..config()
    });
    let mut ids = Vec::new();
    for n in 0..3 {
        let sub = h.subscribed(info(&format!("f{n}")));
        h.call_on(&sub, FrameworkCall::Teardown).unwrap();
        h.outputs();
        ids.push(sub.framework_id());
    }
    let completed = h.core.completed_frameworks();
    assert_eq!(completed.len(), 2);
    assert!(!completed.contains(&ids[0].value));
    assert!(completed.contains(&ids[1].value));
    assert!(completed.contains(&ids[2].value));
    let names: Vec<&str> = completed.iter().map(|f| f.info().name.as_str()).collect();
    assert_eq!(names, ["f1", "f2"]);

    // Forgotten, so it may come back (as a recovered framework).
    let back = h.subscribe(with_id(info("f0"), &ids[0]));
    assert_eq!(back.framework_id(), ids[0]);
    let again = h.subscribe(with_id(info("f1"), &ids[1]));
    assert!(matches!(again.outcome, SubscribeOutcome::Refused { .. }));
}

#[test]
fn zero_completed_frameworks_remembers_none() {
    let mut h = Harness::with_config(CoreConfig {
        max_completed_frameworks: 0,
        ..config()
    });
    let sub = h.subscribed(info("f"));
    h.call_on(&sub, FrameworkCall::Teardown).unwrap();
    assert!(h.core.completed_frameworks().is_empty());
}

#[test]
fn unknown_stream_close_is_ignored() {
    let mut h = Harness::new();
    let sub = h.subscribed(info("f"));
    h.close(ConnectionId(999));
    assert!(h.framework(&sub.framework_id()).is_connected());
}

#[test]
fn many_disconnected_frameworks_expire_in_deadline_order() {
    let mut h = Harness::new();
    let mut subs = Vec::new();
    for (n, timeout) in [30.0, 10.0, 20.0].into_iter().enumerate() {
        subs.push(h.subscribed(FrameworkInfo {
            failover_timeout: Some(timeout),
            ..info(&format!("f{n}"))
        }));
    }
    for sub in &subs {
        h.close(sub.conn);
    }
    let alive = |h: &Harness| -> Vec<String> {
        h.core.frameworks().map(|f| f.info().name.clone()).collect()
    };
    assert_eq!(h.core.poll_timeout(), Some(h.now + Duration::from_secs(10)));
    h.advance_and_tick(Duration::from_secs(15));
    assert_eq!(alive(&h), ["f0", "f2"]);
    h.advance_and_tick(Duration::from_secs(10));
    assert_eq!(alive(&h), ["f0"]);
    h.advance_and_tick(Duration::from_secs(10));
    assert!(alive(&h).is_empty());
}
