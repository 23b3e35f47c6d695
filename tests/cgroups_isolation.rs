//! End to end against the real binary and the machine's real cgroups (tests run as
//! root, here and in CI): `ratufa local --isolation=cgroups/cpu,cgroups/mem`.
//!
//! - a task with mem:64 that allocates 200 MB is OOM-killed in its cgroup and ends
//!   TASK_FAILED with REASON_CONTAINER_LIMITATION_MEMORY, saying the limit and the use;
//! - a task that looks at itself finds it runs in `<cgroups_root>/<container>` with
//!   cpu.shares 1024 × cpus and memory.limit_in_bytes its mem, and ends TASK_FINISHED;
//!   a command task's container also holds its command executor, so it gets the task's
//!   resources plus Mesos's allowance for the executor (0.1 cpus, 32 MB);
//! - once both ended, no container cgroup is left under the root.
//!
//! A machine without the cpu and memory controllers fails the test, saying so.

// Test scaffolding: a failure here should fail the test loudly.
#![allow(clippy::unwrap_used)]

#[path = "support/cluster.rs"]
mod cluster;
mod support;

use std::path::PathBuf;

use ratufa_agent::isolator::cgroups::Hierarchy;
use serde_json::{Value, json};

use cluster::{Scheduler, command_task};
use support::scratch::Roots;
use support::{FAST_HEARTBEAT, Master, flags_with_heartbeat};

/// The cgroup v1 directories of `root` (cpu, cpuacct, memory), or a failure that says what this
/// machine lacks.
fn v1_roots(root: &str) -> Vec<PathBuf> {
    match Hierarchy::detect(true, true) {
        Ok(Hierarchy::V1 {
            cpu: Some(cpu),
            cpuacct,
            memory: Some(memory),
        }) => [Some(cpu), cpuacct, Some(memory)]
            .into_iter()
            .flatten()
            .map(|mount| mount.join(root))
            .collect(),
        Ok(other) => panic!(
            "this test checks cgroup v1 files and the machine offers {other:?}; CI machines \
             mount the v1 cpu and memory controllers under /sys/fs/cgroup"
        ),
        Err(e) => panic!("cgroups isolation needs the cpu and memory controllers (and root): {e}"),
    }
}

/// Container cgroups left under the roots.
fn leftovers(roots: &[PathBuf]) -> Vec<PathBuf> {
    roots
        .iter()
        .filter_map(|root| std::fs::read_dir(root).ok())
        .flat_map(|entries| entries.filter_map(Result::ok))
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
        .collect()
}

/// `ratufa local` with one agent of `resources` under cgroups isolation, in a cgroups
/// root of its own: the master, the root's directories (removed when dropped) and
/// the root's name.
async fn cgroups_local(resources: &str) -> (Master, Roots, String) {
    let root = format!("ratufa-e2e-{}", uuid::Uuid::new_v4());
    let roots = Roots(v1_roots(&root));
    let mut flags = flags_with_heartbeat(FAST_HEARTBEAT);
    flags.extend([
        format!("--resources={resources}"),
        "--isolation=cgroups/cpu,cgroups/mem".to_string(),
        format!("--cgroups_root={root}"),
    ]);
    (Master::start_as("local", &flags).await, roots, root)
}

/// Waits until no container cgroup is left under `roots`; fails after 30 s naming them.
async fn no_cgroups_left(roots: &Roots) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let left = leftovers(&roots.0);
        if left.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "cgroups left behind: {left:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn memory_limit_kills_and_fails_the_task_and_cgroups_go_away() {
    let (master, roots, root) = cgroups_local("cpus:4;mem:1024").await;
    let info = json!({"user": "root", "name": "cgroups"});
    let mut scheduler = Scheduler::subscribe(&master, &info).await;
    let offer = scheduler.offers(&master).await.remove(0);
    let agent = &offer["agent_id"];

    // Exits 0 only inside `<root>/<container>` of both hierarchies, held to its figures.
    let inspect = format!(
        r#"set -e
mem=$(sed -n 's/^[0-9]*:memory://p' /proc/self/cgroup)
cpu=$(sed -n 's/^[0-9]*:cpu://p' /proc/self/cgroup)
case "$mem" in /{root}/?*) ;; *) echo "memory cgroup $mem"; exit 10;; esac
case "$cpu" in /{root}/?*) ;; *) echo "cpu cgroup $cpu"; exit 11;; esac
test "$(cat /sys/fs/cgroup/memory$mem/memory.limit_in_bytes)" = 100663296 || exit 12
test "$(cat /sys/fs/cgroup/cpu$cpu/cpu.shares)" = 614 || exit 13"#
    );
    let tasks = vec![
        command_task(
            "hog",
            agent,
            0.5,
            64.0,
            r#"python3 -c 'b = b"x" * (200 * 1024 * 1024); print(len(b))'"#,
        ),
        command_task("inspect", agent, 0.5, 64.0, &inspect),
    ];
    scheduler
        .launch(&master, &[&offer["id"]], tasks, 30.0)
        .await;

    let finished = scheduler
        .await_state(&master, "inspect", "TASK_FINISHED")
        .await;
    assert_eq!(finished["message"], "Command exited with status 0");

    let failed: Value = scheduler.await_state(&master, "hog", "TASK_FAILED").await;
    assert_eq!(
        failed["reason"], "REASON_CONTAINER_LIMITATION_MEMORY",
        "{failed}"
    );
    assert_eq!(failed["source"], "SOURCE_AGENT", "{failed}");
    let message = failed["message"].as_str().unwrap();
    assert!(
        message.starts_with("Memory limit exceeded: Requested: 96MB Maximum Used: "),
        "{message}"
    );

    // Both containers end (their executors exit once their last update is
    // acknowledged, or are destroyed with the limitation), and their cgroups with them.
    no_cgroups_left(&roots).await;
    master.assert_alive().await;
}

/// A default executor's container follows its tasks: it holds the executor's and every
/// task's memory while they run, and shrinks to what is still running once a task
/// ends (a moment later: shrinks are gathered, growth never waits). The long task
/// checks its own container from inside and exits 0 only after seeing both.
#[tokio::test]
async fn a_default_executors_container_shrinks_when_one_of_its_tasks_ends() {
    let (master, roots, _root) = cgroups_local("cpus:4;mem:1024;disk:1000").await;
    let mut scheduler =
        Scheduler::subscribe(&master, &json!({"user": "root", "name": "shrink"})).await;
    let offer = scheduler.offers(&master).await.remove(0);
    let agent = &offer["agent_id"];

    // The executor's 32 MB plus 100 and 64 while both run; 32 + 64 once `short` ended.
    let (both, one) = (196 * 1024 * 1024, 96 * 1024 * 1024);
    let long = format!(
        r#"limit() {{ cat /sys/fs/cgroup/memory$(sed -n 's/^[0-9]*:memory://p' /proc/self/cgroup)/memory.limit_in_bytes; }}
i=0; until [ "$(limit)" = {both} ]; do i=$((i+1)); [ $i -lt 400 ] || exit 10; sleep 0.05; done
touch grown
i=0; until [ "$(limit)" = {one} ]; do i=$((i+1)); [ $i -lt 400 ] || exit 11; sleep 0.05; done"#
    );
    let short =
        "i=0; until [ -e grown ]; do i=$((i+1)); [ $i -lt 400 ] || exit 12; sleep 0.05; done";
    let tasks = vec![
        command_task("short", agent, 1.0, 100.0, short),
        command_task("long", agent, 0.5, 64.0, &long),
    ];
    let executor = scheduler.default_executor("group");
    scheduler
        .launch_group(&master, &[&offer["id"]], executor, tasks, 30.0)
        .await;
    let short_end = scheduler
        .await_state(&master, "short", "TASK_FINISHED")
        .await;
    assert_eq!(
        short_end["message"], "Command exited with status 0",
        "{short_end}"
    );
    let long_end = scheduler
        .await_state(&master, "long", "TASK_FINISHED")
        .await;
    assert_eq!(
        long_end["message"], "Command exited with status 0",
        "{long_end}"
    );

    no_cgroups_left(&roots).await;
    master.assert_alive().await;
}
