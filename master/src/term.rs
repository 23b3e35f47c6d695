//! A leading term: the registry is read first, with [`LeaderStatus::Recovering`]
//! (503) served meanwhile, then a fresh core recovered from it serves. With `--zk`
//! the election decides when terms start and end
//! ([`contention`](crate::contention)); a single master leads from the start, and
//! starts a new term if its registry cannot be written.

use std::sync::Arc;
use std::time::Duration;

use ratufa_gateway::{LeaderStatus, Leadership};
use ratufa_proto::v1::MasterInfo;
use ratufa_zk::LeadershipCheck;
use tokio::sync::{oneshot, watch};

use crate::registry::SharedStore;
use crate::{MasterError, MasterHandle};

/// [`Leadership`] as a watch channel holds it.
#[derive(Debug, Clone)]
pub struct WatchedLeadership(pub watch::Receiver<LeaderStatus>);

impl Leadership for WatchedLeadership {
    fn status(&self) -> LeaderStatus {
        self.0.borrow().clone()
    }
}

/// Starts a term as `info`: `Recovering` while the registry in `store` is read, then
/// `Leading` on a core recovered from it. The receiver hears why if the registry
/// later cannot be written (the term's core has then stopped). On an error the
/// status is left `Recovering`: the caller decides what follows.
pub async fn lead(
    master: &MasterHandle,
    info: MasterInfo,
    store: SharedStore,
    status: &watch::Sender<LeaderStatus>,
    check: Option<LeadershipCheck>,
) -> Result<oneshot::Receiver<MasterError>, MasterError> {
    status.send_replace(LeaderStatus::Recovering);
    tracing::info!(master_id = %info.id, store = ?store, "recovering the registry");
    let failure = master.lead(info.clone(), store, check).await?;
    status.send_replace(LeaderStatus::Leading);
    tracing::info!(master_id = %info.id, "now leading");
    Ok(failure)
}

/// How long a single master waits before reading its registry again.
const RETRY_TERM: Duration = Duration::from_secs(1);

/// A single master's leadership, its first term already begun (`failure` is that
/// term's): if the registry cannot be written, a new term (a new master id, the
/// registry read again) follows, with 503 served meanwhile, as a master elected
/// anew would.
pub(crate) fn single_master(
    master: MasterHandle,
    store: SharedStore,
    failure: oneshot::Receiver<MasterError>,
) -> Arc<dyn Leadership> {
    let (status, leadership) = watch::channel(LeaderStatus::Leading);
    tokio::spawn(async move {
        let mut failure = failure;
        // The sender goes only with the term's driver, at shutdown.
        while let Ok(error) = failure.await {
            if error.is_fatal() {
                status.send_replace(LeaderStatus::NoLeader);
                master.fail(error);
                return;
            }
            status.send_replace(LeaderStatus::Recovering);
            tracing::error!(%error, "registry write failed: starting a new term");
            failure = loop {
                tokio::time::sleep(RETRY_TERM).await;
                let info = master.next_master_info();
                match lead(&master, info, store.clone(), &status, None).await {
                    Ok(next) => break next,
                    Err(error) => tracing::error!(%error, "cannot recover the registry"),
                }
            };
        }
    });
    Arc::new(WatchedLeadership(leadership))
}
