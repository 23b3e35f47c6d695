//! What the agent checkpoints so that a restarted agent finds its executors and tasks
//! again (Mesos's `--recover=reconnect`): under `<work_dir>/meta`, in Mesos's layout,
//!
//! ```text
//! meta/boot_id                                  the kernel's boot id when written
//! meta/slaves/latest -> <agent>                 the current agent
//! meta/slaves/<agent>/slave.info                AgentInfo
//!   frameworks/<fw>/framework.info              FrameworkInfo
//!     executors/<ex>/executor.info              ExecutorInfo
//!       runs/<container>/pids/forked.pid        the executor's pid, as text
//!       runs/<container>/pids/forked.start_time when it started (ours, not Mesos's)
//!       runs/<container>/completed              the run ended
//!       runs/<container>/tasks/<task>/task.info     TaskInfo
//!       runs/<container>/tasks/<task>/task.updates  the task's status-update stream
//! ```
//!
//! Every file is replaced whole and durably ([`fs`]), so after a crash each holds the
//! old contents or the new. The agent decides what to checkpoint (only frameworks that
//! asked for it); this module writes what it is told and reads it back.

mod fs;
mod records;
mod recover;

use std::path::{Path, PathBuf};

use prost::Message;
use ratufa_proto::v1::{AgentInfo, ExecutorInfo, FrameworkInfo, TaskInfo};

use crate::AgentError;
use fs::error;
pub use records::{UpdateRecord, pending};
pub use recover::{RecoveredAgent, RecoveredExecutor, RecoveredFramework, RecoveredTask};

/// Where the running kernel tells its boot id: it changes on every boot, so a stored
/// one that differs means the checkpointed processes died with the machine.
const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";

/// One executor run: the container an executor was launched in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunPath {
    pub agent_id: String,
    pub framework_id: String,
    pub executor_id: String,
    pub container_id: String,
}

/// The agent's checkpoint directory, `<work_dir>/meta`. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    meta: PathBuf,
}

impl Checkpoint {
    pub fn new(work_dir: &Path) -> Checkpoint {
        Checkpoint {
            meta: work_dir.join("meta"),
        }
    }

    /// `<work_dir>/meta`.
    pub fn dir(&self) -> &Path {
        &self.meta
    }

    /// Records the agent (its id must be set) as the current one, with the boot id.
    pub fn write_agent(&self, info: &AgentInfo) -> Result<(), AgentError> {
        let agent = info
            .id
            .as_ref()
            .map(|id| id.value.as_str())
            .unwrap_or_default();
        let dir = self.agent_dir(agent)?;
        fs::write_atomic(&dir.join("slave.info"), &info.encode_to_vec())?;
        // The boot id before the link: whoever finds `latest` finds a boot id too.
        let boot_id = current_boot_id().map_err(|e| error(Path::new(BOOT_ID), e))?;
        fs::write_atomic(&self.meta.join("boot_id"), boot_id.as_bytes())?;
        fs::symlink_atomic(Path::new(agent), &self.meta.join("slaves").join("latest"))
    }

    /// Records a framework (its id must be set) of agent `agent`.
    pub fn write_framework(&self, agent: &str, info: &FrameworkInfo) -> Result<(), AgentError> {
        let fw = info
            .id
            .as_ref()
            .map(|id| id.value.as_str())
            .unwrap_or_default();
        let dir = self.framework_dir(agent, fw)?;
        fs::write_atomic(&dir.join("framework.info"), &info.encode_to_vec())
    }

    pub fn write_executor(
        &self,
        agent: &str,
        fw: &str,
        info: &ExecutorInfo,
    ) -> Result<(), AgentError> {
        let dir = self.executor_dir(agent, fw, &info.executor_id.value)?;
        fs::write_atomic(&dir.join("executor.info"), &info.encode_to_vec())
    }

    /// Records the pid of the run's executor (the process to watch after a restart)
    /// and, when known, its start time (clock ticks after boot), by which a restarted
    /// agent tells the executor from a later process given the same pid. The start
    /// time goes first: a pid is never on disk with a start time of another run.
    pub fn write_pid(
        &self,
        run: &RunPath,
        pid: i32,
        start_time: Option<u64>,
    ) -> Result<(), AgentError> {
        let dir = self.run_dir(run)?.join("pids");
        if let Some(start_time) = start_time {
            fs::write_atomic(
                &dir.join("forked.start_time"),
                start_time.to_string().as_bytes(),
            )?;
        }
        fs::write_atomic(&dir.join("forked.pid"), pid.to_string().as_bytes())
    }

    pub fn write_task(&self, run: &RunPath, task: &TaskInfo) -> Result<(), AgentError> {
        let dir = self.task_dir(run, &task.task_id.value)?;
        fs::write_atomic(&dir.join("task.info"), &task.encode_to_vec())
    }

    /// Replaces the task's status-update stream with `records`.
    pub fn write_updates(
        &self,
        run: &RunPath,
        task_id: &str,
        records: &[UpdateRecord],
    ) -> Result<(), AgentError> {
        let dir = self.task_dir(run, task_id)?;
        fs::write_atomic(&dir.join("task.updates"), &records::encode(records))
    }

    /// Adds `records` to the end of the task's status-update stream (the file is still
    /// replaced whole, so a crash leaves the stream before or after, never between).
    pub fn append_updates(
        &self,
        run: &RunPath,
        task_id: &str,
        records: &[UpdateRecord],
    ) -> Result<(), AgentError> {
        let path = self.task_dir(run, task_id)?.join("task.updates");
        let mut all = match fs::read_optional(&path)? {
            Some(bytes) => {
                let decoded = records::decode(&bytes);
                if let Some(tail) = decoded.tail {
                    tracing::warn!(path = %path.display(), ?tail, "appending after the whole records only");
                }
                decoded.records
            }
            None => Vec::new(),
        };
        all.extend_from_slice(records);
        fs::write_atomic(&path, &records::encode(&all))
    }

    /// Marks the run as ended: its executor is gone, only its updates remain to be
    /// acknowledged.
    pub fn mark_completed(&self, run: &RunPath) -> Result<(), AgentError> {
        fs::write_atomic(&self.run_dir(run)?.join("completed"), b"")
    }

    /// Forgets a run. An executor left without runs goes too, and a framework left
    /// without executors (a restarted agent has nothing to do with either).
    pub fn remove_run(&self, run: &RunPath) -> Result<(), AgentError> {
        fs::remove_tree(&self.run_dir(run)?)?;
        let executor = self.executor_dir(&run.agent_id, &run.framework_id, &run.executor_id)?;
        if !fs::subdirs(&executor.join("runs"))?.is_empty() {
            return Ok(());
        }
        fs::remove_tree(&executor)?;
        let framework = self.framework_dir(&run.agent_id, &run.framework_id)?;
        if fs::subdirs(&framework.join("executors"))?.is_empty() {
            fs::remove_tree(&framework)?;
        }
        Ok(())
    }

    pub fn remove_framework(&self, agent: &str, fw: &str) -> Result<(), AgentError> {
        fs::remove_tree(&self.framework_dir(agent, fw)?)
    }

    /// Reads everything back; `Ok(None)` when there is no current agent to recover.
    ///
    /// A `task.updates` cut short (a trailing partial record) is truncated to its last
    /// whole record, with a warning. Files are replaced whole, so an .info file that
    /// does not decode, or a record that does not, is damage, not a crash: with
    /// `strict` it fails the recovery, naming the file; otherwise what it belongs to
    /// is skipped (updates: the stream ends before it) and listed in
    /// [`RecoveredAgent::errors`]. A missing .info file (a crash between making a
    /// directory and writing into it) skips its framework, executor or task in either
    /// mode, also listed.
    pub fn recover(&self, strict: bool) -> Result<Option<RecoveredAgent>, AgentError> {
        recover::recover(self, strict)
    }

    /// `--recover=cleanup`: forgets everything checkpointed.
    pub fn clear(&self) -> Result<(), AgentError> {
        fs::remove_tree(&self.meta)
    }

    fn agent_dir(&self, agent: &str) -> Result<PathBuf, AgentError> {
        Ok(self.meta.join("slaves").join(component("agent id", agent)?))
    }

    fn framework_dir(&self, agent: &str, fw: &str) -> Result<PathBuf, AgentError> {
        Ok(self
            .agent_dir(agent)?
            .join("frameworks")
            .join(component("framework id", fw)?))
    }

    fn executor_dir(&self, agent: &str, fw: &str, ex: &str) -> Result<PathBuf, AgentError> {
        Ok(self
            .framework_dir(agent, fw)?
            .join("executors")
            .join(component("executor id", ex)?))
    }

    fn run_dir(&self, run: &RunPath) -> Result<PathBuf, AgentError> {
        Ok(self
            .executor_dir(&run.agent_id, &run.framework_id, &run.executor_id)?
            .join("runs")
            .join(component("container id", &run.container_id)?))
    }

    fn task_dir(&self, run: &RunPath, task: &str) -> Result<PathBuf, AgentError> {
        Ok(self
            .run_dir(run)?
            .join("tasks")
            .join(component("task id", task)?))
    }
}

/// An id as one path component: it must not climb out of the directory nor hide as a
/// dot name (which recovery skips as a temporary file). `latest` is the agent link.
fn component<'a>(what: &str, id: &'a str) -> Result<&'a str, AgentError> {
    let bad = id.is_empty()
        || id.starts_with('.')
        || id.contains('/')
        || id.contains('\0')
        || (what == "agent id" && id == "latest");
    if bad {
        return Err(AgentError::Checkpoint {
            path: PathBuf::from(id),
            reason: format!("cannot checkpoint under the {what} '{id}'"),
        });
    }
    Ok(id)
}

/// The running kernel's boot id.
pub fn current_boot_id() -> std::io::Result<String> {
    Ok(std::fs::read_to_string(BOOT_ID)?.trim().to_string())
}

#[cfg(test)]
mod tests;
