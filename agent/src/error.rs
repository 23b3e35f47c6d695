use std::path::PathBuf;

use thiserror::Error;

/// What can go wrong in the agent: bad flags, the master link, the sandbox, a task's
/// process.
#[derive(Debug, Error)]
pub enum AgentError {
    /// `--master` is not something we can connect to.
    #[error("--master={given}: {reason}")]
    BadMaster { given: String, reason: String },
    /// `--resources` or `--attributes` do not parse.
    #[error("{flag}={given}: {reason}")]
    BadFlag {
        flag: &'static str,
        given: String,
        reason: String,
    },
    /// A directory or file under `--work_dir` could not be made.
    #[error("{path}: {source}")]
    Sandbox {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A checkpoint under `<work_dir>/meta` could not be written, or read back.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint { path: PathBuf, reason: String },
    /// A task's command could not be started.
    #[error("cannot start the command: {0}")]
    Spawn(String),
    /// The master could not be reached, or broke the connection.
    #[error("master link: {0}")]
    Link(String),
    /// The master answered with a status we did not expect.
    #[error("master answered {status}: {body}")]
    Refused { status: u16, body: String },
    /// The command stream broke its framing or carried something that is not a Command.
    #[error("bad command stream: {0}")]
    BadStream(String),
    /// `--isolation` cannot be had on this machine, or a container's cgroup failed.
    #[error(transparent)]
    Isolation(#[from] crate::isolator::IsolatorError),
    #[error("failed to serve HTTP: {0}")]
    Io(#[from] std::io::Error),
    /// `--authenticate_http_readonly` or `--authenticate_http_readwrite` without
    /// `--http_credentials`: nobody could use what it guards (Mesos refuses it too).
    #[error("--{flag} is set but no --http_credentials were given: nobody could authenticate")]
    MissingCredentials { flag: &'static str },
}
