//! Tasks per second launched through ONE real agent as real processes: `ratufa local`
//! with one agent, a scheduler speaking the v1 scheduler API in protobuf, tasks running
//! `true`. Measured from the first ACCEPT to the last TASK_FINISHED seen by the scheduler
//! (every update acknowledged), with the p50/p99 of ACCEPT → TASK_RUNNING per task, once
//! per isolation (posix and cgroups).
//!
//! Baseline in the same run: the machine's raw fork+exec+wait rate of `true`, at the
//! same concurrency (threads each spawning and reaping `true` in a loop) and one at a
//! time. Each task costs at least one such fork+exec+wait (its command), and through
//! an executor two (the executor process, then the command).
//!
//! Run: `cargo bench --bench agent_launch` (TASKS=1000, IN_FLIGHT=32 by default;
//! ISOLATION="posix/cpu,posix/mem;cgroups/cpu,cgroups/mem" lists the isolations, `;`
//! between them). cgroups isolation needs root. By default every task is a command task
//! with a command executor of its own; EXECUTOR=default sends each offer's tasks in one
//! LAUNCH_GROUP to the framework's one default executor instead (one executor process
//! for many tasks, as Mesos's default executor takes group after group);
//! EXECUTOR="command;default" runs both, each with every isolation. Offers of one agent
//! that arrive together are taken in one ACCEPT (their resources pooled); HOLD_MS=5
//! holds offers that long first, so that a group gathers the slots freed meanwhile.
//! Each task runs `true` itself (CommandInfo shell false, value and argv `true`, found
//! on PATH), the program the baseline runs; COMMAND=shell runs `sh -c true` instead
//! (the shell form, what earlier sessions measured: a shell starts dearer than
//! `true`). WORKERS=n starts `ratufa local` with LIBPROCESS_NUM_WORKER_THREADS=n (its
//! default is one worker per core).

#[path = "../tests/support/scratch.rs"]
mod scratch;
mod support;

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use prost::Message as _;
use ratufa_proto::v1::scheduler::{Call, call, event};
use ratufa_proto::v1::{
    self, CommandInfo, ExecutorInfo, Filters, FrameworkInfo, TaskGroupInfo, TaskInfo, TaskState,
    executor_info, offer, task_status,
};
use scratch::{free_port, fresh_dir};
use support::{
    HttpClient, Subscription, acknowledgement, client, cpu_seconds, env, own_cpu_seconds, post,
    scalar, scalar_sum, true_task,
};

/// What each task asks for; the agent's resources fit IN_FLIGHT of them at once.
const TASK_CPUS: f64 = 0.1;
const TASK_MEM: f64 = 32.0;
/// EXECUTOR=default: the framework's one default executor, and its disk (its cpus and
/// mem are one task's).
const DEFAULT_EXECUTOR_ID: &str = "default";
const EXECUTOR_DISK: f64 = 10.0;

/// Spawns and reaps `true` `n` times from `threads` threads; returns processes per second.
fn raw_fork_exec(n: u64, threads: u64) -> f64 {
    let left = Arc::new(AtomicU64::new(n));
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let left = left.clone();
            std::thread::spawn(move || {
                while left
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1))
                    .is_ok()
                {
                    let status = Command::new("true").status().expect("spawn true");
                    assert!(status.success());
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("worker");
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// WORKERS: the worker threads asked of `ratufa local`; unset or empty, its default.
fn workers() -> Option<String> {
    std::env::var("WORKERS").ok().filter(|n| !n.is_empty())
}

/// `ratufa local` with one agent on a free port; killed on drop.
struct Cluster {
    child: Child,
    base: String,
    dir: std::path::PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Removes the runs' directories once every isolation has been measured (kept with
/// BENCH_LOG). Not between runs: on ext4 without a journal (as here), inodes freed in
/// the last minute (six, with dirty buffers) are skipped one by one by every inode
/// allocation in their block group, so thousands of sandboxes deleted just before a
/// run made its sandboxes dearer to create (by up to about 1 ms of the agent's CPU
/// per task).
fn remove_work_dirs(dirs: &[std::path::PathBuf]) {
    for dir in dirs {
        if std::env::var_os("BENCH_LOG").is_none() {
            let _ = std::fs::remove_dir_all(dir);
        } else {
            println!("  kept: {}", dir.display());
        }
    }
}

async fn start_cluster(isolation: &str, in_flight: u64) -> Cluster {
    let port = free_port();
    let dir = fresh_dir("agent-launch");
    let log = std::fs::File::create(dir.join("local.log")).expect("log");
    let child = Command::new(env!("CARGO_BIN_EXE_ratufa"))
        .arg("local")
        .arg("--ip=127.0.0.1")
        .arg(format!("--port={port}"))
        .arg(format!("--work_dir={}", dir.join("work").display()))
        .arg("--num_agents=1")
        .arg(format!(
            "--resources=cpus:{};mem:{};disk:10000;ports:[31000-32000]",
            in_flight as f64 * TASK_CPUS,
            in_flight as f64 * TASK_MEM
        ))
        .arg(format!("--isolation={isolation}"))
        .envs(workers().map(|n| ("LIBPROCESS_NUM_WORKER_THREADS", n)))
        .env(
            "RUST_LOG",
            std::env::var("BENCH_LOG").unwrap_or_else(|_| "warn".to_string()),
        )
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start ratufa local");
    let cluster = Cluster {
        child,
        base: format!("http://127.0.0.1:{port}"),
        dir,
    };
    let http = client();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let uri = format!("{}/metrics/snapshot", cluster.base);
        if let Ok(Ok(response)) =
            tokio::time::timeout(Duration::from_secs(2), http.get(uri.parse().expect("uri"))).await
        {
            use http_body_util::BodyExt;
            let body = response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes();
            let doc: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            if doc.get("master/slaves_active").and_then(|v| v.as_f64()) == Some(1.0) {
                return cluster;
            }
        }
        assert!(Instant::now() < deadline, "ratufa local did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

struct Outcome {
    elapsed: Duration,
    cpu: f64,
    /// Of `cpu`, what `ratufa local` itself (master and agent) used.
    own_cpu: f64,
    finished: u64,
    failed: Vec<String>,
    /// Tasks launched again after their executor ended under them (EXECUTOR=default).
    relaunched: u64,
    to_running: Vec<Duration>,
    /// ACCEPT → TASK_STARTING and ACCEPT → TASK_FINISHED, per task.
    to_starting: Vec<Duration>,
    to_finished: Vec<Duration>,
    /// ACCEPTs that launched something.
    launches: u64,
    /// What this process (the scheduler, a client sharing the cores) used meanwhile.
    scheduler_cpu: f64,
    /// The machine's idle share over the run (all cores, from /proc/stat).
    idle: f64,
}

/// Launches `tasks` tasks running `true` as fast as offers allow; acknowledges every
/// update; returns when each task has ended.
async fn scheduler(
    client: HttpClient,
    base: &str,
    tasks: u64,
    group: bool,
    command: &CommandInfo,
) -> Outcome {
    let uri = format!("{base}/api/v1/scheduler");
    let info = FrameworkInfo {
        user: "root".into(),
        name: "agent-launch".into(),
        ..Default::default()
    };
    let mut subscription = Subscription::open(&client, &uri, info).await;
    let stream_id = subscription.stream_id.clone();
    // Unused offer resources come back at once, not after the default 5 s filter.
    let no_filter = Some(Filters {
        refuse_seconds: Some(0.0),
    });
    // Task ids are t0, t1, …; a task lost with its executor is launched again anew.
    let mut next_id = 0u64;
    let mut to_launch = tasks;
    let mut relaunched = 0u64;
    // Tasks launched without the executor's share, the offer saying it ran.
    let mut counted_on_executor: HashSet<String> = HashSet::new();
    let mut accepted_at: HashMap<String, Instant> = HashMap::new();
    let mut to_running = Vec::with_capacity(tasks as usize);
    let mut to_starting = Vec::with_capacity(tasks as usize);
    let mut to_finished = Vec::with_capacity(tasks as usize);
    let mut finished = 0u64;
    let mut failed = Vec::new();
    let mut start: Option<Instant> = None;
    let mut launches = 0u64;
    // HOLD_MS: offers wait that long to be taken together (0: each chunk's at once).
    let hold = Duration::from_millis(env("HOLD_MS", 0));
    let mut held: Vec<v1::Offer> = Vec::new();
    let mut flush_at: Option<Instant> = None;
    // Calls in flight: all answered before the cluster goes away.
    let mut calls = tokio::task::JoinSet::new();
    let far = Instant::now() + Duration::from_secs(365 * 86_400);
    loop {
        let events = tokio::select! {
            events = subscription.next_events() => match events {
                Some(events) => events,
                None => break,
            },
            () = tokio::time::sleep_until(flush_at.unwrap_or(far).into()), if flush_at.is_some() => Vec::new(),
        };
        let send = |calls: &mut tokio::task::JoinSet<()>, call: Call| {
            let (client, uri, sid) = (client.clone(), uri.clone(), stream_id.clone());
            calls.spawn(async move {
                let r = post(&client, &uri, Some(&sid), call.encode_to_vec()).await;
                assert_eq!(r.status(), 202, "{call:?}");
            });
        };
        for event in events {
            let framework_id = subscription.framework_id.clone();
            match event.r#type() {
                event::Type::Offers => {
                    held.extend(event.offers.map(|o| o.offers).unwrap_or_default());
                    flush_at.get_or_insert(Instant::now() + hold);
                }
                event::Type::Update => {
                    let Some(status) = event.update.map(|u| u.status) else {
                        continue;
                    };
                    let task_id = status.task_id.value.clone();
                    let since_accept = accepted_at.get(&task_id).map(Instant::elapsed);
                    match status.state() {
                        TaskState::TaskRunning => to_running.extend(since_accept),
                        TaskState::TaskFinished => {
                            finished += 1;
                            counted_on_executor.remove(&task_id);
                            to_finished.extend(since_accept);
                        }
                        TaskState::TaskStarting => to_starting.extend(since_accept),
                        TaskState::TaskStaging => {}
                        // The default executor ends once its tasks have (after a
                        // second idle; Mesos's at once); a group the agent handed it
                        // just as it ended is lost with it: a scheduler launches such
                        // tasks again.
                        TaskState::TaskFailed
                            if group
                                && status.reason
                                    == Some(task_status::Reason::ExecutorTerminated as i32) =>
                        {
                            to_launch += 1;
                            relaunched += 1;
                        }
                        // The same race seen by the master: the offer named the executor
                        // as running, so its share was not asked for, and it had ended
                        // by the ACCEPT.
                        TaskState::TaskError if counted_on_executor.remove(&task_id) => {
                            to_launch += 1;
                            relaunched += 1;
                        }
                        other => failed.push(format!(
                            "{task_id}: {} {}",
                            other.as_str_name(),
                            status.message.clone().unwrap_or_default()
                        )),
                    }
                    if let Some(ack) = acknowledgement(framework_id.clone(), &status) {
                        send(&mut calls, ack);
                    }
                    while calls.try_join_next().is_some() {}
                    if finished + failed.len() as u64 >= tasks {
                        let elapsed = start.map(|s| s.elapsed()).unwrap_or_default();
                        while let Some(call) = calls.join_next().await {
                            call.expect("a call");
                        }
                        return Outcome {
                            elapsed,
                            cpu: 0.0,
                            own_cpu: 0.0,
                            finished,
                            failed,
                            relaunched,
                            to_running,
                            to_starting,
                            to_finished,
                            launches,
                            scheduler_cpu: 0.0,
                            idle: 0.0,
                        };
                    }
                }
                _ => {}
            }
        }
        // The offers held (HOLD_MS) go out together: one ACCEPT per agent names
        // them all, their resources pooled, as Mesos lets a scheduler take several
        // offers of one agent at once.
        if flush_at.is_some_and(|at| at <= Instant::now()) {
            flush_at = None;
            let framework_id = subscription.framework_id.clone();
            for (offer, offer_ids) in pooled(std::mem::take(&mut held)) {
                let fit = ((scalar_sum(&offer.resources, "cpus") + 1e-9) / TASK_CPUS)
                    .min((scalar_sum(&offer.resources, "mem") + 1e-9) / TASK_MEM)
                    as u64;
                // The default executor's own share when the offer says it is not
                // running (it ends once its tasks have): its cpus and mem take
                // one task's place, and its disk must be in this offer.
                let executor_running = offer
                    .executor_ids
                    .iter()
                    .any(|id| id.value == DEFAULT_EXECUTOR_ID);
                let fit = if !group || executor_running {
                    fit
                } else if scalar_sum(&offer.resources, "disk") + 1e-9 < EXECUTOR_DISK {
                    0
                } else {
                    fit.saturating_sub(1)
                };
                let count = fit.min(to_launch);
                let task_infos: Vec<TaskInfo> = (next_id..next_id + count)
                    .map(|i| TaskInfo {
                        command: Some(command.clone()),
                        ..true_task(i, offer.agent_id.clone(), TASK_CPUS, TASK_MEM)
                    })
                    .collect();
                next_id += count;
                to_launch -= count;
                let now = Instant::now();
                start.get_or_insert(now);
                for task in &task_infos {
                    accepted_at.insert(task.task_id.value.clone(), now);
                    if group && executor_running {
                        counted_on_executor.insert(task.task_id.value.clone());
                    }
                }
                launches += u64::from(!task_infos.is_empty());
                let operations = if task_infos.is_empty() {
                    Vec::new()
                } else if group {
                    vec![offer::Operation {
                        r#type: Some(offer::operation::Type::LaunchGroup as i32),
                        launch_group: Some(offer::operation::LaunchGroup {
                            executor: ExecutorInfo {
                                r#type: Some(executor_info::Type::Default as i32),
                                executor_id: v1::ExecutorId {
                                    value: DEFAULT_EXECUTOR_ID.into(),
                                },
                                framework_id: framework_id.clone(),
                                resources: vec![
                                    scalar("cpus", TASK_CPUS),
                                    scalar("mem", TASK_MEM),
                                    scalar("disk", EXECUTOR_DISK),
                                ],
                                ..Default::default()
                            },
                            task_group: TaskGroupInfo { tasks: task_infos },
                        }),
                        ..Default::default()
                    }]
                } else {
                    vec![offer::Operation {
                        r#type: Some(offer::operation::Type::Launch as i32),
                        launch: Some(offer::operation::Launch { task_infos }),
                        ..Default::default()
                    }]
                };
                // An ACCEPT without operations declines the offer.
                send(
                    &mut calls,
                    Call {
                        framework_id: framework_id.clone(),
                        r#type: Some(call::Type::Accept as i32),
                        accept: Some(call::Accept {
                            offer_ids,
                            operations,
                            filters: no_filter,
                        }),
                        ..Default::default()
                    },
                );
            }
        }
    }
    panic!("the scheduler's event stream ended after {finished} of {tasks} tasks");
}

/// The machine's idle and total CPU ticks so far (idle and iowait of /proc/stat's
/// `cpu` line against all of its fields).
fn machine_ticks() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let idle = ticks.get(3).copied().unwrap_or(0.0) + ticks.get(4).copied().unwrap_or(0.0);
    (idle, ticks.iter().sum())
}

/// Offers pooled per agent: one offer carrying all their resources and executors, and
/// every offer's id.
fn pooled(offers: Vec<v1::Offer>) -> Vec<(v1::Offer, Vec<v1::OfferId>)> {
    let mut by_agent: Vec<(v1::Offer, Vec<v1::OfferId>)> = Vec::new();
    for offer in offers {
        match by_agent
            .iter_mut()
            .find(|(pool, _)| pool.agent_id == offer.agent_id)
        {
            Some((pool, ids)) => {
                ids.push(offer.id.clone());
                pool.resources.extend(offer.resources);
                pool.executor_ids.extend(offer.executor_ids);
            }
            None => {
                let ids = vec![offer.id.clone()];
                by_agent.push((offer, ids));
            }
        }
    }
    by_agent
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn main() {
    let tasks = env("TASKS", 1000);
    let in_flight = env("IN_FLIGHT", 32);
    let isolations = std::env::var("ISOLATION")
        .unwrap_or_else(|_| "posix/cpu,posix/mem;cgroups/cpu,cgroups/mem".to_string());
    // EXECUTOR=default: each offer's tasks go in one LAUNCH_GROUP to the framework's
    // one default executor, as Mesos's default executor takes task group after task group.
    // A list (EXECUTOR="command;default") measures each, after the same baseline.
    let executors = std::env::var("EXECUTOR").unwrap_or_else(|_| "command".to_string());
    let runs: Vec<(bool, &str)> = executors
        .split(';')
        .filter(|e| !e.is_empty())
        .flat_map(|executor| {
            isolations
                .split(';')
                .filter(|s| !s.is_empty())
                .map(move |isolation| (executor == "default", isolation))
        })
        .collect();
    // `true` itself, found on PATH as the baseline finds it; COMMAND=shell: `sh -c true`.
    let (command, command_shown) = match std::env::var("COMMAND").as_deref() {
        Ok("argv") | Err(_) => (
            CommandInfo {
                shell: Some(false),
                value: Some("true".into()),
                arguments: vec!["true".into()],
                ..Default::default()
            },
            "`true` (no shell)",
        ),
        Ok("shell") => (
            CommandInfo {
                value: Some("true".into()),
                ..Default::default()
            },
            "`sh -c true`",
        ),
        Ok(other) => panic!("COMMAND={other}: expected argv or shell"),
    };
    // The scheduler is one client on one thread, as most are: a worker pool would only
    // add hand-offs between threads on cores the measured processes share.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");

    println!(
        "agent_launch: {tasks} tasks running `true` through one agent, tasks cpus:{TASK_CPUS};mem:{TASK_MEM}, at most {in_flight} at once"
    );
    let raw_parallel = raw_fork_exec(tasks, in_flight);
    let raw_serial = raw_fork_exec(tasks.min(500), 1);
    println!(
        "  baseline: raw fork+exec+wait of `true`, {in_flight} threads   {raw_parallel:>8.0} /s"
    );
    println!("  baseline: raw fork+exec+wait of `true`, one at a time  {raw_serial:>8.0} /s");

    let mut work_dirs = Vec::new();
    for (group, isolation) in runs {
        let outcome = runtime.block_on(async {
            let cluster = start_cluster(isolation, in_flight).await;
            work_dirs.push(cluster.dir.clone());
            let pid = cluster.child.id();
            let (before, own_before) = (cpu_seconds(pid), own_cpu_seconds(pid));
            let scheduler_before = own_cpu_seconds(std::process::id());
            let idle_before = machine_ticks();
            let mut outcome = scheduler(client(), &cluster.base, tasks, group, &command).await;
            outcome.scheduler_cpu = own_cpu_seconds(std::process::id()) - scheduler_before;
            let idle_after = machine_ticks();
            outcome.idle = (idle_after.0 - idle_before.0) / (idle_after.1 - idle_before.1).max(1.0);
            // The last executors are reaped a moment after their task's update.
            tokio::time::sleep(Duration::from_millis(500)).await;
            outcome.cpu = cpu_seconds(pid) - before;
            outcome.own_cpu = own_cpu_seconds(pid) - own_before;
            outcome
        });
        let mut to_running = outcome.to_running;
        to_running.sort();
        let (mut to_starting, mut to_finished) = (outcome.to_starting, outcome.to_finished);
        to_starting.sort();
        to_finished.sort();
        let rate = outcome.finished as f64 / outcome.elapsed.as_secs_f64();
        let executor = if group {
            "one default executor, a LAUNCH_GROUP per offer"
        } else {
            "a command executor per task"
        };
        let workers = workers().map_or_else(
            || "one per core".to_string(),
            |n| format!("LIBPROCESS_NUM_WORKER_THREADS={n}"),
        );
        println!(
            "  --isolation={isolation}, {executor}, tasks run {command_shown}, workers: {workers}"
        );
        println!(
            "    tasks/s, first ACCEPT to last TASK_FINISHED        {rate:>8.0}   ({:.0}% of the raw parallel rate)",
            100.0 * rate / raw_parallel
        );
        println!(
            "    ACCEPT -> TASK_RUNNING  p50 {:>7.1} ms   p99 {:>7.1} ms   ({} tasks in {:.2} s)",
            percentile(&to_running, 0.5).as_secs_f64() * 1000.0,
            percentile(&to_running, 0.99).as_secs_f64() * 1000.0,
            outcome.finished,
            outcome.elapsed.as_secs_f64()
        );
        println!(
            "    ACCEPT -> TASK_STARTING p50 {:>7.1} ms, -> TASK_FINISHED p50 {:>7.1} ms",
            percentile(&to_starting, 0.5).as_secs_f64() * 1000.0,
            percentile(&to_finished, 0.5).as_secs_f64() * 1000.0,
        );
        println!(
            "    CPU of ratufa local and its executors: {:.2} ms per task ({:.2} ms ratufa local itself)",
            1000.0 * outcome.cpu / tasks as f64,
            1000.0 * outcome.own_cpu / tasks as f64
        );
        println!(
            "    the bench's scheduler: {:.2} ms of CPU per task; {:.1} tasks per launching ACCEPT; machine idle {:.0}%",
            1000.0 * outcome.scheduler_cpu / tasks as f64,
            (tasks + outcome.relaunched) as f64 / outcome.launches.max(1) as f64,
            100.0 * outcome.idle
        );
        if outcome.relaunched > 0 {
            println!(
                "    {} tasks launched again: their executor ended as they reached it",
                outcome.relaunched
            );
        }
        if !outcome.failed.is_empty() {
            println!(
                "    {} tasks did not finish, e.g. {}",
                outcome.failed.len(),
                outcome.failed[0]
            );
        }
    }
    remove_work_dirs(&work_dirs);
}
