//! Tasks launched per second end to end through the real HTTP APIs: a master served on
//! a loopback socket, AGENTS simulated agents speaking the agent link over HTTP (they
//! answer RUN_TASK with a TASK_RUNNING update instead of starting a process), and one
//! scheduler speaking the v1 scheduler API in protobuf: SUBSCRIBE, OFFERS, ACCEPT with
//! many LAUNCHes per offer, UPDATE (TASK_RUNNING) received, ACKNOWLEDGE sent.
//!
//! Baseline in the same run: plain HTTP/1.1 POST round trips per second between the
//! same kind of client and an axum server doing nothing, at the same concurrency — a
//! launched task costs at least two such round trips (the agent's update and the
//! scheduler's ACK).
//!
//! Run: `cargo bench --bench launch_rate` (AGENTS=1000 TASKS=50000 by default).

mod support;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use prost::Message as _;
use ratufa_agent::link::MasterLink;
use ratufa_master::MasterConfig;
use ratufa_proto::ratufa::agentlink::{Call as AgentCall, call as agent_call, command};
use ratufa_proto::v1::scheduler::{Call, call, event};
use ratufa_proto::v1::{
    self, AgentInfo, FrameworkInfo, TaskInfo, TaskState, TaskStatus, offer, task_status,
};
use support::{
    HttpClient, Subscription, acknowledgement, client, env, post, scalar, scalar_sum, true_task,
};

/// Calls in flight at once, per side (agents together; the scheduler): bounded so the
/// client pools reuse connections instead of opening one per call.
const IN_FLIGHT: usize = 256;

/// A simulated agent: registers, answers PING with PONG and RUN_TASK with TASK_RUNNING.
async fn sim_agent(link: MasterLink, index: u64, limit: Arc<tokio::sync::Semaphore>) {
    let subscribe = AgentCall {
        r#type: Some(agent_call::Type::Subscribe as i32),
        subscribe: Some(agent_call::Subscribe {
            agent_info: AgentInfo {
                hostname: format!("sim-agent-{index}"),
                port: Some(5051),
                resources: vec![scalar("cpus", 20.0), scalar("mem", 10240.0)],
                ..Default::default()
            },
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut stream = link.subscribe(&subscribe).await.expect("agent subscribe");
    let stream_id = stream.stream_id.clone();
    let mut agent_id = None;
    while let Ok(Some(command)) = stream.next().await {
        match command.r#type() {
            command::Type::Subscribed => {
                agent_id = command.subscribed.map(|s| s.agent_id);
            }
            command::Type::Ping => {
                let pong = AgentCall {
                    r#type: Some(agent_call::Type::Pong as i32),
                    agent_id: agent_id.clone(),
                    ..Default::default()
                };
                let link = link.clone();
                let stream_id = stream_id.clone();
                tokio::spawn(async move {
                    let _ = link.call(&pong, &stream_id).await;
                });
            }
            command::Type::RunTask => {
                let Some(run) = command.run_task else {
                    continue;
                };
                let update = AgentCall {
                    r#type: Some(agent_call::Type::StatusUpdate as i32),
                    agent_id: agent_id.clone(),
                    status_update: Some(agent_call::StatusUpdate {
                        framework_id: run.framework.id.clone().unwrap_or_default(),
                        status: TaskStatus {
                            task_id: run.task.task_id.clone(),
                            state: TaskState::TaskRunning as i32,
                            source: Some(task_status::Source::Executor as i32),
                            agent_id: agent_id.clone(),
                            executor_id: Some(v1::ExecutorId {
                                value: run.task.task_id.value.clone(),
                            }),
                            uuid: Some(uuid::Uuid::new_v4().as_bytes().to_vec()),
                            timestamp: Some(0.0),
                            ..Default::default()
                        },
                        latest_state: None,
                    }),
                    ..Default::default()
                };
                let link = link.clone();
                let stream_id = stream_id.clone();
                let permit = limit.clone().acquire_owned().await.expect("permit");
                tokio::spawn(async move {
                    let _ = link.call(&update, &stream_id).await;
                    drop(permit);
                });
            }
            _ => {}
        }
    }
}

async fn metric(client: &HttpClient, base: &str, name: &str) -> f64 {
    let response = client
        .get(format!("{base}/metrics/snapshot").parse().expect("uri"))
        .await
        .expect("GET metrics");
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    doc.get(name).and_then(|v| v.as_f64()).unwrap_or(0.0)
}

struct Outcome {
    elapsed: Duration,
    accepts: u64,
}

async fn scheduler(client: HttpClient, base: String, tasks: u64) -> Outcome {
    let uri = format!("{base}/api/v1/scheduler");
    let info = FrameworkInfo {
        user: "bench".into(),
        name: "launch-rate".into(),
        ..Default::default()
    };
    let mut subscription = Subscription::open(&client, &uri, info).await;
    let stream_id = subscription.stream_id.clone();
    let mut framework_id = None;
    let mut launched = 0u64;
    let mut running = 0u64;
    let mut accepts = 0u64;
    let acked = Arc::new(AtomicU64::new(0));
    let limit = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let mut start = None;
    while let Some(events) = subscription.next_events().await {
        for event in events {
            match event.r#type() {
                event::Type::Subscribed => {
                    framework_id = subscription.framework_id.clone();
                }
                event::Type::Offers => {
                    let offers = event.offers.map(|o| o.offers).unwrap_or_default();
                    for offer in offers {
                        if launched >= tasks {
                            break;
                        }
                        let fit = ((scalar_sum(&offer.resources, "cpus") + 1e-9) / 0.1) as u64;
                        let count = fit.min(tasks - launched);
                        if count == 0 {
                            continue;
                        }
                        let task_infos: Vec<TaskInfo> = (launched..launched + count)
                            .map(|i| true_task(i, offer.agent_id.clone(), 0.1, 5.0))
                            .collect();
                        launched += count;
                        accepts += 1;
                        let accept = Call {
                            framework_id: framework_id.clone(),
                            r#type: Some(call::Type::Accept as i32),
                            accept: Some(call::Accept {
                                offer_ids: vec![offer.id.clone()],
                                operations: vec![offer::Operation {
                                    r#type: Some(offer::operation::Type::Launch as i32),
                                    launch: Some(offer::operation::Launch { task_infos }),
                                    ..Default::default()
                                }],
                                filters: None,
                            }),
                            ..Default::default()
                        };
                        start.get_or_insert_with(Instant::now);
                        let (client, uri, sid) = (client.clone(), uri.clone(), stream_id.clone());
                        tokio::spawn(async move {
                            let r = post(&client, &uri, Some(&sid), accept.encode_to_vec()).await;
                            assert_eq!(r.status(), 202, "accept");
                        });
                    }
                }
                event::Type::Update => {
                    let Some(status) = event.update.map(|u| u.status) else {
                        continue;
                    };
                    if status.state() == TaskState::TaskRunning {
                        running += 1;
                    }
                    if let Some(ack) = acknowledgement(framework_id.clone(), &status) {
                        let (client, uri, sid) = (client.clone(), uri.clone(), stream_id.clone());
                        let acked = acked.clone();
                        let permit = limit.clone().acquire_owned().await.expect("permit");
                        tokio::spawn(async move {
                            let r = post(&client, &uri, Some(&sid), ack.encode_to_vec()).await;
                            assert_eq!(r.status(), 202, "acknowledge");
                            acked.fetch_add(1, Ordering::Relaxed);
                            drop(permit);
                        });
                    }
                    if running >= tasks {
                        // Wait for the last ACKs to be answered.
                        while acked.load(Ordering::Relaxed) < running {
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                        return Outcome {
                            elapsed: start.map(|s| s.elapsed()).unwrap_or_default(),
                            accepts,
                        };
                    }
                }
                _ => {}
            }
        }
    }
    panic!("the scheduler's event stream ended after {running} of {tasks} tasks");
}

/// The machine's own limit for what each task costs at least twice: an HTTP/1.1 POST
/// round trip, same client, a server doing nothing, the same number in flight.
async fn raw_post_rate(n: u64, in_flight: usize) -> f64 {
    use axum::routing::post as axum_post;
    let app = axum::Router::new().route(
        "/",
        axum_post(|_body: Bytes| async { axum::http::StatusCode::ACCEPTED }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let client = client();
    let uri = format!("http://{addr}/");
    let semaphore = Arc::new(tokio::sync::Semaphore::new(in_flight));
    let start = Instant::now();
    let mut handles = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let permit = semaphore.clone().acquire_owned().await.expect("permit");
        let (client, uri) = (client.clone(), uri.clone());
        handles.push(tokio::spawn(async move {
            let r = post(&client, &uri, None, vec![0u8; 64]).await;
            assert_eq!(r.status(), 202);
            drop(permit);
        }));
    }
    for h in handles {
        h.await.expect("join");
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let agents = env("AGENTS", 1000);
    let tasks = env("TASKS", 50_000);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let config = MasterConfig {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: addr.port(),
            hostname: Some("localhost".into()),
            ..Default::default()
        };
        tokio::spawn(async move {
            ratufa_master::serve(config, listener, std::future::pending())
                .await
                .expect("master");
        });
        let base = format!("http://{addr}");
        let http = client();
        let start = Instant::now();
        let link = MasterLink::new(&addr.to_string(), None).expect("link");
        let limit = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
        for i in 0..agents {
            tokio::spawn(sim_agent(link.clone(), i, limit.clone()));
        }
        while metric(&http, &base, "master/slaves_active").await < agents as f64 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let registration = start.elapsed();

        let outcome = scheduler(http.clone(), base.clone(), tasks).await;
        let rate = tasks as f64 / outcome.elapsed.as_secs_f64();
        let baseline = raw_post_rate(tasks, IN_FLIGHT).await;

        println!("launch_rate: {tasks} tasks on {agents} simulated agents (cpus:20;mem:10240), tasks cpus:0.1;mem:5");
        println!(
            "  agents registered over the agent link in {:.2} s ({:.0} agents/s)",
            registration.as_secs_f64(),
            agents as f64 / registration.as_secs_f64()
        );
        println!(
            "  first ACCEPT to last TASK_RUNNING received and acknowledged: {:.2} s, {} ACCEPTs",
            outcome.elapsed.as_secs_f64(),
            outcome.accepts
        );
        println!("  tasks launched per second, end to end       {rate:>10.0}");
        println!("  baseline: raw HTTP POST round trips/s       {baseline:>10.0}");
        println!(
            "  (each task costs >= 2 such round trips: the agent's update and the ACK; bound {:.0}/s)",
            baseline / 2.0
        );
    });
}
