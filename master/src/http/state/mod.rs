//! `/master/state` (and `/state`, `/state.json`, `/master/state.json`), `/frameworks`,
//! `/slaves`, `/tasks` and `/metrics/snapshot`, in the JSON shapes Mesos serves them.
//!
//! The driver hands over a [`StateSnapshot`] (a copy taken between two inputs); the
//! JSON is built here, off the core, so a large state never holds the core up. The
//! large documents are written straight to bytes and streamed ([`writer`]).

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use ratufa_proto::v1::value::{Ranges, Set};
use ratufa_proto::v1::{Attribute, Resource, TaskState};
use serde_json::{Map, Value, json};

use super::chunks::{Chunks, stream_body};
use super::scheduler::stopped;
use crate::MasterHandle;
use crate::core::{StateSnapshot, Time, WallClock};

#[cfg(test)]
pub(super) mod oracle;
mod query;
mod writer;

use query::ListQuery;
use writer::JsonOut;

pub(super) async fn state(State(master): State<MasterHandle>) -> Response {
    stream_snapshot(master, |out, master, snapshot| {
        writer::state(out, snapshot, master.flags(), master.started_at());
    })
    .await
}

pub(super) async fn state_summary(State(master): State<MasterHandle>) -> Response {
    stream_snapshot(master, |out, _, snapshot| {
        writer::state_summary(out, snapshot);
    })
    .await
}

pub(super) async fn frameworks(
    State(master): State<MasterHandle>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let query = ListQuery::from_params(&params);
    stream_snapshot(master, move |out, _, snapshot| {
        writer::frameworks_document(out, snapshot, &query);
    })
    .await
}

pub(super) async fn slaves(
    State(master): State<MasterHandle>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let query = ListQuery::from_params(&params);
    stream_snapshot(master, move |out, _, snapshot| {
        writer::agents_document(out, snapshot, &query);
    })
    .await
}

pub(super) async fn tasks(
    State(master): State<MasterHandle>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let query = ListQuery::from_params(&params);
    stream_snapshot(master, move |out, _, snapshot| {
        writer::tasks_document(out, snapshot, &query);
    })
    .await
}

/// Takes a snapshot from the core (cheap: shared records) and streams the document
/// written from it (see [`chunks`](super::chunks)).
async fn stream_snapshot(
    master: MasterHandle,
    write: impl FnOnce(&mut JsonOut, &MasterHandle, &StateSnapshot) + Send + 'static,
) -> Response {
    let snapshot = match master.snapshot().await {
        Ok(snapshot) => snapshot,
        Err(e) => return stopped(e).into_response(),
    };
    let body = stream_body(move |sink| {
        let mut out = JsonOut::new(Chunks::streaming(sink));
        write(&mut out, &master, &snapshot);
        out.finish();
    });
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// `/weights`: the weights set by `--weights` or UPDATE_WEIGHTS, as Mesos's
/// endpoint lists them (`[{"role": …, "weight": …}]`).
pub(super) async fn weights(State(master): State<MasterHandle>) -> Response {
    with_snapshot(master, |_, snapshot| {
        Value::Array(
            snapshot
                .weights
                .iter()
                .map(|(role, weight)| json!({"role": role, "weight": number(*weight)}))
                .collect(),
        )
    })
    .await
}

/// `/metrics/snapshot`: a flat map of metric name to number.
pub(super) async fn metrics(State(master): State<MasterHandle>) -> Response {
    with_snapshot(master, |master, snapshot| {
        let mut out = Map::new();
        for (name, value) in metric_values(master, snapshot) {
            out.insert(name, number(value));
        }
        Value::Object(out)
    })
    .await
}

/// Every metric the master reports, by Mesos's name: `/metrics/snapshot` and the
/// operator API's GET_METRICS.
pub(super) fn metric_values(master: &MasterHandle, snapshot: &StateSnapshot) -> Vec<(String, f64)> {
    let mut out = snapshot.metrics();
    out.push(("master/elected".to_string(), 1.0));
    out.push((
        "master/uptime_secs".to_string(),
        master
            .started_at()
            .elapsed()
            .map_or(0.0, |d| d.as_secs_f64()),
    ));
    out.push((
        "master/operator_event_stream_subscribers".to_string(),
        master.operator_subscribers() as f64,
    ));
    // The host's, as every Mesos daemon reports them.
    out.extend(ratufa_gateway::system_metrics::system_metrics());
    out
}

/// Takes a snapshot from the core and builds a small document on a blocking thread.
pub(super) async fn with_snapshot(
    master: MasterHandle,
    build: impl FnOnce(&MasterHandle, &StateSnapshot) -> Value + Send + 'static,
) -> Response {
    let snapshot = match master.snapshot().await {
        Ok(snapshot) => snapshot,
        Err(e) => return stopped(e).into_response(),
    };
    let body = tokio::task::spawn_blocking(move || serde_json::to_vec(&build(&master, &snapshot)));
    match body.await {
        Ok(Ok(body)) => (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Ok(Err(e)) => ratufa_gateway::ApiError::internal(format!("encoding the state failed: {e}"))
            .into_response(),
        Err(e) => ratufa_gateway::ApiError::internal(format!("building the state failed: {e}"))
            .into_response(),
    }
}

/// Turns the core's [`Time`]s into wall-clock times, as Mesos reports them: each core
/// (each term) has its own origin, which the snapshot carries.
pub(super) struct Clock(WallClock);

impl Clock {
    pub(super) fn of(snapshot: &StateSnapshot) -> Clock {
        Clock(snapshot.wall_clock)
    }

    pub(super) fn epoch_secs(&self, time: Time) -> f64 {
        epoch_secs(self.0.at(time))
    }

    /// As a `TimeInfo` (nanoseconds since the epoch), as the operator API reports times.
    pub(super) fn time_info(&self, time: Time) -> ratufa_proto::v1::TimeInfo {
        self.0.time_info(time)
    }
}

/// Seconds since the Unix epoch (zero for a time before it).
pub(super) fn epoch_secs(time: std::time::SystemTime) -> f64 {
    time.duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

pub(super) fn number(value: f64) -> Value {
    serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
}

/// `/flags` (any master, leading or not): the flags by Mesos's names.
pub(super) fn flags(master: &MasterHandle) -> axum::Json<Value> {
    axum::Json(json!({ "flags": flags_json(master) }))
}

fn flags_json(master: &MasterHandle) -> Map<String, Value> {
    master
        .flags()
        .iter()
        .map(|(name, value)| (name.clone(), Value::String(value.clone())))
        .collect()
}

/// The libprocess pid Mesos shows for an agent (`slave(1)@ip:port`, which tools parse
/// for the agent's address); ours is made up from the IP address the agent said it is
/// reached at, or its hostname from an agent that did not say, since the agent link is
/// no libprocess.
pub(super) fn agent_pid(agent: &crate::core::AgentSnapshot) -> String {
    let host = agent.ip.as_deref().unwrap_or(&agent.info.hostname);
    format!("slave(1)@{host}:{}", agent.info.port.unwrap_or(0))
}

/// One entry of Mesos's summaries of resources and attributes.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Summary {
    Number(f64),
    Text(String),
}

/// Mesos's resource summary, by name: `cpus`, `gpus`, `mem` and `disk` always (0 when
/// absent), every scalar summed by name, ranges as `"[31000-32000]"`, sets as
/// `"{a, b}"`; revocable resources under `<name>_revocable`.
pub(super) fn resource_summary(resources: &[Resource]) -> BTreeMap<String, Summary> {
    let mut scalars: BTreeMap<String, f64> = ["cpus", "gpus", "mem", "disk"]
        .into_iter()
        .map(|name| (name.to_string(), 0.0))
        .collect();
    let mut ranges: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
    let mut sets: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for resource in resources {
        let name = if resource.revocable.is_some() {
            format!("{}_revocable", resource.name)
        } else {
            resource.name.clone()
        };
        if let Some(scalar) = &resource.scalar {
            *scalars.entry(name).or_default() += scalar.value;
        } else if let Some(Ranges { range }) = &resource.ranges {
            ranges
                .entry(name)
                .or_default()
                .extend(range.iter().map(|r| (r.begin, r.end)));
        } else if let Some(Set { item }) = &resource.set {
            sets.entry(name).or_default().extend(item.iter().cloned());
        }
    }
    // Later kinds win a name clash, as they always have.
    let mut out = BTreeMap::new();
    for (name, value) in scalars {
        // Fixed-point sums, so 0.1 + 0.2 shows as 0.3 (Mesos keeps three decimals).
        out.insert(name, Summary::Number((value * 1000.0).round() / 1000.0));
    }
    for (name, mut list) in ranges {
        list.sort_unstable();
        out.insert(name, Summary::Text(format_ranges(&list)));
    }
    for (name, mut items) in sets {
        items.sort();
        items.dedup();
        out.insert(name, Summary::Text(format!("{{{}}}", items.join(", "))));
    }
    out
}

/// Attributes as Mesos's state shows them: scalars as numbers, the rest as text.
pub(super) fn attribute_summary(attributes: &[Attribute]) -> BTreeMap<String, Summary> {
    let mut out = BTreeMap::new();
    for attribute in attributes {
        let value = if let Some(scalar) = &attribute.scalar {
            Summary::Number(scalar.value)
        } else if let Some(Ranges { range }) = &attribute.ranges {
            let mut list: Vec<(u64, u64)> = range.iter().map(|r| (r.begin, r.end)).collect();
            list.sort_unstable();
            Summary::Text(format_ranges(&list))
        } else if let Some(Set { item }) = &attribute.set {
            Summary::Text(format!("{{{}}}", item.join(", ")))
        } else if let Some(text) = &attribute.text {
            Summary::Text(text.value.clone())
        } else {
            continue;
        };
        out.insert(attribute.name.clone(), value);
    }
    out
}

/// `[1-2, 5-6]`, adjacent and overlapping ranges merged.
fn format_ranges(sorted: &[(u64, u64)]) -> String {
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for &(begin, end) in sorted {
        match merged.last_mut() {
            Some(last) if begin <= last.1.saturating_add(1) => last.1 = last.1.max(end),
            _ => merged.push((begin, end)),
        }
    }
    let parts: Vec<String> = merged.iter().map(|(b, e)| format!("{b}-{e}")).collect();
    format!("[{}]", parts.join(", "))
}

fn state_name(state: i32) -> &'static str {
    TaskState::try_from(state).map_or("TASK_UNKNOWN", |s| s.as_str_name())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use ratufa_proto::resources::Resources;

    fn summary(resources: &Resources) -> Value {
        oracle::resources_json(resources.as_slice())
    }

    #[test]
    fn resources_summarize_as_mesos_does() {
        let resources = Resources::parse(
            "cpus:1.5;mem:1024;ports:[31000-31005,31006-32000,5-6];cpus(prod):0.5;colors:{b,a}",
            "*",
        )
        .unwrap();
        let value = summary(&resources);
        assert_eq!(value["cpus"], json!(2.0));
        assert_eq!(value["mem"], json!(1024.0));
        assert_eq!(value["disk"], json!(0.0));
        assert_eq!(value["ports"], json!("[5-6, 31000-32000]"));
        assert_eq!(value["gpus"], json!(0.0));
        assert_eq!(value["colors"], json!("{a, b}"));
        let empty = summary(&Resources::new());
        assert_eq!(
            empty,
            json!({"cpus": 0.0, "gpus": 0.0, "mem": 0.0, "disk": 0.0})
        );
    }

    #[test]
    fn attributes_as_text_and_numbers() {
        let attributes =
            ratufa_proto::resources::parse_attributes("rack:22;zone:us_east;level:[1-5]").unwrap();
        let value = oracle::attributes_json(&attributes);
        assert_eq!(value["rack"], json!(22.0));
        assert_eq!(value["zone"], json!("us_east"));
        assert_eq!(value["level"], json!("[1-5]"));
    }
}
