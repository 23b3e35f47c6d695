//! Master failover: how long a newly elected master takes to take back AGENTS agents
//! that re-register with what they run (issue #5's "Speed"; Mesos's
//! AgentReregistrationDelay benchmark). A real `ratufa master` process (the release
//! binary) serves a loopback socket; this process plays the agents, each re-registering
//! through the real agent's link client (`ratufa_agent::link::MasterLink`: the same
//! SUBSCRIBE call, protobuf over HTTP/1.1, one connection per agent) with its agent id,
//! TASKS_PER_AGENT running tasks spread over FRAMEWORKS frameworks, one executor per
//! framework, and those frameworks' infos — Mesos's shape: agents `cpus:20;mem:10240`,
//! tasks `cpus:0.1;mem:5` with 10 labels.
//!
//! The real failover shape, in two waves. First a master on a fresh work_dir takes
//! every agent in (writing each admission to its registry before it answers: that
//! wave is timed too). Then it is SIGKILLed, a second master starts on the same
//! work_dir, recovers the registry holding every agent, and the agents re-register
//! with it: the failover figure, timed from the first SUBSCRIBE sent until every agent
//! has read its SUBSCRIBED; then `/master/state` must show every agent and task. At
//! most IN_FLIGHT re-registrations are outstanding at once (agents come back spread by
//! their backoff; a flood of 20,000 connects at one instant would only measure the
//! kernel's accept queue overflowing).
//!
//! Baseline in the same run, before the failover: as many `GET /health` round trips to
//! the same master at the same concurrency over kept-alive connections — the
//! machine's cost of an HTTP exchange, which every re-registration pays (besides its
//! connection).
//! CPU is read from /proc for the master and for this process (the agents' side).
//!
//! Then `GET /master/state` STATE_REQUESTS times, one after another, on the failed-over
//! master with every agent and task: how long each takes to read whole, and the
//! master's CPU for them. Then once each, with the master's CPU and its peak RSS
//! above what it held before: `/master/state`, the operator API's GET_STATE and
//! GET_TASKS in JSON and in protobuf, and an operator SUBSCRIBE's SUBSCRIBED event
//! (the whole state) in each. READS=state,GET_STATE,GET_TASKS,SUBSCRIBE (the default)
//! picks which and in what order; ENCODINGS=json,protobuf (the default) the encodings.
//!
//! Run: `cargo bench --bench master_failover` (AGENTS=20000 TASKS_PER_AGENT=10
//! FRAMEWORKS=5 IN_FLIGHT=1000 STATE_REQUESTS=3 by default; BENCH_LOG=info keeps the
//! master's log; RATUFA_BIN=<path> runs another build's `ratufa` as the masters).

#[path = "../tests/support/scratch.rs"]
mod scratch;
mod support;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use ratufa_agent::link::MasterLink;
use ratufa_gateway::recordio::RecordIoDecoder;
use ratufa_proto::ratufa::agentlink::{Call as AgentCall, call as agent_call, command};
use ratufa_proto::v1::master::{Event, Response};
use ratufa_proto::v1::{
    AgentId, AgentInfo, CommandInfo, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, Label,
    Labels, Task, TaskId, TaskState,
};
use scratch::{free_port, fresh_dir};
use serde::Deserialize;
use serde::de::IgnoredAny;
use support::{cpu_seconds, env, load_average, peak_rss_bytes, reset_peak_rss, rss_bytes, scalar};
use tokio::sync::{Notify, Semaphore};

/// The id prefix of the agents, as the master that first admitted them named them.
const OLD_MASTER: &str = "bench-old-master";

/// The agents reach the master at 127.0.0.1 … 127.0.0.LOOPBACKS, agent i at address
/// i mod LOOPBACKS. Real agents come from as many hosts; from one address, 20,000
/// connections to one port leave the kernel scanning most of the ephemeral range for
/// each new connection (__inet_hash_connect: over half this process's CPU at 20k).
const LOOPBACKS: u64 = 16;

/// Files besides the agents' sockets that the master (its listener, log, registry
/// lock, epoll…: 14 when idle) or this process may hold.
const SPARE_FILES: u64 = 64;

/// Raises this process's open-file limit (children inherit it) to hold `needed`
/// sockets; as root the hard limit can be raised too. Returns the limit now in force.
fn raise_open_files(needed: u64) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct we pass.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        let wanted = needed.max(limit.rlim_cur);
        let raised = libc::rlimit {
            rlim_cur: wanted,
            rlim_max: wanted.max(limit.rlim_max),
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) != 0 {
            // Not root: as far as the hard limit goes.
            let soft = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            libc::setrlimit(libc::RLIMIT_NOFILE, &soft);
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
    }
    limit.rlim_cur
}

/// The masters' work_dir (their registry), removed at the end unless BENCH_LOG is set.
struct Scratch(std::path::PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::env::var_os("BENCH_LOG").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        } else {
            println!("    logs kept in {}", self.0.display());
        }
    }
}

/// A `ratufa master` child process on a free port; SIGKILLed on drop.
struct Master {
    child: Child,
    base: String,
    address: String,
}

impl Master {
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a master on `dir`'s work_dir at its default logging level (INFO, as
/// deployed) and waits until it leads: `/metrics/snapshot` answers 200 once its
/// registry is recovered (503 before). Returns it and how long that took.
async fn start_master(dir: &std::path::Path, name: &str) -> (Master, Duration) {
    let port = free_port();
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).expect("log");
    // RATUFA_BIN: another build's binary, to compare builds in the same bench.
    let binary =
        std::env::var("RATUFA_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_ratufa").to_string());
    let mut command = Command::new(binary);
    command
        .arg("master")
        // The simulated agents do not answer PINGs (see `sim_agent`); the reads after
        // the failover must find every agent still there.
        .arg("--agent_ping_timeout=10mins")
        // Every address of the loopback, so that the agents can come from several
        // (see LOOPBACKS).
        .arg("--ip=0.0.0.0")
        .arg(format!("--port={port}"))
        .arg(format!("--work_dir={}", dir.join("work").display()))
        .stdout(Stdio::null())
        .stderr(log);
    if let Ok(level) = std::env::var("BENCH_LOG") {
        command.env("RUST_LOG", level);
    }
    let started = Instant::now();
    let child = command.spawn().expect("start ratufa master");
    let address = format!("127.0.0.1:{port}");
    let master = Master {
        child,
        base: format!("http://{address}"),
        address,
    };
    let client = support::client();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let uri = format!("{}/metrics/snapshot", master.base);
        if let Ok(Ok(response)) = tokio::time::timeout(
            Duration::from_secs(2),
            client.get(uri.parse().expect("uri")),
        )
        .await
            && response.status() == 200
        {
            return (master, started.elapsed());
        }
        assert!(Instant::now() < deadline, "ratufa master did not come up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Mesos's benchmark task labels: ten of them.
fn labels() -> Labels {
    Labels {
        labels: (0..10)
            .map(|i| Label {
                key: format!("key{i}"),
                value: Some(format!("value{i}")),
            })
            .collect(),
    }
}

fn framework_id(f: u64) -> FrameworkId {
    FrameworkId {
        value: format!("bench-framework-{f}"),
    }
}

/// What agent `index` reports when it re-registers, built as the real agent builds
/// it (agent.rs `subscribe_call`): its info with its id, its tasks (every update
/// acknowledged, so no statuses), the executors frameworks gave and their frameworks.
fn reregistration(index: u64, tasks_per_agent: u64, frameworks: u64) -> AgentCall {
    let agent_id = AgentId {
        value: format!("{OLD_MASTER}-S{index}"),
    };
    let executor_id = |f: u64| ExecutorId {
        value: format!("bench-executor-{f}"),
    };
    let tasks = (0..tasks_per_agent)
        .map(|t| {
            let f = t % frameworks;
            Task {
                name: format!("task-{index}-{t}"),
                task_id: TaskId {
                    value: format!("task-{index}-{t}"),
                },
                framework_id: framework_id(f),
                executor_id: Some(executor_id(f)),
                agent_id: agent_id.clone(),
                state: TaskState::TaskRunning as i32,
                resources: vec![scalar("cpus", 0.1), scalar("mem", 5.0)],
                labels: Some(labels()),
                ..Default::default()
            }
        })
        .collect();
    let executors = (0..frameworks.min(tasks_per_agent))
        .map(|f| ExecutorInfo {
            executor_id: executor_id(f),
            framework_id: Some(framework_id(f)),
            command: Some(CommandInfo {
                value: Some("bench-executor".into()),
                ..Default::default()
            }),
            resources: vec![scalar("cpus", 0.1), scalar("mem", 32.0)],
            ..Default::default()
        })
        .collect();
    let frameworks = (0..frameworks.min(tasks_per_agent))
        .map(|f| FrameworkInfo {
            id: Some(framework_id(f)),
            user: "bench".into(),
            name: format!("bench-framework-{f}"),
            checkpoint: Some(true),
            ..Default::default()
        })
        .collect();
    AgentCall {
        r#type: Some(agent_call::Type::Subscribe as i32),
        subscribe: Some(agent_call::Subscribe {
            agent_info: AgentInfo {
                id: Some(agent_id),
                hostname: format!("sim-agent-{index}"),
                port: Some(5051),
                resources: vec![scalar("cpus", 20.0), scalar("mem", 10240.0)],
                ..Default::default()
            },
            tasks,
            executors,
            frameworks,
            version: Some("bench".into()),
            ip: None,
        }),
        ..Default::default()
    }
}

/// Agents that have read their SUBSCRIBED, and a wake-up when the last one has.
struct Progress {
    acked: AtomicU64,
    all: Notify,
    agents: u64,
}

/// One simulated agent: re-registers, holds its permit until SUBSCRIBED arrives, then
/// keeps its stream open until the master goes away. It does not answer PINGs: a PONG
/// would need a second connection per agent, which the open-file limit may not hold;
/// the masters ping every 10 minutes instead of 15 s, so that no agent is given up on
/// (after `--max_agent_ping_timeouts` unanswered PINGs) before the run ends.
async fn sim_agent(
    link: MasterLink,
    call: AgentCall,
    limit: Arc<Semaphore>,
    progress: Arc<Progress>,
) {
    let permit = limit.acquire_owned().await.expect("permit");
    let mut stream = link.subscribe(&call).await.expect("agent re-registration");
    let agent_id = call
        .subscribe
        .and_then(|s| s.agent_info.id)
        .expect("agent id");
    let mut permit = Some(permit);
    while let Ok(Some(received)) = stream.next().await {
        match received.r#type() {
            command::Type::Subscribed => {
                assert_eq!(
                    received.subscribed.map(|s| s.agent_id),
                    Some(agent_id.clone()),
                    "the agent keeps its id"
                );
                permit.take();
                if progress.acked.fetch_add(1, Ordering::Relaxed) + 1 == progress.agents {
                    progress.all.notify_one();
                }
            }
            command::Type::Error => panic!("re-registration refused: {:?}", received.error),
            _ => {}
        }
    }
}

/// The machine's cost of what each re-registration pays at least: one request
/// answered over HTTP/1.1. `n` requests of `GET /health`, `in_flight` at once, over
/// kept-alive connections: fresh ones for each would leave `n` sockets in TIME_WAIT,
/// and the kernel's search for a free ephemeral port among them then costs the
/// re-registrations that follow more than the master does.
async fn health_round_trips(base: &str, n: u64, in_flight: usize) -> Duration {
    let client: hyper_util::client::legacy::Client<_, Full<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_max_idle_per_host(in_flight)
            .build_http();
    let uri: hyper::Uri = format!("{base}/health").parse().expect("uri");
    let limit = Arc::new(Semaphore::new(in_flight));
    let start = Instant::now();
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..n {
        let permit = limit.clone().acquire_owned().await.expect("permit");
        let (client, uri) = (client.clone(), uri.clone());
        requests.spawn(async move {
            let response = client.get(uri).await.expect("GET /health");
            assert_eq!(response.status(), 200);
            let _ = response.into_body().collect().await;
            drop(permit);
        });
    }
    while let Some(done) = requests.join_next().await {
        done.expect("join");
    }
    start.elapsed()
}

/// What `/master/state` is checked for: how many agents and tasks it shows.
#[derive(Deserialize)]
struct State {
    slaves: Vec<IgnoredAny>,
    frameworks: Vec<StateFramework>,
}

#[derive(Deserialize)]
struct StateFramework {
    tasks: Vec<IgnoredAny>,
}

async fn master_state(base: &str) -> (usize, usize, Duration, usize) {
    let client = support::client();
    let start = Instant::now();
    let response = client
        .get(format!("{base}/master/state").parse().expect("uri"))
        .await
        .expect("GET /master/state");
    assert_eq!(response.status(), 200, "/master/state");
    let body = response
        .into_body()
        .collect()
        .await
        .expect("state body")
        .to_bytes();
    let took = start.elapsed();
    let state: State = serde_json::from_slice(&body).expect("/master/state JSON");
    let tasks = state.frameworks.iter().map(|f| f.tasks.len()).sum();
    (state.slaves.len(), tasks, took, body.len())
}

/// ENCODINGS=json,protobuf (the default): the operator API's encodings to ask for.
fn encodings() -> Vec<&'static str> {
    let wanted = std::env::var("ENCODINGS").unwrap_or_else(|_| "json,protobuf".to_string());
    [
        ("json", "application/json"),
        ("protobuf", support::PROTOBUF),
    ]
    .into_iter()
    .filter(|(name, _)| wanted.split(',').any(|w| w == *name))
    .map(|(_, media_type)| media_type)
    .collect()
}

/// POSTs the operator API call of type `call` (JSON), asking for `accept`: when it
/// was sent, and the 200 response.
async fn operator_call(
    base: &str,
    call: &str,
    accept: &str,
) -> (Instant, hyper::Response<hyper::body::Incoming>) {
    let client = support::client();
    let request = hyper::Request::post(format!("{base}/api/v1"))
        .header("Content-Type", "application/json")
        .header("Accept", accept)
        .body(Full::new(Bytes::from(format!(r#"{{"type":"{call}"}}"#))))
        .expect("request");
    let start = Instant::now();
    let response = client.request(request).await.expect("POST /api/v1");
    assert_eq!(response.status(), 200, "{call}");
    (start, response)
}

/// An operator API read (`call`, e.g. GET_STATE) answered in `accept`: how long until
/// read whole, its bytes, and how many tasks it lists (the body decoded, to check it).
async fn operator_read(base: &str, call: &str, accept: &str) -> (Duration, usize, usize) {
    let (start, response) = operator_call(base, call, accept).await;
    let body = response
        .into_body()
        .collect()
        .await
        .expect("operator API body")
        .to_bytes();
    let took = start.elapsed();
    let response: Response = ratufa_proto::Encoding::from_media_type(accept)
        .expect("encoding")
        .decode(&body)
        .expect("operator API response");
    let tasks = response
        .get_tasks
        .as_ref()
        .or_else(|| response.get_state.as_ref()?.get_tasks.as_ref())
        .map_or(0, |t| t.tasks.len());
    (took, body.len(), tasks)
}

/// An operator SUBSCRIBE in `accept`: how long until its first event (SUBSCRIBED, the
/// whole state) is read whole, its bytes, and how many tasks it lists.
async fn operator_subscribed(base: &str, accept: &str) -> (Duration, usize, usize) {
    let (start, response) = operator_call(base, "SUBSCRIBE", accept).await;
    let mut body = response.into_body();
    let mut decoder = RecordIoDecoder::new(1 << 30);
    let record = loop {
        let frame = body
            .frame()
            .await
            .expect("SUBSCRIBED before the stream ends")
            .expect("frame");
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if let Some(record) = decoder.feed(&data).expect("recordio").into_iter().next() {
            break record;
        }
    };
    let took = start.elapsed();
    let event: Event = ratufa_proto::Encoding::from_media_type(accept)
        .expect("encoding")
        .decode(&record)
        .expect("SUBSCRIBED event");
    let tasks = event
        .subscribed
        .as_ref()
        .and_then(|s| s.get_state.as_ref()?.get_tasks.as_ref())
        .map_or(0, |t| t.tasks.len());
    (took, record.len(), tasks)
}

/// Runs `read` on the master `pid` and prints how long it took, the master's CPU for
/// it and its peak RSS above what it held before (the peak is reset first).
async fn measured<F: std::future::Future<Output = (Duration, usize, usize)>>(
    what: &str,
    pid: u32,
    expected_tasks: u64,
    read: F,
) {
    let rss_before = rss_bytes(pid);
    reset_peak_rss(pid);
    let cpu = cpu_seconds(pid);
    let (took, bytes, tasks) = read.await;
    let cpu = cpu_seconds(pid) - cpu;
    let peak = peak_rss_bytes(pid).saturating_sub(rss_before);
    assert_eq!(tasks as u64, expected_tasks, "tasks in {what}");
    println!(
        "  {what:<44} {:>6.1} MiB in {:>5.2} s; master CPU {:>5.2} s, peak RSS +{:.0} MiB",
        bytes as f64 / 1048576.0,
        took.as_secs_f64(),
        cpu,
        peak as f64 / 1048576.0
    );
}

fn main() {
    let agents = env("AGENTS", 20_000);
    let tasks_per_agent = env("TASKS_PER_AGENT", 10);
    let frameworks = env("FRAMEWORKS", 5).max(1);
    let in_flight = env("IN_FLIGHT", 1000).max(1) as usize;
    let state_requests = env("STATE_REQUESTS", 3).max(1);
    // Each agent holds a socket in this process and one in the master, which inherits
    // the limit; SPARE covers the other files of either.
    let open_files = raise_open_files(agents + SPARE_FILES);
    assert!(
        open_files >= agents + SPARE_FILES,
        "the open-file limit is {open_files} and cannot be raised here (no CAP_SYS_RESOURCE): \
         each of {agents} agents needs a socket in the master and in this process, plus \
         {SPARE_FILES} spare; run with AGENTS={} at most",
        open_files.saturating_sub(SPARE_FILES)
    );
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let scratch = Scratch(fresh_dir("master-failover"));
        println!(
            "master_failover: {agents} agents x {tasks_per_agent} tasks ({frameworks} frameworks, one executor each per agent), {in_flight} SUBSCRIBEs in flight"
        );
        println!("  load average (1 min) at start                {}", load_average());

        // The cluster before the failover: every agent admitted by a first master,
        // which writes each admission to its registry before answering.
        let (first, _) = start_master(&scratch.0, "master-1").await;
        let baseline = health_round_trips(&first.base, agents, in_flight).await;
        println!(
            "  baseline: {agents} GET /health round trips (kept-alive)    {:>8.2} s  ({:.0}/s)",
            baseline.as_secs_f64(),
            agents as f64 / baseline.as_secs_f64()
        );
        let admitted = wave(&first, agents, tasks_per_agent, frameworks, in_flight).await;
        admitted.print("registration with a new master (admissions written)", agents);
        drop(admitted.streams);

        // The failover: the leader dies at once; a new master recovers the registry
        // from the same work_dir and the agents come back with what they run.
        drop(first);
        let (second, recovery) = start_master(&scratch.0, "master-2").await;
        println!(
            "  new master: started and registry recovered in {:.2} s",
            recovery.as_secs_f64()
        );
        let rss_idle = rss_bytes(second.pid());
        let back = wave(&second, agents, tasks_per_agent, frameworks, in_flight).await;
        back.print("FAILOVER: re-registration with the new leader", agents);
        let grown = back.rss_after.saturating_sub(rss_idle) as f64;
        println!(
            "  master RSS: {:.1} MiB recovered, {:.1} MiB after ({:.1} KiB per agent with its tasks)",
            rss_idle as f64 / 1048576.0,
            back.rss_after as f64 / 1048576.0,
            grown / 1024.0 / agents.max(1) as f64
        );

        let master_cpu = cpu_seconds(second.pid());
        let mut took = Vec::new();
        let mut bytes = 0;
        for _ in 0..state_requests {
            let (state_agents, state_tasks, state_took, state_bytes) =
                master_state(&second.base).await;
            assert_eq!(state_agents as u64, agents, "agents in /master/state");
            assert_eq!(
                state_tasks as u64,
                agents * tasks_per_agent,
                "tasks in /master/state"
            );
            took.push(state_took.as_secs_f64());
            bytes = state_bytes;
        }
        let master_cpu = cpu_seconds(second.pid()) - master_cpu;
        took.sort_by(f64::total_cmp);
        println!(
            "  /master/state: {agents} agents, {} tasks, {:.1} MiB; {state_requests} GETs: best {:.2} s, median {:.2} s, each read whole ({}); master CPU {:.2} s per GET",
            agents * tasks_per_agent,
            bytes as f64 / 1048576.0,
            took[0],
            took[took.len() / 2],
            took.iter().map(|t| format!("{t:.2}")).collect::<Vec<_>>().join(", "),
            master_cpu / state_requests as f64
        );
        let pid = second.pid();
        let tasks = agents * tasks_per_agent;
        let base = &second.base;
        // READS: which of the reads below, in that order (an allocator keeps memory a
        // read freed, which hides what the next read needs from the peak RSS).
        let reads = std::env::var("READS").unwrap_or_else(|_| {
            "state,GET_STATE,GET_TASKS,SUBSCRIBE".to_string()
        });
        for read in reads.split(',') {
            match read {
                "state" => {
                    measured("/master/state", pid, tasks, async {
                        let (_, tasks, took, bytes) = master_state(base).await;
                        (took, bytes, tasks)
                    })
                    .await;
                }
                "SUBSCRIBE" => {
                    for accept in encodings() {
                        let what = format!("operator SUBSCRIBE: SUBSCRIBED ({accept})");
                        measured(&what, pid, tasks, operator_subscribed(base, accept)).await;
                    }
                }
                call => {
                    for accept in encodings() {
                        let what = format!("operator API {call} ({accept})");
                        measured(&what, pid, tasks, operator_read(base, call, accept)).await;
                    }
                }
            }
        }
        drop(back.streams);
        drop(second);
    });
}

/// One wave of agents (re-)registering with `master`, timed from the first SUBSCRIBE
/// to the last SUBSCRIBED read; the agents' streams stay open in `streams`.
struct Wave {
    elapsed: Duration,
    master_cpu: f64,
    own_cpu: f64,
    rss_after: u64,
    streams: tokio::task::JoinSet<()>,
}

impl Wave {
    fn print(&self, what: &str, agents: u64) {
        let secs = self.elapsed.as_secs_f64();
        println!(
            "  {what}: {secs:.2} s ({:.0} agents/s); CPU: master {:.2} s ({:.0} us/agent), agents' side {:.2} s",
            agents as f64 / secs,
            self.master_cpu,
            self.master_cpu * 1e6 / agents as f64,
            self.own_cpu
        );
    }
}

async fn wave(
    master: &Master,
    agents: u64,
    tasks_per_agent: u64,
    frameworks: u64,
    in_flight: usize,
) -> Wave {
    let port = master.address.rsplit(':').next().expect("port");
    let links: Vec<MasterLink> = (1..=LOOPBACKS)
        .map(|k| MasterLink::new(&format!("127.0.0.{k}:{port}"), None).expect("link"))
        .collect();
    let limit = Arc::new(Semaphore::new(in_flight));
    let progress = Arc::new(Progress {
        acked: AtomicU64::new(0),
        all: Notify::new(),
        agents,
    });
    let pid = master.pid();
    let master_cpu = cpu_seconds(pid);
    let own_cpu = cpu_seconds(std::process::id());
    let start = Instant::now();
    let mut streams = tokio::task::JoinSet::new();
    for index in 0..agents {
        let call = reregistration(index, tasks_per_agent, frameworks);
        streams.spawn(sim_agent(
            links[(index % LOOPBACKS) as usize].clone(),
            call,
            limit.clone(),
            progress.clone(),
        ));
    }
    tokio::time::timeout(Duration::from_secs(600), progress.all.notified())
        .await
        .expect("every agent (re-)registered within 10 minutes");
    Wave {
        elapsed: start.elapsed(),
        master_cpu: cpu_seconds(pid) - master_cpu,
        own_cpu: cpu_seconds(std::process::id()) - own_cpu,
        rss_after: rss_bytes(pid),
        streams,
    }
}
