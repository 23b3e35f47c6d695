//! pymesos 0.3.15, a Mesos scheduler library other people wrote, unchanged, against
//! `ratufa local` (issue #6, "Real clients, unchanged").
//!
//! tests/clients/pymesos_scheduler.py drives pymesos's `MesosSchedulerDriver` (JSON,
//! implicit acknowledgements) to launch ten `echo` tasks on two agents and exits 0
//! once it has seen every one reach TASK_FINISHED. The master's books must agree: ten
//! tasks finished, every update it forwarded acknowledged, and the framework
//! - torn down, when the driver is stopped as usual (pymesos sends TEARDOWN);
//! - still booked with all ten tasks completed, when it is stopped for a failover
//!   (a task leaves the active list only when its TASK_FINISHED is acknowledged).
//!
//! Needs `.venv` with pymesos: `scripts/setup-python.sh`. Without it the test is
//! skipped (a SKIPPED line on stderr), or fails when `RATUFA_REQUIRE_CLIENTS=1`.

// Test scaffolding: a failure here should fail the test loudly.
#![allow(clippy::unwrap_used)]

#[path = "support/cluster.rs"]
mod cluster;
#[path = "clients/harness.rs"]
mod harness;
mod support;

use std::time::Duration;

use harness::Ending;

const TASKS: usize = 10;

async fn run_pymesos_scheduler(test: &str, ending: Ending) {
    let python = harness::repo().join(".venv/bin/python");
    let missing = harness::probe(&python, &["-c", "import pymesos, addict"]).await;
    if !harness::should_run(
        test,
        missing.map(|why| format!("pymesos is not in .venv ({why})")),
    ) {
        return;
    }

    let master = harness::local(2).await;
    let mut command = tokio::process::Command::new(&python);
    command
        .arg("tests/clients/pymesos_scheduler.py")
        .arg(format!("127.0.0.1:{}", master.port()))
        .args(["--tasks", &TASKS.to_string(), "--timeout", "30"])
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    if ending == Ending::Disconnected {
        command.arg("--failover");
    }
    let output = harness::run(command, Duration::from_secs(45)).await;

    harness::assert_success("the pymesos scheduler", &output, &master);
    harness::assert_reported_finished(&output, TASKS);
    harness::assert_finished_and_acknowledged(&master, TASKS, "pymesos-hello", ending).await;
}

#[tokio::test]
async fn pymesos_launches_ten_tasks_that_finish_and_are_acknowledged() {
    run_pymesos_scheduler("pymesos_client (teardown)", Ending::TornDown).await;
}

#[tokio::test]
async fn pymesos_failing_over_leaves_ten_finished_acknowledged_tasks() {
    run_pymesos_scheduler("pymesos_client (failover)", Ending::Disconnected).await;
}
