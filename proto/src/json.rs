//! Mesos's JSON mapping (stout's, not proto3's). Placeholder until the full mapping lands.

use crate::{MesosMessage, ProtoError};

pub fn encode<M: MesosMessage>(_message: &M) -> Vec<u8> {
    Vec::new()
}

pub fn decode<M: MesosMessage>(_bytes: &[u8]) -> Result<M, ProtoError> {
    Err(ProtoError::Syntax("not implemented".into()))
}
