//! End to end over real sockets against the real binary: sandbox garbage collection
//! (issue #4's "sandboxes are garbage-collected after --gc_delay").
//!
//! On `ratufa local --gc_delay=2secs --disk_watch_interval=1secs`, a task writes a
//! known line and ends, next to one that keeps running. The ended task's sandbox is
//! served while it runs; within a few seconds of its end the directory is gone, its
//! executor directory with it, and `/files/read` of its stdout answers 404 under both
//! the host path and the virtual `/frameworks/…/runs/latest`. The running task's
//! sandbox, and so the framework's directory, stay.

// Test scaffolding: a failure here should fail the test loudly.
#![allow(clippy::unwrap_used)]

#[path = "support/agent.rs"]
mod agent;
#[path = "support/cluster.rs"]
mod cluster;
mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use agent::state_executor;
use cluster::{Scheduler, command_task};
use support::{Request, Response, send_to, start_local_with_agent};

const LINE: &str = "ratufa-gc-e2e: written before the sandbox goes";
/// Well past gc_delay plus a disk watch interval, for a loaded machine.
const PATIENCE: Duration = Duration::from_secs(30);

async fn get(agent: SocketAddr, path: &str) -> Response {
    send_to(agent, Request::get(path)).await.unwrap()
}

/// `/files/read` of `path` from the start.
async fn read(agent: SocketAddr, path: &str) -> Response {
    let encoded: String = path
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    get(agent, &format!("/files/read?path={encoded}&offset=0")).await
}

/// The sandbox directory of executor `id` in the agent's `/state`.
async fn directory(agent: SocketAddr, framework_id: &str, id: &str) -> String {
    let response = get(agent, "/state").await;
    assert_eq!(response.status, 200, "{response:?}");
    let state: Value = serde_json::from_slice(&response.body).unwrap();
    let executor = state_executor(&state, framework_id, id)
        .unwrap_or_else(|| panic!("no executor {id} of {framework_id} in {state}"));
    executor["directory"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn an_ended_task_sandbox_is_removed_after_the_gc_delay() {
    let extra = ["--gc_delay=2secs", "--disk_watch_interval=1secs"].map(String::from);
    let (master, agent_port) = start_local_with_agent(&extra).await;
    let agent = SocketAddr::from((Ipv4Addr::LOCALHOST, agent_port));

    let info = json!({"user": "root", "name": "gc"});
    let mut scheduler = Scheduler::subscribe(&master, &info).await;
    let offer = scheduler.offers(&master).await.remove(0);
    let ends = command_task(
        "ends",
        &offer["agent_id"],
        0.1,
        32.0,
        &format!("echo '{LINE}'; sleep 1"),
    );
    let stays = command_task("stays", &offer["agent_id"], 0.1, 32.0, "sleep 600");
    scheduler
        .launch(&master, &[&offer["id"]], vec![ends, stays], 0.0)
        .await;
    scheduler.await_state(&master, "ends", "TASK_RUNNING").await;
    scheduler
        .await_state(&master, "stays", "TASK_RUNNING")
        .await;

    // While it runs, its sandbox is there and served.
    let framework_id = scheduler.id().to_string();
    let sandbox = directory(agent, &framework_id, "ends").await;
    let kept = directory(agent, &framework_id, "stays").await;
    let latest = format!("/frameworks/{framework_id}/executors/ends/runs/latest");
    let stdout = format!("{sandbox}/stdout");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let response = read(agent, &stdout).await;
        assert_eq!(response.status, 200, "{response:?}");
        let body: Value = serde_json::from_slice(&response.body).unwrap();
        if body["data"] == format!("{LINE}\n") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "stdout never had the line: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(Path::new(&sandbox).is_dir(), "{sandbox}");

    scheduler
        .await_state(&master, "ends", "TASK_FINISHED")
        .await;

    // Within a few seconds the directory is gone, and /files with it.
    let deadline = Instant::now() + PATIENCE;
    while Path::new(&sandbox).exists() {
        assert!(
            Instant::now() < deadline,
            "{sandbox} still there after {PATIENCE:?}\n--- log ---\n{}",
            master.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for path in [stdout.clone(), format!("{latest}/stdout")] {
        let response = read(agent, &path).await;
        assert_eq!(response.status, 404, "{path}: {response:?}");
    }
    let executor_dir = Path::new(&sandbox).parent().unwrap().parent().unwrap();
    assert!(executor_dir.ends_with("executors/ends"), "{executor_dir:?}");
    assert!(
        !executor_dir.exists(),
        "{executor_dir:?} should go with its last run"
    );

    // The running task's sandbox, and so the framework's directory, stay.
    assert!(Path::new(&kept).join("stdout").is_file(), "{kept}");
    let response = read(
        agent,
        &format!("/frameworks/{framework_id}/executors/stays/runs/latest/stdout"),
    )
    .await;
    assert_eq!(response.status, 200, "{response:?}");
    master.assert_alive().await;
}

#[test]
fn bad_gc_flags_exit_with_1_and_name_the_flag() {
    for (args, says) in [
        (
            &[
                "agent",
                "--master=127.0.0.1:5050",
                "--work_dir=/tmp/x",
                "--gc_delay=2",
            ][..],
            "--gc_delay",
        ),
        (
            &["local", "--disk_watch_interval=0secs"][..],
            "--disk_watch_interval",
        ),
        (
            &["local", "--gc_disk_headroom=1.5"][..],
            "--gc_disk_headroom",
        ),
        (&["agent", "--gc_disk_headroom=x"][..], "--gc_disk_headroom"),
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_ratufa"))
            .args(args)
            .output()
            .expect("run ratufa");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains(says),
            "{args:?} should mention {says}: {stderr}"
        );
    }
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_ratufa"))
        .args(["agent", "--help"])
        .output()
        .expect("run ratufa");
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in ["--gc_delay", "--disk_watch_interval", "--gc_disk_headroom"] {
        assert!(help.contains(flag), "{flag} not in --help: {help}");
    }
}
