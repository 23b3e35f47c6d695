//! Registry writes through a real ZooKeeper, in the shape of Mesos's Registrar: every
//! write replaces the whole registry (compare-and-set on its head node, chunked below
//! the node size limit), and operations that arrive while a write is in flight are
//! applied together in the next one (BATCH operations per write here).
//!
//! Phases, for AGENTS agents: admit them all; mark them all unreachable; recover the
//! registry as a new leader would (a new session reads and decodes it); mark them all
//! gone. Baseline in the same run: sequential 1 KiB `setData` round trips on one
//! session (ZooKeeper's own rate for one client, each write fsynced by the server).
//!
//! Run: `cargo bench --bench registry_zk` (AGENTS=10000 BATCH=100 by default). Needs
//! ZooKeeper's jar (scripts/setup-zookeeper.sh); it starts its own server.

#[path = "../tests/support/scratch.rs"]
mod scratch;
/// What tests/support/zookeeper.rs takes from the test support.
mod support {
    pub use crate::scratch::{free_port, fresh_dir};
}
#[path = "../tests/support/zookeeper.rs"]
mod zookeeper;

use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message as _;
use ratufa_master::registry::{Registrar, ZkStore};
use ratufa_proto::ratufa::registry::registry::{Agent, GoneAgent, UnreachableAgent};
use ratufa_proto::v1::{AgentId, AgentInfo, Attribute, Resource, TimeInfo, value};
use ratufa_zk::{Connector as _, Session as _, ZkConnector, ZkSession, ZkUrl};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn scalar(name: &str, amount: f64) -> Resource {
    Resource {
        name: name.into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value: amount }),
        ..Resource::default()
    }
}

/// An agent as a registry holds it: id, hostname, resources, two attributes.
fn agent(n: usize) -> AgentInfo {
    AgentInfo {
        hostname: format!("agent-{n}.rack-{}.example.com", n % 64),
        id: Some(AgentId {
            value: format!("2f1c7a4e-5b1d-4c22-9a7e-0d3b9c0f4e21-S{n}"),
        }),
        port: Some(5051),
        resources: vec![
            scalar("cpus", 24.0),
            scalar("mem", 65536.0),
            scalar("disk", 409_600.0),
        ],
        attributes: vec![
            Attribute {
                name: "rack".into(),
                r#type: value::Type::Text as i32,
                text: Some(value::Text {
                    value: format!("rack-{}", n % 64),
                }),
                ..Attribute::default()
            },
            Attribute {
                name: "zone".into(),
                r#type: value::Type::Text as i32,
                text: Some(value::Text {
                    value: "us-east-1a".into(),
                }),
                ..Attribute::default()
            },
        ],
        ..AgentInfo::default()
    }
}

async fn session(zk: &zookeeper::ZooKeeper) -> ZkSession {
    let url = ZkUrl::parse(&zk.url("/mesos")).expect("a zk:// URL");
    ZkConnector::new(url, Duration::from_secs(30))
        .connect()
        .await
        .expect("a ZooKeeper session")
}

fn report(what: &str, writes: usize, ops: usize, took: Duration, bytes: usize) {
    let secs = took.as_secs_f64();
    println!(
        "{what:<44} {writes:>6} writes {:>9.1} writes/s {:>10.0} ops/s  final {:>6} KiB",
        writes as f64 / secs,
        ops as f64 / secs,
        bytes / 1024
    );
}

#[tokio::main]
async fn main() {
    if !zookeeper::available() {
        eprintln!(
            "{} is missing: run scripts/setup-zookeeper.sh",
            zookeeper::ZOOKEEPER_JAR
        );
        std::process::exit(1);
    }
    let agents = env("AGENTS", 10_000);
    let batch = env("BATCH", 100).max(1);
    let zk = zookeeper::ZooKeeper::standalone();
    println!("registry through ZooKeeper: {agents} agents, {batch} operations per write");

    // Baseline: ZooKeeper's own sequential write rate for one client.
    let raw = session(&zk).await;
    ratufa_zk::session::ensure_path(&raw, "/baseline")
        .await
        .expect("/baseline");
    let data = vec![7u8; 1024];
    let rounds = 500;
    let start = Instant::now();
    for _ in 0..rounds {
        raw.set_data("/baseline", &data, None)
            .await
            .expect("setData");
    }
    report(
        "baseline: 1 KiB setData, one session",
        rounds,
        rounds,
        start.elapsed(),
        1024,
    );

    let store = ZkStore::new(Arc::new(session(&zk).await), "/mesos/registry");
    let mut registrar = Registrar::recover(store).await.expect("recover");
    let ids: Vec<AgentId> = (0..agents)
        .map(|n| agent(n).id.unwrap_or_default())
        .collect();

    let start = Instant::now();
    let mut writes = 0;
    for chunk in (0..agents).collect::<Vec<_>>().chunks(batch) {
        registrar
            .update(|registry| {
                registry
                    .admitted
                    .extend(chunk.iter().map(|n| Agent { info: agent(*n) }));
                true
            })
            .await
            .expect("admit");
        writes += 1;
    }
    let size = registrar.registry().encoded_len();
    report("admit every agent", writes, agents, start.elapsed(), size);

    let now = TimeInfo { nanoseconds: 1 };
    let start = Instant::now();
    let mut writes = 0;
    for chunk in ids.chunks(batch) {
        registrar
            .update(|registry| {
                let marked: std::collections::HashSet<&str> =
                    chunk.iter().map(|id| id.value.as_str()).collect();
                registry.admitted.retain(|a| {
                    !a.info
                        .id
                        .as_ref()
                        .is_some_and(|id| marked.contains(id.value.as_str()))
                });
                registry
                    .unreachable
                    .extend(chunk.iter().map(|id| UnreachableAgent {
                        id: id.clone(),
                        timestamp: now,
                    }));
                true
            })
            .await
            .expect("mark unreachable");
        writes += 1;
    }
    let size = registrar.registry().encoded_len();
    report(
        "mark every agent unreachable",
        writes,
        agents,
        start.elapsed(),
        size,
    );

    let start = Instant::now();
    let recovered = Registrar::recover(ZkStore::new(
        Arc::new(session(&zk).await),
        "/mesos/registry",
    ))
    .await
    .expect("recover");
    let took = start.elapsed();
    assert_eq!(recovered.registry().unreachable.len(), agents);
    println!(
        "{:<44} {:>9.1} ms for {} KiB ({} unreachable agents)",
        "recover (new session: read + decode)",
        took.as_secs_f64() * 1000.0,
        recovered.registry().encoded_len() / 1024,
        agents
    );

    let start = Instant::now();
    let mut writes = 0;
    for chunk in ids.chunks(batch) {
        registrar
            .update(|registry| {
                let gone: std::collections::HashSet<&str> =
                    chunk.iter().map(|id| id.value.as_str()).collect();
                registry
                    .unreachable
                    .retain(|u| !gone.contains(u.id.value.as_str()));
                registry.gone.extend(chunk.iter().map(|id| GoneAgent {
                    id: id.clone(),
                    timestamp: now,
                }));
                true
            })
            .await
            .expect("mark gone");
        writes += 1;
    }
    let size = registrar.registry().encoded_len();
    report(
        "mark every agent gone",
        writes,
        agents,
        start.elapsed(),
        size,
    );
}
