//! Agent recovery (`--recover`): what a restarted agent does with what the one before it
//! checkpointed under `<work_dir>/meta`.
//!
//! `reconnect` (the default): keep the agent id, take back the checkpointing frameworks'
//! tasks and the updates not yet acknowledged, watch the executors still alive (they
//! are not our children: their pids are watched) and give them
//! `--executor_reregistration_timeout` to subscribe again before registering with the
//! master; executors that died meanwhile fail their tasks. `cleanup`: kill what the
//! checkpoint names and start as a new agent. A machine that rebooted since has nothing
//! left to reconnect to: the checkpoint is forgotten.

use std::time::Duration;

use ratufa_proto::v1::task_status::Reason;
use ratufa_proto::v1::{FrameworkId, TaskState};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::{info, warn};

use super::{Agent, TaskEntry};
use crate::AgentError;

/// How often a recovered executor's container is checked for a limit it hit (as the
/// runner does for the executors it started).
const LIMITATION_POLL: Duration = Duration::from_millis(100);
use crate::checkpoint::{RecoveredAgent, RecoveredExecutor};
use crate::config::Recover;
use crate::executors::{ExecutorEntry, ExecutorKey, Phase};
use crate::process::{Exit, alive, same_process, terminate, wait_for_exit};
use crate::runner::{Progress, Report};
use crate::updates::{TaskKey, is_terminal_state};

impl Agent {
    /// Reads the checkpoint back and acts on it (see the module). An unreadable
    /// checkpoint under `--strict` is an error: the agent does not start.
    pub(crate) async fn recover(&mut self) -> Result<(), AgentError> {
        let _ = self.recovering.send(true);
        let result = self.recover_checkpoint().await;
        let _ = self.recovering.send(false);
        result
    }

    async fn recover_checkpoint(&mut self) -> Result<(), AgentError> {
        let checkpoint = self.checkpoint.clone();
        let strict = self.config.strict;
        let recovered = tokio::task::spawn_blocking(move || checkpoint.recover(strict))
            .await
            .map_err(|e| AgentError::Spawn(format!("checkpoint recovery panicked: {e}")))??;
        let Some(recovered) = recovered else {
            return Ok(());
        };
        for error in &recovered.errors {
            warn!(%error, "part of the checkpoint could not be read; skipped");
        }
        if recovered.rebooted || self.config.recover == Recover::Cleanup {
            return self.forget(recovered).await;
        }
        let Some(agent_id) = recovered.info.id.clone() else {
            return self.forget(recovered).await;
        };
        info!(agent_id = %agent_id.value, "recovering the agent");
        self.sandboxes.set_agent_id(&agent_id.value);
        self.info.id = Some(agent_id);
        let mut known = Vec::new();
        for framework in recovered.frameworks {
            let Some(framework_id) = framework.info.id.clone() else {
                continue;
            };
            self.frameworks
                .insert(framework_id.value.clone(), framework.info.clone());
            for executor in framework.executors {
                if let Some(container) =
                    self.recover_executor(&framework.info, &framework_id, executor)
                {
                    known.push(container);
                }
            }
        }
        if !known.is_empty() {
            self.recovery_deadline =
                Some(Instant::now() + self.config.executor_reregistration_timeout);
        }
        // Cgroups of containers nobody owns any more (a crashed agent's leftovers).
        let isolator = self.isolator.clone();
        let cleaned = tokio::task::spawn_blocking(move || isolator.recover(&known)).await;
        match cleaned {
            Ok(Ok(cleaned)) if !cleaned.is_empty() => {
                info!(?cleaned, "removed containers no executor owns");
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => warn!(error = %e, "cannot clean up unknown containers"),
            Err(e) => warn!(error = %e, "container cleanup panicked"),
        }
        Ok(())
    }

    /// Takes one checkpointed executor back; returns its container id when it is still
    /// alive (and now watched).
    fn recover_executor(
        &mut self,
        framework: &ratufa_proto::v1::FrameworkInfo,
        framework_id: &FrameworkId,
        executor: RecoveredExecutor,
    ) -> Option<String> {
        let key = ExecutorKey {
            framework_id: framework_id.value.clone(),
            executor_id: executor.info.executor_id.value.clone(),
        };
        let run = executor.run.clone();
        let sandbox = self
            .config
            .work_dir
            .join("slaves")
            .join(&run.agent_id)
            .join("frameworks")
            .join(&run.framework_id)
            .join("executors")
            .join(&run.executor_id)
            .join("runs")
            .join(&run.container_id);
        let command = executor.info.executor_id.value
            == executor
                .tasks
                .first()
                .map(|t| t.info.task_id.value.clone())
                .unwrap_or_default()
            && executor
                .info
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with("Command Executor"));
        let mut entry = ExecutorEntry::new(
            executor.info.clone(),
            run.container_id.clone(),
            sandbox.clone(),
            command,
        );
        entry.run = Some(run.clone());
        entry.recovered = true;
        let mut first_task = None;
        for task in executor.tasks {
            let pending = task.pending();
            let state = task.latest_state().unwrap_or(TaskState::TaskStaging);
            if is_terminal_state(state as i32) && pending.is_empty() {
                // Done and acknowledged: nothing left to say about it.
                continue;
            }
            let task_key = TaskKey {
                framework_id: key.framework_id.clone(),
                task_id: task.info.task_id.value.clone(),
            };
            if !is_terminal_state(state as i32) {
                entry
                    .tasks
                    .insert(task_key.task_id.clone(), task.info.resources.clone());
                entry.launched.insert(task_key.task_id.clone());
            }
            first_task.get_or_insert_with(|| task.info.clone());
            for (framework_id, status) in pending {
                self.updates.push(framework_id, status);
            }
            self.tasks.insert(
                task_key,
                TaskEntry {
                    task: task.info,
                    framework_id: framework_id.clone(),
                    state,
                    silent: false,
                    executor_id: key.executor_id.clone(),
                    run: Some(run.clone()),
                },
            );
        }
        let first_task = first_task.unwrap_or_default();
        self.sandboxes.attach(
            framework,
            &key.executor_id,
            &run.container_id,
            &sandbox,
            &first_task,
        );
        let pid = executor.pid.filter(|pid| {
            let same = same_process(*pid, executor.start_time);
            if !same && alive(*pid) {
                warn!(framework_id = %key.framework_id, executor_id = %key.executor_id, pid, "the executor's pid now names another process (its start time differs); the executor is gone");
            }
            same
        });
        let live = !executor.completed && pid.is_some();
        entry.pid = pid;
        if !live {
            self.executors.insert(key.clone(), entry);
            info!(framework_id = %key.framework_id, executor_id = %key.executor_id, "executor did not survive the agent's restart");
            self.executor_gone(
                &key,
                Reason::ExecutorTerminated,
                "Executor terminated while the agent was down".to_string(),
                None,
            );
            return None;
        }
        let pid = pid.unwrap_or_default();
        if let Some(pid) = entry.pid {
            self.sandboxes
                .set_pid(&key.framework_id, &key.executor_id, pid);
        }
        entry.phase = Phase::Registering;
        entry.registration_deadline =
            Some(Instant::now() + self.config.executor_reregistration_timeout);
        let (stop_tx, stop_rx) = oneshot::channel();
        entry.stop = Some(stop_tx);
        self.executors.insert(key.clone(), entry);
        info!(framework_id = %key.framework_id, executor_id = %key.executor_id, pid, "watching a recovered executor");
        tokio::spawn(watch_recovered(
            key,
            pid,
            run.container_id.clone(),
            self.isolator.clone(),
            stop_rx,
            self.executor_reports_tx.clone(),
        ));
        Some(run.container_id)
    }

    /// `--recover=cleanup`, or a reboot: kill what the checkpoint names, clean the
    /// containers up, and forget it all; the agent registers as a new one.
    async fn forget(&mut self, recovered: RecoveredAgent) -> Result<(), AgentError> {
        info!(
            rebooted = recovered.rebooted,
            recover = ?self.config.recover,
            "starting afresh: killing the checkpointed executors and forgetting them"
        );
        for framework in &recovered.frameworks {
            for executor in &framework.executors {
                // Never a process that only reuses the executor's pid.
                if let Some(pid) = executor
                    .pid
                    .filter(|pid| !recovered.rebooted && same_process(*pid, executor.start_time))
                {
                    terminate(pid, Duration::ZERO).await;
                }
            }
        }
        let isolator = self.isolator.clone();
        match tokio::task::spawn_blocking(move || isolator.recover(&[])).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => warn!(error = %e, "cannot clean up the old containers"),
            Err(e) => warn!(error = %e, "container cleanup panicked"),
        }
        let checkpoint = self.checkpoint.clone();
        tokio::task::spawn_blocking(move || checkpoint.clear())
            .await
            .map_err(|e| AgentError::Spawn(format!("checkpoint cleanup panicked: {e}")))?
    }

    /// Recovered executors have had their chance to subscribe again (or all did): the
    /// agent may register with the master.
    pub(super) fn recovery_done(&self) -> bool {
        match self.recovery_deadline {
            None => true,
            Some(deadline) => {
                Instant::now() >= deadline
                    || self
                        .executors
                        .iter()
                        .all(|(_, e)| !e.recovered || e.phase != Phase::Registering)
            }
        }
    }
}

/// Watches a recovered executor (not our child: no wait status) until it exits or the
/// agent destroys it, then cleans its container up and reports its end.
async fn watch_recovered(
    key: ExecutorKey,
    pid: i32,
    container_id: String,
    isolator: std::sync::Arc<dyn crate::isolator::Isolator>,
    stop: oneshot::Receiver<Duration>,
    reports: tokio::sync::mpsc::UnboundedSender<Report<ExecutorKey>>,
) {
    let mut stop = stop;
    let mut poll = tokio::time::interval(LIMITATION_POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let limited = loop {
        tokio::select! {
            () = wait_for_exit(pid) => break None,
            grace = &mut stop => match grace {
                Ok(grace) => {
                    terminate(pid, grace).await;
                    break None;
                }
                // The agent is going away: leave the executor to the next one.
                Err(_) => return,
            },
            _ = poll.tick() => {
                if let Some(limitation) = isolator.limitation(&container_id) {
                    // As for a child: a container that hit a limit is destroyed.
                    terminate(pid, Duration::ZERO).await;
                    break Some(limitation);
                }
            }
        }
    };
    let cleanup = {
        let isolator = isolator.clone();
        tokio::task::spawn_blocking(move || isolator.cleanup(&container_id)).await
    };
    if let Ok(Err(e)) = cleanup {
        warn!(executor_id = %key.executor_id, error = %e, "container cleanup failed");
    }
    let progress = match limited {
        Some(limitation) => Progress::Limited { limitation },
        None => Progress::Exited {
            exit: Exit::Unknown("no exit status (recovered after an agent restart)".to_string()),
        },
    };
    let _ = reports.send(Report { key, progress });
}
