//! The master core's memory at Mesos's benchmark scale: 10,000 agents shaped like
//! Mesos's simulated agent (`cpus:20;mem:10240`) and 100,000 running tasks shaped like
//! its benchmark tasks (`cpus:0.1;mem:5`, 10 labels each), across a few frameworks.
//!
//! Everything goes through the core's public API as the driver would: agents register,
//! the allocator offers, frameworks ACCEPT, agents report TASK_RUNNING, frameworks
//! ACKNOWLEDGE. Prints the resident set size (VmRSS) at each stage, bytes per agent and
//! per task, the pace of the launch path through the core, and the time of one
//! `state_snapshot()`. Asserts nothing about the figures.
//!
//! `cargo bench -p ratufa-master --bench core_memory`; `RATUFA_MEM_BENCH=agents,tasks`
//! (say `1000,10000`) changes the scale, `RATUFA_MEM_FRAMEWORKS` the framework count.

use std::alloc::{GlobalAlloc, Layout};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mimalloc::MiMalloc;
use ratufa_master::allocator::{AllocatorConfig, HierarchicalDrf};
use ratufa_master::core::{
    ConnectionId, CoreConfig, FrameworkCall, MasterCore, Output, SubscribeOutcome, TaskEntry, Time,
};
use ratufa_proto::ratufa::agentlink;
use ratufa_proto::resources::Resources;
use ratufa_proto::v1::offer::{Operation, operation};
use ratufa_proto::v1::scheduler::call;
use ratufa_proto::v1::task_status::Source;
use ratufa_proto::v1::{
    AgentInfo, CommandInfo, Filters, FrameworkId, FrameworkInfo, Label, Labels, MasterInfo, Offer,
    Resource, TaskId, TaskInfo, TaskState, TaskStatus,
};

/// mimalloc (what the `ratufa` binary runs on), counting the bytes live on the heap so
/// that the figures can be split into what the core holds and what the allocator keeps
/// around.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed to mimalloc unchanged; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { MiMalloc.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { MiMalloc.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { MiMalloc.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { MiMalloc.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> u64 {
    LIVE.load(Ordering::Relaxed) as u64
}

const AGENT_RESOURCES: &str = "cpus:20;mem:10240";
const TASK_RESOURCES: &str = "cpus:0.1;mem:5";
const LABELS_PER_TASK: usize = 10;

/// Resident set size in bytes, from /proc/self/status.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kb| kb * 1024)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn resources(text: &str) -> Vec<Resource> {
    match Resources::parse(text, "*") {
        Ok(r) => r.into_vec(),
        Err(e) => panic!("bad benchmark resources {text}: {e}"),
    }
}

fn scale() -> (usize, usize) {
    std::env::var("RATUFA_MEM_BENCH")
        .ok()
        .and_then(|v| {
            let (agents, tasks) = v.split_once(',')?;
            Some((agents.trim().parse().ok()?, tasks.trim().parse().ok()?))
        })
        .unwrap_or((10_000, 100_000))
}

/// A version-4 UUID from a counter: unique, and what the agent link accepts.
fn uuid(n: u64) -> Vec<u8> {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&n.to_le_bytes());
    bytes[6] = 0x40;
    bytes[8] = 0x80;
    bytes.to_vec()
}

struct Framework {
    id: FrameworkId,
    stream_id: String,
}

/// The bench's side of the driver: connection ids, and the outputs it acts on.
struct Cluster {
    core: MasterCore,
    now: Time,
    next_conn: u64,
    /// Agent connection → index into the agents' connection list (agent ids are read
    /// from the core when needed, so the bench holds little itself).
    agent_conns: Vec<ConnectionId>,
    frameworks: Vec<Framework>,
    next_task: u64,
    next_uuid: u64,
}

impl Cluster {
    fn new() -> Cluster {
        let config = CoreConfig {
            master_info: MasterInfo {
                id: "b3c1e8d2-0000-4000-8000-00000000be11".to_string(),
                ip: 16_777_343,
                port: 5050,
                hostname: Some("bench-master".to_string()),
                ..MasterInfo::default()
            },
            ..CoreConfig::default()
        };
        let allocator = HierarchicalDrf::new(AllocatorConfig::default());
        Cluster {
            core: MasterCore::new(config, Box::new(allocator)),
            now: Time::ZERO,
            next_conn: 0,
            agent_conns: Vec::new(),
            frameworks: Vec::new(),
            next_task: 0,
            next_uuid: 0,
        }
    }

    fn conn(&mut self) -> ConnectionId {
        self.next_conn += 1;
        ConnectionId(self.next_conn)
    }

    fn drain(&mut self) -> Vec<Output> {
        std::iter::from_fn(|| self.core.poll_output()).collect()
    }

    fn register_agents(&mut self, n: usize) {
        let resources = resources(AGENT_RESOURCES);
        for i in 0..n {
            let conn = self.conn();
            let subscribe = agentlink::call::Subscribe {
                agent_info: AgentInfo {
                    hostname: format!("agent-{i}.bench"),
                    port: Some(5051),
                    resources: resources.clone(),
                    ..AgentInfo::default()
                },
                ..Default::default()
            };
            if let Err(e) = self.core.handle_agent_subscribe(self.now, conn, subscribe) {
                panic!("agent {i} refused: {e}");
            }
            self.agent_conns.push(conn);
            // SUBSCRIBED goes to the agent; nothing to keep.
            drop(self.drain());
        }
    }

    fn subscribe_frameworks(&mut self, n: usize) {
        for i in 0..n {
            let conn = self.conn();
            let stream_id = format!("bench-stream-{i}");
            let subscribe = call::Subscribe {
                framework_info: FrameworkInfo {
                    user: "bench".to_string(),
                    name: format!("framework-{i}"),
                    failover_timeout: Some(3600.0),
                    ..FrameworkInfo::default()
                },
                ..call::Subscribe::default()
            };
            match self
                .core
                .handle_subscribe(self.now, conn, stream_id.clone(), None, subscribe)
            {
                SubscribeOutcome::Subscribed { framework_id } => self.frameworks.push(Framework {
                    id: framework_id,
                    stream_id,
                }),
                SubscribeOutcome::Refused { message } => panic!("framework refused: {message}"),
            }
            drop(self.drain());
        }
    }

    fn framework_of(&self, offer: &Offer) -> usize {
        self.frameworks
            .iter()
            .position(|f| f.id == offer.framework_id)
            .unwrap_or_else(|| panic!("offer to unknown framework {}", offer.framework_id.value))
    }

    fn call(&mut self, framework: usize, call: FrameworkCall) {
        let fw = &self.frameworks[framework];
        if let Err(e) = self
            .core
            .handle_call(self.now, &fw.id, call, None, Some(&fw.stream_id))
        {
            panic!("call refused: {e}");
        }
    }

    fn task(&mut self, offer: &Offer, resources: &[Resource]) -> TaskInfo {
        let id = format!("task-{}", self.next_task);
        self.next_task += 1;
        TaskInfo {
            name: id.clone(),
            task_id: TaskId { value: id },
            agent_id: offer.agent_id.clone(),
            resources: resources.to_vec(),
            command: Some(CommandInfo {
                value: Some("sleep 1000".to_string()),
                ..CommandInfo::default()
            }),
            labels: Some(Labels {
                labels: (0..LABELS_PER_TASK)
                    .map(|n| Label {
                        key: format!("key{n}"),
                        value: Some(format!("value{n}")),
                    })
                    .collect(),
            }),
            ..TaskInfo::default()
        }
    }

    /// One offer taken whole: `n` tasks launched, each reported RUNNING by its agent
    /// and acknowledged by its framework, one at a time as a driver would carry them.
    fn launch_into(&mut self, offer: &Offer, n: usize, task_resources: &[Resource]) {
        let framework = self.framework_of(offer);
        let tasks: Vec<TaskInfo> = (0..n).map(|_| self.task(offer, task_resources)).collect();
        let accept = FrameworkCall::Accept(call::Accept {
            offer_ids: vec![offer.id.clone()],
            operations: vec![Operation {
                r#type: Some(operation::Type::Launch as i32),
                launch: Some(operation::Launch { task_infos: tasks }),
                ..Operation::default()
            }],
            // What is left of the offer stays away: this is about running tasks.
            filters: Some(Filters {
                refuse_seconds: Some(86_400.0),
            }),
        });
        self.call(framework, accept);
        let runs: Vec<(ConnectionId, FrameworkId, TaskId)> = self
            .drain()
            .into_iter()
            .filter_map(|output| match output {
                Output::AgentCommand { conn, command } => {
                    let run = command.run_task?;
                    Some((conn, run.framework.id.unwrap_or_default(), run.task.task_id))
                }
                _ => None,
            })
            .collect();
        assert_eq!(runs.len(), n, "every task launched");
        for (conn, framework_id, task_id) in runs {
            self.next_uuid += 1;
            let update = agentlink::Call {
                r#type: Some(agentlink::call::Type::StatusUpdate as i32),
                agent_id: Some(offer.agent_id.clone()),
                status_update: Some(agentlink::call::StatusUpdate {
                    framework_id,
                    status: TaskStatus {
                        task_id,
                        state: TaskState::TaskRunning as i32,
                        source: Some(Source::Executor as i32),
                        uuid: Some(uuid(self.next_uuid)),
                        ..TaskStatus::default()
                    },
                    latest_state: None,
                }),
                ..Default::default()
            };
            if let Err(e) = self.core.handle_agent_call(self.now, conn, update) {
                panic!("update refused: {e}");
            }
            for output in self.drain() {
                let Output::Event { event, .. } = output else {
                    continue;
                };
                let Some(update) = event.update else {
                    continue;
                };
                let ack = FrameworkCall::Acknowledge(call::Acknowledge {
                    agent_id: offer.agent_id.clone(),
                    task_id: update.status.task_id,
                    uuid: update.status.uuid.unwrap_or_default(),
                });
                self.call(framework, ack);
                // The ACKNOWLEDGE command goes to the agent; nothing to keep.
                drop(self.drain());
            }
        }
    }

    /// Allocates and launches until `total` tasks run, `per_agent` on each agent.
    fn launch(&mut self, total: usize, per_agent: usize) {
        let task_resources = resources(TASK_RESOURCES);
        let mut launched = 0;
        while launched < total {
            self.core.allocate(self.now);
            let offers: Vec<Offer> = self
                .drain()
                .into_iter()
                .filter_map(|output| match output {
                    Output::Event { event, .. } => event.offers.map(|o| o.offers),
                    _ => None,
                })
                .flatten()
                .collect();
            assert!(
                !offers.is_empty(),
                "no offers with {launched} of {total} tasks running"
            );
            for offer in offers {
                let n = per_agent.min(total - launched);
                if n == 0 {
                    break;
                }
                self.launch_into(&offer, n, &task_resources);
                launched += n;
            }
        }
    }
}

/// RSS and live heap at one moment.
#[derive(Clone, Copy)]
struct Mark {
    rss: u64,
    heap: u64,
}

impl Mark {
    fn now() -> Mark {
        Mark {
            rss: rss(),
            heap: live(),
        }
    }

    /// Bytes per item grown since `earlier`: (RSS, heap).
    fn per(&self, earlier: Mark, items: usize) -> (u64, u64) {
        let n = items.max(1) as u64;
        (
            self.rss.saturating_sub(earlier.rss) / n,
            self.heap.saturating_sub(earlier.heap) / n,
        )
    }
}

fn main() {
    let (agents, tasks) = scale();
    let frameworks: usize = std::env::var("RATUFA_MEM_FRAMEWORKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let per_agent = tasks.div_ceil(agents.max(1));
    println!(
        "core memory: {agents} agents ({AGENT_RESOURCES}), {tasks} running tasks \
         ({TASK_RESOURCES}, {LABELS_PER_TASK} labels), {frameworks} frameworks, \
         {per_agent} tasks per agent"
    );

    let mut cluster = Cluster::new();
    let baseline = Mark::now();
    println!(
        "  at start:          RSS {:>10}, heap {:>10}",
        mib(baseline.rss),
        mib(baseline.heap)
    );

    let start = Instant::now();
    cluster.register_agents(agents);
    let registering = start.elapsed();
    let with_agents = Mark::now();
    let (rss_agent, heap_agent) = with_agents.per(baseline, agents);
    println!(
        "  with agents:       RSS {:>10}, heap {:>10}: {rss_agent} B RSS, {heap_agent} B heap \
         per agent (target <= 8192); {:.0} registrations/s",
        mib(with_agents.rss),
        mib(with_agents.heap),
        agents as f64 / registering.as_secs_f64()
    );

    cluster.subscribe_frameworks(frameworks);
    let start = Instant::now();
    cluster.launch(tasks, per_agent);
    let launching = start.elapsed();
    let with_tasks = Mark::now();
    let (rss_task, heap_task) = with_tasks.per(with_agents, tasks);
    println!(
        "  with tasks:        RSS {:>10}, heap {:>10}: {rss_task} B RSS, {heap_task} B heap \
         per task (target <= 1024)",
        mib(with_tasks.rss),
        mib(with_tasks.heap)
    );
    println!(
        "  launch path through the core: {tasks} tasks in {:.2} s = {:.0} tasks/s \
         (allocate, ACCEPT, RUN_TASK, TASK_RUNNING, ACKNOWLEDGE)",
        launching.as_secs_f64(),
        tasks as f64 / launching.as_secs_f64()
    );

    let mut fastest = Duration::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        let snapshot = black_box(cluster.core.state_snapshot());
        fastest = fastest.min(start.elapsed());
        let running: usize = snapshot.frameworks.iter().map(|f| f.tasks.len()).sum();
        assert_eq!(running, tasks, "the snapshot holds every running task");
        drop(snapshot);
    }
    println!(
        "  state_snapshot(): {:.1} ms (fastest of 3)",
        fastest.as_secs_f64() * 1e3
    );
    // What the endpoint then does off the core's task: build every Task.
    let snapshot = cluster.core.state_snapshot();
    let start = Instant::now();
    let built: usize = snapshot
        .frameworks
        .iter()
        .flat_map(|f| &f.tasks)
        .map(|t| black_box(t.task()).statuses.len())
        .sum();
    println!(
        "  building the {built} tasks' Task from the snapshot (endpoint side, off the core): \
         {:.1} ms",
        start.elapsed().as_secs_f64() * 1e3
    );
    drop(snapshot);
    print_task_anatomy(&cluster.core);
    black_box(&cluster);
}

/// Where a task's bytes go: the in-memory sizes of what the core keeps per task, for
/// reading the per-task figure against.
fn print_task_anatomy(core: &MasterCore) {
    use std::mem::size_of;
    let Some(entry) = core
        .frameworks()
        .find_map(|f| core.framework_tasks(f.id())?.active().next())
    else {
        return;
    };
    let task = entry.task();
    let ids = task.task_id.value.len() + entry.executor_id().map_or(0, |e| e.value.len());
    let (rest, statuses) = entry.encoded_sizes();
    println!(
        "  one task as booked: record {} B inline (in an Arc); task id and executor id {ids} B; \
         encoded TaskInfo part {rest} B (resources {} x, labels {}); statuses {} encoded in \
         {statuses} B; framework and agent ids shared",
        size_of::<TaskEntry>(),
        task.resources.len(),
        task.labels.as_ref().map_or(0, |l| l.labels.len()),
        task.statuses.len(),
    );
}
