//! A registry store whose kind is chosen at run time (file, memory, ZooKeeper, or a
//! test's own): [`RegistryStore`] is not object safe (its futures are `impl Future`),
//! so [`DynStore`] boxes them and [`SharedStore`] puts any store behind one `Arc`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::{RegistryStore, Stored, Version};
use crate::MasterError;

type Boxed<'a, T> = Pin<Box<dyn Future<Output = Result<T, MasterError>> + Send + 'a>>;

/// [`RegistryStore`] with boxed futures; every store is one.
pub trait DynStore: Send + Sync + 'static {
    fn dyn_name(&self) -> &'static str;
    fn dyn_fetch(&self) -> Boxed<'_, Option<Stored>>;
    fn dyn_store(&self, data: Vec<u8>, expected: Option<Version>) -> Boxed<'_, Version>;
}

impl<S: RegistryStore> DynStore for S {
    fn dyn_name(&self) -> &'static str {
        self.name()
    }

    fn dyn_fetch(&self) -> Boxed<'_, Option<Stored>> {
        Box::pin(self.fetch())
    }

    fn dyn_store(&self, data: Vec<u8>, expected: Option<Version>) -> Boxed<'_, Version> {
        Box::pin(self.store(data, expected))
    }
}

/// Any store, shared: what the master's registrar runs on.
#[derive(Clone)]
pub struct SharedStore(Arc<dyn DynStore>);

impl SharedStore {
    pub fn new(store: impl RegistryStore) -> SharedStore {
        SharedStore(Arc::new(store))
    }
}

impl std::fmt::Debug for SharedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SharedStore")
            .field(&self.0.dyn_name())
            .finish()
    }
}

impl RegistryStore for SharedStore {
    fn name(&self) -> &'static str {
        self.0.dyn_name()
    }

    async fn fetch(&self) -> Result<Option<Stored>, MasterError> {
        self.0.dyn_fetch().await
    }

    async fn store(
        &self,
        data: Vec<u8>,
        expected: Option<Version>,
    ) -> Result<Version, MasterError> {
        self.0.dyn_store(data, expected).await
    }
}
