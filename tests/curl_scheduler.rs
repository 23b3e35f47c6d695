//! examples/curl/scheduler.sh, a Mesos v1 scheduler in bash with curl alone, against
//! `ratufa local` (issue #6, "Real clients, unchanged").
//!
//! The script subscribes, reads the RecordIO stream byte-exactly, launches twelve
//! `echo` tasks into the offers of two agents, acknowledges every update by its uuid
//! and tears the framework down once all have finished. It exits 0 only after seeing
//! each task reach TASK_FINISHED; the master's books must agree: twelve tasks
//! finished, every update it forwarded acknowledged, the framework torn down.
//!
//! Needs bash and curl (`scripts/setup-python.sh` installs curl if it is missing).
//! Without them the test is skipped (a SKIPPED line on stderr), or fails when
//! `RATUFA_REQUIRE_CLIENTS=1`.

// Test scaffolding: a failure here should fail the test loudly.
#![allow(clippy::unwrap_used)]

#[path = "support/cluster.rs"]
mod cluster;
#[path = "clients/harness.rs"]
mod harness;
mod support;

use std::path::Path;
use std::time::Duration;

const TASKS: usize = 12;

#[tokio::test]
async fn the_curl_scheduler_launches_tasks_that_finish_and_are_acknowledged() {
    let test = "curl_scheduler";
    let mut missing = harness::probe(Path::new("curl"), &["--version"]).await;
    if missing.is_none() {
        missing = harness::probe(Path::new("bash"), &["-c", "((BASH_VERSINFO[0] >= 4))"]).await;
    }
    if !harness::should_run(test, missing) {
        return;
    }

    let master = harness::local(2).await;
    let mut command = tokio::process::Command::new("bash");
    command
        .arg("examples/curl/scheduler.sh")
        .arg(format!("127.0.0.1:{}", master.port()))
        .arg(TASKS.to_string())
        .env("TIMEOUT", "30")
        .env("FRAMEWORK_NAME", "curl-hello");
    let output = harness::run(command, Duration::from_secs(45)).await;

    harness::assert_success("the curl scheduler", &output, &master);
    harness::assert_reported_finished(&output, TASKS);
    harness::assert_finished_and_acknowledged(
        &master,
        TASKS,
        "curl-hello",
        harness::Ending::TornDown,
    )
    .await;
}
