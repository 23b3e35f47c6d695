//! The registry: what a new leading master must know that agents cannot tell it
//! (admitted, unreachable and gone agents; role weights), kept in a store that outlives
//! any one master.
//!
//! - [`RegistryStore`]: versioned bytes with compare-and-set writes, so a deposed
//!   leader's write fails rather than overwriting its successor's;
//! - three stores: [`MemoryStore`] (tests, and a master that persists nothing),
//!   [`FileStore`] (one master, under `--work_dir`, locked against a second master on
//!   the same directory), [`ZkStore`] (several masters, split into chunks below
//!   ZooKeeper's node size limit and switched to atomically);
//! - [`Registrar`]: the typed registry (proto/ratufa/registry.proto) on a store, with
//!   the operations the master makes.

mod file;
mod memory;
mod registrar;
mod shared;
pub(crate) mod writer;
mod zookeeper;

use std::future::Future;

pub use file::FileStore;
pub use memory::MemoryStore;
pub use registrar::{Registrar, apply as apply_op};
pub use shared::{DynStore, SharedStore};
pub use zookeeper::ZkStore;

use crate::MasterError;

/// A store's version of what it holds: increases with every write.
pub type Version = u64;

/// What a store holds, and at which version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub data: Vec<u8>,
    pub version: Version,
}

/// Durable, versioned bytes.
pub trait RegistryStore: Send + Sync + 'static {
    /// For messages: "memory", "file", "ZooKeeper".
    fn name(&self) -> &'static str;

    /// What is stored; `None` before the first write.
    fn fetch(&self) -> impl Future<Output = Result<Option<Stored>, MasterError>> + Send;

    /// Replaces what is stored with `data` if the stored version is still `expected`
    /// (`None`: nothing stored yet); returns the new version. Another version means
    /// another master wrote since: [`MasterError::RegistryConflict`], nothing written.
    fn store(
        &self,
        data: Vec<u8>,
        expected: Option<Version>,
    ) -> impl Future<Output = Result<Version, MasterError>> + Send;
}

#[cfg(test)]
mod tests;
