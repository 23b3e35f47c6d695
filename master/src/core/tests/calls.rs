//! Calls on a subscribed framework: the checks before dispatch, in Mesos's order, and
//! UPDATE_FRAMEWORK.

use super::*;

fn update(info: FrameworkInfo) -> FrameworkCall {
    FrameworkCall::UpdateFramework(call::UpdateFramework {
        framework_info: info,
        ..call::UpdateFramework::default()
    })
}

#[test]
fn unknown_framework() {
    let mut h = Harness::new();
    let id = FrameworkId {
        value: "nope".into(),
    };
    let result = h.call(&id, FrameworkCall::Teardown, None, Some("s"));
    assert_eq!(result, Err(Rejection::bad_request(FRAMEWORK_NOT_FOUND)));
}

#[test]
fn removed_framework_is_told_apart_from_unknown() {
    let mut h = Harness::new();
    let sub = h.subscribed(info("f"));
    h.call_on(&sub, FrameworkCall::Teardown).unwrap();
    let err = h.call_on(&sub, FrameworkCall::Teardown).unwrap_err();
    assert_eq!(err.kind, RejectionKind::BadRequest);
    assert!(
        err.message.starts_with(FRAMEWORK_NOT_FOUND),
        "{}",
        err.message
    );
    assert!(err.message.contains("has been removed"), "{}", err.message);
}

#[test]
fn principal_must_match() {
    let mut h = Harness::new();
    let sub = h.subscribe_as(
        Some("p"),
        subscribe_call(FrameworkInfo {
            principal: Some("p".into()),
            ..info("f")
        }),
    );
    let id = sub.framework_id();
    let err = h
        .call(
            &id,
            FrameworkCall::Teardown,
            Some("q"),
            Some(&sub.stream_id),
        )
        .unwrap_err();
    assert_eq!(err.kind, RejectionKind::BadRequest);
    assert!(
        err.message
            .contains("Authenticated principal 'q' does not match principal 'p'"),
        "{}",
        err.message
    );
    assert_eq!(
        h.call(
            &id,
            FrameworkCall::Teardown,
            Some("p"),
            Some(&sub.stream_id)
        ),
        Ok(Reply::Accepted)
    );
}

#[test]
fn principal_is_checked_before_connection() {
    let mut h = Harness::new();
    let sub = h.subscribed(FrameworkInfo {
        failover_timeout: Some(60.0),
        ..info("f")
    });
    let id = sub.framework_id();
    h.close(sub.conn);
    // The framework has no principal; any authenticated one mismatches, and that is
    // found before "not subscribed".
    let err = h
        .call(
            &id,
            FrameworkCall::Teardown,
            Some("x"),
            Some(&sub.stream_id),
        )
        .unwrap_err();
    assert_eq!(err.kind, RejectionKind::BadRequest);
    let err = h
        .call(&id, FrameworkCall::Teardown, None, Some(&sub.stream_id))
        .unwrap_err();
    assert_eq!(err, Rejection::forbidden(FRAMEWORK_NOT_SUBSCRIBED));
}

#[test]
fn stream_id_missing_or_wrong() {
    let mut h = Harness::new();
    let sub = h.subscribed(info("f"));
    let id = sub.framework_id();
    let missing = h
        .call(&id, FrameworkCall::Teardown, None, None)
        .unwrap_err();
    assert_eq!(missing, Rejection::bad_request(MISSING_STREAM_ID));
    let wrong = h
        .call(&id, FrameworkCall::Teardown, None, Some("stale"))
        .unwrap_err();
    assert_eq!(wrong.kind, RejectionKind::BadRequest);
    assert_eq!(
        wrong.message,
        format!(
            "The stream ID 'stale' included in this request didn't match the stream ID \
             currently associated with framework ID {}",
            id.value
        )
    );
    assert!(h.framework(&id).is_connected());
}

#[test]
fn unknown_call_is_not_implemented() {
    let mut h = Harness::new();
    let sub = h.subscribed(info("f"));
    let err = h.call_on(&sub, FrameworkCall::Unknown).unwrap_err();
    assert_eq!(err.kind, RejectionKind::NotImplemented);
}

#[test]
fn calls_are_checked_before_dispatch() {
    let mut h = Harness::new();
    let sub = h.subscribed(info("f"));
    let calls = [
        FrameworkCall::Accept(Default::default()),
        FrameworkCall::Decline(Default::default()),
        FrameworkCall::Revive(Default::default()),
        FrameworkCall::Suppress(Default::default()),
        FrameworkCall::Kill(Default::default()),
        FrameworkCall::Shutdown(Default::default()),
        FrameworkCall::Acknowledge(Default::default()),
        FrameworkCall::AcknowledgeOperationStatus(Default::default()),
        FrameworkCall::Reconcile(Default::default()),
        FrameworkCall::ReconcileOperations(Default::default()),
        FrameworkCall::Message(Default::default()),
        FrameworkCall::Request(Default::default()),
        FrameworkCall::AcceptInverseOffers(Default::default()),
        FrameworkCall::DeclineInverseOffers(Default::default()),
    ];
    for call in calls {
        let name = call.type_name();
        // A wrong stream id is a 400 whatever the call.
        let stale = h.call(&sub.framework_id(), call, None, Some("x"));
        assert_eq!(stale.unwrap_err().kind, RejectionKind::BadRequest, "{name}");
    }
    assert!(h.outputs().is_empty());
}

#[test]
fn operation_calls_are_not_implemented_yet() {
    let mut h = Harness::new();
    let sub = h.subscribed(info("f"));
    for call in [
        FrameworkCall::AcknowledgeOperationStatus(Default::default()),
        FrameworkCall::ReconcileOperations(Default::default()),
    ] {
        let name = call.type_name();
        let err = h.call_on(&sub, call).unwrap_err();
        assert_eq!(err.kind, RejectionKind::NotImplemented, "{name}");
        assert!(err.message.contains(name), "{}", err.message);
    }
    assert!(h.framework(&sub.framework_id()).is_connected());
}

#[test]
fn update_framework_changes_mutable_fields() {
    let mut h = Harness::new();
    let sub = h.subscribed(info("before"));
    let id = sub.framework_id();
    let new_info = FrameworkInfo {
        failover_timeout: Some(120.0),
        webui_url: Some("http://ui".into()),
        ..with_id(multi_role(info("after"), &["a", "b"]), &id)
    };
    let result = h.call_on(
        &sub,
        FrameworkCall::UpdateFramework(call::UpdateFramework {
            framework_info: new_info.clone(),
            suppressed_roles: vec!["b".into()],
            offer_constraints: None,
        }),
    );
    assert_eq!(result, Ok(Reply::Ok));
    let framework = h.framework(&id);
    assert_eq!(framework.info(), &new_info);
    assert_eq!(framework.roles(), &roles(&["a", "b"]));
    assert_eq!(framework.suppressed_roles(), &roles(&["b"]));
    assert!(framework.is_connected());
    // Nothing is sent on the stream for an update.
    assert!(h.outputs().is_empty());

    // The new failover timeout applies to the next disconnection.
    h.close(sub.conn);
    assert_eq!(
        h.core.poll_timeout(),
        Some(h.now + Duration::from_secs(120))
    );
}

#[test]
fn update_framework_refusals() {
    let mut h = Harness::with_config(CoreConfig {
        role_whitelist: Some(roles(&["a"])),
        ..config()
    });
    let sub = h.subscribed(FrameworkInfo {
        principal: Some("p".into()),
        ..info("f")
    });
    let id = sub.framework_id();
    let base = with_id(
        FrameworkInfo {
            principal: Some("p".into()),
            ..info("f")
        },
        &id,
    );

    let cases: Vec<(FrameworkCall, &str)> = vec![
        (
            update(FrameworkInfo {
                principal: Some("q".into()),
                ..base.clone()
            }),
            "FrameworkInfo update is not valid: Changing framework's principal is not allowed.",
        ),
        (
            update(FrameworkInfo {
                user: "bob".into(),
                ..base.clone()
            }),
            "FrameworkInfo update is not valid: Updating 'FrameworkInfo.user' is unsupported",
        ),
        (
            update(FrameworkInfo {
                checkpoint: Some(true),
                ..base.clone()
            }),
            "FrameworkInfo update is not valid: Updating 'FrameworkInfo.checkpoint'",
        ),
        (
            update(multi_role(base.clone(), &["-x"])),
            "Supplied FrameworkInfo is not valid: 'FrameworkInfo.roles' contains invalid role",
        ),
        (
            update(multi_role(base.clone(), &["zzz"])),
            "Supplied FrameworkInfo is not valid: Roles { zzz } are not present in the \
             master's --roles",
        ),
        (
            FrameworkCall::UpdateFramework(call::UpdateFramework {
                framework_info: multi_role(base.clone(), &["a"]),
                suppressed_roles: vec!["other".into()],
                offer_constraints: None,
            }),
            "'UpdateFramework' call is not valid: Suppressed roles { other } are not \
             contained in the set of roles",
        ),
    ];
    for (call, expected) in cases {
        let err = h.call(&id, call, None, Some(&sub.stream_id)).unwrap_err();
        assert_eq!(err.kind, RejectionKind::BadRequest);
        assert!(
            err.message.starts_with(expected),
            "{} vs {expected}",
            err.message
        );
    }
    // Nothing changed.
    assert_eq!(h.framework(&id).info().principal.as_deref(), Some("p"));
    assert_eq!(h.framework(&id).roles(), &roles(&["*"]));
}

#[test]
fn update_framework_needs_a_connected_framework() {
    let mut h = Harness::new();
    let sub = h.subscribed(FrameworkInfo {
        failover_timeout: Some(60.0),
        ..info("f")
    });
    let id = sub.framework_id();
    h.close(sub.conn);
    let err = h
        .call(
            &id,
            update(with_id(info("g"), &id)),
            None,
            Some(&sub.stream_id),
        )
        .unwrap_err();
    assert_eq!(err, Rejection::forbidden(FRAMEWORK_NOT_SUBSCRIBED));
}
