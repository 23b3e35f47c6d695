//! RECONCILE: what the master knows of a framework's tasks, as UPDATEs from
//! SOURCE_MASTER with REASON_RECONCILIATION and no uuid (nothing to acknowledge).

use ratufa_proto::v1::scheduler::call;
use ratufa_proto::v1::task_status::{Reason, Source};
use ratufa_proto::v1::{TaskState, TaskStatus};
use tracing::{debug, info};

use super::status::MasterStatus;
use super::task::TaskEntry;
use super::{MasterCore, Reply, Time};

impl MasterCore {
    /// Implicit (no tasks named): the latest state of every task the master holds for
    /// the framework. Explicit: one answer per named task, by what the master knows
    /// of it and of its agent (none while that agent is recovered from the registry but
    /// not re-registered); the answers that would say "not running" become TASK_LOST
    /// for frameworks that are not PARTITION_AWARE.
    pub(super) fn reconcile(
        &mut self,
        now: Time,
        framework_id: &str,
        reconcile: call::Reconcile,
    ) -> Reply {
        // Every answer carries the time it was written, as Mesos stamps each.
        let timestamp = self.status_timestamp(now);
        self.counters.messages_reconcile_tasks += 1;
        let partition_aware = self.is_partition_aware(framework_id);
        let pick = |aware: TaskState| {
            if partition_aware {
                aware
            } else {
                TaskState::TaskLost
            }
        };

        let mut replies = Vec::new();
        if reconcile.tasks.is_empty() {
            info!(framework_id = %framework_id, "implicit task reconciliation");
            if let Some(books) = self.tasks.get(framework_id) {
                // In task id order: the books are kept in it.
                replies.extend(books.active().map(|entry| latest_state(entry, timestamp)));
            }
        } else {
            info!(framework_id = %framework_id, tasks = reconcile.tasks.len(), "explicit task reconciliation");
            for asked in reconcile.tasks {
                let known = self
                    .tasks
                    .get(framework_id)
                    .and_then(|t| t.get(&asked.task_id.value));
                let reply = if let Some(entry) = known {
                    latest_state(entry, timestamp)
                } else if asked
                    .agent_id
                    .as_ref()
                    .is_some_and(|id| self.is_recovered_agent(&id.value))
                {
                    // Its agent has not re-registered since the failover: it will
                    // tell; until then there is nothing true to say.
                    debug!(framework_id = %framework_id, task_id = %asked.task_id.value, "no reply yet: the task's agent is recovered but not re-registered");
                    continue;
                } else if let Some(agent_id) = asked
                    .agent_id
                    .as_ref()
                    .filter(|id| self.agents.contains_key(&id.value))
                {
                    MasterStatus::new(
                        asked.task_id,
                        Some(agent_id.clone()),
                        pick(TaskState::TaskGone),
                        Reason::Reconciliation,
                        "Reconciliation: Task is unknown to the agent",
                    )
                    .into_status(timestamp)
                } else if let Some((agent_id, since)) = asked.agent_id.as_ref().and_then(|id| {
                    self.unreachable_agents
                        .get(&id.value)
                        .map(|since| (id.clone(), *since))
                }) {
                    let mut status = MasterStatus::new(
                        asked.task_id,
                        Some(agent_id),
                        pick(TaskState::TaskUnreachable),
                        Reason::Reconciliation,
                        "Reconciliation: Task is unreachable",
                    );
                    status.unreachable_time = Some(since);
                    status.into_status(timestamp)
                } else if let Some(agent_id) = asked
                    .agent_id
                    .as_ref()
                    .filter(|id| self.gone_agents.contains_key(&id.value))
                {
                    MasterStatus::new(
                        asked.task_id,
                        Some(agent_id.clone()),
                        pick(TaskState::TaskGoneByOperator),
                        Reason::Reconciliation,
                        "Reconciliation: Task is gone",
                    )
                    .into_status(timestamp)
                } else {
                    MasterStatus::new(
                        asked.task_id,
                        asked.agent_id,
                        pick(TaskState::TaskUnknown),
                        Reason::Reconciliation,
                        "Reconciliation: Task is unknown",
                    )
                    .into_status(timestamp)
                };
                replies.push(reply);
            }
        }
        debug!(framework_id = %framework_id, replies = replies.len(), "sending reconciliation updates");
        for status in replies {
            self.send_update(framework_id, status);
        }
        Reply::Accepted
    }
}

/// "Reconciliation: Latest task state": the state last reported to the framework,
/// with what the latest status said of health, checks and container, written at
/// `timestamp` (the answer's time, not that of the status it repeats).
fn latest_state(entry: &TaskEntry, timestamp: f64) -> TaskStatus {
    let last = entry.latest_status();
    let last = last.as_ref();
    TaskStatus {
        task_id: entry.task_id_proto(),
        state: entry.reported_state() as i32,
        message: Some("Reconciliation: Latest task state".to_string()),
        source: Some(Source::Master as i32),
        reason: Some(Reason::Reconciliation as i32),
        timestamp: Some(timestamp),
        agent_id: Some(entry.agent_id_proto()),
        executor_id: entry.executor_id(),
        healthy: last.and_then(|s| s.healthy),
        check_status: last.and_then(|s| s.check_status),
        container_status: last.and_then(|s| s.container_status.clone()),
        ..TaskStatus::default()
    }
}
