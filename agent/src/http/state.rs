//! The agent's `/state` (also `/state.json`, `/slave(1)/state`, `/slave(1)/state.json`)
//! in Mesos's shape, minimal: who the agent is, what it offers, and each framework's
//! executors with their sandbox `directory` and tasks — what a user needs to go from a
//! task to its files (`/state` → directory → `/files/read`).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use ratufa_proto::resources::Resources;
use ratufa_proto::v1::{Attribute, Resource, TaskState, TaskStatus};
use serde_json::{Map, Value, json};

use crate::files::{Book, ExecutorRun, FrameworkRuns, RunTask, Sandboxes};

pub async fn state(State(sandboxes): State<Sandboxes>) -> Json<Value> {
    Json(state_json(&sandboxes.snapshot()))
}

pub fn state_json(book: &Book) -> Value {
    let info = &book.info;
    let agent_id = info
        .id
        .as_ref()
        .map(|id| id.value.clone())
        .unwrap_or_default();
    let port = info.port.unwrap_or(0);
    // The address the master shows for this agent (see `AgentConfig::advertise_ip`).
    let ip = match book.config.advertise_ip {
        Some(ip) => ip.to_string(),
        None if book.config.ip.is_unspecified() => info.hostname.clone(),
        None => book.config.ip.to_string(),
    };
    // As Mesos's agent: a framework whose executors have all ended is completed (with
    // them among its completed executors).
    let (live, ended): (Vec<_>, Vec<_>) = book
        .frameworks
        .iter()
        .partition(|(_, runs)| !runs.executors.is_empty());
    let frameworks: Vec<Value> = live
        .into_iter()
        .map(|(id, runs)| framework_json(id, runs, &agent_id))
        .collect();
    let completed_frameworks: Vec<Value> = ended
        .into_iter()
        .map(|(id, runs)| framework_json(id, runs, &agent_id))
        .collect();
    json!({
        "version": ratufa_gateway::version::MESOS_VERSION,
        "id": agent_id,
        "pid": format!("slave(1)@{ip}:{port}"),
        "hostname": info.hostname,
        "resources": resources_json(&info.resources),
        "attributes": attributes_json(&info.attributes),
        "master_hostname": master_hostname(&book.config.master),
        "flags": flags_json(book),
        "frameworks": frameworks,
        "completed_frameworks": completed_frameworks,
    })
}

// `role` is deprecated in favour of `roles`, but Mesos's `/state` still shows it.
#[allow(deprecated)]
fn framework_json(id: &str, runs: &FrameworkRuns, agent_id: &str) -> Value {
    let executors: Vec<Value> = runs
        .executors
        .values()
        .map(|run| executor_json(id, run, agent_id, false))
        .collect();
    let completed: Vec<Value> = runs
        .completed
        .iter()
        .map(|run| executor_json(id, run, agent_id, true))
        .collect();
    json!({
        "id": id,
        "name": runs.info.name,
        "user": runs.info.user,
        "role": runs.info.role.clone().unwrap_or_else(|| "*".to_string()),
        "roles": runs.info.roles,
        "checkpoint": runs.info.checkpoint.unwrap_or(false),
        "executors": executors,
        "completed_executors": completed,
    })
}

// `source` is deprecated in favour of labels, but Mesos's `/state` still shows it.
#[allow(deprecated)]
fn executor_json(framework_id: &str, run: &ExecutorRun, agent_id: &str, done: bool) -> Value {
    let mut tasks = Vec::new();
    let mut completed_tasks = Vec::new();
    for entry in run.tasks.values() {
        let task = task_json(framework_id, run, entry, agent_id);
        if done || ratufa_proto::task_state::is_terminal(entry.state) {
            completed_tasks.push(task);
        } else {
            tasks.push(task);
        }
    }
    let info = run.executor_info(framework_id);
    json!({
        "id": run.executor_id,
        "name": info.name.unwrap_or_default(),
        "source": info.source.unwrap_or_default(),
        "container": run.container_id,
        "directory": run.directory.display().to_string(),
        "resources": resources_json(&run.task.resources),
        "tasks": tasks,
        "queued_tasks": [],
        "completed_tasks": completed_tasks,
    })
}

/// A task as Mesos's `/state` lists it; a command task names no executor.
fn task_json(framework_id: &str, run: &ExecutorRun, entry: &RunTask, agent_id: &str) -> Value {
    let info = &entry.info;
    let command_task = info.executor.is_none() && info.task_id.value == run.executor_id;
    json!({
        "id": info.task_id.value,
        "name": info.name,
        "framework_id": framework_id,
        "executor_id": if command_task { "" } else { run.executor_id.as_str() },
        "slave_id": agent_id,
        "state": TaskState::try_from(entry.state as i32).map_or("TASK_UNKNOWN", |s| s.as_str_name()),
        "resources": resources_json(&info.resources),
        "statuses": entry.statuses.iter().map(status_json).collect::<Vec<_>>(),
    })
}

/// A status as Mesos's `/state` lists it: state and timestamp, and the health and
/// container status when there are.
fn status_json(status: &TaskStatus) -> Value {
    let mut out = Map::new();
    let state = TaskState::try_from(status.state).map_or("TASK_UNKNOWN", |s| s.as_str_name());
    out.insert("state".into(), json!(state));
    out.insert("timestamp".into(), json!(status.timestamp.unwrap_or(0.0)));
    if let Some(healthy) = status.healthy {
        out.insert("healthy".into(), json!(healthy));
    }
    if let Some(labels) = &status.labels {
        out.insert("labels".into(), ratufa_proto::json::to_value(labels));
    }
    if let Some(container) = &status.container_status {
        out.insert(
            "container_status".into(),
            ratufa_proto::json::to_value(container),
        );
    }
    Value::Object(out)
}

/// Mesos's summary: `cpus`, `gpus`, `mem`, `disk` always, scalars summed, ranges as
/// `"[31000-32000]"`, sets as `"{a, b}"`.
fn resources_json(resources: &[Resource]) -> Value {
    let mut out = Map::new();
    for name in ["cpus", "gpus", "mem", "disk"] {
        out.insert(name.to_string(), json!(0.0));
    }
    let all = Resources::try_from_vec(resources.to_vec()).unwrap_or_default();
    for (name, value) in all.scalar_quantities() {
        out.insert(name.to_string(), json!((value * 1000.0).round() / 1000.0));
    }
    let mut sets: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for resource in resources {
        if resource.ranges.is_some() && !out.contains_key(&resource.name) {
            out.insert(
                resource.name.clone(),
                Value::String(ranges_text(&all.ranges(&resource.name))),
            );
        } else if let Some(set) = &resource.set {
            sets.entry(resource.name.clone())
                .or_default()
                .extend(set.item.iter().cloned());
        }
    }
    for (name, mut items) in sets {
        items.sort();
        items.dedup();
        out.insert(name, Value::String(format!("{{{}}}", items.join(", "))));
    }
    Value::Object(out)
}

fn ranges_text(ranges: &[(u64, u64)]) -> String {
    let parts: Vec<String> = ranges.iter().map(|(b, e)| format!("{b}-{e}")).collect();
    format!("[{}]", parts.join(", "))
}

fn attributes_json(attributes: &[Attribute]) -> Value {
    let mut out = Map::new();
    for attribute in attributes {
        let value = if let Some(scalar) = &attribute.scalar {
            json!(scalar.value)
        } else if let Some(ranges) = &attribute.ranges {
            let list: Vec<(u64, u64)> = ranges.range.iter().map(|r| (r.begin, r.end)).collect();
            Value::String(ranges_text(&list))
        } else if let Some(set) = &attribute.set {
            Value::String(format!("{{{}}}", set.item.join(", ")))
        } else if let Some(text) = &attribute.text {
            Value::String(text.value.clone())
        } else {
            continue;
        };
        out.insert(attribute.name.clone(), value);
    }
    Value::Object(out)
}

/// The host part of `--master` (`http://host:port` or `host:port`).
fn master_hostname(master: &str) -> String {
    let rest = master
        .strip_prefix("http://")
        .or_else(|| master.strip_prefix("https://"))
        .unwrap_or(master);
    let authority = rest.split('/').next().unwrap_or(rest);
    match authority.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        _ => authority.to_string(),
    }
}

/// The flags, as strings (Mesos's `/state` shows every flag's value as text).
pub(super) fn flags_json(book: &Book) -> Value {
    let config = &book.config;
    let mut flags = Map::new();
    let mut put = |name: &str, value: String| {
        flags.insert(name.to_string(), Value::String(value));
    };
    put("master", config.master.clone());
    put("work_dir", config.work_dir.display().to_string());
    put("ip", config.ip.to_string());
    put("port", config.port.to_string());
    if let Some(hostname) = &config.hostname {
        put("hostname", hostname.clone());
    }
    if let Some(resources) = &config.resources {
        put("resources", resources.clone());
    }
    if let Some(attributes) = &config.attributes {
        put("attributes", attributes.clone());
    }
    put("default_role", config.default_role.clone());
    put(
        "registration_backoff_factor",
        format!("{}ms", config.registration_backoff_factor.as_millis()),
    );
    put(
        "fetcher_cache_dir",
        config.fetcher_cache_dir().display().to_string(),
    );
    put(
        "fetcher_cache_size",
        format!("{}B", config.fetcher_cache_size),
    );
    put("isolation", config.isolation.clone());
    put("cgroups_root", config.cgroups_root.clone());
    put("cgroups_enable_cfs", config.cgroups_enable_cfs.to_string());
    put("cgroups_limit_swap", config.cgroups_limit_swap.to_string());
    put(
        "authenticate_http_readonly",
        config.authenticate_http_readonly.to_string(),
    );
    put(
        "authenticate_http_readwrite",
        config.authenticate_http_readwrite.to_string(),
    );
    put("gc_delay", format!("{}ms", config.gc_delay.as_millis()));
    put(
        "disk_watch_interval",
        format!("{}ms", config.disk_watch_interval.as_millis()),
    );
    put("gc_disk_headroom", config.gc_disk_headroom.to_string());
    put("launcher_dir", config.launcher_dir().display().to_string());
    let ms = |d: std::time::Duration| format!("{}ms", d.as_millis());
    put(
        "executor_registration_timeout",
        ms(config.executor_registration_timeout),
    );
    put(
        "executor_shutdown_grace_period",
        ms(config.executor_shutdown_grace_period),
    );
    put(
        "executor_reregistration_timeout",
        ms(config.executor_reregistration_timeout),
    );
    let recover = match config.recover {
        crate::Recover::Reconnect => "reconnect",
        crate::Recover::Cleanup => "cleanup",
    };
    put("recover", recover.to_string());
    put("strict", config.strict.to_string());
    put("switch_user", config.switch_user.to_string());
    Value::Object(flags)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::AgentConfig;
    use crate::files::test_status as status;
    use ratufa_proto::v1::{FrameworkId, FrameworkInfo, TaskId, TaskInfo};

    #[test]
    fn state_lists_executors_with_their_directories() {
        let config = AgentConfig {
            resources: Some("cpus:2;mem:1024;ports:[31000-32000]".to_string()),
            ..AgentConfig::new("http://127.0.0.1:5050", "/tmp/w")
        };
        let info = ratufa_proto::v1::AgentInfo {
            hostname: "h".to_string(),
            port: Some(5051),
            resources: Resources::parse("cpus:2;mem:1024;ports:[31000-32000]", "*")
                .unwrap()
                .into_vec(),
            attributes: crate::detect::attributes(Some("rack:22;zone:us_east")).unwrap(),
            ..Default::default()
        };
        let sandboxes = Sandboxes::new(config, info);
        sandboxes.set_agent_id("S0");
        let framework = FrameworkInfo {
            id: Some(FrameworkId { value: "F".into() }),
            name: "fw".into(),
            user: "u".into(),
            ..Default::default()
        };
        let task = |id: &str| TaskInfo {
            name: id.into(),
            task_id: TaskId { value: id.into() },
            ..Default::default()
        };
        let dir = std::path::Path::new("/tmp/w/slaves/S0/frameworks/F/executors");
        sandboxes.attach(&framework, "t1", "c1", &dir.join("t1/runs/c1"), &task("t1"));
        sandboxes.attach(&framework, "t2", "c2", &dir.join("t2/runs/c2"), &task("t2"));
        sandboxes.task_status("F", "t1", &task("t1"), &status(TaskState::TaskRunning));
        sandboxes.task_status("F", "t2", &task("t2"), &status(TaskState::TaskFinished));
        sandboxes.executor_ended("F", "t2");
        let gone = FrameworkInfo {
            id: Some(FrameworkId { value: "G".into() }),
            ..framework.clone()
        };
        let g_dir = std::path::Path::new("/tmp/w/slaves/S0/frameworks/G/executors/g1/runs/c3");
        sandboxes.attach(&gone, "g1", "c3", g_dir, &task("g1"));
        sandboxes.task_status("G", "g1", &task("g1"), &status(TaskState::TaskFailed));
        sandboxes.executor_ended("G", "g1");

        let state = state_json(&sandboxes.snapshot());
        assert_eq!(state["frameworks"].as_array().unwrap().len(), 1);
        let done = &state["completed_frameworks"][0];
        assert_eq!(done["id"], "G");
        assert_eq!(done["completed_executors"][0]["id"], "g1");
        assert_eq!(state["flags"]["recover"], "reconnect");
        assert_eq!(state["flags"]["executor_registration_timeout"], "60000ms");
        assert_eq!(state["flags"]["strict"], "true");
        assert_eq!(state["id"], "S0");
        assert_eq!(state["pid"], "slave(1)@h:5051");
        assert_eq!(state["master_hostname"], "127.0.0.1");
        assert_eq!(state["resources"]["cpus"], 2.0);
        assert_eq!(state["resources"]["ports"], "[31000-32000]");
        assert_eq!(state["attributes"]["rack"], 22.0);
        assert_eq!(state["attributes"]["zone"], "us_east");
        assert_eq!(state["flags"]["work_dir"], "/tmp/w");
        let fw = &state["frameworks"][0];
        assert_eq!(fw["id"], "F");
        assert_eq!(fw["executors"][0]["id"], "t1");
        assert_eq!(
            fw["executors"][0]["directory"],
            "/tmp/w/slaves/S0/frameworks/F/executors/t1/runs/c1"
        );
        assert_eq!(fw["executors"][0]["tasks"][0]["state"], "TASK_RUNNING");
        assert_eq!(fw["completed_executors"][0]["id"], "t2");
        assert_eq!(
            fw["completed_executors"][0]["completed_tasks"][0]["state"],
            "TASK_FINISHED"
        );
    }

    #[test]
    fn master_hostnames() {
        assert_eq!(master_hostname("http://m1:5050"), "m1");
        assert_eq!(master_hostname("10.0.0.1:5050"), "10.0.0.1");
        assert_eq!(master_hostname("[::1]:5050"), "::1");
        assert_eq!(master_hostname("m1"), "m1");
    }
}
