//! The scheduler API's happy paths over real sockets, against the `ratufa` binary.
//!
//! Reference sheet (shared/reference/mesos-v1-api.md) section 1, covered here:
//! - Routing: `/api/v1/scheduler` and `/master/api/v1/scheduler` are the same endpoint.
//! - SUBSCRIBE response: 200, chunked, `Content-Type` of the Accept encoding (JSON and
//!   protobuf, either request encoding), a fresh `Mesos-Stream-Id` UUID (≤128 bytes).
//! - Event SUBSCRIBED {framework_id, heartbeat_interval_seconds, master_info}.
//! - IDs: FrameworkID `<master uuid>-<4-digit counter>`.
//! - RecordIO: `<decimal byte length>\n<bytes>`, lengths count bytes (non-ASCII), never 0.
//! - Heartbeat: the first HEARTBEAT right after SUBSCRIBED, then one every interval
//!   (the master runs with `--scheduler_heartbeat_interval=1secs`, or 200ms where the
//!   timing is not the point; Mesos's default is 15 s, announced as
//!   `heartbeat_interval_seconds: 15`).
//! - Status code row 9's last case: a valid call on the current stream → 202, empty body.
//! - TEARDOWN → 202 and the stream ends.
//! - Re-subscription: a second SUBSCRIBE while the first stream is open fails the old
//!   one over (ERROR "Framework failed over", then its end); the new one gets
//!   SUBSCRIBED with the same id; the old Mesos-Stream-Id is no longer accepted.
//! - failover_timeout: re-subscribing after a disconnect (within the timeout) works.
//! - Removed IDs are "completed": SUBSCRIBE gets ERROR "Framework has been removed",
//!   then the stream closes.
//! - After a master "failover" an unknown framework ID is accepted on SUBSCRIBE.
//! - Refusals found inside the master after the stream opened (a role outside
//!   `--roles`, an invalid role name, a changed principal) arrive as one ERROR event,
//!   then the stream closes; the refused framework takes no id.
//! - failover_timeout 0: the framework is removed as soon as its stream is lost.
//! - curl subscribes in JSON and protobuf, reads RecordIO, and tears down.
//! - `ratufa local` serves the same API.

mod support;

use std::time::{Duration, Instant};

use prost::Message as _;
use ratufa_proto::v1::scheduler::{Call, call, event};
use ratufa_proto::v1::{FrameworkId, FrameworkInfo};
use serde_json::{Value, json};
use support::*;

fn assert_subscribed_event(event: &Value, master: &Master) -> String {
    assert_eq!(event["type"], "SUBSCRIBED", "{event}");
    let subscribed = &event["subscribed"];
    let id = subscribed["framework_id"]["value"]
        .as_str()
        .unwrap_or_else(|| panic!("framework_id.value missing: {event}"));
    assert!(
        framework_counter(id).is_some(),
        "framework_id {id:?} is not <master uuid>-<4 digits>"
    );
    assert_eq!(
        subscribed["heartbeat_interval_seconds"].as_f64(),
        Some(master.heartbeat.as_secs_f64()),
        "{event}"
    );
    let info = &subscribed["master_info"];
    assert_eq!(
        info["port"].as_u64(),
        Some(u64::from(master.port())),
        "{event}"
    );
    assert_eq!(info["hostname"], HOSTNAME, "{event}");
    let version = info["version"]
        .as_str()
        .unwrap_or_else(|| panic!("master_info.version missing: {event}"));
    assert!(
        version.split('.').count() == 3 && version.split('.').all(|p| p.parse::<u32>().is_ok()),
        "master_info.version {version:?} is not X.Y.Z"
    );
    let master_id = info["id"].as_str().unwrap_or_default();
    assert!(
        id.starts_with(&format!("{master_id}-")),
        "framework id {id:?} does not start with the master id {master_id:?}"
    );
    // 127.0.0.1 as Mesos writes it: a uint32 in network byte order, read natively
    // (little-endian hosts), i.e. 0x0100007f.
    assert_eq!(
        info["ip"].as_u64(),
        Some(0x0100_007f),
        "master_info.ip: {event}"
    );
    id.to_string()
}

fn assert_stream_head(stream: &EventStream, content_type: &str) {
    assert_eq!(stream.status, 200);
    assert_eq!(stream.content_type(), Some(content_type));
    assert!(
        stream
            .header("Transfer-Encoding")
            .is_some_and(|te| te.eq_ignore_ascii_case("chunked")),
        "the stream is not chunked: {:?}",
        stream.headers
    );
    let stream_id = stream.stream_id();
    assert!(stream_id.len() <= 128);
    assert!(
        is_uuid(&stream_id),
        "Mesos-Stream-Id {stream_id:?} is not a UUID"
    );
}

#[tokio::test]
async fn json_subscribe_gets_subscribed_then_heartbeats() {
    let master = Master::start().await;
    let mut stream = master
        .open(subscribe_request(&subscribe_call(&framework_info("json"))))
        .await
        .expect("SUBSCRIBE");
    assert_stream_head(&stream, JSON);

    let subscribed = stream.json().await;
    let id = assert_subscribed_event(&subscribed, &master);
    assert_eq!(
        framework_counter(&id),
        Some(0),
        "first framework of this master"
    );

    // A HEARTBEAT right after SUBSCRIBED (see first_heartbeat_follows_subscribed_at_once),
    // then one per interval: not early, not late.
    assert_eq!(stream.json().await, json!({"type": "HEARTBEAT"}));
    let first = Instant::now();
    for _ in 0..2 {
        let event = stream.json().await;
        assert_eq!(event, json!({"type": "HEARTBEAT"}));
    }
    let two_intervals = first.elapsed();
    assert!(
        two_intervals >= HEARTBEAT * 2 - Duration::from_millis(300)
            && two_intervals <= HEARTBEAT * 2 + Duration::from_millis(1500),
        "two heartbeat intervals took {two_intervals:?}"
    );
}

#[tokio::test]
async fn first_heartbeat_follows_subscribed_at_once() {
    // A long interval, so "at once" and "an interval later" cannot be confused even
    // on a loaded machine.
    let interval = Duration::from_secs(5);
    let master = Master::start_with(&flags_with_heartbeat(interval)).await;
    let mut stream = master
        .open(subscribe_request(&subscribe_call(&framework_info("eager"))))
        .await
        .expect("SUBSCRIBE");
    let subscribed = stream.json().await;
    assert_eq!(subscribed["type"], "SUBSCRIBED", "{subscribed}");
    assert_eq!(
        subscribed["subscribed"]["heartbeat_interval_seconds"].as_f64(),
        Some(5.0)
    );
    let record = stream
        .next_record_within(interval / 2)
        .await
        .expect("a HEARTBEAT right after SUBSCRIBED, not an interval later");
    assert_eq!(
        serde_json::from_slice::<Value>(&record).ok(),
        Some(json!({"type": "HEARTBEAT"}))
    );
}

#[tokio::test]
async fn protobuf_subscribe_gets_subscribed_then_heartbeats() {
    let master = Master::start().await;
    let call = Call {
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            framework_info: FrameworkInfo {
                user: "ratufa-test".into(),
                name: "protobuf".into(),
                ..Default::default()
            },
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut stream = master
        .open(
            Request::post(SCHEDULER)
                .header("Content-Type", PROTOBUF)
                .header("Accept", PROTOBUF)
                .body(call.encode_to_vec()),
        )
        .await
        .expect("SUBSCRIBE");
    assert_stream_head(&stream, PROTOBUF);

    let subscribed = stream.proto().await;
    assert_eq!(subscribed.r#type, Some(event::Type::Subscribed as i32));
    let subscribed = subscribed.subscribed.expect("Event.subscribed");
    let id = subscribed.framework_id.value;
    assert_eq!(framework_counter(&id), Some(0), "{id:?}");
    assert_eq!(
        subscribed.heartbeat_interval_seconds,
        Some(HEARTBEAT.as_secs_f64())
    );
    let info = subscribed.master_info.expect("master_info");
    assert_eq!(info.port, u32::from(master.port()));
    assert_eq!(info.hostname.as_deref(), Some(HOSTNAME));
    assert!(id.starts_with(&info.id));

    for _ in 0..2 {
        let heartbeat = stream.proto().await;
        assert_eq!(
            heartbeat.r#type,
            Some(event::Type::Heartbeat as i32),
            "{heartbeat:?}"
        );
    }
}

#[tokio::test]
async fn request_and_response_encodings_are_independent() {
    let master = Master::start_fast().await;

    // JSON in, protobuf out.
    let mut stream = master
        .open(
            Request::post(SCHEDULER)
                .header("Content-Type", JSON)
                .header("Accept", PROTOBUF)
                .body(subscribe_call(&framework_info("json-in")).to_string()),
        )
        .await
        .expect("SUBSCRIBE");
    assert_stream_head(&stream, PROTOBUF);
    let event = stream.proto().await;
    assert_eq!(event.r#type, Some(event::Type::Subscribed as i32));

    // Protobuf in, JSON out; no Accept at all means anything, and JSON is preferred.
    let call = Call {
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            framework_info: FrameworkInfo {
                user: "ratufa-test".into(),
                name: "protobuf-in".into(),
                ..Default::default()
            },
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut stream = master
        .open(
            Request::post(SCHEDULER)
                .header("Content-Type", PROTOBUF)
                .body(call.encode_to_vec()),
        )
        .await
        .expect("SUBSCRIBE");
    assert_stream_head(&stream, JSON);
    assert_subscribed_event(&stream.json().await, &master);
}

#[tokio::test]
async fn accept_wildcards_pick_json_and_protobuf_only_choice() {
    let master = Master::start_fast().await;
    for (accept, expected) in [
        ("*/*", JSON),
        ("application/*", JSON),
        ("text/html, application/x-protobuf", PROTOBUF),
        ("application/x-protobuf, application/json", JSON),
    ] {
        let stream = master
            .open(
                Request::post(SCHEDULER)
                    .header("Content-Type", JSON)
                    .header("Accept", accept)
                    .body(subscribe_call(&framework_info("accept")).to_string()),
            )
            .await
            .unwrap_or_else(|r| panic!("Accept {accept:?}: {r:?}"));
        assert_eq!(stream.content_type(), Some(expected), "Accept {accept:?}");
    }
}

#[tokio::test]
async fn master_prefixed_path_is_the_same_endpoint() {
    let master = Master::start_fast().await;
    let mut framework = Framework::subscribe_with(
        &master,
        Request::post("/master/api/v1/scheduler")
            .header("Content-Type", JSON)
            .header("Accept", JSON)
            .body(subscribe_call(&framework_info("prefixed")).to_string()),
    )
    .await;
    assert_subscribed_event(&framework.subscribed, &master);

    // A call on the other path reaches the same framework.
    let response = master
        .send(
            Request::post("/master/api/v1/scheduler")
                .header("Content-Type", JSON)
                .header("Mesos-Stream-Id", &framework.stream_id)
                .body(framework.noop_call().to_string()),
        )
        .await;
    assert_eq!(response.status, 200, "UPDATE_FRAMEWORK: {response:?}");
    framework.expect_heartbeat().await;
}

#[tokio::test]
async fn record_lengths_count_bytes_not_characters() {
    let master = Master::start_fast().await;
    // An id the master has never seen is taken as a framework recovering after a master
    // failover, and echoed back in SUBSCRIBED: non-ASCII bytes inside a record.
    let id = "ratufa-тест-🐿️-framework";
    let mut info = framework_info("белка 🐿️ scheduler");
    info["id"] = json!({"value": id});
    let mut stream = master
        .open(subscribe_request(&subscribe_call(&info)))
        .await
        .expect("SUBSCRIBE");

    // `json()` takes exactly the prefix's number of bytes: a length counted in
    // characters would cut the record short and fail to parse.
    let record = stream.record().await;
    let text = String::from_utf8(record.clone()).expect("a UTF-8 record");
    assert!(
        record.len() > text.chars().count(),
        "the record should hold multi-byte characters: {text}"
    );
    let event: Value = serde_json::from_str(&text).expect("the record is whole JSON");
    assert_eq!(event["type"], "SUBSCRIBED", "{event}");
    assert_eq!(event["subscribed"]["framework_id"]["value"], id);

    // And the stream stays in step afterwards.
    assert_eq!(stream.json().await["type"], "HEARTBEAT");
}

#[tokio::test]
async fn calls_on_the_current_stream_get_202_with_an_empty_body() {
    let master = Master::start_fast().await;
    let mut framework = Framework::subscribe(&master, &framework_info("calls")).await;
    for call in [
        bare_call("REVIVE", &framework.id),
        bare_call("SUPPRESS", &framework.id),
        json!({"type": "REVIVE", "framework_id": {"value": framework.id},
               "revive": {"roles": ["*"]}}),
        json!({"type": "RECONCILE", "framework_id": {"value": framework.id},
               "reconcile": {}}),
    ] {
        let response = framework.call(&master, &call).await;
        assert_eq!(response.status, 202, "{call}: {response:?}");
        assert!(response.body.is_empty(), "{call}: {response:?}");
    }
    framework.expect_heartbeat().await;
}

#[tokio::test]
async fn teardown_is_202_and_ends_the_stream() {
    let master = Master::start_fast().await;
    let mut framework = Framework::subscribe(&master, &framework_info("teardown")).await;

    let response = framework
        .call(&master, &bare_call("TEARDOWN", &framework.id))
        .await;
    assert_eq!(response.status, 202, "{response:?}");
    assert!(response.body.is_empty(), "{response:?}");
    framework.stream.expect_end_within(PATIENCE).await;

    // The framework is gone: its calls are refused.
    let response = framework
        .call(&master, &bare_call("REVIVE", &framework.id))
        .await;
    assert_eq!(response.status, 400, "{response:?}");
    assert!(
        response.text().contains("Framework cannot be found"),
        "{response:?}"
    );
}

#[tokio::test]
async fn second_subscribe_fails_the_first_over() {
    let master = Master::start_fast().await;
    let mut info = framework_info("failover");
    info["failover_timeout"] = json!(60.0);
    let mut first = Framework::subscribe(&master, &info).await;

    let mut second = Framework::subscribe(&master, &first.info("failover")).await;
    assert_eq!(
        second.id, first.id,
        "the failed-over framework keeps its id"
    );
    assert_ne!(second.stream_id, first.stream_id, "a fresh stream id");
    assert_subscribed_event(&second.subscribed, &master);

    let error = first.stream.json_skipping_heartbeats().await;
    assert_eq!(error["type"], "ERROR", "{error}");
    assert_eq!(
        error["error"]["message"], "Framework failed over",
        "{error}"
    );
    first.stream.expect_end_within(PATIENCE).await;

    // The old stream id is stale (even for a TEARDOWN); the new one works.
    let response = first.call(&master, &bare_call("TEARDOWN", &first.id)).await;
    assert_eq!(response.status, 400, "{response:?}");
    assert!(response.text().contains(&first.stream_id), "{response:?}");
    second.assert_still_served(&master).await;

    // The old scheduler hanging up afterwards is not the new one's disconnect.
    drop(first);
    for _ in 0..3 {
        second.assert_still_served(&master).await;
    }

    // Protobuf subscribers fail over just the same.
    let call = Call {
        r#type: Some(call::Type::Subscribe as i32),
        framework_id: Some(FrameworkId {
            value: second.id.clone(),
        }),
        subscribe: Some(call::Subscribe {
            framework_info: FrameworkInfo {
                user: "ratufa-test".into(),
                name: "failover".into(),
                id: Some(FrameworkId {
                    value: second.id.clone(),
                }),
                failover_timeout: Some(60.0),
                ..Default::default()
            },
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut third = master
        .open(
            Request::post(SCHEDULER)
                .header("Content-Type", PROTOBUF)
                .header("Accept", PROTOBUF)
                .body(call.encode_to_vec()),
        )
        .await
        .expect("SUBSCRIBE");
    let subscribed = third.proto().await;
    assert_eq!(
        subscribed.subscribed.map(|s| s.framework_id.value),
        Some(second.id.clone())
    );
    let error = second.stream.json_skipping_heartbeats().await;
    assert_eq!(
        error["error"]["message"], "Framework failed over",
        "{error}"
    );
    second.stream.expect_end_within(PATIENCE).await;
}

#[tokio::test]
async fn resubscribe_after_disconnect_keeps_the_id() {
    let master = Master::start_fast().await;
    let mut info = framework_info("reconnect");
    info["failover_timeout"] = json!(60.0);
    let first = Framework::subscribe(&master, &info).await;
    let id = first.id.clone();
    let old_stream_id = first.stream_id.clone();
    drop(first); // the scheduler goes away

    // Whether or not the master has noticed the disconnect yet, the re-subscription is
    // accepted with the same id.
    let mut again = Framework::subscribe(&master, &{
        let mut info = framework_info("reconnect");
        info["id"] = json!({"value": id});
        info["failover_timeout"] = json!(60.0);
        info
    })
    .await;
    assert_eq!(again.id, id);
    assert_ne!(again.stream_id, old_stream_id);
    // However late the master learns that the old connection is gone, that does not
    // disconnect the new one.
    for _ in 0..3 {
        again.assert_still_served(&master).await;
    }
}

#[tokio::test]
async fn torn_down_framework_cannot_come_back() {
    let master = Master::start_fast().await;
    let mut framework = Framework::subscribe(&master, &framework_info("removed")).await;
    let response = framework
        .call(&master, &bare_call("TEARDOWN", &framework.id))
        .await;
    assert_eq!(response.status, 202, "{response:?}");
    framework.stream.expect_end_within(PATIENCE).await;

    // The stream opens (the check happens inside the master), carries one ERROR, and
    // closes.
    let mut stream = master
        .open(subscribe_request(&subscribe_call(
            &framework.info("removed"),
        )))
        .await
        .expect("SUBSCRIBE of a removed framework is answered on the stream");
    assert_eq!(stream.status, 200);
    let error = stream.json().await;
    assert_eq!(error["type"], "ERROR", "{error}");
    assert_eq!(
        error["error"]["message"], "Framework has been removed",
        "{error}"
    );
    stream.expect_end_within(PATIENCE).await;

    // In protobuf, the same ERROR as an Event.
    let call = Call {
        r#type: Some(call::Type::Subscribe as i32),
        framework_id: Some(FrameworkId {
            value: framework.id.clone(),
        }),
        subscribe: Some(call::Subscribe {
            framework_info: FrameworkInfo {
                user: "ratufa-test".into(),
                name: "removed".into(),
                id: Some(FrameworkId {
                    value: framework.id.clone(),
                }),
                ..Default::default()
            },
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut stream = master
        .open(
            Request::post(SCHEDULER)
                .header("Content-Type", PROTOBUF)
                .header("Accept", PROTOBUF)
                .body(call.encode_to_vec()),
        )
        .await
        .expect("SUBSCRIBE");
    assert_eq!(stream.content_type(), Some(PROTOBUF));
    let error = stream.proto().await;
    assert_eq!(error.r#type, Some(event::Type::Error as i32), "{error:?}");
    assert_eq!(
        error.error.map(|e| e.message).as_deref(),
        Some("Framework has been removed")
    );
    assert_eq!(
        stream.next_record_within(PATIENCE).await,
        Err(StreamEnd::Closed),
        "the stream ends after the ERROR"
    );
}

#[tokio::test]
async fn local_serves_the_scheduler_api_too() {
    // `ratufa local`: the embedded master. No agents (the default is one, as Mesos's),
    // so that no OFFERS come between the events this test expects; the offers suite
    // (tests/offers_tasks.rs) runs it with agents.
    let mut flags = flags_with_heartbeat(FAST_HEARTBEAT);
    flags.push("--num_agents=0".to_string());
    let master = Master::start_as("local", &flags).await;
    let mut framework = Framework::subscribe(&master, &framework_info("local")).await;
    assert_subscribed_event(&framework.subscribed, &master);
    framework.assert_still_served(&master).await;
    let response = framework
        .call(&master, &bare_call("TEARDOWN", &framework.id))
        .await;
    assert_eq!(response.status, 202, "{response:?}");
    framework.stream.expect_end_within(PATIENCE).await;
}

#[tokio::test]
async fn framework_ids_count_up() {
    let master = Master::start_fast().await;
    let a = Framework::subscribe(&master, &framework_info("a")).await;
    let b = Framework::subscribe(&master, &framework_info("b")).await;
    assert_eq!(framework_counter(&a.id), Some(0));
    assert_eq!(framework_counter(&b.id), Some(1));
    assert_eq!(
        a.id.rsplit_once('-').map(|p| p.0),
        b.id.rsplit_once('-').map(|p| p.0),
        "both ids carry the master's id"
    );
}

#[tokio::test]
async fn refused_subscriptions_arrive_as_one_error_event() {
    let mut flags = flags_with_heartbeat(FAST_HEARTBEAT);
    flags.push("--roles=a,b".into());
    let master = Master::start_with(&flags).await;

    for (role, names) in [("c", &["c", "--roles"][..]), ("a b", &["a b"][..])] {
        let mut info = framework_info("refused");
        info["role"] = json!(role);
        let mut stream = master
            .open(subscribe_request(&subscribe_call(&info)))
            .await
            .unwrap_or_else(|r| panic!("role {role:?}: the refusal comes on the stream: {r:?}"));
        assert_eq!(stream.status, 200);
        let error = stream.json().await;
        assert_eq!(error["type"], "ERROR", "role {role:?}: {error}");
        let message = error["error"]["message"].as_str().unwrap_or_default();
        for name in names {
            assert!(
                message.contains(name),
                "role {role:?}: the message should name {name:?}: {error}"
            );
        }
        stream.expect_end_within(PATIENCE).await;
    }

    // A role on the list is fine, and the refusals took no framework id.
    let mut info = framework_info("allowed");
    info["role"] = json!("a");
    let framework = Framework::subscribe(&master, &info).await;
    assert_eq!(
        framework_counter(&framework.id),
        Some(0),
        "{}",
        framework.id
    );
    master.assert_alive().await;
}

#[tokio::test]
async fn framework_without_failover_timeout_is_removed_on_disconnect() {
    let master = Master::start_fast().await;
    let framework = Framework::subscribe(&master, &framework_info("no-failover")).await;
    let (id, noop, stream_id, info) = (
        framework.id.clone(),
        framework.noop_call(),
        framework.stream_id.clone(),
        framework.info("no-failover"),
    );
    drop(framework);

    // failover_timeout defaults to 0: once the master sees the stream gone, the
    // framework is removed at once.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let response = master
            .post_json(&noop, &[("Mesos-Stream-Id", &stream_id)])
            .await;
        if response.status == 400 && response.text().contains("Framework cannot be found") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "framework {id} was not removed after its stream went away: {response:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut stream = master
        .open(subscribe_request(&subscribe_call(&info)))
        .await
        .expect("SUBSCRIBE of a removed framework is answered on the stream");
    let error = stream.json().await;
    assert_eq!(
        error["error"]["message"], "Framework has been removed",
        "{error}"
    );
    stream.expect_end_within(PATIENCE).await;
}

/// A master requiring HTTP authentication with principals p (secret s) and q (t).
async fn authenticating_master() -> Master {
    let file = fresh_dir("credentials").join("credentials.json");
    std::fs::write(
        &file,
        json!({"credentials": [{"principal": "p", "secret": "s"},
                               {"principal": "q", "secret": "t"}]})
        .to_string(),
    )
    .expect("write the credentials file");
    let mut flags = flags_with_heartbeat(FAST_HEARTBEAT);
    flags.push("--authenticate_http_frameworks".into());
    flags.push(format!("--credentials={}", file.display()));
    Master::start_with(&flags).await
}

#[tokio::test]
async fn failover_may_not_change_the_principal() {
    let master = authenticating_master().await;
    let mut info = framework_info("owned");
    info["principal"] = json!("p");
    info["failover_timeout"] = json!(60.0);
    let mut framework = Framework::subscribe_with(
        &master,
        subscribe_request(&subscribe_call(&info)).header("Authorization", &basic_auth("p", "s")),
    )
    .await;

    // q takes the framework's id and declares itself (so validation passes).
    let mut stolen = framework.info("owned");
    stolen["principal"] = json!("q");
    let mut stream = master
        .open(
            subscribe_request(&subscribe_call(&stolen))
                .header("Authorization", &basic_auth("q", "t")),
        )
        .await
        .expect("the refusal comes on the stream");
    let error = stream.json().await;
    assert_eq!(error["type"], "ERROR", "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("principal")),
        "{error}"
    );
    stream.expect_end_within(PATIENCE).await;

    // The owner was not failed over.
    let response = master
        .send(
            Request::post(SCHEDULER)
                .header("Content-Type", JSON)
                .header("Mesos-Stream-Id", &framework.stream_id)
                .header("Authorization", &basic_auth("p", "s"))
                .body(framework.noop_call().to_string()),
        )
        .await;
    assert_eq!(response.status, 200, "{response:?}");
    framework.expect_heartbeat().await;
}

// ---------------------------------------------------------------------------------------
// curl, as a person with a shell would use it

/// Runs curl with `args`, feeding `stdin`; returns its child with stdout piped.
fn curl(args: &[String], stdin: Vec<u8>) -> tokio::process::Child {
    let mut child = tokio::process::Command::new("curl")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run curl (the end-to-end tests need it installed)");
    let mut input = child.stdin.take().expect("curl's stdin");
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let _ = input.write_all(&stdin).await;
    });
    child
}

/// Reads curl's `-i` output: the response head, then RecordIO records as they come.
struct CurlStream {
    stdout: tokio::process::ChildStdout,
    buf: Vec<u8>,
    head: Option<String>,
}

impl CurlStream {
    async fn fill(&mut self) {
        use tokio::io::AsyncReadExt;
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(PATIENCE, self.stdout.read(&mut chunk))
            .await
            .expect("curl printed nothing in time")
            .expect("read curl's stdout");
        assert!(
            n > 0,
            "curl's output ended early: {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        self.buf.extend_from_slice(&chunk[..n]);
    }

    async fn head(&mut self) -> String {
        while self.head.is_none() {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                self.head = Some(String::from_utf8_lossy(&self.buf[..end]).into_owned());
                self.buf.drain(..end + 4);
            } else {
                self.fill().await;
            }
        }
        self.head.clone().unwrap_or_default()
    }

    async fn record(&mut self) -> Vec<u8> {
        self.head().await;
        loop {
            match take_record(&mut self.buf) {
                Ok(Some(record)) => return record,
                Ok(None) => self.fill().await,
                Err(e) => panic!("curl's output is not RecordIO: {e}"),
            }
        }
    }
}

fn header_value<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

#[tokio::test]
async fn curl_subscribes_in_json_and_protobuf_and_tears_down() {
    let master = Master::start_fast().await;
    let url = format!("http://{}{SCHEDULER}", master.addr);

    // JSON: the body from stdin, as `curl -d @-` in a shell loop.
    let json_args: Vec<String> = [
        "-sS",
        "-N",
        "-i",
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-H",
        "Accept: application/json",
        "--data-binary",
        "@-",
        &url,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut json_curl = curl(
        &json_args,
        subscribe_call(&framework_info("curl"))
            .to_string()
            .into_bytes(),
    );
    let mut json_stream = CurlStream {
        stdout: json_curl.stdout.take().expect("stdout"),
        buf: Vec::new(),
        head: None,
    };
    let head = json_stream.head().await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(header_value(&head, "Content-Type"), Some(JSON), "{head}");
    let stream_id = header_value(&head, "Mesos-Stream-Id")
        .unwrap_or_else(|| panic!("no Mesos-Stream-Id: {head}"))
        .to_string();
    let subscribed: Value = serde_json::from_slice(&json_stream.record().await).expect("JSON");
    assert_eq!(subscribed["type"], "SUBSCRIBED", "{subscribed}");
    let id = subscribed["subscribed"]["framework_id"]["value"]
        .as_str()
        .expect("framework_id")
        .to_string();
    for _ in 0..2 {
        let heartbeat: Value = serde_json::from_slice(&json_stream.record().await).expect("JSON");
        assert_eq!(heartbeat, json!({"type": "HEARTBEAT"}));
    }

    // Protobuf: binary body from stdin, binary records out.
    let call = Call {
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            framework_info: FrameworkInfo {
                user: "ratufa-test".into(),
                name: "curl-protobuf".into(),
                ..Default::default()
            },
            ..Default::default()
        }),
        ..Default::default()
    };
    let protobuf_args: Vec<String> = [
        "-sS",
        "-N",
        "-i",
        "-X",
        "POST",
        "-H",
        "Content-Type: application/x-protobuf",
        "-H",
        "Accept: application/x-protobuf",
        "--data-binary",
        "@-",
        &url,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut protobuf_curl = curl(&protobuf_args, call.encode_to_vec());
    let mut protobuf_stream = CurlStream {
        stdout: protobuf_curl.stdout.take().expect("stdout"),
        buf: Vec::new(),
        head: None,
    };
    let head = protobuf_stream.head().await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(
        header_value(&head, "Content-Type"),
        Some(PROTOBUF),
        "{head}"
    );
    let subscribed =
        ratufa_proto::v1::scheduler::Event::decode(protobuf_stream.record().await.as_slice())
            .expect("a protobuf Event");
    assert_eq!(subscribed.r#type, Some(event::Type::Subscribed as i32));
    let heartbeat =
        ratufa_proto::v1::scheduler::Event::decode(protobuf_stream.record().await.as_slice())
            .expect("a protobuf Event");
    assert_eq!(heartbeat.r#type, Some(event::Type::Heartbeat as i32));

    // TEARDOWN with curl: 202, and the first curl's stream ends cleanly.
    let teardown = curl(
        &[
            "-sS".into(),
            "-o".into(),
            "/dev/null".into(),
            "-w".into(),
            "%{http_code}".into(),
            "-X".into(),
            "POST".into(),
            "-H".into(),
            "Content-Type: application/json".into(),
            "-H".into(),
            format!("Mesos-Stream-Id: {stream_id}"),
            "--data-binary".into(),
            "@-".into(),
            url.clone(),
        ],
        bare_call("TEARDOWN", &id).to_string().into_bytes(),
    );
    let output = tokio::time::timeout(PATIENCE, teardown.wait_with_output())
        .await
        .expect("curl TEARDOWN in time")
        .expect("curl TEARDOWN");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "202", "{output:?}");

    drop(json_stream);
    let status = tokio::time::timeout(PATIENCE, json_curl.wait())
        .await
        .expect("the subscribe curl exits once the stream ends")
        .expect("curl's exit status");
    assert!(status.success(), "curl saw the stream end badly: {status}");
    drop(protobuf_curl);
}
