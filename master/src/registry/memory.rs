//! A registry store in memory: for tests, and for a master that persists nothing.

use std::sync::{Arc, Mutex};

use super::{RegistryStore, Stored, Version};
use crate::MasterError;

/// Clones share one store (as two masters would share a real one).
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    stored: Arc<Mutex<Option<Stored>>>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Stored>> {
        // A panic while holding the lock cannot leave half a write behind: the slot is
        // replaced whole.
        self.stored
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl RegistryStore for MemoryStore {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn fetch(&self) -> Result<Option<Stored>, MasterError> {
        Ok(self.slot().clone())
    }

    async fn store(
        &self,
        data: Vec<u8>,
        expected: Option<Version>,
    ) -> Result<Version, MasterError> {
        let mut slot = self.slot();
        let current = slot.as_ref().map(|s| s.version);
        if current != expected {
            return Err(MasterError::RegistryConflict { store: "memory" });
        }
        let version = current.map_or(1, |v| v + 1);
        *slot = Some(Stored { data, version });
        Ok(version)
    }
}
