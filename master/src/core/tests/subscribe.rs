//! SUBSCRIBE: new frameworks, re-subscription, failover, and refusals.

use super::*;

#[test]
fn new_framework_gets_an_id_and_subscribed() {
    let mut h = Harness::new();
    let sub = h.subscribe(info("first"));
    let id = sub.framework_id();
    assert_eq!(id.value, format!("{MASTER_ID}-0000"));

    let outputs = h.outputs();
    assert_eq!(outputs.len(), 1);
    let Output::Event { conn, event } = &outputs[0] else {
        panic!("expected an event: {outputs:?}");
    };
    assert_eq!(*conn, sub.conn);
    assert_eq!(event_type(event), Some(event::Type::Subscribed));
    let subscribed = event.subscribed.as_ref().unwrap();
    assert_eq!(subscribed.framework_id, id);
    assert_eq!(subscribed.heartbeat_interval_seconds, Some(15.0));
    assert_eq!(subscribed.master_info.as_ref().unwrap().id, MASTER_ID);

    let framework = h.framework(&id);
    assert!(framework.is_connected());
    assert!(framework.is_active());
    assert_eq!(framework.stream_id(), Some(sub.stream_id.as_str()));
    assert_eq!(framework.info().id.as_ref(), Some(&id));
    assert_eq!(framework.roles(), &roles(&["*"]));

    let second = h.subscribe(info("second")).framework_id();
    assert_eq!(second.value, format!("{MASTER_ID}-0001"));
}

#[test]
fn authenticated_principal_fills_an_unset_one() {
    let mut h = Harness::new();
    let id = h
        .subscribe_as(Some("ops"), subscribe_call(info("f")))
        .framework_id();
    assert_eq!(h.framework(&id).info().principal.as_deref(), Some("ops"));
}

#[test]
fn invalid_role_is_an_error_event_then_close() {
    let mut h = Harness::new();
    #[allow(deprecated)]
    let bad = FrameworkInfo {
        role: Some("a b".into()),
        ..info("f")
    };
    let sub = h.subscribe(bad);
    let SubscribeOutcome::Refused { message } = &sub.outcome else {
        panic!("accepted");
    };
    assert!(
        message.starts_with("'FrameworkInfo.role' is not a valid role"),
        "{message}"
    );
    assert_error_then_close(&h.outputs(), sub.conn, message);
    assert_eq!(h.core.frameworks().count(), 0);
    // A refused subscription does not use up an id.
    assert_eq!(
        h.subscribe(info("ok")).framework_id().value,
        format!("{MASTER_ID}-0000")
    );
}

#[test]
fn refusals_for_each_kind_of_bad_framework_info() {
    let cases: Vec<(FrameworkInfo, &str)> = vec![
        (
            multi_role(info("f"), &["."]),
            "'FrameworkInfo.roles' contains invalid role",
        ),
        (multi_role(info("f"), &["a", "a"]), "duplicate items: { a }"),
        (
            FrameworkInfo {
                roles: vec!["a".into()],
                ..info("f")
            },
            "must not be set when the framework is not MULTI_ROLE capable",
        ),
        (
            FrameworkInfo {
                failover_timeout: Some(f64::INFINITY),
                ..info("f")
            },
            "failover_timeout",
        ),
        (
            with_id(
                info("f"),
                &FrameworkId {
                    value: "a/b".into(),
                },
            ),
            "invalid characters",
        ),
    ];
    for (bad, expected) in cases {
        let mut h = Harness::new();
        let sub = h.subscribe(bad);
        let SubscribeOutcome::Refused { message } = &sub.outcome else {
            panic!("accepted, expected {expected}");
        };
        assert!(message.contains(expected), "{message} vs {expected}");
        assert_error_then_close(&h.outputs(), sub.conn, message);
    }
}

#[test]
fn role_whitelist() {
    let mut h = Harness::with_config(CoreConfig {
        role_whitelist: Some(roles(&["ads", "web"])),
        ..config()
    });
    // `*` is always allowed.
    h.subscribed(info("default-role"));
    h.subscribed(multi_role(info("ok"), &["ads", "web"]));
    let sub = h.subscribe(multi_role(info("bad"), &["ads", "batch", "ml"]));
    let expected = "Roles { batch, ml } are not present in the master's --roles";
    assert_eq!(
        sub.outcome,
        SubscribeOutcome::Refused {
            message: expected.into()
        }
    );
    assert_error_then_close(&h.outputs(), sub.conn, expected);
}

#[test]
fn suppressed_roles_must_be_the_frameworks() {
    let mut h = Harness::new();
    let sub = h.subscribe_as(
        None,
        call::Subscribe {
            framework_info: multi_role(info("f"), &["a"]),
            suppressed_roles: vec!["a".into(), "b".into()],
            offer_constraints: None,
        },
    );
    let expected = "Suppressed roles { b } are not contained in the set of roles";
    assert_error_then_close(&h.outputs(), sub.conn, expected);

    let sub = h.subscribe_as(
        None,
        call::Subscribe {
            framework_info: multi_role(info("f"), &["a", "b"]),
            suppressed_roles: vec!["b".into()],
            offer_constraints: None,
        },
    );
    let id = sub.framework_id();
    assert_eq!(h.framework(&id).suppressed_roles(), &roles(&["b"]));
}

#[test]
fn offer_constraints_must_name_the_frameworks_roles() {
    let mut h = Harness::new();
    let constraints = ratufa_proto::v1::scheduler::OfferConstraints {
        role_constraints: [("other".to_string(), Default::default())].into(),
    };
    let sub = h.subscribe_as(
        None,
        call::Subscribe {
            framework_info: multi_role(info("f"), &["a"]),
            suppressed_roles: vec![],
            offer_constraints: Some(constraints),
        },
    );
    let SubscribeOutcome::Refused { message } = sub.outcome else {
        panic!("accepted");
    };
    assert!(message.contains("role 'other'"), "{message}");
}

#[test]
fn unknown_id_is_recovered_as_after_a_master_failover() {
    let mut h = Harness::new();
    let earlier = FrameworkId {
        value: "other-master-0007".into(),
    };
    let sub = h.subscribe(with_id(info("f"), &earlier));
    assert_eq!(sub.framework_id(), earlier);
    let outputs = h.outputs();
    assert!(is_subscribed(&outputs[0], sub.conn));
    assert!(h.framework(&earlier).is_connected());
    // Our own counter is untouched.
    assert_eq!(
        h.subscribe(info("new")).framework_id().value,
        format!("{MASTER_ID}-0000")
    );
}

#[test]
fn second_subscribe_while_connected_fails_over_the_old_stream() {
    let mut h = Harness::new();
    let first = h.subscribed(info("f"));
    let id = first.framework_id();

    let second = h.subscribe(with_id(info("f"), &id));
    assert_eq!(second.framework_id(), id);
    let outputs = h.outputs();
    assert_eq!(outputs.len(), 3, "{outputs:?}");
    assert_error_then_close(&outputs[..2], first.conn, FRAMEWORK_FAILED_OVER);
    assert!(is_subscribed(&outputs[2], second.conn));

    let framework = h.framework(&id);
    assert_eq!(framework.stream_id(), Some(second.stream_id.as_str()));
    assert_eq!(framework.reregistered_time(), Some(h.now));

    // The old stream's close, reported late, does not disconnect the new one.
    h.close(first.conn);
    assert!(h.framework(&id).is_connected());
    assert!(h.outputs().is_empty());

    // The old stream id no longer works; the new one does.
    let old = h.call(&id, FrameworkCall::Teardown, None, Some(&first.stream_id));
    assert_eq!(old.unwrap_err().kind, RejectionKind::BadRequest);
    assert_eq!(
        h.call_on(&second, FrameworkCall::Teardown),
        Ok(Reply::Accepted)
    );
}

#[test]
fn resubscribe_may_change_mutable_fields_but_keeps_user_and_checkpoint() {
    let mut h = Harness::new();
    let first = h.subscribed(FrameworkInfo {
        checkpoint: Some(true),
        ..info("before")
    });
    let id = first.framework_id();

    let changed = FrameworkInfo {
        user: "mallory".into(),
        checkpoint: Some(false),
        failover_timeout: Some(60.0),
        ..multi_role(info("after"), &["a", "b"])
    };
    h.subscribe(with_id(changed, &id)).framework_id();
    let framework = h.framework(&id);
    assert_eq!(framework.info().name, "after");
    assert_eq!(framework.info().failover_timeout, Some(60.0));
    assert_eq!(framework.roles(), &roles(&["a", "b"]));
    // Silently kept, as Mesos does (MESOS-703).
    assert_eq!(framework.info().user, "alice");
    assert_eq!(framework.info().checkpoint, Some(true));
}

#[test]
fn changing_principal_on_resubscribe_is_refused() {
    let mut h = Harness::new();
    let first = h.subscribed(FrameworkInfo {
        principal: Some("p1".into()),
        ..info("f")
    });
    let id = first.framework_id();

    let attempt = h.subscribe(with_id(
        FrameworkInfo {
            principal: Some("p2".into()),
            ..info("f")
        },
        &id,
    ));
    let message = "Changing framework's principal is not allowed.";
    assert_eq!(
        attempt.outcome,
        SubscribeOutcome::Refused {
            message: message.into()
        }
    );
    // Only the new stream hears of it; the framework stays on its old stream.
    assert_error_then_close(&h.outputs(), attempt.conn, message);
    let framework = h.framework(&id);
    assert_eq!(framework.stream_id(), Some(first.stream_id.as_str()));
    assert_eq!(framework.info().principal.as_deref(), Some("p1"));

    // Dropping the principal is a change too.
    let attempt = h.subscribe(with_id(info("f"), &id));
    assert_error_then_close(&h.outputs(), attempt.conn, message);
}
