//! Event streams over a real socket: framing, headers, heartbeats, stream end, and
//! disconnect detection.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::Request;
use axum::routing::post;
use bytes::Bytes;
use http_body_util::Full;
use prost::Message;
use ratufa_proto::v1::scheduler::{Event, event};
use tokio::sync::Mutex;
use tokio::sync::mpsc::{self, UnboundedSender};

use super::*;
use crate::test_server::{Next, Records, connect, serve};

const WAIT: Duration = Duration::from_secs(5);

fn typed(t: event::Type) -> Event {
    Event {
        r#type: Some(t as i32),
        ..Default::default()
    }
}

fn type_of(record: &[u8]) -> event::Type {
    let event = Event::decode(record).unwrap();
    event::Type::try_from(event.r#type.unwrap()).unwrap()
}

#[derive(Clone)]
struct Setup {
    encoding: Encoding,
    heartbeat: Option<Duration>,
    /// A first event given already encoded (`event_stream_after`).
    first: Option<Vec<u8>>,
    senders: Arc<Mutex<mpsc::UnboundedSender<UnboundedSender<Event>>>>,
}

async fn subscribe(State(setup): State<Setup>) -> Response {
    let (tx, rx) = mpsc::unbounded_channel();
    setup.senders.lock().await.send(tx).unwrap();
    let heartbeat = setup.heartbeat.map(|interval| Heartbeat {
        interval,
        event: typed(event::Type::Heartbeat),
    });
    match &setup.first {
        Some(first) => event_stream_after(
            setup.encoding,
            Some("stream-1".into()),
            first.clone(),
            rx,
            heartbeat,
        ),
        None => event_stream(setup.encoding, Some("stream-1".into()), rx, heartbeat),
    }
}

/// Serves one stream; returns the producer's sender, the response headers, the
/// record reader, and the client connection task.
async fn open(
    encoding: Encoding,
    heartbeat: Option<Duration>,
) -> (
    UnboundedSender<Event>,
    axum::http::response::Parts,
    Records,
    tokio::task::JoinHandle<()>,
) {
    open_with(encoding, heartbeat, None).await
}

/// [`open`], the stream's first event given already encoded when `first` is.
async fn open_with(
    encoding: Encoding,
    heartbeat: Option<Duration>,
    first: Option<Vec<u8>>,
) -> (
    UnboundedSender<Event>,
    axum::http::response::Parts,
    Records,
    tokio::task::JoinHandle<()>,
) {
    let (senders_tx, mut senders_rx) = mpsc::unbounded_channel();
    let setup = Setup {
        encoding,
        heartbeat,
        first,
        senders: Arc::new(Mutex::new(senders_tx)),
    };
    let addr = serve(
        Router::new()
            .route("/api/v1/scheduler", post(subscribe))
            .with_state(setup),
    )
    .await;
    let (mut client, conn) = connect(addr).await;
    let request = Request::post("/api/v1/scheduler")
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .unwrap();
    // Headers must arrive before any event: a client waits for the 200 first.
    let response = tokio::time::timeout(WAIT, client.send_request(request))
        .await
        .expect("response headers before any event")
        .unwrap();
    let tx = senders_rx.recv().await.unwrap();
    let (parts, body) = response.into_parts();
    // The connection task holds the socket; keep the SendRequest alive with it.
    let conn = tokio::spawn(async move {
        let _client = client;
        let _ = conn.await;
    });
    (tx, parts, Records::new(body), conn)
}

#[tokio::test]
async fn an_encoded_first_event_comes_first_then_a_heartbeat_then_the_queue() {
    let mut subscribed = typed(event::Type::Subscribed);
    subscribed.subscribed = Some(event::Subscribed {
        framework_id: ratufa_proto::v1::FrameworkId {
            // Over two of the slices it goes out in.
            value: "f".repeat(600_000),
        },
        ..Default::default()
    });
    let first = subscribed.encode_to_vec();
    let (tx, _, mut records, _conn) = open_with(
        Encoding::Protobuf,
        Some(Duration::from_secs(3600)),
        Some(first.clone()),
    )
    .await;
    // Queued before the stream is read: still after the first event.
    tx.send(typed(event::Type::Offers)).unwrap();
    assert_eq!(records.record(WAIT).await, first);
    assert_eq!(type_of(&records.record(WAIT).await), event::Type::Heartbeat);
    assert_eq!(type_of(&records.record(WAIT).await), event::Type::Offers);
}

#[test]
fn stream_ids_are_uuid_v4() {
    let a = new_stream_id();
    let b = new_stream_id();
    assert_ne!(a, b);
    let parsed = uuid::Uuid::parse_str(&a).unwrap();
    assert_eq!(parsed.get_version_num(), 4);
    assert!(a.len() <= 128);
}

#[tokio::test]
async fn headers_records_and_end_when_the_sender_is_dropped() {
    let (tx, parts, mut records, _conn) = open(Encoding::Protobuf, None).await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(parts.headers[CONTENT_TYPE], "application/x-protobuf");
    assert_eq!(parts.headers[MESOS_STREAM_ID], "stream-1");
    assert_eq!(parts.headers["transfer-encoding"], "chunked");

    tx.send(typed(event::Type::Subscribed)).unwrap();
    assert_eq!(
        type_of(&records.record(WAIT).await),
        event::Type::Subscribed
    );
    tx.send(typed(event::Type::Offers)).unwrap();
    assert_eq!(type_of(&records.record(WAIT).await), event::Type::Offers);

    // Queued events are written before the body ends.
    tx.send(typed(event::Type::Update)).unwrap();
    tx.send(typed(event::Type::Error)).unwrap();
    drop(tx);
    assert_eq!(type_of(&records.record(WAIT).await), event::Type::Update);
    assert_eq!(type_of(&records.record(WAIT).await), event::Type::Error);
    assert_eq!(records.next(WAIT).await, Next::End);
}

#[tokio::test]
async fn a_burst_arrives_complete_and_in_order() {
    let (tx, _, mut records, _conn) = open(Encoding::Protobuf, None).await;
    for i in 0..2000u32 {
        let mut event = typed(event::Type::Message);
        event.message = Some(event::Message {
            agent_id: Default::default(),
            executor_id: Default::default(),
            data: i.to_be_bytes().to_vec(),
        });
        tx.send(event).unwrap();
    }
    drop(tx);
    for i in 0..2000u32 {
        let event = Event::decode(records.record(WAIT).await).unwrap();
        assert_eq!(event.message.unwrap().data, i.to_be_bytes().to_vec());
    }
    assert_eq!(records.next(WAIT).await, Next::End);
}

#[tokio::test]
async fn an_event_that_encodes_to_nothing_is_not_sent() {
    let (tx, _, mut records, _conn) = open(Encoding::Protobuf, None).await;
    // A default Event encodes to zero protobuf bytes; "0\n" would break clients (and
    // our own decoder, which rejects it, would fail this test).
    tx.send(Event::default()).unwrap();
    tx.send(typed(event::Type::Subscribed)).unwrap();
    drop(tx);
    assert_eq!(
        type_of(&records.record(WAIT).await),
        event::Type::Subscribed
    );
    assert_eq!(records.next(WAIT).await, Next::End);
}

#[tokio::test]
async fn heartbeats_follow_the_first_event_then_keep_the_interval() {
    let interval = Duration::from_millis(200);
    let (tx, _, mut records, _conn) = open(Encoding::Protobuf, Some(interval)).await;

    // Nothing, heartbeats included, before the first event.
    assert_eq!(records.next(interval * 2).await, Next::Timeout);

    // Taken before the send, so the server's ticker starts no earlier than this.
    let started = tokio::time::Instant::now();
    tx.send(typed(event::Type::Subscribed)).unwrap();
    assert_eq!(
        type_of(&records.record(WAIT).await),
        event::Type::Subscribed
    );
    // The first heartbeat comes at once, well before an interval has passed.
    assert_eq!(
        type_of(&records.record(interval / 2).await),
        event::Type::Heartbeat
    );
    assert!(
        started.elapsed() < interval,
        "first heartbeat after {:?}",
        started.elapsed()
    );

    // Then one per interval: the n-th periodic one never before n intervals (timers
    // do not fire early; a burst or a short period would), and none lost.
    for n in 1..=4u32 {
        if n == 2 {
            // An event in between is delivered at once and does not stop the rhythm.
            tx.send(typed(event::Type::Offers)).unwrap();
            assert_eq!(
                type_of(&records.record(interval / 2).await),
                event::Type::Offers
            );
        }
        assert_eq!(type_of(&records.record(WAIT).await), event::Type::Heartbeat);
        let elapsed = started.elapsed();
        assert!(elapsed >= interval * n, "heartbeat {n} after {elapsed:?}");
    }
    // Loose upper bound: four intervals should not take three times as long.
    assert!(
        started.elapsed() < interval * 12,
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn disconnect_closes_the_sender_without_heartbeats() {
    let (tx, _, mut records, conn) = open(Encoding::Protobuf, None).await;
    tx.send(typed(event::Type::Subscribed)).unwrap();
    assert_eq!(
        type_of(&records.record(WAIT).await),
        event::Type::Subscribed
    );
    assert!(!tx.is_closed());

    // The client goes away: close its socket.
    conn.abort();
    drop(records);
    tokio::time::timeout(WAIT, tx.closed())
        .await
        .expect("the producer sees the disconnect");
    assert!(tx.send(typed(event::Type::Offers)).is_err());
}

#[tokio::test]
async fn disconnect_closes_the_sender_with_heartbeats() {
    let (tx, _, mut records, conn) =
        open(Encoding::Protobuf, Some(Duration::from_millis(50))).await;
    tx.send(typed(event::Type::Subscribed)).unwrap();
    assert_eq!(
        type_of(&records.record(WAIT).await),
        event::Type::Subscribed
    );
    conn.abort();
    drop(records);
    tokio::time::timeout(WAIT, tx.closed())
        .await
        .expect("the producer sees the disconnect");
}

#[tokio::test]
async fn json_streams_carry_json_records() {
    // Needs ratufa_proto's JSON mapping; until it lands events encode to nothing.
    let (tx, parts, mut records, _conn) = open(Encoding::Json, Some(Duration::from_secs(60))).await;
    assert_eq!(parts.headers[CONTENT_TYPE], "application/json");
    tx.send(typed(event::Type::Subscribed)).unwrap();
    let first: serde_json::Value = serde_json::from_slice(&records.record(WAIT).await).unwrap();
    assert_eq!(first["type"], "SUBSCRIBED");
    let second: serde_json::Value = serde_json::from_slice(&records.record(WAIT).await).unwrap();
    assert_eq!(second["type"], "HEARTBEAT");
}

#[tokio::test]
async fn zero_interval_sends_the_first_heartbeat_only() {
    let (tx, _, mut records, _conn) = open(Encoding::Protobuf, Some(Duration::ZERO)).await;
    tx.send(typed(event::Type::Subscribed)).unwrap();
    assert_eq!(
        type_of(&records.record(WAIT).await),
        event::Type::Subscribed
    );
    assert_eq!(type_of(&records.record(WAIT).await), event::Type::Heartbeat);
    assert_eq!(
        records.next(Duration::from_millis(200)).await,
        Next::Timeout
    );
}

#[tokio::test]
async fn invalid_stream_id_is_a_500_not_a_panic() {
    let (_tx, rx) = mpsc::unbounded_channel::<Event>();
    let response = event_stream(Encoding::Protobuf, Some("bad\nid".into()), rx, None);
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

/// The records of one chunk of a stream's body, by event type.
fn types_in(chunk: &[u8]) -> Vec<event::Type> {
    let mut types = Vec::new();
    let mut rest = chunk;
    while !rest.is_empty() {
        let newline = rest.iter().position(|&b| b == b'\n').unwrap();
        let length: usize = std::str::from_utf8(&rest[..newline])
            .unwrap()
            .parse()
            .unwrap();
        let record = &rest[newline + 1..newline + 1 + length];
        types.push(type_of(record));
        rest = &rest[newline + 1 + length..];
    }
    types
}

/// The clock is paused: it moves only when told to, or when everything waits on it.
#[tokio::test(start_paused = true)]
async fn events_in_the_window_after_a_write_go_out_together_and_one_after_a_quiet_spell_at_once() {
    use futures::FutureExt;
    use http_body_util::BodyExt;

    let (tx, rx) = mpsc::unbounded_channel();
    let mut body = event_stream::<Event, Event>(Encoding::Protobuf, None, rx, None).into_body();
    fn data(frame: Option<Result<http_body::Frame<Bytes>, axum::Error>>) -> Bytes {
        frame.unwrap().unwrap().into_data().unwrap()
    }

    // The first event goes out alone and at once.
    tx.send(typed(event::Type::Subscribed)).unwrap();
    let chunk = data(
        body.frame()
            .now_or_never()
            .expect("the first event at once"),
    );
    assert_eq!(types_in(&chunk), [event::Type::Subscribed]);

    // One right after waits out the window, and the next joins it.
    tx.send(typed(event::Type::Offers)).unwrap();
    assert!(
        body.frame().now_or_never().is_none(),
        "an event within the window of the last write is held"
    );
    tx.send(typed(event::Type::Update)).unwrap();
    let chunk = data(body.frame().await);
    assert_eq!(types_in(&chunk), [event::Type::Offers, event::Type::Update]);

    // After a quiet spell an event goes out at once again.
    tokio::time::advance(COALESCE_WINDOW * 4).await;
    tx.send(typed(event::Type::Rescind)).unwrap();
    let chunk = data(
        body.frame()
            .now_or_never()
            .expect("at once after a quiet spell"),
    );
    assert_eq!(types_in(&chunk), [event::Type::Rescind]);

    // The producer gone, what was held goes out before the body ends.
    tx.send(typed(event::Type::Message)).unwrap();
    drop(tx);
    let chunk = data(body.frame().await);
    assert_eq!(types_in(&chunk), [event::Type::Message]);
    assert!(body.frame().await.is_none(), "the body ends");
}
