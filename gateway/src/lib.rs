//! ratufa's HTTP layer, shared by the master and the agent: RecordIO framing, content
//! negotiation, call decoding with bounded bodies, event streams with heartbeats,
//! leader redirects, basic authentication, TLS, and the errors every endpoint answers with.
//!
//! Everything here is protocol plumbing with no knowledge of frameworks or tasks; the
//! cores hand it typed messages and take typed calls back.

pub mod auth;
pub mod error;
pub mod health;
pub mod jsonp;
pub mod leader;
pub mod negotiate;
pub mod proxy;
pub mod realm;
pub mod recordio;
pub mod request;
pub mod stream;
pub mod system_metrics;
pub mod tcp;
pub mod tls;
pub mod version;

#[cfg(test)]
mod test_server;

use axum::http::HeaderName;

pub use auth::Credentials;
pub use error::{ApiError, GatewayError};
pub use health::health;
pub use leader::{AlwaysLeader, LeaderStatus, Leadership, require_leader};
pub use negotiate::{request_encoding, response_encoding};
pub use proxy::{LeaderProxy, proxy_to_leader};
pub use realm::{OperatorRealms, Principal, Realm};
pub use recordio::{RecordBody, RecordIoDecoder};
pub use request::{
    DEFAULT_MAX_BODY_BYTES, decode_call, decode_call_keeping_body, missing_or_unknown_type,
    stream_id,
};
pub use stream::{Heartbeat, event_stream, event_stream_after, new_stream_id};
pub use tls::{Tls, TlsSettings};

/// `Mesos-Stream-Id`: set on a SUBSCRIBE response, required on the scheduler's later
/// calls so the master can tell a stale connection from the current one.
pub const MESOS_STREAM_ID: HeaderName = HeaderName::from_static("mesos-stream-id");
