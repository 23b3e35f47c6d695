//! The three stores pass the same checks (round trip, compare-and-set, a deposed
//! writer refused), and the registrar's operations keep the registry's rules.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use ratufa_proto::v1::{AgentId, AgentInfo, TimeInfo};
use ratufa_zk::Connector as _;
use ratufa_zk::memory::MemoryZk;

use super::*;
use crate::core::RegistryOp;

/// What every store must do: `a` and `b` are two masters' handles on one store.
async fn check_store<S: RegistryStore>(a: S, b: S) {
    assert_eq!(a.fetch().await.unwrap(), None);
    let v1 = a.store(b"one".to_vec(), None).await.unwrap();
    assert_eq!(
        b.fetch().await.unwrap(),
        Some(Stored {
            data: b"one".to_vec(),
            version: v1
        })
    );
    // A second first write conflicts.
    assert!(matches!(
        b.store(b"other".to_vec(), None).await,
        Err(MasterError::RegistryConflict { .. })
    ));
    // b writes on top of what it read; a's write, from an older read, is refused.
    let v2 = b.store(b"two".to_vec(), Some(v1)).await.unwrap();
    assert!(v2 > v1);
    assert!(matches!(
        a.store(b"stale".to_vec(), Some(v1)).await,
        Err(MasterError::RegistryConflict { .. })
    ));
    let now = a.fetch().await.unwrap().unwrap();
    assert_eq!(now.data, b"two");
    assert_eq!(now.version, v2);
    // Empty data is data.
    let v3 = a.store(Vec::new(), Some(v2)).await.unwrap();
    assert_eq!(
        b.fetch().await.unwrap(),
        Some(Stored {
            data: Vec::new(),
            version: v3
        })
    );
}

fn fresh_dir(label: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ratufa-registry-{label}-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn the_memory_store_is_a_store() {
    let store = MemoryStore::new();
    check_store(store.clone(), store).await;
}

#[tokio::test]
async fn the_file_store_is_a_store_that_survives_reopening() {
    let dir = fresh_dir("file");
    let store = FileStore::open(&dir).unwrap();
    check_store(store.clone(), store.clone()).await;
    let before = store.fetch().await.unwrap();
    drop(store);
    let reopened = FileStore::open(&dir).unwrap();
    assert_eq!(reopened.fetch().await.unwrap(), before);
    // A temporary file left by a write that died is not the registry.
    std::fs::write(dir.join("registry.tmp"), b"torn").unwrap();
    assert_eq!(reopened.fetch().await.unwrap(), before);
    drop(reopened);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_second_master_on_one_work_dir_is_refused() {
    let dir = fresh_dir("locked");
    let first = FileStore::open(&dir).unwrap();
    match FileStore::open(&dir) {
        Err(MasterError::WorkDirInUse { path }) => assert_eq!(path, dir),
        other => panic!("expected WorkDirInUse, got {other:?}"),
    }
    drop(first);
    assert!(FileStore::open(&dir).is_ok());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_file_that_is_not_a_registry_is_reported_not_read() {
    let dir = fresh_dir("corrupt");
    std::fs::write(dir.join("registry"), b"garbage").unwrap();
    let store = FileStore::open(&dir).unwrap();
    let error = store.fetch().await.unwrap_err();
    assert!(
        matches!(error, MasterError::RegistryCorrupt { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("bad header"), "{error}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn the_zookeeper_store_is_a_store() {
    let zk = MemoryZk::new();
    let a = ZkStore::new(Arc::new(zk.connect().await.unwrap()), "/mesos/registry");
    let b = ZkStore::new(Arc::new(zk.connect().await.unwrap()), "/mesos/registry");
    check_store(a, b).await;
}

#[tokio::test]
async fn a_large_registry_is_split_into_chunks_and_old_ones_are_removed() {
    let zk = MemoryZk::new();
    let store =
        ZkStore::new(Arc::new(zk.connect().await.unwrap()), "/m/registry").with_chunk_bytes(10);
    let big: Vec<u8> = (0..95u8).collect();
    let v1 = store.store(big.clone(), None).await.unwrap();
    assert_eq!(zk.children("/m/registry").len(), 10);
    assert_eq!(store.fetch().await.unwrap().unwrap().data, big);

    let smaller: Vec<u8> = (0..25u8).collect();
    store.store(smaller.clone(), Some(v1)).await.unwrap();
    // Only the new generation's three chunks remain.
    let children = zk.children("/m/registry");
    assert_eq!(children.len(), 3, "{children:?}");
    let generation = children[0].split('-').next().unwrap().to_string();
    assert!(children.iter().all(|c| c.starts_with(&generation)));
    assert_eq!(store.fetch().await.unwrap().unwrap().data, smaller);
}

#[tokio::test]
async fn a_deposed_writer_leaves_no_chunks_behind() {
    let zk = MemoryZk::new();
    let a = ZkStore::new(Arc::new(zk.connect().await.unwrap()), "/m/registry").with_chunk_bytes(4);
    let b = ZkStore::new(Arc::new(zk.connect().await.unwrap()), "/m/registry").with_chunk_bytes(4);
    let v1 = a.store(b"12345678".to_vec(), None).await.unwrap();
    b.store(b"abcd".to_vec(), Some(v1)).await.unwrap();
    assert!(a.store(b"stale-write".to_vec(), Some(v1)).await.is_err());
    assert_eq!(zk.children("/m/registry").len(), 1);
    assert_eq!(a.fetch().await.unwrap().unwrap().data, b"abcd");
}

fn agent(id: &str) -> AgentInfo {
    AgentInfo {
        hostname: format!("{id}.example"),
        id: Some(AgentId { value: id.into() }),
        ..AgentInfo::default()
    }
}

fn id(value: &str) -> AgentId {
    AgentId {
        value: value.into(),
    }
}

#[tokio::test]
async fn the_registrar_keeps_the_rules_and_a_new_leader_recovers_them() {
    let store = MemoryStore::new();
    let mut registrar = Registrar::recover(store.clone()).await.unwrap();
    assert!(registrar.admit(agent("a1")).await.unwrap());
    assert!(registrar.admit(agent("a2")).await.unwrap());
    assert!(registrar.admit(agent("a3")).await.unwrap());
    let t = TimeInfo { nanoseconds: 7 };
    assert!(registrar.mark_unreachable(&id("a2"), t).await.unwrap());
    // Not admitted: nothing to mark, nothing written.
    assert!(!registrar.mark_unreachable(&id("zz"), t).await.unwrap());
    assert!(registrar.mark_gone(&id("a3"), t).await.unwrap());
    // A gone agent cannot come back.
    assert!(!registrar.admit(agent("a3")).await.unwrap());
    assert!(registrar.set_weights(&[("web".into(), 3.0)]).await.unwrap());

    // The next leader reads the same.
    let next = Registrar::recover(store.clone()).await.unwrap();
    assert!(next.is_admitted(&id("a1")));
    assert!(next.is_unreachable(&id("a2")) && !next.is_admitted(&id("a2")));
    assert!(next.is_gone(&id("a3")) && !next.is_admitted(&id("a3")));
    assert_eq!(next.registry().weights.len(), 1);

    // An unreachable agent that comes back is admitted again.
    let mut next = next;
    assert!(next.admit(agent("a2")).await.unwrap());
    assert!(next.is_admitted(&id("a2")) && !next.is_unreachable(&id("a2")));

    // The old leader is deposed: its write fails and its view is unchanged.
    let error = registrar.admit(agent("a9")).await.unwrap_err();
    assert!(
        matches!(error, MasterError::RegistryConflict { .. }),
        "{error}"
    );
    assert!(!registrar.is_admitted(&id("a9")));
}

#[tokio::test]
async fn a_new_terms_claim_leaves_the_deposed_leader_unable_to_write() {
    let store = MemoryStore::new();
    let mut old = Registrar::recover(store.clone()).await.unwrap();
    old.claim(master_info("m1")).await.unwrap();
    assert!(old.admit(agent("a1")).await.unwrap());
    // The next leader reads the registry and claims it, writing nothing else.
    let mut new = Registrar::recover(store.clone()).await.unwrap();
    assert_eq!(
        new.registry().master.as_ref().map(|m| m.id.as_str()),
        Some("m1")
    );
    new.claim(master_info("m2")).await.unwrap();
    // The old leader wakes up and acts on what it knew: refused.
    let error = old
        .mark_unreachable(&id("a1"), TimeInfo { nanoseconds: 1 })
        .await
        .unwrap_err();
    assert!(
        matches!(error, MasterError::RegistryConflict { .. }),
        "{error}"
    );
    let now = Registrar::recover(store).await.unwrap();
    assert!(now.is_admitted(&id("a1")));
    assert_eq!(
        now.registry().master.as_ref().map(|m| m.id.as_str()),
        Some("m2")
    );
}

fn master_info(id: &str) -> ratufa_proto::v1::MasterInfo {
    ratufa_proto::v1::MasterInfo {
        id: id.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_registry_that_does_not_decode_is_an_error_not_an_empty_registry() {
    let store = MemoryStore::new();
    store.store(vec![0xff, 0xff, 0xff], None).await.unwrap();
    match Registrar::recover(store).await {
        Err(MasterError::RegistryCorrupt { store, .. }) => assert_eq!(store, "memory"),
        other => panic!("expected RegistryCorrupt, got {:?}", other.err()),
    }
}

#[tokio::test]
async fn operations_queued_together_cost_one_write_through_any_store() {
    let store = SharedStore::new(MemoryStore::new());
    let mut registrar = Registrar::recover(store.clone()).await.unwrap();
    let time = TimeInfo { nanoseconds: 5 };
    let ops = [
        RegistryOp::Admit(agent("a")),
        RegistryOp::Admit(agent("b")),
        RegistryOp::Admit(agent("c")),
        RegistryOp::Remove(id("c")),
        RegistryOp::MarkUnreachable {
            agent_id: id("a"),
            time,
        },
        RegistryOp::MarkGone {
            agent_id: id("b"),
            time,
        },
        RegistryOp::SetWeights(vec![("r".into(), 2.5)]),
    ];
    assert!(registrar.apply(&ops).await.unwrap());
    assert_eq!(store.fetch().await.unwrap().unwrap().version, 1);
    let recovered = Registrar::recover(store).await.unwrap();
    assert!(recovered.is_unreachable(&id("a")));
    assert!(recovered.is_gone(&id("b")));
    assert!(!recovered.is_admitted(&id("b")));
    // Removed: neither admitted, unreachable nor gone.
    assert!(!recovered.is_admitted(&id("c")));
    assert!(!recovered.is_unreachable(&id("c")));
    assert!(!recovered.is_gone(&id("c")));
    assert_eq!(recovered.registry().weights.len(), 1);
    // Nothing that changes anything: no write.
    let mut again = recovered;
    assert!(!again.apply(&[RegistryOp::Admit(agent("b"))]).await.unwrap());
    assert!(!again.apply(&[RegistryOp::Remove(id("c"))]).await.unwrap());
}
