//! Every status code of the scheduler API, over a real socket, with the message that
//! names what is wrong, and proof that a refused request changed nothing.
//!
//! Reference sheet (shared/reference/mesos-v1-api.md) section 1, "Status codes", by row:
//! 1. Authenticated principal with no value → 403: not reachable with HTTP basic
//!    authentication (a basic principal always has a value); not tested.
//! 2. Not the leader → 307 with an absolute `Location` (ratufa's documented difference
//!    from Mesos's protocol-relative one), or 503 "No leader elected" with
//!    `Retry-After`: the real `ratufa_master::app` served in-process on 127.0.0.1:0
//!    with a `Leadership` that says so (issue 5 proves it with a real second master).
//! 3. Registry recovery not finished → 503 with `Retry-After` (in-process, as row 2).
//! 4. Method not POST → 405 with `Allow: POST`.
//! 5. No `Content-Type` → 400; another one (even `application/json; charset=utf-8`)
//!    → 415.
//! 6. Body does not parse → 400 (malformed JSON, wrong JSON types, unknown enum name in
//!    a required field, missing required field, truncated protobuf, a RecordIO-framed
//!    body whose length lies, a `Content-Length` that lies either way); validation
//!    → 400 "Failed to validate scheduler::Call: …" (missing `type`, SUBSCRIBE with
//!    `framework_id` ≠ `framework_info.id`, missing `framework_id`, missing
//!    sub-message, ACKNOWLEDGE uuid not 16 bytes). Also 413 for a body over the limit
//!    (ratufa's addition: Mesos has no limit).
//! 7. SUBSCRIBE whose `Accept` allows neither encoding → 406; other calls ignore Accept.
//! 8. SUBSCRIBE carrying `Mesos-Stream-Id` → 400.
//! 9. Other calls: unknown framework → 400 "Framework cannot be found"; principal
//!    mismatch → 400; framework not connected → 403 "Framework is not subscribed";
//!    `Mesos-Stream-Id` missing or wrong → 400; else 202 with an empty body.
//! 10. UPDATE_FRAMEWORK → 200 (or 400); UNKNOWN → 501.
//! 11. 401 with `WWW-Authenticate: Basic realm="mesos-master-scheduler"` when HTTP
//!     framework authentication is on (and it comes before the leader check).
//!
//! Also: chunked request bodies are read (curl sends stdin that way), and refusals on
//! a kept-alive connection leave it usable for the next call.
//!
//! Error bodies are `text/plain; charset=utf-8`. After each refused request the tests
//! check that a subscribed framework still gets heartbeats and its calls still work,
//! and that no framework was added (the next FrameworkID's counter did not move).

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prost::Message as _;
use ratufa_gateway::{LeaderStatus, Leadership};
use ratufa_master::{MasterConfig, MasterHandle};
use ratufa_proto::v1::FrameworkInfo;
use ratufa_proto::v1::scheduler::{Call, call};
use serde_json::{Value, json};
use support::*;

// ---------------------------------------------------------------------------------------
// Fixture: a master with one subscribed framework

struct Fixture {
    master: Master,
    framework: Framework,
    /// The counter the next new framework's id should carry.
    next_counter: u32,
}

impl Fixture {
    async fn new() -> Fixture {
        Fixture::with(Master::start_fast().await).await
    }

    async fn with(master: Master) -> Fixture {
        let framework = Framework::subscribe(&master, &framework_info("bystander")).await;
        assert_eq!(framework_counter(&framework.id), Some(0));
        Fixture {
            master,
            framework,
            next_counter: 1,
        }
    }

    /// Sends `request`, expects `status` with a text/plain body that contains every
    /// one of `names`, and then checks that nothing changed.
    async fn refused(&mut self, request: Request, status: u16, names: &[&str]) -> Response {
        let what = format!("{} {} {:?}", request.method, request.path, request.headers);
        let response = self.master.send(request).await;
        assert_refusal(&response, status, names, &what);
        self.assert_unchanged().await;
        response
    }

    /// A JSON call from the fixture's framework (its stream id set).
    fn framework_call(&self, body: &Value) -> Request {
        Request::post(SCHEDULER)
            .header("Content-Type", JSON)
            .header("Mesos-Stream-Id", &self.framework.stream_id)
            .body(body.to_string())
    }

    /// The subscribed framework is still served, and no framework was added: a new
    /// subscriber gets the next counter.
    async fn assert_unchanged(&mut self) {
        self.master.assert_alive().await;
        self.framework.assert_still_served(&self.master).await;
        let probe = Framework::subscribe(&self.master, &framework_info("probe")).await;
        assert_eq!(
            framework_counter(&probe.id),
            Some(self.next_counter),
            "a refused request added a framework (new id {})",
            probe.id
        );
        self.next_counter += 1;
    }
}

fn assert_refusal(response: &Response, status: u16, names: &[&str], what: &str) {
    assert_eq!(response.status, status, "{what}: {response:?}");
    assert_eq!(
        response.header("Content-Type"),
        Some("text/plain; charset=utf-8"),
        "{what}: {response:?}"
    );
    let text = response.text();
    for name in names {
        assert!(
            text.contains(name),
            "{what}: the message should name {name:?}: {response:?}"
        );
    }
}

fn json_call(body: &str) -> Request {
    Request::post(SCHEDULER)
        .header("Content-Type", JSON)
        .body(body.to_string())
}

fn subscribe_json() -> String {
    subscribe_call(&framework_info("x")).to_string()
}

// ---------------------------------------------------------------------------------------
// Rows 2 and 3: leadership, with the real app served in-process

struct Fixed(LeaderStatus);

impl Leadership for Fixed {
    fn status(&self) -> LeaderStatus {
        self.0.clone()
    }
}

/// `ratufa_master::app` with `status` as its leadership, on 127.0.0.1:0.
async fn serve_in_process(status: LeaderStatus, config: MasterConfig) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local_addr");
    let master = MasterHandle::start(MasterConfig {
        heartbeat_interval: FAST_HEARTBEAT,
        ..config
    });
    let app = ratufa_master::app(master, Arc::new(Fixed(status)));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

async fn send_in_process(addr: SocketAddr, request: Request) -> Response {
    tokio::time::timeout(PATIENCE, send_to(addr, request))
        .await
        .expect("a response in time")
        .expect("a response")
}

#[tokio::test]
async fn row2_follower_redirects_with_an_absolute_location() {
    let addr = serve_in_process(
        LeaderStatus::Following {
            base_url: "http://leader.example:5050".into(),
        },
        MasterConfig::default(),
    )
    .await;

    for (path, location) in [
        (SCHEDULER, "http://leader.example:5050/api/v1/scheduler"),
        (
            "/master/api/v1/scheduler",
            "http://leader.example:5050/master/api/v1/scheduler",
        ),
        (
            "/api/v1/scheduler?x=1",
            "http://leader.example:5050/api/v1/scheduler?x=1",
        ),
    ] {
        let response = send_in_process(
            addr,
            Request::post(path)
                .header("Content-Type", JSON)
                .header("Accept", JSON)
                .body(subscribe_json()),
        )
        .await;
        assert_eq!(response.status, 307, "{path}: {response:?}");
        assert_eq!(response.header("Location"), Some(location), "{path}");
    }

    // Leadership is checked before the method and the body: a GET, or garbage, is
    // redirected too (the leader will judge it).
    let response = send_in_process(addr, Request::get(SCHEDULER)).await;
    assert_eq!(response.status, 307, "{response:?}");
    assert_eq!(
        response.header("Location"),
        Some("http://leader.example:5050/api/v1/scheduler")
    );
    let response = send_in_process(addr, json_call("{not json")).await;
    assert_eq!(response.status, 307, "{response:?}");

    // /health is answered by any master.
    let response = send_in_process(addr, Request::get("/health")).await;
    assert_eq!(response.status, 200, "{response:?}");
}

#[tokio::test]
async fn row2_no_leader_is_503_with_retry_after() {
    let addr = serve_in_process(LeaderStatus::NoLeader, MasterConfig::default()).await;
    for request in [
        json_call(&subscribe_json()).header("Accept", JSON),
        Request::get(SCHEDULER),
        Request::post("/master/api/v1/scheduler")
            .header("Content-Type", JSON)
            .body(subscribe_json()),
    ] {
        let what = format!("{} {}", request.method, request.path);
        let response = send_in_process(addr, request).await;
        assert_refusal(&response, 503, &["No leader elected"], &what);
        let retry_after = response.header("Retry-After").expect("Retry-After");
        assert!(
            retry_after.parse::<u64>().is_ok_and(|s| s >= 1),
            "Retry-After {retry_after:?} is not a number of seconds"
        );
    }
}

#[tokio::test]
async fn row3_recovering_master_is_503_with_retry_after() {
    let addr = serve_in_process(LeaderStatus::Recovering, MasterConfig::default()).await;
    let response = send_in_process(addr, json_call(&subscribe_json()).header("Accept", JSON)).await;
    assert_refusal(&response, 503, &["recovery"], "SUBSCRIBE while recovering");
    assert!(
        response
            .header("Retry-After")
            .is_some_and(|v| v.parse::<u64>().is_ok()),
        "{response:?}"
    );
    // Row 3 comes before row 4.
    let response = send_in_process(addr, Request::get(SCHEDULER)).await;
    assert_eq!(response.status, 503, "{response:?}");
}

#[tokio::test]
async fn row11_authentication_comes_before_the_redirect() {
    let addr = serve_in_process(
        LeaderStatus::Following {
            base_url: "http://leader.example:5050".into(),
        },
        MasterConfig {
            authenticate_http_frameworks: true,
            credentials: Some(ratufa_gateway::Credentials::new([(
                "p".to_string(),
                "s".to_string(),
            )])),
            ..MasterConfig::default()
        },
    )
    .await;
    let response = send_in_process(addr, json_call(&subscribe_json())).await;
    assert_eq!(response.status, 401, "{response:?}");
    let response = send_in_process(
        addr,
        json_call(&subscribe_json()).header("Authorization", &basic_auth("p", "s")),
    )
    .await;
    assert_eq!(response.status, 307, "{response:?}");
}

// ---------------------------------------------------------------------------------------
// Row 4: method

#[tokio::test]
async fn row4_get_is_405_with_allow() {
    let mut fixture = Fixture::new().await;
    for method in ["GET", "PUT", "DELETE"] {
        let request = Request::new(method, SCHEDULER)
            .header("Content-Type", JSON)
            .body(if method == "GET" {
                String::new()
            } else {
                subscribe_json()
            });
        let response = fixture
            .refused(request, 405, &["POST", &format!("'{method}'")])
            .await;
        assert_eq!(response.header("Allow"), Some("POST"), "{response:?}");
    }
    // On the /master/ alias too.
    let response = fixture
        .refused(Request::get("/master/api/v1/scheduler"), 405, &["POST"])
        .await;
    assert_eq!(response.header("Allow"), Some("POST"));
    // Row 4 comes before row 5: a GET with a bad Content-Type is still a 405.
    let request = Request::get(SCHEDULER).header("Content-Type", "text/plain");
    fixture.refused(request, 405, &["'GET'"]).await;
}

// ---------------------------------------------------------------------------------------
// Row 5: Content-Type

#[tokio::test]
async fn row5_missing_content_type_is_400() {
    let mut fixture = Fixture::new().await;
    let request = Request::post(SCHEDULER)
        .header("Accept", JSON)
        .body(subscribe_json());
    fixture.refused(request, 400, &["Content-Type"]).await;
    // Row 5 comes before row 6: the body is not even looked at.
    let request = Request::post(SCHEDULER).body("{garbage");
    fixture.refused(request, 400, &["Content-Type"]).await;
    let request = Request::post(SCHEDULER)
        .header("Content-Type", "text/plain")
        .body("{garbage");
    fixture.refused(request, 415, &["Content-Type"]).await;
}

#[tokio::test]
async fn row5_other_content_types_are_415() {
    let mut fixture = Fixture::new().await;
    for content_type in [
        "text/plain",
        "application/json; charset=utf-8",
        "application/protobuf",
        "application/x-www-form-urlencoded",
        // Mesos compares exactly (its code has a TODO to ignore case).
        "Application/JSON",
    ] {
        let request = Request::post(SCHEDULER)
            .header("Content-Type", content_type)
            .header("Accept", JSON)
            .body(subscribe_json());
        fixture
            .refused(
                request,
                415,
                &["Content-Type", "application/json", "application/x-protobuf"],
            )
            .await;
    }
}

// ---------------------------------------------------------------------------------------
// Row 6: bodies that do not parse, calls that do not validate, bodies too large

#[tokio::test]
async fn row6_malformed_json_is_400() {
    let mut fixture = Fixture::new().await;
    for body in ["{\"type\": \"SUBSCRIBE\",", "not json at all", "", "[]"] {
        let response = fixture.refused(json_call(body), 400, &[]).await;
        assert!(
            response.text().contains("JSON") || response.text().contains("json"),
            "{body:?}: the message should say the JSON is bad: {response:?}"
        );
    }
}

#[tokio::test]
async fn row6_wrong_json_types_name_the_field() {
    let mut fixture = Fixture::new().await;
    let id = fixture.framework.id.clone();
    // A string where `{"value": …}` belongs.
    let body = json!({"type": "TEARDOWN", "framework_id": id});
    fixture
        .refused(fixture.framework_call(&body), 400, &["framework_id"])
        .await;
    // A number where a string belongs, deep inside.
    let body = json!({"type": "SUBSCRIBE", "subscribe":
        {"framework_info": {"user": "u", "name": 7}}});
    fixture
        .refused(json_call(&body.to_string()), 400, &["name"])
        .await;
    // An array where a single message belongs. (A single value where a repeated
    // field belongs is accepted, as by Mesos's parser: `"roles": "*"` is `["*"]`.)
    let body = json!({"type": "TEARDOWN", "framework_id": [{"value": id}]});
    fixture
        .refused(fixture.framework_call(&body), 400, &["framework_id"])
        .await;
    // An object where a string belongs.
    let body = json!({"type": "SUBSCRIBE", "subscribe":
        {"framework_info": {"user": {"name": "u"}, "name": "n"}}});
    fixture
        .refused(json_call(&body.to_string()), 400, &["user"])
        .await;
}

#[tokio::test]
async fn row6_unknown_enum_name_in_a_required_field_is_400() {
    let mut fixture = Fixture::new().await;
    let id = fixture.framework.id.clone();
    // Resource.type is a required Value.Type.
    let body = json!({
        "type": "ACCEPT",
        "framework_id": {"value": id},
        "accept": {
            "offer_ids": [{"value": "o-1"}],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": [{
                "name": "t",
                "task_id": {"value": "t-1"},
                "agent_id": {"value": "a-1"},
                "resources": [{"name": "cpus", "type": "SCALARISH",
                               "scalar": {"value": 1}}],
                "command": {"value": "true"}
            }]}}]
        }
    });
    fixture
        .refused(fixture.framework_call(&body), 400, &["type", "SCALARISH"])
        .await;
}

#[tokio::test]
async fn row6_unknown_enum_name_for_call_type_reads_as_missing() {
    // Call.type is optional: an unknown name is dropped, and validation then finds no
    // type.
    let mut fixture = Fixture::new().await;
    let body = json!({"type": "SUBSCRIBE_PLEASE", "subscribe":
        {"framework_info": framework_info("x")}});
    fixture
        .refused(
            json_call(&body.to_string()).header("Accept", JSON),
            400,
            &["'type'"],
        )
        .await;
}

#[tokio::test]
async fn row6_missing_required_fields_are_named() {
    let mut fixture = Fixture::new().await;
    // FrameworkInfo.name is required.
    let body = json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u"}}});
    fixture
        .refused(json_call(&body.to_string()), 400, &["name"])
        .await;
    // Subscribe.framework_info is required.
    let body = json!({"type": "SUBSCRIBE", "subscribe": {}});
    fixture
        .refused(json_call(&body.to_string()), 400, &["framework_info"])
        .await;
    // The same in protobuf, by hand (prost always writes a required sub-message):
    // type = SUBSCRIBE (field 2, varint 1), subscribe (field 3) = empty.
    let request = Request::post(SCHEDULER)
        .header("Content-Type", PROTOBUF)
        .body(vec![0x10, 0x01, 0x1a, 0x00]);
    fixture.refused(request, 400, &["framework_info"]).await;
}

#[tokio::test]
async fn row6_truncated_protobuf_is_400() {
    let mut fixture = Fixture::new().await;
    let call = Call {
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            framework_info: FrameworkInfo {
                user: "ratufa-test".into(),
                name: "truncated".into(),
                ..Default::default()
            },
            ..Default::default()
        }),
        ..Default::default()
    };
    let bytes = call.encode_to_vec();
    for cut in [bytes.len() - 1, bytes.len() / 2, 3] {
        let request = Request::post(SCHEDULER)
            .header("Content-Type", PROTOBUF)
            .header("Accept", PROTOBUF)
            .body(bytes[..cut].to_vec());
        fixture.refused(request, 400, &["Call"]).await;
    }
    // Not protobuf at all.
    let request = Request::post(SCHEDULER)
        .header("Content-Type", PROTOBUF)
        .body(vec![0xff, 0xff, 0xff, 0xff]);
    fixture.refused(request, 400, &["Call"]).await;
}

#[tokio::test]
async fn row6_recordio_framed_body_with_a_lying_length_is_400() {
    // Call bodies are not RecordIO; a client that frames them anyway (with a length
    // that does not match) sends bytes that are not JSON.
    let mut fixture = Fixture::new().await;
    let call = subscribe_json();
    let body = format!("{}\n{call}", call.len() + 10);
    fixture
        .refused(json_call(&body).header("Accept", JSON), 400, &["JSON"])
        .await;
}

#[tokio::test]
async fn row6_content_length_shorter_than_the_body_is_400() {
    // The server reads what Content-Length says: a cut-off JSON document.
    let mut fixture = Fixture::new().await;
    let call = subscribe_json();
    let request = json_call(&call)
        .header("Accept", JSON)
        .header("Content-Length", &(call.len() / 2).to_string());
    let response = fixture.master.send(request).await;
    assert_refusal(&response, 400, &["JSON"], "short Content-Length");
    fixture.assert_unchanged().await;
}

#[tokio::test]
async fn row6_content_length_longer_than_the_body_changes_nothing() {
    // The client promises more than it sends, then stops writing. The server can only
    // see an incomplete body: it must answer 400 or drop the connection, never act on
    // the part it got.
    let mut fixture = Fixture::new().await;
    let call = subscribe_json();
    let head = format!(
        "POST {SCHEDULER} HTTP/1.1\r\nHost: t\r\nContent-Type: {JSON}\r\n\
         Accept: {JSON}\r\nContent-Length: {}\r\n\r\n",
        call.len() + 100
    );
    let mut stream = tokio::net::TcpStream::connect(fixture.master.addr)
        .await
        .expect("connect");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream.write_all(call.as_bytes()).await.expect("write body");
    stream.shutdown().await.expect("half-close");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    match read {
        Ok(_) => assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
            "an incomplete body must not be served: {answer:?}"
        ),
        Err(_) => panic!("the connection was neither answered nor closed"),
    }
    fixture.assert_unchanged().await;
}

#[tokio::test]
async fn row6_oversized_body_is_413() {
    let mut fixture = Fixture::new().await;
    // Declared too large: refused before the body is read (none is sent).
    let request = Request::post(SCHEDULER)
        .header("Content-Type", JSON)
        .header("Content-Length", &(64 * 1024 * 1024).to_string());
    let response = fixture.refused(request, 413, &["bytes"]).await;
    assert!(
        response.text().contains("limit"),
        "the message should give the limit: {response:?}"
    );
}

/// A SUBSCRIBE call whose JSON is exactly `size` bytes (padded in the framework name).
fn subscribe_of_size(size: usize) -> String {
    let bare = subscribe_call(&framework_info("")).to_string();
    let padding = size.checked_sub(bare.len()).expect("size too small");
    subscribe_call(&framework_info(&"x".repeat(padding))).to_string()
}

#[tokio::test]
async fn row6_body_over_the_configured_limit_is_413() {
    // `--max_request_body_bytes` (ratufa's flag) set low, so the bodies stay small.
    let mut flags = flags_with_heartbeat(FAST_HEARTBEAT);
    flags.push("--max_request_body_bytes=4096".into());
    let mut fixture = Fixture::with(Master::start_with(&flags).await).await;

    // One byte over, with Content-Length.
    let request = json_call(&subscribe_of_size(4097)).header("Accept", JSON);
    fixture.refused(request, 413, &["4096 bytes"]).await;

    // One byte over, chunked (no Content-Length to judge by).
    let body = subscribe_of_size(4097);
    let (a, b) = body.split_at(2000);
    let chunked = format!("{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n", a.len(), b.len());
    let request = Request::post(SCHEDULER)
        .header("Content-Type", JSON)
        .header("Accept", JSON)
        .header("Transfer-Encoding", "chunked")
        .body(chunked);
    fixture.refused(request, 413, &["4096 bytes"]).await;

    // Exactly at the limit is fine.
    let framework = Framework::subscribe_with(
        &fixture.master,
        json_call(&subscribe_of_size(4096)).header("Accept", JSON),
    )
    .await;
    assert_eq!(framework_counter(&framework.id), Some(fixture.next_counter));
}

#[tokio::test]
async fn row6_missing_type_is_400() {
    let mut fixture = Fixture::new().await;
    let body = json!({"framework_id": {"value": fixture.framework.id}});
    let response = fixture
        .refused(fixture.framework_call(&body), 400, &["'type'"])
        .await;
    assert!(
        response
            .text()
            .starts_with("Failed to validate scheduler::Call"),
        "{response:?}"
    );
}

#[tokio::test]
async fn row6_subscribe_with_mismatched_framework_ids_is_400() {
    let mut fixture = Fixture::new().await;
    // framework_info.id without Call.framework_id is a mismatch too (Mesos compares
    // the fields' values, absent being empty).
    let body = json!({"type": "SUBSCRIBE",
        "subscribe": {"framework_info": fixture.framework.info("x")}});
    fixture
        .refused(
            json_call(&body.to_string()).header("Accept", JSON),
            400,
            &["framework_id"],
        )
        .await;
    let mut info = framework_info("x");
    info["id"] = json!({"value": fixture.framework.id});
    let body = json!({"type": "SUBSCRIBE", "framework_id": {"value": "someone-else"},
        "subscribe": {"framework_info": info}});
    let response = fixture
        .refused(
            json_call(&body.to_string()).header("Accept", JSON),
            400,
            &["framework_id", "framework_info.id"],
        )
        .await;
    assert!(
        response
            .text()
            .starts_with("Failed to validate scheduler::Call"),
        "{response:?}"
    );
}

#[tokio::test]
async fn row6_call_without_framework_id_is_400() {
    let mut fixture = Fixture::new().await;
    for kind in ["TEARDOWN", "REVIVE"] {
        let body = json!({"type": kind});
        fixture
            .refused(fixture.framework_call(&body), 400, &["'framework_id'"])
            .await;
    }
}

#[tokio::test]
async fn row6_call_without_its_sub_message_is_400() {
    let mut fixture = Fixture::new().await;
    for (kind, field) in [
        ("KILL", "'kill'"),
        ("ACCEPT", "'accept'"),
        ("DECLINE", "'decline'"),
        ("ACKNOWLEDGE", "'acknowledge'"),
        ("SHUTDOWN", "'shutdown'"),
        ("MESSAGE", "'message'"),
    ] {
        let body = bare_call(kind, &fixture.framework.id);
        fixture
            .refused(fixture.framework_call(&body), 400, &[field])
            .await;
    }
}

#[tokio::test]
async fn row6_acknowledge_uuid_must_be_16_bytes() {
    let mut fixture = Fixture::new().await;
    // 15 bytes, base64.
    let body = json!({"type": "ACKNOWLEDGE", "framework_id": {"value": fixture.framework.id},
        "acknowledge": {"agent_id": {"value": "a"}, "task_id": {"value": "t"},
                        "uuid": "AAECAwQFBgcICQoLDA0O"}});
    fixture
        .refused(fixture.framework_call(&body), 400, &["uuid"])
        .await;
    // Not base64 at all.
    let body = json!({"type": "ACKNOWLEDGE", "framework_id": {"value": fixture.framework.id},
        "acknowledge": {"agent_id": {"value": "a"}, "task_id": {"value": "t"},
                        "uuid": "not base64!"}});
    fixture
        .refused(fixture.framework_call(&body), 400, &["uuid"])
        .await;
}

// ---------------------------------------------------------------------------------------
// Row 7: Accept

#[tokio::test]
async fn row7_subscribe_with_an_unservable_accept_is_406() {
    let mut fixture = Fixture::new().await;
    for accept in [
        "text/html",
        "application/xml, text/*",
        "application/json;q=0",
    ] {
        let request = Request::post(SCHEDULER)
            .header("Content-Type", JSON)
            .header("Accept", accept)
            .body(subscribe_json());
        fixture
            .refused(
                request,
                406,
                &["Accept", "application/json", "application/x-protobuf"],
            )
            .await;
    }
}

#[tokio::test]
async fn row7_other_calls_ignore_accept() {
    let mut fixture = Fixture::new().await;
    let request = fixture
        .framework_call(&fixture.framework.noop_call())
        .header("Accept", "text/html");
    let response = fixture.master.send(request).await;
    assert_eq!(response.status, 200, "UPDATE_FRAMEWORK: {response:?}");
    fixture.assert_unchanged().await;
}

// ---------------------------------------------------------------------------------------
// Row 8: SUBSCRIBE with a stream id

#[tokio::test]
async fn row8_subscribe_with_a_stream_id_is_400() {
    let mut fixture = Fixture::new().await;
    // Neither a made-up id, nor the framework's own current one, nor an empty one.
    for stream_id in [
        "0f2a8b4e-8f3b-4b9e-8c47-6f0a7c1d2e3f".to_string(),
        fixture.framework.stream_id.clone(),
        String::new(),
    ] {
        let request = subscribe_request(&subscribe_call(&fixture.framework.info("x")))
            .header("Mesos-Stream-Id", &stream_id);
        fixture.refused(request, 400, &["Mesos-Stream-Id"]).await;
    }
    // Rows 6 and 7 come first: an invalid call, or an Accept that cannot be served,
    // is answered as such even with a stream id.
    let request =
        json_call(&json!({"subscribe": {"framework_info": framework_info("x")}}).to_string())
            .header("Mesos-Stream-Id", &fixture.framework.stream_id.clone());
    fixture.refused(request, 400, &["'type'"]).await;
    let request = json_call(&subscribe_json())
        .header("Accept", "text/html")
        .header("Mesos-Stream-Id", &fixture.framework.stream_id.clone());
    fixture.refused(request, 406, &["Accept"]).await;
}

// ---------------------------------------------------------------------------------------
// Row 9: calls of a framework

#[tokio::test]
async fn row9_unknown_framework_is_400() {
    let mut fixture = Fixture::new().await;
    let body = bare_call("REVIVE", "no-such-framework");
    fixture
        .refused(
            fixture.framework_call(&body),
            400,
            &["Framework cannot be found"],
        )
        .await;
}

#[tokio::test]
async fn row9_missing_stream_id_is_400() {
    let mut fixture = Fixture::new().await;
    let request = json_call(&bare_call("REVIVE", &fixture.framework.id).to_string());
    fixture.refused(request, 400, &["Mesos-Stream-Id"]).await;
}

#[tokio::test]
async fn row9_wrong_stream_id_is_400() {
    let mut fixture = Fixture::new().await;
    let wrong = "0f2a8b4e-8f3b-4b9e-8c47-6f0a7c1d2e3f";
    let request = json_call(&bare_call("TEARDOWN", &fixture.framework.id).to_string())
        .header("Mesos-Stream-Id", wrong);
    // A wrong stream id must not tear the framework down.
    fixture.refused(request, 400, &[wrong]).await;
}

#[tokio::test]
async fn row9_disconnected_framework_is_403() {
    let mut fixture = Fixture::new().await;
    let mut info = framework_info("gone-away");
    info["failover_timeout"] = json!(60.0);
    let leaving = Framework::subscribe(&fixture.master, &info).await;
    fixture.next_counter += 1;
    let (noop, stream_id) = (leaving.noop_call(), leaving.stream_id.clone());
    drop(leaving);

    // The master notices the disconnect at its next write to the stream (a heartbeat
    // at the latest); until then the call is still served.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let response = loop {
        let response = fixture
            .master
            .post_json(&noop, &[("Mesos-Stream-Id", &stream_id)])
            .await;
        if response.status != 200 || tokio::time::Instant::now() > deadline {
            break response;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_refusal(
        &response,
        403,
        &["Framework is not subscribed"],
        "UPDATE_FRAMEWORK",
    );
    fixture.assert_unchanged().await;
}

#[tokio::test]
async fn row9_valid_call_is_202_with_an_empty_body() {
    // TEARDOWN of a second framework: the one 202 call this master serves so far
    // (REVIVE and friends: scheduler_api::calls_on_the_current_stream_get_202…).
    let mut fixture = Fixture::new().await;
    let mut leaving = Framework::subscribe(&fixture.master, &framework_info("leaving")).await;
    fixture.next_counter += 1;
    let response = leaving
        .call(&fixture.master, &bare_call("TEARDOWN", &leaving.id))
        .await;
    assert_eq!(response.status, 202, "{response:?}");
    assert!(response.body.is_empty(), "{response:?}");
    leaving.stream.expect_end_within(PATIENCE).await;
    fixture.assert_unchanged().await;
}

// ---------------------------------------------------------------------------------------
// Row 10: UPDATE_FRAMEWORK and UNKNOWN

#[tokio::test]
async fn row10_update_framework_is_200_or_400() {
    let mut fixture = Fixture::new().await;
    let id = fixture.framework.id.clone();
    let mut info = fixture.framework.info("renamed");
    let body = json!({"type": "UPDATE_FRAMEWORK", "framework_id": {"value": id},
        "update_framework": {"framework_info": info}});
    let response = fixture.master.send(fixture.framework_call(&body)).await;
    assert_eq!(response.status, 200, "{response:?}");

    // `user` may not change.
    info["user"] = json!("somebody-else");
    let body = json!({"type": "UPDATE_FRAMEWORK", "framework_id": {"value": id},
        "update_framework": {"framework_info": info}});
    fixture
        .refused(fixture.framework_call(&body), 400, &["user"])
        .await;

    // The ids must agree.
    let mut info = fixture.framework.info("renamed");
    info["id"] = json!({"value": "another-id"});
    let body = json!({"type": "UPDATE_FRAMEWORK", "framework_id": {"value": id},
        "update_framework": {"framework_info": info}});
    fixture
        .refused(fixture.framework_call(&body), 400, &["framework_id"])
        .await;
}

#[tokio::test]
async fn row10_unknown_call_is_501() {
    let mut fixture = Fixture::new().await;
    let body = bare_call("UNKNOWN", &fixture.framework.id);
    let response = fixture.master.send(fixture.framework_call(&body)).await;
    assert_eq!(response.status, 501, "{response:?}");
    fixture.assert_unchanged().await;
}

// ---------------------------------------------------------------------------------------
// Row 11 (and row 9's principal mismatch): HTTP basic authentication

/// A master that requires HTTP authentication, with principals p (secret s) and q
/// (secret t), from a credentials file in Mesos's JSON format.
async fn authenticating_master() -> Master {
    let dir = fresh_dir("credentials");
    let file = dir.join("credentials.json");
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
async fn row11_unauthenticated_is_401_with_www_authenticate() {
    let master = authenticating_master().await;
    let mut info = framework_info("authed");
    info["principal"] = json!("p");
    let framework = Framework::subscribe_with(
        &master,
        subscribe_request(&subscribe_call(&info)).header("Authorization", &basic_auth("p", "s")),
    )
    .await;
    let mut fixture = Fixture {
        master,
        framework,
        next_counter: 1,
    };
    for authorization in [
        None,
        Some(basic_auth("p", "wrong")),
        Some(basic_auth("nobody", "s")),
        Some("Bearer abc".to_string()),
        Some("Basic !!!not-base64".to_string()),
    ] {
        let mut request = subscribe_request(&subscribe_call(&framework_info("x")));
        if let Some(authorization) = &authorization {
            request = request.header("Authorization", authorization);
        }
        let what = format!("Authorization {authorization:?}");
        let response = fixture.master.send(request).await;
        assert_eq!(response.status, 401, "{what}: {response:?}");
        assert_eq!(
            response.header("WWW-Authenticate"),
            Some("Basic realm=\"mesos-master-scheduler\""),
            "{what}: {response:?}"
        );
        // The framework's own calls need credentials too.
        let response = fixture
            .framework
            .call(&fixture.master, &bare_call("REVIVE", &fixture.framework.id))
            .await;
        assert_eq!(response.status, 401, "{response:?}");
    }
    // Authenticated, it is still served; no framework was added.
    let response = fixture
        .master
        .send(
            fixture
                .framework_call(&fixture.framework.noop_call())
                .header("Authorization", &basic_auth("p", "s")),
        )
        .await;
    assert_eq!(response.status, 200, "UPDATE_FRAMEWORK: {response:?}");
    fixture.framework.expect_heartbeat().await;
    let probe = Framework::subscribe_with(
        &fixture.master,
        subscribe_request(&subscribe_call(&framework_info("probe")))
            .header("Authorization", &basic_auth("q", "t")),
    )
    .await;
    assert_eq!(framework_counter(&probe.id), Some(1));
}

#[tokio::test]
async fn row6_subscribe_with_another_principal_is_400() {
    let master = authenticating_master().await;
    let mut info = framework_info("impostor");
    info["principal"] = json!("q");
    let response = master
        .send(
            subscribe_request(&subscribe_call(&info))
                .header("Authorization", &basic_auth("p", "s")),
        )
        .await;
    assert_refusal(
        &response,
        400,
        &["'p'", "'q'", "principal"],
        "SUBSCRIBE as p claiming q",
    );
}

#[tokio::test]
async fn row9_call_from_another_principal_is_400() {
    let master = authenticating_master().await;
    let mut framework = Framework::subscribe_with(
        &master,
        subscribe_request(&subscribe_call(&framework_info("owned")))
            .header("Authorization", &basic_auth("p", "s")),
    )
    .await;
    // The framework took the authenticated principal although it did not declare one
    // (as Mesos does); q may not act for it.
    framework.info["principal"] = json!("p");
    let response = master
        .send(
            Request::post(SCHEDULER)
                .header("Content-Type", JSON)
                .header("Mesos-Stream-Id", &framework.stream_id)
                .header("Authorization", &basic_auth("q", "t"))
                .body(bare_call("TEARDOWN", &framework.id).to_string()),
        )
        .await;
    assert_refusal(
        &response,
        400,
        &["'q'", "'p'", "principal"],
        "TEARDOWN as q",
    );
    let response = master
        .send(
            Request::post(SCHEDULER)
                .header("Content-Type", JSON)
                .header("Mesos-Stream-Id", &framework.stream_id)
                .header("Authorization", &basic_auth("p", "s"))
                .body(framework.noop_call().to_string()),
        )
        .await;
    assert_eq!(response.status, 200, "UPDATE_FRAMEWORK as p: {response:?}");
    framework.expect_heartbeat().await;
}

// ---------------------------------------------------------------------------------------
// Nothing malformed reaches the core: a request body in chunked encoding is fine.

#[tokio::test]
async fn chunked_request_body_is_accepted() {
    // curl sends a body read from stdin chunked.
    let master = Master::start().await;
    let body = subscribe_json();
    let (a, b) = body.split_at(body.len() / 2);
    let chunked = format!("{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n", a.len(), b.len());
    let framework = Framework::subscribe_with(
        &master,
        Request::post(SCHEDULER)
            .header("Content-Type", JSON)
            .header("Accept", JSON)
            .header("Transfer-Encoding", "chunked")
            .body(chunked),
    )
    .await;
    assert_eq!(framework_counter(&framework.id), Some(0));
}

// ---------------------------------------------------------------------------------------
// Connections that carry several requests

#[tokio::test]
async fn calls_and_refusals_share_a_kept_alive_connection() {
    // Clients reuse one connection for their calls; a refused call must not spoil it
    // for the next one.
    let mut fixture = Fixture::new().await;
    let mut connection = KeepAlive::connect(fixture.master.addr).await;
    let noop = fixture.framework_call(&fixture.framework.noop_call());
    for _ in 0..2 {
        let response = connection.send(noop.clone()).await;
        assert_eq!(response.status, 200, "{response:?}");
        let response = connection.send(json_call("{garbage")).await;
        assert_refusal(
            &response,
            400,
            &["JSON"],
            "garbage on a kept-alive connection",
        );
        let response = connection.send(Request::post(SCHEDULER).body("{}")).await;
        assert_refusal(
            &response,
            400,
            &["Content-Type"],
            "no Content-Type, kept alive",
        );
        let response = connection
            .send(json_call(
                &bare_call("TEARDOWN", &fixture.framework.id).to_string(),
            ))
            .await;
        assert_refusal(
            &response,
            400,
            &["Mesos-Stream-Id"],
            "no stream id, kept alive",
        );
    }
    fixture.assert_unchanged().await;
}
