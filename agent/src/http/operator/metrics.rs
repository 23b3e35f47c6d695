//! GET_METRICS: the agent's gauges under Mesos's names (`slave/…`), computed from the
//! book when asked.
//!
//! With them the host's `system/*` metrics, as every Mesos daemon has them.
//!
//! Only what the book can say exactly is reported: registration, uptime, live
//! frameworks, executors and tasks by state, and resources total / used / percent.
//! Mesos's cumulative counters (`slave/tasks_finished`, …) are left out rather than
//! reported from the bounded list of completed executors, which would undercount.

use std::collections::BTreeMap;
use std::time::SystemTime;

use ratufa_proto::resources::Resources;
use ratufa_proto::v1::agent::response::GetMetrics;
use ratufa_proto::v1::{Metric, Resource, TaskState};

use crate::files::Book;

/// The resources Mesos reports `_total`, `_used` and `_percent` for.
const RESOURCES: [&str; 4] = ["cpus", "gpus", "mem", "disk"];

/// The live task states Mesos keeps a gauge of.
const LIVE_STATES: [(TaskState, &str); 4] = [
    (TaskState::TaskStaging, "slave/tasks_staging"),
    (TaskState::TaskStarting, "slave/tasks_starting"),
    (TaskState::TaskRunning, "slave/tasks_running"),
    (TaskState::TaskKilling, "slave/tasks_killing"),
];

pub(super) fn metrics(book: &Book, started: SystemTime) -> GetMetrics {
    let mut values: BTreeMap<String, f64> = BTreeMap::new();
    let uptime = SystemTime::now()
        .duration_since(started)
        .map_or(0.0, |d| d.as_secs_f64());
    values.insert("slave/uptime_secs".into(), uptime);
    values.insert(
        "slave/registered".into(),
        if book.info.id.is_some() { 1.0 } else { 0.0 },
    );
    values.insert(
        "slave/frameworks_active".into(),
        super::views::active_frameworks(book).count() as f64,
    );

    let live: Vec<_> = book
        .frameworks
        .values()
        .flat_map(|runs| runs.executors.values())
        .collect();
    values.insert("slave/executors_running".into(), live.len() as f64);
    for (state, name) in LIVE_STATES {
        let count = live.iter().filter(|run| run.state == state).count();
        values.insert(name.to_string(), count as f64);
    }

    let total = scalars(&book.info.resources);
    let used_resources: Vec<Resource> = live
        .iter()
        .filter(|run| !ratufa_proto::task_state::is_terminal(run.state))
        .flat_map(|run| run.task.resources.iter().cloned())
        .collect();
    let used = scalars(&used_resources);
    for name in RESOURCES {
        let total = total.get(name).copied().unwrap_or(0.0);
        let used = used.get(name).copied().unwrap_or(0.0);
        values.insert(format!("slave/{name}_total"), total);
        values.insert(format!("slave/{name}_used"), used);
        let percent = if total > 0.0 { used / total } else { 0.0 };
        values.insert(format!("slave/{name}_percent"), percent);
    }

    // The host's, as every Mesos daemon reports them.
    values.extend(ratufa_gateway::system_metrics::system_metrics());

    GetMetrics {
        metrics: values
            .into_iter()
            .map(|(name, value)| Metric {
                name,
                value: Some(value),
            })
            .collect(),
    }
}

/// Scalar quantities by name (roles and reservations summed).
fn scalars(resources: &[Resource]) -> BTreeMap<String, f64> {
    Resources::try_from_vec(resources.to_vec())
        .unwrap_or_default()
        .scalar_quantities()
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect()
}
