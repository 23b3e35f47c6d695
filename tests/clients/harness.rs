//! What the real-client tests share (included with `#[path]` by tests/pymesos_client.rs
//! and tests/curl_scheduler.rs): deciding whether a client's dependencies are there,
//! running a client program with a deadline, and checking the master's books after it.
//!
//! The clients' dependencies are installed by `scripts/setup-python.sh`. Without them a
//! test is skipped loudly, unless `RATUFA_REQUIRE_CLIENTS=1` (as scripts/test.sh sets
//! it), where it fails.

// Test scaffolding: a failure here should fail the test loudly.
#![allow(clippy::unwrap_used, dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cluster::get_json;
use crate::support::{Master, flags_with_heartbeat};

pub const SETUP_SCRIPT: &str = "scripts/setup-python.sh";

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whether a test whose client needs `what` should run: `Ok(true)` when `missing` is
/// `None`. When something is missing the test fails under `RATUFA_REQUIRE_CLIENTS=1`,
/// and otherwise is skipped with a line on stderr saying how to install it.
pub fn should_run(test: &str, missing: Option<String>) -> bool {
    let Some(missing) = missing else {
        return true;
    };
    if std::env::var("RATUFA_REQUIRE_CLIENTS").is_ok_and(|v| v == "1") {
        panic!("{test}: {missing}; run {SETUP_SCRIPT} (RATUFA_REQUIRE_CLIENTS=1 is set)");
    }
    // Straight to the process's stderr: the test harness captures `eprintln!` of
    // tests that pass, and a skip must be seen.
    let line = format!("\nSKIPPED: {test}: {missing}; run {SETUP_SCRIPT} to install it\n");
    let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
    false
}

/// `None` if `program args…` runs and exits 0, else why not.
pub async fn probe(program: &Path, args: &[&str]) -> Option<String> {
    let what = format!("`{} {}`", program.display(), args.join(" "));
    let run = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(Duration::from_secs(20), run).await {
        Ok(Ok(out)) if out.status.success() => None,
        Ok(Ok(out)) => Some(format!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Ok(Err(e)) => Some(format!("{what} cannot run: {e}")),
        Err(_) => Some(format!("{what} did not finish in 20 s")),
    }
}

/// `ratufa local` with `agents` agents of `cpus:4;mem:2048`, a 1 s heartbeat.
pub async fn local(agents: u32) -> Master {
    let mut flags = flags_with_heartbeat(Duration::from_secs(1));
    flags.push(format!("--num_agents={agents}"));
    flags.push("--resources=cpus:4;mem:2048".to_string());
    let master = Master::start_as("local", &flags).await;
    // Both agents registered before the client subscribes, so its first offers can
    // come from either.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = get_json(&master, "/metrics/snapshot").await;
        if metrics["master/slaves_active"] == f64::from(agents) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{agents} agents never registered: {metrics}\n{}",
            master.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    master
}

/// Runs a client to its end (killed after `limit`), from the repository root.
pub async fn run(mut command: tokio::process::Command, limit: Duration) -> Output {
    command
        .current_dir(repo())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let what = format!("{command:?}");
    match tokio::time::timeout(limit, command.output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => panic!("{what}: {e}"),
        Err(_) => panic!("{what} did not end in {limit:?} (killed)"),
    }
}

/// Panics with the client's output and the master's log unless it exited 0.
pub fn assert_success(client: &str, output: &Output, master: &Master) {
    assert!(
        output.status.success(),
        "{client} exited with {}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- master log ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        master.log()
    );
}

/// The client says it saw `hello-0` … `hello-<tasks-1>` finish, each once.
pub fn assert_reported_finished(output: &Output, tasks: usize) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut finished: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("finished "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    finished.sort_unstable();
    let mut expected: Vec<String> = (0..tasks).map(|i| format!("hello-{i}")).collect();
    expected.sort_unstable();
    assert_eq!(finished, expected, "the client's report:\n{stdout}");
    assert!(
        stdout.contains(&format!("all {tasks} tasks finished")),
        "{stdout}"
    );
}

/// How a client left the master.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ending {
    /// It sent TEARDOWN: the framework is the one completed framework.
    TornDown,
    /// It closed its stream without TEARDOWN (a scheduler failing over): the framework
    /// is still booked, disconnected, and its tasks' records show each acknowledgement.
    Disconnected,
}

/// The master's books once the client is gone: `tasks` tasks reached TASK_FINISHED and
/// nothing else, every status update the master forwarded was acknowledged (at least
/// STARTING, RUNNING and FINISHED per task, each acknowledgement valid), no update
/// arrived that nobody would acknowledge, and the framework called `name` ended as
/// `ending` says.
pub async fn assert_finished_and_acknowledged(
    master: &Master,
    tasks: usize,
    name: &str,
    ending: Ending,
) {
    let n = tasks as f64;
    let deadline = Instant::now() + Duration::from_secs(10);
    let metrics = loop {
        let metrics = get_json(master, "/metrics/snapshot").await;
        let m = |key: &str| metrics[format!("master/{key}")].as_f64().unwrap_or(-1.0);
        let settled = m("tasks_finished") == n
            && m("valid_status_update_acknowledgements") == m("valid_status_updates")
            && m("frameworks_active") == 0.0;
        if settled {
            break metrics;
        }
        assert!(
            Instant::now() < deadline,
            "the master's metrics never showed {tasks} finished and acknowledged tasks: \
             {metrics}\n--- master log ---\n{}",
            master.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let m = |key: &str| metrics[format!("master/{key}")].as_f64().unwrap();
    for state in [
        "failed",
        "killed",
        "lost",
        "error",
        "dropped",
        "gone",
        "gone_by_operator",
        "staging",
        "starting",
        "running",
        "killing",
        "unreachable",
    ] {
        assert_eq!(
            m(&format!("tasks_{state}")),
            0.0,
            "tasks_{state}: {metrics}"
        );
    }
    // One in flight per task at the agent: FINISHED reaches the scheduler only after
    // STARTING and RUNNING were acknowledged.
    assert!(m("valid_status_updates") >= 3.0 * n, "{metrics}");
    assert_eq!(
        m("valid_status_update_acknowledgements"),
        m("valid_status_updates"),
        "{metrics}"
    );
    assert_eq!(
        m("invalid_status_update_acknowledgements"),
        0.0,
        "{metrics}"
    );
    assert_eq!(m("invalid_status_updates"), 0.0, "{metrics}");
    assert_eq!(
        m("messages_status_update"),
        m("valid_status_updates"),
        "{metrics}"
    );

    let state: Value = get_json(master, "/master/state").await;
    let frameworks = state["frameworks"].as_array().unwrap();
    let completed = state["completed_frameworks"].as_array().unwrap();
    match ending {
        Ending::TornDown => {
            assert_eq!(frameworks.len(), 0, "torn down, not: {frameworks:?}");
            assert_eq!(completed.len(), 1, "{completed:?}");
            assert_eq!(completed[0]["name"], name, "{}", completed[0]);
        }
        Ending::Disconnected => {
            assert_eq!(completed.len(), 0, "{completed:?}");
            assert_eq!(frameworks.len(), 1, "{frameworks:?}");
            let framework = &frameworks[0];
            assert_eq!(framework["name"], name, "{framework}");
            assert_eq!(framework["connected"], false, "{framework}");
            // A task leaves `tasks` for `completed_tasks` only when its terminal
            // update is acknowledged (by the uuid the master last forwarded).
            assert_eq!(
                framework["tasks"].as_array().map(Vec::len),
                Some(0),
                "tasks whose TASK_FINISHED was not acknowledged: {}",
                framework["tasks"]
            );
            let done = framework["completed_tasks"].as_array().unwrap();
            let mut ids: Vec<&str> = done.iter().map(|t| t["id"].as_str().unwrap()).collect();
            ids.sort_unstable();
            let mut expected: Vec<String> = (0..tasks).map(|i| format!("hello-{i}")).collect();
            expected.sort_unstable();
            assert_eq!(ids, expected, "{done:?}");
            for task in done {
                assert_eq!(task["state"], "TASK_FINISHED", "{task}");
            }
        }
    }
    master.assert_alive().await;
}
