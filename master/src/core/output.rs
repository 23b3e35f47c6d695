//! What the core hands back: stream outputs (drained with `poll_output`) and the
//! synchronous answers the HTTP layer turns into status codes.

use ratufa_proto::ratufa::agentlink::Command;
use ratufa_proto::v1::scheduler::{Event, event};
use ratufa_proto::v1::{FrameworkId, MasterInfo};

use super::framework::ConnectionId;
use super::registry::{RegistryOp, RegistryOpId};

/// Something the IO layer must do on the core's behalf, in order.
// Outputs live only between a core call and the driver draining them, so boxing the
// large variant would cost an allocation per event for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send `event` on the stream `conn`.
    Event { conn: ConnectionId, event: Event },
    /// Send `command` on the agent-link stream `conn` (an agent's SUBSCRIBE response).
    AgentCommand {
        conn: ConnectionId,
        command: Command,
    },
    /// End the stream `conn` (a framework's or an agent's) once what was queued before
    /// this is sent.
    Close { conn: ConnectionId },
    /// Write `op` to the registry, then report `id` to
    /// [`handle_registry_written`](super::MasterCore::handle_registry_written). Ops
    /// may be written together, but in the order they came out.
    Registry { id: RegistryOpId, op: RegistryOp },
    /// `missing` of the `recovered` agents the registry listed did not re-register in
    /// time, more than `--recovery_agent_removal_limit` allows: rather than mark them
    /// all unreachable, this master must stop leading and exit (as Mesos's does: a
    /// failover is safer). Nothing was written.
    RecoveryRemovalLimitExceeded { missing: usize, recovered: usize },
}

/// How a SUBSCRIBE went. Either way its events (SUBSCRIBED, or one ERROR and a close)
/// are queued as outputs on the connection.
#[derive(Debug, Clone, PartialEq)]
pub enum SubscribeOutcome {
    Subscribed { framework_id: FrameworkId },
    Refused { message: String },
}

/// A call the core took: 202 Accepted, or 200 OK with no body (UPDATE_FRAMEWORK).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    Accepted,
    Ok,
}

/// Which HTTP status a refused call gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionKind {
    BadRequest,
    Forbidden,
    NotFound,
    NotImplemented,
}

/// A call the core refused, with the message for the response body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Rejection {
    pub kind: RejectionKind,
    pub message: String,
}

impl Rejection {
    pub fn bad_request(message: impl Into<String>) -> Rejection {
        Rejection {
            kind: RejectionKind::BadRequest,
            message: message.into(),
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Rejection {
        Rejection {
            kind: RejectionKind::Forbidden,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Rejection {
        Rejection {
            kind: RejectionKind::NotFound,
            message: message.into(),
        }
    }

    pub fn not_implemented(message: impl Into<String>) -> Rejection {
        Rejection {
            kind: RejectionKind::NotImplemented,
            message: message.into(),
        }
    }
}

pub fn subscribed_event(
    framework_id: FrameworkId,
    heartbeat_interval_seconds: f64,
    master_info: MasterInfo,
) -> Event {
    Event {
        r#type: Some(event::Type::Subscribed as i32),
        subscribed: Some(event::Subscribed {
            framework_id,
            heartbeat_interval_seconds: Some(heartbeat_interval_seconds),
            master_info: Some(master_info),
        }),
        ..Event::default()
    }
}

pub fn error_event(message: impl Into<String>) -> Event {
    Event {
        r#type: Some(event::Type::Error as i32),
        error: Some(event::Error {
            message: message.into(),
        }),
        ..Event::default()
    }
}

pub fn heartbeat_event() -> Event {
    Event {
        r#type: Some(event::Type::Heartbeat as i32),
        ..Event::default()
    }
}
