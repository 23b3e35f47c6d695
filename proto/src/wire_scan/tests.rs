use prost::Message as _;

use super::plainly_valid;
use crate::codec::{decode_protobuf, decode_reflectively};
use crate::ratufa::agentlink::{Call as AgentCall, call as agent_call};
use crate::schema::descriptor;
use crate::v1::{
    AgentId, AgentInfo, CommandInfo, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, Label,
    Labels, Resource, Task, TaskId, TaskState, TaskStatus, framework_info, value,
};
use crate::{MesosMessage, ProtoError};

fn cpus(v: f64) -> Resource {
    Resource {
        name: "cpus".into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value: v }),
        ..Default::default()
    }
}

/// An agent's re-registration: nested required fields (ids, resources' types), enums
/// alone and in repeated messages, strings, bytes, doubles, labels.
fn reregistration() -> AgentCall {
    let framework_id = FrameworkId { value: "f1".into() };
    let agent_id = AgentId { value: "a1".into() };
    AgentCall {
        r#type: Some(agent_call::Type::Subscribe as i32),
        subscribe: Some(agent_call::Subscribe {
            agent_info: AgentInfo {
                id: Some(agent_id.clone()),
                hostname: "h".into(),
                resources: vec![cpus(4.0)],
                ..Default::default()
            },
            tasks: vec![Task {
                name: "t".into(),
                task_id: TaskId { value: "t1".into() },
                framework_id: framework_id.clone(),
                executor_id: Some(ExecutorId { value: "e1".into() }),
                agent_id,
                state: TaskState::TaskRunning as i32,
                resources: vec![cpus(0.5)],
                statuses: vec![TaskStatus {
                    task_id: TaskId { value: "t1".into() },
                    state: TaskState::TaskRunning as i32,
                    uuid: Some(vec![1, 2, 3]),
                    ..Default::default()
                }],
                labels: Some(Labels {
                    labels: vec![Label {
                        key: "k".into(),
                        value: Some("v".into()),
                    }],
                }),
                ..Default::default()
            }],
            executors: vec![ExecutorInfo {
                executor_id: ExecutorId { value: "e1".into() },
                framework_id: Some(framework_id.clone()),
                command: Some(CommandInfo {
                    value: Some("x".into()),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            frameworks: vec![FrameworkInfo {
                id: Some(framework_id),
                user: "u".into(),
                name: "n".into(),
                capabilities: vec![framework_info::Capability { r#type: Some(5) }],
                ..Default::default()
            }],
            version: Some("1".into()),
            ip: Some("10.0.0.1".into()),
        }),
        ..Default::default()
    }
}

/// The decoding through the scan and the careful one alone agree on `bytes`: the same
/// message, or the same error.
fn agree<M: MesosMessage + PartialEq + std::fmt::Debug>(bytes: &[u8]) {
    let quick = decode_protobuf::<M>(bytes);
    let careful = decode_reflectively::<M>(descriptor::<M>().unwrap(), bytes);
    match (&quick, &careful) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{bytes:?}"),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{bytes:?}"),
        _ => panic!("{bytes:?}: through the scan {quick:?}, carefully {careful:?}"),
    }
}

#[test]
fn a_clean_reregistration_passes_the_scan() {
    let bytes = reregistration().encode_to_vec();
    assert!(plainly_valid(&descriptor::<AgentCall>().unwrap(), &bytes));
    agree::<AgentCall>(&bytes);
}

#[test]
fn every_cut_and_every_altered_byte_decodes_as_the_careful_way_does() {
    let desc = descriptor::<AgentCall>().unwrap();
    let bytes = reregistration().encode_to_vec();
    let (mut passed, mut refused) = (0, 0);
    let mut check = |bytes: &[u8]| {
        if plainly_valid(&desc, bytes) {
            passed += 1;
        } else {
            refused += 1;
        }
        agree::<AgentCall>(bytes);
    };
    for len in 0..bytes.len() {
        check(&bytes[..len]);
    }
    for i in 0..bytes.len() {
        for replacement in [0x00, 0x01, 0x07, 0x7f, 0x80, 0xff, 99, bytes[i] ^ 0x08] {
            let mut altered = bytes.clone();
            altered[i] = replacement;
            check(&altered);
        }
    }
    // Both ways were taken, so the comparison covered each.
    assert!(
        passed > 100 && refused > 100,
        "{passed} passed, {refused} refused"
    );
}

#[test]
fn what_needs_the_careful_way_is_refused() {
    let call = descriptor::<crate::v1::scheduler::Call>().unwrap();
    // An unknown enum number, alone (Call.type = 99).
    assert!(!plainly_valid(&call, &[0x10, 99]));
    // A required field missing deep down: subscribe.framework_info without its name.
    let missing = [
        0x10, 0x01, 0x1a, 0x07, 0x0a, 0x05, 0x0a, 0x03, b'f', b'o', b'o',
    ];
    assert!(!plainly_valid(&call, &missing));
    let err = decode_protobuf::<crate::v1::scheduler::Call>(&missing).unwrap_err();
    assert!(
        matches!(&err, ProtoError::MissingRequired { path } if path == "subscribe.framework_info.name"),
        "{err}"
    );
    // A string that is not UTF-8 (framework_info.user).
    let not_utf8 = [
        0x10, 0x01, 0x1a, 0x0a, 0x0a, 0x08, 0x0a, 0x01, 0xff, 0x12, 0x03, b'b', b'a', b'r',
    ];
    assert!(!plainly_valid(&call, &not_utf8));
    // A field on a wire type its kind does not use (type as a fixed32).
    assert!(!plainly_valid(&call, &[0x15, 1, 0, 0, 0]));
    // An unknown enum in a repeated message: a framework capability of type 77.
    let info = FrameworkInfo {
        user: "u".into(),
        name: "n".into(),
        capabilities: vec![framework_info::Capability { r#type: Some(77) }],
        ..Default::default()
    };
    let bytes = info.encode_to_vec();
    assert!(!plainly_valid(
        &descriptor::<FrameworkInfo>().unwrap(),
        &bytes
    ));
    agree::<FrameworkInfo>(&bytes);
}

#[test]
fn unknown_fields_are_skipped_as_the_careful_way_skips_them() {
    let call = descriptor::<crate::v1::scheduler::Call>().unwrap();
    // type = TEARDOWN (3), then field 1000, which the schema does not have, as a
    // varint and as bytes.
    let bytes = [0x10, 0x03, 0xc0, 0x3e, 0x05, 0xc2, 0x3e, 0x02, b'h', b'i'];
    assert!(plainly_valid(&call, &bytes));
    agree::<crate::v1::scheduler::Call>(&bytes);
}
