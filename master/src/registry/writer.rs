//! The task that writes a leading master's registry: the driver hands it the core's
//! [`RegistryOp`]s and hears back which were written. Operations that queue while a
//! write is in flight go out together in the next one, so a burst of agents
//! registering costs a few writes, not one each.

use tokio::sync::mpsc::{self, UnboundedSender, WeakSender};

use super::{Registrar, SharedStore};
use crate::core::{RegistryOp, RegistryOpId};
use crate::driver::Command;

/// Starts the writer; its results come back on `results` as
/// [`Command::RegistryWritten`] or, once, [`Command::RegistryFailed`], after which it
/// stops. It ends with the driver (it holds only a weak sender to it).
pub(crate) fn spawn(
    registrar: Registrar<SharedStore>,
    results: WeakSender<Command>,
) -> UnboundedSender<(RegistryOpId, RegistryOp)> {
    let (ops, receiver) = mpsc::unbounded_channel();
    tokio::spawn(run(registrar, receiver, results));
    ops
}

async fn run(
    mut registrar: Registrar<SharedStore>,
    mut ops: mpsc::UnboundedReceiver<(RegistryOpId, RegistryOp)>,
    results: WeakSender<Command>,
) {
    while let Some(first) = ops.recv().await {
        let mut batch = vec![first];
        while let Ok(next) = ops.try_recv() {
            batch.push(next);
        }
        let written = registrar.apply(batch.iter().map(|(_, op)| op)).await;
        let Some(results) = results.upgrade() else {
            return;
        };
        let (command, failed) = match written {
            Ok(_) => {
                tracing::debug!(ops = batch.len(), "registry written");
                let ids = batch.into_iter().map(|(id, _)| id).collect();
                (Command::RegistryWritten(ids), false)
            }
            Err(error) => (Command::RegistryFailed(error), true),
        };
        if results.send(command).await.is_err() || failed {
            return;
        }
    }
}
