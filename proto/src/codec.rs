//! The two encodings a Mesos v1 client may pick with `Content-Type` / `Accept`.

use crate::{ProtoError, json, schema};

/// A message of the Mesos v1 schema: a prost type that also knows its full protobuf
/// name, so the JSON mapping can find its descriptor.
pub trait MesosMessage: prost::Message + prost::Name + Default + Clone + 'static {}
impl<T: prost::Message + prost::Name + Default + Clone + 'static> MesosMessage for T {}

/// `application/json` (Mesos's JSON mapping) or `application/x-protobuf`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    Json,
    Protobuf,
}

impl Encoding {
    pub const JSON_MEDIA_TYPE: &'static str = "application/json";
    pub const PROTOBUF_MEDIA_TYPE: &'static str = "application/x-protobuf";

    pub fn media_type(self) -> &'static str {
        match self {
            Encoding::Json => Self::JSON_MEDIA_TYPE,
            Encoding::Protobuf => Self::PROTOBUF_MEDIA_TYPE,
        }
    }

    /// Exact match, as Mesos compares: `application/json; charset=utf-8` is not accepted.
    pub fn from_media_type(value: &str) -> Option<Encoding> {
        match value {
            Self::JSON_MEDIA_TYPE => Some(Encoding::Json),
            Self::PROTOBUF_MEDIA_TYPE => Some(Encoding::Protobuf),
            _ => None,
        }
    }

    pub fn encode<M: MesosMessage>(self, message: &M) -> Vec<u8> {
        match self {
            Encoding::Json => json::encode(message),
            Encoding::Protobuf => message.encode_to_vec(),
        }
    }

    pub fn decode<M: MesosMessage>(self, bytes: &[u8]) -> Result<M, ProtoError> {
        match self {
            Encoding::Json => json::decode(bytes),
            Encoding::Protobuf => decode_protobuf(bytes),
        }
    }
}

/// Decodes protobuf bytes and, as protobuf's proto2 parser does, rejects a message
/// whose `required` fields are missing.
pub fn decode_protobuf<M: MesosMessage>(bytes: &[u8]) -> Result<M, ProtoError> {
    let desc = schema::descriptor::<M>()?;
    // Clean bytes, by far the most common, need none of the reflective work below.
    if crate::wire_scan::plainly_valid(&desc, bytes) {
        return M::decode(bytes).map_err(|e| ProtoError::Protobuf(e.to_string()));
    }
    decode_reflectively(desc, bytes)
}

/// The careful decoding, for bytes [`wire_scan`](crate::wire_scan) did not pass.
pub(crate) fn decode_reflectively<M: MesosMessage>(
    desc: prost_reflect::MessageDescriptor,
    bytes: &[u8],
) -> Result<M, ProtoError> {
    // prost fills absent `required` message fields with defaults and keeps enum numbers
    // it does not know, so presence and enum values are checked on the reflective
    // decoding, which keeps presence.
    let mut dynamic = prost_reflect::DynamicMessage::decode(desc, bytes)
        .map_err(|e| ProtoError::Protobuf(e.to_string()))?;
    let dropped = schema::drop_unknown_enum_values(&mut dynamic);
    schema::check_required_dynamic(&dynamic, "")?;
    if dropped {
        let cleaned = prost::Message::encode_to_vec(&dynamic);
        return M::decode(cleaned.as_slice()).map_err(|e| ProtoError::Protobuf(e.to_string()));
    }
    M::decode(bytes).map_err(|e| ProtoError::Protobuf(e.to_string()))
}
