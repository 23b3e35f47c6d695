//! The ratufa master: framework registration and lifecycle behind the Mesos v1
//! scheduler API.
//!
//! - [`core`]: the state machine, free of IO, tested deterministically;
//! - `driver`: the tokio task that owns the core and carries its outputs out;
//! - [`http`]: the routes ([`app`]);
//! - [`serve`]: all of it on a given listener.

pub mod allocator;
mod config;
pub mod contention;
pub mod core;
mod driver;
mod error;
mod handle;
pub mod http;
pub mod master_info;
pub mod registry;
pub mod removal_flags;
mod serve;
mod stall;
pub mod term;

pub use config::{
    DEFAULT_AGENT_PING_TIMEOUT, DEFAULT_ALLOCATION_INTERVAL, DEFAULT_HEARTBEAT_INTERVAL,
    DEFAULT_MAX_AGENT_PING_TIMEOUTS, DEFAULT_MAX_COMPLETED_FRAMEWORKS,
    DEFAULT_MAX_COMPLETED_TASKS_PER_FRAMEWORK, DEFAULT_MAX_OFFERS_PER_EVENT, DEFAULT_PORT,
    DEFAULT_ZK_SESSION_TIMEOUT, MasterConfig,
};
pub use error::MasterError;
pub use handle::{MasterHandle, OperatorSubscriberSlot, Stopped};
pub use http::app;
pub use serve::serve;
