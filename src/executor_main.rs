//! `ratufa-executor`: the agent's command and default executor alone, as Mesos ships
//! `mesos-executor` in its `--launcher_dir`. The agent starts one per command task, so
//! its start is on every task's path: this binary holds the executor and nothing of
//! the master or the agent's server, and keeps the C library's allocator (a task's
//! executor allocates little, and mimalloc's start costs more than it saves here).
//! `ratufa executor` is the same executor inside the big binary.

use std::process::ExitCode;

mod logging;

fn main() -> ExitCode {
    if let Some(argument) = std::env::args_os().nth(1) {
        eprintln!(
            "ratufa-executor: unexpected argument {argument:?}; it takes none and reads the \
             MESOS_* environment the agent sets (not meant to be run by hand)"
        );
        return ExitCode::FAILURE;
    }
    logging::init("INFO");
    let status = ratufa_executor::main_from_env();
    ExitCode::from(u8::try_from(status).unwrap_or(1))
}
