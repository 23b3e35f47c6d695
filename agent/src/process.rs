//! Running a container's process (an executor): its own session (so a kill reaches
//! what it forked), the sandbox as working directory, stdout and stderr in files there;
//! started without a fork of the agent (`spawn`).

use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use ratufa_proto::v1::CommandInfo;
use ratufa_proto::v1::environment::variable::Type as VariableType;

use crate::AgentError;

mod spawn;
mod sweep;
mod watch;
pub use spawn::{Child, Spawn};
pub use watch::{alive, same_process, start_time, terminate, wait_for_exit};

/// What to run, resolved from a CommandInfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSpec {
    pub program: String,
    /// What the program sees as `argv[0]`, when not the program itself.
    pub arg0: Option<String>,
    pub args: Vec<String>,
    /// Added to the agent's own environment (later entries win).
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
}

impl ProcessSpec {
    /// `sh -c script` in `cwd`, with our environment.
    pub fn shell(script: impl Into<String>, cwd: PathBuf) -> ProcessSpec {
        ProcessSpec {
            program: "sh".to_string(),
            arg0: None,
            args: vec!["-c".to_string(), script.into()],
            env: Vec::new(),
            cwd,
        }
    }

    /// `shell` (the default) runs `sh -c value`; otherwise `value` is executed with
    /// `arguments` as its whole argv, `arguments[0]` being argv[0], as Mesos does.
    pub fn from_command(command: &CommandInfo, cwd: PathBuf) -> Result<ProcessSpec, String> {
        let value = command.value.clone().unwrap_or_default();
        if value.is_empty() {
            return Err("the command has no 'value' to run".to_string());
        }
        let mut env = Vec::new();
        for variable in command.environment.iter().flat_map(|e| &e.variables) {
            match variable.r#type.and_then(|t| VariableType::try_from(t).ok()) {
                None | Some(VariableType::Value) | Some(VariableType::Unknown) => {
                    env.push((
                        variable.name.clone(),
                        variable.value.clone().unwrap_or_default(),
                    ));
                }
                Some(VariableType::Secret) => {
                    return Err(format!(
                        "environment variable '{}' is a secret; this agent has no secret \
                         resolver",
                        variable.name
                    ));
                }
            }
        }
        if command.shell.unwrap_or(true) {
            Ok(ProcessSpec {
                env,
                ..ProcessSpec::shell(value, cwd)
            })
        } else {
            let mut arguments = command.arguments.clone().into_iter();
            Ok(ProcessSpec {
                program: value,
                arg0: arguments.next(),
                args: arguments.collect(),
                env,
                cwd,
            })
        }
    }
}

impl ProcessSpec {
    /// What starts this: the program, argv[0], the arguments, our environment plus
    /// the spec's, the working directory, and `stdio` (stdin, stdout, stderr). The
    /// caller adds a session or process group, cgroups, a user, the death signal.
    pub fn spawner(&self, stdio: [OwnedFd; 3]) -> std::io::Result<Spawn> {
        let arg0 = self.arg0.as_deref().unwrap_or(&self.program);
        let argv: Vec<&std::ffi::OsStr> = std::iter::once(arg0)
            .chain(self.args.iter().map(String::as_str))
            .map(std::ffi::OsStr::new)
            .collect();
        Spawn::new(&self.program, &argv, &self.env, &self.cwd, stdio)
    }
}

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
    /// Waiting for it failed; nothing is known.
    Unknown(String),
}

impl Exit {
    pub fn from_status(status: std::io::Result<ExitStatus>) -> Exit {
        match status {
            Ok(status) => match (status.code(), status.signal()) {
                (Some(code), _) => Exit::Code(code),
                (None, Some(signal)) => Exit::Signal(signal),
                (None, None) => Exit::Unknown(format!("{status}")),
            },
            Err(e) => Exit::Unknown(e.to_string()),
        }
    }

    /// How Mesos's command executor words a failure: "Command exited with status 3".
    pub fn describe(&self) -> String {
        match self {
            Exit::Code(code) => format!("Command exited with status {code}"),
            Exit::Signal(signal) => {
                format!("Command terminated with signal {}", signal_name(*signal))
            }
            Exit::Unknown(why) => format!("Command ended in an unknown way: {why}"),
        }
    }
}

/// The C library's description of a signal ("Terminated", "Killed"), as Mesos words
/// a signalled command.
fn signal_name(signal: i32) -> String {
    // SAFETY: strsignal returns a pointer to a NUL-terminated string that stays valid
    // until the next strsignal call on this thread; it is copied out at once.
    let name = unsafe { libc::strsignal(signal) };
    if name.is_null() {
        return format!("{signal}");
    }
    // SAFETY: non-null, NUL-terminated (above).
    unsafe { std::ffi::CStr::from_ptr(name) }
        .to_string_lossy()
        .into_owned()
}

/// A running command in its own process group.
#[derive(Debug)]
pub struct Process {
    child: Child,
    pgid: i32,
    /// Whether its end looks through /proc for what its session left outside its
    /// group; not where the container's cgroups hold those and its cleanup kills them.
    sweep_session: bool,
}

impl Process {
    /// Starts `spec` with stdout and stderr going to files of those names in its cwd.
    pub fn spawn(spec: &ProcessSpec) -> Result<Process, AgentError> {
        Process::spawn_in(spec, &[])
    }

    /// As [`Process::spawn`], the child first writing itself into each of the
    /// `cgroup.procs` files in `join`, between fork and exec: the command and all it
    /// forks start inside the container's cgroups.
    ///
    /// The kernel kills the process when the agent goes (nobody would manage or report
    /// it): the executors of frameworks that do not checkpoint.
    pub fn spawn_in(spec: &ProcessSpec, join: &[PathBuf]) -> Result<Process, AgentError> {
        Process::start(spec, join, true)
    }

    /// As [`Process::spawn_in`], but the process outlives the agent: a checkpointing
    /// framework's executor, which a restarted agent finds again (by its checkpointed
    /// pid, see [`wait_for_exit`] and [`terminate`]).
    pub fn spawn_surviving_in(spec: &ProcessSpec, join: &[PathBuf]) -> Result<Process, AgentError> {
        Process::start(spec, join, false)
    }

    fn start(
        spec: &ProcessSpec,
        join: &[PathBuf],
        die_with_agent: bool,
    ) -> Result<Process, AgentError> {
        let failed = |e: std::io::Error| AgentError::Spawn(format!("{}: {e}", spec.program));
        let stdin = File::open("/dev/null").map_err(failed)?;
        let stdout = create(&spec.cwd.join("stdout"))?;
        let stderr = create(&spec.cwd.join("stderr"))?;
        let mut spawn = spec
            .spawner([stdin.into(), stdout.into(), stderr.into()])
            .map_err(failed)?;
        // Its own session (and so its own group), so that a kill reaches whatever it
        // forked, even what went into process groups of its own (an executor's
        // tasks).
        spawn.new_session();
        if die_with_agent {
            spawn.die_with_parent();
        }
        spawn.join(join).map_err(failed)?;
        let child = spawn.spawn().map_err(failed)?;
        let pgid = child.id();
        Ok(Process {
            child,
            pgid,
            sweep_session: true,
        })
    }

    /// What the process leaves behind when it ends is the isolator's to kill (its
    /// cgroups hold all of it): [`Process::wait`] then only kills its group, without
    /// the look through /proc for the rest of its session.
    pub fn leave_leftovers_to_isolator(&mut self) {
        self.sweep_session = false;
    }

    pub fn pid(&self) -> i32 {
        self.pgid
    }

    /// Waits for the process to end, then kills what it left behind in its group and
    /// session (the container is gone once its command is: Mesos destroys it too).
    /// The process is reaped last: until then its pid, which is the id of its group
    /// and session, cannot be given to a new process that the kills would reach.
    /// Cancel safe.
    pub async fn wait(&mut self) -> Exit {
        // An error here (not our child any more) shows in the reap below.
        let _ = self.child.exited().await;
        signal_group_only(self.pgid, libc::SIGKILL);
        if self.sweep_session {
            sweep::signal_members_batched(self.pgid, libc::SIGKILL).await;
        }
        Exit::from_status(self.child.wait().await)
    }

    /// SIGTERM to the group, SIGKILL after `grace` if the process is still there, and
    /// SIGKILL to what is left of its group and session once it has ended. As in
    /// [`Process::wait`], the process is reaped after the last kill, never before.
    pub async fn kill(&mut self, grace: Duration) -> Exit {
        // A destroy (no grace): no SIGTERM first, which an executor would take as a
        // graceful shutdown and answer with updates of its own before the SIGKILL lands.
        if !grace.is_zero() {
            self.signal_group(libc::SIGTERM);
            // An error here (not our child any more) shows in the reap below.
            if tokio::time::timeout(grace, self.child.exited())
                .await
                .is_err()
            {
                tracing::debug!(pgid = self.pgid, ?grace, "grace period over, SIGKILL");
            }
        }
        self.signal_group(libc::SIGKILL);
        Exit::from_status(self.child.wait().await)
    }

    /// Sends `signal` to the whole group, and to every process left in its session;
    /// a group already gone is not an error.
    pub fn signal_group(&self, signal: i32) {
        signal_session(self.pgid, signal);
    }
}

/// Sends `signal` to the group `sid` and to each process of session `sid` (a
/// container's leader, its tasks' groups, and what they forked). Processes already
/// gone are not an error.
pub fn signal_session(sid: i32, signal: i32) {
    signal_group_only(sid, signal);
    sweep::signal_members(&[(sid, signal)]);
}

/// Sends `signal` to the group `pgid`; a group already gone is not an error.
fn signal_group_only(pgid: i32, signal: i32) {
    // SAFETY: killpg takes plain integers and touches no memory of ours.
    let rc = unsafe { libc::killpg(pgid, signal) };
    if rc != 0 {
        let error = std::io::Error::last_os_error();
        if error.raw_os_error() != Some(libc::ESRCH) {
            tracing::warn!(pgid, signal, %error, "cannot signal process group");
        }
    }
}

/// Opens for appending (created if missing): the fetcher may have logged to stderr.
fn create(path: &Path) -> Result<File, AgentError> {
    File::options()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| AgentError::Sandbox {
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests;
