//! ZooKeeper for ratufa: `zk://` URLs, a client behind a trait, and Mesos's leader
//! election layout (contender for masters, detector for agents and tools).
//!
//! - [`url`]: `zk://` URLs (`zk://user:pass@host:port,…/path`);
//! - [`session`]: the operations ratufa needs ([`Connector`], [`Session`]);
//! - [`real`]: those operations on a real ensemble;
//! - `memory` (feature `memory`, and this crate's tests): an in-memory ensemble for
//!   unit tests of logic written on the traits;
//! - [`election`]: contending and detecting, as Mesos masters and agents do.
//!
//! # Why `zookeeper-client`
//! The design named `zookeeper-async`; we use `zookeeper-client` (kezhuw) instead. It
//! is the better kept of the two: released through 2025 and 2026 with a changelog,
//! its own tests run against real ZooKeeper servers, with ZooKeeper 3.5+ features
//! (create2 with stat, persistent watches, multi), session states that match the Java
//! client's (Disconnected / SyncConnected / Expired / Closed / AuthFailed), digest auth
//! and SASL/TLS behind features, and it runs on tokio through a feature. It also fails
//! a connection attempt after one pass over the servers on request, which the
//! "ZooKeeper unreachable at start: retry with a clear log" requirement needs.
//! `zookeeper-async` is a fork of the older `zookeeper` crate with its callback-style
//! listeners and fewer releases.

pub mod election;
mod error;
#[cfg(any(test, feature = "memory"))]
pub mod memory;
pub mod real;
pub mod session;
pub mod url;

pub use election::{Elected, Election, Leader, LeadershipCheck, contend, detect};
pub use error::ZkError;
pub use real::{ZkConnector, ZkSession};
pub use session::{Connector, CreateMode, Session, SessionEvent};
pub use url::ZkUrl;
