//! The threads that start task processes, off the executor's loop.
//!
//! A start holds the thread that makes it until the child has exec'd (the agent's
//! [`Spawn`](ratufa_agent::process::Spawn) clones with CLONE_VFORK): 0.1 to 1 ms on a
//! busy machine. On the executor's one-thread loop, a group's tasks started one after
//! another and held everything else (updates, reaping) meanwhile; a default executor
//! given groups of 50 tasks spent about 0.4 ms per task there, and that serial stretch
//! capped it below 1,700 tasks/s with the cores 15 % idle (BENCHMARKS.md
//! agent_launch). Here a few threads start processes at once while the loop goes on.
//!
//! The threads live as long as the process. A task gets SIGKILL when the THREAD that
//! started it ends (PR_SET_PDEATHSIG is per thread), so a thread that ended while
//! idle, as a blocking pool's do, would kill the tasks it had started. They are made
//! as starts need them, up to [`MAX_THREADS`], so a command executor with one task
//! makes one.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, OnceLock};

use ratufa_agent::process::{Child, ProcessSpec};
use tokio::sync::oneshot;

use crate::task::{Output, start};
use crate::user::Account;

/// Starts that may be under way at once: past two or three, starts on a machine of a
/// few cores only wait on each other's execs.
pub const MAX_THREADS: usize = 4;

/// Its stack: a start needs little (Spawn's child runs on a stack of its own).
const THREAD_STACK: usize = 256 * 1024;

type Job = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// Threads waiting for a job.
    idle: usize,
    threads: usize,
}

#[derive(Default)]
struct Pool {
    queue: Mutex<Queue>,
    more: Condvar,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(Pool::default)
}

/// Starts `spec` as [`start`] does, on one of the starter threads; the child is
/// registered with the caller's runtime.
pub async fn start_off_loop(
    spec: &ProcessSpec,
    output: Output,
    account: Option<&Account>,
) -> std::io::Result<Child> {
    let (reply, answer) = oneshot::channel();
    let runtime = tokio::runtime::Handle::current();
    let (spec, account) = (spec.clone(), account.cloned());
    let job: Job = Box::new(move || {
        // The child's pidfd is registered with the loop's reactor.
        let _entered = runtime.enter();
        // A caller gone meanwhile drops the child, which is then reaped in the
        // background (Child's Drop).
        let _ = reply.send(start(&spec, output, account.as_ref()));
    });
    if let Some(job) = submit(job) {
        // No thread could be made (nor is there one): start it here.
        job();
    }
    answer.await.unwrap_or_else(|_| {
        Err(std::io::Error::other(
            "the thread starting the process ended",
        ))
    })
}

/// Queues `job`, making a thread when none is idle and there are fewer than the
/// most; hands the job back when there is no thread at all to run it.
fn submit(job: Job) -> Option<Job> {
    let pool = pool();
    let mut queue = pool.queue.lock().unwrap_or_else(|e| e.into_inner());
    queue.jobs.push_back(job);
    if queue.idle >= queue.jobs.len() {
        pool.more.notify_one();
        return None;
    }
    if queue.threads < MAX_THREADS {
        let made = std::thread::Builder::new()
            .name("starter".into())
            .stack_size(THREAD_STACK)
            .spawn(work);
        match made {
            Ok(_) => queue.threads += 1,
            Err(error) => tracing::warn!(%error, "cannot make a thread to start processes"),
        }
    }
    if queue.threads == 0 {
        return queue.jobs.pop_back();
    }
    pool.more.notify_one();
    None
}

/// A starter thread: runs jobs until the process ends.
fn work() {
    let pool = pool();
    loop {
        let job = {
            let mut queue = pool.queue.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if let Some(job) = queue.jobs.pop_front() {
                    break job;
                }
                queue.idle += 1;
                queue = pool.more.wait(queue).unwrap_or_else(|e| e.into_inner());
                queue.idle -= 1;
            }
        };
        // The thread must outlive its tasks: a panic is caught, not let end it.
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
            tracing::error!("a process start panicked");
        }
    }
}

#[cfg(test)]
mod tests;
