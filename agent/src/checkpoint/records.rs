//! A task's `task.updates`: its status-update stream as length-delimited
//! `ratufa.checkpoint.UpdateRecord`s (a varint length, then the record).

use prost::Message;
use ratufa_proto::ratufa::checkpoint::UpdateRecord as Wire;
use ratufa_proto::ratufa::checkpoint::update_record::Type as WireType;
use ratufa_proto::v1::{FrameworkId, TaskStatus};

/// One entry of a task's status-update stream, in the order they happened.
// Unboxed as the contract with the agent loop has it: a task holds a handful of
// records, so the size of an ACK does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum UpdateRecord {
    /// The task produced `status` (carrying the uuid its ACK will name).
    Update {
        status: TaskStatus,
        framework_id: FrameworkId,
    },
    /// The update with this uuid was acknowledged.
    Ack { uuid: Vec<u8> },
}

impl UpdateRecord {
    fn to_wire(&self) -> Wire {
        match self {
            UpdateRecord::Update {
                status,
                framework_id,
            } => Wire {
                r#type: Some(WireType::Update as i32),
                status: Some(status.clone()),
                framework_id: Some(framework_id.clone()),
                uuid: None,
            },
            UpdateRecord::Ack { uuid } => Wire {
                r#type: Some(WireType::Ack as i32),
                status: None,
                framework_id: None,
                uuid: Some(uuid.clone()),
            },
        }
    }

    fn from_wire(wire: Wire) -> Result<UpdateRecord, String> {
        match wire.r#type.and_then(|t| WireType::try_from(t).ok()) {
            Some(WireType::Update) => match (wire.status, wire.framework_id) {
                (Some(status), Some(framework_id)) => Ok(UpdateRecord::Update {
                    status,
                    framework_id,
                }),
                _ => Err("an UPDATE record without 'status' or 'framework_id'".to_string()),
            },
            Some(WireType::Ack) => wire
                .uuid
                .map(|uuid| UpdateRecord::Ack { uuid })
                .ok_or_else(|| "an ACK record without 'uuid'".to_string()),
            _ => Err(format!("a record of unknown type {:?}", wire.r#type)),
        }
    }
}

/// The updates of `records` not yet acknowledged, oldest first: what the status-update
/// manager must still deliver.
pub fn pending(records: &[UpdateRecord]) -> Vec<(FrameworkId, TaskStatus)> {
    let mut out: Vec<(FrameworkId, TaskStatus)> = Vec::new();
    for record in records {
        match record {
            UpdateRecord::Update {
                status,
                framework_id,
            } => out.push((framework_id.clone(), status.clone())),
            UpdateRecord::Ack { uuid } => {
                out.retain(|(_, status)| status.uuid.as_deref() != Some(uuid.as_slice()));
            }
        }
    }
    out
}

pub(super) fn encode(records: &[UpdateRecord]) -> Vec<u8> {
    let mut out = Vec::new();
    for record in records {
        let wire = record.to_wire();
        // Writing into a Vec cannot run out of room.
        let _ = wire.encode_length_delimited(&mut out);
    }
    out
}

/// What reading a `task.updates` found.
#[derive(Debug, PartialEq)]
pub(super) struct Decoded {
    /// The whole, valid records from the start of the file.
    pub records: Vec<UpdateRecord>,
    /// The length of the file's valid prefix, when something follows it.
    pub valid_len: Option<usize>,
    /// Why the rest was not read: a record cut short (a crash while writing) is
    /// `Tail::Partial`; a whole record that does not decode is `Tail::Corrupt`.
    pub tail: Option<Tail>,
}

#[derive(Debug, PartialEq)]
pub(super) enum Tail {
    Partial,
    Corrupt(String),
}

pub(super) fn decode(bytes: &[u8]) -> Decoded {
    let mut records = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let mut rest = &bytes[at..];
        let before = rest.len();
        let Ok(len) = prost::encoding::decode_varint(&mut rest) else {
            // A varint running off the end is a cut-short length; one that is over
            // ten bytes long is garbage.
            let tail = if before < 10 {
                Tail::Partial
            } else {
                Tail::Corrupt("a record length that is not a varint".to_string())
            };
            return cut(records, at, tail);
        };
        let header = before - rest.len();
        let Ok(len) = usize::try_from(len) else {
            return cut(
                records,
                at,
                Tail::Corrupt(format!("a record of {len} bytes")),
            );
        };
        if rest.len() < len {
            return cut(records, at, Tail::Partial);
        }
        let record = Wire::decode(&rest[..len])
            .map_err(|e| e.to_string())
            .and_then(UpdateRecord::from_wire);
        match record {
            Ok(record) => records.push(record),
            Err(why) => return cut(records, at, Tail::Corrupt(why)),
        }
        at += header + len;
    }
    Decoded {
        records,
        valid_len: None,
        tail: None,
    }
}

fn cut(records: Vec<UpdateRecord>, at: usize, tail: Tail) -> Decoded {
    Decoded {
        records,
        valid_len: Some(at),
        tail: Some(tail),
    }
}
