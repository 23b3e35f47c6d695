//! Mesos's JSON mapping and the protobuf encoding, checked against documents and byte
//! strings written by hand from Mesos's documentation (golden vectors), and against the
//! rules of the mapping one by one.

use ratufa_proto::v1::scheduler::{Call, Event, call, event};
use ratufa_proto::v1::{self, Filters, FrameworkId, FrameworkInfo, framework_info};
use ratufa_proto::{Encoding, ProtoError, json};
use serde_json::json;

fn decode_call(doc: &str) -> Result<Call, ProtoError> {
    Encoding::Json.decode::<Call>(doc.as_bytes())
}

// --- Golden vectors -----------------------------------------------------------------

/// The SUBSCRIBE request of Mesos's scheduler HTTP API documentation.
#[test]
fn golden_json_subscribe_from_the_documentation() {
    let doc = r#"{
       "type"       : "SUBSCRIBE",
       "subscribe"  : {
          "framework_info"  : {
            "user" :  "foo",
            "name" :  "Example HTTP Framework",
            "roles": ["test"],
            "capabilities" : [{"type": "MULTI_ROLE"}]
          }
      }
    }"#;
    let call = decode_call(doc).unwrap();
    assert_eq!(call.r#type(), call::Type::Subscribe);
    let info = &call.subscribe.as_ref().unwrap().framework_info;
    assert_eq!(info.user, "foo");
    assert_eq!(info.name, "Example HTTP Framework");
    assert_eq!(info.roles, vec!["test".to_string()]);
    assert_eq!(info.capabilities.len(), 1);
    assert_eq!(
        info.capabilities[0].r#type(),
        framework_info::capability::Type::MultiRole
    );
    assert!(call.framework_id.is_none());
}

/// The SUBSCRIBED event of the documentation, and the ERROR event as it really is on
/// the wire (nested under "error").
#[test]
fn golden_json_events_from_the_documentation() {
    let doc = r#"{
      "type"       : "SUBSCRIBED",
      "subscribed" : {
          "framework_id"               : {"value":"12220-3440-12532-2345"},
          "heartbeat_interval_seconds" : 15
       }
    }"#;
    let event = Encoding::Json.decode::<Event>(doc.as_bytes()).unwrap();
    assert_eq!(event.r#type(), event::Type::Subscribed);
    let subscribed = event.subscribed.unwrap();
    assert_eq!(subscribed.framework_id.value, "12220-3440-12532-2345");
    assert_eq!(subscribed.heartbeat_interval_seconds, Some(15.0));

    let error = r#"{"type":"ERROR","error":{"message":"Framework failed over"}}"#;
    let event = Encoding::Json.decode::<Event>(error.as_bytes()).unwrap();
    assert_eq!(event.r#type(), event::Type::Error);
    assert_eq!(event.error.unwrap().message, "Framework failed over");
}

/// Protobuf bytes composed by hand from the field numbers of scheduler.proto and
/// mesos.proto: Call{type=SUBSCRIBE(2:varint 1), subscribe(3){framework_info(1){
/// user(1)="foo", name(2)="bar"}}}.
const SUBSCRIBE_BYTES: &[u8] = &[
    0x10, 0x01, // type = SUBSCRIBE
    0x1a, 0x0c, // subscribe, 12 bytes
    0x0a, 0x0a, // framework_info, 10 bytes
    0x0a, 0x03, b'f', b'o', b'o', // user
    0x12, 0x03, b'b', b'a', b'r', // name
];

#[test]
fn golden_protobuf_subscribe_decodes_and_reencodes_byte_for_byte() {
    let call = Encoding::Protobuf.decode::<Call>(SUBSCRIBE_BYTES).unwrap();
    assert_eq!(call.r#type(), call::Type::Subscribe);
    let info = &call.subscribe.as_ref().unwrap().framework_info;
    assert_eq!((info.user.as_str(), info.name.as_str()), ("foo", "bar"));
    assert_eq!(Encoding::Protobuf.encode(&call), SUBSCRIBE_BYTES);
}

/// ACKNOWLEDGE with a 16-byte uuid: framework_id(1){value(1)="fw"}, type(2)=8,
/// acknowledge(8){agent_id(1){"a1"}, task_id(2){"t1"}, uuid(3)=0x00..0x0f}.
#[test]
fn golden_protobuf_acknowledge_and_its_json_base64() {
    let mut bytes = vec![0x0a, 0x04, 0x0a, 0x02, b'f', b'w', 0x10, 0x08, 0x42, 0x1e];
    bytes.extend_from_slice(&[0x0a, 0x04, 0x0a, 0x02, b'a', b'1']);
    bytes.extend_from_slice(&[0x12, 0x04, 0x0a, 0x02, b't', b'1']);
    bytes.extend_from_slice(&[0x1a, 0x10]);
    bytes.extend(0u8..16);
    let call = Encoding::Protobuf.decode::<Call>(&bytes).unwrap();
    assert_eq!(call.r#type(), call::Type::Acknowledge);
    let ack = call.acknowledge.as_ref().unwrap();
    assert_eq!(ack.uuid, (0u8..16).collect::<Vec<_>>());
    assert_eq!(Encoding::Protobuf.encode(&call), bytes);

    let doc: serde_json::Value = serde_json::from_slice(&Encoding::Json.encode(&call)).unwrap();
    assert_eq!(
        doc["acknowledge"]["uuid"],
        json!("AAECAwQFBgcICQoLDA0ODw==")
    );
    assert_eq!(doc["type"], json!("ACKNOWLEDGE"));
    assert_eq!(doc["framework_id"], json!({"value": "fw"}));
    // And back.
    let again = decode_call(&doc.to_string()).unwrap();
    assert_eq!(again, call);
}

#[test]
fn truncated_protobuf_is_an_error_not_a_panic() {
    // A cut at a field boundary is a valid (shorter) message; a cut inside the
    // `subscribe` field (bytes 3..16) or inside the type's varint tag must fail.
    for len in (3..SUBSCRIBE_BYTES.len()).chain([1]) {
        let result = Encoding::Protobuf.decode::<Call>(&SUBSCRIBE_BYTES[..len]);
        assert!(result.is_err(), "prefix of {len} bytes decoded");
    }
}

#[test]
fn protobuf_missing_required_field_names_it() {
    // Subscribe with a FrameworkInfo that has a user but no name.
    let bytes = [
        0x10, 0x01, 0x1a, 0x07, 0x0a, 0x05, 0x0a, 0x03, b'f', b'o', b'o',
    ];
    let err = Encoding::Protobuf.decode::<Call>(&bytes).unwrap_err();
    assert!(
        err.to_string().contains("subscribe.framework_info.name"),
        "{err}"
    );
}

// --- Writing rules ------------------------------------------------------------------

#[test]
fn explicit_defaults_are_written_and_deprecated_ones_are_not() {
    let info = FrameworkInfo {
        user: "u".into(),
        name: "n".into(),
        ..Default::default()
    };
    let doc = json::to_value(&info);
    assert_eq!(doc["user"], json!("u"));
    assert_eq!(doc["failover_timeout"], json!(0.0));
    assert_eq!(doc["checkpoint"], json!(false));
    // `role` has a default of "*" but is deprecated: Mesos leaves it out.
    assert!(doc.get("role").is_none(), "{doc}");
    // Repeated fields only when non-empty; optional fields without defaults only when set.
    assert!(doc.get("roles").is_none());
    assert!(doc.get("principal").is_none());

    let filters = json::to_value(&Filters::default());
    assert_eq!(filters, json!({"refuse_seconds": 5.0}));
}

#[test]
fn field_names_are_snake_case_and_enums_are_names() {
    let event = Event {
        r#type: Some(event::Type::Subscribed as i32),
        subscribed: Some(event::Subscribed {
            framework_id: FrameworkId {
                value: "m-0000".into(),
            },
            heartbeat_interval_seconds: Some(15.0),
            master_info: None,
        }),
        ..Default::default()
    };
    let text = String::from_utf8(Encoding::Json.encode(&event)).unwrap();
    assert_eq!(
        text,
        r#"{"type":"SUBSCRIBED","subscribed":{"framework_id":{"value":"m-0000"},"heartbeat_interval_seconds":15.0}}"#
    );
}

#[test]
fn sixty_four_bit_integers_are_bare_numbers() {
    let t = v1::TimeInfo {
        nanoseconds: 1_700_000_000_123_456_789,
    };
    assert_eq!(
        String::from_utf8(Encoding::Json.encode(&t)).unwrap(),
        r#"{"nanoseconds":1700000000123456789}"#
    );
    let back: v1::TimeInfo = Encoding::Json
        .decode(br#"{"nanoseconds":1700000000123456789}"#)
        .unwrap();
    assert_eq!(back, t);
}

#[test]
fn strings_are_escaped_and_non_ascii_survives() {
    let id = v1::TaskId {
        value: "tâche \"1\"\n\u{1}ü🐿".into(),
    };
    let bytes = Encoding::Json.encode(&id);
    let parsed: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(parsed["value"], json!(id.value));
    assert_eq!(Encoding::Json.decode::<v1::TaskId>(&bytes).unwrap(), id);
}

// --- Reading rules ------------------------------------------------------------------

#[test]
fn unknown_keys_are_ignored_and_null_is_unset() {
    let call = decode_call(
        r#"{"type":"TEARDOWN","framework_id":{"value":"x","extra":1},
            "no_such_field":[1,2,3],"subscribe":null}"#,
    )
    .unwrap();
    assert_eq!(call.r#type(), call::Type::Teardown);
    assert_eq!(call.framework_id.unwrap().value, "x");
    assert!(call.subscribe.is_none());
}

#[test]
fn numbers_and_booleans_may_come_as_strings() {
    let info: FrameworkInfo = Encoding::Json
        .decode(br#"{"user":"u","name":"n","failover_timeout":"3600","checkpoint":"true"}"#)
        .unwrap();
    assert_eq!(info.failover_timeout, Some(3600.0));
    assert_eq!(info.checkpoint, Some(true));
    let t: v1::TimeInfo = Encoding::Json.decode(br#"{"nanoseconds":"42"}"#).unwrap();
    assert_eq!(t.nanoseconds, 42);
    let f: Filters = Encoding::Json
        .decode(br#"{"refuse_seconds":"Infinity"}"#)
        .unwrap();
    assert_eq!(f.refuse_seconds, Some(f64::INFINITY));
}

#[test]
fn a_single_value_is_accepted_for_a_repeated_field() {
    let info: FrameworkInfo = Encoding::Json
        .decode(br#"{"user":"u","name":"n","roles":"analytics"}"#)
        .unwrap();
    assert_eq!(info.roles, vec!["analytics".to_string()]);
}

#[test]
fn unknown_enum_names_are_dropped_when_optional_and_refused_when_required() {
    // Call.type is optional: an unknown name leaves it unset (UNKNOWN).
    let call = decode_call(r#"{"type":"NO_SUCH_CALL"}"#).unwrap();
    assert!(call.r#type.is_none());
    // Capabilities are repeated: unknown ones are dropped, known ones kept.
    let info: FrameworkInfo = Encoding::Json
        .decode(br#"{"user":"u","name":"n","capabilities":[{"type":"FLYING"},{"type":"PARTITION_AWARE"}]}"#)
        .unwrap();
    assert_eq!(info.capabilities.len(), 2);
    assert!(info.capabilities[0].r#type.is_none());
    // Value.type is required: an unknown name is an error naming the field.
    let err = Encoding::Json
        .decode::<v1::Value>(br#"{"type":"BLOB"}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("'type'") && err.contains("SCALAR"), "{err}");
}

#[test]
fn wrong_types_name_the_field_and_what_was_expected() {
    let err = decode_call(r#"{"type":"TEARDOWN","framework_id":"abc"}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("framework_id"), "{err}");
    assert!(err.contains("JSON object"), "{err}");

    let err =
        decode_call(r#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":1,"name":"n"}}}"#)
            .unwrap_err()
            .to_string();
    assert!(err.contains("subscribe.framework_info.user"), "{err}");
    assert!(err.contains("expected a string"), "{err}");

    let err = Encoding::Json
        .decode::<v1::TimeInfo>(br#"{"nanoseconds":1.5}"#)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("nanoseconds") && err.contains("integer"),
        "{err}"
    );

    let err = Encoding::Json
        .decode::<v1::MasterInfo>(br#"{"id":"x","ip":-1,"port":5050}"#)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("'ip'") && err.contains("unsigned 32-bit"),
        "{err}"
    );

    let err = decode_call(r#"{"type":"ACKNOWLEDGE","acknowledge":{"agent_id":{"value":"a"},"task_id":{"value":"t"},"uuid":"not base64!"}}"#)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("acknowledge.uuid") && err.contains("base64"),
        "{err}"
    );
}

#[test]
fn missing_required_fields_are_named_by_path() {
    let err = decode_call(r#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"name":"n"}}}"#)
        .unwrap_err();
    assert!(
        matches!(&err, ProtoError::MissingRequired { path } if path == "subscribe.framework_info.user"),
        "{err}"
    );
    let err = decode_call(r#"{"type":"SUBSCRIBE","subscribe":{}}"#).unwrap_err();
    assert!(
        err.to_string().contains("subscribe.framework_info"),
        "{err}"
    );
}

#[test]
fn malformed_and_misshapen_documents_are_errors() {
    assert!(matches!(
        decode_call(r#"{"type":"#),
        Err(ProtoError::Syntax(_))
    ));
    assert!(matches!(decode_call("[1,2]"), Err(ProtoError::Shape(_))));
    assert!(matches!(
        decode_call("\"SUBSCRIBE\""),
        Err(ProtoError::Shape(_))
    ));
    assert!(decode_call("").is_err());
}

#[test]
fn maps_round_trip_as_json_objects() {
    // QuotaConfig.guarantees is a map<string, Value.Scalar>.
    let doc = br#"{"role":"dev","guarantees":{"cpus":{"value":2.5},"mem":{"value":1024}}}"#;
    let quota: v1::quota::QuotaConfig = Encoding::Json.decode(doc).unwrap();
    assert_eq!(quota.guarantees.len(), 2);
    assert_eq!(quota.guarantees["cpus"].value, 2.5);
    let again: v1::quota::QuotaConfig = Encoding::Json
        .decode(&Encoding::Json.encode(&quota))
        .unwrap();
    assert_eq!(again, quota);
}

#[test]
fn unknown_enum_numbers_in_protobuf_are_dropped_as_proto2_does() {
    // Call{type = 99}: optional enum with an unknown number → unset.
    let call = Encoding::Protobuf.decode::<Call>(&[0x10, 99]).unwrap();
    assert!(call.r#type.is_none(), "{call:?}");
    assert_eq!(Encoding::Json.encode(&call), b"{}");
    // Value{type = 33}: required enum with an unknown number → missing required field.
    let err = Encoding::Protobuf
        .decode::<v1::Value>(&[0x08, 33])
        .unwrap_err();
    assert!(
        matches!(&err, ProtoError::MissingRequired { path } if path == "type"),
        "{err}"
    );
    // FrameworkInfo.capabilities[].type: the unknown one is unset, the known one kept.
    let info = FrameworkInfo {
        user: "u".into(),
        name: "n".into(),
        capabilities: vec![
            framework_info::Capability { r#type: Some(77) },
            framework_info::Capability { r#type: Some(5) },
        ],
        ..Default::default()
    };
    let bytes = Encoding::Protobuf.encode(&info);
    let back = Encoding::Protobuf.decode::<FrameworkInfo>(&bytes).unwrap();
    assert_eq!(back.capabilities[0].r#type, None);
    assert_eq!(back.capabilities[1].r#type, Some(5));
}
