//! A leading term begins by reading the registry, and ends if the registry cannot be
//! written: with stores behind the trait that hold a read back or refuse a write.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, StatusCode};
use ratufa_gateway::LeaderStatus;
use ratufa_master::core::OperatorChange;
use ratufa_master::registry::{MemoryStore, RegistryStore, SharedStore, Stored, Version};
use ratufa_master::term::{self, WatchedLeadership};
use ratufa_master::{MasterConfig, MasterError, MasterHandle};
use ratufa_proto::v1::WeightInfo;
use support::WAIT;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

/// A memory store whose reads wait for a permit, and whose writes fail once
/// `refuse_writes` is closed.
#[derive(Clone)]
struct GatedStore {
    inner: MemoryStore,
    reads: Arc<Semaphore>,
    refuse_writes: Arc<AtomicBool>,
}

impl RegistryStore for GatedStore {
    fn name(&self) -> &'static str {
        "gated"
    }

    async fn fetch(&self) -> Result<Option<Stored>, MasterError> {
        let _permit = self.reads.acquire().await.unwrap();
        self.inner.fetch().await
    }

    async fn store(
        &self,
        data: Vec<u8>,
        expected: Option<Version>,
    ) -> Result<Version, MasterError> {
        if self.refuse_writes.load(Ordering::SeqCst) {
            return Err(MasterError::RegistryConflict { store: "gated" });
        }
        self.inner.store(data, expected).await
    }
}

fn config() -> MasterConfig {
    MasterConfig {
        ip: "127.0.0.1".parse().unwrap(),
        port: 0,
        ..MasterConfig::default()
    }
}

async fn get_status(addr: std::net::SocketAddr, path: &str) -> StatusCode {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let request = Request::get(path).body(Full::<Bytes>::default()).unwrap();
    sender.send_request(request).await.unwrap().status()
}

#[tokio::test]
async fn requests_get_503_while_the_registry_is_read() {
    let master = MasterHandle::start(config());
    let (status, leadership) = watch::channel(LeaderStatus::NoLeader);
    let app = ratufa_master::app(
        master.clone(),
        Arc::new(WatchedLeadership(leadership.clone())),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let reads = Arc::new(Semaphore::new(0));
    let store = SharedStore::new(GatedStore {
        inner: MemoryStore::new(),
        reads: reads.clone(),
        refuse_writes: Arc::default(),
    });
    let info = master.next_master_info();
    let leading = {
        let master = master.clone();
        let info = info.clone();
        tokio::spawn(async move {
            term::lead(&master, info, store, &status, None)
                .await
                .map(|_| status)
        })
    };
    let mut watched = leadership.clone();
    tokio::time::timeout(WAIT, watched.wait_for(|s| *s == LeaderStatus::Recovering))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        get_status(addr, "/master/state").await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(get_status(addr, "/health").await, StatusCode::OK);

    reads.add_permits(1);
    let _status = tokio::time::timeout(WAIT, leading)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(*leadership.borrow(), LeaderStatus::Leading);
    assert_eq!(get_status(addr, "/master/state").await, StatusCode::OK);
    assert_eq!(
        master.master_info().id,
        info.id,
        "the term runs as the id it was given"
    );
}

#[tokio::test]
async fn a_write_the_store_refuses_ends_the_term() {
    let master = MasterHandle::start(config());
    let reads = Arc::new(Semaphore::new(10));
    let refuse_writes = Arc::new(AtomicBool::new(false));
    let store = SharedStore::new(GatedStore {
        inner: MemoryStore::new(),
        reads,
        refuse_writes: refuse_writes.clone(),
    });
    // The term's claim is written; what follows is refused.
    let failure = master
        .lead(master.next_master_info(), store, None)
        .await
        .unwrap();
    refuse_writes.store(true, Ordering::SeqCst);
    // The write is refused: the call is never answered as done, and the term is over.
    let weights = OperatorChange::UpdateWeights(vec![WeightInfo {
        role: Some("a".into()),
        weight: 2.0,
    }]);
    let answer = tokio::time::timeout(WAIT, master.operator(weights))
        .await
        .unwrap();
    assert!(answer.is_err(), "{answer:?}");
    let error = tokio::time::timeout(WAIT, failure).await.unwrap().unwrap();
    assert!(
        matches!(error, MasterError::RegistryConflict { .. }),
        "{error}"
    );
    assert!(
        master.snapshot().await.is_err(),
        "the term's core has stopped"
    );
}
