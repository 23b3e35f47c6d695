//! `/master/state` (and `/state`, `/state.json`, `/master/state.json`), `/frameworks`,
//! `/slaves`, `/tasks` and `/metrics/snapshot`, in the JSON shapes Mesos serves them.
//!
//! The driver hands over a [`StateSnapshot`] (a copy taken between two inputs); the
//! JSON is built here, on the request's task, so a large state never holds the core up.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use ratufa_proto::v1::value::{Ranges, Set};
use ratufa_proto::v1::{
    AgentInfo, Attribute, ExecutorInfo, Offer, Resource, Task, TaskState, TaskStatus,
};
use serde_json::{Map, Value, json};

use super::scheduler::stopped;
use crate::MasterHandle;
use crate::core::{AgentSnapshot, FrameworkSnapshot, StateSnapshot, Time, WallClock};
use crate::master_info::VERSION;

pub(super) async fn state(State(master): State<MasterHandle>) -> Response {
    with_snapshot(master, state_json).await
}

pub(super) async fn frameworks(State(master): State<MasterHandle>) -> Response {
    with_snapshot(master, |_, snapshot| {
        let clock = Clock::of(snapshot);
        json!({
            "frameworks": snapshot.frameworks.iter().map(|f| framework_json(f, &clock)).collect::<Vec<_>>(),
            "completed_frameworks": snapshot.completed_frameworks.iter().map(|f| framework_json(f, &clock)).collect::<Vec<_>>(),
            "unregistered_frameworks": [],
        })
    })
    .await
}

pub(super) async fn slaves(State(master): State<MasterHandle>) -> Response {
    with_snapshot(master, |_, snapshot| {
        let clock = Clock::of(snapshot);
        json!({
            "slaves": snapshot.agents.iter().map(|a| agent_json(a, &clock)).collect::<Vec<_>>(),
            "recovered_slaves": snapshot.recovered_agents.iter().map(recovered_agent_json).collect::<Vec<_>>(),
        })
    })
    .await
}

pub(super) async fn tasks(State(master): State<MasterHandle>) -> Response {
    with_snapshot(master, |_, snapshot| {
        let tasks: Vec<Value> = snapshot
            .frameworks
            .iter()
            .chain(&snapshot.completed_frameworks)
            .flat_map(|f| {
                f.tasks
                    .iter()
                    .chain(&f.unreachable_tasks)
                    .chain(&f.completed_tasks)
                    .map(|t| task_json(&t.task()))
            })
            .collect();
        json!({ "tasks": tasks })
    })
    .await
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
    out
}

/// Takes a snapshot from the core (cheap: shared records) and builds the document on a
/// blocking thread: at 100k tasks that is a few hundred milliseconds, which must hold up
/// neither the core nor the async workers serving scheduler streams.
async fn with_snapshot(
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

    fn secs(&self, time: Time) -> Value {
        number(self.epoch_secs(time))
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

fn number(value: f64) -> Value {
    serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
}

fn state_json(master: &MasterHandle, snapshot: &StateSnapshot) -> Value {
    let clock = Clock::of(snapshot);
    let info = &snapshot.master_info;
    let pid = info.pid.clone().unwrap_or_default();
    // The process started once; this term (its core) began when it was elected.
    let start = number(epoch_secs(master.started_at()));
    let elected = clock.secs(Time::ZERO);
    let flags = flags_json(master);
    let active = snapshot.agents.iter().filter(|a| a.active).count();
    json!({
        "version": VERSION,
        "build_date": "",
        "build_time": 0,
        "build_user": "",
        "start_time": start,
        "elected_time": elected,
        "id": info.id,
        "pid": pid,
        "hostname": info.hostname.clone().unwrap_or_default(),
        "capabilities": ratufa_proto::json::to_value(info)
            .get("capabilities")
            .and_then(Value::as_array)
            .map(|caps| caps.iter().filter_map(|c| c.get("type").cloned()).collect::<Vec<_>>())
            .unwrap_or_default(),
        "activated_slaves": active,
        "deactivated_slaves": snapshot.agents.len() - active,
        "unreachable_slaves": snapshot.unreachable_agents.len(),
        "leader": pid,
        "leader_info": ratufa_proto::json::to_value(info),
        "flags": flags,
        "slaves": snapshot.agents.iter().map(|a| agent_json(a, &clock)).collect::<Vec<_>>(),
        "recovered_slaves": snapshot.recovered_agents.iter().map(recovered_agent_json).collect::<Vec<_>>(),
        "frameworks": snapshot.frameworks.iter().map(|f| framework_json(f, &clock)).collect::<Vec<_>>(),
        "completed_frameworks": snapshot.completed_frameworks.iter().map(|f| framework_json(f, &clock)).collect::<Vec<_>>(),
        "orphan_tasks": [],
        "unregistered_frameworks": [],
    })
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

/// An agent the registry lists that has not re-registered: what its AgentInfo says.
fn recovered_agent_json(info: &AgentInfo) -> Value {
    json!({
        "id": info.id.as_ref().map(|id| id.value.clone()).unwrap_or_default(),
        "hostname": info.hostname,
        "port": info.port.unwrap_or(0),
        "attributes": attributes_json(&info.attributes),
        "resources": resources_json(&info.resources),
    })
}

fn agent_json(agent: &AgentSnapshot, clock: &Clock) -> Value {
    let info = &agent.info;
    let id = info
        .id
        .as_ref()
        .map(|id| id.value.clone())
        .unwrap_or_default();
    let mut reserved = Map::new();
    let mut by_role: BTreeMap<String, Vec<Resource>> = BTreeMap::new();
    for resource in agent.total.iter() {
        if let Some(role) = ratufa_proto::resources::reservation_role(resource) {
            by_role
                .entry(role.to_string())
                .or_default()
                .push(resource.clone());
        }
    }
    for (role, resources) in by_role {
        reserved.insert(role, resources_json(&resources));
    }
    let mut out = json!({
        "id": id,
        "hostname": info.hostname,
        "port": info.port.unwrap_or(0),
        "attributes": attributes_json(&info.attributes),
        "pid": agent_pid(info),
        "registered_time": clock.secs(agent.registered_time),
        "resources": resources_json(agent.total.as_slice()),
        "used_resources": resources_json(agent.used().as_slice()),
        "offered_resources": resources_json(agent.offered.as_slice()),
        "reserved_resources": reserved,
        "unreserved_resources": resources_json(agent.total.unreserved().as_slice()),
        "active": agent.active,
        "deactivated": false,
        "version": agent.version.clone().unwrap_or_default(),
        "capabilities": [],
    });
    if let Some(at) = agent.reregistered_time {
        out["reregistered_time"] = clock.secs(at);
    }
    out
}

/// The libprocess pid Mesos shows for an agent; ours is made up from its address,
/// since the agent link is no libprocess.
pub(super) fn agent_pid(info: &ratufa_proto::v1::AgentInfo) -> String {
    format!("slave(1)@{}:{}", info.hostname, info.port.unwrap_or(0))
}

fn framework_json(framework: &FrameworkSnapshot, clock: &Clock) -> Value {
    let info = &framework.info;
    let id = info
        .id
        .as_ref()
        .map(|id| id.value.clone())
        .unwrap_or_default();
    let info_json = ratufa_proto::json::to_value(info);
    let capabilities: Vec<Value> = info_json
        .get("capabilities")
        .and_then(Value::as_array)
        .map(|caps| caps.iter().filter_map(|c| c.get("type").cloned()).collect())
        .unwrap_or_default();
    let multi_role = capabilities.iter().any(|c| c == "MULTI_ROLE");
    let used = framework.used_resources();
    let mut total = used.clone();
    total += &framework.offered_resources;
    let mut out = json!({
        "id": id,
        "name": info.name,
        "used_resources": resources_json(used.as_slice()),
        "offered_resources": resources_json(framework.offered_resources.as_slice()),
        "capabilities": capabilities,
        "hostname": info.hostname.clone().unwrap_or_default(),
        "webui_url": info.webui_url.clone().unwrap_or_default(),
        "active": framework.active,
        "connected": framework.connected,
        "recovered": framework.recovered,
        "user": info.user,
        "failover_timeout": info.failover_timeout.unwrap_or(0.0),
        "checkpoint": info.checkpoint.unwrap_or(false),
        "registered_time": clock.secs(framework.registered_time),
        "unregistered_time": framework.unregistered_time.map_or(json!(0), |t| clock.secs(t)),
        "resources": resources_json(total.as_slice()),
        "tasks": framework.tasks.iter().map(|t| task_json(&t.task())).collect::<Vec<_>>(),
        "unreachable_tasks": framework.unreachable_tasks.iter().map(|t| task_json(&t.task())).collect::<Vec<_>>(),
        "completed_tasks": framework.completed_tasks.iter().map(|t| task_json(&t.task())).collect::<Vec<_>>(),
        "offers": framework.offers.iter().map(offer_json).collect::<Vec<_>>(),
        "executors": framework
            .executors
            .iter()
            .map(|(agent_id, executor)| executor_json(agent_id, executor))
            .collect::<Vec<_>>(),
    });
    if multi_role {
        out["roles"] = json!(framework.roles);
    } else {
        out["role"] = json!(framework.roles.first().map_or("*", String::as_str));
    }
    if let Some(principal) = &info.principal {
        out["principal"] = json!(principal);
    }
    if let Some(at) = framework.reregistered_time {
        out["reregistered_time"] = clock.secs(at);
    }
    if let Some(labels) = info_json.get("labels") {
        out["labels"] = labels.clone();
    }
    out
}

fn task_json(task: &Task) -> Value {
    let role = task
        .resources
        .iter()
        .find_map(|r| r.allocation_info.as_ref()?.role.clone())
        .unwrap_or_default();
    let mut out = json!({
        "id": task.task_id.value,
        "name": task.name,
        "framework_id": task.framework_id.value,
        "executor_id": task.executor_id.as_ref().map(|e| e.value.clone()).unwrap_or_default(),
        "slave_id": task.agent_id.value,
        "state": state_name(task.state),
        "resources": resources_json(&task.resources),
        "role": role,
        "statuses": task.statuses.iter().map(status_json).collect::<Vec<_>>(),
    });
    if let Some(user) = &task.user {
        out["user"] = json!(user);
    }
    let task_json = ratufa_proto::json::to_value(task);
    for key in ["labels", "discovery", "container", "health_check"] {
        if let Some(value) = task_json.get(key) {
            out[key] = value.clone();
        }
    }
    out
}

fn status_json(status: &TaskStatus) -> Value {
    let mut out = json!({
        "state": state_name(status.state),
        "timestamp": number(status.timestamp.unwrap_or(0.0)),
    });
    if let Some(healthy) = status.healthy {
        out["healthy"] = json!(healthy);
    }
    let status_json = ratufa_proto::json::to_value(status);
    for key in ["labels", "container_status"] {
        if let Some(value) = status_json.get(key) {
            out[key] = value.clone();
        }
    }
    out
}

fn offer_json(offer: &Offer) -> Value {
    json!({
        "id": offer.id.value,
        "framework_id": offer.framework_id.value,
        "allocation_info": offer
            .allocation_info
            .as_ref()
            .map(ratufa_proto::json::to_value)
            .unwrap_or_else(|| json!({})),
        "slave_id": offer.agent_id.value,
        "resources": resources_json(&offer.resources),
    })
}

fn executor_json(agent_id: &str, executor: &ExecutorInfo) -> Value {
    let executor_value = ratufa_proto::json::to_value(executor);
    let mut out = json!({
        "executor_id": executor.executor_id.value,
        "name": executor.name.clone().unwrap_or_default(),
        "framework_id": executor.framework_id.as_ref().map(|f| f.value.clone()).unwrap_or_default(),
        "command": executor_value.get("command").cloned().unwrap_or_else(|| json!({})),
        "resources": resources_json(&executor.resources),
        "slave_id": agent_id,
    });
    if let Some(role) = executor
        .resources
        .iter()
        .find_map(|r| r.allocation_info.as_ref()?.role.clone())
    {
        out["role"] = json!(role);
    }
    out
}

/// Mesos's resource summary: `cpus`, `gpus`, `mem` and `disk` always (0 when absent),
/// every scalar summed by name, ranges as `"[31000-32000]"`, sets as `"{a, b}"`;
/// revocable resources under `<name>_revocable`.
fn resources_json(resources: &[Resource]) -> Value {
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
    let mut out = Map::new();
    for (name, value) in scalars {
        // Fixed-point sums, so 0.1 + 0.2 shows as 0.3 (Mesos keeps three decimals).
        out.insert(name, number((value * 1000.0).round() / 1000.0));
    }
    for (name, mut list) in ranges {
        list.sort_unstable();
        out.insert(name, Value::String(format_ranges(&list)));
    }
    for (name, mut items) in sets {
        items.sort();
        items.dedup();
        out.insert(name, Value::String(format!("{{{}}}", items.join(", "))));
    }
    Value::Object(out)
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

/// Attributes as Mesos's state shows them: scalars as numbers, the rest as text.
fn attributes_json(attributes: &[Attribute]) -> Value {
    let mut out = Map::new();
    for attribute in attributes {
        let value = if let Some(scalar) = &attribute.scalar {
            number(scalar.value)
        } else if let Some(Ranges { range }) = &attribute.ranges {
            let mut list: Vec<(u64, u64)> = range.iter().map(|r| (r.begin, r.end)).collect();
            list.sort_unstable();
            Value::String(format_ranges(&list))
        } else if let Some(Set { item }) = &attribute.set {
            Value::String(format!("{{{}}}", item.join(", ")))
        } else if let Some(text) = &attribute.text {
            Value::String(text.value.clone())
        } else {
            continue;
        };
        out.insert(attribute.name.clone(), value);
    }
    Value::Object(out)
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
        resources_json(resources.as_slice())
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
        let value = attributes_json(&attributes);
        assert_eq!(value["rack"], json!(22.0));
        assert_eq!(value["zone"], json!("us_east"));
        assert_eq!(value["level"], json!("[1-5]"));
    }
}
