//! `ratufa-executor`: the agent's command and default executor alone, as Mesos ships
//! `mesos-executor` in its `--launcher_dir`. The agent starts one per command task, so
//! its start is on every task's path: this binary holds the executor and nothing of
//! the master or the agent's server, is linked statically (build.rs), and keeps the C
//! library's allocator (a task's executor allocates little, and mimalloc's start costs
//! more than it saves here). `ratufa executor` is the same executor inside the big
//! binary.
//!
//! It has its own C `main` instead of Rust's: the standard library's start-up would
//! find the main thread's stack bounds by reading and parsing /proc/self/maps and map
//! an alternate signal stack to report stack overflows, about 8 % of the executor's
//! start (BENCHMARKS.md, agent_launch). What of it matters here is done below.
#![no_main]

use std::ffi::{c_char, c_int};

mod logging;

#[unsafe(no_mangle)]
extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    // As Rust's start-up does: a write to a connection the agent closed is an error for
    // the executor to handle, not its end. Its children get the default back (Spawn).
    // SAFETY: signal(2) with SIG_IGN, before any other thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    // A panic must not unwind into the C library: it ends the executor with Rust's
    // panic status, 101, once the panic hook has printed it.
    std::panic::catch_unwind(run).unwrap_or(101)
}

fn run() -> c_int {
    // glibc hands argv to the standard library at load time, so args_os() works
    // without Rust's start-up.
    if let Some(argument) = std::env::args_os().nth(1) {
        eprintln!(
            "ratufa-executor: unexpected argument {argument:?}; it takes none and reads the \
             MESOS_* environment the agent sets (not meant to be run by hand)"
        );
        return 1;
    }
    logging::init("INFO");
    let status = ratufa_executor::main_from_env();
    u8::try_from(status).map_or(1, c_int::from)
}
