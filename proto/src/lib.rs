//! The Mesos v1 wire schema for ratufa.
//!
//! `v1` holds the prost types generated from our .proto files (package `mesos.v1` and
//! its sub-packages). `json` implements Mesos's own JSON mapping (not proto3's), and
//! `codec` the two encodings a client may choose between.

#![allow(clippy::doc_markdown)]

pub mod codec;
pub mod duration;
mod error;
pub mod health_check;
pub mod json;
pub mod resources;
pub mod schema;
pub mod task_state;
mod wire_scan;

pub use codec::{Encoding, MesosMessage};
pub use error::ProtoError;

/// Generated types, one module per protobuf package, nested as the packages are.
#[allow(
    clippy::all,
    clippy::pedantic,
    missing_docs,
    rustdoc::all,
    unreachable_pub,
    non_camel_case_types
)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/mesos.v1.rs"));

    pub mod scheduler {
        include!(concat!(env!("OUT_DIR"), "/mesos.v1.scheduler.rs"));
    }
    pub mod executor {
        include!(concat!(env!("OUT_DIR"), "/mesos.v1.executor.rs"));
    }
    pub mod master {
        include!(concat!(env!("OUT_DIR"), "/mesos.v1.master.rs"));
    }
    pub mod agent {
        include!(concat!(env!("OUT_DIR"), "/mesos.v1.agent.rs"));
    }
    pub mod quota {
        include!(concat!(env!("OUT_DIR"), "/mesos.v1.quota.rs"));
    }
    pub mod maintenance {
        include!(concat!(env!("OUT_DIR"), "/mesos.v1.maintenance.rs"));
    }
    pub mod allocator {
        include!(concat!(env!("OUT_DIR"), "/mesos.v1.allocator.rs"));
    }
}

/// ratufa's own protocols (not part of Mesos's API), at the module path their protobuf
/// package (`ratufa.*`) gives them. Generated code names Mesos types through
/// `crate::mesos::v1`, hence the alias below.
#[allow(
    clippy::all,
    clippy::pedantic,
    missing_docs,
    rustdoc::all,
    unreachable_pub,
    non_camel_case_types
)]
pub mod ratufa {
    /// The master <-> agent link (proto/ratufa/agent_link.proto).
    pub mod agentlink {
        include!(concat!(env!("OUT_DIR"), "/ratufa.agentlink.rs"));
    }
    /// What the agent checkpoints under `<work_dir>/meta` (proto/ratufa/checkpoint.proto).
    pub mod checkpoint {
        include!(concat!(env!("OUT_DIR"), "/ratufa.checkpoint.rs"));
    }
    /// The master's registry (proto/ratufa/registry.proto).
    pub mod registry {
        include!(concat!(env!("OUT_DIR"), "/ratufa.registry.rs"));
    }
}

/// `mesos.v1` under the path protobuf packages give it, for generated code in `ratufa`.
#[doc(hidden)]
pub mod mesos {
    pub use crate::v1;
}
