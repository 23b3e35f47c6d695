//! A real Go framework, unchanged, against `ratufa local` (issue #6, item 3): the
//! scheduler in tests/clients/mesosgo/ is built on mesos-go's api/v1 — httpsched's
//! caller, the extras/scheduler controller, the library's own AckStatusUpdates — from
//! Debian's golang-github-mesos-mesos-go-dev, and speaks protobuf (the library itself
//! refuses a SUBSCRIBE answer whose Content-Type is not `application/x-protobuf`).
//!
//! It launches 12 command tasks over two agents, acknowledges every update with a uuid,
//! sends one implicit RECONCILE, and waits for every TASK_FINISHED. Before it tears
//! down (it holds on `-hold` until told), the master must show all 12 tasks finished
//! and removed from the active books (which only an acknowledged terminal update does),
//! and as many acknowledgements as updates; after TEARDOWN the framework is gone.
//!
//! Needs Go and the mesos-go package: `scripts/setup-go.sh` installs them. Without them
//! the test prints a SKIPPED line and passes, unless `RATUFA_REQUIRE_CLIENTS=1`.

// Test scaffolding: a failure here should fail the test loudly.
#![allow(clippy::unwrap_used)]

#[path = "support/cluster.rs"]
mod cluster;
mod support;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

use cluster::get_json;
use support::{Master, PATIENCE, default_flags, fresh_dir};

const TASKS: usize = 12;
const SETUP: &str = "scripts/setup-go.sh";
/// Where Debian's package puts mesos-go's scheduler client (GOPATH layout).
const GOPATH: &str = "/usr/share/gocode";
const HTTPSCHED: &str = "src/github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched";
/// How long the whole Go run may take (it launches everything in one round of offers).
const RUN_LIMIT: Duration = Duration::from_secs(45);

/// `Some(why)` when Go or mesos-go is missing.
fn missing_dependency() -> Option<String> {
    let go = std::process::Command::new("go")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !go.is_ok_and(|s| s.success()) {
        return Some("`go` is not on PATH (Debian package golang-go)".into());
    }
    if !Path::new(GOPATH).join(HTTPSCHED).is_dir() {
        return Some(format!(
            "{GOPATH}/{HTTPSCHED} is missing (Debian package golang-github-mesos-mesos-go-dev)"
        ));
    }
    None
}

/// Fails the test under `RATUFA_REQUIRE_CLIENTS=1`; otherwise says loudly that it is
/// skipped. `true` when the test can go on.
fn dependencies_present() -> bool {
    let Some(why) = missing_dependency() else {
        return true;
    };
    if std::env::var("RATUFA_REQUIRE_CLIENTS").is_ok_and(|v| v == "1") {
        panic!("the mesos-go client test cannot run: {why}; run {SETUP} first");
    }
    // Straight to stderr, past the test harness's capture of `eprintln!`.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: mesos_go_client: {why}; run {SETUP} to install it"
    );
    false
}

/// Builds the Go scheduler in GOPATH mode (offline: every import is in Debian's
/// packages) into a fresh directory; the build cache is kept under target/ so later
/// builds take a second.
async fn build_scheduler() -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/mesosgo");
    let target_tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let cache = target_tmp
        .parent()
        .unwrap_or(target_tmp)
        .join("mesosgo/gocache");
    let binary = fresh_dir("mesosgo").join("scheduler");
    let output = Command::new("go")
        .arg("build")
        .arg("-o")
        .arg(&binary)
        .arg(".")
        .current_dir(&source)
        .env("GO111MODULE", "off")
        .env("GOPATH", GOPATH)
        .env("GOCACHE", &cache)
        .env("GOFLAGS", "")
        .env("CGO_ENABLED", "0")
        .output()
        .await
        .expect("run go build");
    assert!(
        output.status.success(),
        "go build of {} failed ({}):\n{}{}",
        source.display(),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    binary
}

/// The scheduler's stdout, line by line.
struct Lines {
    reader: tokio::io::Lines<BufReader<ChildStdout>>,
    seen: Vec<String>,
}

impl Lines {
    /// Reads until a line starting with `prefix`; `Err` with what was seen if the
    /// output ends or `within` passes first.
    async fn until(&mut self, prefix: &str, within: Duration) -> Result<String, String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let next = tokio::time::timeout_at(deadline, self.reader.next_line()).await;
            match next {
                Ok(Ok(Some(line))) => {
                    self.seen.push(line.clone());
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return Ok(rest.trim().to_string());
                    }
                }
                Ok(Ok(None)) => return Err(format!("stdout ended before {prefix:?}")),
                Ok(Err(e)) => return Err(format!("reading stdout: {e}")),
                Err(_) => return Err(format!("no {prefix:?} line within {within:?}")),
            }
        }
    }
}

/// Everything the run printed, for failure messages.
async fn dump(child: &mut Child, lines: &Lines, master: &Master) -> String {
    let _ = child.start_kill();
    let status = child.wait().await.ok();
    let mut stderr = String::new();
    if let Some(mut err) = child.stderr.take() {
        use tokio::io::AsyncReadExt;
        let _ = err.read_to_string(&mut stderr).await;
    }
    format!(
        "scheduler exit: {status:?}\n--- scheduler stdout ---\n{}\n--- scheduler stderr ---\n{stderr}\n--- master log ---\n{}",
        lines.seen.join("\n"),
        master.log()
    )
}

fn metric(metrics: &Value, name: &str) -> f64 {
    metrics[format!("master/{name}")]
        .as_f64()
        .unwrap_or_else(|| panic!("no master/{name} in /metrics/snapshot: {metrics}"))
}

/// The framework's entry in `/master/state` (`frameworks` or `completed_frameworks`).
fn framework_in<'a>(state: &'a Value, list: &str, id: &str) -> Option<&'a Value> {
    state[list]
        .as_array()?
        .iter()
        .find(|f| f["id"].as_str() == Some(id))
}

/// Polls the master until every task is finished and acknowledged (bounded by
/// [`PATIENCE`]: an ACKNOWLEDGE answered 202 may still be on its way into the core).
/// `Err` says what the last look showed.
async fn all_finished_and_acked(master: &Master, framework_id: &str) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let state = get_json(master, "/master/state").await;
        let metrics = get_json(master, "/metrics/snapshot").await;
        let verdict = check_finished_and_acked(&state, &metrics, framework_id);
        if verdict.is_ok() || tokio::time::Instant::now() > deadline {
            return verdict;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn check_finished_and_acked(state: &Value, metrics: &Value, id: &str) -> Result<(), String> {
    let framework = framework_in(state, "frameworks", id)
        .ok_or_else(|| format!("framework {id} not among the active frameworks: {state}"))?;
    if framework["active"] != true || framework["connected"] != true {
        return Err(format!("framework not active and connected: {framework}"));
    }
    // A task leaves `tasks` for `completed_tasks` only when its terminal update has
    // been acknowledged.
    let active = framework["tasks"].as_array().map_or(0, Vec::len);
    if active != 0 {
        return Err(format!(
            "{active} tasks still in the active books (terminal update not acknowledged?): {}",
            framework["tasks"]
        ));
    }
    let completed = framework["completed_tasks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let finished: Vec<&Value> = completed
        .iter()
        .filter(|t| t["state"] == "TASK_FINISHED")
        .collect();
    if completed.len() != TASKS || finished.len() != TASKS {
        return Err(format!(
            "expected {TASKS} completed tasks, all TASK_FINISHED; got {}",
            framework["completed_tasks"]
        ));
    }
    let tasks_finished = metric(metrics, "tasks_finished");
    if tasks_finished < TASKS as f64 {
        return Err(format!("master/tasks_finished is {tasks_finished}"));
    }
    for bad in ["tasks_failed", "tasks_killed", "tasks_lost", "tasks_error"] {
        if metric(metrics, bad) != 0.0 {
            return Err(format!("master/{bad} is {}", metric(metrics, bad)));
        }
    }
    // Every update the master forwarded (STARTING, RUNNING, FINISHED at least, per
    // task) was acknowledged, and no acknowledgement was refused.
    let updates = metric(metrics, "valid_status_updates");
    let acks = metric(metrics, "valid_status_update_acknowledgements");
    if updates < 2.0 * TASKS as f64 || acks != updates {
        return Err(format!(
            "valid_status_updates {updates}, valid_status_update_acknowledgements {acks}"
        ));
    }
    let refused = metric(metrics, "invalid_status_update_acknowledgements");
    if refused != 0.0 {
        return Err(format!(
            "invalid_status_update_acknowledgements is {refused}"
        ));
    }
    Ok(())
}

/// `key=value` out of the scheduler's `DONE …` summary.
fn summary_field(summary: &str, key: &str) -> u64 {
    summary
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key}= in the scheduler's summary {summary:?}"))
}

#[tokio::test]
async fn mesos_go_httpsched_protobuf_runs_tasks_to_finished() {
    if !dependencies_present() {
        return;
    }
    let binary = build_scheduler().await;

    let mut flags = default_flags();
    flags.push("--num_agents=2".into());
    flags.push("--resources=cpus:4;mem:2048".into());
    let master = Master::start_as("local", &flags).await;

    let mut child = Command::new(&binary)
        .arg(format!(
            "-master=http://127.0.0.1:{}/api/v1/scheduler",
            master.port()
        ))
        .arg(format!("-tasks={TASKS}"))
        .arg("-command=sleep 1")
        // Its own deadline comes first, so a stuck run says how far it got.
        .arg(format!("-timeout={}s", RUN_LIMIT.as_secs() - 5))
        .arg("-hold")
        .env("USER", "root")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the mesos-go scheduler");
    let mut lines = Lines {
        reader: BufReader::new(child.stdout.take().unwrap()).lines(),
        seen: Vec::new(),
    };

    // Every task finished and every update acknowledged, as the client sees it…
    let framework_id = match lines.until("READY", RUN_LIMIT).await {
        Ok(id) => id,
        Err(why) => panic!("{why}\n{}", dump(&mut child, &lines, &master).await),
    };
    assert!(
        support::framework_counter(&framework_id).is_some(),
        "READY names no framework id: {framework_id:?}"
    );
    // …and as the master sees it, before TEARDOWN could tidy anything away.
    if let Err(why) = all_finished_and_acked(&master, &framework_id).await {
        panic!("{why}\n{}", dump(&mut child, &lines, &master).await);
    }
    let acks_before_teardown = metric(
        &get_json(&master, "/metrics/snapshot").await,
        "valid_status_update_acknowledgements",
    );

    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"teardown\n").await.unwrap();
    stdin.flush().await.unwrap();
    let summary = match lines.until("DONE", PATIENCE).await {
        Ok(summary) => summary,
        Err(why) => panic!("{why}\n{}", dump(&mut child, &lines, &master).await),
    };
    let status = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .expect("the scheduler exits after TEARDOWN")
        .unwrap();
    if !status.success() {
        panic!(
            "scheduler exited with {status}\n{}",
            dump(&mut child, &lines, &master).await
        );
    }

    // The client's own counts agree with the master's.
    assert_eq!(
        summary_field(&summary, "launched"),
        TASKS as u64,
        "{summary}"
    );
    assert_eq!(
        summary_field(&summary, "finished"),
        TASKS as u64,
        "{summary}"
    );
    assert_eq!(
        summary_field(&summary, "acks"),
        summary_field(&summary, "updates"),
        "{summary}"
    );
    assert_eq!(
        summary_field(&summary, "acks") as f64,
        acks_before_teardown,
        "acknowledgements sent by the client vs. counted by the master: {summary}"
    );
    // The implicit RECONCILE went out right after the last ACCEPT, while at least
    // that ACCEPT's tasks were still sleeping: the master answered for the tasks it
    // still had (the client checked each reply: no uuid, SOURCE_MASTER).
    let replies = summary_field(&summary, "reconcile_replies");
    assert!(
        (1..=TASKS as u64).contains(&replies),
        "{replies} reconciliation replies: {summary}"
    );

    // TEARDOWN removed the framework (polled: its 202 may precede the removal).
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let state = get_json(&master, "/master/state").await;
        if framework_in(&state, "frameworks", &framework_id).is_none()
            && framework_in(&state, "completed_frameworks", &framework_id).is_some()
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "after TEARDOWN the framework should be completed: {state}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    master.assert_alive().await;
}
