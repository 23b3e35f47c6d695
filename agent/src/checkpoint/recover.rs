//! Reading the checkpoint back after a restart.

use std::path::Path;

use prost::Message;
use ratufa_proto::v1::{AgentInfo, ExecutorInfo, FrameworkInfo, TaskInfo};

use super::records::{self, Tail, UpdateRecord};
use super::{Checkpoint, RunPath, current_boot_id, fs};
use crate::AgentError;

/// What a restarted agent finds of its previous self.
#[derive(Debug, Clone, PartialEq)]
pub struct RecoveredAgent {
    pub info: AgentInfo,
    /// The machine rebooted since the checkpoint: no checkpointed process survives,
    /// and a pid may now name an unrelated process.
    pub rebooted: bool,
    pub frameworks: Vec<RecoveredFramework>,
    /// What was skipped, one line each naming the file at fault (non-strict recovery).
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RecoveredFramework {
    pub info: FrameworkInfo,
    pub executors: Vec<RecoveredExecutor>,
}

/// One run of an executor (an executor restarted in a new container has two).
#[derive(Debug, Clone, PartialEq)]
pub struct RecoveredExecutor {
    pub info: ExecutorInfo,
    pub run: RunPath,
    /// `None` when the agent died before recording it.
    pub pid: Option<i32>,
    /// When that process started (clock ticks after boot); `None` in a checkpoint
    /// written before start times were kept.
    pub start_time: Option<u64>,
    pub completed: bool,
    pub tasks: Vec<RecoveredTask>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RecoveredTask {
    pub info: TaskInfo,
    pub records: Vec<UpdateRecord>,
}

impl RecoveredTask {
    /// The state of the newest update the task produced, acknowledged or not (what
    /// re-registration reports as the task's state); `None` before its first update
    /// (Mesos counts that as TASK_STAGING).
    pub fn latest_state(&self) -> Option<ratufa_proto::v1::TaskState> {
        self.records.iter().rev().find_map(|record| match record {
            UpdateRecord::Update { status, .. } => {
                ratufa_proto::v1::TaskState::try_from(status.state).ok()
            }
            UpdateRecord::Ack { .. } => None,
        })
    }

    /// The updates not yet acknowledged, oldest first.
    pub fn pending(&self) -> Vec<(ratufa_proto::v1::FrameworkId, ratufa_proto::v1::TaskStatus)> {
        records::pending(&self.records)
    }
}

/// The recovery in progress: strictness and what was skipped so far.
struct Reader {
    strict: bool,
    errors: Vec<String>,
}

impl Reader {
    /// A file that exists but is damaged: fatal when strict, else skipped and listed.
    fn damaged(&mut self, path: &Path, reason: impl std::fmt::Display) -> Result<(), AgentError> {
        if self.strict {
            return Err(fs::error(path, reason));
        }
        self.skipped(path, reason);
        Ok(())
    }

    fn skipped(&mut self, path: &Path, reason: impl std::fmt::Display) {
        tracing::warn!(path = %path.display(), %reason, "checkpoint skipped in recovery");
        self.errors.push(format!("{}: {reason}", path.display()));
    }

    /// Decodes the .info file at `path`; `None` when it is missing or (not strict)
    /// damaged, either way listed.
    fn info<M: Message + Default>(&mut self, path: &Path) -> Result<Option<M>, AgentError> {
        let Some(bytes) = fs::read_optional(path)? else {
            self.skipped(path, "missing");
            return Ok(None);
        };
        match M::decode(bytes.as_slice()) {
            Ok(message) => Ok(Some(message)),
            Err(e) => {
                self.damaged(path, format!("does not decode: {e}"))?;
                Ok(None)
            }
        }
    }
}

pub(super) fn recover(
    checkpoint: &Checkpoint,
    strict: bool,
) -> Result<Option<RecoveredAgent>, AgentError> {
    let slaves = checkpoint.meta.join("slaves");
    let latest = slaves.join("latest");
    let agent_id = match std::fs::read_link(&latest) {
        Ok(target) => target.to_string_lossy().into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(fs::error(&latest, e)),
    };
    let mut reader = Reader {
        strict,
        errors: Vec::new(),
    };
    let agent_dir = checkpoint.agent_dir(&agent_id)?;
    // Without its AgentInfo there is no agent to be: start afresh.
    let Some(info) = reader.info::<AgentInfo>(&agent_dir.join("slave.info"))? else {
        tracing::warn!(agent_id, "no usable slave.info: nothing to recover");
        return Ok(None);
    };

    let rebooted = rebooted(&checkpoint.meta.join("boot_id"))?;
    let mut frameworks = Vec::new();
    for fw in fs::subdirs(&agent_dir.join("frameworks"))? {
        let dir = checkpoint.framework_dir(&agent_id, &fw)?;
        let Some(info) = reader.info::<FrameworkInfo>(&dir.join("framework.info"))? else {
            continue;
        };
        let executors = executors(checkpoint, &mut reader, &agent_id, &fw)?;
        frameworks.push(RecoveredFramework { info, executors });
    }
    Ok(Some(RecoveredAgent {
        info,
        rebooted,
        frameworks,
        errors: reader.errors,
    }))
}

/// Whether the boot id recorded differs from the running kernel's. A missing one
/// counts as a reboot: without it the pids cannot be trusted.
fn rebooted(path: &Path) -> Result<bool, AgentError> {
    let Some(stored) = fs::read_optional(path)? else {
        tracing::warn!(path = %path.display(), "no boot id checkpointed; assuming a reboot");
        return Ok(true);
    };
    let current = current_boot_id().map_err(|e| fs::error(Path::new(super::BOOT_ID), e))?;
    Ok(String::from_utf8_lossy(&stored).trim() != current)
}

fn executors(
    checkpoint: &Checkpoint,
    reader: &mut Reader,
    agent: &str,
    fw: &str,
) -> Result<Vec<RecoveredExecutor>, AgentError> {
    let mut out = Vec::new();
    let framework_dir = checkpoint.framework_dir(agent, fw)?;
    for ex in fs::subdirs(&framework_dir.join("executors"))? {
        let dir = checkpoint.executor_dir(agent, fw, &ex)?;
        let Some(info) = reader.info::<ExecutorInfo>(&dir.join("executor.info"))? else {
            continue;
        };
        for container in fs::subdirs(&dir.join("runs"))? {
            let run = RunPath {
                agent_id: agent.to_string(),
                framework_id: fw.to_string(),
                executor_id: ex.clone(),
                container_id: container,
            };
            let run_dir = checkpoint.run_dir(&run)?;
            let pid = pid(reader, &run_dir.join("pids").join("forked.pid"))?;
            let start_time = number(reader, &run_dir.join("pids").join("forked.start_time"))?;
            let completed = run_dir.join("completed").exists();
            let tasks = tasks(checkpoint, reader, &run)?;
            out.push(RecoveredExecutor {
                info: info.clone(),
                run,
                pid,
                start_time,
                completed,
                tasks,
            });
        }
    }
    Ok(out)
}

fn pid(reader: &mut Reader, path: &Path) -> Result<Option<i32>, AgentError> {
    let Some(bytes) = fs::read_optional(path)? else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&bytes);
    match text.trim().parse::<i32>() {
        Ok(pid) if pid > 0 => Ok(Some(pid)),
        _ => {
            reader.damaged(path, format!("not a pid: {text:?}"))?;
            Ok(None)
        }
    }
}

fn number(reader: &mut Reader, path: &Path) -> Result<Option<u64>, AgentError> {
    let Some(bytes) = fs::read_optional(path)? else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&bytes);
    match text.trim().parse::<u64>() {
        Ok(number) => Ok(Some(number)),
        Err(_) => {
            reader.damaged(path, format!("not a number: {text:?}"))?;
            Ok(None)
        }
    }
}

fn tasks(
    checkpoint: &Checkpoint,
    reader: &mut Reader,
    run: &RunPath,
) -> Result<Vec<RecoveredTask>, AgentError> {
    let mut out = Vec::new();
    for task in fs::subdirs(&checkpoint.run_dir(run)?.join("tasks"))? {
        let dir = checkpoint.task_dir(run, &task)?;
        let Some(info) = reader.info::<TaskInfo>(&dir.join("task.info"))? else {
            continue;
        };
        let records = updates(reader, &dir.join("task.updates"))?;
        out.push(RecoveredTask { info, records });
    }
    Ok(out)
}

/// The task's update records; a cut-short or (not strict) damaged tail is truncated
/// away on disk too, so that what is appended next follows whole records.
fn updates(reader: &mut Reader, path: &Path) -> Result<Vec<UpdateRecord>, AgentError> {
    let Some(bytes) = fs::read_optional(path)? else {
        return Ok(Vec::new());
    };
    let decoded = records::decode(&bytes);
    if let (Some(valid_len), Some(tail)) = (decoded.valid_len, decoded.tail) {
        match tail {
            Tail::Partial => tracing::warn!(
                path = %path.display(),
                valid_len,
                dropped = bytes.len() - valid_len,
                "task.updates ends in a partial record (a crash while writing); truncated"
            ),
            Tail::Corrupt(why) => reader.damaged(path, format!("a damaged record: {why}"))?,
        }
        truncate(path, valid_len)?;
    }
    Ok(decoded.records)
}

fn truncate(path: &Path, len: usize) -> Result<(), AgentError> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| fs::error(path, e))?;
    file.set_len(len as u64)
        .and_then(|()| file.sync_all())
        .map_err(|e| fs::error(path, e))
}
