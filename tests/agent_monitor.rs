//! End to end against the real binary: the agent's `/monitor/statistics` and `/flags`
//! (issue #4's monitoring endpoints), under posix isolation and under
//! `--isolation=cgroups/cpu,cgroups/mem`, with and without `--cgroups_enable_cfs` (tests
//! run as root, here and in CI).
//!
//! A `sleep 30` task of cpus:0.5 and mem:96 runs on `ratufa local --agent_port=<port>`;
//! `/monitor/statistics` (and `.json`) lists it with its executor and framework ids,
//! a positive `mem_rss_bytes`, and `cpus_limit` / `mem_limit_bytes` equal to what the
//! task asked, plus the cgroup's `mem_total_bytes` under cgroups and the CFS figures
//! (`cpus_nr_periods`, `cpus_nr_throttled`, `cpus_throttled_time_secs`) with CFS on.
//! `/flags` lists `work_dir`, `isolation` and `port`. Once the task is killed it is gone
//! from the list.

// Test scaffolding: a failure here should fail the test loudly.
#![allow(clippy::unwrap_used)]

#[path = "support/cluster.rs"]
mod cluster;
mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ratufa_agent::isolator::cgroups::Hierarchy;
use serde_json::{Value, json};

use cluster::{Scheduler, command_task};
use support::scratch::Roots;
use support::{Request, send_to, start_local_with_agent};

async fn get_json(agent: SocketAddr, path: &str) -> Value {
    let response = send_to(agent, Request::get(path)).await.unwrap();
    assert_eq!(response.status, 200, "{path}: {response:?}");
    serde_json::from_slice(&response.body).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The entry of `executor_id` in `/monitor/statistics`, once it is there (the command
/// may still be between fork and exec when TASK_RUNNING arrives).
async fn statistics_of(agent: SocketAddr, path: &str, executor_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let list = get_json(agent, path).await;
        let entries = list.as_array().unwrap_or_else(|| panic!("{path}: {list}"));
        let found = entries.iter().find(|e| e["executor_id"] == executor_id);
        if let Some(entry) = found
            && entry["statistics"]["mem_rss_bytes"].as_u64().unwrap_or(0) > 0
        {
            return entry.clone();
        }
        assert!(
            Instant::now() < deadline,
            "{executor_id} not in {path} with a resident set: {list}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs `sleep 30` on a local cluster started with `extra` flags, checks the endpoints,
/// then kills the task.
async fn a_running_task_is_monitored(extra: &[String], isolation: &str) {
    let (master, agent_port) = start_local_with_agent(extra).await;
    let agent = SocketAddr::from((Ipv4Addr::LOCALHOST, agent_port));

    let info = json!({"user": "root", "name": "monitor"});
    let mut scheduler = Scheduler::subscribe(&master, &info).await;
    let offer = scheduler.offers(&master).await.remove(0);
    let task = command_task("sleeper", &offer["agent_id"], 0.5, 96.0, "sleep 30");
    scheduler
        .launch(&master, &[&offer["id"]], vec![task], 0.0)
        .await;
    scheduler
        .await_state(&master, "sleeper", "TASK_RUNNING")
        .await;

    for path in ["/monitor/statistics", "/monitor/statistics.json"] {
        let entry = statistics_of(agent, path, "sleeper").await;
        assert_eq!(entry["framework_id"], scheduler.id(), "{entry}");
        assert_eq!(entry["source"], "sleeper", "{entry}");
        // Mesos names a command executor for its task and command:
        // "Command Executor (Task: sleeper) (Command: sh -c 'sleep 30')".
        assert!(
            entry["executor_name"]
                .as_str()
                .is_some_and(|n| n.starts_with("Command Executor (Task: sleeper)")),
            "{entry}"
        );
        let statistics = &entry["statistics"];
        assert_eq!(statistics["cpus_limit"], 0.5, "{entry}");
        assert_eq!(statistics["mem_limit_bytes"], 96 * 1024 * 1024, "{entry}");
        assert!(statistics["timestamp"].as_f64().unwrap() > 0.0, "{entry}");
        assert!(
            statistics["cpus_user_time_secs"].as_f64().is_some(),
            "{entry}"
        );
        assert!(
            statistics["cpus_system_time_secs"].as_f64().is_some(),
            "{entry}"
        );
        assert!(statistics["processes"].as_u64().unwrap() >= 1, "{entry}");
        if extra.iter().any(|flag| flag == "--cgroups_enable_cfs") {
            assert!(statistics["cpus_nr_periods"].as_u64().is_some(), "{entry}");
            assert!(
                statistics["cpus_throttled_time_secs"].as_f64().is_some(),
                "{entry}"
            );
        } else {
            assert!(statistics.get("cpus_nr_periods").is_none(), "{entry}");
        }
        if isolation.starts_with("cgroups") {
            assert!(
                statistics["mem_total_bytes"].as_u64().unwrap() > 0,
                "{entry}"
            );
        }
    }

    let flags = get_json(agent, "/flags").await;
    let flags = &flags["flags"];
    assert!(
        flags["work_dir"].as_str().unwrap().contains("agents"),
        "{flags}"
    );
    assert_eq!(flags["isolation"], isolation, "{flags}");
    assert_eq!(flags["port"], agent_port.to_string(), "{flags}");
    let limit_swap = extra.iter().any(|flag| flag == "--cgroups_limit_swap");
    assert_eq!(
        flags["cgroups_limit_swap"],
        limit_swap.to_string(),
        "{flags}"
    );
    assert_eq!(get_json(agent, "/slave(1)/flags").await["flags"], *flags);

    let kill = json!({
        "type": "KILL",
        "framework_id": {"value": scheduler.id()},
        "kill": {"task_id": {"value": "sleeper"}, "agent_id": offer["agent_id"]},
    });
    scheduler.call(&master, kill).await;
    scheduler
        .await_state(&master, "sleeper", "TASK_KILLED")
        .await;
    // Its executor's container ends soon after the update (at once when the agent
    // runs the task itself; once `ratufa executor` exits otherwise).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = get_json(agent, "/monitor/statistics").await;
        if list == json!([]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a killed task is still monitored 30 s on: {list}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    master.assert_alive().await;
}

#[tokio::test]
async fn posix_statistics_and_flags() {
    a_running_task_is_monitored(&[], "posix/cpu,posix/mem").await;
}

/// The same under cgroups isolation, in a cgroups root of its own.
async fn under_cgroups(cfs: bool) {
    let root = format!("ratufa-monitor-{}", uuid::Uuid::new_v4());
    let mounts: Vec<std::path::PathBuf> = match Hierarchy::detect(true, true) {
        Ok(Hierarchy::V1 {
            cpu,
            cpuacct,
            memory,
        }) => [cpu, cpuacct, memory].into_iter().flatten().collect(),
        Ok(Hierarchy::V2 { mount }) => vec![mount],
        Err(e) => panic!("cgroups isolation needs the cpu and memory controllers (and root): {e}"),
    };
    let _roots = Roots(mounts.iter().map(|m| m.join(&root)).collect());
    let isolation = "cgroups/cpu,cgroups/mem";
    let mut flags = vec![
        format!("--isolation={isolation}"),
        format!("--cgroups_root={root}"),
    ];
    if cfs {
        // The CFS run also bounds swap: the flag reaches the agent, the task runs.
        flags.push("--cgroups_enable_cfs".to_string());
        flags.push("--cgroups_limit_swap".to_string());
    }
    a_running_task_is_monitored(&flags, isolation).await;
}

#[tokio::test]
async fn cgroups_statistics_and_flags() {
    under_cgroups(false).await;
}

#[tokio::test]
async fn cgroups_statistics_with_cfs() {
    under_cgroups(true).await;
}
