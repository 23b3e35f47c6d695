//! The agent against a real master over real sockets: it registers, and when the
//! master goes away and another comes up at the same address, it reconnects with
//! backoff and re-registers under the same agent id.

// Test scaffolding: a failure here should fail the test loudly.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use ratufa_agent::AgentConfig;
use ratufa_master::MasterConfig;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const PATIENCE: Duration = Duration::from_secs(10);

struct RunningMaster {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), ratufa_master::MasterError>>,
}

async fn start_master(listener: TcpListener) -> RunningMaster {
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(ratufa_master::serve(
        MasterConfig::default(),
        listener,
        async move {
            let _ = stopped.await;
        },
    ));
    RunningMaster { stop, task }
}

async fn state(addr: SocketAddr) -> Option<Value> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let uri = format!("http://{addr}/master/state").parse().unwrap();
    let response = client.get(uri).await.ok()?;
    let body = response.into_body().collect().await.ok()?.to_bytes();
    serde_json::from_slice(&body).ok()
}

/// The ids of the agents the master at `addr` has registered, once there are some.
async fn registered_agents(addr: SocketAddr) -> Vec<String> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(state) = state(addr).await {
            let ids: Vec<String> = state["slaves"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|s| s["active"] == true)
                .filter_map(|s| s["id"].as_str().map(str::to_string))
                .collect();
            if !ids.is_empty() {
                return ids;
            }
        }
        assert!(Instant::now() < deadline, "no agent registered at {addr}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_reregisters_with_a_new_master_under_its_id() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let master = start_master(listener).await;

    let work_dir = tempfile::tempdir().unwrap();
    let config = AgentConfig {
        port: 0,
        hostname: Some("localhost".to_string()),
        resources: Some("cpus:2;mem:256;disk:100".to_string()),
        attributes: Some("rack:r1".to_string()),
        registration_backoff_factor: Duration::from_millis(50),
        ..AgentConfig::new(addr.to_string(), work_dir.path())
    };
    let agent_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let agent_addr = agent_listener.local_addr().unwrap();
    let (stop_agent, agent_stopped) = oneshot::channel::<()>();
    let agent = tokio::spawn(ratufa_agent::serve(config, agent_listener, async move {
        let _ = agent_stopped.await;
    }));

    let first = registered_agents(addr).await;
    assert_eq!(first.len(), 1);
    let state = state(addr).await.unwrap();
    let slave = &state["slaves"][0];
    assert_eq!(slave["hostname"], "localhost");
    assert_eq!(slave["port"], agent_addr.port());
    assert_eq!(slave["resources"]["cpus"], 2.0);
    assert_eq!(slave["resources"]["ports"], "[31000-32000]");
    assert_eq!(slave["attributes"]["rack"], "r1");

    // The agent serves its own /health meanwhile.
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let health = client
        .get(format!("http://{agent_addr}/health").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    // The master goes; another takes its address.
    let _ = master.stop.send(());
    master.task.await.unwrap().unwrap();
    let listener = TcpListener::bind(addr).await.unwrap();
    let master = start_master(listener).await;

    let second = registered_agents(addr).await;
    assert_eq!(second, first, "re-registered under the id it had");

    let _ = stop_agent.send(());
    tokio::time::timeout(PATIENCE, agent)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let _ = master.stop.send(());
    master.task.await.unwrap().unwrap();
}
