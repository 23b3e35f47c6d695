//! What the HTTP benchmarks share: settings from the environment, a pooled hyper client,
//! protobuf POSTs, and a subscribed scheduler's event stream.

// Each benchmark uses a different subset.
#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use prost::Message as _;
use ratufa_gateway::recordio::RecordIoDecoder;
use ratufa_proto::v1::scheduler::{Call, Event, call};
use ratufa_proto::v1::{
    AgentId, CommandInfo, FrameworkId, FrameworkInfo, Resource, TaskId, TaskInfo, TaskStatus, value,
};

pub const PROTOBUF: &str = "application/x-protobuf";

/// A number from the environment, else `default`.
pub fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The ACKNOWLEDGE call for `status`; `None` for an update without a uuid (nothing to
/// acknowledge).
pub fn acknowledgement(framework_id: Option<FrameworkId>, status: &TaskStatus) -> Option<Call> {
    Some(Call {
        framework_id,
        r#type: Some(call::Type::Acknowledge as i32),
        acknowledge: Some(call::Acknowledge {
            agent_id: status.agent_id.clone().unwrap_or_default(),
            task_id: status.task_id.clone(),
            uuid: status.uuid.clone()?,
        }),
        ..Default::default()
    })
}

/// Task `t<i>` on `agent_id`: a command task running `true` with `cpus` and `mem`.
pub fn true_task(i: u64, agent_id: AgentId, cpus: f64, mem: f64) -> TaskInfo {
    TaskInfo {
        name: format!("t{i}"),
        task_id: TaskId {
            value: format!("t{i}"),
        },
        agent_id,
        resources: vec![scalar("cpus", cpus), scalar("mem", mem)],
        command: Some(CommandInfo {
            value: Some("true".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn scalar(name: &str, v: f64) -> Resource {
    Resource {
        name: name.into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value: v }),
        ..Default::default()
    }
}

/// The sum of the scalar resources named `name`.
pub fn scalar_sum(resources: &[Resource], name: &str) -> f64 {
    resources
        .iter()
        .filter(|r| r.name == name)
        .filter_map(|r| r.scalar.as_ref().map(|s| s.value))
        .sum()
}

/// CPU seconds used by process `pid` and the children it has reaped (user + system).
pub fn cpu_seconds(pid: u32) -> f64 {
    stat_cpu_seconds(pid, 11..15)
}

/// CPU seconds used by process `pid` itself, without its children (user + system).
pub fn own_cpu_seconds(pid: u32) -> f64 {
    stat_cpu_seconds(pid, 11..13)
}

/// The sum of the `/proc/<pid>/stat` tick fields in `range`, in seconds.
fn stat_cpu_seconds(pid: u32, range: std::ops::Range<usize>) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // utime, stime, cutime, cstime are fields 14-17 of stat(5); `fields` starts at 3.
    let ticks: f64 = fields
        .get(range)
        .map(|f| f.iter().filter_map(|v| v.parse::<f64>().ok()).sum())
        .unwrap_or(0.0);
    ticks / clock_ticks_per_second()
}

fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100.0)
}

/// The resident set size of process `pid` in bytes (VmRSS), 0 when it cannot be read.
pub fn rss_bytes(pid: u32) -> u64 {
    status_kib(pid, "VmRSS:") * 1024
}

/// A `kB` line of `/proc/<pid>/status`, 0 when it cannot be read.
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
}

/// Resets process `pid`'s peak RSS (VmHWM) to its current RSS (`/proc/<pid>/clear_refs`,
/// Linux 4.0 on); the peak then tells what one request took on top.
pub fn reset_peak_rss(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

/// The peak resident set size of process `pid` in bytes (VmHWM), 0 when unreadable.
pub fn peak_rss_bytes(pid: u32) -> u64 {
    status_kib(pid, "VmHWM:") * 1024
}

/// The 1-minute load average, to record how busy the machine was.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".to_string())
}

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(256)
        .build_http()
}

/// POSTs a protobuf body (on a scheduler stream when `stream_id` is given).
pub async fn post(
    client: &HttpClient,
    uri: &str,
    stream_id: Option<&str>,
    body: Vec<u8>,
) -> hyper::Response<Incoming> {
    let mut request = Request::post(uri)
        .header("Content-Type", PROTOBUF)
        .header("Accept", PROTOBUF);
    if let Some(id) = stream_id {
        request = request.header("Mesos-Stream-Id", id);
    }
    client
        .request(request.body(Full::new(Bytes::from(body))).expect("request"))
        .await
        .expect("POST")
}

/// A framework subscribed over protobuf: its stream id, and its events as they come.
pub struct Subscription {
    pub stream_id: String,
    pub framework_id: Option<FrameworkId>,
    body: Incoming,
    decoder: RecordIoDecoder,
}

impl Subscription {
    pub async fn open(client: &HttpClient, uri: &str, info: FrameworkInfo) -> Subscription {
        let subscribe = Call {
            r#type: Some(call::Type::Subscribe as i32),
            subscribe: Some(call::Subscribe {
                framework_info: info,
                ..Default::default()
            }),
            ..Default::default()
        };
        let response = post(client, uri, None, subscribe.encode_to_vec()).await;
        assert_eq!(response.status(), 200, "subscribe");
        let stream_id = response
            .headers()
            .get("Mesos-Stream-Id")
            .and_then(|v| v.to_str().ok())
            .expect("stream id")
            .to_string();
        Subscription {
            stream_id,
            framework_id: None,
            body: response.into_body(),
            decoder: RecordIoDecoder::new(64 * 1024 * 1024),
        }
    }

    /// The events of the next chunk read (none on a chunk that ends no record); `None`
    /// when the stream ended. SUBSCRIBED fills in `framework_id` on the way.
    pub async fn next_events(&mut self) -> Option<Vec<Event>> {
        loop {
            let frame = self.body.frame().await?.expect("frame");
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let events: Vec<Event> = self
                .decoder
                .feed(&data)
                .expect("recordio")
                .into_iter()
                .map(|record| Event::decode(record).expect("event"))
                .collect();
            for event in &events {
                if let Some(subscribed) = &event.subscribed {
                    self.framework_id = Some(subscribed.framework_id.clone());
                }
            }
            return Some(events);
        }
    }
}
