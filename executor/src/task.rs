//! One task's process, from start to reaped exit: its own process group (so that a
//! kill reaches whatever it forked), the sandbox as working directory, the executor's
//! stdout and stderr (which the agent points at the sandbox's files), the task's user,
//! and death with the executor. A kill is SIGTERM to the group, then SIGKILL when the
//! grace period runs out; a later kill may shorten the grace period, never lengthen
//! it (Mesos's rule: a retried kill is a no-op).
//!
//! Processes start through the agent's [`Spawn`] (clone with CLONE_VM | CLONE_VFORK,
//! as posix_spawn does) rather than a fork: a fork copies the executor's page tables
//! for the child to throw away at exec, and the executor then takes a copy-on-write
//! fault on each page it writes, on every task's path.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use ratufa_agent::process::{Child, Exit, ProcessSpec, Spawn};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::user::Account;

/// What to start for a task.
#[derive(Debug, Clone)]
pub struct Launch {
    pub task_id: String,
    pub spec: ProcessSpec,
    /// The account to run as, when it is not ours.
    pub account: Option<Account>,
    /// Kill the task (with no grace) when it has run this long.
    pub max_completion_time: Option<Duration>,
}

/// What a running task tells the executor.
#[derive(Debug)]
pub enum TaskEvent {
    /// The process is running.
    Started { task_id: String, pid: i32 },
    /// It could not be started; `message` says why.
    LaunchFailed { task_id: String, message: String },
    /// It ended; `timed_out` when its max_completion_time ended it.
    Exited {
        task_id: String,
        exit: Exit,
        timed_out: bool,
    },
    /// A health check's verdict (see `health`).
    Health {
        task_id: String,
        healthy: bool,
        kill: bool,
    },
    /// A check's new result (see `check`).
    Check {
        task_id: String,
        status: ratufa_proto::v1::CheckStatusInfo,
    },
}

/// Runs `launch` until its process ends. Each grace period received on `kills` is a
/// kill request; a closed `kills` (the executor is going away) kills at once.
pub async fn run(
    launch: Launch,
    mut kills: mpsc::UnboundedReceiver<Duration>,
    events: mpsc::UnboundedSender<TaskEvent>,
) {
    let task_id = launch.task_id.clone();
    // The executor's loop is gone only when it exits; nothing to tell then.
    let send = |event| {
        let _ = events.send(event);
    };
    let started =
        crate::starter::start_off_loop(&launch.spec, Output::Inherit, launch.account.as_ref())
            .await;
    let mut child = match started {
        Ok(child) => child,
        Err(e) => {
            let message = format!(
                "Failed to launch the command '{}': {e}",
                launch.spec.program
            );
            return send(TaskEvent::LaunchFailed { task_id, message });
        }
    };
    let pgid = child.id();
    tracing::info!(task_id = %task_id, pid = pgid, "command started");
    send(TaskEvent::Started {
        task_id: task_id.clone(),
        pid: pgid,
    });
    let completion_at = launch.max_completion_time.map(|d| Instant::now() + d);
    let mut escalate_at: Option<Instant> = None;
    let mut killing = false;
    let mut timed_out = false;
    let mut kills_open = true;
    let far = Instant::now() + Duration::from_secs(365 * 86_400);
    // The command is reaped only after its group's last kill below: until then its
    // pid, the group's id, cannot be given to a process the kill would reach.
    loop {
        tokio::select! {
            // An error here (not our child any more) shows in the reap below.
            _ = child.exited() => break,
            grace = kills.recv(), if kills_open => {
                let grace = grace.unwrap_or_else(|| {
                    kills_open = false;
                    Duration::ZERO
                });
                let at = Instant::now() + grace;
                if !killing {
                    tracing::info!(task_id = %task_id, ?grace, "sending SIGTERM to the task's process group");
                    signal_group(pgid, libc::SIGTERM);
                    killing = true;
                }
                escalate_at = Some(escalate_at.map_or(at, |current| current.min(at)));
            }
            () = tokio::time::sleep_until(escalate_at.unwrap_or(far)), if escalate_at.is_some() => {
                tracing::info!(task_id = %task_id, "grace period over, sending SIGKILL");
                signal_group(pgid, libc::SIGKILL);
                escalate_at = None;
            }
            () = tokio::time::sleep_until(completion_at.unwrap_or(far)), if completion_at.is_some() && !killing => {
                tracing::info!(task_id = %task_id, "max_completion_time reached, killing the task");
                timed_out = true;
                killing = true;
                signal_group(pgid, libc::SIGTERM);
                escalate_at = Some(Instant::now());
            }
        }
    }
    // The container ends with its command: whatever it left in its group goes too.
    signal_group(pgid, libc::SIGKILL);
    let exit = Exit::from_status(child.wait().await);
    tracing::info!(task_id = %task_id, ?exit, "command ended");
    send(TaskEvent::Exited {
        task_id,
        exit,
        timed_out,
    });
}

/// Where a started process's stdout and stderr go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// The executor's own (the sandbox's files).
    Inherit,
    /// Nowhere.
    Null,
}

/// Starts `spec` in a process group of its own, stdin from /dev/null, as `account`
/// when given. The kernel kills it should the executor die: a task or a check's
/// command is managed by its executor, and one left behind would be a process nobody
/// reports on or ends (a check may run for as long as its timeout allows).
pub fn start(
    spec: &ProcessSpec,
    output: Output,
    account: Option<&Account>,
) -> std::io::Result<Child> {
    let null = || File::open("/dev/null").map(OwnedFd::from);
    let ours = |stream: std::io::Result<OwnedFd>| match output {
        // Ours closed: the task's closed too would be std's way; /dev/null is kinder.
        Output::Inherit => stream.or_else(|_| null()),
        Output::Null => null(),
    };
    let stdout = ours(std::io::stdout().as_fd().try_clone_to_owned())?;
    let stderr = ours(std::io::stderr().as_fd().try_clone_to_owned())?;
    let mut spawn: Spawn = spec.spawner([null()?, stdout, stderr])?;
    spawn.new_process_group();
    if let Some(account) = account {
        spawn.switch_user(account.uid, account.gid, &account.groups);
    }
    spawn.die_with_parent();
    spawn.spawn()
}

/// Sends `signal` to a process group; one already gone is not an error.
pub fn signal_group(pgid: i32, signal: i32) {
    // SAFETY: killpg takes plain integers and touches no memory of ours.
    let rc = unsafe { libc::killpg(pgid, signal) };
    if rc != 0 {
        let error = std::io::Error::last_os_error();
        if error.raw_os_error() != Some(libc::ESRCH) {
            tracing::warn!(pgid, signal, %error, "cannot signal process group");
        }
    }
}

#[cfg(test)]
mod tests;
