use ratufa_proto::v1::scheduler::{Call, call};
use ratufa_proto::v1::{
    AgentId, FrameworkId, FrameworkInfo, OfferFilters, OperationId, TaskId, framework_info,
    offer_filters, value,
};

use super::*;

fn fid(value: &str) -> FrameworkId {
    FrameworkId {
        value: value.into(),
    }
}

fn info() -> FrameworkInfo {
    FrameworkInfo {
        user: "u".into(),
        name: "n".into(),
        ..FrameworkInfo::default()
    }
}

fn typed(t: call::Type) -> Call {
    Call {
        framework_id: Some(fid("f")),
        r#type: Some(t as i32),
        ..Call::default()
    }
}

fn error_of(call: Call) -> String {
    validate_call(call, None)
        .expect_err("should be invalid")
        .to_string()
}

/// A random (version 4) UUID's bytes.
fn uuid_v4() -> Vec<u8> {
    let mut bytes = vec![0x11; 16];
    bytes[6] = 0x4f;
    bytes
}

#[test]
fn type_is_required() {
    let call = Call::default();
    assert_eq!(
        error_of(call),
        "Failed to validate scheduler::Call: Expecting 'type' to be present"
    );
    // A number outside the enum is an unknown field to proto2, so "no type" too.
    let call = Call {
        r#type: Some(999),
        ..Call::default()
    };
    assert!(error_of(call).ends_with("Expecting 'type' to be present"));
}

#[test]
fn subscribe_needs_its_message() {
    let mut call = typed(call::Type::Subscribe);
    call.framework_id = None;
    assert!(error_of(call).ends_with("Expecting 'subscribe' to be present"));
}

#[test]
fn subscribe_ids_must_agree() {
    let subscribe = call::Subscribe {
        framework_info: FrameworkInfo {
            id: Some(fid("a")),
            ..info()
        },
        ..call::Subscribe::default()
    };
    let mut call = typed(call::Type::Subscribe);
    call.framework_id = Some(fid("b"));
    call.subscribe = Some(subscribe.clone());
    let err = error_of(call.clone());
    assert!(
        err.contains("'framework_id' differs from 'subscribe.framework_info.id'"),
        "{err}"
    );

    call.framework_id = Some(fid("a"));
    assert!(matches!(
        validate_call(call.clone(), None),
        Ok(ValidCall::Subscribe(_))
    ));

    // Absent and empty are the same id.
    call.framework_id = Some(fid(""));
    call.subscribe = Some(call::Subscribe {
        framework_info: info(),
        ..call::Subscribe::default()
    });
    assert!(validate_call(call.clone(), None).is_ok());
    call.framework_id = None;
    assert!(validate_call(call, None).is_ok());
}

#[test]
fn subscribe_principal_must_match_the_authenticated_one() {
    let mut call = typed(call::Type::Subscribe);
    call.framework_id = None;
    call.subscribe = Some(call::Subscribe {
        framework_info: FrameworkInfo {
            principal: Some("declared".into()),
            ..info()
        },
        ..call::Subscribe::default()
    });
    let err = validate_call(call.clone(), Some("authenticated"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Authenticated principal 'authenticated' does not match principal 'declared'"),
        "{err}"
    );
    assert!(validate_call(call.clone(), Some("declared")).is_ok());
    assert!(validate_call(call, None).is_ok());
}

#[test]
fn other_calls_need_a_framework_id_first() {
    let mut call = typed(call::Type::Accept);
    call.framework_id = None;
    // The id is checked before the (also missing) sub-message.
    assert!(error_of(call).ends_with("Expecting 'framework_id' to be present"));
}

#[test]
fn each_call_needs_its_sub_message() {
    use call::Type;
    let cases = [
        (Type::Accept, "accept"),
        (Type::Decline, "decline"),
        (Type::AcceptInverseOffers, "accept_inverse_offers"),
        (Type::DeclineInverseOffers, "decline_inverse_offers"),
        (Type::Kill, "kill"),
        (Type::Shutdown, "shutdown"),
        (Type::Acknowledge, "acknowledge"),
        (
            Type::AcknowledgeOperationStatus,
            "acknowledge_operation_status",
        ),
        (Type::Reconcile, "reconcile"),
        (Type::ReconcileOperations, "reconcile_operations"),
        (Type::Message, "message"),
        (Type::Request, "request"),
        (Type::UpdateFramework, "update_framework"),
    ];
    for (t, field) in cases {
        let err = error_of(typed(t));
        assert_eq!(
            err,
            format!("Failed to validate scheduler::Call: Expecting '{field}' to be present"),
            "{t:?}"
        );
    }
}

#[test]
fn calls_without_sub_messages() {
    use call::Type;
    for t in [Type::Teardown, Type::Revive, Type::Suppress, Type::Unknown] {
        let valid = validate_call(typed(t), None).expect("valid");
        let ValidCall::Framework { framework_id, call } = valid else {
            panic!("not a framework call");
        };
        assert_eq!(framework_id, fid("f"));
        assert_eq!(call.call_type(), t);
    }
}

#[test]
fn acknowledge_uuid_must_be_a_uuid() {
    let ack = |uuid: Vec<u8>| {
        let mut call = typed(call::Type::Acknowledge);
        call.acknowledge = Some(call::Acknowledge {
            agent_id: AgentId { value: "a".into() },
            task_id: TaskId { value: "t".into() },
            uuid,
        });
        call
    };
    let err = error_of(ack(vec![]));
    assert!(
        err.contains("Not a valid UUID in 'acknowledge.uuid'"),
        "{err}"
    );
    assert!(err.ends_with("expecting 16 bytes, got 0"), "{err}");
    assert!(error_of(ack(vec![1; 15])).ends_with("got 15"));
    // Sixteen bytes, but version nibble 0: not a UUID boost would accept.
    assert!(error_of(ack(vec![0; 16])).contains("unknown UUID version 0"));
    assert!(validate_call(ack(uuid_v4()), None).is_ok());
}

#[test]
fn acknowledge_operation_status_needs_uuid_and_agent() {
    let ack = |uuid: Vec<u8>, agent: Option<AgentId>| {
        let mut call = typed(call::Type::AcknowledgeOperationStatus);
        call.acknowledge_operation_status = Some(call::AcknowledgeOperationStatus {
            agent_id: agent,
            resource_provider_id: None,
            uuid,
            operation_id: OperationId { value: "o".into() },
        });
        call
    };
    let agent = Some(AgentId { value: "a".into() });
    assert!(error_of(ack(vec![1; 3], agent.clone())).contains("Not a valid UUID"));
    assert!(
        error_of(ack(uuid_v4(), None))
            .ends_with("Expecting 'acknowledge_operation_status.agent_id' to be present")
    );
    assert!(validate_call(ack(uuid_v4(), agent), None).is_ok());
}

#[test]
fn update_framework_ids_must_agree() {
    let mut call = typed(call::Type::UpdateFramework);
    call.update_framework = Some(call::UpdateFramework {
        framework_info: FrameworkInfo {
            id: Some(fid("other")),
            ..info()
        },
        ..call::UpdateFramework::default()
    });
    assert!(
        error_of(call.clone())
            .contains("'framework_id' differs from 'update_framework.framework_info.id'")
    );
    if let Some(update) = call.update_framework.as_mut() {
        update.framework_info.id = Some(fid("f"));
    }
    assert!(validate_call(call, None).is_ok());
}

#[test]
fn response_body_calls() {
    let mut subscribe = typed(call::Type::Subscribe);
    subscribe.framework_id = None;
    subscribe.subscribe = Some(call::Subscribe {
        framework_info: info(),
        ..call::Subscribe::default()
    });
    assert!(validate_call(subscribe, None).unwrap().has_response_body());
    let mut reconcile = typed(call::Type::ReconcileOperations);
    reconcile.reconcile_operations = Some(call::ReconcileOperations::default());
    assert!(validate_call(reconcile, None).unwrap().has_response_body());
    assert!(
        !validate_call(typed(call::Type::Teardown), None)
            .unwrap()
            .has_response_body()
    );
}

fn multi_role(roles: &[&str]) -> FrameworkInfo {
    FrameworkInfo {
        roles: roles.iter().map(|r| r.to_string()).collect(),
        capabilities: vec![framework_info::Capability {
            r#type: Some(framework_info::capability::Type::MultiRole as i32),
        }],
        ..info()
    }
}

#[allow(deprecated)]
fn with_role(role: &str) -> FrameworkInfo {
    FrameworkInfo {
        role: Some(role.into()),
        ..info()
    }
}

#[test]
fn framework_roles() {
    assert_eq!(validate_framework_info(&info()), Ok(()));
    assert_eq!(validate_framework_info(&with_role("ads")), Ok(()));
    let err = validate_framework_info(&with_role("..")).unwrap_err();
    assert!(
        err.starts_with("'FrameworkInfo.role' is not a valid role: "),
        "{err}"
    );

    assert_eq!(validate_framework_info(&multi_role(&["a", "b/c"])), Ok(()));
    assert_eq!(validate_framework_info(&multi_role(&[])), Ok(()));
    let err = validate_framework_info(&multi_role(&["a", "-b"])).unwrap_err();
    assert!(
        err.starts_with("'FrameworkInfo.roles' contains invalid role: "),
        "{err}"
    );
    let err = validate_framework_info(&multi_role(&["a", "b", "a"])).unwrap_err();
    assert_eq!(err, "'FrameworkInfo.roles' contains duplicate items: { a }");

    #[allow(deprecated)]
    let both = FrameworkInfo {
        role: Some("a".into()),
        ..multi_role(&["a"])
    };
    assert_eq!(
        validate_framework_info(&both).unwrap_err(),
        "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable"
    );
    let roles_without_capability = FrameworkInfo {
        roles: vec!["a".into()],
        ..info()
    };
    assert_eq!(
        validate_framework_info(&roles_without_capability).unwrap_err(),
        "'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable"
    );
}

#[test]
fn framework_id_is_a_path_component() {
    let with_id = |id: &str| FrameworkInfo {
        id: Some(fid(id)),
        ..info()
    };
    assert_eq!(validate_framework_info(&with_id("")), Ok(()));
    assert_eq!(validate_framework_info(&with_id("abc-0001")), Ok(()));
    assert!(
        validate_framework_info(&with_id("a/b"))
            .unwrap_err()
            .contains("invalid characters")
    );
    assert!(
        validate_framework_info(&with_id("a\u{1}"))
            .unwrap_err()
            .contains("invalid characters")
    );
    assert!(
        validate_framework_info(&with_id(".."))
            .unwrap_err()
            .contains("disallowed")
    );
    assert!(validate_framework_info(&with_id(&"x".repeat(256))).is_err());
}

#[test]
fn failover_timeout_must_fit_a_duration() {
    let with_timeout = |t: f64| FrameworkInfo {
        failover_timeout: Some(t),
        ..info()
    };
    assert_eq!(validate_framework_info(&with_timeout(0.0)), Ok(()));
    assert_eq!(validate_framework_info(&with_timeout(604_800.0)), Ok(()));
    assert_eq!(validate_framework_info(&with_timeout(-1.0)), Ok(()));
    for bad in [f64::INFINITY, f64::NAN, 1e10, -1e10] {
        let err = validate_framework_info(&with_timeout(bad)).unwrap_err();
        assert!(err.starts_with("The framework failover_timeout ("), "{err}");
    }
}

#[test]
fn offer_filters_quantities() {
    let with_quantity = |value: f64, empty: bool| {
        let mut quantities = offer_filters::ResourceQuantities::default();
        if !empty {
            quantities
                .quantities
                .insert("cpus".into(), value::Scalar { value });
        }
        let filters = OfferFilters {
            min_allocatable_resources: Some(offer_filters::MinAllocatableResources {
                quantities: vec![quantities],
            }),
        };
        FrameworkInfo {
            offer_filters: [("*".to_string(), filters)].into(),
            ..info()
        }
    };
    assert_eq!(validate_framework_info(&with_quantity(1.0, false)), Ok(()));
    assert_eq!(
        validate_framework_info(&with_quantity(1.0, true)).unwrap_err(),
        "'FrameworkInfo.offer_filters' for role '*': Resource quantities must contain at \
         least one quantity"
    );
    assert_eq!(
        validate_framework_info(&with_quantity(-1.0, false)).unwrap_err(),
        "'FrameworkInfo.offer_filters' for role '*': Invalid resource quantity for 'cpus': \
         Negative values not supported"
    );
    assert!(validate_framework_info(&with_quantity(f64::NAN, false)).is_err());
    // A role no framework could have.
    let mut bad_role = with_quantity(1.0, false);
    let filters = bad_role.offer_filters.remove("*").unwrap();
    bad_role.offer_filters.insert("/bad".to_string(), filters);
    let err = validate_framework_info(&bad_role).unwrap_err();
    assert!(
        err.starts_with("'FrameworkInfo.offer_filters' for role '/bad': "),
        "{err}"
    );
}

#[test]
fn immutable_fields_on_update() {
    let old = FrameworkInfo {
        principal: Some("p".into()),
        ..info()
    };
    assert_eq!(validate_update(&old, &old), Ok(()));
    let new = FrameworkInfo {
        principal: None,
        ..old.clone()
    };
    assert_eq!(
        validate_update(&old, &new).unwrap_err(),
        "Changing framework's principal is not allowed."
    );
    let new = FrameworkInfo {
        user: "other".into(),
        ..old.clone()
    };
    assert!(
        validate_update(&old, &new)
            .unwrap_err()
            .contains("'FrameworkInfo.user'")
    );
    let new = FrameworkInfo {
        checkpoint: Some(true),
        ..old.clone()
    };
    assert!(
        validate_update(&old, &new)
            .unwrap_err()
            .contains("'FrameworkInfo.checkpoint'")
    );
    // Unset and the default are the same checkpoint.
    let new = FrameworkInfo {
        checkpoint: Some(false),
        ..old.clone()
    };
    assert_eq!(validate_update(&old, &new), Ok(()));
}
