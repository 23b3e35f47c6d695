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
