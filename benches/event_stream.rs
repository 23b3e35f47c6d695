//! Events encoded and streamed per second to one subscriber, in JSON and in protobuf,
//! beside the machine's own limits measured in the same run:
//!
//! * raw prost encode rate of the same event;
//! * raw serde_json encode rate of the same document (a `serde_json::Value` of what our
//!   Mesos-JSON encoder writes), i.e. the cost of JSON text alone;
//! * raw HTTP streaming rate: the same bytes, pre-encoded and pre-framed, through the same
//!   server and client, i.e. what loopback + hyper allow with no encoding at all.
//!
//! The streamed figures go through ratufa's real path: typed events into the gateway's
//! `event_stream` (encoding + RecordIO framing + chunked HTTP/1.1), read over a real
//! TCP socket by a hyper client that decodes RecordIO and counts records.
//!
//! Run: `cargo bench --bench event_stream` (EVENTS=n to change the count).

use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use prost::Message as _;
use ratufa_gateway::recordio::{self, RecordIoDecoder};
use ratufa_gateway::stream::event_stream;
use ratufa_proto::Encoding;
use ratufa_proto::v1::scheduler::{Event, event};
use ratufa_proto::v1::{self, Offer, Resource, value};

/// A typical OFFERS event: one offer of a Mesos benchmark agent (`cpus:24;mem:4096;
/// disk:4096;ports:[31000-32000]`) with two attributes.
fn offers_event(i: u64) -> Event {
    let scalar = |name: &str, v: f64| Resource {
        name: name.into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value: v }),
        ..Default::default()
    };
    let ports = Resource {
        name: "ports".into(),
        r#type: value::Type::Ranges as i32,
        ranges: Some(value::Ranges {
            range: vec![value::Range {
                begin: 31000,
                end: 32000,
            }],
        }),
        ..Default::default()
    };
    let text_attr = |name: &str, v: &str| v1::Attribute {
        name: name.into(),
        r#type: value::Type::Text as i32,
        text: Some(value::Text { value: v.into() }),
        ..Default::default()
    };
    let offer = Offer {
        id: v1::OfferId {
            value: format!("6f1e0c2a-5c55-4b55-9d0b-6a4b0fa2e3d1-O{i}"),
        },
        framework_id: v1::FrameworkId {
            value: "6f1e0c2a-5c55-4b55-9d0b-6a4b0fa2e3d1-0000".into(),
        },
        agent_id: v1::AgentId {
            value: "6f1e0c2a-5c55-4b55-9d0b-6a4b0fa2e3d1-S7".into(),
        },
        hostname: "agent7.example.com".into(),
        resources: vec![
            scalar("cpus", 24.0),
            scalar("mem", 4096.0),
            scalar("disk", 4096.0),
            ports,
        ],
        attributes: vec![text_attr("rack", "r22"), text_attr("zone", "us_east")],
        ..Default::default()
    };
    Event {
        r#type: Some(event::Type::Offers as i32),
        offers: Some(event::Offers {
            offers: vec![offer],
        }),
        ..Default::default()
    }
}

fn rate(n: u64, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64()
}

fn encode_rates(events: &[Event]) -> (f64, f64, f64, usize, usize) {
    let n = events.len() as u64;
    let start = Instant::now();
    let mut bytes = 0usize;
    for e in events {
        bytes += e.encode_to_vec().len();
    }
    let prost_rate = rate(n, start.elapsed());
    let proto_size = bytes / events.len();

    let start = Instant::now();
    let mut bytes = 0usize;
    for e in events {
        bytes += Encoding::Json.encode(e).len();
    }
    let mesos_json_rate = rate(n, start.elapsed());
    let json_size = bytes / events.len();

    // The same documents as serde_json values, encoded by serde_json alone.
    let docs: Vec<serde_json::Value> = events
        .iter()
        .map(|e| serde_json::from_slice(&Encoding::Json.encode(e)).unwrap_or_default())
        .collect();
    let start = Instant::now();
    let mut bytes = 0usize;
    for d in &docs {
        bytes += serde_json::to_vec(d).map(|v| v.len()).unwrap_or(0);
    }
    let serde_rate = rate(n, start.elapsed());
    assert!(bytes > 0);
    (
        prost_rate,
        mesos_json_rate,
        serde_rate,
        proto_size,
        json_size,
    )
}

#[derive(Clone)]
struct Bench {
    events: std::sync::Arc<Vec<Event>>,
    encoding: Encoding,
}

async fn typed_stream(State(b): State<Bench>) -> Response {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let events = b.events.clone();
    // The producer pushes as a master core would; the body encodes as it writes.
    tokio::spawn(async move {
        for e in events.iter() {
            if tx.send(e.clone()).is_err() {
                return;
            }
            if tx.is_closed() {
                return;
            }
        }
    });
    event_stream(b.encoding, Some("bench".into()), rx, None)
}

async fn raw_stream(State(b): State<Bench>) -> Response {
    // Pre-encoded and pre-framed, cut into chunks of the size the gateway batches to:
    // only the transport is left to measure.
    let mut chunks: Vec<Result<Bytes, std::convert::Infallible>> = Vec::new();
    let mut chunk = bytes::BytesMut::new();
    for e in b.events.iter() {
        chunk.extend_from_slice(&recordio::frame(&b.encoding.encode(e)));
        if chunk.len() >= 64 * 1024 {
            chunks.push(Ok(chunk.split().freeze()));
        }
    }
    if !chunk.is_empty() {
        chunks.push(Ok(chunk.freeze()));
    }
    Response::new(Body::from_stream(futures::stream::iter(chunks)))
}

async fn stream_rate(path: &str, bench: Bench) -> (f64, f64) {
    let n = bench.events.len();
    let app = Router::new()
        .route("/typed", get(typed_stream))
        .route("/raw", get(raw_stream))
        .with_state(bench);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let client: Client<_, Body> = Client::builder(TokioExecutor::new()).build_http();
    // For the raw route the server pre-encodes everything before it answers; the clock
    // starts at the first byte so that only streaming is timed.
    let mut start = Instant::now();
    let response = client
        .get(format!("http://{addr}{path}").parse().expect("uri"))
        .await
        .expect("request");
    if path == "/raw" {
        start = Instant::now();
    }
    let mut body = response.into_body();
    let mut decoder = RecordIoDecoder::new(16 * 1024 * 1024);
    let mut records = 0usize;
    let mut bytes = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.expect("body frame");
        if let Ok(data) = frame.into_data() {
            bytes += data.len();
            records += decoder.feed(&data).expect("recordio").len();
            if records >= n {
                break;
            }
        }
    }
    let elapsed = start.elapsed();
    assert_eq!(records, n, "every event arrived");
    (
        rate(n as u64, elapsed),
        bytes as f64 / elapsed.as_secs_f64() / 1e6,
    )
}

fn main() {
    let n: u64 = std::env::var("EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let events: Vec<Event> = (0..n).map(offers_event).collect();
    let (prost_rate, mesos_json_rate, serde_rate, proto_size, json_size) = encode_rates(&events);

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let events = std::sync::Arc::new(events);
    let mut streamed = Vec::new();
    for encoding in [Encoding::Json, Encoding::Protobuf] {
        let bench = Bench {
            events: events.clone(),
            encoding,
        };
        let typed = runtime.block_on(stream_rate("/typed", bench.clone()));
        let raw = runtime.block_on(stream_rate("/raw", bench));
        streamed.push((encoding, typed, raw));
    }

    println!("event_stream: {n} OFFERS events (1 offer, 4 resources, 2 attributes)");
    println!("  event size: protobuf {proto_size} B, JSON {json_size} B");
    println!("  encode only (events/s):");
    println!("    raw prost encode                 {prost_rate:>12.0}");
    println!("    raw serde_json encode (Value)    {serde_rate:>12.0}");
    println!("    ratufa Mesos-JSON encode         {mesos_json_rate:>12.0}");
    println!("  streamed to one subscriber over loopback HTTP (events/s, MB/s):");
    for (encoding, typed, raw) in streamed {
        println!(
            "    {:<9} ratufa event_stream      {:>12.0}  {:>8.1}",
            format!("{encoding:?}"),
            typed.0,
            typed.1
        );
        println!(
            "    {:<9} raw pre-framed bytes     {:>12.0}  {:>8.1}",
            format!("{encoding:?}"),
            raw.0,
            raw.1
        );
    }
}
