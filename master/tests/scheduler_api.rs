//! The scheduler API over a real socket: a master started with `serve` on port 0,
//! a hyper client, protobuf and JSON.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns too

mod support;

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, StatusCode};
use ratufa_master::MasterConfig;
use ratufa_proto::Encoding;
use ratufa_proto::v1::scheduler::{call, event};
use support::*;

fn config() -> MasterConfig {
    MasterConfig {
        ip: "127.0.0.1".parse().unwrap(),
        port: 0,
        heartbeat_interval: Duration::from_millis(200),
        ..MasterConfig::default()
    }
}

async fn subscribe_then_heartbeats(encoding: Encoding) {
    let master = Master::start(config()).await;
    let mut stream = master.subscribe(encoding, info("hello")).await;
    assert_eq!(stream.content_type, encoding.media_type());
    assert!(!stream.stream_id.is_empty());

    let event = stream.expect(event::Type::Subscribed).await;
    let subscribed = event.subscribed.unwrap();
    let master_info = subscribed.master_info.unwrap();
    assert_eq!(
        subscribed.framework_id.value,
        format!("{}-0000", master_info.id)
    );
    assert_eq!(subscribed.heartbeat_interval_seconds, Some(0.2));
    // The listener's real port is advertised, not the 0 it was configured with.
    assert_eq!(master_info.port, u32::from(master.addr.port()));
    assert_eq!(master_info.ip, 16_777_343);
    assert_eq!(master_info.hostname.as_deref(), Some("localhost"));

    // A heartbeat right away, then another after the interval.
    stream.expect(event::Type::Heartbeat).await;
    stream.expect(event::Type::Heartbeat).await;
    master.stop().await.unwrap();
}

#[tokio::test]
async fn subscribe_then_heartbeats_protobuf() {
    subscribe_then_heartbeats(Encoding::Protobuf).await;
}

#[tokio::test]
async fn subscribe_then_heartbeats_json() {
    subscribe_then_heartbeats(Encoding::Json).await;
}

#[tokio::test]
async fn json_events_are_mesos_json() {
    let master = Master::start(config()).await;
    let mut stream = master.subscribe(Encoding::Json, info("json")).await;
    let record = stream.next_record().await.unwrap();
    let value: serde_json::Value = serde_json::from_slice(&record).unwrap();
    assert_eq!(value["type"], "SUBSCRIBED");
    assert!(value["subscribed"]["framework_id"]["value"].is_string());
    assert_eq!(value["subscribed"]["heartbeat_interval_seconds"], 0.2);
    master.stop().await.unwrap();
}

#[tokio::test]
async fn failover_closes_the_old_stream_with_an_error() {
    let master = Master::start(config()).await;
    let mut first = master.subscribe(Encoding::Protobuf, info("f")).await;
    let id = first.expect_subscribed().await;

    let mut info = info("f");
    info.id = Some(id.clone());
    let mut second = master.subscribe(Encoding::Json, info).await;
    assert_eq!(second.expect_subscribed().await, id);
    assert_ne!(second.stream_id, first.stream_id);

    // The old stream: its heartbeat, then the ERROR, then the end.
    let mut saw_error = false;
    while let Some(event) = first.next_event().await {
        match event.r#type {
            Some(t) if t == event::Type::Heartbeat as i32 => assert!(!saw_error),
            Some(t) if t == event::Type::Error as i32 => {
                assert_eq!(event.error.unwrap().message, "Framework failed over");
                saw_error = true;
            }
            other => panic!("unexpected event type {other:?}"),
        }
    }
    assert!(saw_error);

    // The old stream id is stale now.
    let response = master
        .post_call(
            Encoding::Protobuf,
            &framework_call(&id, call::Type::Revive),
            Some(&first.stream_id),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        body_text(response)
            .await
            .contains("didn't match the stream ID")
    );
    master.stop().await.unwrap();
}

#[tokio::test]
async fn teardown_is_202_and_closes_the_stream() {
    let master = Master::start(config()).await;
    let mut stream = master.subscribe(Encoding::Protobuf, info("f")).await;
    let id = stream.expect_subscribed().await;

    let teardown = framework_call(&id, call::Type::Teardown);
    let response = master
        .post_call(Encoding::Protobuf, &teardown, Some(&stream.stream_id))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert!(body_text(response).await.is_empty());

    while let Some(event) = stream.next_event().await {
        assert_eq!(
            event.r#type,
            Some(event::Type::Heartbeat as i32),
            "{event:?}"
        );
    }

    // Removed: calls no longer find it, and it cannot subscribe again.
    let response = master
        .post_call(Encoding::Protobuf, &teardown, Some(&stream.stream_id))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        body_text(response)
            .await
            .contains("Framework cannot be found")
    );

    let mut info = info("f");
    info.id = Some(id);
    let mut again = master.subscribe(Encoding::Protobuf, info).await;
    assert_eq!(again.expect_error().await, "Framework has been removed");
    again.expect_end().await;
    master.stop().await.unwrap();
}

#[tokio::test]
async fn a_client_going_away_disconnects_the_framework() {
    let master = Master::start(config()).await;
    let mut stream = master.subscribe(Encoding::Protobuf, info("f")).await;
    let id = stream.expect_subscribed().await;
    drop(stream);

    // failover_timeout 0: removed as soon as the master notices, which it does at the
    // next heartbeat write at the latest (200 ms here).
    let mut info = info("f");
    info.id = Some(id);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        tokio::time::sleep(Duration::from_millis(600)).await;
        let mut again = master.subscribe(Encoding::Protobuf, info.clone()).await;
        let event = again.next_event().await.unwrap();
        if event.r#type == Some(event::Type::Error as i32) {
            assert_eq!(event.error.unwrap().message, "Framework has been removed");
            again.expect_end().await;
            break;
        }
        // Subscribed before the disconnect was noticed (a slow machine): that was a
        // failover of the dead stream. Drop this one too and look again.
        assert!(tokio::time::Instant::now() < deadline, "never removed");
    }
    master.stop().await.unwrap();
}

#[tokio::test]
async fn http_checks_before_the_core() {
    let master = Master::start(config()).await;

    let response = master
        .request(
            Request::get("/master/api/v1/scheduler")
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);

    // SUBSCRIBE must not carry a stream id.
    let response = master
        .post_call(Encoding::Protobuf, &subscribe_call(info("f")), Some("x"))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(body_text(response).await.contains("Mesos-Stream-Id"));

    // Validation names the missing field.
    let mut bad = subscribe_call(info("f"));
    bad.subscribe = None;
    let response = master.post_call(Encoding::Json, &bad, None).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        body_text(response).await,
        "Failed to validate scheduler::Call: Expecting 'subscribe' to be present"
    );

    // Offer calls pass the same checks: with the stream id, 202; without, 400.
    let mut stream = master.subscribe(Encoding::Protobuf, info("f")).await;
    let id = stream.expect_subscribed().await;
    let response = master
        .post_call(
            Encoding::Protobuf,
            &framework_call(&id, call::Type::Revive),
            Some(&stream.stream_id),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let response = master
        .post_call(
            Encoding::Protobuf,
            &framework_call(&id, call::Type::Revive),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    master.stop().await.unwrap();
}

#[tokio::test]
async fn health_and_version_on_both_paths() {
    let master = Master::start(config()).await;
    for path in ["/health", "/master/health"] {
        let response = master
            .request(Request::get(path).body(Full::new(Bytes::new())).unwrap())
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    for path in ["/version", "/master/version"] {
        let response = master
            .request(Request::get(path).body(Full::new(Bytes::new())).unwrap())
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let value: serde_json::Value = serde_json::from_str(&body_text(response).await).unwrap();
        assert_eq!(value["version"], ratufa_master::master_info::VERSION);
        assert_eq!(value["ratufa_version"], env!("CARGO_PKG_VERSION"));
        assert!(value["build_date"].is_string());
        assert!(value["build_user"].is_string());
    }
    master.stop().await.unwrap();
}

#[tokio::test]
async fn authentication_when_required() {
    let credentials =
        ratufa_gateway::Credentials::new([("sched".to_string(), "secret".to_string())]);
    let master = Master::start(MasterConfig {
        authenticate_http_frameworks: true,
        credentials: Some(credentials),
        ..config()
    })
    .await;
    let body = Encoding::Protobuf.encode(&subscribe_call(info("f")));
    let unauthenticated = Request::post("/api/v1/scheduler")
        .header("Content-Type", Encoding::Protobuf.media_type())
        .body(Full::new(Bytes::from(body.clone())))
        .unwrap();
    let response = master.request(unauthenticated).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["WWW-Authenticate"],
        "Basic realm=\"mesos-master-scheduler\""
    );

    // "sched:secret"
    let authenticated = Request::post("/api/v1/scheduler")
        .header("Content-Type", Encoding::Protobuf.media_type())
        .header("Accept", Encoding::Protobuf.media_type())
        .header("Authorization", "Basic c2NoZWQ6c2VjcmV0")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let response = master.request(authenticated).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut stream = Stream::new(Encoding::Protobuf, response);
    stream.expect_subscribed().await;
    master.stop().await.unwrap();
}

#[tokio::test]
async fn serve_refuses_authentication_without_credentials() {
    let master = Master::start(MasterConfig {
        authenticate_http_frameworks: true,
        ..config()
    })
    .await;
    let result = tokio::time::timeout(WAIT, master.task)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        result,
        Err(ratufa_master::MasterError::MissingCredentials {
            flag: "authenticate_http_frameworks"
        })
    ));
}

#[tokio::test]
async fn shutdown_ends_open_streams() {
    let master = Master::start(config()).await;
    let mut stream = master.subscribe(Encoding::Protobuf, info("f")).await;
    stream.expect_subscribed().await;
    // `stop` waits for `serve` to return, which an open subscription must not prevent.
    master.stop().await.unwrap();
    while let Some(event) = stream.next_event().await {
        assert_eq!(event.r#type, Some(event::Type::Heartbeat as i32));
    }
}
