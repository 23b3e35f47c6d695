//! The agent link over a real socket, with a hand-rolled protobuf agent: registration,
//! the calls' checks, commands on the stream, offers made from the agent, and the
//! read-only endpoints showing it all.

// Test scaffolding: a failure here should fail the test loudly.
#![allow(clippy::unwrap_used)]

mod support;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode};
use prost::Message;
use ratufa_master::MasterConfig;
use ratufa_proto::Encoding;
use ratufa_proto::ratufa::agentlink::{self, command};
use ratufa_proto::resources::Resources;
use ratufa_proto::v1::scheduler::event;
use ratufa_proto::v1::{AgentId, AgentInfo, TaskId, TaskState, TaskStatus};
use serde_json::Value;

use support::{Master, Stream, body_text, info};

const AGENT_API: &str = "/agent/api/v1";

fn agent_info(resources: &str) -> AgentInfo {
    AgentInfo {
        hostname: "agent.example".to_string(),
        port: Some(5051),
        resources: Resources::parse(resources, "*").unwrap().into_vec(),
        ..AgentInfo::default()
    }
}

fn subscribe(info: AgentInfo) -> agentlink::Call {
    agentlink::Call {
        r#type: Some(agentlink::call::Type::Subscribe as i32),
        subscribe: Some(agentlink::call::Subscribe {
            agent_info: info,
            ..agentlink::call::Subscribe::default()
        }),
        ..agentlink::Call::default()
    }
}

async fn post(
    master: &Master,
    call: &agentlink::Call,
    content_type: &str,
    stream_id: Option<&str>,
) -> hyper::Response<hyper::body::Incoming> {
    let mut request = Request::post(AGENT_API)
        .header("Host", master.addr.to_string())
        .header("Content-Type", content_type);
    if let Some(stream_id) = stream_id {
        request = request.header("Mesos-Stream-Id", stream_id);
    }
    master
        .request(
            request
                .body(Full::new(Bytes::from(call.encode_to_vec())))
                .unwrap(),
        )
        .await
}

/// An agent's command stream.
struct AgentStream {
    stream: Stream,
}

impl AgentStream {
    async fn open(master: &Master, info: AgentInfo) -> AgentStream {
        let response = post(
            master,
            &subscribe(info),
            Encoding::Protobuf.media_type(),
            None,
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
        AgentStream {
            stream: Stream::new(Encoding::Protobuf, response),
        }
    }

    async fn next(&mut self) -> Option<agentlink::Command> {
        let record = self.stream.next_record().await?;
        Some(agentlink::Command::decode(record).unwrap())
    }

    async fn expect(&mut self, t: command::Type) -> agentlink::Command {
        let command = self.next().await.expect("the agent stream ended");
        assert_eq!(command.r#type, Some(t as i32), "{command:?}");
        command
    }
}

fn call(t: agentlink::call::Type, agent_id: &AgentId) -> agentlink::Call {
    agentlink::Call {
        r#type: Some(t as i32),
        agent_id: Some(agent_id.clone()),
        ..agentlink::Call::default()
    }
}

async fn get_json(master: &Master, path: &str) -> Value {
    let response = master
        .request(
            Request::get(path)
                .header("Host", master.addr.to_string())
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn an_agent_registers_and_its_resources_are_offered() {
    let master = Master::start(MasterConfig::default()).await;
    let mut agent = AgentStream::open(&master, agent_info("cpus:4;mem:1024")).await;
    let subscribed = agent.expect(command::Type::Subscribed).await;
    let subscribed = subscribed.subscribed.unwrap();
    let agent_id = subscribed.agent_id;
    let master_id = subscribed.master_info.unwrap().id;
    assert_eq!(agent_id.value, format!("{master_id}-S0"));
    assert_eq!(subscribed.ping_interval_seconds, Some(15.0));
    assert!(!agent.stream.stream_id.is_empty());

    // A framework is offered what the agent has.
    let mut framework = master.subscribe(Encoding::Json, info("f")).await;
    framework.expect_subscribed().await;
    let offers = loop {
        let event = framework
            .next_event()
            .await
            .expect("the framework stream ended");
        if event.r#type != Some(event::Type::Heartbeat as i32) {
            assert_eq!(event.r#type, Some(event::Type::Offers as i32), "{event:?}");
            break event;
        }
    };
    let offers = offers.offers.unwrap().offers;
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].agent_id, agent_id);
    assert_eq!(offers[0].hostname, "agent.example");
    let offered = Resources::try_from_vec(offers[0].resources.clone()).unwrap();
    assert_eq!((offered.cpus(), offered.mem()), (4.0, 1024.0));

    // The state endpoints show both.
    for path in [
        "/master/state",
        "/state",
        "/state.json",
        "/master/state.json",
    ] {
        let state = get_json(&master, path).await;
        assert_eq!(state["id"], master_id.as_str());
        assert_eq!(state["activated_slaves"], 1.0);
        let slave = &state["slaves"][0];
        assert_eq!(slave["id"], agent_id.value.as_str());
        assert_eq!(slave["hostname"], "agent.example");
        assert_eq!(slave["resources"]["cpus"], 4.0);
        assert_eq!(slave["resources"]["mem"], 1024.0);
        assert_eq!(slave["offered_resources"]["cpus"], 4.0);
        assert_eq!(slave["active"], true);
        let framework = &state["frameworks"][0];
        assert_eq!(framework["name"], "f");
        assert_eq!(framework["offered_resources"]["cpus"], 4.0);
        assert_eq!(framework["offers"].as_array().unwrap().len(), 1);
        assert_eq!(framework["role"], "*");
        assert!(state["flags"]["allocation_interval"].is_string());
    }
    let slaves = get_json(&master, "/master/slaves").await;
    assert_eq!(slaves["slaves"].as_array().unwrap().len(), 1);
    let frameworks = get_json(&master, "/frameworks").await;
    assert_eq!(frameworks["frameworks"].as_array().unwrap().len(), 1);
    let metrics = get_json(&master, "/metrics/snapshot").await;
    assert_eq!(metrics["master/slave_registrations"], 1.0);
    assert_eq!(metrics["master/slaves_active"], 1.0);
    assert_eq!(metrics["master/frameworks_active"], 1.0);
    assert_eq!(metrics["master/outstanding_offers"], 1.0);
    assert_eq!(metrics["master/cpus_total"], 4.0);
    assert!(metrics["master/offers_sent"].as_f64().unwrap() >= 1.0);

    // PONG on the agent's stream is taken.
    let response = post(
        &master,
        &call(agentlink::call::Type::Pong, &agent_id),
        Encoding::Protobuf.media_type(),
        Some(&agent.stream.stream_id),
    )
    .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    master.stop().await.unwrap();
}

#[tokio::test]
async fn calls_are_checked_before_the_core() {
    let master = Master::start(MasterConfig::default()).await;
    let mut agent = AgentStream::open(&master, agent_info("cpus:1;mem:64")).await;
    let agent_id = agent
        .expect(command::Type::Subscribed)
        .await
        .subscribed
        .unwrap()
        .agent_id;
    let pong = call(agentlink::call::Type::Pong, &agent_id);

    // Protobuf only.
    let response = post(&master, &pong, "application/json", Some("x")).await;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(body_text(response).await.contains("protobuf"));
    // Garbage.
    let response = master
        .request(
            Request::post(AGENT_API)
                .header("Host", master.addr.to_string())
                .header("Content-Type", Encoding::Protobuf.media_type())
                .body(Full::new(Bytes::from_static(b"\xff\xff\xff")))
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // No stream id.
    let response = post(&master, &pong, Encoding::Protobuf.media_type(), None).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(body_text(response).await.contains("Mesos-Stream-Id"));
    // A stream id nobody holds: subscribe again.
    let response = post(
        &master,
        &pong,
        Encoding::Protobuf.media_type(),
        Some("not-a-stream"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // No agent id.
    let mut anonymous = pong.clone();
    anonymous.agent_id = None;
    let response = post(
        &master,
        &anonymous,
        Encoding::Protobuf.media_type(),
        Some(&agent.stream.stream_id),
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(body_text(response).await.contains("agent_id"));
    // SUBSCRIBE with a stream id, or without its message.
    let response = post(
        &master,
        &subscribe(agent_info("cpus:1")),
        Encoding::Protobuf.media_type(),
        Some(&agent.stream.stream_id),
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let mut empty = subscribe(agent_info("cpus:1"));
    empty.subscribe = None;
    let response = post(&master, &empty, Encoding::Protobuf.media_type(), None).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // GET is not a call.
    let response = master
        .request(
            Request::get(AGENT_API)
                .header("Host", master.addr.to_string())
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    master.stop().await.unwrap();
}

#[tokio::test]
async fn a_status_update_for_an_unknown_task_is_refused_and_the_stream_lives_on() {
    let master = Master::start(MasterConfig::default()).await;
    let mut agent = AgentStream::open(&master, agent_info("cpus:1;mem:64")).await;
    let agent_id = agent
        .expect(command::Type::Subscribed)
        .await
        .subscribed
        .unwrap()
        .agent_id;
    let mut update = call(agentlink::call::Type::StatusUpdate, &agent_id);
    update.status_update = Some(agentlink::call::StatusUpdate {
        framework_id: ratufa_proto::v1::FrameworkId {
            value: "nobody".to_string(),
        },
        status: TaskStatus {
            task_id: TaskId {
                value: "ghost".to_string(),
            },
            state: TaskState::TaskRunning as i32,
            uuid: Some(vec![7; 16]),
            ..TaskStatus::default()
        },
        latest_state: None,
    });
    let response = post(
        &master,
        &update,
        Encoding::Protobuf.media_type(),
        Some(&agent.stream.stream_id),
    )
    .await;
    // Whatever the core makes of it, the master stays up and the agent registered.
    assert!(
        response.status() == StatusCode::ACCEPTED || response.status() == StatusCode::BAD_REQUEST,
        "{}",
        response.status()
    );
    let metrics = get_json(&master, "/metrics/snapshot").await;
    assert_eq!(metrics["master/slaves_connected"], 1.0);
    master.stop().await.unwrap();
}

#[tokio::test]
async fn an_agent_that_goes_away_is_disconnected() {
    let master = Master::start(MasterConfig::default()).await;
    let mut agent = AgentStream::open(&master, agent_info("cpus:1;mem:64")).await;
    agent.expect(command::Type::Subscribed).await;
    drop(agent);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let metrics = get_json(&master, "/metrics/snapshot").await;
        if metrics["master/slaves_disconnected"] == 1.0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the agent never showed as disconnected: {metrics}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    master.stop().await.unwrap();
}
