//! The operator API's answers built from the shared book: what `/state` shows, as
//! `mesos.v1.agent.Response` messages (Mesos's field names come with the types).
//!
//! Executors the book holds are live (their container runs) or completed (kept, with
//! their sandbox, up to Mesos's per-framework bound), each with every task it was
//! given. A task of a live executor is `launched` until terminal, then `terminated`;
//! tasks of completed executors are `completed`. A framework with no live executor is among the completed frameworks,
//! as Mesos's agent moves a framework there once its last executor ends.

use ratufa_proto::v1::agent::response::{
    GetAgent, GetContainers, GetExecutors, GetFlags, GetFrameworks, GetState, GetTasks,
    get_containers, get_executors, get_frameworks,
};
use ratufa_proto::v1::{
    ContainerId, ContainerStatus, ExecutorId, Flag, FrameworkId, ResourceStatistics, Task,
    VersionInfo,
};
use serde_json::Value;

use crate::files::{Book, ExecutorRun, FrameworkRuns, RunTask};
use crate::isolator::Isolator;

/// The same flags, with the same text, as `/flags` and `/state`.
pub(super) fn flags(book: &Book) -> GetFlags {
    let flags = match crate::http::state::flags_json(book) {
        Value::Object(map) => map
            .into_iter()
            .map(|(name, value)| Flag {
                name,
                value: Some(match value {
                    Value::String(text) => text,
                    other => other.to_string(),
                }),
            })
            .collect(),
        _ => Vec::new(),
    };
    GetFlags { flags }
}

/// The version `/version` shows.
pub(super) fn version() -> VersionInfo {
    ratufa_gateway::version::version_info()
}

pub(super) fn agent(book: &Book) -> GetAgent {
    GetAgent {
        agent_info: Some(book.info.clone()),
        ..GetAgent::default()
    }
}

pub(super) fn state(book: &Book) -> GetState {
    GetState {
        get_tasks: Some(tasks(book)),
        get_executors: Some(executors(book)),
        get_frameworks: Some(frameworks(book)),
    }
}

pub(super) fn frameworks(book: &Book) -> GetFrameworks {
    let mut out = GetFrameworks::default();
    for runs in book.frameworks.values() {
        let framework = get_frameworks::Framework {
            framework_info: runs.info.clone(),
        };
        if runs.executors.is_empty() {
            out.completed_frameworks.push(framework);
        } else {
            out.frameworks.push(framework);
        }
    }
    out
}

pub(super) fn executors(book: &Book) -> GetExecutors {
    let mut out = GetExecutors::default();
    for (framework_id, runs) in &book.frameworks {
        let executor = |run: &ExecutorRun| get_executors::Executor {
            executor_info: run.executor_info(framework_id),
        };
        out.executors.extend(runs.executors.values().map(executor));
        out.completed_executors
            .extend(runs.completed.iter().map(executor));
    }
    out
}

pub(super) fn tasks(book: &Book) -> GetTasks {
    let agent_id = book.info.id.clone().unwrap_or_default();
    let mut out = GetTasks::default();
    for (framework_id, runs) in &book.frameworks {
        for run in runs.executors.values() {
            for entry in run.tasks.values() {
                let task = task(framework_id, run, entry, &agent_id);
                if ratufa_proto::task_state::is_terminal(entry.state) {
                    out.terminated_tasks.push(task);
                } else {
                    out.launched_tasks.push(task);
                }
            }
        }
        for run in &runs.completed {
            out.completed_tasks.extend(
                run.tasks
                    .values()
                    .map(|entry| task(framework_id, run, entry, &agent_id)),
            );
        }
    }
    out
}

/// One entry per live executor's container, with its usage when its process runs.
pub(super) fn containers(book: &Book, isolator: &dyn Isolator) -> GetContainers {
    let (ticks, page_size) = crate::http::procfs::clock_ticks_and_page_size();
    let mut out = GetContainers::default();
    for (framework_id, runs) in &book.frameworks {
        for run in runs.executors.values() {
            let statistics = crate::http::monitor::run_statistics(run, isolator, ticks, page_size)
                .and_then(|map| {
                    ratufa_proto::json::from_value::<ResourceStatistics>(&Value::Object(map)).ok()
                });
            let container_id = ContainerId {
                value: run.container_id.clone(),
                parent: None,
            };
            out.containers.push(get_containers::Container {
                framework_id: Some(FrameworkId {
                    value: framework_id.clone(),
                }),
                executor_id: Some(ExecutorId {
                    value: run.executor_id.clone(),
                }),
                executor_name: run.executor_info(framework_id).name,
                container_id: container_id.clone(),
                container_status: Some(ContainerStatus {
                    container_id: Some(container_id),
                    executor_pid: run.pid.and_then(|pid| u32::try_from(pid).ok()),
                    ..ContainerStatus::default()
                }),
                resource_statistics: statistics,
            });
        }
    }
    out
}

fn task(
    framework_id: &str,
    run: &ExecutorRun,
    entry: &RunTask,
    agent_id: &ratufa_proto::v1::AgentId,
) -> Task {
    let info = &entry.info;
    Task {
        name: info.name.clone(),
        task_id: info.task_id.clone(),
        framework_id: FrameworkId {
            value: framework_id.to_string(),
        },
        executor_id: Some(ExecutorId {
            value: run.executor_id.clone(),
        }),
        agent_id: agent_id.clone(),
        state: entry.state as i32,
        resources: info.resources.clone(),
        statuses: entry.statuses.clone(),
        labels: info.labels.clone(),
        discovery: info.discovery.clone(),
        container: info.container.clone(),
        health_check: info.health_check.clone(),
        kill_policy: info.kill_policy,
        limits: info.limits.clone(),
        ..Task::default()
    }
}

/// Frameworks the book knows, for metrics: those with a live executor.
pub(super) fn active_frameworks(book: &Book) -> impl Iterator<Item = &FrameworkRuns> {
    book.frameworks
        .values()
        .filter(|runs| !runs.executors.is_empty())
}
