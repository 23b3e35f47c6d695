//! `/monitor/statistics` (also `/monitor/statistics.json`) and the agent's `/flags`, in
//! Mesos's shape.
//!
//! Statistics are one entry per running executor: `{executor_id, executor_name,
//! framework_id, source, statistics}` with `statistics` a ResourceStatistics. CPU
//! times, processes, threads and the resident set come from `/proc` over the
//! command's process group (what Mesos's posix isolators read); the isolator's
//! `usage()` adds what the cgroups know (`mem_total_bytes`, the peak). `cpus_limit`
//! and `mem_limit_bytes` are what the task asked for, as Mesos's containerizer reports.

use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::any;
use serde_json::{Map, Value, json};

use super::procfs;
use crate::files::{Book, ExecutorRun, Sandboxes};
use crate::isolator::{Isolator, Limits};

#[derive(Clone)]
struct Monitor {
    sandboxes: Sandboxes,
    isolator: Arc<dyn Isolator>,
}

pub fn routes(sandboxes: Sandboxes, isolator: Arc<dyn Isolator>) -> Router {
    Router::new()
        .route("/monitor/statistics", any(statistics))
        .route("/monitor/statistics.json", any(statistics))
        .route("/slave(1)/monitor/statistics", any(statistics))
        .route("/slave(1)/monitor/statistics.json", any(statistics))
        .route("/flags", any(flags))
        .route("/slave(1)/flags", any(flags))
        .with_state(Monitor {
            sandboxes,
            isolator,
        })
}

async fn flags(State(monitor): State<Monitor>) -> Json<Value> {
    Json(json!({ "flags": super::state::flags_json(&monitor.sandboxes.snapshot()) }))
}

async fn statistics(State(monitor): State<Monitor>) -> Json<Value> {
    let book = monitor.sandboxes.snapshot();
    let isolator = monitor.isolator;
    // /proc and cgroup files are read off the async workers.
    let entries = tokio::task::spawn_blocking(move || statistics_json(&book, isolator.as_ref()))
        .await
        .unwrap_or_default();
    Json(Value::Array(entries))
}

// `source` is deprecated in favour of labels, but Mesos still shows it here.
#[allow(deprecated)]
fn statistics_json(book: &Book, isolator: &dyn Isolator) -> Vec<Value> {
    let (ticks, page_size) = procfs::clock_ticks_and_page_size();
    let mut entries = Vec::new();
    for (framework_id, runs) in &book.frameworks {
        for run in runs.executors.values() {
            let Some(statistics) = run_statistics(run, isolator, ticks, page_size) else {
                continue;
            };
            let info = run.executor_info(framework_id);
            entries.push(json!({
                "executor_id": run.executor_id,
                "executor_name": info.name.unwrap_or_default(),
                "framework_id": framework_id,
                "source": info.source.unwrap_or_default(),
                "statistics": statistics,
            }));
        }
    }
    entries
}

/// The ResourceStatistics of one running executor's container, as JSON in Mesos's
/// field names (also read by the operator API's GET_CONTAINERS); `None` until its
/// command runs or once it is gone. Reads `/proc` and cgroup files: call it off the
/// async workers.
pub(super) fn run_statistics(
    run: &ExecutorRun,
    isolator: &dyn Isolator,
    ticks: u64,
    page_size: u64,
) -> Option<Map<String, Value>> {
    let pid = run.pid?;
    let group = procfs::group_usage(Path::new("/proc"), pid, ticks, page_size)?;
    let limits = Limits::of(&run.task.resources);
    let usage = isolator.usage(&run.container_id).unwrap_or_default();
    let mut statistics = Map::new();
    statistics.insert("timestamp".into(), json!(now_secs()));
    statistics.insert("processes".into(), json!(group.processes));
    statistics.insert("threads".into(), json!(group.threads));
    statistics.insert("cpus_user_time_secs".into(), json!(group.user_secs));
    statistics.insert("cpus_system_time_secs".into(), json!(group.system_secs));
    if limits.cpus > 0.0 {
        statistics.insert("cpus_limit".into(), json!(limits.cpus));
    }
    statistics.insert("mem_rss_bytes".into(), json!(group.rss_bytes));
    if limits.mem_mb > 0.0 {
        let bytes = (limits.mem_mb * 1024.0 * 1024.0) as u64;
        statistics.insert("mem_limit_bytes".into(), json!(bytes));
    }
    if let Some(periods) = usage.cpu_nr_periods {
        statistics.insert("cpus_nr_periods".into(), json!(periods));
    }
    if let Some(throttled) = usage.cpu_nr_throttled {
        statistics.insert("cpus_nr_throttled".into(), json!(throttled));
    }
    if let Some(ns) = usage.cpu_throttled_ns {
        let secs = ns as f64 / 1e9;
        statistics.insert("cpus_throttled_time_secs".into(), json!(secs));
    }
    if let Some(total) = usage.mem_bytes {
        statistics.insert("mem_total_bytes".into(), json!(total));
    }
    if let Some(peak) = usage.mem_peak_bytes {
        statistics.insert("mem_max_total_bytes".into(), json!(peak));
    }
    Some(statistics)
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
