//! ratufa's executors, run by the agent as `ratufa executor`: a client of the agent's
//! Mesos v1 executor API (`POST /api/v1/executor`) that runs a framework's command
//! task (the command executor) or task groups (the default executor, ExecutorInfo type
//! DEFAULT) as child processes and reports their status updates.
//!
//! - [`env`]: the MESOS_* environment the agent sets;
//! - [`client`]: SUBSCRIBE and its event stream, and the other calls;
//! - `driver`: the loop that owns the tasks and the unacknowledged updates;
//! - [`task`]: one task's process, its kill and its time limit;
//! - [`starter`]: the threads that start processes, off the loop;
//! - [`health`]: health checks (COMMAND, HTTP, TCP);
//! - [`user`]: running a task as its user.

pub mod check;
pub mod client;
mod driver;
pub mod env;
mod error;
pub mod health;
pub mod probe;
pub mod starter;
pub mod task;
pub mod user;

#[cfg(test)]
mod tests;

pub use driver::{Executor, terminal_state};
pub use env::ExecutorEnv;
pub use error::ExecutorError;

/// Runs the executor described by this process's MESOS_* environment to its end;
/// returns the process exit status (1 when the environment is unusable).
pub fn main_from_env() -> i32 {
    let env = match ExecutorEnv::from_process() {
        Ok(env) => env,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the executor");
            eprintln!("ratufa executor: {e}");
            return 1;
        }
    };
    // One thread: an executor waits on one socket and a few children, and starts
    // faster without a worker pool.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("ratufa executor: cannot start the runtime: {e}");
            return 1;
        }
    };
    runtime.block_on(run(env))
}

/// Runs an executor with `env` on the current runtime; returns its exit status.
pub async fn run(env: ExecutorEnv) -> i32 {
    tracing::info!(
        executor_id = %env.executor_id,
        framework_id = %env.framework_id,
        agent = %env.agent_endpoint,
        checkpoint = env.checkpoint,
        "executor starting"
    );
    let tls = match env.tls.clone().map(ratufa_gateway::Tls::load).transpose() {
        Ok(tls) => tls,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the executor");
            eprintln!("ratufa executor: {e}");
            return 1;
        }
    };
    match client::AgentClient::new(&env.agent_endpoint, tls.as_ref()) {
        Ok(client) => Executor::new(env, client).run().await,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the executor");
            1
        }
    }
}
