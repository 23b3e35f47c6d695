//! End to end over real sockets against the real binary: the fetcher (issue #4 item 4).
//!
//! A local HTTP server in the test serves a .tar.gz holding a script, a corrupt
//! archive, and a 404. On a `ratufa master` with a separate `ratufa agent` process
//! (given `--fetcher_cache_dir` and `--fetcher_cache_size`):
//! - a task fetching the .tar.gz (extracted by default) runs the script and ends
//!   TASK_FINISHED; its stdout shows the script ran, its stderr the fetcher's log;
//! - a second task fetching it through the cache does the same;
//! - a task whose URI 404s, and one whose archive is corrupt, end TASK_FAILED with
//!   REASON_CONTAINER_LAUNCH_FAILED (Mesos has no fetcher-specific reason) and a
//!   message naming the URI; the agent keeps running tasks afterwards.

// Test scaffolding: a failure here should fail the test loudly.
#![allow(clippy::unwrap_used)]

#[path = "support/agent.rs"]
mod agent;
#[path = "support/cluster.rs"]
mod cluster;
mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use agent::terminal_states;
use cluster::{AgentProcess, Scheduler, command_task};
use support::{FAST_HEARTBEAT, Master, flags_with_heartbeat, fresh_dir};

/// A .tar.gz holding `app/run.sh`, built with the system's tar.
fn app_archive(dir: &Path) -> Vec<u8> {
    let app = dir.join("app");
    std::fs::create_dir_all(&app).unwrap();
    let script = app.join("run.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\necho \"the script from the archive ran in $(basename \"$PWD\")\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let archive = dir.join("app.tar.gz");
    let status = std::process::Command::new("tar")
        .arg("-czf")
        .arg(&archive)
        .arg("-C")
        .arg(dir)
        .arg("app")
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read(archive).unwrap()
}

/// Serves `/app.tar.gz` and `/corrupt.tar.gz` on 127.0.0.1:0; anything else is 404.
async fn file_server(archive: Vec<u8>) -> SocketAddr {
    use axum::routing::get;
    let app = axum::Router::new()
        .route("/app.tar.gz", get(move || async move { archive.clone() }))
        .route(
            "/corrupt.tar.gz",
            get(|| async { b"this is not a gzip stream, nor a tar".to_vec() }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    addr
}

fn fetching_task(id: &str, agent_id: &Value, command: &str, uri: Value) -> Value {
    let mut task = command_task(id, agent_id, 0.1, 32.0, command);
    task["command"]["uris"] = json!([uri]);
    task
}

/// The `latest` run of a command task's sandbox on the agent.
fn sandbox(agent_work_dir: &Path, agent_id: &str, framework_id: &str, task: &str) -> PathBuf {
    agent_work_dir
        .join("work/slaves")
        .join(agent_id)
        .join("frameworks")
        .join(framework_id)
        .join("executors")
        .join(task)
        .join("runs/latest")
}

#[tokio::test]
async fn tasks_fetch_extract_and_run_and_bad_fetches_fail_the_task() {
    let scratch = fresh_dir("fetcher-src");
    let server = file_server(app_archive(&scratch)).await;
    let cache_dir = scratch.join("cache");

    let master = Master::start_with(&flags_with_heartbeat(FAST_HEARTBEAT)).await;
    let cache_flag = format!("--fetcher_cache_dir={}", cache_dir.display());
    let agent = AgentProcess::start(
        &master,
        &[
            "--resources=cpus:2;mem:512",
            &cache_flag,
            "--fetcher_cache_size=64MB",
        ],
    );
    let mut scheduler =
        Scheduler::subscribe(&master, &json!({"user": "root", "name": "fetcher"})).await;
    let offer = scheduler.offers(&master).await.remove(0);
    let agent_id = offer["agent_id"].clone();
    let app = format!("http://{server}/app.tar.gz");
    let missing = format!("http://{server}/missing.tar.gz");
    let corrupt = format!("http://{server}/corrupt.tar.gz");
    let tasks = vec![
        fetching_task("runs", &agent_id, "./app/run.sh", json!({"value": app})),
        fetching_task(
            "cached",
            &agent_id,
            "./app/run.sh",
            json!({"value": app, "cache": true}),
        ),
        fetching_task("missing", &agent_id, "true", json!({"value": missing})),
        fetching_task("corrupt", &agent_id, "true", json!({"value": corrupt})),
    ];
    scheduler.launch(&master, &[&offer["id"]], tasks, 1.0).await;
    let mut held = Vec::new();
    let done = terminal_states(
        &master,
        &mut scheduler,
        &["runs", "cached", "missing", "corrupt"],
        &mut held,
    )
    .await;

    let framework_id = scheduler.id().to_string();
    let agent_id_text = agent_id["value"].as_str().unwrap();
    for id in ["runs", "cached"] {
        assert_eq!(done[id]["state"], "TASK_FINISHED", "{id}: {}", done[id]);
        let sandbox = sandbox(&agent.work_dir, agent_id_text, &framework_id, id);
        let stdout = std::fs::read_to_string(sandbox.join("stdout")).unwrap();
        assert!(
            stdout.contains("the script from the archive ran in"),
            "{id} stdout: {stdout:?}"
        );
        let stderr = std::fs::read_to_string(sandbox.join("stderr")).unwrap();
        assert!(
            stderr.contains(&format!("Fetching URI '{app}'")),
            "{id} stderr: {stderr:?}"
        );
        assert!(stderr.contains("Extracted"), "{id} stderr: {stderr:?}");
    }
    // Bypassing the cache leaves the archive beside its contents; through the cache
    // only the contents arrive, and the cache holds the file.
    let runs = sandbox(&agent.work_dir, agent_id_text, &framework_id, "runs");
    assert!(runs.join("app.tar.gz").is_file());
    let cached = sandbox(&agent.work_dir, agent_id_text, &framework_id, "cached");
    assert!(!cached.join("app.tar.gz").exists());
    let cache_files = std::fs::read_dir(&cache_dir).unwrap().count();
    assert_eq!(cache_files, 1);

    for (id, uri) in [("missing", &missing), ("corrupt", &corrupt)] {
        let status = &done[id];
        assert_eq!(status["state"], "TASK_FAILED", "{id}: {status}");
        assert_eq!(
            status["reason"], "REASON_CONTAINER_LAUNCH_FAILED",
            "{status}"
        );
        assert_eq!(status["source"], "SOURCE_AGENT", "{status}");
        let message = status["message"].as_str().unwrap();
        assert!(message.contains(uri.as_str()), "{id}: {message}");
    }
    assert!(done["missing"]["message"].as_str().unwrap().contains("404"));
    // The failed fetch is logged in the sandbox, and the command never ran.
    let missing_box = sandbox(&agent.work_dir, agent_id_text, &framework_id, "missing");
    let stderr = std::fs::read_to_string(missing_box.join("stderr")).unwrap();
    assert!(
        stderr.contains(&format!("Failed to fetch '{missing}'")),
        "{stderr}"
    );

    // The agent keeps serving: another task runs on what was released.
    let offer = match held.pop() {
        Some(offer) => offer,
        None => scheduler.offers(&master).await.remove(0),
    };
    scheduler
        .launch(
            &master,
            &[&offer["id"]],
            vec![command_task("after", &agent_id, 0.1, 32.0, "true")],
            1.0,
        )
        .await;
    let done = terminal_states(&master, &mut scheduler, &["after"], &mut held).await;
    assert_eq!(done["after"]["state"], "TASK_FINISHED", "{}", done["after"]);
    master.assert_alive().await;
    let _ = std::fs::remove_dir_all(&scratch);
}

#[test]
fn a_bad_cache_size_exits_with_1_and_names_the_flag() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ratufa"))
        .args([
            "agent",
            "--master=127.0.0.1:5050",
            "--work_dir=/tmp/ratufa-never-used",
            "--fetcher_cache_size=lots",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--fetcher_cache_size"), "{stderr}");
}
