//! The agent's sandboxes as its HTTP endpoints see them: `/files/browse|read|download`
//! over the attached sandbox directories, and the executors `/state` lists.
//!
//! The agent loop tells [`Sandboxes`] when it creates a sandbox, when a task changes
//! state and what its id is; the endpoints read it. One lock, held for a copy or a
//! lookup, never across IO.

mod endpoints;
mod info;
pub mod resolve;

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use ratufa_proto::v1::{
    AgentInfo, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, TaskInfo, TaskState,
    TaskStatus,
};

pub use endpoints::routes;
pub(crate) use endpoints::{list, read_file};
pub(crate) use info::file_info_proto;
use ratufa_proto::task_state::is_terminal;
use resolve::{Attached, Refusal};

use crate::AgentConfig;

/// Mesos's `--max_completed_executors_per_framework`: older ones are forgotten and
/// their sandboxes detached.
pub const MAX_COMPLETED_EXECUTORS_PER_FRAMEWORK: usize = 150;

/// Mesos's bound on the ended tasks an executor's run remembers (the agent's
/// MAX_COMPLETED_TASKS_PER_EXECUTOR): a default or custom executor may run task after
/// task for as long as it lives, and each kept would hold its TaskInfo and updates.
pub const MAX_COMPLETED_TASKS_PER_EXECUTOR: usize = 200;

/// One executor's run (a command task's executor id is its task id).
#[derive(Debug, Clone)]
pub struct ExecutorRun {
    pub executor_id: String,
    pub container_id: String,
    pub directory: PathBuf,
    /// The task the run was started for, and its state.
    pub task: TaskInfo,
    pub state: TaskState,
    /// The command's pid (its process group) once it runs: `/monitor/statistics` reads it.
    pub pid: Option<i32>,
    /// The ExecutorInfo the executor runs under, once the agent said (the operator API
    /// reports it); a command task run in the agent itself has none.
    pub executor: Option<ExecutorInfo>,
    /// The tasks given to the executor, by task id, with their latest state (an
    /// executor of a task group, or a custom one, runs several): every live one, and
    /// the last [`MAX_COMPLETED_TASKS_PER_EXECUTOR`] ended.
    pub tasks: BTreeMap<String, RunTask>,
    /// The ids of the ended tasks in `tasks`, oldest first.
    pub ended: VecDeque<String>,
}

impl ExecutorRun {
    /// The ExecutorInfo of the run: the one the agent runs the executor under (the
    /// framework's for a custom or default executor), else the one Mesos makes up for
    /// a command task (executor id and source = task id). Its framework id is filled.
    // `source` is deprecated in favour of labels, but Mesos still fills it for command
    // tasks and shows it in `/state` and `/monitor/statistics`.
    #[allow(deprecated)]
    pub fn executor_info(&self, framework_id: &str) -> ExecutorInfo {
        let framework_id = Some(FrameworkId {
            value: framework_id.to_string(),
        });
        if let Some(info) = self.executor.as_ref().or(self.task.executor.as_ref()) {
            return ExecutorInfo {
                framework_id: info.framework_id.clone().or(framework_id),
                ..info.clone()
            };
        }
        let task_id = &self.task.task_id.value;
        ExecutorInfo {
            executor_id: ExecutorId {
                value: self.executor_id.clone(),
            },
            framework_id,
            name: Some(format!("Command Executor (Task: {task_id})")),
            source: Some(task_id.clone()),
            resources: self.task.resources.clone(),
            ..ExecutorInfo::default()
        }
    }
}

/// A task of an executor run as the book knows it.
#[derive(Debug, Clone)]
pub struct RunTask {
    pub info: TaskInfo,
    pub state: TaskState,
    /// Its status updates, oldest first (the first and the latest
    /// [`MAX_STATUSES_PER_TASK`] - 1 when there were more).
    pub statuses: Vec<TaskStatus>,
}

/// How many of a task's status updates the book keeps: health checks can send a
/// RUNNING update every few seconds for as long as the task runs.
pub const MAX_STATUSES_PER_TASK: usize = 20;

#[derive(Debug, Clone)]
pub struct FrameworkRuns {
    pub info: FrameworkInfo,
    pub executors: BTreeMap<String, ExecutorRun>,
    pub completed: VecDeque<ExecutorRun>,
}

/// What the endpoints see of the agent.
#[derive(Debug, Clone)]
pub struct Book {
    pub config: AgentConfig,
    pub info: AgentInfo,
    pub frameworks: BTreeMap<String, FrameworkRuns>,
    attached: Attached,
}

/// The shared book: cheap to clone.
#[derive(Debug, Clone)]
pub struct Sandboxes(Arc<RwLock<Book>>);

impl Sandboxes {
    pub fn new(config: AgentConfig, info: AgentInfo) -> Sandboxes {
        Sandboxes(Arc::new(RwLock::new(Book {
            config,
            info,
            frameworks: BTreeMap::new(),
            attached: Attached::default(),
        })))
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Book> {
        // A panic while holding the lock leaves plain data behind: keep serving it.
        self.0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Book> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A copy of the book, for `/state`.
    pub fn snapshot(&self) -> Book {
        self.read().clone()
    }

    /// The agent's id, once the master gave it.
    pub fn set_agent_id(&self, agent_id: &str) {
        self.write().info.id = Some(ratufa_proto::v1::AgentId {
            value: agent_id.to_string(),
        });
    }

    /// A sandbox was created at `directory` for `task`, whose executor id is
    /// `executor_id`: attach it under the names Mesos attaches it under — the virtual
    /// `/frameworks/<fw>/executors/<ex>/runs/latest` (and `…/runs/<container>`), and its
    /// host path and the host path of the `latest` link.
    pub fn attach(
        &self,
        framework: &FrameworkInfo,
        executor_id: &str,
        container_id: &str,
        directory: &Path,
        task: &TaskInfo,
    ) {
        let Some(framework_id) = framework.id.as_ref().map(|id| id.value.clone()) else {
            return;
        };
        let mut book = self.write();
        let virtual_runs = format!("/frameworks/{framework_id}/executors/{executor_id}/runs");
        book.attached
            .attach(format!("{virtual_runs}/latest"), directory);
        book.attached
            .attach(format!("{virtual_runs}/{container_id}"), directory);
        book.attached.attach(host_name(directory), directory);
        if let Some(runs) = directory.parent() {
            book.attached
                .attach(host_name(&runs.join("latest")), directory);
        }
        let runs = book
            .frameworks
            .entry(framework_id.clone())
            .or_insert_with(|| FrameworkRuns {
                info: framework.clone(),
                executors: BTreeMap::new(),
                completed: VecDeque::new(),
            });
        runs.info = framework.clone();
        let previous = runs.executors.insert(
            executor_id.to_string(),
            ExecutorRun {
                executor_id: executor_id.to_string(),
                container_id: container_id.to_string(),
                directory: directory.to_path_buf(),
                task: task.clone(),
                state: TaskState::TaskStaging,
                pid: None,
                executor: None,
                tasks: BTreeMap::from([(
                    task.task_id.value.clone(),
                    RunTask {
                        info: task.clone(),
                        state: TaskState::TaskStaging,
                        statuses: Vec::new(),
                    },
                )]),
                ended: VecDeque::new(),
            },
        );
        if let Some(previous) = previous {
            complete(&mut book, &framework_id, previous);
        }
    }

    /// `task`, one of `executor_id`'s, had the update `status` (a task the book has not
    /// seen yet joins the run).
    pub fn task_status(
        &self,
        framework_id: &str,
        executor_id: &str,
        task: &TaskInfo,
        status: &TaskStatus,
    ) {
        let state = TaskState::try_from(status.state).unwrap_or(TaskState::TaskUnknown);
        let mut book = self.write();
        let Some(run) = book
            .frameworks
            .get_mut(framework_id)
            .and_then(|runs| runs.executors.get_mut(executor_id))
        else {
            return;
        };
        if run.task.task_id == task.task_id {
            run.state = state;
        }
        let entry = run
            .tasks
            .entry(task.task_id.value.clone())
            .or_insert_with(|| RunTask {
                info: task.clone(),
                state,
                statuses: Vec::new(),
            });
        let ends = !is_terminal(entry.state) && is_terminal(state);
        entry.state = state;
        if entry.statuses.len() >= MAX_STATUSES_PER_TASK {
            // Keep the first (when the task started) and the newest.
            entry.statuses.remove(1);
        }
        entry.statuses.push(status.clone());
        if ends {
            run.ended.push_back(task.task_id.value.clone());
            while run.ended.len() > MAX_COMPLETED_TASKS_PER_EXECUTOR {
                // A task id used again since it ended is live under it now: kept.
                if let Some(oldest) = run.ended.pop_front()
                    && run.tasks.get(&oldest).is_some_and(|t| is_terminal(t.state))
                {
                    run.tasks.remove(&oldest);
                }
            }
        }
    }

    /// `executor_id` runs under `info`.
    pub fn executor_info(&self, framework_id: &str, executor_id: &str, info: &ExecutorInfo) {
        let mut book = self.write();
        if let Some(run) = book
            .frameworks
            .get_mut(framework_id)
            .and_then(|runs| runs.executors.get_mut(executor_id))
        {
            run.executor = Some(info.clone());
        }
    }

    /// The executor's container ended: the run moves among the completed (its sandbox
    /// stays attached while it is there).
    pub fn executor_ended(&self, framework_id: &str, executor_id: &str) {
        let mut book = self.write();
        let Some(runs) = book.frameworks.get_mut(framework_id) else {
            return;
        };
        if let Some(run) = runs.executors.remove(executor_id) {
            complete(&mut book, framework_id, run);
        }
    }

    /// The sandbox directory of `executor_id`'s latest run, live or completed.
    pub fn directory(&self, framework_id: &str, executor_id: &str) -> Option<PathBuf> {
        let book = self.read();
        let runs = book.frameworks.get(framework_id)?;
        runs.executors
            .get(executor_id)
            .or_else(|| {
                runs.completed
                    .iter()
                    .rev()
                    .find(|run| run.executor_id == executor_id)
            })
            .map(|run| run.directory.clone())
    }

    /// The sandbox `directory` is being removed: no name leads to it any more.
    pub fn detach_directory(&self, directory: &Path) {
        self.write().attached.detach_directory(directory);
    }

    /// The command of `executor_id` runs as `pid`.
    pub fn set_pid(&self, framework_id: &str, executor_id: &str, pid: i32) {
        let mut book = self.write();
        if let Some(run) = book
            .frameworks
            .get_mut(framework_id)
            .and_then(|runs| runs.executors.get_mut(executor_id))
        {
            run.pid = Some(pid);
        }
    }

    /// `requested` on the host, or why not.
    pub fn resolve(&self, requested: &str) -> Result<PathBuf, Refusal> {
        let book = self.read();
        book.attached.resolve(requested, &book.config.work_dir)
    }
}

/// Files `run` among `framework_id`'s completed executors, forgetting (and detaching)
/// the oldest beyond the bound.
fn complete(book: &mut Book, framework_id: &str, run: ExecutorRun) {
    let mut evicted = Vec::new();
    if let Some(runs) = book.frameworks.get_mut(framework_id) {
        runs.completed.push_back(run);
        while runs.completed.len() > MAX_COMPLETED_EXECUTORS_PER_FRAMEWORK {
            if let Some(old) = runs.completed.pop_front() {
                evicted.push(old.directory);
            }
        }
    }
    for directory in evicted {
        book.attached.detach_directory(&directory);
    }
}

fn host_name(path: &Path) -> String {
    path.display().to_string().trim_end_matches('/').to_string()
}

/// A bare status update in `state`, for the tests that fill a book.
#[cfg(test)]
pub(crate) fn test_status(state: TaskState) -> TaskStatus {
    TaskStatus {
        state: state as i32,
        ..TaskStatus::default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::test_status as status;
    use super::*;
    use ratufa_proto::v1::{FrameworkId, TaskId};

    fn framework() -> FrameworkInfo {
        FrameworkInfo {
            id: Some(FrameworkId { value: "F".into() }),
            ..Default::default()
        }
    }

    fn task(id: &str) -> TaskInfo {
        TaskInfo {
            task_id: TaskId { value: id.into() },
            ..Default::default()
        }
    }

    #[test]
    fn an_executor_run_keeps_its_live_tasks_and_the_last_200_ended() {
        let dir = tempfile::tempdir().unwrap();
        let sandboxes =
            Sandboxes::new(AgentConfig::new("m:5050", dir.path()), AgentInfo::default());
        sandboxes.attach(&framework(), "E", "c", dir.path(), &task("first"));
        sandboxes.task_status("F", "E", &task("live"), &status(TaskState::TaskRunning));
        let ended = MAX_COMPLETED_TASKS_PER_EXECUTOR + 50;
        for n in 0..ended {
            let t = task(&format!("t{n}"));
            sandboxes.task_status("F", "E", &t, &status(TaskState::TaskRunning));
            sandboxes.task_status("F", "E", &t, &status(TaskState::TaskFinished));
            // A retried terminal update does not count twice.
            sandboxes.task_status("F", "E", &t, &status(TaskState::TaskFinished));
        }
        let book = sandboxes.snapshot();
        let run = &book.frameworks["F"].executors["E"];
        let ended_kept: Vec<&String> = run
            .tasks
            .iter()
            .filter(|(_, t)| is_terminal(t.state))
            .map(|(id, _)| id)
            .collect();
        assert_eq!(ended_kept.len(), MAX_COMPLETED_TASKS_PER_EXECUTOR);
        assert!(
            !run.tasks.contains_key("t49"),
            "the oldest ended are forgotten"
        );
        assert!(
            run.tasks.contains_key("t50") && run.tasks.contains_key(&format!("t{}", ended - 1))
        );
        assert_eq!(
            run.tasks["live"].state,
            TaskState::TaskRunning,
            "live tasks stay"
        );
        assert!(run.tasks.contains_key("first"), "not ended, so kept");
    }

    #[test]
    fn sandboxes_stay_attached_until_their_executor_is_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        let sandboxes = Sandboxes::new(AgentConfig::new("m:5050", &work), AgentInfo::default());
        let sandbox = |n: usize| {
            let path = work.join(format!("slaves/S/frameworks/F/executors/t{n}/runs/c{n}"));
            std::fs::create_dir_all(&path).unwrap();
            path
        };
        for n in 0..=MAX_COMPLETED_EXECUTORS_PER_FRAMEWORK {
            let id = format!("t{n}");
            sandboxes.attach(&framework(), &id, &format!("c{n}"), &sandbox(n), &task(&id));
            sandboxes.task_status("F", &id, &task(&id), &status(TaskState::TaskRunning));
            assert!(
                sandboxes
                    .resolve(&format!("/frameworks/F/executors/{id}/runs/latest"))
                    .is_ok()
            );
            sandboxes.task_status("F", &id, &task(&id), &status(TaskState::TaskFinished));
            sandboxes.executor_ended("F", &id);
        }
        let book = sandboxes.snapshot();
        assert!(book.frameworks["F"].executors.is_empty());
        assert_eq!(
            book.frameworks["F"].completed.len(),
            MAX_COMPLETED_EXECUTORS_PER_FRAMEWORK
        );
        // The oldest was forgotten and detached; the newest still resolves, by its
        // virtual paths and its host path.
        assert!(matches!(
            sandboxes.resolve("/frameworks/F/executors/t0/runs/latest"),
            Err(Refusal::NotFound(_))
        ));
        let last = MAX_COMPLETED_EXECUTORS_PER_FRAMEWORK;
        for path in [
            format!("/frameworks/F/executors/t{last}/runs/latest"),
            format!("/frameworks/F/executors/t{last}/runs/c{last}"),
            sandbox(last).display().to_string(),
        ] {
            assert!(sandboxes.resolve(&path).is_ok(), "{path}");
        }
    }
}
