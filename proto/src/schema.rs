//! The descriptor pool compiled from our .proto files, and the proto2 checks that
//! prost does not do itself.

use std::sync::OnceLock;

use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};

use crate::{MesosMessage, ProtoError};

static DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/mesos_descriptor.bin"));

/// The pool of every message in `mesos.v1.*`.
pub fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        // The bytes were produced by our own build script from our own .proto files; a
        // failure here is a build defect, not bad input.
        DescriptorPool::decode(DESCRIPTOR_SET).expect("descriptor set written by build.rs")
    })
}

/// The descriptor of a generated message type.
pub fn descriptor<M: MesosMessage>() -> Result<MessageDescriptor, ProtoError> {
    let name = M::full_name();
    pool()
        .get_message_by_name(&name)
        .ok_or(ProtoError::UnknownType(name))
}

/// Converts a typed message into its reflective form.
pub fn to_dynamic<M: MesosMessage>(message: &M) -> Result<DynamicMessage, ProtoError> {
    let desc = descriptor::<M>()?;
    let bytes = message.encode_to_vec();
    DynamicMessage::decode(desc, bytes.as_slice()).map_err(|e| ProtoError::Protobuf(e.to_string()))
}

/// Fails with the path of the first `required` field that is not set, at any depth.
pub(crate) fn check_required_dynamic(
    message: &DynamicMessage,
    prefix: &str,
) -> Result<(), ProtoError> {
    use prost_reflect::{Cardinality, ReflectMessage, Value};
    for field in message.descriptor().fields() {
        let path = join(prefix, field.name());
        if field.cardinality() == Cardinality::Required && !message.has_field(&field) {
            return Err(ProtoError::MissingRequired { path });
        }
        if !message.has_field(&field) {
            continue;
        }
        match &*message.get_field(&field) {
            Value::Message(inner) => check_required_dynamic(inner, &path)?,
            Value::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let Value::Message(inner) = item {
                        check_required_dynamic(inner, &format!("{path}[{i}]"))?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

pub(crate) fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Drops enum values this schema does not know, as proto2's parser does (it keeps them
/// only as unknown fields): an optional field becomes unset, a repeated field loses the
/// element, a map loses the entry. A required field left unset by this then fails
/// [`check_required_dynamic`]. Returns whether anything was dropped.
pub(crate) fn drop_unknown_enum_values(message: &mut DynamicMessage) -> bool {
    use prost_reflect::{Kind, ReflectMessage, Value};

    fn known(kind: &Kind, value: &Value) -> bool {
        match (kind, value) {
            (Kind::Enum(e), Value::EnumNumber(n)) => e.get_value(*n).is_some(),
            _ => true,
        }
    }

    let mut changed = false;
    let fields: Vec<_> = message.descriptor().fields().collect();
    for field in fields {
        if !message.has_field(&field) {
            continue;
        }
        let kind = field.kind();
        let value_kind = match &kind {
            Kind::Message(entry) if field.is_map() => entry.map_entry_value_field().kind(),
            other => other.clone(),
        };
        let mut clear = false;
        match message.get_field_mut(&field) {
            Value::List(items) => {
                let before = items.len();
                items.retain(|v| known(&kind, v));
                changed |= items.len() != before;
                for item in items.iter_mut() {
                    if let Value::Message(inner) = item {
                        changed |= drop_unknown_enum_values(inner);
                    }
                }
                clear = items.is_empty();
            }
            Value::Map(entries) => {
                let before = entries.len();
                entries.retain(|_, v| known(&value_kind, v));
                changed |= entries.len() != before;
                for v in entries.values_mut() {
                    if let Value::Message(inner) = v {
                        changed |= drop_unknown_enum_values(inner);
                    }
                }
                clear = entries.is_empty();
            }
            Value::Message(inner) => changed |= drop_unknown_enum_values(inner),
            other => {
                if !known(&kind, other) {
                    clear = true;
                    changed = true;
                }
            }
        }
        if clear {
            message.clear_field(&field);
        }
    }
    changed
}
