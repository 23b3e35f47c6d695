//! One container's process (an executor), from sandbox to exit: what the agent loop
//! spawns per executor. It reports back over a channel; the loop turns that into
//! status updates.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ratufa_proto::v1::{CommandInfo, DurationInfo, KillPolicy};
use tokio::sync::{mpsc, oneshot};

use crate::config::DEFAULT_KILL_GRACE_PERIOD;
use crate::isolator::{Isolator, Limitation, Limits, Prepared};
use crate::process::{Exit, Process, ProcessSpec};
use crate::updates::TaskKey;

/// What a runner tells the agent loop.
#[derive(Debug)]
pub enum Progress {
    /// The command's process is running.
    Running { pid: i32 },
    /// It could not be started.
    LaunchFailed { message: String },
    /// Fetching its URIs failed; the command never started.
    FetchFailed { message: String },
    /// It ended (by itself, or killed when asked to).
    Exited { exit: Exit },
    /// Its container hit a limit (an OOM kill): the container was destroyed.
    Limited { limitation: Limitation },
}

/// How often a running container is checked for a limit it hit.
const LIMITATION_POLL: Duration = Duration::from_millis(100);

/// The container a command runs in: its id and what the isolator holds it to.
#[derive(Debug, Clone)]
pub struct Container {
    pub id: String,
    pub limits: Limits,
    pub isolator: Arc<dyn Isolator>,
    /// Its process outlives the agent (a checkpointing framework's executor).
    pub surviving: bool,
}

impl Container {
    /// No confinement (posix).
    #[cfg(test)]
    pub fn posix(id: impl Into<String>) -> Container {
        Container {
            id: id.into(),
            limits: Limits {
                cpus: 0.0,
                mem_mb: 0.0,
            },
            isolator: Arc::new(crate::isolator::PosixIsolator),
            surviving: false,
        }
    }

    /// Makes the container's confinement ready, off the async workers: creating
    /// cgroups waits for the kernel (some milliseconds), which on a worker would hold
    /// up every other container's launch behind it.
    async fn prepare(&self) -> Result<Prepared, String> {
        let (isolator, id, limits) = (self.isolator.clone(), self.id.clone(), self.limits);
        match tokio::task::spawn_blocking(move || isolator.prepare(&id, &limits)).await {
            Ok(prepared) => prepared.map_err(|e| e.to_string()),
            Err(e) => Err(format!("the preparation panicked: {e}")),
        }
    }

    /// Kills what is left in the container and removes its cgroups, off the async
    /// workers (it waits for the kernel).
    async fn cleanup(&self) {
        let isolator = self.isolator.clone();
        let id = self.id.clone();
        let result = tokio::task::spawn_blocking(move || isolator.cleanup(&id)).await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(container_id = %self.id, error = %e, "container cleanup failed")
            }
            Err(e) => {
                tracing::warn!(container_id = %self.id, error = %e, "container cleanup panicked")
            }
        }
    }
}

/// Progress of the run keyed `K` (a task in-process, an executor's container).
#[derive(Debug)]
pub struct Report<K = TaskKey> {
    pub key: K,
    pub progress: Progress,
}

/// Runs `command` in `sandbox`, inside `container`, until it exits, its container hits
/// a limit, or a grace period arrives on `kill`. The container is cleaned up before
/// the end is reported.
pub async fn run<K: Clone + std::fmt::Debug>(
    key: K,
    command: CommandInfo,
    sandbox: PathBuf,
    env: Vec<(String, String)>,
    container: Container,
    mut kill: oneshot::Receiver<Duration>,
    reports: mpsc::UnboundedSender<Report<K>>,
) {
    let report = |progress| {
        // The loop is gone only when the agent stops; nothing to tell then.
        let _ = reports.send(Report {
            key: key.clone(),
            progress,
        });
    };
    let mut spec = match ProcessSpec::from_command(&command, sandbox) {
        Ok(spec) => spec,
        Err(message) => return report(Progress::LaunchFailed { message }),
    };
    // The task's own variables win over ours.
    let task_env = std::mem::take(&mut spec.env);
    spec.env = env;
    spec.env.extend(task_env);
    let isolator = &container.isolator;
    let prepared = match container.prepare().await {
        Ok(prepared) => prepared,
        Err(e) => {
            container.cleanup().await;
            return report(Progress::LaunchFailed {
                message: format!("Failed to prepare the container: {e}"),
            });
        }
    };
    let spawned = if container.surviving {
        Process::spawn_surviving_in(&spec, &prepared.join)
    } else {
        Process::spawn_in(&spec, &prepared.join)
    };
    let mut process = match spawned {
        Ok(process) => process,
        Err(e) => {
            container.cleanup().await;
            return report(Progress::LaunchFailed {
                message: format!("Failed to launch the command: {e}"),
            });
        }
    };
    if isolator.kills_leftovers() {
        process.leave_leftovers_to_isolator();
    }
    if let Err(e) = isolator.isolate(&container.id, process.pid()) {
        process.kill(Duration::ZERO).await;
        container.cleanup().await;
        return report(Progress::LaunchFailed {
            message: format!("Failed to isolate the command: {e}"),
        });
    }
    tracing::debug!(?key, pid = process.pid(), container_id = %container.id, "command started");
    report(Progress::Running { pid: process.pid() });
    let mut poll = tokio::time::interval(LIMITATION_POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ended = loop {
        tokio::select! {
            exit = process.wait() => break Ok((exit, false)),
            grace = &mut kill => {
                // A dropped sender means the agent is going away: a surviving process
                // is left to the next agent, others are killed at once.
                let grace = match grace {
                    Ok(grace) => grace,
                    Err(_) if container.surviving => return,
                    Err(_) => Duration::ZERO,
                };
                break Ok((process.kill(grace).await, true));
            }
            _ = poll.tick() => {
                if let Some(limitation) = isolator.limitation(&container.id) {
                    // Mesos destroys a container that hit a limit.
                    process.kill(Duration::ZERO).await;
                    break Err(limitation);
                }
            }
        }
    };
    // The OOM killer may have ended the command itself.
    let ended = match ended {
        Ok((_, false)) => isolator.limitation(&container.id).map_or(ended, Err),
        other => other,
    };
    container.cleanup().await;
    match ended {
        Ok((exit, _)) => report(Progress::Exited { exit }),
        Err(limitation) => {
            tracing::info!(?key, container_id = %container.id, message = %limitation.message, "container limitation");
            report(Progress::Limited { limitation });
        }
    }
}

/// The sandbox of a command task (whose executor id is its task id), created with a
/// `latest` link beside it: `<work_dir>/slaves/<agent>/frameworks/<fw>/executors/<ex>/runs/<container>`.
pub fn create_sandbox(
    work_dir: &Path,
    agent_id: &str,
    framework_id: &str,
    executor_id: &str,
    container_id: &str,
) -> std::io::Result<PathBuf> {
    let executor = work_dir
        .join("slaves")
        .join(agent_id)
        .join("frameworks")
        .join(framework_id)
        .join("executors")
        .join(executor_id);
    // Each directory made directly, with one system call: a command task's executor
    // (id = task id) is new, and so are its `runs` and the container. Where the
    // framework's directories are missing too (its first executor here), they are
    // made on the way.
    match std::fs::create_dir(&executor) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::create_dir_all(&executor)?,
        other => existing_is_fine(other)?,
    }
    let runs = executor.join("runs");
    existing_is_fine(std::fs::create_dir(&runs))?;
    let sandbox = runs.join(container_id);
    existing_is_fine(std::fs::create_dir(&sandbox))?;
    // A later run of the executor id moves the link; the first makes it.
    let latest = runs.join("latest");
    if let Err(e) = std::os::unix::fs::symlink(container_id, &latest) {
        if e.kind() != std::io::ErrorKind::AlreadyExists {
            return Err(e);
        }
        std::fs::remove_file(&latest)?;
        std::os::unix::fs::symlink(container_id, &latest)?;
    }
    Ok(sandbox)
}

/// A directory that is already there is as good as a new one.
fn existing_is_fine(made: std::io::Result<()>) -> std::io::Result<()> {
    match made {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    }
}

/// An id is used as a path component: it must not climb out of the work dir.
pub fn safe_path_component(id: &str) -> bool {
    !id.is_empty() && id != "." && id != ".." && !id.contains('/') && !id.contains('\0')
}

/// The grace period of a kill: the kill's own policy, else the task's, else 3 s.
pub fn grace_period(kill: Option<&KillPolicy>, task: Option<&KillPolicy>) -> Duration {
    kill.or(task)
        .and_then(|policy| policy.grace_period.as_ref())
        .map_or(DEFAULT_KILL_GRACE_PERIOD, duration_info)
}

fn duration_info(info: &DurationInfo) -> Duration {
    u64::try_from(info.nanoseconds).map_or(Duration::ZERO, Duration::from_nanos)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sandbox_layout_with_latest_link() {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = create_sandbox(dir.path(), "m-S0", "m-0000", "t1", "c1").unwrap();
        assert_eq!(
            sandbox,
            dir.path()
                .join("slaves/m-S0/frameworks/m-0000/executors/t1/runs/c1")
        );
        assert!(sandbox.is_dir());
        let latest = dir
            .path()
            .join("slaves/m-S0/frameworks/m-0000/executors/t1/runs/latest");
        assert_eq!(std::fs::read_link(&latest).unwrap(), PathBuf::from("c1"));
        // A second run of the same executor id moves the link.
        create_sandbox(dir.path(), "m-S0", "m-0000", "t1", "c2").unwrap();
        assert_eq!(std::fs::read_link(&latest).unwrap(), PathBuf::from("c2"));
        assert!(sandbox.is_dir(), "the earlier run's sandbox stays");
        // Another executor of the framework, and another framework.
        let other = create_sandbox(dir.path(), "m-S0", "m-0000", "t2", "c3").unwrap();
        assert!(other.ends_with("executors/t2/runs/c3") && other.is_dir());
        let second = create_sandbox(dir.path(), "m-S0", "m-0001", "t1", "c4").unwrap();
        assert!(second.ends_with("m-0001/executors/t1/runs/c4") && second.is_dir());
        // A file where a directory belongs is an error, not a sandbox.
        let runs = dir
            .path()
            .join("slaves/m-S0/frameworks/m-0000/executors/t3/runs");
        std::fs::create_dir_all(runs.parent().unwrap()).unwrap();
        std::fs::write(&runs, "").unwrap();
        assert!(create_sandbox(dir.path(), "m-S0", "m-0000", "t3", "c5").is_err());
    }

    #[test]
    fn path_components_cannot_escape() {
        assert!(safe_path_component("task-1"));
        for bad in ["", ".", "..", "a/b", "../x"] {
            assert!(!safe_path_component(bad), "{bad:?}");
        }
    }

    #[test]
    fn grace_periods() {
        let policy = |ns| KillPolicy {
            grace_period: Some(DurationInfo { nanoseconds: ns }),
        };
        assert_eq!(grace_period(None, None), Duration::from_secs(3));
        assert_eq!(
            grace_period(None, Some(&policy(1_000_000_000))),
            Duration::from_secs(1)
        );
        assert_eq!(
            grace_period(Some(&policy(5)), Some(&policy(1_000_000_000))),
            Duration::from_nanos(5)
        );
        assert_eq!(grace_period(Some(&policy(-1)), None), Duration::ZERO);
    }

    #[tokio::test]
    async fn a_run_reports_running_then_its_exit() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (_kill, kill_rx) = oneshot::channel();
        let key = TaskKey {
            framework_id: "f".into(),
            task_id: "t".into(),
        };
        let command = CommandInfo {
            value: Some("echo $MESOS_TASK_ID; exit 4".to_string()),
            ..CommandInfo::default()
        };
        let env = vec![("MESOS_TASK_ID".to_string(), "t".to_string())];
        let container = Container::posix("c");
        run(key, command, dir.path().into(), env, container, kill_rx, tx).await;
        assert!(matches!(
            rx.recv().await.unwrap().progress,
            Progress::Running { .. }
        ));
        match rx.recv().await.unwrap().progress {
            Progress::Exited { exit } => assert_eq!(exit, Exit::Code(4)),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            std::fs::read_to_string(dir.path().join("stdout")).unwrap(),
            "t\n"
        );
    }

    #[tokio::test]
    async fn a_kill_ends_the_run_as_killed() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (kill, kill_rx) = oneshot::channel();
        let key = TaskKey {
            framework_id: "f".into(),
            task_id: "t".into(),
        };
        let command = CommandInfo {
            value: Some("sleep 100".to_string()),
            ..CommandInfo::default()
        };
        let container = Container::posix("c");
        let runner = tokio::spawn(run(
            key,
            command,
            dir.path().into(),
            vec![],
            container,
            kill_rx,
            tx,
        ));
        assert!(matches!(
            rx.recv().await.unwrap().progress,
            Progress::Running { .. }
        ));
        kill.send(Duration::from_secs(3)).unwrap();
        match rx.recv().await.unwrap().progress {
            Progress::Exited { exit } => assert_eq!(exit, Exit::Signal(libc::SIGTERM)),
            other => panic!("{other:?}"),
        }
        runner.await.unwrap();
    }
}
